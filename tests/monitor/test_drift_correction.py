"""Holm and Benjamini–Hochberg adjustments, against hand-computed values and their defining laws."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.errors import ValidationError
from flywheel.monitor.drift import adjust_pvalues


def test_holm_and_bh_match_hand_computed_values():
    p = [0.01, 0.04, 0.03, 0.2]
    assert adjust_pvalues(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert adjust_pvalues(p, "bh") == pytest.approx([0.04, 0.05333333, 0.05333333, 0.2])
    assert adjust_pvalues(p, "none") == p


def test_nan_entries_are_passed_through_and_not_counted():
    out = adjust_pvalues([0.01, math.nan, 0.02], "holm")
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.sampled_from(["holm", "bh"]))
def test_adjusted_pvalues_are_at_least_the_raw_ones_and_keep_their_order(ps, method):
    adj = adjust_pvalues(ps, method)
    assert all(a >= p - 1e-15 and a <= 1.0 for a, p in zip(adj, ps, strict=True))
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    assert all(adj[order[i]] <= adj[order[i + 1]] + 1e-15 for i in range(len(ps) - 1))
    holm, bh = adjust_pvalues(ps, "holm"), adjust_pvalues(ps, "bh")
    assert all(b <= h + 1e-12 for b, h in zip(bh, holm, strict=True))  # BH is never stricter than Holm


def test_unknown_correction_is_refused():
    with pytest.raises(ValidationError, match="'correction' parameter must be one of"):
        adjust_pvalues([0.1], "bonferoni")
