"""The model registry: numbered model versions, named aliases and the audit trail of promotions.

A *model version* is a run that produced a model, registered once (``v1``, ``v2``, ...) with a
snapshot of what it was at the time: family, task, dataset fingerprint, model file, sha256, size
and test metrics. An *alias* (``champion``, ``challenger``, any ``[a-z][a-z0-9_-]*`` name other
than ``vN``) points at one version. Aliases move only through :func:`promote`, which follows
the evidence: the latest comparison of the candidate against the alias's current holder must
say ``promote`` unless the promotion is forced. Every move appends an :class:`AliasEvent`
(who, when, why, from, to, forced, comparison id) that is never rewritten.

Errors::

    WorkbenchError
    ├── RegistryError               bad alias name, a run that cannot be registered
    │   └── PromotionRefused        the evidence says hold, or there is none (exit 1)
    └── RunNotFound (KeyError)      an unknown run id, version or alias (workbench.exceptions)

Example::

    v = register_model(store, run_id)                     # ModelVersion(version=3, ...)
    promote(store, run_id, "champion", reason="first model")
    resolve_ref(store, "champion")                        # -> run id
    audit_trail(store, alias="champion")
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .exceptions import ModelError, RunNotFound, WorkbenchError
from .store import RunStatus, Store, utcnow

__all__ = [
    "ALIAS_PATTERN",
    "AliasEvent",
    "ModelVersion",
    "Promotion",
    "PromotionRefused",
    "RegistryError",
    "aliases",
    "audit_trail",
    "check_alias",
    "get_version",
    "list_models",
    "promote",
    "register_model",
    "resolve_ref",
    "version_of_run",
]

ALIAS_PATTERN = re.compile(r"[a-z][a-z0-9_-]*")
_VERSION_REF = re.compile(r"[vV](\d+)")
_MAX_ALIAS = 64  # the column width of wb_aliases.name


class RegistryError(WorkbenchError):
    """A registry operation cannot be done as asked (bad alias, unregistrable run)."""


class PromotionRefused(RegistryError):
    """The comparison against the alias's current holder says hold, or no comparison exists."""

    exit_code = 1


# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelVersion:
    """One registered model.

    Attributes:
        version: The version number (``v<version>`` in references).
        run_id: The run that produced the model.
        family: Model family (logreg, rf, hgb).
        task: classification or regression.
        dataset_fingerprint: sha256 of the training data.
        model_path: The skops file.
        sha256: Its hash when registered.
        size: Its size in bytes.
        metrics: Test metrics when registered, ``{name: {"value", "ci95"?}}``.
        created_at: When it was registered.
        aliases: The aliases pointing at it now.
    """

    version: int
    run_id: str
    family: str | None
    task: str | None
    dataset_fingerprint: str | None
    model_path: str
    sha256: str
    size: int
    metrics: dict[str, Any]
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "ref": self.ref,
            "run_id": self.run_id,
            "family": self.family,
            "task": self.task,
            "dataset_fingerprint": self.dataset_fingerprint,
            "model_path": self.model_path,
            "sha256": self.sha256,
            "size": self.size,
            "metrics": self.metrics,
            "created_at": self.created_at.isoformat(),
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class AliasEvent:
    """One change of an alias, as kept in the audit trail.

    Attributes:
        id: Sequence number of the event.
        alias: The alias that moved.
        from_version: The previous holder (``None`` for a new alias).
        to_version: The new holder.
        from_run: Run id of the previous holder.
        to_run: Run id of the new holder.
        actor: Who moved it (the OS user unless given).
        reason: Why, in the actor's words or the comparison's.
        forced: Whether ``force`` overrode the evidence (a ``hold`` or a missing comparison).
        comparison_id: The comparison that justified (or was overridden by) the move.
        at: When.
    """

    id: int
    alias: str
    from_version: int | None
    to_version: int | None
    from_run: str | None
    to_run: str | None
    actor: str
    reason: str
    forced: bool
    comparison_id: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alias": self.alias,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "from_run": self.from_run,
            "to_run": self.to_run,
            "actor": self.actor,
            "reason": self.reason,
            "forced": self.forced,
            "comparison_id": self.comparison_id,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did.

    Attributes:
        alias: The alias.
        version: The version it now points at.
        run_id: That version's run.
        changed: False when the alias already pointed there (nothing recorded).
        event: The audit event appended (``None`` when nothing changed).
        message: One line for the CLI.
    """

    alias: str
    version: int
    run_id: str
    changed: bool
    event: AliasEvent | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "version": self.version,
            "run_id": self.run_id,
            "changed": self.changed,
            "event": self.event.to_dict() if self.event else None,
            "message": self.message,
        }


# -- helpers ------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def check_alias(name: str) -> str:
    """Return ``name`` if it can name an alias.

    Raises:
        RegistryError: It does not match ``[a-z][a-z0-9_-]*``, is longer than 64 characters,
            or looks like a version reference (``v3``).
    """
    if not isinstance(name, str) or not ALIAS_PATTERN.fullmatch(name) or len(name) > _MAX_ALIAS:
        raise RegistryError(
            f"alias {name!r} is not a valid name; use lower-case letters, digits, '_' and '-', "
            f"starting with a letter, at most {_MAX_ALIAS} characters (e.g. champion, challenger)"
        )
    if _VERSION_REF.fullmatch(name):
        raise RegistryError(
            f"alias {name!r} would read as a version reference; pick another name "
            "(e.g. champion, challenger, canary)"
        )
    return name


def _version_from_row(row: Any, alias_names: tuple[str, ...] = ()) -> ModelVersion:
    return ModelVersion(
        version=row.version,
        run_id=row.run_id,
        family=row.family,
        task=row.task,
        dataset_fingerprint=row.dataset_fingerprint,
        model_path=row.model_path,
        sha256=row.sha256,
        size=int(row.size),
        metrics=dict(row.metrics or {}),
        created_at=_aware(row.created_at),
        aliases=alias_names,
    )


def _alias_map(conn: Any) -> dict[int, tuple[str, ...]]:
    import sqlalchemy as sa

    from .store import schema as t

    out: dict[int, list[str]] = {}
    for row in conn.execute(sa.select(t.aliases).order_by(t.aliases.c.name)):
        out.setdefault(row.version, []).append(row.name)
    return {v: tuple(names) for v, names in out.items()}


# -- versions -----------------------------------------------------------------------------------


def register_model(store: Store, ref: str) -> ModelVersion:
    """Register the model of a run as a new version; idempotent per run.

    The model file must still match the sha256 recorded when the run saved it. The version
    keeps a snapshot of the run's test metrics (stage ``evaluate``).

    Args:
        store: The store.
        ref: A run id or unique prefix (or an existing version/alias reference).

    Returns:
        The new version, or the existing one when the run was registered before.

    Raises:
        RunNotFound: No such run.
        RegistryError: The run failed or was cancelled, or has no model.
        ModelError: The model file is missing or no longer matches its hash.

    Example:
        >>> register_model(store, "20261129-2041").ref
        'v1'
    """
    import sqlalchemy as sa

    from .provenance import sha256_file
    from .store import schema as t

    run = store.get_run(resolve_ref(store, ref))
    existing = version_of_run(store, run.id)
    if existing is not None:
        return existing
    if run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise RegistryError(
            f"run {run.id} is {run.status.value}; only runs that finished their model can be "
            "registered (`workbench runs` lists the succeeded ones)"
        )
    art = run.artifact("model")
    if art is None:
        raise RegistryError(
            f"run {run.id} has no model; register a run whose search stage saved one"
        )
    path = Path(art.path)
    if not path.is_file():
        raise ModelError(f"the model file of run {run.id} is missing: {path}")
    if sha256_file(path) != art.sha256:
        raise ModelError(
            f"the model file {path} of run {run.id} no longer matches the sha256 recorded when "
            "it was saved; it was modified after the run, so it cannot be registered"
        )
    task = run.dataset.task if run.dataset else None
    metrics = {m.name: m.to_dict() for m in run.metrics if m.stage == "evaluate"}

    def fn(conn: Any) -> None:
        # Another process may have registered it since the check above; the unique run_id
        # constraint would refuse a duplicate, so look again inside the transaction.
        if conn.execute(
            sa.select(t.model_versions.c.version).where(t.model_versions.c.run_id == run.id)
        ).first():
            return
        conn.execute(
            t.model_versions.insert().values(
                run_id=run.id,
                family=run.model_family,
                task=task,
                dataset_fingerprint=run.dataset_fingerprint,
                model_path=str(path),
                sha256=art.sha256,
                size=int(art.size),
                metrics=metrics,
                created_at=utcnow(),
            )
        )

    store._write(fn)
    registered = version_of_run(store, run.id)
    assert registered is not None
    return registered


def version_of_run(store: Store, run_id: str) -> ModelVersion | None:
    """The registered version of ``run_id`` (exact id), or ``None``."""
    import sqlalchemy as sa

    from .store import schema as t

    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.model_versions).where(t.model_versions.c.run_id == run_id)
        ).first()
        if row is None:
            return None
        return _version_from_row(row, _alias_map(conn).get(row.version, ()))


def get_version(store: Store, version: int) -> ModelVersion:
    """Version ``version``.

    Raises:
        RunNotFound: No such version; the message lists the registered ones.
    """
    import sqlalchemy as sa

    from .store import schema as t

    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.model_versions).where(t.model_versions.c.version == version)
        ).first()
        if row is not None:
            return _version_from_row(row, _alias_map(conn).get(row.version, ()))
    known = ", ".join(v.ref for v in list_models(store)) or "none yet"
    raise RunNotFound(
        f"no model version v{version}; registered versions: {known} "
        "(`workbench register RUN_ID` adds one)"
    )


def list_models(store: Store) -> list[ModelVersion]:
    """Every registered version, newest first, with the aliases pointing at each."""
    import sqlalchemy as sa

    from .store import schema as t

    with store.engine.connect() as conn:
        names = _alias_map(conn)
        rows = conn.execute(
            sa.select(t.model_versions).order_by(t.model_versions.c.version.desc())
        ).all()
    return [_version_from_row(r, names.get(r.version, ())) for r in rows]


def aliases(store: Store) -> dict[str, ModelVersion]:
    """``{alias: version it points at}``, sorted by alias name."""
    out: dict[str, ModelVersion] = {}
    for v in list_models(store):
        for name in v.aliases:
            out[name] = v
    return dict(sorted(out.items()))


# -- references ---------------------------------------------------------------------------------


def resolve_ref(store: Store, ref: str) -> str:
    """Turn a reference into a run id.

    Accepted, in this order: an alias name (``champion``), a version (``v3``), a run id or a
    unique prefix of one. Aliases start with a letter and run ids with a digit, so the forms
    never collide.

    Raises:
        RunNotFound: Nothing matches; the message lists the aliases and versions that exist.

    Example:
        >>> resolve_ref(store, "champion")
        '20261129-204416-3c5b1c'
    """
    import sqlalchemy as sa

    from .store import schema as t

    ref = str(ref).strip()
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(t.model_versions.c.run_id)
            .select_from(t.aliases.join(t.model_versions))
            .where(t.aliases.c.name == ref)
        ).first()
    if row is not None:
        return row[0]
    match = _VERSION_REF.fullmatch(ref)
    if match:
        return get_version(store, int(match.group(1))).run_id
    try:
        return store.resolve_run_id(ref)
    except RunNotFound as e:
        if "ambiguous" in str(e):
            raise
        known = aliases(store)
        listed = ", ".join(f"{name} (v{v.version})" for name, v in known.items()) or "none yet"
        raise RunNotFound(
            f"no run, version or alias {ref!r}; aliases: {listed}; give a run id (or a unique "
            "prefix; `workbench runs` lists them), a version such as v1 (`workbench models`), "
            "or an alias"
        ) from None


# -- promotion ----------------------------------------------------------------------------------


def _latest_comparison(conn: Any, candidate: str, baseline: str) -> Any:
    import sqlalchemy as sa

    from .store import schema as t

    c = t.comparisons.c
    return conn.execute(
        sa.select(t.comparisons)
        .where(c.candidate_run == candidate)
        .where(c.baseline_run == baseline)
        .order_by(c.created_at.desc(), c.id.desc())
        .limit(1)
    ).first()


def _hold_reasons(record: Mapping[str, Any] | None) -> str:
    reasons = (record or {}).get("reasons") or []
    return "; ".join(str(r) for r in reasons) or "no reason recorded"


def promote(
    store: Store,
    run_id: str,
    alias: str,
    *,
    force: bool = False,
    actor: str | None = None,
    reason: str = "",
) -> Promotion:
    """Point ``alias`` at the model of ``run_id``, if the evidence allows it.

    The run is registered first when needed. A new alias is simply assigned. An alias that
    already points elsewhere moves only when the latest comparison of this run (candidate)
    against the current holder (baseline) decided ``promote``; ``force=True`` overrides a
    ``hold`` or a missing comparison and is recorded as forced. The check and the move happen
    in one transaction, so two concurrent promotions cannot both pass the same check.

    Args:
        store: The store.
        run_id: A run id, prefix, version (``v2``) or alias of the candidate.
        alias: The alias to move, e.g. ``champion``.
        force: Move even though the evidence says hold or is missing.
        actor: Who is promoting; default the OS user.
        reason: Why; default a sentence naming the comparison.

    Returns:
        A :class:`Promotion`; ``changed`` is false (and nothing is recorded) when the alias
        already pointed at this version.

    Raises:
        PromotionRefused: The latest comparison says hold, or none exists against the current
            holder (the message says which ``workbench compare`` to run).
        RegistryError: Bad alias name, or a run without a model.

    Example:
        >>> promote(store, "20261129-2041", "champion", reason="beats v1 on AUC").message
        'champion: v1 → v2'
    """
    import sqlalchemy as sa

    from .store import schema as t

    check_alias(alias)
    version = register_model(store, run_id)
    who = actor or _current_user()

    def fn(conn: Any) -> Promotion:
        # FOR UPDATE (PostgreSQL; SQLite locks the whole database on write anyway): a concurrent
        # promotion of the same alias waits, then sees this one's result.
        current = conn.execute(
            sa.select(t.aliases).where(t.aliases.c.name == alias).with_for_update()
        ).first()
        if current is not None and current.version == version.version:
            return Promotion(
                alias, version.version, version.run_id, False, None,
                f"{alias} already points at {version.ref} (run {version.run_id}); nothing changed",
            )  # fmt: skip
        holder_run = latest = comparison_id = None
        why = reason
        if current is not None:
            holder_run = conn.execute(
                sa.select(t.model_versions.c.run_id).where(
                    t.model_versions.c.version == current.version
                )
            ).scalar_one()
            latest = _latest_comparison(conn, version.run_id, holder_run)
            comparison_id = latest.id if latest is not None else None
            _check_evidence(latest, version, alias, current.version, holder_run, force)
            if not why:
                why = (
                    f"comparison {latest.id} decided {latest.decision}"
                    if latest is not None
                    else "forced without a comparison"
                )
        elif not why:
            why = f"first holder of {alias}"
        # "forced" means the evidence was overridden: not for a new alias, nor when the latest
        # comparison said promote anyway.
        force_recorded = (
            force and current is not None and (latest is None or latest.decision != "promote")
        )
        now = utcnow()
        if current is None:
            conn.execute(
                t.aliases.insert().values(name=alias, version=version.version, updated_at=now)
            )
        else:
            conn.execute(
                t.aliases.update()
                .where(t.aliases.c.name == alias)
                .values(version=version.version, updated_at=now)
            )
        event_id = conn.execute(
            t.alias_events.insert().values(
                alias=alias,
                from_version=current.version if current is not None else None,
                to_version=version.version,
                actor=who,
                reason=why,
                forced=force_recorded,
                comparison_id=comparison_id,
                at=now,
            )
        ).inserted_primary_key[0]
        event = AliasEvent(
            id=int(event_id),
            alias=alias,
            from_version=current.version if current is not None else None,
            to_version=version.version,
            from_run=holder_run,
            to_run=version.run_id,
            actor=who,
            reason=why,
            forced=force_recorded,
            comparison_id=comparison_id,
            at=now,
        )
        before = f"v{current.version}" if current is not None else "(unset)"
        note = " (forced)" if force_recorded else ""
        return Promotion(
            alias, version.version, version.run_id, True, event,
            f"{alias}: {before} → {version.ref} (run {version.run_id}){note}",
        )  # fmt: skip

    return store._write(fn)


def _check_evidence(
    latest: Any,
    candidate: ModelVersion,
    alias: str,
    holder_version: int,
    holder_run: str,
    force: bool,
) -> None:
    """Refuse the move unless the latest comparison says promote (or ``force``)."""
    if force:
        return
    holder = f"the current {alias} (v{holder_version}, run {holder_run})"
    if latest is None:
        raise PromotionRefused(
            f"no comparison of run {candidate.run_id} against {holder}; run "
            f"`workbench compare {candidate.run_id} {alias}` first (or pass --force with "
            "--reason to override)"
        )
    if latest.decision != "promote":
        raise PromotionRefused(
            f"the latest comparison {latest.id} of run {candidate.run_id} against {holder} "
            f"decided {latest.decision}: {_hold_reasons(latest.record)}; improve the candidate "
            f"and compare again (`workbench compare {candidate.run_id} {alias}`), or pass "
            "--force with --reason to override"
        )


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (some containers)
        return "unknown"


def audit_trail(store: Store, alias: str | None = None) -> list[AliasEvent]:
    """Alias changes, oldest first (the order they happened), optionally for one alias."""
    import sqlalchemy as sa

    from .store import schema as t

    e = t.alias_events
    q = sa.select(e).order_by(e.c.at, e.c.id)
    if alias is not None:
        q = q.where(e.c.alias == alias)
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
        runs = dict(
            conn.execute(sa.select(t.model_versions.c.version, t.model_versions.c.run_id)).all()
        )
    return [
        AliasEvent(
            id=r.id,
            alias=r.alias,
            from_version=r.from_version,
            to_version=r.to_version,
            from_run=runs.get(r.from_version),
            to_run=runs.get(r.to_version),
            actor=r.actor,
            reason=r.reason,
            forced=bool(r.forced),
            comparison_id=r.comparison_id,
            at=_aware(r.at),
        )
        for r in rows
    ]
