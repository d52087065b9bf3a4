"""Model files of a bundle: hashes, trusted skops loading and the two predictors.

This module is copied into every exported bundle, so it imports nothing from the workbench:
errors are the stub's own (:class:`StubError`); the workbench translates them at its boundary.

Predictors take a :class:`Batch` (validated input, see ``_validate``) and return plain arrays:
``{"probabilities": (n, k)}`` for classifiers with ``predict_proba``, ``{"label_index": (n,)}``
for those without, ``{"values": (n,)}`` for regressors.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

__all__ = [
    "ONNX_INPUTS_KEY",
    "TRUSTED_TYPES",
    "Batch",
    "BundleError",
    "Layout",
    "ModelLoadError",
    "OnnxPredictor",
    "SkopsPredictor",
    "StubError",
    "check_skops_types",
    "fetch_model_file",
    "load_skops",
    "predicted_index",
    "sha256_bytes",
    "sha256_file",
]

# Every sklearn type a served model may contain. skops itself trusts all sklearn estimators and
# reports only a few internals as untrusted; we are stricter: a file is loaded only when every
# sklearn class in it and every type skops calls untrusted is listed here. Never extend this
# from what a file reports; review a new type, then add it.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        # containers and preprocessing
        "sklearn.pipeline.Pipeline",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.impute._base.SimpleImputer",
        # linear models
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._ridge.Ridge",
        # random forests and their trees
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.RandomForestRegressor",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.DecisionTreeRegressor",
        "sklearn.tree._tree.Tree",
        # histogram gradient boosting: estimators, predictors, binning, losses and links
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss.loss.PinballLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn._loss._loss.CyHalfGammaLoss",
        "sklearn._loss._loss.CyPinballLoss",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.LogLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.link.Interval",
        # numpy internals skops reports as untrusted
        "numpy.dtype",
    }
)


class StubError(RuntimeError):
    """Root of the stub's own errors (a bundle has no workbench to import exceptions from)."""


class BundleError(StubError):
    """The bundle folder, its manifest or a serving option is not usable."""


class ModelLoadError(StubError):
    """A model file is missing, differs from its recorded hash, or holds untrusted types."""


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_model_file(source: str | Path, name: str, *, sha256: str, max_bytes: int) -> bytes:
    """Read one model file from a folder, ``file://`` URL or ``http(s)://`` URL and verify it.

    The bytes that are hashed are the bytes that get loaded, so a file swapped between the
    check and the load cannot slip through.

    Raises:
        ModelLoadError: the file is missing, too large, or its sha256 differs from ``sha256``.
    """
    where = _file_location(source, name)
    try:
        if where.startswith(("http://", "https://")):
            with urllib.request.urlopen(where, timeout=30) as resp:
                data = resp.read(max_bytes + 1)
        else:
            with open(where, "rb") as f:
                data = f.read(max_bytes + 1)
    except OSError as e:
        raise ModelLoadError(
            f"model file {where} cannot be read ({e}); point MODEL_URI (or --model-uri) at the "
            f"folder holding {name}, e.g. the bundle's model-store/"
        ) from e
    if len(data) > max_bytes:
        raise ModelLoadError(f"model file {where} is larger than the {max_bytes} bytes recorded")
    actual = sha256_bytes(data)
    if actual != sha256:
        raise ModelLoadError(
            f"model file {where} has sha256 {actual} but the manifest records {sha256}: the file "
            "was changed or replaced after export; refusing to serve it. Re-export the model or "
            "point MODEL_URI at the files exported with this manifest."
        )
    return data


def _file_location(source: str | Path, name: str) -> str:
    text = str(source)
    parts = urlsplit(text)
    if parts.scheme in ("http", "https"):
        return text.rstrip("/") + "/" + name
    if parts.scheme == "file":
        return str(Path(unquote(parts.path)) / name)
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, not a scheme
        raise ModelLoadError(
            f"MODEL_URI {text!r} has scheme {parts.scheme!r}; accepted: a folder path, "
            "file:///folder or http(s)://host/folder"
        )
    return str(Path(text) / name)


