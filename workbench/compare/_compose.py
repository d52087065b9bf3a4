"""What the report index and notebook 04 ask of comparisons (compose layer, moving out).

``index_sections`` (the index's comparisons, registry and audit tables), ``open_workspace`` and
``notebook_comparison`` (notebook 04's helpers) sit above the services: they only call the
public functions of this package and of :mod:`workbench.registry`. They are kept apart here so
the report index and the notebook helpers can take them in one move.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import RunNotFound

from ._records import get_comparison, list_comparisons
from ._run import comparable_runs, compare_runs
from ._types import Comparison, MetricDelta

if TYPE_CHECKING:
    from workbench.config import Workspace
    from workbench.reports import IndexSection
    from workbench.store import Store


# -- index sections -----------------------------------------------------------------------------


def index_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """Tables for ``reports/index.html``: comparisons (newest first) and the registry.

    Pass them to :func:`workbench.reports.build_index` as ``extra_sections``.
    """
    from workbench.registry import audit_trail, list_models
    from workbench.reports import IndexLink, IndexSection

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
    from workbench.store import open_workspace as open_ws

    return open_ws(workspace or None)


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
    from workbench.registry import resolve_ref

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
        others = [r for r in comparable_runs(store, fp) if r.id != base_id]
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
