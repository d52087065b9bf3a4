"""Runs and what belongs to them: stages, parameters, metrics, artifacts, datasets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..exceptions import RunNotFound
from . import schema as t
from ._base import StoreBase, aware, insert_ignore, upsert, utcnow
from .records import (
    ArtifactRecord,
    DatasetRecord,
    MetricRecord,
    NoteRecord,
    RunRecord,
    RunStatus,
    StageRecord,
)

__all__ = ["RunsMixin"]


class RunsMixin(StoreBase):
    """Runs, stages, params, metrics, artifacts, datasets, and the tags and notes people add."""

    # -- datasets -----------------------------------------------------------------------------

    def record_dataset(self, ds: DatasetRecord) -> None:
        # Runs of one dataset start together (batches): a check-then-insert would race, so the
        # insert itself ignores a row another writer added first.
        self._write(lambda conn: insert_ignore(conn, t.datasets, ds.__dict__))

    def get_dataset(self, fingerprint: str) -> DatasetRecord | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.datasets).where(t.datasets.c.fingerprint == fingerprint)
            ).first()
        if row is None:
            return None
        d = row._asdict()
        d["created_at"] = aware(d["created_at"])
        return DatasetRecord(**d)

    # -- runs ---------------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        *,
        dataset_name: str,
        model_family: str | None,
        seed: int,
        stages: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
        source: str = "cli",
        git_commit: str | None = None,
        versions: Mapping[str, str] | None = None,
        dataset_fingerprint: str | None = None,
        batch_id: str | None = None,
        reopen: bool = False,
    ) -> None:
        """Record a new run as ``running`` with its stages ``pending`` and its parameters.

        With ``reopen=True`` an existing run of that id is started again instead of refused
        (a resumed or retried batch run): status ``running``, stages ``pending``, parameters
        replaced, metrics cleared; artifacts stay (their files are reused or replaced by name).
        """
        now = utcnow()
        values = {
            "status": RunStatus.RUNNING.value,
            "dataset_name": dataset_name,
            "dataset_fingerprint": dataset_fingerprint,
            "model_family": model_family,
            "seed": seed,
            "source": source,
            "stages": [name for name, _ in stages],
            "git_commit": git_commit,
            "versions": dict(versions or {}),
            "created_at": now,
            "heartbeat_at": now,
            "batch_id": batch_id,
        }

        def fn(conn: Connection) -> None:
            found = sa.select(t.runs.c.id).where(t.runs.c.id == run_id)
            if reopen and conn.execute(found).first():
                for table in (t.stages, t.params, t.metrics):
                    conn.execute(table.delete().where(table.c.run_id == run_id))
                conn.execute(
                    t.runs.update()
                    .where(t.runs.c.id == run_id)
                    .values(**values, error=None, finished_at=None)
                )
            else:
                conn.execute(t.runs.insert().values(id=run_id, **values))
            if stages:
                conn.execute(
                    t.stages.insert(),
                    [
                        {
                            "run_id": run_id,
                            "name": name,
                            "position": i,
                            "notebook": notebook,
                            "status": RunStatus.PENDING.value,
                        }
                        for i, (name, notebook) in enumerate(stages)
                    ],
                )
            if params:
                conn.execute(
                    t.params.insert(),
                    [{"run_id": run_id, "name": k, "value": v} for k, v in params.items()],
                )

        self._write(fn)

    def set_dataset(self, run_id: str, fingerprint: str) -> None:
        self._update_run(run_id, dataset_fingerprint=fingerprint)

    def heartbeat(self, run_id: str) -> None:
        self._update_run(run_id, heartbeat_at=utcnow())

    def mark_stale_runs(self, older_than_s: float, *, reason: str) -> list[str]:
        """Mark ``failed`` every ``running`` run whose heartbeat is older than ``older_than_s``.

        Lab runs are left alone: they stay open between interactive stages without a heartbeat.
        The heartbeat is checked again in the update itself, so a run that beats meanwhile is
        not touched. Returns the ids marked.
        """
        now = utcnow()
        cutoff = now - timedelta(seconds=older_than_s)
        last_seen = sa.func.coalesce(t.runs.c.heartbeat_at, t.runs.c.created_at)
        stale = (
            (t.runs.c.status == RunStatus.RUNNING.value)
            & (t.runs.c.source != "lab")
            & (last_seen < cutoff)
        )

        def fn(conn: Connection) -> list[str]:
            rows = conn.execute(sa.select(t.runs.c.id, last_seen).where(stale)).all()
            marked = []
            for run_id, seen in rows:
                error = {"reason": reason, "last_heartbeat": aware(seen).isoformat()}
                res = conn.execute(
                    t.runs.update()
                    .where(stale & (t.runs.c.id == run_id))
                    .values(status=RunStatus.FAILED.value, finished_at=now, error=error)
                )
                if res.rowcount:
                    self._close_stages(conn, run_id, RunStatus.FAILED, now)
                    marked.append(run_id)
            return marked

        return self._write(fn)

    def finish_run(
        self, run_id: str, status: RunStatus, *, error: Mapping[str, Any] | None = None
    ) -> None:
        """Mark a run finished; pending stages of a run that did not succeed become skipped."""
        now = utcnow()

        def fn(conn: Connection) -> None:
            self._update_run_in(
                conn,
                run_id,
                status=status.value,
                finished_at=now,
                heartbeat_at=now,
                error=dict(error) if error else None,
            )
            if status is not RunStatus.SUCCEEDED:
                self._close_stages(conn, run_id, status, now)

        self._write(fn)

    @staticmethod
    def _close_stages(conn: Connection, run_id: str, status: RunStatus, now: datetime) -> None:
        """Pending stages of an unsuccessful run become skipped, the running one ``status``."""
        conn.execute(
            t.stages.update()
            .where(t.stages.c.run_id == run_id)
            .where(t.stages.c.status.in_([RunStatus.PENDING.value]))
            .values(status=RunStatus.SKIPPED.value)
        )
        conn.execute(
            t.stages.update()
            .where(t.stages.c.run_id == run_id)
            .where(t.stages.c.status == RunStatus.RUNNING.value)
            .values(status=status.value, finished_at=now)
        )

    def _update_run(self, run_id: str, **values: Any) -> None:
        self._write(lambda conn: self._update_run_in(conn, run_id, **values))

    @staticmethod
    def _update_run_in(conn: Connection, run_id: str, **values: Any) -> None:
        res = conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(**values))
        if res.rowcount == 0:
            raise RunNotFound(f"no run {run_id!r} in the store")

    # -- stages -------------------------------------------------------------------------------

    def start_stage(self, run_id: str, stage: str, *, output_path: str | None) -> None:
        """Mark a stage running; ``output_path`` is its executed notebook (``None`` while a
        notebook runs interactively and is not saved yet)."""
        stored = self._to_stored(output_path)
        now = utcnow()

        def fn(conn: Connection) -> None:
            conn.execute(
                t.stages.update()
                .where(t.stages.c.run_id == run_id)
                .where(t.stages.c.name == stage)
                .values(status=RunStatus.RUNNING.value, started_at=now, output_path=stored)
            )
            self._update_run_in(conn, run_id, heartbeat_at=now)

        self._write(fn)

    def finish_stage(
        self,
        run_id: str,
        stage: str,
        status: RunStatus,
        *,
        error: Mapping[str, Any] | None = None,
        report_path: str | None = None,
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {"status": status.value, "finished_at": now}
        if error is not None:
            values["error"] = dict(error)
        if report_path is not None:
            values["report_path"] = self._to_stored(report_path)

        def fn(conn: Connection) -> None:
            conn.execute(
                t.stages.update()
                .where(t.stages.c.run_id == run_id)
                .where(t.stages.c.name == stage)
                .values(**values)
            )
            self._update_run_in(conn, run_id, heartbeat_at=now)

        self._write(fn)

    def set_report(self, run_id: str, stage: str, report_path: str) -> None:
        def fn(conn: Connection) -> None:
            conn.execute(
                t.stages.update()
                .where(t.stages.c.run_id == run_id)
                .where(t.stages.c.name == stage)
                .values(report_path=self._to_stored(report_path))
            )

        self._write(fn)

    # -- params, metrics, artifacts -----------------------------------------------------------

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Add or replace parameters of a run."""

        def fn(conn: Connection) -> None:
            for name, value in params.items():
                conn.execute(
                    t.params.delete()
                    .where(t.params.c.run_id == run_id)
                    .where(t.params.c.name == name)
                )
                conn.execute(t.params.insert().values(run_id=run_id, name=name, value=value))

        self._write(fn)

    def log_metrics(self, run_id: str, metrics: Sequence[MetricRecord]) -> None:
        """Add or replace metrics (keyed by stage and name) in one transaction."""

        def fn(conn: Connection) -> None:
            for m in metrics:
                conn.execute(
                    t.metrics.delete()
                    .where(t.metrics.c.run_id == run_id)
                    .where(t.metrics.c.stage == m.stage)
                    .where(t.metrics.c.name == m.name)
                )
            if metrics:
                conn.execute(
                    t.metrics.insert(),
                    [
                        {
                            "run_id": run_id,
                            "stage": m.stage,
                            "name": m.name,
                            "value": float(m.value),
                            "ci_low": None if m.ci_low is None else float(m.ci_low),
                            "ci_high": None if m.ci_high is None else float(m.ci_high),
                        }
                        for m in metrics
                    ],
                )

        self._write(fn)

    def log_artifact(self, run_id: str, artifact: ArtifactRecord) -> None:
        def fn(conn: Connection) -> None:
            conn.execute(
                t.artifacts.delete()
                .where(t.artifacts.c.run_id == run_id)
                .where(t.artifacts.c.name == artifact.name)
            )
            values = {**artifact.__dict__, "path": self._to_stored(artifact.path)}
            conn.execute(t.artifacts.insert().values(run_id=run_id, **values))

        self._write(fn)

    # -- tags and notes -----------------------------------------------------------------------

    def set_tags(
        self, run_id: str, tags: Mapping[str, str], *, remove: Sequence[str] = ()
    ) -> dict[str, str]:
        """Set (add or replace) and remove tags of a run in one transaction.

        Returns:
            The run's tags afterwards.

        Raises:
            RunNotFound: no run has the id ``run_id`` (exactly; resolve prefixes first).
        """
        now = utcnow()

        def fn(conn: Connection) -> dict[str, str]:
            self._require_run(conn, run_id)
            if remove:
                conn.execute(
                    t.run_tags.delete()
                    .where(t.run_tags.c.run_id == run_id)
                    .where(t.run_tags.c.key.in_(list(remove)))
                )
            for key, value in tags.items():
                upsert(
                    conn,
                    t.run_tags,
                    {"run_id": run_id, "key": key, "value": value, "updated_at": now},
                    keys=("run_id", "key"),
                )
            return self._tags_of(conn, [run_id]).get(run_id, {})

        return self._write(fn)

    def add_note(self, run_id: str, text: str, *, author: str) -> NoteRecord:
        """Append a note to a run.

        Raises:
            RunNotFound: no run has the id ``run_id``.
        """
        now = utcnow()

        def fn(conn: Connection) -> NoteRecord:
            self._require_run(conn, run_id)
            res = conn.execute(
                t.run_notes.insert().values(run_id=run_id, text=text, author=author, created_at=now)
            )
            return NoteRecord(int(res.inserted_primary_key[0]), text, author, now)

        return self._write(fn)

    @staticmethod
    def _require_run(conn: Connection, run_id: str) -> None:
        if conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise RunNotFound(f"no run {run_id!r} in the store; `workbench runs` lists the runs")

    @staticmethod
    def _tags_of(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {}
        q = sa.select(t.run_tags).where(t.run_tags.c.run_id.in_(list(ids)))
        for r in conn.execute(q.order_by(t.run_tags.c.key)):
            tags.setdefault(r.run_id, {})[r.key] = r.value
        return tags

    @staticmethod
    def _notes_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[NoteRecord]]:
        notes: dict[str, list[NoteRecord]] = {}
        q = sa.select(t.run_notes).where(t.run_notes.c.run_id.in_(list(ids)))
        for r in conn.execute(q.order_by(t.run_notes.c.id)):
            notes.setdefault(r.run_id, []).append(
                NoteRecord(r.id, r.text, r.author, aware(r.created_at))  # type: ignore[arg-type]
            )
        return notes

    # -- reads --------------------------------------------------------------------------------

    def resolve_run_id(self, ref: str) -> str:
        """Accept a full run id or a unique prefix of one.

        Raises:
            RunNotFound: no run matches, several do, or ``ref`` cannot be an id.
        """
        hint = "`workbench runs` lists the runs"
        return str(self._one_by_prefix(t.runs, ref, what="run", hint=hint).id)

    def get_run(self, ref: str) -> RunRecord:
        """The full record of one run (params, metrics, stages, artifacts, dataset)."""
        run_id = self.resolve_run_id(ref)
        with self._read() as conn:
            row = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).one()
            params = {
                r.name: r.value
                for r in conn.execute(sa.select(t.params).where(t.params.c.run_id == run_id))
            }
            metrics = [
                self._metric(r)
                for r in conn.execute(
                    sa.select(t.metrics)
                    .where(t.metrics.c.run_id == run_id)
                    .order_by(t.metrics.c.stage, t.metrics.c.name)
                )
            ]
            stages = [
                self._stage(r)
                for r in conn.execute(
                    sa.select(t.stages)
                    .where(t.stages.c.run_id == run_id)
                    .order_by(t.stages.c.position)
                )
            ]
            artifacts = [
                ArtifactRecord(
                    r.name, r.kind, self._from_stored(r.path) or "", r.sha256, r.size, r.stage
                )
                for r in conn.execute(
                    sa.select(t.artifacts)
                    .where(t.artifacts.c.run_id == run_id)
                    .order_by(t.artifacts.c.name)
                )
            ]
            tags = self._tags_of(conn, [run_id]).get(run_id, {})
            notes = self._notes_of(conn, [run_id]).get(run_id, [])
        dataset = self.get_dataset(row.dataset_fingerprint) if row.dataset_fingerprint else None
        return self._run_from_row(
            row,
            params=params,
            metrics=metrics,
            stages=stages,
            artifacts=artifacts,
            dataset=dataset,
            tags=tags,
            notes=notes,
        )

    def list_runs(
        self, *, limit: int | None = None, with_metrics: bool = True, with_params: bool = False
    ) -> list[RunRecord]:
        """Runs, newest first, with their metrics, stages, tags and notes (``with_metrics``) and
        parameters (``with_params``); never artifacts."""
        with self._read() as conn:
            q = sa.select(t.runs).order_by(t.runs.c.created_at.desc(), t.runs.c.id.desc())
            if limit:
                q = q.limit(limit)
            rows = conn.execute(q).all()
            ids = [r.id for r in rows]
            metrics: dict[str, list[MetricRecord]] = {}
            stages: dict[str, list[StageRecord]] = {}
            tags: dict[str, dict[str, str]] = {}
            notes: dict[str, list[NoteRecord]] = {}
            params: dict[str, dict[str, Any]] = {}
            if with_params and ids:
                for r in conn.execute(sa.select(t.params).where(t.params.c.run_id.in_(ids))):
                    params.setdefault(r.run_id, {})[r.name] = r.value
            if with_metrics and ids:
                tags = self._tags_of(conn, ids)
                notes = self._notes_of(conn, ids)
                for r in conn.execute(sa.select(t.metrics).where(t.metrics.c.run_id.in_(ids))):
                    metrics.setdefault(r.run_id, []).append(self._metric(r))
                for r in conn.execute(
                    sa.select(t.stages)
                    .where(t.stages.c.run_id.in_(ids))
                    .order_by(t.stages.c.position)
                ):
                    stages.setdefault(r.run_id, []).append(self._stage(r))
        return [
            self._run_from_row(
                r,
                metrics=metrics.get(r.id, []),
                stages=stages.get(r.id, []),
                tags=tags.get(r.id, {}),
                notes=notes.get(r.id, []),
                params=params.get(r.id, {}),
            )
            for r in rows
        ]

    def count_finished_stages(self, run_ids: Sequence[str]) -> int:
        """How many stages of these runs have finished (a batch's progress)."""
        if not run_ids:
            return 0
        finished = [s.value for s in RunStatus if s.is_finished()]
        q = (
            sa.select(sa.func.count())
            .select_from(t.stages)
            .where(t.stages.c.run_id.in_(list(run_ids)))
            .where(t.stages.c.status.in_(finished))
        )
        with self._read() as conn:
            return int(conn.execute(q).scalar() or 0)

    @staticmethod
    def _metric(r: Any) -> MetricRecord:
        return MetricRecord(r.stage, r.name, r.value, r.ci_low, r.ci_high)

    def _stage(self, r: Any) -> StageRecord:
        return StageRecord(
            name=r.name,
            position=r.position,
            notebook=r.notebook,
            status=RunStatus(r.status),
            output_path=self._from_stored(r.output_path),
            report_path=self._from_stored(r.report_path),
            error=r.error,
            started_at=aware(r.started_at),
            finished_at=aware(r.finished_at),
        )

    @staticmethod
    def _run_from_row(row: Any, **extra: Any) -> RunRecord:
        return RunRecord(
            id=row.id,
            status=RunStatus(row.status),
            dataset_name=row.dataset_name,
            dataset_fingerprint=row.dataset_fingerprint,
            model_family=row.model_family,
            seed=row.seed,
            source=row.source,
            stage_names=list(row.stages or []),
            git_commit=row.git_commit,
            versions=dict(row.versions or {}),
            error=row.error,
            created_at=aware(row.created_at),  # type: ignore[arg-type]
            finished_at=aware(row.finished_at),
            heartbeat_at=aware(row.heartbeat_at),
            batch_id=row.batch_id,
            **extra,
        )

    # -- stages run by hand (JupyterLab, papermill) ------------------------------------------

    def reopen_stage(
        self,
        run_id: str,
        stage: str,
        *,
        notebook: str,
        output_path: str | None,
        model_family: str | None = None,
    ) -> None:
        """Start ``stage`` of a run executed by hand, adding the stage when the run lacks it.

        A notebook run in JupyterLab or by papermill either starts a run of its own or continues
        one named explicitly: in both cases the stage becomes ``running`` (its earlier error,
        times and report cleared) and the run ``running`` again until the notebook finishes.
        ``model_family`` fills the run's family when it has none yet (a run started by a stage
        without a model, continued by one with a model).
        """
        stored = self._to_stored(output_path)
        now = utcnow()

        def fn(conn: Connection) -> None:
            run = conn.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first()
            if run is None:
                raise RunNotFound(f"no run {run_id!r} in the store")
            names = list(run.stages or [])
            if stage not in names:
                conn.execute(
                    t.stages.insert().values(
                        run_id=run_id,
                        name=stage,
                        position=len(names),
                        notebook=notebook,
                        status=RunStatus.PENDING.value,
                    )
                )
                names.append(stage)
            conn.execute(
                t.stages.update()
                .where(t.stages.c.run_id == run_id)
                .where(t.stages.c.name == stage)
                .values(
                    notebook=notebook,
                    status=RunStatus.RUNNING.value,
                    output_path=stored,
                    report_path=None,
                    error=None,
                    started_at=now,
                    finished_at=None,
                )
            )
            values: dict[str, Any] = {
                "stages": names,
                "status": RunStatus.RUNNING.value,
                "finished_at": None,
                "error": None,
                "heartbeat_at": now,
            }
            if model_family and not run.model_family:
                values["model_family"] = model_family
            self._update_run_in(conn, run_id, **values)

        self._write(fn)

    def set_stage_output(self, run_id: str, stage: str, output_path: str | None) -> None:
        """Point a stage at its executed notebook (``None``: the stage has none any more)."""

        def fn(conn: Connection) -> None:
            conn.execute(
                t.stages.update()
                .where(t.stages.c.run_id == run_id)
                .where(t.stages.c.name == stage)
                .values(output_path=self._to_stored(output_path))
            )

        self._write(fn)
