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
``<artifact root>/retrain/<report id>/recent-<report id>.csv``, runs the champion's model family
on it (a normal run of the search and evaluate stages), evaluates the champion's own model on the
same rows (a run of source ``retrain`` with only the evaluate stage), and compares the two with
:func:`workbench.compare.compare_and_report`; the gates decide promote or hold. With
``promote=True`` (``retrain-check --auto``) a ``promote`` decision moves the champion alias to
the new model: the registry accepts the comparison because its baseline re-scored the holder's
own model file, and the audit trail records who started it, when, the comparison and that it
was automatic (:attr:`workbench.store.AliasEvent.automatic`).

Example::

    report = monitor_files(log=..., bundle=..., labels=...)
    decision = retrain_decision(report, store=store, schedule="monthly")
    decision.action, decision.reasons          # ('retrain', ('drift on worst area ...', ...))
    save_report(store, report, decision=decision)   # workbench.monitor: kept with the report

Modules: ``_records`` (the decision, its checks and the cost as values), ``_decision`` (the
checks and :func:`retrain_decision`), ``_retraining`` (:func:`retrain_now`). The demo's
monitoring stage is :func:`workbench.demo.monitor_stage`.
"""

from __future__ import annotations

from ._decision import CPU_METRICS, SCHEDULES, retrain_decision, schedule_due, training_cost
from ._records import ACTIONS, Check, Decision, TrainingCost
from ._retraining import (
    OUTCOME_RECORD,
    RetrainOutcome,
    evaluate_champion_on,
    outcome_markdown,
    recent_training_csv,
    retrain_now,
)

__all__ = [
    "ACTIONS",
    "CPU_METRICS",
    "OUTCOME_RECORD",
    "SCHEDULES",
    "Check",
    "Decision",
    "RetrainOutcome",
    "TrainingCost",
    "evaluate_champion_on",
    "outcome_markdown",
    "recent_training_csv",
    "retrain_decision",
    "retrain_now",
    "schedule_due",
    "training_cost",
]
