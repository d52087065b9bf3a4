"""`workbench demo`: the lifecycle that exists so far, on a builtin dataset.

1. explore, search and evaluate two model families (one run each, side by side as a batch);
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
from typing import TYPE_CHECKING, Any

from ..reports import build_index
from ._monitor import DEMO_DRIFT_FEATURES, MonitorStageResult, monitor_stage
from ._stages import (
    DEMO_DATASET,
    DEMO_DEVICES,
    DEMO_FAMILIES,
    abtest_stage,
    compare_stage,
    inventory_stage,
    release_stage,
    train_stage,
)

if TYPE_CHECKING:
    from ..config import Workspace
    from ..store import Store

__all__ = [
    "DEMO_DATASET",
    "DEMO_DEVICES",
    "DEMO_DRIFT_FEATURES",
    "DEMO_FAMILIES",
    "MonitorStageResult",
    "abtest_stage",
    "compare_stage",
    "inventory_stage",
    "monitor_stage",
    "release_stage",
    "run_demo",
    "train_stage",
]


def run_demo(ws: Workspace, store: Store, *, fast: bool = False, console: Any = None) -> Path:
    """Run the demo lifecycle; returns the report index path."""
    run_ids = train_stage(ws, store, DEMO_FAMILIES, fast=fast, console=console)
    compare_stage(ws, store, run_ids, fast=fast, console=console)
    # A failed gate is evidence for the reviewer, not a crash of the demo: it is in the report.
    release = release_stage(ws, store, "champion", fast=fast, console=console)
    abtest_stage(ws, store, a_ref="champion", fast=fast, console=console)
    # Before the monitor: its retraining must not change which version is "the other model".
    inventory_stage(ws, store, console=console)
    monitor_stage(
        ws, store, champion_ref="champion", fast=fast, bundle_dir=release.bundle, console=console
    )
    return build_index(ws, store)
