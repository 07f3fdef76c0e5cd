"""Label resolution: choose one label per event when several exist, and record how.

Several labels may exist for one event: two annotators disagree, an outcome arrives after an
annotation, an adjudicator settles a dispute. :func:`resolve_labels` applies a
:class:`~flywheel.datasets.rules.LabelPolicy` and returns one row per event with the chosen
value and how it was chosen (``label_how``):

- ``only``: the event had one eligible label;
- ``latest``: the label made last (policy ``latest``);
- ``majority``: the most frequent value won outright;
- ``tie-adjudication``: votes tied and the latest adjudication label decided;
- ``tie-latest``: votes tied and the latest label among the tied values decided;
- ``adjudication``: policy ``adjudicated-first`` took the latest adjudication label;
- ``<source>:<how>``: policy ``source-priority`` voted among the labels of ``<source>`` only.

``label_agreement`` is the share of the event's eligible labels that agree with the chosen value
(1.0 when they all agree) and ``label_count`` how many there were.

"Latest" orders labels by when they were made (``timestamp``, else ``ingested_at``), then by
``ingested_at``, ``label_id`` and value, so the choice never depends on the input row order.

>>> import pandas as pd
>>> labels = pd.DataFrame({
...     "event_id": ["e1", "e1", "e1"],
...     "value": ['"cat"', '"dog"', '"cat"'],
...     "source": ["annotator", "annotator", "annotator"],
...     "ingested_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
... })
>>> row = resolve_labels(labels, "majority").iloc[0]
>>> row.label_key, row.label_how, round(float(row.label_agreement), 3)
('"cat"', 'majority', 0.667)
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from flywheel.datasets.rules import LABEL_SOURCES, LabelPolicy, parse_label_policy
from flywheel.errors import ValidationError

RESOLVED_COLUMNS = (
    "event_id",
    "label_key",
    "label_source",
    "label_id",
    "label_made_at",
    "label_ingested_at",
    "label_how",
    "label_count",
    "label_agreement",
)


def canonical_key(value: Any) -> str:
    """The canonical JSON text of a decoded label value: equal values give equal keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _keys(values: pd.Series, label_ids: pd.Series) -> pd.Series:
    """Canonical keys for a column of JSON-encoded (or already decoded) label values; None for null."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    keys: list[str | None] = []
    for i, raw in enumerate(uniques):
        if isinstance(raw, str):
            try:
                decoded = json.loads(raw)
            except ValueError:
                where = label_ids[codes == i].iloc[0]
                raise ValidationError(
                    f"Label value {raw[:60]!r} (label_id {where!r}) is not JSON; label values are stored "
                    f"JSON-encoded, e.g. '\"cat\"' or '1'.",
                    details=[{"field": "value", "reason": "not JSON"}],
                ) from None
        elif isinstance(raw, np.generic):
            decoded = raw.item()
        else:
            decoded = raw
        keys.append(None if decoded is None else canonical_key(decoded))
    out_arr = np.array([None, *keys], dtype=object)[codes + 1]
    return pd.Series(out_arr, index=values.index, dtype=object)


def prepare_labels(labels: pd.DataFrame | pa.Table, sources: tuple[str, ...] = LABEL_SOURCES) -> pd.DataFrame:
    """Normalise raw label rows: canonical keys, UTC times, one row per ``label_id``, eligible sources only.

    Required columns: ``event_id``, ``value`` (JSON text), ``ingested_at``. Optional: ``label_id``,
    ``source`` (default ``outcome``), ``timestamp`` (when the label was made; default its arrival).
    Labels whose value is JSON ``null`` are dropped. Rows come back sorted by event and recency.
    """
    df = labels.to_pandas() if isinstance(labels, pa.Table) else labels.copy()
    missing = [c for c in ("event_id", "value", "ingested_at") if c not in df.columns]
    if missing:
        raise ValidationError(
            f"The labels table lacks the column(s) {missing}; it needs event_id, value (JSON) and ingested_at.",
            details=[{"field": c, "reason": "missing column"} for c in missing],
        )
    n = len(df)
    out = pd.DataFrame(
        {
            "event_id": df["event_id"].astype(object).to_numpy(),
            "label_id": (df["label_id"] if "label_id" in df else pd.Series([None] * n))
            .astype(object)
            .to_numpy(),
            "source": (df["source"] if "source" in df else pd.Series([None] * n)).astype(object).to_numpy(),
            "ingested_at": pd.to_datetime(df["ingested_at"], utc=True).to_numpy(),
        }
    )
    out["ingested_at"] = pd.to_datetime(out["ingested_at"], utc=True).astype("datetime64[us, UTC]")
    if out["ingested_at"].isna().any():
        raise ValidationError(
            "Every label needs ingested_at (when it arrived); some are null.",
            details=[{"field": "ingested_at", "reason": "null"}],
        )
    if out["event_id"].isna().any():
        raise ValidationError(
            "Every label needs an event_id; some are null.", details=[{"field": "event_id", "reason": "null"}]
        )
    made = pd.to_datetime(df["timestamp"], utc=True).to_numpy() if "timestamp" in df else None
    out["made_at"] = out["ingested_at"] if made is None else pd.Series(made).astype("datetime64[us, UTC]")
    out["made_at"] = out["made_at"].fillna(out["ingested_at"])
    out["source"] = out["source"].where(out["source"].notna(), "outcome")
    unknown = sorted(set(out["source"]) - set(LABEL_SOURCES))
    if unknown:
        raise ValidationError(
            f"Label sources must be among {list(LABEL_SOURCES)}; got {unknown}.",
            details=[{"field": "source", "reason": f"unknown {s!r}"} for s in unknown],
        )
    out["label_id"] = out["label_id"].where(out["label_id"].notna(), "")
    out["key"] = _keys(pd.Series(df["value"].to_numpy(), dtype=object), out["label_id"])
    out = out[out["key"].notna() & out["source"].isin(list(sources))]
    # A retried label (same label_id) counts once: keep its first arrival.
    has_id = out["label_id"] != ""
    first = out[has_id].sort_values(["ingested_at", "key"], kind="stable").drop_duplicates("label_id")
    out = pd.concat([first, out[~has_id]])
    out = out.sort_values(["event_id", "made_at", "ingested_at", "label_id", "key", "source"], kind="stable")
    return out.reset_index(drop=True)


def _majority(sub: pd.DataFrame, adjudication_breaks_ties: bool) -> tuple[pd.Series, pd.Series]:
    """Chosen row position and how, per event, by vote; ties to adjudication (optional) else latest."""
    votes = (
        sub.groupby(["event_id", "key"], sort=False)["pos"]
        .agg(count="size", last="max")
        .reset_index()
        .sort_values(["event_id", "count", "last"], kind="stable")
    )
    top = votes.groupby("event_id", sort=True).tail(1).set_index("event_id")
    is_top = votes["count"] == votes.groupby("event_id")["count"].transform("max")
    tied = is_top.groupby(votes["event_id"]).sum().reindex(top.index) > 1
    n = sub.groupby("event_id").size().reindex(top.index)
    chosen = top["last"].copy()
    how = pd.Series(np.where(n > 1, "majority", "only"), index=top.index, dtype=object)
    how[tied] = "tie-latest"
    if adjudication_breaks_ties:
        adj = sub[sub["source"] == "adjudication"].groupby("event_id")["pos"].max()
        settle = tied & tied.index.isin(adj.index)
        chosen[settle] = adj.reindex(chosen.index)[settle]
        how[settle] = "tie-adjudication"
    return chosen, how


def resolve_labels(labels: pd.DataFrame | pa.Table, policy: LabelPolicy | str = "latest") -> pd.DataFrame:
    """One chosen label per event under ``policy``; columns :data:`RESOLVED_COLUMNS`, sorted by event_id.

    ``labels`` is raw label rows (see :func:`prepare_labels`); the caller filters them to what had
    arrived by the snapshot's ``as_of`` first. Events with no eligible label are absent.
    """
    pol = parse_label_policy(policy)
    df = prepare_labels(labels, pol.sources)
    if df.empty:
        return _empty()
    df["pos"] = np.arange(len(df))
    by_event = df.groupby("event_id", sort=True)
    n = by_event.size()
    if pol.policy == "latest":
        chosen = by_event["pos"].max()
        how = pd.Series(np.where(n > 1, "latest", "only"), index=n.index, dtype=object)
    elif pol.policy == "majority":
        chosen, how = _majority(df, adjudication_breaks_ties=True)
    elif pol.policy == "adjudicated-first":
        adj = df[df["source"] == "adjudication"].groupby("event_id")["pos"].max()
        rest = df[~df["event_id"].isin(adj.index)]
        c_rest, h_rest = _majority(rest, adjudication_breaks_ties=False)
        chosen = pd.concat([adj, c_rest]).sort_index()
        how = pd.concat([pd.Series("adjudication", index=adj.index, dtype=object), h_rest]).sort_index()
    else:  # source-priority
        rank = df["source"].map({s: i for i, s in enumerate(pol.sources)})
        best = rank == rank.groupby(df["event_id"]).transform("min")
        chosen, sub_how = _majority(df[best], adjudication_breaks_ties=False)
        how = df.loc[chosen.to_numpy(), "source"].to_numpy() + ":" + sub_how
    rows = df.loc[chosen.to_numpy()].reset_index(drop=True)
    agree = df.groupby(["event_id", "key"], sort=False).size()
    agreeing = agree.reindex(pd.MultiIndex.from_arrays([rows["event_id"], rows["key"]])).to_numpy()
    counts = n.reindex(rows["event_id"]).to_numpy()
    return pd.DataFrame(
        {
            "event_id": rows["event_id"].to_numpy(dtype=object),
            "label_key": rows["key"].to_numpy(dtype=object),
            "label_source": rows["source"].to_numpy(dtype=object),
            "label_id": rows["label_id"].to_numpy(dtype=object),
            "label_made_at": rows["made_at"].to_numpy(),
            "label_ingested_at": rows["ingested_at"].astype("datetime64[us, UTC]"),
            "label_how": how.reindex(rows["event_id"]).to_numpy(dtype=object),
            "label_count": counts.astype(np.int64),
            "label_agreement": agreeing.astype(np.float64) / counts,
        }
    )


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": pd.Series([], dtype=object),
            "label_key": pd.Series([], dtype=object),
            "label_source": pd.Series([], dtype=object),
            "label_id": pd.Series([], dtype=object),
            "label_made_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "label_ingested_at": pd.Series([], dtype="datetime64[us, UTC]"),
            "label_how": pd.Series([], dtype=object),
            "label_count": pd.Series([], dtype=np.int64),
            "label_agreement": pd.Series([], dtype=np.float64),
        }
    )
