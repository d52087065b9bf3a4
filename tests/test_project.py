"""A project of one's own: `workbench init`, discovery like git, settings, user stages."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.config import resolve_workspace
from workbench.exceptions import ConfigError
from workbench.project import (
    PROJECT_ENV,
    find_project,
    init_project,
    load_project,
    package_data,
)
from workbench.store import RunStatus, open_workspace


@pytest.fixture(autouse=True)
def _no_home(monkeypatch: pytest.MonkeyPatch) -> None:
    # conftest points WORKBENCH_HOME at a temporary workspace; a project's own must win here.
    monkeypatch.delenv("WORKBENCH_HOME")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_package_data_is_inside_the_package() -> None:
    import workbench

    package = Path(workbench.__file__).resolve().parent
    for parts in (("notebooks", "02_search.ipynb"), ("templates", "gates.yaml")):
        path = package_data(*parts)
        assert path.is_file() and path.resolve().is_relative_to(package)
    with pytest.raises(ConfigError, match="installed without its package data"):
        package_data("templates", "nope.yaml")


def test_init_writes_a_project_and_keeps_what_exists(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    code, out = invoke("init", str(root), "--json")
    assert code == 0, out
    made = json.loads(out)
    assert made["workspace"] == str(root / "workspace")
    for name in (
        "workbench.toml",
        "notebooks/01_explore.ipynb",
        "notebooks/02_search.ipynb",
        "notebooks/03_evaluate.ipynb",
        "gates.yaml",
        "example_plugin.py",
        ".gitignore",
    ):
        assert str(root / name) in made["created"], name
    assert made["stages"]["search"] == str(root / "notebooks" / "02_search.ipynb")
    assert (root / "workspace" / "workbench.db").is_file()

    (root / "notebooks" / "02_search.ipynb").write_text("mine")
    code, out = invoke("init", str(root), "--json")
    again = json.loads(out)
    assert again["created"] == [] and str(root / "workbench.toml") in again["kept"]
    assert (root / "notebooks" / "02_search.ipynb").read_text() == "mine"


def test_commands_find_the_project_from_any_subfolder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "proj"
    init_project(root)
    open_workspace(root / "workspace", create=True)[1].create_run(
        "20260101-000000-aaaaaa",
        dataset_name="iris",
        model_family="rf",
        seed=1,
        stages=[],
        params={},
    )
    monkeypatch.chdir(root / "notebooks")
    code, out = invoke("runs", "--json")
    assert code == 0, out
    assert [r["run_id"] for r in json.loads(out)] == ["20260101-000000-aaaaaa"]
    assert resolve_workspace().root == root / "workspace"


def test_discovery_nearest_wins_then_pyproject_then_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer, inner = tmp_path / "outer", tmp_path / "outer" / "sub" / "inner"
    inner.mkdir(parents=True)
    (outer / "workbench.toml").write_text('dataset = "wine"\n')
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.workbench]\nmodel = "rf"\n')
    (inner / "deeper").mkdir()
    assert find_project(inner / "deeper").model == "rf"  # type: ignore[union-attr]
    found = find_project(outer / "sub")
    assert found is not None and found.root == outer and found.dataset == "wine"
    assert found.workspace == outer / "workspace"
    # A pyproject.toml without [tool.workbench] is not a project.
    (inner / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_project(inner).root == outer  # type: ignore[union-attr]
    assert find_project(tmp_path) is None
    # WORKBENCH_PROJECT names one explicitly, whatever the folder.
    monkeypatch.setenv(PROJECT_ENV, str(outer))
    monkeypatch.chdir(tmp_path)
    assert find_project().root == outer  # type: ignore[union-attr]
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "none"))
    with pytest.raises(ConfigError, match=r"WORKBENCH_PROJECT=.*holds no workbench\.toml"):
        find_project()


def test_workspace_precedence_flag_env_project_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "workbench.toml").write_text('workspace = "../shared-ws"\n')
    monkeypatch.chdir(root)
    assert resolve_workspace().root == tmp_path / "shared-ws"
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "env-ws"))
    assert resolve_workspace().root == tmp_path / "env-ws"
    assert resolve_workspace(tmp_path / "flag").root == tmp_path / "flag"
    monkeypatch.delenv("WORKBENCH_HOME")
    monkeypatch.chdir(tmp_path)
    assert resolve_workspace().root == tmp_path / "workspace"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ('datset = "wine"\n', "unknown key(s) 'datset'; known keys are workspace, dataset"),
        ("dataset = 3\n", "dataset must be a string, got 3"),
        ('plugins = "mine"\n', "plugins must be a list of module paths"),
        ('plugins = ["my plugins"]\n', "plugin 'my plugins' is not a module path"),
        ('[stages]\n"2nd" = "a.ipynb"\n', "stage name '2nd' is not usable"),
        ('[stages]\nx = "a.py"\n', "stage 'x' must name a notebook file"),
        ("dataset = [\n", "is not valid TOML"),
    ],
)
def test_malformed_settings_name_the_file_and_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: str, message: str
) -> None:
    (tmp_path / "workbench.toml").write_text(settings)
    with pytest.raises(ConfigError) as e:
        load_project(tmp_path)
    assert message in str(e.value) and str(tmp_path / "workbench.toml") in str(e.value)
    monkeypatch.chdir(tmp_path)
    code, out = invoke("runs")
    assert code == 2 and message in out and "Traceback" not in out


def test_run_takes_its_defaults_and_stages_from_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    init_project(root)
    monkeypatch.chdir(root)
    settings = root / "workbench.toml"
    text = settings.read_text()
    settings.write_text(text.replace('dataset = "breast_cancer"', 'dataset = "nosuchset"'))
    code, out = invoke("run")
    assert code == 2 and "unknown dataset 'nosuchset'" in out  # the project's default
    settings.write_text(text.replace('dataset = "breast_cancer"\n', ""))
    code, out = invoke("run")
    assert code == 2 and "no dataset: pass --dataset NAME" in out and "workbench.toml" in out
    code, out = invoke("run", "--dataset", "iris", "--stages", "explore,train")
    assert code == 2
    listed = f"unknown stage(s) 'train'; stages are explore, search, evaluate (from {settings})"
    assert listed in out


def _stage_notebook(path: Path, *, declares: str = 'workspace = ""\nrun_id = ""\n') -> None:
    """A user-written stage: a parameters cell and a RunContext recording one metric."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        declares + 'dataset = "iris"\ntarget = ""\nseed = 42\nboost = 1.0'
    )
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "from workbench.context import RunContext\n"
        'ctx = RunContext.open(stage="my_features", workspace=workspace, run_id=run_id,\n'
        "                      dataset=dataset, target=target, seed=seed)\n"
        "ds, split = ctx.load_data()\n"
        'ctx.log_metrics({"n_features": ds.shape[1] * boost})\n'
        "ctx.finish()"
    )
    nb.cells = [params, body]
    nbformat.write(nb, path)


