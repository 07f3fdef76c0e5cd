"""Helpers shared by the store, ingest and server tests: specs, event batches, state snapshots."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import func, select

from flywheel.ingest.validate import validate_events
from flywheel.schema import ModelSpec
from flywheel.store import Store
from flywheel.store.schema_all import metadata

# The database fixtures and helpers (migrated templates, a PostgreSQL database per xdist
# worker, emptied before each test) live in the root conftest, shared by every test folder;
# these names stay importable from here.
from tests.conftest import backend_params as backend_params
from tests.conftest import fresh_pg_database as fresh_pg_database
from tests.conftest import shared_settings as shared_settings

SPEC_DICT: dict[str, Any] = {
    "name": "churn",
    "task": "binary",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "country", "kind": "categorical"},
    ],
    "class_names": ["stay", "churn"],
}
SPEC = ModelSpec.model_validate(SPEC_DICT)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_events(
    n: int, *, prefix: str = "e", start: datetime = T0, step: timedelta = timedelta(seconds=1)
) -> list[dict[str, Any]]:
    """``n`` valid events for ``SPEC`` with ids ``<prefix>0..`` one ``step`` apart."""
    return [
        {
            "event_id": f"{prefix}{i}",
            "timestamp": (start + i * step).isoformat(),
            "inputs": {"age": 20 + i % 50, "plan": "pro" if i % 3 else "free", "country": "de"},
            "prediction": "churn" if i % 4 == 0 else "stay",
            "probabilities": {"stay": 0.25 if i % 4 == 0 else 0.75, "churn": 0.75 if i % 4 == 0 else 0.25},
        }
        for i in range(n)
    ]


def event_table(
    items: list[dict[str, Any]], *, spec: ModelSpec = SPEC, now: datetime | None = None
) -> pa.Table:
    """A validated event-log table, as ingest would hand it to ``EventLog.append``."""
    return validate_events(spec, 1, items, now=now or datetime.now(UTC), max_future_skew_s=300)


def db_counts(store: Store) -> dict[str, int]:
    """Row count of every table of the metadata store."""

    def fn(conn: Any) -> dict[str, int]:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in metadata.sorted_tables
        }

    return store.db.read(fn)


def log_files(root: str | Path) -> list[tuple[str, int]]:
    """Every file under the event-log root (temporary ones too), with its size."""
    root = Path(root)
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def snapshot(store: Store) -> tuple[dict[str, int], list[tuple[str, int]]]:
    return db_counts(store), log_files(store.events.root)


def stored_ids(store: Store, model: str = "churn") -> Counter[str]:
    """How often each event_id comes back from a deduplicating read of the log."""
    table = store.events.query(model, select="event_id")
    if table.num_rows == 0:
        return Counter()
    return Counter(table.column("event_id").to_pylist())
