"""``workbench report``: every page of a workspace written again from its executed notebook.

Compose layer. Nothing is executed again: each page kind keeps the notebook it was exported
from (a run's stages under ``runs/<id>/``, comparisons, release checks, A/B tests and monitor
reports in their own folders), so switching a workspace to reviewer pages, or to standalone
pages for e-mail, takes seconds and shows exactly the recorded numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..headers import abtest_header, comparison_header, monitor_header, release_header, run_header
from ..pages import PageHeader, export_notebook, page_options, report_path
from ._batch import batch_page_path, write_batch_page
from ._index import build_index

if TYPE_CHECKING:
    from ..config import Workspace
    from ..store import Store

__all__ = ["RebuiltPages", "rebuild_reports"]


@dataclass(frozen=True)
class RebuiltPages:
    """What :func:`rebuild_reports` wrote.

    Attributes:
        index: ``reports/index.html``.
        pages: Every page written again, in order.
        reviewer: Whether they are reviewer pages.
        standalone: Whether each is one self-contained file.
    """

    index: Path
    pages: tuple[Path, ...]
    reviewer: bool
    standalone: bool


@dataclass(frozen=True)
class _Page:
    notebook: Path
    html: Path
    title: str
    header: Callable[[], PageHeader]
    record: Callable[[Path], None] | None = None


def rebuild_reports(
    workspace: Workspace,
    store: Store,
    *,
    run_id: str | None = None,
    reviewer: bool | None = None,
    standalone: bool | None = None,
) -> RebuiltPages:
    """Export every page again from its executed notebook, then the batch pages and the index.

    Args:
        workspace: The workspace whose ``reports/`` is rebuilt.
        store: Its store.
        run_id: Only this run's stage pages (a unique id prefix is enough); ``None``: every
            page of every kind (runs, comparisons, release checks, A/B tests, monitor reports).
        reviewer: Reviewer pages (no code, no stderr, paths relative to the workspace);
            ``None``: the workspace's setting (:func:`workbench.pages.report_settings`).
        standalone: One self-contained file per page; ``None``: the workspace's setting.

    Returns:
        What was written.

    Example::

        rebuild_reports(ws, store, reviewer=True).index
    """
    options = page_options(workspace, reviewer=reviewer, standalone=standalone)
    pages = list(_run_pages(workspace, store, run_id))
    if run_id is None:
        pages += _kept(_service_pages(workspace, store))
    written = []
    for page in pages:
        export_notebook(
            page.notebook, page.html, title=page.title, options=options, header=page.header()
        )
        if page.record is not None:
            page.record(page.html)
        written.append(page.html)
    if run_id is None:
        for batch in store.list_batches():
            if batch_page_path(workspace, batch.id).is_file():
                written.append(write_batch_page(workspace, store, batch.id))
    return RebuiltPages(
        index=build_index(workspace, store),
        pages=tuple(written),
        reviewer=options.reviewer,
        standalone=options.standalone,
    )


def _run_pages(workspace: Workspace, store: Store, run_id: str | None) -> Iterator[_Page]:
    ids = [store.resolve_run_id(run_id)] if run_id else [r.id for r in store.list_runs()]
    for rid in ids:
        for stage in store.get_run(rid).stages:
            if not stage.output_path or not Path(stage.output_path).is_file():
                continue

            def record(html: Path, rid: str = rid, name: str = stage.name) -> None:
                store.set_report(rid, name, str(html))

            yield _Page(
                Path(stage.output_path),
                report_path(workspace, rid, stage.name),
                f"{rid} · {stage.name}",
                functools.partial(run_header, workspace, store, rid, stage.name),
                record,
            )


def _service_pages(workspace: Workspace, store: Store) -> Iterator[_Page]:
    """The pages the services rendered, wherever their executed notebook is still kept.

    The titles are the ones the services give their pages (``render_report`` of each).
    """
    from ..abtest import NOTEBOOK as ABTEST_NOTEBOOK
    from ..compare import NOTEBOOK as COMPARE_NOTEBOOK
    from ..compare import comparison_dir, comparison_report_path, list_comparisons
    from ..monitor import list_reports
    from ..monitor import report_html_path as monitor_html
    from ..release import NOTEBOOK as RELEASE_NOTEBOOK
    from ..release import list_releases, release_dir, release_report_path

    for c in list_comparisons(store):
        title = f"{c.id} · {c.candidate.run_id} vs {c.baseline.run_id}"
        html = Path(c.report_path) if c.report_path else comparison_report_path(workspace, c.id)
        header = functools.partial(comparison_header, workspace, store, c.id)
        yield _Page(comparison_dir(workspace, c.id) / COMPARE_NOTEBOOK, html, title, header)
    for r in list_releases(store):
        title = f"{r.id} · release check of {r.model_version}"
        html = Path(r.report_path) if r.report_path else release_report_path(workspace, r.id)
        header = functools.partial(release_header, workspace, store, r.id)
        yield _Page(release_dir(workspace, r.id) / RELEASE_NOTEBOOK, html, title, header)
    for t in store.list_abtests():
        if t.report_path:
            notebook = Path(t.folder) / ABTEST_NOTEBOOK
            header = functools.partial(abtest_header, workspace, store, t.id)
            yield _Page(notebook, Path(t.report_path), f"{t.id} · A/B test", header)
    for m in list_reports(store):
        if m.notebook_path:
            html = Path(m.report_path) if m.report_path else monitor_html(workspace, m.id)
            header = functools.partial(monitor_header, workspace, store, m.id)
            yield _Page(Path(m.notebook_path), html, f"{m.id} · monitor", header)


def _kept(pages: Iterator[_Page]) -> Iterator[_Page]:
    return (p for p in pages if p.notebook.is_file())
