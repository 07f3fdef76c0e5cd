"""The CLI verbs of datasets, training, evaluation and the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from flywheel.cli import main
from flywheel.settings import Settings
from flywheel.store import open_store

from .helpers import populate


@pytest.mark.slow
def test_build_train_evaluate_promote_and_roll_back_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(Settings(data_dir=data))
    populate(store, n=100)
    store.close()
    runner = CliRunner()

    def fw(*args: str, code: int = 0) -> str:
        res = runner.invoke(main, ["--data-dir", str(data), *args], catch_exceptions=False)
        assert res.exit_code == code, res.output
        return res.output

    assert "built training@1" in fw("dataset", "build", "m", "--window-rows", "80")
    assert "unchanged, same as training@1" in fw("dataset", "build", "m", "--window-rows", "80")
    fw("dataset", "build", "m")
    assert "+20 added" in fw("dataset", "diff", "m", "training@1", "training@2")
    assert '"same_bytes": true' in fw("dataset", "verify", "m", "training@1")
    assert "built golden@1" in fw("dataset", "eval-set", "m", "golden", "--ids", "e0001,e0002,e0003")
    assert "training@2" in fw("dataset", "list", "m")

    out = fw("train", "m", "--dataset", "training@2", "--trials", "0", "--param", "max_iter=30")
    assert "registered m version 1" in out and "holdout candidate" in out
    out = fw("evaluate", "m", "1", "--n-boot", "50")
    assert "PASSED" in out
    out = fw("train", "m", "--dataset", "training@1", "--trials", "0", "--detach")
    assert "submitted train job" in out
    assert "ran 1 job(s)" in fw("worker", "--once")
    assert "v1" in fw("models", "versions", "m")

    out = fw("models", "promote", "m", "2", "--why", "try", code=2)
    assert "no passing evaluation" in out
    assert "v- → v1 (blessed by evaluation" in fw("models", "promote", "m", "1", "--why", "first")
    assert "OVERRIDE: demo" in fw(
        "models", "promote", "m", "2", "--why", "second", "--override", "demo", "--who", "ann"
    )
    assert "v2 → v1 (rolled back)" in fw("models", "rollback", "m", "--why", "regret")
    history = fw("models", "history", "m")
    assert history.count("\n") == 3 and "ann: second  OVERRIDE: demo" in history
