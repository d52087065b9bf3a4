"""Export a fitted pipeline into a self-contained serving bundle, and verify one.

A bundle folder (``mode="image"``)::

    manifest.json          sha256 of every file, signature, output schema, metrics, parity, ...
    model.skops            the pipeline (loaded with the trusted-types list only)
    model.onnx             the fast path, when the pipeline converts with parity
    wbstub/                the stub's code (copied from workbench/serving; no workbench import)
    serve.py               entry point: python serve.py [--host] [--port] [--workers]
    requirements.txt       exact versions of what the stub imports
    Dockerfile             COPYs the model into the image
    .dockerignore, README.md
    evidence/test_split.json   test rows, true labels and offline predictions (release check)
    evidence/reference_profile.json  feature and prediction distributions (monitor)

In ``mode="load"`` the model files go to ``model-store/`` instead (kept out of the image by
``.dockerignore``); the image holds no model and the stub fetches the files from ``MODEL_URI``
at start, verifying each against the manifest.

Example:
    >>> m = export_bundle(pipe, out="exports/run-42", mode="image", X_ref=X_train,
    ...                   X_test=X_test, y_test=y_test, metrics={"roc_auc": 0.99})  # doctest: +SKIP
    >>> verify_bundle("exports/run-42")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from workbench._files import FolderKind, check_output_dir, write_output_dir
from workbench.exceptions import ConfigError, ModelError
from workbench.modelio import (
    onnx_parity,
    parity_probe_rows,
    read_model_bytes,
    save_model,
    signature_from_frame,
    task_of,
    to_onnx,
)
from workbench.onnxgraph import onnx_inputs
from workbench.serving import STUB_MODULES, translated_errors
from workbench.serving._model import fetch_model_file, load_skops, sha256_bytes, sha256_file

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BUNDLE_KIND", "FORMAT", "MODES", "Manifest", "export_bundle", "verify_bundle"]

FORMAT = "workbench-bundle/1"
#: What ``overwrite`` may replace: a folder whose manifest.json has this FORMAT.
BUNDLE_KIND = FolderKind("bundle", "manifest.json", FORMAT)
MODES = ("image", "load")
STUB_PACKAGE = "wbstub"
MODEL_STORE = "model-store"
EVIDENCE = "evidence/test_split.json"
PROFILE = "evidence/reference_profile.json"
MAX_EVIDENCE_ROWS = 5000
DEFAULT_PORT = 8080
# What the stub imports (directly, or to unpickle-free load the sklearn fallback).
_STUB_REQUIREMENTS = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
    "numpy",
    "onnxruntime",
    "scikit-learn",
    "scipy",
    "skops",
    "pandas",
)
_POSIX_ONLY = {"uvloop"}
_RECORDED_PACKAGES = (
    *_STUB_REQUIREMENTS,
    "skl2onnx",
    "onnx",
    "protobuf",
    "joblib",
    "threadpoolctl",
    "pydantic",
)
_WORKBENCH_IMPORT = re.compile(r"^\s*(from|import)\s+workbench\b", re.MULTILINE)


@dataclass(frozen=True)
class Manifest:
    """A bundle's ``manifest.json``: the parsed ``data`` plus shortcuts to its main fields."""

    bundle_dir: Path
    data: Mapping[str, Any]

    @classmethod
    def read(cls, bundle_dir: str | Path) -> Manifest:
        """Read the manifest of a bundle folder.

        Raises:
            ConfigError: the folder is not a bundle.
        """
        from workbench.serving.app import read_manifest

        with translated_errors():
            return cls(Path(bundle_dir), read_manifest(bundle_dir))

    @property
    def model_version(self) -> str:
        return str(self.data["model_version"])

    @property
    def mode(self) -> str:
        return str(self.data["mode"])

    @property
    def task(self) -> str:
        return str(self.data["task"])

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """Files of the bundle folder (relative path -> sha256, bytes), model files included
        in ``image`` mode."""
        return dict(self.data["files"])

    @property
    def model_files(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["model"]["files"])

    @property
    def backend(self) -> str:
        """``onnx`` when an ONNX copy with parity is in the bundle, else ``skops``."""
        return str(self.data["model"]["default_backend"])

    @property
    def features(self) -> list[dict[str, Any]]:
        return list(self.data["signature"]["features"])

    @property
    def evidence_path(self) -> Path:
        return self.bundle_dir / EVIDENCE


