"""Rich progress bars for runs: one bar for stages, one for the cells of the current stage."""

from __future__ import annotations

from typing import Any

from .store import RunStatus

__all__ = ["RichProgress"]


class RichProgress:
    """A :class:`~workbench.runner.ProgressSink` drawing on stderr (stdout stays for --json)."""

    def __init__(self, console: Any, *, label: str = "run") -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.label = label
        self._stages: Any = None
        self._cells: Any = None

    def __enter__(self) -> RichProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def stage_started(self, stage: str, index: int, total: int, cells: int) -> None:
        if self._stages is None:
            self._stages = self.progress.add_task(f"{self.label}: stages", total=total)
        self.progress.update(
            self._stages, completed=index, description=f"{self.label}: stage {stage}"
        )
        if self._cells is not None:
            self.progress.remove_task(self._cells)
        self._cells = self.progress.add_task(f"  {stage}: cells", total=cells)

    def cell_started(self, stage: str, index: int, total: int) -> None:
        if self._cells is not None:
            self.progress.update(self._cells, completed=index, total=total)

    def stage_finished(self, stage: str, status: RunStatus) -> None:
        if self._cells is not None:
            task = self.progress.tasks[-1]
            done = task.total if status is RunStatus.SUCCEEDED else task.completed
            self.progress.update(
                self._cells, completed=done, description=f"  {stage}: {status.value}"
            )
        if self._stages is not None and status is RunStatus.SUCCEEDED:
            self.progress.advance(self._stages)
