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
    from ..params import parse_assignment
    from ..runner import RunRequest

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
        print_json(outcome.to_json())
    else:
        _print_outcome(outcome)


def _execute(request: Any, workspace: str | None, *, as_json: bool, **kw: Any) -> Any:
    import logging

    from ..exceptions import RunCancelled, StageFailed
    from ..progress import RichProgress
    from ..reports import build_index
    from ..runner import Runner

    ws, store = open_ws(workspace, create=True)
    console = err_console()
    if kw.get("log_output"):
        from rich.logging import RichHandler

        logger = logging.getLogger("papermill")
        logger.setLevel(logging.INFO)
        logger.addHandler(RichHandler(console=console, show_path=False))
    with RichProgress(console, label=request.dataset) as progress:
        runner = Runner(
            ws, store, progress=progress, on_finished=lambda: build_index(ws, store), **kw
        )
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
    from ..evaluate import BASELINE_PREFIX, baseline_verdict

    verdict = baseline_verdict(outcome.metrics)
    if verdict:  # the first thing to know about a model that a constant predictor matches
        click.secho(f"WARNING: {verdict}", fg="yellow", err=True)
    click.echo(f"run {outcome.run_id}: {outcome.status.value}")
    for name, m in outcome.metrics.items():
        if "." in name or name.startswith(BASELINE_PREFIX):
            continue  # stage-level numbers and the baseline's own; `workbench show` has them
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


@cli.command(context_settings={"ignore_unknown_options": True})
@workspace_option
@click.option("--port", default=8888, show_default=True, help="JupyterLab port (127.0.0.1).")
@click.option("--token", default=None, help="Access token (default: a new random one, printed).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- JUPYTER_ARGS]...")
def lab(
    workspace: str | None,
    port: int,
    token: str | None,
    no_browser: bool,
    jupyter_args: tuple[str, ...],
) -> None:
    """Open the stage notebooks in JupyterLab on 127.0.0.1, recording into the workspace.

    The notebooks are copies in <workspace>/lab (made once; your edits stay yours). Each
    execution there is a run of its own (`workbench runs`); `workbench report RUN` exports the
    saved notebook. As root, --allow-root is added. Arguments after `--` go to Jupyter.
    """
    import os
    import secrets

    from ..exceptions import ConfigError

    if token == "":
        raise ConfigError("--token must not be empty; omit it to have one generated")
    ws, _ = open_ws(workspace, create=True)
    folder = _lab_folder(ws)
    token = token or secrets.token_hex(24)
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the URL printed below must be the one it serves
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={folder}",
    ]
    if no_browser:
        argv.append("--no-browser")
    if os.geteuid() == 0 and "--allow-root" not in jupyter_args:
        argv.append("--allow-root")  # JupyterLab refuses to start as root without it
    argv += jupyter_args  # last, so they can override the rest
    click.echo(f"JupyterLab: http://127.0.0.1:{port}/lab?token={token}")
    click.echo(f"notebooks:  {folder}")
    click.echo(f"workspace:  {ws.root}")
    sys.stdout.flush()
    env = {**os.environ, "WORKBENCH_HOME": str(ws.root)}
    # Jupyter takes over this process: Ctrl-C and signals reach it directly.
    os.execve(argv[0], argv, env)


def _lab_folder(ws: Any) -> Any:
    """The folder `workbench lab` opens: <workspace>/lab holding copies of the stage notebooks.

    Each is copied once and never overwritten (the user's edits, outputs and checkpoints stay
    away from the notebooks `workbench run` executes). A project's own notebooks folder
    replaces this choice once projects exist (issue 12, items 1-3).
    """
    import shutil

    from ..context import STAGES
    from ..params import notebooks_dir

    folder = ws.root / "lab"
    folder.mkdir(parents=True, exist_ok=True)
    for name in STAGES.values():
        if not (folder / name).exists():
            shutil.copyfile(notebooks_dir() / name, folder / name)
    return folder
