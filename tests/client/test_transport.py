"""The HTTP transport against a tiny stdlib server, the spool, and the SDK's import weight."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flywheel.client import Flywheel, HttpTransport, TransportError
from flywheel.client.spool import Spool
from tests.client.helpers import FAST
from tests.conftest import free_port


class Stub:
    """Records requests; answers with the next scripted (status, body), else 200 accepted."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, Any]] = []
        self.connections: set[int] = set()


@pytest.fixture
def stub() -> Iterator[tuple[Stub, str]]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            doc = json.loads(body)
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": doc})
            state.connections.add(id(self.connection))
            if state.script:
                status, answer = state.script.pop(0)
            else:
                status, answer = 200, {"accepted": len(next(iter(doc.values()))), "duplicates": 0}
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_posts_batches_with_bearer_key_on_one_keep_alive_connection(stub: tuple[Stub, str]) -> None:
    state, url = stub
    t = HttpTransport(url + "/", "secret")
    assert t.send("events", "churn v2", [{"event_id": "a"}]) == {"accepted": 1, "duplicates": 0}
    t.send("feedback", "churn v2", [{"event_id": "a", "kind": "flag"}])
    t.send("labels", "churn v2", [{"event_id": "a", "label": 1}])
    t.send("model", "churn", [{"name": "churn"}])
    assert [r["path"] for r in state.requests] == [
        "/v1/models/churn%20v2/events",
        "/v1/models/churn%20v2/feedback",
        "/v1/models/churn%20v2/labels",
        "/v1/models",
    ]
    assert state.requests[0]["body"] == {"events": [{"event_id": "a"}]}
    assert state.requests[3]["body"] == {"name": "churn"}
    assert all(r["headers"]["Authorization"] == "Bearer secret" for r in state.requests)
    assert len(state.connections) == 1
    t.close()


def test_http_errors_keep_the_servers_message_and_say_whether_to_retry(stub: tuple[Stub, str]) -> None:
    state, url = stub
    t = HttpTransport(url)
    err = {
        "error": {
            "code": "invalid_batch",
            "message": "row 3: 'age' must be a number",
            "details": [{"row": 3}],
        }
    }
    state.script = [
        (422, err),
        (503, {"error": {"code": "store_unavailable", "message": "db down"}}),
        (413, {"error": {"code": "payload_too_large", "message": "too big"}}),
        (502, b"<html>bad gateway"),
    ]
    with pytest.raises(TransportError) as a:
        t.send("events", "m", [{}])
    assert (a.value.status, a.value.retryable, a.value.code, a.value.message, a.value.details) == (
        422,
        False,
        "invalid_batch",
        "row 3: 'age' must be a number",
        [{"row": 3}],
    )
    with pytest.raises(TransportError) as b:
        t.send("events", "m", [{}])
    assert (b.value.status, b.value.retryable, b.value.message) == (503, True, "db down")
    with pytest.raises(TransportError) as c:
        t.send("events", "m", [{}])
    assert (c.value.status, c.value.retryable) == (413, False)
    with pytest.raises(TransportError) as d:
        t.send("events", "m", [{}])
    assert d.value.status == 502 and d.value.retryable and "bad gateway" in d.value.message


def test_http_unreachable_server_is_retryable_with_status_zero() -> None:
    t = HttpTransport(f"http://127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(TransportError) as info:
        t.send("events", "m", [{"event_id": "a"}])
    assert info.value.status == 0 and info.value.retryable and "cannot reach" in info.value.message


def test_http_transport_refuses_a_non_http_url() -> None:
    with pytest.raises(ValueError, match="must be an http"):
        HttpTransport("ftp://x")


def test_sdk_over_http_delivers_and_serialises_numpy_values(stub: tuple[Stub, str], tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    state, url = stub
    with Flywheel(url=url, api_key="k", spool_dir=tmp_path, **FAST) as fw:
        eid = fw.log("m", {"x": np.float32(1.5), "n": np.int64(3), "v": np.arange(3)}, np.int64(1))
    (req,) = state.requests
    (item,) = req["body"]["events"]
    assert item["event_id"] == eid
    assert item["inputs"] == {"x": 1.5, "n": 3, "v": [0, 1, 2]} and item["prediction"] == 1


def test_spool_is_fifo_bounded_and_survives_reopening(tmp_path: Path) -> None:
    sp = Spool(tmp_path, max_bytes=300)
    assert sp.put("events", "m", [{"event_id": "a" * 50}]) == "ok"
    assert sp.put("labels", "m", [{"label_id": "b" * 50}, {"label_id": "c"}]) == "ok"
    assert sp.put("events", "m", [{"event_id": "d" * 200}]) == "full"
    assert sp.put("events", "m", [{"event_id": "e" * 400}]) == "too_big"
    assert (sp.files, sp.items) == (2, 3) and 0 < sp.bytes <= 300
    sp.close()
    again = Spool(tmp_path, max_bytes=300)
    assert (again.files, again.items, again.bytes) == (2, 3, sp.bytes)
    assert again.peek() == ("events", "m", [{"event_id": "a" * 50}])
    again.pop()
    assert again.put("events", "m", [{"event_id": "f"}]) == "ok"
    assert again.peek()[0] == "labels"
    again.pop()
    assert again.peek() == ("events", "m", [{"event_id": "f"}])
    again.pop()
    assert (again.files, again.items, again.bytes, again.peek()) == (0, 0, 0, None)
    assert not list(again.dir.glob("*.json"))
    again.close()


def test_importing_the_sdk_loads_no_heavy_library() -> None:
    code = (
        "import sys, flywheel.client\n"
        "heavy = ['numpy', 'pandas', 'polars', 'pyarrow', 'sqlalchemy', 'pydantic', 'duckdb', 'fastapi',\n"
        "         'flywheel.server', 'flywheel.store', 'flywheel.ingest', 'flywheel.schema', 'flywheel.settings']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
