"""Repository hygiene the README promises: dependencies in step, notebooks without outputs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from wheelenv import ROOT, clean_env, workbench


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_pyproject_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in ("lab", "dev"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-e")}
        elif not dep.startswith(("python", "pip")):
            listed.add(_name(dep))
    assert listed == wanted, f"missing: {wanted - listed}, extra: {listed - wanted}"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_have_one_parameters_cell_and_stay_thin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Logic belongs in the package: no function or class definitions in notebooks.
    for cell in code:
        assert not re.search(r"^\s*(def|class) ", cell.source, re.M), cell.source[:60]


def test_notebook_list_is_complete() -> None:
    assert [p.name for p in NOTEBOOKS][:3] == [
        "01_explore.ipynb",
        "02_search.ipynb",
        "03_evaluate.ipynb",
    ]


def test_ruff_lint_and_format_are_clean() -> None:
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (pip install -e '.[dev]')")
    for args in (["check", "."], ["format", "--check", "."]):
        out = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


# -- the wheel ----------------------------------------------------------------------------------


def test_top_level_notebooks_and_templates_are_the_package_data() -> None:
    """One copy: the top-level folders of DESIGN.md's layout are links into the package."""
    from workbench.project import package_data

    for name in ("notebooks", "templates"):
        assert (ROOT / name).resolve() == package_data(name).resolve() == ROOT / "workbench" / name


def test_license_is_an_spdx_expression_with_its_file() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert all((ROOT / f).is_file() for f in project["license-files"])


@pytest.mark.slow
def test_the_installed_wheel_runs_the_demo_outside_the_checkout(
    installed_wheel: Path, demo_workspace: tuple[Path, str], tmp_path: Path
) -> None:
    """The suite's shared demo workspace is this run: the wheel's ``workbench demo --fast``
    from a folder outside the checkout, no WORKBENCH_* settings (tests/wheelenv.py)."""
    import subprocess

    where = subprocess.run(
        [installed_wheel / "python", "-c", "import workbench; print(workbench.__file__)"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(installed_wheel.parent) in where and str(ROOT) not in where
    ws, out = demo_workspace
    index = ws / "reports" / "index.html"
    assert ROOT not in ws.parents and f"report index: {index}" in out and index.is_file()


@pytest.mark.slow
def test_the_installed_wheel_starts_a_project_and_runs_it(
    installed_wheel: Path, tmp_path: Path
) -> None:
    workbench(installed_wheel, "init", "proj", cwd=tmp_path)
    proj = tmp_path / "proj"
    assert (proj / "notebooks" / "02_search.ipynb").is_file()
    out = workbench(
        installed_wheel, "run", "--dataset", "wine", "--trials", "2", "-p", "n_boot=50", "--json",
        cwd=proj,
    )  # fmt: skip
    import json

    result = json.loads(out)
    assert result["status"] == "succeeded"
    assert set(result["reports"]) == {"explore", "search", "evaluate"}
    assert all(Path(p).is_file() for p in result["reports"].values())
    assert Path(result["index"]) == proj / "workspace" / "reports" / "index.html"
