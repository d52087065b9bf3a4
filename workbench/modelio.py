"""Model files: skops save/load under an explicit allow-list, ONNX conversion and its parity.

skops, not pickle: a skops file is loaded only when every sklearn type in it, and every type
skops itself calls untrusted, is on :data:`TRUSTED_TYPES` (kept in ``workbench.serving._model``
so that a bundle's stub enforces the same list). The ONNX copy is the stub's fast path; its
parity with the pipeline is measured on real rows, never assumed.

Example:
    >>> sha = save_model(pipe, "model.skops")  # doctest: +SKIP
    >>> pipe2 = load_model("model.skops", sha256=sha)  # doctest: +SKIP
    >>> onnx_bytes, why_not = to_onnx(pipe, X_train)  # doctest: +SKIP
    >>> onnx_parity(pipe, onnx_bytes, X_test, "classification")["max_abs_diff"]  # doctest: +SKIP
    3.9e-07
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from workbench import onnxgraph
from workbench._files import atomic_write_bytes
from workbench.exceptions import ConfigError, ModelError
from workbench.serving import translated_errors
from workbench.serving._model import (
    TRUSTED_TYPES,
    Batch,
    OnnxPredictor,
    check_skops_types,
    load_skops,
    predicted_index,
    sha256_bytes,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PARITY_TOLERANCE",
    "TRUSTED_TYPES",
    "Task",
    "load_model",
    "onnx_parity",
    "parity_probe_rows",
    "read_model_bytes",
    "save_model",
    "signature_from_frame",
    "task_of",
    "to_onnx",
]

Task = Literal["classification", "regression"]
# ONNX runs in float32; these bound what counts as "the same model" (FACTS: ~4e-7 seen).
PARITY_TOLERANCE = {"probabilities": 1e-4, "relative_prediction": 1e-5}
# Categories listed in the signature (for examples and payloads) up to this many per feature.
_MAX_CATEGORIES = 100


def save_model(pipe: Any, path: str | Path) -> str:
    """Save a fitted pipeline with skops and return the file's sha256.

    The dump is checked against the trusted-types list first, so a model the stub would refuse
    is refused here, before anything is exported.

    Raises:
        ModelError: the pipeline holds a type that is not on :data:`TRUSTED_TYPES`.
    """
    import skops.io as sio

    data = sio.dumps(pipe)
    with translated_errors():
        check_skops_types(data, where=f"pipeline {type(pipe).__name__}")
    atomic_write_bytes(path, data)  # a reader never sees a half-written model
    return sha256_bytes(data)


def read_model_bytes(path: str | Path, *, sha256: str | None = None) -> bytes:
    """Read a model file, verifying its sha256 when given (the bytes checked are returned).

    Raises:
        ModelError: the file is missing or its hash differs from ``sha256``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(
            f"model file {path} cannot be read ({e.strerror or e}); check the path, or export "
            "the model again"
        ) from e
    if sha256 is not None:
        actual = sha256_bytes(data)
        if actual != sha256.lower():
            raise ModelError(
                f"model file {path} has sha256 {actual}, expected {sha256}: it was changed "
                "after it was saved. Restore the original file or export the model again."
            )
    return data


def load_model(path: str | Path, *, sha256: str | None = None) -> Any:
    """Load a skops model, verifying its sha256 when given and trusting only allow-listed types.

    Raises:
        ModelError: the file is missing, its hash differs from ``sha256``, or it holds a type
            outside :data:`TRUSTED_TYPES` (the message lists them).
    """
    data = read_model_bytes(path, sha256=sha256)
    with translated_errors():
        return load_skops(data, where=str(path))


def task_of(pipe: Any) -> Task:
    """``classification`` or ``regression``, from sklearn's estimator tags.

    Raises:
        ConfigError: the estimator is neither.
    """
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(pipe):
        return "classification"
    if is_regressor(pipe):
        return "regression"
    raise ConfigError(
        f"{type(pipe).__name__} is neither a classifier nor a regressor; only those are served"
    )


