"""The batch page (``reports/batches/<id>.html``) and the batch sections of the index.

The page compares the grid's results: one row per run with its parameters, status, headline
metric and 95% CI, linking the run's evaluate report; the best run per dataset is marked.
Like every report it is self-contained (inline CSS, no scripts and a policy allowing none,
relative links), so the reports folder still works when zipped or mailed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write_text, child_path
from ..pages import PageHeader, header_html
from ..safehtml import content_security_policy
from ..store import BatchRecord, RunRecord, RunStatus, Store
from ._model import IndexLink, IndexSection, relative_href

if TYPE_CHECKING:
    from ..config import Workspace

__all__ = ["batch_page_path", "batch_sections", "write_batch_page"]

_LOWER_IS_BETTER = ("rmse", "mae", "log_loss", "brier")
_REPORT_STAGES = ("evaluate", "search", "explore")  # the link goes to the first that exists
_MAX_NOTE = 240


@dataclass(frozen=True)
class _Row:
    """One run on the batch page, already formatted."""

    index: int
    run_id: str
    dataset: str
    model: str
    params: str
    status: str
    metric: str
    value: float | None
    value_text: str
    ci: str
    duration: str
    note: str
    report_label: str
    report_href: str
    best: bool = False


def batch_page_path(workspace: Workspace, batch_id: str) -> Path:
    """``<workspace>/reports/batches/<batch_id>.html``."""
    return child_path(workspace.reports_dir / "batches", batch_id, what="batch id", suffix=".html")


def write_batch_page(workspace: Workspace, store: Store, batch_id: str) -> Path:
    """Write the batch page comparing the grid's results; returns its path.

    Statuses and metrics are read from the store now, so a page rewritten after a resumed
    batch shows the runs as they ended.

    Example::

        write_batch_page(ws, store, result.batch_id)
    """
    batch = store.get_batch(batch_id)
    page = batch_page_path(workspace, batch.id)
    runs = _runs_by_id(store, batch.run_ids)
    rows = _rows(workspace, batch, runs, base=page.parent)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    html = _template().render(
        batch=batch,
        name=batch.name,
        rows=rows,
        counts=counts,
        wall=_duration((batch.summary or {}).get("wall_s")),
        created=_time(batch.created_at),
        finished=_time(batch.finished_at) if batch.finished_at else "",
        grid_text=_grid_text(batch.grid.get("spec", {})),
        source=Path(batch.grid["source"]).name if batch.grid.get("source") else "",
        header=header_html(_header(workspace, batch, runs), page),
        csp=content_security_policy(),
    )
    atomic_write_text(page, html)
    return page


def _header(workspace: Workspace, batch: BatchRecord, runs: dict[str, RunRecord]) -> PageHeader:
    """The batch page's card: the grid, its data and models, and links to the index."""
    found = [runs[i] for i in batch.run_ids if i in runs]
    datasets = sorted(
        {
            f"{r.dataset_name} · {r.dataset_fingerprint[:12]}"
            if r.dataset_fingerprint
            else r.dataset_name
            for r in found
        }
    )
    commits = sorted({r.git_commit[:10] for r in found if r.git_commit})
    facts = (
        ("Batch", batch.id),
        ("Grid", batch.name),
        ("Datasets", "; ".join(datasets)),
        ("Models", ", ".join(sorted({r.model_family or "?" for r in found}))),
        ("Runs", f"{len(batch.run_ids)} runs, executor {batch.executor}"),
        ("Git commit", ", ".join(commits) or "not in git"),
        ("Date", _time(batch.created_at)),
        ("Made by", "workbench batch"),
    )
    return PageHeader(
        kind="Batch",
        title=f"Grid {batch.name}: {len(batch.run_ids)} runs",
        facts=facts,
        index=workspace.index_path,
        summary="Every run of the grid with its headline metric; the best run per dataset is "
        "marked. Each run links its own evaluate page.",
    )


