"""End to end: real notebooks executed by papermill in real kernels (a few seconds each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.store import RunStatus, open_workspace

pytestmark = pytest.mark.slow

FAST = ["-p", "n_boot=200"]


def run_cli(ws: Path, *args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["run", "--workspace", str(ws), "--json", *args])
    payload = json.loads(result.stdout[result.stdout.index("{") :]) if "{" in result.stdout else {}
    return result.exit_code, payload


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "workspace"


@pytest.fixture(scope="module")
def logreg_run(ws: Path) -> dict:
    code, out = run_cli(
        ws, "--dataset", "breast_cancer", "--model", "logreg", "--trials", "5", *FAST
    )
    assert code == 0, out
    return out


def test_classification_run_records_everything(ws: Path, logreg_run: dict) -> None:
    out = logreg_run
    assert out["status"] == "succeeded"
    assert out["metrics"]["roc_auc"]["value"] > 0.9
    low, high = out["metrics"]["roc_auc"]["ci95"]
    assert low <= out["metrics"]["roc_auc"]["value"] <= high
    for name in (
        "accuracy",
        "f1",
        "log_loss",
        "brier",
        "single_p50_ms",
        "single_p99_ms",
        "batch_rows_per_s",
        "model_size_bytes",
    ):
        assert name in out["metrics"], name
    store = open_workspace(ws)[1]
    run = store.get_run(out["run_id"])
    assert [s.status for s in run.stages] == [RunStatus.SUCCEEDED] * 3
    assert run.dataset is not None and run.dataset.n_rows == 569
    assert run.params["best_params"]["C"] > 0
    assert run.artifact("model").path.endswith("model.skops")
    assert Path(run.artifact("model").path).is_file()
    assert run.versions["scikit-learn"]
    for stage in run.stages:
        assert Path(stage.output_path).is_file()
        html = Path(stage.report_path).read_text()
        assert html.count("plotly-graph-div") >= 2, stage.name
        assert '<script src="http' not in html
    index = (ws / "reports" / "index.html").read_text()
    assert out["run_id"] in index and "evaluate.html" in index
    # The optuna study lives in the same database as the store.
    import optuna

    summaries = optuna.get_all_study_summaries(f"sqlite:///{ws / 'workbench.db'}")
    assert any(out["run_id"] in s.study_name for s in summaries)


def test_same_parameters_and_seed_give_same_metrics(ws: Path, logreg_run: dict) -> None:
    code, again = run_cli(
        ws, "--dataset", "breast_cancer", "--model", "logreg", "--trials", "5", *FAST
    )
    assert code == 0
    for name in ("roc_auc", "accuracy", "f1", "log_loss", "brier", "search.cv_roc_auc"):
        assert again["metrics"][name] == logreg_run["metrics"][name], name


def test_regression_dataset(ws: Path) -> None:
    code, out = run_cli(ws, "--dataset", "diabetes", "--model", "linear", "--trials", "3", *FAST)
    assert code == 0, out
    for name in ("rmse", "mae", "r2"):
        assert name in out["metrics"]
    assert out["metrics"]["r2"]["value"] > 0.2


def test_failing_cell_marks_run_failed_and_keeps_partial_notebook(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cv_folds=1 makes scikit-learn's KFold raise inside the search notebook; the preflight
    # check that refuses it before any kernel starts is bypassed to reach a failing cell.
    monkeypatch.setattr("workbench.preflight.check_run", lambda params, ds: None)
    code, out = run_cli(ws, "--dataset", "iris", "--trials", "2", "-p", "cv_folds=1")
    assert code == 1
    assert out["status"] == "failed"
    err = out["error"]
    assert err["stage"] == "search" and err["ename"] == "ValueError"
    assert err["cell_index"] > 0 and any(
        "KFold" in line or "n_splits" in line for line in err["traceback"]
    )
    store = open_workspace(ws)[1]
    run = store.get_run(out["run_id"])
    assert [s.status for s in run.stages] == [
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.SKIPPED,
    ]
    partial = Path(run.stages[1].output_path)
    assert partial.is_file() and "n_splits" in partial.read_text()
    assert Path(run.stages[1].report_path).is_file()


def test_ctrl_c_marks_run_cancelled(tmp_path: Path) -> None:
    ws = tmp_path / "w"
    env = {**os.environ, "WORKBENCH_HOME": str(ws)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "run",
            "--dataset",
            "digits",
            "--model",
            "rf",
            "--trials",
            "50",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        started = False
        while time.monotonic() < deadline and not started:
            time.sleep(0.5)
            if (ws / "workbench.db").exists():
                runs = open_workspace(ws)[1].list_runs()
                started = bool(runs) and any(
                    s.name == "search" and s.status is RunStatus.RUNNING for s in runs[0].stages
                )
        assert started, "the search stage never started"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "cancelled" in stderr and "Traceback" not in stderr
    run = open_workspace(ws)[1].list_runs()[0]
    assert run.status is RunStatus.CANCELLED


def test_notebooks_run_by_hand_are_runs_of_their_own_unless_continued(
    tmp_path: Path, monkeypatch
) -> None:
    """As with papermill's Python API: without a run id each notebook starts a run of its own
    with its parameters; ``run_id`` continues one. The workspace comes from WORKBENCH_HOME."""
    import papermill

    from workbench.params import notebooks_dir

    ws = tmp_path / "lab"
    monkeypatch.setenv("WORKBENCH_HOME", str(ws))
    monkeypatch.delenv("WORKBENCH_BATCH", raising=False)
    nb = notebooks_dir()

    def execute(name: str, **params: object) -> None:
        papermill.execute_notebook(
            str(nb / f"{name}.ipynb"),
            str(tmp_path / f"{name}.ipynb"),
            parameters=params,
            kernel_name="python3",
            progress_bar=False,
        )

    execute("01_explore")  # defaults only
    store = open_workspace(ws)[1]
    (explore,) = store.list_runs()
    execute("03_evaluate", run_id=explore.id, n_boot=100)  # continued explicitly
    execute("02_search", trials=2, cv_folds=2, model="rf")  # a new run
    runs = {r.id: store.get_run(r.id) for r in store.list_runs()}
    assert len(runs) == 2
    run = runs[explore.id]
    assert run.status is RunStatus.SUCCEEDED and run.model_family == "logreg"
    assert [(s.name, s.status) for s in run.stages] == [
        ("explore", RunStatus.SUCCEEDED),
        ("evaluate", RunStatus.SUCCEEDED),
    ]
    assert run.params["n_boot"] == 100
    assert run.metric("roc_auc", "evaluate").value > 0.9
    assert run.artifact("model") is not None
    (search,) = (r for r in runs.values() if r.id != explore.id)
    assert search.model_family == "rf" and search.source == "papermill"
    assert [(s.name, s.status) for s in search.stages] == [("search", RunStatus.SUCCEEDED)]
    # Outside `workbench run` the threshold explorer widget is shown beside the static table.
    executed = (tmp_path / "03_evaluate.ipynb").read_text()
    assert "application/vnd.jupyter.widget-view+json" in executed


def test_report_rebuilds_in_reviewer_mode_and_show_renders(ws: Path, logreg_run: dict) -> None:
    run_id = logreg_run["run_id"]
    html_path = Path(logreg_run["reports"]["evaluate"])
    assert 'class="jp-CodeMirrorEditor' in html_path.read_text()  # code visible by default
    result = CliRunner().invoke(cli, ["report", run_id[:-2], "--reviewer", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output
    html = html_path.read_text()
    assert 'class="jp-CodeMirrorEditor' not in html and html.count("plotly-graph-div") >= 2
    result = CliRunner().invoke(cli, ["show", run_id, "--workspace", str(ws)])
    assert result.exit_code == 0
    for text in ("roc_auc", "Parameters", "Stages", "Artifacts", "scikit-learn"):
        assert text in result.output
    result = CliRunner().invoke(cli, ["runs", "--workspace", str(ws)])
    assert run_id in result.output and "roc_auc" in result.output


def test_explore_stage_alone(tmp_path: Path) -> None:
    code, out = run_cli(tmp_path / "w", "--dataset", "wine", "--stages", "explore")
    assert code == 0, out
    assert out["status"] == "succeeded" and list(out["reports"]) == ["explore"]
    assert out["metrics"]["explore.n_rows"]["value"] == 178
