"""The CLI: clean errors for bad input (no traceback, non-zero exit, nothing recorded lost)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.store import RunStatus, open_workspace


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_help_lists_commands_and_is_lazy() -> None:
    code, out = invoke("--help")
    assert code == 0
    for cmd in ("init", "run", "runs", "show", "report", "demo"):
        assert cmd in out
    # --help must not import the heavy stack (pandas, sklearn, papermill, optuna).
    probe = (
        "import sys; from workbench.cli import cli; "
        "heavy = [m for m in ('pandas', 'sklearn', 'papermill', 'optuna', 'sqlalchemy') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_init_creates_a_project_and_its_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKBENCH_HOME")
    code, out = invoke("init", str(tmp_path / "p"))
    assert code == 0 and "project ready" in out, out
    ws = tmp_path / "p" / "workspace"
    assert (ws / "runs").is_dir() and (ws / "workbench.db").is_file()
    assert (tmp_path / "p" / "workbench.toml").is_file()


def test_init_takes_workspace_like_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README says every command takes --workspace; `init` refused it."""
    monkeypatch.delenv("WORKBENCH_HOME")
    monkeypatch.chdir(tmp_path)
    code, out = invoke("init", "--workspace", "elsewhere/ws")
    assert code == 0, out
    assert (tmp_path / "elsewhere" / "ws" / "workbench.db").is_file()
    assert 'workspace = "elsewhere/ws"' in (tmp_path / "workbench.toml").read_text()
    assert not (tmp_path / "workspace").exists()


def test_read_commands_on_missing_workspace_say_how_to_create_one(tmp_path: Path) -> None:
    code, out = invoke("runs", "--workspace", str(tmp_path / "none"))
    assert code == 2
    assert "workbench init" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nope"], "unknown dataset 'nope'; builtin datasets are breast_cancer"),
        (["--dataset", "missing.csv", "--target", "y"], "not found"),
        (["--dataset", "iris", "--model", "svm"], "unknown model family 'svm'; known families"),
        (["--dataset", "iris", "-p", "trails=3"], "unknown parameter 'trails'"),
        (["--dataset", "iris", "-p", "n_boot=many"], "'n_boot' expects int"),
        (["--dataset", "iris", "--stages", "explore,train"], "unknown stage(s) 'train'"),
    ],
)
def test_bad_run_input_is_refused_before_any_kernel(
    tmp_path: Path, args: list[str], message: str
) -> None:
    ws = tmp_path / "w"
    store = open_workspace(ws, create=True)[1]
    store.create_run("kept", dataset_name="iris", model_family="rf", seed=1, stages=[], params={})
    code, out = invoke("run", "--workspace", str(ws), *args)
    assert code == 2, out
    assert message in out
    assert "Traceback" not in out
    runs = store.list_runs()
    assert [r.id for r in runs] == ["kept"]  # nothing new recorded, nothing lost
    assert runs[0].status is RunStatus.RUNNING


def test_bad_csv_inputs_through_cli(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("a,b\n1,2\n3,4\n")
    code, out = invoke(
        "run", "--workspace", str(tmp_path / "w"), "--dataset", str(csv), "--target", "label"
    )
    assert code == 2 and "its columns are a, b" in out
    csv.write_text("")
    code, out = invoke(
        "run", "--workspace", str(tmp_path / "w"), "--dataset", str(csv), "--target", "label"
    )
    assert code == 2 and "is empty" in out


def test_runs_and_show_json(tmp_path: Path) -> None:
    ws = tmp_path / "w"
    store = open_workspace(ws, create=True)[1]
    store.create_run(
        "r-1",
        dataset_name="iris",
        model_family="rf",
        seed=1,
        stages=[("explore", "01_explore.ipynb")],
        params={"trials": 2},
    )
    code, out = invoke("runs", "--workspace", str(ws), "--json")
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["run_id"] == "r-1" and rows[0]["status"] == "running"
    code, out = invoke("show", "r-", "--workspace", str(ws), "--json")
    detail = json.loads(out)
    assert detail["params"] == {"trials": 2}
    assert detail["stages"][0]["name"] == "explore"
    assert "python" in detail["versions"] or detail["versions"] == {}
    code, out = invoke("show", "zzz", "--workspace", str(ws))
    assert code == 2 and "no run 'zzz'" in out


# -- relative paths (issue 10, part 3) -------------------------------------------------------


def _write_csv(path: Path, n: int = 80) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": (x[:, 0] + x[:, 1] > 0).astype(int)})
    frame.to_csv(path, index=False)


@pytest.mark.slow
def test_run_with_a_relative_csv_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.datasets import load_dataset

    _write_csv(tmp_path / "data.csv")
    monkeypatch.chdir(tmp_path)
    code, out = invoke(
        "run", "--dataset", "data.csv", "--target", "y", "--trials", "2", "-p", "n_boot=50",
        "--workspace", "ws", "--json",
    )  # fmt: skip
    assert code == 0, out
    run_id = json.loads(out[out.index("{") :])["run_id"]
    run = open_workspace(tmp_path / "ws")[1].get_run(run_id)
    csv = str((tmp_path / "data.csv").resolve())
    assert run.status is RunStatus.SUCCEEDED
    assert run.params["dataset"] == csv and run.dataset_name == csv
    assert run.dataset_fingerprint == load_dataset(csv, target="y").fingerprint
    assert run.dataset is not None and run.dataset.source == csv


def test_a_missing_relative_csv_names_the_folder_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_workspace(tmp_path / "ws", create=True)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out = invoke("run", "--dataset", "nope.csv", "--target", "y", "--workspace", "../ws")
    assert code == 2 and "Traceback" not in out
    assert "'nope.csv' not found in" in out and str(here.resolve()) in out
    assert open_workspace(tmp_path / "ws")[1].list_runs() == []
