"""The retrain decision as a value: its checks, the measured training cost, and its record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ..safehtml import md

__all__ = ["ACTIONS", "Check", "Decision", "TrainingCost"]

ACTIONS = ("retrain", "wait")


@dataclass(frozen=True)
class Check:
    """One reason to retrain, tested.

    Attributes:
        name: ``drift``, ``prediction``, ``decay``, ``schedule`` or ``challenger``.
        triggered: Whether it calls for retraining.
        detail: One sentence with the numbers.
        evidence: The numbers, JSON-ready.
    """

    name: str
    triggered: bool
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "triggered": self.triggered,
            "detail": self.detail,
            "evidence": _clean(self.evidence),
        }


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities (undefined numbers) become ``None``, numpy scalars plain."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class TrainingCost:
    """The measured cost of a run's training stage.

    Attributes:
        run_id: The run.
        stage: The stage measured (``search``).
        wall_s: Its wall time from the store's stage timings (``None`` when not finished).
        cpu_s: CPU seconds, when the run recorded them (``None`` otherwise).
        trials: Optuna trials completed, when recorded.
        note: What was not measured, and why.
    """

    run_id: str
    stage: str
    wall_s: float | None
    cpu_s: float | None
    trials: int | None = None
    note: str = ""

    def describe(self) -> str:
        """``search stage of RUN: 12.3 s wall, CPU not recorded (...)``."""
        wall = "wall time unknown" if self.wall_s is None else f"{self.wall_s:.1f} s wall"
        cpu = "CPU seconds not recorded" if self.cpu_s is None else f"{self.cpu_s:.1f} CPU s"
        trials = f", {self.trials} trials" if self.trials is not None else ""
        return f"{self.stage} stage of run {self.run_id}: {wall}, {cpu}{trials}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "stage": self.stage,
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "trials": self.trials,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    """``retrain`` or ``wait``, with the reasons and the evidence.

    Attributes:
        action: ``retrain`` or ``wait``.
        reasons: For ``retrain`` the triggered checks; for ``wait`` why each check passed.
        checks: Every check, triggered or not.
        cost: The measured cost of the champion's last training (``None`` without a store).
        as_of: The time the schedule was judged at.
        champion: The champion's run id, when known.
        report_id: The monitor report the decision read.
        notes: What could not be checked, and why.
    """

    action: str
    reasons: tuple[str, ...]
    checks: tuple[Check, ...] = ()
    cost: TrainingCost | None = None
    as_of: datetime | None = None
    champion: str | None = None
    report_id: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def retrain(self) -> bool:
        return self.action == "retrain"

    def check(self, name: str) -> Check:
        """The check called ``name``.

        Raises:
            ConfigError: No such check; the message lists those made.
        """
        for c in self.checks:
            if c.name == name:
                return c
        raise ConfigError(
            f"no check {name!r} in this decision; it has {', '.join(c.name for c in self.checks)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "checks": [c.to_dict() for c in self.checks],
            "cost": self.cost.to_dict() if self.cost else None,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "champion": self.champion,
            "report_id": self.report_id,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        cost = d.get("cost")
        return cls(
            action=d["action"],
            reasons=tuple(d["reasons"]),
            checks=tuple(Check(**c) for c in d.get("checks") or ()),
            cost=TrainingCost(**cost) if cost else None,
            as_of=datetime.fromisoformat(d["as_of"]) if d.get("as_of") else None,
            champion=d.get("champion"),
            report_id=d.get("report_id"),
            notes=tuple(d.get("notes") or ()),
        )

    def checks_frame(self) -> pd.DataFrame:
        """One row per check: triggered or not, and the sentence with the numbers."""
        return pd.DataFrame(
            [
                {
                    "check": c.name,
                    "result": "triggered" if c.triggered else "not triggered",
                    "detail": c.detail,
                }
                for c in self.checks
            ],
            columns=["check", "result", "detail"],
        )

    def summary_markdown(self) -> str:
        """The decision, its reasons and the training cost, as Markdown."""
        # Reasons and notes name features and aliases: user text.
        lines = [f"**Recommendation: {md(self.action.upper())}**", ""]
        lines += [f"- {md(r)}" for r in self.reasons]
        if self.cost is not None:
            note = f" ({md(self.cost.note)})" if self.cost.note else ""
            lines += ["", f"Cost of the last training: {md(self.cost.describe())}{note}."]
        lines += [f"\n_note: {md(n)}_" for n in self.notes]
        return "\n".join(lines)
