"""The reference profile: what a model's data looked like when it was built.

A bundle carries it (``evidence/reference_profile.json``, written at export) and the monitor
compares live traffic with it. Per feature it holds the decile edges and shares (for the PSI),
a sorted sample of at most :data:`SAMPLE_SIZE` values (for the KS test), the range seen in
training and the share of missing values; categorical features keep their most frequent
categories' shares (the rest pooled as :data:`workbench.stats.OTHER`). Beside the features:
the distribution of the model's outputs on held-out rows and its reference quality
(the headline metric on those rows).

The tests that read an entry are :func:`workbench.stats.feature_test` and
:func:`workbench.stats.psi`. Reading a bundle's profile (stored, or rebuilt from its evidence)
is :func:`workbench.monitor.profile_from_bundle`.

Example::

    profile = export_profile(pipe, X_train, X_test, y_test, task="classification")
    json.dumps(profile)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.exceptions import ConfigError
from workbench.stats import (
    EPSILON,
    HEADLINE,
    N_BINS,
    OTHER,
    bin_shares,
    finite_values,
    get_metric,
    quantile_edges,
)

__all__ = [
    "PROFILE_FORMAT",
    "SAMPLE_SIZE",
    "export_profile",
    "label_index",
    "reference_profile",
]

#: Format tag of a reference profile.
PROFILE_FORMAT = "workbench-profile/1"
#: Sorted reference values kept per feature for the KS test.
SAMPLE_SIZE = 512
#: Categories kept by name per categorical feature; the rest are pooled.
_MAX_CATEGORIES = 50


def _numeric_entry(values: pd.Series, n_bins: int, sample_size: int) -> dict[str, Any]:
    x = finite_values(pd.to_numeric(values, errors="coerce"))
    edges = quantile_edges(x, n_bins)
    if x.size > sample_size:
        # Evenly spaced order statistics: the reference ECDF to within 1/sample_size, and a KS
        # test that counts sample_size reference values (conservative for a larger reference).
        sample = np.quantile(x, (np.arange(sample_size) + 0.5) / sample_size)
    else:
        sample = np.sort(x)
    return {
        "kind": "numeric",
        "n": int(x.size),
        "missing": float(values.isna().mean()) if len(values) else 0.0,
        "edges": _round(edges),
        "shares": _round(bin_shares(x, edges)),
        "sample": _round(sample),
        "mean": float(x.mean()) if x.size else None,
        "std": float(x.std()) if x.size else None,
        "min": float(x.min()) if x.size else None,
        "max": float(x.max()) if x.size else None,
    }


def _categorical_entry(values: pd.Series) -> dict[str, Any]:
    present = values.dropna().astype(str)
    counts = present.value_counts()
    top = counts.iloc[:_MAX_CATEGORIES]
    cats, shares = list(top.index), list(top.to_numpy() / max(len(present), 1))
    rest = int(counts.iloc[_MAX_CATEGORIES:].sum())
    if rest:
        cats.append(OTHER)
        shares.append(rest / len(present))
    return {
        "kind": "categorical",
        "n": len(present),
        "missing": float(values.isna().mean()) if len(values) else 0.0,
        "categories": cats,
        "shares": _round(np.asarray(shares)),
    }


def _round(values: np.ndarray) -> list[float]:
    # Seven significant digits keep the profile small and far finer than any bin.
    return [float(f"{v:.7g}") for v in np.asarray(values, dtype=float)]


def reference_profile(
    X_ref: pd.DataFrame,
    *,
    y_score: np.ndarray | None = None,
    y_true: Sequence[Any] | np.ndarray | None = None,
    task: str | None = None,
    class_values: Sequence[Any] | None = None,
    classes: Sequence[Any] | None = None,
    ranges: Mapping[str, tuple[float | None, float | None]] | None = None,
    source: str = "reference data",
    n_bins: int = N_BINS,
    sample_size: int = SAMPLE_SIZE,
) -> dict[str, Any]:
    """The JSON-ready reference profile the monitor compares live traffic with.

    Call it at export time with the training rows (``X_ref``) and, when available, the
    model's scores on them or on the test rows; the bundle can store the result as
    ``manifest["reference_profile"]`` or ``evidence/reference_profile.json``.

    Args:
        X_ref: Reference feature rows (training data, or the test split).
        y_score: The model's outputs on ``X_ref``: ``predict_proba`` matrix (columns in
            ``class_values`` order) or regression predictions. Gives the prediction reference.
        y_true: True targets of ``X_ref``; with ``y_score`` gives the reference quality.
        task: ``classification`` or ``regression`` (needed with ``y_score``).
        class_values: The classifier's ``classes_`` (the values labels arrive as).
        classes: Display names of the classes, in the same order (the stub answers with them).
        ranges: Per feature the ``(min, max)`` seen in training, when ``X_ref`` is not the
            training data (a bundle's manifest has them).
        source: What ``X_ref`` is, for the report.
        n_bins: PSI bins.
        sample_size: Sorted reference values kept per numeric feature for the KS test.

    Returns:
        ``{"format", "source", "n_rows", "n_bins", "epsilon", "task", "classes",
        "class_values", "features": {name: entry}, "prediction": entry | None,
        "quality": {"headline", "metrics", "n"} | None}``.

    Raises:
        ConfigError: ``y_score`` without ``task``, or an unknown task.

    Example:
        >>> profile = reference_profile(
        ...     X_train, y_score=pipe.predict_proba(X_train), y_true=y_train,
        ...     task="classification", class_values=pipe.classes_)  # doctest: +SKIP
        >>> json.dumps(profile)  # doctest: +SKIP
    """
    if y_score is not None and task not in ("classification", "regression"):
        raise ConfigError(f"task must be classification or regression with y_score, got {task!r}")
    features: dict[str, Any] = {}
    for name in X_ref.columns:
        col = X_ref[name]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        entry = _numeric_entry(col, n_bins, sample_size) if numeric else _categorical_entry(col)
        if ranges and name in ranges and numeric:
            lo, hi = ranges[name]
            entry["min"], entry["max"] = lo, hi
        features[str(name)] = entry
    values = None if class_values is None else list(class_values)
    names = None if classes is None else list(classes)
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "source": source,
        "n_rows": len(X_ref),
        "n_bins": n_bins,
        "epsilon": EPSILON,
        "task": task,
        "class_values": _jsonable(values),
        "classes": _jsonable(names if names is not None else values),
        "features": features,
        "prediction": None,
        "quality": None,
    }
    if y_score is not None:
        score = np.asarray(y_score, dtype=float)
        profile["prediction"] = _prediction_entry(score, task, n_bins, sample_size)
        if y_true is not None:
            profile["quality"] = _reference_quality(profile, np.asarray(y_true), score)
    return profile


def export_profile(
    pipe: Any,
    X_ref: pd.DataFrame,
    X_test: pd.DataFrame,
    y_test: Sequence[Any] | np.ndarray | None,
    *,
    task: str,
    classes: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The profile to store in a bundle at export: features from the training rows, the
    prediction distribution and the reference metric from the test rows.

    The training rows give the features many reference values (less PSI noise than the test
    split alone); the predictions come from the held-out rows because a model's outputs on its
    own training rows are overconfident.

    Args:
        pipe: The fitted pipeline.
        X_ref: Training rows.
        X_test: Test rows.
        y_test: Their true targets (``None``: no reference metric).
        task: ``classification`` or ``regression``.
        classes: Display names of the classes, in the order of ``pipe.classes_``.

    Example:
        >>> profile = export_profile(pipe, X_train, X_test, y_test,
        ...                          task="classification")  # doctest: +SKIP
        >>> (out / "evidence" / "reference_profile.json").write_text(json.dumps(profile))
    """
    scored = task == "classification" and hasattr(pipe, "predict_proba")
    score = pipe.predict_proba(X_test) if scored else pipe.predict(X_test)
    values = list(getattr(pipe, "classes_", [])) or None
    test = reference_profile(
        X_test,
        y_score=np.asarray(score, dtype=float),
        y_true=None if y_test is None else np.asarray(y_test),
        task=task,
        class_values=values,
        classes=classes,
    )
    profile = reference_profile(
        X_ref,
        task=task,
        class_values=values,
        classes=classes,
        source=f"training data ({len(X_ref)} rows); predictions and metric on "
        f"{len(X_test)} test rows",
    )
    profile["prediction"], profile["quality"] = test["prediction"], test["quality"]
    return profile


def _jsonable(values: list[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return [v.item() if hasattr(v, "item") else v for v in values]


def _prediction_entry(score: np.ndarray, task: str, n_bins: int, size: int) -> dict[str, Any]:
    kind, series = _prediction_series(score, task)
    entry = (
        _numeric_entry(series, n_bins, size) if kind == "numeric" else _categorical_entry(series)
    )
    entry["what"] = {
        "binary": "probability of the second class",
        "multiclass": "predicted class (index)",
        "regression": "predicted value",
    }[_score_kind(score, task)]
    return entry


def _score_kind(score: np.ndarray, task: str) -> str:
    if task == "regression":
        return "regression"
    return "binary" if score.ndim == 2 and score.shape[1] == 2 else "multiclass"


def _prediction_series(score: np.ndarray, task: str) -> tuple[str, pd.Series]:
    """What prediction drift is measured on, as (kind, values)."""
    kind = _score_kind(score, task)
    if kind == "regression":
        return "numeric", pd.Series(score.reshape(-1))
    if kind == "binary":
        return "numeric", pd.Series(score[:, 1])
    if score.ndim == 2:
        return "categorical", pd.Series(np.argmax(score, axis=1).astype(str))
    return "categorical", pd.Series(score.astype(int).astype(str))


def _reference_quality(
    profile: Mapping[str, Any], y_true: np.ndarray, score: np.ndarray
) -> dict[str, Any]:
    task = profile["task"]
    if task == "classification":
        y = label_index(y_true, profile)
        keep = ~np.isnan(y)
        metrics = _class_metrics(y[keep].astype(int), score[keep], int(score.shape[1]))
    else:
        y = y_true.astype(float)
        metrics = {HEADLINE[task]: float(get_metric(HEADLINE[task]).fn(y, score, None))}
    headline = HEADLINE[task] if HEADLINE[task] in metrics else next(iter(metrics))
    return {"headline": headline, "metrics": metrics, "n": len(y_true)}


def _class_metrics(y: np.ndarray, proba: np.ndarray, k: int) -> dict[str, float]:
    labels = np.arange(k)
    out = {"accuracy": float(get_metric("accuracy").fn(y, np.argmax(proba, axis=1), labels))}
    if len(np.unique(y)) > 1:
        out["roc_auc"] = float(get_metric("roc_auc").fn(y, proba, labels))
    return out


def label_index(values: Sequence[Any] | np.ndarray, profile: Mapping[str, Any]) -> np.ndarray:
    """Labels as class indices of ``profile`` (NaN when unknown): by class value, name or text.

    Labels arrive as the classifier's values (``0``/``1``), as display names (``"benign"``),
    or as text or floats read back from a CSV; all map to the same index.
    """
    lookup: dict[Any, int] = {}
    for names in (profile.get("classes") or [], profile.get("class_values") or []):
        for i, v in enumerate(names):
            lookup.setdefault(v, i)
            lookup.setdefault(str(v), i)
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        hit = lookup.get(v.item() if hasattr(v, "item") else v)
        if hit is None:
            hit = lookup.get(str(v))
        if hit is None and isinstance(v, float) and v.is_integer():
            hit = lookup.get(int(v))  # labels read back from CSV as floats (NaN in the column)
        if hit is not None:
            out[i] = hit
    return out
