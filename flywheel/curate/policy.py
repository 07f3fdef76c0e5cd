"""The queue policy: which candidates a curation run sends to labelling, and why.

One run takes a :class:`CandidateBatch` and a :class:`PolicyConfig` and returns the events to
queue, each with the selector that chose it, its score and the signal behind it ("margin
0.03", "flagged by user", "slice country=FR drifting (0.31)"). The rules, in order:

1. **Never twice.** Events in ``exclude`` (already queued or labelled; the caller passes
   their ids) are not candidates.
2. **Budget.** At most ``budget`` events per run, and at most what is left of
   ``daily_budget`` after ``spent_today``.
3. **A random reserve, always.** ``ceil(random_share x budget)`` events (at least one) are
   drawn uniformly from all candidates *first* and marked ``for_evaluation``: labels that
   estimate live accuracy without the bias of the other picks. Slice quotas do not touch them;
   in the queue they are spread evenly among the other picks.
4. **Slice minimums.** For each :class:`SliceQuota` with a ``min``, the selectors fill that
   many from the slice before anything else; a ``max`` caps a slice's selector picks.
5. **The mix.** The rest of the budget is shared among the selectors by ``weight``. A
   selector with nothing to say on this batch (no flagged events, no challenger, no drifting
   slice) hands its share to the others; one that runs out of candidates hands back the
   rest. Selectors take turns, so each gets its share of the top of its own ranking.
6. **Cold start.** With no model probabilities yet (no labels, no model), the share of the
   selectors that need probabilities goes to k-means centres over the features.

The default mix puts user feedback first, then champion/challenger disagreement, drifting
slices and novelty, and uncertainty (the top-two probability ratio) with a k-means diversity
step for the rest. On
scikit-learn digits (pool-based, batches of 20) this default, with its 10% random reserve,
reaches 95% of the full-data accuracy with fewer labels than margin or random sampling
(``bench/curation/active_learning.py``).

Runs are deterministic: the same batch, config and ``seed`` give the same queue.

>>> import numpy as np
>>> from flywheel.curate.batch import CandidateBatch
>>> rng = np.random.default_rng(0)
>>> batch = CandidateBatch(
...     [f"e{i}" for i in range(200)],
...     X=rng.normal(size=(200, 4)),
...     probabilities=rng.dirichlet([1, 1, 1], size=200),
...     flagged=np.arange(200) == 7,
... )
>>> result = CurationPolicy(PolicyConfig(budget=10)).run(batch, exclude={"e3"})
>>> len(result.items), sum(i.for_evaluation for i in result.items)
(10, 1)
>>> [(i.event_id, i.selector, i.signal) for i in result.items if i.selector == "feedback"]
[('e7', 'feedback', 'flagged by user')]
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flywheel.curate.base import Selector
from flywheel.curate.batch import CandidateBatch
from flywheel.curate.registry import make_selector
from flywheel.errors import ValidationError


class SelectorSpec(BaseModel):
    """One selector of the mix: its registered name, weight and parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Registered selector name (see flywheel.curate.registered_selectors()).")
    weight: float = Field(
        default=1.0, gt=0, description="Share of the non-random budget, relative to the others."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Constructor parameters of the selector."
    )

    @model_validator(mode="after")
    def _builds(self) -> SelectorSpec:
        try:
            make_selector(self.name, **self.params)
        except ValidationError as exc:
            raise ValueError(exc.message) from None
        return self

    def build(self, seed: int) -> Selector:
        """The selector, seeded with ``seed`` unless the params name a ``random_state``."""
        params = dict(self.params)
        selector = make_selector(self.name, **params)
        if "random_state" in selector.get_params() and "random_state" not in params:
            params["random_state"] = seed
            selector = make_selector(self.name, **params)
        return selector


class SliceQuota(BaseModel):
    """Bounds on how many selector picks come from one slice value, e.g. ``country=FR``."""

    model_config = ConfigDict(extra="forbid")

    slice: str = Field(description="Slice name, a key of CandidateBatch.slices.")
    value: str = Field(description="The slice value the quota applies to.")
    min: int = Field(
        default=0, ge=0, description="Picks to take from this slice first (when it has candidates)."
    )
    max: int | None = Field(default=None, ge=0, description="Most picks from this slice; no cap when None.")

    @model_validator(mode="after")
    def _ordered(self) -> SliceQuota:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"quota {self.slice}={self.value}: max ({self.max}) is below min ({self.min})")
        return self

    @property
    def key(self) -> str:
        return f"{self.slice}={self.value}"


