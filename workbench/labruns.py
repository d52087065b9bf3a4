"""Runs made by hand: a stage notebook executed in JupyterLab, by plain papermill or any kernel.

``workbench run`` owns its runs: the runner records stages and statuses around papermill. Every
other door reaches the store only through :class:`~workbench.context.RunContext`, which hands
its stage to :func:`open_stage` here, so each door records a first-class run:

* **One execution, one run.** A notebook without a ``run_id`` starts a new run with the full
  parameter set its ``RunContext.open`` call names (model included). Continuing a run is
  explicit (``run_id="…"``): its dataset, target, seed and model must match, and the stage says
  what it reuses.
* **Kernel-side hooks** (IPython events, registered once per kernel): a cell that raises marks
  the stage and the run ``failed`` with the cell and the exception; the CPU time spent in cells
  becomes the stage's ``cpu_seconds``; a heartbeat keeps a live run from being swept as dead; a
  kernel that stops before its notebook finishes leaves the run ``cancelled``, never
  ``running``. A workbench error shows as its one-line message, not a traceback.
* **The executed notebook.** Papermill's output notebook (``--inject-output-path`` or the
  ``papermill`` command line of the kernel's parent) is copied into the run's folder, recorded
  as the stage's artifact and exported to HTML once papermill has written it: a small watcher
  process the kernel starts waits for that. In JupyterLab the stage points at the notebook being
  edited, so ``workbench report RUN`` exports it once saved; the next run of the same notebook
  first keeps a copy for the earlier run (or unlinks it when the saved file no longer holds it).

Services layer. ``python -m workbench.labruns WORKSPACE RUN STAGE NOTEBOOK PID`` is the watcher.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._files import atomic_write_bytes, child_path, sha256_file
from .config import Workspace
from .datasets import resolve_dataset_ref
from .exceptions import CellError, ConfigError, WorkbenchError
from .plugins import load_plugins
from .provenance import git_commit, package_versions
from .store import ArtifactRecord, MetricRecord, RunRecord, RunStatus, Store

__all__ = [
    "BY_HAND",
    "Door",
    "OpenedStage",
    "StageTracker",
    "claim_notebook",
    "collect_output",
    "detect_door",
    "open_stage",
    "snapshot_notebook",
]

#: Sources of runs made by hand, as recorded on the run (``workbench run`` records ``cli``).
BY_HAND = ("lab", "papermill", "kernel", "python")
#: Parameters that make a run what it is: a continued run must be given the same values.
IDENTITY = ("dataset", "target", "seed", "model")
HEARTBEAT_S = 10.0
#: How long the watcher waits for papermill to finish writing an output notebook.
COLLECT_TIMEOUT_S = 24 * 3600.0


# -- doors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    """How this process executes the notebook.

    Attributes:
        source: ``lab`` (a Jupyter server's kernel), ``papermill``, ``kernel`` (another client
            such as nbclient), ``python`` (no IPython at all); recorded as the run's source.
        notebook: The notebook file this execution lands in (JupyterLab: the notebook being
            edited; papermill: its output notebook), when known.
        pid: The papermill process writing ``notebook`` (the watcher waits for it).
    """

    source: str
    notebook: Path | None = None
    pid: int | None = None

    def stage_notebook(self, default: str) -> str:
        """The notebook file name a stage records: the one open in JupyterLab, else the
        stage's own (papermill's output may be called anything)."""
        return self.notebook.name if self.source == "lab" and self.notebook else default


def detect_door() -> Door:
    """The door of the current process, from what Jupyter and papermill leave in the kernel.

    A Jupyter server names the notebook of a kernel's session in ``JPY_SESSION_NAME``. Papermill
    passes nothing to the kernel by default: its output notebook is known when it injected
    ``PAPERMILL_OUTPUT_PATH`` (``--inject-output-path``, or a parameter of that name given to
    ``papermill.execute_notebook``), or from the command line of the ``papermill`` process that
    started the kernel (``JPY_PARENT_PID``), resolved against its working folder.
    """
    shell = _shell()
    if shell is None:
        return Door("python")
    session = os.environ.get("JPY_SESSION_NAME")
    if session:
        return Door("lab", _session_notebook(session))
    ns = shell.user_ns
    pid = _int(os.environ.get("JPY_PARENT_PID"))
    injected = any(str(src).startswith("# Parameters\n") for src in ns.get("In", ()))
    given = ns.get("PAPERMILL_OUTPUT_PATH")
    command = _papermill_command(pid) if pid else None
    if not (given or command or injected):
        return Door("kernel")
    notebook = None
    if isinstance(given, str):
        notebook = _local_notebook(given, _process_cwd(pid) if pid else None, ns)
    elif command is not None:
        notebook = _local_notebook(*command, ns)
    return Door("papermill", notebook, pid)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def _session_notebook(name: str) -> Path | None:
    # jupyter_server gives the absolute path when it knows the file name, else the API path
    # (relative to its root); the kernel starts in the notebook's folder either way.
    path = Path(name)
    if not path.is_absolute():
        path = Path.cwd() / path.name
    return path if path.suffix == ".ipynb" else None


def _process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _papermill_command(pid: int) -> tuple[str, Path | None] | None:
    """``(output path, its base folder)`` when process ``pid`` is the ``papermill`` command."""
    try:
        argv = [
            a.decode(errors="replace")
            for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
    except OSError:
        return None  # not Linux, or the process is gone
    argv = [a for a in argv if a]
    rest = None
    for i, arg in enumerate(argv[:3]):
        if Path(arg).name == "papermill":
            rest = argv[i + 1 :]
        elif arg == "-m" and argv[i + 1 : i + 2] == ["papermill"]:
            rest = argv[i + 2 :]
        if rest is not None:
            break
    if rest is None:
        return None
    try:
        from papermill.cli import papermill as command

        ctx = command.make_context("papermill", list(rest), resilient_parsing=True)
    except Exception:  # an unexpected command line: no output notebook rather than a guess
        return None
    out = str(ctx.params.get("output_path") or "")
    # A relative path is read against papermill's folder at start; with --cwd it moved since.
    base = Path(os.environ["PWD"]) if ctx.params.get("cwd") and "PWD" in os.environ else None
    return out, base or _process_cwd(pid)


def _local_notebook(out: str, base: Path | None, ns: dict[str, Any]) -> Path | None:
    if not out or out == "-" or "://" in out:
        return None  # stdout or remote storage: nothing to copy from here
    if "{" in out:  # papermill formats the output path with the parameters
        try:
            out = out.format_map({k: v for k, v in ns.items() if not k.startswith("_")})
        except (KeyError, IndexError, ValueError, AttributeError):
            return None
    path = Path(out).expanduser()
    if not path.is_absolute():
        if base is None:
            return None
        path = base / path
    return path if path.suffix == ".ipynb" else None


# -- opening a stage ----------------------------------------------------------------------------


@dataclass
class OpenedStage:
    """What :func:`open_stage` hands back to the run context."""

    run_id: str
    params: dict[str, Any]
    tracker: StageTracker | None  # None: the runner owns the stage (``workbench run``)


def open_stage(
    ws: Workspace,
    store: Store,
    *,
    stage: str,
    notebook: str,
    run_id: str,
    params: dict[str, Any],
) -> OpenedStage:
    """Open ``stage`` for a notebook: the runner's run, a continued run or a new one.

    Args:
        ws: The workspace.
        store: Its store.
        stage: The stage name (``explore``, ``search``, ...).
        notebook: The stage's notebook file name, recorded when the door does not know better.
        run_id: ``""`` (or ``"new"``) starts a new run; an id or unique prefix continues it.
        params: The parameters the notebook passed to ``RunContext.open``.

    Raises:
        RunNotFound: ``run_id`` names no run.
        ConfigError: a continued run was recorded with other identity parameters, or the model
            family is unknown (the new run is then recorded as failed first).
    """
    run_id = "" if run_id == "new" else run_id
    run = store.get_run(run_id) if run_id else None
    if run is not None and _runner_owns(run, stage):
        return OpenedStage(run.id, {**params, **run.params}, None)
    load_plugins()  # the project's model families, datasets and metrics, as in the CLI
    door = detect_door()
    session = _KernelSession.get()
    session.release(run.id if run else None, stage)
    params, problem = _normalized(params)
    if run is not None:
        params = _continued(store, run, stage, params)
        run_id = run.id
    else:
        run_id = _new_run(store, stage, notebook, params, door)
    claim_notebook(ws, store, door.notebook, run_id)
    store.reopen_stage(
        run_id,
        stage,
        notebook=door.stage_notebook(notebook),
        output_path=str(door.notebook) if door.notebook else None,
        model_family=_family_name(params.get("model")),
    )
    tracker = StageTracker(ws, store, run_id, stage, door)
    session.track(tracker)
    _say_opened(ws, run, run_id, stage, params, door)
    if problem is not None:  # recorded with the run it belongs to, then raised in the cell
        tracker.fail(problem)
        raise problem
    return OpenedStage(run_id, params, tracker)


def _runner_owns(run: RunRecord, stage: str) -> bool:
    """``workbench run`` is executing this stage right now (it records the outcome itself).

    Told from the record, not from the kernel's environment: the runner marks the stage
    ``running`` before its kernel starts. (A run whose process died keeps that mark until
    ``workbench runs`` sweeps it as failed; it can be continued by hand after that.)
    """
    current = next((s for s in run.stages if s.name == stage), None)
    return run.source not in BY_HAND and current is not None and current.status is RunStatus.RUNNING


def _normalized(params: dict[str, Any]) -> tuple[dict[str, Any], WorkbenchError | None]:
    """The parameters as recorded, and the first one that is unusable (raised once the run
    that it fails is recorded)."""
    out = dict(params)
    try:
        if out.get("dataset"):
            # The kernel's folder is not the user's: record a CSV by its absolute path.
            out["dataset"] = resolve_dataset_ref(str(out["dataset"]))
        if out.get("model"):
            _check_model(out["model"])
    except WorkbenchError as e:
        return out, e
    return out, None


def _family_name(model: Any) -> str | None:
    if not model:
        return None
    try:
        return _check_model(model)
    except WorkbenchError:
        return str(model)  # recorded as given; the stage fails with the reason


def _check_model(model: Any) -> str:
    from .models import get_family

    return get_family(str(model)).name


def _continued(store: Store, run: RunRecord, stage: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check a notebook's parameters against the run it continues; record the new ones."""
    recorded = run.params
    # A value the run lacks is filled in (an explore run gets its model from the search stage).
    clash = [
        k
        for k in IDENTITY
        if recorded.get(k) is not None and k in params and not _same(k, params[k], recorded[k])
    ]
    if clash:
        given = ", ".join(f"{k}={params[k]!r}" for k in clash)
        wanted = ", ".join(f"{k} = {recorded[k]!r}" for k in clash)
        raise ConfigError(
            f"run {run.id} was recorded with other parameters than this notebook's ({given}); "
            f"to continue it set {wanted} in the parameters cell, or leave run_id empty to "
            "start a new run"
        )
    changed = {k: v for k, v in params.items() if recorded.get(k, object()) != v}
    if changed:
        store.log_params(run.id, changed)
    return {**recorded, **params}


