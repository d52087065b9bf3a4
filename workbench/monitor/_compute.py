"""The monitor's measurements: windows of traffic against a reference profile.

:func:`monitor` cuts the traffic into windows in time order and measures per window feature
drift (PSI and a corrected test per feature), prediction drift, quality on the labels that
arrived (bootstrap CI, decay against the reference) and latency; the rules are in the package
docstring (:mod:`workbench.monitor`), the statistics in :mod:`workbench.stats`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._files import new_id
from ..exceptions import ConfigError, DatasetError
from ..profile import label_index
from ..stats import N_BINS, adjust_p_values, bootstrap_metrics, feature_test, get_metric
from ._report import (
    _DRIFT_COLS,
    _LATENCY_COLS,
    _PREDICTION_COLS,
    _QUALITY_COLS,
    _WINDOW_COLS,
    DEFAULT_WINDOW,
    MonitorReport,
    Thresholds,
)

if TYPE_CHECKING:
    from ..traffic import Stream

__all__ = ["ID_PREFIX", "monitor"]

#: Monitor report ids: ``mon-<utc time>-<hex>`` (:func:`workbench._files.new_id`).
ID_PREFIX = "mon-"


@dataclass(frozen=True)
class _Predictions:
    """Model outputs aligned with the monitored rows."""

    proba: np.ndarray | None = None  # (n, k), classes in profile order
    pred_index: np.ndarray | None = None  # (n,), float with NaN where unknown
    values: np.ndarray | None = None  # regression
    latency_ms: np.ndarray | None = None
    request_id: np.ndarray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, end)`` row ranges of ``size``; a short tail joins the previous."""
    if size < 1:
        raise ConfigError(f"window must be at least 1 request, got {size}")
    bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size / 2:
        bounds[-2] = (bounds[-2][0], n)
        bounds.pop()
    return bounds


def _window_frame(
    stamps: pd.Series, bounds: list[tuple[int, int]], labelled: np.ndarray
) -> pd.DataFrame:
    rows = [
        (i, s, e, e - s, stamps.iloc[s], stamps.iloc[e - 1], int(labelled[s:e].sum()))
        for i, (s, e) in enumerate(bounds)
    ]
    return pd.DataFrame(rows, columns=_WINDOW_COLS)