def _schema_types(data: bytes) -> set[str]:
    """Every ``module.Class`` named in a skops file's schema (the file is a zip with JSON)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        schema = json.loads(zf.read("schema.json"))
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check_skops_types(data: bytes, *, where: str = "model file") -> list[str]:
    """Return the allow-listed types ``data`` needs, or raise if any type is not allow-listed.

    Raises:
        ModelLoadError: the file is not a skops file (or one nested too deeply to parse), or
            holds types outside ``TRUSTED_TYPES``.
    """
    import skops.io as sio

    try:
        reported = set(sio.get_untrusted_types(data=data))
        sklearn_types = {t for t in _schema_types(data) if t.split(".", 1)[0] == "sklearn"}
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ModelLoadError(f"{where} is not a readable skops file ({e})") from e
    except RecursionError:
        # schema.json is parsed with json.loads: a file nested thousands deep exhausts the
        # stack before any type is checked. No model the workbench saves comes near that.
        raise ModelLoadError(
            f"{where} is not a usable skops file: its schema.json is nested too deeply to read "
            "(a damaged or hostile file); export the model again"
        ) from None
    untrusted = sorted((reported | sklearn_types) - TRUSTED_TYPES)
    if untrusted:
        raise ModelLoadError(
            f"{where} holds types that are not on the trusted list: {', '.join(untrusted)}. "
            "Only reviewed types are loaded; use a supported model family or review the type "
            "and add it to TRUSTED_TYPES in workbench/serving/_model.py."
        )
    return sorted(reported)


def load_skops(data: bytes, *, where: str = "model file") -> Any:
    """Load a skops file's bytes, trusting only allow-listed types.

    Raises:
        ModelLoadError: see :func:`check_skops_types`.
    """
    import skops.io as sio

    trusted = check_skops_types(data, where=where)
    return sio.loads(data, trusted=trusted)


# ONNX computes in float32 (errors ~1e-7): probabilities this close count as tied, and a tie
# goes to the first class, as in sklearn's argmax. Without this, a random forest's exact
# 0.5/0.5 votes flip labels between the pipeline and its ONNX copy.
TIE_TOLERANCE = 1e-6


def predicted_index(proba: np.ndarray) -> np.ndarray:
    """Index of the predicted class per row: the first class within TIE_TOLERANCE of the max."""
    top = proba.max(axis=1, keepdims=True)
    return (proba >= top - TIE_TOLERANCE).argmax(axis=1)


class Layout:
    """Where each feature of a signature sits in a :class:`Batch` of mixed kinds.

    Numeric features (``number``, ``integer``) go into one float64 matrix, the others (``string``,
    ``boolean``) into one object matrix, each in signature order. Built once per signature.
    """

    __slots__ = ("names", "numeric_idx", "numeric_names", "text_idx", "text_names", "where")

    def __init__(self, features: list[dict[str, Any]]) -> None:
        self.names = [f["name"] for f in features]
        numeric = [f["kind"] in ("number", "integer") for f in features]
        self.numeric_idx = [j for j, is_num in enumerate(numeric) if is_num]
        self.text_idx = [j for j, is_num in enumerate(numeric) if not is_num]
        self.numeric_names = [self.names[j] for j in self.numeric_idx]
        self.text_names = [self.names[j] for j in self.text_idx]
        # name -> (matrix, column): 0 is the numeric matrix, 1 the object one
        self.where = {n: (0, k) for k, n in enumerate(self.numeric_names)}
        self.where.update({n: (1, k) for k, n in enumerate(self.text_names)})


class Batch:
    """Validated input rows: a float64 ``matrix`` when every feature is numeric; otherwise a
    float64 matrix ``numbers`` of the numeric features and an object matrix ``texts`` of the
    others (``None`` where a value is missing, ``text_gaps`` true when any is), see
    :class:`Layout`."""

    __slots__ = ("layout", "matrix", "n_rows", "numbers", "text_gaps", "texts")

    def __init__(
        self,
        n_rows: int,
        matrix: np.ndarray | None = None,
        *,
        numbers: np.ndarray | None = None,
        texts: np.ndarray | None = None,
        text_gaps: bool = True,
        layout: Layout | None = None,
    ) -> None:
        self.n_rows = n_rows
        self.matrix = matrix
        self.numbers = numbers
        self.texts = texts
        self.text_gaps = text_gaps
        self.layout = layout

    @classmethod
    def from_frame(
        cls, frame: Any, features: list[dict[str, Any]], layout: Layout | None = None
    ) -> Batch:
        """Build a batch from a DataFrame in the signature's feature order (offline parity)."""
        layout = layout or Layout(features)
        if not layout.text_names:
            matrix = frame[layout.names].to_numpy(dtype=np.float64, na_value=np.nan)
            return cls(len(frame), matrix=matrix)
        numbers = frame[layout.numeric_names].to_numpy(dtype=np.float64, na_value=np.nan)
        text = frame[layout.text_names].astype(object)
        texts = text.where(text.notna(), None).to_numpy()
        gaps = bool(np.equal(texts, None).any())
        return cls(len(frame), numbers=numbers, texts=texts, text_gaps=gaps, layout=layout)

    def column(self, index: int, name: str) -> np.ndarray:
        """One feature as a 1-D array."""
        if self.matrix is not None:
            return self.matrix[:, index]
        assert self.layout is not None
        which, k = self.layout.where[name]
        return (self.texts if which else self.numbers)[:, k]  # type: ignore[index]

    def texts_for_onnx(self) -> np.ndarray:
        """The object matrix with ``""`` for a missing value (ONNX strings cannot be None)."""
        texts = self.texts
        assert texts is not None
        if not self.text_gaps:
            return texts
        # A Python pass, not ``np.equal(texts, None)``: with that object-dtype ufunc in the path a
        # one-row predict took ~13 µs longer (benchmarks/README.md, categorical case).
        rows = [["" if v is None else v for v in row] for row in texts.tolist()]
        return np.array(rows, dtype=object).reshape(texts.shape)


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}
# Key of the model metadata (ONNX ``metadata_props``) naming the features of each input, as a
# JSON object ``{input name: [feature names]}``; the manifest copies it (``onnx.inputs``).
ONNX_INPUTS_KEY = "workbench.onnx_inputs"


