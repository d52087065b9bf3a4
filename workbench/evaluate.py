"""Evaluate a fitted model on its test split: metrics with bootstrap CIs, latency, size, figures.

The pieces, in the order a notebook uses them::

    result = evaluate_pipeline(pipe, X_test, y_test, task="classification", n_boot=1000, seed=0)
    result.to_frame()                      # name / value / ci_low / ci_high
    show(roc_figure(result.y_true, result.y_score, labels=result.labels))
    measure_latency(pipe, X_test)          # single-row p50/p99 and batch rows/s
    paired_bootstrap_delta("classification", y, proba_a, proba_b, metric="roc_auc")

Metrics live in a small registry (:func:`register_metric`, :func:`get_metric`,
:func:`metrics_for`). Each :class:`Metric` computes one number from ``(y_true, y_score_or_pred,
labels)``; the built-in ones also carry a vectorized *weighted* form used by the bootstrap, so a
thousand resamples cost a few matrix products instead of a thousand sklearn calls.

Conventions:

- Classification scores are ``predict_proba`` matrices of shape ``(n, k)`` whose columns follow
  ``labels`` (a classifier's ``classes_``). For two classes the positive class is ``labels[1]``.
  A metric with ``needs_proba=False`` receives the predicted labels ``labels[argmax(proba)]``.
- Regression scores are the predictions, shape ``(n,)``.
- Plot functions return ``plotly.graph_objects.Figure`` objects and never display them; call
  :func:`workbench.plots.show` on the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.safehtml import escape

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = [
    "HEADLINE",
    "TASKS",
    "Estimate",
    "EvaluationResult",
    "Metric",
    "bootstrap_metrics",
    "calibration_figure",
    "confusion_figure",
    "evaluate_pipeline",
    "get_metric",
    "measure_latency",
    "metrics_ci_figure",
    "metrics_for",
    "model_size_bytes",
    "paired_bootstrap_delta",
    "pr_figure",
    "register_metric",
    "residual_figure",
    "roc_figure",
    "threshold_explorer",
    "threshold_table",
]

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")

#: The metric a task is judged by first (reports, comparisons, gates default to it).
HEADLINE: dict[str, str] = {"classification": "roc_auc", "regression": "rmse"}

MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]
WeightedMetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", np.ndarray], np.ndarray]

# Bootstrap resamples are drawn in chunks of about this many cells (rows x resamples), which
# bounds memory (a float64 chunk is 16 MB) whatever the test-set size.
_CHUNK_CELLS = 1 << 21


# --------------------------------------------------------------------------------------------
# Metric registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One evaluation metric.

    Attributes:
        name: Registry key, e.g. ``"roc_auc"``.
        task: ``"classification"`` or ``"regression"``.
        fn: ``fn(y_true, y_score_or_pred, labels) -> float``. For classification it receives the
            probability matrix ``(n, k)`` when ``needs_proba`` is true, else the predicted labels
            ``(n,)``; ``labels`` is the class order (``None`` for regression). Return ``nan`` when
            the metric is undefined for the given rows (e.g. AUC with one class present).
        higher_is_better: Direction of improvement (used by comparisons and gates).
        needs_proba: Whether ``fn`` needs probabilities rather than predicted labels.
        weighted_fn: Optional vectorized form for the bootstrap:
            ``weighted_fn(y_true, y_score_or_pred, labels, weights) -> values`` where ``weights``
            is a ``(b, n)`` matrix of resample counts (each row sums to ``n``) and ``values`` has
            shape ``(b,)``. Row ``i`` must equal ``fn`` on the rows repeated ``weights[i]`` times.
            Metrics without it are computed one resample at a time.
        description: One line for tables and reports.
    """

    name: str
    task: Task
    fn: MetricFn
    higher_is_better: bool
    needs_proba: bool = False
    weighted_fn: WeightedMetricFn | None = field(default=None, repr=False, compare=False)
    description: str = ""


_REGISTRY: dict[str, Metric] = {}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")


def register_metric(metric: Metric, *, replace: bool = False) -> Metric:
    """Add a metric to the registry.

    Args:
        metric: The metric to add.
        replace: Overwrite an existing metric of the same name instead of refusing.

    Returns:
        The metric, so the call can be used as an expression.

    Raises:
        ConfigError: The task is unknown, or the name is taken and ``replace`` is false.

    Example:
        >>> from sklearn.metrics import balanced_accuracy_score
        >>> register_metric(Metric(
        ...     "balanced_accuracy", "classification",
        ...     lambda y, pred, labels: float(balanced_accuracy_score(y, pred)),
        ...     higher_is_better=True,
        ... ))
    """
    _check_task(metric.task)
    if metric.name in _REGISTRY and not replace:
        raise ConfigError(
            f"a metric named {metric.name!r} is already registered; "
            "pick another name or pass replace=True"
        )
    _REGISTRY[metric.name] = metric
    return metric


def get_metric(name: str | Metric) -> Metric:
    """Return the registered metric called ``name`` (a :class:`Metric` is passed through).

    Raises:
        ConfigError: No metric has that name; the message lists the known names.
    """
    if isinstance(name, Metric):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown metric {name!r}; known metrics: {known}") from None


def metrics_for(task: str) -> list[Metric]:
    """Return the registered metrics of a task, in registration order.

    Raises:
        ConfigError: The task is not ``"classification"`` or ``"regression"``.
    """
    _check_task(task)
    return [m for m in _REGISTRY.values() if m.task == task]


# ---- built-in classification metrics ------------------------------------------------------


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den, dtype=float), where=den > 0)


