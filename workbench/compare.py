"""Compare a candidate model with a baseline on the same test rows, with evidence.

A comparison pairs the two runs' saved test predictions row by row and records, in one JSON
document stored in ``wb_comparisons``:

* every quality metric of the task for both models, the delta **candidate − baseline** (in the
  metric's units, never sign-flipped) with a paired-bootstrap 95% CI and p-value;
* for classification, McNemar's test on which rows each model labels correctly (exact binomial
  p-value, and the continuity-corrected chi-square one beside it; :func:`workbench.stats.mcnemar`);
* the cost metrics each run measured in its evaluate stage (single-row p50/p99 latency, batch
  throughput, model size): both values, delta and ratio candidate / baseline;
* every gate's result (:mod:`workbench.gates`) and the decision: ``promote`` only when every
  applicable gate passes, else ``hold``, with the reasons.

Runs evaluated on different data (dataset fingerprint) or different test rows (split) are
refused with the reason, before anything is computed.

Example::

    cmp = compare_runs(ws, store, "20261129-2050", "champion", n_boot=2000)
    cmp.decision, cmp.reasons
    cmp.to_dict()                                   # the stored record, JSON-ready
    html = render_report(ws, store, cmp.id)         # notebook 04 → reports/comparisons/<id>.html
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import child_path, new_id
from .exceptions import ConfigError, DatasetError, RunNotFound
from .gates import COST_METRICS, Gate, GateResult
from .safehtml import md, md_code
from .store import ComparisonRecord, RunRecord, RunStatus, Store, utcnow

if TYPE_CHECKING:
    import ipywidgets
    import numpy as np
    import pandas as pd
    import plotly.graph_objects as go

    from .config import Workspace
    from .reports import IndexSection
    from .stats import McNemarResult

__all__ = [
    "CONFIDENCE",
    "NOTEBOOK",
    "Comparison",
    "IncomparableRuns",
    "MetricDelta",
    "Side",
    "compare_and_report",
    "compare_runs",
    "comparison_dir",
    "comparison_picker",
    "comparison_report_path",
    "cost_ratio_figure",
    "delta_ci_figure",
    "get_comparison",
    "index_sections",
    "list_comparisons",
    "notebook_comparison",
    "open_workspace",
    "render_report",
]

#: Coverage of every interval in a comparison.
CONFIDENCE = 0.95
#: The notebook that renders a comparison.
NOTEBOOK = "04_compare.ipynb"
#: Version of the stored record's layout.
RECORD_SCHEMA = 1
_PREDICTIONS = "test_predictions.json"
_SPLIT = "split.json"
_EVALUATE = "evaluate"


class IncomparableRuns(DatasetError):
    """The two runs were not evaluated on the same data and test rows (or lack predictions)."""


# -- records ------------------------------------------------------------------------------------


def _num(x: Any) -> float | None:
    """A JSON-safe number: NaN and infinities (undefined values) become ``None``."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Side:
    """One of the two models of a comparison.

    Attributes:
        run_id: The run.
        ref: What the user asked for (``champion``, ``v2``, an id prefix).
        family: Model family.
        version: Registry version when the run is registered, else ``None``.
        model_sha256: Hash of the model file the predictions came from.
    """

    run_id: str
    ref: str
    family: str | None
    version: int | None
    model_sha256: str | None

    def label(self) -> str:
        """``run (family vN)``, plus ``as <ref>`` when it was asked for by alias or version."""
        v = f" v{self.version}" if self.version is not None else ""
        asked = "" if self.run_id.startswith(self.ref) else f" as {self.ref}"
        return f"{self.run_id} ({self.family or '?'}{v}){asked}"


