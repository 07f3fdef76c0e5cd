"""Cascades: for models linked by ``trace_id`` / ``parent_event_id``, which one shifted first.

When one model's output feeds another (a retriever, then a ranker; an OCR model, then a
classifier), a shift shows up downstream too, and the alert that matters is the first one.
:func:`cascade` finds the models that share trace ids with the given model over the range
(transitively), orders them by the ``parent_event_id`` links between their events
(upstream first), and for each reports the earliest window whose inputs, and whose outputs,
were flagged as drifted and stayed so (``persist`` windows in a row). The model that
shifted first is the likely origin.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flywheel.monitor.service import monitoring

MAX_IDS = 2000


def _ids(store: Any, model: str, column: str, since: datetime, until: datetime) -> set[str]:
    t = store.events.query(
        model,
        since=since,
        until=until,
        select=f"DISTINCT {column} AS v",
        where=[f"{column} IS NOT NULL"],
        limit=50_000,
    )
    return set(t.column("v").to_pylist()) if t.num_rows else set()


def _first_flagged(windows: list[dict[str, Any]], outputs: bool, persist: int) -> dict[str, Any] | None:
    """The first window that starts a run of ``persist`` flagged windows (or runs to the end).

    One flagged window alone is what chance gives now and then (each window is tested at the
    configured alpha); a shift that matters stays.
    """
    key = "outputs" if outputs else "features"
    flags = [[e["name"] for e in w["drift"][key] if e["flagged"]] for w in windows]
    for i, cols in enumerate(flags):
        run = flags[i : i + persist]
        if cols and all(run):
            w = windows[i]
            return {"window_start": w["start"], "window_end": w["end"], "columns": cols}
    return None


def cascade(
    store: Any, model: str, *, since: datetime, until: datetime, bucket: str = "hour", persist: int = 2
) -> dict[str, Any]:
    """The trace graph of ``model`` over ``[since, until)`` and where drift appeared first."""
    store.models.get(model)
    names = [m.name for m in store.models.list()]
    traces = {m: _ids(store, m, "trace_id", since, until) for m in names}
    graph = [model]
    frontier = [model]
    while frontier:
        cur = frontier.pop()
        for m in names:
            if m not in graph and traces[m] & traces[cur]:
                graph.append(m)
                frontier.append(m)
    edges: set[tuple[str, str]] = set()
    for child in graph:
        parents = sorted(_ids(store, child, "parent_event_id", since, until))[:MAX_IDS]
        if not parents:
            continue
        lits = ", ".join("'" + p.replace("'", "''") + "'" for p in parents)
        for parent in graph:
            if parent == child:
                continue
            hit = store.events.query(
                parent, since=since, until=until, select="count(*) AS n", where=[f"event_id IN ({lits})"]
            )
            if hit.num_rows and hit.column("n")[0].as_py():
                edges.add((parent, child))
    depth = {m: 0 for m in graph}
    for _ in graph:  # longest path from a root, bounded by the graph's size (cycles stop)
        for a, b in edges:
            depth[b] = max(depth[b], depth[a] + 1) if depth[a] + 1 <= len(graph) else depth[b]
    rows: list[dict[str, Any]] = []
    for m in graph:
        ts = monitoring(store, m, since=since, until=until, bucket=bucket)
        first_in = _first_flagged(ts["windows"], False, persist)
        first_out = _first_flagged(ts["windows"], True, persist)
        firsts = [f["window_start"] for f in (first_in, first_out) if f]
        rows.append(
            {
                "model": m,
                "depth": depth[m],
                "upstream": sorted(a for a, b in edges if b == m),
                "downstream": sorted(b for a, b in edges if a == m),
                "trace_ids": len(traces[m]),
                "first_input_drift": first_in,
                "first_output_drift": first_out,
                "first_drift": min(firsts) if firsts else None,
                "reference": ts.get("reference") is not None,
            }
        )
    rows.sort(key=lambda r: (r["first_drift"] is None, r["first_drift"] or "", r["depth"], r["model"]))
    origin = rows[0] if rows and rows[0]["first_drift"] else None
    if origin is None:
        summary = "no model in the trace graph shows flagged drift in this range"
    else:
        what = (
            "inputs"
            if origin["first_input_drift"]
            and origin["first_input_drift"]["window_start"] == origin["first_drift"]
            else "outputs"
        )
        summary = f"{origin['model']} shifted first: its {what} from {origin['first_drift']}"
    return {
        "model": model,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "bucket": bucket,
        "models": rows,
        "edges": sorted([a, b] for a, b in edges),
        "first": origin["model"] if origin else None,
        "summary": summary,
    }
