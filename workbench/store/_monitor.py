"""Monitor reports, their windows, the retrain decision taken on each, and records attached to a
report (the retraining's outcome).

A report is written once, with its windows (and its decision, when there is one) in one
transaction. Afterwards only its page paths, its decision and its attached records change; each
of those writes is an upsert in one transaction (the last writer wins, none is half-applied).

The store splits the monitor's JSON record (:meth:`workbench.monitor.MonitorReport.to_dict`)
itself, so a record written by the current monitor and one imported from an older workspace's
``monitor/<id>/report.json`` become the same rows:

* ``wb_monitor_reports``: the columns the index and ``workbench monitor --list`` read (model
  version, windows, requests, flagged features of the latest judged window, latest quality)
  and the rest of the record as JSON (source, reference, settings, features, notes);
* ``wb_monitor_windows``: one row per window; its rows, times and labelled count as columns,
  its measurements (per-feature drift, prediction drift, quality, latency) as JSON.

Paths under the artifact root (the report page, the executed notebook, the log/bundle/labels
of ``source``, the CSV and page of an attached record) are kept relative to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..exceptions import RunNotFound
from . import schema as t
from ._base import StoreBase, aware, insert_ignore, utcnow
from .records import MonitorReportRecord, MonitorWindowRecord, RetrainDecisionRecord

__all__ = ["MonitorMixin", "plain_json", "summarize_monitor_record"]

#: Keys of a monitor record holding its per-window frames (kept in ``wb_monitor_windows``).
_FRAMES = ("windows", "drift", "prediction", "quality", "latency")
#: Keys of a record's ``source`` that hold paths.
_SOURCE_PATHS = ("log", "bundle", "labels")
#: Keys of an attached record that hold paths (the retraining's CSV and comparison page).
_RECORD_PATHS = ("csv", "report_path")
_HINT = "`workbench monitor --log FILE` makes one and `workbench monitor --list` lists them"


def plain_json(value: Any) -> Any:
    """``value`` as strict JSON: NaN and infinities become ``None`` (PostgreSQL's ``json``
    refuses them), tuples become lists, keys strings."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize_monitor_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The listed columns of a monitor record: model version, windows, requests, the features
    in alert in the latest judged window (most drifted first) and the latest judged quality.

    The same rules as :meth:`workbench.monitor.MonitorReport.flagged_features` and
    ``latest_quality``; the store applies them to records of every age, imported ones too.
    """
    windows = record.get("windows") or []
    drift = record.get("drift") or []
    judged = [int(d["window"]) for d in drift if d.get("status") != "too few rows"]
    latest = max(judged) if judged else None
    alerts = [d for d in drift if d.get("status") == "alert" and int(d["window"]) == latest]
    alerts.sort(key=lambda d: -(d.get("psi") or 0.0))
    quality = [q for q in record.get("quality") or [] if q.get("status") != "too few labels"]
    source, reference = record.get("source") or {}, record.get("reference") or {}
    version = source.get("model_version") or reference.get("model_version")
    return {
        "model_version": None if version is None else str(version),
        "n_windows": len(windows),
        "n_requests": int(sum(int(w.get("n") or 0) for w in windows)),
        "flagged_features": [str(d["feature"]) for d in alerts],
        "latest_quality": plain_json(quality[-1]) if quality else None,
    }


def _when(text: Any) -> datetime | None:
    """A recorded time (ISO 8601, ``Z`` or an offset) as an aware UTC datetime."""
    if text is None or text == "":
        return None
    moment = text if isinstance(text, datetime) else datetime.fromisoformat(str(text))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _window_rows(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row of ``wb_monitor_windows`` per window of the record (without the report id).

    Raises:
        ValueError: A frame has entries for a window the record does not have.
    """
    rows: dict[int, dict[str, Any]] = {}
    for w in record.get("windows") or []:
        i = int(w["window"])
        rows[i] = {
            "window_index": i,
            "start_row": int(w["start_row"]),
            "end_row": int(w["end_row"]),
            "n": int(w["n"]),
            "start_ts": _when(w.get("start_ts")),
            "end_ts": _when(w.get("end_ts")),
            "n_labelled": int(w.get("n_labelled") or 0),
            "n_alerts": 0,
            "drift": [],
            "prediction": None,
            "quality": None,
            "latency": None,
        }
    for frame in ("drift", "prediction", "quality", "latency"):
        for entry in record.get(frame) or []:
            row = rows.get(int(entry["window"]))
            if row is None:
                raise ValueError(
                    f"monitor record {record.get('id')!r} has a {frame} entry for window "
                    f"{entry['window']}, which is not among its {len(rows)} windows"
                )
            if frame == "drift":
                row["drift"].append(plain_json(entry))
                row["n_alerts"] += entry.get("status") == "alert"
            else:
                row[frame] = plain_json(entry)
    return [rows[i] for i in sorted(rows)]


