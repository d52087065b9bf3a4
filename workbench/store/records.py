"""Frozen records returned by the store; callers never mutate what the store hands out."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "AUTOMATIC_ACTOR",
    "ABTestRecord",
    "ABVariantRecord",
    "AliasEvent",
    "ArtifactRecord",
    "BatchRecord",
    "ComparisonRecord",
    "DatasetRecord",
    "Device",
    "EdgePackageRecord",
    "HistoryEntry",
    "MetricRecord",
    "ModelPin",
    "ModelVersion",
    "MonitorReportRecord",
    "MonitorWindowRecord",
    "NoteRecord",
    "ReleaseRecord",
    "RetrainDecisionRecord",
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


#: How an automatic alias move names its actor: ``workbench retrain-check --auto (as <user>)``
#: (the audit trail keeps who started it, when, why and the comparison that decided).
AUTOMATIC_ACTOR = "workbench retrain-check --auto"


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

    @property
    def automatic(self) -> bool:
        """Whether a program moved it on its own (``retrain-check --auto``), not a person:
        its actor starts with :data:`AUTOMATIC_ACTOR`."""
        return self.actor.startswith(AUTOMATIC_ACTOR)

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
            "automatic": self.automatic,
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


# -- edge inventory -----------------------------------------------------------------------------


def _iso(at: datetime) -> str:
    """UTC to the second, as the inventory has always shown times (whatever the server's zone)."""
    return at.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ModelPin:
    """A registered model version as a device runs it (a snapshot taken when it was set).

    Attributes:
        version: The version number.
        ref: ``v<version>``.
        run_id: The run that produced it.
        sha256: Its model file's hash when registered.
    """

    version: int
    ref: str
    run_id: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "ref": self.ref,
            "run_id": self.run_id,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a device's assignment: when, from and to which version (``None``: no
    model; a removal is a change to ``None`` noted "removed"), who made it and why."""

    at: datetime
    ref: str | None
    note: str = ""
    from_ref: str | None = None
    actor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "ref": self.ref,
            "note": self.note,
            "from": self.from_ref,
            "by": self.actor,
        }


@dataclass(frozen=True)
class Device:
    """One edge device (or a stand-in for identical devices).

    Attributes:
        name: Unique name (letters, digits, ``.``, ``_``, ``-``; at most 64).
        group: The group it is updated with.
        model: The version it runs (``None``: not recorded yet).
        hold: Keep it on its version; update plans skip it.
        added_at: When it was added.
        updated_at: When its record last changed.
        history: Every change since it was added, oldest first.
    """

    name: str
    group: str
    model: ModelPin | None
    hold: bool
    added_at: datetime
    updated_at: datetime
    history: tuple[HistoryEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "model": None if self.model is None else self.model.to_dict(),
            "hold": self.hold,
            "added_at": _iso(self.added_at),
            "updated_at": _iso(self.updated_at),
            "history": [h.to_dict() for h in self.history],
        }


@dataclass(frozen=True)
class EdgePackageRecord:
    """An edge export of a model version as recorded: where it was written and its model hash."""

    model_version: str
    run_id: str | None
    path: str
    sha256: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "at": _iso(self.created_at)}


# -- A/B tests ----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite float, else ``None`` (the columns keep no NaN: PostgreSQL JSON refuses it)."""
    if value is None or isinstance(value, bool):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class ABVariantRecord:
    """What one variant of an A/B test served and measured (a row per variant).

    Attributes:
        variant: ``A`` or ``B``.
        role: ``served`` (its answers reached callers) or ``shadow`` (mirrored only).
        ref: What the user named (alias, ``vN``, run id or bundle folder).
        model_version: What its stub served.
        run_id: The run that produced the model (``None`` when unknown).
        bundle: The bundle folder served.
        requests: Requests it received.
        errors: Requests without a 2xx answer.
        error_rate: ``errors / requests``.
        p50_ms: Median latency.
        p99_ms: 99th percentile latency.
        metric: The headline metric's name.
        quality: Its value on the labelled answers (``None``: too few labels).
        quality_ci_low: Lower end of its 95% interval.
        quality_ci_high: Upper end.
        labelled: Answered requests whose label had arrived.
        reacted: Requests with a simulated user reaction.
        accepted: Simulated users who accepted the answer.
        acceptance_rate: ``accepted / reacted``.
        acceptance_ci_low: Lower end of its 95% interval.
        acceptance_ci_high: Upper end.

    Rates and latencies are ``None`` where nothing was measured.
    """

    variant: str
    role: str
    ref: str
    model_version: str | None
    run_id: str | None
    bundle: str | None
    requests: int
    errors: int
    error_rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    metric: str
    quality: float | None
    quality_ci_low: float | None
    quality_ci_high: float | None
    labelled: int
    reacted: int
    accepted: int
    acceptance_rate: float | None
    acceptance_ci_low: float | None
    acceptance_ci_high: float | None

    @classmethod
    def from_record(
        cls, variant: str, side: Mapping[str, Any], summary: Mapping[str, Any]
    ) -> ABVariantRecord:
        """The row of ``variant`` from an A/B test record's side (``a``/``b``: ref, bundle,
        model_version, run_id) and its analysis summary (``analysis.variants[variant]``)."""
        quality = summary.get("quality") or {}
        ci = list(summary.get("acceptance_ci") or (None, None))
        version = summary.get("model_version") or side.get("model_version")
        return cls(
            variant=variant,
            role=str(summary.get("role") or "served"),
            ref=str(side.get("ref") or ""),
            model_version=None if version is None else str(version),
            run_id=side.get("run_id"),
            bundle=side.get("bundle"),
            requests=int(summary.get("requests") or 0),
            errors=int(summary.get("errors") or 0),
            error_rate=_number(summary.get("error_rate")),
            p50_ms=_number(summary.get("p50_ms")),
            p99_ms=_number(summary.get("p99_ms")),
            metric=str(summary.get("metric") or ""),
            quality=_number(quality.get("value")),
            quality_ci_low=_number(quality.get("ci_low")),
            quality_ci_high=_number(quality.get("ci_high")),
            labelled=int(summary.get("labelled") or 0),
            reacted=int(summary.get("reacted") or 0),
            accepted=int(summary.get("accepted") or 0),
            acceptance_rate=_number(summary.get("acceptance_rate")),
            acceptance_ci_low=_number(ci[0]),
            acceptance_ci_high=_number(ci[1]),
        )


