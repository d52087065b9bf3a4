"""Bring the records of an older workspace up to date when it is opened.

Older workspaces stored absolute paths (``/…/workspace/runs/…``); they are rewritten relative
to the artifact root once, so the workspace keeps working when it is moved or copied. Each
check is a cheap read; a write happens only when something is left to convert.

Older workspaces also kept some records as JSON files; each is imported into its table once
(insert-if-missing, so two processes opening the workspace at once are safe) and the JSON file
is then removed, while the payload files beside it stay:

* ``<workspace>/abtests/<id>/record.json``: A/B tests (``requests.csv``, ``labels.csv``, the
  stub logs and the executed notebook stay in that folder).
* ``<workspace>/inventory/inventory.json`` (format ``workbench-inventory/1``, guarded by
  ``inventory/.lock``): devices, their histories and the recorded edge packages (devices already
  in the store are kept as they are); the file, its lock and the emptied folder are removed.
* ``<workspace>/monitor/<id>/report.json``, ``decision.json`` and the ``<name>.json`` records
  attached to a monitor report (the executed notebook beside them stays).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..exceptions import StoreError
from . import schema as t
from ._base import like_prefix
from .records import ABTestRecord, Device, EdgePackageRecord, HistoryEntry, ModelPin

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
    (t.edge_packages, "path"),
    (t.abtests, "folder"),
    (t.abtests, "report_path"),
    (t.abtest_variants, "bundle"),
    (t.monitor_reports, "notebook_path"),
    (t.monitor_reports, "report_path"),
)

#: The format of the inventory file older workspaces kept.
INVENTORY_FORMAT = "workbench-inventory/1"


def upgrade_workspace(ws: Workspace, store: Store) -> None:
    """Convert what an older workspace recorded (idempotent)."""
    _relative_paths(store, str(ws.artifact_root.resolve()))
    _import_inventory(ws, store)
    _import_abtests(ws, store)
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


# -- the inventory file -------------------------------------------------------------------------


def _when(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _legacy_device(d: Mapping[str, Any]) -> Device:
    pin = d.get("model")
    history = []
    before = None
    for h in d.get("history", ()):
        # The file kept only the version each change moved to; "from" is the one before it.
        history.append(HistoryEntry(_when(h["at"]), h.get("ref"), h.get("note", ""), before))
        before = h.get("ref")
    return Device(
        name=d["name"],
        group=d["group"],
        model=None
        if pin is None
        else ModelPin(int(pin["version"]), pin["ref"], pin["run_id"], pin["sha256"]),
        hold=bool(d.get("hold", False)),
        added_at=_when(d["added_at"]),
        updated_at=_when(d["updated_at"]),
        history=tuple(history),
    )


def _legacy_package(version: str, p: Mapping[str, Any]) -> EdgePackageRecord:
    return EdgePackageRecord(version, None, p["path"], p["sha256"], _when(p["at"]))


def _import_inventory(ws: Workspace, store: Store) -> None:
    folder = ws.root / "inventory"
    path = folder / "inventory.json"
    if not path.is_file():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != INVENTORY_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {INVENTORY_FORMAT!r}")
        devices = [_legacy_device(d) for d in data.get("devices", {}).values()]
        packages = [_legacy_package(v, p) for v, p in data.get("packages", {}).items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise StoreError(
            f"the edge inventory of an older workspace, {path}, cannot be imported into the "
            f"store ({type(e).__name__}: {e}); restore it from a backup, or move it out of the "
            "workspace to go on without those devices"
        ) from e
    store.import_inventory(devices, packages)
    # Imported (or already there from an earlier import): the store is the record now.
    path.unlink(missing_ok=True)
    (folder / ".lock").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (something else kept there), or gone
        folder.rmdir()


def _import_abtests(ws: Workspace, store: Store) -> None:
    """Import ``<workspace>/abtests/<id>/record.json`` files, then remove them.

    A record that cannot be read is left where it is (older versions skipped such records in
    their listings too); the rest of the folder is never touched.
    """
    for path in sorted((ws.root / "abtests").glob("*/record.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if record["id"] != path.parent.name:
                continue  # not the record of this folder: leave it for a person to look at
            rec = ABTestRecord.from_record(
                record, folder=str(path.parent), report_path=_abtest_report(ws, record)
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        store.add_abtest(rec, exist_ok=True)
        path.unlink(missing_ok=True)


def _abtest_report(ws: Workspace, record: dict) -> str | None:
    """The report of an older A/B test: where the workbench puts it, when it is there (the
    record's absolute path is stale once the workspace has moved), else what was recorded."""
    page = ws.reports_dir / "abtests" / f"{record['id']}.html"
    if page.is_file():
        return str(page)
    recorded = record.get("report_path")
    return str(recorded) if recorded and Path(recorded).is_file() else None


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