def _upsert(
    conn: Connection, table: sa.Table, keys: dict[str, Any], values: dict[str, Any]
) -> None:
    """Insert the row, or update it when its key exists (concurrent writers: the last wins)."""
    insert_ignore(conn, table, {**keys, **values})
    where = sa.and_(*(table.c[k] == v for k, v in keys.items()))
    conn.execute(table.update().where(where).values(**values))


class MonitorMixin(StoreBase):
    """Monitor reports and their windows, retrain decisions, attached records."""

    # -- reports --------------------------------------------------------------------------------

    def add_monitor_report(
        self,
        record: Mapping[str, Any],
        *,
        decision: Mapping[str, Any] | None = None,
        records: Mapping[str, Mapping[str, Any]] | None = None,
        notebook_path: str | Path | None = None,
        if_missing: bool = False,
    ) -> bool:
        """Store a monitor report (its record as :meth:`MonitorReport.to_dict` writes it), its
        windows, and optionally its retrain decision and attached records, in one transaction.

        Args:
            record: The report's record.
            decision: Its retrain decision's record (``action``, ``reasons``, ...).
            records: Records to attach by name (see :meth:`attach_monitor_record`).
            notebook_path: The executed notebook, when there is one.
            if_missing: Do nothing when a report with this id exists (imports of older
                workspaces); otherwise a duplicate id is refused.

        Returns:
            Whether the report was written.

        Raises:
            StoreError: The id exists (without ``if_missing``), or the database refused.
            ValueError: The record's frames name windows it does not have.
        """
        report_id = str(record["id"])
        kept = {k: v for k, v in record.items() if k not in _FRAMES and k != "report_path"}
        if isinstance(kept.get("source"), Mapping):
            kept["source"] = self._paths_stored(kept["source"], _SOURCE_PATHS)
        values = {
            "id": report_id,
            "created_at": _when(record["created_at"]),
            **summarize_monitor_record(record),
            "record": plain_json(kept),
            "notebook_path": self._to_stored(notebook_path),
            "report_path": self._to_stored(record.get("report_path")),
        }
        windows = [{"report_id": report_id, **w} for w in _window_rows(record)]
        chosen = None if decision is None else self._decision(report_id, decision)
        attached = [
            {"report_id": report_id, "name": name, **self._attached(rec)}
            for name, rec in (records or {}).items()
        ]

        def fn(conn: Connection) -> bool:
            if if_missing:
                found = sa.select(t.monitor_reports.c.id).where(t.monitor_reports.c.id == report_id)
                if conn.execute(found).first() is not None:
                    return False
            conn.execute(t.monitor_reports.insert().values(**values))
            if windows:
                conn.execute(t.monitor_windows.insert(), windows)
            if chosen is not None:
                conn.execute(t.retrain_decisions.insert().values(**chosen))
            if attached:
                conn.execute(t.monitor_records.insert(), attached)
            return True

        return self._write(fn)

    def get_monitor_report(self, ref: str, *, windows: bool = True) -> MonitorReportRecord:
        """A monitor report by id or unique id prefix, with its windows (``windows=True``).

        Raises:
            RunNotFound: none matches, or several do.
        """
        row = self._one_by_prefix(t.monitor_reports, ref, what="monitor report", hint=_HINT)
        with self._read() as conn:
            d = t.retrain_decisions.c
            action = conn.execute(sa.select(d.action).where(d.report_id == row.id)).scalar()
            rows = None
            if windows:
                w = t.monitor_windows.c
                q = sa.select(t.monitor_windows).where(w.report_id == row.id)
                rows = conn.execute(q.order_by(w.window_index)).all()
        return self._report(row, action, rows)

    def list_monitor_reports(self, *, limit: int | None = None) -> list[MonitorReportRecord]:
        """Monitor reports, newest first, without their windows (the listed columns)."""
        r, d = t.monitor_reports, t.retrain_decisions
        q = (
            sa.select(r, d.c.action.label("decision_action"))
            .select_from(r.outerjoin(d, d.c.report_id == r.c.id))
            .order_by(r.c.created_at.desc(), r.c.id.desc())
        )
        if limit:
            q = q.limit(limit)
        with self._read() as conn:
            return [self._report(row, row.decision_action, None) for row in conn.execute(q).all()]

    def set_monitor_report_paths(
        self,
        report_id: str,
        *,
        report_path: str | Path | None = None,
        notebook_path: str | Path | None = None,
    ) -> None:
        """Record where a report's page and executed notebook are (``None`` leaves one as is).

        Raises:
            RunNotFound: No report has this id.
        """
        values = {}
        if report_path is not None:
            values["report_path"] = self._to_stored(report_path)
        if notebook_path is not None:
            values["notebook_path"] = self._to_stored(notebook_path)

        def fn(conn: Connection) -> None:
            self._require(conn, report_id)
            if values:
                r = t.monitor_reports
                conn.execute(r.update().where(r.c.id == report_id).values(**values))

        self._write(fn)

    # -- retrain decisions ----------------------------------------------------------------------

    def set_retrain_decision(self, report_id: str, decision: Mapping[str, Any]) -> None:
        """Store (or replace) the retrain decision taken on a report.

        Raises:
            RunNotFound: No report has this id.
        """
        values = self._decision(report_id, decision)
        values.pop("report_id")

        def fn(conn: Connection) -> None:
            self._require(conn, report_id)
            _upsert(conn, t.retrain_decisions, {"report_id": report_id}, values)

        self._write(fn)

    def get_retrain_decision(self, report_id: str) -> RetrainDecisionRecord | None:
        """The retrain decision stored with a report (``None`` when there is none)."""
        d = t.retrain_decisions
        with self._read() as conn:
            row = conn.execute(sa.select(d).where(d.c.report_id == report_id)).first()
        if row is None:
            return None
        return RetrainDecisionRecord(
            report_id=row.report_id,
            action=row.action,
            reasons=tuple(row.reasons or ()),
            record=dict(row.record or {}),
            created_at=aware(row.created_at),  # type: ignore[arg-type]
        )

    # -- attached records -----------------------------------------------------------------------

    def attach_monitor_record(self, report_id: str, name: str, record: Mapping[str, Any]) -> None:
        """Keep a JSON record beside a report under ``name`` (replacing one of that name).

        Raises:
            RunNotFound: No report has this id.
        """
        values = self._attached(record)

        def fn(conn: Connection) -> None:
            self._require(conn, report_id)
            _upsert(conn, t.monitor_records, {"report_id": report_id, "name": name}, values)

        self._write(fn)

    def get_monitor_record(self, report_id: str, name: str) -> dict[str, Any] | None:
        """A record attached to a report (``None`` when there is none of that name)."""
        m = t.monitor_records.c
        with self._read() as conn:
            q = sa.select(m.record).where((m.report_id == report_id) & (m.name == name))
            found = conn.execute(q).first()
        return None if found is None else self._paths_absolute(found.record or {}, _RECORD_PATHS)

    # -- helpers --------------------------------------------------------------------------------

    def _require(self, conn: Connection, report_id: str) -> None:
        r = t.monitor_reports.c
        if conn.execute(sa.select(r.id).where(r.id == report_id)).first() is None:
            raise RunNotFound(f"no monitor report {report_id!r} in the store; {_HINT}")

    def _decision(self, report_id: str, decision: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "report_id": report_id,
            "action": str(decision["action"]),
            "reasons": [str(r) for r in decision.get("reasons") or ()],
            "record": plain_json(decision),
            "created_at": utcnow(),
        }

    def _attached(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "record": plain_json(self._paths_stored(record, _RECORD_PATHS)),
            "updated_at": utcnow(),
        }

    def _report(self, row: Any, decision: str | None, windows: Any) -> MonitorReportRecord:
        record = dict(row.record or {})
        if isinstance(record.get("source"), Mapping):
            record["source"] = self._paths_absolute(record["source"], _SOURCE_PATHS)
        return MonitorReportRecord(
            id=row.id,
            created_at=aware(row.created_at),  # type: ignore[arg-type]
            model_version=row.model_version,
            n_windows=row.n_windows,
            n_requests=row.n_requests,
            flagged_features=tuple(row.flagged_features or ()),
            latest_quality=row.latest_quality,
            record=record,
            windows=None if windows is None else tuple(self._window(w) for w in windows),
            notebook_path=self._from_stored(row.notebook_path),
            report_path=self._from_stored(row.report_path),
            decision=decision,
        )

    @staticmethod
    def _window(row: Any) -> MonitorWindowRecord:
        return MonitorWindowRecord(
            window=row.window_index,
            start_row=row.start_row,
            end_row=row.end_row,
            n=row.n,
            start_ts=aware(row.start_ts),
            end_ts=aware(row.end_ts),
            n_labelled=row.n_labelled,
            n_alerts=row.n_alerts,
            drift=tuple(row.drift or ()),
            prediction=row.prediction,
            quality=row.quality,
            latency=row.latency,
        )
