"""What the demo, the report index and notebook 05 ask of release checks (compose layer).

``release_sections`` (the index's table), ``notebook_release`` and ``open_workspace``
(notebook 05's helpers) and ``release_stage`` (the demo's) sit above the services: they only
call this package's public functions and those of :mod:`workbench.export` and
:mod:`workbench.registry`. They are kept apart here so the index, the notebook helpers and the
demo can take them in one move.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.gates import Gate
from workbench.store import RunStatus

from ._report import ReleaseReport
from ._run import get_release, list_releases, release_check

if TYPE_CHECKING:
    from workbench.config import Workspace
    from workbench.reports import IndexSection
    from workbench.store import Store

#: The ``reports.SECTION_PROVIDERS`` entry that puts release checks on the index page.
INDEX_PROVIDER = "workbench.release:release_sections"


# -- index --------------------------------------------------------------------------------------


def _link(ws: Workspace, path: str | None, label: str, tooltip: str) -> Any:
    from workbench.reports import IndexLink

    if not path or not Path(path).is_file():
        return "—"
    href = os.path.relpath(Path(path).resolve(), ws.reports_dir.resolve())
    return IndexLink(label, Path(href).as_posix(), tooltip=tooltip)


def release_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Release checks" table of ``reports/index.html`` (a ``SECTION_PROVIDERS`` entry)."""
    from workbench.reports import IndexSection

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
    from workbench.registry import aliases

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
    from workbench.export import export_run

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
    from workbench.export import export_run

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
    from workbench.store import open_workspace as open_ws

    return open_ws(workspace or None)
