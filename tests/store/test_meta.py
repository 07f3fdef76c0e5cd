"""Store contract: event index, labels, feedback and API keys (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from flywheel.errors import NotFound, ValidationError
from flywheel.store import Store
from flywheel.store import tables as t

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# -- event index ---------------------------------------------------------------------------
T0 = 1_772_366_400_000_000  # an event time, in µs since the epoch


def keys(ids: list[str], ts: int = T0) -> list[tuple[int, str]]:
    return [(ts + i, e) for i, e in enumerate(ids)]


def test_event_index_knows_only_the_ids_it_was_given_per_model(store: Store) -> None:
    assert store.event_index.existing("churn", keys(["a", "b"])) == set()
    store.event_index.add("churn", keys(["a", "b", "c"]), NOW)
    assert store.event_index.existing("churn", keys(["a", "b", "c", "x"])) == {"a", "b", "c"}
    assert store.event_index.existing("other", keys(["a", "b", "c"])) == set()
    assert store.event_index.count("churn") == 3
    assert store.event_index.count("other") == 0


def test_event_index_key_includes_the_event_time(store: Store) -> None:
    # A retry carries the same event time; the same id at another time is another event
    # as far as the index goes (readers of the log still keep one copy per id).
    store.event_index.add("churn", [(T0, "a")], NOW)
    assert store.event_index.existing("churn", [(T0, "a")]) == {"a"}
    assert store.event_index.existing("churn", [(T0 + 1, "a")]) == set()


def test_event_index_add_is_idempotent(store: Store) -> None:
    store.event_index.add("churn", keys(["a", "b"]), NOW)
    store.event_index.add("churn", keys(["a", "b", "c"]), NOW + timedelta(hours=1))
    store.event_index.add("churn", keys(["a", "b", "c"]), NOW + timedelta(hours=2))
    assert store.event_index.count("churn") == 3
    # The first arrival time is kept.
    rows = store.db.read(
        lambda c: dict(c.execute(select(t.event_index.c.event_id, t.event_index.c.ingested_at)).all())
    )
    assert rows == {"a": NOW, "b": NOW, "c": NOW + timedelta(hours=1)}


def test_event_index_handles_more_ids_than_one_sql_statement_holds(store: Store) -> None:
    ids = [f"ev-{i:06d}" for i in range(12_000)]
    store.event_index.add("churn", keys(ids), NOW)
    assert store.event_index.count("churn") == 12_000
    probe = keys(ids)[::7] + keys([f"new-{i}" for i in range(6000)], T0 + 10**9)
    assert store.event_index.existing("churn", probe) == set(ids[::7])


# -- labels and feedback ----------------------------------------------------------------------
def _label(label_id: str, event_id: str, value: Any, at: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "label_id": label_id,
        "event_id": event_id,
        "value": f'"{value}"' if isinstance(value, str) else str(value),
        "source": kw.get("source", "outcome"),
        "annotator": kw.get("annotator"),
        "timestamp": at,
        "ingested_at": at,
        "time_spent_s": kw.get("time_spent_s"),
    }


def _feedback(feedback_id: str, event_id: str, kind: str, at: datetime, value: Any = None) -> dict[str, Any]:
    return {
        "feedback_id": feedback_id,
        "event_id": event_id,
        "kind": kind,
        "value": None if value is None else str(value),
        "comment": None,
        "timestamp": at,
        "ingested_at": at,
    }


def test_labels_add_counts_accepted_and_duplicates_and_stores_each_once(store: Store) -> None:
    rows = [_label(f"l{i}", f"e{i}", "stay", NOW) for i in range(4)]
    assert store.labels.add("churn", rows) == (4, 0)
    assert store.labels.add("churn", rows) == (0, 4)
    more = rows[2:] + [_label("l9", "e9", "churn", NOW)]
    assert store.labels.add("churn", more) == (1, 2)
    assert store.labels.count("churn") == 5
    # Ids are per model: the same label id under another model is a different label.
    assert store.labels.add("other", rows[:1]) == (1, 0)
    assert store.labels.count("churn") == 5


def test_labels_list_by_event_ids_returns_every_label_of_those_events(store: Store) -> None:
    store.labels.add(
        "churn",
        [
            _label("l1", "e1", "stay", NOW, source="annotator", annotator="ann", time_spent_s=2.5),
            _label("l2", "e1", "churn", NOW + timedelta(seconds=1), source="annotator", annotator="bob"),
            _label("l3", "e2", "stay", NOW),
            _label("l4", "e3", 4.5, NOW),
        ],
    )
    got = store.labels.list("churn", event_ids=["e1", "e3"])
    assert [(g.label_id, g.event_id, g.value) for g in got] == [
        ("l1", "e1", "stay"),
        ("l4", "e3", 4.5),
        ("l2", "e1", "churn"),
    ]
    first = got[0]
    assert (first.source, first.annotator, first.time_spent_s) == ("annotator", "ann", 2.5)
    assert first.timestamp == NOW and first.ingested_at == NOW
    assert store.labels.list("churn", event_ids=["zzz"]) == []
    assert store.labels.list("other") == []


def test_labels_list_by_arrival_time_is_half_open_and_ordered(store: Store) -> None:
    store.labels.add(
        "churn", [_label(f"l{i}", f"e{i}", "stay", NOW + timedelta(minutes=i)) for i in (3, 0, 2, 1)]
    )
    ids = lambda xs: [x.label_id for x in xs]  # noqa: E731
    assert ids(store.labels.list("churn")) == ["l0", "l1", "l2", "l3"]
    window = store.labels.list("churn", since=NOW + timedelta(minutes=1), until=NOW + timedelta(minutes=3))
    assert ids(window) == ["l1", "l2"]
    assert ids(store.labels.list("churn", limit=2)) == ["l0", "l1"]


def test_feedback_add_is_idempotent_and_lists_by_event_and_time(store: Store) -> None:
    rows = [
        _feedback("f1", "e1", "thumbs_down", NOW),
        _feedback("f2", "e1", "outcome", NOW + timedelta(minutes=1), value=3),
        _feedback("f3", "e2", "flag", NOW + timedelta(minutes=2)),
    ]
    assert store.feedback.add("churn", rows) == (3, 0)
    assert store.feedback.add("churn", rows) == (0, 3)
    assert store.feedback.add("churn", [*rows, _feedback("f4", "e3", "thumbs_up", NOW)]) == (1, 3)
    assert store.feedback.count("churn") == 4
    got = store.feedback.list("churn", event_ids=["e1"])
    assert [(f.feedback_id, f.kind, f.value) for f in got] == [
        ("f1", "thumbs_down", None),
        ("f2", "outcome", 3),
    ]
    late = store.feedback.list("churn", since=NOW + timedelta(minutes=1))
    assert [f.feedback_id for f in late] == ["f2", "f3"]


# -- API keys -------------------------------------------------------------------------------
def test_a_created_key_verifies_with_its_scopes(store: Store) -> None:
    key, token = store.keys.create("ci", ["ingest", "read"])
    got = store.keys.verify(token)
    assert got is not None
    assert (got.key_id, got.name, got.scopes, got.revoked_at) == (key.key_id, "ci", ("ingest", "read"), None)
    assert got.allows("ingest") and got.allows("read") and not got.allows("admin")


def test_an_admin_key_allows_every_scope(store: Store) -> None:
    _, token = store.keys.create("root", ["admin"])
    got = store.keys.verify(token)
    assert got is not None and all(got.allows(s) for s in ("ingest", "read", "admin"))


def test_keys_are_stored_hashed_never_in_clear(store: Store) -> None:
    _, token = store.keys.create("ci", ["read"])
    rows = store.db.read(lambda c: c.execute(select(t.api_keys)).all())
    assert len(rows) == 1
    assert all(token not in str(v) and token.split("_", 2)[2] not in str(v) for v in rows[0])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda tok: tok[:-1] + ("A" if tok[-1] != "A" else "B"),  # right id, wrong secret
        lambda tok: "fw_000000000000_" + tok.split("_", 2)[2],  # unknown id
        lambda tok: "not-a-key",
        lambda tok: "",
        lambda tok: tok.replace("fw_", "xx_", 1),
    ],
    ids=["wrong-secret", "unknown-id", "garbage", "empty", "wrong-prefix"],
)
def test_an_unknown_or_altered_key_does_not_verify(store: Store, mangle: Any) -> None:
    _, token = store.keys.create("ci", ["read"])
    assert store.keys.verify(mangle(token)) is None


def test_a_revoked_key_verifies_as_revoked_and_allows_nothing(store: Store) -> None:
    key, token = store.keys.create("ci", ["admin"])
    other, other_token = store.keys.create("keep", ["read"])
    store.keys.revoke(key.key_id)
    got = store.keys.verify(token)
    assert got is not None and got.revoked_at is not None
    assert not any(got.allows(s) for s in ("ingest", "read", "admin"))
    kept = store.keys.verify(other_token)
    assert kept is not None and kept.revoked_at is None
    # Revoking again is harmless; the list shows both keys, one revoked.
    store.keys.revoke(key.key_id)
    listed = {k.key_id: k.revoked_at is not None for k in store.keys.list()}
    assert listed == {key.key_id: True, other.key_id: False}


def test_revoking_an_unknown_key_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="'nope'"):
        store.keys.revoke("nope")


@pytest.mark.parametrize("scopes", [[], ["write"], ["read", "root"]])
def test_keys_with_unknown_or_no_scopes_are_refused(store: Store, scopes: list[str]) -> None:
    with pytest.raises(ValidationError, match="scopes"):
        store.keys.create("bad", scopes)
    assert store.keys.list() == []
