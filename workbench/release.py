"""The release check: evidence that an exported bundle may be released.

:func:`release_check` starts the bundle's stub on 127.0.0.1 (in a thread of this process,
through :func:`workbench.serving.background_server`) and runs the four kinds of pre-release test
the design names, each recorded as a :class:`Check`:

============ ==================================================================================
integration  the stub's answers on the bundle's evidence rows (the run's test split) equal the
             offline predictions: 100% label agreement, max |Δ probability| within tolerance
system       the bundle matches its manifest; bad inputs get their 4xx and never a 5xx;
             ``/metrics`` and the prediction log count every request; a stopped and restarted
             stub answers the same; a tampered or missing model file is refused at start
performance  a bounded load test (requests/s, p50/p95/p99/max latency, errors)
acceptance   absolute gates on the manifest's test metrics and the measured latency
============ ==================================================================================

Gates use the language of :mod:`workbench.gates` in its ``candidate`` form, read as "the
released model's value": ``roc_auc >= 0.95``, ``p99_ms <= 20``, ``error_rate <= 0`` (see
``templates/release_gates.yaml``). Besides the metrics a comparison knows, a release gate may
name the load-test numbers of :data:`RELEASE_METRICS`.

The result is stored in ``wb_releases`` (the JSON of :meth:`ReleaseReport.to_dict`), written as
evidence to ``reports/releases/<id>.json`` and rendered by notebook 05 to
``reports/releases/<id>.html``, which the report index links.

Example::

    manifest = export_run(ws, store, "champion", mode="load")
    report = release_check(ws, store, manifest.bundle_dir, gates=["p99_ms <= 20"])
    report.passed, report.failures
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import atomic_write_text, child_path, new_id
from .exceptions import ConfigError, ModelError, WorkbenchError
from .gates import Gate, GateError, GateResult
from .safehtml import md, md_code
from .store import ReleaseRecord, RunStatus, utcnow

if TYPE_CHECKING:
    import httpx
    import pandas as pd
    import plotly.graph_objects as go

    from .bundle import Manifest
    from .config import Workspace
    from .loadtest import LoadResult
    from .reports import IndexSection
    from .store import Store

__all__ = [
    "CHECK_KINDS",
    "INDEX_PROVIDER",
    "NOTEBOOK",
    "RELEASE_METRICS",
    "Check",
    "ReleaseFailed",
    "ReleaseReport",
    "default_release_gates_path",
    "evidence_path",
    "get_release",
    "latency_figure",
    "list_releases",
    "load_release_gates",
    "notebook_release",
    "open_workspace",
    "parse_release_gate",
    "parse_release_gates",
    "release_check",
    "release_dir",
    "release_report_path",
    "release_sections",
    "release_stage",
    "render_report",
]

#: The ``reports.SECTION_PROVIDERS`` entry that puts release checks on the index page.
INDEX_PROVIDER = "workbench.release:release_sections"

#: The notebook that renders a release check.
NOTEBOOK = "05_release.ipynb"
#: The kinds of check, in the order they are reported.
CHECK_KINDS = ("integration", "system", "performance", "acceptance")
#: Numbers of the load test a release gate may name, besides the manifest's test metrics.
RELEASE_METRICS: dict[str, str] = {
    "p50_ms": "median /predict latency under load (ms)",
    "p95_ms": "95th percentile latency under load (ms)",
    "p99_ms": "99th percentile latency under load (ms)",
    "max_ms": "slowest request of the load test (ms)",
    "mean_ms": "mean latency under load (ms)",
    "rps": "requests answered per second",
    "error_rate": "share of load-test requests not answered 2xx (0 to 1)",
    "error_count": "load-test requests not answered 2xx",
}
RECORD_SCHEMA = 1
_DEFAULT_GATES_FILE = "release_gates.yaml"
# parse_gate validates keys, operator and value for the metrics a comparison knows; a release
# metric is checked under this stand-in name (a cost metric, so check "candidate" is allowed)
# and renamed afterwards, so both kinds of gate share one parser and its error messages.
_STAND_IN_METRIC = "model_size_bytes"
_CHUNK_ROWS = 256  # evidence rows per request: far below the stub's body limit
_MAX_BODY_BYTES = 1_000_000  # the stub's default, which the 413 case exceeds by one byte
_HTTP_TIMEOUT_S = 10.0
_HISTOGRAM_BINS = 40
_NUMBER_LIST = re.compile(r"\[\s*((?:-?[\d.eE+]+,\s*)*-?[\d.eE+]+)\s*\]")


class ReleaseFailed(WorkbenchError):
    """A release check finished and a check or gate failed (CLI exit 1)."""

    exit_code = 1


# -- records ------------------------------------------------------------------------------------


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


# -- gates --------------------------------------------------------------------------------------


def _fields(spec: Any, where: str) -> dict[str, Any]:
    """A gate spec as a mapping; a compact string keeps the form ``METRIC [CHECK] OP VALUE``."""
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str):
        words = spec.split()
        if len(words) == 3:
            return {"metric": words[0], "op": words[1], "value": words[2]}
        if len(words) == 4:
            return dict(zip(("metric", "check", "op", "value"), words, strict=True))
        raise GateError(
            f"{where}: {spec!r} has {len(words)} words; a release gate reads 'METRIC OP VALUE', "
            "e.g. 'p99_ms <= 20' or 'roc_auc >= 0.95'"
        )
    raise GateError(f"{where}: expected a mapping or a string, got {type(spec).__name__} {spec!r}")


def parse_release_gate(spec: Any, *, where: str = "gate") -> Gate:
    """Parse one absolute gate on the released model: a quality metric or a load-test number.

    Args:
        spec: ``"METRIC OP VALUE"`` (e.g. ``"p99_ms <= 20"``), or a mapping
            ``{metric, op, value[, name][, check: candidate]}`` as in :mod:`workbench.gates`.
        where: How error messages name this gate.

    Returns:
        A :class:`~workbench.gates.Gate` with check ``candidate``, labelled ``METRIC OP VALUE``
        unless it has a name.

    Raises:
        GateError: Unknown metric (the message lists the known ones), a relative check such as
            ``delta`` (a release has nothing to compare with), or a bad key, operator or value.

    Example:
        >>> parse_release_gate("p99_ms <= 20").label
        'p99_ms <= 20'
    """
    from .gates import known_metrics, parse_gate

    fields = _fields(spec, where)
    metric = str(fields.get("metric", "")).strip()
    check = str(fields.get("check", "candidate")).strip()
    if check != "candidate":
        raise GateError(
            f"{where}: check {check!r} compares with a baseline, but a release gate is absolute; "
            "drop the check (or use 'candidate'), e.g. 'roc_auc >= 0.95'. Relative gates belong "
            "to `workbench compare`"
        )
    if metric in RELEASE_METRICS:
        gate = replace(
            parse_gate({**fields, "metric": _STAND_IN_METRIC}, where=where), metric=metric
        )
    elif metric in known_metrics():
        gate = parse_gate(fields, where=where)
    else:
        raise GateError(
            f"{where}: unknown metric {metric!r}; release gates read the load test "
            f"({', '.join(RELEASE_METRICS)}) or the bundle's test metrics "
            f"({', '.join(known_metrics())})"
        )
    return replace(gate, name=gate.name or f"{metric} {gate.op} {gate.value:g}")


_RELEASE_FORMS = "e.g. ['roc_auc >= 0.95', 'p99_ms <= 20']"


def parse_release_gates(doc: Any, *, source: str = "gates") -> list[Gate]:
    """Parse a loaded gates document: a list of gates or ``{gates: [...]}``.

    Raises:
        GateError: The document is not a non-empty list of valid release gates.
    """
    from .gates import parse_gates

    return parse_gates(doc, source=source, parse=parse_release_gate, forms=_RELEASE_FORMS)


def load_release_gates(path: str | Path) -> list[Gate]:
    """Read and parse a release gates YAML file (see ``templates/release_gates.yaml``).

    Raises:
        GateError: The file is missing, is not YAML, or holds invalid gates.
    """
    from .gates import load_gates

    return load_gates(path, parse=parse_release_gate, forms=_RELEASE_FORMS)


def default_release_gates_path() -> Path:
    """The project's ``release_gates`` setting, else the bundled ``templates/release_gates.yaml``.

    Raises:
        GateError: The project names a file that does not exist.
        ConfigError: The package was installed without its templates.
    """
    from .project import find_project, package_data

    project = find_project()
    if project is not None and project.release_gates is not None:
        if not project.release_gates.is_file():
            raise GateError(
                f"the release gates file {project.release_gates} set in {project.describe()} "
                "is missing; restore it, fix the setting, or pass one with --gates FILE"
            )
        return project.release_gates
    return package_data("templates", _DEFAULT_GATES_FILE)


def _resolve_gates(gates: str | Path | Sequence[Gate | Any] | None) -> tuple[list[Gate], str]:
    if gates is None or (isinstance(gates, str) and not gates.strip()):
        path = default_release_gates_path()
        return load_release_gates(path), f"default ({path.name})"
    if isinstance(gates, str | Path):
        return load_release_gates(gates), str(Path(gates).resolve())  # recorded: absolute
    parsed = [
        g if isinstance(g, Gate) else parse_release_gate(g, where=f"gate {i}")
        for i, g in enumerate(gates, start=1)
    ]
    if not parsed:
        raise GateError("no gates given; pass at least one, e.g. ['p99_ms <= 20']")
    return parsed, "inline"


def _evaluate_gates(
    gates: Sequence[Gate], values: Mapping[str, float | None], task: str
) -> list[GateResult]:
    """Evaluate absolute gates; reasons read ``p99_ms = 3.2 meets <= 20``."""
    from .gates import evaluate_gates

    entries = {name: {"candidate": v} for name, v in values.items()}
    out = []
    for r in evaluate_gates(entries, gates, task=task):
        g = r.gate
        if not r.applies:
            reason = f"not applicable: {g.metric} is not a metric of a {task} model"
        elif r.observed is None:
            recorded = ", ".join(sorted(n for n, v in values.items() if v is not None))
            reason = f"{g.metric} was not measured for this bundle (measured: {recorded})"
        else:
            verdict = "meets" if r.passed else "misses"
            reason = f"{g.metric} = {r.observed:.4g} {verdict} {g.op} {g.value:g}"
        out.append(GateResult(g, r.status, r.observed, reason))
    return out


# -- HTTP helpers -------------------------------------------------------------------------------


def _post(client: httpx.Client, body: bytes, path: str = "/predict") -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json"})


class _Tally:
    """Requests sent to one stub instance, by (path label, status), as ``/metrics`` counts them."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.counts: dict[tuple[str, int], int] = {}

    def request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        headers = {"content-type": "application/json"} if body is not None else None
        r = self.client.request(method, path, content=body, headers=headers)
        label = path if path in ("/predict", "/health", "/metadata", "/metrics") else "other"
        key = (label, r.status_code)
        self.counts[key] = self.counts.get(key, 0) + 1
        return r

    @property
    def ok_predictions(self) -> int:
        return self.counts.get(("/predict", 200), 0)