@dataclass(frozen=True)
class ABTestRecord:
    """A stored A/B (or shadow) test: the columns the store queries, one row per variant, and
    the full record (plain JSON, as :meth:`workbench.abtest.ABTest.to_dict` makes it).

    Attributes:
        id: ``ab-YYYYMMDD-HHMMSS-xxxxxx``.
        created_at: When it ran (UTC).
        mode: ``online`` or ``shadow``.
        split: Share of traffic routed to B (online; 0 in shadow mode).
        seed: Seed of the stream, the users and the bootstrap.
        decision: ``ship_b``, ``keep_a`` or ``inconclusive``.
        record: The full record (without ``report_path``, which is the column below).
        folder: The folder of its payload files (``requests.csv``, ``labels.csv``, the stub
            logs, the executed notebook).
        report_path: The HTML report, once rendered.
        variants: ``A`` then ``B``.
    """

    id: str
    created_at: datetime
    mode: str
    split: float
    seed: int
    decision: str
    record: dict[str, Any]
    folder: str
    report_path: str | None = None
    variants: tuple[ABVariantRecord, ...] = ()

    def variant(self, name: str) -> ABVariantRecord:
        """The row of variant ``name`` (``A`` or ``B``)."""
        found = next((v for v in self.variants if v.variant == name), None)
        if found is None:
            raise KeyError(f"A/B test {self.id} has no variant {name!r} (it has A and B)")
        return found

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], *, folder: str, report_path: str | None = None
    ) -> ABTestRecord:
        """The store's view of a full A/B test record (the one place that reads its layout:
        new tests and the import of older ``record.json`` files both go through it).

        Raises:
            KeyError: a key the record must have is missing.
            ValueError: a value has the wrong form (a date that is not ISO 8601).
        """
        analysis = record["analysis"]
        summaries = analysis["variants"]
        variants = tuple(
            ABVariantRecord.from_record(v, record[v.lower()], summaries[v]) for v in ("A", "B")
        )
        created = record["created_at"]
        if not isinstance(created, datetime):
            created = datetime.fromisoformat(created)
        body = {k: v for k, v in record.items() if k != "report_path"}
        return cls(
            id=str(record["id"]),
            created_at=created,
            mode=str(record["mode"]),
            split=float(record["split"]),
            seed=int(record["seed"]),
            decision=str(analysis["decision"]["action"]),
            record=body,
            folder=folder,
            report_path=report_path if report_path is not None else record.get("report_path"),
            variants=variants,
        )


