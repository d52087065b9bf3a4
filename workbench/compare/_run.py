"""Comparing two runs: resolve them, pair their evidence, apply the gates, record the result."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._files import new_id
from workbench.exceptions import ConfigError, RunNotFound
from workbench.gates import Gate, evaluate_gates, resolve_gates
from workbench.store import RunRecord, RunStatus, Store, utcnow

from ._compute import EVALUATE_STAGE, Evidence, decide, paired_evidence
from ._latency import RECORDED
from ._records import get_comparison, render_report, save_comparison
from ._types import CONFIDENCE, Comparison, Side

if TYPE_CHECKING:
    from workbench.config import Workspace


#: The parameter with which a run says it re-scored another run's model on its own rows
#: (:func:`workbench.retrain.evaluate_champion_on`).
RESCORES_PARAM = "reevaluates"


def _rescores(store: Store, run: RunRecord, sha256: str | None) -> str | None:
    """The run whose model ``run`` re-scored, when it says so and the files are the same."""
    source = run.params.get(RESCORES_PARAM)
    if not source or sha256 is None:
        return None
    try:
        original = store.get_run(str(source))
    except RunNotFound:
        return None
    art = original.artifact("model")
    return original.id if art is not None and art.sha256 == sha256 else None


def _side(store: Store, run: RunRecord, ref: str) -> Side:
    from workbench.registry import version_of_run

    v = version_of_run(store, run.id)
    art = run.artifact("model")
    sha = art.sha256 if art else None
    return Side(
        run_id=run.id,
        ref=ref,
        family=run.model_family,
        version=v.version if v else None,
        model_sha256=sha,
        rescores=_rescores(store, run, sha),
    )


def _notes(evidence: Evidence, cand: RunRecord, base: RunRecord) -> tuple[str, ...]:
    notes = []
    if evidence.trivial is None:
        notes.append(
            f"neither run ({cand.id}, {base.id}) recorded a trivial baseline (they were "
            "evaluated before baselines were recorded), so lifts are undefined and gates on "
            "them fail; re-run the candidate's evaluate stage"
        )
    lat = evidence.latency
    if lat.measured == RECORDED and "differ" in lat.reason:
        notes.append(
            f"latency: {lat.reason}; the latency numbers compare the places the runs were "
            "timed in as much as the models"
        )
    return tuple(notes)


def compare_runs(
    ws: Workspace,
    store: Store,
    candidate_ref: str,
    baseline_ref: str,
    *,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    remeasure: str = "auto",
    latency_seconds: float = 10.0,
) -> Comparison:
    """Compare two runs on their shared test rows and record the result.

    Args:
        ws: The workspace (where the runs saved their predictions).
        store: Its store.
        candidate_ref: Run id, unique prefix, version (``v2``) or alias of the candidate.
        baseline_ref: The same for the baseline, e.g. ``"champion"``.
        gates: A gates YAML path, a list of gates (:class:`~workbench.gates.Gate`, mappings or
            compact strings), or ``None`` for ``templates/gates.yaml``.
        n_boot: Paired bootstrap resamples.
        seed: Seed of the resampling (recorded; same inputs and seed give the same quality
            numbers; latency re-timed side by side is a new measurement each time).
        remeasure: When to time both models again side by side in this process: ``auto``
            (when the contexts the runs were timed in differ), ``always`` or ``never``.
        latency_seconds: Time budget of that timing.

    Returns:
        The comparison, already stored in ``wb_comparisons``.

    Raises:
        RunNotFound: A reference matches no run, version or alias.
        IncomparableRuns: Different dataset fingerprints or test rows, or missing predictions.
        GateError: The gates are malformed.

    Example:
        >>> cmp = compare_runs(ws, store, "20261129-2050", "champion", n_boot=2000)
        >>> cmp.decision
        'hold'
    """
    from workbench.registry import resolve_ref

    if not isinstance(n_boot, int) or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    gate_list, gates_source = resolve_gates(gates)
    cand = store.get_run(resolve_ref(store, candidate_ref))
    base = store.get_run(resolve_ref(store, baseline_ref))
    evidence = paired_evidence(
        ws, cand, base, n_boot=n_boot, seed=seed, remeasure=remeasure,
        latency_seconds=latency_seconds,
    )  # fmt: skip
    results = evaluate_gates(
        {m.name: m.to_dict() for m in evidence.metrics}, gate_list, task=evidence.task
    )
    decision, reasons = decide(results)
    comparison = Comparison(
        id=new_id("cmp-"),
        created_at=utcnow(),
        candidate=_side(store, cand, candidate_ref),
        baseline=_side(store, base, baseline_ref),
        dataset={"name": cand.dataset_name, "fingerprint": cand.dataset_fingerprint},
        task=evidence.task,
        n_test=evidence.n_test,
        n_boot=n_boot,
        seed=seed,
        confidence=CONFIDENCE,
        metrics=tuple(evidence.metrics),
        mcnemar=evidence.mcnemar,
        gates=tuple(results),
        gates_source=gates_source,
        decision=decision,
        reasons=reasons,
        trivial=evidence.trivial.to_dict() if evidence.trivial else None,
        latency=evidence.latency.to_dict(),
        notes=_notes(evidence, cand, base),
    )
    save_comparison(store, comparison)
    return comparison


def compare_and_report(
    ws: Workspace,
    store: Store,
    candidate_ref: str,
    baseline_ref: str,
    *,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    reviewer: bool | None = None,
    remeasure: str = "auto",
) -> Comparison:
    """:func:`compare_runs`, then :func:`render_report` (the caller rebuilds the index);
    ``reviewer=None`` writes the page as the workspace's report settings say.

    Returns:
        The stored comparison with its ``report_path`` set.
    """
    comparison = compare_runs(
        ws, store, candidate_ref, baseline_ref, gates=gates, n_boot=n_boot, seed=seed,
        remeasure=remeasure,
    )  # fmt: skip
    render_report(ws, store, comparison.id, reviewer=reviewer)
    return get_comparison(store, comparison.id)


def comparable_runs(store: Store, fingerprint: str | None = None) -> list[RunRecord]:
    """Succeeded runs (newest first) with test metrics, optionally of one dataset.

    These are the runs :func:`compare_runs` can pair (given the same data and seed).
    """
    return [
        r
        for r in store.list_runs()
        if r.status is RunStatus.SUCCEEDED
        and r.metric("single_p99_ms", stage=EVALUATE_STAGE) is not None
        and (fingerprint is None or r.dataset_fingerprint == fingerprint)
    ]
