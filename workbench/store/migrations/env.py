"""Alembic environment, driven programmatically by ``workbench.store._migrate``."""

from __future__ import annotations

from alembic import context

from workbench.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # lets later migrations alter tables on SQLite too
)
with context.begin_transaction():
    context.run_migrations()
