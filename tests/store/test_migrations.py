"""Migrations: upgrading an empty database to head gives exactly the tables the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from flywheel.store.db import MIGRATIONS_DIR, Database
from flywheel.store.schema_all import metadata


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_database_url"))
    return f"sqlite:///{tmp_path / 'empty.db'}"


def _diff(db: Database) -> list:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(ctx, metadata))


def test_upgrading_an_empty_database_gives_exactly_the_declared_schema(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert inspect(db.engine).get_table_names() == []
        db.upgrade()
        assert _diff(db) == []
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set(metadata.tables)
    finally:
        db.close()


def test_upgrading_twice_is_harmless(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        db.upgrade()
        db.upgrade()
        assert _diff(db) == []
        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_heads()
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        # Stages keep their own Alembic branches; an upgrade brings every one to its head.
        assert set(current) == set(ScriptDirectory.from_config(cfg).get_heads())
    finally:
        db.close()


def test_every_migration_branch_grows_from_the_one_base() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(cfg)
    assert len(script.get_bases()) == 1
    revisions = {r.revision for r in script.walk_revisions()}
    # Revision ids are unique across branches (a clash would silently hide one migration).
    files = [p for p in MIGRATIONS_DIR.joinpath("versions").glob("*.py") if not p.name.startswith("__")]
    assert len(revisions) == len(files)
