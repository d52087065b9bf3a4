"""Figures of a comparison: quality deltas with their intervals, the trivial baseline, cost
ratios.

Each takes a stored :class:`workbench.compare.Comparison` (notebook 04 draws the stored
numbers)::

    show(delta_ci_figure(comparison))
    show(baseline_figure(comparison))
    show(cost_ratio_figure(comparison))
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from workbench.compare import Comparison
from workbench.exceptions import ConfigError

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["baseline_figure", "cost_ratio_figure", "delta_ci_figure"]

# Colour of a metric's verdict for the candidate: better green, worse red, else grey.
_VERDICT_COLORS = {
    "better": "#1a7f37",
    "worse": "#cf222e",
    "no significant difference": "#6e7781",
    "equal": "#6e7781",
    "unknown": "#8c959f",
}


def delta_ci_figure(comparison: Comparison) -> go.Figure:
    """Quality deltas (candidate − baseline) with their 95% CIs, one row per metric.

    Each metric gets its own x-axis (log loss and AUC live on different scales) with a dashed
    zero line; green means the candidate is significantly better, red worse, grey neither.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    quality = [m for m in comparison.metrics if m.kind == "quality" and m.delta is not None]
    if not quality:
        raise ConfigError(f"comparison {comparison.id} has no quality deltas to plot")
    fig = make_subplots(rows=len(quality), cols=1, vertical_spacing=min(0.08, 0.3 / len(quality)))
    for i, m in enumerate(quality, start=1):
        has_ci = m.delta_ci_low is not None and m.delta_ci_high is not None
        error = (
            {"type": "data", "symmetric": False, "array": [m.delta_ci_high - m.delta],
             "arrayminus": [m.delta - m.delta_ci_low], "thickness": 2, "width": 8}
            if has_ci else {"visible": False}
        )  # fmt: skip
        direction = "higher" if m.higher_is_better else "lower"
        fig.add_trace(
            go.Scatter(
                x=[m.delta], y=[m.name], mode="markers", error_x=error, name=m.name,
                marker={"size": 11, "color": _VERDICT_COLORS.get(m.verdict, "#6e7781")},
                hovertemplate=(
                    f"{m.name} ({direction} is better)<br>delta %{{x:.4f}}"
                    f"<br>CI [{_fmt(m.delta_ci_low)}, {_fmt(m.delta_ci_high)}]"
                    f"<br>p = {_fmt(m.p_value)}<br>{m.verdict}<extra></extra>"
                ),
            ),
            row=i, col=1,
        )  # fmt: skip
        fig.add_vline(x=0, line={"dash": "dash", "color": "grey", "width": 1}, row=i, col=1)
        fig.update_yaxes(type="category", row=i, col=1)
    fig.update_xaxes(title_text="candidate − baseline (dot) and 95% CI (bars)", row=len(quality))
    fig.update_layout(
        showlegend=False,
        template="plotly_white",
        height=110 + 75 * len(quality),
        title={"text": "Quality deltas with paired-bootstrap 95% CIs", "x": 0.02},
        margin={"l": 80, "r": 20, "t": 60, "b": 50},
    )
    return fig


def baseline_figure(comparison: Comparison) -> go.Figure:
    """Each quality metric of the trivial baseline, the baseline model and the candidate, one
    row per metric (each on its own x-axis); hovering the candidate shows its lift over the
    trivial baseline with its 95% CI.

    Raises:
        ConfigError: The comparison has no trivial baseline (runs evaluated before baselines
            were recorded).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = [m for m in comparison.metrics if m.kind == "quality" and m.trivial is not None]
    if not rows:
        raise ConfigError(
            f"comparison {comparison.id} has no trivial baseline to draw; its runs were "
            "evaluated before baselines were recorded"
        )
    fig = make_subplots(rows=len(rows), cols=1, vertical_spacing=min(0.08, 0.3 / len(rows)))
    styles = (
        ("trivial baseline", "trivial", "diamond-open", "#8c959f"),
        ("baseline", "baseline", "circle", "#0969da"),
        ("candidate", "candidate", "circle", "#1a7f37"),
    )
    for i, m in enumerate(rows, start=1):
        lift = (
            f"<br>lift over the trivial baseline {_fmt(m.lift)} "
            f"(CI [{_fmt(m.lift_ci_low)}, {_fmt(m.lift_ci_high)}])"
        )
        for name, attr, symbol, color in styles:
            value = getattr(m, attr)
            if value is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[value], y=[m.name], mode="markers", name=name, legendgroup=name,
                    showlegend=i == 1, marker={"size": 11, "symbol": symbol, "color": color},
                    hovertemplate=(
                        f"{name}: {m.name} %{{x:.4f}}"
                        + (lift if attr == "candidate" else "") + "<extra></extra>"
                    ),
                ),
                row=i, col=1,
            )  # fmt: skip
        fig.update_yaxes(type="category", row=i, col=1)
    fig.update_xaxes(title_text="metric value", row=len(rows))
    fig.update_layout(
        template="plotly_white",
        height=130 + 70 * len(rows),
        title={"text": "Against the trivial baseline (class prior / training mean)", "x": 0.02},
        margin={"l": 80, "r": 20, "t": 60, "b": 50},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return fig


def cost_ratio_figure(comparison: Comparison) -> go.Figure:
    """Cost ratios candidate / baseline on a log axis, as bars growing from the line of 1.

    Green bars mean the candidate is cheaper or faster, red ones costlier or slower.
    """
    import plotly.graph_objects as go

    cost = [m for m in comparison.metrics if m.kind == "cost" and m.ratio]
    ratios = [float(m.ratio) for m in cost if m.ratio]
    lows = [
        m.ratio_ci_low if m.ratio_ci_low is not None else r
        for m, r in zip(cost, ratios, strict=True)
    ]
    highs = [
        m.ratio_ci_high if m.ratio_ci_high is not None else r
        for m, r in zip(cost, ratios, strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            # A bar spans base .. base + x: from 1 (equal cost) to the ratio, in either direction.
            x=[r - 1.0 for r in ratios],
            base=[1.0] * len(ratios),
            y=[m.name for m in cost],
            orientation="h",
            marker={"color": [_VERDICT_COLORS.get(m.verdict, "#6e7781") for m in cost]},
            text=[f"×{r:.3g}" for r in ratios],
            textposition="outside",
            customdata=[[r, lo, hi] for r, lo, hi in zip(ratios, lows, highs, strict=True)],
            hovertemplate=(
                "%{y}: candidate / baseline = %{customdata[0]:.4g} "
                "(CI [%{customdata[1]:.4g}, %{customdata[2]:.4g}])<extra></extra>"
            ),
            # The interval of the ratio where it was measured (latency), on the bar's end.
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [hi - r for r, hi in zip(ratios, highs, strict=True)],
                "arrayminus": [r - lo for r, lo in zip(ratios, lows, strict=True)],
            },
        )
    )
    fig.add_vline(x=1, line={"dash": "dash", "color": "grey", "width": 1})
    # Symmetric log range around 1 so ×2 and ×0.5 look equally far from "equal".
    span = max([abs(math.log10(r)) for r in (*ratios, *lows, *highs) if r > 0] + [0.3]) * 1.25
    fig.update_xaxes(type="log", range=[-span, span], title_text="candidate / baseline (log)")
    fig.update_layout(
        template="plotly_white",
        height=140 + 45 * max(1, len(cost)),
        title={"text": "Cost ratios (green: candidate cheaper or faster)", "x": 0.02},
        margin={"l": 140, "r": 40, "t": 60, "b": 50},
        showlegend=False,
    )
    return fig


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
