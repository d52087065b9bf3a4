"""The built wheel, installed into a fresh venv, and things made with it once per session.

The suite's shared demo workspace is made by the installed wheel from a folder outside the
checkout, as a user would make it; that one demo run serves the packaging test and every test
that reads a whole lifecycle's records and pages. Under pytest-xdist the workers share one
build through a lock in the session's common temp folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

_NOT_SOURCE = (".venv", ".git", "workspace", "build", "dist", "*.egg-info", "__pycache__",
               ".ruff_cache", ".pytest_cache")  # fmt: skip


def clean_env() -> dict[str, str]:
    """No path into the checkout and no workbench settings: as on a user's machine."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WORKBENCH_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    return env


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], Any]) -> Any:
    """``make(folder)`` run once per session, xdist workers included; its JSON result reused.

    A failed ``make`` records nothing, so the next worker that asks tries again (and fails
    with its own message rather than a stale one).
    """
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / f"once-{name}"
    folder.mkdir(exist_ok=True)
    with _exclusive(shared / f"once-{name}.lock"):
        done = folder / "result.json"
        if done.is_file():
            return json.loads(done.read_text())
        result = make(folder)
        done.write_text(json.dumps(result))
        return result


def build_and_install(tmp: Path) -> str:
    """Build the wheel from a copy of this checkout and install it into a fresh venv.

    The wheel is built from a copy of the tree (the build writes into its source folder) and
    installed without dependencies, which the test interpreter's environment lends instead of
    a second download: its site-packages through a ``.pth`` line (which does not run that
    environment's own ``.pth`` files, so this checkout's editable install stays out of sight)
    and its Jupyter data files (nbconvert's templates, the kernel spec) through
    ``JUPYTER_PATH`` (see :func:`clean_env`). The workbench package and its data come from the
    wheel only. Returns the venv's ``bin`` folder.
    """
    src = tmp / "src"
    if src.exists():  # an earlier attempt that failed half-way
        shutil.rmtree(src)
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    dist = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
        check=True,
        env=clean_env(),
    )
    (wheel,) = dist.glob("workbench-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_workbench_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        env=clean_env(),
    )
    return str(venv / "bin")


def workbench(installed: Path, *args: str, cwd: Path, with_stderr: bool = False) -> str:
    """Run the installed ``workbench`` in ``cwd`` with a user's environment; its stdout (and
    stderr after it, with ``with_stderr``)."""
    env = clean_env()
    env["PATH"] = f"{installed}:{env.get('PATH', '')}"
    out = subprocess.run(
        [str(installed / "workbench"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr if with_stderr else out.stdout
