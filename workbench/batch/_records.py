"""Batch records (table ``wb_batches``; runs carry ``batch_id``), the stale-run sweep and the
resume plan.

A batch row holds the grid as written, the plan (stable key → run id of every run), the
executor, a status and, once finished, a summary of every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._files import new_id
from ..store import (
    BatchRecord,
    RunRecord,
    RunStatus,
    Store,
    close_interrupted_trials,
    prepare_optuna_storage,
)
from ._grid import Grid, GridRun, run_key

__all__ = [
    "STALE_AFTER_S",
    "STALE_REASON",
    "BatchRecord",
    "PlannedRun",
    "close_interrupted_trials",
    "get_batch",
    "list_batches",
    "mark_stale_runs",
    "plan_runs",
    "prepare_optuna_storage",
]

#: A run's heartbeat is written every 10 s while a stage runs; nine missed beats mean the
#: process running it is gone (killed, machine lost), not merely slow.
STALE_AFTER_S = 90.0
STALE_REASON = "stale heartbeat: process died"
#: The batch process records a heartbeat in its row this often while it runs.
BATCH_HEARTBEAT_S = 10.0


@dataclass(frozen=True)
class PlannedRun:
    """What a batch does with one grid run.

    Attributes:
        run: The grid run.
        run_id: The id it runs (or ran) under.
        reused: True when an earlier failed or cancelled run of the same key is continued
            under its id (its optuna study carries on).
        skip_reason: Non-empty when the run is not executed (already succeeded, or running
            elsewhere); ``earlier`` is that run.
        earlier: The earlier run record of the same key, if any.
    """

    run: GridRun
    run_id: str
    reused: bool = False
    skip_reason: str = ""
    earlier: RunRecord | None = None

    @property
    def skipped(self) -> bool:
        return bool(self.skip_reason)


# -- writes -----------------------------------------------------------------------------------


def new_batch_id() -> str:
    """Sortable and unique, like run ids: ``batch-20261129-204751-6c2e81``."""
    return new_id("batch-")


def record_batch(
    store: Store, batch_id: str, *, grid: Grid, executor: str, plan: Sequence[PlannedRun]
) -> None:
    """Insert the batch row (status ``running``) with the grid and its plan."""
    record = {
        "name": grid.name,
        "source": grid.source,
        "spec": grid.spec,
        "varying": list(grid.varying),
        "runs": [
            {
                "index": p.run.index,
                "key": p.run.key,
                "run_id": p.run_id,
                "params": p.run.params,
                "stages": list(p.run.request.stages),
                "reused": p.reused,
                "skip_reason": p.skip_reason,
            }
            for p in plan
        ],
    }
    store.add_batch(batch_id, grid=record, executor=executor)


def finish_batch(
    store: Store,
    batch_id: str,
    *,
    status: RunStatus,
    summary: dict[str, Any],
    report_path: str | None = None,
) -> None:
    """Record the batch's final status and summary."""
    store.finish_batch(batch_id, status=status, summary=summary, report_path=report_path)


def beat_batch(store: Store, batch_id: str) -> None:
    """Record that the batch process is alive (kept in ``summary`` until the batch ends)."""
    store.beat_batch(batch_id)


# -- reads ------------------------------------------------------------------------------------


def get_batch(store: Store, ref: str) -> BatchRecord:
    """One batch by id or unique id prefix.

    Raises:
        RunNotFound: No batch, or several, match ``ref``.
    """
    return store.get_batch(ref)


def list_batches(store: Store, *, limit: int | None = None) -> list[BatchRecord]:
    """Batches, newest first."""
    return store.list_batches(limit=limit)


# -- stale runs -------------------------------------------------------------------------------


def mark_stale_runs(store: Store, older_than_s: float = STALE_AFTER_S) -> list[str]:
    """Mark ``failed`` the runs whose process died: ``running`` with a stale heartbeat.

    The runner beats every 10 s while a stage runs; a run killed with SIGKILL (or lost with
    its machine) stops beating and would otherwise stay ``running`` forever. Its error becomes
    ``{"reason": "stale heartbeat: process died", "last_heartbeat": ...}``; its running stage is
    marked failed and pending stages skipped. Lab runs (open in JupyterLab) are never touched.

    Call it before listing or resuming runs: ``workbench runs``, ``show`` and ``batch`` do.

    Args:
        store: The store.
        older_than_s: Heartbeat age (seconds) beyond which a run counts as dead.

    Returns:
        The ids of the runs marked failed.

    Example::

        >>> mark_stale_runs(store)  # doctest: +SKIP
        ['20261129-204751-6c2e81']
    """
    marked = store.mark_stale_runs(older_than_s, reason=STALE_REASON)
    store.mark_stale_batches(older_than_s, reason=STALE_REASON)
    return marked


# -- resume -----------------------------------------------------------------------------------


def plan_runs(grid: Grid, store: Store, *, resume: bool) -> list[PlannedRun]:
    """Assign a run id to every grid run, up front.

    Without ``resume`` every run gets a new id. With ``resume``, a run whose stable key already
    succeeded (in any earlier batch, or a single ``workbench run`` with identical parameters)
    is skipped; one whose latest attempt failed or was cancelled is run again under that id, so
    its optuna study (named after the run id) is continued rather than restarted; one still
    running elsewhere (fresh heartbeat) is skipped.
    """
    earlier = _runs_by_key(grid, store) if resume else {}
    plan = []
    for run in grid.runs:
        previous = earlier.get(run.key, [])
        done = next((r for r in previous if _complete(r)), None)
        running = next((r for r in previous if r.status is RunStatus.RUNNING), None)
        if done is not None:
            reason = f"already succeeded as run {done.id}"
            plan.append(PlannedRun(run, done.id, skip_reason=reason, earlier=done))
        elif running is not None:
            reason = f"still running as run {running.id} (its heartbeat is fresh)"
            plan.append(PlannedRun(run, running.id, skip_reason=reason, earlier=running))
        elif previous:
            latest = previous[0]
            plan.append(PlannedRun(run, latest.id, reused=True, earlier=latest))
        else:
            plan.append(PlannedRun(run, new_id()))
    return plan


def _complete(run: RunRecord) -> bool:
    # A lab run is marked succeeded after any stage; only all stages succeeded is "done".
    return run.status is RunStatus.SUCCEEDED and all(
        s.status is RunStatus.SUCCEEDED for s in run.stages
    )


def _runs_by_key(grid: Grid, store: Store) -> dict[str, list[RunRecord]]:
    """Earlier runs that could share a key with the grid's runs, newest first per key."""
    wanted = {r.key for r in grid.runs}
    shapes = {(r.request.dataset, _family(r.request.model)) for r in grid.runs}
    found: dict[str, list[RunRecord]] = {}
    # Cheap filter on the run rows first; parameters are read only for plausible matches.
    for summary in store.list_runs(with_metrics=False):
        if (summary.dataset_name, _family(summary.model_family)) not in shapes:
            continue
        full = store.get_run(summary.id)
        key = run_key(full)
        if key in wanted:
            found.setdefault(key, []).append(full)
    for runs in found.values():
        runs.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return found


def _family(name: str | None) -> str | None:
    from ..models import get_family

    if name is None:
        return None
    try:
        return get_family(name).name
    except Exception:  # an unknown family recorded by someone else: no match, no failure
        return name
