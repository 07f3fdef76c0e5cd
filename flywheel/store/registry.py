"""Datasets, model versions, aliases, evaluations and gate policies: the registry's metadata.

Each store returns frozen dataclasses. The ``insert``/``move`` functions take a connection so
that a service can do several writes in one transaction (a model version together with the
dataset it was trained on; an alias move together with the blessing check it depends on).
"""

from __future__ import annotations

import builtins
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from flywheel.errors import NotFound
from flywheel.store.db import Database
from flywheel.store.meta import utcnow
from flywheel.store.registry_datasets import DatasetStore, _dumps, _plain
from flywheel.store.tables_registry import (
    alias_history,
    evaluations,
    gate_policies,
    model_aliases,
    model_versions,
)


# -- model versions ------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    artifact: str
    baseline_artifact: str | None
    trainer: str
    params: dict[str, Any]
    dataset_id: str | None
    metrics: dict[str, Any]
    code_version: str
    parent_version: int | None
    spec_version: int | None
    job_id: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def _version(r: Any) -> ModelVersion:
    return ModelVersion(
        r.model,
        r.version,
        r.artifact,
        r.baseline_artifact,
        r.trainer,
        orjson.loads(r.params),
        r.dataset_id,
        orjson.loads(r.metrics),
        r.code_version,
        r.parent_version,
        r.spec_version,
        r.job_id,
        r.created_at,
    )


