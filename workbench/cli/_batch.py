"""``workbench batch GRID.yaml``: parse, delegate to :mod:`workbench.batch`, show progress.

A plain click command; ``workbench.cli`` registers it with ``cli.add_command(batch)``, which
also gives it the group's clean one-line error handling for :class:`WorkbenchError`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ._common import cli, err_console, out_console
from ._paths import AbsolutePath

__all__ = ["batch"]


@click.command("batch")
@click.argument("grid_file", metavar="GRID.yaml", type=AbsolutePath(dir_okay=False))
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="Where runs execute: local processes, or a Dask cluster [default: local; dask when "
    "--scheduler is given].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Runs in parallel (local processes or LocalCluster workers) [default: cores].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (workers need the workspace on a "
    "shared filesystem and a PostgreSQL WORKBENCH_DB_URL). Default: a local cluster.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Skip runs that already succeeded with the same parameters; continue failed or "
    "interrupted ones under their run id (and optuna study).",
)
@click.option(
    "--workspace",
    "-w",
    type=AbsolutePath(file_okay=False),
    default=None,
    envvar="WORKBENCH_HOME",
    help="Workspace folder [default: $WORKBENCH_HOME or ./workspace].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the batch result as JSON on stdout.")
def batch(
    grid_file: str,
    executor: str | None,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Run a grid of runs (datasets x models x parameters) in parallel, as one batch.

    Every run is validated before anything starts. A failing run does not stop the others;
    the command exits 1 when any run failed. Results are compared on
    reports/batches/<batch_id>.html, linked from reports/index.html. See templates/grid.yaml
    for the grid format.
    """

    from ..batch import get_executor, load_grid
    from ..exceptions import ConfigError
    from ..reports import publish_batch
    from ..runner import Runner
    from ..store import open_workspace

    name = executor or ("dask" if scheduler else "local")
    if scheduler and name != "dask":
        raise ConfigError("--scheduler needs --executor dask (or leave --executor out)")
    options: dict[str, Any] = {"workers": workers}
    if name == "dask":
        options["scheduler"] = scheduler
    batch_executor = get_executor(name, **options)
    ws, store = open_workspace(workspace, create=True)
    grid = load_grid(grid_file, runner=Runner(ws, store))
    from ..progress import RichBatchProgress  # imports the store: not at `workbench --help`

    console = err_console()
    with RichBatchProgress(console, grid_name=grid.name) as progress:
        result = batch_executor.run(grid, ws, store, resume=resume, progress=progress)
    result = publish_batch(ws, store, result)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        _print_summary(result)
    if result.failed:
        raise click.exceptions.Exit(1)


def _print_summary(result: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"batch {result.batch_id}: {result.status.value} in {result.wall_s:.1f}s "
        f"({result.executor})",
        title_justify="left",
        box=None,
        header_style="bold",
    )
    table.add_column("run", no_wrap=True)  # ids are copied into `workbench show`
    for col in ("grid run", "status", "headline", "95% CI", "duration"):
        table.add_column(col)
    for r in result.runs:
        h = r.headline
        ci = h.get("ci95") if h else None
        cells = (
            r.run_id,
            r.label,
            r.status + (" (continued)" if r.reused else ""),
            f"{h['name']} {h['value']:.4f}" if h else "-",
            f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "-",
            f"{r.duration_s:.1f}s" if r.duration_s is not None else "-",
        )
        table.add_row(*(Text(c) for c in cells))  # Text: labels are user text, not markup
    console = out_console()
    console.print(table)
    console.print(f"batch page: {result.page}")
    console.print(f"index:      {result.index}")


cli.add_command(batch)
