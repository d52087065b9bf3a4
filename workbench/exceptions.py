"""The exception tree of the workbench.

Every error a user can cause derives from :class:`WorkbenchError`, carries the exit code the CLI
returns for it, and says what would be accepted instead::

    WorkbenchError                      exit 2 unless stated
    ├── ConfigError                     bad flag, environment variable or workspace
    ├── StoreError                      the database refused or is at the wrong schema
    │   └── RunNotFound (KeyError)      an unknown run id or model reference
    ├── DatasetError (ValueError)       unknown dataset, missing file/column, unusable data
    ├── ParameterError (ValueError)     notebook parameter unknown or of the wrong type
    ├── ModelError                      a model file is missing, tampered with or untrusted
    ├── StageFailed                     a notebook cell raised (exit 1); carries the cell details
    └── RunCancelled                    interrupted with Ctrl-C (exit 130) or SIGTERM (exit 143)

:class:`Terminated` is not an error: it is the ``KeyboardInterrupt`` a SIGTERM handler raises,
so that a terminated run is recorded cancelled exactly like an interrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CellError",
    "ConfigError",
    "DatasetError",
    "ModelError",
    "ParameterError",
    "RunCancelled",
    "RunFailed",
    "RunNotFound",
    "StageFailed",
    "StoreError",
    "Terminated",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Root of every error the workbench raises on purpose."""

    exit_code: int = 2

    def __str__(self) -> str:  # KeyError quotes its message; keep ours readable everywhere.
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(WorkbenchError):
    """A flag, environment variable or workspace is not usable."""


class StoreError(WorkbenchError):
    """The run store could not complete an operation."""


class RunNotFound(StoreError, KeyError):
    """No run (or model reference) with the given id exists."""


class DatasetError(WorkbenchError, ValueError):
    """A dataset cannot be loaded or is not usable for training."""


class ParameterError(WorkbenchError, ValueError):
    """A notebook parameter is unknown or has the wrong type."""


class ModelError(WorkbenchError):
    """A model file is missing, does not match its recorded hash, or holds untrusted types."""


@dataclass(frozen=True)
class CellError:
    """What went wrong in one notebook cell; plain data so it pickles across processes."""

    stage: str
    cell_index: int
    exec_count: int | None
    source: str
    ename: str
    evalue: str
    traceback: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.cell_index < 0:  # no cell to blame: the kernel, a timeout, the report export
            return f"stage {self.stage!r} failed: {self.ename}: {self.evalue}"
        return (
            f"stage {self.stage!r} failed in cell {self.cell_index} "
            f"(execution count {self.exec_count}): {self.ename}: {self.evalue}"
        )


class StageFailed(WorkbenchError):
    """A notebook stage raised; the partial notebook is kept."""

    exit_code = 1

    def __init__(
        self, run_id: str, cell: CellError, notebook: str, *, partial: bool = True
    ) -> None:
        self.run_id = run_id
        self.cell = cell
        self.notebook = notebook
        kept = "partial notebook" if partial else "notebook"
        super().__init__(f"run {run_id}: {cell.summary()}\n  {kept} kept at {notebook}")


class RunFailed(WorkbenchError):
    """A run that a composed command (the demo) needs finished ``failed``; its record says where."""

    exit_code = 1


class RunCancelled(WorkbenchError):
    """The run was interrupted (Ctrl-C) or terminated (SIGTERM); it is recorded as cancelled.

    ``exit_code`` is 128 + the signal's number, as a shell reports a process the signal
    stopped: 130 for Ctrl-C, 143 for SIGTERM.
    """

    exit_code = 130

    def __init__(self, message: str, *, run_id: str | None = None, signal: int = 2) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.exit_code = 128 + signal


class Terminated(KeyboardInterrupt):
    """Raised by a SIGTERM handler in the main thread: stop like Ctrl-C, say which signal."""

    def __init__(self, signal: int = 15) -> None:
        super().__init__(signal)
        self.signal = signal

    @property
    def reason(self) -> str:
        import signal as signals

        return f"terminated by {signals.Signals(self.signal).name}"
