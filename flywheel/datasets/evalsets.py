"""Eval sets: named, versioned snapshots a candidate model is always scored on.

Three kinds, each a rule with ``as_of`` like the formation rules:

- ``golden``: explicit event ids (a hand-checked set);
- ``edge-cases``: events that drew ``flag`` or ``thumbs_down`` feedback (any kinds may be named);
- ``slice``: the events of one slice, e.g. ``country == "DE"`` or ``age < 30``.

An eval set holds only labelled events (the label chosen by the label policy), every row in split
``eval`` with weight 1. Events that match but have no label yet are counted in the manifest
(``counts["selected_unlabelled"]``) so the UI can say how many still wait for a label.

Versions: pass the current version as ``previous``. If the new set holds the same events with
the same labels, under the same rule and label policy, ``previous`` comes back unchanged (no new
version at a later ``as_of``, nor for one more agreeing label); otherwise the result is version
``previous.version + 1`` with ``previous`` as its parent.

>>> import pandas as pd
>>> t = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True)
>>> events = pd.DataFrame({"event_id": ["a", "b", "c"], "timestamp": t, "ingested_at": t})
>>> labels = pd.DataFrame({"event_id": ["a", "b", "c"], "value": ["1", "0", "1"], "ingested_at": t})
>>> v1 = build_eval_set(events, labels, {"kind": "golden", "event_ids": ["a", "b"]}, name="golden")
>>> v1.manifest.version, v1.table.column("event_id").to_pylist()
(1, ['a', 'b'])
>>> build_eval_set(events, labels, {"kind": "golden", "event_ids": ["b", "a"]}, name="golden", previous=v1) is v1
True
>>> build_eval_set(events, labels, {"kind": "golden", "event_ids": ["a", "c"]}, name="golden",
...                previous=v1).manifest.version
2
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pydantic
from pydantic import Field, TypeAdapter, field_validator

from flywheel.datasets.canonical import instant_us, table_digest
from flywheel.datasets.formation import slice_values
from flywheel.datasets.pit import Pool, as_table, labelled_pool
from flywheel.datasets.rules import LabelPolicy, RuleBase, config_error, parse_label_policy, to_utc
from flywheel.datasets.snapshot import Snapshot, assemble
from flywheel.errors import ValidationError
from flywheel.schema import NAME_RE, FeedbackKind, ModelSpec, Slice


class GoldenRule(RuleBase):
    """A fixed list of event ids (kept sorted and unique, so the order given does not matter)."""

    kind: Literal["golden"] = "golden"
    event_ids: tuple[str, ...] = Field(min_length=1)

    @field_validator("event_ids")
    @classmethod
    def _canonical(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(v)))


class EdgeCaseRule(RuleBase):
    """Events that drew feedback of the given kinds by ``as_of``."""

    kind: Literal["edge-cases"] = "edge-cases"
    feedback_kinds: tuple[str, ...] = ("flag", "thumbs_down")

    @field_validator("feedback_kinds")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        allowed = [k.value for k in FeedbackKind]
        bad = [k for k in v if k not in allowed]
        if not v or bad:
            raise ValueError(f"The 'feedback_kinds' must be a non-empty list among {allowed}; got {list(v)}.")
        return tuple(sorted(set(v)))


class SliceRule(RuleBase):
    """One slice: a condition (``"age < 30"``, rows where it holds), or a group-by feature and one ``value``."""

    kind: Literal["slice"] = "slice"
    expr: str = Field(min_length=1)
    value: str | None = Field(default=None, description="For a group-by slice: the value (as text) to keep.")

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        Slice(name=v, expr=v).parse()
        return v


EvalRule = Annotated[GoldenRule | EdgeCaseRule | SliceRule, Field(discriminator="kind")]
_EVAL_RULES: TypeAdapter[Any] = TypeAdapter(EvalRule)


def parse_eval_rule(obj: Any) -> GoldenRule | EdgeCaseRule | SliceRule:
    """An eval-set rule from a rule object or its JSON form (``{"kind": "golden", "event_ids": [...]}``)."""
    if isinstance(obj, GoldenRule | EdgeCaseRule | SliceRule):
        return obj
    try:
        rule: GoldenRule | EdgeCaseRule | SliceRule = _EVAL_RULES.validate_python(obj)
    except pydantic.ValidationError as exc:
        raise config_error(exc, "eval-set rule") from exc
    return rule


def _flagged(feedback: pa.Table | pd.DataFrame | None, kinds: tuple[str, ...], as_of_us: int) -> set[str]:
    if feedback is None:
        raise ValidationError(
            "An edge-cases eval set needs the feedback table (event_id, kind, ingested_at)."
        )
    fb = as_table(feedback, "feedback").to_pandas() if isinstance(feedback, pa.Table) else feedback
    missing = [c for c in ("event_id", "kind", "ingested_at") if c not in fb.columns]
    if missing:
        raise ValidationError(
            f"The feedback table lacks the column(s) {missing}; it needs event_id, kind and ingested_at."
        )
    arrived = pd.to_datetime(fb["ingested_at"], utc=True) <= pd.Timestamp(as_of_us, unit="us", tz="UTC")
    return set(fb.loc[arrived & fb["kind"].isin(list(kinds)), "event_id"].astype(str))


def build_eval_set(
    events: pa.Table | pd.DataFrame,
    labels: pa.Table | pd.DataFrame,
    rule: Any,
    *,
    name: str,
    label_policy: LabelPolicy | str | dict[str, Any] = "latest",
    feedback: pa.Table | pd.DataFrame | None = None,
    spec: ModelSpec | None = None,
    previous: Snapshot | None = None,
) -> Snapshot:
    """Form the eval set ``name`` under ``rule`` (golden / edge-cases / slice), versioned after ``previous``."""
    if not NAME_RE.match(name):
        raise ValidationError(f"The eval set name {name!r} must match {NAME_RE.pattern}.")
    r = parse_eval_rule(rule)
    policy = parse_label_policy(label_policy)
    pool = labelled_pool(events, labels, r.as_of, policy, spec)
    return _from_pool(pool, r, name, policy, feedback, spec, previous)


def _from_pool(
    pool: Pool,
    r: GoldenRule | EdgeCaseRule | SliceRule,
    name: str,
    policy: LabelPolicy,
    feedback: pa.Table | pd.DataFrame | None,
    spec: ModelSpec | None,
    previous: Snapshot | None,
) -> Snapshot:
    ids = np.asarray(pool.events.column("event_id").to_numpy(zero_copy_only=False), dtype=object)
    extra: dict[str, int] = {}
    if isinstance(r, GoldenRule):
        wanted = set(r.event_ids)
        extra["ids_requested"] = len(wanted)
        extra["ids_missing"] = len(wanted - set(ids))
        keep = np.isin(ids, list(wanted))
    elif isinstance(r, EdgeCaseRule):
        wanted = _flagged(feedback, r.feedback_kinds, instant_us(pool.as_of))
        keep = np.isin(ids, list(wanted))
        extra["selected_unlabelled"] = len(wanted) - int(keep.sum())
    else:
        _, op, _ = Slice(name=r.expr, expr=r.expr).parse()
        if (op is None) == (r.value is None):
            raise ValidationError(
                f"The slice {r.expr!r} "
                + (
                    "groups by a feature, so it needs a 'value'."
                    if op is None
                    else "is a condition; drop 'value'."
                )
            )
        keep = slice_values(pool.events, r.expr) == (r.value if op is None else "true")
    index = np.flatnonzero(keep)
    snap = assemble(
        pool,
        index,
        np.ones(len(index)),
        np.full(len(index), "eval", dtype=object),
        kind="eval",
        rule=r.model_copy(update={"as_of": pool.as_of}).canonical(),
        policy=policy,
        split=None,
        parent=None,
        spec=spec,
        name=name,
        extra_counts=extra,
    )
    return _versioned(snap, previous, name)


def _same_content(a: Snapshot, b: Snapshot) -> bool:
    def rule(s: Snapshot) -> dict[str, Any]:
        return {k: v for k, v in s.manifest.rule.items() if k != "as_of"}

    def pairs(s: Snapshot) -> str:  # the events and their labels; label counts and arrival times may move
        return table_digest(s.table.select(["event_id", "label"]))

    return (
        pairs(a) == pairs(b)
        and rule(a) == rule(b)
        and a.manifest.label_policy == b.manifest.label_policy
        and a.manifest.spec_hash == b.manifest.spec_hash
    )


def _versioned(snap: Snapshot, previous: Snapshot | None, name: str) -> Snapshot:
    if previous is None:
        manifest = snap.manifest.model_copy(update={"version": 1})
        return Snapshot(table=snap.table, manifest=manifest, content_hash=manifest.content_hash())
    if previous.manifest.kind != "eval" or previous.manifest.name != name:
        raise ValidationError(
            f"The previous version given for eval set {name!r} is {previous.manifest.kind} snapshot "
            f"{previous.manifest.name!r}; pass the latest version of {name!r} itself."
        )
    if _same_content(snap, previous):
        return previous
    manifest = snap.manifest.model_copy(
        update={"version": (previous.manifest.version or 0) + 1, "parent": previous.content_hash}
    )
    return Snapshot(table=snap.table, manifest=manifest, content_hash=manifest.content_hash())


_OPS = (("<=", "le"), (">=", "ge"), ("!=", "ne"), ("==", "eq"), ("<", "lt"), (">", "gt"), (" in ", " in "))


def slice_set_name(slice_name: str, value: str | None = None) -> str:
    """A valid eval-set name for a slice (and value): ``age < 30`` → ``slice-age_lt_30``."""
    text = slice_name if value is None else f"{slice_name}-{value}"
    for op, word in _OPS:
        text = text.replace(op, f" {word.strip()} ")
    text = re.sub(r"[^A-Za-z0-9_.\-]+", "_", text.strip()).strip("_")
    return f"slice-{text}"[:128]


def slice_eval_sets(
    events: pa.Table | pd.DataFrame,
    labels: pa.Table | pd.DataFrame,
    spec: ModelSpec,
    *,
    as_of: datetime | None = None,
    label_policy: LabelPolicy | str | dict[str, Any] = "latest",
    previous: Mapping[str, Snapshot] | None = None,
) -> dict[str, Snapshot]:
    """One eval set per slice of ``spec`` (one per value of a group-by slice), keyed by set name.

    A group-by slice yields a set for each value present among the labelled events as of ``as_of``.
    """
    prev = previous or {}
    policy = parse_label_policy(label_policy)
    pool = labelled_pool(events, labels, to_utc(as_of), policy, spec)
    out: dict[str, Snapshot] = {}
    for s in spec.slices:
        _, op, _ = s.parse()
        values = [None] if op is not None else sorted(set(slice_values(pool.events, s.expr)) - {"null"})
        for value in values:
            name = slice_set_name(s.name, value)
            rule = SliceRule(expr=s.expr, value=value, as_of=pool.as_of)
            out[name] = _from_pool(pool, rule, name, policy, None, spec, prev.get(name))
    return out
