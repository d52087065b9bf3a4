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
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..exceptions import ConfigError, RunCancelled, RunNotFound, StageFailed
from ..store import RunRecord, RunStatus, Store
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

if TYPE_CHECKING:
    from ..config import Workspace
    from ..runner import RunRequest

__all__ = [
    "BatchExecutor",
    "BatchProgress",
    "BatchResult",
    "DaskExecutor",
    "LocalExecutor",
    "RunSummary",
    "RunTask",
    "execute_task",
    "executor_names",
    "get_executor",
    "register_executor",
]

#: Environment variables that size the thread pools of BLAS / OpenMP inside a kernel.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_POLL_S = 1.0  # how often progress counts finished stages in the store
_MAX_ATTEMPTS = 2  # a task whose worker process dies is tried once more in a fresh pool
_SKIPPED = "skipped"


def available_cores() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- values that cross process boundaries ----------------------------------------------------


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to execute one run; plain data, picklable.

    The workspace and the store URL travel with the task because a remote worker has neither
    the caller's working directory nor its environment.
    """

    run_id: str
    batch_id: str
    key: str
    label: str
    request: RunRequest
    workspace_root: str
    db_url: str
    threads: int = 1
    artifact_root: str | None = None


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one grid run, small enough to send back from any worker.

    Attributes:
        run_id: The run (for a skipped run: the earlier run that already succeeded).
        key: The grid run's stable key.
        label: dataset, model and the grid's varying parameters.
        status: A :class:`RunStatus` value, or ``"skipped"`` (not executed by this batch).
        headline: ``{"name", "stage", "value", "ci95"?}`` as ``workbench runs`` shows it.
        duration_s: Seconds the worker spent on the run (for skipped runs: the earlier run's).
        error: One line saying where and why it failed.
        reused: An earlier failed run was continued under its id.
        note: Why it was skipped, or how it was lost.
    """

    run_id: str
    key: str
    label: str
    status: str
    dataset: str = ""
    model: str = ""
    headline: dict[str, Any] | None = None
    duration_s: float | None = None
    error: str | None = None
    reused: bool = False
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED.value, _SKIPPED)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BatchResult:
    """What a batch did.

    Attributes:
        batch_id: The batch id.
        status: ``succeeded`` (no run failed), ``failed`` or ``cancelled``.
        executor: e.g. ``"local (2 workers)"``.
        runs: One summary per grid run, in grid order.
        wall_s: Wall time of the execution, seconds.
        page: The batch page (``reports/batches/<id>.html``), once published.
        index: ``reports/index.html``, once published.
    """

    batch_id: str
    status: RunStatus
    executor: str
    runs: tuple[RunSummary, ...]
    wall_s: float
    page: str | None = None
    index: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> list[RunSummary]:
        return [r for r in self.runs if not r.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "status": self.status.value,
            "executor": self.executor,
            "wall_s": round(self.wall_s, 3),
            "counts": self.counts,
            "runs": [r.to_json() for r in self.runs],
            "page": self.page,
            "index": self.index,
        }


class BatchProgress(Protocol):
    """Receives batch events (in the calling process); the CLI draws a bar with them."""

    def batch_started(self, batch_id: str, *, runs: int, stages: int, executor: str) -> None: ...
    def stages_done(self, done: int) -> None: ...
    def run_finished(self, summary: RunSummary) -> None: ...


class _NoProgress:
    def batch_started(self, batch_id: str, *, runs: int, stages: int, executor: str) -> None:
        pass

    def stages_done(self, done: int) -> None:
        pass

    def run_finished(self, summary: RunSummary) -> None:
        pass


# -- the task, as it runs in a worker ---------------------------------------------------------


def execute_task(task: RunTask) -> RunSummary:
    """Execute one run in this process and summarize it; never raises for a failing run.

    Runs in a pool worker or a Dask worker. The run is (re)opened under ``task.run_id``, so a
    task retried after its worker died, or a resumed run, continues the same record and study.
    """
    from ..config import Workspace
    from ..runner import Runner
    from ..store import open_store

    _limit_threads(task.threads)
    artifacts = Path(task.artifact_root) if task.artifact_root else None
    ws = Workspace(root=Path(task.workspace_root), db_url=task.db_url, artifacts=artifacts)
    store = open_store(task.db_url, root=ws.artifact_root)
    t0 = time.perf_counter()
    error: str | None = None
    try:
        Runner(ws, store).run(task.request, run_id=task.run_id, batch_id=task.batch_id, reopen=True)
    except StageFailed as e:
        error = e.cell.summary()
    except Exception as e:  # a failing run is reported, never raised: the batch goes on
        error = f"{type(e).__name__}: {e}"
        _fail_if_running(store, task.run_id, error)
    return _summary_from_store(store, task, duration_s=time.perf_counter() - t0, error=error)


