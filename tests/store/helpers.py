"""Helpers shared by the store, ingest and server tests: specs, event batches, state snapshots."""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import func, select

from flywheel.ingest.validate import validate_events
from flywheel.schema import ModelSpec
from flywheel.settings import Settings
from flywheel.store import Store
from flywheel.store.db import Database
from flywheel.store.schema_all import metadata

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


@contextmanager
def fresh_pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards), for fixtures wider than one test."""
    import psycopg

    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"fw_test_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rpartition("/")[0].split("://", 1)[1]
    try:
        yield f"postgresql+psycopg://{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backend_params() -> list[str]:
    return ["sqlite"] + (["postgres"] if os.environ.get("FLYWHEEL_TEST_DATABASE_URL") else [])


@contextmanager
def shared_settings(backend: str, data_dir: Path, **extra: Any) -> Iterator[Settings]:
    """Settings for ``backend`` on a data directory, for module-scoped fixtures."""
    if backend == "postgres":
        with fresh_pg_database(os.environ["FLYWHEEL_TEST_DATABASE_URL"]) as url:
            yield Settings(data_dir=data_dir, db_url=url, auth=False, **extra)
    else:
        yield Settings(data_dir=data_dir, auth=False, **extra)


# -- faster PostgreSQL fixtures ------------------------------------------------------------
# The root conftest gives each test a new PostgreSQL database and migrates it (a second or
# more per test). These test folders instead migrate one database per session and empty its
# tables before each test; the tests see the same thing: a migrated, empty store.
@pytest.fixture(scope="session")
def pg_shared_url() -> Iterator[str]:
    with fresh_pg_database(os.environ["FLYWHEEL_TEST_DATABASE_URL"]) as url:
        db = Database(url)
        try:
            db.upgrade()
        finally:
            db.close()
        yield url


def empty_all_tables(url: str) -> None:
    # DELETE, children first: on a few rows it is far quicker than TRUNCATE on PostgreSQL.
    db = Database(url)
    try:

        def fn(conn: Any) -> None:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())

        db.write(fn)
    finally:
        db.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file to copy (migrating a new file costs about a second)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "flywheel.db"
    db = Database(f"sqlite:///{path}")
    try:
        db.upgrade()
    finally:
        db.close()
    return path


@pytest.fixture(params=backend_params())
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Overrides the root fixture: the same settings, from an already migrated empty database."""
    data_dir = tmp_path / "data"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_shared_url")
        empty_all_tables(url)
        return Settings(data_dir=data_dir, db_url=url, auth=False)
    data_dir.mkdir(parents=True)
    shutil.copyfile(request.getfixturevalue("sqlite_template"), data_dir / "flywheel.db")
    return Settings(data_dir=data_dir, auth=False)
