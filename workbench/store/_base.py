"""What every record family of the store shares: the engine, transactions, error translation,
id lookups and paths relative to the artifact root.

Contract (every family module builds on it):

* every public write is one transaction, all or nothing, retried while another writer holds a
  lock; on SQLite a write transaction takes the write lock when it begins (``BEGIN
  IMMEDIATE``), so a check made inside it still holds when the write happens;
* database errors never leave the store raw: they become :class:`~workbench.exceptions.StoreError`
  (or ``RunNotFound`` for an unknown id) naming the store and what to check;
* returned records are frozen snapshots; paths in them are absolute, while the database keeps
  paths under the artifact root relative to it, so a workspace can be moved or copied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..exceptions import RunNotFound, StoreError

__all__ = ["StoreBase", "aware", "utcnow"]

T = TypeVar("T")

_RETRIES = 8
_TRANSIENT = ("database is locked", "deadlock detected", "could not serialize", "busy")
#: Execution option marking a connection whose transaction writes (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "workbench_write"


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything the store writes is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _is_transient(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    return any(s in text for s in _TRANSIENT)


def insert_ignore(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """INSERT that does nothing when the primary key (or a unique column) exists, on SQLite
    and PostgreSQL; returns whether the row was inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    # RETURNING, not rowcount: PostgreSQL reports no rowcount for an INSERT that returns rows.
    stmt = insert(table).values(**values).on_conflict_do_nothing()
    return conn.execute(stmt.returning(*table.primary_key.columns)).first() is not None


def upsert(
    conn: Connection, table: sa.Table, values: Mapping[str, Any], *, keys: tuple[str, ...]
) -> None:
    """INSERT, or UPDATE the row whose primary key ``keys`` exists (SQLite and PostgreSQL);
    one statement, so two writers setting the same key never collide."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changed))


def like_prefix(ref: str) -> str:
    """A LIKE pattern matching ids that start with ``ref`` (``%`` and ``_`` literally)."""
    return ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class StoreBase:
    """Engine, transactions and paths; the record families are mixins on top of it."""

    #: Longest id or id prefix looked up; longer input is refused before it reaches SQL.
    MAX_REF = 128

    def __init__(self, engine: Engine, *, root: str | Path | None = None) -> None:
        self.engine = engine
        self.root = Path(root).resolve() if root is not None else None

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def __repr__(self) -> str:
        return f"Store({self.engine.url!r}, root={str(self.root) if self.root else None!r})"

    # -- transactions ---------------------------------------------------------------------------

    def _refused(self, e: Exception, doing: str) -> StoreError:
        detail = getattr(e, "orig", None) or e
        return StoreError(
            f"the store at {self.engine.url!r} refused to {doing}: {detail}; check "
            "WORKBENCH_DB_URL or the workspace path, that the database server is running, and "
            "that the workspace's schema is current (any workbench command upgrades it)"
        )

    def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one write transaction, retrying while another writer holds
        a lock. For the family modules of this package only."""
        delay = 0.02
        for attempt in range(_RETRIES):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(**{WRITE_OPTION: True})
                    with conn.begin():
                        return fn(conn, *args)
            except sa.exc.OperationalError as e:
                if attempt == _RETRIES - 1 or not _is_transient(e):
                    raise self._refused(e, "write") from e
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            except sa.exc.SQLAlchemyError as e:
                raise self._refused(e, "write") from e
        raise AssertionError("unreachable")

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads; database errors become StoreError."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as e:
            raise self._refused(e, "read") from e

    # -- ids ------------------------------------------------------------------------------------

    def _rows_by_prefix(self, table: sa.Table, ref: str, *, limit: int = 5) -> list[Any]:
        """Rows whose ``id`` equals ``ref``, else up to ``limit`` whose id starts with it."""
        id_col = table.c.id
        with self._read() as conn:
            exact = conn.execute(sa.select(table).where(id_col == ref)).first()
            if exact:
                return [exact]
            q = sa.select(table).where(id_col.like(like_prefix(ref), escape="\\"))
            return list(conn.execute(q.order_by(id_col).limit(limit)).all())

    def _one_by_prefix(self, table: sa.Table, ref: str, *, what: str, hint: str) -> Any:
        """The one row whose id is ``ref`` or starts with it.

        Raises:
            RunNotFound: none matches (the message ends with ``hint``: how to make or list
                them), several match, or ``ref`` is empty or too long to be an id.
        """
        ref = str(ref).strip()
        if not ref or len(ref) > self.MAX_REF:
            shown = ref if len(ref) <= 40 else ref[:37] + "..."
            raise RunNotFound(
                f"{shown!r} is not a {what} id ({len(ref)} characters); give an id or a unique "
                f"prefix of one, at most {self.MAX_REF} characters; {hint}"
            )
        rows = self._rows_by_prefix(table, ref)
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise RunNotFound(f"no {what} {ref!r} in the store; {hint}")
        listed = ", ".join(r.id for r in rows)
        raise RunNotFound(f"{what} id prefix {ref!r} is ambiguous ({listed}, ...); give more")

    # -- paths ----------------------------------------------------------------------------------

    def _to_stored(self, path: str | Path | None) -> str | None:
        """What the database keeps for ``path``: relative to the artifact root when under it."""
        if path is None:
            return None
        p = Path(path)
        if self.root is None or not p.is_absolute():
            return p.as_posix() if not p.is_absolute() else str(p)
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(p)  # outside the root (a bundle exported elsewhere): kept as given

    def _from_stored(self, text: str | None) -> str | None:
        """The absolute path for a stored one (relative ones are under the artifact root)."""
        if text is None:
            return None
        p = Path(text)
        if p.is_absolute() or self.root is None:
            return text
        return str(self.root / p)

    def _paths_stored(self, record: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        """``record`` with the paths under ``keys`` as the database keeps them."""
        out = dict(record)
        for k in keys:
            if isinstance(out.get(k), str) and out[k]:
                out[k] = self._to_stored(out[k])
        return out

    def _paths_absolute(self, record: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        """``record`` with the paths under ``keys`` absolute again."""
        out = dict(record)
        for k in keys:
            if isinstance(out.get(k), str) and out[k]:
                out[k] = self._from_stored(out[k])
        return out

    def _set_column(self, table: sa.Table, row_id: str, **values: Any) -> None:
        """Update columns of the row of ``table`` whose ``id`` is ``row_id``."""

        def fn(conn: Connection) -> None:
            conn.execute(table.update().where(table.c.id == row_id).values(**values))

        self._write(fn)
