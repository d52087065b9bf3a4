"""Bring the records of an older workspace up to date when it is opened.

Older workspaces stored absolute paths (``/…/workspace/runs/…``); they are rewritten relative
to the artifact root once, so the workspace keeps working when it is moved or copied. Each
check is a cheap read; a write happens only when something is left to convert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import schema as t
from ._base import like_prefix

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
)


def upgrade_workspace(ws: Workspace, store: Store) -> None:
    """Convert what an older workspace recorded (idempotent)."""
    _relative_paths(store, str(ws.artifact_root.resolve()))


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
