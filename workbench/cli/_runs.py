"""Projects and runs: ``init``, ``run``, ``runs``, ``show``, ``tag``, ``note``, ``diff``,
``report``, ``demo``, ``lab``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from ..execute import DEFAULT_CELL_TIMEOUT_S
from ..preflight import TRIALS
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


def _find_project() -> Any:
    """The project of this command (see :func:`workbench.project.find_project`)."""
    from ..project import find_project

    return find_project()


__all__: list[str] = []  # commands register themselves on the group


@cli.command()
@click.argument("directory", required=False, type=AbsolutePath(file_okay=False))
@workspace_option
@json_option
def init(directory: str | None, workspace: str | None, as_json: bool) -> None:
    """Start a project in DIRECTORY (default: the current folder) and create its workspace.

    \b
    Writes, keeping any file that exists:
      workbench.toml     stages and their notebooks, default dataset/target/model,
                         plugins, gates, the workspace
      notebooks/         copies of the stage notebooks, yours to edit
      gates.yaml         the comparison gates
      example_plugin.py  a dataset loader and a model family (enable it in workbench.toml)
    The workspace (store, runs, reports) is DIRECTORY/workspace unless --workspace names
    another folder, which workbench.toml then records. Every command run in the project, or
    below it, finds it.
    """
    import os

    from click.core import ParameterSource

    from ..project import init_project, project_env

    ctx = click.get_current_context()
    explicit = ctx.get_parameter_source("workspace") is ParameterSource.COMMANDLINE
    result = init_project(directory or os.getcwd(), workspace=workspace if explicit else None)
    project = result.project
    with project_env(project):
        ws, store = open_ws(workspace, create=True)
    if as_json:
        print_json(
            {
                "project": str(project.root),
                "settings": str(project.config_file),
                "created": [str(p) for p in result.created],
                "kept": [str(p) for p in result.kept],
                "stages": {name: str(path) for name, path in project.stages.items()},
                "workspace": str(ws.root),
                "store": store.engine.url.drivername,
            }
        )
        return
    click.echo(f"project ready at {project.root} (settings: {project.config_file.name})")
    for label, paths in (("created", result.created), ("kept", result.kept)):
        if paths:
            names = ", ".join(_relative(p, project.root) for p in paths)
            click.echo(f"  {label:<8} {names}")
    click.echo(f"  workspace {ws.root} (store: {store.engine.url.drivername})")
    here = "" if project.root == os.path.realpath(os.getcwd()) else f"cd {project.root} && "
    click.echo(f"next: {here}workbench run --trials 5")


def _relative(path: Any, root: Any) -> str:
    import os

    return os.path.relpath(path, root)


@cli.command()
@click.option(
    "--dataset",
    "-d",
    default=None,
    type=DatasetRef(),
    help="Builtin name (breast_cancer, wine, iris, digits, diabetes, or a plugin's) or a data "
    "file (CSV, TSV, Parquet) [default: the project's dataset].",
)
@click.option(
    "--target",
    "-t",
    default=None,
    help="Target column (required for a file) [default: the project's, with its dataset].",
)
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
    default=None,
    help="Model family: logreg (alias linear), rf, hgb, or a plugin's [default: the project's "
    "model, else logreg].",
)
@click.option(
    "--trials",
    "-n",
    default=20,
    show_default=True,
    type=int,  # the range is checked with the run (a refusal then still answers --json)
    help=f"Optuna trials of the search stage ({TRIALS[0]} to {TRIALS[1]:,}).",
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
    default=None,
    help="Comma-separated stages to run, in the project's order [default: every stage of the "
    "project, else explore,search,evaluate].",
)
@click.option("--log-output", is_flag=True, help="Stream cell outputs to the terminal.")
@click.option(
    "--reviewer",
    is_flag=True,
    default=None,
    help="Export reports without code cells [default: the workspace's reports.toml].",
)
@click.option(
    "--cell-timeout",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Seconds one cell may run before its stage fails (above 0) [default: "
    f"{DEFAULT_CELL_TIMEOUT_S:g}].",
)
@workspace_option
@json_option
def run(
    dataset: str | None,
    target: str | None,
    sep: str | None,
    encoding: str | None,
    model: str | None,
    trials: int,
    seed: int,
    assignments: tuple[str, ...],
    stages: str | None,
    log_output: bool,
    reviewer: bool | None,
    cell_timeout: float | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Execute one run: the notebooks of its stages through papermill, recorded in the store.

    Parameters and the dataset are checked before any kernel starts (sizes against the split
    and the folds, seeds, non-finite values; exit 2). A failing cell, a cell running longer
    than --cell-timeout or a kernel that dies marks the run failed (stage, cell and reason
    kept, exit 1), and so does a report that cannot be written (a full disk); Ctrl-C marks it
    cancelled (exit 130), SIGTERM too (exit 143). With --json a result is printed whatever
    happens. The executed notebooks stay under runs/<run_id>/ and their HTML reports under
    reports/<run_id>/. In a project (workbench.toml), the stages, their notebooks and the
    defaults of --dataset, --target and --model come from its settings.
    """
    from ..execute import check_cell_timeout
    from ..params import parse_assignment
    from ..plugins import default_stages
    from ..runner import RunRequest

    with _json_result_when_refused(as_json):
        cell_timeout = check_cell_timeout(cell_timeout)
        dataset, target, model = _run_defaults(dataset, target, model)
        params = dict(parse_assignment(a) for a in assignments)
        # --sep/--encoding are notebook parameters like any -p; the notebooks read data with them.
        for name, value in (("sep", sep), ("encoding", encoding)):
            if value is None:
                continue
            if name in params and params[name] != value:
                raise click.UsageError(
                    f"--{name} {value!r} and -p {name}={params[name]!r} disagree"
                )
            params[name] = value
        names = (
            tuple(s.strip() for s in stages.split(",") if s.strip())
            if stages is not None
            else default_stages(_find_project())
        )
        request = RunRequest(
            dataset=dataset,
            target=target,
            model=model,
            trials=trials,
            seed=seed,
            params=params,
            stages=names,
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


@contextlib.contextmanager
def _json_result_when_refused(as_json: bool) -> Iterator[None]:
    """With ``--json``, a run refused before anything was recorded (a bad parameter, a dataset
    too small) still prints one result: the keys of a run's, status ``refused``, the error."""
    from ..exceptions import WorkbenchError

    try:
        yield
    except WorkbenchError as e:
        if as_json and getattr(e, "run_id", None) is None:
            print_json(
                {
                    "run_id": None,
                    "status": "refused",
                    "metrics": {},
                    "report": None,
                    "reports": {},
                    "index": None,
                    "error": {"type": type(e).__name__, "message": str(e)},
                }
            )
        raise


def _run_defaults(
    dataset: str | None, target: str | None, model: str | None
) -> tuple[str, str | None, str]:
    """Fill --dataset, --target and --model from the project; its target goes with its
    dataset only (another dataset has other columns)."""
    from ..datasets import builtin_names, resolve_dataset_ref
    from ..exceptions import ConfigError

    project = _find_project()
    if dataset is None:
        if project is None or project.dataset is None:
            where = f" or set dataset in {project.describe()}" if project else ""
            raise ConfigError(
                f"no dataset: pass --dataset NAME or a CSV path{where}; builtin datasets are "
                + ", ".join(builtin_names())
            )
        # A CSV path in the settings is relative to the project folder, not the cwd.
        dataset = resolve_dataset_ref(project.dataset, base=project.root)
        target = target or project.target
    model = model or (project.model if project is not None else None) or "logreg"
    return dataset, target, model


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
    with RichProgress(console, label=request.dataset) as progress, _sigterm_cancels():
        runner = Runner(
            ws, store, progress=progress, on_finished=lambda: build_index(ws, store), **kw
        )
        try:
            return runner.run(request)
        except (StageFailed, RunCancelled) as e:
            if as_json and e.run_id is not None:
                print_json(runner.outcome(e.run_id).to_json())
            if isinstance(e, StageFailed):
                _print_traceback(console, e)
            raise


@contextlib.contextmanager
def _sigterm_cancels() -> Iterator[None]:
    """SIGTERM (``kill``, a service manager, a CI time limit) stops the run as Ctrl-C does:
    the runner records it cancelled with the reason and the command exits 143. Further
    SIGTERMs are ignored while that is recorded; SIGKILL remains for a stuck process."""
    import signal
    import threading

    from ..exceptions import Terminated

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers live in the main thread only (CliRunner in a thread: no-op)
        return
    fired = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
@click.option(
    "--where",
    "conditions",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keep runs matching it; repeatable (all must hold). Operators = != > < >= <=. Keys: "
    "id status dataset model door seed batch git created duration, a metric (roc_auc, "
    "search.cv_roc_auc), tag.KEY, param.NAME.",
)
@click.option(
    "--sort",
    default=None,
    metavar="[-]KEY",
    help="Sort by KEY (a --where key), descending with a leading '-' [default: newest first].",
)
@click.option("--limit", default=50, show_default=True, help="Show at most this many runs.")
@workspace_option
@json_option
def runs_cmd(
    conditions: tuple[str, ...],
    sort: str | None,
    limit: int,
    workspace: str | None,
    as_json: bool,
) -> None:
    """List runs, newest first: id, status, dataset, model, headline metric, duration, door,
    tags.

    \b
    Example:
      workbench runs --where dataset=wine --where status=failed --sort -roc_auc
    """
    from ..views import parse_condition, run_summaries, select_runs

    where = [parse_condition(c) for c in conditions]
    _, store = open_ws(workspace)
    _sweep_stale(store)
    with_params = any(_needs_params(k) for k in [c.key for c in where] + [sort or ""])
    runs = store.list_runs(limit=None if where or sort else limit, with_params=with_params)
    rows = run_summaries(select_runs(runs, where=where, sort=sort, limit=limit))
    if as_json:
        print_json(rows)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    table.add_column("run", no_wrap=True, min_width=22)  # the id is what users copy
    for col in ("status", "dataset", "model", "metric", "duration", "door", "tags"):
        table.add_column(col)
    for r in rows:
        metric = r["headline"]
        table.add_row(
            r["run_id"],
            r["status"],
            Text(r["dataset"]),
            Text(r["model"] or "-"),
            f"{metric['name']} {metric['value']:.4f}" if metric else "-",
            f"{r['duration_s']:.1f}s" if r["duration_s"] is not None else "-",
            r["door"],
            Text(" ".join(f"{k}={v}" for k, v in r["tags"].items()) or "-"),
        )
    if rows:
        out_console().print(table)
    elif where:
        out_console().print("no run matches; `workbench runs` lists them all")
    else:
        out_console().print("no runs yet; start one with `workbench run`")


def _needs_params(key: str) -> bool:
    """A bare key may name a parameter; ``tag.``/``metric.``/``STAGE.`` keys never do."""
    from ..views import FIELDS

    key = key.lstrip("-")
    return bool(key) and key not in FIELDS and (key.startswith("param.") or "." not in key)


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
@click.argument("run_id")
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@click.option("--remove", "-r", multiple=True, metavar="KEY", help="Remove a tag; repeatable.")
@workspace_option
@json_option
def tag(
    run_id: str,
    assignments: tuple[str, ...],
    remove: tuple[str, ...],
    workspace: str | None,
    as_json: bool,
) -> None:
    """Label a run with KEY=VALUE tags (replacing a tag of the same key); `workbench runs
    --where tag.KEY=VALUE` finds them, the report index shows them."""
    from ..reports import build_index
    from ..views import tag_run

    ws, store = open_ws(workspace)
    result = tag_run(store, run_id, assignments, remove=remove)
    build_index(ws, store)  # reviewers read tags there
    if as_json:
        print_json(result)
        return
    tags = ", ".join(f"{k}={v}" for k, v in result["tags"].items()) or "(none)"
    click.echo(f"run {result['run_id']} tags: {tags}")


@cli.command()
@click.argument("run_id")
@click.argument("text")
@workspace_option
@json_option
def note(run_id: str, text: str, workspace: str | None, as_json: bool) -> None:
    """Add a note to a run (who and when are recorded); `workbench show` and the report
    index show the notes."""
    from ..reports import build_index
    from ..views import note_run

    ws, store = open_ws(workspace)
    result = note_run(store, run_id, text)
    build_index(ws, store)  # reviewers read notes there
    if as_json:
        print_json(result)
        return
    click.echo(f"note added to run {result['run_id']} ({result['notes']} in all)")


@cli.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--all", "show_all", is_flag=True, help="Also list identical parameters/versions.")
@workspace_option
@json_option
def diff(run_a: str, run_b: str, show_all: bool, workspace: str | None, as_json: bool) -> None:
    """Two runs side by side: parameters, dataset fingerprint, metrics with their 95% CIs
    (and B - A), package versions. Differences are in bold."""
    from ..views import render_diff, run_diff

    _, store = open_ws(workspace)
    result = run_diff(store.get_run(run_a), store.get_run(run_b))
    if as_json:
        print_json(result)
    else:
        render_diff(out_console(), result, show_all=show_all)


@cli.command()
@click.argument("run_id", required=False)
@click.option(
    "--reviewer/--full",
    default=None,
    help="Reviewer pages (no code cells, no stderr, paths relative to the workspace) or full "
    "notebooks [default: the workspace's reports.toml, else --full].",
)
@click.option(
    "--standalone/--shared",
    default=None,
    help="One self-contained file per page, to mail alone (≈ 5 MB each), or pages sharing "
    "plotly.js and the stylesheet from reports/_static/ [default: reports.toml, else --shared].",
)
@click.option(
    "--save",
    is_flag=True,
    help="Also record these choices as the workspace's default for every page it writes "
    "(runs, comparisons, releases, A/B tests, monitor reports), in <workspace>/reports.toml.",
)
@workspace_option
def report(
    run_id: str | None,
    reviewer: bool | None,
    standalone: bool | None,
    save: bool,
    workspace: str | None,
) -> None:
    """Write the HTML pages again from their executed notebooks, then reports/index.html.

    With RUN_ID (a unique prefix is enough) only that run's stage pages; otherwise every page
    of every kind. Nothing is executed again.
    """
    from ..pages import save_report_settings
    from ..reports import rebuild_reports

    ws, store = open_ws(workspace)
    if save:
        path = save_report_settings(ws, reviewer=reviewer, standalone=standalone)
        click.echo(f"settings: {path}")
    done = rebuild_reports(ws, store, run_id=run_id, reviewer=reviewer, standalone=standalone)
    kind = "reviewer" if done.reviewer else "full"
    layout = "standalone files" if done.standalone else f"sharing {ws.reports_dir / '_static'}"
    click.echo(f"pages: {len(done.pages)} written ({kind}, {layout})")
    click.echo(f"index: {done.index}")


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
    """The folder `workbench lab` opens: the project (its notebooks and workspace), else
    <workspace>/lab holding copies of the stage notebooks.

    The copies are made once and never overwritten, so the user's edits, outputs and
    checkpoints stay away from the bundled notebooks that `workbench run` executes.
    """
    import shutil

    from ..context import STAGES
    from ..params import notebooks_dir
    from ..project import find_project

    project = find_project()
    if project is not None:
        return project.root
    folder = ws.root / "lab"
    folder.mkdir(parents=True, exist_ok=True)
    for name in STAGES.values():
        if not (folder / name).exists():
            shutil.copyfile(notebooks_dir() / name, folder / name)
    return folder
