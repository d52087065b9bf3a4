"""Plugins: the project's modules and the `workbench.plugins` entry points register datasets,
model families, metrics and stages, loaded the same way by the CLI and by every kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from workbench.cli import cli
from workbench.datasets import load_dataset, register_builtin
from workbench.exceptions import ConfigError, DatasetError
from workbench.models import ModelFamily, get_family, register_family
from workbench.plugins import load_plugins, stage_table
from workbench.project import PROJECT_ENV, find_project, init_project, package_data
from workbench.store import RunStatus, open_workspace

pytestmark = pytest.mark.usefixtures("fresh_plugins")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _enable(root: Path, plugins: list[str]) -> None:
    settings = root / "workbench.toml"
    text = settings.read_text().replace("plugins = []", f"plugins = {json.dumps(plugins)}")
    settings.write_text(text)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project made by `workbench init` with its example plugin enabled, as the cwd."""
    monkeypatch.delenv("WORKBENCH_HOME")
    root = tmp_path / "proj"
    init_project(root)
    _enable(root, ["example_plugin"])
    monkeypatch.chdir(root)
    return root


def test_the_example_plugin_is_package_data_and_init_copies_it(project: Path) -> None:
    assert (project / "example_plugin.py").read_text() == package_data(
        "templates", "example_plugin.py"
    ).read_text()


def test_a_project_plugin_registers_a_family_and_a_dataset(project: Path) -> None:
    loaded = load_plugins()
    assert [p.spec for p in loaded if p.source.endswith("workbench.toml")] == ["example_plugin"]
    assert get_family("tree").name == "tree" and get_family("decision_tree").name == "tree"
    ds = load_dataset("moons")
    assert ds.task == "classification" and ds.shape == (400, 3) and ds.labels == [0, 1]
    assert load_plugins() == loaded  # idempotent: nothing loads twice


def test_without_the_plugin_its_names_are_unknown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKBENCH_HOME")
    init_project(tmp_path / "bare")
    monkeypatch.chdir(tmp_path / "bare")
    code, out = invoke("run", "--dataset", "iris", "--model", "tree")
    assert code == 2 and "unknown model family 'tree'; known families: hgb, logreg, rf" in out
    code, out = invoke("run", "--dataset", "moons")
    assert code == 2 and "unknown dataset 'moons'" in out


def test_a_plugin_family_and_dataset_pass_validation_before_any_kernel(project: Path) -> None:
    # The model and the dataset are accepted: the first problem reported is the parameter.
    code, out = invoke("run", "--dataset", "moons", "--model", "tree", "-p", "trails=2")
    assert code == 2 and "unknown parameter 'trails'" in out, out
    assert open_workspace(project / "workspace")[1].list_runs() == []


