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

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ModelError, RunNotFound, WorkbenchError
from .provenance import current_user
from .store import AUTOMATIC_ACTOR, AliasEvent, ComparisonRecord, ModelVersion, RunStatus, Store

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
    from ._files import sha256_file

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

    return store.register_version(
        run.id,
        family=run.model_family,
        task=task,
        dataset_fingerprint=run.dataset_fingerprint,
        model_path=str(path),
        sha256=art.sha256,
        size=int(art.size),
        metrics=metrics,
    )


def version_of_run(store: Store, run_id: str) -> ModelVersion | None:
    """The registered version of ``run_id`` (exact id), or ``None``."""
    return store.version_of_run(run_id)


def get_version(store: Store, version: int) -> ModelVersion:
    """Version ``version``.

    Raises:
        RunNotFound: No such version; the message lists the registered ones.
    """
    found = store.get_version(version)
    if found is not None:
        return found
    known = ", ".join(v.ref for v in list_models(store)) or "none yet"
    raise RunNotFound(
        f"no model version v{version}; registered versions: {known} "
        "(`workbench register RUN_ID` adds one)"
    )


def list_models(store: Store) -> list[ModelVersion]:
    """Every registered version, newest first, with the aliases pointing at each."""
    return store.list_versions()


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
    ref = str(ref).strip()
    holder = store.alias_run(ref) if ALIAS_PATTERN.fullmatch(ref) else None
    if holder is not None:
        return holder
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
        shown = ref if len(ref) <= 40 else ref[:37] + "..."  # a pasted blob, not an id
        raise RunNotFound(
            f"no run, version or alias {shown!r}; aliases: {listed}; give a run id (or a unique "
            "prefix; `workbench runs` lists them), a version such as v1 (`workbench models`), "
            "or an alias"
        ) from None


# -- promotion ----------------------------------------------------------------------------------


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
    automatic: bool = False,
) -> Promotion:
    """Point ``alias`` at the model of ``run_id``, if the evidence allows it.

    The run is registered first when needed. A new alias is simply assigned. An alias that
    already points elsewhere moves only when the latest comparison of this run (candidate)
    against the current holder (baseline), or against a run that re-scored the holder's model
    on other rows (retraining's comparison on the recent rows), decided ``promote``;
    ``force=True`` overrides a ``hold`` or a missing comparison and is recorded as forced.
    The check and the move happen in one transaction, so two concurrent promotions cannot both
    pass the same check.

    Args:
        store: The store.
        run_id: A run id, prefix, version (``v2``) or alias of the candidate.
        alias: The alias to move, e.g. ``champion``.
        force: Move even though the evidence says hold or is missing.
        actor: Who is promoting; default the OS user.
        reason: Why; default a sentence naming the comparison.
        automatic: A program decided, not a person (``retrain-check --auto``): the audit
            event's actor is ``workbench retrain-check --auto (as <actor>)`` and its
            ``automatic`` is true. Never combined with ``force``.

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
    check_alias(alias)
    if automatic and force:
        raise RegistryError(
            "an automatic promotion follows the evidence and cannot be forced; drop force, or "
            "promote by hand with --force and --reason"
        )
    version = register_model(store, run_id)
    who = actor or current_user()
    if automatic:
        who = f"{AUTOMATIC_ACTOR} (as {who})"

    def guard(
        holder: int | None, holder_run: str | None, latest: ComparisonRecord | None
    ) -> tuple[str, bool]:
        if holder is None:
            return reason or f"first holder of {alias}", False
        _check_evidence(latest, version, alias, holder, str(holder_run), force)
        why = reason or (
            f"comparison {latest.id} decided {latest.decision}"
            if latest is not None
            else "forced without a comparison"
        )
        # "forced" means the evidence was overridden: not when the latest comparison said
        # promote anyway.
        return why, force and (latest is None or latest.decision != "promote")

    event = store.move_alias(alias, version, actor=who, guard=guard)
    if event is None:
        return Promotion(
            alias, version.version, version.run_id, False, None,
            f"{alias} already points at {version.ref} (run {version.run_id}); nothing changed",
        )  # fmt: skip
    before = f"v{event.from_version}" if event.from_version is not None else "(unset)"
    note = " (forced)" if event.forced else ""
    return Promotion(
        alias, version.version, version.run_id, True, event,
        f"{alias}: {before} → {version.ref} (run {version.run_id}){note}",
    )  # fmt: skip


def _check_evidence(
    latest: ComparisonRecord | None,
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


def audit_trail(store: Store, alias: str | None = None) -> list[AliasEvent]:
    """Alias changes, oldest first (the order they happened), optionally for one alias."""
    return store.audit_trail(alias)