def _limit_threads(threads: int) -> None:
    """Size BLAS/OpenMP pools for the kernels this worker starts (they inherit the variables).

    N workers on N cores each running a kernel whose BLAS starts one thread per core would
    oversubscribe the machine; an explicit setting by the user wins.
    """
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, threads)))


def _fail_if_running(store: Store, run_id: str, reason: str) -> None:
    # The runner records cell failures and Ctrl-C itself; anything else (a kernel that would
    # not start, a store error) would leave the run `running` until the stale sweep.
    with contextlib.suppress(Exception):
        if store.get_run(run_id).status is RunStatus.RUNNING:
            store.finish_run(run_id, RunStatus.FAILED, error={"reason": reason})


def _summary_from_store(
    store: Store,
    task: RunTask,
    *,
    duration_s: float | None,
    error: str | None,
    note: str = "",
) -> RunSummary:
    from ..views import headline_metric

    req = task.request
    try:
        run = store.get_run(task.run_id)
    except RunNotFound:
        return RunSummary(
            task.run_id,
            task.key,
            task.label,
            RunStatus.FAILED.value,
            req.dataset,
            req.model,
            duration_s=duration_s,
            error=error or "the run was never recorded",
            note=note,
        )
    if run.status is not RunStatus.SUCCEEDED and not error:
        error = _error_line(run)
    return RunSummary(
        run.id,
        task.key,
        task.label,
        run.status.value,
        req.dataset,
        req.model,
        headline=headline_metric(run),
        duration_s=duration_s,
        error=error if run.status is not RunStatus.SUCCEEDED else None,
        note=note,
    )


