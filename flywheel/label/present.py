"""How an event looks to an annotator: inputs by kind, the model's guess, images as PNG.

:func:`present` turns a stored event (the API's event shape) and its model spec into what the
labelling view draws:

- **tabular** inputs (numeric, categorical) as rows of a compact table; a numeric value outside
  its expected range (the reference's 1st-99th percentile when the model has a reference, else
  the curation window's) is marked ``out_of_range`` with the range;
- **text** whole;
- **images**: pixel lists become an inline PNG (``data:image/png;base64,...``) made here, with
  no imaging library: grey levels scaled from the image's own range; a base64 string is shown
  as it is (its type read from the first bytes, or taken from a data URI);
- **embeddings** as their length and first values (people cannot read them; they are shown
  for completeness);
- the **guess**: the model's prediction with its confidence and the top probabilities, which
  the view pre-fills.

>>> png = png_bytes([[0, 255], [255, 0]])
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np

from flywheel.curate.featurize import pixels
from flywheel.schema import FeatureKind, ModelSpec

MAX_SIDE = 1024
_MAGIC = {"iVBOR": "image/png", "/9j/": "image/jpeg", "R0lGOD": "image/gif", "UklGR": "image/webp"}


def png_bytes(image: Any, scale: int = 1) -> bytes:
    """An 8-bit greyscale PNG of a 2-D array; values are scaled to 0-255 over their own range.

    ``scale`` repeats each pixel (nearest neighbour), so small images stay crisp when shown large.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"png_bytes needs a non-empty 2-D array; got shape {arr.shape}")
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    grey = np.zeros(arr.shape) if hi <= lo else (arr - lo) / (hi - lo)
    data = np.nan_to_num(grey * 255.0).round().astype(np.uint8)
    if scale > 1:
        data = np.repeat(np.repeat(data, scale, axis=0), scale, axis=1)
    h, w = data.shape
    raw = b"".join(b"\x00" + data[i].tobytes() for i in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def image_src(value: Any) -> str | None:
    """A URL an ``<img>`` can show for a logged image value, or None when it is not one."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("data:image/"):
        return value
    img = pixels(value)
    if img is not None:
        if max(img.shape) > MAX_SIDE:
            return None
        scale = max(1, min(16, 256 // max(img.shape)))
        return "data:image/png;base64," + base64.b64encode(png_bytes(img, scale)).decode()
    if isinstance(value, str):
        text = value.strip()
        for magic, mime in _MAGIC.items():
            if text.startswith(magic):
                return f"data:{mime};base64,{text}"
    return None


def guess(spec: ModelSpec, event: dict[str, Any]) -> dict[str, Any]:
    """The model's prediction, its confidence and its top probabilities (highest first)."""
    probs = event.get("probabilities") or {}
    ranked = sorted(((str(c), float(p)) for c, p in probs.items() if p is not None), key=lambda cp: -cp[1])
    pred = event.get("prediction")
    conf = None
    if ranked:
        conf = dict(ranked).get(str(pred), ranked[0][1])
    elif event.get("score") is not None:
        conf = float(event["score"])
    if spec.is_classification and pred is not None and str(pred) not in (spec.class_names or []):
        pred = ranked[0][0] if ranked else None
    return {"label": pred, "confidence": conf, "top": [{"label": c, "p": p} for c, p in ranked[:5]]}


def present(spec: ModelSpec, event: dict[str, Any], ranges: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the labelling view shows for ``event`` (see the module docstring)."""
    inputs = event.get("inputs") or {}
    ranges = ranges or {}
    table: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    embeddings: list[dict[str, Any]] = []
    for f in spec.features:
        v = inputs.get(f.name)
        if f.kind is FeatureKind.numeric:
            row: dict[str, Any] = {"name": f.name, "kind": f.kind.value, "value": v, "out_of_range": False}
            rng = ranges.get(f.name)
            if rng is not None:
                row["range"] = rng
                if isinstance(v, int | float) and np.isfinite(v):
                    row["out_of_range"] = bool(v < rng[0] or v > rng[1])
            table.append(row)
        elif f.kind is FeatureKind.categorical:
            table.append({"name": f.name, "kind": f.kind.value, "value": v, "out_of_range": False})
        elif f.kind is FeatureKind.text:
            texts.append({"name": f.name, "value": v})
        elif f.kind is FeatureKind.image:
            images.append({"name": f.name, "src": image_src(v), "missing": v is None})
        else:
            vec = list(v) if isinstance(v, list) else []
            embeddings.append(
                {"name": f.name, "dim": len(vec), "head": [round(float(x), 4) for x in vec[:8]]}
            )
    kind = "image" if images else "text" if texts else "tabular"
    return {
        "kind": kind,
        "table": table,
        "texts": texts,
        "images": images,
        "embeddings": embeddings,
        "guess": guess(spec, event),
    }
