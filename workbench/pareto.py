"""Accuracy–latency–size trade-off across the runs of one dataset.

Each evaluated run is a point with three objectives: quality (the task's headline metric,
``roc_auc`` up or ``rmse`` down), single-row p99 latency (down) and model size (down). A run is
*non-dominated* (on the Pareto front) when no other run is at least as good on all three and
strictly better on one. Each point also carries its run's trivial baseline (the class prior or
training mean scored on the same test rows, recorded by the evaluate stage as
``baseline_<metric>``) and whether the model beat it (``beats_baseline``): a model below the
baseline is not a trade-off worth having, whatever its cost. The functions here are pure:
records in, points or a table out; the chart is :func:`workbench.figures.pareto.pareto_figure`.

Example::

    points = points_from_runs(store.list_runs(), fingerprint=fp, champion_run_id=champ)
    points_frame(points)
    show(pareto_figure(points, highlight={cand_id: "candidate"}))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .exceptions import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from .store import RunRecord, Store

__all__ = [
    "LATENCY_METRIC",
    "SIZE_METRIC",
    "ParetoPoint",
    "collect_points",
    "dominates",
    "mark_front",
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
        baseline: The trivial baseline's value of ``metric`` on the run's test rows (``None``
            for runs evaluated before baselines were recorded).
        beats_baseline: Whether the model beat it with 95% confidence (``None``: unknown).
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
    baseline: float | None = None
    beats_baseline: bool | None = None

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
        Points (newest run first, as given) with the front marked and their trivial baseline.
        Runs missing one of the three numbers are left out. The quality metric is the first of
        ``roc_auc``/``rmse`` found among the runs; runs without it are left out.
    """
    from .gates import BASELINE_PREFIX, BEATS_METRIC

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
        trivial, beats = r.metric(BASELINE_PREFIX + name, _STAGE), r.metric(BEATS_METRIC, _STAGE)
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
                baseline=trivial.value if trivial and _finite(trivial.value) else None,
                beats_baseline=None if beats is None else beats.value >= 1,
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
    """A table of the points: run, family, the three objectives, front and champion flags, the
    trivial baseline and whether the model beat it."""
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
                f"baseline {p.metric}": p.baseline,
                "beats baseline": p.beats_baseline,
            }
            for p in points
        ]
    )
