"""Store contract: registered models and their versioned specs (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from flywheel.errors import NotFound
from flywheel.schema import ModelSpec
from flywheel.store import Store
from tests.store.helpers import SPEC, SPEC_DICT


def _changed(**extra: object) -> ModelSpec:
    doc = {**SPEC_DICT, "features": [*SPEC_DICT["features"], {"name": "tenure", "kind": "numeric"}]}
    return ModelSpec.model_validate({**doc, **extra})


def test_registering_a_new_model_creates_spec_version_1(store: Store) -> None:
    res = store.models.register(SPEC)
    assert (res.created, res.changed, res.record.spec_version) == (True, False, 1)
    rec = store.models.get("churn")
    assert rec.spec == SPEC
    assert rec.spec_version == 1
    assert rec.created_at.tzinfo is not None


def test_registering_the_same_spec_again_changes_nothing(store: Store) -> None:
    first = store.models.register(SPEC)
    again = store.models.register(ModelSpec.model_validate(SPEC_DICT))
    assert (again.created, again.changed, again.record.spec_version) == (False, False, 1)
    assert again.record.created_at == first.record.created_at
    assert [v for v, _, _ in store.models.spec_history("churn")] == [1]


def test_a_changed_spec_becomes_a_new_spec_version_and_keeps_the_history(store: Store) -> None:
    store.models.register(SPEC)
    new = _changed()
    res = store.models.register(new)
    assert (res.created, res.changed, res.record.spec_version) == (False, True, 2)
    assert store.models.get("churn").spec == new
    history = store.models.spec_history("churn")
    assert [(v, s) for v, s, _ in history] == [(1, SPEC), (2, new)]
    # Going back to the first spec is a change too: history only grows.
    back = store.models.register(SPEC)
    assert (back.changed, back.record.spec_version) == (True, 3)
    assert store.models.get("churn").spec == SPEC


def test_list_returns_every_model_by_name_with_its_current_spec(store: Store) -> None:
    store.models.register(ModelSpec.model_validate({**SPEC_DICT, "name": "zeta"}))
    store.models.register(SPEC)
    store.models.register(_changed())
    listed = store.models.list()
    assert [r.name for r in listed] == ["churn", "zeta"]
    assert [r.spec_version for r in listed] == [2, 1]
    assert listed[0].spec == _changed()


def test_list_of_an_empty_store_is_empty(store: Store) -> None:
    assert store.models.list() == []


def test_getting_an_unknown_model_raises_not_found_naming_it(store: Store) -> None:
    store.models.register(SPEC)
    with pytest.raises(NotFound, match="'nope'"):
        store.models.get("nope")
    assert store.models.spec_history("nope") == []


def test_a_spec_survives_the_round_trip_through_the_database_exactly(store: Store) -> None:
    rich = ModelSpec.model_validate(
        {
            **SPEC_DICT,
            "name": "rich",
            "task": "multiclass",
            "class_names": ["a", "b", "c"],
            "features": [
                {"name": "age", "kind": "numeric", "allow_nan": True, "nullable": False},
                {"name": "country", "kind": "categorical"},
                {"name": "vec", "kind": "embedding", "dim": 4},
                {"name": "note", "kind": "text"},
            ],
            "slices": ["country", {"name": "young", "expr": "age < 30"}],
        }
    )
    store.models.register(rich)
    got = store.models.get("rich").spec
    assert got == rich
    assert got.spec_hash() == rich.spec_hash()
