"""The queue policy: budget, random reserve, exclusions, mix, quotas, cold start, reasons."""

from __future__ import annotations

import json

import numpy as np
import pydantic
import pytest

from flywheel.curate import CandidateBatch
from flywheel.curate.policy import CurationPolicy, PolicyConfig, SelectorSpec, SliceQuota


def _batch(n: int = 300, seed: int = 0, **extra) -> CandidateBatch:
    rng = np.random.default_rng(seed)
    fields = {
        "X": rng.normal(size=(n, 4)),
        "probabilities": rng.dirichlet([1.0, 1.0, 1.0], size=n),
        "slices": {"country": rng.choice(["FR", "DE", "US"], p=[0.1, 0.3, 0.6], size=n)},
    }
    fields.update(extra)
    return CandidateBatch([f"e{i}" for i in range(n)], **fields)


def _run(config: PolicyConfig, batch: CandidateBatch, **kw):
    return CurationPolicy(config).run(batch, **kw)


def test_run_queues_exactly_the_budget_without_duplicates() -> None:
    result = _run(PolicyConfig(budget=40), _batch())
    ids = result.event_ids
    assert len(ids) == 40 and len(set(ids)) == 40
    assert [i.rank for i in result.items] == list(range(40))


def test_excluded_events_are_never_queued() -> None:
    batch = _batch()
    first = _run(PolicyConfig(budget=50), batch)
    second = _run(PolicyConfig(budget=50), batch, exclude=set(first.event_ids))
    assert not set(first.event_ids) & set(second.event_ids)
    assert second.n_excluded == 50 and second.n_candidates == 250


def test_budget_never_exceeds_the_candidates_left() -> None:
    batch = _batch(n=30)
    result = _run(PolicyConfig(budget=100), batch, exclude={f"e{i}" for i in range(25)})
    assert sorted(result.event_ids) == [f"e{i}" for i in range(25, 30)]


def test_daily_budget_caps_a_run_by_what_is_left_today() -> None:
    config = PolicyConfig(budget=50, daily_budget=60)
    assert len(_run(config, _batch(), spent_today=45).items) == 15
    result = _run(config, _batch(), spent_today=60)
    assert result.items == [] and result.notes


@pytest.mark.parametrize(
    ("budget", "share", "expected"), [(40, 0.1, 4), (20, 0.1, 2), (5, 0.1, 1), (1, 0.1, 1), (10, 0.25, 3)]
)
def test_random_reserve_is_always_there_and_sized_by_its_share(
    budget: int, share: float, expected: int
) -> None:
    result = _run(PolicyConfig(budget=budget, random_share=share), _batch())
    reserve = [i for i in result.items if i.for_evaluation]
    assert len(reserve) == expected
    assert all(i.selector == "random" and "unbiased evaluation" in i.signal for i in reserve)


