"""Every registered drift metric, checked the same way: a documented, runnable docstring, a
deterministic result, NaN (not an error) on empty input, parameters that round-trip, and the same
value from any input container."""

from __future__ import annotations

import inspect
import math
import sys

import numpy as np
import pyarrow as pa
import pytest

from flywheel.monitor.drift import compare, get_metric, registered_metrics
from flywheel.monitor.drift.base import DriftMetric

METRICS = sorted(registered_metrics().items())
RNG = np.random.default_rng(0)
SAMPLES = {
    "numeric": (RNG.normal(size=3000), RNG.normal(0.2, 1.2, 2500)),
    "categorical": (RNG.choice(list("abcd"), 3000), RNG.choice(list("abce"), 2500)),
}


def test_the_builtin_metrics_are_registered():
    assert {n for n, _ in METRICS} >= {
        "wasserstein",
        "psi",
        "ks",
        "linf",
        "jensen_shannon",
        "chi2",
        "new_categories",
    }


@pytest.mark.parametrize(("name", "cls"), METRICS)
def test_metric_is_documented_with_a_runnable_example(name, cls):
    assert cls.__doc__ and cls.__doc__.strip()
    module = sys.modules[cls.__module__]
    assert module.__doc__ and ">>>" in module.__doc__, f"{name}: module docstring needs an example"
    assert cls.kind in ("numeric", "categorical") and cls.name == name
    assert issubclass(cls, DriftMetric)


@pytest.mark.parametrize(("name", "cls"), METRICS)
def test_metric_is_deterministic(name, cls):
    ref, cur = SAMPLES[cls.kind]
    first, second = cls().from_arrays(ref, cur), cls().from_arrays(ref.copy(), cur.copy())
    assert first == second


@pytest.mark.parametrize(("name", "cls"), METRICS)
def test_metric_returns_nan_on_empty_input(name, cls):
    ref, _ = SAMPLES[cls.kind]
    for a, b in ((ref[:0], ref), (ref, ref[:0]), (ref[:0], ref[:0])):
        out = cls().from_arrays(a, b)
        assert math.isnan(out.value)
        assert (out.p_value is not None and math.isnan(out.p_value)) if cls.is_test else out.p_value is None


@pytest.mark.parametrize(("name", "cls"), METRICS)
def test_metric_parameters_round_trip_through_the_registry(name, cls):
    metric = cls()
    again = get_metric(name, **metric.params())
    assert repr(again) == repr(metric)
    declared = (
        set(inspect.signature(cls.__init__).parameters) - {"self"} if "__init__" in vars(cls) else set()
    )
    assert set(metric.params()) == declared


@pytest.mark.parametrize(("name", "cls"), METRICS)
def test_metric_gives_the_same_value_from_numpy_arrow_and_lists(name, cls):
    ref, cur = SAMPLES[cls.kind]
    base = cls().compute(compare(cls.kind, ref, cur))
    for a, b in ((pa.array(ref), pa.chunked_array([cur[:100], cur[100:]])), (ref.tolist(), cur.tolist())):
        other = cls().compute(compare(cls.kind, a, b))
        assert other.value == pytest.approx(base.value, rel=1e-12)
