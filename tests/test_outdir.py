"""Writing into a folder the user named (``export --out``, ``inventory export-edge --out``):
the workspace, its ancestors, the home folder and ``/`` are never replaced; ``--overwrite``
replaces only a folder of the kind being written; a failed export leaves the old one intact."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from sklearn.model_selection import train_test_split
from test_abtest import _fit, _real_run

from workbench._files import FolderKind, check_output_dir, replace_dir, write_output_dir
from workbench.bundle import BUNDLE_KIND, Manifest, export_bundle, verify_bundle
from workbench.cli import cli
from workbench.config import Workspace, resolve_workspace
from workbench.datasets import Dataset, load_dataset
from workbench.edge import EDGE_KIND
from workbench.exceptions import ConfigError
from workbench.registry import version_of_run
from workbench.store import open_workspace

RUN_ID = "20260101-000000-aaaaaa"


@pytest.fixture(scope="module")
def data() -> tuple[Dataset, tuple[np.ndarray, np.ndarray], Any]:
    """breast_cancer, (train rows, test rows) and a logistic regression fitted on train."""
    cancer = load_dataset("breast_cancer")
    idx = np.arange(len(cancer.y))
    train, test = train_test_split(idx, test_size=0.3, random_state=0, stratify=cancer.y)
    rows = (np.sort(train), np.sort(test))
    return cancer, rows, _fit(cancer, rows[0], shuffled=False)


@pytest.fixture
def ws(tmp_path: Path, data: Any) -> Workspace:
    """A workspace of its own (at ``tmp_path/parent/ws``) holding one succeeded run with a
    model, a split and evaluate metrics: enough for ``workbench export``."""
    cancer, rows, pipe = data
    workspace = resolve_workspace(tmp_path / "parent" / "ws")
    workspace.create()
    _real_run(workspace, open_workspace(workspace.root)[1], RUN_ID, pipe, cancer, rows)
    (workspace.reports_dir / "index.html").write_text("<html>index</html>")
    return workspace


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def _export(ws: Workspace, *args: str) -> Result:
    return _invoke("export", RUN_ID, "-w", str(ws.root), *args)


def _hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> hash); SQLite's shared-memory
    index (``-shm``), which a mere read changes, is listed by name only."""
    return {
        p.relative_to(folder).as_posix(): (
            "" if p.name.endswith("-shm") else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _refused(result: Result, *phrases: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: "), result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.output, result.output


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


# -- what is never replaced -----------------------------------------------------------------------


def test_export_onto_the_workspace_is_refused_and_nothing_is_deleted(ws: Workspace) -> None:
    before = _hashes(ws.root)
    assert {"workbench.db", "reports/index.html", f"runs/{RUN_ID}/model.skops"} <= set(before)
    _refused(_export(ws, "--out", str(ws.root), "--overwrite"), str(ws.root), "the workspace")
    assert _hashes(ws.root) == before
    # Through a symlink too: the path is resolved before it is judged.
    link = ws.root.parent / "link-to-ws"
    link.symlink_to(ws.root, target_is_directory=True)
    _refused(_export(ws, "--out", str(link), "--overwrite"), "the workspace")
    assert _hashes(ws.root) == before
    # Refused before registering: no version was made for the refused export.
    assert version_of_run(open_workspace(ws.root)[1], RUN_ID) is None


def test_export_onto_an_ancestor_of_the_workspace_is_refused(ws: Workspace) -> None:
    parent = ws.root.parent
    (parent / "notes.txt").write_text("keep me")
    before = _hashes(parent)
    _refused(_export(ws, "--out", str(parent), "--overwrite"), str(parent), "holds the workspace")
    assert _hashes(parent) == before


def test_export_onto_root_is_refused(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    real_rmtree = shutil.rmtree

    def guarded_rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        # A safety net: should the check ever regress, this test must not wipe the machine.
        assert os.path.realpath(path) != "/", "rmtree('/') attempted"
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", guarded_rmtree)
    _refused(_export(ws, "--out", "/", "--overwrite"), "into /:", "file system root")
    with pytest.raises(ConfigError, match="file system root"):
        check_output_dir("/", kind=BUNDLE_KIND, overwrite=True)


def test_export_onto_the_home_folder_is_refused(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("export KEEP=1\n")
    monkeypatch.setenv("HOME", str(home))
    _refused(_export(ws, "--out", str(home), "--overwrite"), str(home), "home folder")
    # And without any workspace (the library function on its own).
    empty_home = tmp_path / "empty-home"
    empty_home.mkdir()
    monkeypatch.setenv("HOME", str(empty_home))
    with pytest.raises(ConfigError, match="home folder"):
        check_output_dir(empty_home, kind=BUNDLE_KIND, overwrite=False)
    monkeypatch.setenv("HOME", str(home))
    assert (home / ".bashrc").read_text() == "export KEEP=1\n"
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]


# -- what --overwrite may replace ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"notes.txt": "mine", "sub/data.csv": "a,b\n1,2\n"}, "has no manifest.json"),
        ({"manifest.json": "not json {"}, "not readable JSON"),
        ({"manifest.json": json.dumps({"format": "workbench-edge/1"})}, "format 'workbench-edge"),
        ({"manifest.json": json.dumps(["workbench-bundle/1"])}, "format None"),
    ],
)
def test_overwrite_refuses_a_folder_that_is_not_a_bundle(
    ws: Workspace, tmp_path: Path, files: dict[str, str], why: str
) -> None:
    folder = tmp_path / "mine"
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    before = _hashes(folder)
    _refused(_export(ws, "--out", str(folder), "--overwrite"), str(folder), "not a bundle", why)
    assert _hashes(folder) == before
    assert _leftovers(tmp_path) == []


def test_a_file_or_an_unwritable_place_is_refused_cleanly(ws: Workspace, tmp_path: Path) -> None:
    afile = tmp_path / "a-file"
    afile.write_text("x")
    result = _export(ws, "--out", str(afile), "--overwrite")  # click refuses it already
    assert result.exit_code == 2 and "is a file" in result.output
    assert afile.read_text() == "x"
    _refused(_export(ws, "--out", str(afile / "sub")), "is not a folder")
    _refused(_export(ws, "--out", "/proc/workbench-bundle"), "cannot create the bundle folder")


def test_overwriting_a_bundle_replaces_it_and_it_verifies(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    assert _export(ws, "--out", str(out), "--mode", "load").exit_code == 0
    assert (out / "model-store").is_dir()
    _refused(_export(ws, "--out", str(out)), "exists and is not empty", "--overwrite")
    result = _export(ws, "--out", str(out), "--mode", "image", "--overwrite")
    assert result.exit_code == 0, result.output
    assert Manifest.read(out).mode == "image" and not (out / "model-store").exists()
    assert "model.skops" in verify_bundle(out)
    assert _leftovers(tmp_path) == []


# -- a failed export keeps the old bundle --------------------------------------------------------


def _library_export(data: Any, out: Path, **kw: Any) -> Manifest:
    cancer, (train, test), pipe = data
    return export_bundle(
        pipe,
        out=out,
        mode="image",
        X_ref=cancer.X.iloc[train],
        X_test=cancer.X.iloc[test],
        y_test=cancer.y.iloc[test].to_numpy(),
        **kw,
    )


def test_an_export_failing_midway_leaves_the_old_bundle_intact(
    data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workbench.bundle

    out = tmp_path / "bundle"
    _library_export(data, out, model_version="old")
    before = _hashes(out)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full while writing the profile")

    monkeypatch.setattr(workbench.bundle, "_write_profile", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _library_export(data, out, model_version="new", overwrite=True)
    assert _hashes(out) == before and _leftovers(tmp_path) == []
    verify_bundle(out)


def test_an_export_failing_at_the_swap_leaves_the_old_bundle_intact(
    data: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bundle"
    _library_export(data, out, model_version="old")
    before = _hashes(out)
    real_replace = os.replace

    def failing_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if ".tmp-" in Path(src).name:  # moving the new bundle into place fails
            raise OSError(28, "No space left on device")
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(ConfigError, match="left as it was"):
        _library_export(data, out, model_version="new", overwrite=True)
    assert _hashes(out) == before and _leftovers(tmp_path) == []
    assert Manifest.read(out).model_version == "old"


def test_replace_dir_swaps_a_folder_in_and_puts_the_old_one_back_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = FolderKind("thing", "thing.json", "thing/1")
    out = tmp_path / "out"
    with write_output_dir(out, kind=kind, overwrite=False) as tmp:
        (tmp / "thing.json").write_text('{"format": "thing/1", "n": 1}')
    with write_output_dir(out, kind=kind, overwrite=True) as tmp:
        (tmp / "thing.json").write_text('{"format": "thing/1", "n": 2}')
    assert json.loads((out / "thing.json").read_text())["n"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    new = tmp_path / ".new"
    new.mkdir()
    (new / "x").write_text("x")
    monkeypatch.setattr(os, "replace", _fail_second(os.replace))
    with pytest.raises(OSError, match="second rename"):
        replace_dir(new, out)
    assert json.loads((out / "thing.json").read_text())["n"] == 2 and (new / "x").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".new", "out"]


def _fail_second(real: Any) -> Any:
    calls = []

    def replace(src: Any, dst: Any) -> None:
        calls.append(src)
        if len(calls) == 2:
            raise OSError("second rename")
        real(src, dst)

    return replace


# -- inventory export-edge -----------------------------------------------------------------------


def test_edge_export_refuses_the_workspace_and_foreign_folders(
    ws: Workspace, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    assert _export(ws, "--out", str(bundle)).exit_code == 0

    def edge(out: Path, *args: str) -> Result:
        return _invoke("inventory", "export-edge", str(bundle), "--out", str(out), *args)

    before = _hashes(ws.root)
    _refused(edge(ws.root, "--overwrite", "-w", str(ws.root)), "the workspace")
    _refused(edge(ws.root.parent, "--overwrite", "-w", str(ws.root)), "holds the workspace")
    assert _hashes(ws.root) == before
    # The bundle itself is a bundle, not an edge package: not replaced.
    bundle_before = _hashes(bundle)
    _refused(edge(bundle, "--overwrite", "-w", str(ws.root)), "not an edge package")
    assert _hashes(bundle) == bundle_before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    _refused(edge(mine, "--overwrite", "-w", str(ws.root)), "no edge-manifest.json")
    assert (mine / "notes.txt").read_text() == "mine"
    _refused(edge(mine / "notes.txt", "--overwrite", "-w", str(ws.root)), "is a file")
    assert (mine / "notes.txt").read_text() == "mine"
    # A real edge package is replaced.
    package = tmp_path / "edge"
    assert edge(package, "-w", str(ws.root)).exit_code == 0
    result = edge(package, "--overwrite", "-w", str(ws.root))
    assert result.exit_code == 0, result.output
    assert json.loads((package / "edge-manifest.json").read_text())["format"] == EDGE_KIND.format
    assert _leftovers(tmp_path) == []
