"""Bring the records of an older workspace up to date when it is opened.

Older workspaces stored absolute paths (``/…/workspace/runs/…``); they are rewritten relative
to the artifact root once, so the workspace keeps working when it is moved or copied. Records
older workspaces kept as JSON files are imported into the store once, then the files removed:
monitor reports (``monitor/<id>/report.json``, ``decision.json`` and the ``<name>.json``
records attached to them; the executed notebook beside them stays). Each check is a cheap read
or folder listing; a write happens only when something is left to convert.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from . import schema as t
from ._base import like_prefix

if TYPE_CHECKING:
    from ..config import Workspace
    from ._store import Store

__all__ = ["import_monitor_reports", "upgrade_workspace"]

#: Every column that holds a path of a file under the artifact root.
PATH_COLUMNS: tuple[tuple[sa.Table, str], ...] = (
    (t.artifacts, "path"),
    (t.stages, "output_path"),
    (t.stages, "report_path"),
    (t.model_versions, "model_path"),
    (t.comparisons, "report_path"),
    (t.releases, "bundle"),
    (t.releases, "report_path"),
    (t.batches, "report_path"),
    (t.monitor_reports, "notebook_path"),
    (t.monitor_reports, "report_path"),
)


def upgrade_workspace(ws: Workspace, store: Store) -> None:
    """Convert what an older workspace recorded (idempotent)."""
    _relative_paths(store, str(ws.artifact_root.resolve()))
    import_monitor_reports(ws.root / "monitor", store)


def _relative_paths(store: Store, root: str) -> None:
    prefix = root.rstrip("/") + "/"
    pattern = like_prefix(prefix)
    start = len(prefix) + 1  # SQL substr is 1-based
    todo = []
    with store._read() as conn:
        for table, name in PATH_COLUMNS:
            col = table.c[name]
            hit = conn.execute(
                sa.select(sa.literal(1)).where(col.like(pattern, escape="\\")).limit(1)
            ).first()
            if hit:
                todo.append((table, col))
    if not todo:
        return

    def fn(conn: sa.Connection) -> None:
        for table, col in todo:
            conn.execute(
                table.update()
                .where(col.like(pattern, escape="\\"))
                .values({col.name: sa.func.substr(col, start)})
            )

    store._write(fn)


# -- monitor reports (JSON folders before revision 0003) -----------------------------------------

_MONITOR_REPORT = "report.json"
_MONITOR_NOTEBOOK = "07_monitor.ipynb"
#: Names ``attach_record`` accepted for records kept beside a report.
_RECORD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def import_monitor_reports(folder: Path, store: Store) -> list[str]:
    """Import ``<folder>/<id>/report.json`` (with its decision and attached records) into the
    store, then remove those JSON files; the executed notebook stays and is recorded.

    Insert-if-missing and one transaction per report, so a second run (or a second process
    opening the workspace at the same moment) changes nothing. A folder whose JSON cannot be
    read or does not look like a monitor record is left as it is.

    Returns:
        The ids of the reports found (imported now or earlier).
    """
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*/{_MONITOR_REPORT}")):
        report = path.parent
        try:
            record = json.loads(path.read_text())
            attached = {
                p.stem: (p, json.loads(p.read_text()))
                for p in sorted(report.glob("*.json"))
                if p.name != _MONITOR_REPORT and _RECORD_NAME.fullmatch(p.stem)
            }
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not all(
            isinstance(rec, dict) for _, rec in attached.values()
        ):
            continue
        decision = attached.pop("decision", (None, None))[1]
        notebook = report / _MONITOR_NOTEBOOK
        try:
            store.add_monitor_report(
                record,
                decision=decision,
                records={name: rec for name, (_, rec) in attached.items()},
                notebook_path=notebook if notebook.is_file() else None,
                if_missing=True,
            )
        except (KeyError, TypeError, ValueError):
            continue  # not a monitor record this workbench can read: left for a person
        found.append(str(record["id"]))
        done: list[Any] = [path, report / "decision.json", *(p for p, _ in attached.values())]
        for p in done:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
    return found
