"""Figures of an evaluation: ROC, precision-recall, calibration, confusion, residuals, metric CIs.

The functions take what :func:`workbench.evaluate.evaluate_pipeline` measured (true targets,
scores, class order, estimates), return ``plotly.graph_objects.Figure`` objects and never
display them; call :func:`workbench.plots.show` on the result::

    result = evaluate_pipeline(pipe, X_test, y_test, task="classification")
    show(roc_figure(result.y_true, result.y_score, labels=result.labels))
    show(metrics_ci_figure(result.estimates))

Scores follow :mod:`workbench.evaluate`'s conventions: a classification score is a
``predict_proba`` matrix ``(n, k)`` whose columns follow ``labels`` (or, for a binary task, the
positive-class probability ``(n,)``); a regression score is the predictions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from workbench.exceptions import ConfigError, DatasetError
from workbench.safehtml import escape
from workbench.stats import Estimate, prepare_scores

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "calibration_figure",
    "confusion_figure",
    "metrics_ci_figure",
    "pr_figure",
    "residual_figure",
    "roc_figure",
]


def _compact(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"itemsizing": "constant"},
    )
    return fig


def _label(c: Any, names: Mapping[Any, str] | None) -> str:
    """A class as shown: its name with the code when ``names`` has one (escaped: user text)."""
    if names and c in names:
        return escape(f"{names[c]} ({c})")
    return escape(c)


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
    names: Mapping[Any, str] | None = None,
    title: str = "ROC curve",
) -> go.Figure:
    """ROC curve: one line for a binary task, one one-vs-rest line per class otherwise.

    Args:
        y_true: True labels.
        y_score: Probability matrix ``(n, k)`` ordered like ``labels``, or the positive-class
            probability ``(n,)`` of a binary task.
        labels: Class order; default the sorted unique labels of ``y_true``.
        names: Display names of class codes (``Dataset.label_names``), shown as "name (code)".
        title: Figure title.
    """
    import plotly.graph_objects as go
    from sklearn.metrics import roc_auc_score, roc_curve

    _, _, entries = _class_scores(y_true, y_score, labels)
    fig = go.Figure()
    for c, is_c, s in entries:
        fpr, tpr, _ = roc_curve(is_c, s)
        auc = roc_auc_score(is_c, s)
        name = f"{_label(c, names)} (AUC {auc:.3f})"
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=name))
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
    names: Mapping[Any, str] | None = None,
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
                       name=f"{_label(c, names)} (AP {ap:.3f})")
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
    names: Mapping[Any, str] | None = None,
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
        names: Display names of class codes, as in :func:`roc_figure`.
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
            go.Scatter(x=mean_pred, y=frac, mode="lines+markers", name=_label(c, names),
                       legendgroup=str(c), line={"color": color}),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Histogram(x=s, xbins={"start": 0, "end": 1, "size": 1 / n_bins},
                         name=_label(c, names), legendgroup=str(c), showlegend=False,
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
    names: Mapping[Any, str] | None = None,
    normalize: Literal["true", "pred", "all"] | None = None,
    title: str = "Confusion matrix",
) -> go.Figure:
    """Confusion matrix as an annotated heatmap (rows: true class, columns: predicted).

    Args:
        y_true: True labels.
        y_pred: Predicted labels ``(n,)``, or a probability matrix ``(n, k)`` (its argmax is used).
        labels: Class order; default the sorted labels present in ``y_true`` and ``y_pred``.
        names: Display names of class codes, as in :func:`roc_figure`.
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
    ticks = [_label(c, names) for c in lab]  # class labels are user text; plotly reads tags
    fig = go.Figure(
        go.Heatmap(
            z=z, x=ticks, y=ticks, text=text, texttemplate="%{text}", colorscale="Blues",
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
    baseline: Mapping[str, Estimate] | None = None,
    title: str = "Test metrics with confidence intervals",
) -> go.Figure:
    """One row per metric: the point estimate as a dot with its interval as error bars.

    Each metric has its own x-axis because metrics live on different scales (rmse vs r2).

    Args:
        estimates: ``{name: Estimate}``, e.g. ``EvaluationResult.estimates``.
        baseline: The trivial baseline's estimates
            (:attr:`workbench.evaluate.BaselineComparison.estimates`), drawn as a grey
            diamond on each row.
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
        b = (baseline or {}).get(name)
        if b is not None and math.isfinite(b.value):
            fig.add_trace(
                go.Scatter(
                    x=[b.value], y=[name], mode="markers", name="trivial baseline",
                    marker={"size": 10, "symbol": "diamond-open", "color": "grey"},
                    hovertemplate=f"trivial baseline {name}: {b.value:.4f}<extra></extra>",
                ),
                row=i, col=1,
            )  # fmt: skip
        fig.update_yaxes(type="category", row=i, col=1)
    what = "value (dot) and confidence interval (bars)"
    if baseline:
        what += "; trivial baseline (grey diamond)"
    fig.update_xaxes(title_text=what, row=len(names))
    fig.update_layout(showlegend=False)
    return _compact(fig, title, height=90 + 70 * len(names))
