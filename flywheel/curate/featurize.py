"""Turn logged inputs into one numeric matrix that selectors can measure distances in.

Selectors such as diversity, novelty and k-means centres work in a feature space; events
are logged column-wise as ``in.<feature>``. :class:`Featurizer` maps each feature by its kind:

- **numeric**: standardised by the fitted mean and spread; missing values sit at the mean (0);
- **categorical**: one-hot over the ``max_categories`` most frequent values plus "other",
  scaled by ``1/sqrt(2)`` so that two different categories are at distance 1, like one
  standard deviation of a numeric feature;
- **text**: TF-IDF over hashed word uni- and bi-grams (so nothing but the window is needed to
  fit), reduced to ``text_dim`` dimensions with a truncated SVD (LSA), rows scaled to unit length;
- **image**: pixel lists (any nesting: H×W or H×W×C) averaged over channels, resampled to
  ``image_side`` × ``image_side`` and standardised per pixel. Images logged as base64
  strings carry no pixels this module can read without an image codec and add no columns:
  log an ``embedding`` of them to curate on image content;
- **embedding**: the vector as it is (padded or cut to the fitted length; missing rows are 0).

The featurizer is fitted on the curation window itself, so a run needs nothing trained.

>>> import pyarrow as pa
>>> from flywheel.schema import ModelSpec
>>> spec = ModelSpec(name="m", task="binary", class_names=["a", "b"],
...     features=[{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}])
>>> table = pa.table({"in.x": [1.0, 2.0, 3.0], "in.c": ["u", "v", "u"]})
>>> Featurizer(spec).fit(table).transform(table).shape
(3, 4)
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa

from flywheel.errors import ValidationError
from flywheel.schema import FeatureKind, ModelSpec

INPUT_PREFIX = "in."


def _column(table: pa.Table, name: str) -> list[Any]:
    col = INPUT_PREFIX + name
    if col not in table.column_names:
        return [None] * table.num_rows
    return table.column(col).to_pylist()  # type: ignore[no-any-return]


def pixels(value: Any) -> np.ndarray | None:
    """A 2-D float array from a logged image value (pixel lists or their JSON); None otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return None  # base64 or a data URI: no pixels without a codec
        try:
            value = json.loads(text)
        except ValueError:
            return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.ndim == 1:
        side = int(round(np.sqrt(arr.size)))
        if side * side != arr.size or side == 0:
            return None
        arr = arr.reshape(side, side)
    elif arr.ndim == 3:
        arr = arr.mean(axis=2)
    elif arr.ndim != 2:
        return None
    return arr if arr.size else None


def _resample(img: np.ndarray, side: int) -> np.ndarray:
    """Average the image over a ``side`` × ``side`` grid of blocks (nearest rows when smaller)."""
    h, w = img.shape
    rows = np.linspace(0, h, side + 1)
    cols = np.linspace(0, w, side + 1)
    out = np.empty((side, side))
    for i in range(side):
        r0, r1 = int(rows[i]), max(int(np.ceil(rows[i + 1])), int(rows[i]) + 1)
        for j in range(side):
            c0, c1 = int(cols[j]), max(int(np.ceil(cols[j + 1])), int(cols[j]) + 1)
            out[i, j] = img[r0:r1, c0:c1].mean()
    return out.reshape(-1)