def test_random_reserve_is_not_drawn_towards_uncertain_events() -> None:
    # Half the pool is very uncertain; the reserve must still hit it about half the time.
    n = 400
    p = np.where(np.arange(n)[:, None] < n // 2, [[0.5, 0.5]], [[0.99, 0.01]])
    batch = CandidateBatch(
        [f"e{i}" for i in range(n)], X=np.random.default_rng(0).normal(size=(n, 2)), probabilities=p
    )
    hits = total = 0
    for seed in range(60):
        config = PolicyConfig(budget=20, seed=seed, selectors=[SelectorSpec(name="uncertainty")])
        for item in _run(config, batch).items:
            if item.for_evaluation:
                hits += item.index < n // 2
                total += 1
    assert 0.35 < hits / total < 0.65


def test_random_share_must_be_positive() -> None:
    with pytest.raises(pydantic.ValidationError, match="random_share"):
        PolicyConfig(random_share=0.0)


def test_same_seed_same_queue_other_seed_other_queue() -> None:
    batch = _batch()
    a = _run(PolicyConfig(budget=30, seed=7), batch)
    b = _run(PolicyConfig(budget=30, seed=7), batch)
    c = _run(PolicyConfig(budget=30, seed=8), batch)
    assert a.to_dict() == b.to_dict()
    assert a.event_ids != c.event_ids


def test_flagged_events_come_first_with_their_reason() -> None:
    flagged = np.zeros(300, bool)
    flagged[[3, 50, 120]] = True
    result = _run(PolicyConfig(budget=30), _batch(flagged=flagged, feedback=np.where(flagged, "flag", None)))
    feedback = [i for i in result.items if i.selector == "feedback"]
    chosen_by_reserve = {i.index for i in result.items if i.for_evaluation}
    assert {i.index for i in feedback} | (chosen_by_reserve & {3, 50, 120}) == {3, 50, 120}
    assert all(i.signal == "flag by user" for i in feedback)


def test_a_selector_with_nothing_to_say_hands_its_share_to_the_others() -> None:
    # Default mix, no flags, no challenger, no drift, no reference: diversity takes everything.
    result = _run(PolicyConfig(budget=20), _batch())
    assert result.counts() == {"random": 2, "diversity": 18}
    assert any("feedback: nothing to select from" in note for note in result.notes)


def test_weights_share_the_non_random_budget() -> None:
    batch = _batch(challenger_probabilities={"v2": np.random.default_rng(5).dirichlet([1, 1, 1], size=300)})
    config = PolicyConfig(
        budget=41,
        selectors=[SelectorSpec(name="uncertainty", weight=3), SelectorSpec(name="disagreement", weight=1)],
    )
    counts = _run(config, batch).counts()
    assert counts == {"random": 5, "uncertainty": 27, "disagreement": 9}


def test_selector_that_runs_out_hands_back_the_rest() -> None:
    flagged = np.zeros(300, bool)
    flagged[:2] = True
    config = PolicyConfig(
        budget=21,
        random_share=0.05,
        selectors=[SelectorSpec(name="feedback", weight=10), SelectorSpec(name="uncertainty", weight=1)],
    )
    counts = _run(config, _batch(flagged=flagged), exclude=set()).counts()
    assert counts["random"] == 2 and counts.get("feedback", 0) + counts["uncertainty"] == 19
    assert counts.get("feedback", 0) <= 2


def test_uncertainty_picks_carry_the_margin_as_their_signal() -> None:
    config = PolicyConfig(budget=10, selectors=[SelectorSpec(name="uncertainty")])
    result = _run(config, _batch())
    picked = [i for i in result.items if i.selector == "uncertainty"]
    assert picked and all(i.signal.startswith("margin ") for i in picked)
    scores = [i.score for i in picked]
    assert scores == sorted(scores, reverse=True)


def test_slice_minimum_is_filled_from_that_slice() -> None:
    batch = _batch()
    config = PolicyConfig(
        budget=20,
        selectors=[SelectorSpec(name="uncertainty")],
        quotas=[SliceQuota(slice="country", value="FR", min=8)],
    )
    result = _run(config, batch)
    fr = [i for i in result.items if not i.for_evaluation and batch.slices["country"][i.index] == "FR"]
    assert len(fr) >= 8
    assert sum("slice quota country=FR (min 8)" in i.signal for i in fr) == 8


def test_slice_maximum_caps_selector_picks_in_that_slice() -> None:
    batch = _batch()
    config = PolicyConfig(
        budget=60,
        selectors=[SelectorSpec(name="uncertainty")],
        quotas=[SliceQuota(slice="country", value="US", max=5)],
    )
    result = _run(config, batch)
    us = [i for i in result.items if not i.for_evaluation and batch.slices["country"][i.index] == "US"]
    assert len(us) == 5 and len(result.items) == 60


def test_drifting_slice_reason_names_the_slice() -> None:
    batch = _batch(slice_drift={"country=FR": 0.31})
    result = _run(PolicyConfig(budget=40), batch)
    drift = [i for i in result.items if i.selector == "drifting_slice"]
    assert drift and all(i.signal == "slice country=FR drifting (0.31)" for i in drift)


def test_cold_start_without_probabilities_takes_kmeans_centres() -> None:
    batch = CandidateBatch([f"e{i}" for i in range(200)], X=np.random.default_rng(0).normal(size=(200, 3)))
    result = _run(PolicyConfig(budget=20), batch)
    assert result.counts() == {"random": 2, "kmeans_centres": 18}
    assert any("cold start" in note for note in result.notes)


def test_no_usable_field_falls_back_to_random() -> None:
    result = _run(PolicyConfig(budget=10), CandidateBatch([f"e{i}" for i in range(50)]))
    assert len(result.items) == 10 and {i.selector for i in result.items} == {"random"}


def test_result_serialises_to_json() -> None:
    result = _run(PolicyConfig(budget=10), _batch(flagged=np.arange(300) < 3))
    payload = json.loads(json.dumps(result.to_dict()))
    assert len(payload["items"]) == 10 and {"selector", "score", "signal", "for_evaluation"} <= set(
        payload["items"][0]
    )


def test_config_rejects_unknown_selectors_bad_params_and_repeated_quotas() -> None:
    with pytest.raises(pydantic.ValidationError, match="Unknown selector 'oracle'"):
        PolicyConfig(selectors=[{"name": "oracle"}])
    with pytest.raises(pydantic.ValidationError, match="'measure' parameter of Uncertainty"):
        PolicyConfig(selectors=[{"name": "uncertainty", "params": {"measure": "luck"}}])
    with pytest.raises(pydantic.ValidationError, match="one quota per slice value"):
        PolicyConfig(quotas=[{"slice": "c", "value": "FR"}, {"slice": "c", "value": "FR"}])
    with pytest.raises(pydantic.ValidationError, match="below min"):
        SliceQuota(slice="c", value="FR", min=3, max=1)


def test_config_round_trips_through_json() -> None:
    config = PolicyConfig(budget=12, quotas=[SliceQuota(slice="country", value="FR", min=2)], seed=3)
    assert PolicyConfig.model_validate_json(config.model_dump_json()) == config


def test_reserve_is_spread_through_the_queue_not_bunched_at_the_top() -> None:
    result = _run(PolicyConfig(budget=40), _batch())
    ranks = [i.rank for i in result.items if i.for_evaluation]
    assert ranks == [5, 15, 25, 35]
