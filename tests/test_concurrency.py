"""Concurrent writers lose nothing: 8 processes recording runs and metrics into one store (on
SQLite and on a real PostgreSQL), and several processes running trials of one optuna study on
the team PostgreSQL."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from workbench.store import DatasetRecord, MetricRecord, RunStatus, open_store
from workbench.store import schema as t

WRITERS = 8
RUNS_EACH = 10
METRICS_EACH = 20
_COUNTER = iter(range(10_000))
_SHARED_DATASET = DatasetRecord(
    fingerprint="f" * 64,
    name="iris",
    source="sklearn:iris",
    target="target",
    task="classification",
    n_rows=150,
    n_features=4,
    features=[],
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def _writer(url: str, worker: int, barrier: Any) -> None:
    """One process: RUNS_EACH runs, each with METRICS_EACH metrics in several transactions."""
    store = open_store(url)
    barrier.wait(timeout=60)  # all writers start together: maximum contention
    # Every run of a batch records its dataset first: the same new row from all writers at once.
    store.record_dataset(_SHARED_DATASET)
    for i in range(RUNS_EACH):
        run_id = f"w{worker}-r{i}"
        store.create_run(
            run_id,
            dataset_name="iris",
            model_family="logreg",
            seed=i,
            stages=[("explore", "01_explore.ipynb"), ("search", "02_search.ipynb")],
            params={"worker": worker, "i": i},
        )
        store.start_stage(run_id, "explore", output_path="explore.ipynb")
        for start in range(0, METRICS_EACH, 5):
            store.log_metrics(
                run_id,
                [MetricRecord("explore", f"m{j}", float(j)) for j in range(start, start + 5)],
            )
        store.heartbeat(run_id)
        store.finish_stage(run_id, "explore", RunStatus.SUCCEEDED)
        store.finish_run(run_id, RunStatus.SUCCEEDED)


def _run_processes(target: Any, args: list[tuple[Any, ...]], barrier: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=target, args=(*a, barrier)) for a in args]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=180)
        assert [p.exitcode for p in procs] == [0] * len(procs)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def test_concurrent_writers_lose_nothing(store_url: str) -> None:
    open_store(store_url)  # migrate once, before the writers race
    barrier = multiprocessing.get_context("spawn").Barrier(WRITERS)
    _run_processes(_writer, [(store_url, w) for w in range(WRITERS)], barrier)

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:

            def count(table: sa.Table, *where: Any) -> int:
                q = sa.select(sa.func.count()).select_from(table)
                return int(conn.execute(q.where(*where) if where else q).scalar_one())

            total = WRITERS * RUNS_EACH
            assert count(t.datasets) == 1
            assert count(t.runs) == total
            assert count(t.runs, t.runs.c.status == "succeeded") == total
            assert count(t.metrics) == total * METRICS_EACH
            assert count(t.params) == total * 2
            assert count(t.stages, t.stages.c.status == "succeeded") == total
            assert count(t.stages, t.stages.c.status == "skipped") == 0
    finally:
        engine.dispose()


def _optimizer(url: str, study_name: str, n_trials: int, barrier: Any) -> None:
    """One process of a distributed search: the workbench objective on a shared study."""
    import optuna

    from workbench.datasets import load_dataset, make_split
    from workbench.search import make_objective

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ds = load_dataset("iris")
    objective = make_objective(ds, make_split(ds, seed=0), "logreg", seed=0, cv_folds=3)
    kwargs = {"engine_kwargs": {"connect_args": {"timeout": 30}}} if "sqlite" in url else {}
    storage = optuna.storages.RDBStorage(url, **kwargs)
    study = optuna.load_study(study_name=study_name, storage=storage)
    barrier.wait(timeout=60)
    study.optimize(objective, n_trials=n_trials)


@pytest.mark.postgres
def test_several_processes_search_one_study(postgres_url: str) -> None:
    """The team set-up: optuna's RDB storage on the shared PostgreSQL, several searchers."""
    import optuna
    from pg import fresh_database

    store_url = fresh_database(postgres_url, "shared_search")
    open_store(store_url)  # the workbench tables beside optuna's, as in a team database
    name = "workbench:shared-search:logreg"
    optuna.create_study(study_name=name, storage=store_url, direction="maximize")
    processes, each = 3, 4
    barrier = multiprocessing.get_context("spawn").Barrier(processes)
    _run_processes(_optimizer, [(store_url, name, each)] * processes, barrier)

    study = optuna.load_study(study_name=name, storage=store_url)
    trials = study.get_trials(deepcopy=False)
    finished = [
        tr
        for tr in trials
        if tr.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    assert len(trials) == len(finished) == processes * each  # none lost, none duplicated
    assert sorted(tr.number for tr in trials) == list(range(processes * each))
    assert 0.5 < study.best_value <= 1.0


def test_searchers_on_a_new_database_create_tables_once_and_stop_at_the_count(
    tmp_path: Any,
) -> None:
    """Two searches (threads: cheap, and each opens its own storage and connections as a
    process would) start together on a brand-new database and ask for 4 finished trials of one
    study. Before: "table studies already exists" lost one, and each ran the trials missing at
    its start, 8 for 4."""
    import threading

    import optuna

    from workbench.datasets import load_dataset, make_split
    from workbench.search import run_search

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    ds = load_dataset("iris")
    split = make_split(ds, seed=0)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def search() -> None:
        try:
            barrier.wait(timeout=60)  # together: both create the tables, both count 0 done
            run_search(
                ds, split, family="logreg", trials=4, seed=0, storage_url=url,
                study_name="shared", cv_folds=2,
            )  # fmt: skip
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    trials = optuna.load_study(study_name="shared", storage=url).get_trials(deepcopy=False)
    finished = [tr for tr in trials if tr.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
