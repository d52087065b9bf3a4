"""Edge inventory: which model version runs on which device, what is outdated, the update plan,
and the ``edge`` export of a model for on-device runtimes.

The seed: a model on edge devices cannot be swapped as easily as one in a container, so keep
an inventory of what runs where and manage the updates. A *device* has a name, a *group*
(devices updated together, e.g. ``pilot``, ``store-eu``) and the registered model version it
runs, with the time and note of every change. Against the current champion each device is
``current``, ``outdated`` (any other version: older ones need the update, newer ones a rollback)
or ``unassigned``; a device on *hold* (a canary on purpose, a device in repair) keeps its
version and is left out of plans. The update plan moves every other device to the champion in
waves, one group per wave, smallest group first (a faulty update then shows on few devices
first), optionally at most ``wave_size`` devices per wave.

Storage: ``<workspace>/inventory/inventory.json``, a small JSON document rather than store
tables: devices are few, and every change appends to the device's own history. Each change
holds an exclusive lock (``fcntl.flock`` on ``inventory/.lock``) while it reads, changes and
atomically replaces the file, so concurrent commands never lose a change; readers need no lock.

The edge export writes the bundle's ONNX copy beside ``edge-manifest.json`` (features with
dtypes and ranges, the ONNX inputs and outputs, the output schema, the sha256 of the model and a
parity check of the exported file on the bundle's evidence rows). A model without an ONNX copy
is refused with the reason its bundle manifest records.

Errors::

    WorkbenchError
    └── InventoryError            unknown or duplicate device, bad name, unreadable inventory
        └── EdgeExportRefused     the model has no ONNX copy (the manifest says why)

Example::

    add_device(ws, store, "kiosk-01", group="pilot", model="v1")
    set_model(ws, store, group="pilot", model="champion", note="wave 1")
    view = inventory_view(ws, store)
    view.plan.waves              # [Wave(number=1, group='fleet', moves=(...)), ...]
    export_edge(ws, store, "champion", out="edge/v3")
    verify_edge("edge/v3")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import FolderKind, check_output_dir, write_output_dir
from .exceptions import ConfigError, ModelError, WorkbenchError

if TYPE_CHECKING:
    from .config import Workspace
    from .reports import IndexSection
    from .store import Store

__all__ = [
    "DEFAULT_GROUP",
    "EDGE_FORMAT",
    "EDGE_KIND",
    "EDGE_MANIFEST",
    "FORMAT",
    "PROVIDER",
    "STATUSES",
    "Device",
    "DeviceStatus",
    "EdgeExportRefused",
    "EdgePackage",
    "HistoryEntry",
    "InventoryError",
    "InventoryView",
    "ModelPin",
    "Move",
    "UpdatePlan",
    "Wave",
    "add_device",
    "export_edge",
    "index_sections",
    "inventory_stage",
    "inventory_view",
    "judge",
    "list_devices",
    "remove_device",
    "set_model",
    "update_plan",
    "verify_edge",
]

FORMAT = "workbench-inventory/1"
EDGE_FORMAT = "workbench-edge/1"
EDGE_MANIFEST = "edge-manifest.json"
EDGE_MODEL = "model.onnx"
#: What ``export_edge(overwrite=True)`` may replace: a folder whose edge-manifest.json has
#: EDGE_FORMAT.
EDGE_KIND = FolderKind("edge package", EDGE_MANIFEST, EDGE_FORMAT)
DEFAULT_GROUP = "default"
PROVIDER = "workbench.inventory:index_sections"
STATUSES = ("current", "outdated", "unassigned")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_LOCK_TIMEOUT_S = 10.0
_EVIDENCE_ROWS = 200  # rows of the parity check of an edge export


class InventoryError(WorkbenchError):
    """An inventory change cannot be done as asked (unknown or duplicate device, bad name)."""


class EdgeExportRefused(InventoryError):
    """The model cannot run on edge devices: its bundle has no ONNX copy."""


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelPin:
    """A registered model version as a device runs it.

    Attributes:
        version: The version number.
        ref: ``v<version>``.
        run_id: The run that produced it.
        sha256: Its model file's hash when registered.
    """

    version: int
    ref: str
    run_id: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "ref": self.ref,
            "run_id": self.run_id,
            "sha256": self.sha256,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ModelPin | None:
        return None if d is None else cls(int(d["version"]), d["ref"], d["run_id"], d["sha256"])


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a device: when, to which version (``None``: added without a model), why."""

    at: str
    ref: str | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "ref": self.ref, "note": self.note}


