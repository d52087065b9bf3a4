"""Faults end in a true state: a full disk while reports are written, SIGTERM, a dead kernel, a
cell past its time limit each leave the run ``failed`` or ``cancelled`` with the reason, and
``--json`` prints a result whatever happens. Kernels are faked except in one test."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import click
import nbformat
import pytest
from click.testing import CliRunner

from workbench.exceptions import ConfigError, StageFailed
from workbench.execute import (
    DEFAULT_CELL_TIMEOUT_S,
    _interrupted_cell,
    check_cell_timeout,
    execute_notebook,
)
from workbench.store import RunStatus, open_workspace


def fake_kernel(monkeypatch: pytest.MonkeyPatch, on_stage: Any = None) -> None:
    """Stages "execute" by copying their notebook: no kernel starts."""

    def execute(notebook: Path, out: Path, params: dict, *, stage: str, **kw: Any) -> Path:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, out)
        if on_stage is not None:
            on_stage(stage)
        return out

    monkeypatch.setattr("workbench.execute.execute_notebook", execute)


def invoke(cli: click.Group, ws: Path, *args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(
        cli, ["run", "-w", str(ws), "--dataset", "iris", "--json", *args], catch_exceptions=False
    )
    out = result.stdout
    return result.exit_code, json.loads(out[out.index("{") :]), result.stderr


def test_full_disk_while_exporting_reports_fails_the_run(
    cli: click.Group, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_kernel(monkeypatch)

    def full(notebook: Path, html: Path, **kw: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(html))

    monkeypatch.setattr("workbench.pages.export_notebook", full)
    code, out, stderr = invoke(cli, tmp_path / "ws", "--stages", "explore")
    # Before: exit 1 with a raw OSError traceback, no JSON, the run recorded `succeeded`.
    assert code == 1
    assert out["status"] == "failed" and out["run_id"]
    assert out["error"]["stage"] == "explore"
    assert "its report could not be written" in out["error"]["evalue"]
    assert "No space left on device" in out["error"]["evalue"]
    assert "Traceback" not in stderr
    run = open_workspace(tmp_path / "ws")[1].get_run(out["run_id"])
    assert run.status is RunStatus.FAILED


def test_sigterm_marks_the_run_cancelled_at_once(
    cli: click.Group, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def terminate(stage: str) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` while the stage runs

    fake_kernel(monkeypatch, terminate)
    code, out, stderr = invoke(cli, tmp_path / "ws", "--stages", "explore")
    assert code == 143
    assert out["status"] == "cancelled"
    assert out["error"] == {"reason": "terminated by SIGTERM"}
    assert "Traceback" not in stderr
    run = open_workspace(tmp_path / "ws")[1].get_run(out["run_id"])
    # Before: `running` until the stale sweep 90 s later.
    assert run.status is RunStatus.CANCELLED
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_refused_run_still_prints_json(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["run", "-w", str(tmp_path / "ws"), "--dataset", "iris", "--json", "--trials", "0"]
    )
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert out["status"] == "refused" and out["run_id"] is None
    assert "--trials must be an integer from 1 to 10,000" in out["error"]["message"]


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf"])
def test_cell_timeout_must_be_positive(cli: click.Group, tmp_path: Path, value: str) -> None:
    result = CliRunner().invoke(
        cli, ["run", "-w", str(tmp_path / "ws"), "--dataset", "iris", "--cell-timeout", value]
    )
    assert result.exit_code == 2
    assert f"--cell-timeout must be a number of seconds above 0, got {float(value)!r}" in (
        result.stderr
    )
    assert (
        not (tmp_path / "ws" / "workbench.db").exists()
        or not open_workspace(tmp_path / "ws")[1].list_runs()
    )


def test_a_cell_timeout_applies_by_default() -> None:
    assert check_cell_timeout(None) == DEFAULT_CELL_TIMEOUT_S == 1800
    assert check_cell_timeout(5) == 5.0
    with pytest.raises(ConfigError, match="above 0, got True"):
        check_cell_timeout(True)  # type: ignore[arg-type]


def test_timeout_and_dead_kernel_are_named(tmp_path: Path) -> None:
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    out = tmp_path / "nb.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in ("a", "hang()")])
    nbformat.write(nb, out)
    cell = _interrupted_cell(CellTimeoutError("timed out"), "search", out, 1, 30)
    assert cell.cell_index == 1 and cell.source == "hang()"
    assert "cell 1 ran longer than the cell timeout of 30 s" in cell.evalue
    assert "--cell-timeout" in cell.summary()
    cell = _interrupted_cell(DeadKernelError("Kernel died"), "search", out, 1, 30)
    assert "the kernel died while cell 1 ran" in cell.evalue


def test_kernel_death_fails_the_stage(tmp_path: Path) -> None:
    """The one test here with a real kernel: it kills itself in its second cell."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("x = 1"),
            nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
        ]
    )
    src = tmp_path / "die.ipynb"
    nbformat.write(nb, src)
    with pytest.raises(StageFailed) as caught:
        execute_notebook(src, tmp_path / "out" / "die.ipynb", {}, stage="search", owner="r1")
    cell = caught.value.cell
    assert cell.ename == "DeadKernelError" and cell.cell_index == 1
    assert "the kernel died while cell 1 ran" in cell.evalue
    assert "SIGKILL" in cell.source
