"""The monitor's index section and notebook 07's helper.

These compose services for a person (the "Monitoring" table of ``reports/index.html``, what
notebook 07 shows) and belong to the compose layer; they sit here until the report index and
the notebook helpers move there, and read only through this package's store-backed functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._inputs import monitor_files
from ._records import list_reports, load_report, save_report
from ._report import DEFAULT_WINDOW, MonitorReport

if TYPE_CHECKING:
    from ..config import Workspace
    from ..reports import IndexSection
    from ..store import Store

__all__ = ["PROVIDER", "index_sections", "notebook_report", "rebuild_index"]

#: Provider string for :data:`workbench.reports.SECTION_PROVIDERS`.
PROVIDER = "workbench.monitor:index_sections"


def index_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Monitoring" table of ``reports/index.html`` (nothing when there is no report).

    Provider string for :data:`workbench.reports.SECTION_PROVIDERS`:
    ``"workbench.monitor:index_sections"``.
    """
    from ..reports import IndexLink, IndexSection

    reports = list_reports(store)
    if not reports:
        return []
    rows: list[tuple[str | IndexLink, ...]] = []
    for r in reports:
        link: str | IndexLink = "—"
        if r.report_path and Path(r.report_path).is_file():
            href = os.path.relpath(Path(r.report_path).resolve(), ws.reports_dir.resolve())
            link = IndexLink("open", Path(href).as_posix(), tooltip=f"monitor report {r.id}")
        rows.append(
            (
                r.id,
                r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                r.model_version or "—",
                f"{r.n_requests} / {r.n_windows}",
                ", ".join(r.flagged_features) or "none",
                _quality_cell(r.latest_quality),
                r.decision or "—",
                link,
            )
        )
    return [
        IndexSection(
            "Monitoring",
            columns=(
                "report",
                "when",
                "model version",
                "requests / windows",
                "drifted features (latest window)",
                "quality (latest window)",
                "retrain decision",
                "report",
            ),
            rows=tuple(rows),
            note="drift: PSI ≥ 0.25 and a corrected test; decay: headline metric below the "
            "reference by more than the gate with its CI",
        )
    ]


def _quality_cell(q: dict | None) -> str:
    if not q or q.get("value") is None:
        return "—"
    ref = q.get("reference")
    shown = "?" if ref is None else f"{ref:.4f}"
    return f"{q['metric']} {q['value']:.4f} (ref {shown})"


def rebuild_index(ws: Workspace, store: Store) -> Path:
    """Rebuild ``reports/index.html`` with the monitoring table, registered as a provider or not."""
    from ..reports import SECTION_PROVIDERS, build_index, default_sections

    sections = default_sections(ws, store)
    if PROVIDER not in SECTION_PROVIDERS:
        sections += index_sections(ws, store)
    return build_index(ws, store, sections)


def notebook_report(
    ws: Workspace,
    store: Store,
    *,
    report_id: str = "",
    log: str = "",
    bundle: str = "",
    labels: str = "",
    window: int = DEFAULT_WINDOW,
) -> MonitorReport | None:
    """What notebook 07 shows: a stored report, a new one from files, or the newest stored.

    Returns:
        The report, or ``None`` after printing how to make one.
    """
    if report_id:
        return load_report(store, report_id)
    if log or bundle:
        report = monitor_files(
            log=log or None, bundle=bundle or None, labels=labels or None, window=window, ws=ws
        )
        save_report(store, report)
        return report
    stored = list_reports(store, limit=1)
    if stored:
        print(f"showing the newest stored report, {stored[0].id}")
        return load_report(store, stored[0].id)
    print(
        "nothing to show: set `log` (a prediction log) and `bundle`, or run "
        "`workbench monitor --log FILE --bundle DIR`"
    )
    return None
