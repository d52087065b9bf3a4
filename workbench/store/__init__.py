"""The run store: SQLAlchemy Core on SQLite (default) or PostgreSQL (``WORKBENCH_DB_URL``)."""

from __future__ import annotations

from typing import Any

from ..exceptions import StoreError
from ._sql import Store, utcnow
from .records import (
    ArtifactRecord,
    DatasetRecord,
    MetricRecord,
    RunRecord,
    RunStatus,
    StageRecord,
)

__all__ = [
    "ArtifactRecord",
    "DatasetRecord",
    "MetricRecord",
    "RunRecord",
    "RunStatus",
    "StageRecord",
    "Store",
    "make_engine",
    "open_store",
    "utcnow",
]

_STORES: dict[str, Store] = {}


def make_engine(url: str) -> Any:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    import sqlalchemy as sa

    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as e:
        raise StoreError(
            f"cannot use store URL {url!r}: {e}; expected a SQLAlchemy URL such as "
            "sqlite:///path/workbench.db or postgresql+psycopg://user@host/db"
        ) from e


def open_store(url: str) -> Store:
    """A :class:`Store` for ``url`` with the schema migrated to the current revision.

    Stores are cached per URL within a process, so repeated calls are cheap.
    """
    if url in _STORES:
        return _STORES[url]
    import sqlalchemy as sa

    from . import _migrate

    engine = make_engine(url)
    try:
        if _migrate.current_revision(engine) != _migrate.head_revision():
            _migrate.upgrade(engine)
    except sa.exc.OperationalError as e:
        raise StoreError(
            f"cannot open the store at {engine.url!r}: {e.orig}; check WORKBENCH_DB_URL or the "
            "workspace path, and that the database server is running"
        ) from e
    store = Store(engine)
    _STORES[url] = store
    return store
