"""What crosses process boundaries in a batch: the task, its summary, the batch result, and
the task as it runs in a worker (:func:`execute_task`). Plain, picklable data."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import RunNotFound, StageFailed
from ..store import RunRecord, RunStatus, Store

if TYPE_CHECKING:
    from ..runner import RunRequest

__all__ = [
    "MAX_ATTEMPTS",
    "POLL_S",
    "SKIPPED",
    "THREAD_VARS",
    "BatchProgress",
    "BatchResult",
    "NoProgress",
    "RunSummary",
    "RunTask",
    "available_cores",
    "execute_task",
    "fail_if_running",
    "summary_from_store",
]

#: Environment variables that size the thread pools of BLAS / OpenMP inside a kernel.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
POLL_S = 1.0  # how often progress counts finished stages in the store
MAX_ATTEMPTS = 2  # a task whose worker process dies is tried once more in a fresh pool
SKIPPED = "skipped"


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
        return self.status in (RunStatus.SUCCEEDED.value, SKIPPED)

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


class NoProgress:
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
        fail_if_running(store, task.run_id, error)
    return summary_from_store(store, task, duration_s=time.perf_counter() - t0, error=error)


def _limit_threads(threads: int) -> None:
    """Size BLAS/OpenMP pools for the kernels this worker starts (they inherit the variables).

    N workers on N cores each running a kernel whose BLAS starts one thread per core would
    oversubscribe the machine; an explicit setting by the user wins.
    """
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(max(1, threads)))


def fail_if_running(store: Store, run_id: str, reason: str) -> None:
    # The runner records cell failures and Ctrl-C itself; anything else (a kernel that would
    # not start, a store error) would leave the run `running` until the stale sweep.
    with contextlib.suppress(Exception):
        if store.get_run(run_id).status is RunStatus.RUNNING:
            store.finish_run(run_id, RunStatus.FAILED, error={"reason": reason})


def summary_from_store(
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
