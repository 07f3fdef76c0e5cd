"""log_batch from pandas and polars frames (and lists of dicts)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flywheel.errors import ValidationError
from tests.client.helpers import client


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [41.0, np.nan, 30.5],
            "plan": ["pro", None, "free"],
            "n": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00", None]).tz_localize("UTC"),
            "p_stay": [0.9, 0.2, 0.5],
            "p_churn": [0.1, 0.8, 0.5],
            "y_hat": ["stay", "churn", "stay"],
            "id": ["e0", "e1", "e2"],
        }
    )


def test_pandas_rows_become_events_with_missing_values_as_null(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    ids = fw.log_batch(
        "m",
        frame(),
        prediction_col="y_hat",
        probability_cols={"stay": "p_stay", "churn": "p_churn"},
        event_id_col="id",
        feature_cols=["age", "plan", "n"],
        model_version="v1",
        tags={"src": "backfill"},
    )
    assert ids == ["e0", "e1", "e2"]
    assert fw.flush(5)
    items = t.items()
    assert [i["event_id"] for i in items] == ids
    assert items[0]["inputs"] == {"age": 41.0, "plan": "pro", "n": 1}
    assert items[1]["inputs"] == {"age": None, "plan": None, "n": None}
    assert items[1]["probabilities"] == {"stay": 0.2, "churn": 0.8} and items[1]["prediction"] == "churn"
    assert items[2]["model_version"] == "v1" and items[2]["tags"] == {"src": "backfill"}
    fw.close()


def test_pandas_timestamp_column_sets_the_event_time_and_features_default_to_the_rest(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    fw.log_batch(
        "m",
        frame().drop(columns=["id"]),
        prediction_col="y_hat",
        probability_cols=["p_stay", "p_churn"],
        timestamp_col="when",
    )
    assert fw.flush(5)
    a, b, c = t.items()
    assert set(a["inputs"]) == {"age", "plan", "n"}
    assert a["probabilities"] == [0.9, 0.1]
    assert datetime.fromisoformat(a["timestamp"]) == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert (
        abs(datetime.fromisoformat(c["timestamp"]).timestamp() - datetime.now(UTC).timestamp()) < 60
    )  # NaT: now
    fw.close()


def test_polars_frames_are_logged_like_pandas(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    fw, t = client(tmp_path)
    df = pl.DataFrame({"age": [41.0, None], "plan": ["pro", "free"], "y_hat": [1, 0]})
    ids = fw.log_batch("m", df, prediction_col="y_hat")
    fw.log_batch("m", df.lazy(), prediction_col="y_hat")
    assert fw.flush(5)
    items = t.items()
    assert [i["event_id"] for i in items[:2]] == ids and len(items) == 4
    assert [i["inputs"] for i in items[:2]] == [{"age": 41.0, "plan": "pro"}, {"age": None, "plan": "free"}]
    assert [i["prediction"] for i in items] == [1, 0, 1, 0]
    fw.close()


def test_list_of_dicts_is_accepted_and_nan_becomes_null(tmp_path: Path) -> None:
    fw, t = client(tmp_path)
    fw.log_batch("m", [{"x": math.nan, "y": 1}, {"x": 2.0, "y": 0}], prediction_col="y")
    assert fw.flush(5)
    assert [i["inputs"] for i in t.items()] == [{"x": None}, {"x": 2.0}]
    fw.close()


def test_a_missing_column_is_named_in_the_error(tmp_path: Path) -> None:
    fw, _ = client(tmp_path)
    with pytest.raises(ValidationError, match=r"column\(s\) \['score'\] not in the frame"):
        fw.log_batch("m", frame(), prediction_col="y_hat", score_col="score")
    with pytest.raises(ValidationError, match="pandas or polars DataFrame or a list of dicts"):
        fw.log_batch("m", {"a": 1}, prediction_col="y_hat")
    fw.close()


def test_log_batch_waits_for_room_instead_of_dropping(tmp_path: Path) -> None:
    fw, t = client(tmp_path, batch_size=10, max_queue=20)
    df = pd.DataFrame({"x": np.arange(500, dtype=float), "y": np.zeros(500, dtype=int)})
    ids = fw.log_batch("m", df, prediction_col="y")
    assert fw.flush(5)
    assert [i["event_id"] for i in t.items()] == ids and fw.stats()["dropped"] == 0
    fw.close()


def test_log_batch_drops_and_counts_what_misses_its_deadline(tmp_path: Path) -> None:
    from tests.client.helpers import Outage

    fw, _ = client(tmp_path, fail=Outage(503, down=True), batch_size=10, max_queue=20, spool_dir=False)
    df = pd.DataFrame({"x": np.arange(100, dtype=float), "y": np.zeros(100, dtype=int)})
    ids = fw.log_batch("m", df, prediction_col="y", timeout=0.1)
    assert len(ids) == 100 and len(set(ids)) == 100
    s = fw.stats()
    assert s["dropped"] >= 100 - 20 - 10 and s["dropped"] + s["queued"] == 100
    fw.close(0.05)