def _same(key: str, a: Any, b: Any) -> bool:
    if key == "model":
        return _family_name(a) == _family_name(b)
    if key == "seed":
        with contextlib.suppress(TypeError, ValueError):
            return int(a) == int(b)
    return str(a or "") == str(b or "")


def _new_run(store: Store, stage: str, notebook: str, params: dict[str, Any], door: Door) -> str:
    from ._files import new_id

    run_id = new_id()
    store.create_run(
        run_id,
        dataset_name=str(params.get("dataset", "")),
        model_family=_family_name(params.get("model")),
        seed=int(params.get("seed", 0)),
        stages=[(stage, door.stage_notebook(notebook))],
        params=params,
        source=door.source,
        git_commit=git_commit(door.notebook.parent if door.notebook else Path(__file__).parent),
        versions=package_versions(),
    )
    return run_id


def _say_opened(
    ws: Workspace,
    run: RunRecord | None,
    run_id: str,
    stage: str,
    params: dict[str, Any],
    door: Door,
) -> None:
    what = ", ".join(f"{k} {params[k]}" for k in ("dataset", "model", "seed") if params.get(k))
    if run is None:
        print(
            f"run {run_id}: new {door.source} run, stage {stage} ({what}); "
            f'continue it from another notebook with run_id = "{run_id}"'
        )
        return
    before = next((s for s in run.stages if s.name == stage), None)
    again = f"stage {stage} again (it {before.status})" if before else f"stage {stage} added"
    reused = [
        name
        for name, present in (
            ("its split", (ws.run_dir(run_id) / "split.json").is_file()),
            ("its model", run.artifact("model") is not None),
        )
        if present
    ]
    print(
        f"run {run_id}: continued ({run.source} run, {run.status}), {again}; "
        f"reusing {', '.join(reused) or 'nothing recorded yet'} ({what})"
    )


