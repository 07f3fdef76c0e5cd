"""Measured performance of one window, with confidence intervals.

Classification: accuracy, precision / recall / F1 (per class and macro; for a binary model
also for the positive class), ROC AUC (binary, or one-vs-rest macro), log loss and the
top-label expected calibration error. Regression: MAE, RMSE and R².

Accuracy gets a Wilson score interval. Every other metric gets a seeded percentile
bootstrap, vectorised: each bootstrap draw is a row of resampling *counts*, and every
metric is a weighted sum over rows, so all metrics of one call share the same draws and no
resampled copy of the data is ever built.

Undefined results are values, not exceptions. An empty window gives ``value=None`` for
every metric with ``note="empty window"``; a window that holds one class only gives ROC AUC
``None`` ("only one class present"); a class never predicted has precision ``None`` and is
left out of the macro average (scikit-learn's ``zero_division=np.nan``); a constant target
gives R² ``None``.

>>> import numpy as np
>>> y = np.array([0, 1, 1, 0, 1, 1])
>>> p = np.array([0.2, 0.9, 0.6, 0.4, 0.3, 0.8])
>>> m = classification_metrics(y, proba=p, classes=[0, 1])
>>> round(m["accuracy"].value, 3), round(m["roc_auc"].value, 3)
(0.833, 0.875)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.stats import norm

from flywheel.errors import ValidationError

EMPTY = "empty window"
ONE_CLASS = "only one class present"


@dataclass(frozen=True)
class MetricValue:
    """One metric over one window: the value, its confidence interval and the row count."""

    value: float | None
    lower: float | None
    upper: float | None
    n: int
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_common(name: str, confidence: float, n_boot: int) -> None:
    if not isinstance(confidence, float | int) or not 0.5 <= confidence < 1:
        raise ValidationError(
            f"The 'confidence' parameter of {name} must be a float in [0.5, 1); got {confidence!r}."
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or not 0 <= n_boot <= 100_000:
        raise ValidationError(
            f"The 'n_boot' parameter of {name} must be an int in [0, 100000]; got {n_boot!r}."
        )


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; ``(nan, nan)`` when ``n == 0``."""
    if n == 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, float(centre - half)), min(1.0, float(centre + half))


