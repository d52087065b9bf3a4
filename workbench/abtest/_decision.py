"""The decision of an A/B test (``ship_b`` / ``keep_a`` / ``inconclusive``) from its
differences, and the minimum detectable effect of the traffic it had.

1. **Guardrails** (any breach keeps A): B's error rate higher by more than
   ``max_error_increase`` with p < alpha; B's p99 latency higher by more than
   ``max(latency_slack_ms, latency_slack_rel · p99(A))`` with the interval of the difference
   above 0.
2. **Primary metrics**, acceptance (user behaviour) and the headline metric (result quality),
   each tested at ``alpha / 2`` (Bonferroni over the two, so an A/A test claims a difference in
   either at most ``alpha`` of the time). B significantly worse on either keeps A.
3. B significantly better on at least one primary metric and worse on none ships B.
4. Otherwise inconclusive, with the minimum detectable effect of the traffic used and the
   requests per arm the observed difference would need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workbench.stats import Delta, mde_two_proportions, required_per_arm

from ._results import INCONCLUSIVE, KEEP_A, SHIP_B, Decision, Guardrails, VariantSummary

__all__ = ["decide", "minimum_detectable_effect"]


def _fmt(x: float, digits: int = 4) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = —"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def _describe(d: Delta, label: str) -> str:
    return (
        f"{label}: B {_fmt(d.b)} vs A {_fmt(d.a)}, Δ {_fmt(d.value, 3)} "
        f"[{_fmt(d.ci_low, 3)}, {_fmt(d.ci_high, 3)}], {_fmt_p(d.p_value)} ({d.test})"
    )


def _direction(d: Delta, level: float, higher_is_better: bool) -> int:
    """+1: B significantly better, -1: significantly worse, 0: no significant difference."""
    if not (math.isfinite(d.p_value) and math.isfinite(d.value)) or d.p_value >= level:
        return 0
    if d.value == 0:
        return 0
    up = d.value > 0
    return 1 if up == higher_is_better else -1


def _guardrail_breaches(
    deltas: Mapping[str, Delta], guardrails: Guardrails, alpha: float
) -> list[str]:
    breaches = []
    err = deltas["error_rate"]
    if (
        math.isfinite(err.value)
        and err.value > guardrails.max_error_increase
        and err.p_value < alpha
    ):
        breaches.append(
            f"guardrail: B's error rate {_fmt(err.b, 3)} exceeds A's {_fmt(err.a, 3)} by more "
            f"than {guardrails.max_error_increase:g} ({_fmt_p(err.p_value)})"
        )
    p99 = deltas["p99_ms"]
    if math.isfinite(p99.value) and math.isfinite(p99.a):
        slack = max(guardrails.latency_slack_ms, guardrails.latency_slack_rel * p99.a)
        if p99.value > slack and p99.ci_low > 0:
            breaches.append(
                f"guardrail: B's p99 latency {_fmt(p99.b, 3)} ms exceeds A's {_fmt(p99.a, 3)} ms "
                f"by {_fmt(p99.value, 3)} ms (more than the {slack:.3g} ms allowed; 95% CI "
                f"[{_fmt(p99.ci_low, 3)}, {_fmt(p99.ci_high, 3)}])"
            )
    return breaches


def minimum_detectable_effect(
    variants: Mapping[str, VariantSummary],
    acceptance: Delta,
    *,
    mode: str,
    split: float,
    alpha: float,
    power: float,
    clustered: bool,
) -> dict[str, Any]:
    """The smallest acceptance difference this traffic detects, and the traffic the observed
    one would need.

    Args:
        variants: The per-variant summaries (``A`` is the baseline).
        acceptance: The acceptance difference ``B − A``.
        mode: ``online`` (the smaller arm sets the pace) or ``shadow``.
        split: Share of requests routed to B (online).
        alpha: Significance level.
        power: Power of the MDE.
        clustered: Requests resample source rows: the counts shrink by the design effect.

    Returns:
        Plain data: ``mde``, ``mde_relative``, ``baseline``, ``n_a``, ``n_b``, ``observed``,
        ``required_per_arm``, ``required_requests``, ``design_effect``, ``alpha``, ``power``
        and a ``note`` on how it was computed.
    """
    a, b = variants["A"], variants["B"]
    base = a.acceptance_rate
    deff = _design_effect(a) if clustered else 1.0
    mde = mde_two_proportions(base, a.reacted / deff, b.reacted / deff, alpha=alpha, power=power)
    need = required_per_arm(acceptance.a, acceptance.b, alpha=alpha, power=power) * deff
    # Online, the smaller arm sets the pace: it gets min(split, 1 - split) of the requests.
    share = 1.0 if mode == "shadow" else min(split, 1 - split)
    total = need / share if math.isfinite(need) and share > 0 else math.inf
    return {
        "metric": "acceptance",
        "baseline": base,
        "n_a": a.reacted,
        "n_b": b.reacted,
        "alpha": alpha,
        "power": power,
        "mde": mde,
        "mde_relative": mde / base if base and math.isfinite(base) and base > 0 else math.nan,
        "observed": acceptance.value,
        "required_per_arm": math.ceil(need) if math.isfinite(need) else None,
        "required_requests": math.ceil(total) if math.isfinite(total) else None,
        "design_effect": deff,
        "note": (
            "two-proportion formula"
            + (
                f", counts divided by the design effect {deff:.2f} of resampled rows"
                if clustered
                else ""
            )
            + ("; the paired shadow test usually needs fewer requests" if mode == "shadow" else "")
        ),
    }


def _design_effect(a: VariantSummary) -> float:
    """Variance of A's acceptance rate under the cluster bootstrap over the binomial variance
    (from the interval widths; at least 1: clustering never adds information)."""
    p, n = a.acceptance_rate, a.reacted
    lo, hi = a.acceptance_ci
    if not (n and math.isfinite(p) and 0 < p < 1 and math.isfinite(lo) and math.isfinite(hi)):
        return 1.0
    binomial = 2 * 1.959964 * math.sqrt(p * (1 - p) / n)
    return max(1.0, ((hi - lo) / binomial) ** 2)


def decide(
    deltas: Mapping[str, Delta],
    *,
    metric: str,
    higher_is_better: bool,
    variants: Mapping[str, VariantSummary],
    mde: Mapping[str, Any],
    mode: str,
    alpha: float,
    guardrails: Guardrails,
) -> Decision:
    """Apply the rules of this module to the differences of a test.

    Args:
        deltas: The differences by name (``acceptance``, ``metric``, ``error_rate``,
            ``p99_ms``).
        metric: The headline metric's name.
        higher_is_better: Its direction.
        variants: The per-variant summaries.
        mde: :func:`minimum_detectable_effect` of the test (quoted when inconclusive).
        mode: ``online`` or ``shadow`` (a note says what shadow acceptance means).
        alpha: Significance level (each primary metric is tested at ``alpha / 2``).
        guardrails: The error-rate and latency limits.

    Returns:
        The action with the reasons that led to it and notes for the reader.
    """
    notes = []
    if mode == "shadow":
        notes.append(
            "shadow mode: callers only ever saw A; B's acceptance is what the simulated users "
            "would have done with B's answers (same users, same draws)"
        )
    if min(variants["A"].requests, variants["B"].requests) == 0:
        empty = "A" if variants["A"].requests == 0 else "B"
        return Decision(INCONCLUSIVE, (f"variant {empty} received no requests",), tuple(notes))
    level = alpha / 2
    acc, qual = deltas["acceptance"], deltas[metric]
    breaches = _guardrail_breaches(deltas, guardrails, alpha)
    if variants["A"].reacted == 0 and variants["B"].reacted == 0 and not breaches:
        return Decision(
            INCONCLUSIVE,
            (
                "no label joined these requests, so neither quality nor the simulated users "
                "can be judged; give the labels (the target column of --stream-csv, or a "
                "stream with a labels feed)",
                "guardrails: error rate and p99 latency within the limits",
            ),
            tuple(notes),
        )
    reasons = [
        _describe(acc, "acceptance (simulated users)"),
        _describe(qual, f"quality ({metric}, on {qual.n_a}/{qual.n_b} labelled answers)")
        if math.isfinite(qual.value)
        else f"quality ({metric}): {qual.test}",
    ]
    directions = {
        "acceptance": _direction(acc, level, True),
        metric: _direction(qual, level, higher_is_better),
    }
    worse = [name for name, d in directions.items() if d < 0]
    better = [name for name, d in directions.items() if d > 0]
    significance = f"significance: p < {level:g} per primary metric (alpha {alpha:g}, Bonferroni)"
    if breaches or worse:
        head = [f"B is significantly worse on {', '.join(worse)}"] if worse else []
        return Decision(KEEP_A, (*head, *breaches, *reasons, significance), tuple(notes))
    guard_ok = "guardrails: error rate and p99 latency within the limits"
    if better:
        return Decision(
            SHIP_B,
            (f"B is significantly better on {', '.join(better)}", *reasons, guard_ok, significance),
            tuple(notes),
        )
    deff = mde.get("design_effect") or 1.0
    effective = f", design effect {deff:.2f} of resampled rows" if deff > 1 else ""
    size = (
        f"with {mde['n_a']} (A) and {mde['n_b']} (B) reactions{effective} the smallest "
        f"acceptance difference detectable with {mde['power']:.0%} power is "
        f"±{_fmt(mde['mde'], 3)} (MDE at alpha {mde['alpha']:g})"
    )
    need = mde.get("required_requests")
    more = (
        f"; the observed Δ {_fmt(mde['observed'], 3)} would need about {need:,} requests"
        if need
        else ""
    )
    return Decision(
        INCONCLUSIVE,
        (
            "no significant difference on acceptance or quality",
            *reasons,
            size + more,
            guard_ok,
            significance,
        ),
        tuple(notes),
    )
