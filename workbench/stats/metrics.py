"""The metric registry: what a score is judged by, and how it is computed on resamples.

Each :class:`Metric` computes one number from ``(y_true, y_score_or_pred, labels)``; the built-in
ones also carry a vectorized *weighted* form used by the bootstrap
(:mod:`workbench.stats.bootstrap`), so a thousand resamples cost a few matrix products instead of
a thousand sklearn calls. Register more with :func:`register_metric`.

Conventions:

- Classification scores are ``predict_proba`` matrices of shape ``(n, k)`` whose columns follow
  ``labels`` (a classifier's ``classes_``). For two classes the positive class is ``labels[1]``.
  A metric with ``needs_proba=False`` receives the predicted labels ``labels[argmax(proba)]``.
- Regression scores are the predictions, shape ``(n,)``.

:func:`prepare_scores` checks ``(y_true, y_score, labels)`` once and hands each metric the
argument it needs (:meth:`Scores.arg_for`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from workbench.exceptions import ConfigError, DatasetError

__all__ = [
    "HEADLINE",
    "TASKS",
    "Metric",
    "Scores",
    "Task",
    "check_task",
    "f1_from_counts",
    "get_metric",
    "metrics_for",
    "prepare_scores",
    "register_metric",
]

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")

#: The metric a task is judged by first (reports, comparisons, gates default to it).
HEADLINE: dict[str, str] = {"classification": "roc_auc", "regression": "rmse"}

MetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], float]
WeightedMetricFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", np.ndarray], np.ndarray]


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


def check_task(task: str) -> None:
    """Raise :class:`ConfigError` unless ``task`` is ``classification`` or ``regression``."""
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
    check_task(metric.task)
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
    check_task(task)
    return [m for m in _REGISTRY.values() if m.task == task]


# ---- built-in classification metrics ------------------------------------------------------


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 from true-positive, false-positive and false-negative counts (0 where undefined)."""
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
        total += f1_from_counts(tp, fp, fn)
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


# ---- checked inputs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Targets and scores checked by :func:`prepare_scores`.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        y: True targets, shape ``(n,)``.
        proba: Classification probabilities ``(n, k)`` in ``labels`` order; ``None`` when only
            predicted labels were given, and for regression.
        pred: Predicted labels (classification) or predictions (regression), shape ``(n,)``.
        labels: Class order (``None`` for regression).
    """

    task: str
    y: np.ndarray
    proba: np.ndarray | None
    pred: np.ndarray
    labels: np.ndarray | None

    def arg_for(self, metric: Metric) -> np.ndarray:
        """What ``metric.fn`` receives: the probabilities or the predicted labels/values.

        Raises:
            ConfigError: The metric belongs to the other task, or needs probabilities that
                were not given.
        """
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

    def value(self, metric: Metric) -> float:
        """``metric`` on all rows."""
        return float(metric.fn(self.y, self.arg_for(metric), self.labels))


def prepare_scores(
    task: str, y_true: npt.ArrayLike, y_score: npt.ArrayLike, labels: npt.ArrayLike | None
) -> Scores:
    """Check targets, scores and class order against each other.

    Args:
        task: ``"classification"`` or ``"regression"``.
        y_true: True targets, shape ``(n,)``.
        y_score: Classification: probability matrix ``(n, k)`` in ``labels`` order, or
            predicted labels ``(n,)``. Regression: predictions ``(n,)`` (or ``(n, 1)``).
        labels: Class order; default the sorted unique labels of ``y_true`` (and, for predicted
            labels, of the predictions).

    Raises:
        ConfigError: Unknown task.
        DatasetError: Empty targets, mismatched lengths or shapes, fewer than two classes, or
            targets that are not among ``labels``.
    """
    check_task(task)
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
        return Scores(task, y.astype(float), None, score.astype(float), None)

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
    return Scores(task, y, proba, pred, lab)
