"""A fixed linear projection for embedding and image columns: the reference's top principal axes.

Drift in a 384-dimensional embedding is compared through a handful of directions. The default is
the top principal components of the reference vectors, fitted once (on at most ``max_rows`` rows,
drawn with a fixed seed) and then kept fixed, so every later window and every hourly profile is
projected the same way.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(1000, 6)) * [5, 1, 1, 1, 1, 0.1]
>>> p = fit_projection(x, n_components=2)
>>> p.shape, abs(round(float(p[0, 0]), 2))
((6, 2), 1.0)
"""

from __future__ import annotations

import numpy as np

from flywheel.errors import ValidationError


def fit_projection(
    vectors: np.ndarray, n_components: int = 8, *, max_rows: int = 20_000, seed: int = 0
) -> np.ndarray:
    """The top ``n_components`` principal axes of ``vectors`` (rows), as a ``dim x k`` matrix.

    ``k`` is ``min(n_components, dim, rows)``; axes have unit length and a sign fixed so that their
    largest entry is positive (deterministic across runs and platforms).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValidationError(f"fit_projection needs at least 2 vectors as a 2-D array; got shape {x.shape}.")
    if x.shape[0] > max_rows:
        idx = np.random.default_rng(seed).choice(x.shape[0], max_rows, replace=False)
        x = x[np.sort(idx)]
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    k = min(n_components, vt.shape[0])
    axes = vt[:k].T.copy()
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    return axes * signs
