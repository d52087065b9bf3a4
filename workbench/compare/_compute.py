"""Pairing two runs' saved test predictions and computing the evidence of a comparison.

Computation on what the runs saved: load and check the predictions (same data, same test rows,
same classes), the quality deltas with their paired-bootstrap intervals, the trivial baseline
the candidate recorded and the candidate's lift over it, the latency (recorded, or both models
timed again side by side, :mod:`._latency`), the model sizes, and the decision the gates give.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from workbench.evaluate import BASELINE_FILE, TrivialBaseline
from workbench.exceptions import ConfigError
from workbench.gates import COST_METRICS, GateResult
from workbench.latency import LATENCY_METRICS
from workbench.store import RunRecord

from ._latency import LatencyEvidence, latency_evidence
from ._types import CONFIDENCE, IncomparableRuns, MetricDelta, _num, _run_file

if TYPE_CHECKING:
    import numpy as np

    from workbench.config import Workspace
    from workbench.stats import McNemarResult

_PREDICTIONS = "test_predictions.json"
_SPLIT = "split.json"
#: The stage whose metrics and predictions a comparison reads.
EVALUATE_STAGE = "evaluate"


@dataclass(frozen=True)
class _Predictions:
    rows: np.ndarray
    labels: np.ndarray | None
    y_true: np.ndarray
    y_score: np.ndarray
    split_test: np.ndarray | None


def _load_predictions(ws: Workspace, run: RunRecord) -> _Predictions:
    import numpy as np

    path = _run_file(ws, run, _PREDICTIONS)
    if not path.is_file():
        raise IncomparableRuns(
            f"run {run.id} has no saved test predictions ({path.name}); only runs whose "
            "evaluate stage succeeded can be compared (`workbench runs` shows their status)"
        )
    try:
        raw = json.loads(path.read_text())
        labels = np.asarray(raw["labels"]) if raw.get("labels") else None
        preds = _Predictions(
            rows=np.asarray(raw["rows"], dtype=int),
            labels=labels,
            y_true=np.asarray(raw["y_true"]),
            y_score=np.asarray(raw["y_score"]),
            split_test=None,
        )
    except (ValueError, KeyError, TypeError) as e:
        raise IncomparableRuns(
            f"the test predictions of run {run.id} ({path}) are unreadable: {e}; re-run its "
            "evaluate stage"
        ) from e
    split = _run_file(ws, run, _SPLIT)
    if split.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            test = np.asarray(json.loads(split.read_text())["test"], dtype=int)
            preds = replace(preds, split_test=test)
    return preds


def _check_same_data(cand: RunRecord, base: RunRecord) -> None:
    if cand.id == base.id:
        raise ConfigError(
            f"candidate and baseline are the same run {cand.id}; compare two different runs"
        )
    for run in (cand, base):
        if run.dataset_fingerprint is None:
            raise IncomparableRuns(
                f"run {run.id} recorded no dataset fingerprint (it never loaded its data), so "
                "it cannot be paired with another run; compare runs whose evaluate stage ran"
            )
    if cand.dataset_fingerprint != base.dataset_fingerprint:
        raise IncomparableRuns(
            f"runs were evaluated on different data: candidate {cand.id} on "
            f"{cand.dataset_name!r} (fingerprint {cand.dataset_fingerprint[:12]}), baseline "
            f"{base.id} on {base.dataset_name!r} (fingerprint {base.dataset_fingerprint[:12]}); "
            "a comparison pairs both models on the same test rows, so compare runs of the "
            "same dataset"
        )


def _check_same_rows(cand: RunRecord, base: RunRecord, pc: _Predictions, pb: _Predictions) -> None:
    import numpy as np

    def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
        return a is None or b is None or np.array_equal(a, b)

    if not (np.array_equal(pc.rows, pb.rows) and same(pc.split_test, pb.split_test)):
        overlap = len(np.intersect1d(pc.rows, pb.rows))
        raise IncomparableRuns(
            f"runs were evaluated on different test rows: candidate {cand.id} (seed "
            f"{cand.seed}, {len(pc.rows)} test rows) and baseline {base.id} (seed {base.seed}, "
            f"{len(pb.rows)} test rows) share {overlap}; the split depends on the seed, so "
            "compare runs made with the same --seed"
        )
    if not np.array_equal(pc.y_true, pb.y_true):
        raise IncomparableRuns(
            f"runs {cand.id} and {base.id} saved different true targets for the same test "
            "rows; their data differs, so they cannot be compared"
        )
    if (pc.labels is None) != (pb.labels is None) or (
        pc.labels is not None and not np.array_equal(pc.labels, pb.labels)
    ):
        raise IncomparableRuns(
            f"runs {cand.id} and {base.id} score different classes "
            f"({_listed(pc.labels)} vs {_listed(pb.labels)}); they cannot be paired"
        )


def _listed(labels: np.ndarray | None) -> str:
    return "none" if labels is None else str(list(labels)[:10])


def _predicted_labels(p: _Predictions) -> np.ndarray:
    import numpy as np

    if p.y_score.ndim == 2 and p.labels is not None:
        return p.labels[np.argmax(p.y_score, axis=1)]
    return p.y_score


def _verdict_ci(lo: float | None, hi: float | None, higher_is_better: bool) -> str:
    if lo is None or hi is None:
        return "unknown"
    if lo > 0 or hi < 0:
        return "better" if (lo > 0) == higher_is_better else "worse"
    return "no significant difference"


def _verdict_point(delta: float | None, higher_is_better: bool) -> str:
    if delta is None:
        return "unknown"
    if delta == 0:
        return "equal"
    return "better" if (delta > 0) == higher_is_better else "worse"


def _ratio(cand: float | None, base: float | None) -> float | None:
    if cand is None or base is None or base == 0:
        return None
    return _num(cand / base)


def _trivial_baseline(ws: Workspace, cand: RunRecord, base: RunRecord) -> TrivialBaseline | None:
    """The trivial baseline the candidate's evaluate stage fitted (its training rows), else the
    baseline run's (same split, so the same rows), else ``None`` (runs evaluated before
    baselines were recorded)."""
    for run in (cand, base):
        path = _run_file(ws, run, BASELINE_FILE)
        if path.is_file():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return TrivialBaseline.from_dict(json.loads(path.read_text()))
    return None


def _quality_deltas(
    task: str,
    pc: _Predictions,
    pb: _Predictions,
    trivial: TrivialBaseline | None,
    *,
    n_boot: int,
    seed: int,
) -> list[MetricDelta]:
    from workbench.stats import bootstrap_metrics, metrics_for, paired_bootstrap_delta

    has_proba = pc.y_score.ndim == 2 and pb.y_score.ndim == 2
    chosen = [m for m in metrics_for(task) if has_proba or not m.needs_proba]
    names = [m.name for m in chosen]

    def points(score: np.ndarray) -> dict[str, float | None]:
        # n_boot=1: only the point values are used; intervals come from the paired bootstrap.
        est = bootstrap_metrics(
            task, pc.y_true, score, labels=pc.labels, n_boot=1, seed=seed, metrics=names
        )
        return {k: _num(e.value) for k, e in est.items()}

    point_c, point_b = points(pc.y_score), points(pb.y_score)
    t_score = None if trivial is None else trivial.scores(len(pc.y_true), proba=has_proba)
    point_t = {} if t_score is None else points(t_score)
    out = []
    for m in chosen:
        est, p = paired_bootstrap_delta(
            task, pc.y_true, pb.y_score, pc.y_score,
            metric=m.name, labels=pc.labels, n_boot=n_boot, seed=seed, confidence=CONFIDENCE,
        )  # fmt: skip
        lo, hi = _num(est.ci_low), _num(est.ci_high)
        cand, base = point_c[m.name], point_b[m.name]
        lift = lift_lo = lift_hi = base_lift = None
        if t_score is not None:
            up, _ = paired_bootstrap_delta(
                task, pc.y_true, t_score, pc.y_score,
                metric=m.name, labels=pc.labels, n_boot=n_boot, seed=seed, confidence=CONFIDENCE,
            )  # fmt: skip
            lift, lift_lo, lift_hi = _num(up.value), _num(up.ci_low), _num(up.ci_high)
            t = point_t[m.name]
            base_lift = _num(base - t) if base is not None and t is not None else None
        out.append(
            MetricDelta(
                name=m.name,
                kind="quality",
                higher_is_better=m.higher_is_better,
                candidate=cand,
                baseline=base,
                delta=_num(est.value),
                delta_ci_low=lo,
                delta_ci_high=hi,
                ratio=_ratio(cand, base),
                p_value=_num(p),
                verdict=_verdict_ci(lo, hi, m.higher_is_better),
                trivial=point_t.get(m.name),
                lift=lift,
                lift_ci_low=lift_lo,
                lift_ci_high=lift_hi,
                baseline_lift=base_lift,
                measured="paired on the test rows",
            )
        )
    return out


def _latency_delta(name: str, higher: bool, evidence: LatencyEvidence) -> MetricDelta:
    d = (evidence.deltas or {}).get(name)
    if d is None:  # a run kept no timings: its recorded value, one measurement, no interval
        vc = _num(evidence.recorded["candidate"].get(name))
        vb = _num(evidence.recorded["baseline"].get(name))
        delta = _num(vc - vb) if vc is not None and vb is not None else None
        return MetricDelta(
            name=name, kind="cost", higher_is_better=higher, candidate=vc, baseline=vb,
            delta=delta, ratio=_ratio(vc, vb), verdict=_verdict_point(delta, higher),
            measured=evidence.measured,
        )  # fmt: skip
    lo, hi = _num(d.delta.ci_low), _num(d.delta.ci_high)
    return MetricDelta(
        name=name,
        kind="cost",
        higher_is_better=higher,
        candidate=_num(d.candidate),
        baseline=_num(d.baseline),
        delta=_num(d.delta.value),
        delta_ci_low=lo,
        delta_ci_high=hi,
        ratio=_num(d.ratio.value),
        p_value=_num(d.p_value),
        verdict=_verdict_ci(lo, hi, higher),
        ratio_ci_low=_num(d.ratio.ci_low),
        ratio_ci_high=_num(d.ratio.ci_high),
        measured=evidence.measured + (" (paired calls)" if d.paired else ""),
    )


def _cost_deltas(cand: RunRecord, base: RunRecord, evidence: LatencyEvidence) -> list[MetricDelta]:
    out = []
    for name, higher in COST_METRICS.items():
        if name in LATENCY_METRICS:
            out.append(_latency_delta(name, higher, evidence))
            continue
        mc, mb = cand.metric(name, stage=EVALUATE_STAGE), base.metric(name, stage=EVALUATE_STAGE)
        vc = _num(mc.value) if mc else None
        vb = _num(mb.value) if mb else None
        delta = _num(vc - vb) if vc is not None and vb is not None else None
        out.append(
            MetricDelta(
                name=name,
                kind="cost",
                higher_is_better=higher,
                candidate=vc,
                baseline=vb,
                delta=delta,
                ratio=_ratio(vc, vb),
                verdict=_verdict_point(delta, higher),
                measured="as recorded by each run",
            )
        )
    return out


def decide(results: Sequence[GateResult]) -> tuple[str, tuple[str, ...]]:
    """``promote`` when every applicable gate passed, else ``hold``; and the reasons."""
    applied = [r for r in results if r.applies]
    failed = [r for r in applied if not r.passed]
    if not applied:
        return "hold", ("no gate applies to this task; add a gate for its metrics",)
    if failed:
        return "hold", tuple(f"gate '{r.gate.label}' failed: {r.reason}" for r in failed)
    return "promote", (
        f"all {len(applied)} applicable gates passed: "
        + "; ".join(f"{r.gate.label} ({r.reason})" for r in applied),
    )


def _task_of(run: RunRecord, p: _Predictions) -> str:
    if run.dataset is not None:
        return run.dataset.task
    return "classification" if p.labels is not None else "regression"


class Evidence(NamedTuple):
    """What two runs' paired test predictions show (see :func:`paired_evidence`)."""

    task: str
    n_test: int
    metrics: list[MetricDelta]
    mcnemar: McNemarResult | None
    trivial: TrivialBaseline | None
    latency: LatencyEvidence


