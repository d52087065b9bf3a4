"""The record of a release check: each :class:`Check`, the whole :class:`ReleaseReport`.

The report's views (summary lines, Markdown, the frames notebook 05 shows) live with it, so
the CLI, the notebook and the index read one record the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench.exceptions import WorkbenchError
from workbench.gates import GateResult
from workbench.safehtml import md, md_code

if TYPE_CHECKING:
    import pandas as pd

#: The kinds of check, in the order they are reported.
CHECK_KINDS = ("integration", "system", "performance", "acceptance")
RECORD_SCHEMA = 1
_NUMBER_LIST = re.compile(r"\[\s*((?:-?[\d.eE+]+,\s*)*-?[\d.eE+]+)\s*\]")


class ReleaseFailed(WorkbenchError):
    """A release check finished and a check or gate failed (CLI exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Check:
    """One pre-release test.

    Attributes:
        kind: One of :data:`CHECK_KINDS`.
        name: Short name, e.g. ``"bad inputs"``.
        passed: Whether it passed.
        detail: One sentence a reviewer can read.
        data: The numbers behind it (cases, counts, parity, load result).
    """

    kind: str
    name: str
    passed: bool
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "data": _json_safe(dict(self.data)),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        return cls(d["kind"], d["name"], bool(d["passed"]), d["detail"], dict(d.get("data") or {}))


@dataclass(frozen=True)
class ReleaseReport:
    """The evidence of one release check, as stored in ``wb_releases``.

    Attributes:
        id: ``rel-<UTC time>-<hex>``.
        created_at: When the check started.
        bundle: Absolute path of the bundle checked.
        run_id: The run the bundle's model came from (``None`` for a foreign bundle).
        model_version: What the stub serves as ``model_version``.
        mode: ``image`` or ``load``.
        task: ``classification`` or ``regression``.
        backend: ``onnx`` or ``skops``.
        dataset_fingerprint: sha256 of the training data.
        settings: Load-test duration and concurrency, body limit, model location.
        checks: Every check, in :data:`CHECK_KINDS` order.
        gates: Every gate's result.
        gates_source: Where the gates came from.
        quality: The manifest's test metrics.
        performance: The load test (:meth:`LoadResult.to_dict`) plus a latency histogram.
        passed: Every check and every applicable gate passed.
        failures: One sentence per failed check or gate.
        evidence_path: The JSON evidence file.
        report_path: The HTML report, once written.
    """

    id: str
    created_at: datetime
    bundle: str
    run_id: str | None
    model_version: str
    mode: str
    task: str
    backend: str
    dataset_fingerprint: str | None
    settings: Mapping[str, Any]
    checks: tuple[Check, ...]
    gates: tuple[GateResult, ...]
    gates_source: str
    quality: Mapping[str, float]
    performance: Mapping[str, Any]
    passed: bool
    failures: tuple[str, ...]
    evidence_path: str
    report_path: str | None = None

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            KeyError: No such check; the message lists the names.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check {name!r}; checks: {', '.join(c.name for c in self.checks)}")

    @property
    def failed_gates(self) -> list[GateResult]:
        return [g for g in self.gates if g.applies and not g.passed]

    def to_dict(self) -> dict[str, Any]:
        """The record: plain JSON (no NaN), as stored and as ``--json`` prints it."""
        return _json_safe(
            {
                "schema": RECORD_SCHEMA,
                "id": self.id,
                "created_at": self.created_at.isoformat(),
                "bundle": self.bundle,
                "run_id": self.run_id,
                "model_version": self.model_version,
                "mode": self.mode,
                "task": self.task,
                "backend": self.backend,
                "dataset_fingerprint": self.dataset_fingerprint,
                "passed": self.passed,
                "failures": list(self.failures),
                "settings": dict(self.settings),
                "checks": [c.to_dict() for c in self.checks],
                "gates": [g.to_dict() for g in self.gates],
                "gates_source": self.gates_source,
                "quality": dict(self.quality),
                "performance": dict(self.performance),
                "evidence_path": self.evidence_path,
                "report_path": self.report_path,
            }
        )

    def record_json(self) -> str:
        """:meth:`to_dict` as indented JSON, each list of numbers on one line."""
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False)
        return _NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReleaseReport:
        return cls(
            id=d["id"],
            created_at=datetime.fromisoformat(d["created_at"]),
            bundle=d["bundle"],
            run_id=d.get("run_id"),
            model_version=d["model_version"],
            mode=d["mode"],
            task=d["task"],
            backend=d["backend"],
            dataset_fingerprint=d.get("dataset_fingerprint"),
            settings=dict(d.get("settings") or {}),
            checks=tuple(Check.from_dict(c) for c in d["checks"]),
            gates=tuple(GateResult.from_dict(g) for g in d["gates"]),
            gates_source=d.get("gates_source", ""),
            quality=dict(d.get("quality") or {}),
            performance=dict(d.get("performance") or {}),
            passed=bool(d["passed"]),
            failures=tuple(d.get("failures") or ()),
            evidence_path=d.get("evidence_path", ""),
            report_path=d.get("report_path"),
        )

    # -- views (notebook 05, CLI, demo) -----------------------------------------------------

    def summary_lines(self) -> list[str]:
        """A few lines for a terminal: verdict, integration, load numbers, failures."""
        perf = self.performance
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"release check {self.id}: {verdict} — model {self.model_version} "
            f"(run {self.run_id or '?'}, {self.mode} mode, {self.backend} backend)",
        ]
        for c in self.checks:
            lines.append(f"  {'pass' if c.passed else 'FAIL'}  {c.kind:<11} {c.name}: {c.detail}")
        if perf.get("requests"):
            lines.append(
                f"  load: {perf['rps']:,.0f} req/s, p50 {perf['p50_ms']:.2f} ms, "
                f"p99 {perf['p99_ms']:.2f} ms at concurrency {perf['concurrency']}"
            )
        for g in self.gates:
            mark = {"passed": "pass", "failed": "FAIL"}.get(g.status.value, "skip")
            lines.append(f"  {mark}  gate {g.gate.label}: {g.reason}")
        lines += [f"  - {f}" for f in self.failures]
        return lines

    def summary_markdown(self) -> str:
        """The verdict and what it rests on, as Markdown for the notebook."""
        verdict = "**PASSED**" if self.passed else "**FAILED**"
        # Paths, versions and failures (which quote column and gate names) are user text.
        parts = [
            f"### Release check {md(self.id)}: {verdict}",
            f"Model **{md(self.model_version)}** (run {md_code(self.run_id or '?')}), bundle "
            f"{md_code(self.bundle)} in **{md(self.mode)}** mode, served by the "
            f"**{md(self.backend)}** backend.",
            f"{sum(c.passed for c in self.checks)} of {len(self.checks)} checks passed; "
            f"gates from {md(self.gates_source)}.",
        ]
        if self.failures:
            parts.append("Failures:\n\n" + "\n".join(f"- {md(f)}" for f in self.failures))
        return "\n\n".join(parts)

    def checks_frame(self) -> pd.DataFrame:
        """One row per check: kind, name, result, detail."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "kind": c.kind,
                    "check": c.name,
                    "result": "pass" if c.passed else "FAIL",
                    "detail": c.detail,
                }
                for c in self.checks
            ]
        )

    def gates_frame(self) -> pd.DataFrame:
        """One row per gate: the gate, what was observed, the result and why."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "gate": g.gate.label,
                    "observed": g.observed,
                    "threshold": f"{g.gate.op} {g.gate.value:g}",
                    "result": g.status.value,
                    "reason": g.reason,
                }
                for g in self.gates
            ]
        )

    def parity_frame(self) -> pd.DataFrame:
        """Integration numbers: the stub against the offline pipeline, and ONNX at export."""
        import pandas as pd

        data = self.check("offline parity").data
        export = data.get("export_parity") or {}
        rows = [
            ("test rows sent to the stub", data.get("n_rows")),
            ("requests", data.get("requests")),
            ("label agreement (stub vs offline)", data.get("label_agreement")),
            (f"max |Δ {data.get('compared', '')}| (stub vs offline)", data.get("max_abs_diff")),
            ("tolerance", data.get("tolerance")),
            ("backend served", self.backend),
            (f"max |Δ| ONNX vs pipeline at export ({export.get('n_rows', 0)} rows)",
             export.get("max_abs_diff")),
        ]  # fmt: skip
        return pd.DataFrame([(k, _show(v)) for k, v in rows], columns=["measure", "value"])

    def performance_frame(self) -> pd.DataFrame:
        """The load test's numbers, one row each."""
        import pandas as pd

        p = self.performance
        keys = ("requests", "duration_s", "concurrency", "rps", "p50_ms", "p95_ms", "p99_ms",
                "max_ms", "mean_ms", "error_count", "error_rate", "status_counts")  # fmt: skip
        return pd.DataFrame([(k, _show(p.get(k))) for k in keys], columns=["measure", "value"])

    def cases_frame(self, check: str = "bad inputs") -> pd.DataFrame:
        """The cases of a system check (``bad inputs`` or ``tamper``), one row each."""
        import pandas as pd

        return pd.DataFrame(list(self.check(check).data.get("cases", [])))


def _show(value: Any) -> str:
    """A table cell: 4 significant digits for floats, thousands separators for counts."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(
            f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in value.items()
        )
    return str(value)


def _json_safe(obj: Any) -> Any:
    """NaN and infinities become ``None``: strict JSON, which PostgreSQL's JSON type needs."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj
