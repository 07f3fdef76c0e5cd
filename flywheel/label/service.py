"""Labelling over the store: hand out items, take annotations, skips, undos and adjudications.

Every label written here goes into the core ``labels`` table with its author, time, source
and time spent: ``source="annotator"`` for annotations, ``"adjudication"`` for adjudicators
(and for reviewed label errors, :mod:`flywheel.label.errors_job`). What one call returns is
what the labelling view draws: the queue item and why it was queued, the event as
:func:`flywheel.label.present.present` shows it, and the annotator's progress.

Labels are validated exactly as ``POST /v1/models/{m}/labels`` validates them (a class of the
model, or a finite number for regression), so no label of the wrong shape enters the store.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flywheel.errors import ValidationError
from flywheel.ingest.records import table_to_events
from flywheel.ingest.validate import validate_labels
from flywheel.label import io as label_io
from flywheel.label.overlap import agreement_report
from flywheel.label.present import present
from flywheel.schema import ModelSpec
from flywheel.store import Store
from flywheel.store.label import QueueItem

EXPORT_FORMATS = ("csv", "jsonl", "label-studio")
IMPORT_SOURCES = ("import", "annotator", "outcome", "adjudication")
_MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson", "label-studio": "application/json"}


class AnnotationRequest(BaseModel):
    """One annotator's answer for one queued event: a label, or a skip."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    annotator: str = Field(min_length=1, max_length=200)
    label: Any = Field(default=None, description="A class name (or a number for regression); not with skip.")
    skip: bool = Field(default=False, description="Decline the item instead of labelling it.")
    time_spent_s: float | None = Field(
        default=None, ge=0, le=86_400, description="Seconds from shown to answered."
    )
    submission_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Client-made id: a retried request is stored once.",
    )


