"""Seeded, vectorised bootstrap confidence intervals for metrics, and for paired differences.

All models are scored on the *same* resamples, so the interval of "candidate minus
champion" reflects the paired comparison (much narrower than two independent intervals
would suggest). Resamples are drawn as count matrices in chunks of bounded size, and each
chunk is scored for every metric with a few matrix products (see ``metrics.py``).

>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, 400)
>>> good = np.column_stack([1 - y * 0.8 - 0.1, y * 0.8 + 0.1])
>>> res = bootstrap("binary", y, {"candidate": good}, names=["accuracy"], n_boot=200, seed=0)
>>> res.values["candidate"]["accuracy"]
(1.0, 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from flywheel.errors import ValidationError
from flywheel.evaluate.metrics import metric_names, weighted_metrics

Interval = tuple[float, float, float]  # (value, low, high)
MAX_CELLS = 4_000_000  # resample-matrix entries per chunk: 32 MB of float64


def resample_weights(
    n: int, n_boot: int, rng: np.random.Generator, max_cells: int = MAX_CELLS
) -> Iterator[np.ndarray]:
    """Chunks of a (n_boot, n) matrix of bootstrap counts (each row sums to n)."""
    chunk = max(1, max_cells // max(n, 1))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


@dataclass
class BootstrapResult:
    """``values[role][metric]`` and ``deltas[role][metric]`` (role minus reference) as intervals."""

    n: int
    n_boot: int
    confidence: float
    values: dict[str, dict[str, Interval]] = field(default_factory=dict)
    deltas: dict[str, dict[str, Interval]] = field(default_factory=dict)


def _interval(point: float, reps: np.ndarray, confidence: float) -> Interval:
    reps = reps[np.isfinite(reps)]
    if not np.isfinite(point) or len(reps) == 0:
        return (float(point), float("nan"), float("nan"))
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return (float(point), float(lo), float(hi))


def bootstrap(
    task: str,
    y: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    *,
    names: Sequence[str] | None = None,
    reference: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Point values and percentile intervals of each metric for each model in ``outputs``.

    ``outputs`` maps a role ("candidate", "champion", ...) to its probabilities (n, K) or,
    for regression, its predictions. With ``reference``, also the paired intervals of
    ``metric(role) - metric(reference)`` for every other role. Empty input gives NaN.
    """
    if not isinstance(n_boot, int) or isinstance(n_boot, bool) or not 0 <= n_boot <= 100_000:
        raise ValidationError(
            f"The 'n_boot' parameter of bootstrap must be an int in [0, 100000]; got {n_boot!r}."
        )
    if not 0.5 <= confidence < 1.0:
        raise ValidationError(
            f"The 'confidence' parameter of bootstrap must be a float in [0.5, 1); got {confidence!r}."
        )
    if reference is not None and reference not in outputs:
        raise ValidationError(f"reference {reference!r} is not among the models {sorted(outputs)}.")
    names = list(names) if names is not None else metric_names(task)
    y = np.asarray(y)
    n = len(y)
    result = BootstrapResult(n=n, n_boot=n_boot, confidence=confidence)
    if n == 0:
        nan = (float("nan"),) * 3
        result.values = {r: dict.fromkeys(names, nan) for r in outputs}
        result.deltas = {
            r: dict.fromkeys(names, nan) for r in outputs if reference is not None and r != reference
        }
        return result
    ones = np.ones((1, n))
    point = {
        r: {m: float(v[0]) for m, v in weighted_metrics(task, y, out, ones, names).items()}
        for r, out in outputs.items()
    }
    reps: dict[str, dict[str, list[np.ndarray]]] = {r: {m: [] for m in names} for r in outputs}
    rng = np.random.default_rng(seed)
    for W in resample_weights(n, n_boot, rng):
        for r, out in outputs.items():
            for m, v in weighted_metrics(task, y, out, W, names).items():
                reps[r][m].append(v)
    stacked = {
        r: {m: np.concatenate(v) if v else np.zeros(0) for m, v in ms.items()} for r, ms in reps.items()
    }
    result.values = {
        r: {m: _interval(point[r][m], stacked[r][m], confidence) for m in names} for r in outputs
    }
    if reference is not None:
        for r in outputs:
            if r == reference:
                continue
            result.deltas[r] = {
                m: _interval(
                    point[r][m] - point[reference][m], stacked[r][m] - stacked[reference][m], confidence
                )
                for m in names
            }
    return result
