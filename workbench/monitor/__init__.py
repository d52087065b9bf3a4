"""Watch a released model: feature and prediction drift, quality decay, latency, over windows.

The monitor compares live traffic (a stub's prediction log, a CSV of requests or a synthetic
:class:`~workbench.traffic.Stream`) with a *reference profile* of the data the model was built
on, window by window (``window`` consecutive requests each, in time order):

* **feature drift**: per feature, the population stability index (PSI) over 10 bins cut at the
  reference's deciles, ``PSI = Σ (cur − ref) · ln(cur / ref)`` with every share floored at
  ``epsilon = 1e-4`` (an empty bin would otherwise make it infinite), and a two-sample test:
  Kolmogorov–Smirnov (``scipy.stats.ks_2samp``) for numeric features, chi-square for
  categorical ones. The p-values of one window are corrected for testing many features at once
  (Holm by default, controlling the family-wise error rate; ``bh`` is Benjamini–Hochberg).
* **prediction drift**: the same PSI and test on the model's output (the positive-class
  probability for binary classifiers, the predicted class for multiclass, the value for
  regression).
* **quality decay**: once labels arrive (joined by request key), the task's headline metric
  per window with a bootstrap 95% CI, against the reference metric measured on the test split.
* **latency trend**: p50/p99 per window, from the prediction log.

Thresholds (:class:`Thresholds`; PSI levels are the usual credit-scoring conventions)::

    PSI < 0.1 stable · 0.1 ≤ PSI < 0.25 warn · PSI ≥ 0.25 alert
    feature status   alert  PSI ≥ psi_alert AND corrected p < alpha (0.05)
                     warn   PSI ≥ psi_warn OR corrected p < alpha
    decay            the window's metric is worse than the reference by more than decay_gate
                     (relative, 5%) AND its 95% CI lies entirely on the worse side

Both conditions are needed for an alert because each alone misleads on small windows: PSI is
biased upwards by sampling noise (about ``(bins − 1) · (1/n_ref + 1/n_cur)`` with no drift at
all, ≈ 0.1 for 114 reference rows and 250 live rows), and a test on many rows rejects
differences too small to matter.

The reference profile (:func:`workbench.profile.reference_profile`) holds per feature the decile
edges and shares, a sorted sample (≤ 512 values) for the KS test, the range seen in training, and
the reference prediction distribution and metric; the statistics are those of
:mod:`workbench.stats`. A bundle without a stored profile gets one built from its
``evidence/test_split.json`` and the manifest's ranges (:func:`profile_from_bundle`).

Example::

    report = monitor_files(log="logs/predictions.jsonl", bundle="exports/run-42",
                           labels="labels.csv", window=250)
    report.flagged_features()        # ['mean radius', ...] in the latest window
    show(drift_heatmap(report))      # workbench.figures.monitor
    save_report(store, report)       # a row per report and per window in the store
    html = render_report(ws, store, report.id)

Modules: ``_report`` (thresholds, the report and its record), ``_compute`` (:func:`monitor`),
``_inputs`` (profiles, logs, labels, finding a bundle for a log), ``_records`` (the store and
the page); the figures are in :mod:`workbench.figures.monitor`, the index section in
:mod:`workbench.reports`, notebook 07's helper in :mod:`workbench.notebook`.
"""

from __future__ import annotations

from ._compute import ID_PREFIX, monitor
from ._inputs import (
    MonitorInputs,
    load_inputs,
    monitor_files,
    monitor_inputs,
    profile_from_bundle,
)
from ._records import (
    NOTEBOOK,
    attach_record,
    list_reports,
    load_decision,
    load_record,
    load_report,
    render_report,
    report_from_record,
    report_html_path,
    save_report,
)
from ._report import DEFAULT_WINDOW, RECORD_SCHEMA, MonitorReport, Thresholds

__all__ = [
    "DEFAULT_WINDOW",
    "ID_PREFIX",
    "NOTEBOOK",
    "RECORD_SCHEMA",
    "MonitorInputs",
    "MonitorReport",
    "Thresholds",
    "attach_record",
    "list_reports",
    "load_decision",
    "load_inputs",
    "load_record",
    "load_report",
    "monitor",
    "monitor_files",
    "monitor_inputs",
    "profile_from_bundle",
    "render_report",
    "report_from_record",
    "report_html_path",
    "save_report",
]
