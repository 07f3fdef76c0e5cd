"""What changed between two snapshots: rows added, removed, relabelled, and the class balance.

Rows are matched on ``event_id``. A row is *relabelled* when its label differs (compared as text,
so ``1`` and ``"1"`` are the same class). Class balance is each snapshot's label counts; the
change gives, per class, the counts, the shares and their differences. For a regression
snapshot (float labels) there is no class balance; relabelled rows are still listed.

>>> import pandas as pd
>>> from flywheel.datasets.snapshot import build_snapshot
>>> t = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True)
>>> events = pd.DataFrame({"event_id": ["a", "b", "c"], "timestamp": t, "ingested_at": t})
>>> old = build_snapshot(events[:2], pd.DataFrame({"event_id": ["a", "b"], "value": ['"x"', '"x"'],
...                                                "ingested_at": t[:2]}))
>>> new = build_snapshot(events[1:], pd.DataFrame({"event_id": ["b", "c"], "value": ['"y"', '"x"'],
...                                                "ingested_at": t[1:]}))
>>> d = diff(old, new)
>>> d.added, d.removed, [(r.event_id, r.old, r.new) for r in d.relabelled]
(['c'], ['a'], [('b', 'x', 'y')])
>>> d.class_balance_change["y"]["delta"]
1
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from flywheel.datasets.pit import describe
from flywheel.datasets.snapshot import Snapshot


@dataclass(frozen=True)
class Relabel:
    """One event whose label changed from ``old`` to ``new``."""

    event_id: str
    old: Any
    new: Any


@dataclass(frozen=True)
class SnapshotDiff:
    """The difference from snapshot ``a`` to snapshot ``b`` (ids are content hashes)."""

    a: str
    b: str
    added: list[str]
    removed: list[str]
    relabelled: list[Relabel]
    unchanged: int
    resplit: int
    class_balance_a: dict[str, int] | None
    class_balance_b: dict[str, int] | None
    class_balance_change: dict[str, dict[str, float]] | None = field(default=None)

    def to_dict(self, limit: int | None = 100) -> dict[str, Any]:
        """Plain JSON data; lists of ids are cut to ``limit`` entries (None: all), counts are exact."""

        def cut(xs: list[Any]) -> list[Any]:
            return xs if limit is None else xs[:limit]

        return {
            "a": self.a,
            "b": self.b,
            "counts": {
                "added": len(self.added),
                "removed": len(self.removed),
                "relabelled": len(self.relabelled),
                "unchanged": self.unchanged,
                "resplit": self.resplit,
            },
            "added": cut(self.added),
            "removed": cut(self.removed),
            "relabelled": [
                {"event_id": r.event_id, "old": r.old, "new": r.new} for r in cut(self.relabelled)
            ],
            "class_balance_a": self.class_balance_a,
            "class_balance_b": self.class_balance_b,
            "class_balance_change": self.class_balance_change,
        }


def _frame(s: Snapshot) -> pd.DataFrame:
    t = s.table
    return pd.DataFrame(
        {
            "event_id": pd.Series(t.column("event_id").to_pylist(), dtype=object),
            "label": pd.Series(t.column("label").to_pylist(), dtype=object),
            "split": pd.Series(t.column("split").to_pylist(), dtype=object),
        }
    )


def _balance_change(a: dict[str, int], b: dict[str, int]) -> dict[str, dict[str, float]]:
    na, nb = sum(a.values()), sum(b.values())
    out: dict[str, dict[str, float]] = {}
    for c in sorted(set(a) | set(b)):
        ca, cb = a.get(c, 0), b.get(c, 0)
        sa = ca / na if na else 0.0
        sb = cb / nb if nb else 0.0
        out[c] = {"a": ca, "b": cb, "delta": cb - ca, "share_a": sa, "share_b": sb, "share_delta": sb - sa}
    return out


def diff(a: Snapshot, b: Snapshot) -> SnapshotDiff:
    """Rows added to, removed from and relabelled in ``b`` relative to ``a``, and the class balance of each."""
    fa, fb = _frame(a), _frame(b)
    both = fa.merge(fb, on="event_id", how="outer", suffixes=("_a", "_b"), indicator=True, sort=True)
    added = both.loc[both["_merge"] == "right_only", "event_id"].tolist()
    removed = both.loc[both["_merge"] == "left_only", "event_id"].tolist()
    common = both[both["_merge"] == "both"]
    text_a = [describe(v) for v in common["label_a"]]
    text_b = [describe(v) for v in common["label_b"]]
    changed = [x != y for x, y in zip(text_a, text_b, strict=True)]
    relabelled = [
        Relabel(event_id=e, old=o, new=n)
        for e, o, n, c in zip(common["event_id"], common["label_a"], common["label_b"], changed, strict=True)
        if c
    ]
    ba, bb = a.manifest.class_balance, b.manifest.class_balance
    return SnapshotDiff(
        a=a.content_hash,
        b=b.content_hash,
        added=added,
        removed=removed,
        relabelled=relabelled,
        unchanged=len(common) - len(relabelled),
        resplit=int((common["split_a"] != common["split_b"]).sum()),
        class_balance_a=ba,
        class_balance_b=bb,
        class_balance_change=None if ba is None or bb is None else _balance_change(ba, bb),
    )
