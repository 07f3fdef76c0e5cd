"""Shared fixtures: stores on every backend, an in-process app, and a real server process.

PostgreSQL runs when ``FLYWHEEL_TEST_DATABASE_URL`` is set (CI sets it).

Migrating a new metadata database costs one to two seconds, more than most tests. So each
test process migrates once, into templates, and tests start from copies:

* ``backend_settings`` / ``store`` / ``settings`` on SQLite get a copy of a migrated, empty
  SQLite file in their own data directory;
* on PostgreSQL, each test process (each xdist worker) has one database of its own, copied
  from a migrated template; before every test it is emptied (every row deleted, sequences
  restarted, extra schemas such as Optuna's dropped, stray connections closed), so each test
  sees exactly what a newly migrated database holds;
* ``shared_settings`` (for module-scoped fixtures) gives a migrated database of its own;
* ``pg_database_url`` still gives a truly empty database, for migration tests.

Database names carry the xdist worker id, so parallel workers never share one.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from flywheel.settings import Settings
from flywheel.store import Store, open_store

PG_URL = os.environ.get("FLYWHEEL_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")  # gw0, gw1, ... under pytest-xdist

# Hypothesis: no per-example deadline (a loaded machine makes timings meaningless) and no
# "too slow" health check; the number of examples stays what each test asks for. On a CI
# machine (``CI`` set) Hypothesis's built-in "ci" profile applies instead: the same, plus a
# fixed seed and no example database, so a CI run is reproducible. FLYWHEEL_HYPOTHESIS_PROFILE
# names a profile explicitly ("flywheel", "ci", "default").
hypothesis_settings.register_profile(
    "flywheel", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
if os.environ.get("FLYWHEEL_HYPOTHESIS_PROFILE"):
    hypothesis_settings.load_profile(os.environ["FLYWHEEL_HYPOTHESIS_PROFILE"])
elif hypothesis_settings.get_current_profile_name() != "ci":
    hypothesis_settings.load_profile("flywheel")


def backend_params() -> list[Any]:
    """``store``'s backends as parameters; the PostgreSQL one is marked ``postgres``."""
    return [pytest.param(b, marks=pytest.mark.postgres) if b == "postgres" else b for b in BACKENDS]


def pytest_sessionstart(session: pytest.Session) -> None:
    # CI sets FLYWHEEL_REQUIRE_BROWSER=1: there a missing Chromium must fail the run, not
    # quietly skip every browser test.
    if os.environ.get("FLYWHEEL_REQUIRE_BROWSER") == "1":
        chromium = os.environ.get("FLYWHEEL_CHROMIUM", "/usr/bin/chromium")
        if not Path(chromium).exists():
            raise pytest.UsageError(f"FLYWHEEL_REQUIRE_BROWSER=1 but there is no Chromium at {chromium}")


# -- parallel runs (pytest-xdist) ---------------------------------------------------------
# addopts has ``--dist loadgroup``; scripts/test adds ``-n 2``. pytest-xdist's own loadgroup
# cannot group on pytest 9 (it renames node ids, which pytest 9 no longer allows), so this
# conftest brings its own scheduler for that mode. Tests sharing a module- or class-scoped
# fixture (a seeded live server, a browser, a shared store) form one unit that runs on one
# worker, in file order, so the fixture is built once and tests that build on each other's
# state keep their order; tests marked ``xdist_group(name)`` form one unit per name; every
# other test is a unit of its own. Units go out heaviest first (shared setup and ``slow``
# tests count more), so that no long test starts last. The workers tell the controller the
# units through a small JSON file each, since the controller itself collects nothing.
_UNITS_KEY = "flywheel_units_dir"
_UNITS_DIR = pytest.StashKey[Path]()


def _uses_wide_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        fd.scope in ("module", "class", "package")
        for name in info.names_closure
        for fd in info.name2fixturedefs.get(name, ())
    )


def _unit_of(item: pytest.Item) -> str:
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return "group:" + str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    if _uses_wide_fixture(item):
        return "file:" + item.nodeid.split("::", 1)[0]
    return item.nodeid


def _weight(item: pytest.Item) -> int:
    return 8 if item.get_closest_marker("slow") is not None else 1


