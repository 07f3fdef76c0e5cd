"""Store tests use the root conftest's fixtures: stores start from a migrated, empty template."""
