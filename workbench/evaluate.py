"""Evaluate a fitted model on its test split: metrics with bootstrap CIs, latency, size, figures.

The pieces, in the order a notebook uses them::

    result = evaluate_pipeline(pipe, X_test, y_test, task="classification", n_boot=1000, seed=0)
    result.to_frame()                      # name / value / ci_low / ci_high
    show(roc_figure(result.y_true, result.y_score, labels=result.labels))
    measure_latency(pipe, X_test)          # single-row p50/p99 and batch rows/s

The metrics and their bootstrap intervals come from :mod:`workbench.stats` (the metric registry,
:func:`~workbench.stats.bootstrap_metrics`, :func:`~workbench.stats.paired_bootstrap_delta`).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.safehtml import escape
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

if TYPE_CHECKING:
    import ipywidgets
    import plotly.graph_objects as go

__all__ = [
    "EvaluationResult",
    "calibration_figure",
    "confusion_figure",
    "evaluate_pipeline",
    "measure_latency",
    "metrics_ci_figure",
    "model_size_bytes",
    "pr_figure",
    "residual_figure",
    "roc_figure",
    "threshold_explorer",
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
    inputs = prepare_scores("classification", y, score, labels)
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
    inputs = prepare_scores("classification", y_true, y_pred, labels)
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

    inputs = prepare_scores("regression", y_true, y_pred, None)
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
            "f1": f1_from_counts(tp.astype(float), fp.astype(float), fn.astype(float)),
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
