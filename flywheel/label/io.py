"""Labels in and out: CSV, JSON Lines and Label Studio JSON.

Pure converters between label dicts and text, no I/O: the fields of a label are those of
:class:`flywheel.schema.Label` (``event_id``, ``label``, ``label_id``, ``source``,
``annotator``, ``timestamp``, ``time_spent_s``), and every dict these functions return
validates as one. ``timestamp`` comes back as a timezone-aware or naive ``datetime``, as written.

- **CSV**: one row per label, a header of the fields. Cells are text, so the ``label_type``
  of the import says how to read labels back (``"str"``, ``"int"``, ``"float"`` or ``"json"``).
- **JSONL**: one JSON object per line; labels keep their JSON types.
- **Label Studio**: one task per event, ``data`` holding ``event_id`` (and any input fields
  you pass), one entry of ``annotations`` per label, its ``result`` a ``choices`` (class
  labels), ``number`` (regression), ``rating`` or ``textarea`` item. ``completed_by`` carries
  the annotator, ``created_at`` the time and ``lead_time`` the seconds spent; the model's
  guesses can go in ``predictions`` so Label Studio shows them pre-filled. Importing reads
  the same shape from a Label Studio export (cancelled annotations are skipped) and marks the
  labels ``source="import"``.

>>> rows = [{"event_id": "e1", "label": "cat", "annotator": "ana"}]
>>> labels_from_csv(labels_to_csv(rows))[0]["label"]
'cat'
>>> tasks = labels_to_label_studio(rows)
>>> tasks[0]["annotations"][0]["result"][0]["value"]
{'choices': ['cat']}
>>> labels_from_label_studio(tasks)[0]["annotator"]
'ana'
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from flywheel.errors import ValidationError

LABEL_FIELDS = ("event_id", "label", "label_id", "source", "annotator", "timestamp", "time_spent_s")
LABEL_TYPES = ("str", "int", "float", "json")
CONTROLS = ("auto", "choices", "number", "rating", "textarea")


def _as_dict(label: Any, row: int) -> dict[str, Any]:
    if hasattr(label, "model_dump"):
        label = label.model_dump()
    if not isinstance(label, Mapping):
        raise ValidationError(f"Label {row} must be a mapping of label fields; got {type(label).__name__}.")
    unknown = sorted(set(label) - set(LABEL_FIELDS))
    if unknown:
        raise ValidationError(f"Label {row} has unknown fields {unknown}; allowed: {list(LABEL_FIELDS)}.")
    for name in ("event_id", "label"):
        if label.get(name) is None or label.get(name) == "":
            raise ValidationError(f"Label {row} has no {name!r}.", details=[{"row": row, "field": name}])
    return {name: label.get(name) for name in LABEL_FIELDS}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _parse_time(value: Any, row: int) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(
            f"Label {row}: timestamp {value!r} is not an ISO 8601 time.",
            details=[{"row": row, "field": "timestamp"}],
        ) from None


def _parse_float(value: Any, row: int, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"Label {row}: {name} {value!r} is not a number.", details=[{"row": row, "field": name}]
        ) from None


def _finish(raw: Mapping[str, Any], row: int) -> dict[str, Any]:
    """Normalise optional fields: empty -> None, times parsed, numbers read."""
    out: dict[str, Any] = {}
    for name in LABEL_FIELDS:
        value = raw.get(name)
        out[name] = None if value == "" else value
    out["event_id"] = str(out["event_id"]) if out["event_id"] is not None else None
    if out["event_id"] is None or out["label"] is None:
        missing = "event_id" if out["event_id"] is None else "label"
        raise ValidationError(f"Label {row} has no {missing!r}.", details=[{"row": row, "field": missing}])
    out["timestamp"] = _parse_time(out["timestamp"], row)
    out["time_spent_s"] = _parse_float(out["time_spent_s"], row, "time_spent_s")
    return {k: v for k, v in out.items() if v is not None}


def labels_to_csv(labels: Iterable[Any]) -> str:
    """CSV text with a header row; non-string labels are written as JSON."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(LABEL_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row, label in enumerate(labels):
        d = _as_dict(label, row)
        value = d["label"]
        d["label"] = value if isinstance(value, str) else json.dumps(value)
        d["timestamp"] = _iso(d["timestamp"])
        writer.writerow({k: "" if v is None else v for k, v in d.items()})
    return buf.getvalue()


