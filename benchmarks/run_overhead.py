"""Overhead of the workbench against plain papermill and plain optuna, measured in one run.

1. Per notebook stage: `Runner.run` (validation, store writes, progress, HTML export, index)
   against `papermill.execute_notebook` of the same notebooks with the same parameters.
   Rounds alternate between the two so drift on a noisy machine hits both alike.
2. Per optuna trial: `workbench.search.run_search` against `study.optimize` with the same
   objective, sampler seed and SQLite storage.

Usage: python benchmarks/run_overhead.py [--rounds 3] [--trials 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from workbench._files import new_id
from workbench.config import resolve_workspace
from workbench.context import STAGES
from workbench.params import notebooks_dir
from workbench.runner import Runner, RunRequest
from workbench.store import open_workspace

DATASET, MODEL = "breast_cancer", "logreg"


def plain_papermill(ws, store, trials: int) -> dict[str, float]:
    import papermill

    run_id = new_id()
    params = {"dataset": DATASET, "target": "", "model": MODEL, "trials": trials, "seed": 42}
    store.create_run(
        run_id,
        dataset_name=DATASET,
        model_family=MODEL,
        seed=42,
        stages=[(s, nb) for s, nb in STAGES.items()],
        params=params,
    )
    out_dir = ws.run_dir(run_id)
    out_dir.mkdir(parents=True)
    times = {}
    for stage, nb in STAGES.items():
        t0 = time.perf_counter()
        papermill.execute_notebook(
            str(notebooks_dir() / nb),
            str(out_dir / nb),
            parameters={**params, "workspace": str(ws.root), "run_id": run_id},
            kernel_name="python3",
            progress_bar=False,
        )
        times[stage] = time.perf_counter() - t0
    times["total"] = sum(times.values())
    return times


def through_workbench(ws, store, trials: int) -> dict[str, float]:
    t0 = time.perf_counter()
    outcome = Runner(ws, store).run(RunRequest(dataset=DATASET, model=MODEL, trials=trials))
    total = time.perf_counter() - t0
    run = store.get_run(outcome.run_id)
    times = {s.name: s.duration_s or float("nan") for s in run.stages}
    times["total"] = total
    return times


def optuna_overhead(url: str, trials: int) -> tuple[float, float]:
    import optuna

    from workbench.datasets import load_dataset, make_split
    from workbench.search import direction_for, make_objective, run_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ds = load_dataset(DATASET)
    split = make_split(ds, seed=42)
    objective = make_objective(ds, split, MODEL, seed=42)
    study = optuna.create_study(
        study_name=f"plain-{new_id()}",
        storage=url,
        direction=direction_for(ds.task),
        sampler=optuna.samplers.TPESampler(seed=42),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    plain = (time.perf_counter() - t0) / trials
    result = run_search(
        ds,
        split,
        family=MODEL,
        trials=trials,
        seed=42,
        storage_url=url,
        study_name=f"wb-{new_id()}",
    )
    return plain, result.seconds / trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    ws = resolve_workspace(Path(tempfile.mkdtemp(prefix="wb-bench-")) / "ws")
    ws.create()
    store = open_workspace(ws.root)[1]
    plain_runs, wb_runs = [], []
    for r in range(args.rounds):
        order = (
            (plain_papermill, through_workbench)
            if r % 2 == 0
            else (through_workbench, plain_papermill)
        )
        for fn in order:
            (plain_runs if fn is plain_papermill else wb_runs).append(fn(ws, store, args.trials))
    print(
        f"stage overhead, median of {args.rounds} rounds ({DATASET}, {MODEL}, {args.trials} trials)"
    )
    print(f"{'stage':<10} {'papermill s':>12} {'workbench s':>12} {'ratio':>7}")
    for stage in [*STAGES, "total"]:
        p = statistics.median(t[stage] for t in plain_runs)
        w = statistics.median(t[stage] for t in wb_runs)
        print(f"{stage:<10} {p:12.2f} {w:12.2f} {w / p:7.3f}")
    plain, wb = [], []
    for _ in range(args.rounds):
        a, b = optuna_overhead(ws.db_url, args.trials)
        plain.append(a)
        wb.append(b)
    p, w = statistics.median(plain), statistics.median(wb)
    print(f"\noptuna trial (SQLite storage), median of {args.rounds}")
    print(f"{'plain optuna ms/trial':<24}{p * 1000:9.1f}")
    print(f"{'workbench ms/trial':<24}{w * 1000:9.1f}")
    print(f"{'ratio':<24}{w / p:9.3f}")


if __name__ == "__main__":
    main()