def bootstrap_weights(n: int, n_boot: int, seed: int, max_cells: int = 2_000_000) -> Iterator[np.ndarray]:
    """Yield ``(b, n)`` float arrays of bootstrap resampling counts, ``n_boot`` rows in all.

    Chunked so that one chunk holds at most ``max_cells`` numbers; row ``i`` of a chunk says
    how often each of the ``n`` rows was drawn (the counts of one resample with replacement).
    """
    rng = np.random.default_rng(seed)
    step = max(1, max_cells // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(step, n_boot - done)
        idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        done += b


def group_sums(w: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group column sums of ``w`` (shape ``(b, n)``) for integer ``codes`` in [0, n_groups)."""
    n = len(codes)
    if n_groups <= 64:
        onehot = np.zeros((n, n_groups))
        onehot[np.arange(n), codes] = 1.0
        return w @ onehot
    s = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))
    return np.asarray((s @ w.T).T)


def _bootstrap(
    stat: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int, confidence: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point values from unit weights and percentile bounds from the bootstrap draws.

    ``stat`` maps a ``(b, n)`` weight matrix to ``(b, m)`` values of ``m`` metrics; all
    metrics see the same draws. Non-finite values (undefined in a draw) are ignored.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        value = stat(np.ones((1, n)))[0]
        draws = [stat(w) for w in bootstrap_weights(n, n_boot, seed)] if n_boot else []
    nan = np.full_like(value, np.nan)
    if not draws:
        return value, nan, nan
    d = np.concatenate(draws)
    d[~np.isfinite(d)] = np.nan
    alpha = (1 - confidence) / 2
    ok = ~np.isnan(d).all(axis=0)
    lo, hi = nan.copy(), nan.copy()
    if ok.any():
        q = np.nanquantile(d[:, ok], [alpha, 1 - alpha], axis=0)
        lo[ok], hi[ok] = q[0], q[1]
    return value, lo, hi


def _values(
    names: Sequence[str], value: np.ndarray, lo: np.ndarray, hi: np.ndarray, n: int, notes: dict[str, str]
) -> dict[str, MetricValue]:
    out = {}
    for i, name in enumerate(names):
        v = float(value[i])
        if not np.isfinite(v):
            out[name] = MetricValue(None, None, None, n, notes.get(name))
        elif np.isnan(lo[i]):
            out[name] = MetricValue(v, None, None, n, None)
        else:
            out[name] = MetricValue(v, float(lo[i]), float(hi[i]), n, None)
    return out


def _empty(names: Sequence[str]) -> dict[str, MetricValue]:
    return {k: MetricValue(None, None, None, 0, EMPTY) for k in names}


def _class_codes(values: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    pos = {c.item() if isinstance(c, np.generic) else c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter(
            (pos[v.item() if isinstance(v, np.generic) else v] for v in values), np.int64, len(values)
        )
    except KeyError as exc:
        raise ValidationError(
            f"The '{what}' array holds the label {exc.args[0]!r}, which is not among the classes {classes.tolist()}."
        ) from None


def _auc_stat(score: np.ndarray, positive: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Weighted binary ROC AUC (ties count one half), for any row-weight matrix."""
    uniq, codes = np.unique(score, return_inverse=True)
    g = len(uniq)
    pos = positive.astype(np.float64)

    def stat(w: np.ndarray) -> np.ndarray:
        p = group_sums(w * pos, codes, g)
        q = group_sums(w * (1 - pos), codes, g)
        below = np.cumsum(q, axis=1) - q
        num = (p * (below + 0.5 * q)).sum(axis=1)
        return num / (p.sum(axis=1) * q.sum(axis=1))

    return stat


def classification_metrics(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray | None = None,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | np.ndarray | None = None,
    *,
    threshold: float = 0.5,
    n_bins: int = 10,
    confidence: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """Classification metrics of one window, each with a confidence interval.

    ``proba`` is ``(n,)`` positive-class scores for a binary model (``classes[1]`` is the
    positive class) or ``(n, k)`` probabilities in the order of ``classes``. ``y_pred``
    defaults to ``proba >= threshold`` (binary) or the arg-max. ``classes`` defaults to the
    sorted labels seen. Keys: ``accuracy``, ``precision_macro``, ``recall_macro``,
    ``f1_macro``, ``precision[c]``/``recall[c]``/``f1[c]`` per class; binary models add
    ``precision``, ``recall``, ``f1`` (positive class); with ``proba``: ``roc_auc`` (binary)
    or ``roc_auc_macro`` (one-vs-rest), ``log_loss`` and ``ece``.
    """
    _check_common("classification_metrics", confidence, n_boot)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or not 2 <= n_bins <= 1000:
        raise ValidationError(
            f"The 'n_bins' parameter of classification_metrics must be an int in [2, 1000]; got {n_bins!r}."
        )
    yt = np.asarray(y_true)
    pr = None if proba is None else np.asarray(proba, dtype=np.float64)
    if y_pred is None and pr is None:
        raise ValidationError("classification_metrics needs 'y_pred' or 'proba'; got neither.")
    if classes is None:
        seen = [yt] + ([np.asarray(y_pred)] if y_pred is not None else [])
        cls = np.unique(np.concatenate(seen)) if len(yt) else np.asarray([])
        if pr is not None and (pr.ndim == 1 and len(cls) != 2 or pr.ndim == 2 and pr.shape[1] != len(cls)):
            raise ValidationError(
                "Pass 'classes' with 'proba': the class order cannot be inferred from the labels."
            )
    else:
        cls = np.asarray(classes)
    k = len(cls)
    binary = k == 2
    n = len(yt)
    if pr is not None:
        if pr.ndim == 1 and not binary or pr.ndim == 2 and pr.shape[1] != k or pr.ndim > 2:
            raise ValidationError(
                f"The 'proba' array must be (n,) for 2 classes or (n, {k}) for {k} classes; got shape {pr.shape}."
            )
        if pr.shape[0] != n:
            raise ValidationError(f"'proba' has {pr.shape[0]} rows but 'y_true' has {n}.")
    keys = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    keys += [f"{m}[{c}]" for c in cls.tolist() for m in ("precision", "recall", "f1")]
    if binary:
        keys += ["precision", "recall", "f1"]
    if pr is not None:
        keys += ["roc_auc" if binary else "roc_auc_macro", "log_loss", "ece"]
    if n == 0:
        return _empty(keys)

    t = _class_codes(yt, cls, "y_true")
    if y_pred is not None:
        yp = np.asarray(y_pred)
        if len(yp) != n:
            raise ValidationError(f"'y_pred' has {len(yp)} rows but 'y_true' has {n}.")
        p_idx = _class_codes(yp, cls, "y_pred")
    elif pr is not None and pr.ndim == 1:
        p_idx = (pr >= threshold).astype(np.int64)
    else:
        assert pr is not None
        p_idx = np.argmax(pr, axis=1)

    out: dict[str, MetricValue] = {}
    hits = int((t == p_idx).sum())
    lo, hi = wilson_interval(hits, n, confidence)
    out["accuracy"] = MetricValue(hits / n, lo, hi, n)

    cell = t * k + p_idx
    labels = [str(c) for c in cls.tolist()]
    names = [f"{kind}[{c}]" for kind in ("precision", "recall", "f1") for c in labels]
    names += ["precision_macro", "recall_macro", "f1_macro"]
    notes = {f"precision[{c}]": f"precision undefined: no rows predicted as {c}" for c in labels}
    notes |= {f"recall[{c}]": f"recall undefined: no rows of class {c}" for c in labels}
    notes |= {f"f1[{c}]": f"f1 undefined: no rows of or predicted as {c}" for c in labels}
    notes |= {f"{kind}_macro": f"{kind} undefined for every class" for kind in ("precision", "recall", "f1")}
    extra: list[Callable[[np.ndarray], np.ndarray]] = []
    if pr is not None:
        p2 = np.column_stack([1 - pr, pr]) if pr.ndim == 1 else pr
        if binary:
            extra.append(_auc_stat(p2[:, 1], t == 1))
            names.append("roc_auc")
            notes["roc_auc"] = ONE_CLASS
        else:
            aucs = [_auc_stat(p2[:, j], t == j) for j in range(k)]
            extra.append(lambda w: _nanmean_rows(np.stack([s(w) for s in aucs], axis=1)))
            names.append("roc_auc_macro")
            notes["roc_auc_macro"] = ONE_CLASS
        eps = np.finfo(np.float64).eps
        p_true = np.clip(p2[np.arange(n), t] / p2.sum(axis=1), eps, 1 - eps)
        nll = -np.log(p_true)
        extra.append(lambda w: w @ nll / w.sum(axis=1))
        conf = p2.max(axis=1)
        correct = (np.argmax(p2, axis=1) == t).astype(np.float64)
        bins = np.clip((conf * n_bins).astype(np.int64), 0, n_bins - 1)
        extra.append(
            lambda w: (
                np.abs(group_sums(w * correct, bins, n_bins) - group_sums(w * conf, bins, n_bins)).sum(axis=1)
                / w.sum(axis=1)
            )
        )
        names += ["log_loss", "ece"]

    def stat(w: np.ndarray) -> np.ndarray:
        cm = group_sums(w, cell, k * k).reshape(-1, k, k)
        tp = np.diagonal(cm, axis1=1, axis2=2)
        fn = cm.sum(axis=2) - tp
        fp = cm.sum(axis=1) - tp
        prec, rec, f1 = tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)
        macros = [_nanmean_rows(a) for a in (prec, rec, f1)]
        return np.column_stack([prec, rec, f1, *macros, *[f(w) for f in extra]])

    out.update(_values(names, *_bootstrap(stat, n, n_boot, seed, confidence), n, notes))
    if binary:
        for kind in ("precision", "recall", "f1"):
            out[kind] = out[f"{kind}[{labels[1]}]"]
    if pr is not None and not binary:
        present = sum(0 < int((t == j).sum()) < n for j in range(k))
        res = out["roc_auc_macro"]
        if res.value is not None and present < k:
            note = f"averaged over the {present} of {k} classes with both positives and negatives"
            out["roc_auc_macro"] = MetricValue(res.value, res.lower, res.upper, n, note)
    return out


def _nanmean_rows(a: np.ndarray) -> np.ndarray:
    """Row means over the finite entries; ``nan`` for a row with none (like ``zero_division=nan``)."""
    ok = np.isfinite(a)
    cnt = ok.sum(axis=1)
    return np.where(cnt > 0, np.where(ok, a, 0).sum(axis=1) / np.maximum(cnt, 1), np.nan)


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE with ``n_bins`` equal-width confidence bins; ``nan`` for no rows.

    ``y_true`` holds class indices into the columns of ``proba`` (``(n, k)``), or 0/1 with
    ``proba`` the ``(n,)`` positive-class probability.
    """
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y_true).astype(np.int64)
    if len(y) == 0:
        return float("nan")
    p2 = np.column_stack([1 - p, p]) if p.ndim == 1 else p
    conf = p2.max(axis=1)
    correct = (np.argmax(p2, axis=1) == y).astype(np.float64)
    bins = np.clip((conf * n_bins).astype(np.int64), 0, n_bins - 1)
    gap = np.bincount(bins, correct - conf, minlength=n_bins)
    return float(np.abs(gap).sum() / len(y))


def regression_metrics(
    y_true: Sequence[float] | np.ndarray,
    y_pred: Sequence[float] | np.ndarray,
    *,
    confidence: float = 0.95,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, MetricValue]:
    """MAE, RMSE and R² of one window, each with a bootstrap interval.

    R² is ``None`` (note "constant target") when the window's target does not vary, where
    scikit-learn would return 0 or 1 by convention.

    >>> m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0], n_boot=0)
    >>> m["mae"].value, m["r2"].value
    (0.25, 0.9)
    """
    _check_common("regression_metrics", confidence, n_boot)
    y = np.asarray(y_true, dtype=np.float64)
    f = np.asarray(y_pred, dtype=np.float64)
    if y.shape != f.shape or y.ndim != 1:
        raise ValidationError(
            f"'y_true' and 'y_pred' must be 1-d of one length; got shapes {y.shape} and {f.shape}."
        )
    n = len(y)
    if n == 0:
        return _empty(["mae", "rmse", "r2"])
    if not (np.isfinite(y).all() and np.isfinite(f).all()):
        raise ValidationError("'y_true' and 'y_pred' must be finite; drop rows with missing values first.")
    err = f - y
    ae, se, y2 = np.abs(err), err * err, y * y

    def r2(w: np.ndarray, total: np.ndarray, sse: np.ndarray) -> np.ndarray:
        sst = w @ y2 - (w @ y) ** 2 / total
        # A constant target (up to rounding) leaves R² undefined.
        sst = np.where(sst > 1e-12 * np.maximum(w @ y2, 1e-300), sst, np.nan)
        return 1 - sse / sst

    names = ["mae", "rmse", "r2"]

    def stat(w: np.ndarray) -> np.ndarray:
        total = w.sum(axis=1)
        sse = w @ se
        return np.column_stack([w @ ae / total, np.sqrt(sse / total), r2(w, total, sse)])

    return _values(names, *_bootstrap(stat, n, n_boot, seed, confidence), n, {"r2": "constant target"})
