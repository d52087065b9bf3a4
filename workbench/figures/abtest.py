"""Figures of an A/B test report (notebook 06), drawn from a stored
:class:`~workbench.abtest.ABTest` and its per-request rows (:func:`workbench.abtest.load_requests`).
Each returns a plotly figure; show it with :func:`workbench.plots.show`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from workbench.safehtml import escape

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from workbench.abtest import ABTest

__all__ = [
    "acceptance_figure",
    "latency_figure",
    "mde_figure",
    "quality_figure",
    "routing_figure",
]

COLORS = {"A": "#2a6f97", "B": "#d1495b"}
_Z95 = 1.959964
#: Points per curve: a cumulative curve over thousands of requests looks the same with a few
#: hundred, and each point costs the page ≈ 40 bytes of JSON (pages stay ≤ 400 KB).
_MAX_POINTS = 400


def _thin(n: int) -> np.ndarray:
    """Indices of at most :data:`_MAX_POINTS` evenly spread points of a curve of ``n``, the
    first and the last always kept (where a cumulative curve ends is what it says)."""
    if n <= _MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, _MAX_POINTS).round().astype(int))


def _layout(fig: go.Figure, title: str, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.02, "xanchor": "left"},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"itemsizing": "constant"},
    )
    return fig


def acceptance_figure(test: ABTest, requests: pd.DataFrame) -> go.Figure:
    """Cumulative acceptance rate per variant as reactions accumulate, with a 95% band.

    A band that still moves at the right edge says the test is short; bands that overlap at
    the end say the difference is not established.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    for v in ("A", "B"):
        rows = requests[(requests["variant"] == v) & requests["accepted"].notna()]
        if rows.empty:
            continue
        acc = rows["accepted"].to_numpy(dtype=float)
        n = np.arange(1, len(acc) + 1)
        rate = np.cumsum(acc) / n
        half = _Z95 * np.sqrt(rate * (1 - rate) / n)
        keep = _thin(len(n))
        n, rate, half = n[keep], rate[keep], half[keep]
        color = COLORS[v]
        fig.add_trace(
            go.Scatter(
                x=np.r_[n, n[::-1]],
                y=np.r_[rate + half, (rate - half)[::-1]],
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=n,
                y=rate,
                mode="lines",
                name=escape(test.label(v)),
                line={"color": color},
                hovertemplate="%{x} reactions: %{y:.3f}<extra>" + v + "</extra>",
            )
        )
    fig.update_yaxes(title="acceptance rate", range=[0, 1])
    fig.update_xaxes(title="simulated user reactions")
    return _layout(fig, "Acceptance by simulated users (cumulative, 95% band)")


def latency_figure(test: ABTest, requests: pd.DataFrame) -> go.Figure:
    """Latency distribution (ECDF, log scale) per variant with p50 and p99 marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for v in ("A", "B"):
        rows = requests[(requests["variant"] == v) & (requests["status"] > 0)]
        if rows.empty:
            continue
        lat = np.sort(rows["latency_ms"].to_numpy(dtype=float))
        share = np.arange(1, len(lat) + 1) / len(lat)
        keep = _thin(len(lat))
        lat, share = lat[keep], share[keep]
        role = rows["role"].iloc[0]
        summary = test.analysis.variants[v]
        fig.add_trace(
            go.Scatter(
                x=lat,
                y=share,
                mode="lines",
                name=f"{escape(test.label(v))} [{role}]: p50 {summary.p50_ms:.2f}, p99 "
                f"{summary.p99_ms:.2f} ms",
                line={"color": COLORS[v], "shape": "hv"},
                hovertemplate="%{x:.2f} ms: %{y:.1%} of requests<extra>" + v + "</extra>",
            )
        )
        marks = [
            (q, x) for q, x in ((0.5, summary.p50_ms), (0.99, summary.p99_ms)) if math.isfinite(x)
        ]
        # Markers, not vlines: shapes and annotations on a log axis take log10 coordinates.
        fig.add_trace(
            go.Scatter(
                x=[x for _, x in marks],
                y=[q for q, _ in marks],
                mode="markers",
                text=[f"{v} p{round(q * 100)} {x:.2f} ms" for q, x in marks],
                marker={"color": COLORS[v], "size": 9, "symbol": "diamond"},
                showlegend=False,
                hoverinfo="text",
            )
        )
    fig.update_xaxes(title="latency (ms, log scale; measured by the router)", type="log")
    fig.update_yaxes(title="share of requests answered within", range=[0, 1.02])
    _layout(fig, "Latency per variant (diamonds: p50 and p99)", height=400)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0})
    return fig


def quality_figure(test: ABTest) -> go.Figure:
    """The headline metric and the share of right answers per variant, with 95% intervals."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    an = test.analysis
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=(f"{an.metric} (labelled answers)", "acceptance rate")
    )
    for v, s in an.variants.items():
        q = s.quality
        if q is not None:
            fig.add_trace(
                go.Scatter(
                    x=[escape(test.label(v))],
                    y=[q["value"]],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [q["ci_high"] - q["value"]],
                        "arrayminus": [q["value"] - q["ci_low"]],
                    },
                    mode="markers",
                    marker={"color": COLORS[v], "size": 12},
                    name=escape(test.label(v)),
                    showlegend=False,
                ),
                row=1,
                col=1,
            )
        lo, hi = s.acceptance_ci
        if math.isfinite(s.acceptance_rate):
            fig.add_trace(
                go.Scatter(
                    x=[escape(test.label(v))],
                    y=[s.acceptance_rate],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [hi - s.acceptance_rate],
                        "arrayminus": [s.acceptance_rate - lo],
                    },
                    mode="markers",
                    marker={"color": COLORS[v], "size": 12, "symbol": "diamond"},
                    name=escape(test.label(v)),
                    showlegend=False,
                ),
                row=1,
                col=2,
            )
    return _layout(fig, "Quality and user behaviour per variant (95% intervals)")


