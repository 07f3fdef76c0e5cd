"""Estimated performance before labels arrive, from calibrated confidence (CBPE-style).

Fit on a labelled reference (model scores and true labels): one calibrator per class
(one-vs-rest; one for a binary model) maps the model's scores to probabilities, chosen by
cross-validated calibration error (:mod:`flywheel.monitor.calibration`). In a window
without labels each row's calibrated probabilities say how likely each label is, so the
expected confusion matrix follows, and from it:

- ``accuracy``: the mean probability that the prediction is right;
- ``f1`` (binary, positive class) or ``f1_macro`` (one-vs-rest per class, then averaged):
  ``2·E[TP] / (2·E[TP] + E[FP] + E[FN])``;
- ``roc_auc`` (binary) or ``roc_auc_macro`` (one-vs-rest): each pair of rows counts as
  (positive, negative) with the probability the calibrator gives it, ranked by the model's
  own score.

The interval of each estimate is the spread of the *realised* metric if labels were drawn
from the calibrated probabilities (a vectorised simulation, seeded), so it says how far the
measured value will fall from the estimate by chance when the calibration holds. It does not
cover concept drift: when ``P(y | x)`` changes, calibrated confidence is wrong and so is any
estimate built on it — compare with measured performance once labels arrive. When they do,
:meth:`CBPE.observe` fits a small recalibration on that window, shrunk toward none by how
much of its gain chance explains, and later estimates use it.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref_scores = rng.random(5000)
>>> ref_labels = (rng.random(5000) < ref_scores).astype(int)
>>> cbpe = CBPE().fit(ref_scores, ref_labels)
>>> est = cbpe.estimate(rng.random(2000) ** 0.5)
>>> round(est["accuracy"].value, 2)  # E[max(p, 1 - p)] for p with density 2p
0.75
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.monitor.calibration import METHODS, Calibrator, fit_calibrator, fit_logistic
from flywheel.monitor.performance import EMPTY, ONE_CLASS, MetricValue, classification_metrics, group_sums

FORMAT = "flywheel.cbpe/1"


class CBPE:
    """Confidence-based performance estimation for binary and multiclass classifiers.

    ``classes`` gives the label order of multiclass score columns (and the positive class
    of a binary model as ``classes[1]``); by default the sorted reference labels.
    ``threshold`` turns binary scores into predictions when none are passed.
    """

    def __init__(
        self,
        classes: Sequence[Any] | None = None,
        *,
        calibration: str = "auto",
        threshold: float = 0.5,
        n_folds: int = 5,
        n_sim: int = 200,
        confidence: float = 0.95,
        seed: int = 0,
    ) -> None:
        self.classes = classes
        self.calibration = calibration
        self.threshold = threshold
        self.n_folds = n_folds
        self.n_sim = n_sim
        self.confidence = confidence
        self.seed = seed
        if calibration != "auto" and calibration not in METHODS:
            raise ValidationError(
                f"The 'calibration' parameter of CBPE must be one of {('auto', *METHODS)}; got {calibration!r}."
            )
        if isinstance(n_sim, bool) or not isinstance(n_sim, int) or not 0 <= n_sim <= 100_000:
            raise ValidationError(
                f"The 'n_sim' parameter of CBPE must be an int in [0, 100000]; got {n_sim!r}."
            )
        if not isinstance(confidence, float | int) or not 0.5 <= confidence < 1:
            raise ValidationError(
                f"The 'confidence' parameter of CBPE must be a float in [0.5, 1); got {confidence!r}."
            )
        if not isinstance(threshold, float | int) or not np.isfinite(threshold):
            raise ValidationError(
                f"The 'threshold' parameter of CBPE must be a finite number; got {threshold!r}."
            )

    # ---------------------------------------------------------------------------- fitting

    def fit(self, ref_scores: np.ndarray, ref_labels: Sequence[Any] | np.ndarray) -> CBPE:
        """Fit the calibrators on reference scores and labels; record reference performance."""
        s = np.asarray(ref_scores, dtype=np.float64)
        labels = np.asarray(ref_labels)
        if s.shape[0] != labels.shape[0]:
            raise ValidationError(
                f"'ref_scores' has {s.shape[0]} rows but 'ref_labels' has {labels.shape[0]}."
            )
        if len(labels) == 0:
            raise ValidationError("CBPE.fit needs a non-empty labelled reference.")
        classes = np.asarray(self.classes) if self.classes is not None else np.unique(labels)
        if len(classes) < 2:
            raise ValidationError(f"CBPE needs at least 2 classes; got {classes.tolist()}.")
        self.classes_ = classes
        self._check_scores(s)
        y = self._codes(labels, "ref_labels")
        cols = self._columns(s)
        # Binary: one calibrator for the positive class; multiclass: one per class, one-vs-rest.
        targets = [y == 1] if len(classes) == 2 else [y == j for j in range(len(classes))]
        self.calibrators_: list[Calibrator] = [
            fit_calibrator(
                cols[:, j], t.astype(float), method=self.calibration, n_folds=self.n_folds, seed=self.seed
            )
            for j, t in enumerate(targets)
        ]
        ref = classification_metrics(labels, self._predict(s), proba=s, classes=classes, n_boot=0)
        self.reference_ = {k: ref[k].value for k in self._metric_names()}
        self.recalibration_: dict[str, Any] = {}
        return self

    def _metric_names(self) -> list[str]:
        if len(self.classes_) == 2:
            return ["accuracy", "f1", "roc_auc"]
        return ["accuracy", "f1_macro", "roc_auc_macro"]

    def _check_scores(self, s: np.ndarray) -> None:
        k = len(self.classes_)
        if k == 2 and s.ndim != 1 or k > 2 and (s.ndim != 2 or s.shape[1] != k):
            want = "(n,) positive-class scores" if k == 2 else f"(n, {k}) class scores"
            raise ValidationError(
                f"'scores' must be {want} for classes {self.classes_.tolist()}; got shape {s.shape}."
            )
        if not np.isfinite(s).all():
            raise ValidationError("'scores' must be finite; drop rows with missing scores first.")

    def _codes(self, labels: np.ndarray, what: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        try:
            return np.fromiter((index[v] for v in labels.tolist()), np.int64, len(labels))
        except KeyError as exc:
            raise ValidationError(
                f"'{what}' holds the label {exc.args[0]!r}, which is not among the classes {self.classes_.tolist()}."
            ) from None

    @staticmethod
    def _columns(s: np.ndarray) -> np.ndarray:
        return s[:, None] if s.ndim == 1 else s

    def _predict(self, s: np.ndarray) -> np.ndarray:
        idx = (s >= self.threshold).astype(np.int64) if s.ndim == 1 else np.argmax(s, axis=1)
        return self.classes_[idx]

    def calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities, ``(n, k)`` in the order of ``classes_``.

        Includes the recalibration learnt by :meth:`observe`, if any.
        """
        p = self._base_calibrated(scores)
        layer = self.recalibration_
        if layer:
            z = _logit(p)
            p = 1.0 / (1.0 + np.exp(-(z * np.asarray(layer["a"]) + np.asarray(layer["b"]))))
        return self._normalise(p)

    def _base_calibrated(self, scores: np.ndarray) -> np.ndarray:
        """Per-calibrator probabilities before normalising: ``(n, 1)`` binary, ``(n, k)`` otherwise."""
        s = np.asarray(scores, dtype=np.float64)
        self._check_scores(s)
        cols = self._columns(s)
        return np.column_stack([c.transform(cols[:, j]) for j, c in enumerate(self.calibrators_)])

    @staticmethod
    def _normalise(p: np.ndarray) -> np.ndarray:
        if p.shape[1] == 1:
            return np.column_stack([1 - p[:, 0], p[:, 0]])
        total = p.sum(axis=1, keepdims=True)
        return np.where(total > 0, p / np.where(total > 0, total, 1), 1 / p.shape[1])

    # ------------------------------------------------------------------------- estimating

    def expected_confusion(self, scores: np.ndarray, predictions: Sequence[Any] | None = None) -> np.ndarray:
        """Expected confusion counts ``(k, k)``, rows true and columns predicted.

        Additive over windows: the sum over windows is the expected confusion of their union.
        """
        p, pred = self._prepare(scores, predictions)
        k = p.shape[1]
        onehot = np.zeros((len(pred), k))
        onehot[np.arange(len(pred)), pred] = 1.0
        return p.T @ onehot

    def _prepare(
        self, scores: np.ndarray, predictions: Sequence[Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        s = np.asarray(scores, dtype=np.float64)
        p = self.calibrated(s)
        if predictions is None:
            pred = self._codes(self._predict(s), "predictions")
        else:
            pr = np.asarray(predictions)
            if len(pr) != len(s):
                raise ValidationError(f"'predictions' has {len(pr)} rows but 'scores' has {len(s)}.")
            pred = self._codes(pr, "predictions")
        return p, pred

    def estimate(
        self, scores: np.ndarray, predictions: Sequence[Any] | None = None
    ) -> dict[str, MetricValue]:
        """Estimated ``accuracy``, F1 and ROC AUC of one window, each with an interval.

        An empty window gives ``None`` values (note "empty window"); an AUC whose expected
        positives or negatives vanish gives ``None`` (note "only one class present"). After
        :meth:`observe`, the probabilities include the recalibration learnt there.
        """
        names = self._metric_names()
        s = np.asarray(scores, dtype=np.float64)
        n = len(s)
        if n == 0:
            return {m: MetricValue(None, None, None, 0, EMPTY) for m in names}
        point, sims = self._raw(s, predictions, self.n_sim)
        out = {}
        alpha = (1 - self.confidence) / 2
        for i, name in enumerate(names):
            v = float(point[i])
            if not np.isfinite(v):
                out[name] = MetricValue(None, None, None, n, ONE_CLASS)
                continue
            lo = hi = None
            if sims is not None:
                d = sims[:, i][np.isfinite(sims[:, i])]
                if d.size:
                    lo, hi = (float(x) for x in np.quantile(d, [alpha, 1 - alpha]))
                    # The estimate is a ratio of expectations; keep it inside its own interval.
                    lo, hi = min(lo, v), max(hi, v)
            out[name] = MetricValue(v, lo, hi, n)
        return out

    def _raw(
        self, s: np.ndarray, predictions: Sequence[Any] | None, n_sim: int
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Uncorrected point estimates ``(3,)`` and ``n_sim`` simulated realisations ``(n_sim, 3)``."""
        p, pred = self._prepare(s, predictions)
        cols = self._columns(s) if s.ndim == 2 else np.column_stack([-s, s])
        k = p.shape[1]
        point = _metrics_from_probabilities(p[None], pred, cols, k)[0]
        return point, self._simulate(p, pred, cols, k, n_sim) if n_sim else None

    def observe(
        self, scores: np.ndarray, labels: Sequence[Any] | np.ndarray, min_per_class: int = 10
    ) -> CBPE:
        """Learn from a window whose labels have arrived, and recalibrate later estimates.

        On the labelled window, a logistic layer ``a·logit(p) + b`` on top of the reference
        calibration is fitted per calibrated column. It is shrunk toward the identity
        (``a = 1, b = 0``) by how much of its improvement chance alone explains: with ``D``
        the deviance it gains (about chi-squared with 2 degrees of freedom when the
        reference calibration still holds), the layer keeps the share ``max(0, 1 - 2/D)``.
        Without drift the layer stays near the identity; under concept drift, where the
        reference calibration is wrong, it follows what the latest labels show. Each call
        replaces the previous layer (the latest labels are the most relevant); columns
        whose window holds fewer than ``min_per_class`` rows of either outcome keep the
        identity.
        """
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels)
        if len(y) != len(s):
            raise ValidationError(f"'labels' has {len(y)} rows but 'scores' has {len(s)}.")
        if len(s) == 0:
            return self
        codes = self._codes(y, "labels")
        p = self._base_calibrated(s)
        targets = [codes == 1] if p.shape[1] == 1 else [codes == j for j in range(p.shape[1])]
        layers = []  # (a, b, share kept) per column
        for j, t in enumerate(targets):
            z, tt = _logit(p[:, j]), t.astype(np.float64)
            if min(tt.sum(), len(tt) - tt.sum()) < min_per_class:
                layers.append((1.0, 0.0, 0.0))
                continue
            coef, intercept = fit_logistic(z[:, None], tt)
            gain = 2 * (_log_lik(z * coef[0] + intercept, tt) - _log_lik(z, tt))
            w = max(0.0, 1.0 - 2.0 / gain) if gain > 0 else 0.0
            layers.append((1.0 + w * (float(coef[0]) - 1.0), w * intercept, w))
        a, b, kept = (list(v) for v in zip(*layers, strict=True))
        self.recalibration_ = {"a": a, "b": b, "kept": kept, "rows": len(s)}
        return self

    def _simulate(self, p: np.ndarray, pred: np.ndarray, cols: np.ndarray, k: int, n_sim: int) -> np.ndarray:
        """Realised metrics under labels drawn from ``p``: ``(n_sim, 3)``."""
        rng = np.random.default_rng(self.seed)
        n = len(pred)
        cdf = np.cumsum(p, axis=1)
        step = max(1, 2_000_000 // max(n * k, 1))
        out = []
        done = 0
        while done < n_sim:
            b = min(step, n_sim - done)
            u = rng.random((b, n, 1))
            labels = np.minimum((u > cdf[None]).sum(axis=2), k - 1)
            onehot = np.zeros((b, n, k))
            np.put_along_axis(onehot, labels[..., None], 1.0, axis=2)
            out.append(_metrics_from_probabilities(onehot, pred, cols, k))
            done += b
        return np.concatenate(out)

    # ---------------------------------------------------------------------- serialisation

    def to_bytes(self) -> bytes:
        """The fitted estimator as JSON bytes (no pickle); labels must be JSON values."""
        state = {
            "format": FORMAT,
            "params": {
                "calibration": self.calibration,
                "threshold": self.threshold,
                "n_folds": self.n_folds,
                "n_sim": self.n_sim,
                "confidence": self.confidence,
                "seed": self.seed,
            },
            "classes": self.classes_.tolist(),
            "calibrators": [c.to_dict() for c in self.calibrators_],
            "reference": self.reference_,
            "recalibration": self.recalibration_,
        }
        return json.dumps(state, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> CBPE:
        state = json.loads(data)
        if state.get("format") != FORMAT:
            raise ValidationError(f"Not a fitted CBPE ({FORMAT}); got format {state.get('format')!r}.")
        est = cls(state["classes"], **state["params"])
        est.classes_ = np.asarray(state["classes"])
        est.calibrators_ = [Calibrator.from_dict(c) for c in state["calibrators"]]
        est.reference_ = state["reference"]
        est.recalibration_ = state.get("recalibration", {})
        return est


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(q) - np.log1p(-q)


def _log_lik(z: np.ndarray, t: np.ndarray) -> float:
    """Bernoulli log-likelihood of outcomes ``t`` under log-odds ``z``."""
    return float(-(t * np.logaddexp(0, -z) + (1 - t) * np.logaddexp(0, z)).sum())


def _metrics_from_probabilities(w: np.ndarray, pred: np.ndarray, cols: np.ndarray, k: int) -> np.ndarray:
    """Accuracy, F1 and AUC for ``b`` label weightings ``w`` of shape ``(b, n, k)``.

    ``w[b, i, c]`` is the (expected or drawn) indicator that row ``i`` has class ``c``;
    ``pred`` holds predicted class indices and ``cols`` the per-class ranking scores.
    """
    n = len(pred)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), pred] = 1.0
    cm = np.einsum("bic,id->bcd", w, onehot)  # true x predicted
    tp = np.diagonal(cm, axis1=1, axis2=2)
    fp = cm.sum(axis=1) - tp
    fn = cm.sum(axis=2) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = tp.sum(axis=1) / n
        f1 = 2 * tp / (2 * tp + fp + fn)
        f1_value = f1[:, 1] if k == 2 else np.nanmean(np.where(np.isfinite(f1), f1, np.nan), axis=1)
        aucs = [_weighted_auc(cols[:, j], w[:, :, j]) for j in ([1] if k == 2 else range(k))]
        auc = aucs[0] if k == 2 else np.nanmean(np.stack(aucs, axis=1), axis=1)
    return np.column_stack([acc, f1_value, auc])


def _weighted_auc(score: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """AUC of ``score`` where row ``i`` is positive with weight ``pos[b, i]`` (self-pairs excluded)."""
    uniq, codes = np.unique(score, return_inverse=True)
    g = len(uniq)
    psum, nsum = group_sums(pos, codes, g), group_sums(1 - pos, codes, g)
    below = np.cumsum(nsum, axis=1) - nsum
    self_pairs = (pos * (1 - pos)).sum(axis=1)
    num = (psum * (below + 0.5 * nsum)).sum(axis=1) - 0.5 * self_pairs
    den = psum.sum(axis=1) * nsum.sum(axis=1) - self_pairs
    return np.where(den > 1e-12, num / np.where(den > 1e-12, den, 1), np.nan)
