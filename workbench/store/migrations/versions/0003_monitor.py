"""Monitor reports and their windows, retrain decisions, records attached to a report.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _report_id() -> sa.Column:
    return sa.Column(
        "report_id", sa.String(64), sa.ForeignKey("wb_monitor_reports.id"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "wb_monitor_reports",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("model_version", sa.String(255), nullable=True),
        sa.Column("n_windows", sa.Integer, nullable=False),
        sa.Column("n_requests", sa.Integer, nullable=False),
        sa.Column("flagged_features", sa.JSON, nullable=False),
        sa.Column("latest_quality", sa.JSON, nullable=True),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("notebook_path", sa.Text, nullable=True),
        sa.Column("report_path", sa.Text, nullable=True),
    )
    op.create_table(
        "wb_monitor_windows",
        _report_id(),
        sa.Column("window_index", sa.Integer, primary_key=True),
        sa.Column("start_row", sa.Integer, nullable=False),
        sa.Column("end_row", sa.Integer, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("start_ts", _TS, nullable=True),
        sa.Column("end_ts", _TS, nullable=True),
        sa.Column("n_labelled", sa.Integer, nullable=False),
        sa.Column("n_alerts", sa.Integer, nullable=False),
        sa.Column("drift", sa.JSON, nullable=False),
        sa.Column("prediction", sa.JSON, nullable=True),
        sa.Column("quality", sa.JSON, nullable=True),
        sa.Column("latency", sa.JSON, nullable=True),
    )
    op.create_table(
        "wb_retrain_decisions",
        _report_id(),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "wb_monitor_records",
        _report_id(),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "wb_monitor_records",
        "wb_retrain_decisions",
        "wb_monitor_windows",
        "wb_monitor_reports",
    ):
        op.drop_table(name)