def mde_figure(test: ABTest) -> go.Figure:
    """The minimum detectable acceptance difference as a function of requests per arm.

    The marker is this test; the dashed line the difference it observed. A marker above the
    line means the test was too small to detect a difference of the size it saw.
    """
    import plotly.graph_objects as go

    mde = test.analysis.mde
    base = mde.get("baseline", math.nan)
    n_a, n_b = int(mde.get("n_a") or 0), int(mde.get("n_b") or 0)
    fig = go.Figure()
    if not (math.isfinite(base) and n_a and n_b):
        return _layout(fig, "Minimum detectable effect (no reactions measured)")
    ratio = n_b / n_a
    top = max(10 * max(n_a, n_b), 1000)
    ns = np.unique(np.geomspace(10, top, 80).astype(int))
    # MDE scales with sqrt(1/n_a + 1/n_b) at a fixed baseline, alpha and power: rescale this
    # test's MDE rather than recompute normal quantiles (scipy.stats costs seconds to import).
    here = math.sqrt(1 / n_a + 1 / n_b)
    curve = mde["mde"] * np.sqrt(1 / ns + 1 / np.maximum(1, ns * ratio)) / here
    fig.add_trace(go.Scatter(x=ns, y=curve, mode="lines", name="MDE", line={"color": "#444"}))
    fig.add_trace(
        go.Scatter(
            x=[n_a],
            y=[mde["mde"]],
            mode="markers",
            marker={"size": 12, "color": COLORS["B"]},
            name=f"this test (n A = {n_a})",
        )
    )
    observed = abs(mde.get("observed") or 0.0)
    if observed > 0:
        fig.add_hline(
            y=observed,
            line={"dash": "dash", "color": COLORS["A"]},
            annotation_text=f"observed |Δ| = {observed:.3f}",
        )
    fig.update_xaxes(title="reactions in arm A (B in proportion)", type="log")
    fig.update_yaxes(title="detectable |Δ acceptance|", rangemode="tozero")
    title = (
        f"Minimum detectable effect (alpha {mde['alpha']:g}, power {mde['power']:.0%}, "
        f"baseline {base:.3f})"
    )
    return _layout(fig, title)


def routing_figure(test: ABTest, requests: pd.DataFrame) -> go.Figure:
    """Online: the share of requests routed to B as traffic accumulates, against the split.
    Shadow: B's latency against A's for the same request (mirroring never delays A)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    served = requests[requests["role"] == "served"]
    if test.mode == "online":
        to_b = (served["variant"] == "B").to_numpy(dtype=float)
        n = np.arange(1, len(to_b) + 1)
        keep = _thin(len(n))
        fig.add_trace(
            go.Scatter(
                x=n[keep],
                y=(np.cumsum(to_b) / n)[keep],
                mode="lines",
                name="share routed to B",
                line={"color": COLORS["B"]},
            )
        )
        fig.add_hline(
            y=test.split, line={"dash": "dash"}, annotation_text=f"split {test.split:.0%}"
        )
        fig.update_xaxes(title="requests")
        fig.update_yaxes(title="share to B", range=[0, 1])
        return _layout(fig, "Hash routing: share of requests sent to B")
    shadow = requests[requests["role"] == "shadow"]
    both = served.merge(shadow, on="key", suffixes=("_a", "_b"))
    both = both[(both["status_a"] > 0) & (both["status_b"] > 0)]
    # A fixed sample of the pairs: the cloud's shape, at a page's weight.
    shown = both.sample(n=min(len(both), 4 * _MAX_POINTS), random_state=0)
    fig.add_trace(
        go.Scattergl(
            x=shown["latency_ms_a"],
            y=shown["latency_ms_b"],
            mode="markers",
            marker={"size": 4, "opacity": 0.5, "color": COLORS["B"]},
            name="one request",
            hovertemplate="A %{x:.2f} ms, B %{y:.2f} ms<extra></extra>",
        )
    )
    if len(both):
        hi = float(max(both["latency_ms_a"].max(), both["latency_ms_b"].max()))
        lo = float(max(1e-3, min(both["latency_ms_a"].min(), both["latency_ms_b"].min())))
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[lo, hi],
                mode="lines",
                name="same latency",
                line={"dash": "dash", "color": "#888"},
            )
        )
    fig.update_xaxes(title="A (served) latency, ms", type="log")
    fig.update_yaxes(title="B (mirrored) latency, ms", type="log")
    return _layout(fig, "Shadow traffic: the same request's latency on A and on B")
