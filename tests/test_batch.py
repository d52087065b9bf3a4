"""Batches: grid files, the executor template (inline, fast) and both real executors (slow)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from workbench.batch import (
    BatchExecutor,
    DaskExecutor,
    LocalExecutor,
    RunSummary,
    RunTask,
    execute_task,
    get_batch,
    get_executor,
    load_grid,
    parse_grid,
    run_key,
    stable_key,
)
from workbench.config import Workspace
from workbench.context import STAGES
from workbench.exceptions import CellError, ConfigError, RunCancelled, StageFailed
from workbench.reports import build_index, publish_batch
from workbench.reports._batch import batch_sections
from workbench.runner import Runner, RunRequest
from workbench.store import MetricRecord, RunStatus, Store, open_store, open_workspace

FAST = {"n_boot": 100, "cv_folds": 3}  # tiny: bootstrap resamples, folds per trial


def write_grid(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def invoke_batch(*args: str) -> Any:
    """`workbench batch ...` through the real group."""
    from workbench.cli import cli

    return CliRunner().invoke(cli, ["batch", *args])


# -- grid files -------------------------------------------------------------------------------


def test_grid_expands_every_combination_in_order(workspace: Workspace, store: Store) -> None:
    grid = parse_grid(
        {
            "name": "g",
            "datasets": ["iris", "wine"],
            "models": ["logreg", "rf"],
            "trials": [2, 3],
            "seed": 7,
            "stages": ["search", "evaluate"],
            "params": {"cv_folds": [3, 4], "n_boot": 100},
        },
        runner=Runner(workspace, store),
    )
    assert len(grid.runs) == 2 * 2 * 2 * 2
    first, last = grid.runs[0].request, grid.runs[-1].request
    assert (first.dataset, first.model, first.trials, first.params) == (
        "iris",
        "logreg",
        2,
        {"cv_folds": 3, "n_boot": 100},
    )
    assert (last.dataset, last.model, last.trials, last.params["cv_folds"]) == ("wine", "rf", 3, 4)
    assert set(grid.varying) == {"dataset", "model", "trials", "cv_folds"}
    assert len({r.key for r in grid.runs}) == len(grid.runs)
    assert grid.stage_count == 32
    assert grid.runs[0].label(grid.varying) == "iris logreg trials=2 cv_folds=3"


def test_stable_key_fills_defaults_and_resolves_aliases(workspace: Workspace, store: Store) -> None:
    runner = Runner(workspace, store)
    base = {"datasets": ["iris"], "trials": 2, "stages": ["search"]}
    a = parse_grid({**base, "models": ["linear"]}, runner=runner).runs[0]
    b = parse_grid({**base, "models": ["logreg"], "params": {"cv_folds": 5}}, runner=runner).runs[
        0
    ]  # 5 is the notebook's default
    c = parse_grid({**base, "models": ["logreg"], "params": {"cv_folds": 3}}, runner=runner)
    assert a.key == b.key != c.runs[0].key
    assert a.key == stable_key(["search"], {"dataset": "iris", "model": "logreg", "trials": 2})
    # What notebooks log beside their parameters (best_params, ...) does not change the key.
    assert stable_key(["search"], {**a.params, "best_params": {"C": 1}}) == a.key


def test_recorded_run_has_the_same_key(workspace: Workspace, store: Store) -> None:
    runner = Runner(workspace, store)
    grid = parse_grid({"datasets": ["iris"], "models": ["rf"], "trials": 2}, runner=runner)
    _, params = runner.prepare(grid.runs[0].request)
    store.create_run(
        "r1",
        dataset_name="iris",
        model_family="rf",
        seed=42,
        stages=[(s, nb) for s, nb in STAGES.items()],
        params=params,
    )
    store.log_params("r1", {"best_params": {"n_estimators": 50}, "family": "rf"})
    assert run_key(store.get_run("r1")) == grid.runs[0].key


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"datasets": ["iris"], "models": ["rf"], "trails": 2}, r"unknown key.*'trails'.*'trials'"),
        ({"datasets": [], "models": ["rf"]}, r"'datasets' is an empty list"),
        ({"models": ["rf"]}, r"'datasets' is missing"),
        ({"datasets": ["iris"], "models": ["rf"], "trials": "2"}, r"'trials' expects int"),
        ({"datasets": ["iris"], "models": ["rf"], "seed": [1, 1]}, r"lists a value twice"),
        ({"datasets": ["iris"], "models": ["rf"], "params": {"trials": 3}}, r"top level"),
        ({"datasets": ["iris"], "models": ["rf"], "params": {"n_boot": []}}, r"empty list"),
        ({"datasets": [{"name": "iris", "col": "y"}], "models": ["rf"]}, r"unknown key.*'col'"),
        (["iris"], r"must be a mapping"),
    ],
)
def test_malformed_grids_are_refused_with_the_fix(
    workspace: Workspace, store: Store, spec: Any, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_grid(spec, runner=Runner(workspace, store))


def test_every_invalid_run_is_reported_before_anything_starts(
    workspace: Workspace, store: Store
) -> None:
    spec = {
        "datasets": ["iris", "no_such_dataset"],
        "models": ["logreg", "xgboost", "linear"],
        "params": {"n_boot": ["many"]},
    }
    with pytest.raises(ConfigError) as info:
        parse_grid(spec, runner=Runner(workspace, store))
    message = str(info.value)
    assert "6 runs are invalid; nothing was started" in message
    assert "unknown model family 'xgboost'" in message
    assert "no_such_dataset" in message
    assert store.list_runs() == []


def test_grid_file_errors(tmp_path: Path, workspace: Workspace, store: Store) -> None:
    runner = Runner(workspace, store)
    with pytest.raises(ConfigError, match="no grid file"):
        load_grid(tmp_path / "missing.yaml", runner=runner)
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: [iris\nmodels: [rf]\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_grid(bad, runner=runner)
    dup = tmp_path / "dup.yaml"
    dup.write_text("datasets: [iris]\nmodels: [rf]\nmodels: [logreg]\n")
    with pytest.raises(ConfigError, match="line 3: key 'models' appears twice"):
        load_grid(dup, runner=runner)


def test_csv_paths_are_relative_to_the_grid_file(
    tmp_path: Path, workspace: Workspace, store: Store
) -> None:
    import pandas as pd
    from sklearn.datasets import load_iris

    data = tmp_path / "grids" / "data"
    data.mkdir(parents=True)
    frame = load_iris(as_frame=True).frame
    frame.to_csv(data / "flowers.csv", index=False)
    assert isinstance(frame, pd.DataFrame)
    path = write_grid(
        tmp_path / "grids" / "g.yaml",
        {"datasets": [{"name": "data/flowers.csv", "target": "target"}], "models": ["rf"]},
    )
    grid = load_grid(path, runner=Runner(workspace, store))
    assert grid.runs[0].request.dataset == str(data / "flowers.csv")
    assert grid.runs[0].request.target == "target"
    assert grid.name == "g"


def test_grid_paths_follow_the_one_dataset_rule_from_any_folder(
    tmp_path: Path, workspace: Workspace, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_iris

    grids = tmp_path / "grids"
    grids.mkdir()
    load_iris(as_frame=True).frame.to_csv(grids / "flowers", index=False)  # no extension
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write_grid(grids / "g.yaml", {"datasets": [{"name": "flowers", "target": "target"}],
                                         "models": ["rf"]})  # fmt: skip
    grid = load_grid("../grids/g.yaml", runner=Runner(workspace, store))
    assert grid.runs[0].request.dataset == str(grids / "flowers")
    assert grid.source == str(path)
    write_grid(path, {"datasets": [{"name": "gone.csv", "target": "y"}], "models": ["rf"]})
    with pytest.raises(ConfigError, match=rf"'gone.csv' not found in {re.escape(str(grids))}"):
        load_grid("../grids/g.yaml", runner=Runner(workspace, store))


def test_template_grid_is_valid(workspace: Workspace, store: Store) -> None:
    template = Path(__file__).parents[1] / "templates" / "grid.yaml"
    grid = load_grid(template, runner=Runner(workspace, store))
    assert len(grid.runs) == 8 and grid.name == "example-grid"


def test_executor_registry_and_options() -> None:
    assert isinstance(get_executor("local", workers=3), LocalExecutor)
    dask = get_executor("dask", workers=2)
    assert isinstance(dask, DaskExecutor) and "LocalCluster (2 workers)" in dask.describe()
    with pytest.raises(ConfigError, match="unknown executor 'slurm'; known executors: dask, local"):
        get_executor("slurm")
    with pytest.raises(ConfigError, match="at least 1"):
        LocalExecutor(workers=0)


def test_cli_refuses_a_bad_grid_cleanly(tmp_path: Path) -> None:
    path = write_grid(tmp_path / "g.yaml", {"datasets": ["iris"], "modles": ["rf"]})
    result = invoke_batch(str(path), "--workspace", str(tmp_path / "ws"))
    assert result.exit_code == 2
    assert "unknown key(s) 'modles' (did you mean 'models'?)" in result.output
    assert "Traceback" not in result.output
    result = invoke_batch(
        str(path), "--executor", "local", "--scheduler", "tcp://127.0.0.1:1", "-w", str(tmp_path)
    )
    assert result.exit_code == 2 and "--scheduler needs --executor dask" in result.output


# -- the executor template, inline with a fake runner (no kernels) ------------------------------


CELL_FAILS, KERNEL_DIES = 11, 12  # fold counts the fake runs below turn into failures


def _fake_run(
    self: Runner, req: RunRequest, *, run_id: str, batch_id: str | None, reopen: bool
) -> None:
    """Records what a real run records, without notebooks. cv_folds picks a failure mode:
    CELL_FAILS fails a cell, KERNEL_DIES fails outside one (both pass the preflight checks)."""
    stages, params = self.prepare(req)
    self.store.create_run(
        run_id,
        dataset_name=req.dataset,
        model_family=req.model,
        seed=req.seed,
        stages=[(name, path.name) for name, path in stages],
        params=params,
        batch_id=batch_id,
        reopen=reopen,
    )
    mode = req.params.get("cv_folds")
    if mode == KERNEL_DIES:
        raise RuntimeError("kernel died")  # not a cell error: the task must still record it
    for name, _ in stages:
        self.store.start_stage(run_id, name, output_path=f"{name}.ipynb")
        if mode == CELL_FAILS and name == "search":
            cell = CellError(name, 3, 3, "fit()", "ValueError", "n_splits=1", ["tb"])
            self.store.finish_stage(run_id, name, RunStatus.FAILED, error=cell.__dict__)
            self.store.finish_run(run_id, RunStatus.FAILED, error=cell.__dict__)
            raise StageFailed(run_id, cell, "search.ipynb")
        html = self.ws.reports_dir / run_id / f"{name}.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(f"<html>{name}</html>")
        self.store.finish_stage(run_id, name, RunStatus.SUCCEEDED, report_path=str(html))
    value = 0.9 + req.seed / 100
    self.store.log_metrics(run_id, [MetricRecord("evaluate", "roc_auc", value, value - 0.05, 1.0)])
    self.store.finish_run(run_id, RunStatus.SUCCEEDED)


class InlineExecutor(BatchExecutor):
    """Runs tasks one by one in this process; optionally 'interrupted' after some of them."""

    name = "inline"

    def __init__(self, *, interrupt_after: int | None = None) -> None:
        super().__init__(workers=1)
        self.interrupt_after = interrupt_after

    def _execute(self, tasks: Sequence[RunTask], done: Callable[[RunSummary], None]) -> None:
        for i, task in enumerate(tasks):
            if i == self.interrupt_after:
                raise KeyboardInterrupt
            done(execute_task(task))


@pytest.fixture
def fake_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Runner, "run", _fake_run)


def _grid(workspace: Workspace, store: Store, **spec: Any) -> Any:
    base = {"name": "inline", "datasets": ["iris"], "models": ["logreg"], "trials": 2}
    return parse_grid({**base, **spec}, runner=Runner(workspace, store))


@pytest.mark.usefixtures("fake_runs")
def test_template_records_batch_isolates_failures_and_links_the_page(
    workspace: Workspace, store: Store
) -> None:
    grid = _grid(workspace, store, seed=[1, 2], params={"cv_folds": [5, CELL_FAILS, KERNEL_DIES]})
    events: list[Any] = []

    class Sink:
        def batch_started(self, batch_id: str, **kw: Any) -> None:
            events.append(("started", kw["runs"], kw["stages"]))

        def stages_done(self, done: int) -> None:
            events.append(("stages", done))

        def run_finished(self, summary: RunSummary) -> None:
            events.append(("run", summary.status))

    result = InlineExecutor().run(grid, workspace, store, progress=Sink())
    assert result.page is None  # pages are the report layer's: published by the caller
    result = publish_batch(workspace, store, result)
    assert result.status is RunStatus.FAILED  # some runs failed; the others still ran
    assert [r.status for r in result.runs] == ["succeeded", "failed", "failed"] * 2
    assert result.counts == {"succeeded": 2, "failed": 4}
    failed = result.runs[1]
    assert failed.error and "stage 'search' failed in cell 3" in failed.error
    crashed = result.runs[2]
    assert crashed.error == "RuntimeError: kernel died"
    assert store.get_run(crashed.run_id).status is RunStatus.FAILED  # never left running
    assert result.runs[0].headline == {
        "name": "roc_auc",
        "stage": "evaluate",
        "value": pytest.approx(0.91),
        "ci95": [pytest.approx(0.86), 1.0],
    }
    assert events[0] == ("started", 6, 18) and events.count(("run", "failed")) == 4

    record = get_batch(store, result.batch_id[:-2])  # a unique prefix is enough
    assert record.status is RunStatus.FAILED and record.summary["counts"] == result.counts
    assert record.run_ids == [r.run_id for r in result.runs]
    assert record.grid["spec"]["params"]["cv_folds"] == [5, CELL_FAILS, KERNEL_DIES]
    # Runs carry their batch id.
    import sqlalchemy as sa

    from workbench.store import schema

    with store.engine.connect() as conn:
        tagged = conn.execute(
            sa.select(schema.runs.c.id).where(schema.runs.c.batch_id == result.batch_id)
        ).all()
    assert len(tagged) == 6

    page = Path(result.page)
    assert page == workspace.reports_dir / "batches" / f"{result.batch_id}.html"
    html = page.read_text()
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    ok_run = result.runs[0].run_id
    assert f'href="../{ok_run}/evaluate.html"' in html
    assert "n_splits=1" in html and "RuntimeError" in html
    assert html.count('class="best"') == 1  # seed 2 has the better roc_auc
    index = Path(result.index).read_text()
    assert f'href="batches/{result.batch_id}.html"' in index
    assert f'href="{ok_run}/evaluate.html"' in index


@pytest.mark.usefixtures("fake_runs")
def test_batch_sections_escape_user_text(workspace: Workspace, store: Store) -> None:
    grid = _grid(workspace, store, name="<b>grid</b>")
    result = publish_batch(workspace, store, InlineExecutor().run(grid, workspace, store))
    assert "<b>grid</b>" not in Path(result.page).read_text()
    sections = batch_sections(workspace, store)
    assert sections[0].title == "Batches"
    index = build_index(workspace, store, extra_sections=sections).read_text()
    assert "&lt;b&gt;grid&lt;/b&gt;" in index


@pytest.mark.usefixtures("fake_runs")
def test_ctrl_c_cancels_unfinished_runs_and_the_batch(workspace: Workspace, store: Store) -> None:
    grid = _grid(workspace, store, seed=[1, 2, 3])
    with pytest.raises(RunCancelled, match="--resume"):
        InlineExecutor(interrupt_after=1).run(grid, workspace, store)
    (record,) = [get_batch(store, b.id) for b in _batches(store)]
    assert record.status is RunStatus.CANCELLED
    statuses = [r["status"] for r in record.summary["runs"]]
    assert statuses == ["succeeded", "cancelled", "cancelled"]
    assert all(r.status is not RunStatus.RUNNING for r in store.list_runs())


@pytest.mark.usefixtures("fake_runs")
def test_resume_skips_succeeded_and_reuses_failed_run_ids(
    workspace: Workspace, store: Store
) -> None:
    grid = _grid(workspace, store, seed=[1, 2], params={"cv_folds": [5, CELL_FAILS]})
    first = InlineExecutor().run(grid, workspace, store)
    assert [r.status for r in first.runs] == ["succeeded", "failed"] * 2
    again = InlineExecutor().run(grid, workspace, store, resume=True)
    assert [r.status for r in again.runs] == ["skipped", "failed"] * 2
    assert [r.run_id for r in again.runs] == [r.run_id for r in first.runs]  # same ids
    assert "already succeeded as run" in again.runs[0].note
    assert again.runs[0].headline == first.runs[0].headline
    assert len(store.list_runs()) == 4  # no duplicate records
    fresh = InlineExecutor().run(grid, workspace, store)  # without --resume: all new runs
    assert not {r.run_id for r in fresh.runs} & {r.run_id for r in first.runs}


def _batches(store: Store) -> list[Any]:
    from workbench.batch import list_batches

    return list_batches(store)


# -- the real executors: notebooks in kernels (slow) --------------------------------------------

SMALL_GRID = {
    "name": "iris-small",
    "datasets": ["iris"],
    # Two runs: one per worker, which is what the executors are tested for.
    "models": ["logreg", "rf"],
    "trials": 2,
    "seed": [1],
    "stages": ["explore", "search", "evaluate"],
    "params": FAST,
}


def _check_batch(
    ws_root: Path, out: dict[str, Any], store: Store, executor: str, stages: int
) -> None:
    assert out["status"] == "succeeded", out
    assert executor in out["executor"]
    assert [r["status"] for r in out["runs"]] == ["succeeded"] * 2
    for r in out["runs"]:
        assert r["headline"]["name"] == "roc_auc" and len(r["headline"]["ci95"]) == 2
        run = store.get_run(r["run_id"])
        assert [s.status for s in run.stages] == [RunStatus.SUCCEEDED] * stages
        assert run.metric("trials_complete", "search").value + run.metric(
            "trials_pruned", "search"
        ).value == pytest.approx(2)
    index = (ws_root / "reports" / "index.html").read_text()
    assert f'href="batches/{out["batch_id"]}.html"' in index
    page = Path(out["page"]).read_text()
    for r in out["runs"]:
        assert f'href="../{r["run_id"]}/evaluate.html"' in page
        assert (ws_root / "reports" / r["run_id"] / "evaluate.html").is_file()
    assert len(re.findall(r'<td class="status succeeded">', page)) == 2


@pytest.mark.slow
def test_local_executor_runs_a_grid_in_two_processes(tmp_path: Path) -> None:
    path = write_grid(tmp_path / "grid.yaml", SMALL_GRID)
    ws = tmp_path / "ws"
    result = invoke_batch(str(path), "--workers", "2", "--workspace", str(ws), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    store = open_workspace(ws)[1]
    _check_batch(ws, out, store, "local (2 workers)", stages=3)
    assert "2/2 runs" in result.stderr  # the overall progress bar


@pytest.mark.slow
def test_dask_executor_on_a_postgresql_team_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    from pg import fresh_database

    url = fresh_database(postgres_url, "batch_dask")
    monkeypatch.setenv("WORKBENCH_DB_URL", url)  # the store and the optuna studies on the server
    # Explore is covered by the local test; two stages keep this one shorter.
    path = write_grid(tmp_path / "grid.yaml", {**SMALL_GRID, "stages": ["search", "evaluate"]})
    ws = tmp_path / "ws"
    result = invoke_batch(
        str(path), "--executor", "dask", "--workers", "2", "--workspace", str(ws), "--json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    store = open_store(url)
    _check_batch(ws, out, store, "dask LocalCluster (2 workers)", stages=2)
    assert not (ws / "workbench.db").exists()
    import optuna

    studies = {s.study_name: s for s in optuna.get_all_study_summaries(url)}
    for r in out["runs"]:
        run = store.get_run(r["run_id"])
        assert studies[run.params["study_name"]].n_trials == 2


def test_a_grid_with_an_impossible_run_is_refused_before_any_run(tmp_path: Path) -> None:
    # cv_folds=1 used to fail inside the search notebook of one run; it is refused up front now.
    spec = {"datasets": ["iris"], "models": ["logreg"], "trials": 2, "stages": ["search"]}
    path = write_grid(tmp_path / "grid.yaml", {**spec, "params": {"cv_folds": [1, 3]}})
    ws = tmp_path / "ws"
    result = invoke_batch(str(path), "--workspace", str(ws), "--json")
    assert result.exit_code == 2
    assert "cv_folds must be an integer from 2 to 20 folds per trial, got 1" in result.stderr
    assert not (ws / "workbench.db").exists() or not open_workspace(ws)[1].list_runs()


@pytest.mark.slow
def test_cli_batch_reads_a_csv_next_to_the_grid_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_breast_cancer

    grids = tmp_path / "grids"
    grids.mkdir()
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, -6:]  # 5 features and the target
    frame.to_csv(grids / "data.csv", index=False)
    spec = {"datasets": [{"name": "data.csv", "target": "target"}], "models": ["logreg"],
            "trials": 2, "stages": ["explore"]}  # fmt: skip
    write_grid(grids / "grid.yaml", spec)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke_batch("../grids/grid.yaml", "--workers", "1", "--workspace", "ws", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    store = open_workspace(elsewhere / "ws")[1]
    run = store.get_run(out["runs"][0]["run_id"])
    assert run.status is RunStatus.SUCCEEDED
    assert run.params["dataset"] == str(grids / "data.csv")
    assert run.dataset_fingerprint is not None
    assert get_batch(store, out["batch_id"]).grid["source"] == str(grids / "grid.yaml")
