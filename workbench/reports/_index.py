"""The report index: ``reports/index.html``, a reviewer's start page for every record.

Compose layer: it reads every record from the store (runs, comparisons, registry, releases,
A/B tests, monitor reports, devices, batches) and links the pages the services wrote
(:mod:`workbench.pages`) with relative hrefs, so the whole folder can be zipped, mailed or
opened from disk with no server and no internet.

Example::

    from workbench.reports import build_index

    build_index(ws, store)

Jinja2 is imported inside the functions that need it, so importing this stays cheap.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write_text
from ..exceptions import ConfigError
from ..pages import relative_to_workspace, report_path
from ..safehtml import content_security_policy, script_hash
from ..units import format_value
from ..views import door_of
from ._batch import write_batch_page
from ._model import IndexLink, IndexSection, relative_href
from ._sections import default_sections

if TYPE_CHECKING:
    from ..batch import BatchResult
    from ..config import Workspace
    from ..store import MetricRecord, RunRecord, StageRecord, Store

__all__ = [
    "HEADLINE_METRICS",
    "HEADLINE_STAGE",
    "IndexLink",
    "IndexSection",
    "build_index",
    "default_sections",
]

#: Metrics shown as a run's headline, first found wins: classification, then regression.
HEADLINE_METRICS: tuple[str, ...] = ("roc_auc", "rmse")
#: The stage whose metrics are measured on the held-out test split.
HEADLINE_STAGE = "evaluate"

_INDEX_TEMPLATE = "report_index.html.j2"
_MAX_EVALUE = 300
_MAX_NOTE = 500


# -- index --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunRow:
    """What the index template shows for one run, already formatted."""

    id: str
    status: str
    dataset: str
    model_family: str
    metric: str
    metric_ci: str
    duration: str
    created: str
    reports: tuple[IndexLink, ...]
    missing_reports: tuple[str, ...]
    failure: str
    door: str = ""
    tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: Sort keys of the sortable table (the shown text is not sortable: units, CI, time zone).
    metric_value: str = ""
    duration_s: str = ""
    created_iso: str = ""
    helper: str = ""


@dataclass(frozen=True)
class _RunGroup:
    """A run and the helper runs made for it (a retraining's re-evaluation on recent data),
    shown as one block so they sort and filter together."""

    run: _RunRow
    helpers: tuple[_RunRow, ...] = ()


#: Sorts every ``table.sortable`` by a clicked column (the cell's ``data-sort``, else its text;
#: numbers as numbers) and filters it from its ``input.filter``; a table with one ``<tbody>``
#: per run group moves and hides whole groups. Its hash is the page policy's only script.
_INDEX_JS = """(function () {
  function groups(t) { return t.tBodies.length > 1 ? [].slice.call(t.tBodies)
                                                   : [].slice.call(t.tBodies[0].rows); }
  function key(g, col) {
    var c = (g.rows ? g.rows[0] : g).cells[col];
    var s = c ? (c.getAttribute('data-sort') || c.textContent).trim() : '';
    return s !== '' && !isNaN(Number(s)) ? Number(s) : s.toLowerCase();
  }
  document.querySelectorAll('table.sortable').forEach(function (t) {
    [].slice.call(t.tHead.rows[0].cells).forEach(function (th, col) {
      th.title = 'click to sort';
      th.addEventListener('click', function () {
        var up = th.getAttribute('aria-sort') !== 'ascending';
        th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
        var gs = groups(t), parent = gs[0].parentNode;
        gs.sort(function (a, b) {
          var x = key(a, col), y = key(b, col);
          var r = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0)
                                        : (typeof x === 'number' ? -1 : 1);
          return up ? r : -r;
        });
        gs.forEach(function (g) { parent.appendChild(g); });
      });
    });
  });
  document.querySelectorAll('input.filter').forEach(function (input) {
    var t = document.getElementById(input.getAttribute('data-table'));
    input.addEventListener('input', function () {
      var q = input.value.toLowerCase();
      groups(t).forEach(function (g) {
        g.hidden = q !== '' && g.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
})();"""


def build_index(
    workspace: Workspace, store: Store, extra_sections: Sequence[IndexSection] | None = None
) -> Path:
    """Write ``reports/index.html``: every run, newest first, linking its stage reports.

    The page is self-contained (inline CSS, one inline script that sorts and filters the
    tables, a policy allowing that script by hash and nothing else) and uses relative links
    only. Helper runs (a retraining's re-evaluation) sit under the run they were made for;
    the champion and the latest decisions come first (``overview_sections``).

    Args:
        workspace: The workspace whose ``reports/`` folder receives the page.
        store: The run store to list runs from.
        extra_sections: Further tables appended after the runs; ``None`` (the default) means
            :func:`default_sections` (comparisons, registry, batches, releases).

    Returns:
        The path of the index page.

    Example::

        build_index(*open_workspace(create=True))
    """
    if extra_sections is None:
        extra_sections = default_sections(workspace, store)
    # Parameters too: a helper run names the run it was made for there.
    runs = sorted(
        store.list_runs(with_params=True), key=lambda r: (r.created_at, r.id), reverse=True
    )
    rows = [_run_row(workspace, run) for run in runs]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    groups = _grouped(runs, rows)
    page = (
        _jinja_env()
        .get_template(_INDEX_TEMPLATE)
        .render(
            runs=rows,
            groups=groups,
            counts=counts,
            script=_INDEX_JS,
            sections=list(extra_sections),
            generated=_format_time(datetime.now(UTC)),
            workspace=workspace.root.name,  # not the full path: the page is shared
            csp=content_security_policy([script_hash(_INDEX_JS)]),
            is_link=lambda cell: isinstance(cell, IndexLink),
        )
    )
    atomic_write_text(workspace.index_path, page)
    return workspace.index_path


@functools.cache
def _jinja_env() -> Any:
    import jinja2

    from ..project import package_data

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(package_data("templates"))),
        autoescape=True,  # dataset names, errors and labels are user text
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _run_row(workspace: Workspace, run: RunRecord) -> _RunRow:
    headline = _headline_metric(run)
    reports: list[IndexLink] = []
    missing: list[str] = []
    for stage in _stages_of(run):
        path = _stage_report(workspace, run.id, stage)
        if path is None:
            missing.append(stage.name)
        else:
            href = relative_href(path, workspace.reports_dir)
            reports.append(IndexLink(stage.name, href, tooltip=f"{stage.name}: {stage.status}"))
    return _RunRow(
        id=run.id,
        status=str(run.status),
        dataset=relative_to_workspace(run.dataset_name, workspace)
        if run.dataset_name.startswith("/")
        else run.dataset_name,
        model_family=run.model_family or "",
        metric=f"{headline.name} {_metric_value(headline, headline.value)}" if headline else "",
        metric_ci=_format_ci(headline) if headline else "",
        duration=_format_duration(run.duration_s),
        created=_format_time(run.created_at),
        reports=tuple(reports),
        missing_reports=tuple(missing),
        failure=_failure_summary(run),
        door=door_of(run),
        tags=tuple(f"{k}={v}" for k, v in run.tags.items()),
        notes=tuple(_clip(f"{n.text} — {n.author}", _MAX_NOTE) for n in run.notes),
        metric_value=f"{headline.value:.6g}" if headline else "",
        duration_s=f"{run.duration_s:.1f}" if run.duration_s is not None else "",
        created_iso=run.created_at.isoformat(),
        helper=(
            f"helper run: the model of {_parent_of(run)} evaluated again on the recent "
            "traffic, so the retrained model is compared on the same rows"
            if _parent_of(run)
            else ""
        ),
    )


def _parent_of(run: RunRecord) -> str | None:
    """The run a helper run was made for (a retraining re-evaluates the champion's model on
    the recent traffic: ``params["reevaluates"]``), else ``None``."""
    parent = run.params.get("reevaluates")
    return str(parent) if parent else None


def _grouped(runs: list[RunRecord], rows: list[_RunRow]) -> list[_RunGroup]:
    """Rows in order, each helper run moved under the run it was made for (when listed)."""
    ids = {r.id for r in runs}
    helpers: dict[str, list[_RunRow]] = {}
    for run, row in zip(runs, rows, strict=True):
        parent = _parent_of(run)
        if parent in ids:
            helpers.setdefault(parent, []).append(row)
    return [
        _RunGroup(row, tuple(helpers.get(run.id, ())))
        for run, row in zip(runs, rows, strict=True)
        if _parent_of(run) not in ids
    ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _headline_metric(run: RunRecord) -> MetricRecord | None:
    # The metric present tells the task (roc_auc: classification, rmse: regression) without an
    # extra query for the dataset record.
    for name in HEADLINE_METRICS:
        metric = run.metric(name, stage=HEADLINE_STAGE)
        if metric is not None:
            return metric
    return None


def _stages_of(run: RunRecord) -> list[StageRecord]:
    if run.stages:
        return list(run.stages)
    # A store that listed runs without stages: fall back to the names and default paths.
    from ..store import RunStatus, StageRecord

    return [
        StageRecord(name, i, "", RunStatus.PENDING, None, None, None, None, None)
        for i, name in enumerate(run.stage_names)
    ]


def _stage_report(workspace: Workspace, run_id: str, stage: StageRecord) -> Path | None:
    """The stage's report file if it exists: the recorded path first, then the default one."""
    candidates = []
    if stage.report_path:
        recorded = Path(stage.report_path)
        # A relative recorded path is relative to the workspace ("reports/<id>/<stage>.html").
        candidates.append(
            recorded if recorded.is_absolute() else workspace.artifact_root / recorded
        )
    with contextlib.suppress(ConfigError):
        candidates.append(report_path(workspace, run_id, stage.name))
    return next((c for c in candidates if c.is_file()), None)


def _metric_value(metric: MetricRecord, value: float) -> str:
    """``value`` with the digits the metric's CI width supports (3 significant without one)."""
    width = None
    if metric.ci_low is not None and metric.ci_high is not None:
        width = metric.ci_high - metric.ci_low
    return format_value(metric.name, value, ci_width=width)


def _format_ci(metric: MetricRecord) -> str:
    if metric.ci_low is None or metric.ci_high is None:
        return ""
    low, high = _metric_value(metric, metric.ci_low), _metric_value(metric, metric.ci_high)
    return f"95% CI [{low}, {high}]"


def _format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _format_time(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _failure_summary(run: RunRecord) -> str:
    """One line saying where and why a failed run stopped; empty for other runs."""
    if str(run.status) != "failed":
        return ""
    error = run.error or next((s.error for s in run.stages if s.error), None)
    if not error:
        return "failed (no details recorded)"
    where = []
    if error.get("stage"):
        where.append(f"stage {error['stage']}")
    if error.get("cell_index") is not None:
        where.append(f"cell {error['cell_index']}")
    what = ": ".join(str(error[k]) for k in ("ename", "evalue") if error.get(k))
    if len(what) > _MAX_EVALUE:
        what = what[: _MAX_EVALUE - 1] + "…"
    summary = ", ".join(where)
    if what:
        summary = f"{summary}: {what}" if summary else what
    return summary or json.dumps(error, default=str)[:_MAX_EVALUE]


def publish_batch(workspace: Workspace, store: Store, result: BatchResult) -> BatchResult:
    """Write a finished batch's page, record it, rebuild the index; the result with both paths.

    Example::

        result = publish_batch(ws, store, LocalExecutor(workers=2).run(grid, ws, store))
    """
    page = write_batch_page(workspace, store, result.batch_id)
    store.set_batch_report(result.batch_id, page)
    index = build_index(workspace, store)
    return replace(result, page=str(page), index=str(index))
