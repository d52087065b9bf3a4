"""What every command shares: the group, the options defined once, opening a workspace, JSON
and console output. Only ``click`` is imported here, so ``workbench --help`` answers at once.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..exceptions import WorkbenchError
from ..preflight import SEED_MAX
from ._paths import AbsolutePath

__all__ = [
    "SEED",
    "Group",
    "UserError",
    "cli",
    "err_console",
    "json_option",
    "open_ws",
    "out_console",
    "print_json",
    "refresh_index",
    "workspace_option",
]


class UserError(click.ClickException):
    """A WorkbenchError shown as one clean line (no traceback) with its own exit code."""

    def __init__(self, error: WorkbenchError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code

    def show(self, file: Any = None) -> None:
        click.secho(f"error: {self.message}", err=True, fg="red")


class Group(click.Group):
    """A click group whose commands' WorkbenchErrors become :class:`UserError`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            if ctx.parent is not None:
                return super().invoke(ctx)
            # The command's project (found from the current folder upward) is named in the
            # environment while it runs: the kernels and workers it starts load the same
            # project's plugins wherever they run.
            from ..project import find_project, project_env

            with project_env(find_project()):
                return super().invoke(ctx)
        except WorkbenchError as e:
            raise UserError(e) from e

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Group)  # subgroups (`inventory ...`) translate errors too
        return super().group(*args, **kwargs)


workspace_option = click.option(
    "--workspace",
    "-w",
    type=AbsolutePath(file_okay=False),
    default=None,
    envvar="WORKBENCH_HOME",
    help="Workspace folder [default: $WORKBENCH_HOME, the project's workspace, or ./workspace].",
)
#: A seed numpy and scikit-learn accept; a larger one is a clean usage error, not a traceback.
SEED = click.IntRange(0, SEED_MAX)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")


def print_json(obj: Any) -> None:
    """``obj`` as indented JSON on stdout (dates and paths as strings)."""
    click.echo(json.dumps(obj, indent=2, default=str))


def err_console() -> Any:
    """A rich console on stderr (progress, tracebacks): stdout stays clean for ``--json``."""
    from rich.console import Console

    return Console(stderr=True)


def out_console() -> Any:
    """A rich console on stdout for tables; 120 columns when piped, so nothing wraps at 80."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=120)


def refresh_index(ws: Any, store: Any) -> Any:
    """Rebuild ``reports/index.html`` after a command wrote a page; returns its path."""
    from ..reports import build_index

    return build_index(ws, store)


def open_ws(workspace: str | None, *, create: bool = False) -> tuple[Any, Any]:
    """The workspace and its store (:func:`workbench.store.open_workspace`), with the plugins
    of the project and of installed packages loaded (:func:`workbench.plugins.load_plugins`)."""
    from ..plugins import load_plugins
    from ..store import open_workspace

    load_plugins()
    return open_workspace(workspace, create=create)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="workbench")
def cli() -> None:
    """Workbench: run parameterized notebooks, record every run, compare, export and watch models.

    \b
    Start with:
      workbench init my-project      a project of your own: notebooks, settings, plugins
      workbench demo                 the whole lifecycle on a builtin dataset
      workbench run --dataset iris   one run: explore, search, evaluate
      workbench runs                 what has been recorded
    Every command finds its project (workbench.toml, from `workbench init`) from the current
    folder upward, like git, and takes --workspace DIR (default $WORKBENCH_HOME, the project's
    workspace, or ./workspace); the store is a SQLite file there unless WORKBENCH_DB_URL names
    another SQLAlchemy URL (e.g. PostgreSQL).
    """
