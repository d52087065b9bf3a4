"""Latency you can gate on: timings with repeats, bootstrap intervals and a recorded context.

A latency number depends on where it was taken: the same model measured 3.4 ms in a batch
kernel and 22.6 ms in a busy JupyterLab kernel. So every measurement here

* times many calls (single rows, then batches) with the BLAS/OpenMP pools limited to a fixed
  number of threads (:data:`LATENCY_THREADS`), and reports p50/p99 and rows/s with percentile
  bootstrap intervals over the calls (:class:`Latency`);
* records its context (:func:`latency_context`: process kind — batch kernel, lab kernel, CLI
  process —, thread limit, CPU count, load average, host, Python), kept with the run in
  ``latency.json`` beside the metrics;
* can time several models **interleaved in one process** on the same rows
  (:func:`time_models`), so their calls pair one by one and :func:`latency_deltas` gives the
  difference and the ratio candidate / baseline with a paired interval.

Comparisons (:mod:`workbench.compare`) re-measure both models side by side whenever their
recorded contexts differ (:func:`context_difference`), and latency gates read that ratio.

Example::

    lat = time_model(pipe, X_test)                # Latency: estimates, timings, context
    a, b = time_models([champion, candidate], X_test)
    latency_deltas(b, a, paired=True)["single_p99_ms"].ratio   # Estimate with its CI
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .exceptions import ConfigError
from .gates import COST_METRICS, TIMED_METRICS
from .stats import Estimate, bootstrap_quantile, bootstrap_quantile_delta

__all__ = [
    "LATENCY_FILE",
    "LATENCY_METRICS",
    "LATENCY_THREADS",
    "MAX_LOAD_GAP",
    "Latency",
    "LatencyDelta",
    "context_difference",
    "latency_context",
    "latency_deltas",
    "measure_latency",
    "process_kind",
    "time_model",
    "time_models",
]

#: Threads the BLAS and OpenMP pools are limited to while a model is timed: the stub answers
#: one row at a time, and a fixed count makes timings from different processes comparable.
LATENCY_THREADS = 1
#: The run file keeping a latency measurement: its context, estimates and raw timings.
LATENCY_FILE = "latency.json"
#: Latency metrics a measurement gives (each with a bootstrap CI), and whether higher is better
#: (the timed ones of the gates' cost metrics).
LATENCY_METRICS: dict[str, bool] = {k: v for k, v in COST_METRICS.items() if k in TIMED_METRICS}
_QUANTILES = {"single_p50_ms": 0.5, "single_p99_ms": 0.99}
# Context keys that must match for two measurements to be comparable as they are.
_SAME_PLACE = ("host", "machine", "cpu_count", "process", "threads", "python")
#: Largest difference of the 1-minute load average per CPU between two comparable measurements.
MAX_LOAD_GAP = 0.5


def process_kind() -> str:
    """Where this process runs a model: ``batch kernel`` (``workbench run``, batch reports),
    ``lab kernel`` (JupyterLab), ``papermill kernel``, ``kernel`` (another Jupyter client) or
    ``process`` (the CLI, a script, a test)."""
    import os

    from .labruns import detect_door

    if os.environ.get("WORKBENCH_BATCH"):
        return "batch kernel"
    source = detect_door().source
    return {"lab": "lab kernel", "papermill": "papermill kernel"}.get(
        source, "kernel" if source == "kernel" else "process"
    )


def latency_context(*, threads: int | None = LATENCY_THREADS) -> dict[str, Any]:
    """What a latency measurement depends on, recorded with it.

    Returns:
        ``process`` (:func:`process_kind`), ``program`` (``sys.argv[0]``'s name), ``threads``
        (the pool limit while timing; ``None``: the defaults), ``pool_threads`` (the pools'
        default sizes), ``cpu_count``, ``load_1m`` (1-minute load average, ``None`` where the
        system has none), ``host``, ``machine``, ``python``.
    """
    import os
    import platform
    import sys

    from threadpoolctl import threadpool_info

    pools: dict[str, int] = {}
    for pool in threadpool_info():
        api = str(pool.get("user_api"))
        pools[api] = max(pools.get(api, 0), int(pool.get("num_threads") or 0))
    try:
        load: float | None = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        load = None
    return {
        "process": process_kind(),
        "program": Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "",
        "threads": threads,
        "pool_threads": pools,
        "cpu_count": os.cpu_count(),
        "load_1m": load,
        "host": platform.node(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def context_difference(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> str | None:
    """Why two latency contexts are not comparable as they are, or ``None`` when they are:
    same host, machine, CPUs, process kind, thread limit and Python, and load averages per CPU
    within :data:`MAX_LOAD_GAP` of each other. A missing context is never comparable."""
    if not a or not b:
        return "a run recorded no latency context (measured before contexts were recorded)"
    for key in _SAME_PLACE:
        if a.get(key) != b.get(key):
            return f"{key} differs ({a.get(key)!r} vs {b.get(key)!r})"
    la, lb, cpus = a.get("load_1m"), b.get("load_1m"), a.get("cpu_count") or 1
    if la is None or lb is None:
        return "the machine load was not recorded"
    if abs(float(la) - float(lb)) / cpus > MAX_LOAD_GAP:
        return f"the machine load differed ({la} vs {lb} on {cpus} CPUs)"
    return None


@dataclass(frozen=True, eq=False)
class Latency:
    """The timings of one model, their estimates and where they were taken.

    Attributes:
        single_ms: Each timed single-row call, in ms.
        batch_s: Each timed batch call, in seconds.
        batch_rows: Rows per batch call.
        context: :func:`latency_context` at the time of the measurement (load: the larger of
            before and after).
        estimates: :data:`LATENCY_METRICS` with percentile-bootstrap intervals over the calls.
    """

    single_ms: np.ndarray
    batch_s: np.ndarray
    batch_rows: int
    context: dict[str, Any]
    estimates: dict[str, Estimate]

    @classmethod
    def from_timings(
        cls,
        single_ms: npt.ArrayLike,
        batch_s: npt.ArrayLike,
        batch_rows: int,
        context: Mapping[str, Any],
        *,
        n_boot: int = 1000,
        seed: int = 0,
        confidence: float = 0.95,
    ) -> Latency:
        """Estimates with intervals from raw timings (bootstrap over the calls)."""
        single = np.asarray(single_ms, dtype=float)
        batch = np.asarray(batch_s, dtype=float)
        est = {
            name: bootstrap_quantile(single, q, n_boot=n_boot, seed=seed, confidence=confidence)
            for name, q in _QUANTILES.items()
        }
        est["batch_rows_per_s"] = bootstrap_quantile(
            batch_rows / np.maximum(batch, 1e-12), 0.5, n_boot=n_boot, seed=seed,
            confidence=confidence,
        )  # fmt: skip
        return cls(single, batch, int(batch_rows), dict(context), est)

    def describe(self) -> str:
        """Where and how it was timed, e.g. ``timed in a batch kernel on host vm (2 CPUs, load
        0.4), 1 thread, 200 single-row calls and 5 batches of 114 rows``."""
        c = self.context
        threads = c.get("threads")
        pool = "default threads" if threads is None else f"{threads} thread(s)"
        return (
            f"timed in a {c.get('process', '?')} on host {c.get('host', '?')} "
            f"({c.get('cpu_count', '?')} CPUs, load {c.get('load_1m', '?')}), {pool}, "
            f"{len(self.single_ms)} single-row calls and {len(self.batch_s)} batches of "
            f"{self.batch_rows} rows"
        )

    def metrics(self) -> dict[str, Estimate]:
        """The latency metrics the evaluate stage records (with their intervals)."""
        return {name: self.estimates[name] for name in LATENCY_METRICS}

    def summary(self) -> dict[str, float]:
        """The numbers :func:`measure_latency` returns."""
        return {
            "single_p50_ms": self.estimates["single_p50_ms"].value,
            "single_p99_ms": self.estimates["single_p99_ms"].value,
            "single_mean_ms": float(self.single_ms.mean()),
            "n_single": len(self.single_ms),
            "batch_rows": self.batch_rows,
            "batch_rows_per_s": self.estimates["batch_rows_per_s"].value,
            "batch_repeats": len(self.batch_s),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON kept in :data:`LATENCY_FILE` (raw timings included, so a comparison can
        bootstrap the ratio of two runs measured in the same context)."""
        return {
            "schema": 1,
            "context": self.context,
            "metrics": {
                k: {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}
                for k, e in self.estimates.items()
            },
            "batch_rows": self.batch_rows,
            "single_ms": [round(float(x), 6) for x in self.single_ms],
            "batch_s": [float(x) for x in self.batch_s],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], **options: Any) -> Latency:
        """Rebuild a measurement from :meth:`to_dict` (estimates recomputed; ``options`` as in
        :meth:`from_timings`)."""
        return cls.from_timings(
            d["single_ms"], d["batch_s"], int(d["batch_rows"]), d.get("context") or {}, **options
        )


