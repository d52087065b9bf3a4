"""Projects: a data scientist's own folder of notebooks, settings and plugins, found like git.

A project is a folder holding ``workbench.toml`` (or a ``pyproject.toml`` with a
``[tool.workbench]`` table; the keys are the same). Every command finds it from the current
folder upward; ``WORKBENCH_PROJECT`` names one explicitly (the CLI sets it while a command runs,
so the kernels it starts find the same project wherever they run). With no project the notebooks
and templates bundled in the package are used. ``workbench init DIR`` writes one::

    workspace = "workspace"          # relative to this file; --workspace and WORKBENCH_HOME win
    dataset = "breast_cancer"        # default --dataset of `workbench run`
    target = ""                      # default --target ("" for a builtin dataset)
    model = "logreg"                 # default --model
    plugins = ["my_plugins"]         # modules importable from this folder ("module:function" too)
    gates = "gates.yaml"             # default gates of `workbench compare`
    release_gates = "release_gates.yaml"

    [stages]                         # stage -> notebook, in run order
    explore = "notebooks/01_explore.ipynb"
    search = "notebooks/02_search.ipynb"
    my_features = "notebooks/my_features.ipynb"
    evaluate = "notebooks/03_evaluate.ipynb"

Package data (notebooks, templates) is found with :func:`package_data`, never through ``..``
from a module's file, so an installed wheel finds what a checkout finds.

Base layer: the standard library, exceptions and ``_files`` only; nothing happens on import.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._files import atomic_write_text
from ._yaml import read_user_text
from .exceptions import ConfigError

__all__ = [
    "BUILTIN_STAGES",
    "PROJECT_ENV",
    "PROJECT_FILE",
    "InitResult",
    "Project",
    "bundled_notebooks",
    "bundled_stages",
    "find_project",
    "init_project",
    "load_project",
    "package_data",
    "project_env",
]

PROJECT_FILE = "workbench.toml"
#: Names a project folder (or its settings file) explicitly; beats discovery from the cwd.
PROJECT_ENV = "WORKBENCH_PROJECT"

#: The bundled run stages (name -> notebook file in the package's ``notebooks/``), in order.
BUILTIN_STAGES: dict[str, str] = {
    "explore": "01_explore.ipynb",
    "search": "02_search.ipynb",
    "evaluate": "03_evaluate.ipynb",
}

_KEYS = ("workspace", "dataset", "target", "model", "plugins", "gates", "release_gates", "stages")
_STAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_PLUGIN = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*(:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*)?")
_TOOL_TABLE = "[tool.workbench"


def package_data(*parts: str) -> Path:
    """A file or folder shipped inside the workbench package, as a filesystem path.

    Args:
        parts: Path components below the package, e.g. ``("notebooks", "01_explore.ipynb")``.

    Returns:
        The path (checked to exist).

    Raises:
        ConfigError: the package was installed without its data (or zipped, which papermill
            and nbconvert cannot read from).

    Example:
        >>> package_data("templates", "gates.yaml").name
        'gates.yaml'
    """
    from importlib.resources import files

    resource: Any = files("workbench")
    for part in parts:
        resource = resource.joinpath(part)
    if not isinstance(resource, Path) or not resource.exists():
        raise ConfigError(
            f"the workbench package has no {'/'.join(parts)} ({resource}); it was installed "
            "without its package data: reinstall it from a wheel or a checkout "
            "(pip install workbench / pip install -e .), unzipped"
        )
    return resource


@dataclass(frozen=True)
class Project:
    """A project's settings, every path absolute.

    Attributes:
        root: The folder holding the settings file.
        config_file: ``workbench.toml`` or the ``pyproject.toml`` with ``[tool.workbench]``.
        workspace: The project's workspace folder (``root/workspace`` unless set).
        stages: Stage name -> notebook, in run order (the bundled stages when none are set).
        dataset: Default ``--dataset``, if set.
        target: Default ``--target``, if set.
        model: Default ``--model``, if set.
        plugins: Plugin modules, importable with ``root`` on ``sys.path``.
        gates: Default gates file of comparisons, if set.
        release_gates: Default gates file of release checks, if set.
    """

    root: Path
    config_file: Path
    workspace: Path
    stages: Mapping[str, Path] = field(default_factory=dict)
    dataset: str | None = None
    target: str | None = None
    model: str | None = None
    plugins: tuple[str, ...] = ()
    gates: Path | None = None
    release_gates: Path | None = None

    @property
    def default_stages(self) -> tuple[str, ...]:
        """What ``workbench run`` executes without ``--stages``: every stage of the project."""
        return tuple(self.stages)

    def describe(self) -> str:
        """Where the settings come from, for messages (``/p/workbench.toml``)."""
        if self.config_file.name == "pyproject.toml":
            return f"{self.config_file} [tool.workbench]"
        return str(self.config_file)


def bundled_stages() -> dict[str, Path]:
    """The bundled stage notebooks (``WORKBENCH_NOTEBOOKS`` may point at another folder)."""
    folder = bundled_notebooks()
    return {name: folder / file for name, file in BUILTIN_STAGES.items()}


def bundled_notebooks() -> Path:
    """The folder of the bundled notebooks; ``WORKBENCH_NOTEBOOKS`` overrides it.

    Raises:
        ConfigError: ``WORKBENCH_NOTEBOOKS`` names a folder without the notebooks, or the
            package was installed without them.
    """
    env = os.environ.get("WORKBENCH_NOTEBOOKS")
    if env:
        folder = Path(env).expanduser().resolve()
        if not (folder / BUILTIN_STAGES["explore"]).is_file():
            raise ConfigError(
                f"WORKBENCH_NOTEBOOKS={env} holds no {BUILTIN_STAGES['explore']}; point it at a "
                "folder with the stage notebooks, or unset it to use the bundled ones"
            )
        return folder
    return package_data("notebooks")


# -- discovery ----------------------------------------------------------------------------------


def find_project(start: str | os.PathLike[str] | None = None) -> Project | None:
    """The project of ``start`` (default: ``WORKBENCH_PROJECT``, else the current folder).

    Looks in ``start`` and each of its parents for ``workbench.toml``, then for a
    ``pyproject.toml`` holding ``[tool.workbench]``; the nearest wins, as with git.

    Returns:
        The project, or ``None`` when there is none (the bundled notebooks are used then).

    Raises:
        ConfigError: ``WORKBENCH_PROJECT`` names no project, or the settings file found is
            malformed (the message names the file and the key).
    """
    if start is None:
        env = os.environ.get(PROJECT_ENV)
        if env:
            return _project_at(Path(env).expanduser(), named_by=PROJECT_ENV)
        start = Path.cwd()
    here = Path(start).expanduser().resolve()
    for folder in (here, *here.parents):
        found = _settings_in(folder)
        if found is not None:
            return load_project(found)
    return None


def _project_at(path: Path, *, named_by: str) -> Project:
    path = path.resolve()
    found = path if path.is_file() else _settings_in(path)
    if found is None:
        raise ConfigError(
            f"{named_by}={path} holds no {PROJECT_FILE} (nor a pyproject.toml with "
            f"[tool.workbench]); create one with `workbench init {path}` or unset {named_by}"
        )
    return load_project(found)


def _settings_in(folder: Path) -> Path | None:
    candidate = folder / PROJECT_FILE
    if candidate.is_file():
        return candidate
    pyproject = folder / "pyproject.toml"
    try:
        # A cheap text check first: most pyproject.toml files up the tree are not projects.
        if pyproject.is_file() and _TOOL_TABLE in pyproject.read_text(encoding="utf-8"):
            return pyproject
    except (OSError, UnicodeDecodeError):
        return None
    return None


def load_project(path: str | os.PathLike[str]) -> Project:
    """Read and check a project's settings file.

    Args:
        path: ``workbench.toml``, a ``pyproject.toml`` with ``[tool.workbench]``, or a folder
            holding one.

    Raises:
        ConfigError: the file is missing or not TOML, a key is unknown or of the wrong type, a
            stage name is unusable (every message names the file and the key).
    """
    file = Path(path).expanduser().resolve()
    if file.is_dir():
        return _project_at(file, named_by="project folder")
    text = read_user_text(file, what="project settings")  # size and UTF-8 checked
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file} is not valid TOML: {e}") from e
    except RecursionError:
        raise ConfigError(f"{file} is not valid TOML: its arrays nest too deeply") from None
    if file.name == "pyproject.toml":
        table = doc.get("tool", {}).get("workbench")
        where = f"{file} [tool.workbench]"
        if not isinstance(table, dict):
            raise ConfigError(f"{file} has no [tool.workbench] table; add one or a {PROJECT_FILE}")
    else:
        table, where = doc, str(file)
    return _parse(table, root=file.parent, file=file, where=where)


def _parse(table: Mapping[str, Any], *, root: Path, file: Path, where: str) -> Project:
    unknown = sorted(k for k in table if k not in _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; known keys are "
            f"{', '.join(_KEYS)}"
        )

    def text(key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(
                f"{where}: {key} must be a string, got {value!r} ({type(value).__name__})"
            )
        return value

    def path(key: str) -> Path | None:
        value = text(key)
        return (root / Path(value).expanduser()).resolve() if value else None

    plugins = table.get("plugins", [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ConfigError(
            f"{where}: plugins must be a list of module paths, e.g. "
            f'plugins = ["my_plugins", "pkg.module:register"]; got {plugins!r}'
        )
    for spec in plugins:
        if not _PLUGIN.fullmatch(spec.strip()):
            raise ConfigError(
                f"{where}: plugin {spec!r} is not a module path; write a dotted module name "
                "importable from the project folder, optionally with ':function'"
            )
    return Project(
        root=root,
        config_file=file,
        workspace=path("workspace") or (root / "workspace").resolve(),
        stages=_stages(table.get("stages"), root=root, where=where),
        dataset=text("dataset") or None,
        target=text("target") or None,
        model=text("model") or None,
        plugins=tuple(p.strip() for p in plugins),
        gates=path("gates"),
        release_gates=path("release_gates"),
    )


def _stages(value: Any, *, root: Path, where: str) -> dict[str, Path]:
    if value is None:
        # No [stages] table: the bundled stages, each from the project's notebooks/ when the
        # project has its own copy.
        own = root / "notebooks"
        return {
            name: (own / nb) if (own / nb).is_file() else nb_path
            for (name, nb), nb_path in zip(
                BUILTIN_STAGES.items(), bundled_stages().values(), strict=True
            )
        }
    if not isinstance(value, dict) or not value:
        raise ConfigError(
            f"{where}: [stages] must map stage names to notebooks, e.g. explore = "
            f'"notebooks/01_explore.ipynb"; got {value!r}'
        )
    stages: dict[str, Path] = {}
    for name, notebook in value.items():
        if not _STAGE_NAME.fullmatch(name):
            raise ConfigError(
                f"{where}: stage name {name!r} is not usable; start with a letter, then "
                "letters, digits, '_' or '-' (at most 64)"
            )
        if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
            raise ConfigError(
                f"{where}: stage {name!r} must name a notebook file, e.g. {name} = "
                f'"notebooks/{name}.ipynb"; got {notebook!r}'
            )
        stages[name] = (root / Path(notebook).expanduser()).resolve()
    return stages


@contextmanager
def project_env(project: Project | None) -> Iterator[None]:
    """Set ``WORKBENCH_PROJECT`` to ``project`` while the block runs (restored after).

    Kernels and workers started inside the block inherit it, so they load the project the
    command found, whatever folder they run in.
    """
    old = os.environ.get(PROJECT_ENV)
    if project is not None:
        os.environ[PROJECT_ENV] = str(project.root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PROJECT_ENV, None)
        else:
            os.environ[PROJECT_ENV] = old


# -- creation -----------------------------------------------------------------------------------

_SETTINGS = """\
# Workbench project settings. Every `workbench` command run in this folder or below reads them
# (the nearest workbench.toml wins, as with git). Relative paths are relative to this file.

