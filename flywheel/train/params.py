"""Hyper-parameters: declared search spaces and the merging of user params with defaults.

A trainer declares its defaults as a plain dict and its search space as a dict of
:class:`IntParam`, :class:`FloatParam` and :class:`CategoricalParam`. The space is plain data
(no Optuna objects), so it can be shown in the API and stored with a job; ``search.py``
turns it into Optuna suggestions.

>>> space = {"lr": FloatParam(1e-3, 0.3, log=True), "leaves": IntParam(8, 64)}
>>> sorted(space_to_dict(space))
['leaves', 'lr']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flywheel.errors import ValidationError


@dataclass(frozen=True)
class IntParam:
    """An integer in ``[low, high]``, sampled uniformly or on a log scale."""

    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high or (self.log and self.low < 1):
            raise ValidationError(
                f"IntParam needs low <= high (and low >= 1 when log); got {self.low}, {self.high}."
            )


@dataclass(frozen=True)
class FloatParam:
    """A float in ``[low, high]``, sampled uniformly or on a log scale."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if self.low > self.high or (self.log and self.low <= 0):
            raise ValidationError(
                f"FloatParam needs low <= high (and low > 0 when log); got {self.low}, {self.high}."
            )


@dataclass(frozen=True)
class CategoricalParam:
    """One of a fixed list of JSON-able choices (str, int, float, bool or None)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValidationError("CategoricalParam needs at least one choice.")


Param = IntParam | FloatParam | CategoricalParam
SearchSpace = Mapping[str, Param]


def space_to_dict(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """A JSON-able description of a search space, for the API and job records."""
    out: dict[str, dict[str, Any]] = {}
    for name, p in space.items():
        if isinstance(p, CategoricalParam):
            out[name] = {"type": "categorical", "choices": list(p.choices)}
        else:
            kind = "int" if isinstance(p, IntParam) else "float"
            out[name] = {"type": kind, "low": p.low, "high": p.high, "log": p.log}
    return out


def resolve_params(
    trainer_name: str, defaults: Mapping[str, Any], params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Merge ``params`` over ``defaults``; an unknown key is an error naming the known ones.

    Values are checked to be JSON scalars so that they can be stored with the model.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValidationError(
            f"{unknown} {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of trainer "
            f"{trainer_name!r}; its parameters are {sorted(defaults)}.",
            details=[{"field": f"params.{k}", "reason": "unknown parameter"} for k in unknown],
        )
    for k, v in params.items():
        if v is not None and not isinstance(v, str | int | float | bool):
            raise ValidationError(
                f"The {k!r} parameter of {trainer_name} must be a str, int, float, bool or null; got {type(v).__name__}.",
                details=[{"field": f"params.{k}", "reason": "not a JSON scalar"}],
            )
    merged = dict(defaults)
    merged.update(params)
    return merged


def check_choice(trainer_name: str, params: Mapping[str, Any], key: str, allowed: tuple[Any, ...]) -> Any:
    """Return ``params[key]`` if it is one of ``allowed``; raise a sklearn-style error otherwise."""
    v = params[key]
    if v not in allowed:
        raise ValidationError(
            f"The {key!r} parameter of {trainer_name} must be one of {list(allowed)}; got {v!r}.",
            details=[{"field": f"params.{key}", "reason": "not an allowed value"}],
        )
    return v


def check_range(
    trainer_name: str, params: Mapping[str, Any], key: str, low: float, high: float, *, integer: bool = False
) -> Any:
    """Return ``params[key]`` if it is a number in ``[low, high]`` (an int when ``integer``)."""
    v = params[key]
    kind = "an int" if integer else "a number"
    ok = isinstance(v, int) if integer else isinstance(v, int | float)
    if isinstance(v, bool) or not ok or not (low <= v <= high):
        raise ValidationError(
            f"The {key!r} parameter of {trainer_name} must be {kind} in [{low}, {high}]; got {v!r}.",
            details=[{"field": f"params.{key}", "reason": "out of range"}],
        )
    return v
