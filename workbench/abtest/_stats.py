"""The statistics of an A/B test: differences of proportions, bootstrap deltas, the MDE.

Every difference is ``B − A``. Two designs occur:

* **online** (unpaired): each request went to one variant, so the arms are independent samples;
  proportions use the two-proportion z-test (pooled standard error for the test, unpooled Wald
  interval), metrics and latency quantiles an unpaired bootstrap (each arm resampled on its own).
* **shadow** (paired): both variants answered every request, so each request is its own control;
  proportions use McNemar's exact test on the discordant pairs with a Wald interval of the paired
  difference, metrics :func:`workbench.evaluate.paired_bootstrap_delta`, latency quantiles a
  paired bootstrap (requests resampled, both answers kept together).

The minimum detectable effect (MDE) of a two-proportion test at level ``alpha`` (two-sided) and
power ``1 − beta`` with ``n_a`` and ``n_b`` requests per arm and baseline rate ``p``::

    MDE = (z[1 − alpha/2] + z[1 − beta]) · sqrt(p · (1 − p) · (1/n_a + 1/n_b))

and the requests per arm needed to detect a difference ``d`` between rates ``p_a`` and ``p_b``::

    n = (z[1 − alpha/2] + z[1 − beta])² · (p_a · (1 − p_a) + p_b · (1 − p_b)) / d²
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "Delta",
    "bootstrap_quantile_delta",
    "mde_two_proportions",
    "metric_delta",
    "paired_proportion_delta",
    "required_per_arm",
    "two_proportion_delta",
]

# Bootstrap count matrices are built in chunks of about this many cells (resamples x rows).
_CHUNK_CELLS = 1 << 20


@dataclass(frozen=True)
class Delta:
    """A difference ``B − A`` with its confidence interval and two-sided p-value.

    Attributes:
        name: What is compared (``acceptance``, ``roc_auc``, ``p99_ms``, ...).
        a: The value for A.
        b: The value for B.
        value: ``b − a``.
        ci_low: Lower bound of the interval (``nan`` when it cannot be computed).
        ci_high: Upper bound.
        p_value: Two-sided p-value of "no difference" (``nan`` when undefined).
        test: How the interval and p-value were obtained.
        n_a: Observations behind ``a`` (pairs in a paired design).
        n_b: Observations behind ``b``.
    """

    name: str
    a: float
    b: float
    value: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    n_a: int
    n_b: int

    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of 0."""
        return bool(self.ci_low > 0 or self.ci_high < 0)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; ``nan`` becomes ``None`` so the record is valid JSON."""
        return {k: _clean(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Delta:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: (math.nan if v is None else v) for k, v in d.items()})


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _two_sided_p(z: float) -> float:
    from scipy.stats import norm

    return float(min(1.0, 2.0 * norm.sf(abs(z))))


def two_proportion_delta(
    name: str, x_a: int, n_a: int, x_b: int, n_b: int, *, confidence: float = 0.95
) -> Delta:
    """Difference of two independent proportions: z-test (pooled) and Wald interval (unpooled).

    Example:
        >>> d = two_proportion_delta("acceptance", 120, 400, 150, 400)
        >>> round(d.value, 3), d.p_value < 0.05
        (0.075, True)
    """
    if n_a == 0 or n_b == 0:
        nan = math.nan
        pa = x_a / n_a if n_a else nan
        pb = x_b / n_b if n_b else nan
        return Delta(name, pa, pb, pb - pa, nan, nan, nan, "two-proportion z-test", n_a, n_b)
    pa, pb = x_a / n_a, x_b / n_b
    diff = pb - pa
    pooled = (x_a + x_b) / (n_a + n_b)
    se_test = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    # Identical all-0 or all-1 arms: no variance and no difference, nothing to reject.
    p = 1.0 if se_test == 0 else _two_sided_p(diff / se_test)
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    half = _z(0.5 + confidence / 2) * se
    return Delta(name, pa, pb, diff, diff - half, diff + half, p, "two-proportion z-test", n_a, n_b)


def paired_proportion_delta(
    name: str, a: np.ndarray, b: np.ndarray, *, confidence: float = 0.95
) -> Delta:
    """Difference of two proportions measured on the same units (McNemar's exact test).

    Only the discordant pairs carry information about the difference: with ``n01`` pairs where
    only B succeeded and ``n10`` where only A did, the p-value is the exact binomial test of
    ``n01`` out of ``n01 + n10`` against 1/2, and the interval is the Wald interval of the paired
    difference, ``se = sqrt(n01 + n10 − (n01 − n10)² / n) / n``.
    """
    from scipy.stats import binomtest

    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    n = len(a)
    test = "McNemar exact (paired)"
    if n == 0:
        nan = math.nan
        return Delta(name, nan, nan, nan, nan, nan, nan, test, 0, 0)
    pa, pb = float(a.mean()), float(b.mean())
    n01 = int(np.count_nonzero(~a & b))
    n10 = int(np.count_nonzero(a & ~b))
    diff = pb - pa
    discordant = n01 + n10
    p = 1.0 if discordant == 0 else float(binomtest(n01, discordant, 0.5).pvalue)
    se = math.sqrt(max(0.0, discordant - (n01 - n10) ** 2 / n)) / n
    half = _z(0.5 + confidence / 2) * se
    return Delta(name, pa, pb, diff, diff - half, diff + half, p, test, n, n)


def mde_two_proportions(
    p_base: float, n_a: int, n_b: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest absolute difference of proportions a two-sided test detects with ``power``.

    ``p_base`` is clipped to [0.01, 0.99]: a baseline of exactly 0 or 1 (a short test) would
    otherwise claim that any difference is detectable.

    Example:
        >>> round(mde_two_proportions(0.5, 1000, 1000), 4)
        0.0626
    """
    if n_a <= 0 or n_b <= 0 or not math.isfinite(p_base):
        return math.nan
    p = min(0.99, max(0.01, p_base))
    return (_z(1 - alpha / 2) + _z(power)) * math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


def required_per_arm(p_a: float, p_b: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Requests per arm a two-proportion test needs to detect ``p_b − p_a`` with ``power``."""
    d = p_b - p_a
    if not (math.isfinite(d) and d != 0):
        return math.inf
    k = (_z(1 - alpha / 2) + _z(power)) ** 2
    return k * (p_a * (1 - p_a) + p_b * (1 - p_b)) / d**2


def _counts(n: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(b, n)`` matrix of bootstrap resample counts (each row sums to ``n``)."""
    idx = rng.integers(0, n, size=(b, n))
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def _chunks(n: int, n_boot: int) -> list[int]:
    size = max(1, _CHUNK_CELLS // max(n, 1))
    return [min(size, n_boot - start) for start in range(0, n_boot, size)]


def _p_from_replicates(deltas: np.ndarray) -> float:
    valid = deltas[np.isfinite(deltas)]
    if len(valid) == 0:
        return math.nan
    le = (np.count_nonzero(valid <= 0) + 1) / (len(valid) + 1)
    ge = (np.count_nonzero(valid >= 0) + 1) / (len(valid) + 1)
    return float(min(1.0, 2.0 * min(le, ge)))


def _interval(deltas: np.ndarray, confidence: float) -> tuple[float, float]:
    valid = deltas[np.isfinite(deltas)]
    if len(valid) == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(valid, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Per row of ``weights``: the ``q`` quantile of ``values`` repeated by the weights
    (the lower empirical quantile, as ``np.quantile(method="inverted_cdf")``)."""
    order = np.argsort(values)
    v = values[order]
    cum = np.cumsum(weights[:, order], axis=1)
    target = q * cum[:, -1:]
    pos = np.argmax(cum >= target - 1e-9, axis=1)
    return v[pos]


def bootstrap_quantile_delta(
    name: str,
    a: np.ndarray,
    b: np.ndarray,
    q: float,
    *,
    paired: bool,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Delta:
    """Difference of the ``q`` quantiles of two samples (latencies), with a bootstrap interval.

    Paired: ``a[i]`` and ``b[i]`` belong to the same request and are resampled together.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    test = f"{'paired' if paired else 'unpaired'} bootstrap of the {q:.0%} quantile"
    if len(a) == 0 or len(b) == 0:
        nan = math.nan
        return Delta(name, nan, nan, nan, nan, nan, nan, test, len(a), len(b))
    qa = float(np.quantile(a, q, method="inverted_cdf"))
    qb = float(np.quantile(b, q, method="inverted_cdf"))
    rng = np.random.default_rng(seed)
    deltas = []
    for size in _chunks(max(len(a), len(b)), n_boot):
        wa = _counts(len(a), size, rng)
        wb = wa if paired else _counts(len(b), size, rng)
        deltas.append(_weighted_quantile(b, wb, q) - _weighted_quantile(a, wa, q))
    reps = np.concatenate(deltas)
    lo, hi = _interval(reps, confidence)
    return Delta(name, qa, qb, qb - qa, lo, hi, _p_from_replicates(reps), test, len(a), len(b))


def _replicates(
    fn: Callable[..., Any] | None,
    weighted: Callable[..., Any] | None,
    y: np.ndarray,
    score: np.ndarray,
    labels: np.ndarray | None,
    n_boot: int,
    rng: np.random.Generator,
) -> np.ndarray:
    out = []
    for size in _chunks(len(y), n_boot):
        counts = _counts(len(y), size, rng)
        if weighted is not None:
            out.append(np.asarray(weighted(y, score, labels, counts), dtype=float))
            continue
        assert fn is not None
        rows = [np.repeat(np.arange(len(y)), c.astype(int)) for c in counts]
        out.append(np.array([fn(y[r], score[r], labels) for r in rows], dtype=float))
    return np.concatenate(out)


def metric_delta(
    task: str,
    metric: str,
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    *,
    labels: np.ndarray | None = None,
    paired: bool,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Delta:
    """``metric(B) − metric(A)`` with a bootstrap interval and p-value.

    Args:
        task: ``classification`` or ``regression``.
        metric: A registered metric (:func:`workbench.evaluate.get_metric`).
        a: ``(y_true, score)`` of A's labelled requests (scores as in
            :func:`workbench.evaluate.bootstrap_metrics`).
        b: The same for B; in a paired design the same rows in the same order as ``a``.
        labels: Class order of the probability columns.
        paired: Resample rows jointly (:func:`workbench.evaluate.paired_bootstrap_delta`)
            rather than each arm on its own.
        n_boot: Resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval.
    """
    from workbench.evaluate import get_metric, paired_bootstrap_delta

    m = get_metric(metric)
    (ya, sa), (yb, sb) = a, b
    if paired:
        test = "paired bootstrap"
        if len(ya) == 0:
            nan = math.nan
            return Delta(m.name, nan, nan, nan, nan, nan, nan, test, 0, 0)
        va = float(m.fn(ya, _arg(m, sa, labels), labels))
        vb = float(m.fn(yb, _arg(m, sb, labels), labels))
        est, p = paired_bootstrap_delta(
            task,
            ya,
            sa,
            sb,
            metric=m,
            labels=labels,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
        )
        return Delta(m.name, va, vb, est.value, est.ci_low, est.ci_high, p, test, len(ya), len(yb))
    test = "unpaired bootstrap"
    if len(ya) == 0 or len(yb) == 0:
        nan = math.nan
        return Delta(m.name, nan, nan, nan, nan, nan, nan, test, len(ya), len(yb))
    arg_a, arg_b = _arg(m, sa, labels), _arg(m, sb, labels)
    va = float(m.fn(ya, arg_a, labels))
    vb = float(m.fn(yb, arg_b, labels))
    rng_a, rng_b = np.random.default_rng(seed).spawn(2)
    reps_a = _replicates(m.fn, m.weighted_fn, ya, arg_a, labels, n_boot, rng_a)
    reps_b = _replicates(m.fn, m.weighted_fn, yb, arg_b, labels, n_boot, rng_b)
    deltas = reps_b - reps_a
    lo, hi = _interval(deltas, confidence)
    return Delta(
        m.name, va, vb, vb - va, lo, hi, _p_from_replicates(deltas), test, len(ya), len(yb)
    )


def _arg(metric: Any, score: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """Probabilities for a probability metric, else predicted labels (as evaluate does)."""
    if metric.task == "regression" or metric.needs_proba or score.ndim == 1:
        return score
    lab = np.arange(score.shape[1]) if labels is None else np.asarray(labels)
    return lab[np.argmax(score, axis=1)]
