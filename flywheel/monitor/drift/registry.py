"""The registry of drift metrics, by name.

>>> sorted(registered_metrics())[:3]
['chi2', 'jensen_shannon', 'ks']
>>> get_metric("psi", bins=20)
PSI(bins=20, eps=0.0001)
"""

from __future__ import annotations

from typing import Any, TypeVar

from flywheel.errors import ValidationError
from flywheel.monitor.drift.base import DriftMetric

_REGISTRY: dict[str, type[DriftMetric]] = {}
# Report order: effect sizes first, then the test, then the informational ones.
_ORDER = ["wasserstein", "psi", "ks", "linf", "jensen_shannon", "chi2", "new_categories"]
M = TypeVar("M", bound=type[DriftMetric])


def register(cls: M) -> M:
    """Class decorator: make a metric available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a drift metric named {cls.name!r} is registered already")
    _REGISTRY[cls.name] = cls
    return cls


def registered_metrics() -> dict[str, type[DriftMetric]]:
    """Name -> metric class, for every registered metric."""
    _load_builtins()
    return dict(_REGISTRY)


def get_metric(name: str, **params: Any) -> DriftMetric:
    """An instance of the metric registered as ``name``."""
    _load_builtins()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValidationError(f"Unknown drift metric {name!r}; registered: {sorted(_REGISTRY)}.") from None
    return cls(**params)


def default_metrics(kind: str) -> list[DriftMetric]:
    """The metrics ``compute_drift`` reports for a column of ``kind``, with default parameters."""
    _load_builtins()
    classes = [cls for cls in _REGISTRY.values() if cls.kind == kind and getattr(cls, "default", True)]
    classes.sort(key=lambda c: _ORDER.index(c.name) if c.name in _ORDER else len(_ORDER))
    return [cls() for cls in classes]


def _load_builtins() -> None:
    # Importing the metric modules registers them.
    from flywheel.monitor.drift import (  # noqa: F401
        categories,
        chi2,
        jensen_shannon,
        ks,
        linf,
        psi,
        wasserstein,
    )
