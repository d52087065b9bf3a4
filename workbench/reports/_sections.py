"""The tables of the index beside the runs, one per record family, read from the store.

Compose layer: each function asks a service for its records (comparisons, the registry,
release checks, A/B tests, monitor reports, devices, batches) and formats them; none computes
evidence. :func:`default_sections` lists them in the order a reviewer reads them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._batch import batch_sections
from ._model import IndexLink, IndexSection, link_to

if TYPE_CHECKING:
    from ..abtest import ABTest
    from ..compare import MetricDelta
    from ..config import Workspace
    from ..store import Store

__all__ = [
    "abtest_sections",
    "comparison_sections",
    "default_sections",
    "inventory_sections",
    "monitor_sections",
    "overview_sections",
    "release_sections",
]

Section = Callable[["Workspace", "Store"], list[IndexSection]]
_TIME = "%Y-%m-%d %H:%M UTC"


def default_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """Every table the index shows beside the runs, in reading order."""
    providers: tuple[Section, ...] = (
        overview_sections,
        comparison_sections,
        release_sections,
        abtest_sections,
        monitor_sections,
        inventory_sections,
        batch_sections,
    )
    return [section for provider in providers for section in provider(ws, store)]


# -- at a glance ---------------------------------------------------------------------------------


def overview_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The champion and the latest decision of each kind, first thing on the index."""
    from ..pages import relative_to_workspace, report_path
    from ..registry import aliases

    rows: list[tuple[str | IndexLink, ...]] = []
    champion = aliases(store).get("champion")
    if champion is not None:
        run = store.get_run(champion.run_id)
        data = run.dataset_name  # a CSV dataset's path, shown relative to the workspace
        data = relative_to_workspace(data, ws) if data.startswith("/") else data
        page = next(
            (report_path(ws, run.id, s) for s in ("evaluate", "search") if s in run.stage_names),
            None,
        )
        rows.append(
            (
                "champion",
                f"{champion.ref}: {run.model_family or '?'} on {data}, run {run.id}",
                _version_metric(champion.metrics) or "—",
                link_to(ws.reports_dir, page, "evaluate page"),
            )
        )
    comparisons = store.list_comparisons(limit=1)
    for c in comparisons:
        rows.append(
            (
                "latest comparison",
                f"{c.candidate_run} (candidate) vs {c.baseline_run} (baseline)",
                c.decision,
                link_to(ws.reports_dir, c.report_path, "open", f"report of {c.id}"),
            )
        )
    for r in store.list_releases(limit=1):
        rows.append(
            (
                "latest release check",
                f"{r.record.get('model_version') or r.bundle}",
                "✓ passed" if r.passed else "✗ failed",
                link_to(ws.reports_dir, r.report_path, "open", f"report of {r.id}"),
            )
        )
    for t in store.list_abtests(limit=1):
        variants = " vs ".join(f"{v.variant}: {v.model_version or v.ref}" for v in t.variants)
        rows.append(
            (
                f"latest A/B test ({t.mode})",
                variants,
                t.decision,
                link_to(ws.reports_dir, t.report_path, "open", f"report of {t.id}"),
            )
        )
    for m in store.list_monitor_reports(limit=1):
        rows.append(
            (
                "latest monitor report",
                f"{m.model_version or '?'}: drifted {', '.join(m.flagged_features) or 'none'}",
                m.decision or "no retrain decision",
                link_to(ws.reports_dir, m.report_path, "open", f"report of {m.id}"),
            )
        )
    if not rows:
        return []
    return [
        IndexSection(
            "At a glance",
            columns=("what", "which", "decision", "page"),
            rows=tuple(rows),
            note="The model serving as champion and the latest decision of each kind; the "
            "tables below hold every record.",
        )
    ]


# -- comparisons and the registry ------------------------------------------------------------------


def comparison_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """Comparisons (newest first), the model registry and the alias audit trail."""
    from ..compare import list_comparisons
    from ..registry import audit_trail, list_models

    rows: list[tuple[str | IndexLink, ...]] = []
    for c in list_comparisons(store):
        head = next((m for m in c.metrics if m.name == c.headline), None)
        delta = "" if head is None or head.delta is None else _delta_text(head)
        report = link_to(ws.reports_dir, c.report_path, "open", f"report of {c.id}")
        rows.append((c.id, c.candidate.label(), c.baseline.label(), delta, c.decision, report))
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
                v.created_at.strftime(_TIME),
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
                e.at.strftime(_TIME),
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