def export_bundle(
    model: Any,
    *,
    out: str | Path,
    mode: Literal["image", "load"],
    X_ref: pd.DataFrame,
    X_test: pd.DataFrame,
    y_test: Sequence[Any] | np.ndarray | None = None,
    task: Literal["classification", "regression"] | None = None,
    labels: Sequence[str] | None = None,
    metrics: Mapping[str, Any] | None = None,
    dataset_fingerprint: str | None = None,
    run_id: str | None = None,
    model_version: str | None = None,
    model_sha256: str | None = None,
    overwrite: bool = False,
    workspace_root: str | Path | None = None,
) -> Manifest:
    """Write a serving bundle for a fitted pipeline (or a skops model file).

    The bundle is built in a temporary sibling of ``out`` and swapped in at the end, so a
    failed export leaves an existing bundle as it was.

    Args:
        model: a fitted sklearn pipeline, or the path of its skops file.
        out: the bundle folder to create.
        mode: ``image`` (model copied into the image) or ``load`` (model fetched at start from
            ``MODEL_URI``; written to ``out/model-store/``).
        X_ref: training data: feature names, dtypes, observed ranges and NaN flags.
        X_test: rows for the ONNX parity check and the release-check evidence.
        y_test: true targets of ``X_test`` (recorded as evidence).
        task: ``classification`` or ``regression``; inferred from the estimator when omitted.
        labels: display names of the classes, in the order of ``pipe.classes_``.
        metrics: test metrics to record.
        dataset_fingerprint: sha256 of the dataset the model was trained on.
        run_id: the run that produced the model.
        model_version: served as ``model_version``; default ``sha-<first 12 of sha256>``.
        model_sha256: when ``model`` is a path, the hash it must have.
        overwrite: replace an existing non-empty ``out``, which must then be a bundle (its
            ``manifest.json`` has format ``workbench-bundle/1``).
        workspace_root: the workspace the export runs in; never written over. ``/``, the home
            folder and any folder holding one of them are refused in any case (see
            :func:`workbench._files.check_output_dir`).

    Returns:
        The written :class:`Manifest`.

    Raises:
        ConfigError: bad mode, task, labels or columns; ``out`` exists and ``overwrite`` is
            false, or is not a bundle, or is protected (the workspace, home, ``/``).
        ModelError: the model file is missing, tampered with or untrusted.
    """
    out = Path(out)
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    # Refuse a bad ``out`` before the model work, not after it.
    check_output_dir(out, kind=BUNDLE_KIND, overwrite=overwrite, workspace_root=workspace_root)
    pipe, skops_bytes = _model_and_bytes(model, model_sha256)
    task = _check_task(pipe, task)
    features = signature_from_frame(X_ref)
    _check_columns(pipe, X_ref, X_test)
    output = _output_schema(pipe, task, labels)
    onnx_bytes, onnx_info, parity = _onnx_copy(pipe, X_ref, X_test, task)
    skops_sha = sha256_bytes(skops_bytes)
    model_blobs = {"model.skops": skops_bytes}
    if onnx_bytes is not None:
        model_blobs["model.onnx"] = onnx_bytes
    # Built beside the target and swapped in: a half-written bundle is never seen as a bundle,
    # and a failed export leaves the old one as it was.
    with write_output_dir(
        out, kind=BUNDLE_KIND, overwrite=overwrite, workspace_root=workspace_root
    ) as tmp:
        model_dir = tmp if mode == "image" else tmp / MODEL_STORE
        model_dir.mkdir(exist_ok=True)
        for name, blob in model_blobs.items():
            (model_dir / name).write_bytes(blob)
        _write_stub(tmp, mode=mode, onnx=onnx_bytes is not None, model_files=list(model_blobs))
        _write_evidence(tmp, pipe, X_test, y_test, task, output)
        _write_profile(tmp, pipe, X_ref, X_test, y_test, task, output)
        data = {
            "format": FORMAT,
            "model_version": model_version or f"sha-{skops_sha[:12]}",
            "run_id": run_id,
            "mode": mode,
            "task": task,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": {
                "estimator": _describe(pipe),
                "location": "bundle"
                if mode == "image"
                else f"external (MODEL_URI; {MODEL_STORE}/)",
                "default_backend": "onnx" if onnx_bytes is not None else "skops",
                "files": {
                    name: {"sha256": sha256_bytes(blob), "bytes": len(blob)}
                    for name, blob in model_blobs.items()
                },
            },
            "onnx": onnx_info,
            "parity": parity,
            "signature": {"n_features": len(features), "features": features},
            "output": output,
            "metrics": dict(metrics or {}),
            "dataset_fingerprint": dataset_fingerprint,
            "packages": _package_versions(),
            "serving": {"entry": "python serve.py", "host": "127.0.0.1", "port": DEFAULT_PORT},
            "files": _hash_tree(tmp),
        }
        (tmp / "manifest.json").write_bytes(
            orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )
    return Manifest(out, data)


