"""The conformance suite: every registered selector obeys the selector contract."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import flywheel.curate as curate_package
import flywheel.label as label_package
from flywheel.curate import CandidateBatch, make_selector, registered_selectors
from flywheel.errors import ValidationError

# Parameters for selectors that cannot be built with defaults alone.
REQUIRED_PARAMS = {"similarity": {"exemplar_ids": ["e0"]}}


def _full_batch(n: int = 60, seed: int = 0) -> CandidateBatch:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    probs = rng.dirichlet([1.0, 1.0, 1.0], size=n)
    return CandidateBatch(
        [f"e{i}" for i in range(n)],
        X=X,
        probabilities=probs,
        slices={"country": rng.choice(["FR", "DE", "US"], size=n)},
        timestamps=np.arange(n, dtype=float) * 600.0,
        flagged=rng.random(n) < 0.2,
        challenger_probabilities={"v2": rng.dirichlet([1.0, 1.0, 1.0], size=n)},
        reference_X=rng.normal(size=(80, 5)),
        labels=np.where(rng.random(n) < 0.5, probs.argmax(axis=1), -1),
        slice_drift={"country=FR": 0.3},
    )


def _selector(name: str):
    return make_selector(name, **REQUIRED_PARAMS.get(name, {}))


SELECTOR_NAMES = sorted(registered_selectors())


def test_every_selector_listed_in_the_issue_is_registered() -> None:
    expected = {
        "random",
        "stratified",
        "feedback",
        "uncertainty",
        "disagreement",
        "novelty",
        "diversity",
        "similarity",
        "label_errors",
        "kmeans_centres",
        "drifting_slice",
    }
    assert expected <= set(SELECTOR_NAMES)


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_scores_one_float_per_row_and_repeats_under_its_seed(name: str) -> None:
    batch = _full_batch()
    a = _selector(name).score(batch, budget=5)
    b = _selector(name).score(batch, budget=5)
    assert a.shape == (len(batch),) and a.dtype == np.float64
    assert not np.isnan(a).any()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_returns_no_scores_for_an_empty_batch(name: str) -> None:
    empty = _full_batch().take([])
    assert _selector(name).score(empty).shape == (0,)


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_has_a_docstring_with_an_example(name: str) -> None:
    cls = registered_selectors()[name]
    module = importlib.import_module(cls.__module__)
    assert cls.__doc__ and module.__doc__ and ">>>" in module.__doc__


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_round_trips_through_its_params(name: str) -> None:
    selector = _selector(name)
    rebuilt = make_selector(name, **selector.get_params())
    assert rebuilt.get_params() == selector.get_params()
    batch = _full_batch()
    np.testing.assert_array_equal(selector.score(batch, budget=4), rebuilt.score(batch, budget=4))


@pytest.mark.parametrize("name", SELECTOR_NAMES)
def test_selector_explains_each_picked_row(name: str) -> None:
    batch = _full_batch()
    selector = _selector(name)
    scores = selector.score(batch, budget=3)
    picked = [int(i) for i in np.argsort(-scores)[:3] if np.isfinite(scores[i])]
    reasons = selector.explain(batch, picked, scores)
    assert len(reasons) == len(picked) and all(isinstance(r, str) and r for r in reasons)


@pytest.mark.parametrize("name", [n for n in SELECTOR_NAMES if registered_selectors()[n].requires])
def test_selector_refuses_a_batch_without_the_field_it_needs(name: str) -> None:
    bare = CandidateBatch(["a", "b"])
    selector = _selector(name)
    assert not selector.applicable(bare)
    with pytest.raises(ValidationError, match="needs CandidateBatch"):
        selector.score(bare)


def test_unknown_selector_name_lists_the_registered_ones() -> None:
    with pytest.raises(ValidationError, match="registered: \\['disagreement'"):
        make_selector("clairvoyance")


def test_examples_in_curate_and_label_docstrings_run() -> None:
    failures = 0
    for package in (curate_package, label_package):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            failures += doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed
    assert failures == 0
