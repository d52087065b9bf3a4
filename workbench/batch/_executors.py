"""Batch executors: run a grid's runs in parallel processes or on a Dask cluster.

Template method (papermill's ``Engine`` is the model): :class:`BatchExecutor` does everything
that is the same for every backend: sweep stale runs, plan run ids up front (and what
``--resume`` skips or continues), record the batch, time it, count stage progress, isolate
failures, cancel on Ctrl-C, summarize. The batch page and the index are the report layer's
(:func:`workbench.reports.publish_batch`), written by the caller once a batch returns.
A subclass implements one method, :meth:`BatchExecutor._execute`, which runs
:func:`execute_task` for every task somewhere and reports each summary as it arrives.

Each task runs ``Runner(ws, store).run(request, run_id=...)`` in its worker
and returns a small picklable :class:`RunSummary`; a failing run becomes a failed summary, never
an exception, so one bad run cannot stop the others.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..exceptions import ConfigError, RunCancelled, RunNotFound
from ..store import RunStatus, Store
from ._grid import Grid
from ._records import (
    BATCH_HEARTBEAT_S,
    STALE_AFTER_S,
    PlannedRun,
    beat_batch,
    close_interrupted_trials,
    finish_batch,
    mark_stale_runs,
    new_batch_id,
    plan_runs,
    prepare_optuna_storage,
    record_batch,
)
from ._tasks import (
    POLL_S,
    SKIPPED,
    BatchProgress,
    BatchResult,
    NoProgress,
    RunSummary,
    RunTask,
    available_cores,
    fail_if_running,
    summary_from_store,
)

if TYPE_CHECKING:
    from ..config import Workspace

__all__ = [
    "BatchExecutor",
]


# -- the template ------------------------------------------------------------------------------


class BatchExecutor(ABC):
    """Runs the runs of a grid as one recorded batch.

    Subclasses implement :meth:`_execute` only. Its contract: execute :func:`execute_task` for
    every task (in any order, any process), and call ``done(summary)`` from the calling thread
    exactly once per task as it finishes. A task that cannot report (its worker died) becomes
    ``done(self.lost(task, exc))``. On ``KeyboardInterrupt`` stop the work you own and re-raise;
    the base records the unfinished runs as cancelled.

    Args:
        workers: Parallel runs (default: the cores available).
    """

    name: ClassVar[str] = ""

    def __init__(self, *, workers: int | None = None) -> None:
        self.workers = available_cores() if workers is None else workers
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        self._store: Store | None = None

    def describe(self) -> str:
        """What the batch record and the summary show as the executor."""
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def threads_per_run(self) -> int:
        """BLAS/OpenMP threads each run may use: the cores shared among the workers."""
        return max(1, available_cores() // self.workers)

    # -- the template method ------------------------------------------------------------------

    def run(
        self,
        grid: Grid,
        workspace: Workspace,
        store: Store,
        *,
        resume: bool = False,
        progress: BatchProgress | None = None,
        stale_after_s: float = STALE_AFTER_S,
    ) -> BatchResult:
        """Execute every run of ``grid`` and record them as one batch.

        Args:
            grid: A validated grid (:func:`~workbench.batch.load_grid`).
            workspace: The :class:`~workbench.config.Workspace`.
            store: Its store.
            resume: Skip runs whose stable key already succeeded; continue failed ones under
                their run id (and optuna study).
            progress: Optional progress sink.
            stale_after_s: Heartbeat age beyond which a ``running`` run counts as dead.

        Returns:
            The batch result; ``status`` is ``failed`` when any run failed.

        Raises:
            RunCancelled: Ctrl-C; finished runs are kept, unfinished ones recorded cancelled.
            ConfigError: The executor could not start (e.g. the scheduler is unreachable).

        Example::

            result = LocalExecutor(workers=2).run(load_grid(path, runner=r), ws, store)
            print(result.status, [s.status for s in result.runs])
        """
        workspace.create()
        self._store = store
        sink = progress or NoProgress()
        batch_id, plan = self._plan(
            grid, workspace, store, resume=resume, stale_after_s=stale_after_s
        )
        tasks = [self._task(p, batch_id, workspace, grid) for p in plan if not p.skipped]
        summaries: dict[str, RunSummary] = {}

        def done(summary: RunSummary) -> None:
            summaries[summary.run_id] = summary
            sink.run_finished(summary)

        sink.batch_started(
            batch_id, runs=len(plan), stages=grid.stage_count, executor=self.describe()
        )
        skipped_stages = sum(len(p.run.request.stages) for p in plan if p.skipped)
        for p in plan:
            if p.skipped:
                done(self._skipped(p, grid))
        t0 = time.perf_counter()
        try:
            ticker = _StageTicker(store, batch_id, [t.run_id for t in tasks], sink, skipped_stages)
            with ticker:
                if tasks:
                    self._execute(tasks, done)
        except KeyboardInterrupt as e:
            self._close_unfinished(tasks, summaries, RunStatus.CANCELLED, "batch interrupted")
            self._finish(batch_id, plan, summaries, RunStatus.CANCELLED, t0, grid, workspace, store)
            raise RunCancelled(
                f"batch {batch_id} cancelled; finished runs are kept, unfinished ones are "
                "recorded as cancelled; `workbench batch GRID --resume` continues it"
            ) from e
        except BaseException as e:
            reason = f"the {self.name} executor failed: {type(e).__name__}: {e}"
            self._close_unfinished(tasks, summaries, RunStatus.FAILED, reason)
            self._finish(batch_id, plan, summaries, RunStatus.FAILED, t0, grid, workspace, store)
            raise
        for task in tasks:
            if task.run_id not in summaries:  # a subclass broke its contract; still be truthful
                done(self.lost(task, RuntimeError("the executor did not report this run")))
        return self._finish(
            batch_id, plan, summaries, RunStatus.SUCCEEDED, t0, grid, workspace, store
        )

    @abstractmethod
    def _execute(self, tasks: Sequence[RunTask], done: Callable[[RunSummary], None]) -> None:
        """Run :func:`execute_task` for every task; ``done(summary)`` as each finishes."""

    # -- helpers for subclasses ---------------------------------------------------------------

    def lost(self, task: RunTask, exc: BaseException) -> RunSummary:
        """The summary of a task whose worker could not report (died, was killed, lost).

        A run still recorded ``running`` is marked failed; a run that finished before its
        worker was lost keeps its recorded status.
        """
        reason = f"worker lost: {type(exc).__name__}: {exc}".rstrip(": ")
        if self._store is not None:
            fail_if_running(self._store, task.run_id, reason)
            return summary_from_store(self._store, task, duration_s=None, error=None, note=reason)
        return RunSummary(task.run_id, task.key, task.label, RunStatus.FAILED.value, error=reason)

    # -- internals ----------------------------------------------------------------------------

    def _plan(
        self, grid: Grid, workspace: Workspace, store: Store, *, resume: bool, stale_after_s: float
    ) -> tuple[str, list[PlannedRun]]:
        """Sweep dead runs, assign run ids (what resume skips or continues), record the batch."""
        from ..search import study_name_for

        mark_stale_runs(store, stale_after_s)
        plan = plan_runs(grid, store, resume=resume)
        batch_id = new_batch_id()
        record_batch(store, batch_id, grid=grid, executor=self.describe(), plan=plan)
        searching = [p for p in plan if not p.skipped and "search" in p.run.request.stages]
        if searching:
            prepare_optuna_storage(workspace.db_url)
        for p in searching:
            if p.reused:
                close_interrupted_trials(
                    workspace.db_url, study_name_for(p.run_id, p.run.request.model)
                )
        return batch_id, plan

    def _task(self, p: PlannedRun, batch_id: str, workspace: Workspace, grid: Grid) -> RunTask:
        return RunTask(
            run_id=p.run_id,
            batch_id=batch_id,
            key=p.run.key,
            label=p.run.label(grid.varying),
            request=p.run.request,
            workspace_root=str(workspace.root),
            db_url=workspace.db_url,
            threads=self.threads_per_run(),
            artifact_root=str(workspace.artifact_root),
        )

    def _skipped(self, p: PlannedRun, grid: Grid) -> RunSummary:
        from ..views import headline_metric

        run = p.earlier
        return RunSummary(
            p.run_id,
            p.run.key,
            p.run.label(grid.varying),
            SKIPPED,
            p.run.request.dataset,
            p.run.request.model,
            headline=headline_metric(run) if run is not None else None,
            duration_s=run.duration_s if run is not None else None,
            note=p.skip_reason,
        )

    def _close_unfinished(
        self,
        tasks: Sequence[RunTask],
        summaries: dict[str, RunSummary],
        status: RunStatus,
        reason: str,
    ) -> None:
        """Record the runs the batch could not finish, so none stays ``running``."""
        assert self._store is not None
        for task in tasks:
            if task.run_id in summaries:
                continue
            try:
                if self._store.get_run(task.run_id).status is RunStatus.RUNNING:
                    self._store.finish_run(task.run_id, status, error={"reason": reason})
            except RunNotFound:
                summaries[task.run_id] = RunSummary(
                    task.run_id, task.key, task.label, status.value, note=f"not started: {reason}"
                )
                continue
            summaries[task.run_id] = summary_from_store(
                self._store, task, duration_s=None, error=None, note=reason
            )

    def _finish(
        self,
        batch_id: str,
        plan: Sequence[PlannedRun],
        summaries: dict[str, RunSummary],
        status: RunStatus,
        t0: float,
        grid: Grid,
        workspace: Workspace,
        store: Store,
    ) -> BatchResult:
        wall = time.perf_counter() - t0
        runs = tuple(summaries[p.run_id] for p in plan if p.run_id in summaries)
        counts = dict(Counter(r.status for r in runs))
        if status is RunStatus.SUCCEEDED and any(not r.ok for r in runs):
            status = RunStatus.FAILED
        summary = {
            "executor": self.describe(),
            "workers": self.workers,
            "wall_s": round(wall, 3),
            "counts": counts,
            "runs": [r.to_json() for r in runs],
        }
        finish_batch(store, batch_id, status=status, summary=summary)
        return BatchResult(
            batch_id=batch_id,
            status=status,
            executor=self.describe(),
            runs=runs,
            wall_s=wall,
            counts=counts,
        )


class _StageTicker:
    """Counts finished stages of the batch's runs in the store, for a progress bar, and keeps
    the batch's heartbeat.

    Reading the shared store works the same for every executor, local or remote, without a
    channel back from the workers.
    """

    def __init__(
        self, store: Store, batch_id: str, run_ids: list[str], sink: Any, offset: int
    ) -> None:
        self.store, self.batch_id, self.run_ids = store, batch_id, run_ids
        self.sink, self.offset = sink, offset
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="batch-progress", daemon=True)
        self._last_beat = 0.0

    def __enter__(self) -> _StageTicker:
        self.sink.stages_done(self.offset)
        self._beat()
        if self.run_ids:
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.sink.stages_done(self.offset + self._count())

    def _loop(self) -> None:
        while not self._stop.wait(POLL_S):
            with contextlib.suppress(Exception):  # progress is cosmetic; never fail a batch
                self.sink.stages_done(self.offset + self._count())
            if time.monotonic() - self._last_beat >= BATCH_HEARTBEAT_S:
                self._beat()

    def _beat(self) -> None:
        self._last_beat = time.monotonic()
        with contextlib.suppress(Exception):  # a missed beat is harmless; the next one retries
            beat_batch(self.store, self.batch_id)

    def _count(self) -> int:
        return self.store.count_finished_stages(self.run_ids)
