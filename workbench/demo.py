"""`workbench demo`: the lifecycle that exists so far, on a builtin dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import Workspace
from .store import Store

__all__ = ["DEMO_DATASET", "DEMO_FAMILIES", "run_demo"]

DEMO_DATASET = "breast_cancer"
DEMO_FAMILIES = ("logreg", "rf")


def run_demo(ws: Workspace, store: Store, *, fast: bool = False, console: Any = None) -> Path:
    """Explore, search and evaluate two model families; returns the report index path."""
    from ._progress import RichProgress
    from .runner import Runner, RunRequest

    trials = 3 if fast else 20
    params = {"n_boot": 200} if fast else {}
    for family in DEMO_FAMILIES:
        request = RunRequest(
            dataset=DEMO_DATASET, model=family, trials=trials, seed=42, params=params
        )
        if console is None:
            Runner(ws, store).run(request)
            continue
        with RichProgress(console, label=f"demo {family}") as progress:
            outcome = Runner(ws, store, progress=progress).run(request)
        headline = outcome.metrics.get("roc_auc", {})
        console.print(
            f"  {family}: run {outcome.run_id} {outcome.status.value}, "
            f"test roc_auc {headline.get('value', float('nan')):.4f}"
        )
    return ws.index_path