@dataclass(frozen=True)
class MetricDelta:
    """One metric of both models.

    Attributes:
        name: Metric name.
        kind: ``quality`` (computed here on the paired test rows) or ``cost`` (as each run
            recorded it in its evaluate stage; one measurement, so no interval).
        higher_is_better: Direction of improvement.
        candidate: Candidate's value.
        baseline: Baseline's value.
        delta: candidate − baseline, in the metric's units.
        delta_ci_low: Lower bound of the paired-bootstrap interval of ``delta`` (quality).
        delta_ci_high: Upper bound (quality).
        ratio: candidate / baseline (``None`` when the baseline is 0).
        p_value: Two-sided paired-bootstrap p-value of ``delta`` (quality).
        verdict: ``better``, ``worse`` (for the candidate; significant at 95% for quality),
            ``no significant difference``, ``equal`` or ``unknown``.
    """

    name: str
    kind: str
    higher_is_better: bool
    candidate: float | None
    baseline: float | None
    delta: float | None
    delta_ci_low: float | None = None
    delta_ci_high: float | None = None
    ratio: float | None = None
    p_value: float | None = None
    verdict: str = "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "delta": self.delta,
            "delta_ci_low": self.delta_ci_low,
            "delta_ci_high": self.delta_ci_high,
            "ratio": self.ratio,
            "p_value": self.p_value,
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class Comparison:
    """A recorded comparison (see the module docstring for what it holds).

    ``to_dict()`` is exactly the JSON stored in ``wb_comparisons.record`` plus the report path;
    :func:`get_comparison` rebuilds the object from it, so the CLI's ``--json`` and the HTML
    report (notebook 04 reads the stored record) show the same numbers.
    """

    id: str
    created_at: datetime
    candidate: Side
    baseline: Side
    dataset: dict[str, Any]
    task: str
    n_test: int
    n_boot: int
    seed: int
    confidence: float
    metrics: tuple[MetricDelta, ...]
    mcnemar: McNemarResult | None
    gates: tuple[GateResult, ...]
    gates_source: str
    decision: str
    reasons: tuple[str, ...]
    report_path: str | None = None

    # -- views ----------------------------------------------------------------------------

    @property
    def headline(self) -> str:
        from .stats import HEADLINE

        return HEADLINE[self.task]

    @property
    def fingerprint(self) -> str:
        return str(self.dataset["fingerprint"])

    def metric(self, name: str) -> MetricDelta:
        """The entry of one metric.

        Raises:
            ConfigError: The comparison has no such metric; the message lists those it has.
        """
        for m in self.metrics:
            if m.name == name:
                return m
        raise ConfigError(
            f"comparison {self.id} has no metric {name!r}; it has "
            + ", ".join(m.name for m in self.metrics)
        )

    def metrics_map(self) -> dict[str, dict[str, Any]]:
        """``{metric: entry}``, the form :func:`workbench.gates.evaluate_gates` reads."""
        return {m.name: m.to_dict() for m in self.metrics}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record (undefined numbers are ``null``)."""
        return {
            "schema": RECORD_SCHEMA,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "candidate": asdict(self.candidate),
            "baseline": asdict(self.baseline),
            "dataset": dict(self.dataset),
            "task": self.task,
            "n_test": self.n_test,
            "settings": {
                "n_boot": self.n_boot,
                "seed": self.seed,
                "confidence": self.confidence,
                "delta": "candidate - baseline, in the metric's units",
            },
            "metrics": [m.to_dict() for m in self.metrics],
            "tests": {"mcnemar": self.mcnemar.to_dict() if self.mcnemar else None},
            "gates": {
                "source": self.gates_source,
                "results": [g.to_dict() for g in self.gates],
            },
            "decision": self.decision,
            "reasons": list(self.reasons),
            "report_path": self.report_path,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Comparison:
        """Rebuild a comparison from its record.

        Raises:
            ConfigError: The record was written by a newer workbench (unknown schema).
        """
        if d.get("schema") != RECORD_SCHEMA:
            raise ConfigError(
                f"comparison record {d.get('id')!r} has schema {d.get('schema')!r}; this "
                f"workbench reads schema {RECORD_SCHEMA}; upgrade workbench to read it"
            )
        from .stats import McNemarResult

        settings = d["settings"]
        mcnemar = (d.get("tests") or {}).get("mcnemar")
        return cls(
            id=d["id"],
            created_at=datetime.fromisoformat(d["created_at"]),
            candidate=Side(**d["candidate"]),
            baseline=Side(**d["baseline"]),
            dataset=dict(d["dataset"]),
            task=d["task"],
            n_test=int(d["n_test"]),
            n_boot=int(settings["n_boot"]),
            seed=int(settings["seed"]),
            confidence=float(settings["confidence"]),
            metrics=tuple(MetricDelta(**m) for m in d["metrics"]),
            mcnemar=McNemarResult.from_dict(mcnemar) if mcnemar else None,
            gates=tuple(GateResult.from_dict(g) for g in d["gates"]["results"]),
            gates_source=d["gates"]["source"],
            decision=d["decision"],
            reasons=tuple(d["reasons"]),
            report_path=d.get("report_path"),
        )

    def deltas_frame(self) -> pd.DataFrame:
        """One row per metric: both values, delta with its CI, ratio, p-value, verdict."""
        import pandas as pd

        cols = ["name", "kind", "candidate", "baseline", "delta", "delta_ci_low",
                "delta_ci_high", "ratio", "p_value", "verdict"]  # fmt: skip
        frame = pd.DataFrame([m.to_dict() for m in self.metrics], columns=cols)
        frame["better"] = ["higher" if m.higher_is_better else "lower" for m in self.metrics]
        return frame.rename(columns={"name": "metric"}).set_index("metric")

    def gates_frame(self) -> pd.DataFrame:
        """One row per gate: the rule, the observed number, passed/failed/skipped, why."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "gate": g.gate.label,
                    "rule": g.gate.describe(),
                    "observed": g.observed,
                    "status": g.status.value,
                    "reason": g.reason,
                }
                for g in self.gates
            ],
            columns=["gate", "rule", "observed", "status", "reason"],
        )

    def summary_markdown(self) -> str:
        """A few lines for the top of the report: who vs whom, the decision and why."""
        head = self.metric(self.headline) if self.headline in self._names() else None
        # Labels, the dataset name and the reasons (quoting gate names) are user text.
        lines = [
            f"**Comparison {md_code(self.id)}**: candidate {md_code(self.candidate.label())} "
            f"vs baseline {md_code(self.baseline.label())} on "
            f"{md(self.dataset.get('name'))} ({self.n_test} test rows, fingerprint "
            f"{md_code(self.fingerprint[:12])}).",
            "",
            f"**Decision: {md(self.decision.upper())}**",
            "",
            *[f"- {md(r)}" for r in self.reasons],
        ]
        if head is not None:
            lines += ["", _headline_sentence(head, self.confidence)]
        if self.mcnemar is not None:
            mc = self.mcnemar
            lines.append("")
            lines.append(
                f"McNemar: {mc.candidate_only} rows only the candidate labels correctly, "
                f"{mc.baseline_only} only the baseline; exact p = {mc.p_value:.4g}."
            )
        return "\n".join(lines)

    def _names(self) -> set[str]:
        return {m.name for m in self.metrics}


