"""Model artifacts in a safe format: never pickle.

An artifact is a zip file holding ``flywheel-model.json`` (the manifest: format, trainer,
spec, params) and the payload:

- ``skops``: ``model.skops``, written by :func:`skops.io.dumps`. Loading lists the payload's
  types with :func:`skops.io.get_untrusted_types` and refuses the artifact unless every one is
  on Flywheel's allow-list (:data:`ALLOWED_TYPES`, scikit-learn estimator classes, and what
  the caller adds with ``extra_trusted``); only then is it loaded with exactly that list.
- ``lightgbm``: ``model.lgbm.txt`` (LightGBM's own text model format) and
  ``preprocess.json`` (category lists), both plain text.

Loading never imports a module named by the artifact, so a user trainer's code is not run.

>>> from sklearn.dummy import DummyRegressor
>>> import pandas as pd
>>> from flywheel.schema import ModelSpec
>>> from flywheel.train.model import SklearnModel
>>> spec = ModelSpec(name="m", task="regression", features=[{"name": "x", "kind": "numeric"}])
>>> X = pd.DataFrame({"x": [0.0, 1.0]})
>>> m = SklearnModel(DummyRegressor().fit(X, [1.0, 3.0]), spec=spec, trainer="baseline", params={})
>>> load_model(m.to_bytes()).predict(X).tolist()
[2.0, 2.0]
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flywheel.errors import UnsafeArtifact, ValidationError
from flywheel.schema import ModelSpec
from flywheel.train.model import FittedModel, SklearnModel

MANIFEST = "flywheel-model.json"
ARTIFACT_VERSION = 1

#: Non-estimator types that Flywheel's own trainers put in a skops payload and that are safe
#: to construct: each is either inert data or a function that only validates arrays.
ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "functools.partial",  # ColumnTransformer's passthrough: partial(check_array, ...)
        "sklearn.utils.validation.check_array",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "flywheel.train.transformers.ArrayColumns",
        "flywheel.train.transformers.ImageFeatures",
    }
)


def _is_sklearn_estimator(name: str) -> bool:
    """True for a class defined in scikit-learn that is an estimator (they hold only data)."""
    module, _, attr = name.rpartition(".")
    if not (module == "sklearn" or module.startswith("sklearn.")) or not attr.isidentifier():
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    from sklearn.base import BaseEstimator

    return isinstance(obj, type) and issubclass(obj, BaseEstimator)


def check_trusted(untrusted: Iterable[str], extra_trusted: Iterable[str] = ()) -> list[str]:
    """Return ``untrusted`` if every name is allowed; raise :class:`UnsafeArtifact` otherwise."""
    extra = set(extra_trusted)
    names = sorted(set(untrusted))
    refused = [n for n in names if n not in ALLOWED_TYPES and n not in extra and not _is_sklearn_estimator(n)]
    if refused:
        raise UnsafeArtifact(
            f"The model artifact holds type(s) {refused} that are not on Flywheel's allow-list; it was not "
            "loaded. If you trust where it came from, pass them as extra_trusted.",
            details=[{"field": "artifact", "reason": f"untrusted type {n}"} for n in refused],
        )
    return names


def dump_model(model: FittedModel) -> bytes:
    """The artifact bytes of ``model`` (deterministic zip timestamps, so equal models hash equal)."""
    if model.format not in ("skops", "lightgbm"):
        raise ValidationError(
            f"cannot save a {type(model).__name__}: its format {model.format!r} is not skops or lightgbm."
        )
    manifest = {
        "artifact_version": ARTIFACT_VERSION,
        "format": model.format,
        "trainer": model.trainer,
        "params": model.params,
        "spec": model.spec.model_dump(mode="json"),
        "versions": _versions(),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        files = {MANIFEST: json.dumps(manifest, sort_keys=True, indent=1).encode()} | model.payload()
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def _versions() -> dict[str, str]:
    import sklearn

    out = {"scikit-learn": sklearn.__version__}
    try:
        import lightgbm

        out["lightgbm"] = lightgbm.__version__
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        pass
    return out


def read_manifest(data: bytes) -> dict[str, Any]:
    """The manifest of an artifact, without loading the model."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return json.loads(zf.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValidationError(f"not a Flywheel model artifact (zip with {MANIFEST}): {exc}") from exc


def load_model(source: bytes | str | Path, *, extra_trusted: Iterable[str] = ()) -> FittedModel:
    """Load an artifact written by :meth:`FittedModel.to_bytes` or :meth:`FittedModel.save`.

    Raises :class:`UnsafeArtifact` when a skops payload holds a type that is not allowed.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    manifest = read_manifest(data)
    if manifest.get("artifact_version") != ARTIFACT_VERSION:
        raise ValidationError(
            f"unsupported artifact_version {manifest.get('artifact_version')!r}; expected {ARTIFACT_VERSION}."
        )
    spec = ModelSpec.model_validate(manifest["spec"])
    trainer, params, fmt = str(manifest["trainer"]), dict(manifest["params"]), manifest["format"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if fmt == "skops":
            import skops.io as sio

            payload = zf.read("model.skops")
            trusted = check_trusted(sio.get_untrusted_types(data=payload), extra_trusted)
            estimator = sio.loads(payload, trusted=trusted)
            return SklearnModel(estimator, spec=spec, trainer=trainer, params=params)
        if fmt == "lightgbm":
            from flywheel.train.tabular_lgbm import LightGBMModel

            return LightGBMModel.from_files(
                zf.read("model.lgbm.txt").decode(),
                json.loads(zf.read("preprocess.json")),
                spec=spec,
                trainer=trainer,
                params=params,
            )
    raise ValidationError(f"unknown artifact format {fmt!r}; expected 'skops' or 'lightgbm'.")