def default_selectors() -> list[SelectorSpec]:
    """The default mix: feedback first, then disagreement, drift and novelty, then diverse uncertainty."""
    return [
        SelectorSpec(name="feedback", weight=0.3),
        SelectorSpec(name="disagreement", weight=0.15),
        SelectorSpec(name="drifting_slice", weight=0.1),
        SelectorSpec(name="novelty", weight=0.1),
        SelectorSpec(
            name="diversity",
            weight=0.35,
            params={"base": "uncertainty", "base_params": {"measure": "ratio"}},
        ),
    ]


class PolicyConfig(BaseModel):
    """How a curation run mixes selectors under a label budget."""

    model_config = ConfigDict(extra="forbid")

    budget: int = Field(default=100, ge=0, le=1_000_000, description="Most events queued by one run.")
    daily_budget: int | None = Field(
        default=None, ge=0, description="Most events queued per day, over all runs."
    )
    random_share: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Share of each run drawn uniformly at random, for unbiased evaluation.",
    )
    selectors: list[SelectorSpec] = Field(default_factory=default_selectors, description="The selector mix.")
    quotas: list[SliceQuota] = Field(default_factory=list, description="Per-slice minimums and caps.")
    cold_start: bool = Field(
        default=True, description="Use k-means centres when the batch has no probabilities."
    )
    seed: int = Field(
        default=0, ge=0, le=2**32 - 1, description="Seed: the same batch and config give the same queue."
    )

    @field_validator("quotas")
    @classmethod
    def _unique_quotas(cls, v: list[SliceQuota]) -> list[SliceQuota]:
        keys = [q.key for q in v]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"one quota per slice value; repeated: {dup}")
        return v


@dataclass(frozen=True)
class QueuedItem:
    """One event a run queued, and why."""

    event_id: str
    index: int
    rank: int
    selector: str
    score: float
    signal: str
    for_evaluation: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["score"] = None if not math.isfinite(self.score) else self.score
        return out


@dataclass(frozen=True)
class CurationResult:
    """What one run queued (in queue order) and what it decided on the way."""

    items: list[QueuedItem]
    budget: int
    n_candidates: int
    n_excluded: int
    notes: list[str] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [i.event_id for i in self.items]

    def counts(self) -> dict[str, int]:
        """Queued events per selector."""
        out: dict[str, int] = {}
        for item in self.items:
            out[item.selector] = out.get(item.selector, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [i.to_dict() for i in self.items],
            "budget": self.budget,
            "n_candidates": self.n_candidates,
            "n_excluded": self.n_excluded,
            "counts": self.counts(),
            "notes": list(self.notes),
        }


@dataclass
class _Member:
    """A selector's state during one run."""

    label: str
    selector: Selector
    weight: float
    quota: int = 0
    taken: int = 0
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cursor: int = 0
    slice_cursor: dict[str, int] = field(default_factory=dict)


