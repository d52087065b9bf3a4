"""The demo's stages before monitoring: train, compare and promote, release, A/B test, inventory.

Each stage composes services for a person watching the demo: it narrates on a rich console
(``console=None``: silent) and leaves every record in the store and every page on disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..abtest import ABTest
    from ..config import Workspace
    from ..gates import Gate
    from ..inventory import InventoryView
    from ..release import ReleaseReport
    from ..store import Store

__all__ = [
    "DEMO_DATASET",
    "DEMO_DEVICES",
    "DEMO_FAMILIES",
    "abtest_stage",
    "compare_stage",
    "inventory_stage",
    "release_stage",
    "train_stage",
]

DEMO_DATASET = "breast_cancer"
DEMO_FAMILIES = ("logreg", "rf")
DEMO_DEVICES = (
    ("pilot-01", "pilot"),
    ("pilot-02", "pilot"),
    ("store-01", "stores"),
    ("store-02", "stores"),
    ("store-03", "stores"),
)


def say(console: Any, text: str) -> None:
    """Print one narration line (user text: no rich markup, no highlighting)."""
    if console is not None:
        console.print(text, highlight=False, markup=False)


def train_stage(
    ws: Workspace, store: Store, families: Sequence[str], *, fast: bool, console: Any
) -> list[str]:
    """Explore, search and evaluate each model family on the demo dataset; their run ids.

    The runs are one batch (:class:`workbench.batch.LocalExecutor`), side by side on up to two
    cores: the slower family's search no longer waits for the faster one's. The batch and its
    page are recorded like any ``workbench batch``.
    """
    from ..batch import LocalExecutor, NoProgress, available_cores, parse_grid
    from ..exceptions import RunFailed
    from ..progress import RichBatchProgress
    from ..reports import publish_batch
    from ..runner import Runner

    grid = parse_grid(
        {
            "name": "demo",
            "datasets": [DEMO_DATASET],
            "models": list(families),
            "trials": 3 if fast else 20,
            "seed": 42,
            # --fast: shorter bootstraps and a 2 s latency budget (the CI says what that costs).
            "params": {"n_boot": 200, "latency_seconds": 2.0} if fast else {},
        },
        runner=Runner(ws, store),
        source="the demo",
    )
    executor = LocalExecutor(workers=max(1, min(len(families), available_cores())))
    if console is None:
        result = executor.run(grid, ws, store, progress=NoProgress())
    else:
        with RichBatchProgress(console, grid_name=grid.name) as progress:
            result = executor.run(grid, ws, store, progress=progress)
    result = publish_batch(ws, store, result)
    by_model = {r.model: r for r in result.runs}
    for r in result.runs:
        if not r.ok:
            raise RunFailed(
                f"the demo's {r.model} run {r.run_id} {r.status}: {r.error or r.note}; "
                f"`workbench show {r.run_id}` has the details"
            )
    for family in families:
        run_id = by_model[family].run_id
        auc = store.get_run(run_id).metric("roc_auc", "evaluate")
        shown = f"{auc.value:.4f}" if auc is not None else "not recorded"
        say(console, f"  {family}: run {run_id} succeeded, test roc_auc {shown}")
    return [by_model[f].run_id for f in families]


def compare_stage(
    ws: Workspace, store: Store, run_ids: Sequence[str], *, fast: bool, console: Any
) -> None:
    """Register the runs, make the first the champion, compare the last with it, and promote it
    only when the comparison says so."""
    from ..compare import compare_and_report
    from ..registry import aliases, promote, register_model

    for run_id in run_ids:
        register_model(store, run_id)
    if "champion" not in aliases(store):
        promote(store, run_ids[0], "champion", reason="demo: first model becomes the champion")
        say(console, f"  champion: {run_ids[0]} (first model)")
    candidate = run_ids[-1]
    comparison = compare_and_report(
        ws, store, candidate, "champion", n_boot=200 if fast else 2000, seed=0
    )
    say(console, f"  compare {candidate} vs champion: {comparison.decision}")
    for reason in comparison.to_dict().get("reasons", [])[:5]:
        say(console, f"    - {reason}")
    if comparison.decision == "promote":
        promote(store, candidate, "champion", reason=f"demo: comparison {comparison.id}")
        say(console, f"  champion: {candidate} (promoted)")


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
    from ..export import export_run
    from ..release import release_check

    manifest = export_run(ws, store, ref, mode="load", overwrite=True)
    report = release_check(ws, store, manifest.bundle_dir, gates=gates, duration_s=2 if fast else 5)
    if console is not None:
        for line in report.summary_lines():
            console.print(line, highlight=False, markup=False)
        if report.report_path:
            console.print(f"  report: {report.report_path}", highlight=False, markup=False)
    return report


def abtest_stage(
    ws: Workspace,
    store: Store,
    *,
    a_ref: str = "champion",
    b_ref: str | None = None,
    fast: bool = False,
    console: Any = None,
    seed: int = 0,
    report: bool = True,
) -> list[ABTest]:
    """The demo's A/B stage: a shadow test, then an online 50/50 split, champion vs the other model.

    Args:
        ws: The workspace.
        store: Its store.
        a_ref: The running model (A).
        b_ref: The candidate (B); default the newest registered version other than A's.
        fast: 600 requests per test and 300 bootstrap resamples (else 2000 and 1000).
        console: A rich console for the summaries.
        seed: Seed of the traffic, the users and the bootstrap.
        report: Render both HTML reports and rebuild the index.

    Returns:
        ``[shadow, online]`` (empty when there is no second model to test).
    """
    from ..abtest import run_abtest

    b_ref = b_ref or _other_version(store, a_ref)
    if b_ref is None:
        say(console, "  abtest: skipped, only one model is registered")
        return []
    n, n_boot = (600, 300) if fast else (2000, 1000)
    out = []
    for mode in ("shadow", "online"):
        test = run_abtest(
            ws,
            store,
            a_ref,
            b_ref,
            mode=mode,
            split=0.5,
            requests=n,
            seed=seed,
            n_boot=n_boot,
            report=report,
        )
        for line in test.summary_lines():
            say(console, f"  {line}")
        if test.report_path:
            say(console, f"  report: {test.report_path}")
        out.append(test)
    return out


def _other_version(store: Store, a_ref: str) -> str | None:
    """The newest registered version that is not ``a_ref``'s (the demo's challenger)."""
    from ..registry import list_models, resolve_ref

    a_run = resolve_ref(store, a_ref)
    return next((v.ref for v in list_models(store) if v.run_id != a_run), None)


def inventory_stage(ws: Workspace, store: Store, *, console: Any = None) -> InventoryView:
    """The demo's inventory stage: a few devices in two groups, one outdated, and the plan.

    Every device runs the champion except ``pilot-02``, which runs the other registered
    version (or nothing when there is none). Devices already in the inventory are left as
    they are, so the demo can run again on the same workspace.
    """
    from ..inventory import add_device, inventory_view, list_devices
    from ..registry import aliases, list_models

    champion = aliases(store).get("champion")
    if champion is None:
        say(console, "  inventory: skipped, no champion yet")
        return inventory_view(store)
    other = next((v.ref for v in list_models(store) if v.version != champion.version), None)
    known = {d.name for d in list_devices(store)}
    for name, group in DEMO_DEVICES:
        if name in known:
            continue
        model = other if name == "pilot-02" else champion.ref
        add_device(store, name, group=group, model=model, note="demo device")
    view = inventory_view(store)
    c = view.counts()
    say(
        console,
        f"  inventory: {len(view.devices)} devices, champion {champion.ref}: "
        f"{c['current']} current, {c['outdated']} outdated, {c['unassigned']} unassigned",
    )
    for line in view.plan.lines():
        say(console, f"  {line}")
    return view
