"""The statistics of an A/B test: differences of proportions, bootstrap deltas, the MDE.

Every difference is ``B − A``. The design decides the test:

* **online** (unpaired): each request went to one variant, so the arms are independent samples;
  proportions use the two-proportion z-test (pooled standard error for the test, unpooled Wald
  interval), metrics and latency quantiles an unpaired bootstrap (each arm resampled on its own).
* **shadow** (paired): both variants answered every request, so each request is its own control;
  proportions use McNemar's exact test on the discordant pairs with a Wald interval of the paired
  difference, metrics and latency quantiles a paired bootstrap (requests resampled, both answers
  kept together, as :func:`workbench.evaluate.paired_bootstrap_delta` does).
* **clustered**: when the traffic resamples a pool of rows (a synthetic stream of 600 requests
  drawn from 114 held-out rows repeats each row about five times), requests of one row are not
  independent: same features, same label, mostly the same right or wrong answer. Treating them
  as independent would make intervals too narrow for what matters, the models' quality on new
  data. Given each request's source row, quality and acceptance resample whole rows (a cluster
  bootstrap; both arms from one resample of the rows) instead of requests.

Bootstrap p-values are ``2 · min(P(δ* ≤ 0), P(δ* ≥ 0))`` over the resampled differences, with
``(count + 1) / (resamples + 1)`` shares, so the smallest is ``2 / (n_boot + 1)``.

The minimum detectable effect (MDE) of a two-proportion test at level ``alpha`` (two-sided) and
power ``1 − beta`` with ``n_a`` and ``n_b`` requests per arm and baseline rate ``p``::

    MDE = (z[1 − alpha/2] + z[1 − beta]) · sqrt(p · (1 − p) · (1/n_a + 1/n_b))

and the requests per arm needed to detect a difference ``d`` between rates ``p_a`` and ``p_b``::

    n = (z[1 − alpha/2] + z[1 − beta])² · (p_a · (1 − p_a) + p_b · (1 − p_b)) / d²

With clustered traffic both use effective counts ``n / deff``, where the design effect ``deff``
is the variance of A's acceptance rate under the cluster bootstrap over the binomial variance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "Delta",
    "bootstrap_mean_ci",
    "bootstrap_proportion_delta",
    "bootstrap_quantile_delta",
    "mde_two_proportions",
    "metric_delta",
    "metric_estimate",
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


Stat = Callable[[np.ndarray], np.ndarray]


def _replicates(
    stat_a: Stat,
    stat_b: Stat,
    n_a: int,
    n_b: int,
    *,
    paired: bool,
    clusters: tuple[np.ndarray, np.ndarray] | None,
    n_boot: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap replicates of a statistic of each arm, as ``stat(weights)`` of shape (b,).

    Weights are resample counts per observation: of the requests (``paired``: the same counts
    for both arms, whose rows are aligned; else drawn per arm), or, with ``clusters`` (a unit
    code per observation of each arm), of the units, every observation weighted by its unit's
    count and both arms drawn from one resample of the units.
    """
    rng = np.random.default_rng(seed)
    k = 0
    if clusters is not None:
        # Only the units present in these arms are resampled.
        units, codes = np.unique(np.concatenate(clusters), return_inverse=True)
        clusters = (codes[: len(clusters[0])], codes[len(clusters[0]) :])
        k = len(units)
    size = max(1, _CHUNK_CELLS // max(n_a, n_b, k, 1))
    out_a, out_b = [], []
    for start in range(0, n_boot, size):
        b = min(size, n_boot - start)
        if clusters is not None:
            units = _counts(k, b, rng)
            wa, wb = units[:, clusters[0]], units[:, clusters[1]]
        elif paired:
            wa = wb = _counts(n_a, b, rng)
        else:
            wa, wb = _counts(n_a, b, rng), _counts(n_b, b, rng)
        out_a.append(stat_a(wa))
        out_b.append(stat_b(wb))
    return np.concatenate(out_a), np.concatenate(out_b)


def _p_from_replicates(deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value: ``2 · min(P(δ* ≤ 0), P(δ* ≥ 0))``, each share computed as
    ``(count + 1) / (resamples + 1)`` (never exactly 0), capped at 1."""
    valid = deltas[np.isfinite(deltas)]
    if len(valid) == 0:
        return math.nan
    le = (np.count_nonzero(valid <= 0) + 1) / (len(valid) + 1)
    ge = (np.count_nonzero(valid >= 0) + 1) / (len(valid) + 1)
    return float(min(1.0, 2.0 * min(le, ge)))


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    valid = values[np.isfinite(values)]
    if len(valid) == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(valid, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def _design(paired: bool, clusters: Any) -> str:
    if clusters is not None:
        return "cluster bootstrap by source row" + (" (paired)" if paired else "")
    return "paired bootstrap" if paired else "unpaired bootstrap"


def _delta(
    name: str,
    a: float,
    b: float,
    reps: tuple[np.ndarray, np.ndarray],
    test: str,
    n: tuple[int, int],
    confidence: float,
) -> Delta:
    deltas = reps[1] - reps[0]
    lo, hi = _interval(deltas, confidence)
    return Delta(name, a, b, b - a, lo, hi, _p_from_replicates(deltas), test, n[0], n[1])


def _nan_delta(name: str, test: str, n_a: int, n_b: int) -> Delta:
    nan = math.nan
    return Delta(name, nan, nan, nan, nan, nan, nan, test, n_a, n_b)


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
    test = f"{_design(paired, None)} of the {q:.0%} quantile"
    if len(a) == 0 or len(b) == 0:
        return _nan_delta(name, test, len(a), len(b))
    qa = float(np.quantile(a, q, method="inverted_cdf"))
    qb = float(np.quantile(b, q, method="inverted_cdf"))
    reps = _replicates(
        lambda w: _weighted_quantile(a, w, q),
        lambda w: _weighted_quantile(b, w, q),
        len(a),
        len(b),
        paired=paired,
        clusters=None,
        n_boot=n_boot,
        seed=seed,
    )
    return _delta(name, qa, qb, reps, test, (len(a), len(b)), confidence)


def bootstrap_proportion_delta(
    name: str,
    a: np.ndarray,
    b: np.ndarray,
    *,
    paired: bool,
    clusters: tuple[np.ndarray, np.ndarray] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Delta:
    """Difference of two proportions (0/1 outcomes) by bootstrap, optionally by clusters.

    Used instead of the z-test and McNemar's test when requests are not independent: when
    ``clusters`` says which source row each request was resampled from, whole rows are
    resampled.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    test = _design(paired, clusters)
    if len(a) == 0 or len(b) == 0:
        return _nan_delta(name, test, len(a), len(b))
    reps = _replicates(
        lambda w: (w @ a) / w.sum(axis=1),
        lambda w: (w @ b) / w.sum(axis=1),
        len(a),
        len(b),
        paired=paired,
        clusters=clusters,
        n_boot=n_boot,
        seed=seed,
    )
    return _delta(name, float(a.mean()), float(b.mean()), reps, test, (len(a), len(b)), confidence)


def bootstrap_mean_ci(
    x: np.ndarray,
    *,
    clusters: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(mean, ci_low, ci_high)`` of ``x`` by percentile bootstrap (by clusters when given)."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    both = None if clusters is None else (clusters, clusters)
    reps, _ = _replicates(
        lambda w: (w @ x) / w.sum(axis=1),
        lambda w: w[:, 0],
        len(x),
        len(x),
        paired=True,
        clusters=both,
        n_boot=n_boot,
        seed=seed,
    )
    lo, hi = _interval(reps, confidence)
    return float(x.mean()), lo, hi


def _metric_stat(m: Any, y: np.ndarray, arg: np.ndarray, labels: np.ndarray | None) -> Stat:
    if m.weighted_fn is not None:
        return lambda w: np.asarray(m.weighted_fn(y, arg, labels, w), dtype=float)

    def one_by_one(w: np.ndarray) -> np.ndarray:
        rows = [np.repeat(np.arange(len(y)), c.astype(int)) for c in w]
        return np.array([m.fn(y[r], arg[r], labels) for r in rows], dtype=float)

    return one_by_one


def metric_estimate(
    metric: str,
    y: np.ndarray,
    score: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(value, ci_low, ci_high)`` of a metric with a percentile bootstrap interval, resampling
    requests, or the clusters (source rows) when given."""
    from workbench.evaluate import get_metric

    m = get_metric(metric)
    arg = _arg(m, score, labels)
    value = float(m.fn(y, arg, labels))
    both = None if clusters is None else (clusters, clusters)
    stat = _metric_stat(m, y, arg, labels)
    reps, _ = _replicates(
        stat,
        lambda w: w[:, 0],
        len(y),
        len(y),
        paired=True,
        clusters=both,
        n_boot=n_boot,
        seed=seed,
    )
    lo, hi = _interval(reps, confidence)
    return value, lo, hi


def metric_delta(
    task: str,
    metric: str,
    a: tuple[np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray],
    *,
    labels: np.ndarray | None = None,
    paired: bool,
    clusters: tuple[np.ndarray, np.ndarray] | None = None,
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
        paired: Resample rows jointly (as :func:`workbench.evaluate.paired_bootstrap_delta`
            does) rather than each arm on its own.
        clusters: Per arm, the source row of each request: resample rows, not requests.
        n_boot: Resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval.
    """
    from workbench.evaluate import get_metric

    m = get_metric(metric)
    (ya, sa), (yb, sb) = a, b
    test = _design(paired, clusters)
    if len(ya) == 0 or len(yb) == 0:
        return _nan_delta(m.name, test, len(ya), len(yb))
    arg_a, arg_b = _arg(m, sa, labels), _arg(m, sb, labels)
    va = float(m.fn(ya, arg_a, labels))
    vb = float(m.fn(yb, arg_b, labels))
    reps = _replicates(
        _metric_stat(m, ya, arg_a, labels),
        _metric_stat(m, yb, arg_b, labels),
        len(ya),
        len(yb),
        paired=paired,
        clusters=clusters,
        n_boot=n_boot,
        seed=seed,
    )
    return _delta(m.name, va, vb, reps, test, (len(ya), len(yb)), confidence)


def _arg(metric: Any, score: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """Probabilities for a probability metric, else predicted labels (as evaluate does)."""
    if metric.task == "regression" or metric.needs_proba or score.ndim == 1:
        return score
    lab = np.arange(score.shape[1]) if labels is None else np.asarray(labels)
    return lab[np.argmax(score, axis=1)]
