"""The two batch backends: a local process pool and a Dask cluster, and their registry."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigError
from ._executors import BatchExecutor
from ._tasks import MAX_ATTEMPTS, RunSummary, RunTask, execute_task

if TYPE_CHECKING:
    pass

__all__ = [
    "DaskExecutor",
    "LocalExecutor",
    "executor_names",
    "get_executor",
    "register_executor",
]

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
        for _ in range(MAX_ATTEMPTS):  # a round finishes each task or retries it once more
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
                    if attempts[task.run_id] < MAX_ATTEMPTS:
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
