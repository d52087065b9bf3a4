"""The ``workbench`` command line. It only parses and delegates; heavy imports stay inside the
commands so ``workbench --help`` answers at once."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ._cli_paths import AbsolutePath, DatasetRef
from .exceptions import WorkbenchError

__all__ = ["cli", "main"]


class _UserError(click.ClickException):
    """A WorkbenchError shown as one clean line (no traceback) with its own exit code."""

    def __init__(self, error: WorkbenchError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file: Any = None) -> None:
        click.secho(f"error: {self.message}", err=True, fg="red")


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WorkbenchError as e:
            raise _UserError(e) from e


workspace_option = click.option(
    "--workspace",
    "-w",
    type=AbsolutePath(file_okay=False),
    default=None,
    envvar="WORKBENCH_HOME",
    help="Workspace folder [default: $WORKBENCH_HOME or ./workspace].",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def _print_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _open(workspace: str | None, *, create: bool = False) -> tuple[Any, Any]:
    from .store import open_workspace

    return open_workspace(workspace, create=create)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workbench")
def cli() -> None:
    """Workbench: run parameterized notebooks, record every run, compare, export and watch models.

    \b
    Start with:
      workbench demo                 the whole lifecycle on a builtin dataset
      workbench run --dataset iris   one run: explore, search, evaluate
      workbench runs                 what has been recorded
    Every command takes --workspace DIR (default $WORKBENCH_HOME or ./workspace); the store is a
    SQLite file there unless WORKBENCH_DB_URL names another SQLAlchemy URL (e.g. PostgreSQL).
    """


@cli.command()
@click.argument("directory", required=False, type=AbsolutePath(file_okay=False))
def init(directory: str | None) -> None:
    """Create a workspace (default $WORKBENCH_HOME or ./workspace) and its store."""
    ws, store = _open(directory, create=True)
    click.echo(f"workspace ready at {ws.root} (store: {store.engine.url.drivername})")


@cli.command()
@click.option(
    "--dataset",
    "-d",
    required=True,
    type=DatasetRef(),
    help="Builtin name (breast_cancer, wine, iris, digits, diabetes) or a CSV path.",
)
@click.option("--target", "-t", default=None, help="Target column (required for a CSV file).")
@click.option(
    "--model",
    "-m",
    default="logreg",
    show_default=True,
    help="Model family: logreg (alias linear), rf, hgb.",
)
@click.option(
    "--trials",
    "-n",
    default=20,
    show_default=True,
    type=int,
    help="Optuna trials of the search stage.",
)
@click.option(
    "--seed",
    default=42,
    show_default=True,
    type=int,
    help="Seeds the split, the search and the model.",
)
@click.option(
    "--param",
    "-p",
    "assignments",
    multiple=True,
    metavar="NAME=VALUE",
    help="Extra notebook parameter, checked against the parameters cells. Repeatable.",
)
@click.option(
    "--stages",
    default="explore,search,evaluate",
    show_default=True,
    help="Comma-separated stages to run, in lifecycle order.",
)
@click.option("--log-output", is_flag=True, help="Stream cell outputs to the terminal.")
@click.option("--reviewer", is_flag=True, help="Export reports without code cells.")
@click.option("--cell-timeout", type=float, default=None, help="Seconds a cell may run.")
@workspace_option
@json_option
def run(
    dataset: str,
    target: str | None,
    model: str,
    trials: int,
    seed: int,
    assignments: tuple[str, ...],
    stages: str,
    log_output: bool,
    reviewer: bool,
    cell_timeout: float | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Execute one run: the notebooks of its stages through papermill, recorded in the store.

    Parameters are checked against each notebook's parameters cell before any kernel starts.
    A failing cell marks the run failed (stage, cell and traceback kept, exit 1); Ctrl-C marks
    it cancelled (exit 130). The executed notebooks stay under runs/<run_id>/ and their HTML
    reports under reports/<run_id>/.
    """
    from .params import parse_assignment
    from .runner import RunRequest

    params = dict(parse_assignment(a) for a in assignments)
    request = RunRequest(
        dataset=dataset,
        target=target,
        model=model,
        trials=trials,
        seed=seed,
        params=params,
        stages=tuple(s.strip() for s in stages.split(",") if s.strip()),
    )
    outcome = _execute(
        request,
        workspace,
        log_output=log_output,
        reviewer=reviewer,
        cell_timeout=cell_timeout,
        as_json=as_json,
    )
    if as_json:
        _print_json(outcome.to_json())
    else:
        _print_outcome(outcome)


