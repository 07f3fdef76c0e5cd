"""Agreement over an overlapping labelling queue: who labelled what, and how far they agree.

When items get ``k > 1`` annotators, :func:`agreement_report` summarises the labels of every
item that at least two people labelled, with the chance-corrected statistics of
:mod:`flywheel.label.agreement`:

- ``krippendorff_alpha`` over all overlapping items (any number of annotators, gaps allowed):
  the headline figure;
- ``fleiss_kappa`` over the items with the most common number of ratings ``m`` (Fleiss needs
  the same ``m`` everywhere; ``fleiss_items`` says how many items that was);
- ``cohen_kappa`` for every pair of annotators who share at least two items;
- ``percent_agreement``: the share of overlapping items where everyone gave the same label
  (not chance-corrected; easy to read);
- ``per_annotator``: labels given, median seconds per label, and how often each agrees with
  the others on shared items.

Class labels are compared at the ``nominal`` level; regression labels at the ``interval`` level.
Undefined statistics (one category only, too few items) are ``None``.

>>> rows = [("e1", "ana", "cat"), ("e1", "bo", "cat"), ("e2", "ana", "dog"), ("e2", "bo", "cat")]
>>> report = agreement_report(rows)
>>> report["items_with_overlap"], report["percent_agreement"]
(2, 0.5)
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from flywheel.errors import ValidationError
from flywheel.label.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, ratings_to_counts


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _key(value: Any, level: str) -> Any:
    if level == "nominal":
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return float(value)


def agreement_report(
    rows: Iterable[Sequence[Any]], *, level: str = "nominal", times: Iterable[float | None] | None = None
) -> dict[str, Any]:
    """Agreement statistics from ``(event_id, annotator, label)`` rows (see the module docstring).

    ``times`` gives the seconds spent per row (same order), for the per-annotator medians.
    """
    if level not in ("nominal", "interval"):
        raise ValidationError(f"The 'level' parameter must be 'nominal' or 'interval'; got {level!r}.")
    items: dict[str, dict[str, Any]] = defaultdict(dict)
    spent: dict[str, list[float]] = defaultdict(list)
    display: dict[Any, Any] = {}
    rows = list(rows)
    time_list = list(times) if times is not None else [None] * len(rows)
    for (eid, who, value), secs in zip(rows, time_list, strict=True):
        key = _key(value, level)
        display[key] = value
        items[str(eid)][str(who)] = key
        if secs is not None:
            spent[str(who)].append(float(secs))
    annotators = sorted({w for labels in items.values() for w in labels})
    multi = {e: labels for e, labels in items.items() if len(labels) >= 2}
    report: dict[str, Any] = {
        "level": level,
        "items": len(items),
        "labels": len(rows),
        "annotators": annotators,
        "items_with_overlap": len(multi),
        "percent_agreement": None,
        "krippendorff_alpha": None,
        "fleiss_kappa": None,
        "fleiss_items": 0,
        "cohen_kappa": [],
        "per_annotator": [],
    }
    agree_pairs: Counter[str] = Counter()
    shared_pairs: Counter[str] = Counter()
    for labels in multi.values():
        for (wa, va), (wb, vb) in combinations(sorted(labels.items()), 2):
            same = va == vb if level == "nominal" else math.isclose(va, vb)
            for w in (wa, wb):
                shared_pairs[w] += 1
                agree_pairs[w] += int(same)
    for who in annotators:
        mine = [e for e, labels in items.items() if who in labels]
        report["per_annotator"].append(
            {
                "annotator": who,
                "labels": len(mine),
                "median_seconds": float(np.median(spent[who])) if spent[who] else None,
                "agreement_with_others": agree_pairs[who] / shared_pairs[who] if shared_pairs[who] else None,
            }
        )
    if not multi:
        return report
    ordered = sorted(multi)
    report["percent_agreement"] = sum(len(set(multi[e].values())) == 1 for e in ordered) / len(ordered)
    matrix = [[multi[e].get(w) for e in ordered] for w in annotators]
    report["krippendorff_alpha"] = _finite(krippendorff_alpha(matrix, level=level))
    if level == "nominal":
        sizes = Counter(len(multi[e]) for e in ordered)
        m = max(sizes.items(), key=lambda kv: (kv[1], kv[0]))[0]
        same_m = [list(multi[e].values()) for e in ordered if len(multi[e]) == m]
        counts, _ = ratings_to_counts(same_m)
        report["fleiss_kappa"] = _finite(fleiss_kappa(counts))
        report["fleiss_items"] = len(same_m)
    for wa, wb in combinations(annotators, 2):
        shared = [e for e in ordered if wa in multi[e] and wb in multi[e]]
        if len(shared) < 2:
            continue
        va = [multi[e][wa] for e in shared]
        vb = [multi[e][wb] for e in shared]
        kappa = cohen_kappa(va, vb) if level == "nominal" else float("nan")
        report["cohen_kappa"].append({"a": wa, "b": wb, "items": len(shared), "kappa": _finite(kappa)})
    return report


def disagreements(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """``event_id -> {annotator: label}`` for items whose annotators gave different labels."""
    items: dict[str, dict[str, Any]] = defaultdict(dict)
    for eid, who, value in rows:
        items[str(eid)][str(who)] = value
    return {
        e: labels
        for e, labels in items.items()
        if len({json.dumps(v, sort_keys=True) for v in labels.values()}) > 1
    }