def _with_stage(root: Path) -> None:
    settings = root / "workbench.toml"
    settings.write_text(
        settings.read_text().replace(
            'search = "notebooks/02_search.ipynb"',
            'my_features = "notebooks/my_features.ipynb"\nsearch = "notebooks/02_search.ipynb"',
        )
    )


def test_a_user_stage_is_checked_before_any_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    init_project(root)
    _with_stage(root)
    monkeypatch.chdir(root)
    args = ("run", "--dataset", "iris", "--stages", "explore,my_features")
    code, out = invoke(*args)
    assert code == 2 and "stage 'my_features': notebook" in out and "does not exist" in out
    _stage_notebook(root / "notebooks" / "my_features.ipynb", declares="")
    code, out = invoke(*args)
    assert code == 2 and "does not declare workspace and run_id in its parameters cell" in out
    _stage_notebook(root / "notebooks" / "my_features.ipynb")
    code, out = invoke(*args, "-p", "boost=high")
    assert code == 2 and "parameter 'boost' expects float" in out
    assert open_workspace(root / "workspace")[1].list_runs() == []


@pytest.mark.slow
def test_a_user_notebook_runs_as_a_stage_in_the_project_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "p"
    init_project(root)
    _with_stage(root)
    _stage_notebook(root / "notebooks" / "my_features.ipynb")
    monkeypatch.chdir(root / "notebooks")
    # Named out of order: stages run in the project's order (explore, my_features, ...).
    code, out = invoke(
        "run", "--dataset", "iris", "--stages", "my_features,explore", "-p", "boost=2", "--json"
    )
    assert code == 0, out
    run_id = json.loads(out[out.index("{") :])["run_id"]
    run = open_workspace(root / "workspace")[1].get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    assert [s.name for s in run.stages] == ["explore", "my_features"]
    assert run.metric("n_features", "my_features").value == 8.0  # type: ignore[union-attr]
    assert (root / "workspace" / "reports" / run_id / "my_features.html").is_file()
