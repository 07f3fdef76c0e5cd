"""Drift: is the data a model sees now distributed like the data it was trained on?

Per column: ``compute_drift`` (exact, from raw columns) and ``compute_drift_from_profiles``
(approximate, from mergeable profiles), each metric one file and registered by name. Thresholds:
fixed defaults with their reasons (see ``compute``), or learned from reference windows
(``learn_thresholds``). Multivariate: ``domain_classifier_drift`` and ``PCAReconstructionDrift``.
"""

from flywheel.monitor.drift.base import DriftMetric, MetricValue, compare
from flywheel.monitor.drift.categories import NewCategories
from flywheel.monitor.drift.chi2 import ChiSquare
from flywheel.monitor.drift.compute import (
    ColumnDrift,
    DriftReport,
    compute_drift,
    compute_drift_from_profiles,
    default_thresholds,
)
from flywheel.monitor.drift.correction import adjust_pvalues
from flywheel.monitor.drift.counts import CategoricalComparison, compare_categorical
from flywheel.monitor.drift.domain_classifier import DomainClassifierResult, domain_classifier_drift
from flywheel.monitor.drift.ecdf import NumericComparison, compare_numeric
from flywheel.monitor.drift.jensen_shannon import JensenShannon
from flywheel.monitor.drift.ks import KolmogorovSmirnov
from flywheel.monitor.drift.learned import LearnedThresholds, learn_thresholds
from flywheel.monitor.drift.linf import LInfinity
from flywheel.monitor.drift.pca_reconstruction import PCAReconstructionDrift, PCAReconstructionResult
from flywheel.monitor.drift.projection import fit_projection
from flywheel.monitor.drift.psi import PSI
from flywheel.monitor.drift.registry import default_metrics, get_metric, register, registered_metrics
from flywheel.monitor.drift.wasserstein import Wasserstein

__all__ = [
    "PSI",
    "DomainClassifierResult",
    "LearnedThresholds",
    "PCAReconstructionDrift",
    "PCAReconstructionResult",
    "CategoricalComparison",
    "ChiSquare",
    "ColumnDrift",
    "DriftMetric",
    "DriftReport",
    "JensenShannon",
    "KolmogorovSmirnov",
    "LInfinity",
    "MetricValue",
    "NewCategories",
    "NumericComparison",
    "Wasserstein",
    "adjust_pvalues",
    "compare",
    "compare_categorical",
    "compare_numeric",
    "compute_drift",
    "compute_drift_from_profiles",
    "default_metrics",
    "default_thresholds",
    "domain_classifier_drift",
    "learn_thresholds",
    "fit_projection",
    "get_metric",
    "register",
    "registered_metrics",
]
