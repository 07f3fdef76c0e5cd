"""The configs that say how a snapshot is formed: formation rules, label policies, splits.

A *formation rule* picks the labelled events a training snapshot holds and their weights:

- ``all``: every labelled event;
- ``window``: the last ``days`` days (by event time) before ``as_of``, or the last ``rows`` rows;
- ``sample``: ``n`` rows or a ``fraction``, stratified by class, by a slice, or by time bucket,
  drawn by a seeded hash of the event id so that successive samples overlap;
- ``recency``: every labelled event, weighted ``0.5 ** (age / half_life)``.

Every rule takes ``as_of``: the snapshot uses only events and labels whose ``ingested_at`` is at
or before it (point-in-time correct). ``as_of=None`` means "the latest arrival in the inputs", which
is fixed by the inputs, so a snapshot stays reproducible.

The rules form a discriminated union on ``kind``, so a strategy document can say::

    dataset: {kind: window, days: 28}

>>> parse_rule({"kind": "window", "days": 28}).days
28.0
>>> parse_label_policy("majority").policy
'majority'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from flywheel.errors import ValidationError

#: Every label source the schema knows, most trusted first.
LABEL_SOURCES: tuple[str, ...] = ("adjudication", "annotator", "outcome", "import", "model")

#: The sources that count by default: pseudo-labels from a model are left out unless asked for.
DEFAULT_SOURCES: tuple[str, ...] = ("adjudication", "annotator", "outcome", "import")


def to_utc(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    if v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v.astimezone(UTC)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def canonical(self) -> dict[str, Any]:
        """The config as plain JSON data, every field spelled out (what a manifest records)."""
        return self.model_dump(mode="json")


class RuleBase(_Config):
    """What every rule has: ``as_of``."""

    as_of: datetime | None = Field(
        default=None,
        description="Use only events and labels that arrived (ingested_at) at or before this instant; "
        "None: the latest arrival in the inputs. A naive datetime is read as UTC.",
    )

    @field_validator("as_of")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return to_utc(v)


class AllRule(RuleBase):
    """Every labelled event that had arrived by ``as_of``, each with weight 1."""

    kind: Literal["all"] = "all"


class WindowRule(RuleBase):
    """A sliding window by event time: the last ``days`` days, or the last ``rows`` labelled events."""

    kind: Literal["window"] = "window"
    days: float | None = Field(
        default=None, gt=0, description="Keep events with timestamp in (as_of - days, as_of]."
    )
    rows: int | None = Field(
        default=None, ge=1, description="Keep the most recent `rows` labelled events by event time."
    )

    @model_validator(mode="after")
    def _one_bound(self) -> WindowRule:
        if (self.days is None) == (self.rows is None):
            raise ValueError(
                f"The window rule needs exactly one of 'days' or 'rows'; got days={self.days}, rows={self.rows}."
            )
        return self


class SampleRule(RuleBase):
    """A seeded sample of ``n`` rows or a ``fraction``, stratified so each stratum keeps its share."""

    kind: Literal["sample"] = "sample"
    n: int | None = Field(
        default=None, ge=1, description="How many rows to keep (all of them if fewer exist)."
    )
    fraction: float | None = Field(default=None, gt=0, le=1, description="Share of rows to keep, in (0, 1].")
    stratify: Literal["class", "slice", "time"] | None = Field(
        default="class",
        description="Keep the proportions of: the label, a slice, or event-time buckets; None: plain.",
    )
    slice: str | None = Field(
        default=None,
        description="With stratify='slice': a slice expression as in the model spec: 'country' or 'age < 30'.",
    )
    time_bucket: Literal["hour", "day", "week", "month"] = Field(
        default="day", description="With stratify='time': the width of an event-time bucket (UTC)."
    )
    seed: int = Field(default=0, ge=0, description="Seed of the draw; the same seed keeps the same events.")

    @model_validator(mode="after")
    def _consistent(self) -> SampleRule:
        if (self.n is None) == (self.fraction is None):
            raise ValueError(
                f"The sample rule needs exactly one of 'n' or 'fraction'; got n={self.n}, fraction={self.fraction}."
            )
        if self.stratify == "slice" and not self.slice:
            raise ValueError(
                "The sample rule with stratify='slice' needs 'slice', e.g. 'country' or 'age < 30'."
            )
        if self.slice and self.stratify != "slice":
            raise ValueError(
                f"The sample rule's 'slice' is only used with stratify='slice'; got stratify={self.stratify!r}."
            )
        return self


class RecencyRule(RuleBase):
    """Every labelled event, weighted ``w = 0.5 ** (age_days / half_life_days)``, age measured from ``as_of``."""

    kind: Literal["recency"] = "recency"
    half_life_days: float = Field(gt=0, description="Age (days, event time) at which an event counts half.")


FormationRule = Annotated[AllRule | WindowRule | SampleRule | RecencyRule, Field(discriminator="kind")]


class LabelPolicy(_Config):
    """How one label is chosen when an event has several.

    - ``latest``: the label made last (``timestamp``, else ``ingested_at``);
    - ``majority``: the most frequent value; a tie goes to the latest adjudication label if there is
      one, else to the latest label among the tied values;
    - ``adjudicated-first``: the latest adjudication label if any, else as ``majority``;
    - ``source-priority``: only labels of the most trusted source present (order of ``sources``),
      then as ``majority`` among them.

    ``sources`` lists the label sources that count at all, most trusted first; the default leaves
    out ``model`` (pseudo-labels).
    """

    policy: Literal["latest", "majority", "adjudicated-first", "source-priority"] = "latest"
    sources: tuple[str, ...] = DEFAULT_SOURCES

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError(
                f"The 'sources' of a label policy must name at least one of {list(LABEL_SOURCES)}."
            )
        bad = [s for s in v if s not in LABEL_SOURCES]
        if bad:
            raise ValueError(
                f"The 'sources' of a label policy must be among {list(LABEL_SOURCES)}; got {bad}."
            )
        if len(set(v)) != len(v):
            raise ValueError(f"The 'sources' of a label policy must not repeat; got {list(v)}.")
        return v


class Split(_Config):
    """How rows are split: by event time (train on the older, hold out the most recent), at random, or not.

    Split values are ``train``, ``validation`` (only if ``validation > 0``) and ``holdout``; by time,
    validation sits between train and holdout. ``by='none'`` puts every row in ``train``.
    """

    by: Literal["time", "random", "none"] = "time"
    holdout: float = Field(
        default=0.2, ge=0, lt=1, description="Share of rows held out (the most recent, by time)."
    )
    validation: float = Field(
        default=0.0, ge=0, lt=1, description="Share of rows for validation (before the holdout)."
    )
    seed: int = Field(default=0, ge=0, description="Seed of a random split.")

    @model_validator(mode="after")
    def _leaves_train(self) -> Split:
        if self.holdout + self.validation >= 1:
            raise ValueError(
                f"The split's 'holdout' + 'validation' must be below 1 to leave rows to train on; "
                f"got {self.holdout} + {self.validation}."
            )
        return self


_RULES: TypeAdapter[Any] = TypeAdapter(FormationRule)


def config_error(exc: pydantic.ValidationError, what: str) -> ValidationError:
    details = [
        {"field": ".".join(str(p) for p in err["loc"]) or what, "reason": err["msg"]} for err in exc.errors()
    ]
    reasons = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
    return ValidationError(f"Invalid {what}: {reasons}", details=details)


def parse_rule(obj: Any) -> AllRule | WindowRule | SampleRule | RecencyRule:
    """A formation rule from a rule object or its JSON form (``{"kind": "window", ...}``)."""
    if isinstance(obj, AllRule | WindowRule | SampleRule | RecencyRule):
        return obj
    try:
        rule: AllRule | WindowRule | SampleRule | RecencyRule = _RULES.validate_python(obj)
    except pydantic.ValidationError as exc:
        raise config_error(exc, "formation rule") from exc
    return rule


def parse_label_policy(obj: Any) -> LabelPolicy:
    """A label policy from a policy object, its name (``"majority"``) or its JSON form."""
    if isinstance(obj, LabelPolicy):
        return obj
    try:
        return LabelPolicy.model_validate({"policy": obj} if isinstance(obj, str) else obj)
    except pydantic.ValidationError as exc:
        raise config_error(exc, "label policy") from exc


def parse_split(obj: Any) -> Split:
    """A split from a split object, ``"time"``/``"random"``/``"none"``, its JSON form, or None (the default)."""
    if isinstance(obj, Split):
        return obj
    if obj is None:
        return Split()
    try:
        return Split.model_validate({"by": obj} if isinstance(obj, str) else obj)
    except pydantic.ValidationError as exc:
        raise config_error(exc, "split") from exc
