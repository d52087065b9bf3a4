"""Compare a candidate model with a baseline on the same test rows, with evidence.

A comparison pairs the two runs' saved test predictions row by row and records, in one JSON
document stored in ``wb_comparisons``:

* every quality metric of the task for both models, the delta **candidate − baseline** (in the
  metric's units, never sign-flipped) with a paired-bootstrap 95% CI and p-value;
* for classification, McNemar's test on which rows each model labels correctly (exact binomial
  p-value, and the continuity-corrected chi-square one beside it; :func:`workbench.stats.mcnemar`);
* the trivial baseline (class prior or training mean of the candidate's training rows) on each
  quality metric, and the candidate's lift over it with a paired-bootstrap CI (gate check
  ``lift_ci_low``: "beats the baseline");
* latency (single-row p50/p99, batch throughput): both models timed again side by side in this
  process when the runs were timed in different contexts (a lab kernel vs a batch kernel, a
  different load), else the runs' recorded timings; both values, delta and ratio
  candidate / baseline with bootstrap intervals (``ratio_ci_low``); the model sizes;
* every gate's result (:mod:`workbench.gates`) and the decision: ``promote`` only when every
  applicable gate passes, else ``hold``, with the reasons.

Runs evaluated on different data (dataset fingerprint) or different test rows (split) are
refused with the reason, before anything is computed.

Example::

    cmp = compare_runs(ws, store, "20261129-2050", "champion", n_boot=2000)
    cmp.decision, cmp.reasons
    cmp.to_dict()                                   # the stored record, JSON-ready
    html = render_report(ws, store, cmp.id)         # notebook 04 → reports/comparisons/<id>.html

The package, by job: ``_types`` (Side, MetricDelta, Comparison), ``_compute`` (pairing the saved
predictions, deltas, lifts, McNemar, the decision), ``_latency`` (recorded or re-measured
latency), ``_run`` (:func:`compare_runs`,
:func:`compare_and_report`), ``_records`` (the store and notebook 04's report). The index's
tables are in :mod:`workbench.reports`, notebook 04's helpers in :mod:`workbench.notebook`,
the figures in :mod:`workbench.figures.compare`, the run picker in :mod:`workbench.widgets`.
"""

from __future__ import annotations

from ._latency import RECORDED, REMEASURE, REMEASURED, LatencyEvidence
from ._records import (
    NOTEBOOK,
    comparison_dir,
    comparison_report_path,
    get_comparison,
    list_comparisons,
    render_report,
)
from ._run import RESCORES_PARAM, comparable_runs, compare_and_report, compare_runs
from ._types import CONFIDENCE, Comparison, IncomparableRuns, MetricDelta, Side

__all__ = [
    "CONFIDENCE",
    "NOTEBOOK",
    "RECORDED",
    "REMEASURE",
    "REMEASURED",
    "RESCORES_PARAM",
    "Comparison",
    "IncomparableRuns",
    "LatencyEvidence",
    "MetricDelta",
    "Side",
    "comparable_runs",
    "compare_and_report",
    "compare_runs",
    "comparison_dir",
    "comparison_report_path",
    "get_comparison",
    "list_comparisons",
    "render_report",
]
