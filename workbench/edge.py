"""The ``edge`` export: a model's ONNX file with its manifest, for on-device runtimes.

The export writes the bundle's ONNX copy beside ``edge-manifest.json`` (features with dtypes and
ranges, the ONNX inputs and outputs, the output schema, the sha256 of the model and a parity
check of the exported file on the bundle's evidence rows) and a ``README.md``. The model comes
from the run's verified bundle (:func:`workbench.export.bundle_for_ref`), so it is the very file
the stub serves and the release check tested. A model without an ONNX copy is refused with the
reason its bundle manifest records. Each export is recorded in the store, so the inventory's
update plan (:mod:`workbench.inventory`) points at the package of its target version.

Errors::

    InventoryError (workbench.inventory)
    └── EdgeExportRefused     the model has no ONNX copy (the manifest says why)
    ModelError                an edge package's model differs from its manifest (verify_edge)

Example::

    export_edge(ws, store, "champion", out="edge/v3")
    verify_edge("edge/v3")
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import FolderKind, check_output_dir, sha256_file, write_output_dir
from .exceptions import ModelError
from .inventory import InventoryError

if TYPE_CHECKING:
    from .config import Workspace
    from .store import Store

__all__ = [
    "EDGE_FORMAT",
    "EDGE_KIND",
    "EDGE_MANIFEST",
    "EDGE_MODEL",
    "EdgeExportRefused",
    "EdgePackage",
    "export_edge",
    "verify_edge",
]

EDGE_FORMAT = "workbench-edge/1"
EDGE_MANIFEST = "edge-manifest.json"
EDGE_MODEL = "model.onnx"
#: What ``export_edge(overwrite=True)`` may replace: a folder whose edge-manifest.json has
#: EDGE_FORMAT.
EDGE_KIND = FolderKind("edge package", EDGE_MANIFEST, EDGE_FORMAT)
_EVIDENCE_ROWS = 200  # rows of the parity check of an edge export


class EdgeExportRefused(InventoryError):
    """The model cannot run on edge devices: its bundle has no ONNX copy."""


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


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    export is recorded in the store so the inventory's update plans point at it.

    Args:
        ws: The workspace (may be ``None`` with a bundle folder).
        store: Its store, where the export is recorded (``None``: nothing is recorded).
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
    if store is not None:
        store.add_edge_package(
            manifest.model_version,
            run_id=manifest.data.get("run_id"),
            path=out.resolve(),
            sha256=data["model"]["sha256"],
        )
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
