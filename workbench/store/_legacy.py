"""Bring the records of an older workspace up to date when it is opened.

Older workspaces stored absolute paths (``/…/workspace/runs/…``); they are rewritten relative
to the artifact root once, so the workspace keeps working when it is moved or copied. Each
check is a cheap read; a write happens only when something is left to convert.

Older workspaces also kept some records as JSON files; each is imported into its table once
(insert-if-missing, so two processes opening the workspace at once are safe) and the JSON file
is then removed, while the payload files beside it stay:

* ``<workspace>/abtests/<id>/record.json``: A/B tests (``requests.csv``, ``labels.csv``, the
  stub logs and the executed notebook stay in that folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import schema as t
from ._base import like_prefix
from .records import ABTestRecord

if TYPE_CHECKING:
    from ..config import Workspace
    from ._store import Store

__all__ = ["upgrade_workspace"]

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
    (t.abtests, "folder"),
    (t.abtests, "report_path"),
    (t.abtest_variants, "bundle"),
)


def upgrade_workspace(ws: Workspace, store: Store) -> None:
    """Convert what an older workspace recorded (idempotent)."""
    _relative_paths(store, str(ws.artifact_root.resolve()))
    _import_abtests(ws, store)


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
