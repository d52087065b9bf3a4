"""Workbench: a notebook-centric ML experiment workbench.

The public API is small; most users drive it through the ``workbench`` command or the bundled
notebooks. Heavy modules are imported on first use only.
"""

from __future__ import annotations

from .config import Workspace, resolve_workspace
from .exceptions import (
    ConfigError,
    DatasetError,
    ModelError,
    ParameterError,
    RunCancelled,
    RunNotFound,
    StageFailed,
    StoreError,
    WorkbenchError,
)

__all__ = [
    "ConfigError",
    "DatasetError",
    "ModelError",
    "ParameterError",
    "RunCancelled",
    "RunNotFound",
    "StageFailed",
    "StoreError",
    "WorkbenchError",
    "Workspace",
    "__version__",
    "resolve_workspace",
]

__version__ = "0.1.0"
