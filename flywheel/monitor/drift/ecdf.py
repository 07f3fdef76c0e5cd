"""One pass over two numeric samples: the merged empirical CDFs every numeric drift metric reads.

Wasserstein-1, Kolmogorov–Smirnov and PSI all compare the two empirical CDFs, so they share one
sort. Instead of sorting the reference and the current sample apart and merging them (NumPy has
no merge), both are written into one buffer with the sample they came from stored in the lowest
mantissa bit, and the buffer is sorted once. Walking the sorted buffer in cache-sized chunks then
gives, per position ``i``, ``D_i = F_ref(x_i) - F_cur(x_i)``; from it

* ``W1 = sum_i |D_i| (x_{i+1} - x_i)`` (the area between the CDFs),
* ``KS = max |D_i|`` over the last position of each run of equal values,
* any CDF value or reference quantile by a binary search (PSI bins, drill-down).

By default the buffer is float32: drift compares distributions, and float32 with the tag bit
keeps 22 bits of mantissa. It is used only when that quantisation is below 1e-4 of the reference
standard deviation (``max|x| * 2**-22 <= 1e-4 * std``); otherwise the pass reruns in float64, where
the tag costs one bit of 52. ``precision="float64"`` forces the wide path.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> cmp = compare_numeric(rng.normal(size=5000), rng.normal(0.5, 1, size=5000))
>>> round(cmp.w1, 1), round(cmp.ks, 1)
(0.5, 0.2)

Integer columns whose values span no more than ``n + m`` distinct integers (counts, ages, codes)
skip the sort (see ``counted``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.monitor.drift.comparison import NumericComparison
from flywheel.monitor.drift.counted import count_integers
from flywheel.profiles.columns import numeric_chunks

CHUNK = 1 << 15  # 32k elements: the working set of one chunk stays in L2 cache
PRECISIONS = ("auto", "float32", "float64")
_F32_RELATIVE_STEP = 2.0**-22  # float32 mantissa less the tag bit
_F32_MAX_ERROR = 1e-4  # allowed quantisation, in reference standard deviations


class Workspace:
    """Scratch arrays reused across the columns of one ``compute_drift`` call.

    Fresh multi-megabyte arrays cost page faults on first touch (here about as much as the
    arithmetic), so the merged buffer is reused column after column. A comparison built with a
    workspace is therefore valid only until the next comparison built with the same workspace.
    """

    def __init__(self) -> None:
        self._ranks: dict[tuple[int, int, str], np.ndarray] = {}
        self._tmp: dict[str, np.ndarray] = {}
        self._big: dict[str, np.ndarray] = {}

    def big(self, name: str, size: int, dtype: Any) -> np.ndarray:
        """A reusable array of ``size`` elements (contents undefined)."""
        arr = self._big.get(name)
        if arr is None or arr.dtype != dtype or arr.shape[0] < size:
            arr = np.empty(size, dtype=dtype)
            self._big[name] = arr
        return arr[:size]

    def ranks(self, total: int, n: int, dtype: Any) -> np.ndarray:
        """``(i + 1) / n`` for ``i < total``: the reference CDF before subtracting current counts."""
        key = (total, n, np.dtype(dtype).str)
        arr = self._ranks.get(key)
        if arr is None:
            arr = np.arange(1, total + 1, dtype=dtype)
            arr *= dtype(1.0 / n)
            self._ranks = {key: arr}  # keep one: the columns of a table share their sizes
        return arr

    def int_ranks(self, total: int, dtype: Any) -> np.ndarray:
        """``i + 1`` for ``i < total``, as integers."""
        key = (total, 0, np.dtype(dtype).str)
        arr = self._ranks.get(key)
        if arr is None:
            arr = np.arange(1, total + 1, dtype=dtype)
            self._ranks[key] = arr
        return arr

    def tmp(self, name: str, dtype: Any) -> np.ndarray:
        arr = self._tmp.get(name)
        if arr is None or arr.dtype != dtype:
            arr = np.empty(CHUNK + 1, dtype=dtype)
            self._tmp[name] = arr
        return arr


class ExactNumericComparison(NumericComparison):
    """The merged, sorted sample with cumulative counts of current values (``cc``)."""

    def __init__(self, x: np.ndarray, cc: np.ndarray, n: int, m: int) -> None:
        self.x = x
        self.cc = cc
        self.n_reference = n
        self.n_current = m

    def _cum_at(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # idx: index of the last element <= p, or -1.
        safe = np.maximum(idx, 0)
        cur = np.where(idx >= 0, self.cc[safe].astype(np.float64), 0.0)
        ref = np.where(idx >= 0, (safe + 1).astype(np.float64) - cur, 0.0)
        return ref, cur

    def cdf_at(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.asarray(points, dtype=np.float64)
        if self.empty:
            nan = np.full(pts.shape, math.nan)
            return nan, nan.copy()
        # Compare like with like: the stored values lost their lowest mantissa bit to the tag.
        q = pts.astype(self.x.dtype)
        q_bits = q.view(np.int32 if q.dtype == np.float32 else np.int64)
        np.bitwise_and(q_bits, ~1, out=q_bits)
        idx = np.searchsorted(self.x, q, side="right") - 1
        ref, cur = self._cum_at(idx)
        return ref / self.n_reference, cur / self.n_current

    def reference_quantiles(self, qs: np.ndarray) -> np.ndarray:
        q = np.asarray(qs, dtype=np.float64)
        if self.empty:
            return np.full(q.shape, math.nan)
        n, cc, total = self.n_reference, self.cc, self.x.shape[0]
        out = np.empty(q.shape, dtype=np.float64)
        for j, qj in enumerate(q.ravel()):
            rank = min(n, max(1, math.ceil(qj * n - 1e-9)))
            lo, hi = 0, total - 1
            while lo < hi:  # smallest i with (i + 1 - cc[i]) >= rank; the left side is monotone
                mid = (lo + hi) // 2
                if mid + 1 - int(cc[mid]) >= rank:
                    hi = mid
                else:
                    lo = mid + 1
            out.flat[j] = float(self.x[lo])
        return out


def _fill(chunks: list[np.ndarray], dst: np.ndarray, bits: np.ndarray, tag: int) -> tuple[float, float]:
    """Copy ``chunks`` into ``dst`` (casting, -0.0 -> +0.0), set the tag bit; return (mean, std)."""
    n = dst.shape[0]
    mean = sum(float(np.add.reduce(c, dtype=np.float64)) for c in chunks) / n
    mean_t = dst.dtype.type(mean)
    narrow = dst.dtype == np.float32
    s2 = 0.0
    pos = 0
    for src in chunks:
        for a in range(0, src.shape[0], CHUNK):
            b = min(a + CHUNK, src.shape[0])
            lo, hi = pos + a, pos + b
            d = dst[lo:hi]
            np.add(src[a:b], 0.0, out=d, casting="unsafe")
            t = d - mean_t  # centred, so the sum of squares does not cancel
            s2 += float(np.dot(t, t)) if narrow else float(np.multiply(t, t, out=t).sum())
            if tag:
                np.bitwise_or(bits[lo:hi], 1, out=bits[lo:hi])
            else:
                np.bitwise_and(bits[lo:hi], ~1, out=bits[lo:hi])
        pos += src.shape[0]
    offset = mean - float(mean_t)  # rounding of the centre; its square corrects the variance
    var = max(0.0, s2 / n - offset * offset)
    return mean, math.sqrt(var)


def _walk(
    buf: np.ndarray, bits: np.ndarray, cc: np.ndarray, n: int, m: int, ws: Workspace
) -> tuple[float, float, int]:
    """The chunked pass: tag bits -> cumulative current counts, canonical values, W1 and max|D|."""
    total = buf.shape[0]
    fdt = buf.dtype.type
    # D = (i+1)/n - cc (1/n + 1/m) costs two operations but cancels: both terms reach total/n. When
    # the reference is much the smaller side that loses float32 digits, so compute
    # D = (i+1-cc)/n - cc/m from exact integer reference counts instead.
    small_ref = total > 16 * n
    ar = ws.int_ranks(total, bits.dtype) if small_ref else ws.ranks(total, n, fdt)
    c1 = fdt(1.0 / n + 1.0 / m)
    inv_n, inv_m = fdt(1.0 / n), fdt(1.0 / m)
    t = ws.tmp("d", buf.dtype)
    dx = ws.tmp("dx", buf.dtype)
    tag = ws.tmp("tag", bits.dtype)
    cref = ws.tmp("cref", cc.dtype)
    use_blas = buf.dtype == np.float32  # sdot is single-threaded and fast; ddot is not, here
    carry = 0
    w1 = 0.0
    best = -1.0
    best_pos = -1
    prev_d = 0.0
    prev_x = 0.0
    for a in range(0, total, CHUNK):
        b = min(a + CHUNK, total)
        size = b - a
        tg = tag[:size]
        np.bitwise_and(bits[a:b], 1, out=tg)
        cb = cc[a:b]
        np.cumsum(tg, out=cb)  # integer: a float cumsum is five times slower
        if carry:
            cb += carry
        carry = int(cb[-1])
        np.bitwise_and(bits[a:b], ~1, out=bits[a:b])  # canonical values from here on
        d = t[:size]
        if small_ref:
            cr = cref[:size]
            np.subtract(ar[a:b], cb, out=cr)
            np.multiply(cr, inv_n, out=d, dtype=fdt, casting="unsafe")
            np.subtract(d, np.multiply(cb, inv_m, dtype=fdt, casting="unsafe"), out=d)
        else:
            np.multiply(cb, c1, out=d, dtype=fdt, casting="unsafe")
            np.subtract(ar[a:b], d, out=d)
        np.abs(d, out=d)
        if a:  # the step between the previous chunk's last value and this chunk's first
            w1 += prev_d * (float(buf[a]) - prev_x)
        k = size - 1
        if k > 0:
            np.subtract(buf[a + 1 : b], buf[a : b - 1], out=dx[:k])
            if use_blas:
                w1 += float(np.dot(d[:k], dx[:k]))
            else:
                w1 += float(np.multiply(d[:k], dx[:k], out=dx[:k]).sum())
        prev_d = float(d[size - 1])
        prev_x = float(buf[b - 1])
        j = int(d.argmax())
        if d[j] > best:
            best = float(d[j])
            best_pos = a + j
    return w1, best, best_pos


def _ks_at_boundaries(buf: np.ndarray, cc: np.ndarray, n: int, m: int, ws: Workspace) -> float:
    """max |D| over the last element of each run of equal values (the exact KS with ties)."""
    total = buf.shape[0]
    ar = ws.int_ranks(total, cc.dtype)
    best = 0.0
    for a in range(0, total - 1, CHUNK):
        b = min(a + CHUNK, total - 1)
        cb = cc[a:b].astype(np.float64)
        d = (ar[a:b] - cb) / n - cb / m
        np.abs(d, out=d)
        d[buf[a + 1 : b + 1] == buf[a:b]] = 0.0
        best = max(best, float(d.max()))
    return best


def _merged(
    ref: list[np.ndarray], cur: list[np.ndarray], wide: bool, ws: Workspace | None
) -> tuple[ExactNumericComparison, float]:
    n, m = _size(ref), _size(cur)
    total = n + m
    fdt, idt = (np.float64, np.int64) if wide else (np.float32, np.int32)
    buf = ws.big("x", total, fdt) if ws else np.empty(total, dtype=fdt)
    bits = buf.view(idt)
    rmean, rstd = _fill(ref, buf[:n], bits[:n], 0)
    cmean, cstd = _fill(cur, buf[n:], bits[n:], 1)
    buf.sort()
    max_abs = max(abs(float(buf[0])), abs(float(buf[-1])))
    cdt = np.int64 if (wide or total >= 2**31) else np.int32
    cc = ws.big("cc", total, cdt) if ws else np.empty(total, dtype=cdt)
    scratch = ws or Workspace()
    w1, ks, pos = _walk(buf, bits, cc, n, m, scratch)
    if pos < total - 1 and buf[pos] == buf[pos + 1]:  # the largest gap sits inside a run of ties
        ks = _ks_at_boundaries(buf, cc, n, m, scratch)
    out = ExactNumericComparison(buf, cc, n, m)
    out.reference_mean, out.reference_std = rmean, rstd
    out.current_mean, out.current_std = cmean, cstd
    out.w1, out.ks = w1, ks
    return out, max_abs


def _size(chunks: list[np.ndarray]) -> int:
    return sum(c.shape[0] for c in chunks)


def compare_numeric(
    reference: Any, current: Any, *, precision: str = "auto", workspace: Workspace | None = None
) -> NumericComparison:
    """Compare two numeric samples exactly: one merged sort, one chunked pass.

    ``reference`` and ``current`` are any 1-D numeric containers (NumPy, list, Arrow, pandas,
    polars). Nulls, NaN and infinities are left out and counted in ``dropped_*``. With an empty side
    the result has ``empty == True`` and NaN statistics.
    """
    if precision not in PRECISIONS:
        raise ValidationError(
            f"The 'precision' parameter of compare_numeric must be one of {list(PRECISIONS)}; got {precision!r}."
        )
    ref, dropped_ref = numeric_chunks(reference)
    cur, dropped_cur = numeric_chunks(current)
    n, m = _size(ref), _size(cur)
    ws = workspace
    out: NumericComparison
    if n == 0 or m == 0:
        out = ExactNumericComparison(np.empty(0), np.empty(0), n, m)
        for chunks, side in ((ref, "reference"), (cur, "current")):
            if chunks:
                whole = np.concatenate(chunks).astype(np.float64)
                setattr(out, f"{side}_mean", float(whole.mean()))
                setattr(out, f"{side}_std", float(whole.std()))
    elif all(c.dtype.kind in "iu" for c in ref + cur) and (counted := count_integers(ref, cur)) is not None:
        out = counted
    else:
        wide = precision == "float64"
        out, max_abs = _merged(ref, cur, wide, ws)
        if not wide and precision == "auto":
            spread = max(out.reference_std, out.current_std)
            if not max_abs * _F32_RELATIVE_STEP <= _F32_MAX_ERROR * spread:
                out, _ = _merged(ref, cur, True, ws)
    out.dropped_reference, out.dropped_current = dropped_ref, dropped_cur
    return out
