"""Content-addressed artifacts: put, get, idempotence and corruption detection."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from flywheel.errors import NotFound, ValidationError
from flywheel.store.artifacts import ArtifactStore


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_returns_the_sha256_and_get_returns_the_bytes(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path / "a")
    data = b"model bytes \x00\x01" * 100
    digest = arts.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert arts.exists(digest)
    assert arts.get(digest) == data


def test_putting_the_same_bytes_twice_stores_one_file(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path / "a")
    d1 = arts.put(b"same")
    d2 = arts.put(b"same")
    src = tmp_path / "f.bin"
    src.write_bytes(b"same")
    d3 = arts.put_file(src)
    assert d1 == d2 == d3
    assert len(_files(tmp_path / "a")) == 1


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path / "a")
    for i in range(5):
        arts.put(f"artifact {i}".encode())
    assert not [p for p in _files(tmp_path / "a") if p.name.startswith(".tmp")]


def test_getting_an_unknown_digest_raises_not_found(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path / "a")
    with pytest.raises(NotFound):
        arts.get(hashlib.sha256(b"never stored").hexdigest())


@pytest.mark.parametrize("bad", ["abc", "../" + "0" * 61, "G" * 64, "A" * 64])
def test_a_malformed_digest_is_refused_before_touching_the_disk(tmp_path: Path, bad: str) -> None:
    arts = ArtifactStore(tmp_path / "a")
    with pytest.raises(ValidationError, match="SHA-256"):
        arts.get(bad)


def test_a_corrupted_artifact_is_detected_on_read(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path / "a")
    digest = arts.put(b"precious model")
    (path,) = _files(tmp_path / "a")
    path.write_bytes(b"precious modeL")
    with pytest.raises(NotFound, match="corrupt"):
        arts.get(digest)


def test_putting_the_bytes_again_repairs_a_corrupted_artifact(tmp_path: Path) -> None:
    arts = ArtifactStore(tmp_path / "a")
    digest = arts.put(b"precious model")
    (path,) = _files(tmp_path / "a")
    path.write_bytes(b"bit rot")
    assert arts.put(b"precious model") == digest
    assert arts.get(digest) == b"precious model"
    assert _files(tmp_path / "a") == [path]
