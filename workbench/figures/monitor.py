"""Figures of a monitor report: feature drift per window, prediction drift, quality over
time, latency (notebook 07 shows them).

Each takes a :class:`~workbench.monitor.MonitorReport` and draws what it measured; feature
names are user text and go through :func:`workbench.safehtml.escape`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..safehtml import escape
from ..stats import get_metric

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from ..monitor import MonitorReport

__all__ = ["drift_heatmap", "latency_figure", "prediction_figure", "quality_figure"]


def _window_labels(report: MonitorReport) -> list[str]:
    return [f"w{int(w)}" for w in report.windows["window"]]


def _ts(value: Any) -> str:
    return "?" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def drift_heatmap(report: MonitorReport, *, max_features: int = 60) -> go.Figure:
    """PSI per feature (rows) and window (columns); a dot marks an alert.

    Colour saturates at 0.5 so the 0.1 and 0.25 levels stay visible; the hover shows the
    exact PSI, the test's corrected p-value and the status. The most drifted features are on
    top; beyond ``max_features`` only the most drifted are shown.
    """
    import plotly.graph_objects as go

    t = report.thresholds
    order = (
        report.drift.groupby("feature")["psi"]
        .max()
        .sort_values(ascending=False)
        .index.tolist()[:max_features]
    )[::-1]
    cols = _window_labels(report)
    pivot = lambda col: report.drift.pivot(index="feature", columns="window", values=col)  # noqa: E731
    z = pivot("psi").reindex(order) if len(report.drift) else pd.DataFrame()
    p_adj, status = pivot("p_adj").reindex(order), pivot("status").reindex(order)
    w = report.windows
    spans = [f"{_ts(a)} → {_ts(b)}" for a, b in zip(w["start_ts"], w["end_ts"], strict=True)]
    hover = [
        [
            f"{escape(f)} · {cols[j]} ({spans[j]})<br>PSI {z.iloc[i, j]:.3f} · "
            f"p_adj {p_adj.iloc[i, j]:.2g}<br>{status.iloc[i, j]}"
            for j in range(z.shape[1])
        ]
        for i, f in enumerate(order)
    ]
    marks = [["●" if s == "alert" else "" for s in row] for row in status.to_numpy().tolist()]
    top = max(0.5, 2 * t.psi_alert)
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=cols,
            y=[escape(f) for f in order],  # feature names are user text
            zmin=0,
            zmax=top,
            text=marks,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale=[
                [0, "#f4f9f4"],
                [t.psi_warn / top, "#fff3b0"],
                [t.psi_alert / top, "#f4a261"],
                [1, "#b5172f"],
            ],
            colorbar={"title": {"text": "PSI"}},
        )
    )
    fig.update_layout(
        template="plotly_white",
        height=160 + 18 * max(len(order), 3),
        title={
            "text": f"Feature drift per window (PSI; ● alert: PSI ≥ {t.psi_alert} and "
            f"{t.correction}-corrected p < {t.alpha})",
            "x": 0.02,
        },
        xaxis={"title": f"window of {report.settings['window']} requests", "side": "bottom"},
        margin={"l": 200, "r": 20, "t": 60, "b": 50},
    )
    return fig


def prediction_figure(report: MonitorReport) -> go.Figure:
    """Prediction drift per window: PSI bars with the warn and alert levels."""
    import plotly.graph_objects as go

    t = report.thresholds
    frame = report.prediction
    labels = _window_labels(report)
    colors = {"alert": "#b5172f", "warn": "#f4a261"}
    fig = go.Figure(
        go.Bar(
            x=[labels[int(w)] for w in frame["window"]],
            y=frame["psi"],
            marker={"color": [colors.get(s, "#6c9a8b") for s in frame["status"]]},
            customdata=np.stack([frame["p_value"], frame["mean"]], axis=-1) if len(frame) else None,
            hovertemplate="%{x}: PSI %{y:.3f}<br>p %{customdata[0]:.2g}"
            "<br>mean %{customdata[1]:.3f}<extra></extra>",
        )
    )
    for level, name in ((t.psi_warn, "warn"), (t.psi_alert, "alert")):
        fig.add_hline(
            y=level,
            line={"dash": "dash", "color": "grey", "width": 1},
            annotation_text=name,
            annotation_position="top left",
        )
    what = report.reference.get("prediction") or "the model's output"
    fig.update_layout(
        template="plotly_white",
        height=320,
        title={"text": f"Prediction drift per window (PSI of {what})", "x": 0.02},
        yaxis={"title": "PSI"},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def quality_figure(report: MonitorReport) -> go.Figure:
    """The headline metric per window with its 95% CI, the reference and the decay gate."""
    import plotly.graph_objects as go

    frame = report.quality
    labels = _window_labels(report)
    judged = frame[frame["status"] != "too few labels"]
    fig = go.Figure()
    if len(judged):
        fig.add_trace(
            go.Scatter(
                x=[labels[int(w)] for w in judged["window"]],
                y=judged["value"],
                mode="lines+markers",
                name=str(judged["metric"].iloc[0]),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": judged["ci_high"] - judged["value"],
                    "arrayminus": judged["value"] - judged["ci_low"],
                },
                marker={
                    "size": 9,
                    "color": ["#b5172f" if s == "decayed" else "#2a6f97" for s in judged["status"]],
                },
                customdata=judged["n_labelled"],
                hovertemplate="%{x}: %{y:.4f}<br>%{customdata} labelled rows<extra></extra>",
            )
        )
    ref = frame["reference"].dropna()
    if len(ref):
        value = float(ref.iloc[0])
        higher = get_metric(str(frame["metric"].iloc[0])).higher_is_better
        gate = report.thresholds.decay_gate
        fig.add_hline(
            y=value,
            line={"color": "#1a7f37", "width": 2},
            annotation_text="reference",
            annotation_position="top left",
        )
        fig.add_hline(
            y=value * (1 - gate if higher else 1 + gate),
            line={"dash": "dash", "color": "#b5172f", "width": 1},
            annotation_text=f"decay gate ({gate:.0%})",
            annotation_position="bottom left",
        )
    metric = str(frame["metric"].iloc[0]) if len(frame) else "quality"
    fig.update_layout(
        template="plotly_white",
        height=360,
        showlegend=False,
        title={
            "text": f"{metric} per window on the labels that arrived (95% bootstrap CI)",
            "x": 0.02,
        },
        xaxis={"categoryorder": "array", "categoryarray": labels},
        yaxis={"title": metric},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def latency_figure(report: MonitorReport) -> go.Figure:
    """p50 and p99 latency per window, from the prediction log."""
    import plotly.graph_objects as go

    frame = report.latency
    labels = _window_labels(report)
    x = [labels[int(w)] for w in frame["window"]]
    fig = go.Figure()
    for col, name, color in (("p50_ms", "p50", "#2a6f97"), ("p99_ms", "p99", "#b5172f")):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=frame[col],
                mode="lines+markers",
                name=name,
                line={"color": color},
                hovertemplate=f"%{{x}}: {name} %{{y:.2f}} ms<extra></extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        height=320,
        title={"text": "Latency per window (server side, per request)", "x": 0.02},
        yaxis={"title": "ms", "rangemode": "tozero"},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig
