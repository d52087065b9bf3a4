"""Model registry (versions, aliases, audit trail), comparisons, releases, batches.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wb_model_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False, unique=True
        ),
        sa.Column("family", sa.String(64), nullable=True),
        sa.Column("task", sa.String(32), nullable=True),
        sa.Column("dataset_fingerprint", sa.String(64), nullable=True),
        sa.Column("model_path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_aliases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column(
            "version", sa.Integer, sa.ForeignKey("wb_model_versions.version"), nullable=False
        ),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_alias_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alias", sa.String(64), nullable=False, index=True),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("comparison_id", sa.String(64), nullable=True),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_table(
        "wb_comparisons",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("candidate_run", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False),
        sa.Column("baseline_run", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_releases",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("bundle", sa.Text, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("grid", sa.JSON, nullable=False),
        sa.Column("executor", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON, nullable=True),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
    )
    with op.batch_alter_table("wb_runs") as batch:
        batch.add_column(sa.Column("batch_id", sa.String(64), nullable=True))
        batch.create_index("ix_wb_runs_batch_id", ["batch_id"])


def downgrade() -> None:
    with op.batch_alter_table("wb_runs") as batch:
        batch.drop_index("ix_wb_runs_batch_id")
        batch.drop_column("batch_id")
    for name in (
        "wb_batches",
        "wb_releases",
        "wb_comparisons",
        "wb_alias_events",
        "wb_aliases",
        "wb_model_versions",
    ):
        op.drop_table(name)
