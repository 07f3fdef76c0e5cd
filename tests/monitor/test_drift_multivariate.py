"""Multivariate drift: the domain classifier and PCA reconstruction see a changed relation between
columns whose marginals did not move, stay quiet on fresh draws of the same data, and say why."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ValidationError
from flywheel.monitor.drift import PCAReconstructionDrift, compute_drift, domain_classifier_drift

KINDS = {"a": "numeric", "b": "numeric", "c": "categorical"}


def _data(rng: np.random.Generator, n: int, related: bool) -> dict[str, np.ndarray]:
    a = rng.normal(size=n)
    b = a * 0.95 + rng.normal(0, 0.31, n) if related else rng.normal(size=n)
    return {"a": a, "b": b, "c": rng.choice(["u", "v", "w"], n)}


def test_a_broken_correlation_is_invisible_per_column_but_seen_by_both_multivariate_checks():
    rng = np.random.default_rng(0)
    ref, cur = _data(rng, 4000, True), _data(rng, 2000, False)
    assert compute_drift(ref, cur, KINDS).flagged == []  # marginals did not move
    dc = domain_classifier_drift(ref, cur, KINDS, max_rows=2000, n_estimators=30)
    assert dc.flagged and dc.auc > 0.7
    assert {name for name, _ in dc.top_features[:2]} == {"a", "b"}
    pca = PCAReconstructionDrift().fit(ref, KINDS).compare(cur)
    assert pca.flagged and pca.ratio > 1.5 and "bootstrap" in pca.reason


def test_fresh_draws_of_the_same_data_are_not_flagged():
    rng = np.random.default_rng(1)
    ref, cur = _data(rng, 4000, True), _data(rng, 2000, True)
    dc = domain_classifier_drift(ref, cur, KINDS, max_rows=2000, n_estimators=30)
    assert not dc.flagged and dc.auc < 0.55
    pca = PCAReconstructionDrift().fit(ref, KINDS).compare(cur)
    assert not pca.flagged and pca.ratio == pytest.approx(1.0, abs=0.1)


def test_domain_classifier_is_deterministic_under_its_seed():
    rng = np.random.default_rng(2)
    ref, cur = _data(rng, 1500, True), _data(rng, 1500, False)
    one = domain_classifier_drift(ref, cur, KINDS, n_estimators=20, seed=7)
    two = domain_classifier_drift(ref, cur, KINDS, n_estimators=20, seed=7)
    assert one == two


def test_invalid_inputs_are_refused_with_reasons():
    with pytest.raises(ValidationError, match="numeric and categorical"):
        domain_classifier_drift({"t": ["x"]}, {"t": ["y"]}, {"t": "text"})
    with pytest.raises(ValidationError, match="'variance' parameter of PCAReconstructionDrift"):
        PCAReconstructionDrift(variance=1.5)
    tiny = domain_classifier_drift({"a": [1.0, 2.0]}, {"a": [3.0]}, {"a": "numeric"})
    assert not tiny.flagged and "too few rows" in tiny.reason
