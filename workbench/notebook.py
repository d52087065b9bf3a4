"""What the report notebooks call: open the workspace, then show a stored record or make one.

Compose layer, one home for the helpers of notebooks 04–07 (the stage notebooks 01–03 use
:class:`workbench.context.RunContext`). Each ``show_*`` helper returns the record to display,
or ``None`` after printing why there is nothing to show, so a notebook stops gracefully.

Example (the first cell of notebook 04)::

    from workbench import notebook as nb

    ws, store = nb.open_workspace(workspace)
    comparison = nb.show_comparison(ws, store, comparison_id=comparison_id, baseline="champion")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .exceptions import RunNotFound
from .store import RunStatus

if TYPE_CHECKING:
    from .abtest import ABTest
    from .compare import Comparison
    from .config import Workspace
    from .monitor import MonitorReport
    from .release import ReleaseReport
    from .store import Store

__all__ = [
    "open_workspace",
    "show_abtest",
    "show_comparison",
    "show_monitor_report",
    "show_release",
]


def open_workspace(workspace: str = "") -> tuple[Workspace, Store]:
    """The workspace (``""``: ``WORKBENCH_HOME`` or ``./workspace``) and its store."""
    from .store import open_workspace as open_ws

    return open_ws(workspace or None)


def show_comparison(
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
    """
    from .compare import comparable_runs, compare_runs, get_comparison
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


def default_release_ref(store: Store) -> str | None:
    """The champion if there is one, else the newest succeeded run with test metrics."""
    from .registry import aliases

    if "champion" in aliases(store):
        return "champion"
    for run in store.list_runs():  # newest first; an evaluated run has saved its model
        if run.status is RunStatus.SUCCEEDED and any(m.stage == "evaluate" for m in run.metrics):
            return run.id
    return None


def show_release(
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
    """
    from .export import export_run
    from .release import get_release, release_check

    if release_id:
        return get_release(store, release_id)
    ref = run_id or default_release_ref(store)
    if ref is None:
        print("nothing to release: no champion and no evaluated run; `workbench run ...` first")
        return None
    manifest = export_run(ws, store, ref, mode=mode, overwrite=True)  # type: ignore[arg-type]
    print(f"exported {ref} ({manifest.model_version}) to {manifest.bundle_dir}")
    return release_check(
        ws, store, manifest.bundle_dir, gates=gates or None, duration_s=duration_s,
        concurrency=concurrency, report=False,
    )  # fmt: skip


def show_abtest(store: Store, abtest_id: str = "") -> ABTest | None:
    """What notebook 06 shows: the given A/B test, else the newest stored one."""
    from .abtest import list_abtests, load_abtest

    if abtest_id:
        return load_abtest(store, abtest_id)
    stored = list_abtests(store, limit=1)
    if stored:
        print(f"showing the newest stored A/B test, {stored[0].id}")
        return stored[0]
    print("nothing to show yet: run `workbench abtest --a REF --b REF --mode online|shadow`")
    return None


def show_monitor_report(
    ws: Workspace,
    store: Store,
    *,
    report_id: str = "",
    log: str = "",
    bundle: str = "",
    labels: str = "",
    window: int = 250,
) -> MonitorReport | None:
    """What notebook 07 shows: a stored report, a new one from files, or the newest stored."""
    from .monitor import list_reports, load_report, monitor_files, save_report

    if report_id:
        return load_report(store, report_id)
    if log or bundle:
        report = monitor_files(
            log=log or None, bundle=bundle or None, labels=labels or None, window=window, ws=ws
        )
        save_report(store, report)
        return report
    stored = list_reports(store, limit=1)
    if stored:
        print(f"showing the newest stored report, {stored[0].id}")
        return load_report(store, stored[0].id)
    print(
        "nothing to show: set `log` (a prediction log) and `bundle`, or run "
        "`workbench monitor --log FILE --bundle DIR`"
    )
    return None
