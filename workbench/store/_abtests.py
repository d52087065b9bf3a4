"""A/B tests: a row per test (the columns listings and the report index read, plus the full
record) and a row per variant (what each served and measured).

A test is written once, with its variants in the same transaction, by the process that ran it;
only the path of its HTML report is set later. The bulk (per-request rows, the labels feed, the
stub logs, the executed notebook) stays files in the test's folder under the artifact root; the
rows keep that folder, the bundles and the report relative to the root.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..exceptions import StoreError
from . import schema as t
from ._base import StoreBase, aware, insert_ignore
from .records import ABTestRecord, ABVariantRecord

__all__ = ["ABTestsMixin"]

_HINT = "`workbench abtest --a REF --b REF` runs one and `workbench abtests` lists them"
_SIDES = ("a", "b")


def _plain(obj: Any) -> Any:
    """``obj`` with every non-finite float as ``None``: JSON without NaN, which PostgreSQL's
    JSON type refuses (SQLite would keep it), so both backends hold the same record."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


class ABTestsMixin(StoreBase):
    """A/B tests and their per-variant summaries."""

    def add_abtest(self, rec: ABTestRecord, *, exist_ok: bool = False) -> None:
        """Record an A/B test and its variants in one transaction.

        Args:
            rec: The test (:meth:`ABTestRecord.from_record` builds it from a full record).
            exist_ok: Leave a test already recorded under this id as it is (importing older
                workspaces, which two processes may do at once) instead of refusing.

        Raises:
            StoreError: The id is taken (without ``exist_ok``), or the store refused.
        """
        test_row = {
            "id": rec.id,
            "created_at": rec.created_at,
            "mode": rec.mode,
            "split": rec.split,
            "seed": rec.seed,
            "a_ref": rec.variant("A").ref,
            "b_ref": rec.variant("B").ref,
            "a_version": rec.variant("A").model_version,
            "b_version": rec.variant("B").model_version,
            "decision": rec.decision,
            "folder": self._to_stored(rec.folder),
            "report_path": self._to_stored(rec.report_path),
            "record": self._record_stored(rec.record),
        }
        variant_rows = [
            {**asdict(v), "abtest_id": rec.id, "bundle": self._to_stored(v.bundle)}
            for v in rec.variants
        ]

        def fn(conn: Connection) -> None:
            if exist_ok:
                insert_ignore(conn, t.abtests, test_row)
                for row in variant_rows:
                    insert_ignore(conn, t.abtest_variants, row)
                return
            taken = conn.execute(sa.select(t.abtests.c.id).where(t.abtests.c.id == rec.id))
            if taken.first() is not None:
                raise StoreError(
                    f"an A/B test {rec.id!r} is already recorded; ids are unique, so record "
                    "this one under a new id (workbench._files.new_id('ab-'))"
                )
            conn.execute(t.abtests.insert().values(**test_row))
            if variant_rows:
                conn.execute(t.abtest_variants.insert(), variant_rows)

        self._write(fn)

    def get_abtest(self, ref: str) -> ABTestRecord:
        """An A/B test by id or unique id prefix.

        Raises:
            RunNotFound: none matches, or several do.
        """
        row = self._one_by_prefix(t.abtests, ref, what="A/B test", hint=_HINT)
        return self._abtests([row])[0]

    def list_abtests(self, *, limit: int | None = None) -> list[ABTestRecord]:
        """A/B tests, newest first."""
        c = t.abtests.c
        q = sa.select(t.abtests).order_by(c.created_at.desc(), c.id.desc())
        if limit:
            q = q.limit(limit)
        with self._read() as conn:
            rows = conn.execute(q).all()
        return self._abtests(rows)

    def set_abtest_report(self, abtest_id: str, path: str | Path) -> None:
        """Record where the test's HTML report is."""
        self._set_column(t.abtests, abtest_id, report_path=self._to_stored(path))

    # -- helpers --------------------------------------------------------------------------------

    def _record_stored(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record as the database keeps it: no NaN, no report path (a column), the
        bundles of both sides relative to the artifact root."""
        out = {k: v for k, v in record.items() if k != "report_path"}
        for side in _SIDES:
            if isinstance(out.get(side), dict):
                out[side] = self._paths_stored(out[side], ("bundle",))
        return _plain(out)

    def _abtests(self, rows: list[Any]) -> list[ABTestRecord]:
        """Records for ``rows`` of ``wb_abtests`` (in that order) with their variants."""
        if not rows:
            return []
        v = t.abtest_variants.c
        ids = [r.id for r in rows]
        with self._read() as conn:
            found = conn.execute(
                sa.select(t.abtest_variants).where(v.abtest_id.in_(ids)).order_by(v.variant)
            ).all()
        variants: dict[str, list[ABVariantRecord]] = defaultdict(list)
        for f in found:
            fields = {k: getattr(f, k) for k in ABVariantRecord.__dataclass_fields__}
            variants[f.abtest_id].append(
                ABVariantRecord(**{**fields, "bundle": self._from_stored(f.bundle)})
            )
        out = []
        for r in rows:
            record = dict(r.record or {})
            for side in _SIDES:
                if isinstance(record.get(side), dict):
                    record[side] = self._paths_absolute(record[side], ("bundle",))
            rec = ABTestRecord(
                id=r.id,
                created_at=aware(r.created_at),  # type: ignore[arg-type]
                mode=r.mode,
                split=r.split,
                seed=r.seed,
                decision=r.decision,
                record=record,
                folder=self._from_stored(r.folder) or "",
                report_path=self._from_stored(r.report_path),
                variants=tuple(variants.get(r.id, ())),
            )
            out.append(rec)
        return out
