"""Every door records a first-class run: a notebook run by hand (plain Python, papermill, any
kernel) starts a run of its own, continues one only when told, and records its failures.

JupyterLab itself is driven in a real browser in tests/test_lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from workbench import labruns
from workbench.context import RunContext
from workbench.exceptions import ConfigError, RunNotFound
from workbench.params import notebooks_dir
from workbench.store import RunStatus, open_store, open_workspace

VENV_BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_kernel_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is its own "kernel": no stage left open by another test is released here."""
    monkeypatch.setattr(labruns._KernelSession, "_instance", None)


def _open(ws: Path, stage: str = "search", **params: object) -> RunContext:
    defaults = {"dataset": "iris", "target": "", "seed": 1, "model": "logreg"}
    given = {k: v for k, v in {**defaults, **params}.items() if v is not None}
    return RunContext.open(stage=stage, workspace=str(ws), **given)


def _finished_runs_have_no_running_stage(ws: Path) -> None:
    store = open_workspace(ws)[1]
    for run in store.list_runs():
        if run.status.is_finished():
            assert all(s.status is not RunStatus.RUNNING for s in run.stages), run


# -- one run per execution, continued only when told ---------------------------------------------


def test_each_execution_without_run_id_is_a_new_run_with_its_parameters(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    first = _open(ws, model="logreg", trials=3)
    first.finish()
    second = _open(ws, model="rf", trials=3)  # same dataset, target and seed: still a new run
    second.finish()
    assert first.run_id != second.run_id
    store = open_workspace(ws)[1]
    a, b = store.get_run(first.run_id), store.get_run(second.run_id)
    assert (a.model_family, b.model_family) == ("logreg", "rf")
    assert b.params == {"dataset": "iris", "target": "", "seed": 1, "model": "rf", "trials": 3}
    for run in (a, b):
        assert run.source == "python" and run.status is RunStatus.SUCCEEDED
        assert [(s.name, s.status) for s in run.stages] == [("search", RunStatus.SUCCEEDED)]
        assert run.metric("cpu_seconds", "search") is not None


def test_continuing_a_run_is_explicit_and_checks_its_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    explore = _open(ws, stage="explore", model=None)
    explore.finish()
    assert open_workspace(ws)[1].get_run(explore.run_id).model_family is None

    # The explore run had no model: the search stage brings one, and it is recorded.
    search = _open(ws, stage="search", run_id=explore.run_id[:-2], model="rf", trials=2)
    assert search.run_id == explore.run_id
    assert "continued" in capsys.readouterr().out
    search.log_seconds("search_seconds", 2.5)
    search.finish()
    run = open_workspace(ws)[1].get_run(explore.run_id)
    assert run.model_family == "rf" and run.params["trials"] == 2
    assert [(s.name, s.status) for s in run.stages] == [
        ("explore", RunStatus.SUCCEEDED),
        ("search", RunStatus.SUCCEEDED),
    ]

    # Running the stage again on the same run: its time adds up, nothing is silently replaced.
    again = _open(ws, stage="search", run_id=explore.run_id, model="rf", trials=2)
    assert "stage search again (it succeeded)" in capsys.readouterr().out
    assert again.log_seconds("search_seconds", 0.5) == pytest.approx(3.0)
    again.finish()

    # Another model, dataset or seed is not the same run: refused, the run left as it was.
    with pytest.raises(ConfigError, match=r"model = 'rf'.*leave run_id empty"):
        _open(ws, stage="search", run_id=explore.run_id, model="logreg")
    with pytest.raises(RunNotFound):
        _open(ws, run_id="nosuchrun")
    assert open_workspace(ws)[1].get_run(explore.run_id).status is RunStatus.SUCCEEDED


def test_a_stage_workbench_run_is_executing_is_left_to_the_runner(tmp_path: Path) -> None:
    ws, store = open_workspace(tmp_path / "ws", create=True)
    params = {"dataset": "iris", "target": "", "seed": 1, "model": "logreg", "trials": 5}
    store.create_run(
        "cli-run",
        dataset_name="iris",
        model_family="logreg",
        seed=1,
        stages=[("search", "02_search.ipynb")],
        params=params,
        source="cli",
    )
    store.start_stage("cli-run", "search", output_path=str(ws.run_dir("cli-run") / "x.ipynb"))
    ctx = _open(ws.root, run_id="cli-run", trials=2)
    assert ctx.tracker is None and ctx.params["trials"] == 5  # the run's own parameters
    ctx.finish()
    assert store.get_run("cli-run").status is RunStatus.RUNNING  # the runner records the end

    store.finish_stage("cli-run", "search", RunStatus.SUCCEEDED)
    store.finish_run("cli-run", RunStatus.SUCCEEDED)
    later = _open(ws.root, run_id="cli-run", trials=5)  # afterwards, continued by hand
    assert later.tracker is not None
    later.finish()
    run = store.get_run("cli-run")
    assert run.status is RunStatus.SUCCEEDED and run.source == "cli"
    assert run.metric("cpu_seconds", "search") is not None


def test_an_unknown_model_records_a_failed_run_with_the_message(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    with pytest.raises(ConfigError, match="unknown model family 'nosuchmodel'"):
        _open(ws, model="nosuchmodel")
    (run,) = open_workspace(ws)[1].list_runs()
    run = open_workspace(ws)[1].get_run(run.id)
    assert run.status is RunStatus.FAILED and run.model_family == "nosuchmodel"
    assert "unknown model family 'nosuchmodel'" in run.error["evalue"]
    assert run.stages[0].status is RunStatus.FAILED
    assert run.stages[0].error["ename"] == "ConfigError"


def test_a_stage_left_open_is_cancelled_when_the_notebook_opens_again(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    left = _open(ws)  # the user ran the first cells, then the notebook again from the top
    again = _open(ws)
    again.finish()
    store = open_workspace(ws)[1]
    assert store.get_run(left.run_id).status is RunStatus.CANCELLED
    assert store.get_run(left.run_id).stages[0].status is RunStatus.CANCELLED
    assert store.get_run(again.run_id).status is RunStatus.SUCCEEDED
    _finished_runs_have_no_running_stage(ws)


@pytest.mark.parametrize(
    ("ending", "status", "error"),
    [
        ("ctx.finish()", RunStatus.SUCCEEDED, None),
        ("raise ValueError('bad rows')", RunStatus.FAILED, "bad rows"),
        ("pass", RunStatus.CANCELLED, "before the notebook reached ctx.finish()"),
    ],
)
def test_a_script_records_how_it_ended(
    tmp_path: Path, ending: str, status: RunStatus, error: str | None
) -> None:
    ws = tmp_path / "ws"
    code = (
        "from workbench.context import RunContext\n"
        f"ctx = RunContext.open(stage='explore', workspace={str(ws)!r}, dataset='iris', seed=1)\n"
        f"{ending}\n"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    (run,) = open_workspace(ws)[1].list_runs()
    assert run.status is status
    if error:
        assert error in json.dumps(open_workspace(ws)[1].get_run(run.id).error)
    _finished_runs_have_no_running_stage(ws)


# -- the executed notebook -----------------------------------------------------------------------


def _notebook_with_output(path: Path, text: str) -> Path:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ctx = RunContext.open(...)")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells = [cell]
    nbformat.write(nb, path)
    return path


def test_a_notebook_run_again_keeps_the_earlier_runs_copy_or_unlinks_it(tmp_path: Path) -> None:
    ws, store = open_workspace(tmp_path / "ws", create=True)
    live = tmp_path / "lab" / "01_explore.ipynb"
    live.parent.mkdir()
    for run_id in ("kept", "gone"):
        store.create_run(
            run_id,
            dataset_name="iris",
            model_family=None,
            seed=1,
            stages=[],
            params={},
            source="lab",
        )
        store.reopen_stage(run_id, "explore", notebook=live.name, output_path=str(live))
        store.finish_stage(run_id, "explore", RunStatus.SUCCEEDED)
    _notebook_with_output(live, "run kept: new lab run, stage explore")  # saved after "kept"

    labruns.claim_notebook(ws, store, live, "next")
    kept = store.get_run("kept")
    copy = ws.run_dir("kept") / "01_explore.ipynb"
    assert kept.stages[0].output_path == str(copy) and copy.read_text() == live.read_text()
    assert kept.artifact("notebook:explore").path == str(copy)
    # The file no longer shows "gone": no page of another run's outputs for it.
    assert store.get_run("gone").stages[0].output_path is None


def test_papermill_output_path_is_read_from_its_command_line(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "papermill"
    fake.parent.mkdir()
    fake.write_text("import time\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        [sys.executable, str(fake), "in.ipynb", "out/{model}.ipynb", "-p", "model", "rf"],
        cwd=tmp_path,
    )
    try:
        for _ in range(100):  # until the process has exec'd
            found = labruns._papermill_command(proc.pid)
            if found:
                break
            time.sleep(0.05)
        assert found == ("out/{model}.ipynb", tmp_path)
        path = labruns._local_notebook(*found, {"model": "rf"})
        assert path == tmp_path / "out" / "rf.ipynb"
    finally:
        proc.kill()
        proc.wait()
    assert labruns._papermill_command(os.getpid()) is None  # pytest is not papermill
    assert labruns._local_notebook("-", tmp_path, {}) is None  # stdout: nothing to keep
    assert labruns._local_notebook("s3://b/x.ipynb", tmp_path, {}) is None


# -- the store methods the doors use (SQLite and PostgreSQL) ------------------------------------


def test_reopen_stage_adds_or_restarts_a_stage_and_reopens_the_run(store_url: str) -> None:
    store = open_store(store_url)
    store.create_run(
        "r1",
        dataset_name="iris",
        model_family=None,
        seed=1,
        stages=[("explore", "01_explore.ipynb")],
        params={},
        source="lab",
    )
    store.start_stage("r1", "explore", output_path=None)
    store.finish_stage("r1", "explore", RunStatus.FAILED, error={"ename": "E"})
    store.finish_run("r1", RunStatus.FAILED, error={"ename": "E"})

    store.reopen_stage("r1", "search", notebook="02_search.ipynb", output_path="/x/02.ipynb",
                       model_family="rf")  # fmt: skip
    run = store.get_run("r1")
    assert run.status is RunStatus.RUNNING and run.error is None and run.finished_at is None
    assert run.model_family == "rf" and run.stage_names == ["explore", "search"]
    assert [(s.name, s.position, s.status) for s in run.stages] == [
        ("explore", 0, RunStatus.FAILED),
        ("search", 1, RunStatus.RUNNING),
    ]
    assert run.stages[1].output_path == "/x/02.ipynb"

    store.reopen_stage("r1", "explore", notebook="01_explore.ipynb", output_path=None,
                       model_family="logreg")  # fmt: skip
    run = store.get_run("r1")
    assert run.model_family == "rf"  # a family once recorded stays
    assert run.stages[0].status is RunStatus.RUNNING and run.stages[0].error is None
    store.set_stage_output("r1", "explore", "/y/kept.ipynb")
    assert store.get_run("r1").stages[0].output_path == "/y/kept.ipynb"
    with pytest.raises(RunNotFound):
        store.reopen_stage("nope", "explore", notebook="x.ipynb", output_path=None)


# -- workbench lab --------------------------------------------------------------------------------


@pytest.fixture
def jupyter_exec(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, str]]]:
    """``workbench lab`` hands its process to Jupyter: record the command instead."""
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((list(argv), env)))
    return calls


def test_lab_serves_a_copy_of_the_stage_notebooks_in_the_workspace(
    tmp_path: Path, cli, jupyter_exec: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    ws = tmp_path / "ws"
    args = ["lab", "--workspace", str(ws), "--port", "9999", "--no-browser", "--", "--debug"]
    from click.testing import CliRunner

    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 0, done.output
    ((argv, env),) = jupyter_exec
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"]
    folder = ws / "lab"
    for arg in (
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port=9999",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={folder}",
        "--no-browser",
        "--allow-root",  # as root, or JupyterLab exits
    ):
        assert arg in argv
    assert argv[-1] == "--debug"  # after `--`: passed to Jupyter, last
    token = next(a.split("=", 1)[1] for a in argv if a.startswith("--IdentityProvider.token="))
    assert len(token) >= 32 and f"http://127.0.0.1:9999/lab?token={token}" in done.output
    assert env["WORKBENCH_HOME"] == str(ws)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["01_explore.ipynb", "02_search.ipynb", "03_evaluate.ipynb"]

    # Again, as another user with a token of one's own: the user's edits are kept.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    (folder / "01_explore.ipynb").write_text("my edits")
    done = CliRunner().invoke(cli, ["lab", "--workspace", str(ws), "--token", "t0k"])
    assert done.exit_code == 0, done.output
    argv = jupyter_exec[-1][0]
    assert "--IdentityProvider.token=t0k" in argv
    assert "--allow-root" not in argv and "--no-browser" not in argv
    assert (folder / "01_explore.ipynb").read_text() == "my edits"
    done = CliRunner().invoke(cli, ["lab", "--workspace", str(ws), "--token", ""])
    assert done.exit_code != 0 and "--token must not be empty" in done.output


# -- plain papermill, as a user types it -----------------------------------------------------------


def _papermill(
    notebook: Path, out: Path, ws: Path, *params: str
) -> subprocess.CompletedProcess[str]:
    args = [str(VENV_BIN / "papermill"), str(notebook), str(out), "--no-progress-bar"]
    for assignment in params:
        name, value = assignment.split("=", 1)
        args += ["-p", name, value]
    env = {**os.environ, "WORKBENCH_HOME": str(ws), "PYTHONPATH": str(REPO)}
    env.pop("WORKBENCH_BATCH", None)
    return subprocess.run(
        args, cwd=out.parent, env=env, capture_output=True, text=True, timeout=300
    )


def _wait_for_report(ws: Path, run_id: str, stage: str, timeout_s: float = 120.0) -> Path:
    """Papermill writes its notebook after the kernel stops; the page follows shortly after."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = open_workspace(ws)[1].get_run(run_id).stages
        report = next((s.report_path for s in found if s.name == stage), None)
        if report and Path(report).is_file():
            return Path(report)
        time.sleep(0.5)
    raise AssertionError(f"no report for {run_id} {stage} after {timeout_s}s")


@pytest.mark.slow
def test_plain_papermill_records_one_run_per_execution(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    work = tmp_path / "mine"
    work.mkdir()
    notebook = work / "02_search.ipynb"
    notebook.write_bytes((notebooks_dir() / "02_search.ipynb").read_bytes())  # the user's copy
    fast = ("trials=2", "cv_folds=2")
    for model in ("logreg", "rf"):
        done = _papermill(notebook, work / f"out_{model}.ipynb", ws, f"model={model}", *fast)
        assert done.returncode == 0, done.stderr[-2000:]

    store = open_workspace(ws)[1]
    runs = {r.model_family: store.get_run(r.id) for r in store.list_runs()}
    assert sorted(runs) == ["logreg", "rf"]  # two runs, not one overwritten
    for family, run in runs.items():
        assert run.source == "papermill" and run.status is RunStatus.SUCCEEDED
        assert run.params["model"] == family and run.params["trials"] == 2
        assert run.metric("cpu_seconds", "search").value > 0
        report = _wait_for_report(ws, run.id, "search")
        assert run.id in report.read_text()
        kept = open_workspace(ws)[1].get_run(run.id).artifact("notebook:search")
        assert kept is not None and Path(kept.path).parent == ws / "runs" / run.id

    # Continuing explicitly: the finished study is reused and says so; its time is kept.
    logreg = runs["logreg"]
    before = logreg.metric("search_seconds", "search").value
    out = work / "again.ipynb"
    done = _papermill(notebook, out, ws, f"run_id={logreg.id}", "model=logreg", *fast)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "study has 2 trials; 0 new" in out.read_text()
    after = open_workspace(ws)[1].get_run(logreg.id)
    assert after.metric("search_seconds", "search").value == pytest.approx(before, abs=0.5)
    assert len(open_workspace(ws)[1].list_runs()) == 2
    _finished_runs_have_no_running_stage(ws)


@pytest.mark.slow
def test_plain_papermill_with_an_unknown_model_fails_visibly_and_is_recorded(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "ws"
    notebook = notebooks_dir() / "02_search.ipynb"
    done = _papermill(notebook, tmp_path / "out.ipynb", ws, "model=nosuchmodel", "trials=2")
    assert done.returncode != 0
    message = "unknown model family 'nosuchmodel'"
    assert message in "\n".join(done.stderr.strip().splitlines()[-3:])  # at the end, short
    assert len(_without_zmq_noise(done.stderr)) < 45

    store = open_workspace(ws)[1]
    (run,) = store.list_runs()
    run = store.get_run(run.id)
    assert run.status is RunStatus.FAILED and run.source == "papermill"
    assert message in run.error["evalue"] and "RunContext.open" in run.error["source"]
    assert run.stages[0].status is RunStatus.FAILED
    assert message in _wait_for_report(ws, run.id, "search").read_text()
    _finished_runs_have_no_running_stage(ws)


def _without_zmq_noise(stderr: str) -> list[str]:
    """stderr's lines without tornado's "Uncaught exception in ZMQStream callback" traceback,
    which jupyter_client sometimes logs while a kernel shuts down (not the workbench's)."""
    kept, skipping = [], False
    for line in stderr.splitlines():
        if line.startswith("ERROR:tornado.general"):
            skipping = True
        elif skipping and line[:1] not in ("", " ") and not line.startswith("Traceback"):
            skipping = False  # the traceback's last line: the exception itself, dropped too
        elif not skipping:
            kept.append(line)
    return kept