class Featurizer:
    """Fit on a window of events (``in.<feature>`` columns), then map any events to ``(n, d)``.

    Args:
        spec: the model's spec (feature names and kinds).
        max_categories: one-hot columns per categorical feature (the rest pool into "other").
        text_dim: dimensions kept per text feature after the SVD.
        image_side: images are resampled to ``image_side`` × ``image_side``.
        random_state: seed of the SVD.
    """

    def __init__(
        self,
        spec: ModelSpec,
        max_categories: int = 20,
        text_dim: int = 32,
        image_side: int = 8,
        random_state: int = 0,
    ) -> None:
        self.spec = spec
        self.max_categories = max_categories
        self.text_dim = text_dim
        self.image_side = image_side
        self.random_state = random_state
        for name, value, lo, hi in (
            ("max_categories", max_categories, 1, 1000),
            ("text_dim", text_dim, 1, 512),
            ("image_side", image_side, 1, 64),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValidationError(
                    f"The {name!r} parameter of Featurizer must be an int in [{lo}, {hi}]; got {value!r}."
                )
        self._parts: list[tuple[str, FeatureKind, Any]] = []
        self.fitted = False

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, table: pa.Table) -> Featurizer:
        """Learn scales, categories, the text space and embedding lengths from ``table``."""
        self._parts = []
        for feat in self.spec.features:
            values = _column(table, feat.name)
            state = getattr(self, f"_fit_{feat.kind.value}")(values)
            if state is not None:
                self._parts.append((feat.name, feat.kind, state))
        self.fitted = True
        return self

    def _fit_numeric(self, values: list[Any]) -> Any:
        x = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        x[~np.isfinite(x)] = np.nan
        if np.isnan(x).all():
            return None
        mean = float(np.nanmean(x))
        std = float(np.nanstd(x))
        return mean, std if std > 0 else 1.0

    def _fit_categorical(self, values: list[Any]) -> Any:
        counts = Counter(str(v) for v in values if v is not None)
        if not counts:
            return None
        top = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_categories]]
        return {c: i for i, c in enumerate(top)}

    def _fit_text(self, values: list[Any]) -> Any:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        docs = ["" if v is None else str(v) for v in values]
        if sum(1 for d in docs if d.strip()) < 3:
            return None
        hasher = HashingVectorizer(n_features=2**18, alternate_sign=False, ngram_range=(1, 2), norm=None)
        counts = hasher.transform(docs)
        tfidf = TfidfTransformer().fit(counts)
        # Only the hashed columns the window uses: the SVD then works in a space the size of
        # the window's vocabulary, not of the hash (2**18), which keeps it fast.
        used = np.flatnonzero(tfidf.transform(counts).getnnz(axis=0) > 0)
        weighted = tfidf.transform(counts)[:, used]
        dim = min(self.text_dim, weighted.shape[0] - 1, len(used) - 1)
        if dim < 1:
            return None
        svd = TruncatedSVD(n_components=dim, random_state=self.random_state).fit(weighted)
        return hasher, tfidf, used, svd

    def _fit_image(self, values: list[Any]) -> Any:
        grids = [self._grid(v) for v in values]
        present = [g for g in grids if g is not None]
        if not present:
            return None
        stacked = np.stack(present)
        std = stacked.std(axis=0)
        return stacked.mean(axis=0), np.where(std > 0, std, 1.0)

    def _fit_embedding(self, values: list[Any]) -> Any:
        lengths = [len(v) for v in values if v is not None]
        return max(lengths) if lengths else None

    def _grid(self, value: Any) -> np.ndarray | None:
        img = pixels(value)
        return None if img is None else _resample(img, self.image_side)

    # -- transforming -----------------------------------------------------------------------
    def transform(self, table: pa.Table) -> np.ndarray:
        """The ``(n, d)`` feature matrix of ``table``'s events (``d`` may be 0)."""
        if not self.fitted:
            raise ValidationError("Featurizer.transform called before fit.")
        n = table.num_rows
        blocks = [np.zeros((n, 0))]
        for name, kind, state in self._parts:
            values = _column(table, name)
            blocks.append(getattr(self, f"_transform_{kind.value}")(values, state))
        return np.hstack(blocks).astype(np.float64)

    @property
    def n_features(self) -> int:
        return sum(self._width(kind, state) for _, kind, state in self._parts)

    def _width(self, kind: FeatureKind, state: Any) -> int:
        if kind is FeatureKind.numeric:
            return 1
        if kind is FeatureKind.categorical:
            return len(state) + 1
        if kind is FeatureKind.text:
            return int(state[3].n_components)
        if kind is FeatureKind.image:
            return self.image_side**2
        return int(state)

    def _transform_numeric(self, values: list[Any], state: Any) -> np.ndarray:
        mean, std = state
        x = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        z = (x - mean) / std
        z[~np.isfinite(z)] = 0.0
        return z.reshape(-1, 1)

    def _transform_categorical(self, values: list[Any], state: Any) -> np.ndarray:
        out = np.zeros((len(values), len(state) + 1))
        for i, v in enumerate(values):
            if v is not None:
                out[i, state.get(str(v), len(state))] = 1.0
        return out / np.sqrt(2.0)

    def _transform_text(self, values: list[Any], state: Any) -> np.ndarray:
        hasher, tfidf, used, svd = state
        docs = ["" if v is None else str(v) for v in values]
        z = svd.transform(tfidf.transform(hasher.transform(docs))[:, used])
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        return np.asarray(z / np.where(norms > 0, norms, 1.0))

    def _transform_image(self, values: list[Any], state: Any) -> np.ndarray:
        mean, std = state
        out = np.zeros((len(values), self.image_side**2))
        for i, v in enumerate(values):
            grid = self._grid(v)
            if grid is not None:
                out[i] = (grid - mean) / std
        return out

    def _transform_embedding(self, values: list[Any], state: Any) -> np.ndarray:
        dim = int(state)
        out = np.zeros((len(values), dim))
        for i, v in enumerate(values):
            if v is not None:
                vec = np.asarray(v, dtype=np.float64)[:dim]
                out[i, : len(vec)] = np.nan_to_num(vec)
        return out