def _take_rows(X: Any, rows: np.ndarray | slice) -> Any:
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    return np.asarray(X)[rows]


def time_models(
    pipes: Sequence[Any],
    X: Any,
    *,
    n_single: int = 200,
    batch_rows: int | None = None,
    seed: int = 0,
    max_seconds: float = 10.0,
    method: str | None = None,
    n_warmup: int = 5,
    threads: int | None = LATENCY_THREADS,
    n_boot: int = 1000,
    confidence: float = 0.95,
    min_single: int = 1,
) -> list[Latency]:
    """Time one or more fitted models in this process, interleaved, on the same rows.

    Rows are picked from ``X`` with a seeded generator and sliced before timing, so only the
    model call is measured (``time.perf_counter``). With several models the calls alternate
    (row ``i`` goes to every model in turn, the order rotating from row to row), so a burst of
    machine load hits all of them alike and their timings pair call by call. The BLAS/OpenMP
    pools are limited to ``threads`` meanwhile. A few warm-up calls come first. Both phases are
    bounded in count and in time: single-row rounds stop after ``n_single`` or half of
    ``max_seconds`` (but not before ``min_single``); batch rounds after 5 or the rest of the
    budget, with at least one timed round each.

    Args:
        pipes: Fitted estimators or Pipelines.
        X: Feature rows (DataFrame or array) to draw inputs from.
        n_single: Maximum number of timed single-row calls per model.
        batch_rows: Rows per batch call; default ``min(len(X), 1000)``. Larger than ``len(X)``
            samples rows with replacement.
        seed: Seed of the row selection and of the bootstrap.
        max_seconds: Time budget for both phases together (warm-up excluded).
        method: Method to call; default ``"predict_proba"`` when every model has it, else
            ``"predict"``.
        n_warmup: Untimed calls before each phase.
        threads: Thread limit of the pools while timing (``None``: leave them as they are).
        n_boot: Bootstrap resamples of the intervals.
        confidence: Coverage of the intervals.
        min_single: Single-row rounds timed even past the budget: a p99 of a few dozen calls
            is their maximum, and its interval is too optimistic (comparisons ask for 60).

    Returns:
        One :class:`Latency` per model, with as many calls each.

    Raises:
        ConfigError: ``X`` is empty, a count or budget is not positive, or ``method`` is missing.
    """
    from threadpoolctl import threadpool_limits

    n = len(X)
    if n == 0:
        raise ConfigError("X is empty; measuring latency needs at least one row")
    if n_single < 1 or max_seconds <= 0 or (batch_rows is not None and batch_rows < 1):
        raise ConfigError(
            f"n_single ({n_single}), batch_rows ({batch_rows}) and max_seconds ({max_seconds}) "
            "must be positive"
        )
    if method is None:
        every = all(hasattr(p, "predict_proba") for p in pipes)
        method = "predict_proba" if every else "predict"
    calls = []
    for pipe in pipes:
        call = getattr(pipe, method, None)
        if call is None:
            raise ConfigError(f"{type(pipe).__name__} has no method {method!r}; use predict")
        calls.append(call)
    k = len(calls)
    rng = np.random.default_rng(seed)
    rows = [_take_rows(X, slice(i, i + 1)) for i in rng.integers(0, n, size=n_single)]
    b = min(n, 1000) if batch_rows is None else batch_rows
    batch = _take_rows(X, np.arange(b) if b <= n else rng.integers(0, n, size=b))
    before = latency_context(threads=threads)
    with threadpool_limits(limits=threads) if threads is not None else contextlib.nullcontext():
        single = _timed_rounds(calls, rows, n_warmup, max_seconds / 2, min(min_single, n_single))
        batched = _timed_rounds(calls, [batch] * 5, 1, max_seconds / 2)
    context = latency_context(threads=threads)
    if before["load_1m"] is not None and context["load_1m"] is not None:
        context["load_1m"] = max(before["load_1m"], context["load_1m"])
    context["interleaved"] = k
    return [
        Latency.from_timings(
            np.asarray(single[j]) * 1e3,
            batched[j],
            b,
            context,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
        )
        for j in range(k)
    ]


