"""Task metrics, computed for many row weightings at once.

Every metric is written over a weight matrix ``W`` of shape ``(B, n)``: row ``b`` gives each
of the ``n`` rows a weight (bootstrap resample counts; all ones for the plain value). One
code path thus yields the point value (``W = ones``) and ``B`` bootstrap replicates with a
few matrix products, which is what makes the report's confidence intervals cheap.

Classification inputs are class indexes ``y`` (positions in ``class_names``) and the
probability matrix ``proba`` (n, K); regression inputs are values ``y`` and predictions.

>>> y = np.array([0, 1, 1, 0])
>>> proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
>>> {k: round(v, 4) for k, v in point_metrics("binary", y, proba, ["accuracy", "roc_auc"]).items()}
{'accuracy': 0.75, 'roc_auc': 1.0}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

from flywheel.errors import ValidationError

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "log_loss", "brier", "roc_auc", "ece")
REGRESSION_METRICS = ("rmse", "mae", "r2")
#: metrics where lower is better; every other metric is higher-is-better
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece", "rmse", "mae"})
EPS = float(np.finfo(np.float64).eps)  # the clip scikit-learn uses for log loss
ECE_BINS = 10


def metric_names(task: str) -> list[str]:
    """The metrics reported for a task (``roc_auc`` only for binary)."""
    if task == "regression":
        return list(REGRESSION_METRICS)
    return [m for m in CLASSIFICATION_METRICS if task == "binary" or m != "roc_auc"]


def default_metric(task: str) -> str:
    """The headline metric of a task: accuracy for classification, RMSE for regression."""
    return "rmse" if task == "regression" else "accuracy"


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def check_metric(task: str, metric: str) -> str:
    allowed = metric_names(task)
    if metric not in allowed:
        raise ValidationError(
            f"metric {metric!r} is not available for a {task} model; choose one of {allowed}."
        )
    return metric


def _onehot(codes: np.ndarray, width: int) -> sp.csr_matrix:
    n = len(codes)
    return sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, width))


def _wsum(W: np.ndarray, M: sp.csr_matrix) -> np.ndarray:
    """``W @ M`` for dense W (B, n) and sparse M (n, m), as a dense (B, m)."""
    return np.asarray((M.T @ W.T).T)


def weighted_confusion(W: np.ndarray, y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(B, K, K) confusion matrices, rows = true class, columns = predicted class."""
    return _wsum(W, _onehot(y * k + pred, k * k)).reshape(len(W), k, k)


