"""The edge inventory: devices, the history of their assignments, and edge packages.

A device row holds its current pin (the registered version it runs, as a snapshot); every change
appends one row to ``wb_device_changes`` (device, from, to, who, when, why) in the same
transaction, so the history and the current state never disagree. Changes to one device lock
its row (``FOR UPDATE`` on PostgreSQL; a SQLite write transaction holds the database lock), so
two processes moving the same device both land, one after the other, and each history row's
``from`` is what the device ran just before. Removing a device keeps its history rows (with a
last row to ``None`` noted "removed"); a device added again under the same name starts anew.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import schema as t
from ._base import StoreBase, aware, insert_ignore, utcnow
from .records import Device, EdgePackageRecord, HistoryEntry, ModelPin

__all__ = ["InventoryMixin"]


def _pin_columns(pin: ModelPin | None) -> dict[str, Any]:
    return {
        "model_version": None if pin is None else pin.version,
        "model_ref": None if pin is None else pin.ref,
        "model_run_id": None if pin is None else pin.run_id,
        "model_sha256": None if pin is None else pin.sha256,
    }


def _change(conn: Connection, device_id: int, name: str, **values: Any) -> None:
    conn.execute(t.device_changes.insert().values(device_id=device_id, device=name, **values))


def _entry(row: Any) -> HistoryEntry:
    return HistoryEntry(
        at=aware(row.at),  # type: ignore[arg-type]
        ref=row.to_ref,
        note=row.note,
        from_ref=row.from_ref,
        actor=row.actor,
    )


def _devices(conn: Connection, where: Any) -> list[Device]:
    """The devices matching ``where`` with their histories, by group then name."""
    d = t.devices.c
    rows = conn.execute(sa.select(t.devices).where(where).order_by(d.group_name, d.name)).all()
    if not rows:
        return []
    history: dict[int, list[HistoryEntry]] = {r.id: [] for r in rows}
    c = t.device_changes.c
    changes = conn.execute(
        sa.select(t.device_changes).where(c.device_id.in_(list(history))).order_by(c.id)
    ).all()
    for ch in changes:
        history[ch.device_id].append(_entry(ch))
    return [
        Device(
            name=r.name,
            group=r.group_name,
            model=None
            if r.model_version is None
            else ModelPin(r.model_version, r.model_ref, r.model_run_id, r.model_sha256),
            hold=bool(r.hold),
            added_at=aware(r.added_at),  # type: ignore[arg-type]
            updated_at=aware(r.updated_at),  # type: ignore[arg-type]
            history=tuple(history[r.id]),
        )
        for r in rows
    ]


class InventoryMixin(StoreBase):
    """Devices with their pins and assignment history; recorded edge packages."""

    # -- devices --------------------------------------------------------------------------------

    def add_device(
        self,
        name: str,
        *,
        group: str,
        model: ModelPin | None,
        hold: bool = False,
        note: str = "added",
        actor: str | None = None,
    ) -> Device | None:
        """Add a device with its first history row, in one transaction.

        Returns:
            The device as stored, or ``None`` when a device of that name exists (nothing is
            changed; also when another process added it a moment before).
        """

        def fn(conn: Connection) -> Device | None:
            now = utcnow()
            values = {
                "name": name,
                "group_name": group,
                "hold": bool(hold),
                "added_at": now,
                "updated_at": now,
                **_pin_columns(model),
            }
            if not insert_ignore(conn, t.devices, values):
                return None
            device_id = conn.execute(
                sa.select(t.devices.c.id).where(t.devices.c.name == name)
            ).scalar_one()
            _change(
                conn,
                device_id,
                name,
                from_ref=None,
                to_ref=None if model is None else model.ref,
                to_version=None if model is None else model.version,
                actor=actor,
                note=note,
                at=now,
            )
            return _devices(conn, t.devices.c.id == device_id)[0]

        return self._write(fn)

    def set_device_model(
        self,
        model: ModelPin,
        *,
        names: Sequence[str] | None = None,
        group: str | None = None,
        hold: bool | None = None,
        note: str = "set",
        actor: str | None = None,
    ) -> list[Device]:
        """Pin the devices named (or every device of ``group``) to ``model``, one history row
        each, in one transaction.

        Args:
            model: The version they now run.
            names: These devices ...
            group: ... or every device of this group (exactly one of the two).
            hold: Set or clear the hold; ``None`` keeps each device's.
            note: Why (each history row keeps it).
            actor: Who.

        Returns:
            The changed devices, by name (empty when none matched; nothing is changed then).
        """
        if (names is None) == (group is None):
            raise ValueError("set_device_model takes names or group, not both")
        d = t.devices.c
        where = d.name.in_(list(names or ())) if group is None else d.group_name == group

        def fn(conn: Connection) -> list[Device]:
            rows = conn.execute(
                sa.select(d.id, d.name, d.model_ref, d.hold)
                .where(where)
                .order_by(d.name)
                .with_for_update()
            ).all()
            now = utcnow()
            for r in rows:
                conn.execute(
                    t.devices.update()
                    .where(d.id == r.id)
                    .values(
                        updated_at=now,
                        hold=bool(r.hold if hold is None else hold),
                        **_pin_columns(model),
                    )
                )
                _change(
                    conn,
                    r.id,
                    r.name,
                    from_ref=r.model_ref,
                    to_ref=model.ref,
                    to_version=model.version,
                    actor=actor,
                    note=note,
                    at=now,
                )
            changed = _devices(conn, d.id.in_([r.id for r in rows])) if rows else []
            return sorted(changed, key=lambda x: x.name)

        return self._write(fn)

    def remove_device(
        self, name: str, *, note: str = "removed", actor: str | None = None
    ) -> Device | None:
        """Remove a device; its history rows stay, with a last one noted ``note``.

        Returns:
            Its last record (before the removal), or ``None`` when there is no such device.
        """
        d = t.devices.c

        def fn(conn: Connection) -> Device | None:
            row = conn.execute(
                sa.select(d.id, d.model_ref).where(d.name == name).with_for_update()
            ).first()
            if row is None:
                return None
            [device] = _devices(conn, d.id == row.id)
            _change(
                conn,
                row.id,
                name,
                from_ref=row.model_ref,
                to_ref=None,
                to_version=None,
                actor=actor,
                note=note,
                at=utcnow(),
            )
            conn.execute(t.devices.delete().where(d.id == row.id))
            return device

        return self._write(fn)

    def get_device(self, name: str) -> Device | None:
        """The device called ``name`` (exact), or ``None``."""
        with self._read() as conn:
            found = _devices(conn, t.devices.c.name == name)
        return found[0] if found else None

    def list_devices(self, *, group: str | None = None) -> list[Device]:
        """Every device (or those of ``group``), by group then name, with their histories."""
        where = sa.true() if group is None else t.devices.c.group_name == group
        with self._read() as conn:
            return _devices(conn, where)

    def device_changes(self, name: str) -> list[HistoryEntry]:
        """Every recorded change of devices called ``name``, oldest first, including those of
        a device removed since (its last change is the removal)."""
        c = t.device_changes.c
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.device_changes).where(c.device == name).order_by(c.id)
            ).all()
        return [_entry(r) for r in rows]

    # -- edge packages --------------------------------------------------------------------------

    def add_edge_package(
        self, model_version: str, *, run_id: str | None, path: str | Path, sha256: str
    ) -> EdgePackageRecord:
        """Record an edge export of ``model_version`` written to ``path``."""
        now = utcnow()
        self._write(
            lambda conn: conn.execute(
                t.edge_packages.insert().values(
                    model_version=model_version,
                    run_id=run_id,
                    path=self._to_stored(path),
                    sha256=sha256,
                    created_at=now,
                )
            )
        )
        return EdgePackageRecord(model_version, run_id, str(path), sha256, now)

    def edge_package(self, model_version: str) -> EdgePackageRecord | None:
        """The latest recorded edge export of ``model_version``, or ``None``."""
        e = t.edge_packages.c
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.edge_packages)
                .where(e.model_version == model_version)
                .order_by(e.id.desc())
                .limit(1)
            ).first()
        return None if row is None else self._edge_package(row)

    def list_edge_packages(self) -> list[EdgePackageRecord]:
        """Every recorded edge export, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.edge_packages).order_by(t.edge_packages.c.id.desc())
            ).all()
        return [self._edge_package(r) for r in rows]

    # -- older workspaces -----------------------------------------------------------------------

    def import_inventory(
        self, devices: Iterable[Device], packages: Iterable[EdgePackageRecord]
    ) -> list[str]:
        """Insert, in one transaction, the devices (with their histories as given) whose names
        are not in the store and the edge packages not recorded yet (same version, path and
        hash). For converting older workspaces; returns the names of the devices inserted."""
        devices, packages = list(devices), list(packages)

        def fn(conn: Connection) -> list[str]:
            added = [dev.name for dev in devices if self._import_device(conn, dev)]
            for p in packages:
                self._import_package(conn, p)
            return added

        return self._write(fn)

    def _import_device(self, conn: Connection, dev: Device) -> bool:
        values = {
            "name": dev.name,
            "group_name": dev.group,
            "hold": bool(dev.hold),
            "added_at": dev.added_at,
            "updated_at": dev.updated_at,
            **_pin_columns(dev.model),
        }
        if not insert_ignore(conn, t.devices, values):
            return False
        device_id = conn.execute(
            sa.select(t.devices.c.id).where(t.devices.c.name == dev.name)
        ).scalar_one()
        for h in dev.history:
            number = h.ref[1:] if h.ref and h.ref.startswith("v") else ""
            _change(
                conn,
                device_id,
                dev.name,
                from_ref=h.from_ref,
                to_ref=h.ref,
                to_version=int(number) if number.isdigit() else None,
                actor=h.actor,
                note=h.note,
                at=h.at,
            )
        return True

    def _import_package(self, conn: Connection, p: EdgePackageRecord) -> None:
        e = t.edge_packages.c
        stored = self._to_stored(p.path)
        known = conn.execute(
            sa.select(e.id).where(
                e.model_version == p.model_version, e.path == stored, e.sha256 == p.sha256
            )
        ).first()
        if known is None:
            conn.execute(
                t.edge_packages.insert().values(
                    model_version=p.model_version,
                    run_id=p.run_id,
                    path=stored,
                    sha256=p.sha256,
                    created_at=p.created_at,
                )
            )

    def _edge_package(self, row: Any) -> EdgePackageRecord:
        return EdgePackageRecord(
            model_version=row.model_version,
            run_id=row.run_id,
            path=self._from_stored(row.path) or "",
            sha256=row.sha256,
            created_at=aware(row.created_at),  # type: ignore[arg-type]
        )
