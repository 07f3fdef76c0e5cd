"""Persistence behind small interfaces: metadata (SQL), the event log (Parquet), artifacts.

``open_store(settings)`` picks the backends from the settings' URLs: SQLite or PostgreSQL for
metadata (by the URL's scheme), a local directory for the event log and the artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass

from flywheel.settings import Settings
from flywheel.store.artifacts import ArtifactStore
from flywheel.store.db import Database
from flywheel.store.eventlog import EventLog
from flywheel.store.jobs import JobStore
from flywheel.store.label import LabellingStore
from flywheel.store.meta import EventIndex, FeedbackStore, KeyStore, LabelStore, ModelStore
from flywheel.store.monitor import MonitorStore
from flywheel.store.registry import RegistryStore


@dataclass
class Store:
    db: Database
    models: ModelStore
    event_index: EventIndex
    events: EventLog
    labels: LabelStore
    feedback: FeedbackStore
    keys: KeyStore
    artifacts: ArtifactStore
    jobs: JobStore
    monitor: MonitorStore
    registry: RegistryStore
    labelling: LabellingStore

    def close(self) -> None:
        self.db.close()


def open_store(settings: Settings | None = None, *, migrate: bool = True) -> Store:
    settings = settings or Settings()
    events_root = settings.resolved_events_root()
    artifacts_root = settings.resolved_artifacts_root()
    for root, name in ((events_root, "events_url"), (artifacts_root, "artifacts_url")):
        if "://" in root:
            from flywheel.errors import ValidationError

            raise ValidationError(
                f"The '{name}' setting must be a local directory in this release; got {root!r}."
            )
    db = Database(settings.resolved_db_url())
    if migrate:
        db.upgrade()
    return Store(
        db=db,
        models=ModelStore(db),
        event_index=EventIndex(db),
        events=EventLog(events_root),
        labels=LabelStore(db),
        feedback=FeedbackStore(db),
        keys=KeyStore(db),
        artifacts=ArtifactStore(artifacts_root),
        jobs=JobStore(db),
        monitor=MonitorStore(db),
        registry=RegistryStore(db),
        labelling=LabellingStore(db),
    )


__all__ = ["Store", "open_store"]