# -- one stage executed by hand -----------------------------------------------------------------


@dataclass(eq=False)
class StageTracker:
    """The state of one stage executed by hand, from ``RunContext.open`` to its end."""

    ws: Workspace
    store: Store
    run_id: str
    stage: str
    door: Door
    cpu_s: float = 0.0
    cell_s: float = 0.0
    done: bool = False
    _cell_start: tuple[float, float] = field(default_factory=lambda: _clocks())
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread(target=self._beat, name=f"heartbeat-{self.run_id}", daemon=True).start()

    # cells ------------------------------------------------------------------------------------

    def cell_started(self) -> None:
        self._cell_start = _clocks()

    def cell_finished(self) -> None:
        if not self.done:
            cpu, wall = _clocks()
            self.cpu_s += cpu - self._cell_start[0]
            self.cell_s += wall - self._cell_start[1]
            self._cell_start = (cpu, wall)

    # outcomes ---------------------------------------------------------------------------------

    def finish(self) -> None:
        """The notebook reached ``ctx.finish()``: the stage succeeded (a failed one stays so)."""
        if self.done:
            print(
                f"run {self.run_id}: stage {self.stage} had already ended (see `workbench show "
                f"{self.run_id}`); run the notebook from the top to record a new run"
            )
            return
        self.cell_finished()
        self.store.log_metrics(
            self.run_id,
            [
                MetricRecord(self.stage, "cpu_seconds", self.cpu_s),
                MetricRecord(self.stage, "cell_seconds", self.cell_s),
            ],
        )
        self._end(RunStatus.SUCCEEDED, None)
        where = {
            "lab": f"; save the notebook, then `workbench report {self.run_id}` writes its page",
            "papermill": "; its page follows once papermill has written the output notebook"
            if self.door.notebook
            else "; pass PAPERMILL_OUTPUT_PATH (papermill --inject-output-path) to keep the "
            "executed notebook and its page",
        }.get(self.door.source, "")
        print(
            f"run {self.run_id}: stage {self.stage} succeeded "
            f"(cpu {self.cpu_s:.1f} s in cells){where}"
        )

    def fail(self, exc: BaseException, cell: tuple[int | None, str] | None = None) -> None:
        """A cell raised ``exc``: the stage and the run fail with the cell and the exception."""
        if self.done:
            return
        self.cell_finished()
        exec_count, source = cell or _current_cell()
        error = CellError(
            stage=self.stage,
            cell_index=_cell_index(self.door.notebook, source),
            exec_count=exec_count,
            source=source,
            ename=type(exc).__name__,
            evalue=str(exc),
            traceback="".join(traceback.format_exception(exc)).splitlines(),
        )
        status = RunStatus.CANCELLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
        self._end(status, asdict(error))

    def cancel(self, reason: str) -> None:
        if not self.done:
            self._end(RunStatus.CANCELLED, {"stage": self.stage, "reason": reason})

    def stop(self) -> None:
        """Stop following this stage without recording anything (it is opened again)."""
        self.done = True
        self._stop.set()

    def _end(self, status: RunStatus, error: dict[str, Any] | None) -> None:
        self.stop()
        self.store.finish_stage(self.run_id, self.stage, status, error=error)
        _settle_run(self.store, self.run_id)
        if self.door.source == "papermill" and self.door.notebook is not None:
            _start_watcher(self)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):  # a missed beat is harmless; the next retries
                self.store.heartbeat(self.run_id)


