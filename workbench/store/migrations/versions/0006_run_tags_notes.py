"""Run tags (key=value labels) and notes (free text), both edited after a run finishes.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wb_run_tags",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_run_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_wb_run_notes_run_id", "wb_run_notes", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_wb_run_notes_run_id", table_name="wb_run_notes")
    op.drop_table("wb_run_notes")
    op.drop_table("wb_run_tags")
