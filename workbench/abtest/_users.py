"""A documented, seeded model of how users react to the answers of a variant.

The workbench cannot watch real users, so an A/B test on replayed traffic simulates them. The
model is deliberately simple and every number is a parameter (the report prints them)::

    P(accept) = 0         the request failed: nothing was shown
              = 0         the answer came after ``patience_ms``: the user had left
              = p_right   the prediction was right
              = p_wrong   the prediction was wrong

"Right" is the predicted class equal to the true label (classification) or an absolute error
of at most ``tolerance`` (regression; default a quarter of the standard deviation of the true
values in the stream). The user knows the truth when reacting (a recommended item fits or it
does not), so the simulation uses every label of the feed, including labels that arrive after
the analysis time; requests whose label never arrives get no simulated reaction.

Defaults: ``p_right = 0.6``, ``p_wrong = 0.2``, ``patience_ms = 1000``. They are illustrative
(a user three times as likely to accept a fitting recommendation), not measured.

Each request's random draw is ``u = H(seed, key)`` in [0, 1) (sha256 of the seed and the
request key) and the user accepts when ``u < P(accept)``. The same request therefore gets the
same draw whichever variant answered it (common random numbers): identical answers produce
identical behaviour (an A/A test shows no spurious difference in behaviour), and in shadow mode
B's counterfactual reaction is paired with A's actual one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from workbench.exceptions import ConfigError

__all__ = ["UserModel", "unit_hash"]


def unit_hash(text: str) -> float:
    """A stable number in [0, 1) from a string (first 8 bytes of its sha256).

    Python's ``hash()`` is salted per process; this is the same in every process and run.
    """
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class UserModel:
    """Simulated users: accept an answer with a probability that depends on whether it was right.

    Attributes:
        p_right: Probability of accepting a right answer.
        p_wrong: Probability of accepting a wrong answer.
        patience_ms: Answers slower than this are never accepted (the user left).
        tolerance: Regression: largest absolute error that counts as right; ``None`` means a
            quarter of the standard deviation of the true values.
        seed: Seeds the per-request draws.

    Example:
        >>> users = UserModel(p_right=0.6, p_wrong=0.2, seed=1)
        >>> users.accepts(["r000001"], ok=[True], correct=[1.0], latency_ms=[2.0]).tolist()
        [1.0]
    """

    p_right: float = 0.6
    p_wrong: float = 0.2
    patience_ms: float = 1000.0
    tolerance: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("p_right", "p_wrong"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} is a probability; it must be within [0, 1], got {value}")
        if not self.patience_ms > 0:
            raise ConfigError(f"patience_ms must be positive, got {self.patience_ms}")
        if self.tolerance is not None and not self.tolerance >= 0:
            raise ConfigError(f"tolerance must be >= 0 (or None), got {self.tolerance}")

    def draws(self, keys: Sequence[str]) -> np.ndarray:
        """The per-request uniform draws ``H(seed, key)``."""
        return np.array([unit_hash(f"{self.seed}:user:{k}") for k in keys], dtype=float)

    def probability(
        self, *, ok: Sequence[bool], correct: Sequence[float], latency_ms: Sequence[float]
    ) -> np.ndarray:
        """``P(accept)`` per request; ``nan`` where correctness is unknown (no label)."""
        ok_a = np.asarray(ok, dtype=bool)
        right = np.asarray(correct, dtype=float)
        latency = np.asarray(latency_ms, dtype=float)
        shown = ok_a & ~(latency > self.patience_ms)
        p = np.where(right == 1.0, self.p_right, self.p_wrong).astype(float)
        # A failed or too-slow answer needs no label to judge: nobody accepted it.
        p[~shown] = 0.0
        p[shown & np.isnan(right)] = math.nan
        return p

    def accepts(
        self,
        keys: Sequence[str],
        *,
        ok: Sequence[bool],
        correct: Sequence[float],
        latency_ms: Sequence[float],
    ) -> np.ndarray:
        """1.0 (accepted), 0.0 (not) or ``nan`` (no label, no simulated reaction) per request."""
        p = self.probability(ok=ok, correct=correct, latency_ms=latency_ms)
        out = (self.draws(keys) < p).astype(float)
        out[np.isnan(p)] = math.nan
        return out

    def resolved_tolerance(self, y_true: np.ndarray) -> float:
        """The regression tolerance: the given one, else 0.25 · std of the true values."""
        if self.tolerance is not None:
            return float(self.tolerance)
        y = np.asarray(y_true, dtype=float)
        y = y[np.isfinite(y)]
        return 0.25 * float(np.std(y)) if len(y) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The parameters, JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UserModel:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)

    def describe(self) -> str:
        """One line for reports."""
        tol = "" if self.tolerance is None else f", tolerance {self.tolerance:g}"
        return (
            f"accept right answers with p = {self.p_right:g}, wrong ones with p = "
            f"{self.p_wrong:g}; nothing after {self.patience_ms:g} ms or on an error"
            f"{tol} (seed {self.seed})"
        )
