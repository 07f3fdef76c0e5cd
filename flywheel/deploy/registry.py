"""The model registry: versions with their lineage, aliases, promotion behind the gate, rollback.

- :meth:`Registry.register` stores a fitted model's artifact (content-addressed, safe format)
  and then, in one transaction, its version row (and the dataset it was trained on, if that
  was built for it), so a crash leaves either a whole version or none.
- :meth:`Registry.promote` points an alias at a version only if an evaluation of that version
  against the alias's current target passed the gate (a *blessing*), unless an override reason
  is given, which is recorded. The blessing check and the move happen in one transaction.
- :meth:`Registry.rollback` moves an alias back to the target it had before its latest
  promotion, in one call; rolling back again goes one step further back.
- :meth:`Registry.history` is the append-only record of every move: who, when, why.

Artifacts are read back only through :func:`flywheel.train.load_model`, which refuses any type
that is not on its allow-list; nothing is unpickled.
"""

from __future__ import annotations

import builtins
import subprocess
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from flywheel import __version__
from flywheel.errors import Conflict, GateRefused, NotFound, ValidationError
from flywheel.schema import NAME_RE
from flywheel.store import Store
from flywheel.store.registry import AliasMove, AliasStore, EvaluationStore, ModelVersion, VersionStore
from flywheel.train.artifact import load_model
from flywheel.train.model import FittedModel

