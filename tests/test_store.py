"""The store contract: the same behaviour on every backend (SQLite here; PostgreSQL joins via
the ``store_url`` fixture when a server is available)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from workbench.exceptions import RunNotFound, StoreError
from workbench.store import (
    ArtifactRecord,
    DatasetRecord,
    MetricRecord,
    RunStatus,
    _migrate,
    open_store,
    utcnow,
)
from workbench.store.schema import VERSION_TABLE

_COUNTER = iter(range(10_000))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every contract test runs on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    from pg import fresh_database

    server = request.getfixturevalue("postgres_url")
    return fresh_database(server, f"contract_{next(_COUNTER)}")


def _new_run(store, run_id: str = "r1", **kw) -> None:
    store.create_run(
        run_id,
        dataset_name=kw.get("dataset", "iris"),
        model_family="logreg",
        seed=7,
        stages=[("explore", "01_explore.ipynb"), ("search", "02_search.ipynb")],
        params={"trials": 3, "dataset": "iris", "nested": {"a": [1, 2]}},
        versions={"python": "3.11"},
    )


def test_schema_is_migrated_and_versioned_apart_from_optuna(store_url: str) -> None:
    store = open_store(store_url)
    assert _migrate.current_revision(store.engine) == _migrate.head_revision()
    names = sa.inspect(store.engine).get_table_names()
    assert VERSION_TABLE in names
    assert "alembic_version" not in names  # left free for optuna
    for table in ("wb_runs", "wb_stages", "wb_params", "wb_metrics", "wb_artifacts", "wb_datasets"):
        assert table in names


def test_run_round_trip(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    run = store.get_run("r1")
    assert run.status is RunStatus.RUNNING
    assert run.params["nested"] == {"a": [1, 2]}
    assert [s.name for s in run.stages] == ["explore", "search"]
    assert all(s.status is RunStatus.PENDING for s in run.stages)
    assert run.created_at.tzinfo is not None


def test_stage_and_run_lifecycle(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    store.start_stage("r1", "explore", output_path="/x/01.ipynb")
    store.finish_stage("r1", "explore", RunStatus.SUCCEEDED, report_path="/r/explore.html")
    store.start_stage("r1", "search", output_path="/x/02.ipynb")
    store.finish_run("r1", RunStatus.CANCELLED, error={"reason": "interrupted"})
    run = store.get_run("r1")
    assert run.status is RunStatus.CANCELLED and run.status.is_finished()
    assert run.error == {"reason": "interrupted"}
    assert [s.status for s in run.stages] == [RunStatus.SUCCEEDED, RunStatus.CANCELLED]
    assert run.stages[0].report_path == "/r/explore.html"
    assert run.duration_s is not None and run.duration_s >= 0


def test_pending_stages_are_skipped_when_a_run_fails(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    store.start_stage("r1", "explore", output_path="/x")
    store.finish_stage("r1", "explore", RunStatus.FAILED, error={"ename": "ValueError"})
    store.finish_run("r1", RunStatus.FAILED, error={"stage": "explore"})
    run = store.get_run("r1")
    assert [s.status for s in run.stages] == [RunStatus.FAILED, RunStatus.SKIPPED]
    assert run.stages[0].error == {"ename": "ValueError"}


def test_metrics_replace_by_stage_and_name(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    store.log_metrics("r1", [MetricRecord("evaluate", "roc_auc", 0.9, 0.85, 0.95)])
    store.log_metrics(
        "r1",
        [MetricRecord("evaluate", "roc_auc", 0.91, 0.86, 0.96), MetricRecord("search", "cv", 1)],
    )
    run = store.get_run("r1")
    assert run.metric("roc_auc") == MetricRecord("evaluate", "roc_auc", 0.91, 0.86, 0.96)
    assert len(run.metrics) == 2


def test_artifacts_params_and_dataset(store_url: str) -> None:
    store = open_store(store_url)
    ds = DatasetRecord(
        "f" * 64,
        "iris",
        "sklearn:iris",
        "target",
        "classification",
        150,
        4,
        [{"name": "a", "dtype": "float64", "kind": "numeric"}],
        utcnow(),
    )
    store.record_dataset(ds)
    store.record_dataset(ds)  # idempotent
    _new_run(store)
    store.set_dataset("r1", ds.fingerprint)
    store.log_artifact("r1", ArtifactRecord("model", "model", "/m.skops", "a" * 64, 10, "search"))
    store.log_artifact("r1", ArtifactRecord("model", "model", "/m2.skops", "b" * 64, 12, "search"))
    store.log_params("r1", {"trials": 5, "extra": "x"})
    run = store.get_run("r1")
    assert run.dataset == ds
    assert run.artifact("model").path == "/m2.skops"
    assert run.params["trials"] == 5 and run.params["extra"] == "x"


def test_unknown_and_ambiguous_ids(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store, "20260101-000000-aaaaaa")
    _new_run(store, "20260101-000000-aaaabb")
    assert store.get_run("20260101-000000-aaaaa").id == "20260101-000000-aaaaaa"
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get_run("20260101-000000-aaaa")
    with pytest.raises(RunNotFound, match="workbench runs"):
        store.get_run("nope")
    with pytest.raises(RunNotFound):
        store.heartbeat("nope")


def test_duplicate_run_is_refused_and_first_kept(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    with pytest.raises(StoreError):
        _new_run(store, dataset="wine")
    assert store.get_run("r1").dataset_name == "iris"


def test_write_is_all_or_nothing(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    bad = [MetricRecord("evaluate", "ok", 1.0), MetricRecord("evaluate", "bad", "x")]  # type: ignore[arg-type]
    with pytest.raises((StoreError, ValueError)):
        store.log_metrics("r1", bad)
    assert store.get_run("r1").metrics == []


def test_list_runs_newest_first_with_metrics(store_url: str) -> None:
    store = open_store(store_url)
    for i in range(3):
        _new_run(store, f"r{i}")
        store.log_metrics(f"r{i}", [MetricRecord("evaluate", "roc_auc", 0.5 + i / 10)])
    runs = store.list_runs()
    assert [r.id for r in runs] == ["r2", "r1", "r0"]
    assert runs[0].metric("roc_auc").value == pytest.approx(0.7)
    assert len(store.list_runs(limit=2)) == 2


def test_bad_url_gives_clear_error() -> None:
    with pytest.raises(StoreError, match="SQLAlchemy URL"):
        open_store("notadb://x")


def test_migrations_upgrade_an_existing_database_keeping_its_runs(store_url: str) -> None:
    from alembic import command

    import workbench.store as store_pkg

    engine = store_pkg.make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_migrate._config(conn), "0001")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO wb_runs (id, status, dataset_name, seed, source, stages, versions,"
                " created_at) VALUES ('old', 'succeeded', 'iris', 1, 'cli', '[]', '{}', "
                ":now)"
            ),
            {"now": utcnow()},
        )
    assert _migrate.current_revision(engine) == "0001"
    store = open_store(store_url)
    assert _migrate.current_revision(store.engine) == _migrate.head_revision()
    assert store.get_run("old").status is RunStatus.SUCCEEDED
    assert "batch_id" in {c["name"] for c in sa.inspect(store.engine).get_columns("wb_runs")}
