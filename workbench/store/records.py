"""Frozen records returned by the store; callers never mutate what the store hands out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AliasEvent",
    "ArtifactRecord",
    "BatchRecord",
    "ComparisonRecord",
    "DatasetRecord",
    "MetricRecord",
    "ModelVersion",
    "NoteRecord",
    "ReleaseRecord",
    "RunRecord",
    "RunStatus",
    "StageRecord",
]


class RunStatus(enum.StrEnum):
    """Life cycle of a run or a stage."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    def is_finished(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


@dataclass(frozen=True)
class DatasetRecord:
    fingerprint: str
    name: str
    source: str
    target: str
    task: str
    n_rows: int
    n_features: int
    features: list[dict[str, str]]
    created_at: datetime


@dataclass(frozen=True)
class MetricRecord:
    stage: str
    name: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value}
        if self.ci_low is not None:
            d["ci95"] = [self.ci_low, self.ci_high]
        return d


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    path: str
    sha256: str
    size: int
    stage: str | None = None


@dataclass(frozen=True)
class StageRecord:
    name: str
    position: int
    notebook: str
    status: RunStatus
    output_path: str | None
    report_path: str | None
    error: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


@dataclass(frozen=True)
class NoteRecord:
    """A note someone wrote about a run (``workbench note``)."""

    id: int
    text: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class RunRecord:
    id: str
    status: RunStatus
    dataset_name: str
    dataset_fingerprint: str | None
    model_family: str | None
    seed: int
    source: str
    stage_names: list[str]
    git_commit: str | None
    versions: dict[str, str]
    error: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None
    heartbeat_at: datetime | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: list[MetricRecord] = field(default_factory=list)
    stages: list[StageRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    dataset: DatasetRecord | None = None
    batch_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    notes: list[NoteRecord] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if self.finished_at:
            return (self.finished_at - self.created_at).total_seconds()
        return None

    def metric(self, name: str, stage: str | None = None) -> MetricRecord | None:
        """The metric ``name``, from ``stage`` if given, else from the latest stage that has it."""
        found = [m for m in self.metrics if m.name == name and (stage is None or m.stage == stage)]
        if not found:
            return None
        order = {s: i for i, s in enumerate(self.stage_names)}
        return max(found, key=lambda m: order.get(m.stage, -1))

    def artifact(self, name: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if a.name == name), None)


# -- registry -----------------------------------------------------------------------------------


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
    """One change of an alias, as kept in the audit trail (never rewritten).

    Attributes:
        id: Sequence number of the event.
        alias: The alias that moved.
        from_version: The previous holder (``None`` for a new alias).
        to_version: The new holder.
        from_run: Run id of the previous holder.
        to_run: Run id of the new holder.
        actor: Who moved it.
        reason: Why, in the actor's words or the comparison's.
        forced: Whether the move overrode the evidence (a ``hold`` or a missing comparison).
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


# -- evidence -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonRecord:
    """A stored comparison: the columns the store queries plus the full record (plain JSON)."""

    id: str
    candidate_run: str
    baseline_run: str
    decision: str
    record: dict[str, Any]
    created_at: datetime
    report_path: str | None = None


@dataclass(frozen=True)
class ReleaseRecord:
    """A stored release check: the columns the store queries plus the full record."""

    id: str
    run_id: str | None
    bundle: str
    passed: bool
    record: dict[str, Any]
    created_at: datetime
    report_path: str | None = None


# -- batches ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRecord:
    """A batch as recorded.

    Attributes:
        id: The batch id (``batch-<utc time>-<hex>``).
        grid: ``{"name", "source", "spec", "varying", "runs": [{"key", "run_id", ...}]}``.
        executor: e.g. ``"local (2 workers)"``.
        status: ``running``, ``succeeded`` (no run failed), ``failed`` or ``cancelled``.
        summary: Counts, wall time and one entry per run; while running only the batch
            process's heartbeat (``{"heartbeat_at": ...}``).
        report_path: The batch page, once written.
    """

    id: str
    grid: dict[str, Any]
    executor: str
    status: RunStatus
    summary: dict[str, Any] | None
    report_path: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def name(self) -> str:
        return str(self.grid.get("name", self.id))

    @property
    def run_ids(self) -> list[str]:
        return [r["run_id"] for r in self.grid.get("runs", [])]
