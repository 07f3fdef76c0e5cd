"""Deployment: the model registry (versions, aliases, lineage), promotion and rollback."""