def _timed_rounds(
    calls: Sequence[Any],
    inputs: Sequence[Any],
    n_warmup: int,
    budget_s: float,
    min_rounds: int = 1,
) -> list[list[float]]:
    """Seconds of each call per model: input ``i`` goes to every model, starting with model
    ``i mod k``; stops after the round in which the budget ran out (``min_rounds`` at least)."""
    clock = time.perf_counter
    k = len(calls)
    for x in inputs[: max(0, n_warmup)]:
        for call in calls:
            call(x)
    out: list[list[float]] = [[] for _ in calls]
    deadline = clock() + budget_s
    for i, x in enumerate(inputs):
        for step in range(k):
            j = (i + step) % k
            t0 = clock()
            calls[j](x)
            out[j].append(clock() - t0)
        if i + 1 >= min_rounds and clock() > deadline:
            break
    return out


def time_model(pipe: Any, X: Any, **options: Any) -> Latency:
    """:func:`time_models` for one model."""
    return time_models([pipe], X, **options)[0]


def measure_latency(
    pipe: Any,
    X: Any,
    *,
    n_single: int = 200,
    batch_rows: int | None = None,
    seed: int = 0,
    max_seconds: float = 10.0,
    method: str | None = None,
    n_warmup: int = 5,
) -> dict[str, float]:
    """Single-row latency and batch throughput of a fitted model in this process, as numbers
    (:func:`time_model` keeps the timings, their intervals and context).

    Returns:
        ``{"single_p50_ms", "single_p99_ms", "single_mean_ms", "n_single", "batch_rows",
        "batch_rows_per_s", "batch_repeats"}``.

    Raises:
        ConfigError: ``X`` is empty, a count or budget is not positive, or ``method`` is missing.
    """
    return time_model(
        pipe, X, n_single=n_single, batch_rows=batch_rows, seed=seed, max_seconds=max_seconds,
        method=method, n_warmup=n_warmup, n_boot=200,
    ).summary()  # fmt: skip


