"""Bring a database to the current schema with Alembic (programmatic, no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .schema import VERSION_TABLE

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(conn: sa.Connection):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    cfg = _config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def upgrade(engine: Engine) -> None:
    """Apply every pending migration in one transaction."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_config(conn), "head")