def model_source(bundle_dir: str | Path, *, model_uri: str | None = None) -> str | None:
    """Where a stub for this bundle reads its model: ``model_uri``, else (``load`` mode)
    ``$MODEL_URI``, else the bundle's own ``model-store/``; ``None`` for an ``image`` bundle."""
    bundle = Path(bundle_dir)
    if model_uri:
        return model_uri
    if Manifest.read(bundle).mode != "load":
        return None
    env = os.environ.get("MODEL_URI")
    if env:
        return env
    return str(bundle / MODEL_STORE) if (bundle / MODEL_STORE).is_dir() else None


def verify_bundle(bundle_dir: str | Path, *, model_uri: str | None = None) -> list[str]:
    """Check every file of a bundle against its manifest; return the files checked.

    Model files are checked in the folder (``image``), at ``model_uri``, or in the bundle's
    ``model-store/`` when present (``load``). Files in the folder that the manifest does not
    list are reported too: serve.py puts the folder first on ``sys.path``, so a stray ``.py``
    file could shadow a package.

    Raises:
        ModelError: a file is missing, differs from its hash, or is not listed.
        ConfigError: the folder is not a bundle.
    """
    manifest = Manifest.read(bundle_dir)
    root = Path(bundle_dir)
    problems, checked = [], []
    for rel, meta in manifest.files.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif sha256_file(path) != meta["sha256"]:
            problems.append(f"{rel} differs from its recorded sha256")
        else:
            checked.append(rel)
    listed = set(manifest.files) | {"manifest.json"}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        skip = rel.startswith(f"{MODEL_STORE}/") or "__pycache__" in path.parts
        if path.is_file() and not skip and rel not in listed:
            problems.append(f"{rel} is not listed in the manifest")
    store = model_uri or (str(root / MODEL_STORE) if (root / MODEL_STORE).is_dir() else None)
    if manifest.mode == "load" and store is not None:
        for name, meta in manifest.model_files.items():
            try:
                with translated_errors():
                    fetch_model_file(store, name, sha256=meta["sha256"], max_bytes=meta["bytes"])
                checked.append(f"{store}/{name}")
            except ModelError as e:
                problems.append(str(e))
    if problems:
        raise ModelError(
            f"bundle {root} does not match its manifest:\n  - "
            + "\n  - ".join(problems)
            + "\nRe-export the bundle rather than editing it."
        )
    return checked


# -- export steps ----------------------------------------------------------------------------


def _model_and_bytes(model: Any, sha256: str | None) -> tuple[Any, bytes]:
    if isinstance(model, str | os.PathLike):
        data = read_model_bytes(model, sha256=sha256)  # one read: the bytes checked are shipped
        with translated_errors():
            return load_skops(data, where=str(model)), data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.skops"
        save_model(model, path)
        return model, path.read_bytes()


def _check_task(pipe: Any, task: str | None) -> Literal["classification", "regression"]:
    inferred = task_of(pipe)
    if task is not None and task != inferred:
        raise ConfigError(f"task {task!r} given, but {_describe(pipe)} is a {inferred} model")
    return inferred


def _check_columns(pipe: Any, X_ref: pd.DataFrame, X_test: pd.DataFrame) -> None:
    ref = [str(c) for c in X_ref.columns]
    fitted = getattr(pipe, "feature_names_in_", None)
    if fitted is not None and list(fitted) != ref:
        raise ConfigError(
            f"X_ref columns {ref[:5]}... differ from the columns the model was fitted on "
            f"{list(fitted)[:5]}...; pass the training DataFrame"
        )
    if [str(c) for c in X_test.columns] != ref:
        raise ConfigError("X_test must have the same columns, in the same order, as X_ref")


def _output_schema(pipe: Any, task: str, labels: Sequence[str] | None) -> dict[str, Any]:
    if task == "regression":
        return {"task": task, "fields": {"values": "list[float], one per row"}}
    class_values = np.asarray(pipe.classes_).tolist()
    if labels is not None and len(labels) != len(class_values):
        raise ConfigError(
            f"labels has {len(labels)} names but the model has {len(class_values)} classes "
            f"{class_values}; pass one name per class, in that order"
        )
    return {
        "task": task,
        "classes": list(labels) if labels is not None else class_values,
        "class_values": class_values,
        "probabilities": hasattr(pipe, "predict_proba"),
        "fields": {
            "labels": "predicted class per row (highest probability; ties go to the first class)",
            "probabilities": "list[list[float]] per row, columns in the order of classes",
            "classes": "class names",
        },
    }


