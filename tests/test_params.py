from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbench.exceptions import ConfigError, ParameterError
from workbench.params import check_params, notebook_parameters, notebooks_dir, parse_assignment


def test_parse_assignment_reads_json_literals() -> None:
    assert parse_assignment("trials=20") == ("trials", 20)
    assert parse_assignment("rate=0.5") == ("rate", 0.5)
    assert parse_assignment("flag=true") == ("flag", True)
    assert parse_assignment("flag=False") == ("flag", False)
    assert parse_assignment("name=hello world") == ("name", "hello world")
    with pytest.raises(ParameterError, match="NAME=VALUE"):
        parse_assignment("novalue")


def test_bundled_notebooks_declare_their_parameters() -> None:
    specs = notebook_parameters(notebooks_dir() / "02_search.ipynb")
    assert specs["trials"].type_name == "int"
    assert specs["model"].type_name == "str"
    assert {"workspace", "run_id", "dataset", "seed"} <= set(specs)


def test_check_params_names_and_types() -> None:
    specs = notebook_parameters(notebooks_dir() / "02_search.ipynb")
    assert check_params({"trials": 3, "target": 5}, specs, where=["02"]) == {
        "trials": 3,
        "target": "5",
    }
    with pytest.raises(ParameterError, match=r"unknown parameter 'trails'.*valid names: .*trials"):
        check_params({"trails": 3}, specs, where=["02_search.ipynb"])
    with pytest.raises(ParameterError, match="'trials' expects int"):
        check_params({"trials": "many"}, specs, where=["02"])
    with pytest.raises(ParameterError, match="set by the runner"):
        check_params({"run_id": "x"}, specs, where=["02"])


def test_notebook_without_parameters_cell_is_refused(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ConfigError, match="no cell tagged 'parameters'"):
        notebook_parameters(path)