def monitor(
    stream: Stream,
    profile: Mapping[str, Any],
    *,
    labels: pd.DataFrame | None = None,
    window: int = DEFAULT_WINDOW,
    thresholds: Thresholds | None = None,
    as_of: Any = None,
    model: Any = None,
    source: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> MonitorReport:
    """Measure drift, decay and latency of a stream against a reference profile.

    Args:
        stream: The traffic (see :mod:`workbench.traffic`); a replayed prediction log brings
            the model's outputs and latencies with it.
        profile: A reference profile (:func:`reference_profile`, :func:`profile_from_bundle`).
        labels: Delayed labels (``key``, ``label``, optional ``label_ts``); default the
            stream's own labels feed.
        window: Requests per window.
        thresholds: Drift and decay rules; default :class:`Thresholds`.
        as_of: Count only labels that had arrived by then (default: all).
        model: A fitted pipeline to predict with when the stream carries no outputs.
        source: Where the inputs came from, for the record.
        seed: Seed of the bootstrap intervals of the quality metric.

    Returns:
        The :class:`MonitorReport` (not yet saved; see :func:`save_report`).

    Raises:
        DatasetError: The stream lacks features the profile has.
    """
    from ..traffic import KEY, LABEL, LABEL_TS, TS

    t = thresholds or Thresholds()
    names = [n for n in profile["features"] if n in stream.features]
    missing = [n for n in profile["features"] if n not in stream.features]
    if missing:
        raise DatasetError(
            f"the traffic lacks feature(s) {', '.join(map(repr, missing[:5]))} of the reference; "
            f"it has {', '.join(list(stream.features)[:5])}, ...: monitor traffic of the "
            "model the profile belongs to"
        )
    order = np.argsort(stream.requests[TS].to_numpy(), kind="stable")
    frame = stream.requests.iloc[order].reset_index(drop=True)
    preds = _align_predictions(stream, frame, profile, model)
    feed = stream.labels if labels is None else labels
    if as_of is not None:
        from ..traffic import to_utc

        cut = to_utc(as_of)  # a ConfigError naming the value, not a pandas traceback
        if len(feed):
            feed = feed[feed[LABEL_TS].isna() | (feed[LABEL_TS] <= cut)]
    y_idx, y_raw, label_notes = _join_labels(frame[KEY], feed, profile, KEY, LABEL)
    bounds = _windows(len(frame), window)
    labelled = ~np.isnan(y_idx if profile.get("task") == "classification" else y_raw)
    windows = _window_frame(frame[TS], bounds, labelled)
    drift = _drift_frame(frame, names, profile, bounds, t)
    prediction = _prediction_frame(preds, profile, bounds, t)
    quality = _quality_frame(preds, profile, bounds, y_idx, y_raw, t, seed)
    latency = _latency_frame(preds, bounds)
    reference = {
        "source": profile.get("source"),
        "n_rows": profile.get("n_rows"),
        "model_version": profile.get("model_version"),
        "quality": profile.get("quality"),
        "prediction": (profile.get("prediction") or {}).get("what"),
    }
    n_ref = int(profile.get("n_rows") or 0)
    bins = int(profile.get("n_bins", N_BINS))
    settings = {
        "window": window,
        # PSI's mean under no drift at all (chi-square approximation), for the reader's scale.
        "psi_noise": round((bins - 1) * (1 / max(n_ref, 1) + 1 / window), 4),
        "thresholds": asdict(t),
        "as_of": None if as_of is None else str(as_of),
        "n_bins": profile.get("n_bins", N_BINS),
        "stream": stream.settings,
    }
    return MonitorReport(
        id=new_id(ID_PREFIX),
        created_at=datetime.now(UTC),
        source={"traffic": stream.source, **dict(source or {})},
        reference=reference,
        settings=_jsonify(settings),
        features=tuple(names),
        task=profile.get("task") or stream.task,
        windows=windows,
        drift=drift,
        prediction=prediction,
        quality=quality,
        latency=latency,
        notes=tuple(preds.notes) + tuple(label_notes),
    )


def _jsonify(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _status(psi_value: float, p_adj: float, t: Thresholds) -> str:
    significant = bool(np.isfinite(p_adj) and p_adj < t.alpha)
    if np.isfinite(psi_value) and psi_value >= t.psi_alert and significant:
        return "alert"
    if (np.isfinite(psi_value) and psi_value >= t.psi_warn) or significant:
        return "warn"
    return "ok"


def _drift_frame(
    frame: pd.DataFrame,
    names: list[str],
    profile: Mapping[str, Any],
    bounds: list[tuple[int, int]],
    t: Thresholds,
) -> pd.DataFrame:
    rows = []
    for i, (s, e) in enumerate(bounds):
        part = frame.iloc[s:e]
        tests = [feature_test(profile["features"][name], part[name]) for name in names]
        adjusted = adjust_p_values([r["p_value"] for r in tests], t.correction)
        for name, r, p_adj in zip(names, tests, adjusted, strict=True):
            status = "too few rows" if e - s < t.min_rows else _status(r["psi"], p_adj, t)
            rows.append(
                {
                    "window": i,
                    "feature": name,
                    **{k: r[k] for k in ("n", "psi", "statistic", "p_value")},
                    "p_adj": p_adj,
                    "test": r["test"],
                    "missing": r["missing"],
                    "out_of_range": r["out_of_range"],
                    "status": status,
                }
            )
    return pd.DataFrame(rows, columns=_DRIFT_COLS)


def _prediction_values(preds: _Predictions, profile: Mapping[str, Any]) -> np.ndarray | None:
    entry = profile.get("prediction")
    if entry is None:
        return None
    if preds.values is not None:
        return preds.values
    if entry["kind"] == "numeric" and preds.proba is not None and preds.proba.shape[1] == 2:
        return preds.proba[:, 1]
    if entry["kind"] == "categorical" and preds.pred_index is not None:
        idx = preds.pred_index
        return np.array([None if np.isnan(v) else str(int(v)) for v in idx], dtype=object)
    return None


def _prediction_frame(
    preds: _Predictions, profile: Mapping[str, Any], bounds: list[tuple[int, int]], t: Thresholds
) -> pd.DataFrame:
    values = _prediction_values(preds, profile)
    if values is None:
        return pd.DataFrame(columns=_PREDICTION_COLS)
    rows = []
    for i, (s, e) in enumerate(bounds):
        r = feature_test(profile["prediction"], values[s:e])
        # One test per window: no correction, the level is alpha itself.
        status = "too few rows" if e - s < t.min_rows else _status(r["psi"], r["p_value"], t)
        numeric = pd.to_numeric(pd.Series(values[s:e]), errors="coerce")
        rows.append(
            {
                "window": i,
                "n": r["n"],
                "psi": r["psi"],
                "statistic": r["statistic"],
                "p_value": r["p_value"],
                "status": status,
                "mean": float(numeric.mean()) if numeric.notna().any() else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=_PREDICTION_COLS)


def _quality_frame(
    preds: _Predictions,
    profile: Mapping[str, Any],
    bounds: list[tuple[int, int]],
    y_idx: np.ndarray,
    y_raw: np.ndarray,
    t: Thresholds,
    seed: int,
) -> pd.DataFrame:
    ref = profile.get("quality") or {}
    task = profile.get("task")
    metric, scores = _quality_inputs(preds, ref, task)
    if metric is None or task is None:
        return pd.DataFrame(columns=_QUALITY_COLS)
    higher = get_metric(metric).higher_is_better
    reference = (ref.get("metrics") or {}).get(metric)
    rows = []
    for i, (s, e) in enumerate(bounds):
        y = y_idx[s:e] if task == "classification" else y_raw[s:e]
        known = ~np.isnan(y)
        row = {
            "window": i,
            "n_labelled": int(known.sum()),
            "metric": metric,
            "value": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "reference": reference,
            "decay": np.nan,
            "status": "too few labels",
        }
        if known.sum() >= max(t.min_labels, 2):
            est = _window_metric(task, metric, y[known], scores[s:e][known], profile, seed)
            if est is not None:
                row.update(value=est.value, ci_low=est.ci_low, ci_high=est.ci_high)
                row.update(_decay(est, reference, higher, t))
        rows.append(row)
    return pd.DataFrame(rows, columns=_QUALITY_COLS)


def _quality_inputs(
    preds: _Predictions, ref: Mapping[str, Any], task: str | None
) -> tuple[str | None, np.ndarray | None]:
    """The metric to follow and the scores it needs; the reference must have measured it."""
    measured = ref.get("metrics") or {}
    if task == "regression" and preds.values is not None:
        name = ref.get("headline") or "rmse"
        return (name if name in measured or not measured else None), preds.values
    if task == "classification":
        if preds.proba is not None and "roc_auc" in measured:
            return "roc_auc", preds.proba
        if preds.pred_index is not None and "accuracy" in measured:
            return "accuracy", preds.pred_index
    return None, None


def _window_metric(
    task: str,
    metric: str,
    y: np.ndarray,
    scores: np.ndarray,
    profile: Mapping[str, Any],
    seed: int,
) -> Any:
    if task == "classification":
        y = y.astype(int)
        k = len(profile.get("classes") or []) or int(np.nanmax(y)) + 1
        labels = np.arange(k)
        if metric == "roc_auc" and len(np.unique(y)) < 2:
            return None  # AUC is undefined with one class present
        if scores.ndim == 1:
            keep = ~np.isnan(scores)
            y, scores = y[keep], scores[keep].astype(int)
    else:
        labels = None
    with np.errstate(all="ignore"):
        return bootstrap_metrics(
            task, y, scores, labels=labels, n_boot=200, seed=seed, metrics=[metric]
        )[metric]


def _decay(est: Any, reference: float | None, higher: bool, t: Thresholds) -> dict[str, Any]:
    if reference is None or not math.isfinite(est.value):
        return {"status": "ok"}
    loss = (reference - est.value) if higher else (est.value - reference)
    # A perfect reference (rmse 0) makes any loss an unbounded relative decay.
    unbounded = float("inf") if loss > 0 else 0.0
    decay = loss / abs(reference) if reference else unbounded
    worse_ci = est.ci_high < reference if higher else est.ci_low > reference
    decayed = decay > t.decay_gate and bool(worse_ci)
    return {"decay": decay, "status": "decayed" if decayed else "ok"}


def _latency_frame(preds: _Predictions, bounds: list[tuple[int, int]]) -> pd.DataFrame:
    if preds.latency_ms is None:
        return pd.DataFrame(columns=_LATENCY_COLS)
    rows = []
    for i, (s, e) in enumerate(bounds):
        lat = preds.latency_ms[s:e]
        if preds.request_id is not None:
            # A multi-row request is one latency, not one per row.
            _, first = np.unique(preds.request_id[s:e], return_index=True)
            lat = lat[np.sort(first)]
        lat = lat[np.isfinite(lat)]
        if lat.size == 0:
            continue
        rows.append(
            {
                "window": i,
                "requests": int(lat.size),
                "p50_ms": float(np.percentile(lat, 50)),
                "p99_ms": float(np.percentile(lat, 99)),
                "mean_ms": float(lat.mean()),
            }
        )
    return pd.DataFrame(rows, columns=_LATENCY_COLS)


def _join_labels(
    keys: pd.Series, feed: pd.DataFrame, profile: Mapping[str, Any], key: str, label: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per monitored row, its label as a class index and as a number (NaN when unknown)."""
    n = len(keys)
    if feed is None or len(feed) == 0:
        return np.full(n, np.nan), np.full(n, np.nan), []
    by_key = dict(zip(feed[key].astype(str), feed[label], strict=True))
    raw = [by_key.get(str(k)) for k in keys]
    notes = []
    unmatched = len(by_key) - sum(v is not None for v in raw)
    if unmatched > 0:
        notes.append(f"{unmatched} label(s) match no monitored request key")
    if profile.get("task") == "classification":
        idx = label_index(raw, profile)
        unknown = sum(v is not None for v in raw) - int(np.sum(~np.isnan(idx)))
        if unknown:
            notes.append(f"{unknown} label(s) are not among the model's classes")
        return idx, np.full(n, np.nan), notes
    values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)
    return np.full(n, np.nan), values, notes


def _align_predictions(
    stream: Stream, frame: pd.DataFrame, profile: Mapping[str, Any], model: Any
) -> _Predictions:
    from ..traffic import KEY

    if stream.outputs is not None and len(stream.outputs):
        out = stream.outputs.set_index(KEY).reindex(frame[KEY])
        return _from_log(out, profile, stream.settings.get("classes"))
    if model is not None:
        return _from_model(model, frame.loc[:, list(stream.features)], profile)
    return _Predictions(
        notes=(
            "the traffic carries no predictions and no model was given: "
            "no prediction drift, quality or latency",
        )
    )


def _from_log(
    out: pd.DataFrame, profile: Mapping[str, Any], log_classes: list[Any] | None
) -> _Predictions:
    notes = []
    classes = profile.get("classes")
    if log_classes and classes and [str(c) for c in log_classes] != [str(c) for c in classes]:
        notes.append(f"the log's classes {log_classes} differ from the reference's {classes}")
    latency = out["latency_ms"].to_numpy(dtype=float)
    request_id = out["request_id"].astype(str).to_numpy()
    if "value" in out.columns:
        return _Predictions(
            values=out["value"].to_numpy(dtype=float),
            latency_ms=latency,
            request_id=request_id,
            notes=tuple(notes),
        )
    p_cols = sorted(
        (c for c in out.columns if re.fullmatch(r"p_\d+", str(c))), key=lambda c: int(c[2:])
    )
    proba = out[p_cols].to_numpy(dtype=float) if p_cols else None
    pred = label_index(out["pred_label"].tolist(), profile) if "pred_label" in out else None
    if proba is not None and np.isnan(proba).any():
        notes.append("some rows have no probabilities in the log")
    return _Predictions(
        proba=proba, pred_index=pred, latency_ms=latency, request_id=request_id, notes=tuple(notes)
    )


def _from_model(model: Any, X: pd.DataFrame, profile: Mapping[str, Any]) -> _Predictions:
    if profile.get("task") == "regression":
        return _Predictions(values=np.asarray(model.predict(X), dtype=float).reshape(-1))
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=float)
        return _Predictions(proba=proba, pred_index=np.argmax(proba, axis=1).astype(float))
    return _Predictions(pred_index=label_index(list(model.predict(X)), profile))