def _headline_sentence(m: MetricDelta, confidence: float) -> str:
    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.4f}"

    return (
        f"{m.name}: candidate {f(m.candidate)}, baseline {f(m.baseline)}, delta {f(m.delta)} "
        f"({confidence:.0%} CI [{f(m.delta_ci_low)}, {f(m.delta_ci_high)}], "
        f"p = {f(m.p_value)}): {m.verdict}."
    )


# -- loading what the runs saved ----------------------------------------------------------------


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
    from .stats import bootstrap_metrics, metrics_for, paired_bootstrap_delta

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
        mc, mb = cand.metric(name, stage=_EVALUATE), base.metric(name, stage=_EVALUATE)
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


def _decide(results: Sequence[GateResult]) -> tuple[str, tuple[str, ...]]:
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


# -- gates argument -----------------------------------------------------------------------------


def _resolve_gates(gates: str | Path | Sequence[Gate | Any] | None) -> tuple[list[Gate], str]:
    from .gates import default_gates_path, load_gates, parse_gate

    if gates is None or (isinstance(gates, str) and not gates.strip()):
        path = default_gates_path()
        return load_gates(path), f"default ({path.name})"
    if isinstance(gates, str | Path):
        return load_gates(gates), str(Path(gates).resolve())  # recorded: absolute
    parsed = [
        g if isinstance(g, Gate) else parse_gate(g, where=f"gate {i}")
        for i, g in enumerate(gates, start=1)
    ]
    return parsed, "inline"


