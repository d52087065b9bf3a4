"""Initial schema: datasets, runs, stages, params, metrics, artifacts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wb_datasets",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_features", sa.Integer, nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("dataset_name", sa.String(255), nullable=False),
        sa.Column(
            "dataset_fingerprint",
            sa.String(64),
            sa.ForeignKey("wb_datasets.fingerprint"),
            nullable=True,
        ),
        sa.Column("model_family", sa.String(64), nullable=True),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("stages", sa.JSON, nullable=False),
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("heartbeat_at", _TS, nullable=True),
    )
    op.create_table(
        "wb_stages",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("notebook", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("output_path", sa.Text, nullable=True),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
    )
    op.create_table(
        "wb_params",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
    )
    op.create_table(
        "wb_metrics",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
        sa.Column("stage", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("ci_low", sa.Float, nullable=True),
        sa.Column("ci_high", sa.Float, nullable=True),
    )
    op.create_table(
        "wb_artifacts",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("stage", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    for name in (
        "wb_artifacts",
        "wb_metrics",
        "wb_params",
        "wb_stages",
        "wb_runs",
        "wb_datasets",
    ):
        op.drop_table(name)
