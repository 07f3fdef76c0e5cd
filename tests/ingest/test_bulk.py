"""Bulk backfills (Arrow IPC, Parquet): the same rules as JSON, row indices in every problem."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from flywheel.errors import BatchRejected, UnsupportedMediaType
from flywheel.ingest.service import IngestService
from tests.ingest.bulk_helpers import ARROW_FILE, ARROW_STREAM, PARQUET, bulk_columns, encode, to_table
from tests.store.helpers import snapshot, stored_ids


@pytest.fixture
def svc(shared_svc: IngestService) -> IngestService:
    """The module's service; each test uses its own event ids."""
    return shared_svc


def _prefixed(svc: IngestService, prefix: str) -> Counter[str]:
    return Counter({k: v for k, v in stored_ids(svc.store).items() if k.startswith(prefix + "-")})


@pytest.mark.parametrize("ctype", [ARROW_STREAM, ARROW_FILE, PARQUET])
def test_bulk_upload_is_stored_and_reads_back_like_json_ingest(svc: IngestService, ctype: str) -> None:
    prefix = "ok" + ctype.rsplit(".", 1)[-1]
    body = encode(to_table(bulk_columns(40, prefix)), ctype)
    assert svc.ingest_bulk("churn", body, ctype) == {"accepted": 40, "duplicates": 0}
    got = svc.store.events.get("churn", [f"{prefix}-3"]).to_pylist()[0]
    assert got["in.age"] == 23.0 and got["in.income"] == 3.0 and got["in.plan"] == "pro"
    assert got["in.vec"] == [0.0, 1.0, 3.0] and got["prediction"] == "stay" and got["proba.stay"] == 0.6
    assert got["served"] is True and got["spec_version"] == 1
    # Re-sending the same file stores nothing new.
    assert svc.ingest_bulk("churn", body, f"{ctype}; charset=binary") == {"accepted": 0, "duplicates": 40}
    assert _prefixed(svc, prefix) == dict.fromkeys((f"{prefix}-{i}" for i in range(40)), 1)


def test_bulk_accepts_real_nan_where_the_feature_allows_it(svc: IngestService) -> None:
    cols = bulk_columns(4, "nan")
    cols["in.income"] = [float("nan"), float("inf"), None, 1.0]
    assert svc.ingest_bulk("churn", encode(to_table(cols), PARQUET), PARQUET)["accepted"] == 4
    table = svc.store.events.get("churn", ["nan-0", "nan-1", "nan-2"])
    got = dict(zip(table.column("event_id").to_pylist(), table.column("in.income").to_pylist(), strict=True))
    assert math.isnan(got["nan-0"]) and got["nan-1"] == math.inf and got["nan-2"] is None


def test_naive_bulk_timestamps_are_taken_as_utc(svc: IngestService) -> None:
    cols = bulk_columns(2, "naive")
    table = to_table(cols).set_column(
        1, "timestamp", pa.array([datetime(2026, 1, 1, 5), datetime(2026, 1, 1, 6)], pa.timestamp("us"))
    )
    svc.ingest_bulk("churn", encode(table, ARROW_STREAM), ARROW_STREAM)
    got = svc.store.events.get("churn", ["naive-0"]).column("timestamp").to_pylist()
    assert got == [datetime(2026, 1, 1, 5, tzinfo=UTC)]


def _bad_rows() -> tuple[pa.Table, set[tuple[int, str]]]:
    cols = bulk_columns(10)
    cols["prediction"][2] = "maybe"
    cols["age"][3] = float("nan")
    cols["age"][4] = float("-inf")
    cols["timestamp"][5] = datetime.now(UTC) + timedelta(hours=3)
    cols["event_id"][7] = cols["event_id"][6]
    cols["proba.churn"][8] = 1.5
    cols["vec"][9] = [1.0]
    cols["country"][1] = None
    expected = {
        (2, "prediction"),
        (3, "inputs.age"),
        (4, "inputs.age"),
        (5, "timestamp"),
        (6, "event_id"),
        (7, "event_id"),
        (8, "probabilities.churn"),
        (9, "inputs.vec"),
        (1, "inputs.country"),
    }
    return to_table(cols), expected


@pytest.mark.parametrize("ctype", [ARROW_STREAM, PARQUET])
def test_bad_bulk_rows_are_rejected_whole_with_their_row_indices(svc: IngestService, ctype: str) -> None:
    table, expected = _bad_rows()
    before = snapshot(svc.store)
    with pytest.raises(BatchRejected) as err:
        svc.ingest_bulk("churn", encode(table, ctype), ctype)
    assert {(d["row"], d["field"]) for d in err.value.details} == expected
    assert err.value.status == 422
    assert snapshot(svc.store) == before


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.pop("plan"), (-1, "inputs.plan")),
        (lambda c: c.pop("prediction"), (-1, "prediction")),
        (lambda c: c.update(colour=["x"] * 3), (-1, "colour")),
        (lambda c: c.update(age=["old"] * 3), (-1, "inputs.age")),
    ],
    ids=["missing-feature", "missing-prediction", "unknown-column", "uncastable-column"],
)
def test_bad_bulk_columns_are_named(svc: IngestService, change: object, problem: tuple[int, str]) -> None:
    cols = bulk_columns(3)
    change(cols)  # type: ignore[operator]
    before = snapshot(svc.store)
    with pytest.raises(BatchRejected) as err:
        svc.ingest_bulk("churn", encode(to_table(cols), ARROW_STREAM), ARROW_STREAM)
    assert problem in {(d["row"], d["field"]) for d in err.value.details}
    assert snapshot(svc.store) == before


def test_a_body_that_is_not_what_its_content_type_says_is_rejected(svc: IngestService) -> None:
    with pytest.raises(BatchRejected) as err:
        svc.ingest_bulk("churn", b"definitely not parquet", PARQUET)
    assert err.value.details[0]["field"] == "body"


@pytest.mark.parametrize("ctype", ["application/json", "text/csv", ""])
def test_an_unsupported_content_type_is_refused(svc: IngestService, ctype: str) -> None:
    body = encode(to_table(bulk_columns(2, "ctype")), PARQUET)
    before = snapshot(svc.store)
    with pytest.raises(UnsupportedMediaType) as err:
        svc.ingest_bulk("churn", body, ctype)
    assert err.value.status == 415
    assert snapshot(svc.store) == before
