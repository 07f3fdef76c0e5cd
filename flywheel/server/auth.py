"""API keys with scopes (``ingest``, ``read``, ``admin``), checked per route.

Keys come as ``Authorization: Bearer <key>`` (or ``X-API-Key``); the web pages use a cookie
set by ``/login``. Auth may be turned off only when the server is bound to a loopback
address, and the server says so when it starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from flywheel.errors import Forbidden, Unauthorized
from flywheel.store.meta import ApiKey

COOKIE = "flywheel_key"


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key") or request.cookies.get(COOKIE)


def require(scope: str) -> Callable[[Request], Any]:
    def dependency(request: Request) -> ApiKey | None:
        if not request.app.state.settings.auth:
            return None
        token = _token(request)
        if not token:
            raise Unauthorized(
                f"this endpoint needs an API key with scope '{scope}': send 'Authorization: Bearer <key>'"
            )
        key = request.app.state.store.keys.verify(token)
        if key is None or key.revoked_at is not None:
            raise Unauthorized("the API key is unknown or revoked; create one with `flywheel keys create`")
        if not key.allows(scope):
            raise Forbidden(
                f"the API key '{key.name}' has scopes {list(key.scopes)}; this endpoint needs '{scope}'"
            )
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency
