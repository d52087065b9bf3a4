"""JupyterLab for real: ``workbench lab`` serves the stage notebooks on 127.0.0.1 and headless
Chromium runs them as a user would (Run menu, save); every execution is a run in the store."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from workbench.params import notebooks_dir
from workbench.store import RunRecord, RunStatus, open_workspace

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parent.parent
TOKEN = "workbench-test-token"


@dataclass(frozen=True)
class Lab:
    url: str
    workspace: Path

    @property
    def folder(self) -> Path:
        return self.workspace / "lab"

    def runs_of(self, notebook: str) -> list[RunRecord]:
        store = open_workspace(self.workspace)[1]
        runs = [store.get_run(r.id) for r in store.list_runs()]
        return [r for r in runs if any(s.notebook == notebook for s in r.stages)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    root = tmp_path_factory.mktemp("lab")
    ws = root / "workspace"
    (ws / "lab").mkdir(parents=True)
    _boom_notebook(ws / "lab" / "boom.ipynb")  # the user's own copy: `workbench lab` keeps it
    port = _free_port()
    jupyter = root / "jupyter"  # settings, secrets and runtime files stay out of $HOME
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
    }
    for name in ("WORKBENCH_HOME", "WORKBENCH_DB_URL", "WORKBENCH_BATCH"):
        env.pop(name, None)
    log = (root / "server.log").open("w")
    command = [sys.executable, "-m", "workbench.cli", "lab", "--workspace", str(ws)]
    command += ["--no-browser", "--port", str(port), "--token", TOKEN]
    command += ["--", "--ServerApp.shutdown_no_activity_timeout=600"]  # passed to Jupyter
    server = subprocess.Popen(
        command,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(root / 'server.log').read_text()}")
                time.sleep(0.5)
        yield Lab(url, ws)
    finally:
        server.terminate()  # Jupyter shuts its kernels down on SIGTERM
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _boom_notebook(path: Path) -> None:
    nb = nbformat.read(notebooks_dir() / "01_explore.ipynb", as_version=4)
    opened = next(i for i, c in enumerate(nb.cells) if "RunContext.open" in c.source)
    nb.cells.insert(opened + 1, nbformat.v4.new_code_cell('raise RuntimeError("boom in the lab")'))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _run_all(browser: object, lab: Lab, notebook: str, until: str) -> object:
    """Open ``notebook``, wait for its kernel, Run > Run All Cells, wait for ``until``."""
    page = browser.new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A JupyterLab workspace of its own: the tabs another test left open are not restored.
    page.goto(f"{lab.url}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?token={TOKEN}")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        page.get_by_text(re.compile(until)).first.wait_for(timeout=100_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=30_000)
    except Exception:
        shot = lab.workspace.parent / f"{notebook}.png"
        page.screenshot(path=str(shot))
        raise AssertionError(f"{until!r} never showed in {notebook}; screenshot {shot}") from None
    assert not errors, errors
    return page


def _save(page: object, path: Path, expect: str) -> None:
    page.keyboard.press("Control+s")  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while expect not in path.read_text():
        assert time.monotonic() < deadline, f"{path} was not saved with {expect!r}"
        time.sleep(0.3)


def test_the_kernel_lab_offers_runs_this_python(lab: Lab) -> None:
    specs = json.loads(
        urllib.request.urlopen(f"{lab.url}/api/kernelspecs?token={TOKEN}", timeout=10).read()
    )
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    # jupyter_client starts "python" as the server's own interpreter: `workbench lab` runs
    # Jupyter with this one, so its kernels import the workbench (the runs below prove it).
    assert argv[0] in ("python", "python3", sys.executable)
    assert specs["default"] == "python3"
    # The stage notebooks were copied into the workspace once; the user's own file was kept.
    names = sorted(p.name for p in lab.folder.glob("*.ipynb"))
    assert names == ["01_explore.ipynb", "02_search.ipynb", "03_evaluate.ipynb", "boom.ipynb"]


def test_run_all_in_jupyterlab_records_a_new_run_with_its_report(
    lab: Lab, browser: object, cli
) -> None:
    page = _run_all(browser, lab, "01_explore.ipynb", r"stage explore succeeded")
    (run,) = lab.runs_of("01_explore.ipynb")
    _save(page, lab.folder / "01_explore.ipynb", f"run {run.id}: stage explore succeeded")
    page.close()  # type: ignore[attr-defined]

    assert run.source == "lab" and run.status is RunStatus.SUCCEEDED
    # The notebook's parameter cell, as the kernel saw it (loader options included).
    assert run.params == {
        "dataset": "breast_cancer",
        "target": "",
        "seed": 42,
        "sep": "",
        "encoding": "",
    }
    assert run.model_family is None  # 01_explore has no model parameter
    (stage,) = run.stages
    assert stage.status is RunStatus.SUCCEEDED
    assert stage.output_path == str(lab.folder / "01_explore.ipynb")
    cpu = run.metric("cpu_seconds", "explore").value
    assert 0 < cpu <= run.metric("cell_seconds", "explore").value + 1.0
    assert run.metric("n_rows", "explore").value == 569

    # Its HTML page comes from the saved notebook.
    from click.testing import CliRunner

    done = CliRunner().invoke(cli, ["report", run.id, "--workspace", str(lab.workspace)])
    assert done.exit_code == 0, done.output
    report = open_workspace(lab.workspace)[1].get_run(run.id).stages[0].report_path
    html = Path(report).read_text()
    assert f"run {run.id}: stage explore succeeded" in html and "plotly-graph-div" in html


def test_a_cell_that_raises_in_jupyterlab_fails_the_run_and_its_stage(
    lab: Lab, browser: object
) -> None:
    page = _run_all(browser, lab, "boom.ipynb", r"RuntimeError: boom in the lab")
    page.close()  # type: ignore[attr-defined]
    (run,) = lab.runs_of("boom.ipynb")
    assert run.source == "lab" and run.status is RunStatus.FAILED
    (stage,) = run.stages
    assert stage.status is RunStatus.FAILED
    for error in (run.error, stage.error):
        assert error["ename"] == "RuntimeError" and error["evalue"] == "boom in the lab"
        assert error["source"] == 'raise RuntimeError("boom in the lab")'
        assert error["stage"] == "explore" and error["exec_count"] is not None
        assert error["cell_index"] == 3  # its place in the saved notebook


def test_a_notebook_with_a_model_records_its_family_and_draws_in_jupyterlab(
    lab: Lab, browser: object
) -> None:
    notebook = lab.folder / "03_evaluate.ipynb"
    text = notebook.read_text()
    assert "n_boot = 1000" in text
    notebook.write_text(text.replace("n_boot = 1000", "n_boot = 100"))  # the user's own edit
    page = _run_all(browser, lab, "03_evaluate.ipynb", r"stage evaluate succeeded")
    try:
        assert page.locator("svg.main-svg").count() > 0  # plotly figures drawn
        assert page.locator(".jp-OutputArea-output[data-mime-type*=error]").count() == 0
        slider = page.locator(".widget-slider .noUi-handle").first
        readout = page.get_by_text(re.compile(r"threshold 0\.500 ·"))
        readout.wait_for(timeout=30_000)
        slider.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        page.get_by_text(re.compile(r"threshold 0\.550 ·")).wait_for(timeout=30_000)
    finally:
        page.close()  # type: ignore[attr-defined]

    (run,) = lab.runs_of("03_evaluate.ipynb")
    assert run.source == "lab" and run.status is RunStatus.SUCCEEDED
    assert run.model_family == "logreg"
    assert run.params["model"] == "logreg" and run.params["n_boot"] == 100
    assert run.metric("cpu_seconds", "evaluate").value > 0
    assert run.metric("roc_auc", "evaluate").value > 0.9
    assert run.artifact("model") is not None  # fitted with the family's defaults
