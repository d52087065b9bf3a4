"""Batch scaling: one grid run with 1 local worker, 2 local workers and a 2-worker Dask
LocalCluster, side by side in one process, each in a fresh workspace.

    .venv/bin/python benchmarks/batch_scaling.py     # 4 runs: breast_cancer rf, 6 trials
    .venv/bin/python benchmarks/batch_scaling.py --runs 6 --trials 8

Prints wall times and ratios (speedup of 2 workers over 1; Dask over local with the same
workers), the CPU seconds each configuration used (work, independent of other load on the
machine) and the mean time of one run, which shows how much parallel runs slow each other.
Targets on a 2-core machine: 2 workers >= 1.7x one worker; Dask within 15% of the local
executor.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any


@dataclass(frozen=True)
class Measurement:
    label: str
    wall_s: float
    cpu_s: float
    mean_run_s: float
    ok: int
    runs: int


def cpu_seconds() -> float:
    """CPU time of this process and of every finished child (workers and their kernels).

    Unlike wall time it does not depend on what else the machine runs, so it shows whether a
    configuration does more work (overhead) or only waits longer (contention).
    """
    import resource

    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def build_grid(args: argparse.Namespace, runner: Any) -> Any:
    """Runs that do the same work, so the wall time measures scaling, not luck.

    Different seeds would make optuna sample different forests (50 to 300 trees) and the
    slowest run would decide the makespan; with one seed every search samples the same trials.
    The runs differ only in ``n_boot`` (one more bootstrap resample each), which gives them
    distinct keys at a negligible cost.
    """
    from workbench.batch import parse_grid

    spec = {
        "name": "batch-scaling",
        "datasets": [args.dataset],
        "models": [args.model],
        "trials": args.trials,
        "seed": 42,
        "stages": args.stages.split(","),
        "params": {"n_boot": [args.n_boot + i for i in range(args.runs)]},
    }
    return parse_grid(spec, runner=runner, name="batch-scaling")


def measure(label: str, executor: Any, args: argparse.Namespace) -> Measurement:
    from workbench.config import resolve_workspace
    from workbench.runner import Runner
    from workbench.store import open_workspace

    root = Path(tempfile.mkdtemp(prefix=f"wb-bench-{executor.name}-"))
    ws = resolve_workspace(root / "ws")
    ws.create()
    store = open_workspace(ws.root)[1]
    grid = build_grid(args, Runner(ws, store))
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    result = executor.run(grid, ws, store)
    wall = time.perf_counter() - t0
    time.sleep(1.0)  # let the last worker processes be reaped, so their CPU time is counted
    cpu = cpu_seconds() - cpu0
    durations = [r.duration_s for r in result.runs if r.duration_s is not None]
    ok = sum(r.ok for r in result.runs)
    # Other work on the machine shows in the 1-minute load average; > workers means contention.
    load = os.getloadavg()[0]
    print(f"  {label:<24} {wall:6.1f} s wall {cpu:6.1f} s cpu  load {load:.1f}  ({ok} ok)")
    mean_run = mean(durations) if durations else float("nan")
    return Measurement(label, wall, cpu, mean_run, ok, len(result.runs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="grid runs [4]")
    parser.add_argument("--trials", type=int, default=6, help="optuna trials per run [6]")
    parser.add_argument("--dataset", default="breast_cancer")
    parser.add_argument("--model", default="rf")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--stages", default="explore,search,evaluate")
    parser.add_argument("--workers", type=int, default=2, help="parallel workers [2]")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each configuration N times, interleaved, and keep the fastest: other "
        "work on a shared machine only ever adds time [1]",
    )
    args = parser.parse_args(argv)

    from workbench.batch import DaskExecutor, LocalExecutor
    from workbench.batch._executors import available_cores

    print(
        f"grid: {args.runs} runs of {args.dataset} {args.model}, {args.trials} trials, "
        f"stages {args.stages}; {available_cores()} cores; python {sys.version.split()[0]}; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}",
        flush=True,
    )
    n = args.workers
    configs = [
        ("local, 1 worker", lambda: LocalExecutor(workers=1)),
        (f"local, {n} workers", lambda: LocalExecutor(workers=n)),
        (f"dask LocalCluster, {n}", lambda: DaskExecutor(workers=n)),
    ]
    best: dict[str, Measurement] = {}
    for _ in range(max(1, args.repeat)):
        for label, make in configs:
            m = measure(label, make(), args)
            if label not in best or m.wall_s < best[label].wall_s:
                best[label] = m
    one, local, dask = (best[label] for label, _ in configs)

    print()
    header = f"{'configuration':<26}{'wall s':>9}{'speedup':>10}{'cpu s':>9}{'mean run s':>13}"
    print(header + f"{'ok':>7}")
    for m in (one, local, dask):
        print(
            f"{m.label:<26}{m.wall_s:>9.1f}{one.wall_s / m.wall_s:>9.2f}x{m.cpu_s:>9.1f}"
            f"{m.mean_run_s:>13.1f}{m.ok:>4}/{m.runs}"
        )
    print()
    print(f"local {n} workers vs 1 worker: {one.wall_s / local.wall_s:.2f}x  (target >= 1.7x)")
    print(
        f"dask vs local, {n} workers:    {local.wall_s / dask.wall_s:.2f}x  "
        f"(dask wall / local wall = {dask.wall_s / local.wall_s:.2f}; target <= 1.15)"
    )
    print(
        f"one run slows by {local.mean_run_s / one.mean_run_s:.2f}x when {n} run side by side "
        "(contention for cores, disk and the store)"
    )
    return 0 if all(m.ok == m.runs for m in (one, local, dask)) else 1


if __name__ == "__main__":  # spawn-started workers re-import this file; run only once
    raise SystemExit(main())
