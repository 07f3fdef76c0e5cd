"""Content-addressed artifacts (models, reports, manifests): a file's name is its SHA-256."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from flywheel.errors import NotFound, ValidationError

_HEX = set("0123456789abcdef")


class ArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or not set(digest) <= _HEX:
            raise ValidationError(
                f"artifact id {digest!r} is not a SHA-256 hex digest (64 characters 0-9a-f)"
            )
        return self.root / "sha256" / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        """Store ``data`` once; return its digest. Storing the same bytes again is a no-op."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        # An existing file is trusted only if it still holds these bytes: putting them again
        # repairs an artifact that was corrupted on disk.
        if final.exists() and hashlib.sha256(final.read_bytes()).hexdigest() == digest:
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{secrets.token_hex(6)}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return digest

    def put_file(self, src: str | Path) -> str:
        return self.put(Path(src).read_bytes())

    def get(self, digest: str) -> bytes:
        p = self.path(digest)
        if not p.exists():
            raise NotFound(f"no artifact {digest}")
        data = p.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise NotFound(f"artifact {digest} is corrupt on disk (its content no longer matches its hash)")
        return data

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()
