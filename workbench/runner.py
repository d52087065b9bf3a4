"""Execute a run: its notebook stages through papermill, recorded in the store.

The runner validates everything it can before a kernel starts (stages, model family, dataset,
parameters), then executes each stage's notebook into ``runs/<run_id>/``, exports it to HTML in
the background while the next stage runs, and keeps the run's status true whatever happens:

- a failing cell, a cell past its time limit or a dead kernel marks it ``failed`` (stage, cell,
  reason and traceback kept);
- a report that cannot be written (a full disk) marks it ``failed`` with the stage and the
  error: a run is ``succeeded`` only once every page of it is on disk;
- Ctrl-C, or SIGTERM when the caller turns it into :class:`~workbench.exceptions.Terminated`
  (``workbench run`` does), marks it ``cancelled`` with the reason.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ._files import new_id, sha256_file
from .config import Workspace
from .context import STAGES
from .exceptions import CellError, ConfigError, RunCancelled, StageFailed, Terminated
from .params import check_params, notebook_parameters
from .provenance import git_commit, package_versions
from .store import ArtifactRecord, MetricRecord, RunStatus, Store

__all__ = ["ProgressSink", "RunOutcome", "RunRequest", "Runner"]

HEARTBEAT_S = 10.0
_log = logging.getLogger(__name__)


class ProgressSink(Protocol):
    """Receives progress events; the CLI draws bars with them, batch executors count them."""

    def stage_started(self, stage: str, index: int, total: int, cells: int) -> None: ...
    def cell_started(self, stage: str, index: int, total: int) -> None: ...
    def stage_finished(self, stage: str, status: RunStatus) -> None: ...


@dataclass(frozen=True)
class RunRequest:
    """One parameter set to execute through some stages."""

    dataset: str
    target: str | None = None
    model: str = "logreg"
    trials: int = 20
    seed: int = 42
    params: Mapping[str, Any] = field(default_factory=dict)
    stages: Sequence[str] = tuple(STAGES)

    def base_params(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "target": self.target or "",
            "model": self.model,
            "trials": self.trials,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: RunStatus
    metrics: dict[str, dict[str, Any]]
    reports: dict[str, str]
    index: str | None
    error: dict[str, Any] | None = None

    @property
    def report(self) -> str | None:
        """The main report: the last stage that has one."""
        return list(self.reports.values())[-1] if self.reports else None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "metrics": self.metrics,
            "report": self.report,
            "reports": self.reports,
            "index": self.index,
            "error": self.error,
        }


def _children_cpu_seconds() -> float:
    """User + system CPU seconds of this process's finished children (the kernels)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Runner:
    """Runs :class:`RunRequest`s in one workspace.

    Args:
        workspace: the workspace (created if missing).
        store: its store.
        progress: optional progress sink.
        log_output: stream cell outputs to the ``papermill`` logger.
        reviewer: export HTML without code cells (``None``: the workspace's report settings).
        cell_timeout: seconds a single cell may run (None:
            :data:`~workbench.execute.DEFAULT_CELL_TIMEOUT_S`); must be above 0.
        on_finished: called once a run has finished and its pages are written, whatever its
            status (the CLI rebuilds the report index there).
    """

    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        *,
        progress: ProgressSink | None = None,
        log_output: bool = False,
        reviewer: bool | None = None,
        cell_timeout: float | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.ws = workspace
        self.store = store
        self.progress = progress
        self.log_output = log_output
        self.reviewer = reviewer
        from .execute import check_cell_timeout

        self.cell_timeout = check_cell_timeout(cell_timeout)
        self.on_finished = on_finished

    # -- validation (no kernel, nothing recorded) ---------------------------------------------

    def prepare(self, req: RunRequest) -> tuple[list[tuple[str, Path]], dict[str, Any]]:
        """Check the request; returns the stage notebooks and the full parameter set.

        The stages and their notebooks come from the project (:mod:`workbench.project`: its
        ``[stages]``, else the bundled notebooks) and from plugins, which are loaded here first
        so that a plugin's model family, dataset or stage is checked before a kernel starts.
        Stages run in the project's order. A relative CSV path is made absolute against the
        current folder here: the notebooks execute in ``runs/<run_id>/``, and the run records
        the path they read.
        """
        from .datasets import dataset_from_params, resolve_dataset_ref
        from .models import get_family
        from .params import RESERVED
        from .plugins import load_plugins, stage_table
        from .preflight import check_run, check_trials
        from .project import find_project

        project = find_project()
        load_plugins(project)
        table = stage_table(project)
        unknown = [s for s in req.stages if s not in table]
        if unknown or not req.stages:
            where = f" (from {project.describe()})" if project is not None else ""
            raise ConfigError(
                f"unknown stage(s) {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"stages are {', '.join(table)}{where}"
            )
        get_family(req.model)
        check_trials(req.trials, what="--trials")
        # `-p dataset=...` may override --dataset: resolve and check the one the kernels get.
        dataset = resolve_dataset_ref(str(req.params.get("dataset", req.dataset)))
        target = req.params.get("target", req.target)
        ds = dataset_from_params({**req.params, "dataset": dataset, "target": target})
        stages = [(s, path) for s, path in table.items() if s in req.stages]
        specs: dict[str, Any] = {}
        for name, path in stages:
            if not path.is_file():
                raise ConfigError(f"stage {name!r}: notebook {path} does not exist")
            found = notebook_parameters(path)
            missing = [r for r in RESERVED if r not in found]
            if missing:
                raise ConfigError(
                    f"stage {name!r}: notebook {path.name} does not declare "
                    f"{' and '.join(missing)} in its parameters cell; a stage notebook declares "
                    'workspace = "" and run_id = "" there and opens '
                    f'RunContext.open(stage="{name}", workspace=workspace, run_id=run_id, ...)'
                )
            specs.update(found)
        where = [p.name for _, p in stages]
        # The CLI options reach only the stages that declare them (01_explore has no `trials`);
        # everything the user passed with -p must be declared somewhere.
        base = req.base_params()
        declared = {k: v for k, v in base.items() if k in specs}
        params = {**base, **check_params({**declared, **req.params}, specs, where=where)}
        params["dataset"] = dataset
        get_family(params["model"])
        # Sizes, folds, seeds, inf: refused here, not in a kernel; the notebooks' own defaults
        # (cv_folds = 5) count as much as what was passed.
        defaults = {}
        for name, spec in specs.items():
            with contextlib.suppress(ValueError, SyntaxError, TypeError, MemoryError):
                defaults[name] = ast.literal_eval(spec.default)
        check_run({**defaults, **params}, ds)
        return stages, params

    # -- execution ----------------------------------------------------------------------------

    def run(
        self,
        req: RunRequest,
        *,
        run_id: str | None = None,
        batch_id: str | None = None,
        reopen: bool = False,
    ) -> RunOutcome:
        """Validate, record and execute a run. Raises StageFailed / RunCancelled after recording.

        ``batch_id`` ties the run to its batch; ``reopen=True`` starts an existing ``run_id``
        again (a resumed batch run continues its optuna study, whose name derives from the id).
        """
        stages, params = self.prepare(req)
        self.ws.create()
        run_id = run_id or new_id()
        run_dir = self.ws.run_dir(run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.store.create_run(
            run_id,
            dataset_name=str(params["dataset"]),
            model_family=params["model"],
            seed=int(params["seed"]),
            stages=[(name, path.name) for name, path in stages],
            params=params,
            source="cli",
            git_commit=git_commit(stages[0][1].parent),
            versions=package_versions(),
            batch_id=batch_id,
            reopen=reopen,
        )
        exports: list[tuple[str, Path, Future[Any]]] = []
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export") as pool:
                export_failed = False
                try:
                    for i, (name, path) in enumerate(stages):
                        out = self._execute_stage(run_id, name, path, params, i, len(stages))
                        exports.append((name, out, pool.submit(self._export, run_id, name, out)))
                    # Succeeded means every page is on disk: a report not written fails the run.
                    failure = self._await_exports(run_id, exports)
                    if failure is not None:
                        export_failed = True
                        raise failure
                except StageFailed as e:
                    self.store.finish_run(run_id, RunStatus.FAILED, error=asdict(e.cell))
                    if not export_failed:  # the partial notebook shows where it stopped
                        pool.submit(self._export, run_id, e.cell.stage, Path(e.notebook))
                    raise
                except KeyboardInterrupt as e:
                    reason = e.reason if isinstance(e, Terminated) else "interrupted"
                    self.store.finish_run(run_id, RunStatus.CANCELLED, error={"reason": reason})
                    raise RunCancelled(
                        f"run {run_id} cancelled ({reason}); recorded as cancelled",
                        run_id=run_id,
                        signal=e.signal if isinstance(e, Terminated) else 2,
                    ) from e
                # Leaving the pool waits for the exports still running; their errors, once the
                # run is recorded failed or cancelled, stay in their futures.
            self.store.finish_run(run_id, RunStatus.SUCCEEDED)
        finally:
            self._finished()
        return self.outcome(run_id)

    def outcome(self, run_id: str) -> RunOutcome:
        run = self.store.get_run(run_id)
        metrics = {
            f"{m.stage}.{m.name}" if m.stage != "evaluate" else m.name: m.to_dict()
            for m in run.metrics
        }
        reports = {s.name: s.report_path for s in run.stages if s.report_path}
        return RunOutcome(
            run_id=run.id,
            status=run.status,
            metrics=metrics,
            reports=reports,  # type: ignore[arg-type]
            index=str(self.ws.index_path) if self.ws.index_path.exists() else None,
            error=run.error,
        )

    def _execute_stage(
        self, run_id: str, stage: str, notebook: Path, params: dict[str, Any], i: int, n: int
    ) -> Path:
        import nbformat

        from .execute import execute_notebook

        out = self.ws.run_dir(run_id) / notebook.name
        declared = notebook_parameters(notebook)
        stage_params = {k: v for k, v in params.items() if k in declared}
        stage_params.update(workspace=str(self.ws.root), run_id=run_id)
        self.store.start_stage(run_id, stage, output_path=str(out))
        if self.progress:
            cells = len(nbformat.read(notebook, as_version=4).cells)
            self.progress.stage_started(stage, i, n, cells)

        def on_cell(index: int, total: int) -> None:
            if self.progress:
                self.progress.cell_started(stage, index, total)

        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(run_id, stop), daemon=True)
        beat.start()
        cpu_before = _children_cpu_seconds()
        try:
            execute_notebook(
                notebook,
                out,
                stage_params,
                stage=stage,
                owner=run_id,
                log_output=self.log_output,
                on_cell=on_cell,
                cell_timeout=self.cell_timeout,
            )
        except StageFailed as e:
            self._stage_failed(run_id, stage, e.cell)
            raise
        except KeyboardInterrupt:
            self.store.finish_stage(run_id, stage, RunStatus.CANCELLED)
            raise
        finally:
            stop.set()
        # The kernel is a child process that has exited: its CPU time is the stage's cost.
        cpu = _children_cpu_seconds() - cpu_before
        self.store.log_metrics(run_id, [MetricRecord(stage, "cpu_seconds", cpu)])
        self._record_notebook(run_id, stage, out)
        self.store.finish_stage(run_id, stage, RunStatus.SUCCEEDED)
        if self.progress:
            self.progress.stage_finished(stage, RunStatus.SUCCEEDED)
        return out

    def _stage_failed(self, run_id: str, stage: str, cell: CellError) -> None:
        self.store.finish_stage(run_id, stage, RunStatus.FAILED, error=asdict(cell))
        if self.progress:
            self.progress.stage_finished(stage, RunStatus.FAILED)

    def _record_notebook(self, run_id: str, stage: str, out: Path) -> None:
        self.store.log_artifact(
            run_id,
            ArtifactRecord(
                name=f"notebook:{stage}",
                kind="notebook",
                path=str(out),
                sha256=sha256_file(out),
                size=out.stat().st_size,
                stage=stage,
            ),
        )

    def _heartbeat(self, run_id: str, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_S):
            # A missed beat is harmless; the next one retries.
            with contextlib.suppress(Exception):
                self.store.heartbeat(run_id)

    def _export(self, run_id: str, stage: str, notebook: Path) -> None:
        from .headers import run_header
        from .pages import export_page, report_path

        if not notebook.exists():
            return
        html = report_path(self.ws, run_id, stage)
        export_page(
            self.ws,
            notebook,
            html,
            reviewer=self.reviewer,
            title=f"{run_id} · {stage}",
            header=run_header(self.ws, self.store, run_id, stage),
        )
        self.store.set_report(run_id, stage, str(html))

    def _await_exports(
        self, run_id: str, exports: list[tuple[str, Path, Future[Any]]]
    ) -> StageFailed | None:
        """Wait for the stages' HTML exports; the first that failed, as the run's failure."""
        for stage, notebook, future in exports:
            try:
                future.result()
            except Exception as e:  # a full disk, a notebook nbconvert cannot render
                cell = CellError(
                    stage, -1, None, "", type(e).__name__, f"its report could not be written: {e}"
                )
                return StageFailed(run_id, cell, str(notebook), partial=False)
        return None

    def _finished(self) -> None:
        """Call ``on_finished``; the run is recorded already, so its failure changes nothing."""
        if self.on_finished is None:
            return
        try:
            self.on_finished()
        except Exception as e:  # e.g. a full disk while the index is rebuilt
            _log.warning("run finished, but on_finished failed: %s: %s", type(e).__name__, e)
