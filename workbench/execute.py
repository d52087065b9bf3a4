"""Execute a notebook with papermill the way every workbench stage does.

Kernels start on local IPC sockets (no TCP ports to race for when runs start in parallel, no
"running over TCP without encryption" warning), in batch mode (``WORKBENCH_BATCH=1``: notebooks
show static tables instead of widgets), and a failure becomes a :class:`StageFailed` carrying
the cell, its source and the traceback, with the partial notebook kept.

Every cell runs under a time limit, :data:`DEFAULT_CELL_TIMEOUT_S` unless the caller gives one
(``workbench run --cell-timeout``): a cell that hangs ends its stage as failed, with the cell
and the limit named, instead of holding the run ``running`` forever. A kernel that dies is a
failed stage the same way.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import CellError, ConfigError, StageFailed

if TYPE_CHECKING:
    from .config import Workspace
    from .pages import PageHeader

__all__ = [
    "DEFAULT_CELL_TIMEOUT_S",
    "ENGINE",
    "check_cell_timeout",
    "execute_notebook",
    "register_engine",
    "render_report",
]

ENGINE = "workbench"
#: Seconds a cell may run when the caller sets no limit (30 minutes): ample for a search cell
#: of the builtin datasets on a slow machine (minutes), short enough that a hung cell ends its
#: run the same working session.
DEFAULT_CELL_TIMEOUT_S = 1800.0
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_registered = False


def _strip(text: str) -> str:
    return _ANSI.sub("", text)


def _ipc_kernel_manager() -> type:
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(transport="ipc", **kwargs)

    return IPCKernelManager


def check_cell_timeout(value: float | None, *, what: str = "--cell-timeout") -> float:
    """The per-cell limit in seconds: ``value``, or the default when it is None.

    Raises:
        ConfigError: ``value`` is not a finite number of seconds above 0.
    """
    if value is None:
        return DEFAULT_CELL_TIMEOUT_S
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"{what} must be a number of seconds above 0, got {value!r}; "
            f"the default is {DEFAULT_CELL_TIMEOUT_S:g}"
        )
    return float(value)


def register_engine() -> None:
    """Register the ``workbench`` papermill engine (IPC kernels, per-cell callback); idempotent."""
    global _registered
    if _registered:
        return
    from papermill.engines import NBClientEngine, papermill_engines

    class WorkbenchEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(  # type: ignore[override]
            cls, nb_man: Any, kernel_name: str, on_cell: Any = None, **kwargs: Any
        ) -> Any:
            if on_cell is not None:
                original = nb_man.cell_start
                total = len(nb_man.nb.cells)

                def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                    on_cell(cell_index or 0, total)
                    return original(cell, cell_index, **kw)

                nb_man.cell_start = cell_start
            kwargs.setdefault("kernel_manager_class", _ipc_kernel_manager())
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(ENGINE, WorkbenchEngine)
    _registered = True


@contextmanager
def _kernel_env(*, quiet: bool = False) -> Iterator[None]:
    """Batch mode for the kernels started inside; ``quiet`` also silences their warnings (a
    reviewer's page shows results, not library deprecation notices on stderr)."""
    # Kernels inherit the environment; restore it so an interactive caller is unaffected.
    values = {"WORKBENCH_BATCH": "1"}
    if quiet:
        values["PYTHONWARNINGS"] = "ignore"
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(
    notebook: Path,
    out: Path,
    parameters: Mapping[str, Any],
    *,
    stage: str,
    owner: str,
    log_output: bool = False,
    on_cell: Callable[[int, int], None] | None = None,
    cell_timeout: float | None = None,
    quiet: bool = False,
) -> Path:
    """Execute ``notebook`` into ``out`` (its folder is the kernel's working directory).

    Args:
        notebook: The parameterized notebook.
        out: Where the executed notebook goes (kept, partial, when a cell fails).
        parameters: Injected after the ``parameters`` cell.
        stage: Stage name for error records (``search``, ``compare``, ...).
        owner: The run, comparison or report id the failure belongs to.
        log_output: Stream cell outputs to the ``papermill`` logger.
        on_cell: Called with (cell index, cell count) as each cell starts.
        cell_timeout: Seconds a cell may run (``None``: :data:`DEFAULT_CELL_TIMEOUT_S`).
        quiet: Ignore warnings in the kernel (reviewer pages show no stderr noise).

    Raises:
        StageFailed: a cell raised, the kernel died or a cell ran out of time.
            KeyboardInterrupt passes.
        ConfigError: ``cell_timeout`` is not a number of seconds above 0.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    timeout = check_cell_timeout(cell_timeout)
    register_engine()
    out.parent.mkdir(parents=True, exist_ok=True)
    running = [-1]  # the cell executing now: what a timeout or a dead kernel interrupted

    def cell_started(index: int, total: int) -> None:
        running[0] = index
        if on_cell is not None:
            on_cell(index, total)

    try:
        with _kernel_env(quiet=quiet):
            papermill.execute_notebook(
                str(notebook),
                str(out),
                parameters=dict(parameters),
                kernel_name="python3",
                # A notebook written by a script or another editor may lack kernel metadata.
                language="python",
                engine_name=ENGINE,
                progress_bar=False,
                log_output=log_output,
                cwd=str(out.parent),
                execution_timeout=timeout,
                on_cell=cell_started,
            )
    except PapermillExecutionError as e:
        cell = CellError(
            stage=stage,
            cell_index=int(e.cell_index),
            exec_count=e.exec_count,
            source=e.source,
            ename=e.ename,
            evalue=_strip(str(e.evalue)),
            traceback=[_strip(line) for line in e.traceback],
        )
        raise StageFailed(owner, cell, str(out)) from e
    except Exception as e:  # kernel died, timed out or could not start: still a failed stage
        raise StageFailed(
            owner, _interrupted_cell(e, stage, out, running[0], timeout), str(out)
        ) from e
    return out


def _interrupted_cell(
    error: Exception, stage: str, out: Path, index: int, timeout: float
) -> CellError:
    """The record of a cell stopped from outside: a time-out, a dead kernel, a kernel that
    never started (``index`` -1)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    where = f"cell {index}" if index >= 0 else "the kernel"
    if isinstance(error, CellTimeoutError):
        evalue = (
            f"{where} ran longer than the cell timeout of {timeout:g} s and was stopped; "
            "raise the limit with --cell-timeout SECONDS if the cell needs longer"
        )
    elif isinstance(error, DeadKernelError):
        evalue = (
            f"the kernel died while {where} ran ({_strip(str(error))}): it was killed, ran "
            "out of memory or crashed"
        )
    else:
        evalue = _strip(str(error))
    return CellError(stage, index, None, _cell_source(out, index), type(error).__name__, evalue, [])


def _cell_source(out: Path, index: int) -> str:
    """The source of cell ``index`` of the partial output notebook ('' when unknown)."""
    if index < 0 or not out.is_file():
        return ""
    try:
        import nbformat

        return str(nbformat.read(out, as_version=4).cells[index].source)
    except Exception:  # a half-written notebook: the cell's source is a nicety, not a need
        return ""


def render_report(
    notebook_name: str,
    *,
    out: Path,
    html: Path,
    parameters: Mapping[str, Any],
    stage: str,
    owner: str,
    title: str,
    workspace: Workspace | None = None,
    reviewer: bool | None = None,
    standalone: bool | None = None,
    log_output: bool = False,
    on_export: Callable[[Path], None] | None = None,
    header: Callable[[], PageHeader] | None = None,
) -> Path:
    """Execute a bundled report notebook and export it to an HTML page.

    ``on_export(html)`` runs after every export, also of a partial notebook when a cell fails,
    so the caller can record where the page is before :class:`StageFailed` propagates.

    Args:
        notebook_name: The report notebook (e.g. ``04_compare.ipynb``).
        out: Where the executed notebook goes.
        html: Where the page goes (inside ``workspace``'s reports folder).
        parameters: Injected after the ``parameters`` cell.
        stage: Stage name for error records.
        owner: The record the failure belongs to.
        title: The page title.
        workspace: The workspace whose page settings apply (:func:`workbench.pages.page_options`:
            reviewer mode, shared or standalone assets); ``None``: a standalone page.
        reviewer: Hide code cells, stderr and absolute paths; ``None``: the workspace's default.
        standalone: One self-contained file; ``None``: the workspace's default.
        log_output: Stream cell outputs to the ``papermill`` logger.
        on_export: Called with the page's path after each export.
        header: Builds the page's header card (:mod:`workbench.headers`), called at export
            time, once the record it describes is complete.
    """
    from .pages import PageOptions, export_notebook, page_options
    from .params import notebooks_dir

    notebook = notebooks_dir() / notebook_name
    if not notebook.is_file():
        raise ConfigError(
            f"no {notebook_name} in {notebook.parent}; add it there (WORKBENCH_NOTEBOOKS points "
            "at that folder) or skip the HTML report (--no-report)"
        )
    if workspace is not None:
        options = page_options(workspace, reviewer=reviewer, standalone=standalone)
    else:
        options = PageOptions(reviewer=bool(reviewer), standalone=True)

    def export() -> Path:
        card = header() if header is not None else None
        export_notebook(out, html, title=title, options=options, header=card)
        if on_export is not None:
            on_export(html)
        return html

    try:
        execute_notebook(
            notebook,
            out,
            parameters,
            stage=stage,
            owner=owner,
            log_output=log_output,
            quiet=options.reviewer,
        )
    except StageFailed:
        if out.is_file():  # the partial notebook shows where it stopped
            export()
        raise
    return export()
