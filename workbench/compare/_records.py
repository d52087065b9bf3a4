"""Where comparisons are kept: the store (``wb_comparisons``) and the report of notebook 04."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench._files import child_path
from workbench.store import ComparisonRecord, Store

from ._types import Comparison

if TYPE_CHECKING:
    from workbench.config import Workspace

#: The notebook that renders a comparison.
NOTEBOOK = "04_compare.ipynb"


def save_comparison(store: Store, comparison: Comparison) -> None:
    """Add a comparison to the store (``wb_comparisons``)."""
    store.add_comparison(
        ComparisonRecord(
            id=comparison.id,
            candidate_run=comparison.candidate.run_id,
            baseline_run=comparison.baseline.run_id,
            decision=comparison.decision,
            record=comparison.to_dict(),
            created_at=comparison.created_at,
        )
    )


def _from_record(rec: ComparisonRecord) -> Comparison:
    return Comparison.from_dict({**rec.record, "report_path": rec.report_path})


def get_comparison(store: Store, ref: str) -> Comparison:
    """A stored comparison by id or unique id prefix.

    Raises:
        RunNotFound: No comparison matches, or the prefix is ambiguous.
    """
    return _from_record(store.get_comparison(ref))


def list_comparisons(store: Store, *, limit: int | None = None) -> list[Comparison]:
    """Stored comparisons, newest first."""
    return [_from_record(r) for r in store.list_comparisons(limit=limit)]


# -- the report (notebook 04) -------------------------------------------------------------------


def comparison_dir(ws: Workspace, comparison_id: str) -> Path:
    """Where the executed notebook of a comparison lives: ``<workspace>/comparisons/<id>/``."""
    return child_path(ws.artifact_root / "comparisons", comparison_id, what="comparison id")


def comparison_report_path(ws: Workspace, comparison_id: str) -> Path:
    """The HTML report of a comparison: ``<workspace>/reports/comparisons/<id>.html``."""
    folder = ws.reports_dir / "comparisons"
    return child_path(folder, comparison_id, what="comparison id", suffix=".html")


def render_report(
    ws: Workspace,
    store: Store,
    comparison_id: str,
    *,
    reviewer: bool | None = None,
    standalone: bool | None = None,
    log_output: bool = False,
) -> Path:
    """Execute notebook 04 on a stored comparison and export it to HTML.

    The notebook reads the comparison from the store (it does not recompute it), so the page
    shows the stored numbers. The executed notebook goes to ``comparisons/<id>/`` and the page
    to ``reports/comparisons/<id>.html``, whose path is recorded with the comparison.

    Args:
        ws: The workspace.
        store: Its store.
        comparison_id: The comparison (id or unique prefix).
        reviewer: Hide code cells in the page (``None``: the workspace's report settings,
            :func:`workbench.pages.report_settings`).
        standalone: One self-contained file (``None``: the workspace's report settings).
        log_output: Stream cell outputs to the ``papermill`` logger.

    Returns:
        The HTML path.

    Raises:
        StageFailed: A notebook cell raised (the partial notebook is kept and exported).
    """
    from workbench.execute import render_report as execute_report
    from workbench.headers import comparison_header

    comparison = get_comparison(store, comparison_id)
    params = {
        "workspace": str(ws.root),
        "comparison_id": comparison.id,
        "candidate": comparison.candidate.run_id,
        "baseline": comparison.baseline.run_id,
    }
    return execute_report(
        NOTEBOOK,
        out=comparison_dir(ws, comparison.id) / NOTEBOOK,
        html=comparison_report_path(ws, comparison.id),
        parameters=params,
        stage="compare",
        owner=comparison.candidate.run_id,
        title=(f"{comparison.id} · {comparison.candidate.run_id} vs {comparison.baseline.run_id}"),
        workspace=ws,
        reviewer=reviewer,
        standalone=standalone,
        log_output=log_output,
        on_export=lambda html: store.set_comparison_report(comparison.id, html),
        header=lambda: comparison_header(ws, store, comparison.id),
    )
