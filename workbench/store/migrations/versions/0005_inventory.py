"""Edge inventory: devices, their assignment history and edge packages (formerly
``<workspace>/inventory/inventory.json``, imported by ``store._legacy`` when a workspace opens).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wb_devices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("group_name", sa.String(64), nullable=False, index=True),
        sa.Column("model_version", sa.Integer, nullable=True),
        sa.Column("model_ref", sa.String(64), nullable=True),
        sa.Column("model_run_id", sa.String(64), nullable=True),
        sa.Column("model_sha256", sa.String(64), nullable=True),
        sa.Column("hold", sa.Boolean, nullable=False),
        sa.Column("added_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sqlite_autoincrement=True,  # a removed device's id is never given to a new one
    )
    op.create_table(
        "wb_device_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.Integer, nullable=False, index=True),
        sa.Column("device", sa.String(64), nullable=False, index=True),
        sa.Column("from_ref", sa.String(64), nullable=True),
        sa.Column("to_ref", sa.String(64), nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_table(
        "wb_edge_packages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_version", sa.String(64), nullable=False, index=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for name in ("wb_edge_packages", "wb_device_changes", "wb_devices"):
        op.drop_table(name)
