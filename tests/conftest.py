"""Shared fixtures: stores on every backend, an in-process app, and a real server process.

PostgreSQL runs when ``FLYWHEEL_TEST_DATABASE_URL`` is set (CI sets it); each test that asks
for it gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flywheel.settings import Settings
from flywheel.store import Store, open_store

PG_URL = os.environ.get("FLYWHEEL_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never touch the developer's real data directory from a test.
    monkeypatch.setenv("FLYWHEEL_DATA_DIR", str(tmp_path / "default-data"))


def _pg_admin_url() -> str:
    assert PG_URL is not None
    return PG_URL.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    if not PG_URL:
        pytest.skip("FLYWHEEL_TEST_DATABASE_URL is not set")
    import psycopg

    name = f"fw_test_{secrets.token_hex(6)}"
    admin = _pg_admin_url()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for the embedded store on each backend in turn (SQLite; PostgreSQL when available)."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database_url")
        return Settings(data_dir=tmp_path / "data", db_url=url, auth=False)
    return Settings(data_dir=tmp_path / "data", auth=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", auth=False)


@pytest.fixture
def store(backend_settings: Settings) -> Iterator[Store]:
    s = open_store(backend_settings)
    try:
        yield s
    finally:
        s.close()


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
        wait_healthy(self.url, self.proc)


def _spawn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "flywheel.server.app:create_app", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--log-level", "warning"]
    return subprocess.Popen(cmd, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before becoming healthy")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not become healthy in {timeout} s")


def start_live_server(data_dir: Path, *, auth: bool = False, extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    env = {**os.environ, "FLYWHEEL_DATA_DIR": str(data_dir), "FLYWHEEL_AUTH": "true" if auth else "false", **(extra_env or {})}
    log = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = _spawn(port, env, log)
    srv = LiveServer(f"http://127.0.0.1:{port}", port, data_dir, proc, env, log)
    wait_healthy(srv.url, proc)
    return srv


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
