"""How the SDK talks to Flywheel: a one-method transport.

A transport has one method, ``send(kind, model, items) -> dict``. ``kind`` is ``"events"``,
``"feedback"``, ``"labels"`` (``items`` are the JSON-ready dicts of one batch) or ``"model"``
(``items`` is ``[spec_dict]``). It returns the server's answer, e.g.
``{"accepted": 500, "duplicates": 0}``, or raises :class:`TransportError`, which says whether
the same batch may be sent again (``retryable``).

Three transports ship: :class:`HttpTransport` (stdlib ``http.client``, keep-alive),
:class:`MemoryTransport` (for tests, with a scriptable failure hook) and
``flywheel.client.embedded.InProcessTransport`` (calls the ingest service in this process).

>>> t = MemoryTransport()
>>> t.send("events", "m", [{"event_id": "a"}, {"event_id": "a"}])
{'accepted': 1, 'duplicates': 1}
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from flywheel.errors import FlywheelError

try:  # orjson is a dependency of flywheel-ml, but the SDK works without it.
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised only where orjson is absent
    _orjson = None  # type: ignore[assignment]

KINDS = ("events", "feedback", "labels")
_ID_KEYS = {"events": "event_id", "feedback": "feedback_id", "labels": "label_id"}


class TransportError(FlywheelError):
    """A batch was not accepted.

    ``status`` is the HTTP status (0 when no answer came: refused, reset, timed out);
    ``retryable`` says whether sending the same batch later can succeed.
    """

    code = "transport_error"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        retryable: bool = True,
        code: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.retryable = retryable
        if code:
            self.code = code

    @classmethod
    def from_status(cls, status: int, message: str, **kw: Any) -> TransportError:
        return cls(message, status=status, retryable=is_retryable(status), **kw)


def is_retryable(status: int) -> bool:
    """5xx, 408 (timeout), 429 (rate limit) and no answer at all may succeed later; other 4xx never."""
    return status == 0 or status >= 500 or status in (408, 429)


class Transport(Protocol):
    def send(self, kind: str, model: str, items: list[dict[str, Any]]) -> dict[str, Any]: ...


def dumps(obj: Any) -> bytes:
    """Serialise to JSON bytes: orjson (NaN becomes null, NumPy values are native) or the stdlib."""
    if _orjson is not None:
        return _orjson.dumps(obj, default=_default, option=_orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(obj, default=_default, separators=(",", ":")).encode()


def loads(data: bytes) -> Any:
    return _orjson.loads(data) if _orjson is not None else json.loads(data)


def _default(obj: Any) -> Any:
    # NumPy scalars and arrays, pandas timestamps, Decimals, sets: turn them into JSON values.
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    try:
        return float(obj)
    except (TypeError, ValueError):
        raise TypeError(f"value of type {type(obj).__name__} is not JSON-serialisable") from None


class MemoryTransport:
    """Keeps every accepted batch in memory; for tests and dry runs.

    It behaves like the server where the SDK can tell: items are deduplicated on their id
    (``event_id``, ``feedback_id``, ``label_id``) and the answer counts ``accepted`` and
    ``duplicates``. ``fail`` is an optional hook called before each send with
    ``(kind, model, items)``; it may raise :class:`TransportError` to simulate an outage,
    a 422 or a 413.
    """

    def __init__(self, fail: Callable[[str, str, list[dict[str, Any]]], None] | None = None) -> None:
        self.fail = fail
        self.batches: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.models: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def send(self, kind: str, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        if self.fail is not None:
            self.fail(kind, model, items)
        with self._lock:
            if kind == "model":
                spec = items[0]
                same = self.models.get(model) == spec
                self.models[model] = spec
                return {"name": model, "created": not same}
            seen = self._seen.setdefault((kind, model), set())
            key = _ID_KEYS[kind]
            accepted = 0
            for item in items:
                ident = item.get(key) or os.urandom(8).hex()
                if ident not in seen:
                    seen.add(ident)
                    accepted += 1
            self.batches.append((kind, model, list(items)))
            return {"accepted": accepted, "duplicates": len(items) - accepted}

    def items(self, kind: str = "events", model: str | None = None) -> list[dict[str, Any]]:
        """Every item received, in arrival order (duplicates included)."""
        with self._lock:
            return [i for k, m, batch in self.batches if k == kind and model in (None, m) for i in batch]


_live_http: weakref.WeakSet[HttpTransport] = weakref.WeakSet()


class HttpTransport:
    """POSTs JSON batches to ``{url}/v1/models/{model}/{kind}`` over one keep-alive connection."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"The 'url' parameter of Flywheel must be an http(s) URL like 'http://host:8080'; got {url!r}."
            )
        self.url = url
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Connection": "keep-alive",
        }
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        _live_http.add(self)

    def send(self, kind: str, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        if kind == "model":
            path, body = "/v1/models", dumps(items[0])
        elif kind in KINDS:
            path, body = f"/v1/models/{quote(model, safe='')}/{kind}", dumps({kind: items})
        else:
            raise ValueError(f"unknown kind {kind!r}; expected 'model' or one of {KINDS}")
        status, data = self._post(self._prefix + path, body)
        answer: Any
        try:
            answer = loads(data) if data else {}
        except ValueError:
            answer = {}
        if 200 <= status < 300:
            return answer if isinstance(answer, dict) else {"answer": answer}
        err = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(err, dict):
            message = str(err.get("message") or f"HTTP {status}")
            code, details = err.get("code"), err.get("details")
        else:
            message = f"HTTP {status}: {data[:200].decode(errors='replace')}"
            code, details = None, None
        raise TransportError.from_status(
            status,
            message,
            code=code if isinstance(code, str) else None,
            details=details if isinstance(details, list) else None,
        )

    def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        with self._lock:
            # One retry on a fresh connection: the server may have closed an idle keep-alive socket.
            for attempt in (0, 1):
                conn = self._conn or self._connect()
                try:
                    conn.request("POST", path, body=body, headers=self._headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    self._close_conn()
                    if attempt == 0:
                        continue
                    raise TransportError(f"connection to {self.url} lost: {exc}", status=0) from exc
                except (OSError, http.client.HTTPException) as exc:
                    self._close_conn()
                    raise TransportError(
                        f"cannot reach {self.url}: {type(exc).__name__}: {exc}", status=0
                    ) from exc
                if resp.will_close:
                    self._close_conn()
                return resp.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _close_conn(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close_conn()

    def _forget_after_fork(self) -> None:
        # The child must not share the parent's socket; it opens its own on the next send.
        self._conn = None
        self._lock = threading.Lock()


def _http_after_fork() -> None:
    for t in list(_live_http):
        t._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_http_after_fork)
