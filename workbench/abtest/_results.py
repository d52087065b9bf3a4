"""What an A/B test found, as values: per-variant summaries, the differences ``B − A``, the
decision, the guardrails it was held to, and their tables for the notebook.

Plain data in and out (:meth:`Analysis.to_dict` / :meth:`Analysis.from_dict`): the store keeps
them inside the test's record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.exceptions import ConfigError
from workbench.stats import Delta

__all__ = [
    "INCONCLUSIVE",
    "KEEP_A",
    "SHIP_B",
    "Analysis",
    "Decision",
    "Guardrails",
    "VariantSummary",
    "deltas_frame",
    "variants_frame",
]

SHIP_B, KEEP_A, INCONCLUSIVE = "ship_b", "keep_a", "inconclusive"


@dataclass(frozen=True)
class Guardrails:
    """Limits B must stay within whatever its quality (the rules: :mod:`._decision`).

    Attributes:
        max_error_increase: Largest tolerated increase of the error rate (absolute, 0.01 is
            one percentage point).
        latency_slack_ms: B's p99 may exceed A's by this many milliseconds ...
        latency_slack_rel: ... or by this share of A's p99, whichever is larger.
    """

    max_error_increase: float = 0.01
    latency_slack_ms: float = 5.0
    latency_slack_rel: float = 0.5

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value >= 0:
                raise ConfigError(f"guardrail {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class VariantSummary:
    """What one variant did. Rates are ``nan`` when nothing was measured.

    Attributes:
        variant: ``A`` or ``B``.
        role: ``served`` (its answers reached callers) or ``shadow`` (mirrored only).
        model_version: What its stub served.
        requests: Requests it received.
        errors: Requests without a 2xx answer (HTTP errors, timeouts, refused connections).
        error_rate: ``errors / requests``.
        p50_ms: Median latency of the answered requests.
        p99_ms: 99th percentile latency.
        mean_ms: Mean latency.
        labelled: Answered requests whose label had arrived.
        metric: The headline metric's name.
        quality: ``{"value", "ci_low", "ci_high"}`` of the metric on those (``None``: too few).
        right_rate: Share of right answers among them.
        reacted: Requests with a simulated user reaction (their label exists).
        accepted: Simulated users who accepted the answer.
        acceptance_rate: ``accepted / reacted``.
        acceptance_ci: Wilson 95% interval of the acceptance rate.
        abandoned: Answers slower than the users' patience.
    """

    variant: str
    role: str
    model_version: str | None
    requests: int
    errors: int
    error_rate: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    labelled: int
    metric: str
    quality: dict[str, float] | None
    right_rate: float
    reacted: int
    accepted: int
    acceptance_rate: float
    acceptance_ci: tuple[float, float]
    abandoned: int

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VariantSummary:
        out = {k: _nan(v) for k, v in d.items() if k not in ("quality", "acceptance_ci")}
        quality = d.get("quality")
        out["quality"] = None if quality is None else {k: _nan(v) for k, v in quality.items()}
        out["acceptance_ci"] = tuple(_nan(x) for x in d["acceptance_ci"])
        return cls(**out)


@dataclass(frozen=True)
class Decision:
    """The outcome: ``action`` with the reasons that led to it and notes for the reader."""

    action: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reasons": list(self.reasons), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        return cls(d["action"], tuple(d["reasons"]), tuple(d.get("notes", ())))


@dataclass(frozen=True)
class Analysis:
    """Per-variant results, the differences ``B − A``, the MDE and the decision."""

    mode: str
    task: str
    metric: str
    variants: dict[str, VariantSummary]
    deltas: tuple[Delta, ...]
    mde: dict[str, Any]
    decision: Decision
    alpha: float
    power: float
    guardrails: Guardrails = field(default_factory=Guardrails)

    def delta(self, name: str) -> Delta | None:
        """The difference named ``name`` (``acceptance``, the metric, ``p99_ms``, ...)."""
        return next((d for d in self.deltas if d.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "task": self.task,
            "metric": self.metric,
            "variants": {k: v.to_dict() for k, v in self.variants.items()},
            "deltas": [d.to_dict() for d in self.deltas],
            "mde": _jsonable(self.mde),
            "decision": self.decision.to_dict(),
            "alpha": self.alpha,
            "power": self.power,
            "guardrails": asdict(self.guardrails),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Analysis:
        return cls(
            mode=d["mode"],
            task=d["task"],
            metric=d["metric"],
            variants={k: VariantSummary.from_dict(v) for k, v in d["variants"].items()},
            deltas=tuple(Delta.from_dict(x) for x in d["deltas"]),
            mde={k: _nan(v) for k, v in d["mde"].items()},
            decision=Decision.from_dict(d["decision"]),
            alpha=d["alpha"],
            power=d["power"],
            guardrails=Guardrails(**d.get("guardrails", {})),
        )


def _nan(v: Any) -> Any:
    return math.nan if v is None else v


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


def variants_frame(analysis: Analysis) -> pd.DataFrame:
    """Per-variant results as a table (one row per variant)."""
    rows = []
    for v in analysis.variants.values():
        q = v.quality or {}
        rows.append(
            {
                "variant": v.variant,
                "role": v.role,
                "model": v.model_version,
                "requests": v.requests,
                "error rate": v.error_rate,
                "p50 ms": v.p50_ms,
                "p99 ms": v.p99_ms,
                f"{v.metric}": q.get("value", math.nan),
                f"{v.metric} 95% CI": _ci(q.get("ci_low"), q.get("ci_high")),
                "right": v.right_rate,
                "labelled": v.labelled,
                "acceptance": v.acceptance_rate,
                "acceptance 95% CI": _ci(*v.acceptance_ci),
                "reactions": v.reacted,
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def deltas_frame(analysis: Analysis) -> pd.DataFrame:
    """The differences ``B − A`` as a table."""
    rows = [
        {
            "difference": d.name,
            "A": d.a,
            "B": d.b,
            "B − A": d.value,
            "95% CI": _ci(d.ci_low, d.ci_high),
            "p": d.p_value,
            "test": d.test,
            "n A": d.n_a,
            "n B": d.n_b,
        }
        for d in analysis.deltas
    ]
    return pd.DataFrame(rows).set_index("difference")


def _ci(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{lo:.4g}, {hi:.4g}]"
