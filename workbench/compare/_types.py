"""The comparison's values: each side, each metric's delta, the whole recorded comparison."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ConfigError, DatasetError
from workbench.gates import GateResult
from workbench.safehtml import md, md_code

if TYPE_CHECKING:
    import pandas as pd

    from workbench.config import Workspace
    from workbench.stats import McNemarResult
    from workbench.store import RunRecord

#: Coverage of every interval in a comparison.
CONFIDENCE = 0.95
#: Version of the stored record's layout (2: trivial baseline, latency evidence, re-scored
#: baselines); records of schema 1 are read too.
RECORD_SCHEMA = 2
_READABLE = (1, 2)


class IncomparableRuns(DatasetError):
    """The two runs were not evaluated on the same data and test rows (or lack predictions)."""


def _num(x: Any) -> float | None:
    """A JSON-safe number: NaN and infinities (undefined values) become ``None``."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _run_file(ws: Workspace, run: RunRecord, name: str) -> Path:
    """The recorded path of a run's file, or its place in this workspace (a moved workspace)."""
    art = run.artifact(name)
    if art is not None and Path(art.path).is_file():
        return Path(art.path)
    return ws.run_dir(run.id) / name


@dataclass(frozen=True)
class Side:
    """One of the two models of a comparison.

    Attributes:
        run_id: The run.
        ref: What the user asked for (``champion``, ``v2``, an id prefix).
        family: Model family.
        version: Registry version when the run is registered, else ``None``.
        model_sha256: Hash of the model file the predictions came from.
        rescores: The run whose model this run re-scored on other rows (the champion's model
            evaluated on recent data by :mod:`workbench.retrain`), checked to be the same file
            (same sha256); ``None`` for a run that trained its own model.
    """

    run_id: str
    ref: str
    family: str | None
    version: int | None
    model_sha256: str | None
    rescores: str | None = None

    def label(self) -> str:
        """``run (family vN)``, plus ``as <ref>`` when it was asked for by alias or version,
        and the run whose model it re-scored."""
        v = f" v{self.version}" if self.version is not None else ""
        asked = "" if self.run_id.startswith(self.ref) else f" as {self.ref}"
        again = f", the model of {self.rescores} re-scored" if self.rescores else ""
        return f"{self.run_id} ({self.family or '?'}{v}{again}){asked}"


