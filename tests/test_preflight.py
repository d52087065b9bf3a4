"""Early checks: every input a notebook (or a library under it) would reject is refused before a
kernel starts, as one clean ``error:`` line naming the value, the reason and what is accepted;
nothing is recorded. The probe list is the one from the hardening issue."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench._files import check_output_dir
from workbench.bundle import BUNDLE_KIND
from workbench.config import Workspace
from workbench.datasets import load_dataset
from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.modelio import load_model
from workbench.preflight import check_cv_folds, check_n_boot, check_seed, split_sizes
from workbench.store import open_workspace


def csv(tmp_path: Path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rows(n: int) -> str:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=n), "y": [i % 2 for i in range(n)]})
    return frame.to_csv(index=False)


@pytest.fixture(autouse=True)
def no_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that let an input through fails the test at once instead of starting kernels."""

    def started(*args: object, **kw: object) -> None:
        raise AssertionError("a kernel would have started")

    monkeypatch.setattr("workbench.execute.execute_notebook", started)


def refused(cli: click.Group, ws: Path, *args: str) -> str:
    """Run ``workbench run ...``; assert it was refused cleanly with nothing recorded."""
    result = CliRunner().invoke(cli, ["run", "-w", str(ws), *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert not (ws / "workbench.db").exists() or not open_workspace(ws)[1].list_runs()
    return result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", str(2**70)], "--seed must be an integer from 0 to 4,294,967,295"),
        (["--seed", "-1"], "got -1"),
        (["-p", "seed=18446744073709551616"], "got 18446744073709551616"),
        (["-p", "cv_folds=1"], "cv_folds must be an integer from 2 to 20 folds per trial, got 1"),
        (["-p", "cv_folds=1000"], "got 1000; 5 is usual"),
        (["-p", "n_boot=0"], "n_boot must be an integer from 10 to 100,000"),
        (["-p", "trials=200000"], "trials must be an integer from 1 to 10,000 optuna trials"),
        (["--trials", "100000"], "--trials must be an integer from 1 to 10,000"),
    ],
)
def test_run_parameters_refused_before_a_kernel(
    cli: click.Group, tmp_path: Path, args: list[str], message: str
) -> None:
    stderr = refused(cli, tmp_path / "ws", "--dataset", "iris", *args)
    assert message in stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b,y\n" + "1,inf,0\n2,3,1\n" * 10, r"column 'b' of 'data' holds 10 infinite value"),
        ("a,y\n" + "1e400,0\n2,1\n" * 10, r"first in data row 1: inf; 1e400 overflows to inf"),
        ("a,a,y\n1,2,0\n3,4,1\n", r"repeats column name\(s\) 'a' in its header"),
        (rows(2), "has 2 rows: too few for a train/valid/test split"),
        (rows(6), r"has 6 rows: .*\(it would give 3/1/2\); it needs at least 7 rows"),
        (rows(12), "cv_folds=5 is too many folds for 6 training rows"),
    ],
)
def test_dataset_refused_before_a_kernel(
    cli: click.Group, tmp_path: Path, content: str, message: str
) -> None:
    stderr = refused(cli, tmp_path / "ws", "--dataset", csv(tmp_path, content), "--target", "y")
    assert re.search(message, " ".join(stderr.split())), stderr


def test_duplicate_columns_are_not_renamed(tmp_path: Path) -> None:
    # Before: pandas renamed the second `a` to `a.1` and a model trained on it.
    with pytest.raises(DatasetError, match="must be unique"):
        load_dataset(csv(tmp_path, "a,a,y\n1,2,0\n3,4,1\n"), target="y")
    # Names that only look alike are distinct columns.
    ds = load_dataset(csv(tmp_path, "a,a.1,y\n1,2,0\n3,4,1\n5,6,1\n"), target="y")
    assert list(ds.X.columns) == ["a", "a.1"]


def test_limits() -> None:
    assert split_sizes(150) == (90, 30, 30)  # what make_split gives iris
    assert check_seed(2**32 - 1) == 2**32 - 1
    for bad in (True, 1.5, 2**32, 2**64 + 1):
        with pytest.raises(ConfigError):
            check_seed(bad)
    with pytest.raises(ConfigError, match="too many folds for 9 training rows"):
        check_cv_folds(5, train_rows=9)
    with pytest.raises(ConfigError):
        check_n_boot(10**6)


def test_other_probes_are_clean_errors(cli: click.Group, workspace: Workspace) -> None:
    ws = str(workspace.root)
    huge = "a" * 50_000  # once: "LIKE pattern too complex" from SQLite
    for args in (["show", huge], ["export", huge], ["compare", huge, huge]):
        result = CliRunner().invoke(cli, [args[0], "-w", ws, *args[1:]])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert len(result.stderr) < 2_000 and "..." in result.stderr
    result = CliRunner().invoke(cli, ["compare", "-w", ws, "a", "b", "--seed", str(2**70)])
    assert result.exit_code == 2 and "is not in the range 0<=x<=4294967295" in result.stderr
    with pytest.raises(ConfigError, match="cannot create the bundle folder"):
        check_output_dir("/proc/self/x", kind=BUNDLE_KIND, overwrite=False)


def test_deeply_nested_skops_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("schema.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ModelError, match=r"schema\.json is nested too deeply"):
        load_model(path)
    # The stub's own loader (bundles load through it) refuses it the same way.
    from workbench.serving._model import ModelLoadError, check_skops_types

    with pytest.raises(ModelLoadError, match=r"schema\.json is nested too deeply"):
        check_skops_types(path.read_bytes(), where="model.skops")


def test_the_latency_budget_comes_from_the_parameter_the_environment_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench.config import latency_seconds

    monkeypatch.delenv("WORKBENCH_LATENCY_SECONDS", raising=False)
    assert latency_seconds() == latency_seconds(0) == 10.0
    monkeypatch.setenv("WORKBENCH_LATENCY_SECONDS", "2.5")
    assert latency_seconds(None) == 2.5 and latency_seconds(4) == 4.0
    for bad in ("-1", "nan", "soon"):
        monkeypatch.setenv("WORKBENCH_LATENCY_SECONDS", bad)
        with pytest.raises(ConfigError, match="WORKBENCH_LATENCY_SECONDS must be a positive"):
            latency_seconds()
    with pytest.raises(ConfigError, match="latency_seconds must be a positive"):
        latency_seconds(-3)