# The workspace (store, runs, reports). --workspace and WORKBENCH_HOME take precedence.
workspace = "{workspace}"

# Defaults of `workbench run` (each flag overrides its default).
dataset = "breast_cancer"
target = ""
model = "logreg"

# Plugin modules (importable from this folder; "module:function" calls that function):
# dataset loaders, model families, metrics and stages they register. Installed packages
# register through the "workbench.plugins" entry-point group instead. For example:
#   plugins = ["example_plugin"]
plugins = []

# Gates of `workbench compare` (and, if set, of `workbench release-check`).
gates = "gates.yaml"
# release_gates = "release_gates.yaml"

# The run stages and their notebooks, in run order. A notebook with a `parameters` cell that
# opens a RunContext is a stage; add yours here and run it with
#   workbench run --stages explore,my_stage,search,evaluate
[stages]
{stages}
"""

_GITIGNORE = "workspace/\n.ipynb_checkpoints/\n"


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_project` did: the project and the files it wrote (existing ones kept)."""

    project: Project
    created: tuple[Path, ...]
    kept: tuple[Path, ...]


def init_project(
    directory: str | os.PathLike[str], *, workspace: str | os.PathLike[str] | None = None
) -> InitResult:
    """Create a project in ``directory``: settings, the stage notebooks, gates, an example plugin.

    Files that exist are kept as they are, so running it again is harmless; an existing
    ``pyproject.toml`` with ``[tool.workbench]`` counts as the settings file.

    Args:
        directory: The project folder (created if missing).
        workspace: The workspace folder to record (default ``workspace`` inside the project).

    Returns:
        The project and which files were created or kept.

    Raises:
        ConfigError: ``directory`` is a file, or an existing settings file is malformed.
    """
    root = Path(directory).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"project folder {root} exists and is not a folder; pick another")
    root.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    kept: list[Path] = []

    def put(target: Path, write: Any) -> None:
        if target.exists():
            kept.append(target)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        write(target)
        created.append(target)

    for file in BUILTIN_STAGES.values():
        source = bundled_notebooks() / file
        put(root / "notebooks" / file, lambda t, s=source: shutil.copyfile(s, t))
    templates = package_data("templates")
    put(root / "gates.yaml", lambda t: shutil.copyfile(templates / "gates.yaml", t))
    put(
        root / "example_plugin.py",
        lambda t: shutil.copyfile(templates / "example_plugin.py", t),
    )
    put(root / ".gitignore", lambda t: atomic_write_text(t, _GITIGNORE))
    if _settings_in(root) is None:
        ws = _workspace_setting(root, workspace)
        stages = "\n".join(f'{n} = "notebooks/{f}"' for n, f in BUILTIN_STAGES.items())
        settings = _SETTINGS.format(workspace=ws, stages=stages)
        put(root / PROJECT_FILE, lambda t: atomic_write_text(t, settings))
    else:
        kept.append(_settings_in(root))  # type: ignore[arg-type]
    return InitResult(load_project(root), tuple(created), tuple(kept))


def _workspace_setting(root: Path, workspace: str | os.PathLike[str] | None) -> str:
    if workspace is None:
        return "workspace"
    ws = Path(workspace).expanduser().resolve()
    try:
        text = ws.relative_to(root).as_posix()
    except ValueError:
        text = str(ws)  # outside the project: kept absolute
    return text.replace("\\", "\\\\").replace('"', '\\"')