def pytest_configure(config: pytest.Config) -> None:
    if _is_xdist_controller(config) and config.getoption("dist", "no") == "loadgroup":
        config.stash[_UNITS_DIR] = Path(tempfile.mkdtemp(prefix="fw-xdist-units-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    units_dir = config.stash.get(_UNITS_DIR, None)
    if units_dir is not None:
        shutil.rmtree(units_dir, ignore_errors=True)


def _is_xdist_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    units_dir = node.config.stash.get(_UNITS_DIR, None)
    if units_dir is not None:
        node.workerinput[_UNITS_KEY] = str(units_dir)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or _UNITS_KEY not in workerinput:
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(_unit_of(item), []).append(item)
    weight = {
        unit: sum(_weight(i) for i in members) + (8 if unit.startswith("file:") else 0)
        for unit, members in units.items()
    }
    order = sorted(units, key=lambda u: -weight[u])  # stable: ties keep collection order
    items[:] = [item for unit in order for item in units[unit]]
    out = Path(workerinput[_UNITS_KEY]) / f"{workerinput.get('workerid', 'w')}.json"
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps({item.nodeid: unit for unit in order for item in units[unit]}))
    tmp.replace(out)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    found = config.stash.get(_UNITS_DIR, None)
    if found is None:
        return None
    units_dir: Path = found
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        """Hands out the units the workers computed, in the order they collected them."""

        _units: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._units is None:
                self._units = {}
                for f in sorted(units_dir.glob("*.json")):
                    self._units.update(json.loads(f.read_text()))
            return self._units.get(nodeid, nodeid)

    config.option.loadscopereorder = False  # keep the workers' heaviest-first order
    return UnitScheduling(config, log)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never touch the developer's real data directory from a test.
    monkeypatch.setenv("FLYWHEEL_DATA_DIR", str(tmp_path / "default-data"))


# -- databases ----------------------------------------------------------------------------
def _pg_admin_url(admin_url: str | None = None) -> str:
    url = admin_url or PG_URL
    assert url is not None
    return url.replace("postgresql+psycopg://", "postgresql://")


def _pg_url(name: str, admin_url: str | None = None) -> str:
    base = _pg_admin_url(admin_url).rpartition("/")[0].split("://", 1)[1]
    return f"postgresql+psycopg://{base}/{name}"


def _pg_admin(sql: str, admin_url: str | None = None) -> None:
    import psycopg

    with psycopg.connect(_pg_admin_url(admin_url), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def fresh_pg_database(admin_url: str | None = None, *, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database, dropped afterwards: empty, or a copy of database ``template``."""
    name = f"fw_test_{WORKER}_{secrets.token_hex(5)}"
    _pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""), admin_url)
    try:
        yield _pg_url(name, admin_url)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url)


class _Templates:
    """Migrated, empty databases to copy, built on first use once per test process."""

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._sqlite: Path | None = None
        self._pg: dict[str, str] = {}  # admin URL -> template database name

    def sqlite_file(self) -> Path:
        from flywheel.store.db import Database

        if self._sqlite is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"fw-template-{WORKER}-"))
            path = self._dir / "flywheel.db"
            db = Database(f"sqlite:///{path}")
            try:
                db.upgrade()
            finally:
                db.close()
            self._sqlite = path
        return self._sqlite

    def pg_database(self, admin_url: str | None = None) -> str:
        from flywheel.store.db import Database

        admin = _pg_admin_url(admin_url)
        if admin not in self._pg:
            name = f"fw_template_{WORKER}_{secrets.token_hex(5)}"
            _pg_admin(f'CREATE DATABASE "{name}"', admin)
            self._pg[admin] = name
            db = Database(_pg_url(name, admin))
            try:
                db.upgrade()
            finally:
                db.close()  # a template must have no open connections to be copied
        return self._pg[admin]

    def drop(self) -> None:
        for admin, name in self._pg.items():
            with contextlib.suppress(Exception):  # best effort at exit; the server may be gone
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin)
        self._pg.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = self._sqlite = None


TEMPLATES = _Templates()
atexit.register(TEMPLATES.drop)


def copy_sqlite_template(data_dir: Path) -> None:
    """Put a migrated, empty metadata database at ``data_dir/flywheel.db``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(TEMPLATES.sqlite_file(), data_dir / "flywheel.db")


@contextmanager
def shared_settings(backend: str, data_dir: Path, **extra: Any) -> Iterator[Settings]:
    """Settings on ``backend`` with a migrated, empty store of their own (for wider-scoped fixtures)."""
    if backend == "postgres":
        with fresh_pg_database(template=TEMPLATES.pg_database()) as url:
            yield Settings(data_dir=data_dir, db_url=url, auth=False, **extra)
    else:
        copy_sqlite_template(data_dir)
        yield Settings(data_dir=data_dir, auth=False, **extra)


_PG_DELETE_ORDER: dict[frozenset[str], list[str]] = {}


def _delete_order(conn: Any, tables: frozenset[str]) -> list[str]:
    """Tables children first (foreign keys), as the database has them now; cached per table set."""
    if tables not in _PG_DELETE_ORDER:
        rows = conn.execute(
            "SELECT DISTINCT tc.relname, tp.relname FROM pg_constraint c "
            "JOIN pg_class tc ON tc.oid = c.conrelid JOIN pg_class tp ON tp.oid = c.confrelid "
            "JOIN pg_namespace n ON n.oid = tc.relnamespace "
            "WHERE c.contype = 'f' AND n.nspname = 'public'"
        ).fetchall()
        parents: dict[str, set[str]] = {t: set() for t in tables}
        for child, parent in rows:
            if child in parents and parent in tables and parent != child:
                parents[child].add(parent)
        order: list[str] = []  # parents first, then reversed
        done: set[str] = set()

        def visit(t: str, seen: frozenset[str]) -> None:
            if t in done or t in seen:
                return
            for p in sorted(parents[t]):
                visit(p, seen | {t})
            done.add(t)
            order.append(t)

        for t in sorted(tables):
            visit(t, frozenset())
        _PG_DELETE_ORDER[tables] = order[::-1]
    return _PG_DELETE_ORDER[tables]


def reset_pg_database(url: str) -> None:
    """Bring a migrated PostgreSQL database back to its just-migrated, empty state.

    DELETE children first is far quicker than TRUNCATE (or a new database) on a few rows.
    """
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        # Connections a previous test left open could hold locks; close them.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') "
            "AND nspname NOT LIKE 'pg\\_%'"
        ).fetchall()
        for (schema,) in schemas:  # e.g. the 'optuna' schema a training job creates
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[arg-type]
        tables = frozenset(
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r[0] != "alembic_version"
        )
        for table in _delete_order(conn, tables):
            conn.execute(f'DELETE FROM "{table}"')  # type: ignore[arg-type]
        for (seq,) in conn.execute(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"
        ).fetchall():
            conn.execute(f'ALTER SEQUENCE "{seq}" RESTART')  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sqlite_template() -> Path:
    """A migrated, empty SQLite file to copy (migrating a new file costs about a second)."""
    return TEMPLATES.sqlite_file()


@pytest.fixture(scope="session")
def pg_shared_url() -> Iterator[str]:
    """This test process's own migrated PostgreSQL database (``backend_settings`` empties it)."""
    if not PG_URL:
        pytest.skip("FLYWHEEL_TEST_DATABASE_URL is not set")
    with fresh_pg_database(template=TEMPLATES.pg_database()) as url:
        yield url


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh, empty (not migrated) PostgreSQL database for one test."""
    if not PG_URL:
        pytest.skip("FLYWHEEL_TEST_DATABASE_URL is not set")
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=backend_params())
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings (auth off) over a migrated, empty store on each backend in turn (SQLite; PostgreSQL when available)."""
    data_dir = tmp_path / "data"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_shared_url")
        reset_pg_database(url)
        return Settings(data_dir=data_dir, db_url=url, auth=False)
    copy_sqlite_template(data_dir)
    return Settings(data_dir=data_dir, auth=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """SQLite settings (auth off) whose data directory holds a migrated, empty database."""
    copy_sqlite_template(tmp_path / "data")
    return Settings(data_dir=tmp_path / "data", auth=False)


@pytest.fixture
def store(backend_settings: Settings) -> Iterator[Store]:
    s = open_store(backend_settings)
    try:
        yield s
    finally:
        s.close()


# -- live servers ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    port: int
    data_dir: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def stop(self, sig: int | None = None) -> None:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            self.proc.wait(timeout=20)

    def start(self) -> None:
        """(Re)start on the same port and data directory."""
        self.proc = _spawn(self.port, self.env, self.log)
        wait_healthy(self.url, self.proc, log=self.log)


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "flywheel.server.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    cmd += ["--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115


def _log_tail(log: Path | None, n: int = 3000) -> str:
    if log is None or not log.exists():
        return ""
    return "\n--- server log (end) ---\n" + log.read_bytes()[-n:].decode(errors="replace")


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, *, log: Path | None = None
) -> None:
    """Wait until ``url/healthz`` answers 200; a busy CI machine may take many seconds to start Python."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"server exited with {proc.returncode} before becoming healthy{_log_tail(log)}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become healthy in {timeout} s{_log_tail(log)}")


def start_live_server(
    data_dir: Path, *, auth: bool = False, extra_env: dict[str, str] | None = None
) -> LiveServer:
    """A ``uvicorn`` process on a free port; tried again on another port if that one was taken meanwhile."""
    env = {
        **os.environ,
        "FLYWHEEL_DATA_DIR": str(data_dir),
        "FLYWHEEL_AUTH": "true" if auth else "false",
        **(extra_env or {}),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port = free_port()
        log = data_dir.parent / f"server-{port}.log"
        proc = _spawn(port, env, log)
        srv = LiveServer(f"http://127.0.0.1:{port}", port, data_dir, proc, env, log)
        try:
            wait_healthy(srv.url, proc, log=log)
        except RuntimeError:
            srv.stop()
            # Another process (a parallel test worker) may have bound the port between
            # free_port() and uvicorn's bind; anything else is a real failure.
            if attempt < 2 and b"address already in use" in log.read_bytes().lower():
                continue
            raise
        return srv
    raise AssertionError("unreachable")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real ``uvicorn`` process serving Flywheel over HTTP on a free port (auth off, loopback)."""
    srv = start_live_server(tmp_path / "server-data")
    try:
        yield srv
    finally:
        srv.stop()


TABULAR_SPEC = {
    "name": "churn",
    "task": "binary",
    "features": [
        {"name": "age", "kind": "numeric"},
        {"name": "plan", "kind": "categorical"},
        {"name": "country", "kind": "categorical"},
    ],
    "class_names": ["stay", "churn"],
    "slices": ["country", {"name": "young", "expr": "age < 30"}],
}


@pytest.fixture
def tabular_spec() -> dict:
    return dict(TABULAR_SPEC)
