"""Where things live: the workspace folder, the store URL and the artifact root.

Precedence is flag > ``WORKBENCH_*`` environment variable > default. Nothing happens on import.

* ``WORKBENCH_HOME``: the workspace folder (default: the project's workspace, see
  :mod:`workbench.project`, else ``./workspace``).
* ``WORKBENCH_DB_URL``: the store (default a SQLite file in the workspace); a team points every
  member at one PostgreSQL database.
* ``WORKBENCH_ARTIFACTS``: where runs, reports, exports and logs are written (default the
  workspace folder); a team sets it to a folder all members share, beside the shared database.
  The store keeps paths relative to it, so the folder can move.
* ``WORKBENCH_LATENCY_SECONDS``: the time budget of the evaluate stage's latency measurement
  (default 10 s; the notebook parameter ``latency_seconds`` wins). Smoke runs and test suites
  lower it; the measurement's CI says how much a short budget costs in precision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .exceptions import ConfigError
from .project import find_project

__all__ = ["Workspace", "latency_seconds", "resolve_workspace"]

DEFAULT_WORKSPACE = "workspace"
DEFAULT_LATENCY_SECONDS = 10.0
_MARKER = ".workbench"


@dataclass(frozen=True)
class Workspace:
    """A workspace folder: the store (unless ``WORKBENCH_DB_URL`` points elsewhere), runs,
    reports, exports and logs."""

    root: Path
    db_url: str
    artifacts: Path | None = None

    @property
    def artifact_root(self) -> Path:
        """Where large payloads live (``WORKBENCH_ARTIFACTS``, else the workspace folder)."""
        return self.artifacts or self.root

    @property
    def runs_dir(self) -> Path:
        return self.artifact_root / "runs"

    @property
    def reports_dir(self) -> Path:
        return self.artifact_root / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.artifact_root / "exports"

    @property
    def logs_dir(self) -> Path:
        return self.artifact_root / "logs"

    @property
    def index_path(self) -> Path:
        return self.reports_dir / "index.html"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def exists(self) -> bool:
        return (self.root / _MARKER).is_file()

    def create(self) -> None:
        """Create the folders and the marker file; idempotent."""
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(
                f"workspace path {self.root} exists and is not a folder; pick another"
            )
        for d in (self.root, self.runs_dir, self.reports_dir, self.exports_dir, self.logs_dir):
            if d.exists() and not d.is_dir():
                raise ConfigError(f"{d} exists and is not a folder; move it or pick another")
            d.mkdir(parents=True, exist_ok=True)
        (self.root / _MARKER).write_text("workbench workspace\n")

    def require(self) -> Workspace:
        """Return self when the workspace exists, else raise an error saying how to create it."""
        if not self.exists():
            raise ConfigError(
                f"no workspace at {self.root}; create it with `workbench init --workspace "
                f"{self.root}` (or start a project with `workbench init DIR`), or point "
                "--workspace / WORKBENCH_HOME at an existing one"
            )
        return self


def resolve_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """Resolve the workspace: ``path``, ``WORKBENCH_HOME``, the project's, or ``./workspace``.

    The project is the one :func:`workbench.project.find_project` finds (``WORKBENCH_PROJECT``,
    else the current folder and its parents); its ``workspace`` setting is used when neither a
    path nor ``WORKBENCH_HOME`` is given.

    Raises:
        ConfigError: the project's settings file is malformed.
    """
    raw = path or os.environ.get("WORKBENCH_HOME")
    if not raw:
        project = find_project()
        raw = project.workspace if project is not None else DEFAULT_WORKSPACE
    root = Path(raw).expanduser().resolve()
    url = os.environ.get("WORKBENCH_DB_URL") or f"sqlite:///{root / 'workbench.db'}"
    shared = os.environ.get("WORKBENCH_ARTIFACTS")
    artifacts = Path(shared).expanduser().resolve() if shared else None
    return Workspace(root=root, db_url=url, artifacts=artifacts)


def latency_seconds(value: float | None = None) -> float:
    """The latency measurement's time budget: ``value`` when given and positive, else
    ``WORKBENCH_LATENCY_SECONDS``, else 10 s.

    Raises:
        ConfigError: the budget given or set is not a positive finite number of seconds.
    """
    source = "latency_seconds"
    if value is None or value == 0:
        raw = os.environ.get("WORKBENCH_LATENCY_SECONDS")
        if not raw:
            return DEFAULT_LATENCY_SECONDS
        source = "WORKBENCH_LATENCY_SECONDS"
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
    if not (0 < value < float("inf")):
        raise ConfigError(
            f"{source} must be a positive number of seconds (e.g. 10), got {value!r}; "
            "0 in the notebook parameter means WORKBENCH_LATENCY_SECONDS or 10 s"
        )
    return float(value)