class CurationPolicy:
    """Runs a :class:`PolicyConfig` over candidate batches (see the module docstring)."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config if config is not None else PolicyConfig()

    def run(
        self, batch: CandidateBatch, *, exclude: Collection[str] = (), spent_today: int = 0
    ) -> CurationResult:
        """Choose what to queue from ``batch``; ``exclude`` = ids already queued or labelled."""
        cfg = self.config
        if isinstance(spent_today, bool) or not isinstance(spent_today, int) or spent_today < 0:
            raise ValidationError(f"spent_today must be a non-negative int; got {spent_today!r}.")
        excluded_ids = set(exclude)
        is_excluded = np.array([e in excluded_ids for e in batch.event_ids.tolist()], dtype=bool)
        eligible = np.flatnonzero(~is_excluded)
        budget = cfg.budget
        if cfg.daily_budget is not None:
            budget = min(budget, max(0, cfg.daily_budget - spent_today))
        budget = min(budget, len(eligible))
        notes: list[str] = []
        if budget == 0:
            notes.append("nothing to queue: no budget left or no eligible candidates")
            return CurationResult([], 0, len(eligible), int(is_excluded.sum()), notes)

        seeds = np.random.SeedSequence(cfg.seed).generate_state(len(cfg.selectors) + 2)
        rng = np.random.default_rng(int(seeds[0]))
        n_random = min(budget, max(1, math.ceil(cfg.random_share * budget - 1e-9)))
        random_rows = np.sort(rng.choice(eligible, n_random, replace=False))
        reserve: list[tuple[int, str, float, str, bool]] = [
            (int(r), "random", 0.0, f"random {cfg.random_share:.0%} reserve for unbiased evaluation", True)
            for r in random_rows
        ]
        rest = np.setdiff1d(eligible, random_rows)
        n_select = budget - n_random
        picked = (
            self._select(batch.take(rest), rest, n_select, seeds, notes) if n_select > 0 and len(rest) else []
        )
        items = _spread(reserve, picked)
        queued = [
            QueuedItem(str(batch.event_ids[row]), row, rank, sel, score, signal, for_eval)
            for rank, (row, sel, score, signal, for_eval) in enumerate(items)
        ]
        return CurationResult(queued, budget, len(eligible), int(is_excluded.sum()), notes)

    def _members(self, sub: CandidateBatch, seeds: np.ndarray, notes: list[str]) -> list[_Member]:
        cfg = self.config
        members: list[_Member] = []
        cold_weight = 0.0
        for j, spec in enumerate(cfg.selectors):
            selector = spec.build(int(seeds[j + 2]))
            if selector.applicable(sub):
                members.append(_Member(spec.name, selector, spec.weight))
            elif cfg.cold_start and sub.probabilities is None and "probabilities" in _needs(selector):
                cold_weight += spec.weight
            else:
                notes.append(f"{spec.name}: nothing to select from in this batch")
        if cold_weight > 0:
            if sub.X is not None:
                cold = make_selector("kmeans_centres", random_state=int(seeds[1]) % 2**32)
                members.append(_Member("kmeans_centres", cold, cold_weight))
                notes.append("cold start: no model probabilities, k-means centres take their share")
            else:
                notes.append("cold start: no probabilities and no features; random sampling takes the share")
        if not members:
            rand = make_selector("random", random_state=int(seeds[1]) % 2**32)
            members.append(_Member("random", rand, 1.0))
            notes.append("no selector applies to this batch: random sampling fills the budget")
        return members

    def _select(
        self, sub: CandidateBatch, rows: np.ndarray, n_select: int, seeds: np.ndarray, notes: list[str]
    ) -> list[tuple[int, str, float, str, bool]]:
        members = self._members(sub, seeds, notes)
        _allocate(members, n_select)
        for m in members:
            scores = m.selector.score(sub, budget=m.quota if m.selector.uses_budget else None)
            finite = np.flatnonzero(np.isfinite(scores))
            m.scores = scores
            m.order = finite[np.argsort(-scores[finite], kind="stable")]
        capacity = {id(m): len(m.order) for m in members}
        _allocate(members, n_select, capacity)

        n = len(sub)
        taken = np.zeros(n, dtype=bool)
        slice_count: dict[str, int] = {}
        caps, membership, quota_of = {}, {}, {}
        for q in self.config.quotas:
            values = sub.slices.get(q.slice)
            if values is None:
                notes.append(f"quota {q.key}: the batch has no slice {q.slice!r}")
                continue
            membership[q.key] = np.array([str(v) == q.value for v in values], dtype=bool)
            quota_of[q.key] = q
            if q.max is not None:
                caps[q.key] = q.max
        picks: list[tuple[int, _Member, str]] = []

        def blocked(i: int) -> bool:
            return any(membership[k][i] and slice_count.get(k, 0) >= cap for k, cap in caps.items())

        def take(m: _Member, key: str | None, tag: str) -> bool:
            # Walk m's ranking from its cursor (one cursor overall, one per slice quota).
            allowed = None if key is None else membership[key]
            start = m.cursor if key is None else m.slice_cursor.get(key, 0)
            pos = start
            found = -1
            while pos < len(m.order):
                i = int(m.order[pos])
                pos += 1
                if taken[i] or blocked(i) or (allowed is not None and not allowed[i]):
                    continue
                found = i
                break
            if key is None:
                m.cursor = pos
            else:
                m.slice_cursor[key] = pos
            if found < 0:
                return False
            taken[found] = True
            m.taken += 1
            for k, mask in membership.items():
                if mask[found]:
                    slice_count[k] = slice_count.get(k, 0) + 1
            picks.append((found, m, tag))
            return True

        for key, q in quota_of.items():
            want = min(q.min, n_select - len(picks))
            done: set[int] = set()
            while slice_count.get(key, 0) < want and len(done) < len(members):
                m = min((m for m in members if id(m) not in done), key=lambda m: m.taken / max(m.quota, 1))
                if not take(m, key, f"; slice quota {key} (min {q.min})"):
                    done.add(id(m))
            if slice_count.get(key, 0) < q.min:
                notes.append(f"quota {key}: only {slice_count.get(key, 0)} of min {q.min} found")

        exhausted: set[int] = set()
        while len(picks) < n_select:
            live = [m for m in members if id(m) not in exhausted]
            if not live:
                break
            # Turns go to whoever is furthest below its share; once every share is met (the
            # budget left over by an exhausted selector), to whoever is furthest below its weight.
            below = [m for m in live if m.taken < m.quota]
            if below:
                m = min(below, key=lambda m: m.taken / m.quota)
            else:
                m = min(live, key=lambda m: m.taken / m.weight)
            if not take(m, None, ""):
                exhausted.add(id(m))
        if len(picks) < n_select:
            notes.append(
                f"selectors ran out of candidates: {n_select - len(picks)} of the budget left unused"
            )

        out: list[tuple[int, str, float, str, bool]] = []
        by_member: dict[int, list[int]] = {}
        for k, (_, m, _) in enumerate(picks):
            by_member.setdefault(id(m), []).append(k)
        signals: dict[int, str] = {}
        for m in members:
            ks = by_member.get(id(m), [])
            if ks:
                texts = m.selector.explain(sub, [picks[k][0] for k in ks], m.scores)
                signals.update(zip(ks, texts, strict=True))
        for k, (i, m, tag) in enumerate(picks):
            out.append((int(rows[i]), m.label, float(m.scores[i]), signals[k] + tag, False))
        return out


def _spread(reserve: list[Any], picked: list[Any]) -> list[Any]:
    """Queue order: the selectors' picks in turn order, reserve items evenly among them.

    Spread out, a half-finished batch still holds its share of the unbiased sample.
    """
    total = len(reserve) + len(picked)
    slots = {int((k + 0.5) * total / len(reserve)) for k in range(len(reserve))} if reserve else set()
    out, r, p = [], iter(reserve), iter(picked)
    for position in range(total):
        out.append(next(r) if position in slots else next(p))
    return out


def _needs(selector: Selector) -> tuple[str, ...]:
    needs = tuple(selector.requires)
    base = getattr(selector, "_base", None)
    if isinstance(base, Selector):
        needs += tuple(base.requires)
    return needs


def _allocate(members: list[_Member], total: int, capacity: dict[int, int] | None = None) -> None:
    """Share ``total`` among members by weight (largest remainder), within each one's capacity."""
    cap = {id(m): (capacity or {}).get(id(m), total) for m in members}
    quota = {id(m): 0 for m in members}
    left = total
    open_ = [m for m in members if cap[id(m)] > 0]
    while left > 0 and open_:
        weight = sum(m.weight for m in open_)
        exact = {id(m): left * m.weight / weight for m in open_}
        share = {k: int(math.floor(v)) for k, v in exact.items()}
        remainder = left - sum(share.values())
        for m in sorted(open_, key=lambda m: exact[id(m)] - share[id(m)], reverse=True)[:remainder]:
            share[id(m)] += 1
        for m in open_:
            give = min(share[id(m)], cap[id(m)] - quota[id(m)])
            quota[id(m)] += give
            left -= give
        open_ = [m for m in open_ if quota[id(m)] < cap[id(m)]]
    for m in members:
        m.quota = quota[id(m)]
