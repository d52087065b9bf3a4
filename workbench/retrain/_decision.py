"""The retrain decision: five checks on a monitor report, the registry and a schedule, and
the measured cost of the champion's last training."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..exceptions import ConfigError, RunNotFound
from ._records import Check, Decision, TrainingCost

if TYPE_CHECKING:
    from ..monitor import MonitorReport
    from ..store import RunRecord, Store

__all__ = ["CPU_METRICS", "SCHEDULES", "retrain_decision", "schedule_due", "training_cost"]

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
    from ..compare import list_comparisons
    from ..registry import aliases

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
    from ..registry import resolve_ref

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
    from ..registry import resolve_ref

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
