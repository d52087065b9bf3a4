"""The store: every record of a workspace in one database (SQLAlchemy Core, Alembic).

SQLite in the workspace by default; ``WORKBENCH_DB_URL`` names another SQLAlchemy URL (e.g.
``postgresql+psycopg://user@host/db``) for a team. SQL lives in this package only: one module
per record family (``_runs``, ``_registry``, ``_evidence``, ``_batches``, ...), each a mixin of
:class:`Store`; services get and give the frozen records of :mod:`workbench.store.records`.

Example::

    ws, store = open_workspace("workspace", create=True)
    store.list_runs(limit=5)
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..config import Workspace, resolve_workspace
from ..exceptions import StoreError
from ._base import WRITE_OPTION, utcnow
from ._optuna import close_interrupted_trials, optuna_storage, prepare_optuna_storage
from ._store import Store
from .records import (
    AUTOMATIC_ACTOR,
    ABTestRecord,
    ABVariantRecord,
    AliasEvent,
    ArtifactRecord,
    BatchRecord,
    ComparisonRecord,
    DatasetRecord,
    Device,
    EdgePackageRecord,
    HistoryEntry,
    MetricRecord,
    ModelPin,
    ModelVersion,
    MonitorReportRecord,
    MonitorWindowRecord,
    NoteRecord,
    ReleaseRecord,
    RetrainDecisionRecord,
    RunRecord,
    RunStatus,
    StageRecord,
)

__all__ = [
    "AUTOMATIC_ACTOR",
    "ABTestRecord",
    "ABVariantRecord",
    "AliasEvent",
    "ArtifactRecord",
    "BatchRecord",
    "ComparisonRecord",
    "DatasetRecord",
    "Device",
    "EdgePackageRecord",
    "HistoryEntry",
    "MetricRecord",
    "ModelPin",
    "ModelVersion",
    "MonitorReportRecord",
    "MonitorWindowRecord",
    "NoteRecord",
    "ReleaseRecord",
    "RetrainDecisionRecord",
    "RunRecord",
    "RunStatus",
    "StageRecord",
    "Store",
    "close_interrupted_trials",
    "make_engine",
    "open_store",
    "open_workspace",
    "optuna_storage",
    "prepare_optuna_storage",
    "utcnow",
]

_ENGINES: dict[str, Any] = {}
_STORES: dict[tuple[str, str | None], Store] = {}
_LOCK = threading.Lock()


def make_engine(url: str) -> Any:
    """An engine for ``url``. SQLite gets WAL, a busy timeout, foreign keys and transactions
    the store controls: ``BEGIN IMMEDIATE`` for writes (the write lock is taken up front, so a
    check made inside a write still holds at its end), a deferred ``BEGIN`` for reads."""
    import sqlalchemy as sa

    try:
        if not url.startswith("sqlite"):
            return sa.create_engine(url, pool_pre_ping=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
    except (sa.exc.ArgumentError, ImportError) as e:
        raise StoreError(
            f"cannot use store URL {url!r}: {e}; expected a SQLAlchemy URL such as "
            "sqlite:///path/workbench.db or postgresql+psycopg://user@host/db"
        ) from e

    @sa.event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver's implicit BEGIN is replaced below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def open_store(url: str, *, root: str | os.PathLike[str] | None = None) -> Store:
    """A :class:`Store` for ``url`` with the schema migrated to the current revision.

    Args:
        url: A SQLAlchemy URL.
        root: The artifact root: paths under it are stored relative to it. ``None`` stores
            paths as given (a bare store with no workspace).

    Stores are cached per (URL, root) within a process, so repeated calls are cheap.

    Raises:
        StoreError: the URL is unusable or the database cannot be reached or migrated.
    """
    import sqlalchemy as sa

    from . import _migrate

    key = (url, str(Path(root).resolve()) if root is not None else None)
    with _LOCK:
        if key in _STORES:
            return _STORES[key]
        engine = _ENGINES.get(url)
        if engine is None:
            engine = make_engine(url)
            try:
                _migrate.ensure_current(engine)
            except sa.exc.SQLAlchemyError as e:
                raise StoreError(
                    f"cannot open the store at {engine.url!r}: {getattr(e, 'orig', None) or e}; "
                    "check WORKBENCH_DB_URL or the workspace path, and that the database server "
                    "is running"
                ) from e
            _ENGINES[url] = engine
        store = Store(engine, root=root)
        _STORES[key] = store
        return store


def open_workspace(
    path: str | os.PathLike[str] | None = None, *, create: bool = False
) -> tuple[Workspace, Store]:
    """The workspace (``path``, ``$WORKBENCH_HOME`` or ``./workspace``) and its store.

    The one way every door (CLI, notebooks, services) opens a workspace: it resolves the
    folders, creates them (``create=True``) or requires them, opens the store with paths
    relative to the artifact root, and brings records of older workspaces up to date.

    Raises:
        ConfigError: the workspace does not exist (and ``create`` is false) or is not a folder.
        StoreError: the store cannot be opened.

    Example::

        ws, store = open_workspace(create=True)
    """
    from ._legacy import upgrade_workspace

    ws = resolve_workspace(path)
    if create:
        ws.create()
    else:
        ws.require()
    store = open_store(ws.db_url, root=ws.artifact_root)
    upgrade_workspace(ws, store)
    return ws, store