def signature_from_frame(X: pd.DataFrame) -> list[dict[str, Any]]:
    """The input signature of training data: per feature its name, dtype, kind, range, NaN flag.

    ``kind`` is ``number``, ``integer``, ``boolean`` or ``string``; numeric features carry the
    observed ``min``/``max``, string features their ``categories`` (up to 100). ``allow_nan``
    is true only where the data had missing values.

    Raises:
        ConfigError: a column name is not a string.
    """
    import pandas as pd

    features = []
    for name in X.columns:
        if not isinstance(name, str):
            raise ConfigError(
                f"column {name!r} has a {type(name).__name__} name; the signature needs string "
                "feature names (X.columns = X.columns.astype(str))"
            )
        col = X[name]
        entry: dict[str, Any] = {"name": name, "dtype": str(col.dtype)}
        if pd.api.types.is_bool_dtype(col):
            entry["kind"] = "boolean"
        elif pd.api.types.is_numeric_dtype(col):
            entry["kind"] = "integer" if pd.api.types.is_integer_dtype(col) else "number"
            present = col.dropna()
            entry["min"] = float(present.min()) if len(present) else None
            entry["max"] = float(present.max()) if len(present) else None
        else:
            entry["kind"] = "string"
            values = sorted({str(v) for v in col.dropna().unique()})
            if len(values) <= _MAX_CATEGORIES:
                entry["categories"] = values
        entry["allow_nan"] = bool(col.isna().any())
        features.append(entry)
    return features


def _final_estimator(pipe: Any) -> Any:
    while hasattr(pipe, "steps"):
        pipe = pipe.steps[-1][1]
    return pipe


def _has_column_transformer(pipe: Any) -> bool:
    from sklearn.compose import ColumnTransformer

    if isinstance(pipe, ColumnTransformer):
        return True
    return any(isinstance(v, ColumnTransformer) for v in pipe.get_params(deep=True).values())


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


def to_onnx(pipe: Any, X_sample: pd.DataFrame) -> tuple[bytes | None, str | None]:
    """Convert a fitted pipeline to ONNX; return ``(bytes, None)`` or ``(None, reason)``.

    All-numeric data without a ColumnTransformer gets one ``float[None, n]`` input. Otherwise
    skl2onnx needs one ``[None, 1]`` input per column; numeric columns are declared float32
    (a double input makes skl2onnx emit tree ensembles onnxruntime rejects, and int and float
    columns feeding one imputer must share a type), with integer columns left as int64 on a
    second attempt. The per-column inputs are then regrouped
    (:func:`workbench.onnxgraph.group_inputs`): one matrix ``X`` when every input is float,
    else ``X`` (the numeric features) plus ``T`` (the text features) when those are the only
    types; the model's metadata records the layout (``workbench.serving._model.ONNX_INPUTS_KEY``)
    and the bundle's manifest copies it.
    Classifiers output a plain probability array (``zipmap`` off). The converted model must
    also run in onnxruntime on a few sample rows, or it is no fast path.

    Text inputs: ONNX string tensors cannot hold a missing value, so the stub sends a missing
    text value as ``""`` (``OnnxPredictor``), and skl2onnx converts a text ``SimpleImputer``
    only when its ``missing_values`` is a string. The pipeline itself imputes NaN and None (it is
    fitted and served from skops on DataFrames); the copy converted here imputes ``""`` instead
    (:func:`_text_gaps_as_empty`), which is the same model for what the stub feeds. Parity on
    real rows with gaps (:func:`onnx_parity`, :func:`parity_probe_rows`) checks exactly that.
    """
    try:
        from skl2onnx import to_onnx as convert
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as e:
        return None, f"skl2onnx is not installed ({e}); serving from skops"
    task = task_of(pipe)
    features = signature_from_frame(X_sample)
    pipe = _text_gaps_as_empty(pipe)  # the caller measures parity against the real pipeline
    options = {id(_final_estimator(pipe)): {"zipmap": False}} if task == "classification" else None
    numeric = all(f["kind"] in ("number", "integer") for f in features)
    sample = X_sample.iloc[:1]
    if numeric and not _has_column_transformer(pipe):
        attempts = [{"initial_types": [("X", FloatTensorType([None, len(features)]))]}]
    else:
        kinds = {f["name"]: f["kind"] for f in features}
        # skl2onnx reads each column's array type: pandas 3 text columns (Arrow-backed `str`)
        # are unknown to it, object arrays of str are string tensors.
        text = {c: object for c, k in kinds.items() if k == "string"}
        attempts = [
            {"X": sample.astype({**text, **{c: np.float32 for c, k in kinds.items() if k in want}})}
            for want in (("number", "integer"), ("number",))
        ]
    reasons: list[str] = []  # the first attempt is the preferred route: report its failure
    for attempt in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = convert(pipe, options=options, **attempt)
                data = onnxgraph.group_inputs(model, features).SerializeToString()
        except Exception as e:  # skl2onnx raises many unrelated types (missing converter, ...)
            reasons.append(f"skl2onnx cannot convert {_describe(pipe)}: {_first_line(e)}")
            continue
        try:
            with translated_errors():
                predictor = OnnxPredictor(data, features, task)
            predictor.predict(Batch.from_frame(X_sample.iloc[:5], features))
        except Exception as e:  # onnxruntime's errors are untyped
            reasons.append(f"onnxruntime cannot run the converted model: {_first_line(e)}")
            continue
        return data, None
    return None, reasons[0]


