"""Multivariate drift by a domain classifier: can a model tell the current rows from the reference?

Rows of both windows (at most ``max_rows`` per side, drawn with a fixed seed) are labelled 0
(reference) or 1 (current), and a small LightGBM model is cross-validated on them. The out-of-fold
ROC AUC says how separable the windows are: 0.5 is indistinguishable, 1.0 entirely different. It
sees what per-column metrics cannot, such as a changed correlation between two columns whose
marginals did not move, and its gain importances name the columns that separate the windows most.

Flag rule, as for columns: the AUC reaches ``auc_threshold`` (default 0.55) and is significantly
above 0.5 (one-sided Mann–Whitney normal approximation, ``p < alpha``).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> ref = {"a": rng.normal(size=2000), "b": rng.normal(size=2000)}
>>> cur = {"a": rng.normal(size=2000), "b": rng.normal(0.5, 1.0, 2000)}
>>> result = domain_classifier_drift(ref, cur, {"a": "numeric", "b": "numeric"}, n_estimators=50)
>>> result.flagged, result.top_features[0][0]
(True, 'b')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.monitor.drift._tails import normal_sf
from flywheel.profiles.columns import category_label, get_column


@dataclass(frozen=True)
class DomainClassifierResult:
    """Out-of-fold AUC of reference-vs-current, its p-value, the flag and the separating features."""

    auc: float
    p_value: float
    flagged: bool
    reason: str
    auc_threshold: float
    top_features: list[tuple[str, float]] = field(default_factory=list)
    n_reference: int = 0
    n_current: int = 0


def _numeric_column(values: Any) -> np.ndarray:
    mod = type(values).__module__.split(".", 1)[0]
    if mod == "pyarrow":
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
    if mod == "pandas":
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return np.array(
        [math.nan if v is None else v for v in values] if isinstance(values, list) else values,
        dtype=np.float64,
    )


def _labels(values: Any) -> list[str | None]:
    mod = type(values).__module__.split(".", 1)[0]
    items = (
        values.to_pylist()
        if mod == "pyarrow"
        else (values.tolist() if hasattr(values, "tolist") else list(values))
    )
    return [
        None if v is None or (isinstance(v, float) and math.isnan(v)) else category_label(v) for v in items
    ]


def _matrix(
    reference: Any, current: Any, kinds: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Both windows as float matrices; categorical columns as shared integer codes (NaN for null)."""
    ref_cols, cur_cols, categorical = [], [], []
    for j, (col, kind) in enumerate(kinds.items()):
        r, c = get_column(reference, col), get_column(current, col)
        if kind == "numeric":
            ref_cols.append(_numeric_column(r))
            cur_cols.append(_numeric_column(c))
        elif kind == "categorical":
            rl, cl = _labels(r), _labels(c)
            codes = {lab: i for i, lab in enumerate(sorted({x for x in rl + cl if x is not None}))}
            ref_cols.append(np.array([math.nan if x is None else codes[x] for x in rl], dtype=np.float64))
            cur_cols.append(np.array([math.nan if x is None else codes[x] for x in cl], dtype=np.float64))
            categorical.append(j)
        else:
            raise ValidationError(
                f"The domain classifier takes numeric and categorical columns; {col!r} is {kind}. "
                "Project text or embeddings to numbers first (see fit_projection)."
            )
    return np.column_stack(ref_cols), np.column_stack(cur_cols), categorical


def domain_classifier_drift(
    reference: Any,
    current: Any,
    kinds: Mapping[str, str],
    *,
    max_rows: int = 10_000,
    folds: int = 5,
    auc_threshold: float = 0.55,
    alpha: float = 0.05,
    top_k: int = 5,
    n_estimators: int = 100,
    seed: int = 0,
) -> DomainClassifierResult:
    """Cross-validated AUC of a LightGBM classifier telling ``current`` rows from ``reference`` rows."""
    if not kinds:
        raise ValidationError("The domain classifier needs at least one column in kinds.")
    if not 2 <= folds <= 20:
        raise ValidationError(
            f"The 'folds' parameter of domain_classifier_drift must be an int in [2, 20]; got {folds!r}."
        )
    x_ref, x_cur, categorical = _matrix(reference, current, kinds)
    rng = np.random.default_rng(seed)
    if x_ref.shape[0] > max_rows:
        x_ref = x_ref[np.sort(rng.choice(x_ref.shape[0], max_rows, replace=False))]
    if x_cur.shape[0] > max_rows:
        x_cur = x_cur[np.sort(rng.choice(x_cur.shape[0], max_rows, replace=False))]
    n1, n0 = x_cur.shape[0], x_ref.shape[0]
    if min(n0, n1) < folds:
        return DomainClassifierResult(
            math.nan,
            math.nan,
            False,
            f"too few rows to cross-validate ({n0} vs {n1})",
            auc_threshold,
            [],
            n0,
            n1,
        )

    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    x = np.vstack([x_ref, x_cur])
    y = np.concatenate([np.zeros(n0), np.ones(n1)])
    oof = np.empty(y.shape[0])
    gain = np.zeros(x.shape[1])
    params: dict[str, Any] = {
        "n_estimators": n_estimators,
        "num_leaves": 15,
        "learning_rate": 0.1,
        "min_child_samples": 20,
        "n_jobs": 1,
        "random_state": seed,
        "verbose": -1,
    }
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = lgb.LGBMClassifier(**params)
        model.fit(x[train], y[train], categorical_feature=categorical or "auto")
        oof[test] = np.asarray(model.predict_proba(x[test]))[:, 1]
        gain += model.booster_.feature_importance(importance_type="gain")
    auc = float(roc_auc_score(y, oof))
    se = math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
    p = normal_sf((auc - 0.5) / se)
    names = list(kinds)
    total = float(gain.sum())
    ranked = sorted(
        zip(names, (gain / total if total > 0 else gain).tolist(), strict=True), key=lambda t: -t[1]
    )
    flagged = auc >= auc_threshold and p < alpha
    if flagged:
        reason = f"AUC {auc:.3f} >= {auc_threshold}; p = {p:.2g} < {alpha}"
    elif auc < auc_threshold:
        reason = f"AUC {auc:.3f} < {auc_threshold}: the windows are hard to tell apart"
    else:
        reason = f"AUC {auc:.3f} >= {auc_threshold}, but p = {p:.2g} >= {alpha}: not enough rows to tell"
    return DomainClassifierResult(auc, p, flagged, reason, auc_threshold, ranked[:top_k], n0, n1)
