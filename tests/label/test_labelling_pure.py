"""Pure pieces of curation and labelling: the featurizer, what the labelling view shows
(PNG, ranges, the guess), and the agreement report against exact oracles."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from flywheel.curate.featurize import Featurizer, pixels
from flywheel.errors import ValidationError
from flywheel.label.agreement import krippendorff_alpha
from flywheel.label.overlap import agreement_report, disagreements
from flywheel.label.present import guess, image_src, png_bytes, present
from flywheel.schema import ModelSpec


def spec(*features: tuple[str, str], task: str = "multiclass", classes: list[str] | None = None) -> ModelSpec:
    return ModelSpec(
        name="m",
        task=task,
        features=[{"name": n, "kind": k} for n, k in features],
        class_names=(classes or ["a", "b", "c"]) if task != "regression" else None,
    )


# -- featurizer --------------------------------------------------------------------------------
def test_numeric_features_are_standardised_by_the_fitted_mean_and_spread() -> None:
    x = np.array([1.0, 2.0, 4.0, 9.0])
    table = pa.table({"in.x": x})
    f = Featurizer(spec(("x", "numeric"))).fit(table)
    out = f.transform(pa.table({"in.x": [5.0, None]}))
    assert out[:, 0] == pytest.approx([(5.0 - x.mean()) / x.std(), 0.0])


def test_categories_are_one_hot_over_the_most_frequent_with_an_other_column() -> None:
    table = pa.table({"in.c": ["u", "u", "v", "w", "w", "w"]})
    f = Featurizer(spec(("c", "categorical")), max_categories=2).fit(table)
    out = f.transform(pa.table({"in.c": ["w", "u", "v", None]})) * np.sqrt(2)
    assert out.tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]


def test_text_becomes_unit_length_rows_of_at_most_text_dim_columns() -> None:
    docs = [f"refund order {i} please" if i % 2 else f"app crashes on screen {i}" for i in range(30)]
    f = Featurizer(spec(("t", "text")), text_dim=5).fit(pa.table({"in.t": docs}))
    out = f.transform(pa.table({"in.t": docs}))
    assert out.shape == (30, 5)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    same = out[1] @ out[3]
    other = out[1] @ out[2]
    assert same > other  # two refund requests are closer than a refund and a crash


def test_images_are_resampled_to_a_grid_and_embeddings_padded() -> None:
    img = np.arange(16.0).reshape(4, 4)
    table = pa.table(
        {"in.i": [json.dumps(img.tolist()), json.dumps((img * 2).tolist())], "in.e": [[1.0, 2.0], [3.0]]}
    )
    f = Featurizer(spec(("i", "image"), ("e", "embedding")), image_side=2).fit(table)
    out = f.transform(table)
    assert out.shape == (2, 4 + 2)
    assert out[:, 4:].tolist() == [[1.0, 2.0], [3.0, 0.0]]
    block_means = img.reshape(2, 2, 2, 2).mean(axis=(1, 3)).reshape(-1)
    both = np.stack([block_means, 2 * block_means])
    assert out[:, :4] == pytest.approx((both - both.mean(0)) / both.std(0))


def test_pixels_read_nested_lists_channels_and_flat_squares_but_not_base64() -> None:
    assert pixels([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert pixels([[[0, 2], [2, 4]], [[4, 6], [6, 8]]]).tolist() == [[1, 3], [5, 7]]
    assert pixels([1, 2, 3, 4]).shape == (2, 2)
    assert pixels("iVBORw0KGgo=") is None and pixels([1, 2, 3]) is None and pixels(None) is None


def test_featurizer_arguments_are_validated() -> None:
    with pytest.raises(ValidationError, match="'text_dim' parameter of Featurizer"):
        Featurizer(spec(("t", "text")), text_dim=0)
    with pytest.raises(ValidationError):
        Featurizer(spec(("x", "numeric"))).transform(pa.table({"in.x": [1.0]}))


# -- what the view shows -------------------------------------------------------------------------
def _decode(png: bytes) -> tuple[int, int, np.ndarray]:
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", png[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    return w, h, np.array([list(raw[r * (w + 1) + 1 : (r + 1) * (w + 1)]) for r in range(h)])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_png_holds_the_image_scaled_to_grey_levels(h: int, w: int, scale: int, seed: int) -> None:
    img = np.random.default_rng(seed).integers(0, 300, size=(h, w)).astype(float)
    width, height, grey = _decode(png_bytes(img, scale))
    assert (width, height) == (w * scale, h * scale)
    lo, hi = img.min(), img.max()
    expected = np.zeros_like(img) if hi == lo else np.round((img - lo) / (hi - lo) * 255)
    assert np.array_equal(grey[::scale, ::scale], expected)


def test_image_sources_for_pixels_data_uris_and_base64() -> None:
    src = image_src(json.dumps([[0, 1], [1, 0]]))
    assert src is not None and src.startswith("data:image/png;base64,")
    assert _decode(base64.b64decode(src.split(",", 1)[1]))[:2] == (32, 32)  # pixels drawn 16x larger
    assert image_src("data:image/jpeg;base64,/9j/4AAQ") == "data:image/jpeg;base64,/9j/4AAQ"
    assert image_src("/9j/4AAQSkZJRg") == "data:image/jpeg;base64,/9j/4AAQSkZJRg"
    assert image_src("hello") is None


def test_numeric_values_outside_the_range_are_marked() -> None:
    s = spec(("age", "numeric"), ("plan", "categorical"), ("note", "text"))
    event = {
        "inputs": {"age": 150.0, "plan": "pro", "note": "line one\nline two"},
        "prediction": "b",
        "probabilities": {"a": 0.2, "b": 0.5, "c": 0.3},
    }
    view = present(s, event, {"age": [18.0, 80.0]})
    assert view["kind"] == "text"
    assert view["table"][0] == {
        "name": "age",
        "kind": "numeric",
        "value": 150.0,
        "out_of_range": True,
        "range": [18.0, 80.0],
    }
    assert view["table"][1]["out_of_range"] is False
    assert view["texts"] == [{"name": "note", "value": "line one\nline two"}]
    assert (
        present(s, {**event, "inputs": {**event["inputs"], "age": 40.0}}, {"age": [18.0, 80.0]})["table"][0][
            "out_of_range"
        ]
        is False
    )


def test_the_guess_is_the_prediction_with_its_confidence() -> None:
    s = spec(("x", "numeric"))
    g = guess(s, {"prediction": "b", "probabilities": {"a": 0.2, "b": 0.5, "c": 0.3}})
    assert g == {
        "label": "b",
        "confidence": 0.5,
        "top": [{"label": "b", "p": 0.5}, {"label": "c", "p": 0.3}, {"label": "a", "p": 0.2}],
    }
    # A prediction that is not a class falls back to the most probable class.
    assert guess(s, {"prediction": "zzz", "probabilities": {"a": 0.7, "b": 0.2, "c": 0.1}})["label"] == "a"
    reg = spec(("x", "numeric"), task="regression")
    assert guess(reg, {"prediction": 3.5, "score": None}) == {"label": 3.5, "confidence": None, "top": []}


# -- agreement report ---------------------------------------------------------------------------
def test_agreement_matches_the_oracles_on_two_annotators() -> None:
    rng = np.random.default_rng(1)
    a = rng.choice(["x", "y", "z"], 60)
    b = np.where(rng.random(60) < 0.7, a, rng.choice(["x", "y", "z"], 60))
    rows = [(f"e{i}", "ana", a[i]) for i in range(60)] + [(f"e{i}", "bo", b[i]) for i in range(60)]
    rows += [("solo", "ana", "x")]  # one annotator only: no overlap
    report = agreement_report(rows, times=[1.0] * 60 + [3.0] * 60 + [5.0])
    assert report["items"] == 61 and report["items_with_overlap"] == 60
    assert report["cohen_kappa"][0]["kappa"] == pytest.approx(cohen_kappa_score(a, b))
    assert report["percent_agreement"] == pytest.approx(np.mean(a == b))
    alpha = krippendorff_alpha([[json.dumps(v) for v in a], [json.dumps(v) for v in b]])
    assert report["krippendorff_alpha"] == pytest.approx(alpha)
    assert report["fleiss_items"] == 60
    per = {p["annotator"]: p for p in report["per_annotator"]}
    assert (
        per["ana"]["labels"] == 61
        and per["ana"]["median_seconds"] == 1.0
        and per["bo"]["median_seconds"] == 3.0
    )
    assert per["bo"]["agreement_with_others"] == pytest.approx(np.mean(a == b))


def test_regression_labels_compare_at_the_interval_level() -> None:
    rows = [
        ("e1", "a", 1.0),
        ("e1", "b", 1.0),
        ("e2", "a", 5.0),
        ("e2", "b", 4.0),
        ("e3", "a", 9.0),
        ("e3", "b", 9.5),
    ]
    report = agreement_report(rows, level="interval")
    assert report["krippendorff_alpha"] == pytest.approx(
        krippendorff_alpha([[1.0, 5.0, 9.0], [1.0, 4.0, 9.5]], level="interval")
    )
    assert report["fleiss_kappa"] is None and report["cohen_kappa"][0]["kappa"] is None


def test_no_overlap_gives_no_statistics_and_disagreements_list_the_disputes() -> None:
    report = agreement_report([("e1", "a", "x"), ("e2", "b", "y")])
    assert (report["items_with_overlap"], report["krippendorff_alpha"], report["cohen_kappa"]) == (
        0,
        None,
        [],
    )
    rows: list[Any] = [("e1", "a", "x"), ("e1", "b", "x"), ("e2", "a", "x"), ("e2", "b", "y")]
    assert disagreements(rows) == {"e2": {"a": "x", "b": "y"}}
    with pytest.raises(ValidationError):
        agreement_report(rows, level="ordinal")
