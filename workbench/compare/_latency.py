"""Latency evidence of a comparison: the runs' recorded timings, or both models re-timed side
by side in this process when the places they were timed in differ.

A latency recorded in a busy JupyterLab kernel and one recorded in a batch kernel say more
about the kernels than about the models. Each run's evaluate stage keeps its timings and their
context (``latency.json``, :mod:`workbench.latency`); when the two contexts differ
(:func:`~workbench.latency.context_difference`), or when asked, both models are loaded and
timed interleaved on the same test rows with the same thread limit
(:func:`~workbench.latency.time_models`), and the comparison's latency entries (values, delta,
ratio with their intervals) come from that paired measurement. Otherwise the recorded timings
are compared as they are (an unpaired bootstrap over the calls).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.exceptions import WorkbenchError
from workbench.latency import (
    LATENCY_FILE,
    LATENCY_METRICS,
    Latency,
    LatencyDelta,
    context_difference,
    latency_deltas,
    time_models,
)

from ._types import _run_file

if TYPE_CHECKING:
    import numpy as np

    from workbench.config import Workspace
    from workbench.store import RunRecord

#: When a comparison times both models again: ``auto`` when their recorded contexts differ
#: (or one has none), ``always``, or ``never`` (compare what the runs recorded).
REMEASURE = ("auto", "always", "never")
REMEASURED = "re-measured side by side in one process"
#: Single-row call pairs timed at least, past the time budget if need be: with fewer, a p99 is
#: the largest call of each model and its interval is too narrow to gate on.
MIN_PAIRS = 60
RECORDED = "as recorded by each run"


@dataclass(frozen=True)
class LatencyEvidence:
    """How a comparison got its latency numbers.

    Attributes:
        measured: :data:`REMEASURED` or :data:`RECORDED`.
        reason: Why (the contexts' difference, a failed re-measurement, ...).
        deltas: Per latency metric, candidate vs baseline with intervals; ``None`` when a run
            kept no timings (only its recorded values are known).
        contexts: The recorded contexts (``candidate``, ``baseline``) and, when re-measured,
            the context of this measurement (``paired``).
        recorded: Each run's recorded latency values.
        seconds: Wall time of the re-measurement (loading and timing), else ``None``.
    """

    measured: str
    reason: str
    deltas: dict[str, LatencyDelta] | None
    contexts: dict[str, Any]
    recorded: dict[str, dict[str, float | None]]
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "measured": self.measured,
            "reason": self.reason,
            "paired": bool(self.deltas) and all(d.paired for d in (self.deltas or {}).values()),
            "contexts": self.contexts,
            "recorded": self.recorded,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


def _recorded_timings(ws: Workspace, run: RunRecord) -> Latency | None:
    path = _run_file(ws, run, LATENCY_FILE)
    if not path.is_file():
        return None
    try:
        return Latency.from_dict(json.loads(path.read_text()), n_boot=200)
    except (ValueError, KeyError, TypeError):
        return None


def _recorded_values(run: RunRecord) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in LATENCY_METRICS:
        m = run.metric(name, stage="evaluate")
        out[name] = None if m is None else float(m.value)
    return out


def _load_pipe(run: RunRecord) -> Any:
    from pathlib import Path

    from workbench.exceptions import ModelError
    from workbench.modelio import load_model

    art = run.artifact("model")
    if art is None or not Path(art.path).is_file():
        raise ModelError(f"run {run.id} has no model file to time")
    return load_model(Path(art.path), sha256=art.sha256)


def _test_features(run: RunRecord, rows: np.ndarray) -> Any:
    from workbench.datasets import dataset_from_params
    from workbench.exceptions import DatasetError

    dataset = run.params.get("dataset")
    if not dataset:
        raise DatasetError(f"run {run.id} recorded no dataset to load its test rows from")
    ds = dataset_from_params(run.params)
    if ds.fingerprint != run.dataset_fingerprint:
        raise DatasetError(
            f"the data of run {run.id} ({dataset}) changed since it was evaluated "
            f"(fingerprint {str(run.dataset_fingerprint)[:12]} → {ds.fingerprint[:12]})"
        )
    return ds.X.iloc[rows]


def latency_evidence(
    ws: Workspace,
    cand: RunRecord,
    base: RunRecord,
    rows: np.ndarray,
    *,
    remeasure: str = "auto",
    max_seconds: float = 10.0,
    n_boot: int = 1000,
    seed: int = 0,
) -> LatencyEvidence:
    """The latency numbers of a comparison (see the module docstring).

    Args:
        ws: The workspace.
        cand: The candidate run.
        base: The baseline run.
        rows: The shared test rows (positions in the dataset) the models are timed on.
        remeasure: One of :data:`REMEASURE`.
        max_seconds: Time budget of the paired timing.
        n_boot: Resamples of the intervals.
        seed: Seed of the rows timed and of the resampling.

    A re-measurement that cannot be done (a model file or the dataset is gone) falls back to
    the recorded numbers, and the reason says so.
    """
    from workbench.exceptions import ConfigError

    if remeasure not in REMEASURE:
        raise ConfigError(f"remeasure must be one of {', '.join(REMEASURE)}; got {remeasure!r}")
    lc, lb = _recorded_timings(ws, cand), _recorded_timings(ws, base)
    contexts: dict[str, Any] = {
        "candidate": lc.context if lc else None,
        "baseline": lb.context if lb else None,
    }
    recorded = {"candidate": _recorded_values(cand), "baseline": _recorded_values(base)}
    differ = context_difference(contexts["candidate"], contexts["baseline"])
    failed = ""
    if remeasure == "always" or (remeasure == "auto" and differ is not None):
        why = "asked to re-measure" if differ is None else f"recorded contexts differ: {differ}"
        started = time.perf_counter()
        try:
            X = _test_features(cand, rows)
            pipes = [_load_pipe(base), _load_pipe(cand)]
            a, b = time_models(
                pipes, X, seed=seed, max_seconds=max_seconds, n_boot=n_boot,
                min_single=MIN_PAIRS,
            )  # fmt: skip
        except (WorkbenchError, OSError) as e:
            failed = f"{why}, but they could not be re-measured ({e}); "
        else:
            contexts["paired"] = a.context
            deltas = latency_deltas(b, a, paired=True, n_boot=n_boot, seed=seed)
            seconds = time.perf_counter() - started
            return LatencyEvidence(REMEASURED, why, deltas, contexts, recorded, seconds)
    if lc is None or lb is None:
        reason = failed + "a run kept no timings, so only the recorded values are compared"
        return LatencyEvidence(RECORDED, reason, None, contexts, recorded)
    reason = failed + (
        "both were timed in the same context" if differ is None else f"contexts differ: {differ}"
    )
    deltas = latency_deltas(lc, lb, paired=False, n_boot=n_boot, seed=seed)
    return LatencyEvidence(RECORDED, reason, deltas, contexts, recorded)