def test_a_fresh_process_finds_plugins_on_a_registry_miss(project: Path, tmp_path: Path) -> None:
    """What a kernel does: no explicit loading, run from another folder, the project named by
    WORKBENCH_PROJECT (the CLI sets it while a command runs)."""
    env = {**os.environ, PROJECT_ENV: str(project)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    probe = (
        "from workbench.models import get_family; from workbench.datasets import load_dataset; "
        "print(get_family('tree').name, load_dataset('moons').name)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tree", "moons"]


def test_the_cli_names_the_project_for_the_kernels_it_starts(project: Path) -> None:
    seen: list[str | None] = []

    @cli.command("probe-env", hidden=True)
    def probe() -> None:
        seen.append(os.environ.get(PROJECT_ENV))

    try:
        code, out = invoke("probe-env")
    finally:
        cli.commands.pop("probe-env")
    assert code == 0, out
    assert seen == [str(project)] and PROJECT_ENV not in os.environ  # restored afterwards


def _fake_distribution(site: Path, module: str, body: str, entry: str) -> None:
    """An installed package with a `workbench.plugins` entry point, as pip would leave it."""
    (site / f"{module}.py").write_text(body)
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[workbench.plugins]\n{entry}\n")


def test_an_entry_point_plugin_registers_a_metric_and_a_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench import plugins
    from workbench.stats import get_metric

    site = tmp_path / "site"
    site.mkdir()
    stage_nb = package_data("notebooks", "01_explore.ipynb")
    _fake_distribution(
        site,
        "wb_demo_plugin",
        "from workbench.plugins import register_stage\n"
        "from workbench.stats import Metric, register_metric\n"
        "def register():\n"
        "    register_metric(Metric('always_one', 'classification', lambda y, p, l: 1.0, True))\n"
        f"    register_stage('profile_again', {str(stage_nb)!r})\n",
        "demo = wb_demo_plugin:register",
    )
    monkeypatch.syspath_prepend(str(site))
    plugins._entry_points_done = False  # this process scanned the entry points already
    loaded = load_plugins()
    (mine,) = [p for p in loaded if p.spec == "wb_demo_plugin:register"]
    assert mine.source == "entry point 'demo' of wb_demo_plugin 1.0"
    assert get_metric("always_one").higher_is_better
    assert list(stage_table(None))[-1] == "profile_again"


def test_a_broken_entry_point_names_its_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench import plugins

    site = tmp_path / "site"
    site.mkdir()
    _fake_distribution(site, "wb_bad_plugin", "import nosuchthing\n", "bad = wb_bad_plugin")
    monkeypatch.syspath_prepend(str(site))
    plugins._entry_points_done = False
    with pytest.raises(ConfigError) as e:
        load_plugins()
    message = str(e.value)
    assert "plugin 'wb_bad_plugin'" in message and "wb_bad_plugin 1.0" in message
    assert "ModuleNotFoundError: No module named 'nosuchthing'" in message


@pytest.mark.parametrize(
    ("module", "body", "message"),
    [
        ("broken", 'raise RuntimeError("boom")\n', "failed to load: RuntimeError: boom"),
        ("missing", None, "failed to load: no module 'missing' importable from"),
        (
            "clash",
            "from workbench.models import ModelFamily, register_family\n"
            "register_family(ModelFamily('rf', 'mine', None, None, None))\n",
            "ConfigError: a model family named 'rf' is already registered (random forest)",
        ),
    ],
)
def test_a_broken_project_plugin_fails_with_its_name_and_error(
    project: Path, module: str, body: str | None, message: str
) -> None:
    if body is not None:
        (project / f"{module}.py").write_text(body)
    settings = project / "workbench.toml"
    settings.write_text(
        settings.read_text().replace('plugins = ["example_plugin"]', f'plugins = ["{module}"]')
    )
    code, out = invoke("runs")
    assert code == 2 and "Traceback" not in out
    assert f"error: plugin '{module}' (plugins in {settings})" in out and message in out, out


def test_registries_refuse_a_taken_name_but_accept_the_same_registration() -> None:
    rf = get_family("rf")
    assert register_family(rf) is rf  # the same family again: harmless
    other = ModelFamily("rf", "another forest", rf.suggest, rf.defaults, rf.estimator)
    with pytest.raises(ConfigError, match="a model family named 'rf' is already registered"):
        register_family(other)
    with pytest.raises(ConfigError, match="'linear' is already registered"):
        register_family(ModelFamily("ridge2", "x", rf.suggest, rf.defaults, rf.estimator), "linear")
    with pytest.raises(DatasetError, match="a dataset named 'iris' is already registered"):
        register_builtin("iris", lambda: None, "classification")
    with pytest.raises(DatasetError, match="unknown task 'ranking'"):
        register_builtin("mine", lambda: None, "ranking")
    assert find_project() is None  # these tests run outside any project


@pytest.mark.slow
def test_a_plugin_family_and_dataset_run_through_run_and_batch(project: Path) -> None:
    code, out = invoke(
        "run", "--dataset", "moons", "--model", "tree", "--trials", "2",
        "--stages", "explore,search", "--json",
    )  # fmt: skip
    assert code == 0, out
    run_id = json.loads(out[out.index("{") :])["run_id"]
    store = open_workspace(project / "workspace")[1]
    run = store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED and run.model_family == "tree"
    assert run.dataset is not None and run.dataset.name == "moons" and run.dataset.n_rows == 400
    assert run.artifact("model") is not None  # the kernel built and saved a tree

    grid = project / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {"datasets": ["moons"], "models": ["tree"], "trials": 2, "stages": ["search"]}
        )
    )
    result = CliRunner().invoke(cli, ["batch", str(grid), "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)["runs"]
    assert summary["status"] == "succeeded"
    batch_run = store.get_run(summary["run_id"])
    assert batch_run.model_family == "tree" and batch_run.dataset_name == "moons"
