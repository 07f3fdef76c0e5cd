"""Store tests start from an already migrated, empty database (a copied SQLite file; a shared, emptied PostgreSQL one)."""

from tests.store.helpers import backend_settings, pg_shared_url, sqlite_template

__all__ = ["backend_settings", "pg_shared_url", "sqlite_template"]
