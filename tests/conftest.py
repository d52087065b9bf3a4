"""Shared fixtures: isolated workspaces and stores; no test touches ./workspace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/pg.py

from workbench.config import Workspace
from workbench.store import Store, open_workspace

_DATABASES = iter(range(100_000))


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WORKBENCH_DB_URL", raising=False)
    # A project named in the environment would give every test its settings and plugins.
    monkeypatch.delenv("WORKBENCH_PROJECT", raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home-workspace"))
    # Kernels started by papermill inherit this; keep them off the user's Jupyter config.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    # Every evaluate stage times its model; 1 s instead of 10 s keeps the suite short.
    monkeypatch.setenv("WORKBENCH_LATENCY_SECONDS", "1")


@pytest.fixture
def fresh_plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Registries and plugin-loading state restored after the test: plugins register into
    module-level registries, ``sys.path`` and ``sys.modules``, which outlive a test."""
    from workbench import datasets, models, plugins
    from workbench.stats import metrics

    registries = (models._FAMILIES, models._ALIASES, datasets._BUILTINS, metrics._REGISTRY)
    saved = [dict(r) for r in registries]
    state = (dict(plugins._loaded), set(plugins._projects_done), dict(plugins._stages))
    done, path = plugins._entry_points_done, list(sys.path)
    yield
    for registry, before in zip(registries, saved, strict=True):
        registry.clear()
        registry.update(before)
    for live, before in zip(
        (plugins._loaded, plugins._projects_done, plugins._stages), state, strict=True
    ):
        live.clear()
        live.update(before)  # type: ignore[attr-defined]
    plugins._entry_points_done = done
    sys.path[:] = path
    base = str(tmp_path_factory.getbasetemp())
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(base):
            del sys.modules[name]  # a plugin module from a test's project folder


@pytest.fixture
def cli() -> click.Group:
    """The whole ``workbench`` command group, as the console script runs it."""
    from workbench.cli import cli as group

    return group


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws, _ = open_workspace(tmp_path / "ws", create=True)
    return ws


@pytest.fixture
def store(workspace: Workspace) -> Store:
    return open_workspace(workspace.root)[1]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on every backend: a SQLite file, and a new database on the
    session's real PostgreSQL server. Contract tests take it to run on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    from pg import fresh_database

    server = request.getfixturevalue("postgres_url")
    return fresh_database(server, f"wb_test_{next(_DATABASES)}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (skipped only where the binaries are missing
    outside CI; in CI `.ci/run` installs them, so a missing server fails)."""
    from pg import pg_bin, postgres_server

    if pg_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries missing in CI; .ci/run should install them")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def binary_scores() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """A maker of binary labels and their ``(n, 2)`` probability matrix from a noisy logistic
    score: ``binary_scores(n, seed=0, signal=1.5)`` (more signal, a better model)."""

    def make(n: int, seed: int = 0, signal: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, n)
        z = signal * (2 * y - 1) + rng.normal(0, 1.5, n)
        p = 1 / (1 + np.exp(-z))
        return y, np.column_stack([1 - p, p])

    return make


@pytest.fixture(scope="session")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh venv holding the wheel built from this checkout
    (built once per session; see tests/wheelenv.py)."""
    from wheelenv import build_and_install, once

    return Path(once(tmp_path_factory, "wheel", build_and_install))


@pytest.fixture(scope="session")
def demo_workspace(
    tmp_path_factory: pytest.TempPathFactory, installed_wheel: Path
) -> tuple[Path, str]:
    """``workbench demo --fast`` run once per session by the installed wheel, from a folder
    outside the checkout with a user's environment: (its workspace folder, the output).

    Tests that read a whole lifecycle's records and pages share it; a test that changes the
    workspace copies it first.
    """
    from wheelenv import once

    made = once(tmp_path_factory, "demo", _demo_maker(installed_wheel))
    return Path(made["workspace"]), made["output"]


# Shared fixtures that run a whole lifecycle; the first test to ask waits for them.
_LONG_FIXTURES = {"installed_wheel": 1800, "demo_workspace": 1800}


def _demo_maker(installed: Path) -> Callable[[Path], dict[str, str]]:
    """What builds the demo workspace in a folder: the installed wheel's ``demo --fast``."""
    from wheelenv import workbench

    def make(folder: Path) -> dict[str, str]:
        output = workbench(installed, "demo", "--fast", cwd=folder, with_stderr=True)
        return {"workspace": str(folder / "workspace"), "output": output}

    return make


#: The file that asks for the demo workspace first; every other file that needs it runs last.
_DEMO_BUILDER = "test_demo.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give a test that needs a session-wide lifecycle fixture that fixture's time budget
    (pytest-timeout counts fixture set-up against the first test that asks for it), and order
    the files so that one worker builds the demo workspace first while the others run the
    files that do not need it; the files that do come last, when it is ready (pytest-xdist
    hands out whole files in this order)."""
    late: set[Path] = set()
    for item in items:
        names = getattr(item, "fixturenames", ())
        needs = [seconds for name, seconds in _LONG_FIXTURES.items() if name in names]
        if needs:
            late.add(item.path)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(max(needs)))

    def rank(item: pytest.Item) -> int:
        if item.path.name == _DEMO_BUILDER:
            return 0
        return 2 if item.path in late else 1

    items.sort(key=rank)  # stable: each file's tests keep their order
    if late and os.environ.get("PYTEST_XDIST_WORKER") == "gw0":
        _prebuild_demo(items[0].config)


def _prebuild_demo(config: pytest.Config) -> None:
    """Start the shared demo workspace in a thread of the first xdist worker, so it is being
    built while the workers run the files that do not need it (pytest-xdist hands out the
    largest files first, whatever the order above). The thread only waits on subprocesses; a
    failure here is left for the fixture, which builds again and reports it."""
    import threading

    from wheelenv import build_and_install, once

    factory = config._tmp_path_factory  # type: ignore[attr-defined]

    def build() -> None:
        try:
            installed = Path(once(factory, "wheel", build_and_install))
            once(factory, "demo", _demo_maker(installed))
        except Exception:  # the fixture builds again and reports it with its own message
            pass

    threading.Thread(target=build, name="prebuild-demo", daemon=True).start()


def pytest_report_header(config: pytest.Config) -> str:
    return f"workbench tests; cores={os.cpu_count()}"
