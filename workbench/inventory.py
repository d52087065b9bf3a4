"""Edge inventory: which model version runs on which device, what is outdated, and the update
plan.

The seed: a model on edge devices cannot be swapped as easily as one in a container, so keep
an inventory of what runs where and manage the updates. A *device* has a name, a *group*
(devices updated together, e.g. ``pilot``, ``store-eu``) and the registered model version it
runs, with the time, author and note of every change. Against the current champion each device
is ``current``, ``outdated`` (any other version: older ones need the update, newer ones a
rollback) or ``unassigned``; a device on *hold* (a canary on purpose, a device in repair) keeps
its version and is left out of plans. The update plan moves every other device to the champion
in waves, one group per wave, smallest group first (a faulty update then shows on few devices
first), optionally at most ``wave_size`` devices per wave.

Storage: devices and the history of their assignments are rows of the store (see
:mod:`workbench.store._inventory`); every change is one transaction, so concurrent commands from
any process on the same store (a team's PostgreSQL too) never lose a change. The edge export
(:mod:`workbench.edge`) records its packages there as well, so update plans point at them.

Errors::

    WorkbenchError
    └── InventoryError            unknown or duplicate device, bad name, bad wave size
        └── EdgeExportRefused     (workbench.edge) the model has no ONNX copy

Example::

    add_device(store, "kiosk-01", group="pilot", model="v1")
    set_model(store, group="pilot", model="champion", note="wave 1")
    view = inventory_view(store)
    view.plan.waves              # [Wave(number=1, group='fleet', moves=(...)), ...]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .exceptions import WorkbenchError
from .store import Device, HistoryEntry, ModelPin

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "DEFAULT_GROUP",
    "STATUSES",
    "Device",
    "DeviceStatus",
    "HistoryEntry",
    "InventoryError",
    "InventoryView",
    "ModelPin",
    "Move",
    "UpdatePlan",
    "Wave",
    "add_device",
    "inventory_view",
    "judge",
    "list_devices",
    "remove_device",
    "set_model",
    "update_plan",
]

DEFAULT_GROUP = "default"
STATUSES = ("current", "outdated", "unassigned")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InventoryError(WorkbenchError):
    """An inventory change cannot be done as asked (unknown or duplicate device, bad name)."""


# -- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceStatus:
    """A device judged against the champion: ``status`` is one of :data:`STATUSES`."""

    device: Device
    status: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.device.to_dict(), "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Move:
    """One device to update: from what it runs to the target version."""

    device: str
    group: str
    from_ref: str | None
    to_ref: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "group": self.group,
            "from": self.from_ref,
            "to": self.to_ref,
        }


@dataclass(frozen=True)
class Wave:
    """Devices updated together: one group (or a slice of a large one)."""

    number: int
    group: str
    moves: tuple[Move, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "wave": self.number,
            "group": self.group,
            "moves": [m.to_dict() for m in self.moves],
        }


@dataclass(frozen=True)
class UpdatePlan:
    """Which devices move to which version, in which order.

    Attributes:
        target: The version every device should run (the champion); ``None`` without one.
        waves: The waves, in order.
        held: Devices on hold that are not on the target (left as they are).
        package: The recorded edge export of the target, if any (``path``, ``sha256``, ``at``).
        notes: What to know before starting.
    """

    target: ModelPin | None
    waves: tuple[Wave, ...]
    held: tuple[str, ...] = ()
    package: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    @property
    def moves(self) -> list[Move]:
        return [m for w in self.waves for m in w.moves]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": None if self.target is None else self.target.to_dict(),
            "waves": [w.to_dict() for w in self.waves],
            "held": list(self.held),
            "package": self.package,
            "notes": list(self.notes),
        }

    def lines(self) -> list[str]:
        """The plan as console lines."""
        if self.target is None:
            return ["update plan: none (no champion to update to)", *self.notes]
        if not self.waves:
            out = [f"update plan: every device not on hold runs {self.target.ref}; nothing to do"]
        else:
            out = [f"update plan: move {len(self.moves)} device(s) to {self.target.ref}"]
            for w in self.waves:
                moves = ", ".join(f"{m.device} ({m.from_ref or 'none'})" for m in w.moves)
                out.append(f"  wave {w.number} [{w.group}]: {moves}")
        if self.held:
            out.append(f"  on hold, not moved: {', '.join(self.held)}")
        return out + [f"  note: {n}" for n in self.notes]


@dataclass(frozen=True)
class InventoryView:
    """Every device with its status against the champion, and the update plan."""

    champion: ModelPin | None
    devices: tuple[DeviceStatus, ...]
    plan: UpdatePlan

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for d in self.devices:
            out[d.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "champion": None if self.champion is None else self.champion.to_dict(),
            "counts": self.counts(),
            "devices": [d.to_dict() for d in self.devices],
            "plan": self.plan.to_dict(),
        }


# -- changes ----------------------------------------------------------------------------------


def _check_name(value: str, what: str) -> str:
    if not _NAME.fullmatch(value or ""):
        raise InventoryError(
            f"{what} {value!r} is not usable; use letters, digits, '.', '_' and '-' (at most 64, "
            "starting with a letter or digit), e.g. kiosk-01"
        )
    return value


def _pin(store: Store, ref: str) -> ModelPin:
    """The registered version of ``ref`` (registered now if its run was not yet)."""
    from .registry import register_model, resolve_ref

    version = register_model(store, resolve_ref(store, ref))
    return ModelPin(version.version, version.ref, version.run_id, version.sha256)


def _actor(actor: str | None) -> str:
    from .provenance import current_user

    return actor or current_user()


def _no_device(store: Store, name: str) -> InventoryError:
    known = ", ".join(sorted(d.name for d in store.list_devices())[:10]) or "none yet"
    return InventoryError(
        f"no device {name!r} in the inventory (devices: {known}); add it with "
        "`workbench inventory add-device NAME`"
    )


def add_device(
    store: Store,
    name: str,
    *,
    group: str = DEFAULT_GROUP,
    model: str | None = None,
    hold: bool = False,
    note: str = "",
    actor: str | None = None,
) -> Device:
    """Add a device to the inventory.

    Args:
        store: The workspace's store.
        name: A new device name.
        group: Its group.
        model: The version it runs now: alias, ``vN`` or run id (registered if it was not).
        hold: Keep it out of update plans.
        note: Why (kept in its history).
        actor: Who (kept in its history); default the OS user.

    Raises:
        InventoryError: Bad or existing name, bad group.
        RunNotFound: ``model`` matches nothing.

    Example:
        >>> add_device(store, "kiosk-01", group="pilot", model="v1").model.ref
        'v1'
    """
    _check_name(name, "device name")
    _check_name(group, "group")
    pin = _pin(store, model) if model is not None else None
    device = store.add_device(
        name, group=group, model=pin, hold=hold, note=note or "added", actor=_actor(actor)
    )
    if device is None:
        existing = store.get_device(name)
        where = f" (group {existing.group!r})" if existing is not None else ""
        raise InventoryError(
            f"device {name!r} is already in the inventory{where}; change it with "
            "`workbench inventory set`"
        )
    return device


def set_model(
    store: Store,
    *,
    model: str,
    name: str | None = None,
    group: str | None = None,
    hold: bool | None = None,
    note: str = "",
    actor: str | None = None,
) -> list[Device]:
    """Record that a device, or every device of a group, now runs ``model``.

    Args:
        store: The workspace's store.
        model: Alias, ``vN`` or run id.
        name: One device ...
        group: ... or every device of this group.
        hold: Set (``True``) or clear (``False``) the hold; ``None`` leaves it.
        note: Why (kept in each device's history).
        actor: Who (kept in each device's history); default the OS user.

    Returns:
        The changed devices, by name.

    Raises:
        InventoryError: Neither or both of ``name`` and ``group``, or no such device/group.
    """
    if (name is None) == (group is None):
        raise InventoryError("give a device name or --group, not both and not neither")
    pin = _pin(store, model)
    changed = store.set_device_model(
        pin,
        names=None if name is None else [name],
        group=group,
        hold=hold,
        note=note or "set",
        actor=_actor(actor),
    )
    if changed:
        return changed
    if name is not None:
        raise _no_device(store, name)
    groups = sorted({d.group for d in store.list_devices()}) or ["none yet"]
    raise InventoryError(f"no device in group {group!r}; groups: {', '.join(groups)}")


def remove_device(store: Store, name: str, *, actor: str | None = None) -> Device:
    """Remove a device (retired); returns its last record. Its history stays in the store.

    Raises:
        InventoryError: No such device.
    """
    device = store.remove_device(name, actor=_actor(actor))
    if device is None:
        raise _no_device(store, name)
    return device


def list_devices(store: Store) -> list[Device]:
    """Every device, by group then name."""
    return store.list_devices()


# -- status and plan --------------------------------------------------------------------------


def _champion(store: Store, alias: str) -> ModelPin | None:
    from .registry import aliases

    v = aliases(store).get(alias)
    return None if v is None else ModelPin(v.version, v.ref, v.run_id, v.sha256)


def judge(device: Device, target: ModelPin | None) -> DeviceStatus:
    """A device's status against the target version (the champion)."""
    if device.model is None:
        return DeviceStatus(device, "unassigned", "no model recorded")
    if target is None:
        return DeviceStatus(device, "current", f"runs {device.model.ref}; no champion to compare")
    if device.model.version == target.version:
        return DeviceStatus(device, "current", f"runs the champion {target.ref}")
    gap = target.version - device.model.version
    if gap > 0:
        detail = f"runs {device.model.ref}, {gap} version(s) behind the champion {target.ref}"
    else:
        detail = f"runs {device.model.ref}, newer than the champion {target.ref} (a rollback)"
    return DeviceStatus(device, "outdated", detail)


def update_plan(
    devices: Sequence[Device],
    target: ModelPin | None,
    *,
    wave_size: int | None = None,
    package: dict[str, Any] | None = None,
) -> UpdatePlan:
    """Plan moving every device not on hold to ``target``, one group per wave, smallest first.

    Args:
        devices: The inventory.
        target: The version to move to (the champion).
        wave_size: At most this many devices per wave (a large group takes several waves).
        package: The recorded edge export of the target, shown with the plan.

    Raises:
        InventoryError: ``wave_size`` below 1.
    """
    if wave_size is not None and wave_size < 1:
        raise InventoryError(f"wave size must be at least 1, got {wave_size}")
    if target is None:
        return UpdatePlan(None, (), notes=("no champion: promote a model first",))
    statuses = [judge(d, target) for d in devices]
    held = tuple(s.device.name for s in statuses if s.device.hold and s.status != "current")
    todo = [s.device for s in statuses if not s.device.hold and s.status != "current"]
    groups: dict[str, list[Device]] = {}
    for d in sorted(todo, key=lambda d: d.name):
        groups.setdefault(d.group, []).append(d)
    waves: list[Wave] = []
    for group, members in sorted(groups.items(), key=lambda kv: (len(kv[1]), kv[0])):
        size = wave_size or len(members)
        for start in range(0, len(members), size):
            moves = tuple(
                Move(d.name, group, d.model.ref if d.model else None, target.ref)
                for d in members[start : start + size]
            )
            waves.append(Wave(len(waves) + 1, group, moves))
    notes = []
    if waves and package is None:
        notes.append(
            f"no edge package of {target.ref} recorded yet: `workbench inventory export-edge "
            f"{target.ref} --out DIR` writes one"
        )
    if len(waves) > 1:
        notes.append("start a wave only after the previous one runs well (smallest group first)")
    return UpdatePlan(target, tuple(waves), held, package, tuple(notes))


def inventory_view(
    store: Store, *, champion: str = "champion", wave_size: int | None = None
) -> InventoryView:
    """Every device judged against the champion, and the update plan.

    Args:
        store: The workspace's store.
        champion: The alias devices should run.
        wave_size: At most this many devices per wave.
    """
    devices = store.list_devices()
    target = _champion(store, champion)
    recorded = None if target is None else store.edge_package(target.ref)
    package = None if recorded is None else recorded.to_dict()
    plan = update_plan(devices, target, wave_size=wave_size, package=package)
    return InventoryView(target, tuple(judge(d, target) for d in devices), plan)


# -- index and demo ---------------------------------------------------------------------------
