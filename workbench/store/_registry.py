"""Model versions, aliases and the audit trail of alias moves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema as t
from ._base import StoreBase, aware, utcnow
from ._evidence import comparison_from_row
from .records import AliasEvent, ComparisonRecord, ModelVersion

__all__ = ["AliasGuard", "RegistryMixin"]

#: Decides an alias move inside its transaction: given the alias's current version (``None``
#: for a new alias), that version's run and the latest comparison of the candidate against it,
#: return ``(reason, forced)`` or raise to refuse.
AliasGuard = Callable[[int | None, str | None, ComparisonRecord | None], tuple[str, bool]]


class RegistryMixin(StoreBase):
    """Registered model versions and the aliases pointing at them."""

    def register_version(
        self,
        run_id: str,
        *,
        family: str | None,
        task: str | None,
        dataset_fingerprint: str | None,
        model_path: str,
        sha256: str,
        size: int,
        metrics: Mapping[str, Any],
    ) -> ModelVersion:
        """Register the model of ``run_id`` as a new version, or return its existing version
        (idempotent per run, also when two processes register it at once)."""

        def fn(conn: Connection) -> None:
            exists = sa.select(t.model_versions.c.version).where(
                t.model_versions.c.run_id == run_id
            )
            if conn.execute(exists).first():
                return
            conn.execute(
                t.model_versions.insert().values(
                    run_id=run_id,
                    family=family,
                    task=task,
                    dataset_fingerprint=dataset_fingerprint,
                    model_path=self._to_stored(model_path),
                    sha256=sha256,
                    size=int(size),
                    metrics=dict(metrics),
                    created_at=utcnow(),
                )
            )

        self._write(fn)
        registered = self.version_of_run(run_id)
        assert registered is not None
        return registered

    def version_of_run(self, run_id: str) -> ModelVersion | None:
        """The registered version of ``run_id`` (exact id), or ``None``."""
        return self._one_version(t.model_versions.c.run_id == run_id)

    def get_version(self, version: int) -> ModelVersion | None:
        """Version ``version``, or ``None``."""
        return self._one_version(t.model_versions.c.version == version)

    def list_versions(self) -> list[ModelVersion]:
        """Every registered version, newest first, with the aliases pointing at each."""
        with self._read() as conn:
            names = self._alias_map(conn)
            rows = conn.execute(
                sa.select(t.model_versions).order_by(t.model_versions.c.version.desc())
            ).all()
        return [self._version(r, names.get(r.version, ())) for r in rows]

    def alias_run(self, alias: str) -> str | None:
        """The run id of the version ``alias`` points at, or ``None``."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.model_versions.c.run_id)
                .select_from(t.aliases.join(t.model_versions))
                .where(t.aliases.c.name == alias)
            ).first()
        return None if row is None else str(row[0])

    def move_alias(
        self, alias: str, version: ModelVersion, *, actor: str, guard: AliasGuard
    ) -> AliasEvent | None:
        """Point ``alias`` at ``version`` if ``guard`` allows it, in one transaction.

        The alias row is locked for the check (``FOR UPDATE`` on PostgreSQL; a SQLite write
        transaction holds the database lock), so two concurrent moves cannot both pass a check
        made on the same holder.

        Returns:
            The audit event appended, or ``None`` when the alias already pointed at ``version``
            (nothing recorded; ``guard`` is not called).
        """

        def fn(conn: Connection) -> AliasEvent | None:
            current = conn.execute(
                sa.select(t.aliases).where(t.aliases.c.name == alias).with_for_update()
            ).first()
            if current is not None and current.version == version.version:
                return None
            holder_run = latest = None
            if current is not None:
                holder_run = conn.execute(
                    sa.select(t.model_versions.c.run_id).where(
                        t.model_versions.c.version == current.version
                    )
                ).scalar_one()
                latest = self._latest_comparison(conn, version.run_id, holder_run)
            from_version = current.version if current is not None else None
            reason, forced = guard(from_version, holder_run, latest)
            now = utcnow()
            if current is None:
                conn.execute(
                    t.aliases.insert().values(name=alias, version=version.version, updated_at=now)
                )
            else:
                conn.execute(
                    t.aliases.update()
                    .where(t.aliases.c.name == alias)
                    .values(version=version.version, updated_at=now)
                )
            comparison_id = latest.id if latest is not None else None
            event_id = conn.execute(
                t.alias_events.insert().values(
                    alias=alias,
                    from_version=from_version,
                    to_version=version.version,
                    actor=actor,
                    reason=reason,
                    forced=forced,
                    comparison_id=comparison_id,
                    at=now,
                )
            ).inserted_primary_key[0]
            return AliasEvent(
                id=int(event_id),
                alias=alias,
                from_version=from_version,
                to_version=version.version,
                from_run=holder_run,
                to_run=version.run_id,
                actor=actor,
                reason=reason,
                forced=forced,
                comparison_id=comparison_id,
                at=now,
            )

        return self._write(fn)

    def audit_trail(self, alias: str | None = None) -> list[AliasEvent]:
        """Alias changes, oldest first (the order they happened), optionally for one alias."""
        e = t.alias_events
        q = sa.select(e).order_by(e.c.at, e.c.id)
        if alias is not None:
            q = q.where(e.c.alias == alias)
        with self._read() as conn:
            rows = conn.execute(q).all()
            runs = dict(
                conn.execute(sa.select(t.model_versions.c.version, t.model_versions.c.run_id)).all()
            )
        return [
            AliasEvent(
                id=r.id,
                alias=r.alias,
                from_version=r.from_version,
                to_version=r.to_version,
                from_run=runs.get(r.from_version),
                to_run=runs.get(r.to_version),
                actor=r.actor,
                reason=r.reason,
                forced=bool(r.forced),
                comparison_id=r.comparison_id,
                at=aware(r.at),  # type: ignore[arg-type]
            )
            for r in rows
        ]

    # -- helpers --------------------------------------------------------------------------------

    def _one_version(self, where: Any) -> ModelVersion | None:
        with self._read() as conn:
            row = conn.execute(sa.select(t.model_versions).where(where)).first()
            if row is None:
                return None
            return self._version(row, self._alias_map(conn).get(row.version, ()))

    def _version(self, row: Any, alias_names: tuple[str, ...] = ()) -> ModelVersion:
        return ModelVersion(
            version=row.version,
            run_id=row.run_id,
            family=row.family,
            task=row.task,
            dataset_fingerprint=row.dataset_fingerprint,
            model_path=self._from_stored(row.model_path) or "",
            sha256=row.sha256,
            size=int(row.size),
            metrics=dict(row.metrics or {}),
            created_at=aware(row.created_at),  # type: ignore[arg-type]
            aliases=alias_names,
        )

    @staticmethod
    def _alias_map(conn: Connection) -> dict[int, tuple[str, ...]]:
        out: dict[int, list[str]] = {}
        for row in conn.execute(sa.select(t.aliases).order_by(t.aliases.c.name)):
            out.setdefault(row.version, []).append(row.name)
        return {v: tuple(names) for v, names in out.items()}

    def _latest_comparison(
        self, conn: Connection, candidate: str, holder: str
    ) -> ComparisonRecord | None:
        """The latest comparison of ``candidate`` against the alias holder's run, or against a
        run that re-scored the holder's model on other rows (its record's
        ``baseline.rescores``, set by the comparison only when the model files' sha256 match:
        retraining compares with the champion's model on the recent rows)."""
        c = t.comparisons.c
        rows = conn.execute(
            sa.select(t.comparisons)
            .where(c.candidate_run == candidate)
            .order_by(c.created_at.desc(), c.id.desc())
        ).all()
        for row in rows:
            side = (row.record or {}).get("baseline") or {}
            if row.baseline_run == holder or side.get("rescores") == holder:
                return comparison_from_row(self, row)
        return None