def _onnx_copy(
    pipe: Any, X_ref: pd.DataFrame, X_test: pd.DataFrame, task: str
) -> tuple[bytes | None, dict[str, Any], dict[str, Any] | None]:
    """The ONNX copy if it converts and matches the pipeline, else why not.

    Parity is measured on ``X_test`` and on probe rows built from it (each feature that may be
    missing missing in turn, each text feature holding an unseen category:
    ``parity["edge_cases"]``), so gaps and unknown categories are shown to answer alike on both
    backends, not assumed.
    """
    features = signature_from_frame(X_ref)
    text = [f["name"] for f in features if f["kind"] == "string"]
    info: dict[str, Any] = {"available": False, "reason": None, "text_inputs": text}
    if text:
        info["missing_text"] = 'sent to onnxruntime as "", imputed like a missing value'
    onnx_bytes, reason = to_onnx(pipe, X_ref)
    if onnx_bytes is None:
        return None, {**info, "reason": reason}, None
    parity = onnx_parity(pipe, onnx_bytes, X_test, task)  # type: ignore[arg-type]
    checks = [("test rows", dict(parity))]
    rows = parity_probe_rows(X_test, features)
    refused = _refusal(pipe, rows) if rows is not None else None
    if refused:  # e.g. OneHotEncoder(handle_unknown="error"): nothing to compare on them
        parity["edge_cases"] = {"n_rows": 0, "skipped": f"the pipeline refuses them: {refused}"}
    elif rows is not None:
        try:
            probe = onnx_parity(pipe, onnx_bytes, rows, task)  # type: ignore[arg-type]
        except Exception as e:  # onnxruntime's errors are untyped
            reason = f"onnxruntime fails on rows with gaps or unseen categories: {e}"[:400]
            parity["edge_cases"] = {"n_rows": len(rows), "ok": False, "error": reason}
            parity["ok"] = False
            return None, {**info, "reason": reason + "; serving from skops"}, parity
        parity["edge_cases"] = {k: probe[k] for k in ("n_rows", "max_abs_diff", "ok")}
        checks.append(("rows with gaps and unseen categories", probe))
    for what, p in checks:
        if not p["ok"]:
            parity["ok"] = False
            reason = (
                f"parity check failed on {what}: max |diff| {p['max_abs_diff']:.3g} of "
                f"{p['compared']} exceeds {p['tolerance']:.3g}; serving from skops"
            )
            return None, {**info, "reason": reason}, parity
    # Which features feed which ONNX input ({"X": numeric, "T": text}, or one matrix "X");
    # the stub checks the model file records the same. Bundles without it: one per column.
    return onnx_bytes, {**info, "available": True, "inputs": onnx_inputs(onnx_bytes)}, parity


def _refusal(pipe: Any, rows: pd.DataFrame) -> str | None:
    """Why the pipeline itself cannot predict ``rows`` (its own error, first line), or None."""
    try:
        pipe.predict(rows)
    except Exception as e:  # whatever sklearn raises for input it refuses
        text = str(e).strip().splitlines()
        return f"{type(e).__name__}: {text[0][:200] if text else ''}"
    return None


def _describe(pipe: Any) -> str:
    if hasattr(pipe, "steps"):
        return f"Pipeline({', '.join(_describe(step) for _, step in pipe.steps)})"
    return type(pipe).__name__


def _write_stub(root: Path, *, mode: str, onnx: bool, model_files: list[str]) -> None:
    source = Path(__file__).parent / "serving"
    package = root / STUB_PACKAGE
    package.mkdir()
    for name in STUB_MODULES:
        text = (source / name).read_text(encoding="utf-8")
        if _WORKBENCH_IMPORT.search(text):  # a bundle must run without the workbench
            raise RuntimeError(f"workbench/serving/{name} imports the workbench; it cannot ship")
        (package / name).write_text(text, encoding="utf-8")
    (package / "__init__.py").write_text(
        '"""Serving stub of a workbench bundle (copied from workbench/serving)."""\n',
        encoding="utf-8",
    )
    (root / "serve.py").write_text(_SERVE_PY, encoding="utf-8")
    (root / "requirements.txt").write_text(_requirements(onnx), encoding="utf-8")
    (root / "Dockerfile").write_text(_dockerfile(mode, model_files), encoding="utf-8")
    (root / ".dockerignore").write_text(
        f"{MODEL_STORE}/\nevidence/\n**/__pycache__/\n", encoding="utf-8"
    )
    (root / "README.md").write_text(_readme(mode), encoding="utf-8")