def labels_from_csv(text: str, *, label_type: str = "str") -> list[dict[str, Any]]:
    """Label dicts from CSV text with a header naming at least ``event_id`` and ``label``.

    Columns other than the label fields are ignored. ``label_type`` reads the label cells:
    ``"str"`` as they are, ``"int"``, ``"float"``, or ``"json"`` (lists, numbers, booleans).
    """
    if label_type not in LABEL_TYPES:
        raise ValidationError(
            f"The 'label_type' parameter must be one of {list(LABEL_TYPES)}; got {label_type!r}."
        )
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [f for f in ("event_id", "label") if f not in header]
    if missing:
        raise ValidationError(f"The CSV header lacks {missing}; it has {header}.")
    out = []
    for row, record in enumerate(reader):
        d = _finish({k: record.get(k) for k in LABEL_FIELDS}, row)
        d["label"] = _read_label(d["label"], label_type, row)
        out.append(d)
    return out


def _read_label(cell: str, label_type: str, row: int) -> Any:
    try:
        if label_type == "int":
            return int(cell)
        if label_type == "float":
            return float(cell)
        if label_type == "json":
            return json.loads(cell)
    except ValueError:
        raise ValidationError(
            f"Label {row}: {cell!r} is not a valid {label_type} label.",
            details=[{"row": row, "field": "label"}],
        ) from None
    return cell


