"""Every table of the metadata store, gathered on one ``MetaData`` (for migrations and tests).

A stage that adds tables declares them in ``tables_<stage>.py`` on the shared ``metadata``,
imports that module here, and adds an Alembic revision on its own branch off ``0001``.
"""

import flywheel.store.tables_jobs  # noqa: F401
import flywheel.store.tables_label  # noqa: F401
import flywheel.store.tables_monitor  # noqa: F401
import flywheel.store.tables_registry  # noqa: F401
from flywheel.store.tables import metadata

__all__ = ["metadata"]