def _write_evidence(
    root: Path,
    pipe: Any,
    X_test: pd.DataFrame,
    y_test: Sequence[Any] | np.ndarray | None,
    task: str,
    output: dict[str, Any],
) -> None:
    """Test rows with the pipeline's own (offline) predictions, for the release check."""
    n_total = len(X_test)
    X = X_test
    y = None if y_test is None else np.asarray(y_test)
    if n_total > MAX_EVIDENCE_ROWS:  # keep bundles small; a seeded sample is still evidence
        idx = np.sort(np.random.default_rng(0).choice(n_total, MAX_EVIDENCE_ROWS, replace=False))
        X = X_test.iloc[idx]
        y = None if y is None else y[idx]
    if task == "classification":
        names = output["classes"]
        index = {v: i for i, v in enumerate(output["class_values"])}
        predicted = np.asarray(pipe.predict(X)).tolist()
        expected: dict[str, Any] = {"labels": [names[index[v]] for v in predicted]}
        if output["probabilities"]:
            # C order: orjson refuses the transposed array a multiclass HGB returns.
            expected["probabilities"] = np.ascontiguousarray(pipe.predict_proba(X), np.float64)
    else:
        expected = {"values": np.asarray(pipe.predict(X), dtype=np.float64).reshape(-1)}
    rows = X.astype(object).where(X.notna(), None).to_numpy().tolist()
    evidence = {
        "features": [str(c) for c in X.columns],
        "rows": rows,
        "y_true": None if y is None else y.tolist(),
        "expected": expected,
        "expected_from": "the sklearn pipeline, offline (float64)",
        "n_rows": len(X),
        "n_test_rows": n_total,
    }
    path = root / EVIDENCE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(evidence, option=orjson.OPT_SERIALIZE_NUMPY))


def _write_profile(
    root: Path,
    pipe: Any,
    X_ref: pd.DataFrame,
    X_test: pd.DataFrame,
    y_test: Sequence[Any] | np.ndarray | None,
    task: str,
    output: dict[str, Any],
) -> None:
    """The reference profile live traffic is compared with after release (workbench.profile)."""
    from .profile import export_profile

    profile = export_profile(pipe, X_ref, X_test, y_test, task=task, classes=output.get("classes"))
    path = root / PROFILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(profile, option=orjson.OPT_SERIALIZE_NUMPY))


def _hash_tree(root: Path) -> dict[str, dict[str, Any]]:
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(f"{MODEL_STORE}/"):
            files[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return files


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "workbench": _version("workbench"),
    }
    versions.update({name: _version(name) for name in _RECORDED_PACKAGES})
    return versions


def _requirements(onnx: bool) -> str:
    lines = [
        f"# Exact versions the stub was exported and tested with "
        f"(python {platform.python_version()}).",
        "# Only what the stub imports: "
        + ("the ONNX fast path and the skops fallback." if onnx else "no ONNX copy, skops only."),
    ]
    for name in _STUB_REQUIREMENTS:
        if name == "onnxruntime" and not onnx:
            continue
        installed = _version(name)
        if installed is None:
            raise ConfigError(f"{name} is not installed, but the stub needs it; pip install {name}")
        marker = ' ; sys_platform != "win32"' if name in _POSIX_ONLY else ""
        lines.append(f"{name}=={installed}{marker}")
    return "\n".join(lines) + "\n"


