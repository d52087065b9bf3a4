"""Frozen records returned by the store; callers never mutate what the store hands out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ArtifactRecord",
    "DatasetRecord",
    "MetricRecord",
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