class OnnxPredictor:
    """onnxruntime fast path.

    Input layouts: one float matrix ``X`` of every feature (numeric data); ``X`` float32
    ``[n, numeric features]`` plus ``T`` string ``[n, text features]`` (the graph splits the
    columns itself); or, for bundles exported before the layout was recorded and for models
    whose inputs need other types, one ``[None, 1]`` input per column. The model's metadata
    (:data:`ONNX_INPUTS_KEY`) says which features feed which input; a model without it is read
    by position (the layout of older bundles).
    """

    backend = "onnx"

    def __init__(
        self,
        onnx_bytes: bytes,
        features: list[dict[str, Any]],
        task: str,
        inputs: dict[str, list[str]] | None = None,
    ) -> None:
        """Load the model; ``inputs`` is the manifest's ``onnx.inputs`` when it has one.

        Raises:
            ModelLoadError: onnxruntime cannot load the model, or its inputs do not match the
                signature or the manifest's ``inputs``.
        """
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread and no spinning: the HTTP server needs the other core, and a one-row
        # predict takes microseconds, far below what a thread pool hand-off costs.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                onnx_bytes, options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
            raise ModelLoadError(f"onnxruntime cannot load the ONNX model: {e}") from e
        self.task = task
        self._features = features
        self._layout = Layout(features)
        session_inputs = self._session.get_inputs()
        self._inputs = [(i.name, i.type) for i in session_inputs]
        recorded = self._session.get_modelmeta().custom_metadata_map.get(ONNX_INPUTS_KEY)
        self.inputs: dict[str, list[str]] | None = json.loads(recorded) if recorded else None
        if inputs is not None and inputs != self.inputs:
            raise ModelLoadError(
                f"the manifest says the ONNX inputs are {inputs} but the model file records "
                f"{self.inputs}; re-export the bundle"
            )
        self._plan = self._input_plan(session_inputs)
        outputs = [o.name for o in self._session.get_outputs()]
        if task == "classification":
            self._output = "probabilities" if "probabilities" in outputs else "label"
        else:
            self._output = outputs[0]

    def _input_plan(self, session_inputs: list[Any]) -> str:
        """``matrix``, ``split`` (X and T) or ``columns``, checked against the signature."""
        layout, recorded = self._layout, self.inputs
        names = [i.name for i in session_inputs]
        if recorded is None:  # older bundles: a single matrix, or one input per column
            if len(names) == 1 and session_inputs[0].shape[-1] == len(self._features):
                self._matrix_input = names[0]
                return "matrix"
            if len(names) != len(self._features):
                raise ModelLoadError(
                    f"the ONNX model has {len(names)} inputs but the signature "
                    f"{len(self._features)} features; re-export the bundle"
                )
            # skl2onnx renames per-column inputs (spaces become underscores): by position.
            self._columns = [(n, t, j) for j, (n, t) in enumerate(self._inputs)]
            return "columns"
        if sorted(recorded) != sorted(names) or sorted(
            f for fs in recorded.values() for f in fs
        ) != sorted(layout.names):
            raise ModelLoadError(
                f"the ONNX model's inputs {names} and recorded layout {recorded} do not cover "
                f"the signature's features {layout.names}; re-export the bundle"
            )
        if recorded == {"X": layout.names}:
            self._matrix_input = "X"
            return "matrix"
        wanted = {"X": layout.numeric_names, "T": layout.text_names}
        if recorded == {k: v for k, v in wanted.items() if v}:
            return "split"
        index = {n: j for j, n in enumerate(layout.names)}
        self._columns = []
        for name, onnx_type in self._inputs:
            (feature,) = recorded[name]  # any other layout is one feature per input
            self._columns.append((name, onnx_type, index[feature]))
        return "columns"

    def _feeds(self, batch: Batch) -> dict[str, np.ndarray]:
        plan = self._plan
        if plan == "split":
            feeds = {"T": batch.texts_for_onnx()}
            if self._layout.numeric_names:
                assert batch.numbers is not None
                feeds["X"] = batch.numbers.astype(np.float32)
            return feeds
        if plan == "matrix":
            if batch.matrix is not None:
                return {self._matrix_input: batch.matrix.astype(np.float32)}
            stacked = np.column_stack(
                [batch.column(i, f["name"]) for i, f in enumerate(self._features)]
            )
            return {self._matrix_input: stacked.astype(np.float32)}
        feeds = {}
        for name, onnx_type, j in self._columns:
            col = batch.column(j, self._features[j]["name"])
            if onnx_type == "tensor(string)":
                # ONNX string tensors cannot hold None; an empty string is the nearest "missing".
                col = np.array(["" if v is None else str(v) for v in col], dtype=object)
            else:
                col = col.astype(_ONNX_DTYPES.get(onnx_type, np.float32))
            feeds[name] = col.reshape(-1, 1)
        return feeds

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        """Run the model on a batch."""
        (out,) = self._session.run([self._output], self._feeds(batch))
        if self.task == "regression":
            return {"values": out.reshape(-1)}
        if self._output == "probabilities":
            return {"probabilities": out}
        return {"label_values": out.reshape(-1)}


