"""Models with chosen behaviour, for evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flywheel.schema import ModelSpec

SPEC = ModelSpec(
    name="toy",
    task="binary",
    class_names=["no", "yes"],
    features=[
        {"name": "row", "kind": "numeric"},
        {"name": "region", "kind": "categorical"},
        {"name": "x", "kind": "numeric"},
    ],
    slices=["region"],
)


class Lookup:
    """Predicts a stored probability of "yes" per row id (the ``row`` column)."""

    def __init__(self, p_yes: np.ndarray) -> None:
        self.p_yes = np.asarray(p_yes, dtype=float)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.p_yes[frame["row"].to_numpy(dtype=int)]
        return np.column_stack([1 - p, p])


def region_data(n_north: int = 800, n_south: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_north + n_south
    frame = pd.DataFrame(
        {"row": np.arange(n), "region": ["north"] * n_north + ["south"] * n_south, "x": rng.normal(size=n)}
    )
    y = rng.integers(0, 2, n)
    return frame, y


def model_with_accuracy(y: np.ndarray, frame: pd.DataFrame, accuracy: dict[str, float], seed: int) -> Lookup:
    """A model right on exactly round(accuracy * n) rows of each region, confident 0.8."""
    rng = np.random.default_rng(seed)
    p = np.where(y == 1, 0.8, 0.2)
    for region, acc in accuracy.items():
        idx = np.flatnonzero(frame["region"].to_numpy() == region)
        wrong = rng.choice(idx, size=int(round((1 - acc) * len(idx))), replace=False)
        p[wrong] = 1 - p[wrong]
    return Lookup(p)
