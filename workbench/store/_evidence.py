"""Evidence records: comparisons (candidate vs baseline) and release checks.

Each is written once by the process that made it; only the path of its HTML page is set later.
The full record is plain JSON; the columns the store queries (runs, decision, pass) sit beside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from . import schema as t
from ._base import StoreBase, aware
from .records import ComparisonRecord, ReleaseRecord

__all__ = ["EvidenceMixin", "comparison_from_row"]

#: Keys of a release record that hold paths (kept relative to the artifact root when under it).
_RELEASE_PATHS = ("bundle", "evidence_path")


def comparison_from_row(store: StoreBase, row: Any) -> ComparisonRecord:
    return ComparisonRecord(
        id=row.id,
        candidate_run=row.candidate_run,
        baseline_run=row.baseline_run,
        decision=row.decision,
        record=dict(row.record or {}),
        created_at=aware(row.created_at),  # type: ignore[arg-type]
        report_path=store._from_stored(row.report_path),
    )


class EvidenceMixin(StoreBase):
    """Comparisons and release checks."""

    # -- comparisons ----------------------------------------------------------------------------

    def add_comparison(self, rec: ComparisonRecord) -> None:
        """Record a comparison (its id must be new)."""
        self._write(
            lambda conn: conn.execute(
                t.comparisons.insert().values(
                    id=rec.id,
                    candidate_run=rec.candidate_run,
                    baseline_run=rec.baseline_run,
                    decision=rec.decision,
                    record=dict(rec.record),
                    report_path=self._to_stored(rec.report_path),
                    created_at=rec.created_at,
                )
            )
        )

    def get_comparison(self, ref: str) -> ComparisonRecord:
        """A comparison by id or unique id prefix.

        Raises:
            RunNotFound: none matches, or several do.
        """
        hint = "`workbench compare CANDIDATE BASELINE` makes one and the report index lists them"
        row = self._one_by_prefix(t.comparisons, ref, what="comparison", hint=hint)
        return comparison_from_row(self, row)

    def list_comparisons(self, *, limit: int | None = None) -> list[ComparisonRecord]:
        """Comparisons, newest first."""
        c = t.comparisons.c
        q = sa.select(t.comparisons).order_by(c.created_at.desc(), c.id.desc())
        if limit:
            q = q.limit(limit)
        with self._read() as conn:
            return [comparison_from_row(self, r) for r in conn.execute(q).all()]

    def set_comparison_report(self, comparison_id: str, path: str | Path) -> None:
        self._set_column(t.comparisons, comparison_id, report_path=self._to_stored(path))

    # -- releases -------------------------------------------------------------------------------

    def add_release(self, rec: ReleaseRecord) -> None:
        """Record a release check (its id must be new)."""
        self._write(
            lambda conn: conn.execute(
                t.releases.insert().values(
                    id=rec.id,
                    run_id=rec.run_id,
                    bundle=self._to_stored(rec.bundle),
                    passed=bool(rec.passed),
                    record=self._paths_stored(rec.record, _RELEASE_PATHS),
                    report_path=self._to_stored(rec.report_path),
                    created_at=rec.created_at,
                )
            )
        )

    def get_release(self, ref: str) -> ReleaseRecord:
        """A release check by id or unique id prefix.

        Raises:
            RunNotFound: none matches, or several do.
        """
        hint = "`workbench release-check BUNDLE` makes one and the report index lists them"
        row = self._one_by_prefix(t.releases, ref, what="release check", hint=hint)
        return self._release(row)

    def list_releases(self, *, limit: int | None = None) -> list[ReleaseRecord]:
        """Release checks, newest first."""
        q = sa.select(t.releases).order_by(t.releases.c.created_at.desc(), t.releases.c.id.desc())
        if limit:
            q = q.limit(limit)
        with self._read() as conn:
            return [self._release(r) for r in conn.execute(q).all()]

    def set_release_report(self, release_id: str, path: str | Path) -> None:
        self._set_column(t.releases, release_id, report_path=self._to_stored(path))

    # -- helpers --------------------------------------------------------------------------------

    def _release(self, row: Any) -> ReleaseRecord:
        return ReleaseRecord(
            id=row.id,
            run_id=row.run_id,
            bundle=self._from_stored(row.bundle) or "",
            passed=bool(row.passed),
            record=self._paths_absolute(row.record or {}, _RELEASE_PATHS),
            created_at=aware(row.created_at),  # type: ignore[arg-type]
            report_path=self._from_stored(row.report_path),
        )
