"""Monitor reports in the store: save, load and list them, the retrain decision and other
records kept with a report, and its page (notebook 07 executed and exported to HTML).

The records are rows of the store (:class:`~workbench.store.MonitorReportRecord`); the executed
notebook stays a file, ``<artifact root>/monitor/<id>/07_monitor.ipynb``, and the page is
``reports/monitor/<id>.html``; the store keeps both paths relative to the artifact root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import child_path
from ..exceptions import ConfigError
from ._report import MonitorReport

if TYPE_CHECKING:
    from ..config import Workspace
    from ..store import MonitorReportRecord, Store

__all__ = [
    "NOTEBOOK",
    "attach_record",
    "list_reports",
    "load_decision",
    "load_record",
    "load_report",
    "render_report",
    "report_from_record",
    "report_html_path",
    "save_report",
]

#: The notebook that renders a monitor report.
NOTEBOOK = "07_monitor.ipynb"
_WHAT = "monitor report id"
#: Names of records kept with a report: a lower-case word; these two have their own places.
_RECORD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_RESERVED = ("report", "decision")


def report_html_path(ws: Workspace, report_id: str) -> Path:
    """``reports/monitor/<id>.html``.

    Raises:
        ConfigError: ``report_id`` cannot name a file.
    """
    return child_path(ws.reports_dir / "monitor", report_id, what=_WHAT, suffix=".html")


def notebook_path(ws: Workspace, report_id: str) -> Path:
    """``<artifact root>/monitor/<id>/07_monitor.ipynb``: the executed notebook of a report."""
    return child_path(ws.artifact_root / "monitor", report_id, what=_WHAT) / NOTEBOOK


def save_report(
    store: Store, report: MonitorReport, *, decision: Any = None
) -> MonitorReportRecord:
    """Store a report (and the retrain decision taken on it) in one transaction.

    Args:
        store: The store.
        report: The report (its id must be new).
        decision: A retrain decision (anything with ``to_dict()``) shown beside it.

    Returns:
        The stored record's listed columns.

    Raises:
        StoreError: A report with this id is stored already, or the store refused.
    """
    store.add_monitor_report(
        report.to_dict(), decision=None if decision is None else decision.to_dict()
    )
    return store.get_monitor_report(report.id, windows=False)


def report_from_record(record: MonitorReportRecord) -> MonitorReport:
    """The :class:`MonitorReport` of a stored record read with its windows.

    Raises:
        ConfigError: The record was written by a newer workbench.
    """
    return MonitorReport.from_dict(record.report_dict())


def load_report(store: Store, report_id: str) -> MonitorReport:
    """A stored report by id or unique id prefix.

    Raises:
        RunNotFound: No report matches, or the prefix is ambiguous.
    """
    return report_from_record(store.get_monitor_report(report_id))


def list_reports(store: Store, *, limit: int | None = None) -> list[MonitorReportRecord]:
    """Stored reports, newest first: the listed columns (model version, windows, requests,
    flagged features, latest quality, decision, page), without the windows."""
    return store.list_monitor_reports(limit=limit)


def _report_id(store: Store, ref: str) -> str:
    return store.get_monitor_report(ref, windows=False).id


def load_decision(store: Store, report_id: str) -> dict[str, Any] | None:
    """The retrain decision stored with a report, as a dict (``None`` when there is none).

    Raises:
        RunNotFound: No report matches.
    """
    found = store.get_retrain_decision(_report_id(store, report_id))
    return None if found is None else found.record


def _check_record_name(name: str) -> str:
    if not isinstance(name, str) or not _RECORD_NAME.fullmatch(name) or name in _RESERVED:
        raise ConfigError(
            f"record name {name!r} must be a lower-case word (letters, digits, '_'; at most 64) "
            f"other than {' and '.join(map(repr, _RESERVED))}, e.g. 'retrain'"
        )
    return name


def attach_record(store: Store, report_id: str, name: str, record: Mapping[str, Any]) -> None:
    """Keep a JSON record with a report under ``name`` (e.g. the retraining's outcome),
    replacing one of that name.

    Raises:
        ConfigError: ``name`` is not a lower-case word, or is ``report`` or ``decision``.
        RunNotFound: No report matches.
    """
    store.attach_monitor_record(_report_id(store, report_id), _check_record_name(name), record)


def load_record(store: Store, report_id: str, name: str) -> dict[str, Any] | None:
    """A record kept with :func:`attach_record` (``None`` when absent).

    Raises:
        RunNotFound: No report matches.
    """
    return store.get_monitor_record(_report_id(store, report_id), _check_record_name(name))


def render_report(
    ws: Workspace,
    store: Store,
    report_id: str,
    *,
    reviewer: bool | None = None,
    standalone: bool | None = None,
    log_output: bool = False,
) -> Path:
    """Execute notebook 07 on a stored report and export it to HTML (``reviewer`` and
    ``standalone`` default to the workspace's report settings).

    The executed notebook goes to ``<artifact root>/monitor/<id>/07_monitor.ipynb`` and the
    page to ``reports/monitor/<id>.html``; both paths are recorded with the report.

    Raises:
        RunNotFound: No such report.
        StageFailed: A notebook cell raised (the partial notebook is kept and exported).
    """
    from ..execute import render_report as execute_report
    from ..headers import monitor_header

    rid = _report_id(store, report_id)
    out = notebook_path(ws, rid)

    def record(html: Path) -> None:
        store.set_monitor_report_paths(rid, report_path=html, notebook_path=out)

    return execute_report(
        NOTEBOOK,
        out=out,
        html=report_html_path(ws, rid),
        parameters={"workspace": str(ws.root), "report_id": rid},
        stage="monitor",
        owner=rid,
        title=f"{rid} · monitor",
        workspace=ws,
        reviewer=reviewer,
        standalone=standalone,
        log_output=log_output,
        on_export=record,
        header=lambda: monitor_header(ws, store, rid),
    )