def _execute(request: Any, workspace: str | None, *, as_json: bool, **kw: Any) -> Any:
    import logging

    from ._progress import RichProgress
    from .exceptions import RunCancelled, StageFailed
    from .runner import Runner

    ws, store = _open(workspace, create=True)
    console = _stderr_console()
    if kw.get("log_output"):
        from rich.logging import RichHandler

        logger = logging.getLogger("papermill")
        logger.setLevel(logging.INFO)
        logger.addHandler(RichHandler(console=console, show_path=False))
    with RichProgress(console, label=request.dataset) as progress:
        runner = Runner(ws, store, progress=progress, **kw)
        try:
            return runner.run(request)
        except StageFailed as e:
            if as_json:
                _print_json(runner.outcome(e.run_id).to_json())
            _print_traceback(console, e)
            raise
        except RunCancelled:
            raise


def _print_traceback(console: Any, e: Any) -> None:
    from rich.text import Text

    console.print(Text("\n".join(e.cell.traceback[-12:]), style="dim"))


def _print_outcome(outcome: Any) -> None:
    click.echo(f"run {outcome.run_id}: {outcome.status.value}")
    for name, m in outcome.metrics.items():
        if "." in name:
            continue  # stage-level numbers; `workbench show` has them all
        ci = m.get("ci95")
        text = f"  {name:<18} {m['value']:.4f}"
        click.echo(text + (f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""))
    if outcome.report:
        click.echo(f"report: {outcome.report}")
    if outcome.index:
        click.echo(f"index:  {outcome.index}")


def _sweep_stale(store: Any) -> None:
    """A run whose process died (SIGKILL, power loss) stops beating: show it as failed."""
    from .batch import mark_stale_runs

    mark_stale_runs(store)


@cli.command("runs")
@click.option("--limit", default=50, show_default=True, help="Show at most this many runs.")
@workspace_option
@json_option
def runs_cmd(limit: int, workspace: str | None, as_json: bool) -> None:
    """List runs, newest first: id, status, dataset, model, headline metric, duration."""
    from .views import run_summaries

    _, store = _open(workspace)
    _sweep_stale(store)
    rows = run_summaries(store.list_runs(limit=limit))
    if as_json:
        _print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("run", no_wrap=True, min_width=22)  # the id is what users copy
    for col in ("status", "dataset", "model", "metric", "duration"):
        table.add_column(col)
    for r in rows:
        metric = r["headline"]
        table.add_row(
            r["run_id"],
            r["status"],
            r["dataset"],
            r["model"] or "-",
            f"{metric['name']} {metric['value']:.4f}" if metric else "-",
            f"{r['duration_s']:.1f}s" if r["duration_s"] is not None else "-",
        )
    Console().print(table if rows else "no runs yet; start one with `workbench run`")


@cli.command()
@click.argument("run_id")
@workspace_option
@json_option
def show(run_id: str, workspace: str | None, as_json: bool) -> None:
    """Everything recorded about one run (a unique prefix of the id is enough)."""
    from .views import render_run, run_detail

    _, store = _open(workspace)
    _sweep_stale(store)
    detail = run_detail(store.get_run(run_id))
    if as_json:
        _print_json(detail)
    else:
        from rich.console import Console

        render_run(Console(), detail)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--reviewer", is_flag=True, help="Hide code cells in the exported HTML.")
@workspace_option
def report(run_id: str | None, reviewer: bool, workspace: str | None) -> None:
    """Re-export the HTML reports of one run (or all) and rebuild reports/index.html."""
    from .reports import rebuild_reports

    ws, store = _open(workspace)
    index = rebuild_reports(ws, store, run_id=run_id, reviewer=reviewer)
    click.echo(f"index: {index}")


@cli.command()
@click.option("--fast", is_flag=True, help="Few trials and bootstrap resamples (used by tests).")
@workspace_option
def demo(fast: bool, workspace: str | None) -> None:
    """The whole lifecycle on breast_cancer: explore, search two model families, evaluate."""
    from .demo import run_demo

    ws, store = _open(workspace, create=True)
    index = run_demo(ws, store, fast=fast, console=_stderr_console())
    click.echo(f"report index: {index}")


@cli.command()
@workspace_option
@click.option("--port", default=8888, show_default=True, help="JupyterLab port (127.0.0.1).")
def lab(workspace: str | None, port: int) -> None:
    """Open the bundled notebooks in JupyterLab, recording into the workspace."""
    import os
    import subprocess

    from .params import notebooks_dir

    ws, _ = _open(workspace, create=True)
    env = {**os.environ, "WORKBENCH_HOME": str(ws.root)}
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--notebook-dir",
        str(notebooks_dir()),
    ]
    raise SystemExit(subprocess.call(cmd, env=env))


def _register_plugins() -> None:
    # Each module imports only click at top level, so `--help` stays fast.
    from . import _cli_abtest, _cli_batch, _cli_compare, _cli_monitor, _cli_release

    for module in (_cli_compare, _cli_release, _cli_abtest, _cli_monitor):
        module.register_commands(cli)
    cli.add_command(_cli_batch.batch)


_register_plugins()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="workbench")


if __name__ == "__main__":
    main()
