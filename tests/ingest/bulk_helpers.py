"""Arrow tables and their wire forms (IPC stream, IPC file, Parquet) for bulk-ingest tests."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.ingest.cases import T0

ARROW_STREAM = "application/vnd.apache.arrow.stream"
ARROW_FILE = "application/vnd.apache.arrow.file"
PARQUET = "application/vnd.apache.parquet"


def bulk_columns(n: int, prefix: str = "bulk") -> dict[str, list[Any]]:
    return {
        "event_id": [f"{prefix}-{i}" for i in range(n)],
        "timestamp": [T0 + timedelta(seconds=i) for i in range(n)],
        "prediction": ["stay" if i % 2 else "churn" for i in range(n)],
        "proba.stay": [0.6] * n,
        "proba.churn": [0.4] * n,
        "age": [float(20 + i) for i in range(n)],
        "in.income": [float(i) for i in range(n)],
        "plan": ["pro"] * n,
        "country": ["de"] * n,
        "note": ["text"] * n,
        "vec": [[0.0, 1.0, float(i)] for i in range(n)],
    }


def to_table(cols: dict[str, list[Any]]) -> pa.Table:
    types = {"timestamp": pa.timestamp("us", tz="UTC"), "vec": pa.list_(pa.float32())}
    return pa.table({k: pa.array(v, type=types.get(k)) for k, v in cols.items()})


def encode(table: pa.Table, content_type: str) -> bytes:
    sink = io.BytesIO()
    if content_type == PARQUET:
        pq.write_table(table, sink)
    elif content_type == ARROW_FILE:
        with pa.ipc.new_file(sink, table.schema) as w:
            w.write_table(table)
    else:
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    return sink.getvalue()
