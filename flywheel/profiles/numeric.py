"""A mergeable profile of one numeric column: counts, moments and a KLL quantile sketch.

Counts (rows, nulls, NaN, ±inf), min and max are exact. Mean and the sum of squared deviations
(M2) are exact up to floating point and merge with Chan et al.'s pairwise formula. Quantiles, CDF
values and histograms come from an Apache DataSketches KLL sketch: any rank is within
``rank_error()`` of the truth with 99% confidence (about 1.3% at the default ``k=200``), whatever
the data and however many profiles were merged.

>>> import numpy as np
>>> a = NumericProfile().update(np.arange(0.0, 500.0))
>>> b = NumericProfile().update([500.0, None, float("nan")])
>>> ab = a.merge(b)
>>> ab.count, ab.nulls, ab.nan, ab.finite, ab.mean
(503, 1, 1, 501, 250.0)
>>> abs(ab.quantile(0.5) - 250.0) <= ab.rank_error() * 501
True
>>> NumericProfile.from_bytes(ab.to_bytes()).max
500.0
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
from datasketches import kll_doubles_sketch

from flywheel.profiles._format import Reader, blob, check_int, header
from flywheel.profiles.columns import numeric_array

_FIELDS = struct.Struct("<qqqqddddI")
_SIZE = struct.Struct("<I")


class NumericProfile:
    """Profile of a numeric column; ``NumericProfile()`` is the empty profile (merge identity)."""

    kind = "numeric"

    def __init__(self, k: int = 200) -> None:
        self.k = check_int("NumericProfile", "k", k, 8, 65535)
        self.count = 0
        self.nulls = 0
        self.nan = 0
        self.inf = 0
        self.min = math.inf
        self.max = -math.inf
        self.mean = 0.0
        self.m2 = 0.0
        self._sketch = kll_doubles_sketch(k)

    @classmethod
    def empty(cls, k: int = 200) -> NumericProfile:
        return cls(k)

    # -- building -------------------------------------------------------------------------------

    def update(self, values: Any) -> NumericProfile:
        """Add a batch of values (NumPy, list, Arrow, pandas or polars); returns ``self``."""
        arr, nulls = numeric_array(values)
        self.count += arr.shape[0] + nulls
        self.nulls += nulls
        if arr.shape[0] == 0:
            return self
        x = arr.astype(np.float64, copy=False)
        finite_mask = np.isfinite(x)
        n_finite = int(finite_mask.sum())
        if n_finite < x.shape[0]:
            bad = x[~finite_mask]
            n_nan = int(np.isnan(bad).sum())
            self.nan += n_nan
            self.inf += bad.shape[0] - n_nan
            x = x[finite_mask]
        if n_finite == 0:
            return self
        bmean = float(x.mean())
        dev = x - bmean
        if not x.flags.writeable or not x.flags.c_contiguous:  # the sketch binding wants a plain array
            x = np.array(x, dtype=np.float64)
        self._absorb(n_finite, bmean, float(np.dot(dev, dev)), float(x.min()), float(x.max()))
        self._sketch.update(x)
        return self

    def _absorb(self, n_b: int, mean_b: float, m2_b: float, min_b: float, max_b: float) -> None:
        # Chan, Golub & LeVeque: combine (n, mean, M2) of two disjoint parts.
        n_a = self._sketch.n
        n = n_a + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * n_a * n_b / n
        self.min = min(self.min, min_b)
        self.max = max(self.max, max_b)

    def _merge_into(self, other: NumericProfile) -> None:
        if not isinstance(other, NumericProfile):
            raise TypeError(f"cannot merge a NumericProfile with a {type(other).__name__}")
        if other._sketch.n:
            empty_before = self._sketch.n == 0
            self._absorb(other._sketch.n, other.mean, other.m2, other.min, other.max)
            if empty_before and other.k == self.k:
                # Merging into an empty KLL sketch recompacts with fresh random bits; a copy keeps
                # the empty profile an exact identity.
                self._sketch = kll_doubles_sketch.deserialize(other._sketch.serialize())
            else:
                self._sketch.merge(other._sketch)
        self.count += other.count
        self.nulls += other.nulls
        self.nan += other.nan
        self.inf += other.inf

    def copy(self) -> NumericProfile:
        return NumericProfile.from_bytes(self.to_bytes())

    def merge(self, other: NumericProfile) -> NumericProfile:
        """A new profile of both inputs' data; neither input changes."""
        out = self.copy()
        out._merge_into(other)
        return out

    @classmethod
    def merge_all(cls, profiles: Iterable[NumericProfile], k: int = 200) -> NumericProfile:
        """Merge many profiles at the cost of one accumulator (no intermediate copies)."""
        out = cls(k)
        for p in profiles:
            out._merge_into(p)
        return out

    @classmethod
    def merge_serialized(cls, parts: list[tuple[bytes, int]]) -> NumericProfile:
        """Merge profiles straight from their bytes: ``(buffer, offset of the profile)`` pairs.

        The fast path of a long range query: one loop, no intermediate profile objects, moments
        combined as shifted sums (``M2 = sum M2_i + sum n_i d_i^2 - N dbar^2`` with ``d_i`` the part
        means less the first part's), one sketch merge per part.
        """
        deserialize = kll_doubles_sketch.deserialize
        unpack_fields, unpack_size = _FIELDS.unpack_from, _SIZE.unpack_from
        start = 5 + _FIELDS.size
        count = nulls = nan = inf = 0
        total = s1 = s2 = m2 = 0.0
        lo, hi = math.inf, -math.inf
        centre: float | None = None
        k = 200
        sketch = None
        for buf, off in parts:
            cnt, nl, na, nf, mn, mx, mean, m2_i, k = unpack_fields(buf, off + 5)
            count += cnt
            nulls += nl
            nan += na
            inf += nf
            n_i = cnt - nl - na - nf
            if n_i <= 0:
                continue
            if centre is None:
                centre = mean
            d = mean - centre
            total += n_i
            s1 += n_i * d
            s2 += n_i * d * d
            m2 += m2_i
            if mn < lo:
                lo = mn
            if mx > hi:
                hi = mx
            at = off + start
            (size,) = unpack_size(buf, at)
            part = deserialize(buf[at + 4 : at + 4 + size])
            if sketch is None:
                sketch = part
            else:
                sketch.merge(part)
        out = cls(int(k))
        out.count, out.nulls, out.nan, out.inf = count, nulls, nan, inf
        if sketch is not None and centre is not None:
            shift = s1 / total
            out.mean = centre + shift
            out.m2 = max(0.0, m2 + s2 - total * shift * shift)
            out.min, out.max = lo, hi
            out._sketch = sketch
        return out

    # -- bytes ----------------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        fields = _FIELDS.pack(
            self.count, self.nulls, self.nan, self.inf, self.min, self.max, self.mean, self.m2, self.k
        )
        return header(self.kind) + fields + blob(self._sketch.serialize())

    @classmethod
    def from_bytes(cls, data: bytes) -> NumericProfile:
        r = Reader(data, ("numeric",))
        count, nulls, nan, inf, lo, hi, mean, m2, k = r.fields(_FIELDS)
        out = cls.__new__(cls)
        out.k, out.count, out.nulls, out.nan, out.inf = k, count, nulls, nan, inf
        out.min, out.max, out.mean, out.m2 = lo, hi, mean, m2
        out._sketch = kll_doubles_sketch.deserialize(r.blob())
        return out

    # -- reading --------------------------------------------------------------------------------

    @property
    def finite(self) -> int:
        """Number of finite values: those in the moments and the sketch."""
        return int(self._sketch.n)

    @property
    def is_empty(self) -> bool:
        return self.count == 0

    @property
    def variance(self) -> float:
        """Population variance of the finite values (NaN when there are none)."""
        n = self.finite
        return self.m2 / n if n else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.finite else math.nan

    def rank_error(self, pmf: bool = False) -> float:
        """The sketch's normalised rank error (99% confidence); ``pmf=True`` for CDF/PMF queries."""
        return float(self._sketch.normalized_rank_error(pmf))

    @property
    def exact(self) -> bool:
        """True while the sketch still holds every value, so quantiles and CDF are exact."""
        return not self._sketch.is_estimation_mode()

    def quantile(self, q: float) -> float:
        """The smallest value whose rank is at least ``q`` (NaN when empty)."""
        if not self.finite:
            return math.nan
        return float(self._sketch.get_quantile(min(1.0, max(0.0, float(q))), True))

    def quantiles(self, qs: Iterable[float]) -> np.ndarray:
        """``quantile(q)`` for each ``q``, in one call into the sketch."""
        ranks = np.clip(np.asarray(list(qs), dtype=np.float64), 0.0, 1.0)
        if not self.finite:
            return np.full(ranks.shape, math.nan)
        return np.asarray(self._sketch.get_quantiles(ranks.tolist(), True), dtype=np.float64)

    def cdf(self, points: Any) -> np.ndarray:
        """``P(X <= p)`` for each point, estimated from the sketch (NaN when empty)."""
        pts = np.asarray(points, dtype=np.float64)
        if not self.finite:
            return np.full(pts.shape, math.nan)
        flat = pts.ravel()
        uniq, inverse = np.unique(flat, return_inverse=True)
        ok = np.isfinite(uniq)
        vals = np.where(uniq == np.inf, 1.0, 0.0)
        if ok.any():
            vals[ok] = np.asarray(self._sketch.get_cdf(uniq[ok].tolist(), True)[:-1])
        return vals[inverse].reshape(pts.shape)

    def histogram(self, edges: Any) -> np.ndarray:
        """Estimated counts in ``(-inf, e0], (e0, e1], ..., (e_last, inf)``: ``len(edges) + 1`` bins."""
        e = np.asarray(edges, dtype=np.float64)
        if not self.finite:
            return np.zeros(e.shape[0] + 1)
        cdf = np.concatenate([[0.0], self.cdf(e), [1.0]])
        return np.diff(cdf) * self.finite

    def summary(self) -> dict[str, float | int]:
        """Plain numbers for display: counts, moments and a few quantiles."""
        out: dict[str, float | int] = {
            "count": self.count,
            "nulls": self.nulls,
            "nan": self.nan,
            "inf": self.inf,
            "min": self.min if self.finite else math.nan,
            "max": self.max if self.finite else math.nan,
            "mean": self.mean if self.finite else math.nan,
            "std": self.std,
        }
        for q in (0.01, 0.25, 0.5, 0.75, 0.99):
            out[f"p{int(q * 100):02d}"] = self.quantile(q)
        return out

    def __repr__(self) -> str:
        return f"NumericProfile(count={self.count}, mean={self.mean:.6g}, std={self.std:.6g}, k={self.k})"
