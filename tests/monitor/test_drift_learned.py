"""Thresholds learned from reference windows hold their stated false-alarm rate on fresh windows."""

from __future__ import annotations

import numpy as np
import pytest

from flywheel.errors import ValidationError
from flywheel.monitor.drift import compute_drift, learn_thresholds
from flywheel.profiles import DatasetProfile

KINDS = {"x": "numeric", "c": "categorical"}


def _window(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {"x": rng.gamma(2.0, 1.0, n) + shift, "c": rng.choice(list("abcdefgh"), n)}


def test_learned_thresholds_keep_the_false_alarm_rate_on_fresh_windows():
    rng = np.random.default_rng(0)
    windows = [_window(rng, 1500) for _ in range(40)]
    learned = learn_thresholds(windows, KINDS, false_alarm_rate=0.05)
    assert learned.method == "empirical" and learned.n_windows == 40
    assert set(learned.thresholds) == {"x", "c"} and set(learned.thresholds["x"]) == {"wasserstein", "psi"}
    base = {k: np.concatenate([w[k] for w in windows]) for k in KINDS}
    fresh = [_window(rng, 1500) for _ in range(40)]
    over = [
        any(compute_drift(base, w, KINDS)["x"].metrics[m] >= t for m, t in learned.thresholds["x"].items())
        for w in fresh
    ]
    assert np.mean(over) <= 0.2  # two metrics at 5% each, plus sampling slack on 40 windows
    shifted = compute_drift(
        base, _window(rng, 1500, shift=0.6), KINDS, column_thresholds=learned.column_thresholds
    )
    assert shifted.flagged == ["x"]


def test_few_windows_extrapolate_with_a_normal_fit_never_below_the_largest_value_seen():
    rng = np.random.default_rng(1)
    learned = learn_thresholds([_window(rng, 800) for _ in range(5)], KINDS, false_alarm_rate=0.01)
    assert learned.method == "normal"
    for per_metric in learned.observed.values():
        assert all(len(values) == 5 for values in per_metric.values())
    assert all(
        learned.thresholds[c][m] >= max(v) for c, pm in learned.observed.items() for m, v in pm.items()
    )


def test_thresholds_learn_from_hourly_profiles_too():
    rng = np.random.default_rng(2)
    hours = [DatasetProfile.from_table(_window(rng, 2000), KINDS) for _ in range(24)]
    learned = learn_thresholds(hours, false_alarm_rate=0.05)
    assert learned.method == "empirical" and set(learned.thresholds) == {"x", "c"}
    assert 0 < learned.thresholds["c"]["linf"] < 0.1


def test_bad_arguments_are_refused():
    rng = np.random.default_rng(3)
    with pytest.raises(ValidationError, match="at least 3 reference windows"):
        learn_thresholds([_window(rng, 10)] * 2, KINDS)
    with pytest.raises(ValidationError, match="'false_alarm_rate' parameter"):
        learn_thresholds([_window(rng, 10)] * 3, KINDS, false_alarm_rate=0.7)
    with pytest.raises(ValidationError, match="Pass kinds"):
        learn_thresholds([_window(rng, 10)] * 3)
