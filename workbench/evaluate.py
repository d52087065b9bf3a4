"""Evaluate a fitted model on its test split: metrics with bootstrap CIs, latency, size.

The pieces, in the order a notebook uses them::

    result = evaluate_pipeline(pipe, X_test, y_test, task="classification", n_boot=1000, seed=0)
    result.to_frame()                      # name / value / ci_low / ci_high
    threshold_table(result.y_true, result.positive_proba)  # binary tasks: metrics per threshold
    measure_latency(pipe, X_test)          # single-row p50/p99 and batch rows/s
    model_size_bytes(model_path)

The metrics and their bootstrap intervals come from :mod:`workbench.stats` (the metric registry,
:func:`~workbench.stats.bootstrap_metrics`, :func:`~workbench.stats.paired_bootstrap_delta`).
The figures of an evaluation are in :mod:`workbench.figures.evaluate`, the interactive threshold
explorer in :mod:`workbench.widgets`.

Conventions:

- Classification scores are ``predict_proba`` matrices of shape ``(n, k)`` whose columns follow
  ``labels`` (a classifier's ``classes_``). For two classes the positive class is ``labels[1]``.
  A metric with ``needs_proba=False`` receives the predicted labels ``labels[argmax(proba)]``.
- Regression scores are the predictions, shape ``(n,)``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.stats import (
    HEADLINE,
    Estimate,
    Metric,
    bootstrap_metrics,
    check_bootstrap_options,
    check_task,
    f1_from_counts,
    prepare_scores,
)

__all__ = [
    "EvaluationResult",
    "evaluate_pipeline",
    "measure_latency",
    "model_size_bytes",
    "threshold_table",
]

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
    check_task(task)
    check_bootstrap_options(n_boot, confidence)
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
        labels = prepare_scores(task, y, score, None).labels
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
    counts: bool = False,
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
        counts: Also give the confusion counts ``tp, fp, fn, tn`` of each threshold (what
            :func:`workbench.widgets.threshold_explorer` shows).

    Returns:
        Columns ``threshold, precision, recall, f1, accuracy, predicted_positive`` (then
        ``tp, fp, fn, tn`` with ``counts``); recall never increases with the threshold.

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
    table = pd.DataFrame(
        {
            "threshold": t,
            "precision": precision,
            "recall": recall,
            "f1": f1_from_counts(tp.astype(float), fp.astype(float), fn.astype(float)),
            "accuracy": (tp + tn) / max(len(truth), 1),
            "predicted_positive": pp.astype(int),
        }
    )
    if counts:
        table = table.assign(tp=tp.astype(int), fp=fp.astype(int), fn=fn.astype(int),
                             tn=tn.astype(int))  # fmt: skip
    return table
