"""Accuracy–latency–size trade-off across the runs of one dataset.

Each evaluated run is a point with three objectives: quality (the task's headline metric,
``roc_auc`` up or ``rmse`` down), single-row p99 latency (down) and model size (down). A run is
*non-dominated* (on the Pareto front) when no other run is at least as good on all three and
strictly better on one. The functions here are pure: records in, points or a figure out.

Example::

    points = points_from_runs(store.list_runs(), fingerprint=fp, champion_run_id=champ)
    show(pareto_figure(points, highlight={cand_id: "candidate"}))
    points_frame(points)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError
from .safehtml import escape

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from .store import RunRecord, Store

__all__ = [
    "LATENCY_METRIC",
    "SIZE_METRIC",
    "ParetoPoint",
    "collect_points",
    "dominates",
    "mark_front",
    "pareto_figure",
    "points_frame",
    "points_from_runs",
]

LATENCY_METRIC = "single_p99_ms"
SIZE_METRIC = "model_size_bytes"
_STAGE = "evaluate"
# (metric, higher is better) tried in order: the metric present tells the task.
_HEADLINES: tuple[tuple[str, bool], ...] = (("roc_auc", True), ("rmse", False))


@dataclass(frozen=True)
class ParetoPoint:
    """One run on the trade-off chart.

    Attributes:
        run_id: The run.
        family: Its model family.
        metric: Name of the quality metric.
        quality: Its value.
        higher_is_better: Direction of ``quality``.
        latency_ms: Single-row p99 latency.
        size_bytes: Model size on disk.
        on_front: Not dominated by any other point (set by :func:`mark_front`).
        dominated_by: Runs that dominate it.
        champion: Whether it holds the ``champion`` alias.
    """

    run_id: str
    family: str | None
    metric: str
    quality: float
    higher_is_better: bool
    latency_ms: float
    size_bytes: float
    on_front: bool = True
    dominated_by: tuple[str, ...] = ()
    champion: bool = False

    def _objectives(self) -> tuple[float, float, float]:
        """All three as "lower is better"."""
        q = -self.quality if self.higher_is_better else self.quality
        return (q, self.latency_ms, self.size_bytes)


def dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every objective and better on one.

    Raises:
        ConfigError: The points measure quality with different metrics.
    """
    if a.metric != b.metric or a.higher_is_better != b.higher_is_better:
        raise ConfigError(
            f"cannot compare {a.metric} with {b.metric}; Pareto points need one quality metric"
        )
    oa, ob = a._objectives(), b._objectives()
    return all(x <= y for x, y in zip(oa, ob, strict=True)) and oa != ob


def mark_front(points: Sequence[ParetoPoint]) -> list[ParetoPoint]:
    """Return the points with ``on_front`` and ``dominated_by`` set (same order).

    Runs with identical objectives do not dominate each other, so both stay on the front.
    Quadratic in the number of points, which is fine for the runs of one dataset.
    """
    out = []
    for p in points:
        by = tuple(q.run_id for q in points if q is not p and dominates(q, p))
        out.append(replace(p, on_front=not by, dominated_by=by))
    return out


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def points_from_runs(
    runs: Iterable[RunRecord],
    *,
    fingerprint: str | None = None,
    champion_run_id: str | None = None,
) -> list[ParetoPoint]:
    """Points for the succeeded runs that recorded quality, latency and size; front marked.

    Args:
        runs: Run records with their metrics (``store.list_runs()``).
        fingerprint: Keep only runs of this dataset fingerprint (a Pareto chart mixing
            datasets would compare numbers measured on different rows).
        champion_run_id: The run holding the ``champion`` alias, flagged on its point.

    Returns:
        Points (newest run first, as given) with the front marked. Runs missing one of the
        three numbers are left out. The quality metric is the first of ``roc_auc``/``rmse``
        found among the runs; runs without it are left out.
    """
    kept = [
        r
        for r in runs
        if str(r.status) == "succeeded"
        and (fingerprint is None or r.dataset_fingerprint == fingerprint)
    ]
    headline = next(
        ((name, hib) for name, hib in _HEADLINES if any(r.metric(name, _STAGE) for r in kept)),
        None,
    )
    if headline is None:
        return []
    name, hib = headline
    points = []
    for r in kept:
        q, lat, size = (r.metric(n, _STAGE) for n in (name, LATENCY_METRIC, SIZE_METRIC))
        values = [m.value if m else None for m in (q, lat, size)]
        if not all(_finite(v) for v in values):
            continue
        points.append(
            ParetoPoint(
                run_id=r.id,
                family=r.model_family,
                metric=name,
                quality=float(values[0]),  # type: ignore[arg-type]
                higher_is_better=hib,
                latency_ms=float(values[1]),  # type: ignore[arg-type]
                size_bytes=float(values[2]),  # type: ignore[arg-type]
                champion=r.id == champion_run_id,
            )
        )
    return mark_front(points)


def collect_points(store: Store, fingerprint: str | None) -> list[ParetoPoint]:
    """:func:`points_from_runs` over every run in the store, with the champion flagged."""
    from .registry import aliases

    champ = aliases(store).get("champion")
    return points_from_runs(
        store.list_runs(),
        fingerprint=fingerprint,
        champion_run_id=champ.run_id if champ else None,
    )


def points_frame(points: Sequence[ParetoPoint]) -> pd.DataFrame:
    """A table of the points: run, family, the three objectives, front and champion flags."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "run": p.run_id,
                "family": p.family,
                p.metric: p.quality,
                "p99 latency (ms)": p.latency_ms,
                "size (MB)": p.size_bytes / 1e6,
                "non-dominated": p.on_front,
                "dominated by": ", ".join(p.dominated_by),
                "champion": p.champion,
            }
            for p in points
        ]
    )


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
    return (
        f"run {escape(p.run_id)} ({escape(p.family or '?')}){extra}<br>{escape(p.metric)} "
        f"{p.quality:.4f}<br>p99 {p.latency_ms:.3f} ms<br>size {p.size_bytes / 1e6:.2f} MB"
        f"<br>{escape(status)}"
    )


def pareto_figure(
    points: Sequence[ParetoPoint],
    *,
    highlight: Mapping[str, str] | None = None,
    title: str = "Quality vs latency (marker area: model size)",
) -> go.Figure:
    """Scatter of quality against p99 latency; marker area shows model size.

    Non-dominated runs are filled, dominated ones hollow; the champion is a star; runs in
    ``highlight`` (e.g. ``{run_id: "candidate"}``) are annotated. Hovering shows the run id
    and all three numbers.

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
    for name, front, symbol, color in groups:
        idx = [i for i, p in enumerate(points) if p.on_front == front and not p.champion]
        if not idx:
            continue
        fig.add_trace(_scatter(points, idx, sizes, name, symbol, color, highlight))
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
