"""Export in both modes, manifest and hashes, tamper refusal, a bundle running on its own."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from workbench.bundle import Manifest, export_bundle, verify_bundle
from workbench.exceptions import ConfigError, ModelError
from workbench.modelio import save_model
from workbench.serving import create_app

LABELS = ["malignant", "benign"]


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def logreg(cancer: Any) -> Any:
    X_train, _, y_train, _ = cancer
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)


def export(pipe: Any, data: Any, out: Path, mode: str, **kw: Any) -> Manifest:
    X_train, X_test, _, y_test = data
    return export_bundle(
        pipe,
        out=out,
        mode=mode,  # type: ignore[arg-type]
        X_ref=X_train,
        X_test=X_test,
        y_test=y_test,
        labels=LABELS,
        metrics={"roc_auc": 0.99},
        dataset_fingerprint="f" * 64,
        run_id="run-1",
        **kw,
    )


@pytest.fixture(scope="module")
def image_bundle(logreg: Any, cancer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("image") / "bundle"
    export(logreg, cancer, out, "image", model_version="v1")
    return out


@pytest.fixture(scope="module")
def load_bundle(logreg: Any, cancer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("load") / "bundle"
    export(logreg, cancer, out, "load", model_version="v1")
    return out


def test_image_bundle_holds_everything_the_manifest_lists(image_bundle: Path) -> None:
    m = Manifest.read(image_bundle)
    names = {p.relative_to(image_bundle).as_posix() for p in image_bundle.rglob("*") if p.is_file()}
    assert {"manifest.json", "model.skops", "model.onnx", "serve.py", "requirements.txt"} <= names
    assert {"Dockerfile", "wbstub/app.py", "evidence/test_split.json"} <= names
    assert set(m.files) == names - {"manifest.json"}
    assert m.mode == "image" and m.task == "classification" and m.backend == "onnx"
    assert m.model_version == "v1"
    data = m.data
    assert data["run_id"] == "run-1" and data["metrics"] == {"roc_auc": 0.99}
    assert data["dataset_fingerprint"] == "f" * 64
    assert data["packages"]["scikit-learn"] and data["packages"]["onnxruntime"]
    assert data["parity"]["ok"] and data["parity"]["max_abs_diff"] < 1e-5
    assert data["output"]["classes"] == LABELS and data["output"]["class_values"] == [0, 1]
    first = m.features[0]
    assert first["name"] == "mean radius" and first["kind"] == "number"
    assert first["min"] < first["max"] and first["allow_nan"] is False
    assert verify_bundle(image_bundle)  # every listed file matches


def test_requirements_are_exact_pins_of_what_the_stub_imports(image_bundle: Path) -> None:
    lines = [
        ln for ln in (image_bundle / "requirements.txt").read_text().splitlines() if ln[:1] != "#"
    ]
    pins = dict(ln.split(" ;")[0].split("==") for ln in lines)
    assert {"fastapi", "uvicorn", "orjson", "onnxruntime", "skops", "scikit-learn"} <= set(pins)
    assert "workbench" not in pins and "skl2onnx" not in pins and "optuna" not in pins
    from importlib.metadata import version

    assert all(pins[name] == version(name) for name in pins)


def test_stub_code_in_the_bundle_imports_nothing_from_the_workbench(image_bundle: Path) -> None:
    for path in (image_bundle / "wbstub").glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+workbench", path.read_text(), re.M), path


def test_dockerfiles_differ_by_mode(image_bundle: Path, load_bundle: Path) -> None:
    image = (image_bundle / "Dockerfile").read_text()
    load = (load_bundle / "Dockerfile").read_text()
    assert "COPY model.skops model.onnx ./" in image
    assert "model.skops" not in load and "ENV MODEL_URI=" in load
    assert "model-store/" in (load_bundle / ".dockerignore").read_text()


def test_load_bundle_keeps_the_model_outside(load_bundle: Path) -> None:
    assert not (load_bundle / "model.skops").exists()
    assert (load_bundle / "model-store" / "model.skops").is_file()
    m = Manifest.read(load_bundle)
    assert set(m.model_files) == {"model.skops", "model.onnx"}
    assert not any(name.startswith("model") for name in m.files)
    checked = verify_bundle(load_bundle)
    assert any(c.endswith("model-store/model.onnx") for c in checked)


def test_load_bundle_without_model_uri_refuses_to_start(
    load_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_URI", raising=False)
    with pytest.raises(ModelError, match=r"load-mode bundle.*MODEL_URI"):
        create_app(load_bundle)


@pytest.mark.parametrize("uri_form", ["path", "file-url", "env"])
def test_load_bundle_fetches_and_serves(
    uri_form: str, load_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = load_bundle / "model-store"
    uri = {"path": str(store), "file-url": store.as_uri(), "env": None}[uri_form]
    if uri_form == "env":
        monkeypatch.setenv("MODEL_URI", str(store))
    app = create_app(load_bundle, model_uri=uri)
    assert app.state.stub.predictor.backend == "onnx"


def test_load_bundle_fetches_its_model_over_http(load_bundle: Path) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(load_bundle / "model-store"))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            assert create_app(load_bundle, model_uri=url).state.stub.predictor.backend == "onnx"
            with pytest.raises(ModelError, match=r"cannot be read.*MODEL_URI"):
                create_app(load_bundle, model_uri=url + "/nowhere")
        finally:
            server.shutdown()


@pytest.mark.parametrize("victim", ["model.onnx", "model.skops"])
def test_load_bundle_refuses_a_tampered_model(
    victim: str, logreg: Any, cancer: Any, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    export(logreg, cancer, out, "load")
    path = out / "model-store" / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    # Every model file is checked, not only the one served.
    with pytest.raises(ModelError, match=rf"{victim} has sha256 .* manifest records"):
        create_app(out, model_uri=str(out / "model-store"))
    with pytest.raises(ModelError, match=rf"{victim} has sha256"):
        verify_bundle(out)


def test_missing_model_file_refuses_to_start(logreg: Any, cancer: Any, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    export(logreg, cancer, out, "image")
    (out / "model.onnx").unlink()
    with pytest.raises(ModelError, match=r"model\.onnx cannot be read"):
        create_app(out)


def test_verify_bundle_reports_changed_and_stray_files(
    logreg: Any, cancer: Any, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    export(logreg, cancer, out, "image")
    (out / "wbstub" / "app.py").write_text("# changed\n", encoding="utf-8")
    (out / "numpy.py").write_text("raise SystemExit\n", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        verify_bundle(out)
    assert "wbstub/app.py differs" in str(err.value)
    assert "numpy.py is not listed" in str(err.value)


def test_export_from_a_model_file_checks_its_hash(logreg: Any, cancer: Any, tmp_path: Path) -> None:
    sha = save_model(logreg, tmp_path / "model.skops")
    m = export(logreg, cancer, tmp_path / "ok", "image")
    from_file = export(
        str(tmp_path / "model.skops"), cancer, tmp_path / "b", "image", model_sha256=sha
    )
    assert from_file.model_files["model.skops"]["sha256"] == sha
    assert m.backend == from_file.backend == "onnx"
    with pytest.raises(ModelError, match="expected"):
        export(tmp_path / "model.skops", cancer, tmp_path / "c", "image", model_sha256="0" * 64)


def test_unconvertible_pipeline_is_served_from_skops_and_the_manifest_says_why(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"size": rng.normal(size=200), "city": rng.choice(["oslo", "rome", "lima"], 200)}
    )
    y = ((X["size"] > 0) ^ (X["city"] == "rome")).astype(int)
    # skl2onnx has no converter for infrequent categories (a text imputer of NaN converts now).
    strings = OneHotEncoder(max_categories=2)
    pre = ColumnTransformer([("num", StandardScaler(), ["size"]), ("cat", strings, ["city"])])
    pipe = Pipeline([("preprocess", pre), ("model", LogisticRegression())]).fit(X, y)
    m = export_bundle(pipe, out=tmp_path / "b", mode="image", X_ref=X, X_test=X[:50])
    assert m.backend == "skops" and "model.onnx" not in m.model_files
    assert m.data["onnx"]["available"] is False
    assert "Infrequent categories are not implemented" in m.data["onnx"]["reason"]
    assert m.data["parity"] is None
    assert "onnxruntime" not in (tmp_path / "b" / "requirements.txt").read_text()
    app = create_app(tmp_path / "b")
    assert app.state.stub.predictor.backend == "skops"


def test_export_refuses_bad_arguments(logreg: Any, cancer: Any, tmp_path: Path) -> None:
    X_train, X_test, _, _ = cancer
    with pytest.raises(ConfigError, match="mode 'docker' is not one of image, load"):
        export(logreg, cancer, tmp_path / "a", "docker")
    with pytest.raises(ConfigError, match="labels has 3 names but the model has 2 classes"):
        export_bundle(
            logreg,
            out=tmp_path / "b",
            mode="image",
            X_ref=X_train,
            X_test=X_test,
            labels=["a", "b", "c"],
        )
    with pytest.raises(ConfigError, match="differ from the columns the model was fitted on"):
        export_bundle(
            logreg, out=tmp_path / "c", mode="image", X_ref=X_train.iloc[:, ::-1], X_test=X_test
        )
    with pytest.raises(ConfigError, match="regression"):
        export(logreg, cancer, tmp_path / "d", "image", task="regression")
    export(logreg, cancer, tmp_path / "e", "image")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        export(logreg, cancer, tmp_path / "e", "image")
    assert export(logreg, cancer, tmp_path / "e", "image", overwrite=True).mode == "image"
    assert not list(tmp_path.glob(".*tmp*")), "temporary build folders are cleaned up"


def test_evidence_holds_the_test_split_and_offline_predictions(
    image_bundle: Path, logreg: Any, cancer: Any
) -> None:
    _, X_test, _, y_test = cancer
    evidence = json.loads((image_bundle / "evidence" / "test_split.json").read_text())
    assert evidence["n_rows"] == len(X_test) and evidence["y_true"] == y_test.tolist()
    np.testing.assert_allclose(evidence["rows"], X_test.to_numpy())
    np.testing.assert_allclose(evidence["expected"]["probabilities"], logreg.predict_proba(X_test))
    assert evidence["expected"]["labels"][:3] == [LABELS[k] for k in logreg.predict(X_test[:3])]


# A bundle folder alone, in a fresh interpreter that cannot import the workbench at all.
_ISOLATED = """
import runpy, sys
sys.modules["workbench"] = None  # any `import workbench...` now raises ImportError
sys.argv = ["serve.py", "--port", "0"] + sys.argv[1:]
runpy.run_path("serve.py", run_name="__main__")
"""


def _start_isolated(bundle: Path, *args: str, env: dict[str, str]) -> tuple[Any, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ISOLATED, *args],
        cwd=bundle,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        raise AssertionError(
            f"stub did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, match.group(1)


def _stop(proc: Any) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_ready(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {timeout_s} s")


@pytest.mark.parametrize("mode, workers", [("image", "1"), ("load", "2")])
def test_bundle_runs_from_its_own_folder_without_the_workbench(
    mode: str,
    workers: str,
    image_bundle: Path,
    load_bundle: Path,
    logreg: Any,
    cancer: Any,
) -> None:
    bundle = image_bundle if mode == "image" else load_bundle
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MODEL_URI")}
    if mode == "load":
        env["MODEL_URI"] = (bundle / "model-store").as_uri()
    proc, url = _start_isolated(bundle, "--workers", workers, env=env)
    try:
        _wait_ready(url)
        _, X_test, _, _ = cancer
        r = httpx.post(url + "/predict", json={"rows": X_test.iloc[:20].to_numpy().tolist()})
        assert r.status_code == 200, r.text
        body = r.json()
        np.testing.assert_allclose(
            body["probabilities"], logreg.predict_proba(X_test.iloc[:20]), atol=1e-5
        )
        assert body["labels"] == [LABELS[k] for k in logreg.predict(X_test.iloc[:20])]
        assert body["model_version"] == "v1"
    finally:
        _stop(proc)


def test_isolated_bundle_refuses_a_tampered_model(logreg: Any, cancer: Any, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    export(logreg, cancer, out, "image")
    (out / "model.skops").write_bytes(b"not the model")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _ISOLATED],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "model.skops has sha256" in proc.stderr and "refusing to serve" in proc.stderr
    assert "Traceback" not in proc.stderr