def _clocks() -> tuple[float, float]:
    # CPU time of the whole kernel process (all its threads), not the wall clock: a notebook
    # left open between cells costs nothing.
    return time.process_time(), time.perf_counter()


def _settle_run(store: Store, run_id: str) -> None:
    """The run's status from its stages once none is running (another notebook may be)."""
    run = store.get_run(run_id)
    statuses = [s.status for s in run.stages]
    if RunStatus.RUNNING in statuses:
        return
    for status in (RunStatus.FAILED, RunStatus.CANCELLED):
        failed = next((s for s in run.stages if s.status is status), None)
        if failed is not None:
            store.finish_run(run_id, status, error=failed.error or {"stage": failed.name})
            return
    store.finish_run(run_id, RunStatus.SUCCEEDED)


def _current_cell() -> tuple[int | None, str]:
    shell = _shell()
    if shell is None:
        return None, ""
    inputs = shell.user_ns.get("In") or [""]
    # In[n] is the source of cell n, and the running cell is the last one stored.
    return len(inputs) - 1, str(inputs[-1])


def _cell_index(notebook: Path | None, source: str) -> int:
    """The index of the code cell holding ``source`` in ``notebook`` (-1: not found)."""
    nb = _read_notebook(notebook) if notebook else None
    for i, cell in enumerate((nb or {}).get("cells", [])):
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else text
        if cell.get("cell_type") == "code" and text.strip() == source.strip():
            return i
    return -1


