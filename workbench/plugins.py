"""Plugins: user code that registers datasets, model families, metrics and stages.

Two sources, loaded the same way by the CLI, the runner (before any kernel starts, so
``--model my_family`` is checked up front) and every kernel (a notebook's run context, and any
registry lookup that misses):

* the project's ``plugins`` setting (:mod:`workbench.project`): module paths importable from the
  project folder, ``"my_plugins"`` or ``"my_plugins:register"``;
* the ``workbench.plugins`` entry-point group of installed packages::

      [project.entry-points."workbench.plugins"]
      my_plugin = "my_package.workbench_plugin:register"

A plugin registers what it brings with the registries: :func:`workbench.datasets.register_builtin`
(a loader by name), :func:`workbench.models.register_family` (a pipeline and its search space),
:func:`workbench.stats.register_metric` and :func:`register_stage` (a notebook stage). Importing
the module is enough when it registers at import; ``module:function`` also calls the function
(no arguments). ``templates/example_plugin.py`` is a complete example.

Each plugin is loaded once per process; a broken one raises :class:`ConfigError` naming the module,
where it was listed and its error. This module imports no registry: the registries call
:func:`load_plugins` when a name is missing, so it must not import them back.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ConfigError
from .project import BUILTIN_STAGES, Project, bundled_stages, find_project

__all__ = [
    "ENTRY_POINT_GROUP",
    "LoadedPlugin",
    "default_stages",
    "load_plugins",
    "loaded_plugins",
    "register_stage",
    "stage_table",
]

ENTRY_POINT_GROUP = "workbench.plugins"


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin loaded in this process.

    Attributes:
        spec: ``module`` or ``module:function``.
        source: Where it was listed: ``entry point NAME (DIST VERSION)`` or the settings file.
    """

    spec: str
    source: str


_lock = threading.RLock()
_loaded: dict[str, LoadedPlugin] = {}
_entry_points_done = False
_projects_done: set[Path] = set()
_loading = False
_stages: dict[str, Path] = {}


def load_plugins(project: Project | None = None) -> list[LoadedPlugin]:
    """Load the entry-point plugins and the project's plugins; idempotent.

    Args:
        project: The project whose ``plugins`` to load; ``None`` finds it
            (:func:`workbench.project.find_project`: ``WORKBENCH_PROJECT``, else the current
            folder upward). The project folder is put on ``sys.path`` first.

    Returns:
        Every plugin loaded in this process so far, in load order.

    Raises:
        ConfigError: a plugin cannot be imported or its function raised; the message names the
            module, where it is listed and the error.

    Example::

        load_plugins()           # in a notebook: the project's plugins and installed ones
        get_family("my_family")  # now registered
    """
    global _entry_points_done, _loading
    with _lock:
        if _loading:  # a plugin looked a name up while it was being imported
            return list(_loaded.values())
        _loading = True
        try:
            if project is None:
                project = find_project()
            if not _entry_points_done:
                _load_entry_points()
                _entry_points_done = True
            if project is not None and project.root not in _projects_done:
                _load_project(project)
                _projects_done.add(project.root)
        finally:
            _loading = False
        return list(_loaded.values())


def loaded_plugins() -> list[LoadedPlugin]:
    """The plugins loaded in this process so far (nothing is loaded by this call)."""
    with _lock:
        return list(_loaded.values())


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        package = f"{dist.name} {dist.version}" if dist is not None else "an installed package"
        source = f"entry point {ep.name!r} of {package}"
        if ep.value in _loaded:
            continue
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as e:
            raise ConfigError(
                f"plugin {ep.value!r} ({source}, group {ENTRY_POINT_GROUP!r}) failed to load: "
                f"{type(e).__name__}: {e}; fix the plugin or uninstall {package.split()[0]}"
            ) from e
        _loaded[ep.value] = LoadedPlugin(ep.value, source)


def _load_project(project: Project) -> None:
    root = str(project.root)
    if root not in sys.path:
        # Like `python script.py`: the project's own modules come first.
        sys.path.insert(0, root)
    for spec in project.plugins:
        if spec in _loaded:
            continue
        module, _, function = spec.partition(":")
        where = f"plugins in {project.describe()}"
        try:
            obj: Any = importlib.import_module(module)
            for attr in filter(None, function.split(".")):
                obj = getattr(obj, attr)
            if function:
                obj()
        except ModuleNotFoundError as e:
            if e.name is not None and module.startswith(e.name):
                raise ConfigError(
                    f"plugin {spec!r} ({where}) failed to load: no module {e.name!r} importable "
                    f"from {project.root}; check the name, or add {module.replace('.', '/')}.py "
                    "to the project folder"
                ) from e
            raise _broken(spec, where, e) from e
        except Exception as e:
            raise _broken(spec, where, e) from e
        _loaded[spec] = LoadedPlugin(spec, str(project.config_file))


def _broken(spec: str, where: str, e: Exception) -> ConfigError:
    return ConfigError(
        f"plugin {spec!r} ({where}) failed to load: {type(e).__name__}: {e}; fix the module or "
        "remove it from the list"
    )


# -- stages -------------------------------------------------------------------------------------


def register_stage(name: str, notebook: str | os.PathLike[str], *, replace: bool = False) -> None:
    """Register a notebook stage a plugin ships (a project lists its own in ``[stages]``).

    A stage's notebook has a cell tagged ``parameters`` (``workspace`` and ``run_id`` among
    them) and opens a ``RunContext`` with ``stage=name``. Registered stages run only when named
    (``workbench run --stages explore,NAME,search,evaluate``), after the project's stages.

    Args:
        name: The stage name (letters, digits, ``_``, ``-``; starting with a letter).
        notebook: The notebook file.
        replace: Replace a stage registered under the same name instead of refusing.

    Raises:
        ConfigError: the name is unusable or taken, or the notebook does not exist.
    """
    import re

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        raise ConfigError(
            f"stage name {name!r} is not usable; start with a letter, then letters, digits, "
            "'_' or '-' (at most 64)"
        )
    path = Path(notebook).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"stage {name!r}: notebook {path} does not exist")
    with _lock:
        if name in _stages and _stages[name] != path and not replace:
            raise ConfigError(
                f"a stage named {name!r} is already registered ({_stages[name]}); pick another "
                "name or pass replace=True"
            )
        _stages[name] = path


def stage_table(project: Project | None) -> dict[str, Path]:
    """Every stage a run may name, in run order: the project's stages (the bundled ones without
    a project), then the stages plugins registered."""
    table = dict(project.stages) if project is not None else bundled_stages()
    with _lock:
        for name, path in _stages.items():
            table.setdefault(name, path)
    return table


def default_stages(project: Project | None) -> tuple[str, ...]:
    """What a run executes when no stages are named: the project's stages, else the bundled."""
    return project.default_stages if project is not None else tuple(BUILTIN_STAGES)