@dataclass(frozen=True)
class LatencyDelta:
    """One latency metric of two measurements: candidate − baseline and candidate / baseline.

    Attributes:
        name: The metric (:data:`LATENCY_METRICS`).
        candidate: The candidate's value.
        baseline: The baseline's value.
        delta: candidate − baseline with its bootstrap interval.
        p_value: Two-sided bootstrap p-value of the delta.
        ratio: candidate / baseline with its bootstrap interval.
        paired: Whether calls were paired (timed interleaved in one process).
    """

    name: str
    candidate: float
    baseline: float
    delta: Estimate
    p_value: float
    ratio: Estimate
    paired: bool


def latency_deltas(
    candidate: Latency,
    baseline: Latency,
    *,
    paired: bool,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, LatencyDelta]:
    """Each latency metric of two measurements with bootstrap intervals of the difference and
    the ratio; ``paired`` when they were timed interleaved (:func:`time_models`), resampling
    call pairs, else each measurement on its own. The ratio's interval is the difference of
    the log timings' quantiles, exponentiated (a quantile commutes with the logarithm)."""
    out = {}
    for name in LATENCY_METRICS:
        if name in _QUANTILES:
            q, a, b = _QUANTILES[name], baseline.single_ms, candidate.single_ms
        else:
            q = 0.5
            a = baseline.batch_rows / np.maximum(baseline.batch_s, 1e-12)
            b = candidate.batch_rows / np.maximum(candidate.batch_s, 1e-12)
        pair = paired and len(a) == len(b)
        opts = {"paired": pair, "n_boot": n_boot, "seed": seed, "confidence": confidence}
        d = bootstrap_quantile_delta(name, a, b, q, **opts)
        logs = bootstrap_quantile_delta(name, np.log(np.maximum(a, 1e-12)),
                                        np.log(np.maximum(b, 1e-12)), q, **opts)  # fmt: skip
        out[name] = LatencyDelta(
            name=name,
            candidate=d.b,
            baseline=d.a,
            delta=Estimate(d.value, d.ci_low, d.ci_high),
            p_value=d.p_value,
            ratio=Estimate(*(float(np.exp(v)) for v in (logs.value, logs.ci_low, logs.ci_high))),
            paired=pair,
        )
    return out