def batch_sections(workspace: Workspace, store: Store, *, limit: int = 20) -> list[IndexSection]:
    """Index sections for batches: a list of recent batches linking their pages, and the latest
    batch's results compared (run, dataset, model, params, status, headline with CI, report).

    Listed in :data:`workbench.reports.SECTION_PROVIDERS`, so every index rebuild shows them;
    empty when the store has no batch.
    """

    batches = store.list_batches(limit=limit)
    if not batches:
        return []
    overview = []
    for b in batches:
        page = batch_page_path(workspace, b.id)
        counts = (b.summary or {}).get("counts", {})
        ok = counts.get(RunStatus.SUCCEEDED.value, 0) + counts.get("skipped", 0)
        overview.append(
            (
                IndexLink(b.id, relative_href(page, workspace.reports_dir))
                if page.is_file()
                else b.id,
                b.name,
                _time(b.created_at),
                b.executor,
                b.status.value,
                f"{ok}/{len(b.run_ids)} ok",
                _duration((b.summary or {}).get("wall_s")),
            )
        )
    sections = [
        IndexSection(
            "Batches",
            columns=("batch", "grid", "created", "executor", "status", "runs", "wall time"),
            rows=tuple(overview),
            note="Each batch page compares the results of its grid.",
        )
    ]
    latest = batches[0]
    runs = _runs_by_id(store, latest.run_ids)
    results = []
    for r in _rows(workspace, latest, runs, base=workspace.reports_dir):
        report: Any = IndexLink(r.report_label, r.report_href) if r.report_href else ""
        value = f"{r.metric} {r.value_text}" if r.value_text else ""
        results.append(
            (
                r.run_id,
                r.dataset,
                r.model,
                r.params,
                r.status,
                value + (" (best)" if r.best else ""),
                r.ci,
                report,
            )
        )
    sections.append(
        IndexSection(
            f"Latest batch: {latest.name} ({latest.id})",
            columns=(
                "run",
                "dataset",
                "model",
                "parameters",
                "status",
                "headline",
                "95% CI",
                "report",
            ),
            rows=tuple(results),
        )
    )
    return sections


# -- rows -------------------------------------------------------------------------------------


def _runs_by_id(store: Store, run_ids: Sequence[str]) -> dict[str, RunRecord]:
    wanted = set(run_ids)
    return {r.id: r for r in store.list_runs() if r.id in wanted}


def _rows(
    workspace: Workspace, batch: BatchRecord, runs: dict[str, RunRecord], *, base: Path
) -> list[_Row]:
    from ..views import headline_metric

    varying = [k for k in batch.grid.get("varying", []) if k not in ("dataset", "model")]
    summaries = {s["run_id"]: s for s in (batch.summary or {}).get("runs", [])}
    rows = []
    for planned in batch.grid.get("runs", []):
        run_id, params = planned["run_id"], planned.get("params", {})
        run, summary = runs.get(run_id), summaries.get(run_id, {})
        headline = headline_metric(run) if run is not None else summary.get("headline")
        label, href = _report_link(workspace, run, base) if run is not None else ("", "")
        shown = varying or ["trials", "seed"]
        rows.append(
            _Row(
                index=int(planned.get("index", len(rows) + 1)),
                run_id=run_id,
                dataset=_dataset(str(params.get("dataset", ""))),
                model=str(params.get("model", "")),
                params=", ".join(f"{k}={params[k]}" for k in shown if k in params),
                status=_status(run, summary, planned),
                metric=headline["name"] if headline else "",
                value=float(headline["value"]) if headline else None,
                value_text=f"{headline['value']:.4f}" if headline else "",
                ci=_ci(headline),
                duration=_duration(run.duration_s if run is not None else None),
                note=_note(run, summary, planned),
                report_label=label,
                report_href=href,
            )
        )
    return _mark_best(rows)


def _status(run: RunRecord | None, summary: dict[str, Any], planned: dict[str, Any]) -> str:
    if run is not None:
        return run.status.value
    return str(summary.get("status") or ("skipped" if planned.get("skip_reason") else "pending"))


def _note(run: RunRecord | None, summary: dict[str, Any], planned: dict[str, Any]) -> str:
    parts = []
    if planned.get("skip_reason"):
        parts.append(f"not re-run: {planned['skip_reason']}")
    if planned.get("reused"):
        parts.append("continued an interrupted run")
    if run is not None and run.status is not RunStatus.SUCCEEDED:
        err = run.error or next((s.error for s in run.stages if s.error), None) or {}
        what = ": ".join(str(err[k]) for k in ("ename", "evalue") if err.get(k))
        where = f"stage {err['stage']}, cell {err.get('cell_index')}" if err.get("stage") else ""
        parts.append(", ".join(p for p in (where, what or str(err.get("reason", ""))) if p))
    elif run is None and summary.get("error"):
        parts.append(str(summary["error"]))
    text = "; ".join(p for p in parts if p)
    return text if len(text) <= _MAX_NOTE else text[: _MAX_NOTE - 1] + "…"


