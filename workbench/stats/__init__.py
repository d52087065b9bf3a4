"""Statistics: the metric registry, one bootstrap engine, and the statistical tests.

* :mod:`.metrics`: :class:`Metric` and its registry (:func:`register_metric`,
  :func:`get_metric`, :func:`metrics_for`), the built-in metrics with their vectorized weighted
  forms, and :func:`prepare_scores`, which checks targets, scores and class order.
* :mod:`.bootstrap`: one resampling engine (:func:`resample_weights`: paired, unpaired and
  clustered designs, count matrices drawn in chunks), the percentile interval and bootstrap
  p-value, and on top of it metric estimates and differences (:func:`bootstrap_metrics`,
  :func:`paired_bootstrap_delta`, :func:`metric_delta`, ...).
* :mod:`.tests`: McNemar, the two-proportion z-test, MDE and sample size, Holm and
  Benjamini–Hochberg, PSI and the per-feature drift tests (KS, chi-square).

Core layer: imports numpy (scipy and sklearn when a function needs them) and
:mod:`workbench.exceptions`, never a service module.
"""

from __future__ import annotations

from .bootstrap import (
    CHUNK_CELLS,
    Delta,
    Estimate,
    bootstrap_mean_ci,
    bootstrap_metrics,
    bootstrap_p_value,
    bootstrap_proportion_delta,
    bootstrap_quantile,
    bootstrap_quantile_delta,
    check_bootstrap_options,
    metric_delta,
    metric_estimate,
    paired_bootstrap_delta,
    percentile_interval,
    replicates,
    resample_counts,
    resample_weights,
)
from .metrics import (
    HEADLINE,
    TASKS,
    Metric,
    Scores,
    Task,
    check_task,
    f1_from_counts,
    get_metric,
    metrics_for,
    prepare_scores,
    register_metric,
)
from .tests import (
    CORRECTIONS,
    EPSILON,
    N_BINS,
    OTHER,
    McNemarResult,
    adjust_p_values,
    benjamini_hochberg,
    bin_shares,
    feature_test,
    finite_values,
    holm,
    mcnemar,
    mde_two_proportions,
    paired_proportion_delta,
    psi,
    psi_from_shares,
    quantile_edges,
    required_per_arm,
    two_proportion_delta,
    wilson_interval,
)

__all__ = [
    "CHUNK_CELLS",
    "CORRECTIONS",
    "EPSILON",
    "HEADLINE",
    "N_BINS",
    "OTHER",
    "TASKS",
    "Delta",
    "Estimate",
    "McNemarResult",
    "Metric",
    "Scores",
    "Task",
    "adjust_p_values",
    "benjamini_hochberg",
    "bin_shares",
    "bootstrap_mean_ci",
    "bootstrap_metrics",
    "bootstrap_p_value",
    "bootstrap_proportion_delta",
    "bootstrap_quantile",
    "bootstrap_quantile_delta",
    "check_bootstrap_options",
    "check_task",
    "f1_from_counts",
    "feature_test",
    "finite_values",
    "get_metric",
    "holm",
    "mcnemar",
    "mde_two_proportions",
    "metric_delta",
    "metric_estimate",
    "metrics_for",
    "paired_bootstrap_delta",
    "paired_proportion_delta",
    "percentile_interval",
    "prepare_scores",
    "psi",
    "psi_from_shares",
    "quantile_edges",
    "register_metric",
    "replicates",
    "required_per_arm",
    "resample_counts",
    "resample_weights",
    "two_proportion_delta",
    "wilson_interval",
]
