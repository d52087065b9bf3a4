"""Batches: a grid of runs executed in parallel processes or on a Dask cluster, resumable.

Example::

    from workbench.batch import LocalExecutor, load_grid
    from workbench.runner import Runner

    grid = load_grid("grid.yaml", runner=Runner(ws, store))   # validates every run first
    result = LocalExecutor(workers=2).run(grid, ws, store)     # or DaskExecutor(workers=2)
    result.status, [r.status for r in result.runs], result.page

``workbench batch GRID.yaml`` is the command-line door; ``templates/grid.yaml`` documents the
grid format. Importing this package is cheap: papermill, optuna and dask load when used.
"""

from __future__ import annotations

from ._backends import DaskExecutor, LocalExecutor, executor_names, get_executor, register_executor
from ._executors import BatchExecutor
from ._grid import Grid, GridRun, load_grid, parse_grid, run_key, stable_key
from ._records import (
    STALE_AFTER_S,
    STALE_REASON,
    BatchRecord,
    PlannedRun,
    get_batch,
    list_batches,
    mark_stale_runs,
    plan_runs,
)
from ._tasks import (
    BatchProgress,
    BatchResult,
    NoProgress,
    RunSummary,
    RunTask,
    available_cores,
    execute_task,
)

__all__ = [
    "STALE_AFTER_S",
    "STALE_REASON",
    "BatchExecutor",
    "BatchProgress",
    "BatchRecord",
    "BatchResult",
    "DaskExecutor",
    "Grid",
    "GridRun",
    "LocalExecutor",
    "NoProgress",
    "PlannedRun",
    "RunSummary",
    "RunTask",
    "available_cores",
    "execute_task",
    "executor_names",
    "get_batch",
    "get_executor",
    "list_batches",
    "load_grid",
    "mark_stale_runs",
    "parse_grid",
    "plan_runs",
    "register_executor",
    "run_key",
    "stable_key",
]
