"""Shared by the drift runner scripts, each of which runs in its own virtual environment.

Kept to the standard library plus pyarrow, so it imports under every peer's pinned versions.
A runner reads the two Parquet files, decides which columns are categorical (dictionary or string
columns) and writes ``{"tool", "version", "flagged", "scores"}`` as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", required=True)
    ap.add_argument("--current", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--variant", default="", help="a runner-specific alternative configuration")
    return ap.parse_args()


def read_table(path: str) -> Any:
    """Read one of the benchmark's Parquet files the same way in every runner."""
    import pyarrow.parquet as pq

    return pq.read_table(path, memory_map=True)


def categorical_columns(schema: Any) -> list[str]:
    import pyarrow as pa

    return [
        f.name
        for f in schema
        if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]


def write_result(
    path: str, tool: str, version: str, flagged: list[str], scores: dict[str, Any] | None = None
) -> None:
    def clean(v: Any) -> Any:
        try:
            f = float(v)
        except (TypeError, ValueError):
            return str(v)
        return f if math.isfinite(f) else None

    body = {
        "tool": tool,
        "version": version,
        "flagged": sorted(flagged),
        "scores": {k: clean(v) for k, v in (scores or {}).items()},
    }
    with open(path, "w") as fh:
        json.dump(body, fh, indent=1)