CHAMPION = "champion"


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version, plus ``git describe`` when running from a git checkout."""
    here = Path(__file__).resolve().parents[2]
    if (here / ".git").exists():
        try:
            out = subprocess.run(
                ["git", "describe", "--always", "--dirty", "--tags"],
                cwd=here,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return __version__
        if out.returncode == 0 and out.stdout.strip():
            return f"{__version__}+{out.stdout.strip()}"
    return __version__


def _check_alias(alias: str) -> None:
    if not isinstance(alias, str) or not NAME_RE.match(alias):
        raise ValidationError(
            f"The alias must match {NAME_RE.pattern} (e.g. 'champion', 'challenger'); got {alias!r}.",
            details=[{"field": "alias", "reason": "invalid name"}],
        )


def _check_why(why: str, what: str) -> str:
    if not isinstance(why, str) or not why.strip():
        raise ValidationError(
            f"A {what} needs a reason ('why'): it is kept in the alias history for whoever looks next.",
            details=[{"field": "why", "reason": "is required"}],
        )
    return why.strip()


def rollback_target(moves: Iterable[AliasMove]) -> int | None:
    """The version a rollback would restore: promotions push a target, rollbacks pop one."""
    stack: list[int] = []
    for mv in moves:
        if mv.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != mv.to_version:  # history written by hand: trust the move
                stack.append(mv.to_version)
        else:
            stack.append(mv.to_version)
    return stack[-2] if len(stack) >= 2 else None


class Registry:
    """Model versions, aliases and their history over one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- versions ---------------------------------------------------------------------------
    def versions(self, model: str) -> builtins.list[ModelVersion]:
        self.store.models.get(model)
        return self.store.registry.versions.list(model)

    def resolve(self, model: str, ref: int | str) -> int:
        """A version number from ``3``, ``"3"``, ``"v3"`` or an alias name."""
        if isinstance(ref, int) and not isinstance(ref, bool):
            return ref
        text = str(ref).strip()
        if text.isdigit():
            return int(text)
        if text[:1] == "v" and text[1:].isdigit():
            return int(text[1:])
        v = self.store.registry.aliases.get(model, text)
        if v is None:
            known = sorted(self.store.registry.aliases.all(model))
            raise NotFound(
                f"model {model!r} has no version or alias {text!r}; its aliases are {known}",
                details=[{"field": "version", "reason": "unknown version or alias"}],
            )
        return v

    def get(self, model: str, ref: int | str) -> ModelVersion:
        return self.store.registry.versions.get(model, self.resolve(model, ref))

    def aliases(self, model: str) -> dict[str, int]:
        return self.store.registry.aliases.all(model)

    def load_model(
        self, model: str, ref: int | str, *, baseline: bool = False, extra_trusted: Iterable[str] = ()
    ) -> FittedModel:
        """The fitted model of a version (or the baseline trained beside it), via the safe loader."""
        v = self.get(model, ref)
        digest = v.baseline_artifact if baseline else v.artifact
        if digest is None:
            raise NotFound(f"version {v.version} of {model!r} has no baseline model stored with it")
        return load_model(self.store.artifacts.get(digest), extra_trusted=extra_trusted)

    def register(
        self,
        model: str,
        fitted: FittedModel,
        *,
        baseline: FittedModel | None = None,
        dataset_id: str | None = None,
        metrics: dict[str, Any] | None = None,
        parent_version: int | None = None,
        job_id: str | None = None,
        also: Any = None,
    ) -> ModelVersion:
        """Store ``fitted`` as the next version of ``model``.

        The artifacts are written first (content-addressed, so a crash leaves at most an
        unreferenced file), then the version row in one transaction. ``also(conn)`` runs in
        that same transaction first and may return a dataset id (the training set built for
        this version). ``parent_version`` defaults to the current champion: the version this
        one was trained to replace.
        """
        rec = self.store.models.get(model)
        if fitted.spec.name != model:
            raise ValidationError(f"the fitted model is for {fitted.spec.name!r}, not {model!r}")
        artifact = self.store.artifacts.put(fitted.to_bytes())
        base_artifact = None if baseline is None else self.store.artifacts.put(baseline.to_bytes())

        def fn(conn: Connection) -> ModelVersion:
            ds_id = dataset_id
            if also is not None:
                ds_id = also(conn) or ds_id
            parent = parent_version
            if parent is None:
                parent = AliasStore.current(conn, model, CHAMPION)
            return VersionStore.insert(
                conn,
                model=model,
                artifact=artifact,
                baseline_artifact=base_artifact,
                trainer=fitted.trainer,
                params=fitted.params,
                metrics=metrics or {},
                code_version=code_version(),
                dataset_id=ds_id,
                parent_version=parent,
                spec_version=rec.spec_version,
                job_id=job_id,
            )

        return self.store.db.write(fn)

    # -- aliases ----------------------------------------------------------------------------
    def promote(
        self,
        model: str,
        version: int | str,
        alias: str = CHAMPION,
        *,
        who: str,
        why: str,
        override_reason: str | None = None,
    ) -> AliasMove:
        """Point ``alias`` at ``version``; needs a blessing against the alias's current target.

        Raises :class:`GateRefused` when there is none and no ``override_reason`` is given.
        """
        _check_alias(alias)
        why = _check_why(why, "promotion")
        override = override_reason.strip() if override_reason and override_reason.strip() else None
        v = self.get(model, version).version

        def fn(conn: Connection) -> AliasMove:
            current = AliasStore.current(conn, model, alias)
            if current == v:
                raise Conflict(f"alias {alias!r} of {model!r} already points at version {v}")
            blessing = EvaluationStore.blessing(conn, model, v, current)
            if blessing is None and override is None:
                against = "no champion" if current is None else f"version {current} (the current {alias!r})"
                raise GateRefused(
                    f"version {v} of {model!r} has no passing evaluation against {against}; "
                    f"evaluate it first (`flywheel evaluate {model} {v}`) or give an override reason, which is recorded.",
                    details=self._refusals(model, v, current),
                )
            return AliasStore.move(
                conn,
                model=model,
                alias=alias,
                to_version=v,
                action="promote",
                who=who,
                why=why,
                override_reason=override,
                evaluation_id=None if blessing is None else blessing.evaluation_id,
            )

        return self.store.db.write(fn)

    def _refusals(self, model: str, version: int, champion: int | None) -> builtins.list[dict[str, Any]]:
        """The reasons of the newest failed evaluation against ``champion``, for the error."""
        for ev in self.store.registry.evaluations.list(model, candidate_version=version):
            if ev.champion_version == champion and not ev.passed:
                return [
                    {"field": "evaluation", "reason": f"{ev.evaluation_id}: {r}"} for r in ev.reasons[:10]
                ]
        return []

    def rollback(self, model: str, alias: str = CHAMPION, *, who: str, why: str) -> AliasMove:
        """Move ``alias`` back to the target it had before its latest promotion."""
        _check_alias(alias)
        why = _check_why(why, "rollback")
        self.store.models.get(model)

        def fn(conn: Connection) -> AliasMove:
            moves = AliasStore.history_in(conn, model, alias)
            target = rollback_target(moves)
            if target is None:
                raise Conflict(
                    f"alias {alias!r} of {model!r} has no previous target to roll back to "
                    f"({len(moves)} move(s) in its history)"
                )
            return AliasStore.move(
                conn, model=model, alias=alias, to_version=target, action="rollback", who=who, why=why
            )

        return self.store.db.write(fn)

    def history(self, model: str, alias: str | None = None) -> builtins.list[AliasMove]:
        """Every move of ``model``'s aliases (or of one), oldest first."""
        self.store.models.get(model)
        return self.store.registry.aliases.history(model, alias)
