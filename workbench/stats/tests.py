"""Statistical tests: McNemar, two-proportion z-test, MDE, multiple testing, PSI and drift tests.

Every difference is ``B − A`` (A the baseline or champion, B the candidate).

* **McNemar** (:func:`mcnemar`): two classifiers, or two variants, on the same units. Only the
  discordant units count; under "equally good" the units only B gets right are
  ``Binomial(discordant, 1/2)``: the exact two-sided binomial p-value, and the
  continuity-corrected chi-square ``(|b − c| − 1)² / (b + c)`` beside it.
* **Proportions**: independent arms use the two-proportion z-test (pooled standard error for
  the test, unpooled Wald interval, :func:`two_proportion_delta`); paired units McNemar's
  p-value with the Wald interval of the paired difference (:func:`paired_proportion_delta`).
* **Minimum detectable effect** of a two-proportion test at level ``alpha`` (two-sided) and
  power ``1 − beta`` with ``n_a`` and ``n_b`` per arm and baseline rate ``p``::

      MDE = (z[1 − alpha/2] + z[1 − beta]) · sqrt(p · (1 − p) · (1/n_a + 1/n_b))

  and the observations per arm needed to detect a difference ``d`` between ``p_a`` and ``p_b``::

      n = (z[1 − alpha/2] + z[1 − beta])² · (p_a · (1 − p_a) + p_b · (1 − p_b)) / d²

* **Many tests at once**: Holm (family-wise error) and Benjamini–Hochberg (false discovery
  rate) adjusted p-values.
* **Drift**: the population stability index over bins cut at the reference's quantiles,
  ``PSI = Σ (cur − ref) · ln(cur / ref)`` with every share floored at ``epsilon`` (an empty bin
  would otherwise make it infinite), and a two-sample test per feature
  (:func:`feature_test`: Kolmogorov–Smirnov for numeric values, chi-square for categories)
  against an entry of a reference profile (:mod:`workbench.profile`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from workbench.exceptions import ConfigError, DatasetError

from .bootstrap import Delta

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CORRECTIONS",
    "EPSILON",
    "N_BINS",
    "OTHER",
    "McNemarResult",
    "adjust_p_values",
    "benjamini_hochberg",
    "bin_shares",
    "feature_test",
    "finite_values",
    "holm",
    "mcnemar",
    "mde_two_proportions",
    "paired_proportion_delta",
    "psi",
    "psi_from_shares",
    "quantile_edges",
    "required_per_arm",
    "two_proportion_delta",
    "wilson_interval",
]

#: Quantile bins of the PSI.
N_BINS = 10
#: Floor of a bin's share in the PSI (keeps it finite when a bin is empty).
EPSILON = 1e-4
#: The category that stands for every category a reference profile did not keep by name.
OTHER = "__other__"
#: Multiple-testing corrections :func:`adjust_p_values` knows.
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")


def _z(q: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(q))


def _two_sided_p(z: float) -> float:
    from scipy.stats import norm

    return float(min(1.0, 2.0 * norm.sf(abs(z))))


# -- McNemar and proportions ----------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on the units exactly one of the two sides gets right.

    Attributes:
        baseline_only: Units the baseline (A) gets right and the candidate (B) wrong.
        candidate_only: Units the candidate gets right and the baseline wrong.
        p_value: Exact two-sided binomial p-value (valid for any count; the one to read).
        p_value_chi2: Chi-square p-value with continuity correction (large-sample form).
        statistic: The chi-square statistic ``(|b − c| − 1)² / (b + c)``.
    """

    baseline_only: int
    candidate_only: int
    p_value: float
    p_value_chi2: float
    statistic: float

    @property
    def discordant(self) -> int:
        """Units on which the two sides disagree."""
        return self.baseline_only + self.candidate_only

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored with a comparison."""
        return {
            "test": "mcnemar",
            "baseline_only_correct": self.baseline_only,
            "candidate_only_correct": self.candidate_only,
            "discordant": self.discordant,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "p_value_chi2": self.p_value_chi2,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> McNemarResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            int(d["baseline_only_correct"]),
            int(d["candidate_only_correct"]),
            float(d["p_value"]),
            float(d["p_value_chi2"]),
            float(d["statistic"]),
        )


def mcnemar(success_a: npt.ArrayLike, success_b: npt.ArrayLike) -> McNemarResult:
    """McNemar's test of two sides (A the baseline, B the candidate) on the same units.

    Only the discordant units count: ``b`` where only A succeeds and ``c`` where only B does.
    Under "equally good", ``c ~ Binomial(b + c, 1/2)``; the exact p-value is the two-sided
    binomial test, the chi-square one uses ``(|b − c| − 1)² / (b + c)`` with one degree of
    freedom. With no discordant unit both p-values are 1.

    Args:
        success_a: Per unit, whether A is right (a label, an accepted answer).
        success_b: Per unit, whether B is right.

    Raises:
        DatasetError: The two sides do not have one value per unit each.

    Example:
        >>> mcnemar([True, True, False], [True, False, True]).p_value
        1.0
    """
    from scipy.stats import binomtest, chi2

    a = np.asarray(success_a, dtype=bool)
    c_ = np.asarray(success_b, dtype=bool)
    if a.shape != c_.shape:
        raise DatasetError(f"McNemar needs paired rows; got {a.shape} and {c_.shape}")
    b = int(np.count_nonzero(a & ~c_))
    c = int(np.count_nonzero(~a & c_))
    if b + c == 0:
        return McNemarResult(b, c, 1.0, 1.0, 0.0)
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    exact = float(binomtest(c, b + c, 0.5).pvalue)
    return McNemarResult(b, c, min(1.0, exact), float(chi2.sf(stat, 1)), float(stat))


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
    name: str, a: npt.ArrayLike, b: npt.ArrayLike, *, confidence: float = 0.95
) -> Delta:
    """Difference of two proportions measured on the same units (McNemar's exact test).

    Only the discordant pairs carry information about the difference: with ``n01`` pairs where
    only B succeeded and ``n10`` where only A did, the p-value is :func:`mcnemar`'s exact one,
    and the interval is the Wald interval of the paired difference,
    ``se = sqrt(n01 + n10 − (n01 − n10)² / n) / n``.
    """
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    n = len(a)
    test = "McNemar exact (paired)"
    if n == 0:
        return Delta.undefined(name, test, 0, 0)
    mc = mcnemar(a, b)
    n01, n10 = mc.candidate_only, mc.baseline_only
    pa, pb = float(a.mean()), float(b.mean())
    diff = pb - pa
    se = math.sqrt(max(0.0, mc.discordant - (n01 - n10) ** 2 / n)) / n
    half = _z(0.5 + confidence / 2) * se
    return Delta(name, pa, pb, diff, diff - half, diff + half, mc.p_value, test, n, n)


def wilson_interval(x: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``x / n`` (``nan`` for ``n = 0``)."""
    if n == 0:
        return math.nan, math.nan
    z = _z(0.5 + confidence / 2)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mde_two_proportions(
    p_base: float, n_a: float, n_b: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest absolute difference of proportions a two-sided test detects with ``power``.

    ``p_base`` is clipped to [0.01, 0.99]: a baseline of exactly 0 or 1 (a short test) would
    otherwise claim that any difference is detectable. Counts may be effective (fractional)
    counts, e.g. divided by a design effect.

    Example:
        >>> round(mde_two_proportions(0.5, 1000, 1000), 4)
        0.0626
    """
    if n_a <= 0 or n_b <= 0 or not math.isfinite(p_base):
        return math.nan
    p = min(0.99, max(0.01, p_base))
    return (_z(1 - alpha / 2) + _z(power)) * math.sqrt(p * (1 - p) * (1 / n_a + 1 / n_b))


def required_per_arm(p_a: float, p_b: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Observations per arm a two-proportion test needs to detect ``p_b − p_a`` with ``power``."""
    d = p_b - p_a
    if not (math.isfinite(d) and d != 0):
        return math.inf
    k = (_z(1 - alpha / 2) + _z(power)) ** 2
    return k * (p_a * (1 - p_a) + p_b * (1 - p_b)) / d**2


# -- many tests at once ---------------------------------------------------------------------------


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


def adjust_p_values(p_values: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    """Adjusted p-values by ``method``: ``holm``, ``bh`` (Benjamini–Hochberg) or ``none``.

    Raises:
        ConfigError: An unknown method.
    """
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return np.asarray(p_values, dtype=float)
    raise ConfigError(f"correction {method!r} is not one of {', '.join(CORRECTIONS)}")


# -- PSI and drift tests --------------------------------------------------------------------------


def finite_values(values: Any) -> np.ndarray:
    """``values`` as a flat float array without NaN and infinities."""
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def quantile_edges(values: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Interior bin edges at the quantiles of ``values`` (ties merge bins)."""
    if values.size == 0:
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1]))


def bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` per bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1)
    return counts / max(values.size, 1)


def psi_from_shares(
    ref: Sequence[float] | np.ndarray, cur: Sequence[float] | np.ndarray, epsilon: float = EPSILON
) -> float:
    """PSI of two share vectors over the same bins, each share floored at ``epsilon``."""
    ref = np.maximum(np.asarray(ref, dtype=float), epsilon)
    cur = np.maximum(np.asarray(cur, dtype=float), epsilon)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def psi(
    reference: Sequence[float] | np.ndarray,
    current: Sequence[float] | np.ndarray,
    *,
    n_bins: int = N_BINS,
    epsilon: float = EPSILON,
) -> float:
    """Population stability index of ``current`` against ``reference`` (numeric values).

    Bins are cut at the reference's quantiles; each bin's share is floored at ``epsilon``.
    Missing values are ignored.

    Raises:
        DatasetError: A side has no non-missing value.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> round(psi(rng.normal(size=5000), rng.normal(size=5000)), 3)  # no drift
        0.002
    """
    ref = finite_values(reference)
    cur = finite_values(current)
    if ref.size == 0 or cur.size == 0:
        raise DatasetError("psi needs at least one non-missing value on each side")
    edges = quantile_edges(ref, n_bins)
    return psi_from_shares(bin_shares(ref, edges), bin_shares(cur, edges), epsilon)


def feature_test(entry: Mapping[str, Any], values: pd.Series | np.ndarray) -> dict[str, Any]:
    """PSI and two-sample test of live ``values`` against one feature's reference entry.

    Args:
        entry: ``profile["features"][name]`` (or ``profile["prediction"]``) of a reference
            profile (:func:`workbench.profile.reference_profile`).
        values: The live values of the feature.

    Returns:
        ``{"n", "psi", "statistic", "p_value", "test", "missing", "out_of_range"}``; the
        statistic and p-value are NaN when a side has fewer than two values.
    """
    import pandas as pd

    series = pd.Series(values)
    missing = float(series.isna().mean()) if len(series) else 0.0
    if entry["kind"] == "categorical":
        return {
            **_categorical_test(entry, series.dropna()),
            "missing": missing,
            "out_of_range": float("nan"),
        }
    cur = finite_values(pd.to_numeric(series, errors="coerce"))
    result: dict[str, Any] = {"n": int(cur.size), "test": "ks", "missing": missing}
    if cur.size == 0:
        return {
            **result,
            "psi": float("nan"),
            "statistic": float("nan"),
            "p_value": float("nan"),
            "out_of_range": float("nan"),
        }
    edges = np.asarray(entry["edges"], dtype=float)
    result["psi"] = psi_from_shares(entry["shares"], bin_shares(cur, edges))
    sample = np.asarray(entry["sample"], dtype=float)
    if cur.size >= 2 and sample.size >= 2:
        from scipy.stats import ks_2samp

        ks = ks_2samp(sample, cur)
        result["statistic"], result["p_value"] = float(ks.statistic), float(ks.pvalue)
    else:
        result["statistic"] = result["p_value"] = float("nan")
    lo, hi = entry.get("min"), entry.get("max")
    result["out_of_range"] = (
        float(np.mean((cur < lo) | (cur > hi))) if lo is not None and hi is not None else 0.0
    )
    return result


def _categorical_test(entry: Mapping[str, Any], values: pd.Series) -> dict[str, Any]:
    cats = list(entry["categories"])
    index = {c: i for i, c in enumerate(cats)}
    other = index.get(OTHER)
    codes = [index.get(str(v), other) for v in values]
    # Categories never seen in the reference land in the "other" bin, or a bin of their own.
    unseen = sum(c is None for c in codes)
    counts = np.bincount([c for c in codes if c is not None], minlength=len(cats)).astype(float)
    counts = np.append(counts, unseen)
    ref = np.append(np.asarray(entry["shares"], dtype=float), 0.0)
    n = len(values)
    result: dict[str, Any] = {"n": n, "test": "chi2"}
    if n == 0:
        return {**result, "psi": float("nan"), "statistic": float("nan"), "p_value": float("nan")}
    result["psi"] = psi_from_shares(ref, counts / n)
    table = np.vstack([ref * int(entry["n"]), counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or int(entry["n"]) == 0:
        result["statistic"], result["p_value"] = 0.0, 1.0
        return result
    from scipy.stats import chi2_contingency

    chi = chi2_contingency(table)
    result["statistic"], result["p_value"] = float(chi.statistic), float(chi.pvalue)
    return result
