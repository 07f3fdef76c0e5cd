"""The Python SDK used from production code: ``from flywheel.client import Flywheel``.

Importing it loads only the standard library (and orjson when installed): no NumPy, pandas,
SQLAlchemy, pydantic or server code.
"""

from flywheel.client.sdk import Flywheel
from flywheel.client.transport import HttpTransport, MemoryTransport, Transport, TransportError

__all__ = ["Flywheel", "HttpTransport", "MemoryTransport", "Transport", "TransportError"]
