"""The vocabulary of Flywheel: model specs, events, feedback and labels.

These pydantic models are the contract of the HTTP API and the SDK. Ingest validates whole
batches column-wise for speed (``flywheel.ingest.validate``) but applies exactly the rules
stated here.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


class Task(StrEnum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


class FeatureKind(StrEnum):
    numeric = "numeric"
    categorical = "categorical"
    text = "text"
    image = "image"
    embedding = "embedding"


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: FeatureKind
    nullable: bool = Field(
        default=True, description="May the value be null? A missing key is always an error."
    )
    allow_nan: bool = Field(default=False, description="Numeric only: may the value be NaN or +-inf?")
    dim: int | None = Field(
        default=None, ge=1, description="Embedding only: the vector length, checked at ingest."
    )

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(
                f"feature name {v!r} must start with a letter or digit and hold only letters, digits, '_', '.', '-' (at most 128)"
            )
        return v


_SLICE_OPS = ("<=", ">=", "!=", "==", "<", ">", " in ")


class Slice(BaseModel):
    """A slice of the traffic: ``"country"`` (one slice per value) or ``"age < 30"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    expr: str

    def parse(self) -> tuple[str, str | None, Any]:
        """Return ``(feature, op, value)``; ``op`` is None for a group-by slice."""
        for op in _SLICE_OPS:
            if op in self.expr:
                left, right = self.expr.split(op, 1)
                return left.strip(), op.strip(), json.loads(right.strip().replace("'", '"'))
        return self.expr.strip(), None, None


class ModelSpec(BaseModel):
    """What a model is: its task, its features and their kinds, its classes and its slices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    task: Task
    features: list[Feature] = Field(min_length=1)
    target: str = "label"
    class_names: list[str] | None = None
    slices: list[Slice] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"model name {v!r} must match {NAME_RE.pattern}")
        return v

    @field_validator("slices", mode="before")
    @classmethod
    def _slices_from_strings(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": s, "expr": s} if isinstance(s, str) else s for s in v]
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        names = [f.name for f in self.features]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feature names must be unique; repeated: {dup}")
        if self.task in (Task.binary, Task.multiclass):
            if not self.class_names:
                raise ValueError(
                    f"class_names is required for a {self.task.value} model (the labels it predicts)"
                )
            if len(set(self.class_names)) != len(self.class_names):
                raise ValueError("class_names must be unique")
            if self.task is Task.binary and len(self.class_names) != 2:
                raise ValueError(f"a binary model has exactly 2 class_names; got {len(self.class_names)}")
            if self.task is Task.multiclass and len(self.class_names) < 2:
                raise ValueError("a multiclass model needs at least 2 class_names")
        elif self.class_names:
            raise ValueError("class_names is only for binary and multiclass models; remove it for regression")
        for s in self.slices:
            feat, _, _ = s.parse()
            if feat not in names:
                raise ValueError(
                    f"slice {s.name!r} uses feature {feat!r}, which is not among the features {names}"
                )
        return self

    @property
    def is_classification(self) -> bool:
        return self.task is not Task.regression

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def spec_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


class Event(BaseModel):
    """One prediction, as the API takes it. ``event_id`` is the idempotency key."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    timestamp: datetime
    inputs: dict[str, Any]
    prediction: Any
    probabilities: dict[str, float] | list[float] | None = None
    score: float | None = None
    model_version: str | None = None
    tags: dict[str, str] | None = None
    trace_id: str | None = None
    parent_event_id: str | None = None
    served: bool = True


class FeedbackKind(StrEnum):
    thumbs_up = "thumbs_up"
    thumbs_down = "thumbs_down"
    flag = "flag"
    outcome = "outcome"
    comment = "comment"


class Feedback(BaseModel):
    """A user's signal about an event."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    kind: FeedbackKind
    value: Any = None
    comment: str | None = Field(default=None, max_length=4000)
    feedback_id: str | None = Field(default=None, max_length=128)
    timestamp: datetime | None = None


class Label(BaseModel):
    """The ground truth for one event, with where it came from."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    label: Any
    label_id: str | None = Field(default=None, max_length=128)
    source: Literal["annotator", "outcome", "import", "adjudication", "model"] = "outcome"
    annotator: str | None = Field(default=None, max_length=200)
    timestamp: datetime | None = None
    time_spent_s: float | None = Field(default=None, ge=0)


class EventBatch(BaseModel):
    events: list[Event]


class FeedbackBatch(BaseModel):
    feedback: list[Feedback]


class LabelBatch(BaseModel):
    labels: list[Label]


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