def _text_gaps_as_empty(pipe: Any) -> Any:
    """A copy of ``pipe`` that treats ``""`` as a missing text value, made for skl2onnx.

    Returns ``pipe`` itself when it has no fitted text ``SimpleImputer`` (``statistics_`` are
    strings) that imputes NaN or None. In the copy:

    - a ``Pipeline([SimpleImputer(strategy="constant", fill_value=F)..., OneHotEncoder])``
      inside a ColumnTransformer (``workbench.models``' text branch: imputers of NaN and of
      None) becomes its encoder alone, with the category ``F`` renamed ``""``: one-hot of
      ``""`` is one-hot of the imputed gap, and the imputers' ONNX nodes are gone (the
      penguins logreg fell from 24 nodes to 10, ~27% less onnxruntime time per row);
    - any other such imputer gets ``missing_values=""``, keeping its fill value and statistics.

    Either way the copy maps ``""`` exactly where the pipeline maps NaN (parity checks it).
    """
    import copy

    from sklearn.compose import ColumnTransformer

    if not _text_imputers(pipe):
        return pipe
    clone = copy.deepcopy(pipe)
    for node in _nodes(clone):
        if isinstance(node, ColumnTransformer):
            node.transformers_ = [
                (name, _encoder_of_gaps(child) or child, cols)
                for name, child, cols in node.transformers_
            ]
    for imputer in _text_imputers(clone):
        imputer.missing_values = ""
    return clone


def _nodes(node: Any) -> list[Any]:
    """``node`` and every fitted step and transformer under it."""
    found = [node]
    for _, child in getattr(node, "steps", []):
        found += _nodes(child)
    for _, child, _ in getattr(node, "transformers_", []):
        if not isinstance(child, str):  # "drop" / "passthrough"
            found += _nodes(child)
    return found


def _text_imputers(pipe: Any) -> list[Any]:
    """The fitted text imputers under ``pipe`` whose missing value is NaN or None."""
    from sklearn.impute import SimpleImputer

    def gap_marker(value: Any) -> bool:
        return value is None or (isinstance(value, float) and np.isnan(value))

    return [
        node
        for node in _nodes(pipe)
        if isinstance(node, SimpleImputer)
        and getattr(node, "statistics_", np.array([])).dtype == object
        and gap_marker(node.missing_values)
    ]


