"""A model's monitor configuration: thresholds, which monitors alert, webhooks.

Stored per model (``PUT /v1/models/{m}/monitors``); every field has a default, so a model
with no stored configuration is monitored with :class:`flywheel.monitor.policy.AlertPolicy`'s
defaults and the drift defaults of :mod:`flywheel.monitor.drift.compute`.

>>> cfg = MonitorConfig.model_validate({"policy": {"performance_drop": 0.1}})
>>> cfg.policy.performance_drop, cfg.check_bucket, cfg.drift.alpha
(0.1, 'day', 0.05)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator
from pydantic import ValidationError as PydanticError

from flywheel.errors import ValidationError
from flywheel.monitor.policy import AlertPolicy
from flywheel.monitor.quality_rules import QualityRule, parse_rules

Bucket = Literal["hour", "day", "week"]
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


class DriftSettings(BaseModel):
    """How drift is flagged (see ``compute_drift``): effect thresholds and the significance test."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Effect-size threshold per metric name, e.g. {'psi': 0.2}."
    )
    column_thresholds: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Thresholds per column (event-log name, e.g. 'in.age')."
    )
    alpha: float = Field(default=0.05, gt=0, lt=1, description="Significance level after correction.")
    correction: Literal["holm", "bh"] = Field(
        default="holm", description="Correction across the columns of one window."
    )


class Webhook(BaseModel):
    """Where alerts are POSTed: a generic JSON document or a Slack-compatible message."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    format: Literal["json", "slack"] = "json"
    min_severity: Literal["warning", "critical"] = "warning"
    on_close: bool = Field(default=True, description="Also notify when an alert clears.")
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    retries: int = Field(default=3, ge=0, le=10, description="Retries after a failed attempt.")


class MonitorConfig(BaseModel):
    """Everything configurable about monitoring one model."""

    model_config = ConfigDict(extra="forbid")

    policy: AlertPolicy = Field(default_factory=AlertPolicy)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    check_bucket: Bucket = Field(
        default="day", description="Length of the trailing window that `monitor check` judges."
    )
    check_slices: bool = Field(default=True, description="Also judge performance per slice in `check`.")
    webhooks: list[Webhook] = Field(default_factory=list)
    feature_importance: dict[str, float] | None = Field(
        default=None,
        description="Importance per feature (by name); default: the reference's (the registry's, "
        "or mutual information with the prediction).",
    )
    public_url: str | None = Field(
        default=None, description="Base URL of the Flywheel UI, for links in webhook messages."
    )

    @field_validator("webhooks")
    @classmethod
    def _few(cls, v: list[Webhook]) -> list[Webhook]:
        if len(v) > 20:
            raise ValueError("at most 20 webhooks per model")
        return v


def parse_config(doc: Any) -> MonitorConfig:
    """Validate a configuration document, naming the first bad field."""
    try:
        return MonitorConfig.model_validate(doc)
    except PydanticError as exc:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]) or "config", "reason": e["msg"]}
            for e in exc.errors()
        ]
        first = details[0]
        raise ValidationError(
            f"invalid monitor configuration: '{first['field']}' {first['reason']}", details=details
        ) from exc


def load_config(store: Any, model: str) -> MonitorConfig:
    rec = store.monitor.get_config(model)
    return parse_config(rec.config) if rec is not None else MonitorConfig()


def config_json(cfg: MonitorConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def quality_rules_for(store: Any, model: str, reference: Any) -> tuple[list[QualityRule], str]:
    """The rules in force: the edited ones (``"edited"``), else the reference's (``"inferred"``)."""
    rec = store.monitor.get_config(model)
    if rec is not None and rec.quality_rules is not None:
        return parse_rules(rec.quality_rules), "edited"
    return (list(reference.rules) if reference is not None else []), "inferred"