class SkopsPredictor:
    """sklearn fallback: the skops-loaded pipeline, fed a DataFrame when it was fitted on one."""

    backend = "skops"

    def __init__(self, model: Any, features: list[dict[str, Any]], task: str) -> None:
        self.model = model
        self.task = task
        self._features = features
        self._names = [f["name"] for f in features]
        self._frame = hasattr(model, "feature_names_in_")
        self._has_proba = task == "classification" and hasattr(model, "predict_proba")
        # Integer training columns go back to int64 when a batch holds no missing value, so the
        # pipeline sees the dtypes it was fitted on.
        self._int_names = [f["name"] for f in features if f["kind"] == "integer"]

    def _input(self, batch: Batch) -> Any:
        if not self._frame:
            if batch.matrix is not None:
                return batch.matrix
            return np.column_stack([batch.column(i, n) for i, n in enumerate(self._names)])
        import pandas as pd

        if batch.matrix is not None:
            frame = pd.DataFrame(batch.matrix, columns=self._names)
        else:
            frame = pd.DataFrame(
                {n: batch.column(i, n) for i, n in enumerate(self._names)}, columns=self._names
            )
        for name in self._int_names:
            if not frame[name].isna().any():
                frame[name] = frame[name].astype(np.int64)
        return frame

    def predict(self, batch: Batch) -> dict[str, np.ndarray]:
        """Run the pipeline on a batch."""
        x = self._input(batch)
        if self.task == "regression":
            return {"values": np.asarray(self.model.predict(x), dtype=np.float64).reshape(-1)}
        if self._has_proba:
            return {"probabilities": np.asarray(self.model.predict_proba(x))}
        return {"label_values": np.asarray(self.model.predict(x)).reshape(-1)}
