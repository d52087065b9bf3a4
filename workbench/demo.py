"""`workbench demo`: the lifecycle that exists so far, on a builtin dataset.

1. explore, search and evaluate two model families (one run each);
2. register both models, make the first the champion when there is none;
3. compare the second with the champion (deltas with CIs, gates) and promote it only if the
   decision says so;
4. export the champion as a `load`-mode bundle and release-check it (integration, system,
   performance and acceptance tests against a real stub on 127.0.0.1);
5. A/B-test the other model against the champion: shadow first (callers only ever see the
   champion), then a 50/50 online split, with simulated users;
6. record a few edge devices, one outdated, and show the update plan;
7. serve the champion a replayed stream that drifts halfway, monitor the prediction log and the
   delayed labels, decide whether to retrain, and (when the decision says so) retrain on the
   recent data and compare the new model with the champion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Workspace
from .reports import build_index
from .store import Store

__all__ = ["DEMO_DATASET", "DEMO_FAMILIES", "run_demo"]

DEMO_DATASET = "breast_cancer"
DEMO_FAMILIES = ("logreg", "rf")


def _say(console: Any, text: str) -> None:
    if console is not None:
        console.print(text)


def run_demo(ws: Workspace, store: Store, *, fast: bool = False, console: Any = None) -> Path:
    """Run the demo lifecycle; returns the report index path."""
    run_ids = [_train(ws, store, family, fast=fast, console=console) for family in DEMO_FAMILIES]
    _compare_and_promote(ws, store, run_ids, fast=fast, console=console)
    bundle = _release(ws, store, fast=fast, console=console)
    _abtest(ws, store, fast=fast, console=console)
    _inventory(ws, store, console=console)
    _monitor(ws, store, bundle, fast=fast, console=console)
    return build_index(ws, store)


def _train(ws: Workspace, store: Store, family: str, *, fast: bool, console: Any) -> str:
    from .progress import RichProgress
    from .runner import Runner, RunRequest

    request = RunRequest(
        dataset=DEMO_DATASET,
        model=family,
        trials=3 if fast else 20,
        seed=42,
        params={"n_boot": 200} if fast else {},
    )
    if console is None:
        outcome = Runner(ws, store).run(request)
    else:
        with RichProgress(console, label=f"demo {family}") as progress:
            outcome = Runner(ws, store, progress=progress).run(request)
    auc = outcome.metrics.get("roc_auc", {}).get("value", float("nan"))
    _say(
        console, f"  {family}: run {outcome.run_id} {outcome.status.value}, test roc_auc {auc:.4f}"
    )
    return outcome.run_id


def _compare_and_promote(
    ws: Workspace, store: Store, run_ids: list[str], *, fast: bool, console: Any
) -> None:
    from .compare import compare_and_report
    from .registry import aliases, promote, register_model

    for run_id in run_ids:
        register_model(store, run_id)
    if "champion" not in aliases(store):
        promote(store, run_ids[0], "champion", reason="demo: first model becomes the champion")
        _say(console, f"  champion: {run_ids[0]} (first model)")
    candidate = run_ids[-1]
    comparison = compare_and_report(
        ws, store, candidate, "champion", n_boot=200 if fast else 2000, seed=0
    )
    _say(console, f"  compare {candidate} vs champion: {comparison.decision}")
    for reason in comparison.to_dict().get("reasons", [])[:5]:
        _say(console, f"    - {reason}")
    if comparison.decision == "promote":
        promote(store, candidate, "champion", reason=f"demo: comparison {comparison.id}")
        _say(console, f"  champion: {candidate} (promoted)")


def _release(ws: Workspace, store: Store, *, fast: bool, console: Any) -> Path:
    from .release import release_stage

    # A failed gate is evidence for the reviewer, not a crash of the demo: it is in the report.
    report = release_stage(ws, store, "champion", fast=fast, console=console)
    return Path(report.bundle)


def _abtest(ws: Workspace, store: Store, *, fast: bool, console: Any) -> None:
    from .abtest import abtest_stage

    abtest_stage(ws, store, a_ref="champion", fast=fast, console=console)


def _inventory(ws: Workspace, store: Store, *, console: Any) -> None:
    from .inventory import inventory_stage

    # Before the monitor: its retraining must not change which version is "the other model".
    inventory_stage(ws, store, console=console)


def _monitor(ws: Workspace, store: Store, bundle: Path, *, fast: bool, console: Any) -> None:
    from .retrain._demo import monitor_stage

    monitor_stage(ws, store, champion_ref="champion", fast=fast, bundle_dir=bundle, console=console)