class VersionStore:
    """Trained model versions, numbered 1, 2, ... per model."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def insert(
        conn: Connection,
        *,
        model: str,
        artifact: str,
        trainer: str,
        params: dict[str, Any],
        metrics: dict[str, Any],
        code_version: str,
        baseline_artifact: str | None = None,
        dataset_id: str | None = None,
        parent_version: int | None = None,
        spec_version: int | None = None,
        job_id: str | None = None,
    ) -> ModelVersion:
        c = model_versions.c
        latest = conn.execute(select(func.max(c.version)).where(c.model == model)).scalar()
        row = {
            "model": model,
            "version": (latest or 0) + 1,
            "artifact": artifact,
            "baseline_artifact": baseline_artifact,
            "trainer": trainer,
            "params": _dumps(params),
            "dataset_id": dataset_id,
            "metrics": _dumps(metrics),
            "code_version": code_version[:100],
            "parent_version": parent_version,
            "spec_version": spec_version,
            "job_id": job_id,
            "created_at": utcnow(),
        }
        conn.execute(model_versions.insert().values(**row))
        return _version(
            conn.execute(select(model_versions).where(c.model == model, c.version == row["version"])).one()
        )

    def get(self, model: str, version: int) -> ModelVersion:
        c = model_versions.c
        r = self.db.read(
            lambda conn: conn.execute(
                select(model_versions).where(c.model == model, c.version == version)
            ).first()
        )
        if r is None:
            raise NotFound(
                f"model {model!r} has no version {version}; `flywheel models versions {model}` lists them"
            )
        return _version(r)

    def list(self, model: str, limit: int = 500) -> builtins.list[ModelVersion]:
        c = model_versions.c
        stmt = select(model_versions).where(c.model == model).order_by(c.version.desc()).limit(limit)
        return [_version(r) for r in self.db.read(lambda conn: conn.execute(stmt).all())]

    def count(self, model: str) -> int:
        c = model_versions.c
        return self.db.read(
            lambda conn: conn.execute(
                select(func.count()).select_from(model_versions).where(c.model == model)
            ).scalar_one()
        )


# -- aliases -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AliasMove:
    id: int
    model: str
    alias: str
    action: str
    from_version: int | None
    to_version: int
    who: str
    at: datetime
    why: str
    override_reason: str | None
    evaluation_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


def _move(r: Any) -> AliasMove:
    return AliasMove(
        r.id,
        r.model,
        r.alias,
        r.action,
        r.from_version,
        r.to_version,
        r.who,
        r.at,
        r.why,
        r.override_reason,
        r.evaluation_id,
    )


class AliasStore:
    """Aliases (``champion``, ``challenger``, ...) pointing at versions, and every move ever made."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def current(conn: Connection, model: str, alias: str) -> int | None:
        c = model_aliases.c
        v = conn.execute(select(c.version).where(c.model == model, c.alias == alias)).scalar()
        return None if v is None else int(v)

    @staticmethod
    def move(
        conn: Connection,
        *,
        model: str,
        alias: str,
        to_version: int,
        action: str,
        who: str,
        why: str,
        override_reason: str | None = None,
        evaluation_id: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``to_version`` and append the move to the history."""
        c = model_aliases.c
        now = utcnow()
        before = AliasStore.current(conn, model, alias)
        if before is None:
            conn.execute(
                model_aliases.insert().values(model=model, alias=alias, version=to_version, updated_at=now)
            )
        else:
            conn.execute(
                model_aliases.update()
                .where(c.model == model, c.alias == alias)
                .values(version=to_version, updated_at=now)
            )
        res = conn.execute(
            alias_history.insert().values(
                model=model,
                alias=alias,
                action=action,
                from_version=before,
                to_version=to_version,
                who=who[:200],
                at=now,
                why=why,
                override_reason=override_reason,
                evaluation_id=evaluation_id,
            )
        )
        pk = res.inserted_primary_key
        assert pk is not None
        return _move(conn.execute(select(alias_history).where(alias_history.c.id == pk[0])).one())

    @staticmethod
    def history_in(conn: Connection, model: str, alias: str | None = None) -> builtins.list[AliasMove]:
        c = alias_history.c
        stmt = select(alias_history).where(c.model == model)
        if alias is not None:
            stmt = stmt.where(c.alias == alias)
        return [_move(r) for r in conn.execute(stmt.order_by(c.id)).all()]

    def history(self, model: str, alias: str | None = None) -> builtins.list[AliasMove]:
        """Every move, oldest first."""
        return self.db.read(lambda conn: self.history_in(conn, model, alias))

    def get(self, model: str, alias: str) -> int | None:
        return self.db.read(lambda conn: self.current(conn, model, alias))

    def all(self, model: str) -> dict[str, int]:
        c = model_aliases.c
        rows = self.db.read(
            lambda conn: conn.execute(
                select(c.alias, c.version).where(c.model == model).order_by(c.alias)
            ).all()
        )
        return {r.alias: int(r.version) for r in rows}


# -- evaluations ---------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluationRecord:
    evaluation_id: str
    model: str
    candidate_version: int
    champion_alias: str | None
    champion_version: int | None
    dataset_id: str | None
    eval_sets: builtins.list[dict[str, Any]]
    policy: dict[str, Any]
    passed: bool
    reasons: builtins.list[str]
    checks: builtins.list[dict[str, Any]]
    summary: dict[str, Any]
    report_artifact: str
    html_artifact: str
    job_id: str | None
    created_at: datetime

    def to_dict(self, checks: bool = True) -> dict[str, Any]:
        d = _plain(self)
        if not checks:
            d.pop("checks")
        return d


def _evaluation(r: Any) -> EvaluationRecord:
    return EvaluationRecord(
        r.evaluation_id,
        r.model,
        r.candidate_version,
        r.champion_alias,
        r.champion_version,
        r.dataset_id,
        orjson.loads(r.eval_sets),
        orjson.loads(r.policy),
        bool(r.passed),
        orjson.loads(r.reasons),
        orjson.loads(r.checks),
        orjson.loads(r.summary),
        r.report_artifact,
        r.html_artifact,
        r.job_id,
        r.created_at,
    )


class EvaluationStore:
    """Offline evaluations: blessings (passed) and refusals with their reasons."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        *,
        model: str,
        candidate_version: int,
        champion_alias: str | None,
        champion_version: int | None,
        dataset_id: str | None,
        eval_sets: builtins.list[dict[str, Any]],
        policy: dict[str, Any],
        passed: bool,
        reasons: builtins.list[str],
        checks: builtins.list[dict[str, Any]],
        summary: dict[str, Any],
        report_artifact: str,
        html_artifact: str,
        job_id: str | None = None,
    ) -> EvaluationRecord:
        eid = secrets.token_hex(8)
        row = {
            "evaluation_id": eid,
            "model": model,
            "candidate_version": candidate_version,
            "champion_alias": champion_alias,
            "champion_version": champion_version,
            "dataset_id": dataset_id,
            "eval_sets": _dumps(eval_sets),
            "policy": _dumps(policy),
            "passed": passed,
            "reasons": _dumps(reasons),
            "checks": _dumps(checks),
            "summary": _dumps(summary),
            "report_artifact": report_artifact,
            "html_artifact": html_artifact,
            "job_id": job_id,
            "created_at": utcnow(),
        }
        self.db.write(lambda c: c.execute(evaluations.insert().values(**row)))
        return self.get(model, eid)

    def get(self, model: str, evaluation_id: str) -> EvaluationRecord:
        c = evaluations.c
        r = self.db.read(
            lambda conn: conn.execute(
                select(evaluations).where(c.model == model, c.evaluation_id == evaluation_id)
            ).first()
        )
        if r is None:
            raise NotFound(f"model {model!r} has no evaluation {evaluation_id!r}")
        return _evaluation(r)

    def list(
        self, model: str, *, candidate_version: int | None = None, limit: int = 200
    ) -> builtins.list[EvaluationRecord]:
        c = evaluations.c
        stmt = select(evaluations).where(c.model == model)
        if candidate_version is not None:
            stmt = stmt.where(c.candidate_version == candidate_version)
        stmt = stmt.order_by(c.created_at.desc(), c.evaluation_id).limit(limit)
        return [_evaluation(r) for r in self.db.read(lambda conn: conn.execute(stmt).all())]

    @staticmethod
    def blessing(
        conn: Connection, model: str, candidate_version: int, champion_version: int | None
    ) -> EvaluationRecord | None:
        """The newest passing evaluation of the candidate against exactly ``champion_version``."""
        c = evaluations.c
        stmt = select(evaluations).where(
            c.model == model, c.candidate_version == candidate_version, c.passed.is_(True)
        )
        stmt = stmt.where(
            c.champion_version.is_(None)
            if champion_version is None
            else c.champion_version == champion_version
        )
        r = conn.execute(stmt.order_by(c.created_at.desc()).limit(1)).first()
        return None if r is None else _evaluation(r)


