"""``flywheel monitor``: check exits non-zero on alerts, report writes a page that opens offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from flywheel.cli import main
from flywheel.ingest.service import IngestService
from flywheel.monitor.ingest_hook import install
from flywheel.settings import Settings
from flywheel.store import open_store
from tests.monitor import seed

DRIFTED_END = seed.START + timedelta(days=4)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("cli") / "data"
    store = open_store(Settings(data_dir=d))
    svc = IngestService(store)
    install(svc)
    svc.register_model(seed.SPEC)
    events, truth = seed.events(96, 10, drift_at=72)
    seed.ingest(svc, events)
    seed.ingest_labels(svc, seed.labels(truth, 1.0))
    calm = {**seed.SPEC, "name": "calm"}
    svc.register_model(calm)
    quiet, _ = seed.events(48, 10, prefix="q")
    seed.ingest(svc, quiet, model="calm")
    store.close()
    yield d


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["--data-dir", str(data_dir), "monitor", *args])
    return res.exit_code, res.output


def test_reference_then_check_exits_1_while_alerts_are_open(data_dir: Path) -> None:
    code, out = run(
        data_dir,
        "reference",
        "churn",
        "--since",
        seed.START.isoformat(),
        "--until",
        (seed.START + timedelta(days=1)).isoformat(),
    )
    assert code == 0, out
    assert "240 rows, 240 labelled" in out
    code, out = run(data_dir, "check", "churn", "--until", DRIFTED_END.isoformat(), "--no-deliver")
    assert code == 1, out
    assert "opened" in out and "output_drift:prediction" in out
    code, out = run(data_dir, "alerts", "churn")
    assert code == 0 and "output_drift:prediction" in out
    code, out = run(data_dir, "check", "churn", "--until", "latest", "--json")
    assert code == 1 and '"opened": []' in out


def test_check_exits_0_when_nothing_is_wrong(data_dir: Path) -> None:
    code, out = run(data_dir, "check", "calm", "--until", "latest", "--bucket", "day")
    assert code == 0, out
    assert "0 open alert(s)" in out


def test_check_of_an_unknown_model_is_an_error(data_dir: Path) -> None:
    code, out = run(data_dir, "check", "nope")
    assert code == 2 and "not registered" in out


def test_report_is_one_standalone_page(data_dir: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "report.html"
    code, out = run(data_dir, "report", "churn", "--out", str(out_file))
    assert code == 0, out
    html = out_file.read_text()
    assert html.startswith("<!doctype html>") and "Monitoring report · churn" in html
    assert not re.search(r"<script[^>]+src=", html) and "<link" not in html  # nothing to fetch
    assert "Plotly" in html and len(html) > 1_000_000  # plotly.js is inlined
    assert html.count('class="plot" data-plot=') == 5
    assert "allowed_categories:in.plan" in html


@pytest.mark.browser
@pytest.mark.slow
def test_report_opens_offline_in_a_browser(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("playwright")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("no Chromium")
    from playwright.sync_api import sync_playwright

    out_file = tmp_path / "report.html"
    assert run(data_dir, "report", "churn", "--out", str(out_file), "--bucket", "day")[0] == 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(chromium),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out_file.as_uri())
            page.locator('.plot[data-rendered="1"] svg.main-svg').first.wait_for()
            assert page.locator('.plot[data-rendered="1"]').count() == 5
            assert all(u.startswith("file://") for u in requests), requests
        finally:
            browser.close()


def test_reference_from_a_parquet_file_and_rebuild(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(
        pa.table({"age": [30.0, 40.0, 50.0] * 20, "plan": ["a", "b", "c"] * 20, "country": ["DE"] * 60}), path
    )
    code, out = run(data_dir, "reference", "calm", "--file", str(path), "--for-version", "v2")
    assert code == 0 and "60 rows, 0 labelled" in out, out
    code, out = run(data_dir, "rebuild", "calm")
    assert code == 0 and "rebuilt 48 hours from 480 events" in out, out
