"""Every table of the metadata store, gathered on one ``MetaData`` (for migrations and tests)."""

from flywheel.store.tables import metadata

__all__ = ["metadata"]
