"""One bootstrap engine, and the estimates and differences built on it.

The engine (:func:`resample_weights`) draws resamples as *count matrices*: row ``i`` of a
``(b, n)`` matrix says how often each of ``n`` observations appears in resample ``i`` (each row
sums to ``n``). A statistic of a resample is then a weighted statistic of the original rows
(``(w @ x) / w.sum(axis=1)`` for a mean), so a thousand resamples cost a few matrix products.
Matrices are drawn in chunks of about :data:`CHUNK_CELLS` cells, which bounds memory whatever
the sample size. Three designs share it:

* **one sample, or paired arms**: rows are resampled with replacement; aligned arms (two models
  scored on the same test rows, both answers of a shadow request) get the *same* counts, so the
  interval of their difference reflects the models rather than the noise of the rows.
* **unpaired arms**: each arm is resampled on its own (online A/B traffic, where each request
  went to one variant).
* **clustered**: given a unit code per observation (the source row a synthetic request was
  drawn from), the units are resampled and every observation is weighted by its unit's count;
  all arms are drawn from one resample of the units.

The draws depend only on the arm sizes (and units), ``n_boot`` and ``seed``: different models
scored on the same rows get the same resamples, whichever metric is computed on them. With
every unit a single observation, the clustered design gives the paired design's resamples.

Intervals are percentile intervals (the ``(1 − confidence) / 2`` and ``(1 + confidence) / 2``
quantiles of the resampled values, skipping resamples on which a statistic is undefined).
The two-sided p-value of "no difference" is ``2 · min(P(δ* ≤ 0), P(δ* ≥ 0))`` over the resampled
differences, each share computed as ``(count + 1) / (resamples + 1)`` (never exactly 0), capped
at 1; the smallest is ``2 / (n_boot + 1)``.

Example::

    est = bootstrap_metrics("classification", y, proba, labels=clf.classes_, n_boot=1000)
    delta, p = paired_bootstrap_delta("classification", y, proba_a, proba_b, metric="roc_auc")
    d = metric_delta("classification", "roc_auc", (y_a, s_a), (y_b, s_b), paired=False)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.exceptions import ConfigError, DatasetError

from .metrics import Metric, Scores, get_metric, metrics_for, prepare_scores

__all__ = [
    "CHUNK_CELLS",
    "Delta",
    "Estimate",
    "bootstrap_mean_ci",
    "bootstrap_metrics",
    "bootstrap_p_value",
    "bootstrap_proportion_delta",
    "bootstrap_quantile",
    "bootstrap_quantile_delta",
    "check_bootstrap_options",
    "metric_delta",
    "metric_estimate",
    "paired_bootstrap_delta",
    "percentile_interval",
    "replicates",
    "resample_counts",
    "resample_weights",
]

#: Count matrices are drawn in chunks of about this many cells (resamples x observations): a
#: float64 chunk is 8 MB.
CHUNK_CELLS = 1 << 20

#: A statistic of one arm under resampling: ``(b, n)`` count weights → ``(b,)`` values.
Stat = Callable[[np.ndarray], np.ndarray]


# -- the engine -----------------------------------------------------------------------------------


def resample_counts(n: int, b: int, rng: np.random.Generator) -> np.ndarray:
    """A ``(b, n)`` matrix of bootstrap resample counts of ``n`` observations (each row sums
    to ``n``)."""
    idx = rng.integers(0, n, size=(b, n))
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(float)


def resample_weights(
    sizes: Sequence[int],
    *,
    paired: bool = False,
    clusters: Sequence[npt.ArrayLike] | None = None,
    n_boot: int,
    seed: int,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield chunks of bootstrap weights: per chunk, one ``(b, n_arm)`` count matrix per arm.

    Args:
        sizes: Observations per arm (one arm for a single sample).
        paired: The arms are aligned row by row: one count matrix serves them all.
        clusters: Per arm, a unit code per observation: resample the units (all arms from one
            resample) and weight each observation by its unit's count. Overrides ``paired``.
        n_boot: Resamples in all.
        seed: Seed of the numpy ``Generator``.

    Raises:
        DatasetError: Paired arms of different sizes, or cluster codes that do not match the
            sizes.
    """
    sizes = [int(n) for n in sizes]
    codes: list[np.ndarray] | None = None
    k = 0
    if clusters is not None:
        parts = [np.asarray(c).ravel() for c in clusters]
        if [len(c) for c in parts] != sizes:
            raise DatasetError(
                f"cluster codes of lengths {[len(c) for c in parts]} do not match the arm sizes "
                f"{sizes}; pass one unit code per observation of each arm"
            )
        # Only the units present in these arms are resampled.
        units, inverse = np.unique(np.concatenate(parts), return_inverse=True)
        bounds = np.cumsum([0, *sizes])
        codes = [inverse[s:e] for s, e in itertools.pairwise(bounds)]
        k = len(units)
    elif paired and len(set(sizes)) > 1:
        raise DatasetError(
            f"paired arms need the same number of observations, got {sizes}; pair them row by "
            "row or pass paired=False"
        )
    # Checked above, drawn lazily: a generator body would only raise on the first chunk.
    return _chunks(sizes, paired, codes, k, n_boot, seed)


