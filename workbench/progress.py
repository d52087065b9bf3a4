"""Rich progress bars: a run's stages and cells (:class:`RichProgress`), a batch's stages and
runs (:class:`RichBatchProgress`)."""

from __future__ import annotations

from typing import Any

from .store import RunStatus

__all__ = ["RichBatchProgress", "RichProgress"]

_MARKS = {"succeeded": "[green]✓[/]", "skipped": "[dim]↷[/]", "cancelled": "[yellow]■[/]"}


def _bars(console: Any, *, unit: str = "") -> Any:
    """A rich ``Progress``: spinner, description, bar, ``done/total [unit]``, elapsed time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    unit_column = [TextColumn(unit)] if unit else []
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *unit_column,
        TimeElapsedColumn(),
        console=console,
    )


class RichProgress:
    """A :class:`~workbench.runner.ProgressSink` drawing on stderr (stdout stays for --json)."""

    def __init__(self, console: Any, *, label: str = "run") -> None:
        self.progress = _bars(console)
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


class RichBatchProgress:
    """One overall bar (stages finished across the batch) on stderr, and one line per run as
    it finishes; stdout stays free for --json."""

    def __init__(self, console: Any, *, grid_name: str) -> None:
        self.console = console
        self.grid_name = grid_name
        self.progress = _bars(console, unit="stages")
        self._task: Any = None
        self._runs = 0
        self._finished = 0
        self._failed = 0

    def __enter__(self) -> RichBatchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def batch_started(self, batch_id: str, *, runs: int, stages: int, executor: str) -> None:
        self._runs = runs
        self.console.print(f"batch {batch_id}: {runs} runs of grid {self.grid_name} on {executor}")
        self._task = self.progress.add_task(self._description(), total=stages)

    def stages_done(self, done: int) -> None:
        if self._task is not None:
            self.progress.update(self._task, completed=done)

    def run_finished(self, summary: Any) -> None:
        from rich.markup import escape

        self._finished += 1
        self._failed += not summary.ok
        mark = _MARKS.get(summary.status, "[red]✗[/]")
        metric = _metric_text(summary.headline)
        took = f"{summary.duration_s:.1f}s" if summary.duration_s is not None else ""
        line = f"{mark} {summary.run_id}  {escape(summary.label)}  {summary.status}"
        line += "".join(f"  {escape(part)}" for part in (metric, took) if part)
        if summary.error or summary.note:
            line += f"\n    [dim]{escape(summary.error or summary.note)}[/]"
        self.progress.console.print(line)
        if self._task is not None:
            self.progress.update(self._task, description=self._description())

    def _description(self) -> str:
        failed = f", {self._failed} failed" if self._failed else ""
        return f"{self._finished}/{self._runs} runs{failed}"


def _metric_text(headline: dict[str, Any] | None) -> str:
    if not headline:
        return ""
    text = f"{headline['name']} {headline['value']:.4f}"
    ci = headline.get("ci95")
    return text + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
