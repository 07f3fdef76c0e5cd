"""The SQL database behind the metadata store: one engine, one writer for SQLite.

SQLite allows one writer at a time; rather than let threads fight over its lock, every write
goes through one writer thread (reads use their own pooled connections). PostgreSQL takes
writes from any thread. Both go through the same SQLAlchemy code; nothing above this module
knows which database it talks to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from flywheel.errors import StoreError

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """An engine plus the writer discipline that suits it."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = self.url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8,
                max_overflow=8,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self._writer: ThreadPoolExecutor | None = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="flywheel-sqlite-writer"
            )
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=10, max_overflow=10)
            self._writer = None
        self._lock = threading.Lock()

    # -- the two ways in --------------------------------------------------------------
    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one transaction on the writer; commit if it returns, roll back if it raises."""

        def run() -> T:
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except OperationalError as exc:
                raise StoreError(f"the metadata database refused a write: {exc.orig}") from exc

        if self._writer is not None:
            return self._writer.submit(run).result()
        return run()

    def read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self.engine.connect() as conn:
                return fn(conn)
        except OperationalError as exc:
            raise StoreError(f"the metadata database refused a read: {exc.orig}") from exc

    # -- helpers shared by the domain stores --------------------------------------------
    def insert_ignore(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows, skipping those whose primary key already exists (idempotent re-sends)."""
        if not rows:
            return
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(table).on_conflict_do_nothing()
        # Chunk to stay under bind-parameter limits.
        per_row = max(1, len(rows[0]))
        chunk = max(1, 30_000 // per_row)
        for i in range(0, len(rows), chunk):
            conn.execute(stmt, list(rows[i : i + chunk]))

    @staticmethod
    def existing(conn: Connection, column: Any, values: Iterable[str], *where: Any) -> set[str]:
        """Which of ``values`` are already in ``column`` (chunked ``IN`` queries)."""
        vals = list(values)
        found: set[str] = set()
        for i in range(0, len(vals), 5000):
            stmt = select(column).where(column.in_(vals[i : i + 5000]), *where)
            found.update(r[0] for r in conn.execute(stmt))
        return found

    def upgrade(self) -> None:
        """Bring the schema to the newest migration of every branch (idempotent).

        Each stage keeps its tables on its own Alembic branch off the core revision, so
        stages can add migrations independently; ``heads`` upgrades them all.
        """
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self._lock:
            try:
                if self.is_sqlite:
                    # Migrations write too; keep them on the writer thread.
                    assert self._writer is not None
                    self._writer.submit(command.upgrade, cfg, "heads").result()
                else:
                    command.upgrade(cfg, "heads")
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"could not migrate the metadata database at {self.safe_url()}: {exc}"
                ) from exc

    def safe_url(self) -> str:
        """The URL without a password, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged write survives power loss too, not only a process crash.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