def _chunks(
    sizes: list[int], paired: bool, codes: list[np.ndarray] | None, k: int, n_boot: int, seed: int
) -> Iterator[tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_CELLS // max(*sizes, k, 1))
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        if codes is not None:
            unit_counts = resample_counts(k, b, rng)
            yield tuple(unit_counts[:, c] for c in codes)
        elif paired:
            yield (resample_counts(sizes[0], b, rng),) * len(sizes)
        else:
            yield tuple(resample_counts(n, b, rng) for n in sizes)


def replicates(
    stats: Sequence[Stat],
    sizes: Sequence[int],
    *,
    paired: bool = False,
    clusters: Sequence[npt.ArrayLike] | None = None,
    n_boot: int,
    seed: int,
) -> list[np.ndarray]:
    """Bootstrap replicates of one statistic per arm: ``stats[i]`` of arm ``i``'s weights.

    Arguments as in :func:`resample_weights`. Returns one ``(n_boot,)`` array per arm.
    """
    out: list[list[np.ndarray]] = [[] for _ in stats]
    weights = resample_weights(sizes, paired=paired, clusters=clusters, n_boot=n_boot, seed=seed)
    for chunk in weights:
        for values, stat, w in zip(out, stats, chunk, strict=True):
            values.append(np.asarray(stat(w), dtype=float))
    return [np.concatenate(v) if v else np.empty(0) for v in out]


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of the finite ``values`` (``nan`` when there are none)."""
    values = np.asarray(values, dtype=float)
    valid = values[np.isfinite(values)]
    if len(valid) == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(valid, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lo), float(hi)


def bootstrap_p_value(deltas: np.ndarray) -> float:
    """Two-sided p-value of "no difference": ``2 · min(P(δ* ≤ 0), P(δ* ≥ 0))``, each share
    ``(count + 1) / (resamples + 1)``, capped at 1; ``nan`` without a finite resample."""
    deltas = np.asarray(deltas, dtype=float)
    valid = deltas[np.isfinite(deltas)]
    if len(valid) == 0:
        return math.nan
    le = (np.count_nonzero(valid <= 0) + 1) / (len(valid) + 1)
    ge = (np.count_nonzero(valid >= 0) + 1) / (len(valid) + 1)
    return float(min(1.0, 2.0 * min(le, ge)))


def check_bootstrap_options(n_boot: int, confidence: float) -> None:
    """Raise :class:`ConfigError` unless ``n_boot`` is a positive integer and ``confidence``
    lies strictly between 0 and 1."""
    if not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ConfigError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")


# -- metrics with intervals ---------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a bootstrap confidence interval.

    Attributes:
        value: The metric on all test rows (or, for a paired delta, ``metric(b) - metric(a)``).
        ci_low: Lower percentile-bootstrap bound (``nan`` when no resample was usable).
        ci_high: Upper bound.
        n_resamples: How many resamples the interval is based on (resamples on which the metric
            is undefined are skipped); ``None`` when not computed by a bootstrap.
    """

    value: float
    ci_low: float
    ci_high: float
    n_resamples: int | None = None

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies inside the closed interval ``[ci_low, ci_high]``."""
        return bool(self.ci_low <= x <= self.ci_high)

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.ci_low:.4g}, {self.ci_high:.4g}]"


def _estimate(value: float, reps: np.ndarray, confidence: float) -> Estimate:
    lo, hi = percentile_interval(reps, confidence)
    return Estimate(value, lo, hi, int(np.count_nonzero(np.isfinite(reps))))


def _metric_stat(metric: Metric, scores: Scores) -> Stat:
    """``metric`` on each resample: vectorized when it has a weighted form, else one at a time
    on the rows repeated by their counts."""
    arg = scores.arg_for(metric)
    y, labels = scores.y, scores.labels
    weighted = metric.weighted_fn
    if weighted is not None:
        return lambda w: np.asarray(weighted(y, arg, labels, w), dtype=float)

    def one_by_one(w: np.ndarray) -> np.ndarray:
        rows = [np.repeat(np.arange(len(y)), c.astype(int)) for c in w]
        return np.array([metric.fn(y[r], arg[r], labels) for r in rows], dtype=float)

    return one_by_one


def _resolve_metrics(
    task: str, metrics: Sequence[str | Metric] | None, scores: Scores
) -> list[Metric]:
    if metrics is None:
        chosen = metrics_for(task)
        if scores.proba is None:
            chosen = [m for m in chosen if not m.needs_proba]
        return chosen
    return [get_metric(m) for m in metrics]


def bootstrap_metrics(
    task: str,
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str | Metric] | None = None,
    clusters: npt.ArrayLike | None = None,
) -> dict[str, Estimate]:
    """Metrics on the test rows with percentile-bootstrap confidence intervals.

    Test rows are resampled with replacement ``n_boot`` times (numpy ``Generator`` seeded with
    ``seed``: identical inputs and seed give identical numbers, and the resamples depend only on
    the number of rows, ``n_boot`` and ``seed``). Each metric's interval is the
    ``(1 - confidence) / 2`` and ``1 - (1 - confidence) / 2`` quantiles of its resampled values.
    Resamples on which a metric is undefined (``nan``; e.g. ROC AUC when a resample lacks a class)
    are skipped for that metric; ``Estimate.n_resamples`` says how many were used.

    Args:
        task: ``"classification"`` or ``"regression"``.
        y_true: True targets, shape ``(n,)``.
        y_score: Classification: ``predict_proba`` matrix ``(n, k)`` with columns in ``labels``
            order (or predicted labels ``(n,)`` when the model has no probabilities; then only
            label metrics are available). Regression: predictions ``(n,)``.
        labels: Class order of the probability columns (the classifier's ``classes_``); default
            the sorted unique values of ``y_true``.
        n_boot: Number of bootstrap resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval, e.g. 0.95.
        metrics: Metric names or objects; default all registered metrics of the task (without
            the probability metrics when only labels are given).
        clusters: A unit code per row (the source row of a resampled request): resample the
            units instead of the rows.

    Returns:
        ``{metric name: Estimate}`` in the order of ``metrics``.

    Raises:
        ConfigError: Unknown task or metric, or bad ``n_boot``/``confidence``.
        DatasetError: Shapes or labels do not fit together.

    Example:
        >>> est = bootstrap_metrics("classification", y, proba, labels=clf.classes_)
        >>> print(est["roc_auc"])
        0.9871 [0.9712, 0.9968]
    """
    check_bootstrap_options(n_boot, confidence)
    scores = prepare_scores(task, y_true, y_score, labels)
    chosen = _resolve_metrics(task, metrics, scores)
    stats = [_metric_stat(m, scores) for m in chosen]  # fails early on a task or proba mismatch
    reps = [np.empty(n_boot) for _ in chosen]
    start = 0
    units = None if clusters is None else [clusters]
    for (w,) in resample_weights([len(scores.y)], clusters=units, n_boot=n_boot, seed=seed):
        stop = start + len(w)
        for values, stat in zip(reps, stats, strict=True):
            values[start:stop] = stat(w)
        start = stop
    return {
        m.name: _estimate(scores.value(m), values, confidence)
        for m, values in zip(chosen, reps, strict=True)
    }


def metric_estimate(
    metric: str | Metric,
    y: npt.ArrayLike,
    score: npt.ArrayLike,
    *,
    labels: npt.ArrayLike | None = None,
    clusters: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(value, ci_low, ci_high)`` of one metric (:func:`bootstrap_metrics` of its task),
    resampling rows, or the units given by ``clusters``."""
    m = get_metric(metric)
    est = bootstrap_metrics(
        m.task, y, score, labels=labels, n_boot=n_boot, seed=seed, confidence=confidence,
        metrics=[m], clusters=clusters,
    )[m.name]  # fmt: skip
    return est.value, est.ci_low, est.ci_high


def _metric_replicates(
    metric: Metric,
    a: Scores,
    b: Scores,
    *,
    paired: bool,
    clusters: Sequence[npt.ArrayLike] | None,
    n_boot: int,
    seed: int,
) -> list[np.ndarray]:
    """``metric`` of each arm on every resample (the same resamples for paired arms)."""
    if a.labels is not None and b.labels is not None and not np.array_equal(a.labels, b.labels):
        raise DatasetError(
            f"the two models use different labels ({list(a.labels)} vs {list(b.labels)}); "
            "pass labels= explicitly"
        )
    return replicates(
        [_metric_stat(metric, a), _metric_stat(metric, b)],
        [len(a.y), len(b.y)],
        paired=paired,
        clusters=clusters,
        n_boot=n_boot,
        seed=seed,
    )


def paired_bootstrap_delta(
    task: str,
    y_true: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    *,
    metric: str | Metric,
    labels: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[Estimate, float]:
    """Difference ``metric(b) - metric(a)`` on the same test rows, with a paired bootstrap.

    Both models are scored on the *same* resampled rows, so the interval reflects the difference
    between the models rather than the noise of the test set. Resamples on which either value is
    undefined are skipped. Note the sign: for a lower-is-better metric (rmse, log_loss) a
    negative delta means ``b`` is better; see ``get_metric(metric).higher_is_better``.

    The two-sided p-value is :func:`bootstrap_p_value` of the resampled deltas. It is below
    ``1 - confidence`` roughly when the interval excludes 0.

    Args:
        task: ``"classification"`` or ``"regression"``.
        y_true: True targets, shape ``(n,)``.
        score_a: Scores of the baseline model (see :func:`bootstrap_metrics` for shapes).
        score_b: Scores of the candidate model, same shape and class order as ``score_a``.
        metric: Metric name or object.
        labels: Class order of the probability columns.
        n_boot: Number of bootstrap resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval.

    Returns:
        ``(Estimate of the delta, two-sided p-value)``.

    Example:
        >>> delta, p = paired_bootstrap_delta(
        ...     "classification", y, proba_champion, proba_challenger, metric="roc_auc"
        ... )
    """
    check_bootstrap_options(n_boot, confidence)
    m = get_metric(metric)
    a = prepare_scores(task, y_true, score_a, labels)
    b = prepare_scores(task, y_true, score_b, labels)
    ra, rb = _metric_replicates(m, a, b, paired=True, clusters=None, n_boot=n_boot, seed=seed)
    deltas = rb - ra
    est = _estimate(b.value(m) - a.value(m), deltas, confidence)
    return est, bootstrap_p_value(deltas)


# -- differences B − A ----------------------------------------------------------------------------


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

    @classmethod
    def undefined(cls, name: str, test: str, n_a: int, n_b: int) -> Delta:
        """A difference that cannot be computed (an empty arm): every number ``nan``."""
        nan = math.nan
        return cls(name, nan, nan, nan, nan, nan, nan, test, n_a, n_b)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _design(paired: bool, clusters: Any) -> str:
    if clusters is not None:
        return "cluster bootstrap by source row" + (" (paired)" if paired else "")
    return "paired bootstrap" if paired else "unpaired bootstrap"


def _delta(
    name: str,
    a: float,
    b: float,
    reps: Sequence[np.ndarray],
    test: str,
    n: tuple[int, int],
    confidence: float,
) -> Delta:
    deltas = reps[1] - reps[0]
    lo, hi = percentile_interval(deltas, confidence)
    return Delta(name, a, b, b - a, lo, hi, bootstrap_p_value(deltas), test, n[0], n[1])


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
    a: npt.ArrayLike,
    b: npt.ArrayLike,
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
        return Delta.undefined(name, test, len(a), len(b))
    qa = float(np.quantile(a, q, method="inverted_cdf"))
    qb = float(np.quantile(b, q, method="inverted_cdf"))
    reps = replicates(
        [lambda w: _weighted_quantile(a, w, q), lambda w: _weighted_quantile(b, w, q)],
        [len(a), len(b)],
        paired=paired,
        n_boot=n_boot,
        seed=seed,
    )
    return _delta(name, qa, qb, reps, test, (len(a), len(b)), confidence)


def _weighted_mean(x: np.ndarray) -> Stat:
    return lambda w: (w @ x) / w.sum(axis=1)


def bootstrap_proportion_delta(
    name: str,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    paired: bool,
    clusters: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Delta:
    """Difference of two proportions (0/1 outcomes) by bootstrap, optionally by clusters.

    Used instead of the z-test and McNemar's test when observations are not independent: when
    ``clusters`` says which source row each request was resampled from, whole rows are
    resampled.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    test = _design(paired, clusters)
    if len(a) == 0 or len(b) == 0:
        return Delta.undefined(name, test, len(a), len(b))
    reps = replicates(
        [_weighted_mean(a), _weighted_mean(b)],
        [len(a), len(b)],
        paired=paired,
        clusters=clusters,
        n_boot=n_boot,
        seed=seed,
    )
    return _delta(name, float(a.mean()), float(b.mean()), reps, test, (len(a), len(b)), confidence)


def bootstrap_quantile(
    x: npt.ArrayLike,
    q: float,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """The ``q`` quantile of one sample (a latency percentile) with a percentile-bootstrap
    interval; the quantile is the lower empirical one (``method="inverted_cdf"``), as in
    :func:`bootstrap_quantile_delta`. ``nan`` everywhere for an empty sample."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    check_bootstrap_options(n_boot, confidence)
    [reps] = replicates([lambda w: _weighted_quantile(x, w, q)], [len(x)], n_boot=n_boot, seed=seed)
    return _estimate(float(np.quantile(x, q, method="inverted_cdf")), reps, confidence)


def bootstrap_mean_ci(
    x: npt.ArrayLike,
    *,
    clusters: npt.ArrayLike | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``(mean, ci_low, ci_high)`` of ``x`` by percentile bootstrap (by clusters when given)."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    [reps] = replicates(
        [_weighted_mean(x)],
        [len(x)],
        clusters=None if clusters is None else [clusters],
        n_boot=n_boot,
        seed=seed,
    )
    lo, hi = percentile_interval(reps, confidence)
    return float(x.mean()), lo, hi


def metric_delta(
    task: str,
    metric: str | Metric,
    a: tuple[npt.ArrayLike, npt.ArrayLike],
    b: tuple[npt.ArrayLike, npt.ArrayLike],
    *,
    labels: npt.ArrayLike | None = None,
    paired: bool,
    clusters: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Delta:
    """``metric(B) − metric(A)`` with a bootstrap interval and p-value.

    Args:
        task: ``classification`` or ``regression``.
        metric: A registered metric (:func:`workbench.stats.get_metric`).
        a: ``(y_true, score)`` of A's labelled observations (scores as in
            :func:`bootstrap_metrics`).
        b: The same for B; in a paired design the same rows in the same order as ``a``.
        labels: Class order of the probability columns.
        paired: Resample rows jointly (as :func:`paired_bootstrap_delta` does) rather than each
            arm on its own.
        clusters: Per arm, the source row of each observation: resample rows, not requests.
        n_boot: Resamples.
        seed: Seed of the resampling.
        confidence: Coverage of the interval.
    """
    m = get_metric(metric)
    (ya, sa), (yb, sb) = a, b
    test = _design(paired, clusters)
    n = (len(np.asarray(ya)), len(np.asarray(yb)))
    if 0 in n:
        return Delta.undefined(m.name, test, *n)
    check_bootstrap_options(n_boot, confidence)
    arm_a = prepare_scores(task, ya, sa, labels)
    arm_b = prepare_scores(task, yb, sb, labels)
    reps = _metric_replicates(
        m, arm_a, arm_b, paired=paired, clusters=clusters, n_boot=n_boot, seed=seed
    )
    return _delta(m.name, arm_a.value(m), arm_b.value(m), reps, test, n, confidence)
