"""compute_drift: the flag rule (effect size AND corrected significance), its reasons, thresholds,
derived features for text and embeddings, and agreement between the exact and the profile path."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from flywheel.errors import ValidationError
from flywheel.monitor.drift import PSI, compute_drift, compute_drift_from_profiles, default_thresholds
from flywheel.profiles import DatasetProfile

KINDS = {
    "shift": "numeric",
    "noise": "numeric",
    "count": "numeric",
    "cat": "categorical",
    "cat_moved": "categorical",
}


def _tables(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(shift: float, moved: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "shift": rng.normal(shift, 1.0, n),
                "noise": rng.lognormal(0, 1, n),
                "count": rng.poisson(4, n),
                "cat": rng.choice(list("abcde"), n),
                # a harmless 4-point move between two categories, like the census control set
                "cat_moved": rng.choice(["p", "q", "r"], n, p=[0.5 - moved, 0.3 + moved, 0.2]),
            }
        )

    return frame(0.0, 0.0), frame(0.05, 0.04)


def test_a_subtle_mean_shift_is_flagged_at_scale_while_harmless_moves_are_not():
    ref, cur = _tables(300_000)
    report = compute_drift(ref, cur, KINDS)
    assert report.flagged == ["shift"]
    moved = report["cat_moved"]
    assert moved.p_adjusted < 1e-10  # significant, as a p-value-only rule would flag ...
    assert not moved.flagged and moved.metrics["linf"] == pytest.approx(0.04, abs=0.01)  # ... but small
    assert "no effect above its threshold" in moved.reason
    shift = report["shift"]
    assert shift.exceeded == ["wasserstein"] and shift.details["mean_shift_sd"] == pytest.approx(
        0.05, abs=0.01
    )


def test_a_large_effect_on_a_tiny_sample_is_not_flagged_without_significance():
    rng = np.random.default_rng(3)
    ref = {"x": rng.normal(size=15), "y": rng.normal(size=15)}
    cur = {"x": rng.normal(0.3, 1, 12), "y": rng.normal(size=12)}
    report = compute_drift(ref, cur, {"x": "numeric", "y": "numeric"})
    x = report["x"]
    assert x.exceeded and not x.flagged
    assert "within what chance gives" in x.reason
    assert compute_drift(ref, cur, {"x": "numeric"}, require_significance=False)["x"].flagged


def test_holm_is_stricter_than_bh_across_many_columns():
    rng = np.random.default_rng(8)
    n = 4000
    ref = {f"c{i}": rng.normal(size=n) for i in range(10)}
    cur = {f"c{i}": rng.normal(0.07 if i < 5 else 0.0, 1, n) for i in range(10)}
    kinds = dict.fromkeys(ref, "numeric")
    holm = compute_drift(ref, cur, kinds, correction="holm", thresholds={"wasserstein": 0.0, "psi": 0.0})
    bh = compute_drift(ref, cur, kinds, correction="bh", thresholds={"wasserstein": 0.0, "psi": 0.0})
    for h, b in zip(holm, bh, strict=True):
        assert b.p_adjusted <= h.p_adjusted + 1e-12 and h.p_value == b.p_value
    assert set(holm.flagged) <= set(bh.flagged)


def test_thresholds_can_be_set_globally_and_per_column():
    ref, cur = _tables(50_000, seed=1)
    strict = compute_drift(ref, cur, KINDS, thresholds={"linf": 0.03})
    assert "cat_moved" in strict.flagged
    relaxed = compute_drift(
        ref,
        cur,
        KINDS,
        thresholds={"linf": 0.03},
        column_thresholds={"cat_moved": {"linf": 0.5, "jensen_shannon": 0.5}},
    )
    assert "cat_moved" not in relaxed.flagged
    assert relaxed["cat_moved"].thresholds["linf"] == 0.5
    assert default_thresholds() == {"wasserstein": 0.035, "psi": 0.1, "linf": 0.1, "jensen_shannon": 0.1}


def test_custom_metrics_replace_the_defaults_for_a_kind():
    ref, cur = _tables(20_000, seed=2)
    report = compute_drift(ref, cur, KINDS, metrics={"numeric": [PSI(bins=20)]})
    assert set(report["shift"].metrics) == {"psi"} and report["shift"].test is None
    assert set(report["cat"].metrics) == {"linf", "jensen_shannon", "chi2", "new_categories"}


def test_inputs_from_pandas_arrow_and_dicts_give_the_same_report():
    ref, cur = _tables(10_000, seed=4)
    a = compute_drift(ref, cur, KINDS).to_dict()
    b = compute_drift(pa.Table.from_pandas(ref), pa.Table.from_pandas(cur), KINDS).to_dict()
    c = compute_drift(
        {k: ref[k].to_numpy() for k in ref}, {k: cur[k].to_numpy() for k in cur}, KINDS
    ).to_dict()
    assert a == b == c
    json.dumps(a)  # JSON-ready


def test_text_and_embedding_columns_are_compared_through_derived_numbers():
    rng = np.random.default_rng(5)
    n = 3000
    ref = {"text": ["short words here"] * n, "emb": list(rng.normal(size=(n, 6)))}
    cur = {
        "text": ["a much longer text with many more words in it"] * n,
        "emb": list(rng.normal(size=(n, 6)) + [0, 0, 0, 0, 0, 1.0]),
    }
    report = compute_drift(
        ref, cur, {"text": "text", "emb": "embedding"}, projections={"emb": np.eye(6)[:, 4:]}
    )
    names = [c.name for c in report]
    assert names == ["text.chars", "text.tokens", "emb.pc1", "emb.pc2", "emb.norm"]
    assert set(report.flagged) >= {"text.chars", "text.tokens", "emb.pc2"} and "emb.pc1" not in report.flagged
    assert all(c.column in ("text", "emb") for c in report)
    fitted = compute_drift(ref, cur, {"emb": "embedding"})  # projection fitted on the reference
    assert len([c for c in fitted if c.name.startswith("emb.pc")]) == 6


def test_profiles_give_the_same_flags_as_the_raw_data():
    ref, cur = _tables(60_000, seed=6)
    ref.loc[:, "shift"] = ref["shift"] * 1.0
    cur.loc[:, "shift"] = cur["shift"] + 0.3  # make the numeric shift obvious at this size
    exact = compute_drift(ref, cur, KINDS)
    pref, pcur = DatasetProfile.from_table(ref, KINDS), DatasetProfile.from_table(cur, KINDS)
    approx = compute_drift_from_profiles(pref, pcur)
    assert approx.flagged == exact.flagged == ["shift"]
    for e, a in zip(exact, approx, strict=True):
        assert a.name == e.name and a.exact == (e.kind == "categorical")  # small categoricals stay exact
        if e.kind == "numeric":  # from profiles: a lower bound, close for a clear shift
            assert (
                e.metrics["wasserstein"] - 0.05 <= a.metrics["wasserstein"] <= e.metrics["wasserstein"] + 1e-3
            )


def test_a_subtle_shift_is_significant_from_profiles_through_the_exact_means():
    rng = np.random.default_rng(9)
    ref = {"x": rng.normal(0, 1, 400_000), "y": rng.normal(0, 1, 400_000)}
    cur = {"x": rng.normal(0.05, 1, 400_000), "y": rng.normal(0, 1, 400_000)}
    kinds = {"x": "numeric", "y": "numeric"}
    pref, pcur = DatasetProfile.from_table(ref, kinds), DatasetProfile.from_table(cur, kinds)
    report = compute_drift_from_profiles(pref, pcur)
    assert report.flagged == ["x"]
    assert report["x"].details["p_mean"] < 1e-50 and report["y"].p_value > 0.01


def test_empty_sides_unknown_kinds_and_missing_columns_are_reported_clearly():
    report = compute_drift(
        {"x": [], "y": [1.0, 2.0]}, {"x": [1.0], "y": [1.0, 2.0]}, {"x": "numeric", "y": "numeric"}
    )
    assert not report["x"].flagged and report["x"].reason == "no usable value on the reference side"
    with pytest.raises(ValidationError, match="Unknown column kinds"):
        compute_drift({"x": [1.0]}, {"x": [1.0]}, {"x": "vector"})
    with pytest.raises(ValidationError, match="Column 'z' is missing"):
        compute_drift({"x": [1.0]}, {"x": [1.0]}, {"z": "numeric"})
    with pytest.raises(ValidationError, match="'alpha' parameter"):
        compute_drift({"x": [1.0]}, {"x": [1.0]}, {"x": "numeric"}, alpha=1.5)
