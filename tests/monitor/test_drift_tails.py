"""The hand-written distribution tails agree with SciPy (which drift avoids importing for speed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from flywheel.monitor.drift._tails import chi2_sf, kolmogorov_sf, ks_two_sample_pvalue, normal_sf


@pytest.mark.parametrize("x", [0.0, 0.05, 0.2, 0.5, 0.8, 0.99, 1.0, 1.36, 2.0, 3.5, 6.0, 20.0])
def test_kolmogorov_tail_matches_scipy(x):
    assert kolmogorov_sf(x) == pytest.approx(float(special.kolmogorov(x)), rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("dof", [1, 2, 3, 9, 24, 49, 500])
def test_chi2_tail_matches_scipy_across_the_range(dof):
    for stat in np.concatenate([[0.0, 1e-6], np.linspace(0.01, 4 * dof + 60, 37)]):
        expected = float(stats.chi2.sf(stat, dof))
        assert chi2_sf(float(stat), dof) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_chi2_tail_is_nan_without_degrees_of_freedom():
    assert math.isnan(chi2_sf(3.0, 0))


def test_two_sample_ks_pvalue_is_the_corrected_kolmogorov_tail_and_close_to_scipys():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=400), rng.normal(0.2, 1, 300)
    res = stats.ks_2samp(a, b, method="asymp")
    en = math.sqrt(400 * 300 / 700)
    ours = ks_two_sample_pvalue(res.statistic, 400, 300)
    assert ours == pytest.approx(float(special.kolmogorov((en + 0.12 + 0.11 / en) * res.statistic)))
    assert ours == pytest.approx(res.pvalue, rel=0.15)
    assert math.isnan(ks_two_sample_pvalue(0.1, 0, 10))


def test_normal_tail_matches_scipy():
    for z in (-3.0, 0.0, 1.0, 1.6448536269514722, 8.0):
        assert normal_sf(z) == pytest.approx(float(stats.norm.sf(z)), rel=1e-12)
