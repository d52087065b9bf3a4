"""Batches: a grid of runs executed together (runs carry ``batch_id``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema as t
from ._base import StoreBase, aware, utcnow
from .records import BatchRecord, RunStatus

__all__ = ["BatchesMixin"]


class BatchesMixin(StoreBase):
    """Batch rows: the grid and its plan, status, heartbeat, summary and page."""

    def add_batch(self, batch_id: str, *, grid: dict[str, Any], executor: str) -> None:
        """Insert the batch row (status ``running``) with the grid and its plan."""
        self._write(
            lambda conn: conn.execute(
                t.batches.insert().values(
                    id=batch_id,
                    grid=grid,
                    executor=executor,
                    status=RunStatus.RUNNING.value,
                    created_at=utcnow(),
                )
            )
        )

    def finish_batch(
        self,
        batch_id: str,
        *,
        status: RunStatus,
        summary: dict[str, Any],
        report_path: str | Path | None = None,
    ) -> None:
        """Record the batch's final status and summary."""
        values: dict[str, Any] = {
            "status": status.value,
            "summary": summary,
            "finished_at": utcnow(),
        }
        if report_path is not None:
            values["report_path"] = self._to_stored(report_path)
        self._set_column(t.batches, batch_id, **values)

    def beat_batch(self, batch_id: str) -> None:
        """Record that the batch process is alive (kept in ``summary`` until the batch ends)."""

        def fn(conn: Connection) -> None:
            conn.execute(
                t.batches.update()
                .where(t.batches.c.id == batch_id)
                .where(t.batches.c.status == RunStatus.RUNNING.value)
                .values(summary={"heartbeat_at": utcnow().isoformat()})
            )

        self._write(fn)

    def set_batch_report(self, batch_id: str, report_path: str | Path) -> None:
        self._set_column(t.batches, batch_id, report_path=self._to_stored(report_path))

    def get_batch(self, ref: str) -> BatchRecord:
        """One batch by id or unique id prefix.

        Raises:
            RunNotFound: none matches, or several do.
        """
        hint = "batch ids start with 'batch-'; `workbench batch --help` says how to run one"
        return self._batch(self._one_by_prefix(t.batches, ref, what="batch", hint=hint))

    def list_batches(self, *, limit: int | None = None) -> list[BatchRecord]:
        """Batches, newest first."""
        q = sa.select(t.batches).order_by(t.batches.c.created_at.desc(), t.batches.c.id.desc())
        if limit:
            q = q.limit(limit)
        with self._read() as conn:
            return [self._batch(r) for r in conn.execute(q).all()]

    def mark_stale_batches(self, older_than_s: float, *, reason: str) -> list[str]:
        """Mark ``failed`` every ``running`` batch whose process stopped beating."""
        now = utcnow()
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.batches.c.id, t.batches.c.summary, t.batches.c.created_at).where(
                    t.batches.c.status == RunStatus.RUNNING.value
                )
            ).all()
        marked = []
        for batch_id, summary, created in rows:
            beat = (summary or {}).get("heartbeat_at")
            last = datetime.fromisoformat(beat) if beat else aware(created)
            if last is None or (now - last).total_seconds() <= older_than_s:
                continue
            error = {"error": reason, "heartbeat_at": last.isoformat()}

            def fn(conn: Connection, batch_id: str = batch_id, error: Any = error) -> None:
                conn.execute(
                    t.batches.update()
                    .where(t.batches.c.id == batch_id)
                    .where(t.batches.c.status == RunStatus.RUNNING.value)
                    .values(status=RunStatus.FAILED.value, summary=error, finished_at=now)
                )

            self._write(fn)
            marked.append(batch_id)
        return marked

    def _batch(self, row: Any) -> BatchRecord:
        return BatchRecord(
            id=row.id,
            grid=dict(row.grid or {}),
            executor=row.executor,
            status=RunStatus(row.status),
            summary=row.summary,
            report_path=self._from_stored(row.report_path),
            created_at=aware(row.created_at),  # type: ignore[arg-type]
            finished_at=aware(row.finished_at),
        )