# -- release checks --------------------------------------------------------------------------------


def release_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Release checks" table (nothing when there is none)."""
    from ..release import list_releases

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
                link_to(ws.reports_dir, r.report_path, "open", f"report of {r.id}"),
                link_to(ws.reports_dir, r.evidence_path, "json", f"evidence of {r.id}"),
            )
        )  # fmt: skip
    if not rows:
        return []
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


# -- A/B tests -------------------------------------------------------------------------------------


def abtest_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "A/B tests" table (nothing when there is no test)."""
    from ..abtest import list_abtests

    tests = list_abtests(store)
    if not tests:
        return []
    rows: list[tuple[str | IndexLink, ...]] = []
    for t in tests:
        rows.append(
            (
                t.id,
                t.created_at.strftime(_TIME),
                t.mode if t.mode == "shadow" else f"online {t.split:.0%}",
                t.label("A"),
                t.label("B"),
                str(t.traffic.get("sent", "—")),
                _ab_delta(t, "acceptance"),
                _ab_delta(t, t.analysis.metric),
                _ab_delta(t, "p99_ms"),
                t.decision.action,
                link_to(ws.reports_dir, t.report_path, "open", f"A/B test {t.id}"),
            )
        )
    return [
        IndexSection(
            "A/B tests",
            columns=(
                "test",
                "when",
                "mode",
                "A",
                "B",
                "requests",
                "acceptance B − A",
                "quality B − A",
                "p99 ms B − A",
                "decision",
                "report",
            ),
            rows=tuple(rows),
            note="B − A with p-values; acceptance comes from simulated users (see each report); "
            "shadow tests never return B's answers",
        )
    ]


def _ab_delta(test: ABTest, name: str) -> str:
    d = test.analysis.delta(name)
    if d is None or not math.isfinite(d.value):
        return "—"
    p = "" if not math.isfinite(d.p_value) else f" (p {d.p_value:.2g})"
    return f"{d.value:+.3g}{p}"


# -- monitoring ------------------------------------------------------------------------------------


def monitor_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Monitoring" table (nothing when there is no monitor report)."""
    from ..monitor import list_reports

    reports = list_reports(store)
    if not reports:
        return []
    rows = tuple(
        (
            r.id,
            r.created_at.strftime(_TIME),
            r.model_version or "—",
            f"{r.n_requests} / {r.n_windows}",
            ", ".join(r.flagged_features) or "none",
            _quality_cell(r.latest_quality),
            r.decision or "—",
            link_to(ws.reports_dir, r.report_path, "open", f"monitor report {r.id}"),
        )
        for r in reports
    )
    return [
        IndexSection(
            "Monitoring",
            columns=(
                "report",
                "when",
                "model version",
                "requests / windows",
                "drifted features (latest window)",
                "quality (latest window)",
                "retrain decision",
                "report",
            ),
            rows=rows,
            note="drift: PSI ≥ 0.25 and a corrected test; decay: headline metric below the "
            "reference by more than the gate with its CI",
        )
    ]


def _quality_cell(q: Mapping[str, Any] | None) -> str:
    if not q or q.get("value") is None:
        return "—"
    ref = q.get("reference")
    shown = "?" if ref is None else f"{ref:.4f}"
    return f"{q['metric']} {q['value']:.4f} (ref {shown})"


# -- the edge inventory ----------------------------------------------------------------------------


def inventory_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Edge inventory" table (nothing without devices)."""
    from ..inventory import inventory_view

    view = inventory_view(store)
    if not view.devices:
        return []
    wave_of = {m.device: w.number for w in view.plan.waves for m in w.moves}
    rows = tuple(
        (
            s.device.name,
            s.device.group,
            s.device.model.ref if s.device.model else "—",
            s.device.to_dict()["updated_at"].replace("T", " ").replace("+00:00", " UTC"),
            s.status + (" (hold)" if s.device.hold else ""),
            f"wave {wave_of[s.device.name]}" if s.device.name in wave_of else "—",
        )
        for s in view.devices
    )
    c = view.counts()
    champion = view.champion.ref if view.champion else "none"
    return [
        IndexSection(
            "Edge inventory",
            columns=("device", "group", "model", "since", "status", "update"),
            rows=rows,
            note=f"champion {champion}: {c['current']} current, {c['outdated']} outdated, "
            f"{c['unassigned']} unassigned; waves go one group at a time, smallest first",
        )
    ]