@dataclass(frozen=True)
class Device:
    """One edge device (or a stand-in for identical devices).

    Attributes:
        name: Unique name (letters, digits, ``.``, ``_``, ``-``; at most 64).
        group: The group it is updated with.
        model: The version it runs (``None``: not recorded yet).
        hold: Keep it on its version; update plans skip it.
        added_at: When it was added (ISO 8601, UTC).
        updated_at: When its record last changed.
        history: Every change, oldest first.
    """

    name: str
    group: str
    model: ModelPin | None
    hold: bool
    added_at: str
    updated_at: str
    history: tuple[HistoryEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "model": None if self.model is None else self.model.to_dict(),
            "hold": self.hold,
            "added_at": self.added_at,
            "updated_at": self.updated_at,
            "history": [h.to_dict() for h in self.history],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Device:
        return cls(
            name=d["name"],
            group=d["group"],
            model=ModelPin.from_dict(d.get("model")),
            hold=bool(d.get("hold", False)),
            added_at=d["added_at"],
            updated_at=d["updated_at"],
            history=tuple(HistoryEntry(**h) for h in d.get("history", ())),
        )


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


@dataclass(frozen=True)
class EdgePackage:
    """An edge export: the folder, its manifest and the model's hash."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def sha256(self) -> str:
        return str(self.manifest["model"]["sha256"])

    @property
    def model_version(self) -> str:
        return str(self.manifest["model_version"])


# -- storage ----------------------------------------------------------------------------------


def _root(ws: Workspace) -> Path:
    return ws.root / "inventory"


def _path(ws: Workspace) -> Path:
    return _root(ws) / "inventory.json"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _empty() -> dict[str, Any]:
    return {"format": FORMAT, "devices": {}, "packages": {}}


def _read(ws: Workspace) -> dict[str, Any]:
    path = _path(ws)
    if not path.is_file():
        return _empty()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InventoryError(
            f"{path} cannot be read ({e}); restore it from a backup or move it away to start "
            "a new inventory"
        ) from e
    if data.get("format") != FORMAT:
        raise InventoryError(f"{path} is not a {FORMAT} document (format {data.get('format')!r})")
    return data


def _write(ws: Workspace, data: dict[str, Any]) -> None:
    path = _path(ws)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".inventory.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=False)
        os.replace(tmp, path)  # readers see the old or the new document, never half
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(ws: Workspace) -> Iterator[dict[str, Any]]:
    """Read the inventory under an exclusive lock; write it back when the block succeeds."""
    import fcntl

    root = _root(ws)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as lock:
        deadline = time.monotonic() + _LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise InventoryError(
                        f"the inventory in {root} stayed locked for {_LOCK_TIMEOUT_S:g} s; "
                        "another workbench command is changing it, try again"
                    ) from None
                time.sleep(0.02)
        try:
            data = _read(ws)
            yield data
            _write(ws, data)
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


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


def _device(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    try:
        return data["devices"][name]
    except KeyError:
        known = ", ".join(sorted(data["devices"])[:10]) or "none yet"
        raise InventoryError(
            f"no device {name!r} in the inventory (devices: {known}); add it with "
            "`workbench inventory add-device NAME`"
        ) from None


# -- changes ----------------------------------------------------------------------------------


def add_device(
    ws: Workspace,
    store: Store | None,
    name: str,
    *,
    group: str = DEFAULT_GROUP,
    model: str | None = None,
    hold: bool = False,
    note: str = "",
) -> Device:
    """Add a device to the inventory.

    Args:
        ws: The workspace.
        store: Its store (resolves ``model``; may be ``None`` without a model).
        name: A new device name.
        group: Its group.
        model: The version it runs now: alias, ``vN`` or run id (registered if it was not).
        hold: Keep it out of update plans.
        note: Why (kept in its history).

    Raises:
        InventoryError: Bad or existing name, bad group.
        RunNotFound: ``model`` matches nothing.

    Example:
        >>> add_device(ws, store, "kiosk-01", group="pilot", model="v1").model.ref
        'v1'
    """
    _check_name(name, "device name")
    _check_name(group, "group")
    if model is not None and store is None:
        raise ConfigError("recording a device's model needs the workspace's store")
    pin = _pin(store, model) if model is not None and store is not None else None
    now = _now()
    with _locked(ws) as data:
        if name in data["devices"]:
            raise InventoryError(
                f"device {name!r} is already in the inventory (group "
                f"{data['devices'][name]['group']!r}); change it with `workbench inventory set`"
            )
        device = Device(
            name,
            group,
            pin,
            hold,
            now,
            now,
            (HistoryEntry(now, pin.ref if pin else None, note or "added"),),
        )
        data["devices"][name] = device.to_dict()
    return device


def set_model(
    ws: Workspace,
    store: Store,
    *,
    model: str,
    name: str | None = None,
    group: str | None = None,
    hold: bool | None = None,
    note: str = "",
) -> list[Device]:
    """Record that a device, or every device of a group, now runs ``model``.

    Args:
        ws: The workspace.
        store: Its store.
        model: Alias, ``vN`` or run id.
        name: One device ...
        group: ... or every device of this group.
        hold: Set (``True``) or clear (``False``) the hold; ``None`` leaves it.
        note: Why (kept in each device's history).

    Returns:
        The changed devices.

    Raises:
        InventoryError: Neither or both of ``name`` and ``group``, or no such device/group.
    """
    if (name is None) == (group is None):
        raise InventoryError("give a device name or --group, not both and not neither")
    pin = _pin(store, model)
    now = _now()
    changed = []
    with _locked(ws) as data:
        if name is not None:
            names = [_device(data, name)["name"]]
        else:
            names = sorted(n for n, d in data["devices"].items() if d["group"] == group)
            if not names:
                groups = sorted({d["group"] for d in data["devices"].values()}) or ["none yet"]
                raise InventoryError(f"no device in group {group!r}; groups: {', '.join(groups)}")
        for n in names:
            old = Device.from_dict(data["devices"][n])
            entry = HistoryEntry(now, pin.ref, note or "set")
            new = Device(
                old.name,
                old.group,
                pin,
                old.hold if hold is None else hold,
                old.added_at,
                now,
                (*old.history, entry),
            )
            data["devices"][n] = new.to_dict()
            changed.append(new)
    return changed


def remove_device(ws: Workspace, name: str) -> Device:
    """Remove a device (retired); returns its last record.

    Raises:
        InventoryError: No such device.
    """
    with _locked(ws) as data:
        device = Device.from_dict(_device(data, name))
        del data["devices"][name]
    return device


def list_devices(ws: Workspace) -> list[Device]:
    """Every device, by group then name."""
    data = _read(ws)
    devices = [Device.from_dict(d) for d in data["devices"].values()]
    return sorted(devices, key=lambda d: (d.group, d.name))


# -- status and plan --------------------------------------------------------------------------


def _champion(store: Store | None, alias: str) -> ModelPin | None:
    if store is None:
        return None
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
    ws: Workspace, store: Store | None, *, champion: str = "champion", wave_size: int | None = None
) -> InventoryView:
    """Every device judged against the champion, and the update plan.

    Args:
        ws: The workspace.
        store: Its store (finds the champion).
        champion: The alias devices should run.
        wave_size: At most this many devices per wave.
    """
    data = _read(ws)
    devices = sorted(
        (Device.from_dict(d) for d in data["devices"].values()), key=lambda d: (d.group, d.name)
    )
    target = _champion(store, champion)
    package = None if target is None else data.get("packages", {}).get(target.ref)
    plan = update_plan(devices, target, wave_size=wave_size, package=package)
    return InventoryView(target, tuple(judge(d, target) for d in devices), plan)


# -- edge export ------------------------------------------------------------------------------


def _onnx_io(model_bytes: bytes) -> dict[str, Any]:
    """Inputs, outputs and opset of an ONNX model, as on-device code needs them."""
    import onnx

    model = onnx.load_from_string(model_bytes)

    def describe(values: Any) -> list[dict[str, Any]]:
        out = []
        for v in values:
            t = v.type.tensor_type
            dims = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                for d in t.shape.dim
            ]
            out.append(
                {"name": v.name, "type": onnx.TensorProto.DataType.Name(t.elem_type), "shape": dims}
            )
        return out

    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    return {
        "inputs": describe(model.graph.input),
        "outputs": describe(model.graph.output),
        "opsets": opsets,
        "ir_version": model.ir_version,
    }


def _edge_check(
    model_bytes: bytes, manifest: Any, evidence: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """Run the exported file in onnxruntime on the bundle's evidence rows; compare."""
    if not evidence or not evidence.get("rows"):
        return None
    import numpy as np
    import pandas as pd

    from .serving import translated_errors
    from .serving._model import Batch, OnnxPredictor

    features = manifest.features
    rows = evidence["rows"][:_EVIDENCE_ROWS]
    frame = pd.DataFrame(rows, columns=[f["name"] for f in features])
    with translated_errors():
        predictor = OnnxPredictor(model_bytes, features, manifest.task)
    got = predictor.predict(Batch.from_frame(frame, features))
    expected = evidence["expected"]
    if manifest.task == "classification" and "probabilities" in expected:
        ref = np.asarray(expected["probabilities"][: len(rows)], dtype=float)
        diff = float(np.max(np.abs(np.asarray(got["probabilities"], dtype=float) - ref)))
        compared = "probabilities"
    else:
        ref = np.asarray(expected.get("values", [])[: len(rows)], dtype=float)
        diff = float(np.max(np.abs(np.asarray(got.get("values", ref), dtype=float) - ref)))
        compared = "values"
    return {
        "rows": len(rows),
        "compared": compared,
        "max_abs_diff": diff,
        "against": "the sklearn pipeline's offline predictions (bundle evidence)",
    }


def _readme(manifest: Mapping[str, Any]) -> str:
    inputs = manifest["onnx"]["inputs"]
    first = inputs[0]
    feed = (
        f"one {first['type'].lower()} matrix `{first['name']}` of shape [rows, "
        f"{len(manifest['features'])}], columns in the order of `features`"
        if len(inputs) == 1
        else f"{len(inputs)} inputs of shape [rows, 1], one per feature, in the order of `features`"
    )
    outputs = ", ".join(f"`{o['name']}` ({o['type'].lower()})" for o in manifest["onnx"]["outputs"])
    tested = manifest["runtime"]["onnxruntime"]
    return f"""# Edge package: model {manifest["model_version"]}

`model.onnx` runs in any ONNX runtime (tested with onnxruntime {tested}).
Before loading it, check its sha256 against `edge-manifest.json` (`model.sha256`).

- Input: {feed}. Missing values are allowed only where `allow_nan` is true.
- Outputs: {outputs}. {manifest["output"].get("meaning", "")}

    import onnxruntime as ort, numpy as np
    session = ort.InferenceSession("model.onnx")
    out = session.run(None, {{"{first["name"]}": np.asarray(rows, dtype=np.float32)}})
"""


def export_edge(
    ws: Workspace | None,
    store: Store | None,
    ref: str,
    *,
    out: str | Path,
    overwrite: bool = False,
) -> EdgePackage:
    """Write the ONNX model of ``ref`` with its manifest for on-device runtimes.

    The model comes from the run's verified bundle (see :func:`workbench.export.bundle_for_ref`;
    exported if there is none), so it is the very file the stub serves and the release check
    tested. The folder holds ``model.onnx``, ``edge-manifest.json`` and a ``README.md``; the
    export is recorded in the inventory so update plans point at it.

    Args:
        ws: The workspace (``None`` with a bundle folder: nothing is recorded).
        store: Its store.
        ref: Alias, ``vN``, run id, or a bundle folder.
        out: The folder to write (built beside it and swapped in, so a failed export leaves
            an existing package as it was).
        overwrite: Replace an existing non-empty ``out``, which must then be an edge package
            (its ``edge-manifest.json`` has format ``workbench-edge/1``).

    Raises:
        EdgeExportRefused: The model has no ONNX copy (the reason recorded in its manifest).
        ConfigError: ``out`` exists and ``overwrite`` is false, or it is not an edge package,
            or it is the workspace, the home folder, ``/`` or a folder holding one of them.
        ModelError: The bundle's model no longer matches its manifest.
    """
    from .bundle import Manifest, model_source
    from .export import bundle_for_ref
    from .serving import translated_errors
    from .serving._model import fetch_model_file, sha256_bytes

    out = Path(out)
    root = ws.root if ws is not None else None
    # Before resolving the model, which may export (and register) a bundle first.
    check_output_dir(out, kind=EDGE_KIND, overwrite=overwrite, workspace_root=root)
    source = bundle_for_ref(ws, store, ref)
    manifest = Manifest.read(source.bundle)
    files = manifest.model_files
    if EDGE_MODEL not in files:
        reason = (manifest.data.get("onnx") or {}).get("reason") or "no ONNX copy was made"
        raise EdgeExportRefused(
            f"model {manifest.model_version} cannot go to edge devices: its bundle has no ONNX "
            f"copy ({reason}). Serve it from a container bundle (`workbench export`), or train a "
            "model that converts to ONNX"
        )
    where = model_source(source.bundle) or str(source.bundle)
    with translated_errors():
        blob = fetch_model_file(
            where,
            EDGE_MODEL,
            sha256=files[EDGE_MODEL]["sha256"],
            max_bytes=files[EDGE_MODEL]["bytes"],
        )
    evidence = None
    with contextlib.suppress(OSError, ValueError):
        evidence = json.loads(manifest.evidence_path.read_text())
    data = _edge_manifest(manifest, blob, sha256_bytes(blob), evidence, source.bundle)
    with write_output_dir(out, kind=EDGE_KIND, overwrite=overwrite, workspace_root=root) as tmp:
        (tmp / EDGE_MODEL).write_bytes(blob)
        (tmp / EDGE_MANIFEST).write_text(json.dumps(data, indent=1), encoding="utf-8")
        (tmp / "README.md").write_text(_readme(data), encoding="utf-8")
    if ws is not None:
        with _locked(ws) as inv:
            inv.setdefault("packages", {})[manifest.model_version] = {
                "path": str(out.resolve()),
                "sha256": data["model"]["sha256"],
                "at": _now(),
            }
    return EdgePackage(out, data)


def _edge_manifest(
    manifest: Any, blob: bytes, sha: str, evidence: Mapping[str, Any] | None, bundle: Path
) -> dict[str, Any]:
    from importlib.metadata import version

    output = dict(manifest.data["output"])
    output["meaning"] = (
        "`probabilities`: one row per input row, columns in the order of `classes`; the "
        "predicted class is the column with the highest probability (ties: the first)"
        if manifest.task == "classification"
        else "`variable`: the predicted value per row"
    )
    output.pop("fields", None)
    return {
        "format": EDGE_FORMAT,
        "model_version": manifest.model_version,
        "run_id": manifest.data.get("run_id"),
        "task": manifest.task,
        "created_at": _now(),
        "source_bundle": str(bundle.resolve()),
        "dataset_fingerprint": manifest.data.get("dataset_fingerprint"),
        "model": {"file": EDGE_MODEL, "sha256": sha, "bytes": len(blob)},
        "features": [
            {
                k: f[k]
                for k in ("name", "dtype", "kind", "min", "max", "categories", "allow_nan")
                if k in f
            }
            for f in manifest.features
        ],
        "onnx": _onnx_io(blob),
        "output": output,
        "metrics": manifest.data.get("metrics", {}),
        "parity": {
            "export": manifest.data.get("parity"),
            "edge_file": _edge_check(blob, manifest, evidence),
        },
        "runtime": {"onnxruntime": version("onnxruntime"), "onnx": version("onnx")},
    }


def verify_edge(folder: str | Path) -> dict[str, Any]:
    """Check an edge package: its model file against the sha256 in its manifest.

    Returns:
        The manifest.

    Raises:
        ModelError: The manifest is missing or unreadable, or the model differs from its hash.
    """
    from .serving._model import sha256_file

    folder = Path(folder)
    try:
        data = json.loads((folder / EDGE_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(
            f"{folder} has no readable {EDGE_MANIFEST} ({e}); pass a folder written by "
            "`workbench inventory export-edge`"
        ) from e
    model = folder / data["model"]["file"]
    if not model.is_file():
        raise ModelError(f"{model} is missing; re-export the edge package")
    actual = sha256_file(model)
    if actual != data["model"]["sha256"]:
        raise ModelError(
            f"{model} has sha256 {actual} but {EDGE_MANIFEST} records {data['model']['sha256']}: "
            "the file was changed after export; do not ship it, re-export the package"
        )
    return data


# -- index and demo ---------------------------------------------------------------------------


def index_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Edge inventory" table of ``reports/index.html`` (nothing without devices).

    Provider string for :data:`workbench.reports.SECTION_PROVIDERS`:
    ``"workbench.inventory:index_sections"``.
    """
    from .reports import IndexSection

    view = inventory_view(ws, store)
    if not view.devices:
        return []
    wave_of = {m.device: w.number for w in view.plan.waves for m in w.moves}
    rows = tuple(
        (
            s.device.name,
            s.device.group,
            s.device.model.ref if s.device.model else "—",
            s.device.updated_at.replace("T", " ").replace("+00:00", " UTC"),
            s.status + (" (hold)" if s.device.hold else ""),
            f"wave {wave_of[s.device.name]}" if s.device.name in wave_of else "—",
        )
        for s in view.devices
    )
    c = view.counts()
    champion = view.champion.ref if view.champion else "none"
    return [
        IndexSection(
            "Edge inventory",
            columns=("device", "group", "model", "since", "status", "update"),
            rows=rows,
            note=f"champion {champion}: {c['current']} current, {c['outdated']} outdated, "
            f"{c['unassigned']} unassigned; waves go one group at a time, smallest first",
        )
    ]


DEMO_DEVICES = (
    ("pilot-01", "pilot"),
    ("pilot-02", "pilot"),
    ("store-01", "stores"),
    ("store-02", "stores"),
    ("store-03", "stores"),
)


def inventory_stage(ws: Workspace, store: Store, *, console: Any = None) -> InventoryView:
    """The demo's inventory stage: a few devices in two groups, one outdated, and the plan.

    Every device runs the champion except ``pilot-02``, which runs the other registered
    version (or nothing when there is none). Devices already in the inventory are left as
    they are, so the demo can run again on the same workspace.
    """
    from .registry import aliases, list_models

    champion = aliases(store).get("champion")
    if champion is None:
        _say(console, "  inventory: skipped, no champion yet")
        return inventory_view(ws, store)
    other = next((v.ref for v in list_models(store) if v.version != champion.version), None)
    known = {d.name for d in list_devices(ws)}
    for name, group in DEMO_DEVICES:
        if name in known:
            continue
        model = other if name == "pilot-02" else champion.ref
        add_device(ws, store, name, group=group, model=model, note="demo device")
    view = inventory_view(ws, store)
    c = view.counts()
    _say(
        console,
        f"  inventory: {len(view.devices)} devices, champion {champion.ref}: "
        f"{c['current']} current, {c['outdated']} outdated, {c['unassigned']} unassigned",
    )
    for line in view.plan.lines():
        _say(console, f"  {line}")
    return view


def _say(console: Any, text: str) -> None:
    if console is not None:
        console.print(text, highlight=False, markup=False)