def _error_line(run: RunRecord) -> str:
    err = run.error or next((s.error for s in run.stages if s.error), None) or {}
    if "ename" in err:
        return f"stage {err.get('stage')!r} cell {err.get('cell_index')}: {err['ename']}: " + str(
            err.get("evalue", "")
        )
    return str(err.get("reason") or err or f"run ended {run.status.value}")


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
        sink = progress or _NoProgress()
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
            _fail_if_running(self._store, task.run_id, reason)
            return _summary_from_store(self._store, task, duration_s=None, error=None, note=reason)
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
            _SKIPPED,
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
            summaries[task.run_id] = _summary_from_store(
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
        while not self._stop.wait(_POLL_S):
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


# -- local processes ----------------------------------------------------------------------------


def _worker_init(parent_pid: int) -> None:
    """Pool worker set-up: Ctrl-C is the parent's business; die with the parent.

    Without the watchdog a worker whose batch process was killed (SIGKILL) would run its
    notebook to the end, orphaned; dying instead lets the run's heartbeat go stale, and its
    kernel follows (ipykernel exits when its parent changes).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class LocalExecutor(BatchExecutor):
    """Runs on this machine in ``workers`` processes (``spawn``: papermill and zmq do not
    survive ``fork`` after threads started).

    A worker process that dies (killed, out of memory) breaks a ``ProcessPoolExecutor`` for
    every task in it; the tasks caught in the break are tried once more in a fresh pool.

    Example::

        LocalExecutor(workers=2).run(grid, ws, store)
    """

    name = "local"

    def _execute(self, tasks: Sequence[RunTask], done: Callable[[RunSummary], None]) -> None:
        attempts: Counter[str] = Counter()
        pending = list(tasks)
        for _ in range(_MAX_ATTEMPTS):  # a round finishes each task or retries it once more
            pending = self._round(pending, attempts, done)
            if not pending:
                return

    def _round(
        self,
        tasks: Sequence[RunTask],
        attempts: Counter[str],
        done: Callable[[RunSummary], None],
    ) -> list[RunTask]:
        """Run ``tasks`` in one process pool; returns those to retry because the pool broke."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        from concurrent.futures.process import BrokenProcessPool

        retry: list[RunTask] = []
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        try:
            futures = {pool.submit(execute_task, t): t for t in tasks}
            for fut in as_completed(futures):
                task = futures[fut]
                try:
                    summary = fut.result()
                except BrokenProcessPool as e:  # some worker died; every unfinished task sees it
                    attempts[task.run_id] += 1
                    if attempts[task.run_id] < _MAX_ATTEMPTS:
                        retry.append(task)
                        continue
                    summary = self.lost(task, e)
                except Exception as e:
                    summary = self.lost(task, e)
                done(summary)
        except BaseException:
            _kill_pool(pool)  # Ctrl-C: running notebooks stop now, not when they finish
            raise
        pool.shutdown(wait=True)
        return retry


def _kill_pool(pool: Any) -> None:
    """Stop a process pool now, running tasks included (``shutdown`` would wait for them)."""
    # ProcessPoolExecutor has no public handle on its processes before Python 3.14
    # (`kill_workers`); use it when present.
    if hasattr(pool, "kill_workers"):
        pool.kill_workers()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for p in processes:
        with contextlib.suppress(Exception):
            p.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(timeout=5)


# -- Dask -----------------------------------------------------------------------------------------


class DaskExecutor(BatchExecutor):
    """Submits the runs to a Dask ``distributed`` cluster.

    Without ``scheduler`` a ``LocalCluster`` of ``workers`` single-threaded worker processes is
    started on 127.0.0.1 for the batch and closed after it. With ``scheduler`` (e.g.
    ``tcp://10.0.0.5:8786``) the runs go to that cluster: its workers need workbench installed,
    the workspace folder at the same path (a shared filesystem) and a store they can reach,
    i.e. ``WORKBENCH_DB_URL=postgresql+psycopg://...`` rather than a local SQLite file.

    Args:
        scheduler: Address of a running scheduler; None starts a LocalCluster.
        workers: Workers of the LocalCluster (ignored with ``scheduler``).

    Example::

        DaskExecutor(workers=2).run(grid, ws, store)
    """

    name = "dask"

    def __init__(self, *, scheduler: str | None = None, workers: int | None = None) -> None:
        super().__init__(workers=workers)
        self.scheduler = scheduler

    def describe(self) -> str:
        if self.scheduler:
            return f"dask ({self.scheduler})"
        return f"dask LocalCluster ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def threads_per_run(self) -> int:
        # The machines behind a remote scheduler are unknown; one thread per run is safe.
        return 1 if self.scheduler else super().threads_per_run()

    def _execute(self, tasks: Sequence[RunTask], done: Callable[[RunSummary], None]) -> None:
        distributed = _import_distributed()
        cluster = None
        try:
            if self.scheduler is None:
                cluster = self._local_cluster(distributed)
            with self._connect(distributed, cluster) as client:
                futures = {
                    client.submit(execute_task, t, key=f"workbench-run-{t.run_id}", pure=False): t
                    for t in tasks
                }
                try:
                    for fut in distributed.as_completed(list(futures)):
                        try:
                            summary = fut.result()
                        except Exception as e:  # KilledWorker, lost connection, ...
                            summary = self.lost(futures[fut], e)
                        done(summary)
                except BaseException:
                    # Queued runs never start; ones already running on a remote cluster finish
                    # there (Dask cannot stop a running task) and record their own status.
                    with contextlib.suppress(Exception):
                        client.cancel(list(futures))
                    raise
        finally:
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()

    def _local_cluster(self, distributed: Any) -> Any:
        import logging

        import dask

        # The workers' statistical profiler samples every thread each 10 ms for the dashboard,
        # which is off here; it only taxes the thread driving the kernel (in the benchmark it
        # cost about 10 s of CPU per four runs). Nannies hand this config to their workers.
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            return distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )

    def _connect(self, distributed: Any, cluster: Any) -> Any:
        target = cluster if cluster is not None else self.scheduler
        try:
            return distributed.Client(target, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {self.scheduler!r}: {e}; start one with "
                "`dask scheduler` (and `dask worker ADDRESS`), or omit --scheduler to run a "
                "local cluster"
            ) from e


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise ConfigError(
            "the dask executor needs dask.distributed; install it with "
            "`pip install 'dask[distributed]'` or use --executor local"
        ) from e
    return distributed


# -- registry -------------------------------------------------------------------------------------

_EXECUTORS: dict[str, type[BatchExecutor]] = {"local": LocalExecutor, "dask": DaskExecutor}


def register_executor(name: str, cls: type[BatchExecutor]) -> None:
    """Make ``cls`` available as ``--executor name``."""
    _EXECUTORS[name] = cls


def executor_names() -> list[str]:
    return sorted(_EXECUTORS)


def get_executor(name: str, **options: Any) -> BatchExecutor:
    """An executor by name, e.g. ``get_executor("dask", workers=2)``.

    Raises:
        ConfigError: Unknown name (the known ones are listed) or bad options.
    """
    try:
        cls = _EXECUTORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown executor {name!r}; known executors: {', '.join(executor_names())}"
        ) from None
    return cls(**options)
