"""Calibrating one model score into a probability, chosen by cross-validated calibration error.

Four maps from a score to P(positive):

- ``identity``: the score already is a probability (clipped to [0, 1]);
- ``platt``: a logistic curve in the score (in its logit when the scores lie in [0, 1]);
- ``beta``: a logistic curve in ``log p`` and ``-log(1 - p)`` (Kull et al. 2017), which
  bends both tails independently; scores must lie in [0, 1];
- ``isotonic``: a monotone, piecewise-linear fit (pool adjacent violators).

:func:`fit_calibrator` with ``method="auto"`` fits each candidate on ``n_folds - 1`` folds,
predicts the held-out fold, and keeps the candidate whose pooled out-of-fold predictions
have the smallest calibration error (equal-mass bins). A richer map must beat a simpler one
by more than the noise of the error itself (:func:`noise_floor`), so a well-calibrated
model keeps ``identity`` instead of a fit to noise.

Fitted calibrators hold a few numbers only; ``to_dict``/``from_dict`` round-trip them as
JSON-ready data, never pickles.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> p = rng.random(4000)
>>> y = (rng.random(4000) < p ** 2).astype(int)  # the scores are too high
>>> cal = fit_calibrator(p, y, method="platt")
>>> bool(abs(cal.transform(np.array([0.5]))[0] - 0.25) < 0.08)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression

from flywheel.errors import ValidationError

METHODS = ("identity", "platt", "beta", "isotonic")
_EPS = 1e-6
# A candidate must beat every simpler one by this relative margin of calibration error.
_MARGIN = 0.05


def calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 15) -> float:
    """Mean absolute gap between outcome rate and mean probability over equal-mass bins."""
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    bins = np.minimum(np.arange(len(p)) * n_bins // len(p), n_bins - 1)
    gap = np.bincount(bins, y[order] - p[order], minlength=n_bins)
    return float(np.abs(gap).sum() / len(p))


def noise_floor(p: np.ndarray, n_bins: int = 15) -> float:
    """Expected :func:`calibration_error` of perfectly calibrated probabilities ``p``.

    Each bin's gap is then a sum of independent centred Bernoulli terms, so its expected
    absolute value is about ``sqrt(2 / pi) * sqrt(sum p (1 - p))``.
    """
    if len(p) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    bins = np.minimum(np.arange(len(p)) * n_bins // len(p), n_bins - 1)
    var = np.bincount(bins, p[order] * (1 - p[order]), minlength=n_bins)
    return float(np.sqrt(2 / np.pi) * np.sqrt(var).sum() / len(p))


@dataclass
class Calibrator:
    """A fitted map from a model score to the probability of the positive class."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def transform(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if self.method == "identity":
            return np.clip(s, 0.0, 1.0)
        if self.method == "isotonic":
            return np.interp(s, np.asarray(self.params["x"]), np.asarray(self.params["y"]))
        z = _features(s, self.method, self.params["logit"])
        lin = z @ np.asarray(self.params["coef"]) + self.params["intercept"]
        return 1.0 / (1.0 + np.exp(-lin))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        if data.get("method") not in METHODS:
            raise ValidationError(
                f"Unknown calibrator method {data.get('method')!r}; expected one of {METHODS}."
            )
        return cls(method=data["method"], params=dict(data.get("params", {})))


def _features(s: np.ndarray, method: str, logit: bool) -> np.ndarray:
    if method == "beta":
        p = np.clip(s, _EPS, 1 - _EPS)
        return np.column_stack([np.log(p), -np.log1p(-p)])
    if logit:
        p = np.clip(s, _EPS, 1 - _EPS)
        return (np.log(p) - np.log1p(-p))[:, None]
    return s[:, None]


def _fit_one(s: np.ndarray, y: np.ndarray, method: str, in_unit: bool) -> Calibrator:
    if method == "identity":
        return Calibrator("identity")
    if len(np.unique(y)) < 2:
        # One class only: the best constant is its rate.
        rate = float(y.mean()) if len(y) else 0.5
        return Calibrator("isotonic", {"x": [0.0, 1.0], "y": [rate, rate]})
    if method == "isotonic":
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        return Calibrator("isotonic", {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()})
    logit = method == "platt" and in_unit
    coef, intercept = fit_logistic(_features(s, method, logit), y)
    return Calibrator(method, {"coef": coef.tolist(), "intercept": intercept, "logit": logit})


def fit_logistic(
    z: np.ndarray, y: np.ndarray, ridge: float = 1e-6, max_iter: int = 50
) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method: few features, so each step is a tiny solve."""
    x = np.column_stack([z, np.ones(len(z))])
    scale = np.maximum(np.abs(x).max(axis=0), 1e-12)  # keep the Hessian well conditioned
    x = x / scale
    w = np.zeros(x.shape[1])
    penalty = ridge * len(y) * np.eye(x.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -35, 35)))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    w = w / scale
    return w[:-1], float(w[-1])


def fit_calibrator(
    scores: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "auto",
    n_folds: int = 5,
    seed: int = 0,
) -> Calibrator:
    """Fit a calibrator of ``scores`` to the 0/1 outcomes ``y``.

    ``method`` is one of ``"auto"``, ``"identity"``, ``"platt"``, ``"beta"``, ``"isotonic"``;
    ``"auto"`` picks by cross-validated calibration error over the candidates that apply
    (``identity`` and ``beta`` need scores in [0, 1]). The chosen method is refitted on
    all rows; ``cv_errors`` in its params records each candidate's error.
    """
    if method != "auto" and method not in METHODS:
        raise ValidationError(
            f"The 'method' parameter of fit_calibrator must be one of {('auto', *METHODS)}; got {method!r}."
        )
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or not 2 <= n_folds <= 50:
        raise ValidationError(
            f"The 'n_folds' parameter of fit_calibrator must be an int in [2, 50]; got {n_folds!r}."
        )
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if s.ndim != 1 or s.shape != t.shape:
        raise ValidationError(
            f"'scores' and 'y' must be 1-d of one length; got shapes {s.shape} and {t.shape}."
        )
    if not np.isfinite(s).all():
        raise ValidationError("'scores' must be finite; drop rows with missing scores first.")
    in_unit = bool(len(s)) and bool(s.min() >= 0.0 and s.max() <= 1.0)
    if method in ("identity", "beta") and not in_unit:
        raise ValidationError(
            f"The {method!r} calibrator needs scores in [0, 1]; got values in [{s.min()}, {s.max()}]."
        )
    if method != "auto":
        return _fit_one(s, t, method, in_unit)
    candidates = [m for m in METHODS if in_unit or m not in ("identity", "beta")]
    if len(s) < 2 * n_folds or len(np.unique(t)) < 2:
        return _fit_one(s, t, candidates[0], in_unit)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(s)) % n_folds
    errors: dict[str, float] = {}
    floors: dict[str, float] = {}
    for m in candidates:
        oof = np.empty_like(s)
        for f in range(n_folds):
            held = fold == f
            oof[held] = _fit_one(s[~held], t[~held], m, in_unit).transform(s[held])
        errors[m] = calibration_error(t, oof)
        floors[m] = noise_floor(oof)
    best = candidates[0]
    for m in candidates[1:]:
        # A richer map must beat the current choice by more than noise, not by luck of the folds.
        if errors[m] < errors[best] - max(_MARGIN * errors[best], 0.5 * floors[best]):
            best = m
    cal = _fit_one(s, t, best, in_unit)
    cal.params["cv_errors"] = errors
    return cal
