"""The demo runs the loop end to end on a slice of Elec2."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.demo.datasets import status
from flywheel.settings import Settings
from flywheel.store import open_store


@pytest.mark.slow
@pytest.mark.datasets
def test_demo_streams_monitors_curates_retrains_and_gates(tmp_path: Path) -> None:
    if not status()["elec2"]:
        pytest.skip("Elec2 is not in the data-set cache; run scripts/setup")
    from flywheel.demo.elec2 import MODEL, run_demo

    settings = Settings(data_dir=tmp_path / "data", auth=False)
    summary = run_demo(settings, rows=6000, n_trials=1)
    assert summary.events == 6000 - summary.train_rows
    assert summary.labels == summary.events - 48  # labels arrive a day (48 half-hours) late
    assert summary.sdk_stats["dropped"] == 0 and summary.sdk_stats["failed"] == 0
    assert summary.queued_for_labelling > 0
    assert summary.candidate_version == 2 and summary.gate_passed is not None
    assert summary.champion_version == (2 if summary.gate_passed else 1)

    store = open_store(settings)
    try:
        assert store.event_index.count(MODEL) == summary.events
        assert store.labels.count(MODEL) == summary.labels
        assert store.feedback.count(MODEL) == summary.feedback
    finally:
        store.close()