def _encoder_of_gaps(branch: Any) -> Any | None:
    """The one-hot encoder of a [text imputers of NaN/None to one constant..., one-hot] branch,
    with the constant renamed ``""``; ``None`` for any other branch (left as it is)."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(branch, Pipeline) or len(branch.steps) < 2:
        return None
    imputers, encoder = [step for _, step in branch.steps[:-1]], branch.steps[-1][1]
    plain = (
        isinstance(encoder, OneHotEncoder)
        and encoder.drop is None
        and encoder.max_categories is None
        and encoder.min_frequency is None
    )
    fills = {getattr(i, "fill_value", None) for i in imputers}
    gap_imputers = all(_text_imputers(i) and i.strategy == "constant" for i in imputers)
    if not plain or not gap_imputers or len(fills) != 1:
        return None
    fill = fills.pop()
    if any("" in list(c) for c in encoder.categories_):
        return None  # a real "" category: "" cannot also stand for a gap
    encoder.categories_ = [
        np.array(["" if v == fill else v for v in c], dtype=object) for c in encoder.categories_
    ]
    return encoder


def parity_probe_rows(
    X: pd.DataFrame, features: list[dict[str, Any]], n: int = 5
) -> pd.DataFrame | None:
    """Rows that exercise what held-out rows may lack: gaps and unseen categories.

    From the first ``n`` rows of ``X``: for each feature the signature ``features`` allows to
    be missing (``allow_nan``, as the stub does), copies with that feature missing; for each
    text feature, copies holding a category no training row has. Measured with
    :func:`onnx_parity` besides the test rows, so an export shows that missing values and
    unknown categories give the same answer on both backends. ``None`` when no feature can be
    missing and none is text (nothing to probe).
    """
    import pandas as pd

    base = X.iloc[: max(1, min(n, len(X)))]
    text = {f["name"] for f in features if f["kind"] == "string"}
    parts = []
    for f in features:
        c = f["name"]
        if f.get("allow_nan"):
            gap = base.copy()
            gap[c] = None
            parts.append(gap)
        if c in text:
            unseen = base.copy()
            unseen[c] = "(unseen category)"
            parts.append(unseen)
    if not parts:
        return None
    probe = pd.concat(parts, ignore_index=True)
    # Numbers keep a numeric dtype with NaN; text keeps its text dtype.
    return probe.astype({c: X[c].dtype for c in text}).infer_objects()


def _describe(pipe: Any) -> str:
    if hasattr(pipe, "steps"):
        return f"Pipeline({', '.join(_describe(step) for _, step in pipe.steps)})"
    return type(pipe).__name__


def onnx_parity(pipe: Any, onnx_bytes: bytes, X: pd.DataFrame, task: Task) -> dict[str, Any]:
    """Measure how far the ONNX model is from the pipeline on ``X`` (e.g. the test split).

    Returns:
        ``compared`` (``probabilities`` or ``predictions``), ``n_rows``, ``max_abs_diff``,
        ``label_agreement`` (share of rows whose label, as the stub derives it from the ONNX
        probabilities, matches ``pipe.predict``; ``None`` for regression), ``tolerance`` and
        ``ok`` (``max_abs_diff <= tolerance``).
    """
    features = signature_from_frame(X)
    with translated_errors():
        predictor = OnnxPredictor(onnx_bytes, features, task)
    got = predictor.predict(Batch.from_frame(X, features))
    if task == "classification":
        ref = np.asarray(pipe.predict_proba(X), dtype=np.float64)
        proba = np.asarray(got["probabilities"], dtype=np.float64)
        diff = float(np.max(np.abs(proba - ref))) if len(ref) else 0.0
        labels = np.asarray(pipe.classes_)[predicted_index(proba)]
        agreement = float(np.mean(labels == np.asarray(pipe.predict(X)))) if len(ref) else 1.0
        tolerance = PARITY_TOLERANCE["probabilities"]
        compared = "probabilities"
    else:
        ref = np.asarray(pipe.predict(X), dtype=np.float64).reshape(-1)
        values = np.asarray(got["values"], dtype=np.float64)
        diff = float(np.max(np.abs(values - ref))) if len(ref) else 0.0
        agreement = None
        scale = max(1.0, float(np.max(np.abs(ref)))) if len(ref) else 1.0
        tolerance = PARITY_TOLERANCE["relative_prediction"] * scale
        compared = "predictions"
    return {
        "compared": compared,
        "n_rows": len(X),
        "max_abs_diff": diff,
        "label_agreement": agreement,
        "tolerance": tolerance,
        "ok": diff <= tolerance,
    }
