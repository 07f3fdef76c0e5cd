"""The registry: versions, promotion behind the gate, rollback, and a complete history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flywheel.deploy.registry import Registry, rollback_target
from flywheel.errors import Conflict, GateRefused, NotFound, ValidationError
from flywheel.schema import ModelSpec
from flywheel.store import Store
from flywheel.store.registry import AliasMove
from flywheel.train import TrainingData, UnsafeArtifact, get_trainer

from .helpers import register


class Payload:
    """Stands in for code an artifact should never get to run."""


def _fit(spec: ModelSpec, share_yes: float) -> object:
    n = 20
    frame = pd.DataFrame({"x": np.linspace(-1, 1, n), "country": ["A"] * n})
    y = np.array(["yes"] * int(n * share_yes) + ["no"] * (n - int(n * share_yes)))
    return get_trainer("baseline").fit(TrainingData(frame, y, spec))


def _versions(store: Store, k: int) -> Registry:
    spec = register(store)
    reg = Registry(store)
    for i in range(k):
        reg.register("m", _fit(spec, 0.2 + 0.1 * i), metrics={"i": i})  # type: ignore[arg-type]
    return reg


def _bless(store: Store, version: int, champion: int | None, passed: bool = True) -> str:
    digest = store.artifacts.put(b"{}")
    return store.registry.evaluations.add(
        model="m",
        candidate_version=version,
        champion_alias="champion",
        champion_version=champion,
        dataset_id=None,
        eval_sets=[],
        policy={},
        passed=passed,
        reasons=[] if passed else ["slice 'country=B' of eval set 'holdout': accuracy worse by 0.2"],
        checks=[],
        summary={},
        report_artifact=digest,
        html_artifact=digest,
    ).evaluation_id


def test_versions_are_numbered_and_load_through_the_safe_loader(store: Store) -> None:
    reg = _versions(store, 2)
    assert [v.version for v in reg.versions("m")] == [2, 1]
    v1 = reg.get("m", "v1")
    assert v1.metrics == {"i": 0} and v1.trainer == "baseline" and v1.code_version
    model = reg.load_model("m", 1)
    assert model.predict_proba(pd.DataFrame({"x": [0.0], "country": ["A"]})).shape == (1, 2)


def test_an_artifact_with_an_unlisted_type_is_refused_not_loaded(store: Store) -> None:
    from flywheel.train.model import SklearnModel

    spec = register(store)
    reg = Registry(store)
    # a payload holding a type that is not on the allow-list (here a harmless one)
    reg.register("m", SklearnModel(Payload(), spec=spec, trainer="custom", params={}))
    with pytest.raises(UnsafeArtifact, match="Payload"):
        reg.load_model("m", 1)


def test_promote_without_a_blessing_is_refused_and_moves_nothing(store: Store) -> None:
    reg = _versions(store, 1)
    with pytest.raises(GateRefused, match="no passing evaluation"):
        reg.promote("m", 1, who="ann", why="looks good")
    _bless(store, 1, None, passed=False)
    with pytest.raises(GateRefused) as err:
        reg.promote("m", 1, who="ann", why="looks good")
    assert "country=B" in str(err.value.details)
    assert reg.aliases("m") == {} and reg.history("m") == []


def test_a_blessing_counts_only_against_the_champion_it_was_judged_against(store: Store) -> None:
    reg = _versions(store, 3)
    eid = _bless(store, 1, None)
    assert reg.promote("m", 1, who="ann", why="first").evaluation_id == eid
    _bless(store, 3, None)  # judged with no champion: stale now that v1 is champion
    with pytest.raises(GateRefused):
        reg.promote("m", 3, who="ann", why="better")
    _bless(store, 3, 1)
    assert reg.promote("m", 3, who="ann", why="better").to_version == 3


def test_an_override_promotes_and_its_reason_is_recorded(store: Store) -> None:
    reg = _versions(store, 1)
    move = reg.promote("m", 1, who="ann", why="hotfix", override_reason="gate broken by bad labels, see #12")
    assert (move.to_version, move.override_reason, move.evaluation_id) == (
        1,
        "gate broken by bad labels, see #12",
        None,
    )
    with pytest.raises(ValidationError, match="why"):
        reg.promote("m", 1, "challenger", who="ann", why="  ", override_reason="x")


def test_rollback_restores_the_previous_champion_in_one_call(store: Store) -> None:
    reg = _versions(store, 3)
    for v, champ in ((1, None), (2, 1), (3, 2)):
        _bless(store, v, champ)
        reg.promote("m", v, who="ann", why=f"v{v}")
    back = reg.rollback("m", who="bob", why="v3 broke checkout")
    assert (back.from_version, back.to_version, back.action) == (3, 2, "rollback")
    assert reg.aliases("m") == {"champion": 2}
    assert reg.rollback("m", who="bob", why="v2 too").to_version == 1
    with pytest.raises(Conflict, match="no previous target"):
        reg.rollback("m", who="bob", why="nothing left")


def test_history_is_complete_and_in_order(store: Store) -> None:
    reg = _versions(store, 2)
    _bless(store, 1, None)
    reg.promote("m", 1, who="ann", why="first")
    reg.promote("m", 2, "challenger", who="ann", why="shadow it", override_reason="no gate for shadows")
    reg.promote("m", 2, who="cy", why="forced", override_reason="incident 7")
    reg.rollback("m", who="dee", why="revert")
    hist = reg.history("m")
    assert [(h.alias, h.action, h.from_version, h.to_version, h.who, h.why) for h in hist] == [
        ("champion", "promote", None, 1, "ann", "first"),
        ("challenger", "promote", None, 2, "ann", "shadow it"),
        ("champion", "promote", 1, 2, "cy", "forced"),
        ("champion", "rollback", 2, 1, "dee", "revert"),
    ]
    assert [h.override_reason for h in hist] == [None, "no gate for shadows", "incident 7", None]
    assert all(a.at <= b.at for a, b in zip(hist, hist[1:], strict=False))
    assert [h.alias for h in reg.history("m", "challenger")] == ["challenger"]
    assert reg.aliases("m") == {"champion": 1, "challenger": 2}


def test_promoting_to_the_current_target_or_an_unknown_version_fails(store: Store) -> None:
    reg = _versions(store, 1)
    reg.promote("m", 1, who="ann", why="first", override_reason="bootstrap")
    with pytest.raises(Conflict, match="already points"):
        reg.promote("m", 1, who="ann", why="again", override_reason="x")
    with pytest.raises(NotFound):
        reg.promote("m", 9, who="ann", why="x", override_reason="x")
    with pytest.raises(NotFound, match="no version or alias"):
        reg.get("m", "nope")


def _mv(action: str, to: int) -> AliasMove:
    from datetime import UTC, datetime

    return AliasMove(0, "m", "champion", action, None, to, "w", datetime.now(UTC), "y", None, None)


def test_rollback_target_walks_back_through_promotions() -> None:
    assert rollback_target([]) is None
    assert rollback_target([_mv("promote", 1)]) is None
    moves = [_mv("promote", 1), _mv("promote", 2), _mv("promote", 3)]
    assert rollback_target(moves) == 2
    assert rollback_target([*moves, _mv("rollback", 2)]) == 1
    assert rollback_target([*moves, _mv("rollback", 2), _mv("promote", 4)]) == 2