def _dockerfile(mode: str, model_files: list[str]) -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    head = f"""# Workbench serving stub, mode={mode}.
FROM python:{py}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY {STUB_PACKAGE}/ {STUB_PACKAGE}/
COPY serve.py manifest.json ./
"""
    if mode == "image":
        body = f"# The model is part of the image.\nCOPY {' '.join(model_files)} ./\n"
        run_hint = f"docker run -p 127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT} IMAGE"
    else:
        body = (
            "# No model in the image: the stub fetches it from MODEL_URI at start and verifies\n"
            "# its sha256 against manifest.json; it refuses to start without a matching model.\n"
            "ENV MODEL_URI=\n"
        )
        run_hint = (
            f"docker run -p 127.0.0.1:{DEFAULT_PORT}:{DEFAULT_PORT} "
            f"-v $PWD/{MODEL_STORE}:/models:ro -e MODEL_URI=file:///models IMAGE"
        )
    tail = f"""RUN useradd --system --uid 10001 stub
USER stub
EXPOSE {DEFAULT_PORT}
# Inside a container the stub must listen on all interfaces to be reachable, and on anything
# but loopback it REFUSES TO START WITHOUT A TOKEN: pass one at run time (clients then send
# "Authorization: Bearer <token>"; /health stays open for the health check). Publish the port
# on the host's loopback only:
#   {run_hint.replace("IMAGE", "-e STUB_TOKEN=<secret> IMAGE")}
ENV STUB_TOKEN=
# Host values answered (a guard against DNS rebinding): these names on any port, so a
# published port works as is. Add the names clients use, e.g. ALLOWED_HOSTS=model.internal.
ENV ALLOWED_HOSTS=127.0.0.1,localhost,[::1]
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{DEFAULT_PORT}/health', timeout=2)"
CMD ["python", "serve.py", "--host", "0.0.0.0", "--port", "{DEFAULT_PORT}"]
"""  # noqa: E501
    return head + body + tail


def _readme(mode: str) -> str:
    where = (
        "The model files are in this folder."
        if mode == "image"
        else f"The model files are in {MODEL_STORE}/ (or wherever MODEL_URI points)."
    )
    env = "" if mode == "image" else f"MODEL_URI={MODEL_STORE} "
    return f"""# Serving bundle ({mode} mode)

{where} Every file's sha256 is in manifest.json; the stub refuses a model that differs.

    python -m venv .venv && .venv/bin/pip install -r requirements.txt
    {env}.venv/bin/python serve.py --port {DEFAULT_PORT}            # binds 127.0.0.1
    curl -s localhost:{DEFAULT_PORT}/openapi.json
    curl -s -XPOST localhost:{DEFAULT_PORT}/predict -H 'Content-Type: application/json' \\
         -d '{{"rows": [[...]]}}'

Options: --workers N, --token T (or STUB_TOKEN), --log predictions.jsonl, --max-body-bytes N,
--allowed-hosts (or ALLOWED_HOSTS), --max-rps, --max-connections, --max-header-bytes,
--header-timeout, --body-timeout.
Routes: POST /predict, GET /health, GET /metadata, GET /metrics (Prometheus),
GET /openapi.json (the input and output schema, generated from the signature).

## Security and limits

- On anything but a loopback address (as in the Dockerfile: 0.0.0.0) the stub refuses to
  start without a token (--token or STUB_TOKEN). With a token, every route but /health needs
  `Authorization: Bearer <token>`.
- Host allow-list: requests must carry a Host the stub answers (default 127.0.0.1, localhost,
  [::1] with its port; the Dockerfile allows those names on any port). Others get 400 (a page
  on a rebound DNS name cannot reach the stub). /health answers any Host, for probes.
- POST /predict needs `Content-Type: application/json` (415 otherwise), a body of at most
  --max-body-bytes (413), and JSON objects without repeated keys (400). An `X-Request-Id`
  you send must be 1-128 printable ASCII characters (400 otherwise); without one the stub
  makes one. It is echoed and keys the prediction log.
- Request line and headers at most --max-header-bytes (16 KiB; 431), headers within
  --header-timeout (10 s) and the body within --body-timeout (30 s) of them (408; a
  connection that sends nothing is closed), at most --max-connections (1024) open
  connections per worker (503), and with --max-rps N a rate limit per worker (429 with
  Retry-After; /health and /metrics are not limited).
- Values far outside the training range (more than one training range beyond min or max) are
  answered and flagged in the answer's `out_of_range`, and counted in /metrics.
- The prediction log retries a failed write (disk full) and resumes when it can; meanwhile
  /health says `"status": "degraded"` (still 200) and /metrics counts write errors and
  dropped entries (`workbench_prediction_log_dropped_total`).
"""


_SERVE_PY = '''"""Serve this bundle: python serve.py [--host 127.0.0.1] [--port 8080] [--workers N].

Needs only the packages in requirements.txt. A load-mode bundle reads its model from MODEL_URI.
A host other than loopback needs a token (--token or STUB_TOKEN); python serve.py --help lists
the request limits (Host allow-list, rate, header size and timeouts, connections).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from wbstub._server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(default_bundle=HERE))
'''