_METRIC_LINE = re.compile(
    r'^workbench_http_requests_total\{path="([^"]*)",status="(\d+)"\} (\d+)$', re.M
)


def _served_counts(text: str) -> dict[tuple[str, int], int]:
    return {(p, int(s)): int(n) for p, s, n in _METRIC_LINE.findall(text)}


# -- the checks ---------------------------------------------------------------------------------


def _integrity(bundle: Path, model_uri: str | None) -> Check:
    from .bundle import verify_bundle

    try:
        checked = verify_bundle(bundle, model_uri=model_uri)
    except WorkbenchError as e:
        return Check("system", "bundle integrity", False, str(e).splitlines()[0], {"error": str(e)})
    return Check(
        "system",
        "bundle integrity",
        True,
        f"all {len(checked)} files match the sha256 in manifest.json",
        {"files_checked": len(checked)},
    )


def _read_evidence(manifest: Manifest) -> dict[str, Any]:
    import orjson

    try:
        evidence = orjson.loads(manifest.evidence_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise ConfigError(
            f"the bundle has no readable evidence ({manifest.evidence_path}: {e}); re-export it "
            "with `workbench export`"
        ) from e
    if not evidence.get("rows"):
        raise ConfigError(
            f"the evidence of {manifest.bundle_dir} holds no test rows; export it with test rows"
        )
    return evidence


def _tolerance(task: str, expected: Mapping[str, Any]) -> float:
    from .modelio import PARITY_TOLERANCE

    if task == "classification":
        return PARITY_TOLERANCE["probabilities"]
    values = [abs(float(v)) for v in expected.get("values", [])]
    return PARITY_TOLERANCE["relative_prediction"] * max([1.0, *values])


def _served_answers(tally: _Tally, rows: list[Any]) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """The stub's labels, probabilities and values for ``rows``, and the statuses it sent."""
    import orjson

    got: dict[str, list[Any]] = {"labels": [], "probabilities": [], "values": []}
    statuses: dict[str, int] = {}
    for start in range(0, len(rows), _CHUNK_ROWS):
        r = tally.request(
            "POST", "/predict", orjson.dumps({"rows": rows[start : start + _CHUNK_ROWS]})
        )
        statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
        if r.status_code == 200:
            answer = r.json()
            for key in got:
                got[key].extend(answer.get(key) or [])
    return got, statuses


def _integration(tally: _Tally, manifest: Manifest, evidence: Mapping[str, Any]) -> Check:
    """The stub's answers on the evidence rows against the offline predictions."""
    import numpy as np

    rows, expected = evidence["rows"], evidence["expected"]
    got, statuses = _served_answers(tally, rows)
    n, tol = len(rows), _tolerance(manifest.task, expected)
    data: dict[str, Any] = {"n_rows": n, "requests": sum(statuses.values()), "statuses": statuses}
    data["tolerance"] = tol
    problems = [] if statuses.keys() <= {"200"} else [f"answers other than 200: {statuses}"]
    compared = "probabilities" if manifest.task == "classification" else "values"
    if manifest.task == "classification":
        agree = sum(a == b for a, b in zip(got["labels"], expected["labels"], strict=False))
        data["label_agreement"] = agree / n
        if agree != n:
            problems.append(f"{n - agree} of {n} labels differ from the offline predictions")
    ref, mine = expected.get(compared), got[compared]
    data["compared"] = compared
    if ref is not None and len(mine) == len(ref):
        diff = np.abs(np.asarray(mine, dtype=np.float64) - np.asarray(ref, dtype=np.float64))
        data["max_abs_diff"] = float(diff.max())
        if data["max_abs_diff"] > tol:
            problems.append(f"max |Δ {compared}| {data['max_abs_diff']:.3g} exceeds {tol:.3g}")
    elif ref is not None:  # a classifier without probabilities has only labels to compare
        problems.append(f"{len(mine)} {compared} answered for {n} rows")
    data["export_parity"] = manifest.data.get("parity")
    if problems:
        return Check("integration", "offline parity", False, "; ".join(problems), data)
    detail = f"{n} test rows: "
    if manifest.task == "classification":
        detail += f"{data['label_agreement']:.0%} label agreement, "
    if data.get("max_abs_diff") is not None:
        detail += f"max |Δ {compared}| {data['max_abs_diff']:.3g} ≤ {tol:.3g}"
    return Check("integration", "offline parity", True, detail.rstrip(", "), data)


def _bad_inputs(
    manifest: Manifest, good: list[Any]
) -> list[tuple[str, str, str, bytes | None, int]]:
    """(case, method, path, body, expected status) built from the bundle's signature."""
    import orjson

    features = manifest.features
    names = [f["name"] for f in features]
    numeric = next((i for i, f in enumerate(features) if f["kind"] in ("number", "integer")), None)
    text = next((i for i, f in enumerate(features) if f["kind"] == "string"), None)
    no_nan = next((i for i, f in enumerate(features) if not f.get("allow_nan")), None)
    record = dict(zip(names, good, strict=True))

    def rows(*changed: tuple[int, Any]) -> bytes:
        row = list(good)
        for i, v in changed:
            row[i] = v
        return orjson.dumps({"rows": [row]})

    cases: list[tuple[str, str, str, bytes | None, int]] = [
        ("body is not JSON", "POST", "/predict", b"{rows: 1}", 400),
        ("NaN literal (not JSON)", "POST", "/predict", b'{"rows": [[NaN]]}', 400),
        ("body is a list", "POST", "/predict", orjson.dumps([good]), 422),
        ("empty object", "POST", "/predict", b"{}", 422),
        ("unknown top-level field", "POST", "/predict", orjson.dumps({"rowz": [good]}), 422),
        ("rows and records together", "POST", "/predict",
         orjson.dumps({"rows": [good], "records": [record]}), 422),
        ("empty rows", "POST", "/predict", b'{"rows": []}', 422),
        ("wrong feature count (one short)", "POST", "/predict",
         orjson.dumps({"rows": [good[:-1]]}), 422),
        ("wrong feature count (one extra)", "POST", "/predict",
         orjson.dumps({"rows": [[*good, good[0]]]}), 422),
        ("unknown feature name", "POST", "/predict",
         orjson.dumps({"records": [{**record, "no_such_feature": 1}]}), 422),
        ("missing feature", "POST", "/predict",
         orjson.dumps({"records": [{k: v for k, v in record.items() if k != names[0]}]}), 422),
        ("body too large", "POST", "/predict", b" " * (_MAX_BODY_BYTES + 1), 413),
        ("wrong method", "GET", "/predict", None, 405),
        ("unknown route", "POST", "/nope", b"{}", 404),
    ]  # fmt: skip
    if numeric is not None:
        cases += [
            ("string for a number", "POST", "/predict", rows((numeric, "big")), 422),
            ("boolean for a number", "POST", "/predict", rows((numeric, True)), 422),
            ("number beyond float32", "POST", "/predict", rows((numeric, 1e300)), 422),
        ]
    if text is not None:
        cases.append(("number for a category", "POST", "/predict", rows((text, 3)), 422))
    if no_nan is not None:
        cases.append(
            ("null where training had none", "POST", "/predict", rows((no_nan, None)), 422)
        )
    return cases


def _system_inputs(tally: _Tally, manifest: Manifest, good: list[Any]) -> Check:
    results = []
    for case, method, path, body, want in _bad_inputs(manifest, good):
        r = tally.request(method, path, body)
        detail = ""
        with contextlib.suppress(ValueError):
            detail = str(r.json().get("detail", ""))[:160]
        results.append(
            {"case": case, "request": f"{method} {path}", "expected": want,
             "status": r.status_code, "passed": r.status_code == want, "detail": detail}
        )  # fmt: skip
    wrong = [c for c in results if not c["passed"]]
    fives = [c for c in results if c["status"] >= 500]
    data = {"cases": results, "server_errors": len(fives)}
    if wrong:
        listed = "; ".join(f"{c['case']}: {c['status']} (expected {c['expected']})" for c in wrong)
        return Check("system", "bad inputs", False, listed, data)
    return Check(
        "system", "bad inputs", True,
        f"all {len(results)} bad inputs got their 4xx, none a 5xx", data,
    )  # fmt: skip


def _observability(
    tally: _Tally, metrics_text: str, log_lines: list[str], model_version: str
) -> Check:
    """``/metrics`` counted what was sent; the log has one entry per answered prediction."""
    served = _served_counts(metrics_text)
    sent = dict(tally.counts)
    sent.pop(("/metrics", 200), None)  # the scrape itself is counted after it answers
    mismatched = {
        f"{p} {s}": {"sent": sent.get((p, s), 0), "counted": served.get((p, s), 0)}
        for p, s in sorted(set(sent) | set(served))
        if sent.get((p, s), 0) != served.get((p, s), 0)
    }
    versions = set()
    for line in log_lines:
        with contextlib.suppress(ValueError):
            versions.add(json.loads(line).get("model_version"))
    data = {
        "requests_sent": sum(sent.values()),
        "predictions_answered": tally.ok_predictions,
        "log_entries": len(log_lines),
        "metrics_mismatches": mismatched,
    }
    problems = []
    if mismatched:
        problems.append(f"/metrics counts differ from the requests sent: {mismatched}")
    if len(log_lines) != tally.ok_predictions:
        problems.append(
            f"the prediction log has {len(log_lines)} entries for {tally.ok_predictions} "
            "answered predictions"
        )
    if versions - {model_version}:
        problems.append(f"log entries name model versions {sorted(map(str, versions))}")
    if problems:
        return Check("system", "metrics and prediction log", False, "; ".join(problems), data)
    return Check(
        "system", "metrics and prediction log", True,
        f"/metrics counted all {data['requests_sent']} requests by status; the log holds one "
        f"entry per answered prediction ({len(log_lines)})", data,
    )  # fmt: skip


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one bit pattern changed in the middle: still a plausible file
    path.write_bytes(bytes(data))


def _copy_bundle(bundle: Path, manifest: Manifest, source: str | None, dest: Path) -> str | None:
    """A copy of the bundle (and, in load mode, of its model files); returns the copy's URI."""
    from .bundle import MODEL_STORE
    from .serving import translated_errors
    from .serving._model import fetch_model_file

    shutil.copytree(bundle, dest, ignore=shutil.ignore_patterns("__pycache__", MODEL_STORE))
    if manifest.mode != "load":
        return None
    store_dir = dest / MODEL_STORE
    store_dir.mkdir()
    for name, meta in manifest.model_files.items():
        with translated_errors():
            blob = fetch_model_file(
                source or str(bundle / MODEL_STORE),
                name,
                sha256=meta["sha256"],
                max_bytes=meta["bytes"],
            )
        (store_dir / name).write_bytes(blob)
    return str(store_dir)


def _tamper(bundle: Path, manifest: Manifest, source: str | None, tmp: Path) -> Check:
    """A flipped byte in each model file, and a missing model file: the stub must not start."""
    from .serving import background_server

    cases = [(name, "one byte flipped") for name in manifest.model_files]
    cases.append(("model.skops", "file missing"))
    results = []
    for i, (name, how) in enumerate(cases):
        copy = tmp / f"tamper-{i}"
        try:
            uri = _copy_bundle(bundle, manifest, source, copy)
        except WorkbenchError as e:
            message = f"could not copy the model to tamper with: {e}"
            results.append({"file": name, "change": how, "refused": False, "message": message})
            continue
        target = Path(uri or copy) / name
        if how == "file missing":
            target.unlink()
        else:
            _flip_byte(target)
        try:
            with background_server(copy, model_uri=uri):
                refused, message = False, "the stub started on a changed model"
        except ModelError as e:
            refused, message = True, str(e).splitlines()[0][:240]
        except WorkbenchError as e:  # refused, but not for the model: say so
            refused, message = False, f"the stub failed otherwise: {str(e).splitlines()[0]}"
        results.append({"file": name, "change": how, "refused": refused, "message": message})
        shutil.rmtree(copy, ignore_errors=True)
    ok = all(c["refused"] for c in results)
    detail = (
        f"the stub refused to start in all {len(results)} cases (ModelError)"
        if ok
        else "; ".join(
            f"{c['file']} {c['change']}: {c['message']}" for c in results if not c["refused"]
        )
    )
    return Check("system", "tamper refused", ok, detail, {"cases": results})


def _latency_histogram(latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Counts over log-spaced bins of every request's latency (a sample of none is empty)."""
    import numpy as np

    lat = np.asarray(latencies_ms, dtype=np.float64)
    if lat.size == 0:
        return {"edges_ms": [], "counts": []}
    lo, hi = max(float(lat.min()), 1e-3), max(float(lat.max()), 1e-3)
    edges = (
        np.geomspace(lo, hi * 1.0001, _HISTOGRAM_BINS + 1) if hi > lo else np.array([lo, lo * 1.01])
    )
    counts, _ = np.histogram(np.clip(lat, lo, None), bins=edges)
    return {"edges_ms": edges.round(4).tolist(), "counts": counts.tolist()}


def _performance(load: LoadResult) -> tuple[Check, dict[str, Any]]:
    perf = load.to_dict()
    # Connection failures and timeouts never got an answer, so they are not in `requests`.
    attempts = load.ok + load.error_count
    perf["error_rate"] = load.error_count / attempts if attempts else None
    perf["latency_histogram"] = _latency_histogram(load.latencies_ms)
    ok = load.requests > 0 and load.error_count == 0
    detail = (
        f"{load.requests} requests in {load.duration_s:.1f} s at concurrency {load.concurrency}: "
        f"{load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p95 {load.p95_ms:.2f} ms, "
        f"p99 {load.p99_ms:.2f} ms, max {load.max_ms:.2f} ms, {load.error_count} errors"
    )
    if load.errors:
        detail += f" {load.errors}"
    return Check("performance", "load test", ok, detail, {}), perf


def _not_run(kind: str, name: str, why: str) -> Check:
    return Check(kind, name, False, f"not run: {why}", {})


# -- running the stub ---------------------------------------------------------------------------


_FIRST_INSTANCE_CHECKS = (
    ("integration", "offline parity"),
    ("system", "bad inputs"),
    ("system", "metrics and prediction log"),
)


@dataclass
class _Session:
    """What the first stub instance answered (restart compares against it)."""

    port: int | None = None
    probe: bytes | None = None
    probe_rows: int = 0
    answer: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)


def _first_instance(
    bundle: Path, manifest: Manifest, source: str | None, evidence: Mapping[str, Any], tmp: Path
) -> _Session:
    """Integration, bad inputs and observability against one stub instance."""
    import httpx
    import orjson

    from .serving import background_server

    session = _Session()
    log_path = tmp / "predictions-first.jsonl"
    good = evidence["rows"][0]
    probe = evidence["rows"][:_CHUNK_ROWS]
    session.probe, session.probe_rows = orjson.dumps({"rows": probe}), len(probe)
    try:
        with (
            background_server(
                bundle, model_uri=source, log_path=log_path, max_body_bytes=_MAX_BODY_BYTES
            ) as url,
            httpx.Client(base_url=url, timeout=_HTTP_TIMEOUT_S) as client,
        ):
            session.port = int(url.rsplit(":", 1)[1])
            tally = _Tally(client)
            tally.request("GET", "/health")
            session.checks.append(_integration(tally, manifest, evidence))
            session.answer = _answer(tally.request("POST", "/predict", session.probe))
            session.checks.append(_system_inputs(tally, manifest, good))
            metrics_text = tally.request("GET", "/metrics").text
    except (WorkbenchError, httpx.HTTPError) as e:
        started = session.port is not None
        why = f"the stub {'failed' if started else 'did not start'}: {str(e).splitlines()[0]}"
        done = {c.name for c in session.checks}
        session.checks += [
            _not_run(kind, name, why) for kind, name in _FIRST_INSTANCE_CHECKS if name not in done
        ]
        session.answer = None
        return session
    # The stub closed its log on shutdown, so every entry is on disk now.
    lines = log_path.read_text(encoding="utf-8").splitlines() if log_path.exists() else []
    session.checks.append(_observability(tally, metrics_text, lines, manifest.model_version))
    return session


def _answer(r: httpx.Response) -> dict[str, Any]:
    """The model's part of an answer (request ids differ between requests by design)."""
    if r.status_code != 200:
        return {"status": r.status_code}
    return {k: v for k, v in r.json().items() if k != "request_id"}


@contextlib.contextmanager
def _restarted(
    bundle: Path, source: str | None, port: int | None, log: Path
) -> Iterator[tuple[str, str]]:
    """Start the stub again on the same port when it is free (else any port; said so)."""
    from .serving import background_server

    options = {"model_uri": source, "log_path": log, "max_body_bytes": _MAX_BODY_BYTES}
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(background_server(bundle, port=port or 0, **options))
            note = ""
        except ConfigError as e:  # the port was taken in between: a restart elsewhere counts
            note = f" (port {port} was taken: {str(e).splitlines()[0]}; restarted elsewhere)"
            url = stack.enter_context(background_server(bundle, **options))
        yield url, note


def _restart_check(url: str, note: str, first: _Session) -> Check:
    """The restarted stub is healthy and gives the first instance's answers to the same rows."""
    import httpx

    assert first.probe is not None
    with httpx.Client(base_url=url, timeout=_HTTP_TIMEOUT_S) as client:
        health = client.get("/health")
        again = _answer(_post(client, first.probe))
    same = health.status_code == 200 and again == first.answer
    data = {"port_before": first.port, "url_after": url, "same_answers": same}
    if not same:
        detail = f"after a restart the stub answered differently (health {health.status_code})"
        return Check("system", "restart", False, detail, data)
    detail = f"stopped and started again: the same answers to the same {first.probe_rows} rows"
    return Check("system", "restart", True, detail + note, data)


def _second_instance(
    bundle: Path,
    source: str | None,
    first: _Session,
    tmp: Path,
    *,
    duration_s: float,
    concurrency: int,
    payload: Mapping[str, Any],
) -> tuple[list[Check], dict[str, Any]]:
    """Restart (same answers), then the load test on the restarted stub."""
    import httpx

    from .loadtest import run_loadtest

    if first.answer is None or first.probe is None:
        why = "the first stub instance did not answer"
        return [_not_run("system", "restart", why), _not_run("performance", "load test", why)], {}
    try:
        with _restarted(bundle, source, first.port, tmp / "predictions-second.jsonl") as started:
            url, note = started
            restart = _restart_check(url, note, first)
            load = run_loadtest(
                url + "/predict", duration_s=duration_s, concurrency=concurrency, payload=payload
            )
    except (WorkbenchError, httpx.HTTPError) as e:
        why = f"the restarted stub failed: {str(e).splitlines()[0]}"
        return [
            Check("system", "restart", False, why, {}),
            _not_run("performance", "load test", why),
        ], {}
    check, perf = _performance(load)
    return [restart, check], perf


# -- release_check ------------------------------------------------------------------------------


def _new_id() -> str:
    return new_id("rel-")


def _gate_values(manifest: Manifest, perf: Mapping[str, Any]) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for name, v in dict(manifest.data.get("metrics") or {}).items():
        raw = v.get("value") if isinstance(v, Mapping) else v
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            values[name] = float(raw)
    for name in RELEASE_METRICS:
        raw = perf.get(name)
        values[name] = None if raw is None else float(raw)
    return values


def _acceptance(results: Sequence[GateResult]) -> Check:
    applied = [r for r in results if r.applies]
    failed = [r for r in applied if not r.passed]
    data = {"applied": len(applied), "failed": [r.gate.label for r in failed]}
    if not applied:
        return Check("acceptance", "gates", False, "no gate applies to this task; add one", data)
    if failed:
        names = ", ".join(f"'{r.gate.label}'" for r in failed)
        return Check(
            "acceptance",
            "gates",
            False,
            f"{len(failed)} of {len(applied)} gates failed: {names}",
            data,
        )
    return Check("acceptance", "gates", True, f"all {len(applied)} applicable gates passed", data)


def _failures(checks: Sequence[Check], gates: Sequence[GateResult]) -> tuple[str, ...]:
    out = [
        f"check '{c.name}' ({c.kind}) failed: {c.detail}"
        for c in checks
        if not c.passed and c.kind != "acceptance"
    ]
    out += [
        f"gate '{g.gate.label}' failed: {g.reason}" for g in gates if g.applies and not g.passed
    ]
    if not any(g.applies for g in gates):
        out.append("no gate applies to this task")
    return tuple(out)


def _run_checks(
    bundle: Path,
    manifest: Manifest,
    source: str | None,
    evidence: Mapping[str, Any],
    *,
    duration_s: float,
    concurrency: int,
) -> tuple[list[Check], dict[str, Any], dict[str, float]]:
    """Every check but acceptance, the performance numbers, and seconds spent per phase."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[phase] = round(now - t, 3)
        t = now

    checks = [_integrity(bundle, source)]
    lap("integrity")
    with tempfile.TemporaryDirectory(prefix="wb-release-") as tmp_name:
        tmp = Path(tmp_name)  # prediction logs and tampered copies; never inside the bundle
        first = _first_instance(bundle, manifest, source, evidence, tmp)
        checks += first.checks
        lap("integration_and_system")
        second, perf = _second_instance(
            bundle, source, first, tmp, duration_s=duration_s,
            concurrency=concurrency, payload={"rows": evidence["rows"][:1]},
        )  # fmt: skip
        checks += second
        lap("restart_and_load")
        checks.append(_tamper(bundle, manifest, source, tmp))
        lap("tamper")
    return checks, perf, seconds


def release_check(
    ws: Workspace,
    store: Store,
    bundle_dir: str | Path,
    *,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    duration_s: float = 5,
    concurrency: int = 8,
    model_uri: str | None = None,
    report: bool = True,
    index: bool = True,
) -> ReleaseReport:
    """Run the pre-release checks on a bundle against a real stub, and record the evidence.

    Args:
        ws: The workspace (evidence and report go to ``reports/releases/``).
        store: Its store (the record goes to ``wb_releases``).
        bundle_dir: A bundle written by ``workbench export``.
        gates: A release gates YAML path, a list of gates (strings such as ``"p99_ms <= 20"``,
            mappings or :class:`~workbench.gates.Gate`), or ``None`` for
            ``templates/release_gates.yaml``.
        duration_s: Seconds of the load test (at most 600).
        concurrency: Connections of the load test (one request in flight each).
        model_uri: Where a ``load``-mode bundle's model is; default ``$MODEL_URI`` or the
            bundle's ``model-store/``.
        report: Render notebook 05 into ``reports/releases/<id>.html``.
        index: Rebuild ``reports/index.html`` afterwards (with ``report``).

    Returns:
        The stored :class:`ReleaseReport`; ``passed`` says whether every check and every
        applicable gate passed. A failed check does not raise.

    Raises:
        ConfigError: The folder is not a bundle, or has no evidence.
        GateError: The gates are malformed (checked before any stub starts).
        StageFailed: Notebook 05 failed while rendering the report (the record is kept).

    Example:
        >>> r = release_check(ws, store, "exports/run-load", gates=["p99_ms <= 20"])
        >>> r.passed, [c.name for c in r.checks if not c.passed]
        (True, [])
    """
    from .bundle import Manifest, model_source

    if not 0 < duration_s <= 600 or not 1 <= concurrency <= 1024:
        raise ConfigError(
            f"duration_s must be in (0, 600] and concurrency in [1, 1024]; got {duration_s} "
            f"and {concurrency}"
        )
    gate_list, gates_source = _resolve_gates(gates)
    bundle = Path(bundle_dir).resolve()
    manifest = Manifest.read(bundle)
    evidence = _read_evidence(manifest)
    source = model_source(bundle, model_uri=model_uri)
    created = utcnow()
    checks, perf, seconds = _run_checks(
        bundle, manifest, source, evidence, duration_s=duration_s, concurrency=concurrency
    )
    results = _evaluate_gates(gate_list, _gate_values(manifest, perf), manifest.task)
    checks.append(_acceptance(results))
    checks.sort(key=lambda c: CHECK_KINDS.index(c.kind))
    release_id = _new_id()
    failures = _failures(checks, results)
    record = ReleaseReport(
        id=release_id,
        created_at=created,
        bundle=str(bundle),
        run_id=manifest.data.get("run_id"),
        model_version=manifest.model_version,
        mode=manifest.mode,
        task=manifest.task,
        backend=manifest.backend,
        dataset_fingerprint=manifest.data.get("dataset_fingerprint"),
        settings={
            "duration_s": duration_s,
            "concurrency": concurrency,
            "rows_per_request": 1,
            "max_body_bytes": _MAX_BODY_BYTES,
            "model_uri": source,
            "evidence_rows": len(evidence["rows"]),
            "host": "127.0.0.1",
            "seconds": seconds,
        },
        checks=tuple(checks),
        gates=tuple(results),
        gates_source=gates_source,
        quality={k: v for k, v in _gate_values(manifest, {}).items() if v is not None},
        performance=perf,
        passed=not failures,
        failures=failures,
        evidence_path=str(evidence_path(ws, release_id)),
    )
    _save(store, record)
    _write_evidence(record)
    if report:
        render_report(ws, store, release_id)
        if index:
            from .reports import build_index

            build_index(ws, store)
    return get_release(store, release_id)


# -- storage ------------------------------------------------------------------------------------


def _save(store: Store, report: ReleaseReport) -> None:
    record = report.to_dict()
    record.pop("report_path", None)  # kept in its own column, set once the page exists
    store.add_release(
        ReleaseRecord(
            id=report.id,
            run_id=report.run_id,
            bundle=report.bundle,
            passed=report.passed,
            record=record,
            created_at=report.created_at,
        )
    )


def _from_record(rec: ReleaseRecord) -> ReleaseReport:
    return ReleaseReport.from_dict({**rec.record, "report_path": rec.report_path})


def get_release(store: Store, ref: str) -> ReleaseReport:
    """A stored release check by id or unique id prefix.

    Raises:
        RunNotFound: No release matches, or the prefix is ambiguous.
    """
    return _from_record(store.get_release(ref))


def list_releases(store: Store, *, limit: int | None = None) -> list[ReleaseReport]:
    """Stored release checks, newest first."""
    return [_from_record(r) for r in store.list_releases(limit=limit)]


# -- files --------------------------------------------------------------------------------------


def release_dir(ws: Workspace, release_id: str) -> Path:
    """Where the executed notebook of a release check lives: ``<workspace>/releases/<id>/``."""
    return child_path(ws.artifact_root / "releases", release_id, what="release id")


def release_report_path(ws: Workspace, release_id: str) -> Path:
    """The HTML report of a release check: ``<workspace>/reports/releases/<id>.html``."""
    return child_path(ws.reports_dir / "releases", release_id, what="release id", suffix=".html")


def evidence_path(ws: Workspace, release_id: str) -> Path:
    """The JSON evidence of a release check: ``<workspace>/reports/releases/<id>.json``."""
    return child_path(ws.reports_dir / "releases", release_id, what="release id", suffix=".json")


def _write_evidence(report: ReleaseReport) -> Path:
    """Write the record as JSON beside the report, atomically (a reader never sees half)."""
    text = json.dumps(report.to_dict(), indent=1, allow_nan=False)
    return atomic_write_text(report.evidence_path, text)


# -- the report (notebook 05) -------------------------------------------------------------------


def render_report(
    ws: Workspace,
    store: Store,
    release_id: str,
    *,
    reviewer: bool = False,
    log_output: bool = False,
) -> Path:
    """Execute notebook 05 on a stored release check and export it to HTML.

    The notebook loads the stored record (it runs no check), so the page shows the stored
    numbers. The executed notebook goes to ``releases/<id>/``, the page to
    ``reports/releases/<id>.html``; its path is recorded and the evidence JSON rewritten.

    Raises:
        StageFailed: A notebook cell raised (the partial notebook is exported all the same).
    """
    from .execute import render_report as execute_report

    report = get_release(store, release_id)
    return execute_report(
        NOTEBOOK,
        out=release_dir(ws, report.id) / NOTEBOOK,
        html=release_report_path(ws, report.id),
        parameters={"workspace": str(ws.root), "release_id": report.id},
        stage="release",
        owner=report.id,
        title=f"{report.id} · release check of {report.model_version}",
        reviewer=reviewer,
        log_output=log_output,
        on_export=lambda html: _finish_report(store, report.id, html),
    )


def _finish_report(store: Store, release_id: str, html: Path) -> None:
    store.set_release_report(release_id, html)
    _write_evidence(get_release(store, release_id))  # now with its report_path


# -- index --------------------------------------------------------------------------------------


def _link(ws: Workspace, path: str | None, label: str, tooltip: str) -> Any:
    from .reports import IndexLink

    if not path or not Path(path).is_file():
        return "—"
    href = os.path.relpath(Path(path).resolve(), ws.reports_dir.resolve())
    return IndexLink(label, Path(href).as_posix(), tooltip=tooltip)


def release_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Release checks" table of ``reports/index.html`` (a ``SECTION_PROVIDERS`` entry)."""
    from .reports import IndexSection

    rows = []
    for r in list_releases(store):
        perf = r.performance
        load = (
            f"{perf['rps']:,.0f} req/s, p99 {perf['p99_ms']:.2f} ms"
            if perf.get("requests")
            else "—"
        )
        failed = [c.name for c in r.checks if not c.passed and c.kind != "acceptance"]
        failed += [g.gate.label for g in r.failed_gates]
        rows.append(
            (
                r.id, r.model_version, r.run_id or "—", r.mode, "passed" if r.passed else "FAILED",
                ", ".join(failed) or "—", load,
                _link(ws, r.report_path, "open", f"report of {r.id}"),
                _link(ws, r.evidence_path, "json", f"evidence of {r.id}"),
            )
        )  # fmt: skip
    return [
        IndexSection(
            "Release checks",
            columns=(
                "release",
                "model",
                "run",
                "mode",
                "result",
                "failed",
                "load",
                "report",
                "evidence",
            ),
            rows=tuple(rows),
            note="integration (stub = offline predictions), system (bad inputs, restart, "
            "tamper), performance (bounded load test) and acceptance (gates) on 127.0.0.1",
        )
    ]


# -- notebook helpers ---------------------------------------------------------------------------


def _default_ref(store: Store) -> str | None:
    """The champion if there is one, else the newest succeeded run with test metrics."""
    from .registry import aliases

    if "champion" in aliases(store):
        return "champion"
    for run in store.list_runs():  # newest first; an evaluated run has saved its model
        if run.status is RunStatus.SUCCEEDED and any(m.stage == "evaluate" for m in run.metrics):
            return run.id
    return None


def notebook_release(
    ws: Workspace,
    store: Store,
    *,
    release_id: str = "",
    run_id: str = "",
    mode: str = "load",
    duration_s: float = 5,
    concurrency: int = 8,
    gates: str = "",
) -> ReleaseReport | None:
    """What notebook 05 shows: a stored release check, or a new export + check.

    With ``release_id`` the stored record is loaded (batch reports). Otherwise ``run_id`` (a
    run id, version or alias; empty: the champion, else the newest succeeded run) is exported
    in ``mode`` to ``exports/<run_id>-<mode>`` and checked, without rendering another report.

    Returns:
        The report, or ``None`` after printing why there is nothing to release.
    """
    from .export import export_run

    if release_id:
        return get_release(store, release_id)
    ref = run_id or _default_ref(store)
    if ref is None:
        print("nothing to release: no champion and no evaluated run; `workbench run ...` first")
        return None
    manifest = export_run(ws, store, ref, mode=mode, overwrite=True)  # type: ignore[arg-type]
    print(f"exported {ref} ({manifest.model_version}) to {manifest.bundle_dir}")
    return release_check(
        ws, store, manifest.bundle_dir, gates=gates or None, duration_s=duration_s,
        concurrency=concurrency, report=False,
    )  # fmt: skip


def latency_figure(report: ReleaseReport) -> go.Figure:
    """Histogram of every load-test request's latency (log-spaced bins) with p50/p95/p99 lines."""
    import plotly.graph_objects as go

    perf = report.performance
    hist = perf.get("latency_histogram") or {}
    edges, counts = hist.get("edges_ms") or [], hist.get("counts") or []
    if not counts:
        raise ConfigError(f"release check {report.id} has no load-test latencies to plot")
    bins = list(itertools.pairwise(edges))
    centers = [math.sqrt(a * b) for a, b in bins]  # geometric: the middle on a log axis
    widths = [b - a for a, b in bins]
    fig = go.Figure(
        go.Bar(
            x=centers, y=counts, width=widths, marker={"color": "#4c78a8"}, name="requests",
            customdata=bins, showlegend=False,
            hovertemplate="%{customdata[0]:.3f}–%{customdata[1]:.3f} ms: %{y} requests"
            "<extra></extra>",
        )
    )  # fmt: skip
    # Percentiles as line traces, not add_vline: plotly.py places a vline's annotation in
    # linear units on a log axis, which stretches the axis to millions of ms.
    top = max(counts) * 1.05
    for name, color in (("p50_ms", "#1a7f37"), ("p95_ms", "#bf8700"), ("p99_ms", "#cf222e")):
        if perf.get(name) is not None:
            fig.add_trace(
                go.Scatter(
                    x=[perf[name], perf[name]], y=[0, top], mode="lines",
                    line={"dash": "dash", "color": color, "width": 2},
                    name=f"{name[:-3]} {perf[name]:.2f} ms", hoverinfo="name",
                )
            )  # fmt: skip
    fig.update_xaxes(
        type="log",
        range=[math.log10(edges[0]), math.log10(edges[-1])],
        title_text="latency per request (ms, log scale)",
    )
    fig.update_yaxes(title_text="requests", range=[0, top])
    fig.update_layout(
        template="plotly_white",
        height=380,
        bargap=0,
        legend={"x": 0.99, "xanchor": "right", "y": 0.98},
        title={
            "text": f"Load test: {perf.get('requests', 0):,} requests at concurrency "
            f"{perf.get('concurrency')}, {perf.get('rps', 0):,.0f} req/s",
            "x": 0.02,
        },
        margin={"l": 60, "r": 20, "t": 70, "b": 50},
    )
    return fig


# -- the demo stage -----------------------------------------------------------------------------


def release_stage(
    ws: Workspace,
    store: Store,
    ref: str = "champion",
    *,
    fast: bool = False,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    console: Any = None,
) -> ReleaseReport:
    """Export ``ref`` in ``load`` mode and release-check it (the demo's release stage).

    Args:
        ws: The workspace.
        store: Its store.
        ref: Run id, version or alias; default the champion.
        fast: A 2-second load test instead of 5 seconds.
        gates: Release gates; default ``templates/release_gates.yaml``.
        console: A rich console to print the summary on (``None``: print nothing).

    Returns:
        The stored report (with its HTML page); a failed gate does not raise.
    """
    from .export import export_run

    manifest = export_run(ws, store, ref, mode="load", overwrite=True)
    report = release_check(ws, store, manifest.bundle_dir, gates=gates, duration_s=2 if fast else 5)
    if console is not None:
        for line in report.summary_lines():
            console.print(line, highlight=False, markup=False)
        if report.report_path:
            console.print(f"  report: {report.report_path}", highlight=False, markup=False)
    return report


def open_workspace(workspace: str = "") -> tuple[Workspace, Store]:
    """The workspace (``""``: ``WORKBENCH_HOME`` or ``./workspace``) and its store."""
    from .store import open_workspace as open_ws

    return open_ws(workspace or None)
