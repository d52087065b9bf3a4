"""The store: every record family on one engine (SQLite by default, PostgreSQL for a team)."""

from __future__ import annotations

from ._abtests import ABTestsMixin
from ._batches import BatchesMixin
from ._evidence import EvidenceMixin
from ._inventory import InventoryMixin
from ._monitor import MonitorMixin
from ._registry import RegistryMixin
from ._runs import RunsMixin

__all__ = ["Store"]


class Store(
    RunsMixin,
    RegistryMixin,
    EvidenceMixin,
    BatchesMixin,
    ABTestsMixin,
    MonitorMixin,
    InventoryMixin,
):
    """Every record the workbench keeps, in one database, one transaction per write.

    Contract: every public write is one transaction (all or nothing); methods are safe to call
    from several threads and processes; returned records are frozen snapshots whose paths are
    absolute (the database keeps them relative to the artifact root). Database errors surface
    as :class:`~workbench.exceptions.StoreError`, unknown ids as ``RunNotFound``.

    Get one with :func:`workbench.store.open_workspace` (or :func:`~workbench.store.open_store`
    for a bare URL); each family's methods live in its own module of this package.
    """
