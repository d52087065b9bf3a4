"""Bring a database to the current schema with Alembic (programmatic, no alembic.ini).

Processes that open a brand-new store at the same moment must not both create its tables: the
check and the upgrade happen inside one write transaction that holds a lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock), so the second process waits, then
finds the schema current.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ._base import WRITE_OPTION
from .schema import VERSION_TABLE

MIGRATIONS = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock taken while migrating ("wb" in ASCII, then 1).
_PG_LOCK = 0x776201


def _config(conn: Connection | None):  # -> alembic.config.Config
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(None)).get_current_head()
    assert head is not None
    return head


def _revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _revision(conn)


def upgrade(engine: Engine) -> bool:
    """Apply every pending migration in one locked transaction; returns whether any ran."""
    from alembic import command

    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            if _revision(conn) == head_revision():
                return False  # another process migrated while this one waited for the lock
            command.upgrade(_config(conn), "head")
            return True


def ensure_current(engine: Engine) -> bool:
    """Upgrade when the schema is behind; a cheap read when it is current."""
    if current_revision(engine) == head_revision():
        return False
    return upgrade(engine)
