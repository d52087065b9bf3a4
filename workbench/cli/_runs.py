"""Runs: ``init``, ``run``, ``runs``, ``show``, ``report``, ``demo``, ``lab``."""

from __future__ import annotations

import sys
from typing import Any

import click

from ._common import (
    cli,
    err_console,
    json_option,
    open_ws,
    out_console,
    print_json,
    workspace_option,
)
from ._paths import AbsolutePath, DatasetRef

__all__: list[str] = []  # commands register themselves on the group


@cli.command()
@click.argument("directory", required=False, type=AbsolutePath(file_okay=False))
def init(directory: str | None) -> None:
    """Create a workspace (default $WORKBENCH_HOME or ./workspace) and its store."""
    ws, store = open_ws(directory, create=True)
    click.echo(f"workspace ready at {ws.root} (store: {store.engine.url.drivername})")


@cli.command()
@click.option(
    "--dataset",
    "-d",
    required=True,
    type=DatasetRef(),
    help="Builtin name (breast_cancer, wine, iris, digits, diabetes) or a data file "
    "(CSV, TSV, Parquet).",
)
@click.option("--target", "-t", default=None, help="Target column (required for a file).")
@click.option(
    "--sep",
    default=None,
    help="Delimiter of a text file: one character, or tab/comma/semicolon/pipe (default: sniffed).",
)
@click.option(
    "--encoding",
    default=None,
    help="Text encoding of a text file, e.g. utf-8, cp1252, latin-1 (default: sniffed).",
)
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
    sep: str | None,
    encoding: str | None,
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
    from ..params import parse_assignment
    from ..runner import RunRequest

    params = dict(parse_assignment(a) for a in assignments)
    # --sep/--encoding are notebook parameters like any -p; the notebooks read the data with them.
    for name, value in (("sep", sep), ("encoding", encoding)):
        if value is None:
            continue
        if name in params and params[name] != value:
            raise click.UsageError(f"--{name} {value!r} and -p {name}={params[name]!r} disagree")
        params[name] = value
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
        print_json(outcome.to_json())
    else:
        _print_outcome(outcome)


def _execute(request: Any, workspace: str | None, *, as_json: bool, **kw: Any) -> Any:
    import logging

    from ..exceptions import RunCancelled, StageFailed
    from ..progress import RichProgress
    from ..runner import Runner

    ws, store = open_ws(workspace, create=True)
    console = err_console()
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
                print_json(runner.outcome(e.run_id).to_json())
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
    from ..batch import mark_stale_runs

    mark_stale_runs(store)


@cli.command("runs")
@click.option("--limit", default=50, show_default=True, help="Show at most this many runs.")
@workspace_option
@json_option
def runs_cmd(limit: int, workspace: str | None, as_json: bool) -> None:
    """List runs, newest first: id, status, dataset, model, headline metric, duration."""
    from ..views import run_summaries

    _, store = open_ws(workspace)
    _sweep_stale(store)
    rows = run_summaries(store.list_runs(limit=limit))
    if as_json:
        print_json(rows)
        return
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
    out_console().print(table if rows else "no runs yet; start one with `workbench run`")


@cli.command()
@click.argument("run_id")
@workspace_option
@json_option
def show(run_id: str, workspace: str | None, as_json: bool) -> None:
    """Everything recorded about one run (a unique prefix of the id is enough)."""
    from ..views import render_run, run_detail

    _, store = open_ws(workspace)
    _sweep_stale(store)
    detail = run_detail(store.get_run(run_id))
    if as_json:
        print_json(detail)
    else:
        render_run(out_console(), detail)


@cli.command()
@click.argument("run_id", required=False)
@click.option("--reviewer", is_flag=True, help="Hide code cells in the exported HTML.")
@workspace_option
def report(run_id: str | None, reviewer: bool, workspace: str | None) -> None:
    """Re-export the HTML reports of one run (or all) and rebuild reports/index.html."""
    from ..reports import rebuild_reports

    ws, store = open_ws(workspace)
    index = rebuild_reports(ws, store, run_id=run_id, reviewer=reviewer)
    click.echo(f"index: {index}")


@cli.command()
@click.option("--fast", is_flag=True, help="Few trials and bootstrap resamples (used by tests).")
@workspace_option
def demo(fast: bool, workspace: str | None) -> None:
    """The whole lifecycle on breast_cancer: explore, search two model families, evaluate."""
    from ..demo import run_demo

    ws, store = open_ws(workspace, create=True)
    index = run_demo(ws, store, fast=fast, console=err_console())
    click.echo(f"report index: {index}")


@cli.command()
@workspace_option
@click.option("--port", default=8888, show_default=True, help="JupyterLab port (127.0.0.1).")
def lab(workspace: str | None, port: int) -> None:
    """Open the bundled notebooks in JupyterLab, recording into the workspace."""
    import os
    import subprocess

    from ..params import notebooks_dir

    ws, _ = open_ws(workspace, create=True)
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