class AdjudicationRequest(BaseModel):
    """An adjudicator's final label for an item whose annotators disagreed."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128)
    adjudicator: str = Field(min_length=1, max_length=200)
    label: Any
    time_spent_s: float | None = Field(default=None, ge=0, le=86_400)
    submission_id: str | None = Field(default=None, min_length=1, max_length=100)


def parse(model: type[BaseModel], doc: Any) -> Any:
    """Validate ``doc`` as ``model``, with one error entry per bad field."""
    from pydantic import ValidationError as PydanticError

    try:
        return model.model_validate(doc)
    except PydanticError as exc:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        raise ValidationError(
            "The request is not valid: " + "; ".join(f"{d['field']}: {d['reason']}" for d in details),
            details=details,
        ) from exc


def label_row(
    spec: ModelSpec,
    event_id: str,
    value: Any,
    *,
    source: str,
    author: str,
    time_spent_s: float | None,
    label_id: str | None = None,
) -> dict[str, Any]:
    """A validated row of the ``labels`` table."""
    item = {
        "event_id": event_id,
        "label": value,
        "label_id": label_id or f"{source[:3]}-{secrets.token_hex(8)}",
        "source": source,
        "annotator": author,
        "time_spent_s": time_spent_s,
    }
    return validate_labels(spec, [item], now=datetime.now(UTC))[0]


class LabellingService:
    """The labelling stage's operations over one store (used by the API, CLI and UI)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _spec(self, model: str) -> ModelSpec:
        return self.store.models.get(model).spec

    # -- what the labelling view shows ----------------------------------------------------
    def view(self, spec: ModelSpec, item: QueueItem, ranges: dict[str, Any] | None = None) -> dict[str, Any]:
        """An item with its event, as the labelling view draws it."""
        event = item.event
        if event is None:
            found = table_to_events(self.store.events.get(item.model, [item.event_id]))
            event = found[0] if found else {"event_id": item.event_id, "inputs": {}, "prediction": None}
        if ranges is None:
            ranges = self.store.labelling.run(item.run_id).context.get("ranges", {})
        return {
            **item.to_dict(),
            "reason": {
                "selector": item.selector,
                "signal": item.signal,
                "score": item.score,
                "for_evaluation": item.for_evaluation,
            },
            "event": {
                k: event.get(k)
                for k in ("event_id", "timestamp", "prediction", "probabilities", "score", "model_version")
            },
            "view": present(spec, event, ranges),
        }

    def task(self, model: str, spec: ModelSpec | None = None) -> dict[str, Any]:
        """What annotators answer for ``model``: the task and its classes (in key order)."""
        spec = spec or self._spec(model)
        return {"task": spec.task.value, "class_names": spec.class_names or []}

    def _next_payload(
        self, model: str, spec: ModelSpec, item: QueueItem | None, annotator: str, run_id: str | None
    ) -> dict[str, Any]:
        return {
            "item": None if item is None else self.view(spec, item),
            "progress": self.store.labelling.progress(model, annotator, run_id),
            **self.task(model, spec),
        }

    def next(self, model: str, annotator: str, run_id: str | None = None) -> dict[str, Any]:
        """Assign and return the next item for ``annotator``, with their progress."""
        spec = self._spec(model)
        item = self.store.labelling.next_item(model, annotator, run_id)
        return self._next_payload(model, spec, item, annotator, run_id)

    # -- answers ------------------------------------------------------------------------------
    def annotate(
        self, model: str, doc: Any, *, then_next: bool = False, run_id: str | None = None
    ) -> dict[str, Any]:
        """Store a label or a skip; return the item's new state and whether anything was new.

        With ``then_next`` the answer also carries the annotator's next item (``next``), assigned
        in the same transaction.
        """
        req: AnnotationRequest = parse(AnnotationRequest, doc)
        spec = self._spec(model)
        label_id = None
        if req.skip:
            if req.label is not None:
                raise ValidationError(
                    "Send either a label or skip=true, not both.",
                    details=[{"field": "skip", "reason": "with a label"}],
                )
            answer = self.store.labelling.skip(
                model, req.event_id, req.annotator, req.time_spent_s, then_next=then_next, run_id=run_id
            )
        else:
            if req.label is None:
                raise ValidationError(
                    "The 'label' field is required (or send skip=true).",
                    details=[{"field": "label", "reason": "is required"}],
                )
            row = label_row(
                spec,
                req.event_id,
                req.label,
                source="annotator",
                author=req.annotator,
                time_spent_s=req.time_spent_s,
                label_id=f"ann-{req.submission_id}" if req.submission_id else None,
            )
            label_id = row["label_id"]
            answer = self.store.labelling.annotate(
                model, req.event_id, req.annotator, row, req.time_spent_s, then_next=then_next, run_id=run_id
            )
        out: dict[str, Any] = {"item": answer.item.to_dict(), "created": answer.created, "label_id": label_id}
        if then_next:
            out["next"] = self._next_payload(model, spec, answer.next, req.annotator, run_id)
        return out

    def undo(self, model: str, annotator: str, run_id: str | None = None) -> dict[str, Any]:
        """Take back ``annotator``'s latest answer; the item comes back with what they had said."""
        res = self.store.labelling.undo(model, annotator, run_id)
        if res is None:
            return {
                "item": None,
                "previous": None,
                "progress": self.store.labelling.progress(model, annotator, run_id),
            }
        item, previous = res
        return {
            "item": self.view(self._spec(model), item),
            "previous": previous,
            "progress": self.store.labelling.progress(model, annotator, run_id),
            **self.task(model),
        }

    # -- adjudication ---------------------------------------------------------------------------
    def adjudications(self, model: str, limit: int = 50) -> dict[str, Any]:
        """Items whose annotators disagree, each with every annotator's label."""
        spec = self._spec(model)
        items = self.store.labelling.items(model, status="adjudicating", limit=limit, with_event=True)
        out = []
        for item in items:
            labels = [
                {
                    "annotator": x.annotator,
                    "label_id": x.label_id,
                    "status": x.status,
                    "time_spent_s": x.time_spent_s,
                }
                for x in self.store.labelling.assignments(model, item.event_id)
                if x.status == "labelled"
            ]
            values = {r.label_id: r.value for r in self.store.labels.list(model, event_ids=[item.event_id])}
            for lbl in labels:
                lbl["label"] = values.get(str(lbl["label_id"]))
            out.append({**self.view(spec, item), "labels": labels})
        return {"items": out, "count": self.store.labelling.counts(model)["adjudicating"], **self.task(model)}

    def adjudicate(self, model: str, doc: Any) -> dict[str, Any]:
        req: AdjudicationRequest = parse(AdjudicationRequest, doc)
        row = label_row(
            self._spec(model),
            req.event_id,
            req.label,
            source="adjudication",
            author=req.adjudicator,
            time_spent_s=req.time_spent_s,
            label_id=f"adj-{req.submission_id}" if req.submission_id else None,
        )
        item = self.store.labelling.adjudicate(model, req.event_id, row)
        return {"item": item.to_dict(), "label_id": row["label_id"]}

    # -- agreement ----------------------------------------------------------------------------
    def agreement(self, model: str, run_id: str | None = None) -> dict[str, Any]:
        spec = self._spec(model)
        labels = self.store.labelling.annotator_labels(model, run_id)
        report = agreement_report(
            [(x.event_id, x.annotator, x.value) for x in labels],
            level="nominal" if spec.is_classification else "interval",
            times=[x.time_spent_s for x in labels],
        )
        return {"model": model, "run_id": run_id, **report}

    # -- import and export --------------------------------------------------------------------
    def export(
        self,
        model: str,
        fmt: str,
        *,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> tuple[str, str]:
        """Labels of ``model`` as CSV, JSONL or Label Studio JSON; returns the text and its media type."""
        if fmt not in EXPORT_FORMATS:
            raise ValidationError(
                f"The 'format' parameter must be one of {list(EXPORT_FORMATS)}; got {fmt!r}.",
                details=[{"field": "format", "reason": "unknown format"}],
            )
        records = [
            r for r in self.store.labels.list(model, since=since, until=until) if source in (None, r.source)
        ]
        rows = [
            {
                "event_id": r.event_id,
                "label": r.value,
                "label_id": r.label_id,
                "source": r.source,
                "annotator": r.annotator,
                "timestamp": r.timestamp,
                "time_spent_s": r.time_spent_s,
            }
            for r in records
        ]
        if fmt == "csv":
            return label_io.labels_to_csv(rows), _MEDIA[fmt]
        if fmt == "jsonl":
            return label_io.labels_to_jsonl(rows), _MEDIA[fmt]
        import orjson

        data, predictions = self._task_data(model, sorted({r.event_id for r in records}))
        tasks = label_io.labels_to_label_studio(rows, data=data, predictions=predictions)
        return orjson.dumps(tasks, option=orjson.OPT_INDENT_2).decode(), _MEDIA[fmt]

    def _task_data(
        self, model: str, event_ids: list[str]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[Any, float | None]]]:
        """Inputs (for Label Studio's ``data``) and the model's guesses, by event id."""
        data: dict[str, dict[str, Any]] = {}
        guesses: dict[str, tuple[Any, float | None]] = {}
        for i in range(0, len(event_ids), 2000):
            for ev in table_to_events(self.store.events.get(model, event_ids[i : i + 2000])):
                data[ev["event_id"]] = dict(ev.get("inputs") or {})
                probs = ev.get("probabilities") or {}
                conf = probs.get(str(ev.get("prediction"))) if probs else ev.get("score")
                if ev.get("prediction") is not None:
                    guesses[ev["event_id"]] = (ev["prediction"], conf)
        return data, guesses

    def import_labels(
        self,
        model: str,
        text: str,
        fmt: str,
        *,
        label_type: str = "str",
        source: str | None = None,
    ) -> dict[str, int]:
        """Store labels from CSV, JSONL or Label Studio JSON text; re-imports are stored once.

        ``source`` overrides the rows' own source (which defaults to ``import``).
        """
        if source is not None and source not in IMPORT_SOURCES:
            raise ValidationError(
                f"The 'source' of imported labels must be one of {list(IMPORT_SOURCES)}; got {source!r}.",
                details=[{"field": "source", "reason": "unknown source"}],
            )
        spec = self._spec(model)
        if fmt == "csv":
            items = label_io.labels_from_csv(text, label_type=label_type)
        elif fmt == "jsonl":
            items = label_io.labels_from_jsonl(text)
        elif fmt == "label-studio":
            items = label_io.labels_from_label_studio(text)
        else:
            raise ValidationError(
                f"The 'format' parameter must be one of {list(EXPORT_FORMATS)}; got {fmt!r}.",
                details=[{"field": "format", "reason": "unknown format"}],
            )
        for it in items:
            if isinstance(it.get("timestamp"), datetime):
                it["timestamp"] = it["timestamp"].isoformat()
            if source is not None:
                it["source"] = source
            it.setdefault("source", "import")
        if not items:
            return {"accepted": 0, "duplicates": 0}
        rows = validate_labels(spec, items, now=datetime.now(UTC))
        accepted, duplicates = self.store.labels.add(model, rows)
        return {"accepted": accepted, "duplicates": duplicates}