def _macro(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Mean over the classes that are present in each replicate (NaN where none is)."""
    count = present.sum(axis=1)
    total = np.where(present, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _roc_auc(W: np.ndarray, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Weighted binary ROC AUC with ties counted one half (equals sklearn's for unit weights)."""
    _, group = np.unique(score, return_inverse=True)
    g = int(group.max()) + 1 if len(group) else 0
    # per replicate, the weight of positives and of negatives at each distinct score
    pos = _wsum(W[:, y == 1], _onehot(group[y == 1], g))
    neg = _wsum(W[:, y == 0], _onehot(group[y == 0], g))
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def ece_bins(confidence: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Bin index of each confidence in ``bins`` equal-width bins over [0, 1]."""
    return np.minimum((np.clip(confidence, 0.0, 1.0) * bins).astype(np.int64), bins - 1)


def weighted_ece(
    W: np.ndarray, confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS
) -> np.ndarray:
    """Top-label expected calibration error: sum over bins of weight share x |accuracy - confidence|."""
    M = _onehot(ece_bins(confidence, bins), bins)
    count = _wsum(W, M)
    conf = _wsum(W, M.multiply(confidence[:, None]).tocsr())
    acc = _wsum(W, M.multiply(correct[:, None]).tocsr())
    total = count.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(acc - conf).sum(axis=1) / np.where(total > 0, total, np.nan)


def weighted_metrics(
    task: str, y: np.ndarray, output: np.ndarray, W: np.ndarray, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Each metric in ``names`` for each weighting row of ``W``: ``{name: (B,) array}``.

    ``output`` is ``proba`` (n, K) for classification, predictions (n,) for regression.
    A metric that is undefined for a replicate (e.g. AUC with one class) is NaN there.
    """
    names = list(names) if names is not None else metric_names(task)
    for m in names:
        check_metric(task, m)
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    total = W.sum(axis=1)
    safe_total = np.where(total > 0, total, np.nan)
    out: dict[str, np.ndarray] = {}
    if task == "regression":
        y = np.asarray(y, dtype=np.float64)
        err = np.asarray(output, dtype=np.float64) - y
        mean_y = (W @ y) / safe_total
        ss_tot = W @ (y * y) - safe_total * mean_y**2
        sq = W @ (err * err)
        fns: dict[str, Callable[[], np.ndarray]] = {
            "rmse": lambda: np.sqrt(sq / safe_total),
            "mae": lambda: (W @ np.abs(err)) / safe_total,
            "r2": lambda: 1.0 - sq / np.where(ss_tot > 1e-12 * np.abs(safe_total), ss_tot, np.nan),
        }
        return {m: fns[m]() for m in names}
    y = np.asarray(y, dtype=np.int64)
    proba = np.asarray(output, dtype=np.float64)
    n, k = proba.shape
    pred = np.argmax(proba, axis=1)
    correct = (pred == y).astype(np.float64)
    confusion: np.ndarray | None = None
    if {"balanced_accuracy", "f1_macro"} & set(names):
        confusion = weighted_confusion(W, y, pred, k)
    for m in names:
        if m == "accuracy":
            out[m] = (W @ correct) / safe_total
        elif m == "log_loss":
            out[m] = (W @ -np.log(np.clip(proba[np.arange(n), y], EPS, 1.0))) / safe_total
        elif m == "brier":
            onehot = np.zeros_like(proba)
            onehot[np.arange(n), y] = 1.0
            out[m] = (W @ ((proba - onehot) ** 2).sum(axis=1)) / safe_total
        elif m == "roc_auc":
            out[m] = _roc_auc(W, y, proba[:, 1])
        elif m == "ece":
            out[m] = weighted_ece(W, proba.max(axis=1), correct)
        else:
            assert confusion is not None
            tp = np.diagonal(confusion, axis1=1, axis2=2)
            support = confusion.sum(axis=2)
            predicted = confusion.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                recall = np.where(support > 0, tp / np.maximum(support, 1e-300), 0.0)
                precision = np.where(predicted > 0, tp / np.maximum(predicted, 1e-300), 0.0)
                f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
            if m == "balanced_accuracy":
                out[m] = _macro(recall, support > 0)
            else:
                out[m] = _macro(f1, (support > 0) | (predicted > 0))
    return out


def point_metrics(
    task: str, y: np.ndarray, output: np.ndarray, names: Sequence[str] | None = None
) -> dict[str, float]:
    """The plain value of each metric (every row weighted 1)."""
    W = np.ones((1, len(y)))
    return {m: float(v[0]) for m, v in weighted_metrics(task, y, output, W, names).items()}


def per_class(
    y: np.ndarray, proba: np.ndarray, class_names: Sequence[str]
) -> tuple[list[list[int]], dict[str, dict[str, float]]]:
    """The confusion matrix (true x predicted) and precision, recall, F1 and support per class."""
    k = len(class_names)
    pred = np.argmax(proba, axis=1)
    cm = np.bincount(np.asarray(y) * k + pred, minlength=k * k).reshape(k, k)
    out: dict[str, dict[str, float]] = {}
    for i, name in enumerate(class_names):
        tp, support, predicted = cm[i, i], cm[i].sum(), cm[:, i].sum()
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        out[name] = {
            "precision": float(p),
            "recall": float(r),
            "f1": float(2 * p * r / (p + r)) if p + r else 0.0,
            "support": int(support),
        }
    return cm.tolist(), out


def reliability(
    y: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS
) -> tuple[list[dict[str, float]], float]:
    """Top-label reliability bins (``lo, hi, count, confidence, accuracy``; empty bins left out) and the ECE."""
    proba = np.asarray(proba, dtype=np.float64)
    if len(proba) == 0:
        return [], float("nan")
    confidence = proba.max(axis=1)
    correct = (np.argmax(proba, axis=1) == np.asarray(y)).astype(np.float64)
    b = ece_bins(confidence, bins)
    count = np.bincount(b, minlength=bins)
    conf_sum = np.bincount(b, weights=confidence, minlength=bins)
    acc_sum = np.bincount(b, weights=correct, minlength=bins)
    out = [
        {
            "lo": i / bins,
            "hi": (i + 1) / bins,
            "count": int(count[i]),
            "confidence": float(conf_sum[i] / count[i]),
            "accuracy": float(acc_sum[i] / count[i]),
        }
        for i in range(bins)
        if count[i]
    ]
    ece = float(np.abs(acc_sum - conf_sum).sum() / len(proba))
    return out, ece