def _class_index(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Column of each row's true class in a probability matrix ordered like ``labels``."""
    order = np.argsort(labels, kind="stable")
    pos = np.searchsorted(labels[order], y)
    pos = np.clip(pos, 0, len(labels) - 1)
    return order[pos]


def _auc_one(y_pos: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y_pos.all() or not y_pos.any():
        return math.nan
    return float(roc_auc_score(y_pos, score))


def _roc_auc(y: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    assert labels is not None
    if len(labels) == 2:
        return _auc_one(y == labels[1], proba[:, 1])
    aucs = [_auc_one(y == c, proba[:, j]) for j, c in enumerate(labels)]
    return float(np.mean(aucs))  # nan if any class is absent


def _weighted_auc_one(y_pos: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC (ties count one half) under count weights ``w`` of shape (b, n).

    For each positive row, the weight of negatives scored below it (plus half of those tied with
    it) is read off a running sum over the negatives in score order.
    """
    pos_idx, neg_idx = np.flatnonzero(y_pos), np.flatnonzero(~y_pos)
    neg_idx = neg_idx[np.argsort(score[neg_idx], kind="stable")]
    neg_scores = score[neg_idx]
    w_pos = w[:, pos_idx]
    cum = np.zeros((len(w), len(neg_idx) + 1))
    np.cumsum(w[:, neg_idx], axis=1, out=cum[:, 1:])
    below = np.searchsorted(neg_scores, score[pos_idx], side="left")
    upto = np.searchsorted(neg_scores, score[pos_idx], side="right")
    under = cum[:, below]
    if np.any(upto != below):  # ties between a positive and negatives count one half
        under += 0.5 * (cum[:, upto] - under)
    num = (w_pos * under).sum(axis=1)
    den = w_pos.sum(axis=1) * cum[:, -1]
    return np.divide(num, den, out=np.full(len(w), np.nan), where=den > 0)


def _w_roc_auc(y: np.ndarray, proba: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    assert labels is not None
    if len(labels) == 2:
        return _weighted_auc_one(y == labels[1], proba[:, 1], w)
    total = np.zeros(len(w))
    for j, c in enumerate(labels):
        total += _weighted_auc_one(y == c, proba[:, j], w)
    return total / len(labels)


def _accuracy(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, pred))


def _w_accuracy(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    return (w @ (y == pred).astype(float)) / w.sum(axis=1)


def _f1(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import f1_score

    assert labels is not None
    if len(labels) == 2:
        return float(
            f1_score(y == labels[1], pred == labels[1], average="binary", zero_division=0.0)
        )
    return float(f1_score(y, pred, labels=list(labels), average="macro", zero_division=0.0))


def _w_f1(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    assert labels is not None
    classes = [labels[1]] if len(labels) == 2 else list(labels)
    total = np.zeros(len(w))
    for c in classes:
        t, p = y == c, pred == c
        tp = w @ (t & p).astype(float)
        fp = w @ (~t & p).astype(float)
        fn = w @ (t & ~p).astype(float)
        total += _f1_from_counts(tp, fp, fn)
    return total / len(classes)


def _row_log_loss(y: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    eps = np.finfo(proba.dtype).eps
    p_true = proba[np.arange(len(y)), _class_index(y, labels)]
    return -np.log(np.clip(p_true, eps, 1 - eps))


def _log_loss(y: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    assert labels is not None
    return float(np.mean(_row_log_loss(y, proba, labels)))


def _w_log_loss(y: np.ndarray, proba: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    assert labels is not None
    return (w @ _row_log_loss(y, proba, labels)) / w.sum(axis=1)


def _row_brier(y: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    if len(labels) == 2:
        return (proba[:, 1] - (y == labels[1])) ** 2
    onehot = np.zeros_like(proba)
    onehot[np.arange(len(y)), _class_index(y, labels)] = 1.0
    return ((onehot - proba) ** 2).sum(axis=1)


def _brier(y: np.ndarray, proba: np.ndarray, labels: np.ndarray | None) -> float:
    assert labels is not None
    return float(np.mean(_row_brier(y, proba, labels)))


def _w_brier(y: np.ndarray, proba: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    assert labels is not None
    return (w @ _row_brier(y, proba, labels)) / w.sum(axis=1)


# ---- built-in regression metrics ------------------------------------------------------------


def _rmse(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(y, pred))


def _w_rmse(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    return np.sqrt((w @ (y - pred) ** 2) / w.sum(axis=1))


def _mae(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(y, pred))


def _w_mae(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    return (w @ np.abs(y - pred)) / w.sum(axis=1)


def _r2(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None) -> float:
    from sklearn.metrics import r2_score

    return float(r2_score(y, pred))


def _w_r2(y: np.ndarray, pred: np.ndarray, labels: np.ndarray | None, w: np.ndarray):
    sw = w.sum(axis=1)
    yc = y - y.mean()  # centring first avoids cancellation in the sum of squares below
    ss_tot = w @ yc**2 - (w @ yc) ** 2 / sw
    ss_res = w @ (y - pred) ** 2
    tiny = ss_tot <= 1e-12 * np.maximum(w @ yc**2, 1e-300)
    r2 = 1.0 - np.divide(ss_res, ss_tot, out=np.zeros_like(ss_res), where=~tiny)
    # sklearn's force_finite convention: constant targets give 1 if perfectly predicted, else 0.
    return np.where(tiny, np.where(ss_res == 0, 1.0, 0.0), r2)


def _register_builtins() -> None:
    c, r = "classification", "regression"
    for m in (
        Metric("roc_auc", c, _roc_auc, True, True, _w_roc_auc,
               "ROC AUC (binary: positive class; multiclass: one-vs-rest macro)"),
        Metric("accuracy", c, _accuracy, True, False, _w_accuracy, "share of correct labels"),
        Metric("f1", c, _f1, True, False, _w_f1, "F1 (binary: positive class; multiclass: macro)"),
        Metric("log_loss", c, _log_loss, False, True, _w_log_loss, "mean negative log-likelihood"),
        Metric("brier", c, _brier, False, True, _w_brier,
               "Brier score (binary: positive class; multiclass: sum over classes)"),
        Metric("rmse", r, _rmse, False, False, _w_rmse, "root mean squared error"),
        Metric("mae", r, _mae, False, False, _w_mae, "mean absolute error"),
        Metric("r2", r, _r2, True, False, _w_r2, "coefficient of determination"),
    ):  # fmt: skip
        register_metric(m, replace=True)


_register_builtins()


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a bootstrap confidence interval.

    Attributes:
        value: The metric on all test rows (or, for a paired delta, ``metric(b) - metric(a)``).
        ci_low: Lower percentile-bootstrap bound (``nan`` when no resample was usable).
        ci_high: Upper bound.
        n_resamples: How many resamples the interval is based on (resamples on which the metric
            is undefined are skipped); ``None`` when not computed by a bootstrap.
    """

    value: float
    ci_low: float
    ci_high: float
    n_resamples: int | None = None

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies inside the closed interval ``[ci_low, ci_high]``."""
        return bool(self.ci_low <= x <= self.ci_high)

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}]"


@dataclass(frozen=True)
class _Inputs:
    task: str
    y: np.ndarray
    proba: np.ndarray | None  # classification probabilities (n, k)
    pred: np.ndarray  # predicted labels (classification) or predictions (regression)
    labels: np.ndarray | None

    def arg_for(self, metric: Metric) -> np.ndarray:
        if metric.task != self.task:
            raise ConfigError(
                f"metric {metric.name!r} is for {metric.task}, not {self.task}; "
                f"use one of: {', '.join(m.name for m in metrics_for(self.task))}"
            )
        if metric.needs_proba:
            if self.proba is None:
                raise ConfigError(
                    f"metric {metric.name!r} needs class probabilities (predict_proba) but only "
                    "predicted labels were given; pass the probability matrix or choose one of: "
                    + ", ".join(m.name for m in metrics_for(self.task) if not m.needs_proba)
                )
            return self.proba
        return self.pred


def _prepare(
    task: str, y_true: npt.ArrayLike, y_score: npt.ArrayLike, labels: npt.ArrayLike | None
) -> _Inputs:
    _check_task(task)
    y = np.asarray(y_true)
    score = np.asarray(y_score)
    if y.ndim != 1:
        raise DatasetError(f"y_true must be one-dimensional, got shape {y.shape}")
    if len(y) == 0:
        raise DatasetError("y_true is empty; evaluation needs at least one test row")
    if score.shape[0] != len(y):
        raise DatasetError(
            f"y_true has {len(y)} rows but the scores have {score.shape[0]}; pass predictions "
            "for exactly the test rows"
        )
    if task == "regression":
        if score.ndim == 2 and score.shape[1] == 1:
            score = score[:, 0]
        if score.ndim != 1:
            raise DatasetError(
                f"regression predictions must have shape (n,), got {score.shape}; "
                "multi-output regression is not supported"
            )
        return _Inputs(task, y.astype(float), None, score.astype(float), None)

    if score.ndim == 2:
        lab = np.unique(y) if labels is None else np.asarray(labels)
        if score.shape[1] != len(lab):
            raise DatasetError(
                f"the probability matrix has {score.shape[1]} columns but there are {len(lab)} "
                f"labels ({list(lab)[:10]}); pass labels=<the classifier's classes_>"
            )
        proba = score.astype(float)
        pred = lab[np.argmax(proba, axis=1)]
    elif score.ndim == 1:  # predicted labels, no probabilities
        lab = np.unique(np.concatenate([y, score])) if labels is None else np.asarray(labels)
        proba, pred = None, score
    else:
        raise DatasetError(f"classification scores must be 1-D or 2-D, got shape {score.shape}")
    if len(lab) < 2:
        raise DatasetError(f"classification needs at least two labels, got {list(lab)}")
    unknown = np.setdiff1d(np.unique(y), lab)
    if len(unknown):
        raise DatasetError(
            f"y_true holds labels {list(unknown)[:10]} that are not in labels {list(lab)[:10]}"
        )
    return _Inputs(task, y, proba, pred, lab)


def _resolve_metrics(task: str, metrics: Sequence[str | Metric] | None, inputs: _Inputs):
    if metrics is None:
        chosen = metrics_for(task)
        if inputs.proba is None:
            chosen = [m for m in chosen if not m.needs_proba]
        return chosen
    return [get_metric(m) for m in metrics]


def _check_options(n_boot: int, confidence: float) -> None:
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(indices, counts)`` chunks of bootstrap resamples of ``n`` rows.

    The chunking depends only on ``n``, so the same ``(n, n_boot, seed)`` always gives the same
    resamples, whichever metrics or models are evaluated on them.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + (np.arange(b) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)
        yield idx, counts
        done += b


def _replicates(
    inputs_and_metrics: Sequence[tuple[_Inputs, Metric]], n: int, n_boot: int, seed: int
) -> list[np.ndarray]:
    """Metric values on each resample (``nan`` where undefined), one array per pair."""
    out = [np.empty(n_boot) for _ in inputs_and_metrics]
    start = 0
    for idx, counts in _resamples(n, n_boot, seed):
        stop = start + len(idx)
        for values, (inp, metric) in zip(out, inputs_and_metrics, strict=True):
            arg = inp.arg_for(metric)
            if metric.weighted_fn is not None:
                values[start:stop] = metric.weighted_fn(inp.y, arg, inp.labels, counts)
            else:
                values[start:stop] = [metric.fn(inp.y[i], arg[i], inp.labels) for i in idx]
        start = stop
    return out


def _percentile_ci(values: np.ndarray, confidence: float) -> tuple[float, float, int]:
    valid = values[np.isfinite(values)]
    if len(valid) == 0:
        return math.nan, math.nan, 0
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(valid, [alpha, 1.0 - alpha])
    return float(lo), float(hi), len(valid)


def bootstrap_metrics(
    task: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str | Metric] | None = None,
) -> dict[str, Estimate]:
    """Metrics on the test rows with percentile-bootstrap confidence intervals.

    Test rows are resampled with replacement ``n_boot`` times (numpy ``Generator`` seeded with
    ``seed``: identical inputs and seed give identical numbers, and the resamples depend only on
    the number of rows, ``n_boot`` and ``seed``). Each metric's interval is the
    ``(1 - confidence) / 2`` and ``1 - (1 - confidence) / 2`` quantiles of its resampled values.
    Resamples on which a metric is undefined (``nan``; e.g. ROC AUC when a resample lacks a class)
    are skipped for that metric; ``Estimate.n_resamples`` says how many were used.

    Args:
        task: ``"classification"`` or ``"regression"``.
        y_true: True targets, shape ``(n,)``.
        y_score: Classification: ``predict_proba`` matrix ``(n, k)`` with columns in ``labels``
            order (or predicted labels ``(n,)`` when the model has no probabilities; then only
            label metrics are available). Regression: predictions ``(n,)``.
        labels: Class order of the probability columns (the classifier's ``classes_``); default
            the sorted unique values of ``y_true``.
        n_boot: Number of bootstrap resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval, e.g. 0.95.
        metrics: Metric names or objects; default all registered metrics of the task (without
            the probability metrics when only labels are given).

    Returns:
        ``{metric name: Estimate}`` in the order of ``metrics``.

    Raises:
        ConfigError: Unknown task or metric, or bad ``n_boot``/``confidence``.
        DatasetError: Shapes or labels do not fit together.

    Example:
        >>> est = bootstrap_metrics("classification", y, proba, labels=clf.classes_)
        >>> print(est["roc_auc"])
        0.9871 [0.9712, 0.9968]
    """
    _check_options(n_boot, confidence)
    inputs = _prepare(task, y_true, y_score, labels)
    chosen = _resolve_metrics(task, metrics, inputs)
    pairs = [(inputs, m) for m in chosen]
    for m in chosen:
        inputs.arg_for(m)  # fail early on a task or probability mismatch
    reps = _replicates(pairs, len(inputs.y), n_boot, seed)
    result: dict[str, Estimate] = {}
    for m, values in zip(chosen, reps, strict=True):
        point = float(m.fn(inputs.y, inputs.arg_for(m), inputs.labels))
        lo, hi, used = _percentile_ci(values, confidence)
        result[m.name] = Estimate(point, lo, hi, used)
    return result


def paired_bootstrap_delta(
    task: str,
    y_true: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    *,
    metric: str | Metric,
    labels: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[Estimate, float]:
    """Difference ``metric(b) - metric(a)`` on the same test rows, with a paired bootstrap.

    Both models are scored on the *same* resampled rows, so the interval reflects the difference
    between the models rather than the noise of the test set. Resamples on which either value is
    undefined are skipped. Note the sign: for a lower-is-better metric (rmse, log_loss) a
    negative delta means ``b`` is better; see ``get_metric(metric).higher_is_better``.

    The two-sided p-value is ``2 * min(P(delta* <= 0), P(delta* >= 0))`` over the resampled
    deltas, each share computed as ``(count + 1) / (resamples + 1)`` so it is never exactly 0,
    and capped at 1. It is below ``1 - confidence`` roughly when the interval excludes 0.

    Args:
        task: ``"classification"`` or ``"regression"``.
        y_true: True targets, shape ``(n,)``.
        score_a: Scores of the baseline model (see :func:`bootstrap_metrics` for shapes).
        score_b: Scores of the candidate model, same shape and class order as ``score_a``.
        metric: Metric name or object.
        labels: Class order of the probability columns.
        n_boot: Number of bootstrap resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval.

    Returns:
        ``(Estimate of the delta, two-sided p-value)``.

    Example:
        >>> delta, p = paired_bootstrap_delta(
        ...     "classification", y, proba_champion, proba_challenger, metric="roc_auc"
        ... )
    """
    _check_options(n_boot, confidence)
    m = get_metric(metric)
    a = _prepare(task, y_true, score_a, labels)
    b = _prepare(task, y_true, score_b, labels)
    if a.labels is not None and b.labels is not None and not np.array_equal(a.labels, b.labels):
        raise DatasetError(
            f"the two models use different labels ({list(a.labels)} vs {list(b.labels)}); "
            "pass labels= explicitly"
        )
    va, vb = _replicates([(a, m), (b, m)], len(a.y), n_boot, seed)
    point = float(m.fn(b.y, b.arg_for(m), b.labels)) - float(m.fn(a.y, a.arg_for(m), a.labels))
    deltas = vb - va
    lo, hi, used = _percentile_ci(deltas, confidence)
    valid = deltas[np.isfinite(deltas)]
    if used == 0:
        return Estimate(point, lo, hi, 0), math.nan
    le = (np.count_nonzero(valid <= 0) + 1) / (used + 1)
    ge = (np.count_nonzero(valid >= 0) + 1) / (used + 1)
    return Estimate(point, lo, hi, used), float(min(1.0, 2.0 * min(le, ge)))


# --------------------------------------------------------------------------------------------
# Evaluating a pipeline
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """What :func:`evaluate_pipeline` measured on the test split (compared by identity).

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        estimates: ``{metric name: Estimate}``.
        y_true: True test targets.
        y_score: Classification: probability matrix ``(n, k)`` (or predicted labels when the
            model has no ``predict_proba``); regression: predictions.
        labels: Class order of ``y_score``'s columns; ``None`` for regression.
        n_boot: Bootstrap resamples used.
        seed: Seed of the bootstrap.
        confidence: Coverage of the intervals.
    """

    task: str
    estimates: dict[str, Estimate]
    y_true: np.ndarray
    y_score: np.ndarray
    labels: np.ndarray | None
    n_boot: int
    seed: int
    confidence: float

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted labels (classification) or predictions (regression)."""
        if self.task == "classification" and self.y_score.ndim == 2:
            assert self.labels is not None
            return self.labels[np.argmax(self.y_score, axis=1)]
        return self.y_score

    @property
    def positive_proba(self) -> np.ndarray:
        """Probability of the positive class ``labels[1]`` (binary classification only)."""
        if self.task != "classification" or self.y_score.ndim != 2 or self.y_score.shape[1] != 2:
            raise ConfigError(
                "positive_proba needs a binary classifier with predict_proba; "
                f"this result is {self.task} with scores of shape {self.y_score.shape}"
            )
        return self.y_score[:, 1]

    @property
    def headline(self) -> Estimate:
        """The estimate of the task's headline metric (see :data:`HEADLINE`)."""
        name = HEADLINE[self.task]
        if name not in self.estimates:
            raise ConfigError(
                f"the headline metric {name!r} was not computed; computed: "
                + ", ".join(self.estimates)
            )
        return self.estimates[name]

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a table with columns ``name, value, ci_low, ci_high``."""
        return pd.DataFrame(
            {
                "name": list(self.estimates),
                "value": [e.value for e in self.estimates.values()],
                "ci_low": [e.ci_low for e in self.estimates.values()],
                "ci_high": [e.ci_high for e in self.estimates.values()],
            }
        )


def evaluate_pipeline(
    pipe: Any,
    X_test: Any,
    y_test: npt.ArrayLike,
    *,
    task: str,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str | Metric] | None = None,
) -> EvaluationResult:
    """Score a fitted pipeline on the test split and bootstrap its metrics.

    Classifiers are scored with ``predict_proba`` (class order ``pipe.classes_``); a classifier
    without it is scored with ``predict`` and gets only the label metrics. Regressors use
    ``predict``.

    Args:
        pipe: A fitted sklearn estimator or Pipeline.
        X_test: Test features.
        y_test: Test targets.
        task: ``"classification"`` or ``"regression"``.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap.
        confidence: Coverage of the intervals.
        metrics: Metric names; default all registered metrics of the task.

    Returns:
        An :class:`EvaluationResult`.

    Example:
        >>> result = evaluate_pipeline(pipe, X_test, y_test, task="classification")
        >>> result.to_frame()
    """
    _check_task(task)
    _check_options(n_boot, confidence)
    y = np.asarray(y_test)
    labels: np.ndarray | None = None
    if task == "classification":
        classes = getattr(pipe, "classes_", None)
        labels = None if classes is None else np.asarray(classes)
        if hasattr(pipe, "predict_proba"):
            score = np.asarray(pipe.predict_proba(X_test))
        else:
            score = np.asarray(pipe.predict(X_test))
    else:
        score = np.asarray(pipe.predict(X_test))
    estimates = bootstrap_metrics(
        task, y, score, labels=labels, n_boot=n_boot, seed=seed, confidence=confidence,
        metrics=metrics,
    )  # fmt: skip
    if task == "classification" and labels is None:
        labels = _prepare(task, y, score, None).labels
    return EvaluationResult(task, estimates, y, score, labels, n_boot, seed, confidence)


# --------------------------------------------------------------------------------------------
# Latency and size
# --------------------------------------------------------------------------------------------


def _take_rows(X: Any, rows: np.ndarray | slice) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return np.asarray(X)[rows]


def measure_latency(
    pipe: Any,
    X: Any,
    *,
    n_single: int = 200,
    batch_rows: int | None = None,
    seed: int = 0,
    max_seconds: float = 10.0,
    method: str | None = None,
    n_warmup: int = 5,
) -> dict[str, float]:
    """Measure single-row latency and batch throughput of a fitted model in this process.

    Rows are picked from ``X`` with a seeded generator and sliced before timing, so only the
    model call is measured (``time.perf_counter``). A few warm-up calls come first. Both phases
    are bounded in count and in time: single-row calls stop after ``n_single`` calls or half of
    ``max_seconds``; batch calls stop after 5 repetitions or the rest of the budget, with at
    least one timed call each. Numbers depend on the machine and its load; compare models
    measured side by side in one session.

    Args:
        pipe: A fitted estimator or Pipeline.
        X: Feature rows (DataFrame or array) to draw inputs from.
        n_single: Maximum number of timed single-row calls.
        batch_rows: Rows per batch call; default ``min(len(X), 1000)``. Larger than ``len(X)``
            samples rows with replacement.
        seed: Seed of the row selection.
        max_seconds: Time budget for both phases together (warm-up excluded).
        method: Method to call; default ``"predict_proba"`` when the model has it, else
            ``"predict"``.
        n_warmup: Untimed calls before each phase.

    Returns:
        ``{"single_p50_ms", "single_p99_ms", "single_mean_ms", "n_single", "batch_rows",
        "batch_rows_per_s", "batch_repeats"}``.

    Raises:
        ConfigError: ``X`` is empty, a count or budget is not positive, or ``method`` is missing.
    """
    n = len(X)
    if n == 0:
        raise ConfigError("X is empty; measure_latency needs at least one row")
    if n_single < 1 or max_seconds <= 0 or (batch_rows is not None and batch_rows < 1):
        raise ConfigError(
            f"n_single ({n_single}), batch_rows ({batch_rows}) and max_seconds ({max_seconds}) "
            "must be positive"
        )
    if method is None:
        method = "predict_proba" if hasattr(pipe, "predict_proba") else "predict"
    call = getattr(pipe, method, None)
    if call is None:
        raise ConfigError(f"{type(pipe).__name__} has no method {method!r}; use predict")
    rng = np.random.default_rng(seed)
    clock = time.perf_counter

    rows = [_take_rows(X, slice(i, i + 1)) for i in rng.integers(0, n, size=n_single)]
    for row in rows[: max(0, n_warmup)]:
        call(row)
    single: list[float] = []
    deadline = clock() + max_seconds / 2
    for row in rows:
        t0 = clock()
        call(row)
        t1 = clock()
        single.append(t1 - t0)
        if t1 > deadline:
            break

    b = min(n, 1000) if batch_rows is None else batch_rows
    batch_idx = np.arange(b) if b <= n else rng.integers(0, n, size=b)
    batch = _take_rows(X, batch_idx)
    call(batch)  # warm-up
    times: list[float] = []
    deadline = clock() + max_seconds / 2
    while len(times) < 5:
        t0 = clock()
        call(batch)
        t1 = clock()
        times.append(t1 - t0)
        if t1 > deadline:
            break

    ms = np.asarray(single) * 1e3
    return {
        "single_p50_ms": float(np.percentile(ms, 50)),
        "single_p99_ms": float(np.percentile(ms, 99)),
        "single_mean_ms": float(ms.mean()),
        "n_single": len(single),
        "batch_rows": b,
        "batch_rows_per_s": float(b / max(float(np.median(times)), 1e-12)),
        "batch_repeats": len(times),
    }


def model_size_bytes(path: str | Path) -> int:
    """Size on disk of a model file, or the total of all files under a model folder.

    Raises:
        ModelError: Nothing exists at ``path``.
    """
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    raise ModelError(f"no model file or folder at {str(p)!r}; pass the path the model was saved to")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _compact(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"itemsizing": "constant"},
    )
    return fig


def _class_scores(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, labels: npt.ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, list[tuple[Any, np.ndarray, np.ndarray]]]:
    """``(y, labels, [(class, is_class, score), ...])`` for one-vs-rest curves.

    A 1-D ``y_score`` is the positive-class probability of a binary task. Binary tasks give one
    entry (the positive class ``labels[1]``); classes absent from ``y_true`` are left out.
    """
    y = np.asarray(y_true)
    score = np.asarray(y_score, dtype=float)
    if score.ndim == 1:
        lab = np.unique(y) if labels is None else np.asarray(labels)
        if len(lab) != 2:
            raise DatasetError(
                f"a 1-D score is read as the positive-class probability of a binary task, but "
                f"there are {len(lab)} labels; pass the (n, k) probability matrix"
            )
        score = np.column_stack([1 - score, score])
    inputs = _prepare("classification", y, score, labels)
    assert inputs.labels is not None and inputs.proba is not None
    lab = inputs.labels
    cols = [1] if len(lab) == 2 else range(len(lab))
    entries = []
    for j in cols:
        is_c = y == lab[j]
        if is_c.any() and not is_c.all():
            entries.append((lab[j], is_c, inputs.proba[:, j]))
    return y, lab, entries


def roc_figure(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    title: str = "ROC curve",
) -> go.Figure:
    """ROC curve: one line for a binary task, one one-vs-rest line per class otherwise.

    Args:
        y_true: True labels.
        y_score: Probability matrix ``(n, k)`` ordered like ``labels``, or the positive-class
            probability ``(n,)`` of a binary task.
        labels: Class order; default the sorted unique labels of ``y_true``.
        title: Figure title.
    """
    import plotly.graph_objects as go
    from sklearn.metrics import roc_auc_score, roc_curve

    _, _, entries = _class_scores(y_true, y_score, labels)
    fig = go.Figure()
    for c, is_c, s in entries:
        fpr, tpr, _ = roc_curve(is_c, s)
        auc = roc_auc_score(is_c, s)
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{escape(c)} (AUC {auc:.3f})"))
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="chance",
            line={"dash": "dash", "color": "grey", "width": 1},
        )
    )  # fmt: skip
    fig.update_xaxes(title_text="false positive rate", range=[0, 1])
    fig.update_yaxes(title_text="true positive rate", range=[0, 1.02])
    return _compact(fig, title)


def pr_figure(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    title: str = "Precision-recall curve",
) -> go.Figure:
    """Precision-recall curve with average precision; one-vs-rest per class for multiclass.

    A binary task also shows the prevalence of the positive class (a random ranker's precision).
    Arguments as in :func:`roc_figure`.
    """
    import plotly.graph_objects as go
    from sklearn.metrics import average_precision_score, precision_recall_curve

    _, _, entries = _class_scores(y_true, y_score, labels)
    fig = go.Figure()
    for c, is_c, s in entries:
        precision, recall, _ = precision_recall_curve(is_c, s)
        ap = average_precision_score(is_c, s)
        fig.add_trace(
            go.Scatter(x=recall, y=precision, mode="lines", line_shape="hv",
                       name=f"{escape(c)} (AP {ap:.3f})")
        )  # fmt: skip
    if len(entries) == 1:
        prevalence = float(entries[0][1].mean())
        fig.add_trace(
            go.Scatter(
                x=[0, 1], y=[prevalence, prevalence], mode="lines", name="prevalence",
                line={"dash": "dash", "color": "grey", "width": 1},
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="recall", range=[0, 1])
    fig.update_yaxes(title_text="precision", range=[0, 1.02])
    return _compact(fig, title)


def calibration_figure(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
    title: str = "Calibration",
) -> go.Figure:
    """Reliability diagram over a histogram of predicted probabilities.

    Binary tasks show the positive class; multiclass tasks show one one-vs-rest curve per class.
    Each point is the mean predicted probability of a bin against the observed share of the
    class in it (``sklearn.calibration.calibration_curve``).

    Args:
        y_true: True labels.
        y_score: Probability matrix ``(n, k)`` or positive-class probability ``(n,)``.
        labels: Class order; default the sorted unique labels of ``y_true``.
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal-width bins) or ``"quantile"`` (equal-count bins).
        title: Figure title.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots
    from sklearn.calibration import calibration_curve

    _, _, entries = _class_scores(y_true, y_score, labels)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.04
    )
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692"]
    for i, (c, is_c, s) in enumerate(entries):
        color = palette[i % len(palette)]
        frac, mean_pred = calibration_curve(
            is_c.astype(int), s, pos_label=1, n_bins=n_bins, strategy=strategy
        )
        fig.add_trace(
            go.Scatter(x=mean_pred, y=frac, mode="lines+markers", name=escape(c),
                       legendgroup=str(c), line={"color": color}),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Histogram(x=s, xbins={"start": 0, "end": 1, "size": 1 / n_bins},
                         name=escape(c), legendgroup=str(c), showlegend=False,
                         marker={"color": color}, opacity=0.6),
            row=2, col=1,
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                   line={"dash": "dash", "color": "grey", "width": 1}),
        row=1, col=1,
    )  # fmt: skip
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(title_text="observed frequency", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="count", row=2, col=1)
    fig.update_xaxes(title_text="mean predicted probability", range=[0, 1], row=2, col=1)
    return _compact(fig, title, height=480)


def confusion_figure(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    normalize: Literal["true", "pred", "all"] | None = None,
    title: str = "Confusion matrix",
) -> go.Figure:
    """Confusion matrix as an annotated heatmap (rows: true class, columns: predicted).

    Args:
        y_true: True labels.
        y_pred: Predicted labels ``(n,)``, or a probability matrix ``(n, k)`` (its argmax is used).
        labels: Class order; default the sorted labels present in ``y_true`` and ``y_pred``.
        normalize: As in ``sklearn.metrics.confusion_matrix``: colour by share of the true class
            (``"true"``), of the predicted class (``"pred"``) or of all rows; counts stay shown.
        title: Figure title.
    """
    import plotly.graph_objects as go
    from sklearn.metrics import confusion_matrix

    if normalize not in (None, "true", "pred", "all"):
        raise ConfigError(f"normalize must be None, 'true', 'pred' or 'all', got {normalize!r}")
    inputs = _prepare("classification", y_true, y_pred, labels)
    assert inputs.labels is not None
    lab = list(inputs.labels)
    counts = confusion_matrix(inputs.y, inputs.pred, labels=lab)
    z = confusion_matrix(inputs.y, inputs.pred, labels=lab, normalize=normalize)
    if normalize is None:
        text = counts.astype(str)
    else:
        text = np.array(
            [[f"{c}<br>{v:.1%}" for c, v in zip(cr, zr, strict=True)]
             for cr, zr in zip(counts, z, strict=True)]
        )  # fmt: skip
    names = [escape(c) for c in lab]  # class labels are user text; plotly reads tags
    fig = go.Figure(
        go.Heatmap(
            z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
            colorbar={"title": {"text": "count" if normalize is None else "share"}},
        )
    )  # fmt: skip
    fig.update_xaxes(title_text="predicted label", type="category")
    fig.update_yaxes(title_text="true label", type="category", autorange="reversed")
    side = min(700, 260 + 45 * len(lab))
    return _compact(fig, title, height=side)


def residual_figure(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    *,
    max_points: int = 5000,
    seed: int = 0,
    title: str = "Residuals",
) -> go.Figure:
    """Regression diagnostics: residual vs predicted (left) and predicted vs actual (right).

    Args:
        y_true: True targets.
        y_pred: Predictions.
        max_points: Plot at most this many rows (a seeded sample) to keep reports small.
        seed: Seed of that sample.
        title: Figure title.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    inputs = _prepare("regression", y_true, y_pred, None)
    y, pred = inputs.y, inputs.pred
    if len(y) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), max_points, replace=False))
        y, pred = y[keep], pred[keep]
    resid = y - pred
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Residual vs predicted", "Predicted vs actual"),
        horizontal_spacing=0.1,
    )  # fmt: skip
    marker = {"size": 5, "opacity": 0.6}
    fig.add_trace(
        go.Scatter(x=pred, y=resid, mode="markers", marker=marker, name="residual"), row=1, col=1
    )
    fig.add_hline(y=0, line={"dash": "dash", "color": "grey", "width": 1}, row=1, col=1)
    fig.add_trace(
        go.Scatter(x=y, y=pred, mode="markers", marker=marker, name="prediction"), row=1, col=2
    )
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="perfect",
                   line={"dash": "dash", "color": "grey", "width": 1}),
        row=1, col=2,
    )  # fmt: skip
    fig.update_xaxes(title_text="predicted", row=1, col=1)
    fig.update_yaxes(title_text="residual (actual − predicted)", row=1, col=1)
    fig.update_xaxes(title_text="actual", row=1, col=2)
    fig.update_yaxes(title_text="predicted", row=1, col=2)
    fig.update_layout(showlegend=False)
    return _compact(fig, title)


def metrics_ci_figure(
    estimates: Mapping[str, Estimate],
    *,
    title: str = "Test metrics with confidence intervals",
) -> go.Figure:
    """One row per metric: the point estimate as a dot with its interval as error bars.

    Each metric has its own x-axis because metrics live on different scales (rmse vs r2).

    Args:
        estimates: ``{name: Estimate}``, e.g. ``EvaluationResult.estimates``.
        title: Figure title.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not estimates:
        raise ConfigError("metrics_ci_figure needs at least one estimate")
    names = list(estimates)
    fig = make_subplots(rows=len(names), cols=1, vertical_spacing=min(0.08, 0.3 / len(names)))
    for i, name in enumerate(names, start=1):
        e = estimates[name]
        has_ci = math.isfinite(e.ci_low) and math.isfinite(e.ci_high)
        error = (
            {"type": "data", "symmetric": False, "array": [e.ci_high - e.value],
             "arrayminus": [e.value - e.ci_low], "thickness": 2, "width": 8}
            if has_ci else {"visible": False}
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[e.value], y=[name], mode="markers", marker={"size": 10}, error_x=error,
                name=name, hovertemplate=f"{name}: {e}<extra></extra>",
            ),
            row=i, col=1,
        )  # fmt: skip
        fig.update_yaxes(type="category", row=i, col=1)
    fig.update_xaxes(title_text="value (dot) and confidence interval (bars)", row=len(names))
    fig.update_layout(showlegend=False)
    return _compact(fig, title, height=90 + 70 * len(names))


# --------------------------------------------------------------------------------------------
# Thresholds (binary tasks)
# --------------------------------------------------------------------------------------------


def _binary_truth(y_true: npt.ArrayLike, pos_label: Any) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise DatasetError(f"y_true must be one-dimensional, got shape {y.shape}")
    present = np.unique(y)
    if len(present) > 2:
        raise DatasetError(
            f"thresholds apply to binary tasks; y_true has {len(present)} classes "
            f"({list(present)[:10]})"
        )
    if pos_label is None:
        pos_label = present[-1] if len(present) else 1
    return y == pos_label


def _counts_at(
    truth: np.ndarray, proba: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``tp, fp, fn, tn`` per threshold, predicting positive when ``proba >= threshold``."""
    pos_sorted = np.sort(proba[truth])
    neg_sorted = np.sort(proba[~truth])
    tp = len(pos_sorted) - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, thresholds, side="left")
    return tp, fp, len(pos_sorted) - tp, len(neg_sorted) - fp


def threshold_table(
    y_true: npt.ArrayLike,
    proba_pos: npt.ArrayLike,
    *,
    thresholds: npt.ArrayLike | None = None,
    pos_label: Any = None,
) -> pd.DataFrame:
    """Precision, recall, F1 and accuracy of a binary classifier at several thresholds.

    A row is predicted positive when ``proba_pos >= threshold``. Precision is 0 where nothing is
    predicted positive (likewise F1), matching sklearn's ``zero_division=0``.

    Args:
        y_true: True labels of a binary task.
        proba_pos: Probability of the positive class, shape ``(n,)``.
        thresholds: Thresholds to tabulate; default 0.05, 0.10, ..., 0.95.
        pos_label: The positive class; default the larger of the (sorted) labels, i.e. a
            classifier's ``classes_[1]``.

    Returns:
        Columns ``threshold, precision, recall, f1, accuracy, predicted_positive``; recall never
        increases with the threshold.

    Example:
        >>> threshold_table([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], thresholds=[0.5])
    """
    truth = _binary_truth(y_true, pos_label)
    proba = np.asarray(proba_pos, dtype=float)
    if proba.shape != truth.shape:
        raise DatasetError(
            f"proba_pos has shape {proba.shape} but y_true has {truth.shape}; "
            "pass the positive-class column, e.g. proba[:, 1]"
        )
    t = np.round(np.arange(1, 20) * 0.05, 10) if thresholds is None else np.asarray(thresholds)
    t = np.sort(t.astype(float))
    tp, fp, fn, tn = _counts_at(truth, proba, t)
    pp = tp + fp
    precision = np.divide(tp, pp, out=np.zeros(len(t)), where=pp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(t)), where=(tp + fn) > 0)
    return pd.DataFrame(
        {
            "threshold": t,
            "precision": precision,
            "recall": recall,
            "f1": _f1_from_counts(tp.astype(float), fp.astype(float), fn.astype(float)),
            "accuracy": (tp + tn) / max(len(truth), 1),
            "predicted_positive": pp.astype(int),
        }
    )


def _threshold_html(truth: np.ndarray, proba: np.ndarray, t: float) -> str:
    tp, fp, fn, tn = (int(v[0]) for v in _counts_at(truth, proba, np.array([t])))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    accuracy = (tp + tn) / max(len(truth), 1)
    cell = 'style="padding:2px 10px;text-align:right"'
    return (
        f"<table><tr><th></th><th {cell}>predicted +</th><th {cell}>predicted −</th></tr>"
        f"<tr><th>actual +</th><td {cell}>TP {tp}</td><td {cell}>FN {fn}</td></tr>"
        f"<tr><th>actual −</th><td {cell}>FP {fp}</td><td {cell}>TN {tn}</td></tr></table>"
        f"<p>threshold {escape(f'{t:.3f}')} · precision {precision:.3f} · "
        f"recall {recall:.3f} · F1 {f1:.3f} · accuracy {accuracy:.3f}</p>"
    )


def threshold_explorer(
    y_true: npt.ArrayLike,
    proba_pos: npt.ArrayLike,
    *,
    pos_label: Any = None,
    value: float = 0.5,
    step: float = 0.01,
) -> ipywidgets.VBox:
    """An interactive threshold picker for JupyterLab: a slider over confusion counts and metrics.

    The widget needs a live kernel; batch runs and HTML reports should show
    :func:`threshold_table` instead.

    Args:
        y_true: True labels of a binary task.
        proba_pos: Probability of the positive class, shape ``(n,)``.
        pos_label: The positive class (see :func:`threshold_table`).
        value: Initial threshold.
        step: Slider step.

    Returns:
        ``VBox([FloatSlider, HTML])``; display it in a notebook cell.
    """
    import ipywidgets as widgets

    truth = _binary_truth(y_true, pos_label)
    proba = np.asarray(proba_pos, dtype=float)
    if proba.shape != truth.shape:
        raise DatasetError(f"proba_pos has shape {proba.shape} but y_true has {truth.shape}")
    slider = widgets.FloatSlider(
        value=value, min=0.0, max=1.0, step=step, description="threshold",
        readout_format=".2f", continuous_update=True,
    )  # fmt: skip
    out = widgets.HTML(value=_threshold_html(truth, proba, value))

    def _update(change: dict[str, Any]) -> None:
        out.value = _threshold_html(truth, proba, float(change["new"]))

    slider.observe(_update, names="value")
    return widgets.VBox([slider, out])
