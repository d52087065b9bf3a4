"""The accuracy–latency–size Pareto view: dominance, front marking, points from runs, figure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from workbench.exceptions import ConfigError
from workbench.figures.pareto import pareto_figure
from workbench.pareto import (
    ParetoPoint,
    dominates,
    mark_front,
    points_frame,
    points_from_runs,
)
from workbench.store import MetricRecord, RunRecord, RunStatus


def point(run_id: str, quality: float, latency: float, size: float, **kw: object) -> ParetoPoint:
    base = {"family": "rf", "metric": "roc_auc", "higher_is_better": True}
    return ParetoPoint(run_id, quality=quality, latency_ms=latency, size_bytes=size,
                       **{**base, **kw})  # type: ignore[arg-type]  # fmt: skip


def test_dominance_needs_all_objectives_and_one_strictly() -> None:
    a = point("a", 0.95, 1.0, 100)
    assert dominates(a, point("b", 0.94, 1.0, 100))
    assert dominates(a, point("c", 0.95, 2.0, 100))
    assert not dominates(a, point("d", 0.96, 5.0, 900))  # better quality, worse cost: trade-off
    assert not dominates(a, point("e", 0.95, 1.0, 100))  # ties do not dominate
    # Lower-is-better quality (rmse): smaller wins.
    r = {"metric": "rmse", "higher_is_better": False}
    assert dominates(point("f", 2.0, 1, 1, **r), point("g", 3.0, 1, 1, **r))
    with pytest.raises(ConfigError, match="one quality metric"):
        dominates(a, point("h", 2.0, 1, 1, **r))


def test_mark_front_keeps_trade_offs_and_ties() -> None:
    pts = mark_front(
        [
            point("fast", 0.90, 0.1, 1e5),
            point("accurate", 0.99, 10.0, 5e6),
            point("worse", 0.89, 0.2, 2e5),  # dominated by fast
            point("twin", 0.90, 0.1, 1e5),  # identical to fast: both stay
            point("bloated", 0.99, 10.0, 9e6),  # dominated by accurate
        ]
    )
    front = {p.run_id: p.on_front for p in pts}
    assert front == {"fast": True, "accurate": True, "worse": False, "twin": True,
                     "bloated": False}  # fmt: skip
    assert set(pts[2].dominated_by) == {"fast", "twin"}
    assert pts[4].dominated_by == ("accurate",)


def run(run_id: str, metrics: dict[str, float], *, fp: str = "f1", status: str = "succeeded"):
    return RunRecord(
        id=run_id, status=RunStatus(status), dataset_name="d", dataset_fingerprint=fp,
        model_family="logreg", seed=0, source="cli", stage_names=["evaluate"], git_commit=None,
        versions={}, error=None, created_at=datetime(2026, 1, 1, tzinfo=UTC), finished_at=None,
        heartbeat_at=None,
        metrics=[MetricRecord("evaluate", k, v) for k, v in metrics.items()],
    )  # fmt: skip


FULL = {"roc_auc": 0.95, "single_p99_ms": 1.0, "model_size_bytes": 1e5}


def test_points_from_runs_filters_dataset_status_and_missing_numbers() -> None:
    runs = [
        run("ok", FULL),
        run("better", {**FULL, "roc_auc": 0.97, "single_p99_ms": 0.5}),
        run("other-data", FULL, fp="f2"),
        run("failed", FULL, status="failed"),
        run("no-latency", {"roc_auc": 0.99, "model_size_bytes": 1.0}),
    ]
    pts = points_from_runs(runs, fingerprint="f1", champion_run_id="ok")
    assert [p.run_id for p in pts] == ["ok", "better"]
    assert pts[0].champion and not pts[0].on_front and pts[0].dominated_by == ("better",)
    assert pts[1].on_front and not pts[1].champion
    assert points_from_runs([run("x", {"single_p99_ms": 1.0})]) == []


def test_regression_runs_use_rmse_lower_is_better() -> None:
    reg = {"rmse": 3.0, "single_p99_ms": 1.0, "model_size_bytes": 1e5}
    pts = points_from_runs([run("a", reg), run("b", {**reg, "rmse": 2.0})])
    assert {p.metric for p in pts} == {"rmse"} and not pts[0].higher_is_better
    assert [p.on_front for p in pts] == [False, True]


def test_figure_highlights_champion_and_front_with_hover_ids() -> None:
    pts = mark_front(
        [
            point("champ", 0.95, 1.0, 1e5, champion=True),
            point("fast", 0.90, 0.1, 1e5),
            point("slow", 0.80, 9.0, 1e7),
        ]
    )
    fig = pareto_figure(pts, highlight={"fast": "candidate"})
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"non-dominated", "dominated", "champion"}
    assert by_name["champion"].marker.symbol == "star"
    assert list(by_name["dominated"].customdata) == ["slow"]
    assert "run fast" in by_name["non-dominated"].hovertext[0]
    assert "candidate" in by_name["non-dominated"].hovertext[0]
    assert "dominated by" in by_name["dominated"].hovertext[0]
    assert fig.layout.xaxis.type == "log"
    assert {a.text for a in fig.layout.annotations} == {"candidate", "champion"}
    # Marker area grows with model size.
    assert by_name["dominated"].marker.size[0] > by_name["champion"].marker.size[0]
    frame = points_frame(pts)
    assert list(frame["run"]) == ["champ", "fast", "slow"] and "roc_auc" in frame.columns
    with pytest.raises(ConfigError, match="no runs"):
        pareto_figure([])


def test_points_carry_the_trivial_baseline_and_the_chart_draws_it() -> None:
    base = {**FULL, "baseline_roc_auc": 0.5}
    runs = [
        run("good", {**base, "beats_baseline": 1.0}),
        run("useless", {**base, "roc_auc": 0.52, "single_p99_ms": 0.2, "beats_baseline": 0.0}),
        run("old", FULL),  # evaluated before baselines were recorded
    ]
    pts = points_from_runs(runs)
    assert [(p.baseline, p.beats_baseline) for p in pts] == [(0.5, True), (0.5, False),
                                                               (None, None)]  # fmt: skip
    frame = points_frame(pts)
    assert list(frame["baseline roc_auc"].fillna(-1)) == [0.5, 0.5, -1]
    assert list(frame["beats baseline"]) == [True, False, None]
    fig = pareto_figure(pts)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["does not beat the baseline"].customdata) == ["useless"]
    assert "does NOT beat it" in by_name["does not beat the baseline"].hovertext[0]
    assert [s.y0 for s in fig.layout.shapes] == [0.5]  # one dashed line per baseline value
    assert "trivial baseline roc_auc 0.5000" in {a.text for a in fig.layout.annotations}
