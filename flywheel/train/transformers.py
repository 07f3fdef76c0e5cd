"""Transformers for array-valued features (embeddings, images) inside scikit-learn pipelines.

Each cell of an embedding or image column holds an array or a nested list. These
transformers stack the cells into a matrix; :class:`ImageFeatures` also computes a
HOG-like descriptor (histograms of gradient orientations per cell, weighted by gradient
magnitude). Both are plain-data classes so a skops artifact can hold them (they are on the
allow-list in ``artifact.py``).

>>> import numpy as np, pandas as pd
>>> col = pd.DataFrame({"img": [np.eye(8), np.ones((8, 8))]})
>>> ImageFeatures(mode="both").fit_transform(col).shape
(2, 208)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from flywheel.errors import ValidationError


def stack_cells(column: Any, name: str) -> np.ndarray:
    """(n, *shape) float array from a column whose cells are equally shaped arrays or lists."""
    if isinstance(column, pd.DataFrame):
        if column.shape[1] != 1:
            raise ValidationError(f"expected one array column for {name!r}; got {column.shape[1]} columns.")
        column = column.iloc[:, 0]
    cells = list(column)
    if not cells:
        return np.zeros((0, 0))
    try:
        arrays = [np.asarray(c, dtype=np.float64) for c in cells]
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"feature {name!r} must hold numeric arrays or nested lists.") from exc
    shape = arrays[0].shape
    bad = next((i for i, a in enumerate(arrays) if a.shape != shape), None)
    if bad is not None:
        raise ValidationError(
            f"every value of feature {name!r} must have the same shape; row 0 has {shape}, row {bad} has {arrays[bad].shape}.",
            details=[{"row": bad, "field": name, "reason": "shape differs"}],
        )
    return np.stack(arrays)


class ArrayColumns(TransformerMixin, BaseEstimator):
    """Flatten one array-valued column into ``prod(shape)`` numeric columns (NaN kept)."""

    def __init__(self, name: str = "embedding") -> None:
        self.name = name

    def fit(self, X: Any, y: Any = None) -> ArrayColumns:
        arr = stack_cells(X, self.name)
        self.shape_ = tuple(int(s) for s in arr.shape[1:])
        return self

    def transform(self, X: Any) -> np.ndarray:
        arr = stack_cells(X, self.name)
        if tuple(arr.shape[1:]) != self.shape_ and len(arr):
            raise ValidationError(
                f"feature {self.name!r} has shape {arr.shape[1:]}; the model was fitted on {self.shape_}."
            )
        return arr.reshape(len(arr), -1)


def _as_images(arr: np.ndarray, name: str) -> np.ndarray:
    """(n, h, w) gray images from (n, h, w), (n, h, w, c) or flat (n, h*w) square images."""
    if arr.ndim == 4:
        return arr.mean(axis=3)
    if arr.ndim == 3:
        return arr
    if arr.ndim == 2:
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side == arr.shape[1]:
            return arr.reshape(len(arr), side, side)
    raise ValidationError(
        f"image feature {name!r} must hold 2-d images (h, w), (h, w, channels) or flat square images; "
        f"got cells of shape {arr.shape[1:]}."
    )


def hog_features(images: np.ndarray, cell: int, bins: int) -> np.ndarray:
    """Per-cell histograms of unsigned gradient orientation, weighted by magnitude, L2-normalised per image."""
    n, h, w = images.shape
    gy, gx = np.gradient(images, axis=(1, 2))
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned orientation in [0, pi)
    b = np.minimum((ang / np.pi * bins).astype(np.int64), bins - 1)
    ch, cw = h // cell, w // cell
    if ch == 0 or cw == 0:
        raise ValidationError(f"images of {h}x{w} are smaller than one HOG cell of {cell}x{cell}.")
    mag = mag[:, : ch * cell, : cw * cell]
    b = b[:, : ch * cell, : cw * cell]
    cell_id = (np.arange(ch * cell)[:, None] // cell) * cw + (np.arange(cw * cell)[None, :] // cell)
    flat = (np.arange(n)[:, None, None] * (ch * cw) + cell_id[None]) * bins + b
    hist = np.bincount(flat.ravel(), weights=mag.ravel(), minlength=n * ch * cw * bins)
    hist = hist.reshape(n, ch * cw * bins)
    norm = np.linalg.norm(hist, axis=1, keepdims=True)
    return hist / np.where(norm > 0, norm, 1.0)


class ImageFeatures(TransformerMixin, BaseEstimator):
    """Pixels (scaled to [0, 1] by the training maximum), a HOG-like descriptor, or both.

    ``cell`` is the HOG cell side in pixels; None picks a quarter of the shorter side
    (2 for 8x8 digits, 7 for 28x28 MNIST).
    """

    def __init__(
        self, mode: str = "pixels", cell: int | None = None, bins: int = 9, name: str = "image"
    ) -> None:
        self.mode = mode
        self.cell = cell
        self.bins = bins
        self.name = name

    def fit(self, X: Any, y: Any = None) -> ImageFeatures:
        if self.mode not in ("pixels", "hog", "both"):
            raise ValidationError(
                f"The 'mode' parameter of ImageFeatures must be one of ['pixels', 'hog', 'both']; got {self.mode!r}."
            )
        images = _as_images(stack_cells(X, self.name), self.name)
        self.image_shape_ = tuple(int(s) for s in images.shape[1:])
        peak = float(np.nanmax(np.abs(images))) if images.size else 1.0
        self.scale_ = peak if peak > 0 else 1.0
        self.cell_ = int(self.cell) if self.cell else max(1, min(self.image_shape_) // 4)
        return self

    def transform(self, X: Any) -> np.ndarray:
        images = _as_images(stack_cells(X, self.name), self.name) / self.scale_
        if images.shape[1:] != self.image_shape_:
            raise ValidationError(
                f"image feature {self.name!r} has shape {images.shape[1:]}; the model was fitted on {self.image_shape_}."
            )
        images = np.nan_to_num(images)
        parts = []
        if self.mode in ("pixels", "both"):
            parts.append(images.reshape(len(images), -1))
        if self.mode in ("hog", "both"):
            parts.append(hog_features(images, self.cell_, self.bins))
        return np.hstack(parts)
