"""When to retrain: a decision from measured evidence, its cost, and the retraining itself.

Training costs money, so the workbench recommends retraining only on evidence (the seed's
rule: decide from measured evaluation, seasonality, a better method, and the cost).
:func:`retrain_decision` runs five checks and answers ``retrain`` when one triggers::

    drift        features in alert in the latest window of a monitor report (optionally only
                 the ``watch``-ed ones): PSI ≥ 0.25 and a corrected test
    prediction   the model's output distribution in alert in the latest window
    decay        the headline metric of the latest labelled window is worse than the
                 reference by more than the gate, with its 95% CI (see workbench.monitor)
    schedule     seasonal data: the champion was trained longer than one period ago
                 (``weekly``, ``monthly``, ``quarterly``, ``yearly`` or a duration like ``14D``)
    challenger   the ``challenger`` alias holds a model whose latest comparison against the
                 champion decided ``promote`` (a better method exists)

With a ``cost_budget_s``, a champion whose last training took longer than the budget is
retrained on drift alone only when harm is measured too: drift without decay then waits.
The decision carries the measured cost of the champion's last training: wall time of its
``search`` stage (from the store's stage timings) and CPU seconds when the run recorded them
(metric ``cpu_seconds`` of the stage; the runner does not record it yet).

:func:`retrain_now` acts on a ``retrain`` decision: it writes the recent labelled traffic to
``<workspace>/retrain/<report id>/recent-<report id>.csv``, runs the champion's model family
on it (a normal run of the search and evaluate stages), evaluates the champion's own model on the
same rows (a run of source ``retrain`` with only the evaluate stage), and compares the two with
:func:`workbench.compare.compare_and_report`; the gates decide promote or hold. Nothing is
promoted here.

Example::

    report = monitor_files(log=..., bundle=..., labels=...)
    decision = retrain_decision(report, store=store, schedule="monthly")
    decision.action, decision.reasons          # ('retrain', ('drift on worst area ...', ...))
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .exceptions import ConfigError, RunNotFound
from .safehtml import md, md_code

if TYPE_CHECKING:
    from .compare import Comparison
    from .config import Workspace
    from .monitor import MonitorInputs, MonitorReport
    from .store import RunRecord, Store
    from .traffic import Stream

__all__ = [
    "ACTIONS",
    "DEMO_DRIFT_FEATURES",
    "SCHEDULES",
    "Check",
    "Decision",
    "MonitorStageResult",
    "RetrainOutcome",
    "TrainingCost",
    "evaluate_champion_on",
    "monitor_stage",
    "outcome_markdown",
    "recent_training_csv",
    "retrain_decision",
    "retrain_now",
    "schedule_due",
    "training_cost",
]

ACTIONS = ("retrain", "wait")
#: Named schedules; anything else is read as a pandas Timedelta ("14D", "12h").
SCHEDULES: dict[str, pd.DateOffset] = {
    "weekly": pd.DateOffset(weeks=1),
    "monthly": pd.DateOffset(months=1),
    "quarterly": pd.DateOffset(months=3),
    "yearly": pd.DateOffset(years=1),
}
#: Metric names a stage may record its CPU time under (first found wins).
CPU_METRICS = ("cpu_seconds", "search_cpu_seconds")
_TRAINING_STAGE = "search"
#: The breast-cancer size features the demo's stream mirrors halfway through (an instrument
#: recalibrated upside down): they carry much of both families' signal, so quality visibly
#: decays, and a model retrained on the mirrored data can learn it back.
DEMO_DRIFT_FEATURES = (
    "mean radius",
    "mean perimeter",
    "mean area",
    "mean concave points",
    "worst radius",
    "worst perimeter",
    "worst area",
    "worst concave points",
)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One reason to retrain, tested.

    Attributes:
        name: ``drift``, ``prediction``, ``decay``, ``schedule`` or ``challenger``.
        triggered: Whether it calls for retraining.
        detail: One sentence with the numbers.
        evidence: The numbers, JSON-ready.
    """

    name: str
    triggered: bool
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "triggered": self.triggered,
            "detail": self.detail,
            "evidence": _clean(self.evidence),
        }


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities (undefined numbers) become ``None``, numpy scalars plain."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class TrainingCost:
    """The measured cost of a run's training stage.

    Attributes:
        run_id: The run.
        stage: The stage measured (``search``).
        wall_s: Its wall time from the store's stage timings (``None`` when not finished).
        cpu_s: CPU seconds, when the run recorded them (``None`` otherwise).
        trials: Optuna trials completed, when recorded.
        note: What was not measured, and why.
    """

    run_id: str
    stage: str
    wall_s: float | None
    cpu_s: float | None
    trials: int | None = None
    note: str = ""

    def describe(self) -> str:
        """``search stage of RUN: 12.3 s wall, CPU not recorded (...)``."""
        wall = "wall time unknown" if self.wall_s is None else f"{self.wall_s:.1f} s wall"
        cpu = "CPU seconds not recorded" if self.cpu_s is None else f"{self.cpu_s:.1f} CPU s"
        trials = f", {self.trials} trials" if self.trials is not None else ""
        return f"{self.stage} stage of run {self.run_id}: {wall}, {cpu}{trials}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "trials": self.trials,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    """``retrain`` or ``wait``, with the reasons and the evidence.

    Attributes:
        action: ``retrain`` or ``wait``.
        reasons: For ``retrain`` the triggered checks; for ``wait`` why each check passed.
        checks: Every check, triggered or not.
        cost: The measured cost of the champion's last training (``None`` without a store).
        as_of: The time the schedule was judged at.
        champion: The champion's run id, when known.
        report_id: The monitor report the decision read.
        notes: What could not be checked, and why.
    """

    action: str
    reasons: tuple[str, ...]
    checks: tuple[Check, ...] = ()
    cost: TrainingCost | None = None
    as_of: datetime | None = None
    champion: str | None = None
    report_id: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def retrain(self) -> bool:
        return self.action == "retrain"

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            ConfigError: No such check; the message lists those made.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise ConfigError(
            f"no check {name!r} in this decision; it has {', '.join(c.name for c in self.checks)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "cost": self.cost.to_dict() if self.cost else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "champion": self.champion,
            "report_id": self.report_id,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        cost = d.get("cost")
        return cls(
            action=d["action"],
            reasons=tuple(d["reasons"]),
            checks=tuple(Check(**c) for c in d.get("checks") or ()),
            cost=TrainingCost(**cost) if cost else None,
            as_of=datetime.fromisoformat(d["as_of"]) if d.get("as_of") else None,
            champion=d.get("champion"),
            report_id=d.get("report_id"),
            notes=tuple(d.get("notes") or ()),
        )

    def checks_frame(self) -> pd.DataFrame:
        """One row per check: triggered or not, and the sentence with the numbers."""
        return pd.DataFrame(
            [{"check": c.name, "triggered": c.triggered, "detail": c.detail} for c in self.checks],
            columns=["check", "triggered", "detail"],
        )

    def summary_markdown(self) -> str:
        """The decision, its reasons and the training cost, as Markdown."""
        # Reasons and notes name features and aliases: user text.
        lines = [f"**Recommendation: {md(self.action.upper())}**", ""]
        lines += [f"- {md(r)}" for r in self.reasons]
        if self.cost is not None:
            note = f" ({md(self.cost.note)})" if self.cost.note else ""
            lines += ["", f"Cost of the last training: {md(self.cost.describe())}{note}."]
        lines += [f"\n_note: {md(n)}_" for n in self.notes]
        return "\n".join(lines)


# -- checks -----------------------------------------------------------------------------------


def _drift_check(report: MonitorReport, watch: Sequence[str] | None) -> Check:
    window = report.latest_judged_window()
    flagged = report.flagged_features()
    if watch:
        unknown = [f for f in watch if f not in report.features]
        if unknown:
            raise ConfigError(
                f"watched feature(s) {', '.join(map(repr, unknown))} are not monitored; "
                f"the features are {', '.join(report.features[:8])}, ..."
            )
        flagged = [f for f in flagged if f in watch]
    latest = report.drift[report.drift["window"] == window].set_index("feature")
    psi = {f: round(float(latest.loc[f, "psi"]), 4) for f in flagged}
    if window is None:
        return Check("drift", False, "too little traffic to judge drift", {})
    t = report.thresholds
    if flagged:
        listed = ", ".join(f"{f} (PSI {psi[f]:.2f})" for f in flagged)
        detail = f"drift on {len(flagged)} feature(s) in window {window}: {listed}"
    else:
        scope = f"the {len(watch)} watched" if watch else f"all {len(report.features)}"
        detail = (
            f"no drift in window {window} across {scope} features (alert needs PSI ≥ "
            f"{t.psi_alert} and {t.correction}-corrected p < {t.alpha})"
        )
    return Check("drift", bool(flagged), detail, {"window": window, "features": psi})


def _prediction_check(report: MonitorReport) -> Check:
    pred = report.prediction_drift()
    if pred is None:
        return Check("prediction", False, "no predictions to check for drift", {})
    alert = pred["status"] == "alert"
    verb = "drifted" if alert else "stable"
    detail = (
        f"model output {verb} in window {int(pred['window'])}: PSI {pred['psi']:.3f}, "
        f"KS p = {pred['p_value']:.2g}"
    )
    return Check(
        "prediction",
        alert,
        detail,
        {"window": int(pred["window"]), "psi": pred["psi"], "p_value": pred["p_value"]},
    )


def _decay_check(report: MonitorReport) -> Check:
    q = report.latest_quality()
    if q is None:
        why = "no labels yet" if report.quality.empty else "too few labels in every window"
        return Check("decay", False, f"quality not judged: {why}", {})
    gate = report.thresholds.decay_gate
    decayed = q["status"] == "decayed"
    how = "below" if decayed else "within"
    detail = (
        f"{q['metric']} {q['value']:.4f} [{q['ci_low']:.4f}, {q['ci_high']:.4f}] on "
        f"{int(q['n_labelled'])} labels in window {int(q['window'])} vs reference "
        f"{q['reference']:.4f}: {how} the {gate:.0%} decay gate"
    )
    evidence = {
        k: q[k]
        for k in (
            "window",
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "reference",
            "decay",
            "n_labelled",
        )
    }
    return Check("decay", decayed, detail, evidence)


def _period(schedule: str) -> tuple[Any, str]:
    if schedule in SCHEDULES:
        return SCHEDULES[schedule], schedule
    try:
        delta = pd.Timedelta(schedule)
    except ValueError as e:
        raise ConfigError(
            f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)} nor a duration such "
            "as '14D'"
        ) from e
    if delta <= pd.Timedelta(0):
        raise ConfigError(f"schedule {schedule!r} must be a positive duration")
    return delta, f"every {schedule}"


def schedule_due(last_trained: datetime, now: datetime, schedule: str) -> tuple[bool, datetime]:
    """Whether a model trained at ``last_trained`` is due for retraining at ``now``.

    Args:
        last_trained: When the model's training finished.
        now: The moment to judge at.
        schedule: ``weekly``, ``monthly`` (calendar months), ``quarterly``, ``yearly`` or a
            pandas Timedelta string.

    Returns:
        ``(due, due_at)``.

    Example:
        >>> schedule_due(datetime(2026, 1, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC),
        ...              "monthly")[0]
        True
    """
    period, _ = _period(schedule)
    due_at = (pd.Timestamp(_aware(last_trained)) + period).to_pydatetime()
    return _aware(now) >= due_at, due_at


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _schedule_check(schedule: str | None, last_trained: datetime | None, now: datetime) -> Check:
    if schedule is None:
        return Check(
            "schedule",
            False,
            "no retraining schedule set (seasonal data: use monthly or quarterly)",
            {},
        )
    if last_trained is None:
        return Check(
            "schedule",
            False,
            f"schedule {schedule}: the last training time is unknown (no champion in the store)",
            {"schedule": schedule},
        )
    due, due_at = schedule_due(last_trained, now, schedule)
    age = (_aware(now) - _aware(last_trained)).total_seconds() / 86400
    detail = (
        f"schedule {schedule}: last trained {_aware(last_trained):%Y-%m-%d %H:%M} UTC, "
        f"{age:.1f} days before {_aware(now):%Y-%m-%d %H:%M}; "
        + ("due since" if due else "next due")
        + f" {due_at:%Y-%m-%d %H:%M}"
    )
    return Check(
        "schedule",
        due,
        detail,
        {"schedule": schedule, "age_days": round(age, 3), "due_at": due_at.isoformat()},
    )


def _challenger_check(store: Store, champion_run: str | None, challenger: str) -> Check:
    from .compare import list_comparisons
    from .registry import aliases

    holders = aliases(store)
    if challenger not in holders:
        return Check("challenger", False, f"no {challenger!r} alias in the registry", {})
    cand = holders[challenger]
    if champion_run is None or cand.run_id == champion_run:
        return Check("challenger", False, f"{challenger} is the champion itself", {})
    latest = next(
        (
            c
            for c in list_comparisons(store)
            if c.candidate.run_id == cand.run_id and c.baseline.run_id == champion_run
        ),
        None,
    )
    if latest is None:
        detail = (
            f"{challenger} {cand.ref} ({cand.run_id}) was never compared with the champion; "
            f"`workbench compare {challenger} champion` tells whether it is better"
        )
        return Check("challenger", False, detail, {"challenger": cand.run_id})
    wins = latest.decision == "promote"
    head = next((m for m in latest.metrics if m.name == latest.headline), None)
    delta = f" ({head.name} delta {head.delta:+.4f})" if head and head.delta is not None else ""
    detail = (
        f"{challenger} {cand.ref} vs champion: comparison {latest.id} decided "
        f"{latest.decision}{delta}"
    )
    return Check("challenger", wins, detail, {"challenger": cand.run_id, "comparison": latest.id})


# -- cost -------------------------------------------------------------------------------------


def training_cost(store: Store, run_ref: str, *, stage: str = _TRAINING_STAGE) -> TrainingCost:
    """The measured cost of a run's training: its ``search`` stage's wall and CPU time.

    Wall time comes from the stage's start and finish in the store. CPU seconds come from a
    metric ``cpu_seconds`` (or ``search_cpu_seconds``) of that stage, which the runner does not
    record yet; the result then says so.

    Raises:
        RunNotFound: No such run, version or alias.
    """
    from .registry import resolve_ref

    run = store.get_run(resolve_ref(store, run_ref))
    record = next((s for s in run.stages if s.name == stage), None)
    wall = record.duration_s if record is not None else None
    cpu = next(
        (m.value for name in CPU_METRICS if (m := run.metric(name, stage=stage)) is not None),
        None,
    )
    trials = run.metric("trials_complete", stage=stage)
    notes = []
    if record is None:
        notes.append(f"run {run.id} has no {stage} stage")
    elif wall is None:
        notes.append(f"the {stage} stage of run {run.id} did not finish")
    if cpu is None:
        notes.append(
            "the runner records no CPU time for its stages yet; wall time alone misjudges the "
            "compute bought on a shared or multi-core machine"
        )
    return TrainingCost(
        run.id, stage, wall, cpu, int(trials.value) if trials else None, "; ".join(notes)
    )


def _last_trained(run: RunRecord) -> datetime | None:
    stage = next((s for s in run.stages if s.name == _TRAINING_STAGE), None)
    if stage is not None and stage.finished_at is not None:
        return stage.finished_at
    return run.finished_at or run.created_at


# -- the decision -----------------------------------------------------------------------------


def retrain_decision(
    report: MonitorReport | None = None,
    *,
    store: Store | None = None,
    champion: str = "champion",
    challenger: str = "challenger",
    schedule: str | None = None,
    now: datetime | None = None,
    last_trained: datetime | None = None,
    watch: Sequence[str] | None = None,
    cost_budget_s: float | None = None,
) -> Decision:
    """Decide ``retrain`` or ``wait`` from a monitor report, the registry and a schedule.

    Args:
        report: The latest monitor report (drift, prediction drift, decay); ``None`` checks
            only the schedule and the challenger.
        store: The store (champion's training time and cost, the challenger's comparison).
        champion: Reference of the serving model (alias, version or run id).
        challenger: Alias of a candidate that may beat the champion.
        schedule: Retrain at least this often (seasonal data), e.g. ``monthly``.
        now: When to judge the schedule; default the wall clock.
        last_trained: When the champion was trained; default its search stage's finish time.
        watch: Only drift on these features counts (default every monitored feature).
        cost_budget_s: Training wall time above which drift alone does not justify
            retraining (quality decay, the schedule or a better challenger still do).

    Returns:
        The :class:`Decision` (the ``reasons`` are one sentence each, with numbers).

    Raises:
        ConfigError: Unknown schedule or watched feature.

    Example:
        >>> d = retrain_decision(report, store=store, schedule="monthly")  # doctest: +SKIP
        >>> d.action, d.reasons  # doctest: +SKIP
    """
    if schedule is not None:
        _period(schedule)  # refuse a bad schedule even when there is no champion to judge
    moment = _aware(now or datetime.now(UTC))
    notes: list[str] = []
    champion_run, cost = _champion(store, champion, notes)
    if last_trained is None and champion_run is not None:
        last_trained = _last_trained(champion_run)
    checks = []
    if report is not None:
        checks += [_drift_check(report, watch), _prediction_check(report), _decay_check(report)]
    else:
        notes.append("no monitor report: drift and decay were not checked")
    checks.append(_schedule_check(schedule, last_trained, moment))
    if store is not None:
        checks.append(
            _challenger_check(store, champion_run.id if champion_run else None, challenger)
        )
    else:
        notes.append("no store: the challenger and the training cost were not checked")
    action, reasons = _decide(checks, cost, cost_budget_s)
    return Decision(
        action=action,
        reasons=tuple(reasons),
        checks=tuple(checks),
        cost=cost,
        as_of=moment,
        champion=champion_run.id if champion_run else None,
        report_id=report.id if report is not None else None,
        notes=tuple(notes),
    )


def _champion(
    store: Store | None, champion: str, notes: list[str]
) -> tuple[RunRecord | None, TrainingCost | None]:
    if store is None:
        return None, None
    from .registry import resolve_ref

    try:
        run = store.get_run(resolve_ref(store, champion))
    except RunNotFound:
        notes.append(f"no {champion!r} in the registry: schedule and cost use no champion")
        return None, None
    return run, training_cost(store, run.id)


_HARM = ("decay", "schedule", "challenger")


def _decide(
    checks: list[Check], cost: TrainingCost | None, budget: float | None
) -> tuple[str, list[str]]:
    fired = [c for c in checks if c.triggered]
    expensive = (
        budget is not None and cost is not None and cost.wall_s is not None and cost.wall_s > budget
    )
    if fired and expensive and not any(c.name in _HARM for c in fired):
        return "wait", [
            *(c.detail for c in fired),
            f"but the last training took {cost.wall_s:.1f} s, above the budget of {budget:.1f} s "  # type: ignore[union-attr]
            "and no harm is measured yet: retrain when quality decays, the schedule is due or "
            "a challenger wins",
        ]
    if fired:
        return "retrain", [c.detail for c in fired]
    return "wait", [c.detail for c in checks]


# -- retraining -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainOutcome:
    """What :func:`retrain_now` did.

    Attributes:
        csv: The recent labelled traffic it trained on.
        rows: Rows in the CSV (after dropping repeats).
        run_id: The new run (the champion's family on the recent data).
        baseline_run_id: The champion's model evaluated on the same rows.
        comparison: The comparison of the two (its decision follows the gates).
        note: What the comparison means for the registry.
    """

    csv: str
    rows: int
    run_id: str
    baseline_run_id: str
    comparison: Comparison
    note: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv": self.csv,
            "rows": self.rows,
            "run_id": self.run_id,
            "baseline_run_id": self.baseline_run_id,
            "comparison_id": self.comparison.id,
            "decision": self.comparison.decision,
            "reasons": list(self.comparison.reasons),
            "report_path": self.comparison.report_path,
            "note": self.note,
        }


def outcome_markdown(record: Mapping[str, Any]) -> str:
    """A stored :meth:`RetrainOutcome.to_dict` record as Markdown (notebook 07 shows it)."""
    # A stored record is a file: every value in it is user text here.
    lines = [
        f"**Retrained**: run {md_code(record['run_id'])} on {md(record['rows'])} recent "
        "labelled rows, compared with the champion's model on the same rows "
        f"({md_code(record['baseline_run_id'])}): comparison {md_code(record['comparison_id'])} "
        f"decided **{md(record['decision'])}**.",
        "",
        *[f"- {md(r)}" for r in record.get("reasons") or ()],
        "",
        f"_{md(record.get('note', ''))}_",
    ]
    return "\n".join(lines)


def _recent_start(report: MonitorReport) -> int:
    """First window of the trailing run of windows in alert (drift, prediction or decay)."""
    bad = set(report.drift.loc[report.drift["status"] == "alert", "window"].astype(int))
    bad |= set(report.prediction.loc[report.prediction["status"] == "alert", "window"].astype(int))
    bad |= set(report.quality.loc[report.quality["status"] == "decayed", "window"].astype(int))
    last = report.n_windows - 1
    start = last
    while start - 1 >= 0 and start - 1 in bad and start in bad:
        start -= 1
    return max(start, 0)


def recent_training_csv(
    report: MonitorReport,
    stream: Stream,
    labels: pd.DataFrame | None,
    profile: Mapping[str, Any],
    path: str | Path,
    *,
    min_rows: int = 200,
) -> tuple[Path, int]:
    """Write the recent labelled traffic as a training CSV (features and the target).

    "Recent" starts at the first window of the trailing streak of windows in alert (or the
    last window), extended back window by window until ``min_rows`` labelled rows are in.
    Labels are written as the champion's class values, so both models score the same classes;
    rows repeating earlier features and label are dropped (a resampled stream repeats rows, and
    a repeat on both sides of the new run's split would flatter it).

    Returns:
        The path and the number of rows written.

    Raises:
        DatasetError: No labelled row in the recent traffic.
    """
    from .exceptions import DatasetError
    from .traffic import KEY, LABEL, TS

    order = np.argsort(stream.requests[TS].to_numpy(), kind="stable")
    frame = stream.requests.iloc[order].reset_index(drop=True)
    feed = stream.labels if labels is None else labels
    by_key = dict(zip(feed[KEY].astype(str), feed[LABEL], strict=True)) if len(feed) else {}
    y = pd.Series([by_key.get(str(k)) for k in frame[KEY]], dtype=object)
    start_window = _recent_start(report)
    rows = report.windows.set_index("window")
    start = int(rows.loc[start_window, "start_row"]) if len(rows) else 0
    while start_window > 0 and int(y.iloc[start:].notna().sum()) < min_rows:
        start_window -= 1
        start = int(rows.loc[start_window, "start_row"])
    out = frame.iloc[start:].loc[:, list(report.features)].copy()
    target = _target_values(y.iloc[start:], profile)
    out[stream.target] = target.to_numpy()
    out = out[target.notna().to_numpy()].drop_duplicates()
    if out.empty:
        raise DatasetError(
            "no labelled request in the recent traffic; pass --labels FILE with the true "
            "labels (key, label) before retraining"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return path, len(out)


def _target_values(labels: pd.Series, profile: Mapping[str, Any]) -> pd.Series:
    from .profile import label_index

    if profile.get("task") != "classification" or not profile.get("class_values"):
        return pd.to_numeric(labels, errors="coerce")
    idx = label_index(labels.tolist(), profile)
    values = list(profile["class_values"])
    return pd.Series([None if np.isnan(i) else values[int(i)] for i in idx], dtype=object)


def evaluate_champion_on(
    ws: Workspace,
    store: Store,
    champion: str,
    csv: str | Path,
    *,
    target: str,
    seed: int,
    n_boot: int = 1000,
) -> str:
    """Evaluate the champion's own model on a CSV dataset, recorded as a run.

    The run (source ``retrain``, only an ``evaluate`` stage) loads the CSV with the same seed
    as a new run on it would, so both are evaluated on the same test rows; it keeps a copy of
    the champion's model file (same sha256), the test predictions, metrics and cost metrics,
    which is everything :func:`workbench.compare.compare_runs` pairs.

    Returns:
        The new run id.

    Raises:
        RunNotFound: No such champion.
        ModelError: The champion's model file is missing or changed since it was saved.
    """
    from ._files import new_id, sha256_file
    from .context import RunContext
    from .evaluate import evaluate_pipeline, measure_latency, model_size_bytes
    from .exceptions import ModelError
    from .modelio import load_model
    from .provenance import package_versions
    from .registry import resolve_ref
    from .store import ArtifactRecord, RunStatus

    champ = store.get_run(resolve_ref(store, champion))
    art = champ.artifact("model")
    if art is None or not Path(art.path).is_file():
        raise ModelError(f"the champion run {champ.id} has no model file to evaluate")
    run_id = new_id()
    params = {
        "dataset": str(csv),
        "target": target,
        "seed": seed,
        "model": champ.model_family,
        "n_boot": n_boot,
        "reevaluates": champ.id,
    }
    store.create_run(
        run_id,
        dataset_name=Path(csv).stem,
        model_family=champ.model_family,
        seed=seed,
        stages=[("evaluate", "03_evaluate.ipynb")],
        params=params,
        source="retrain",
        versions=package_versions(),
    )
    store.start_stage(run_id, "evaluate", output_path="(evaluated in process by workbench.retrain)")
    try:
        ctx = RunContext(workspace=ws, store=store, run_id=run_id, stage="evaluate", params=params)
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        ds, split = ctx.load_data()
        model_path = ctx.run_dir / "model.skops"
        shutil.copyfile(art.path, model_path)
        pipe = load_model(model_path, sha256=art.sha256)  # refuses a changed file
        store.log_artifact(
            run_id,
            ArtifactRecord(
                "model",
                "model",
                str(model_path),
                sha256_file(model_path),
                model_path.stat().st_size,
                "evaluate",
            ),
        )
        X_test, y_test = ds.X.iloc[split.test], ds.y.iloc[split.test]
        result = evaluate_pipeline(pipe, X_test, y_test, task=ds.task, n_boot=n_boot, seed=seed)
        ctx.log_metrics(result.estimates)
        ctx.save_test_predictions(split, result)
        method = "predict_proba" if ds.task == "classification" else "predict"
        latency = measure_latency(pipe, X_test, method=method, seed=seed)
        cost = {k: latency[k] for k in ("single_p50_ms", "single_p99_ms", "batch_rows_per_s")}
        cost["model_size_bytes"] = model_size_bytes(model_path)
        ctx.log_metrics(cost)
    except BaseException as e:
        error = {"reason": f"{type(e).__name__}: {e}"}
        store.finish_stage(run_id, "evaluate", RunStatus.FAILED, error=error)
        store.finish_run(run_id, RunStatus.FAILED, error=error)
        raise
    store.finish_stage(run_id, "evaluate", RunStatus.SUCCEEDED)
    store.finish_run(run_id, RunStatus.SUCCEEDED)
    return run_id


def retrain_now(
    ws: Workspace,
    store: Store,
    report: MonitorReport,
    inputs: MonitorInputs | Stream,
    *,
    labels: pd.DataFrame | None = None,
    profile: Mapping[str, Any] | None = None,
    champion: str = "champion",
    trials: int = 20,
    seed: int = 42,
    n_boot: int = 2000,
    min_rows: int = 200,
    progress: Any = None,
) -> RetrainOutcome:
    """Retrain on the recent labelled traffic and compare with the champion on those rows.

    Steps: :func:`recent_training_csv` → a run of the champion's model family on that CSV
    (stages search and evaluate, ``trials`` optuna trials) → :func:`evaluate_champion_on`
    the same CSV and seed → :func:`workbench.compare.compare_and_report` (the new run vs the
    champion's evaluation).
    The comparison's decision follows the gates; nothing is promoted here.

    Args:
        ws: The workspace.
        store: Its store.
        report: The monitor report that recommended retraining.
        inputs: What :func:`workbench.monitor.load_inputs` returned, or the stream itself.
        labels: The labels feed (default the inputs' or the stream's).
        profile: The reference profile (default the inputs'; needed for class values).
        champion: The serving model's reference.
        trials: Optuna trials of the new run.
        seed: Seed of the new run and of the champion's evaluation (same split).
        n_boot: Bootstrap resamples of the evaluations and the comparison.
        min_rows: Labelled rows the recent data should have at least.
        progress: A runner progress sink (the CLI's bars).

    Raises:
        DatasetError: Not enough labelled recent traffic to train on.
        StageFailed: A notebook of the new run failed.
    """
    from .compare import compare_and_report
    from .registry import resolve_ref
    from .runner import Runner, RunRequest

    stream = getattr(inputs, "stream", inputs)
    labels = labels if labels is not None else getattr(inputs, "labels", None)
    profile = profile if profile is not None else getattr(inputs, "profile", {})
    champ = store.get_run(resolve_ref(store, champion))
    csv, rows = recent_training_csv(
        report,
        stream,
        labels,
        profile or {},
        ws.artifact_root / "retrain" / report.id / f"recent-{report.id}.csv",
        min_rows=min_rows,
    )
    target = stream.target
    # No explore stage: retraining needs the model and its evaluation, not another profile.
    request = RunRequest(
        stages=("search", "evaluate"),
        dataset=str(csv),
        target=target,
        model=champ.model_family or "logreg",
        trials=trials,
        seed=seed,
        params={"n_boot": min(n_boot, 1000)},
    )
    outcome = Runner(ws, store, progress=progress).run(request)
    baseline = evaluate_champion_on(
        ws, store, champ.id, csv, target=target, seed=seed, n_boot=min(n_boot, 1000)
    )
    comparison = compare_and_report(
        ws, store, outcome.run_id, baseline, n_boot=n_boot, seed=0, index=False
    )
    note = (
        f"baseline {baseline} is the champion's model ({champ.id}, same sha256) evaluated on "
        "the recent rows; the registry only accepts a comparison against the champion's own "
        f"run, so promoting {outcome.run_id} needs `workbench compare` on shared data or "
        "--force with this comparison as the reason"
    )
    return RetrainOutcome(str(csv), rows, outcome.run_id, baseline, comparison, note)


# -- the demo's monitoring stage --------------------------------------------------------------


@dataclass(frozen=True)
class MonitorStageResult:
    """What :func:`monitor_stage` did.

    Attributes:
        report_id: The monitor report.
        report_html: Its HTML page.
        decision: The retrain decision.
        bundle_dir: The champion's bundle that served the stream.
        log_path: The stub's prediction log.
        labels_path: The delayed labels (CSV).
        retrain: The retraining and its comparison (``None`` when not retrained).
    """

    report_id: str
    report_html: str | None
    decision: Decision
    bundle_dir: str
    log_path: str
    labels_path: str
    retrain: RetrainOutcome | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "report_html": self.report_html,
            "decision": self.decision.to_dict(),
            "bundle_dir": self.bundle_dir,
            "log_path": self.log_path,
            "labels_path": self.labels_path,
            "retrain": self.retrain.to_dict() if self.retrain else None,
        }


def _say(console: Any, text: str) -> None:
    if console is not None:
        console.print(text, highlight=False)


def _demo_drift(ds: Any) -> Any:
    """Mirror the demo's size features halfway (another dataset: its first 3 numeric ones)."""
    from .traffic import CovariateDrift

    wanted = [f for f in DEMO_DRIFT_FEATURES if f in ds.numeric_features]
    features = (
        tuple(wanted) if len(wanted) == len(DEMO_DRIFT_FEATURES) else tuple(ds.numeric_features[:3])
    )
    return CovariateDrift(features, start=0.5, scale=-1.0, shift=0.5)


def _champion_bundle(ws: Workspace, store: Store, run: RunRecord) -> Path:
    """Export the champion into ``exports/<run id>-monitor`` (reused when already there)."""
    import json

    from .bundle import Manifest, export_bundle
    from .datasets import Split, load_dataset

    out = ws.exports_dir / f"{run.id}-monitor"
    if (out / "manifest.json").is_file():
        manifest = Manifest.read(out)
        if manifest.data.get("run_id") == run.id:
            return out
    art = run.artifact("model")
    if art is None:
        raise ConfigError(f"run {run.id} has no model to serve; promote a run that has one")
    ds = load_dataset(str(run.params["dataset"]), target=run.params.get("target") or None)
    split = Split.from_dict(json.loads((ws.run_dir(run.id) / "split.json").read_text()))
    train = np.concatenate([split.train, split.valid])
    metrics = {m.name: m.value for m in run.metrics if m.stage == "evaluate"}
    export_bundle(
        art.path,
        out=out,
        mode="image",
        X_ref=ds.X.iloc[train],
        X_test=ds.X.iloc[split.test],
        y_test=ds.y.iloc[split.test].to_numpy(),
        metrics=metrics,
        dataset_fingerprint=run.dataset_fingerprint,
        run_id=run.id,
        model_sha256=art.sha256,
        overwrite=True,
    )
    return out


def monitor_stage(
    ws: Workspace,
    store: Store,
    *,
    champion_ref: str = "champion",
    fast: bool = False,
    auto: bool = True,
    bundle_dir: str | Path | None = None,
    seed: int = 7,
    console: Any = None,
) -> MonitorStageResult:
    """The demo's monitoring stage: serve the champion a drifting stream and act on what is seen.

    1. export the champion into a bundle (or use ``bundle_dir``) and serve it on 127.0.0.1
       with a prediction log;
    2. send it a synthetic stream resampled from its dataset whose size features are mirrored
       and shifted halfway through (:data:`DEMO_DRIFT_FEATURES`), one request per row keyed by
       ``X-Request-ID``; write the delayed labels feed to a CSV;
    3. monitor the log against the bundle's reference, decide (drift and decay → retrain);
    4. with ``auto`` and a ``retrain`` decision: :func:`retrain_now` and its comparison;
    5. render the monitor report (notebook 07) and rebuild the index.

    Args:
        ws: The workspace.
        store: Its store.
        champion_ref: The serving model.
        fast: 1000 requests in windows of 125 and a 3-trial retraining (else 2000, 250, 20).
        auto: Retrain when the decision says so.
        bundle_dir: The champion's bundle from the release stage, if there is one.
        seed: Seed of the stream.
        console: A rich console for progress lines.

    Returns:
        The :class:`MonitorStageResult`.
    """
    from .bundle import model_source
    from .datasets import load_dataset
    from .monitor import (
        attach_record,
        load_inputs,
        monitor_inputs,
        rebuild_index,
        render_report,
        save_report,
    )
    from .registry import resolve_ref
    from .serving import background_server
    from .store import utcnow
    from .traffic import post_stream, synthetic_stream

    run = store.get_run(resolve_ref(store, champion_ref))
    bundle = Path(bundle_dir) if bundle_dir else _champion_bundle(ws, store, run)
    ds = load_dataset(str(run.params["dataset"]), target=run.params.get("target") or None)
    n, window = (1000, 125) if fast else (2000, 250)
    drift = _demo_drift(ds)
    stream = synthetic_stream(
        ds, n=n, seed=seed, covariate=[drift], start=utcnow(), interval="1h", label_delay="6h"
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    ws.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = ws.logs_dir / f"monitor-{run.id}-{stamp}.jsonl"
    labels_path = ws.logs_dir / f"labels-{run.id}-{stamp}.csv"
    _say(
        console,
        f"  monitor: serving {bundle.name}; {n} requests, "
        f"{', '.join(drift.features)} mirrored from request {n // 2}",
    )
    source = model_source(bundle)
    with background_server(bundle, model_uri=source, log_path=log_path) as url:
        sent = post_stream(url, stream)
    stream.labels.to_csv(labels_path, index=False)
    inputs = load_inputs(log=log_path, bundle=bundle, labels=labels_path, ws=ws)
    report = monitor_inputs(inputs, window=window)
    decision = retrain_decision(report, store=store, champion=champion_ref)
    save_report(ws, report, decision=decision)
    _say(
        console, f"  monitor: {sent['ok']} answered; report {report.id}: {decision.action.upper()}"
    )
    for reason in decision.reasons:
        _say(console, f"    - {reason}")
    outcome = None
    if auto and decision.retrain:
        outcome = _retrain_for_demo(ws, store, report, inputs, champion_ref, fast, console)
        attach_record(ws, report.id, "retrain", outcome.to_dict())
    html = render_report(ws, report.id)
    rebuild_index(ws, store)
    return MonitorStageResult(
        report.id, str(html), decision, str(bundle), str(log_path), str(labels_path), outcome
    )


def _retrain_for_demo(
    ws: Workspace,
    store: Store,
    report: MonitorReport,
    inputs: MonitorInputs,
    champion_ref: str,
    fast: bool,
    console: Any,
) -> RetrainOutcome:
    from contextlib import nullcontext

    progress: Any = nullcontext()
    if console is not None:
        from .progress import RichProgress

        progress = RichProgress(console, label="retrain")
    with progress as sink:
        outcome = retrain_now(
            ws,
            store,
            report,
            inputs,
            champion=champion_ref,
            trials=3 if fast else 20,
            n_boot=200 if fast else 2000,
            progress=sink,
        )
    c = outcome.comparison
    _say(
        console,
        f"  retrain: run {outcome.run_id} on {outcome.rows} recent rows vs the "
        f"champion's model on them ({outcome.baseline_run_id}): {c.decision}",
    )
    for reason in c.reasons[:5]:
        _say(console, f"    - {reason}")
    return outcome