# -- monitor ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorWindowRecord:
    """One window of a monitor report.

    Attributes:
        window: Its index in the report (0, 1, ...).
        start_row: First row of the traffic (in time order) in it.
        end_row: One past its last row.
        n: Rows in it.
        start_ts: Time of its first request (``None`` when the traffic has no times).
        end_ts: Time of its last request.
        n_labelled: Rows whose label had arrived.
        n_alerts: Features in ``alert`` in it.
        drift: Per feature, the drift entry (``feature, psi, p_adj, status, ...``).
        prediction: The prediction drift entry (``None`` without predictions).
        quality: The quality entry (``None`` without labels or a reference metric).
        latency: The latency entry (``None`` without latencies).
    """

    window: int
    start_row: int
    end_row: int
    n: int
    start_ts: datetime | None
    end_ts: datetime | None
    n_labelled: int
    n_alerts: int = 0
    drift: tuple[dict[str, Any], ...] = ()
    prediction: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None
    latency: dict[str, Any] | None = None


@dataclass(frozen=True)
class MonitorReportRecord:
    """A stored monitor report: the columns the index and listings read, the rest of its record
    (``source``, ``reference``, ``settings``, ``features``, ``notes``, ...) and its windows.

    Attributes:
        id: ``mon-<utc time>-<hex>``.
        created_at: When it was computed.
        model_version: The monitored model's version (``None`` when unknown).
        n_windows: Windows in it.
        n_requests: Requests (rows) monitored.
        flagged_features: Features in alert in the latest judged window, most drifted first.
        latest_quality: The quality entry of the latest window with enough labels.
        record: The report's record without its per-window frames.
        windows: Its windows, in order; ``None`` when listed without them.
        notebook_path: The executed notebook 07, once rendered.
        report_path: The HTML page, once rendered.
        decision: The action of its retrain decision, when one was stored.
    """

    id: str
    created_at: datetime
    model_version: str | None
    n_windows: int
    n_requests: int
    flagged_features: tuple[str, ...]
    latest_quality: dict[str, Any] | None
    record: dict[str, Any]
    windows: tuple[MonitorWindowRecord, ...] | None = None
    notebook_path: str | None = None
    report_path: str | None = None
    decision: str | None = None

    def summary(self) -> dict[str, Any]:
        """The listed columns as JSON-ready values (``workbench monitor --list --json``)."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "model_version": self.model_version,
            "windows": self.n_windows,
            "requests": self.n_requests,
            "flagged_features": list(self.flagged_features),
            "latest_quality": self.latest_quality,
            "decision": self.decision,
            "report_path": self.report_path,
        }

    def report_dict(self) -> dict[str, Any]:
        """The whole record as the monitor wrote it: the frames rebuilt from the windows.

        Raises:
            ValueError: The record was listed without its windows.
        """
        if self.windows is None:
            raise ValueError(f"monitor report {self.id} was read without its windows")
        out = dict(self.record)
        out["windows"] = [
            {
                "window": w.window,
                "start_row": w.start_row,
                "end_row": w.end_row,
                "n": w.n,
                "start_ts": w.start_ts.isoformat() if w.start_ts else None,
                "end_ts": w.end_ts.isoformat() if w.end_ts else None,
                "n_labelled": w.n_labelled,
            }
            for w in self.windows
        ]
        out["drift"] = [dict(d) for w in self.windows for d in w.drift]
        for frame in ("prediction", "quality", "latency"):
            out[frame] = [dict(e) for w in self.windows if (e := getattr(w, frame)) is not None]
        out["report_path"] = self.report_path
        return out


@dataclass(frozen=True)
class RetrainDecisionRecord:
    """The retrain decision stored with a monitor report (``retrain`` or ``wait``)."""

    report_id: str
    action: str
    reasons: tuple[str, ...]
    record: dict[str, Any]
    created_at: datetime
