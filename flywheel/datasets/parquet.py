"""Snapshots as Parquet files, byte for byte reproducible.

A snapshot is written with fixed writer options (codec, level, format version, row-group size,
dictionary and statistics settings), its rows already in canonical order, and its manifest and
content hash in the file's key-value metadata in place of anything that could vary. Parquet
records no wall-clock time; the one writer-dependent field, ``created_by``, names the pyarrow
version, so the same snapshot gives the same bytes under the same pyarrow (the content hash does
not depend on the writer at all). Files are written to a temporary name and renamed, so a reader
never sees half a snapshot.

>>> import os, tempfile
>>> import pandas as pd
>>> from flywheel.datasets.snapshot import build_snapshot
>>> t = pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)
>>> events = pd.DataFrame({"event_id": ["a", "b"], "timestamp": t, "ingested_at": t})
>>> labels = pd.DataFrame({"event_id": ["a", "b"], "value": ["1", "0"], "ingested_at": t})
>>> snap = build_snapshot(events, labels)
>>> d = tempfile.mkdtemp()
>>> write_parquet(snap, os.path.join(d, "a.parquet")); write_parquet(snap, os.path.join(d, "b.parquet"))
>>> open(os.path.join(d, "a.parquet"), "rb").read() == open(os.path.join(d, "b.parquet"), "rb").read()
True
>>> read_parquet(os.path.join(d, "a.parquet")).content_hash == snap.content_hash
True
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from flywheel.datasets.canonical import normalise_table
from flywheel.datasets.snapshot import Manifest, Snapshot
from flywheel.errors import ValidationError

MANIFEST_KEY = b"flywheel.manifest"
HASH_KEY = b"flywheel.content_hash"

#: The writer options every snapshot file is written with. Changing one changes the bytes of new files.
WRITER_OPTIONS: dict[str, object] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1024 * 1024,
    "write_page_index": False,
    "store_schema": True,
}
ROW_GROUP_SIZE = 64 * 1024


def _with_metadata(snapshot: Snapshot) -> pa.Table:
    meta = {
        MANIFEST_KEY: snapshot.manifest.canonical_json().encode(),
        HASH_KEY: snapshot.content_hash.encode(),
    }
    return snapshot.table.replace_schema_metadata(meta)


def to_parquet_bytes(snapshot: Snapshot) -> bytes:
    """The snapshot's Parquet file as bytes (for a content-addressed artifact store)."""
    sink = io.BytesIO()
    pq.write_table(_with_metadata(snapshot), sink, row_group_size=ROW_GROUP_SIZE, **WRITER_OPTIONS)  # type: ignore[arg-type]
    return sink.getvalue()


def write_parquet(snapshot: Snapshot, path: str | os.PathLike[str]) -> None:
    """Write the snapshot to ``path`` atomically: a temporary file in the same folder, then a rename."""
    target = Path(path)
    data = to_parquet_bytes(snapshot)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_parquet(source: str | os.PathLike[str] | bytes) -> Snapshot:
    """Read a snapshot file (a path or its bytes), checking its rows against the manifest's hash."""
    handle = pa.BufferReader(source) if isinstance(source, bytes) else source
    table = pq.read_table(handle)
    meta = table.schema.metadata or {}
    if MANIFEST_KEY not in meta:
        raise ValidationError("This Parquet file is not a Flywheel snapshot: it carries no manifest.")
    manifest = Manifest.model_validate_json(meta[MANIFEST_KEY])
    # Parquet names a list's item 'element'; normalising restores the canonical types the hash was taken over.
    snapshot = Snapshot.from_parts(normalise_table(table), manifest)
    stored = meta.get(HASH_KEY, b"").decode()
    if stored != snapshot.content_hash:
        raise ValidationError(
            f"The snapshot file says its content hash is {stored[:12]!r} but its manifest hashes to "
            f"{snapshot.content_hash[:12]!r}; the file was altered."
        )
    return snapshot
