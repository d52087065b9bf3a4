"""Pairing two runs' saved test predictions and computing the evidence of a comparison.

Pure computation on what the runs saved: load and check the predictions (same data, same test
rows, same classes), the quality deltas with their paired-bootstrap intervals, the cost deltas
each run's evaluate stage recorded, and the decision the gates give.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from workbench.exceptions import ConfigError
from workbench.gates import COST_METRICS, GateResult
from workbench.store import RunRecord

from ._types import CONFIDENCE, IncomparableRuns, MetricDelta, _num

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


def _run_file(ws: Workspace, run: RunRecord, name: str) -> Path:
    """The recorded path of a run's file, or its place in this workspace (a moved workspace)."""
    art = run.artifact(name)
    if art is not None and Path(art.path).is_file():
        return Path(art.path)
    return ws.run_dir(run.id) / name


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


def _quality_deltas(
    task: str, pc: _Predictions, pb: _Predictions, *, n_boot: int, seed: int
) -> list[MetricDelta]:
    from workbench.stats import bootstrap_metrics, metrics_for, paired_bootstrap_delta

    has_proba = pc.y_score.ndim == 2 and pb.y_score.ndim == 2
    chosen = [m for m in metrics_for(task) if has_proba or not m.needs_proba]
    names = [m.name for m in chosen]
    # n_boot=1: only the point values are used; the intervals come from the paired bootstrap.
    point_c = bootstrap_metrics(
        task, pc.y_true, pc.y_score, labels=pc.labels, n_boot=1, seed=seed, metrics=names
    )
    point_b = bootstrap_metrics(
        task, pb.y_true, pb.y_score, labels=pb.labels, n_boot=1, seed=seed, metrics=names
    )
    out = []
    for m in chosen:
        est, p = paired_bootstrap_delta(
            task, pc.y_true, pb.y_score, pc.y_score,
            metric=m.name, labels=pc.labels, n_boot=n_boot, seed=seed, confidence=CONFIDENCE,
        )  # fmt: skip
        lo, hi = _num(est.ci_low), _num(est.ci_high)
        cand, base = _num(point_c[m.name].value), _num(point_b[m.name].value)
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
            )
        )
    return out


def _cost_deltas(cand: RunRecord, base: RunRecord) -> list[MetricDelta]:
    out = []
    for name, higher in COST_METRICS.items():
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


def paired_evidence(
    ws: Workspace, cand: RunRecord, base: RunRecord, *, n_boot: int, seed: int
) -> Evidence:
    """Pair two runs on their saved test rows and measure every metric of both.

    Quality metrics come with paired-bootstrap intervals of candidate − baseline, cost metrics
    with their ratio; a classification adds McNemar's test on the rows each labels correctly.

    Raises:
        ConfigError: Both are the same run.
        IncomparableRuns: Different dataset fingerprints, test rows, targets or classes, or
            missing or unreadable predictions.
    """
    from workbench.stats import mcnemar

    _check_same_data(cand, base)
    pc, pb = _load_predictions(ws, cand), _load_predictions(ws, base)
    _check_same_rows(cand, base, pc, pb)
    task = _task_of(cand, pc)
    metrics = _quality_deltas(task, pc, pb, n_boot=n_boot, seed=seed) + _cost_deltas(cand, base)
    paired_test = None
    if task == "classification":
        paired_test = mcnemar(
            _predicted_labels(pb) == pb.y_true, _predicted_labels(pc) == pc.y_true
        )
    return Evidence(task, len(pc.rows), metrics, paired_test)
