"""The in-process transport: ``Flywheel(path=...)`` writes to the embedded store with no server.

Importing this module is cheap; the store, the ingest service and their dependencies
(SQLAlchemy, pyarrow, pydantic) are imported when a transport is made.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path
from typing import Any

from flywheel.client.transport import KINDS, TransportError, is_retryable


class InProcessTransport:
    """Calls ``flywheel.ingest.service.IngestService`` directly, in this process.

    Give a data directory (``path``) to open the embedded store there, or an existing
    ``service`` to share one with a server or a demo running in the same process. Errors
    become :class:`TransportError` with the status the HTTP API would answer.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, service: Any = None) -> None:
        if (path is None) == (service is None):
            raise ValueError("InProcessTransport needs exactly one of path= or service=")
        self._owned = service is None
        if path is not None:
            from flywheel.ingest.service import IngestService
            from flywheel.settings import Settings
            from flywheel.store import open_store

            settings = Settings(data_dir=Path(path))
            service = IngestService(open_store(settings), settings)
            # Hourly profiles, as the server keeps them; imported lazily like the store
            # (by name until pyproject's import-linter contract lists this lazy import).
            importlib.import_module("flywheel.monitor.ingest_hook").install(service)
        self.service = service
        self._lock = threading.Lock()

    def send(self, kind: str, model: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        from flywheel.errors import FlywheelError

        svc = self.service
        try:
            with self._lock:
                if kind == "model":
                    return dict(svc.register_model(items[0]))
                if kind == "events":
                    return dict(svc.ingest_events(model, items))
                if kind == "feedback":
                    return dict(svc.ingest_feedback(model, items))
                if kind == "labels":
                    return dict(svc.ingest_labels(model, items))
        except FlywheelError as exc:
            status = int(getattr(exc, "status", 500))
            raise TransportError(
                exc.message, status=status, retryable=is_retryable(status), code=exc.code, details=exc.details
            ) from exc
        except OSError as exc:  # disk full, file system gone: may heal, so retry and spool
            raise TransportError(f"store I/O failed: {exc}", status=503, retryable=True) from exc
        raise ValueError(f"unknown kind {kind!r}; expected 'model' or one of {KINDS}")

    def close(self) -> None:
        if self._owned:
            store = getattr(self.service, "store", None)
            if store is not None:
                store.close()
