"""Edge inventory: devices and their history in the store, outdated detection against the
champion, the update plan in waves, concurrent changes, an older workspace's inventory.json
imported, a second process on a shared PostgreSQL store, the edge export and its hash check, the
CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from itertools import pairwise
from pathlib import Path
from typing import Any

import click
import numpy as np
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from test_compare import binary_case, make_run

from workbench import edge
from workbench import inventory as inv
from workbench.bundle import Manifest, export_bundle
from workbench.config import Workspace
from workbench.demo import inventory_stage
from workbench.exceptions import ConfigError, ModelError, RunNotFound, StoreError
from workbench.registry import promote, register_model
from workbench.reports import inventory_sections
from workbench.store import Store, open_workspace

RUNS = ("20260101-000000-aaaaaa", "20260101-000001-bbbbbb", "20260101-000002-cccccc")
LABELS = ["malignant", "benign"]


@pytest.fixture
def versions(workspace: Workspace, store: Store) -> list[str]:
    """Three registered versions v1, v2, v3; v2 is the champion."""
    y, _, strong = binary_case()
    for run_id in RUNS:
        make_run(workspace, store, run_id, y_true=y, y_score=strong)
        register_model(store, run_id)
    promote(store, RUNS[1], "champion", reason="test")
    return ["v1", "v2", "v3"]


@pytest.fixture(scope="module")
def cancer() -> Any:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def _bundle(cancer: Any, out: Path) -> Path:
    X_train, X_test, y_train, y_test = cancer
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    export_bundle(
        pipe,
        out=out,
        mode="image",
        X_ref=X_train,
        X_test=X_test,
        y_test=y_test,
        labels=LABELS,
        model_version="v7",
        run_id="run-7",
    )
    return out


# -- devices ------------------------------------------------------------------------------------


def test_devices_are_recorded_with_their_version_and_history(
    workspace: Workspace, store: Store, versions: list[str]
) -> None:
    d = inv.add_device(store, "kiosk-01", group="pilot", model="v1", note="installed", actor="ana")
    assert d.model.ref == "v1" and d.model.run_id == RUNS[0] and d.group == "pilot"
    assert d.added_at == d.updated_at and d.history[0].ref == "v1"
    assert d.history[0].actor == "ana" and d.history[0].from_ref is None
    inv.add_device(store, "kiosk-02")  # no model yet, default group
    [changed] = inv.set_model(store, name="kiosk-01", model="champion", note="wave 1", actor="bo")
    assert changed.model.ref == "v2" and [h.ref for h in changed.history] == ["v1", "v2"]
    assert changed.history[-1].note == "wave 1" and changed.added_at == d.added_at
    assert changed.history[-1].from_ref == "v1" and changed.history[-1].actor == "bo"
    assert changed.to_dict()["history"][-1] == {
        "at": changed.to_dict()["updated_at"],
        "ref": "v2",
        "note": "wave 1",
        "from": "v1",
        "by": "bo",
    }
    stored = {x.name: x for x in inv.list_devices(store)}
    assert stored["kiosk-01"] == changed and stored["kiosk-02"].model is None
    assert stored["kiosk-02"].group == inv.DEFAULT_GROUP
    assert stored["kiosk-02"].history[0].actor  # the OS user by default
    # Rows in the store, no file in the workspace.
    assert not (workspace.root / "inventory").exists()
    with pytest.raises(inv.InventoryError, match="already in the inventory \\(group 'pilot'\\)"):
        inv.add_device(store, "kiosk-01")
    with pytest.raises(inv.InventoryError, match="not usable"):
        inv.add_device(store, "bad name!")
    with pytest.raises(inv.InventoryError, match=r"no device 'kiosk-09'.*kiosk-01, kiosk-02"):
        inv.set_model(store, name="kiosk-09", model="v1")
    with pytest.raises(RunNotFound):
        inv.add_device(store, "kiosk-03", model="v9")
    assert inv.remove_device(store, "kiosk-02").name == "kiosk-02"
    assert [x.name for x in inv.list_devices(store)] == ["kiosk-01"]
    with pytest.raises(inv.InventoryError, match="no device 'kiosk-02'"):
        inv.remove_device(store, "kiosk-02")
    # The retired device's history stays in the store, its removal last.
    assert [(h.ref, h.note) for h in store.device_changes("kiosk-02")] == [
        (None, "added"),
        (None, "removed"),
    ]
    # Added again under the same name, a device starts a new history.
    again = inv.add_device(store, "kiosk-02", group="stores", model="v1")
    assert [h.ref for h in again.history] == ["v1"] and again.group == "stores"


def test_a_whole_group_is_set_at_once_and_holds_are_kept(
    workspace: Workspace, store: Store, versions: list[str]
) -> None:
    for name in ("a", "b", "c"):
        inv.add_device(store, name, group="stores", model="v1")
    inv.add_device(store, "d", group="pilot", model="v1")
    changed = inv.set_model(store, group="stores", model="v2", hold=True)
    assert [x.name for x in changed] == ["a", "b", "c"]
    assert all(x.model.ref == "v2" and x.hold for x in changed)
    assert inv.list_devices(store)[0].model.ref == "v1"  # "d" (pilot) untouched
    # Without --hold/--no-hold the hold stays as it was.
    assert all(x.hold for x in inv.set_model(store, group="stores", model="v1"))
    with pytest.raises(inv.InventoryError, match="no device in group 'nowhere'; groups: pilot"):
        inv.set_model(store, group="nowhere", model="v2")
    with pytest.raises(inv.InventoryError, match="not both"):
        inv.set_model(store, name="a", group="stores", model="v2")


def test_concurrent_changes_are_not_lost(
    workspace: Workspace, store: Store, versions: list[str]
) -> None:
    """Threads adding devices and moving a shared group at once (processes: test_store)."""
    inv.add_device(store, "shared", group="fleet", model="v1")
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(4):
                inv.add_device(store, f"dev-{worker}-{i}", group=f"g{worker % 2}")
                inv.set_model(store, name="shared", model=versions[(worker + i) % 3])
        except BaseException as e:  # surfaces in the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(inv.list_devices(store)) == 25
    history = store.get_device("shared").history
    assert len(history) == 1 + 6 * 4
    # Each change starts where the one before it ended: no move was made on a stale read.
    assert all(h.from_ref == prev.ref for prev, h in pairwise(history))


# -- outdated devices and the plan --------------------------------------------------------------


def test_outdated_devices_are_found_against_the_champion(
    workspace: Workspace, store: Store, versions: list[str]
) -> None:
    inv.add_device(store, "old", group="fleet", model="v1")
    inv.add_device(store, "current", group="fleet", model="v2")
    inv.add_device(store, "newer", group="pilot", model="v3")
    inv.add_device(store, "blank", group="fleet")
    inv.add_device(store, "canary", group="pilot", model="v3", hold=True)
    view = inv.inventory_view(store)
    assert view.champion.ref == "v2"
    status = {s.device.name: s for s in view.devices}
    assert status["old"].status == "outdated" and "1 version(s) behind" in status["old"].detail
    assert status["newer"].status == "outdated" and "rollback" in status["newer"].detail
    assert status["current"].status == "current" and status["blank"].status == "unassigned"
    assert status["canary"].status == "outdated" and status["canary"].device.hold
    assert view.counts() == {"current": 1, "outdated": 3, "unassigned": 1}
    moved = {m.device: (m.from_ref, m.to_ref) for m in view.plan.moves}
    assert moved == {"old": ("v1", "v2"), "newer": ("v3", "v2"), "blank": (None, "v2")}
    assert view.plan.held == ("canary",)
    promote(store, RUNS[2], "champion", force=True, reason="test")  # the champion moves on
    view = inv.inventory_view(store)
    assert {s.device.name for s in view.devices if s.status == "current"} == {"newer", "canary"}
    assert json.loads(json.dumps(view.to_dict()))["plan"]["target"]["ref"] == "v3"


def test_update_plan_goes_in_waves_by_group_smallest_first(
    workspace: Workspace, store: Store, versions: list[str]
) -> None:
    for i in range(5):
        inv.add_device(store, f"store-{i}", group="stores", model="v1")
    inv.add_device(store, "pilot-0", group="pilot", model="v1")
    inv.add_device(store, "pilot-1", group="pilot", model="v2")  # already current
    plan = inv.inventory_view(store).plan
    assert [(w.number, w.group, len(w.moves)) for w in plan.waves] == [
        (1, "pilot", 1),
        (2, "stores", 5),
    ]
    assert any("no edge package of v2" in n for n in plan.notes) and plan.package is None
    store.add_edge_package("v2", run_id=RUNS[1], path=workspace.root / "edge-v2", sha256="ab" * 32)
    plan = inv.inventory_view(store).plan
    assert plan.package["path"] == str(workspace.root / "edge-v2")
    assert plan.package["sha256"] == "ab" * 32 and set(plan.package) == {"path", "sha256", "at"}
    assert not any("no edge package" in n for n in plan.notes)
    small = inv.inventory_view(store, wave_size=2).plan
    assert [(w.group, [m.device for m in w.moves]) for w in small.waves] == [
        ("pilot", ["pilot-0"]),
        ("stores", ["store-0", "store-1"]),
        ("stores", ["store-2", "store-3"]),
        ("stores", ["store-4"]),
    ]
    assert "wave 2 [stores]: store-0 (v1), store-1 (v1)" in "\n".join(small.lines())
    with pytest.raises(inv.InventoryError, match="at least 1"):
        inv.update_plan([], None, wave_size=0)
    nothing = inv.update_plan(inv.list_devices(store), None)
    assert nothing.target is None and not nothing.waves


# -- an older workspace's file, a team's shared store ------------------------------------------


def _legacy_inventory(ws: Workspace) -> dict[str, Any]:
    """``inventory/inventory.json`` as the file-based inventory wrote it (captured from that code:
    kiosk-01 added on v1 then set to v2, kiosk-02 added on hold without a model, one package)."""

    def pin(version: int, run_id: str) -> dict[str, Any]:
        return {"version": version, "ref": f"v{version}", "run_id": run_id, "sha256": "d5" * 32}

    def device(name, group, model, hold, history):
        return {
            "name": name,
            "group": group,
            "model": model,
            "hold": hold,
            "added_at": history[0][0],
            "updated_at": history[-1][0],
            "history": [{"at": at, "ref": ref, "note": note} for at, ref, note in history],
        }

    return {
        "format": "workbench-inventory/1",
        "devices": {
            "kiosk-01": device(
                "kiosk-01",
                "pilot",
                pin(2, RUNS[1]),
                False,
                [
                    ("2026-01-01T10:00:00+00:00", "v1", "installed"),
                    ("2026-01-02T10:00:00+00:00", "v2", "wave 1"),
                ],
            ),
            "kiosk-02": device(
                "kiosk-02", "pilot", None, True, [("2026-01-01T11:00:00+00:00", None, "added")]
            ),
        },
        "packages": {
            "v2": {
                "path": str(ws.root / "edge" / "v2"),
                "sha256": "ab" * 32,
                "at": "2026-01-02T09:00:00+00:00",
            }
        },
    }


def test_an_older_workspace_inventory_file_is_imported_once_then_removed(
    workspace: Workspace,
) -> None:
    folder = workspace.root / "inventory"
    folder.mkdir()
    (folder / "inventory.json").write_text(json.dumps(_legacy_inventory(workspace), indent=1))
    (folder / ".lock").write_text("")
    _, store = open_workspace(workspace.root)
    assert not folder.exists()  # the file, its lock and the folder are gone
    devices = {d.name: d for d in store.list_devices()}
    assert set(devices) == {"kiosk-01", "kiosk-02"}
    k1 = devices["kiosk-01"]
    assert k1.model.ref == "v2" and k1.model.run_id == RUNS[1] and k1.group == "pilot"
    assert [(h.from_ref, h.ref, h.note) for h in k1.history] == [
        (None, "v1", "installed"),
        ("v1", "v2", "wave 1"),
    ]
    assert k1.to_dict()["added_at"] == "2026-01-01T10:00:00+00:00"
    assert k1.to_dict()["updated_at"] == "2026-01-02T10:00:00+00:00"
    assert devices["kiosk-02"].hold and devices["kiosk-02"].model is None
    package = store.edge_package("v2")
    assert package.path == str(workspace.root / "edge" / "v2") and package.sha256 == "ab" * 32
    # Idempotent: the same file put back changes nothing already in the store.
    folder.mkdir()
    again = _legacy_inventory(workspace)
    again["devices"]["kiosk-01"]["group"] = "elsewhere"
    (folder / "inventory.json").write_text(json.dumps(again))
    _, store = open_workspace(workspace.root)
    assert store.get_device("kiosk-01") == k1 and len(store.list_edge_packages()) == 1
    assert not folder.exists()


def test_an_unreadable_inventory_file_is_kept_and_named(workspace: Workspace) -> None:
    folder = workspace.root / "inventory"
    folder.mkdir()
    (folder / "inventory.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"inventory\.json, cannot be imported.*move it out"):
        open_workspace(workspace.root)
    assert (folder / "inventory.json").read_text() == "{not json"  # nothing lost


@pytest.mark.postgres
def test_a_second_process_in_another_folder_lists_the_same_devices(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pg import fresh_database

    url = fresh_database(postgres_url, "wb_inventory_shared")
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    _, store = open_workspace(tmp_path / "alice", create=True)
    inv.add_device(store, "kiosk-01", group="pilot", note="shared")
    inv.add_device(store, "kiosk-02", group="stores", hold=True)
    open_workspace(tmp_path / "bob", create=True)  # another member's folder, the same database
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "bob"), "WORKBENCH_DB_URL": url}
    shown = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "inventory", "show", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)
    assert [d["name"] for d in listed["devices"]] == ["kiosk-01", "kiosk-02"]
    assert listed["devices"][0]["history"][0]["note"] == "shared" and listed["devices"][1]["hold"]
    assert not (tmp_path / "alice" / "inventory").exists()


# -- edge export --------------------------------------------------------------------------------


def test_edge_export_writes_the_onnx_model_with_its_manifest(
    workspace: Workspace, store: Store, cancer: Any, tmp_path: Path
) -> None:
    bundle = _bundle(cancer, tmp_path / "bundle")
    out = tmp_path / "edge"
    package = edge.export_edge(workspace, store, str(bundle), out=out)
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "edge-manifest.json",
        "model.onnx",
    ]
    m = json.loads((out / "edge-manifest.json").read_text())
    blob = (out / "model.onnx").read_bytes()
    bundle_files = Manifest.read(bundle).model_files
    assert m["model"]["sha256"] == hashlib.sha256(blob).hexdigest() == package.sha256
    assert package.sha256 == bundle_files["model.onnx"]["sha256"]  # the very file the stub serves
    assert m["format"] == edge.EDGE_FORMAT and m["model_version"] == "v7" and m["run_id"] == "run-7"
    X_train, X_test, _, _ = cancer
    assert [f["name"] for f in m["features"]] == list(X_train.columns)
    assert {f["dtype"] for f in m["features"]} == {"float64"} and "min" in m["features"][0]
    assert m["onnx"]["inputs"] == [{"name": "X", "type": "FLOAT", "shape": [None, 30]}]
    assert "probabilities" in [o["name"] for o in m["onnx"]["outputs"]]
    assert m["output"]["classes"] == LABELS and m["output"]["class_values"] == [0, 1]
    assert m["parity"]["edge_file"]["max_abs_diff"] < 1e-4
    # An on-device runtime gets the pipeline's probabilities from the file alone.
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    proba = session.run(None, {"X": X_test.to_numpy(np.float32)})[names.index("probabilities")]
    assert proba.shape == (len(X_test), 2)
    assert edge.verify_edge(out)["model_version"] == "v7"
    recorded = store.edge_package("v7")  # the update plan of v7 points at it
    assert recorded.sha256 == package.sha256 and recorded.path == str(out.resolve())
    assert recorded.run_id == "run-7"
    with pytest.raises(ConfigError, match="--overwrite"):
        edge.export_edge(workspace, store, str(bundle), out=out)
    assert edge.export_edge(workspace, store, str(bundle), out=out, overwrite=True).sha256
    assert len(store.list_edge_packages()) == 2


def test_a_changed_edge_model_fails_verification(
    workspace: Workspace, cancer: Any, tmp_path: Path
) -> None:
    out = tmp_path / "edge"
    edge.export_edge(None, None, str(_bundle(cancer, tmp_path / "bundle")), out=out)
    data = bytearray((out / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (out / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="changed after export; do not ship it"):
        edge.verify_edge(out)
    with pytest.raises(ModelError, match=r"no readable edge-manifest\.json"):
        edge.verify_edge(tmp_path)


def test_a_model_without_onnx_is_refused_with_the_manifest_reason(
    cancer: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workbench.bundle

    reason = "skl2onnx cannot convert Pipeline(StandardScaler, LogisticRegression): test reason"
    monkeypatch.setattr(workbench.bundle, "to_onnx", lambda pipe, X: (None, reason))
    bundle = _bundle(cancer, tmp_path / "bundle")
    assert "model.onnx" not in Manifest.read(bundle).model_files
    with pytest.raises(edge.EdgeExportRefused, match="no ONNX copy \\(skl2onnx cannot convert"):
        edge.export_edge(None, None, str(bundle), out=tmp_path / "edge")
    assert not (tmp_path / "edge").exists()


# -- index, demo stage, CLI ---------------------------------------------------------------------


def test_index_section_and_demo_stage(
    workspace: Workspace, store: Store, versions: list[str]
) -> None:
    assert inventory_sections(workspace, store) == []
    view = inventory_stage(workspace, store)
    assert len(view.devices) == 5 and {s.device.group for s in view.devices} == {"pilot", "stores"}
    assert [s.device.name for s in view.devices if s.status == "outdated"] == ["pilot-02"]
    assert [(w.group, [m.device for m in w.moves]) for w in view.plan.waves] == [
        ("pilot", ["pilot-02"])
    ]
    assert inventory_stage(workspace, store).devices == view.devices  # idempotent
    [section] = inventory_sections(workspace, store)
    assert section.title == "Edge inventory" and len(section.rows) == 5
    pilot = next(r for r in section.rows if r[0] == "pilot-02")
    assert pilot[4] == "outdated" and pilot[5] == "wave 1"


def test_cli_records_devices_shows_the_plan_and_exports(
    workspace: Workspace,
    store: Store,
    versions: list[str],
    cancer: Any,
    tmp_path: Path,
    cli: click.Group,
) -> None:
    w = ["-w", str(workspace.root)]
    run = CliRunner().invoke
    assert run(cli, ["inventory", "add-device", "p1", "-g", "pilot", "-m", "v1", *w]).exit_code == 0
    assert (
        run(cli, ["inventory", "add-device", "s1", "-g", "stores", "-m", "v2", *w]).exit_code == 0
    )
    result = run(cli, ["inventory", "show", "--json", *w])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["counts"] == {"current": 1, "outdated": 1, "unassigned": 0}
    assert shown["plan"]["waves"][0]["moves"] == [
        {"device": "p1", "group": "pilot", "from": "v1", "to": "v2"}
    ]
    text = run(cli, ["inventory", "show", *w]).output
    assert "champion: v2" in text and "wave 1 [pilot]: p1 (v1)" in text
    assert run(cli, ["inventory", "set", "p1", "-m", "champion", *w]).exit_code == 0
    assert "nothing to do" in run(cli, ["inventory", "show", *w]).output
    dup = run(cli, ["inventory", "add-device", "p1", *w])
    assert dup.exit_code == 2 and "already in the inventory" in dup.output
    assert "Traceback" not in dup.output
    bundle = _bundle(cancer, tmp_path / "bundle")
    out = tmp_path / "edge"
    exported = run(cli, ["inventory", "export-edge", str(bundle), "--out", str(out), *w])
    assert exported.exit_code == 0, exported.output
    assert "edge package of v7" in exported.output
    assert "ok:" in run(cli, ["inventory", "verify-edge", str(out)]).output
    (out / "model.onnx").write_bytes(b"tampered")
    bad = run(cli, ["inventory", "verify-edge", str(out)])
    assert bad.exit_code == 2 and "do not ship it" in bad.output