# -- gate policies -------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyRecord:
    model: str
    version: int
    config: dict[str, Any]
    who: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)


class PolicyStore:
    """Each model's evaluation config (gate policy, expectation tests), every version kept."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, model: str, config: dict[str, Any], who: str) -> PolicyRecord:
        c = gate_policies.c

        def fn(conn: Connection) -> int:
            latest = conn.execute(select(func.max(c.version)).where(c.model == model)).scalar()
            v = (latest or 0) + 1
            conn.execute(
                gate_policies.insert().values(
                    model=model, version=v, config=_dumps(config), who=who[:200], created_at=utcnow()
                )
            )
            return v

        v = self.db.write(fn)
        rec = self.get(model)
        assert rec is not None and rec.version == v
        return rec

    def get(self, model: str) -> PolicyRecord | None:
        c = gate_policies.c
        r = self.db.read(
            lambda conn: conn.execute(
                select(gate_policies).where(c.model == model).order_by(c.version.desc()).limit(1)
            ).first()
        )
        if r is None:
            return None
        return PolicyRecord(r.model, r.version, orjson.loads(r.config), r.who, r.created_at)


class RegistryStore:
    """The registry's metadata stores, over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.datasets = DatasetStore(db)
        self.versions = VersionStore(db)
        self.aliases = AliasStore(db)
        self.evaluations = EvaluationStore(db)
        self.policies = PolicyStore(db)
