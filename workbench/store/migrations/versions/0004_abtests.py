"""A/B tests and their per-variant summaries (formerly ``abtests/<id>/record.json``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wb_abtests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("split", sa.Float, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("a_ref", sa.Text, nullable=False),
        sa.Column("b_ref", sa.Text, nullable=False),
        sa.Column("a_version", sa.Text, nullable=True),
        sa.Column("b_version", sa.Text, nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("report_path", sa.Text, nullable=True),
        sa.Column("record", sa.JSON, nullable=False),
    )
    op.create_index("ix_wb_abtests_created_at", "wb_abtests", ["created_at"])
    op.create_table(
        "wb_abtest_variants",
        sa.Column("abtest_id", sa.String(64), sa.ForeignKey("wb_abtests.id"), primary_key=True),
        sa.Column("variant", sa.String(1), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("model_version", sa.Text, nullable=True),
        sa.Column("run_id", sa.Text, nullable=True),
        sa.Column("bundle", sa.Text, nullable=True),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("error_rate", sa.Float, nullable=True),
        sa.Column("p50_ms", sa.Float, nullable=True),
        sa.Column("p99_ms", sa.Float, nullable=True),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("quality", sa.Float, nullable=True),
        sa.Column("quality_ci_low", sa.Float, nullable=True),
        sa.Column("quality_ci_high", sa.Float, nullable=True),
        sa.Column("labelled", sa.Integer, nullable=False),
        sa.Column("reacted", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("acceptance_rate", sa.Float, nullable=True),
        sa.Column("acceptance_ci_low", sa.Float, nullable=True),
        sa.Column("acceptance_ci_high", sa.Float, nullable=True),
    )
    op.create_index("ix_wb_abtest_variants_run_id", "wb_abtest_variants", ["run_id"])


def downgrade() -> None:
    op.drop_table("wb_abtest_variants")
    op.drop_table("wb_abtests")
