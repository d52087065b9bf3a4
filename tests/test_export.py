"""workbench export: a real run's model into bundles of both modes, and what export refuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click
import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench.bundle import MODEL_STORE, Manifest, verify_bundle
from workbench.config import Workspace, resolve_workspace
from workbench.datasets import Dataset, Split
from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.export import default_out, export_run
from workbench.modelio import save_model
from workbench.serving import background_server
from workbench.store import RunStatus, Store, open_workspace

# One real short run per test session, shared with test_release.py (a run takes ~20 s).
_SHARED: dict[str, tuple[Workspace, str]] = {}


def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Store, str]:
    """A workspace holding one succeeded breast_cancer/logreg run: (workspace, store, run id)."""
    from workbench.runner import Runner, RunRequest

    if "run" not in _SHARED:
        ws = resolve_workspace(tmp_path_factory.mktemp("release-ws"))
        ws.create()
        request = RunRequest(
            dataset="breast_cancer",
            model="logreg",
            trials=2,
            params={"n_boot": 100},
            stages=("search", "evaluate"),
        )
        outcome = Runner(ws, open_workspace(ws.root)[1]).run(request)
        assert outcome.status is RunStatus.SUCCEEDED, outcome.error
        _SHARED["run"] = (ws, outcome.run_id)
    ws, run_id = _SHARED["run"]
    return ws, open_workspace(ws.root)[1], run_id


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Store, str]:
    return trained_run(tmp_path_factory)


def _split(ws: Workspace, run_id: str) -> Split:
    return Split.from_dict(json.loads((ws.run_dir(run_id) / "split.json").read_text()))


def test_cli_exports_an_image_bundle_of_the_run(
    run: tuple[Workspace, Store, str], cli: click.Group
) -> None:
    ws, store, run_id = run
    args = ["export", run_id[:15], "--mode", "image", "-w", str(ws.root)]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    bundle = default_out(ws, run_id, "image")
    assert out["bundle"] == str(bundle)
    manifest = Manifest.read(bundle)
    recorded = store.get_run(run_id)
    art = recorded.artifact("model")
    assert manifest.data["run_id"] == run_id and manifest.model_version == "v1"
    assert manifest.data["dataset_fingerprint"] == recorded.dataset_fingerprint
    assert manifest.data["metrics"]["roc_auc"] == recorded.metric("roc_auc", "evaluate").value
    assert manifest.model_files["model.skops"]["sha256"] == art.sha256  # the run's exact bytes
    assert (bundle / "model.skops").is_file() and not (bundle / MODEL_STORE).exists()
    evidence = json.loads(manifest.evidence_path.read_text())
    assert evidence["n_test_rows"] == len(_split(ws, run_id).test) == len(evidence["y_true"])
    verify_bundle(bundle)
    # An existing bundle is replaced only when asked.
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert "Traceback" not in again.output
    replaced = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert replaced.exit_code == 0 and "serve it:  workbench serve" in replaced.output


def test_load_bundle_serves_the_run_model_and_refuses_another(
    run: tuple[Workspace, Store, str], tmp_path: Path
) -> None:
    ws, store, run_id = run
    manifest = export_run(ws, store, "v1", mode="load", out=tmp_path / "load")
    bundle, model_store = manifest.bundle_dir, manifest.bundle_dir / MODEL_STORE
    assert manifest.mode == "load" and not (bundle / "model.skops").exists()
    assert sorted(p.name for p in model_store.iterdir()) == sorted(manifest.model_files)
    evidence = json.loads(manifest.evidence_path.read_text())
    with background_server(bundle, model_uri=str(model_store)) as url:
        answer = httpx.post(url + "/predict", json={"rows": evidence["rows"][:5]}).json()
    assert answer["labels"] == evidence["expected"]["labels"][:5]
    assert answer["model_version"] == "v1"
    # Without MODEL_URI the image holds no model: the stub says where to point it.
    with pytest.raises(ModelError, match="MODEL_URI"), background_server(bundle):
        pass
    # A different, perfectly valid model in the store is refused: its hash differs.
    other = tmp_path / "other-store"
    shutil.copytree(model_store, other)
    ds, split = _data(ws, store, run_id)
    rows = split.train[:200]
    impostor = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=500))
    save_model(impostor.fit(ds.X.iloc[rows], ds.y.iloc[rows]), other / "model.skops")
    with (
        pytest.raises(ModelError, match=r"sha256 .* but the manifest records"),
        background_server(bundle, model_uri=str(other)),
    ):
        pass


def _data(ws: Workspace, store: Store, run_id: str) -> tuple[Dataset, Split]:
    from workbench.export import run_data

    return run_data(ws, store.get_run(run_id))


def test_export_refuses_changed_data_and_a_modified_model(
    run: tuple[Workspace, Store, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workbench.datasets as datasets

    ws, store, run_id = run
    real = datasets.load_dataset

    def drifted(name: str, **kw: Any) -> Dataset:
        ds = real(name, **kw)
        X = ds.X.copy()
        X.iloc[0, 0] += 1.0
        return Dataset(ds.name, ds.source, X, ds.y, ds.target, ds.task, ds.labels)

    with monkeypatch.context() as m:
        m.setattr(datasets, "load_dataset", drifted)
        with pytest.raises(DatasetError, match="changed since run"):
            export_run(ws, store, run_id, mode="image", out=tmp_path / "drift")
    assert not (tmp_path / "drift").exists()

    model = Path(store.get_run(run_id).artifact("model").path)
    original = model.read_bytes()
    try:
        model.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
        with pytest.raises(ModelError, match=r"changed after it was saved|no longer matches"):
            export_run(ws, store, run_id, mode="image", out=tmp_path / "tampered")
    finally:
        model.write_bytes(original)
    assert not (tmp_path / "tampered").exists()


def test_export_refuses_bad_references_and_options(
    run: tuple[Workspace, Store, str], cli: click.Group, tmp_path: Path
) -> None:
    ws, store, run_id = run
    result = CliRunner().invoke(cli, ["export", "nope", "-w", str(ws.root)])
    assert result.exit_code == 2
    assert result.output.startswith("error: no run, version or alias 'nope'")
    result = CliRunner().invoke(cli, ["export", run_id, "--mode", "edge", "-w", str(ws.root)])
    assert result.exit_code == 2 and "'image', 'load'" in result.output
    with pytest.raises(ConfigError, match="mode 'edge' is not one of image, load"):
        export_run(ws, store, run_id, mode="edge")  # type: ignore[arg-type]
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        export_run(ws, store, run_id, mode="image", out=afile)


def test_evidence_rows_are_the_run_test_split(run: tuple[Workspace, Store, str]) -> None:
    ws, store, run_id = run
    bundle = default_out(ws, run_id, "image")
    manifest = (
        Manifest.read(bundle) if bundle.exists() else export_run(ws, store, run_id, mode="image")
    )
    evidence = json.loads(manifest.evidence_path.read_text())
    ds, split = _data(ws, store, run_id)
    expected = ds.X.iloc[split.test].to_numpy().tolist()
    assert evidence["rows"] == expected
    assert evidence["y_true"] == ds.y.iloc[split.test].tolist()
    # The signature covers every row the model was fitted on (train + valid), not only train.
    fitted = ds.X.iloc[np.concatenate([split.train, split.valid])]
    radius = next(f for f in manifest.features if f["name"] == "mean radius")
    assert radius["min"] == fitted["mean radius"].min()
    assert radius["max"] == fitted["mean radius"].max()