# -- the comparison -----------------------------------------------------------------------------


def _new_id() -> str:
    return new_id("cmp-")


def _side(store: Store, run: RunRecord, ref: str) -> Side:
    from .registry import version_of_run

    v = version_of_run(store, run.id)
    art = run.artifact("model")
    return Side(
        run_id=run.id,
        ref=ref,
        family=run.model_family,
        version=v.version if v else None,
        model_sha256=art.sha256 if art else None,
    )


def compare_runs(
    ws: Workspace,
    store: Store,
    candidate_ref: str,
    baseline_ref: str,
    *,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare two runs on their shared test rows and record the result.

    Args:
        ws: The workspace (where the runs saved their predictions).
        store: Its store.
        candidate_ref: Run id, unique prefix, version (``v2``) or alias of the candidate.
        baseline_ref: The same for the baseline, e.g. ``"champion"``.
        gates: A gates YAML path, a list of gates (:class:`~workbench.gates.Gate`, mappings or
            compact strings), or ``None`` for ``templates/gates.yaml``.
        n_boot: Paired bootstrap resamples.
        seed: Seed of the resampling (recorded; same inputs and seed give the same record).

    Returns:
        The comparison, already stored in ``wb_comparisons``.

    Raises:
        RunNotFound: A reference matches no run, version or alias.
        IncomparableRuns: Different dataset fingerprints or test rows, or missing predictions.
        GateError: The gates are malformed.

    Example:
        >>> cmp = compare_runs(ws, store, "20261129-2050", "champion", n_boot=2000)
        >>> cmp.decision
        'hold'
    """
    from .registry import resolve_ref

    if not isinstance(n_boot, int) or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    gate_list, gates_source = _resolve_gates(gates)
    cand = store.get_run(resolve_ref(store, candidate_ref))
    base = store.get_run(resolve_ref(store, baseline_ref))
    _check_same_data(cand, base)
    pc, pb = _load_predictions(ws, cand), _load_predictions(ws, base)
    _check_same_rows(cand, base, pc, pb)
    task = _task_of(cand, pc)

    metrics = _quality_deltas(task, pc, pb, n_boot=n_boot, seed=seed) + _cost_deltas(cand, base)
    from .gates import evaluate_gates
    from .stats import mcnemar

    paired_test = None
    if task == "classification":
        paired_test = mcnemar(
            _predicted_labels(pb) == pb.y_true, _predicted_labels(pc) == pc.y_true
        )

    results = evaluate_gates({m.name: m.to_dict() for m in metrics}, gate_list, task=task)
    decision, reasons = _decide(results)
    comparison = Comparison(
        id=_new_id(),
        created_at=utcnow(),
        candidate=_side(store, cand, candidate_ref),
        baseline=_side(store, base, baseline_ref),
        dataset={"name": cand.dataset_name, "fingerprint": cand.dataset_fingerprint},
        task=task,
        n_test=len(pc.rows),
        n_boot=n_boot,
        seed=seed,
        confidence=CONFIDENCE,
        metrics=tuple(metrics),
        mcnemar=paired_test,
        gates=tuple(results),
        gates_source=gates_source,
        decision=decision,
        reasons=reasons,
    )
    _save(store, comparison)
    return comparison


def _task_of(run: RunRecord, p: _Predictions) -> str:
    if run.dataset is not None:
        return run.dataset.task
    return "classification" if p.labels is not None else "regression"


def _save(store: Store, comparison: Comparison) -> None:
    store.add_comparison(
        ComparisonRecord(
            id=comparison.id,
            candidate_run=comparison.candidate.run_id,
            baseline_run=comparison.baseline.run_id,
            decision=comparison.decision,
            record=comparison.to_dict(),
            created_at=comparison.created_at,
        )
    )


def _from_record(rec: ComparisonRecord) -> Comparison:
    return Comparison.from_dict({**rec.record, "report_path": rec.report_path})


def get_comparison(store: Store, ref: str) -> Comparison:
    """A stored comparison by id or unique id prefix.

    Raises:
        RunNotFound: No comparison matches, or the prefix is ambiguous.
    """
    return _from_record(store.get_comparison(ref))


def list_comparisons(store: Store, *, limit: int | None = None) -> list[Comparison]:
    """Stored comparisons, newest first."""
    return [_from_record(r) for r in store.list_comparisons(limit=limit)]


# -- the report (notebook 04) -------------------------------------------------------------------


def comparison_dir(ws: Workspace, comparison_id: str) -> Path:
    """Where the executed notebook of a comparison lives: ``<workspace>/comparisons/<id>/``."""
    return child_path(ws.artifact_root / "comparisons", comparison_id, what="comparison id")


def comparison_report_path(ws: Workspace, comparison_id: str) -> Path:
    """The HTML report of a comparison: ``<workspace>/reports/comparisons/<id>.html``."""
    folder = ws.reports_dir / "comparisons"
    return child_path(folder, comparison_id, what="comparison id", suffix=".html")


def render_report(
    ws: Workspace,
    store: Store,
    comparison_id: str,
    *,
    reviewer: bool = False,
    log_output: bool = False,
) -> Path:
    """Execute notebook 04 on a stored comparison and export it to HTML.

    The notebook reads the comparison from the store (it does not recompute it), so the page
    shows the stored numbers. The executed notebook goes to ``comparisons/<id>/`` and the page
    to ``reports/comparisons/<id>.html``, whose path is recorded with the comparison.

    Args:
        ws: The workspace.
        store: Its store.
        comparison_id: The comparison (id or unique prefix).
        reviewer: Hide code cells in the page.
        log_output: Stream cell outputs to the ``papermill`` logger.

    Returns:
        The HTML path.

    Raises:
        StageFailed: A notebook cell raised (the partial notebook is kept and exported).
    """
    from .execute import render_report as execute_report

    comparison = get_comparison(store, comparison_id)
    params = {
        "workspace": str(ws.root),
        "comparison_id": comparison.id,
        "candidate": comparison.candidate.run_id,
        "baseline": comparison.baseline.run_id,
    }
    return execute_report(
        NOTEBOOK,
        out=comparison_dir(ws, comparison.id) / NOTEBOOK,
        html=comparison_report_path(ws, comparison.id),
        parameters=params,
        stage="compare",
        owner=comparison.candidate.run_id,
        title=(f"{comparison.id} · {comparison.candidate.run_id} vs {comparison.baseline.run_id}"),
        reviewer=reviewer,
        log_output=log_output,
        on_export=lambda html: store.set_comparison_report(comparison.id, html),
    )


def compare_and_report(
    ws: Workspace,
    store: Store,
    candidate_ref: str,
    baseline_ref: str,
    *,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    reviewer: bool = False,
    index: bool = True,
) -> Comparison:
    """:func:`compare_runs`, then :func:`render_report`, then the report index.

    Returns:
        The stored comparison with its ``report_path`` set.
    """
    comparison = compare_runs(
        ws, store, candidate_ref, baseline_ref, gates=gates, n_boot=n_boot, seed=seed
    )
    render_report(ws, store, comparison.id, reviewer=reviewer)
    if index:
        from .reports import build_index

        build_index(ws, store)
    return get_comparison(store, comparison.id)


# -- index sections -----------------------------------------------------------------------------


def index_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """Tables for ``reports/index.html``: comparisons (newest first) and the registry.

    Pass them to :func:`workbench.reports.build_index` as ``extra_sections``.
    """
    from .registry import audit_trail, list_models
    from .reports import IndexLink, IndexSection

    rows: list[tuple[str | IndexLink, ...]] = []
    for c in list_comparisons(store):
        head = next((m for m in c.metrics if m.name == c.headline), None)
        delta = "" if head is None or head.delta is None else _delta_text(head)
        report: str | IndexLink = "—"
        if c.report_path and Path(c.report_path).is_file():
            href = os.path.relpath(Path(c.report_path).resolve(), ws.reports_dir.resolve())
            report = IndexLink("open", Path(href).as_posix(), tooltip=f"report of {c.id}")
        rows.append(
            (c.id, c.candidate.label(), c.baseline.label(), delta, c.decision, report)
        )  # fmt: skip
    comparisons = IndexSection(
        "Comparisons",
        columns=("comparison", "candidate", "baseline", "headline delta (95% CI)", "decision",
                 "report"),
        rows=tuple(rows),
        note="delta = candidate − baseline on the same test rows; promote only when every "
        "applicable gate passes",
    )  # fmt: skip
    models = list_models(store)
    trail = audit_trail(store)
    registry = IndexSection(
        "Model registry",
        columns=("version", "aliases", "run", "family", "task", "test metric", "registered"),
        rows=tuple(
            (
                v.ref,
                ", ".join(v.aliases) or "—",
                v.run_id,
                v.family or "",
                v.task or "",
                _version_metric(v.metrics),
                v.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
            for v in models
        ),
        note=f"{len(models)} version(s); {len(trail)} alias change(s) in the audit trail",
    )
    audit = IndexSection(
        "Alias audit trail",
        columns=("when", "alias", "from", "to", "who", "forced", "why", "comparison"),
        rows=tuple(
            (
                e.at.strftime("%Y-%m-%d %H:%M UTC"),
                e.alias,
                f"v{e.from_version}" if e.from_version is not None else "—",
                f"v{e.to_version}" if e.to_version is not None else "—",
                e.actor,
                "yes" if e.forced else "no",
                e.reason,
                e.comparison_id or "—",
            )
            for e in reversed(trail)
        ),
    )
    return [comparisons, registry, audit]


def _delta_text(m: MetricDelta) -> str:
    text = f"{m.name} {m.delta:+.4f}"
    if m.delta_ci_low is not None and m.delta_ci_high is not None:
        text += f" [{m.delta_ci_low:+.4f}, {m.delta_ci_high:+.4f}]"
    return text


def _version_metric(metrics: Mapping[str, Any]) -> str:
    for name in ("roc_auc", "rmse"):
        if name in metrics:
            return f"{name} {metrics[name]['value']:.4f}"
    return ""


# -- notebook helpers ---------------------------------------------------------------------------


def open_workspace(workspace: str = "") -> tuple[Workspace, Store]:
    """The workspace (``""``: ``WORKBENCH_HOME`` or ``./workspace``) and its store."""
    from .store import open_workspace as open_ws

    return open_ws(workspace or None)


def _comparable_runs(store: Store, fingerprint: str | None) -> list[RunRecord]:
    """Succeeded runs (newest first) with test metrics, optionally of one dataset."""
    return [
        r
        for r in store.list_runs()
        if r.status is RunStatus.SUCCEEDED
        and r.metric("single_p99_ms", stage=_EVALUATE) is not None
        and (fingerprint is None or r.dataset_fingerprint == fingerprint)
    ]


def notebook_comparison(
    ws: Workspace,
    store: Store,
    *,
    comparison_id: str = "",
    candidate: str = "",
    baseline: str = "champion",
    gates: str = "",
    n_boot: int = 2000,
    seed: int = 0,
) -> Comparison | None:
    """What notebook 04 shows: a stored comparison, or a new one made from its parameters.

    With ``comparison_id`` the stored record is loaded (batch reports). Otherwise ``baseline``
    (default the ``champion`` alias) is compared with ``candidate``, or, when ``candidate`` is
    empty, with the newest succeeded run of the same dataset that is not the baseline.

    Returns:
        The comparison, or ``None`` after printing why nothing can be compared (no champion,
        no other run), so the notebook can stop gracefully.
    """
    from .registry import resolve_ref

    if comparison_id:
        return get_comparison(store, comparison_id)
    try:
        base_id = resolve_ref(store, baseline)
    except RunNotFound as e:
        print(f"nothing to compare: {e}")
        print(
            "set `baseline` to a run id, or promote a run: workbench promote RUN --alias champion"
        )
        return None
    if not candidate:
        fp = store.get_run(base_id).dataset_fingerprint
        others = [r for r in _comparable_runs(store, fp) if r.id != base_id]
        if not others:
            print(
                f"nothing to compare: no other succeeded run on the data of {baseline} "
                f"({base_id}); start one with `workbench run --dataset ...`"
            )
            return None
        candidate = others[0].id
        print(f"candidate: the newest succeeded run that is not {baseline}: {candidate}")
    return compare_runs(
        ws, store, candidate, baseline, gates=gates or None, n_boot=n_boot, seed=seed
    )


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


def cost_ratio_figure(comparison: Comparison) -> go.Figure:
    """Cost ratios candidate / baseline on a log axis, as bars growing from the line of 1.

    Green bars mean the candidate is cheaper or faster, red ones costlier or slower.
    """
    import plotly.graph_objects as go

    cost = [m for m in comparison.metrics if m.kind == "cost" and m.ratio]
    ratios = [float(m.ratio) for m in cost if m.ratio]
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
            customdata=ratios,
            hovertemplate="%{y}: candidate / baseline = %{customdata:.4g}<extra></extra>",
        )
    )
    fig.add_vline(x=1, line={"dash": "dash", "color": "grey", "width": 1})
    # Symmetric log range around 1 so ×2 and ×0.5 look equally far from "equal".
    span = max([abs(math.log10(r)) for r in ratios] + [0.3]) * 1.25
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


def comparison_picker(
    ws: Workspace,
    store: Store,
    *,
    fingerprint: str | None = None,
    gates: str = "",
    n_boot: int = 2000,
    seed: int = 0,
) -> ipywidgets.VBox:
    """An interactive run picker for JupyterLab: choose two runs, compare, see the result.

    Each click records a comparison in the store like ``workbench compare`` does. The widget
    needs a live kernel; batch reports show the static tables instead.

    Args:
        ws: The workspace.
        store: Its store.
        fingerprint: Offer only runs of this dataset (default: every succeeded run).
        gates: Gates file for the comparisons (default ``templates/gates.yaml``).
        n_boot: Paired bootstrap resamples.
        seed: Seed of the resampling.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, display

    from .plots import show

    runs = _comparable_runs(store, fingerprint)
    options = [(f"{r.id} · {r.model_family} · {r.dataset_name}", r.id) for r in runs]
    cand = widgets.Dropdown(options=options, description="candidate", layout={"width": "60%"})
    base = widgets.Dropdown(options=options, description="baseline", layout={"width": "60%"})
    if len(options) > 1:
        base.value = options[1][1]
    button = widgets.Button(description="Compare", button_style="primary")
    out = widgets.Output()

    def _on_click(_: Any) -> None:
        out.clear_output()
        with out:
            try:
                c = compare_runs(ws, store, cand.value, base.value, gates=gates or None,
                                 n_boot=n_boot, seed=seed)  # fmt: skip
            except (DatasetError, ConfigError, RunNotFound) as e:
                print(f"cannot compare: {e}")
                return
            display(Markdown(c.summary_markdown()))
            display(c.deltas_frame())
            show(delta_ci_figure(c))
            display(c.gates_frame())

    button.on_click(_on_click)
    return widgets.VBox([cand, base, button, out])
