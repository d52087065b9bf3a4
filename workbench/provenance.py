"""What produced a run: package versions and the git commit of the notebooks."""

from __future__ import annotations

import getpass
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

__all__ = ["current_user", "git_commit", "package_versions"]

TRACKED_PACKAGES = (
    "workbench",
    "numpy",
    "pandas",
    "scikit-learn",
    "optuna",
    "papermill",
    "plotly",
    "skops",
    "sqlalchemy",
)


@cache
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(path: Path) -> str | None:
    """The commit of the repository holding ``path`` (with ``+dirty`` if it has changes)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def current_user() -> str:
    """The login name recorded as who did something (an alias move, a note, a device update),
    or ``"unknown"`` where there is none (containers without a passwd entry or LOGNAME/USER)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
