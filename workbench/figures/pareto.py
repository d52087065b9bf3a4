"""The Pareto chart: quality against p99 latency across runs, marker area for model size, and
the trivial baseline as a line.

Draws the points of :func:`workbench.pareto.points_from_runs` (front already marked)::

    show(pareto_figure(collect_points(store, fingerprint), highlight={run_id: "candidate"}))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ConfigError
from workbench.pareto import ParetoPoint
from workbench.safehtml import escape

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["pareto_figure"]


def _marker_sizes(points: Sequence[ParetoPoint]) -> list[float]:
    # Area proportional to model size, between 10 and 40 px across, readable on a log range.
    logs = [math.log10(max(p.size_bytes, 1.0)) for p in points]
    lo, hi = min(logs), max(logs)
    span = hi - lo or 1.0
    return [10 + 30 * (v - lo) / span for v in logs]


def _hover(p: ParetoPoint, label: str) -> str:
    # plotly reads tags in hover text: the markup is ours, every value in it is escaped.
    status = "non-dominated" if p.on_front else "dominated by " + ", ".join(p.dominated_by)
    extra = f"<br><b>{escape(label)}</b>" if label else ""
    base = ""
    if p.baseline is not None:
        verdict = {True: "beats it", False: "does NOT beat it", None: "?"}[p.beats_baseline]
        base = f"<br>trivial baseline {p.baseline:.4f}: {verdict}"
    return (
        f"run {escape(p.run_id)} ({escape(p.family or '?')}){extra}<br>{escape(p.metric)} "
        f"{p.quality:.4f}<br>p99 {p.latency_ms:.3f} ms<br>size {p.size_bytes / 1e6:.2f} MB"
        f"<br>{escape(status)}{base}"
    )


def pareto_figure(
    points: Sequence[ParetoPoint],
    *,
    highlight: Mapping[str, str] | None = None,
    title: str = "Quality vs latency (marker area: model size)",
) -> go.Figure:
    """Scatter of quality against p99 latency; marker area shows model size.

    Non-dominated runs are filled, dominated ones hollow; the champion is a star; runs whose
    model did not beat its trivial baseline are red crosses; runs in ``highlight`` (e.g.
    ``{run_id: "candidate"}``) are annotated. The trivial baseline (class prior / training
    mean on the same test rows) is a dashed line; one per distinct value when runs differ in
    test rows. Hovering shows the run id, all three numbers and the baseline.

    Args:
        points: Points from :func:`points_from_runs` (front already marked).
        highlight: Run ids to annotate, with their labels.
        title: Figure title.

    Raises:
        ConfigError: No points to draw.
    """
    import plotly.graph_objects as go

    if not points:
        raise ConfigError(
            "no runs with quality, latency and size to draw; evaluate some runs first"
        )
    highlight = dict(highlight or {})
    sizes = _marker_sizes(points)
    fig = go.Figure()
    groups = (
        ("non-dominated", True, "circle", "#1a7f37"),
        ("dominated", False, "circle-open", "#6e7781"),
    )
    below = {i for i, p in enumerate(points) if p.beats_baseline is False and not p.champion}
    for name, front, symbol, color in groups:
        idx = [
            i
            for i, p in enumerate(points)
            if p.on_front == front and not p.champion and i not in below
        ]
        if not idx:
            continue
        fig.add_trace(_scatter(points, idx, sizes, name, symbol, color, highlight))
    if below:
        fig.add_trace(
            _scatter(points, sorted(below), sizes, "does not beat the baseline", "x-open",
                     "#cf222e", highlight)
        )  # fmt: skip
    champ = [i for i, p in enumerate(points) if p.champion]
    if champ:
        fig.add_trace(_scatter(points, champ, sizes, "champion", "star", "#bf8700", highlight))
    # Latencies span orders of magnitude (ONNX µs vs forests ms); log axis when possible.
    log_x = all(p.latency_ms > 0 for p in points)
    for p in points:
        label = highlight.get(p.run_id) or ("champion" if p.champion else "")
        if label:
            # Annotations on a log axis take log10 coordinates.
            x = math.log10(p.latency_ms) if log_x else p.latency_ms
            fig.add_annotation(
                x=x, y=p.quality, text=escape(label), showarrow=True, arrowhead=2, ax=25, ay=-25
            )
    metric = points[0].metric
    for value in sorted({round(p.baseline, 4) for p in points if p.baseline is not None}):
        fig.add_hline(
            y=value, line={"dash": "dash", "color": "#8c959f", "width": 1},
            annotation_text=f"trivial baseline {escape(metric)} {value:.4f}",
            annotation_position="bottom right",
        )  # fmt: skip
    direction = "higher" if points[0].higher_is_better else "lower"
    fig.update_xaxes(title_text="single-row p99 latency (ms)", type="log" if log_x else "linear")
    fig.update_yaxes(title_text=f"{metric} ({direction} is better)")
    fig.update_layout(
        title={"text": title, "x": 0.02},
        template="plotly_white",
        height=460,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        legend={"itemsizing": "constant"},
    )
    return fig


def _scatter(
    points: Sequence[ParetoPoint],
    idx: Sequence[int],
    sizes: Sequence[float],
    name: str,
    symbol: str,
    color: str,
    highlight: Mapping[str, str],
) -> Any:
    import plotly.graph_objects as go

    chosen = [points[i] for i in idx]
    return go.Scatter(
        x=[p.latency_ms for p in chosen],
        y=[p.quality for p in chosen],
        mode="markers",
        name=name,
        customdata=[p.run_id for p in chosen],
        hovertext=[_hover(p, highlight.get(p.run_id, "")) for p in chosen],
        hoverinfo="text",
        marker={
            "size": [sizes[i] for i in idx],
            "symbol": symbol,
            "color": color,
            "line": {"width": 2, "color": color},
        },
    )
