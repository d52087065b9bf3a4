"""The header card of every page kind, built from the store (services layer).

A reviewer who opens one page alone must read on it what they are looking at: which run,
comparison, release check, A/B test or monitor report; on which data (name and fingerprint);
with which model (family, registered version, parameters); made when, from which commit and
through which door; and where the related pages are (the index, the runs compared, the
bundle's run, the A/B variants, the monitored version). Each function here returns the
:class:`workbench.pages.PageHeader` of one kind; the services pass it to the page they write
and ``workbench report`` builds the same one again.

Every path shown is relative to the workspace (:func:`workbench.pages.relative_to_workspace`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .exceptions import RunNotFound
from .pages import PageHeader, relative_to_workspace, report_path
from .views import door_of

if TYPE_CHECKING:
    from .config import Workspace
    from .store import (
        ABTestRecord,
        ComparisonRecord,
        MonitorReportRecord,
        ReleaseRecord,
        RunRecord,
        Store,
    )

__all__ = [
    "abtest_header",
    "comparison_header",
    "monitor_header",
    "release_header",
    "run_header",
]

#: The stage page a related-page link goes to, first that exists.
_RUN_PAGES = ("evaluate", "search", "explore")
#: The package versions worth a reviewer's glance, in this order.
_PACKAGES = ("scikit-learn", "sklearn", "pandas", "numpy", "optuna", "workbench")
_MAX_PARAMS = 8


def run_header(ws: Workspace, store: Store, run_id: str, stage: str) -> PageHeader:
    """The card of one stage page of a run.

    Example::

        export_page(ws, nb, html, header=run_header(ws, store, run.id, "evaluate"))
    """
    run = store.get_run(run_id)
    version = store.version_of_run(run.id)
    model = run.model_family or "model not chosen yet"
    facts = [
        ("Run", run.id),
        ("Stage", f"{stage} (stages: {', '.join(run.stage_names)})"),
        *_run_facts(ws, run),
        ("Registered", version.ref if version else "not registered"),
        ("Status", run.status.value),
    ]
    links: list[tuple[str, Path]] = []
    links += [(f"{s} page", report_path(ws, run.id, s)) for s in run.stage_names if s != stage]
    for c in store.list_comparisons():
        if run.id in (c.candidate_run, c.baseline_run) and c.report_path:
            links.append((f"comparison {c.id}", Path(c.report_path)))
    return PageHeader(
        kind=f"Run · {stage} stage",
        title=f"{model} on {_shown(ws, run.dataset_name)}",
        facts=tuple(facts),
        links=tuple(links),
        index=ws.index_path,
        summary=_STAGE_SUMMARY.get(stage, ""),
    )


_STAGE_SUMMARY = {
    "explore": "What the data looks like before any model: sizes, target balance, gaps and "
    "the features most related to the target.",
    "search": "The hyper-parameter search: each trial's cross-validated score, and the "
    "parameters the chosen model was fitted with.",
    "evaluate": "The chosen model on held-out test rows it never saw: metrics with 95% "
    "bootstrap intervals, errors by class, calibration and serving cost.",
}


def comparison_header(ws: Workspace, store: Store, comparison_id: str) -> PageHeader:
    """The card of a comparison page (candidate vs baseline)."""
    c: ComparisonRecord = store.get_comparison(comparison_id)
    record = c.record
    dataset = record.get("dataset") or {}
    candidate, baseline = _run_or_none(store, c.candidate_run), _run_or_none(store, c.baseline_run)
    facts = [
        ("Comparison", c.id),
        ("Decision", _decision(c.decision)),
        ("Dataset", _dataset_text(_shown(ws, dataset.get("name")), dataset.get("fingerprint"))),
        ("Test rows", f"{record.get('n_test'):,}" if record.get("n_test") else ""),
        ("Candidate", _run_line(ws, candidate, c.candidate_run)),
        ("Baseline", _run_line(ws, baseline, c.baseline_run)),
        ("Bootstrap", _bootstrap(record.get("settings") or {})),
        ("Gates", _gates_source(ws, (record.get("gates") or {}).get("source"))),
        ("Git commit", _commit(candidate.git_commit if candidate else None)),
        ("Date", _date(c.created_at)),
    ]
    links: list[tuple[str, Path]] = []
    links += _run_links(ws, store, "candidate", c.candidate_run)
    links += _run_links(ws, store, "baseline", c.baseline_run)
    reasons = "; ".join(record.get("reasons") or ())
    return PageHeader(
        kind="Comparison",
        title=f"{_model_of(candidate)} (candidate) vs {_model_of(baseline)} (baseline)",
        facts=tuple(facts),
        links=tuple(links),
        index=ws.index_path,
        summary=f"Decision: {c.decision}" + (f" — {reasons}" if reasons else ""),
    )


def release_header(ws: Workspace, store: Store, release_id: str) -> PageHeader:
    """The card of a release check page (a bundle checked before serving)."""
    r: ReleaseRecord = store.get_release(release_id)
    run = _run_or_none(store, r.run_id)
    version = r.record.get("model_version") or ""
    failed = [str(f) for f in r.record.get("failures") or ()]
    facts = [
        ("Release check", r.id),
        ("Result", "✓ passed" if r.passed else "✗ failed"),
        ("Model version", version),
        ("Bundle", relative_to_workspace(r.bundle, ws)),
        *(_run_facts(ws, run) if run else [("Run", r.run_id or "unknown")]),
        ("Date", _date(r.created_at)),
    ]
    links = _run_links(ws, store, "bundle's run", r.run_id)
    return PageHeader(
        kind="Release check",
        title=f"Release check of {version or 'a bundle'} ({_model_of(run)})",
        facts=tuple(facts),
        links=tuple(links),
        index=ws.index_path,
        summary=(
            "Every check passed: the bundle may be served."
            if r.passed
            else "Failed: " + ("; ".join(failed) if failed else "see the checks below") + "."
        ),
    )


def abtest_header(ws: Workspace, store: Store, test_id: str) -> PageHeader:
    """The card of an A/B (or shadow) test page."""
    t: ABTestRecord = store.get_abtest(test_id)
    facts: list[tuple[str, str]] = [
        ("A/B test", t.id),
        ("Mode", f"{t.mode}, {t.split:.0%} of traffic to B, seed {t.seed}"),
        ("Decision", _decision(t.decision)),
    ]
    links: list[tuple[str, Path]] = []
    dataset = ""
    for v in t.variants:
        run = _run_or_none(store, v.run_id)
        label = f"Variant {v.variant} ({v.role})"
        facts.append(
            (label, f"{v.ref} · {v.model_version or '?'} · {_run_line(ws, run, v.run_id)}")
        )
        if run and not dataset:
            dataset = _dataset_text(_shown(ws, run.dataset_name), run.dataset_fingerprint)
        links += _run_links(ws, store, f"variant {v.variant}", v.run_id)
    facts += [("Dataset", dataset), ("Date", _date(t.created_at))]
    names = " vs ".join(f"{v.variant}: {v.model_version or v.ref}" for v in t.variants)
    return PageHeader(
        kind="A/B test",
        title=names or t.id,
        facts=tuple(facts),
        links=tuple(links),
        index=ws.index_path,
        summary=f"Decision: {t.decision}.",
    )


def monitor_header(ws: Workspace, store: Store, report_id: str) -> PageHeader:
    """The card of a monitor report page (a served version watched over time windows)."""
    m: MonitorReportRecord = store.get_monitor_report(report_id)
    version = next((v for v in store.list_versions() if v.ref == m.model_version), None)
    run = _run_or_none(store, version.run_id if version else m.record.get("run_id"))
    flagged = ", ".join(m.flagged_features) or "none"
    facts = [
        ("Monitor report", m.id),
        ("Model version", m.model_version or "unknown"),
        *(_run_facts(ws, run) if run else []),
        ("Windows", f"{m.n_windows} windows, {m.n_requests:,} requests"),
        ("Drifted features", flagged),
        ("Retrain decision", m.decision or "none yet"),
        ("Date", _date(m.created_at)),
    ]
    links: list[tuple[str, Path]] = []
    if run:
        links += _run_links(ws, store, "monitored version's run", run.id)
    return PageHeader(
        kind="Monitor report",
        title=f"Monitoring of {m.model_version or 'a served model'} ({_model_of(run)})",
        facts=tuple(facts),
        links=tuple(links),
        index=ws.index_path,
        summary=f"Features drifted: {flagged}. Retrain decision: {m.decision or 'none yet'}.",
    )


# -- pieces --------------------------------------------------------------------------------------


def _shown(ws: Workspace, value: Any) -> Any:
    """An absolute path (a CSV dataset, a retraining's recent traffic) relative to the
    workspace when inside it; any other value unchanged."""
    if isinstance(value, str) and value.startswith("/"):
        return relative_to_workspace(value, ws)
    return value


def _run_or_none(store: Store, run_id: str | None) -> RunRecord | None:
    if not run_id:
        return None
    try:
        return store.get_run(run_id)
    except RunNotFound:
        return None


def _run_facts(ws: Workspace, run: RunRecord) -> list[tuple[str, str]]:
    """Dataset, model, parameters, commit, packages, date and door of a run."""
    return [
        ("Dataset", _dataset_text(_shown(ws, run.dataset_name), run.dataset_fingerprint, run)),
        ("Model", run.model_family or "not chosen yet"),
        ("Parameters", _params({k: _shown(ws, v) for k, v in run.params.items()})),
        ("Seed", str(run.seed)),
        ("Git commit", _commit(run.git_commit)),
        ("Packages", _packages(run.versions)),
        ("Date", _date(run.created_at)),
        ("Made by", door_of(run)),
    ]


def _dataset_text(name: Any, fingerprint: Any, run: RunRecord | None = None) -> str:
    if not name:
        return ""
    text = f"{name} · fingerprint {str(fingerprint)[:12]}" if fingerprint else str(name)
    d = run.dataset if run else None
    if d is not None:
        text += f" · {d.n_rows:,} rows × {d.n_features} features, target {d.target} ({d.task})"
    return text


def _run_line(ws: Workspace, run: RunRecord | None, run_id: str | None) -> str:
    if run is None:
        return f"run {run_id}" if run_id else ""
    params = {k: _shown(ws, v) for k, v in run.params.items()}
    return f"run {run.id} · {run.model_family or '?'} · {_params(params, limit=4)}"


def _model_of(run: RunRecord | None) -> str:
    return (run.model_family or "model") if run else "model"


def _run_links(
    ws: Workspace, store: Store, label: str, run_id: str | None
) -> list[tuple[str, Path]]:
    """A link to the run's most telling page (evaluate, else search, else explore)."""
    run = _run_or_none(store, run_id)
    if run is None:
        return []
    for stage in _RUN_PAGES:
        page = report_path(ws, run.id, stage)
        if stage in run.stage_names and page.is_file():
            return [(f"{label} {run.id} ({stage})", page)]
    return []


def _params(params: dict[str, Any], *, limit: int = _MAX_PARAMS) -> str:
    shown = [
        f"{k}={_value(v)}"
        for k, v in params.items()
        if not isinstance(v, (dict, list)) and k not in ("workspace", "run_id", "run_dir")
    ]
    more = f" (+{len(shown) - limit} more)" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more if shown else "defaults"


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _packages(versions: dict[str, str]) -> str:
    return ", ".join(f"{k} {versions[k]}" for k in _PACKAGES if k in versions)


def _commit(commit: str | None) -> str:
    return commit[:10] if commit else "not in git"


def _date(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else ""


def _decision(decision: str | None) -> str:
    return decision or "none"


def _bootstrap(settings: dict[str, Any]) -> str:
    if not settings:
        return ""
    conf = settings.get("confidence")
    conf_text = f"{conf:.0%} intervals, " if isinstance(conf, (int, float)) else ""
    return f"{conf_text}{settings.get('n_boot')} paired resamples, seed {settings.get('seed')}"


def _gates_source(ws: Workspace, source: Any) -> str:
    if not source:
        return ""
    if isinstance(source, str) and source.startswith("/"):
        return relative_to_workspace(source, ws)
    return str(source)