@dataclass(frozen=True)
class MetricDelta:
    """One metric of both models.

    Attributes:
        name: Metric name.
        kind: ``quality`` (computed here on the paired test rows) or ``cost`` (latency timed
            for this comparison or as the runs recorded it, see ``measured``; size of the
            model files).
        higher_is_better: Direction of improvement.
        candidate: Candidate's value.
        baseline: Baseline's value.
        delta: candidate − baseline, in the metric's units.
        delta_ci_low: Lower bound of the bootstrap interval of ``delta`` (quality: paired on
            the test rows; latency: over the timed calls, paired when re-measured side by side).
        delta_ci_high: Upper bound.
        ratio: candidate / baseline (``None`` when the baseline is 0).
        p_value: Two-sided bootstrap p-value of ``delta``.
        verdict: ``better``, ``worse`` (for the candidate; significant at 95% where there is
            an interval), ``no significant difference``, ``equal`` or ``unknown``.
        ratio_ci_low: Lower bound of the interval of ``ratio`` (latency).
        ratio_ci_high: Upper bound (latency).
        trivial: The trivial baseline's value (quality; class prior or training mean fitted on
            the candidate's training rows, :class:`workbench.evaluate.TrivialBaseline`).
        lift: candidate − trivial baseline, in the metric's units (quality).
        lift_ci_low: Lower bound of the paired-bootstrap interval of ``lift``.
        lift_ci_high: Upper bound.
        baseline_lift: baseline − trivial baseline (quality; point value).
        measured: How the numbers were obtained (latency: ``re-measured side by side`` or
            ``as recorded``).
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
    ratio_ci_low: float | None = None
    ratio_ci_high: float | None = None
    trivial: float | None = None
    lift: float | None = None
    lift_ci_low: float | None = None
    lift_ci_high: float | None = None
    baseline_lift: float | None = None
    measured: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    trivial: dict[str, Any] | None = None
    latency: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()

    # -- views ----------------------------------------------------------------------------

    @property
    def headline(self) -> str:
        from workbench.stats import HEADLINE

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
            "notes": list(self.notes),
            "trivial_baseline": self.trivial,
            "latency": self.latency,
            "report_path": self.report_path,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Comparison:
        """Rebuild a comparison from its record.

        Raises:
            ConfigError: The record was written by a newer workbench (unknown schema).
        """
        if d.get("schema") not in _READABLE:
            raise ConfigError(
                f"comparison record {d.get('id')!r} has schema {d.get('schema')!r}; this "
                f"workbench reads schemas {', '.join(map(str, _READABLE))}; upgrade workbench "
                "to read it"
            )
        from workbench.stats import McNemarResult

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
            trivial=d.get("trivial_baseline"),
            latency=d.get("latency"),
            notes=tuple(d.get("notes") or ()),
        )

    def deltas_frame(self) -> pd.DataFrame:
        """One row per metric: both values, delta with its CI, ratio with its CI, p-value,
        verdict, and for quality metrics the trivial baseline and the candidate's lift."""
        import pandas as pd

        cols = ["name", "kind", "candidate", "baseline", "delta", "delta_ci_low",
                "delta_ci_high", "ratio", "ratio_ci_low", "ratio_ci_high", "p_value", "verdict",
                "trivial", "lift", "lift_ci_low", "lift_ci_high"]  # fmt: skip
        frame = pd.DataFrame([m.to_dict() for m in self.metrics], columns=cols)
        frame["better"] = ["higher" if m.higher_is_better else "lower" for m in self.metrics]
        return frame.rename(columns={"name": "metric"}).set_index("metric")

    def baseline_frame(self) -> pd.DataFrame:
        """Quality metrics of the trivial baseline, the baseline model and the candidate, with
        the candidate's lift over the trivial one (what the compare page shows)."""
        import pandas as pd

        rows = [
            {
                "metric": m.name,
                "trivial baseline": m.trivial,
                "baseline": m.baseline,
                "candidate": m.candidate,
                "candidate lift": m.lift,
                "lift_ci_low": m.lift_ci_low,
                "lift_ci_high": m.lift_ci_high,
                "baseline lift": m.baseline_lift,
            }
            for m in self.metrics
            if m.kind == "quality"
        ]
        return pd.DataFrame(rows).set_index("metric") if rows else pd.DataFrame()

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
        """A few lines for the top of the report: who vs whom, the decision and why, the
        trivial baseline and how latency was measured."""
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
        trivial = _trivial_sentence(self, head)
        if trivial:
            lines += ["", trivial]
        if self.mcnemar is not None:
            mc = self.mcnemar
            lines.append("")
            lines.append(
                f"McNemar: {mc.candidate_only} rows only the candidate labels correctly, "
                f"{mc.baseline_only} only the baseline; exact p = {mc.p_value:.4g}."
            )
        if self.latency:
            lines += ["", _latency_sentence(self)]
        if self.baseline.rescores:
            lines += [
                "",
                f"The baseline is the model of run {md_code(self.baseline.rescores)} (same "
                "sha256) re-scored on these rows: the registry accepts this comparison as "
                "evidence for moving the alias that run holds (`retrain-check --auto` does).",
            ]
        lines += [f"\n_Note: {md(n)}_" for n in self.notes]
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


def _trivial_sentence(c: Comparison, head: MetricDelta | None) -> str:
    if head is None or head.trivial is None:
        return ""

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:+.4f}"

    what = (c.trivial or {}).get("kind", "trivial baseline")
    lo, hi = head.lift_ci_low, head.lift_ci_high
    won = lo is not None and hi is not None and (lo > 0 if head.higher_is_better else hi < 0)
    verdict = "beats it" if won else "**does not beat it**"
    return (
        f"Trivial baseline ({md(what)} of the training rows): {head.name} {head.trivial:.4f}; "
        f"candidate lift {f(head.lift)} ({c.confidence:.0%} CI [{f(lo)}, {f(hi)}]): "
        f"the candidate {verdict}; baseline lift {f(head.baseline_lift)}."
    )


def _latency_sentence(c: Comparison) -> str:
    lat = c.latency or {}
    parts = [f"Latency {md(lat.get('measured', ''))}"]
    if lat.get("reason"):
        parts.append(f" ({md(lat['reason'])})")
    names = {m.name: m for m in c.metrics}
    p99 = names.get("single_p99_ms")
    if p99 is not None and p99.ratio is not None:
        ci = ""
        if p99.ratio_ci_low is not None and p99.ratio_ci_high is not None:
            ci = f" ({c.confidence:.0%} CI [{p99.ratio_ci_low:.3g}, {p99.ratio_ci_high:.3g}])"
        parts.append(f": single-row p99 candidate / baseline = {p99.ratio:.3g}{ci}")
    if lat.get("seconds") is not None:
        parts.append(f"; timing both took {lat['seconds']:.1f} s")
    return "".join(parts) + "."