def _read_notebook(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing, or caught half written
    return data if isinstance(data, dict) else None


# -- the kernel: hooks registered once ---------------------------------------------------------


class _KernelSession:
    """The IPython hooks of this process and the stage they follow (one at a time)."""

    _instance: _KernelSession | None = None

    def __init__(self) -> None:
        self.current: StageTracker | None = None
        shell = _shell()
        if shell is not None:
            shell.events.register("pre_run_cell", self._pre_run_cell)
            shell.events.register("post_run_cell", self._post_run_cell)
            if not shell.custom_exceptions:  # never replace a handler the user installed
                shell.set_custom_exc((WorkbenchError,), _short_traceback)
        atexit.register(self._at_exit)

    @classmethod
    def get(cls) -> _KernelSession:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def release(self, run_id: str | None, stage: str) -> None:
        """A new ``RunContext.open``: the stage this kernel had open before ends now."""
        old = self.current
        self.current = None
        if old is None or old.done:
            return
        if (old.run_id, old.stage) == (run_id, stage):
            old.stop()  # the same stage again: it restarts, nothing to record
        else:
            old.cancel("the notebook opened a run again before this stage finished")

    def track(self, tracker: StageTracker) -> None:
        self.current = tracker

    def _pre_run_cell(self, info: Any = None) -> None:
        if self.current is not None:
            self.current.cell_started()

    def _post_run_cell(self, result: Any) -> None:
        tracker = self.current
        if tracker is None or tracker.done:
            return
        exc = result.error_before_exec or result.error_in_exec
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            exc = None  # papermill and Jupyter treat exit(0) as a clean stop
        if exc is None:
            tracker.cell_finished()
            return
        tracker.fail(exc, (result.execution_count, str(result.info.raw_cell or "")))
        print(
            f"run {tracker.run_id}: stage {tracker.stage} recorded as failed",
            file=sys.stderr,
        )

    def _at_exit(self) -> None:
        tracker = self.current
        if tracker is None or tracker.done:
            return
        with contextlib.suppress(Exception):  # the interpreter is going away; do what we can
            # A script (no IPython) that died on an exception leaves it here; a kernel keeps
            # the last shown error there, which may be older than this stage.
            last = getattr(sys, "last_value", None) if tracker.door.source == "python" else None
            if last is not None:
                tracker.fail(last)
            elif tracker.door.source == "papermill" and _all_cells_completed(tracker.door):
                tracker.finish()  # a notebook without ctx.finish() that papermill ran through
            else:
                tracker.cancel("the kernel stopped before the notebook reached ctx.finish()")


def _short_traceback(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str]:
    """A workbench error says what to change: show its message, not a stack of frames."""
    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # %tb still works
    stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def _all_cells_completed(door: Door) -> bool:
    nb = _read_notebook(door.notebook) if door.notebook else None
    cells = [c for c in (nb or {}).get("cells", []) if c.get("cell_type") == "code"]
    return bool(cells) and all(
        c.get("metadata", {}).get("papermill", {}).get("status") == "completed" for c in cells
    )


# -- the executed notebook ----------------------------------------------------------------------


def claim_notebook(ws: Workspace, store: Store, notebook: Path | None, run_id: str) -> None:
    """Before ``run_id`` executes into ``notebook``, settle the earlier runs recorded there.

    An earlier run whose stage still points at this file keeps a copy when the saved file holds
    its outputs; otherwise it no longer has an executed notebook (never another run's page).
    """
    if notebook is None:
        return
    target = notebook.resolve()
    for run in store.list_runs(limit=200):
        for stage in run.stages:
            if run.id == run_id or not stage.output_path or stage.status is RunStatus.RUNNING:
                continue
            if Path(stage.output_path).resolve() != target:
                continue
            if snapshot_notebook(ws, store, run.id, stage.name, notebook) is None:
                store.set_stage_output(run.id, stage.name, None)


def snapshot_notebook(
    ws: Workspace, store: Store, run_id: str, stage: str, notebook: Path, *, export: bool = False
) -> Path | None:
    """Copy ``notebook`` into the run's folder if it holds that run's outputs; record it.

    The copy becomes the stage's executed notebook and its ``notebook:<stage>`` artifact; with
    ``export`` it is also exported to the stage's HTML page. Returns the copy, or ``None`` when
    the file is missing or shows another execution.
    """
    nb = _read_notebook(notebook)
    if nb is None or not _holds_run(nb, run_id):
        return None
    record = store.get_run(run_id)
    name = next((s.notebook for s in record.stages if s.name == stage), "") or notebook.name
    copy = child_path(ws.run_dir(run_id), Path(name).stem, what="notebook name", suffix=".ipynb")
    if copy.resolve() != notebook.resolve():
        atomic_write_bytes(copy, notebook.read_bytes())
    store.log_artifact(
        run_id,
        ArtifactRecord(
            name=f"notebook:{stage}",
            kind="notebook",
            path=str(copy),
            sha256=sha256_file(copy),
            size=copy.stat().st_size,
            stage=stage,
        ),
    )
    store.set_stage_output(run_id, stage, str(copy))
    if export:
        from .headers import run_header
        from .pages import export_page, report_path

        html = report_path(ws, run_id, stage)
        header = run_header(ws, store, run_id, stage)
        export_page(ws, copy, html, title=f"{run_id} · {stage}", header=header)
        store.set_report(run_id, stage, str(html))
    return copy


def _holds_run(nb: dict[str, Any], run_id: str) -> bool:
    # RunContext.open prints the run id in its cell: a saved notebook without it shows another
    # execution (or none yet).
    outputs = [cell.get("outputs", []) for cell in nb.get("cells", [])]
    return run_id in json.dumps(outputs)


def _start_watcher(tracker: StageTracker) -> None:
    """Start the process that collects papermill's output notebook once it is written."""
    ws = tracker.ws
    ws.logs_dir.mkdir(parents=True, exist_ok=True)
    log = child_path(ws.logs_dir, f"collect-{tracker.run_id}-{tracker.stage}", what="log name")
    argv = [
        sys.executable,
        "-m",
        "workbench.labruns",
        str(ws.root),
        tracker.run_id,
        tracker.stage,
        str(tracker.door.notebook),
        str(tracker.door.pid or 0),
    ]
    with open(log.with_suffix(".log"), "ab") as out:
        # Its own session: it outlives the kernel (papermill writes the notebook after the
        # kernel has stopped) and a Ctrl-C meant for papermill does not reach it.
        subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def collect_output(
    ws: Workspace,
    store: Store,
    run_id: str,
    stage: str,
    notebook: Path,
    pid: int | None,
    *,
    timeout_s: float = COLLECT_TIMEOUT_S,
    poll_s: float = 0.2,
) -> Path | None:
    """Wait until papermill has written ``notebook`` (or exited), then keep and export it.

    Papermill stamps ``metadata.papermill.end_time`` in its last write, after the kernel has
    stopped. Returns the run's copy of the notebook, or ``None`` when the file no longer shows
    this run (another execution overwrote it first).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        nb = _read_notebook(notebook)
        if nb is not None and nb.get("metadata", {}).get("papermill", {}).get("end_time"):
            break
        if pid and not _alive(pid):
            time.sleep(poll_s)  # its last write, if any, is done by now
            break
        time.sleep(poll_s)
    return snapshot_notebook(ws, store, run_id, stage, notebook, export=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _main(argv: Sequence[str]) -> int:
    """``python -m workbench.labruns WORKSPACE RUN STAGE NOTEBOOK PID``: the watcher."""
    from .store import open_workspace

    root, run_id, stage, notebook, pid = argv
    ws, store = open_workspace(root)
    copy = collect_output(ws, store, run_id, stage, Path(notebook), _int(pid) or None)
    print(f"run {run_id} stage {stage}: " + (f"kept {copy}" if copy else f"{notebook} not kept"))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