def labels_to_jsonl(labels: Iterable[Any]) -> str:
    """JSON Lines: one label object per line (``None`` fields left out)."""
    lines = []
    for row, label in enumerate(labels):
        d = _as_dict(label, row)
        d["timestamp"] = _iso(d["timestamp"])
        lines.append(json.dumps({k: v for k, v in d.items() if v is not None}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)


def labels_from_jsonl(text: str) -> list[dict[str, Any]]:
    """Label dicts from JSON Lines; blank lines are skipped."""
    out = []
    for row, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Line {row + 1} is not valid JSON: {exc.msg}.") from None
        out.append(_finish(_as_dict(obj, row), row))
    return out


def _result(label: Any, control: str, from_name: str, to_name: str) -> dict[str, Any]:
    if control == "auto":
        if isinstance(label, bool | str | list):
            control = "choices"
        elif isinstance(label, int | float):
            control = "number"
        else:
            raise ValidationError(f"Cannot map label {label!r} to a Label Studio result; pass control=...")
    if control == "choices":
        value: dict[str, Any] = {
            "choices": [str(v) for v in label] if isinstance(label, list) else [str(label)]
        }
    elif control == "number":
        value = {"number": label}
    elif control == "rating":
        value = {"rating": label}
    else:
        value = {"text": [str(label)]}
    return {"from_name": from_name, "to_name": to_name, "type": control, "value": value}


def labels_to_label_studio(
    labels: Iterable[Any],
    *,
    data: Mapping[str, Mapping[str, Any]] | None = None,
    predictions: Mapping[str, Any] | None = None,
    from_name: str = "label",
    to_name: str = "input",
    control: str = "auto",
    model_version: str | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks, one per event (in first-seen order), each label an annotation.

    Args:
        data: event id -> input fields to show (e.g. ``{"text": ...}``), merged into ``data``.
        predictions: event id -> the model's label, or ``(label, score)``, as pre-annotations.
        from_name, to_name: the control and object tag names of the labelling config.
        control: result type: ``"auto"`` (strings and lists -> choices, numbers -> number),
            ``"choices"``, ``"number"``, ``"rating"`` or ``"textarea"``.
        model_version: written on the predictions.
    """
    if control not in CONTROLS:
        raise ValidationError(f"The 'control' parameter must be one of {list(CONTROLS)}; got {control!r}.")
    tasks: dict[str, dict[str, Any]] = {}
    for row, label in enumerate(labels):
        d = _as_dict(label, row)
        eid = str(d["event_id"])
        task = tasks.get(eid)
        if task is None:
            task = {"data": {"event_id": eid, **dict((data or {}).get(eid, {}))}, "annotations": []}
            tasks[eid] = task
        annotation: dict[str, Any] = {"result": [_result(d["label"], control, from_name, to_name)]}
        if d["annotator"] is not None:
            annotation["completed_by"] = d["annotator"]
        if d["timestamp"] is not None:
            annotation["created_at"] = _iso(d["timestamp"])
        if d["time_spent_s"] is not None:
            annotation["lead_time"] = d["time_spent_s"]
        task["annotations"].append(annotation)
    for eid, guess in (predictions or {}).items():
        task = tasks.setdefault(str(eid), {"data": {"event_id": str(eid), **dict((data or {}).get(eid, {}))}})
        value, score = guess if isinstance(guess, tuple) else (guess, None)
        prediction: dict[str, Any] = {"result": [_result(value, control, from_name, to_name)]}
        if score is not None:
            prediction["score"] = float(score)
        if model_version is not None:
            prediction["model_version"] = model_version
        task.setdefault("predictions", []).append(prediction)
    return list(tasks.values())


def _annotator(completed_by: Any) -> str | None:
    if completed_by is None:
        return None
    if isinstance(completed_by, Mapping):
        for key in ("email", "username", "id"):
            if completed_by.get(key) not in (None, ""):
                return str(completed_by[key])
        return None
    return str(completed_by)


def _value(item: Mapping[str, Any]) -> Any:
    kind, value = item.get("type"), item.get("value") or {}
    if kind in ("choices", "taxonomy") and "choices" in value:
        choices = value["choices"]
        return choices[0] if len(choices) == 1 else list(choices)
    if kind in ("number", "rating") and kind in value:
        return value[kind]
    if kind == "textarea" and "text" in value:
        text = value["text"]
        return text[0] if isinstance(text, list) and len(text) == 1 else text
    return None


def labels_from_label_studio(
    tasks: Any, *, event_id_key: str = "event_id", from_name: str | None = None
) -> list[dict[str, Any]]:
    """Label dicts from Label Studio tasks (a list, one task, or their JSON text).

    The event id is ``data[event_id_key]``, or the task ``id`` when the data lack it. Each
    non-cancelled annotation gives one label from its first ``choices``, ``number``,
    ``rating`` or ``textarea`` result (the one named ``from_name`` when given).
    """
    if isinstance(tasks, str):
        try:
            tasks = json.loads(tasks)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid Label Studio JSON: {exc.msg}.") from None
    if isinstance(tasks, Mapping):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise ValidationError("Label Studio JSON must be a task or a list of tasks.")
    out: list[dict[str, Any]] = []
    for t, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise ValidationError(f"Task {t} is not a JSON object.")
        data = task.get("data") or {}
        eid = data.get(event_id_key, task.get("id"))
        if eid is None:
            raise ValidationError(
                f"Task {t} has neither data[{event_id_key!r}] nor an id.",
                details=[{"row": t, "field": event_id_key}],
            )
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            items = [
                r
                for r in annotation.get("result") or []
                if from_name is None or r.get("from_name") == from_name
            ]
            values = [v for v in (_value(r) for r in items) if v is not None]
            if not values:
                continue
            raw = {
                "event_id": str(eid),
                "label": values[0],
                "source": "import",
                "annotator": _annotator(annotation.get("completed_by")),
                "timestamp": annotation.get("created_at"),
                "time_spent_s": annotation.get("lead_time"),
            }
            out.append(_finish(raw, t))
    return out
