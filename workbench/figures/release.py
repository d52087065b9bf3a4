"""The figure of a release check: every load-test request's latency, with its percentiles."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from workbench.exceptions import ConfigError
from workbench.release import ReleaseReport

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["latency_figure"]


def latency_figure(report: ReleaseReport) -> go.Figure:
    """Histogram of every load-test request's latency (log-spaced bins) with p50/p95/p99 lines."""
    import plotly.graph_objects as go

    perf = report.performance
    hist = perf.get("latency_histogram") or {}
    edges, counts = hist.get("edges_ms") or [], hist.get("counts") or []
    if not counts:
        raise ConfigError(f"release check {report.id} has no load-test latencies to plot")
    bins = list(itertools.pairwise(edges))
    centers = [math.sqrt(a * b) for a, b in bins]  # geometric: the middle on a log axis
    widths = [b - a for a, b in bins]
    fig = go.Figure(
        go.Bar(
            x=centers, y=counts, width=widths, marker={"color": "#4c78a8"}, name="requests",
            customdata=bins, showlegend=False,
            hovertemplate="%{customdata[0]:.3f}–%{customdata[1]:.3f} ms: %{y} requests"
            "<extra></extra>",
        )
    )  # fmt: skip
    # Percentiles as line traces, not add_vline: plotly.py places a vline's annotation in
    # linear units on a log axis, which stretches the axis to millions of ms.
    top = max(counts) * 1.05
    for name, color in (("p50_ms", "#1a7f37"), ("p95_ms", "#bf8700"), ("p99_ms", "#cf222e")):
        if perf.get(name) is not None:
            fig.add_trace(
                go.Scatter(
                    x=[perf[name], perf[name]], y=[0, top], mode="lines",
                    line={"dash": "dash", "color": color, "width": 2},
                    name=f"{name[:-3]} {perf[name]:.2f} ms", hoverinfo="name",
                )
            )  # fmt: skip
    fig.update_xaxes(
        type="log",
        range=[math.log10(edges[0]), math.log10(edges[-1])],
        title_text="latency per request (ms, log scale)",
    )
    fig.update_yaxes(title_text="requests", range=[0, top])
    fig.update_layout(
        template="plotly_white",
        height=380,
        bargap=0,
        legend={"x": 0.99, "xanchor": "right", "y": 0.98},
        title={
            "text": f"Load test: {perf.get('requests', 0):,} requests at concurrency "
            f"{perf.get('concurrency')}, {perf.get('rps', 0):,.0f} req/s",
            "x": 0.02,
        },
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
    )
    return fig