def _report_link(workspace: Workspace, run: RunRecord, base: Path) -> tuple[str, str]:
    from ..pages import report_path

    by_name = {s.name: s for s in run.stages}
    for name in _REPORT_STAGES:
        stage = by_name.get(name)
        if stage is None:
            continue
        candidates = [Path(stage.report_path)] if stage.report_path else []
        candidates.append(report_path(workspace, run.id, name))
        found = next((c for c in candidates if c.is_file()), None)
        if found is not None:
            return name, relative_href(found, base)
    return "", ""


def _mark_best(rows: list[_Row]) -> list[_Row]:
    """Mark the best headline per dataset when it had at least two successful runs."""
    from dataclasses import replace

    groups: dict[str, list[_Row]] = {}
    for r in rows:
        if r.value is not None and r.status == RunStatus.SUCCEEDED.value:
            groups.setdefault(r.dataset, []).append(r)
    winners = set()
    for group in groups.values():
        if len(group) < 2:
            continue
        lower = group[0].metric.removeprefix("cv_") in _LOWER_IS_BETTER
        best = (min if lower else max)(group, key=lambda r: r.value or 0.0)
        winners.add(best.index)
    return [replace(r, best=True) if r.index in winners else r for r in rows]


# -- formatting -------------------------------------------------------------------------------


def _ci(headline: dict[str, Any] | None) -> str:
    if not headline or not headline.get("ci95"):
        return ""
    low, high = headline["ci95"]
    return f"[{low:.4f}, {high:.4f}]"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _time(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _dataset(name: str) -> str:
    return Path(name).name if "/" in name else name


def _grid_text(spec: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True)


@functools.cache
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        autoescape=True,  # grid names, parameters and errors are user text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.from_string(_PAGE)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Batch {{ name }} · {{ batch.id }}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem;
       color: #1f2328; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; }
.meta { color: #57606a; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { font-weight: 600; }
.succeeded { color: #1a7f37; } .failed { color: #cf222e; } .cancelled { color: #9a6700; }
.skipped, .pending, .running { color: #57606a; }
tr.best td { background: #dafbe1; }
.badge { font-size: .75rem; background: #1a7f37; color: white; border-radius: 3px;
         padding: 0 .3rem; margin-left: .3rem; }
.note { color: #57606a; font-size: .85rem; max-width: 28rem; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; }
code { font-size: .85rem; }
</style>
</head>
<body>
{{ header | safe }}
<h1>Batch {{ name }}</h1>
<div class="meta">
<code>{{ batch.id }}</code>{% if source %} · grid file {{ source }}{% endif %}
 · {{ batch.executor }} · status
<span class="status {{ batch.status.value }}">{{ batch.status.value }}</span>
<br>started {{ created }}{% if finished %} · finished {{ finished }}{% endif %}
{% if wall %} · wall time {{ wall }}{% endif %}
 ·
{% for status, n in counts.items() %}
{{ n }} {{ status }}{% if not loop.last %}, {% endif %}
{% endfor %}
</div>
<table>
<thead><tr>
<th>#</th><th>run</th><th>dataset</th><th>model</th><th>parameters</th><th>status</th>
<th>headline</th><th>95% CI</th><th>duration</th><th>report</th><th>note</th>
</tr></thead>
<tbody>
{% for r in rows %}
<tr{% if r.best %} class="best"{% endif %}>
<td class="num">{{ r.index }}</td>
<td><code>{{ r.run_id }}</code></td>
<td>{{ r.dataset }}</td>
<td>{{ r.model }}</td>
<td>{{ r.params }}</td>
<td class="status {{ r.status }}">{{ r.status }}</td>
<td class="num">
{% if r.value_text %}{{ r.metric }} {{ r.value_text }}{% endif %}
{% if r.best %}<span class="badge">best</span>{% endif %}
</td>
<td class="num">{{ r.ci }}</td>
<td class="num">{{ r.duration }}</td>
<td>{% if r.report_href %}<a href="{{ r.report_href }}">{{ r.report_label }}</a>{% endif %}</td>
<td class="note">{{ r.note }}</td>
</tr>
{% endfor %}
</tbody>
</table>
<h2>Grid</h2>
<pre>{{ grid_text }}</pre>
</body>
</html>
"""