def paired_evidence(
    ws: Workspace,
    cand: RunRecord,
    base: RunRecord,
    *,
    n_boot: int,
    seed: int,
    remeasure: str = "auto",
    latency_seconds: float = 10.0,
) -> Evidence:
    """Pair two runs on their saved test rows and measure every metric of both.

    Quality metrics come with paired-bootstrap intervals of candidate − baseline and of the
    candidate's lift over the trivial baseline; latency with the interval of the difference and
    of the ratio (both models timed again side by side when the runs were timed in different
    contexts, see :func:`workbench.compare._latency.latency_evidence`); a classification adds
    McNemar's test on the rows each labels correctly.

    Raises:
        ConfigError: Both are the same run, or ``remeasure`` is unknown.
        IncomparableRuns: Different dataset fingerprints, test rows, targets or classes, or
            missing or unreadable predictions.
    """
    from workbench.stats import mcnemar

    _check_same_data(cand, base)
    pc, pb = _load_predictions(ws, cand), _load_predictions(ws, base)
    _check_same_rows(cand, base, pc, pb)
    task = _task_of(cand, pc)
    trivial = _trivial_baseline(ws, cand, base)
    latency = latency_evidence(
        ws, cand, base, pc.rows, remeasure=remeasure, max_seconds=latency_seconds,
        n_boot=n_boot, seed=seed,
    )  # fmt: skip
    metrics = _quality_deltas(task, pc, pb, trivial, n_boot=n_boot, seed=seed)
    metrics += _cost_deltas(cand, base, latency)
    paired_test = None
    if task == "classification":
        paired_test = mcnemar(
            _predicted_labels(pb) == pb.y_true, _predicted_labels(pc) == pc.y_true
        )
    return Evidence(task, len(pc.rows), metrics, paired_test, trivial, latency)
