"""The release check: evidence that an exported bundle may be released.

:func:`release_check` starts the bundle's stub on 127.0.0.1 (in a thread of this process,
through :func:`workbench.serving.background_server`) and runs the four kinds of pre-release test
the design names, each recorded as a :class:`Check`:

============ ==================================================================================
integration  the stub's answers on the bundle's evidence rows (the run's test split) equal the
             offline predictions: 100% label agreement, max |Δ probability| within tolerance
system       the bundle matches its manifest; bad inputs get their 4xx and never a 5xx;
             ``/metrics`` and the prediction log count every request; a stopped and restarted
             stub answers the same; a tampered or missing model file is refused at start
performance  a bounded load test (requests/s, p50/p95/p99/max latency, errors)
acceptance   absolute gates on the manifest's test metrics and the measured latency
============ ==================================================================================

Gates use the language of :mod:`workbench.gates` in its ``candidate`` form, read as "the
released model's value": ``roc_auc >= 0.95``, ``p99_ms <= 20``, ``error_rate <= 0`` (see
``templates/release_gates.yaml`` and :func:`workbench.gates.parse_release_gate`). Besides the
metrics a comparison knows, a release gate may name the load-test numbers of
:data:`workbench.gates.RELEASE_METRICS`.

The result is stored in ``wb_releases`` (the JSON of :meth:`ReleaseReport.to_dict`), written as
evidence to ``reports/releases/<id>.json`` and rendered by notebook 05 to
``reports/releases/<id>.html``, which the report index links.

Example::

    manifest = export_run(ws, store, "champion", mode="load")
    report = release_check(ws, store, manifest.bundle_dir, gates=["p99_ms <= 20"])
    report.passed, report.failures

The package, by job: ``_report`` (Check, ReleaseReport and the frames notebook 05 shows),
``_checks`` (each check against a running stub), ``_stub`` (starting, restarting and
load-testing the stub for the checks), ``_run`` (:func:`release_check`, the store, the evidence
JSON, :func:`render_report`). The index's table is in
:mod:`workbench.reports`, notebook 05's helpers in :mod:`workbench.notebook`, the demo's stage
in :mod:`workbench.demo`. The latency figure is :func:`workbench.figures.release.latency_figure`.
"""

from __future__ import annotations

from ._report import CHECK_KINDS, Check, ReleaseFailed, ReleaseReport
from ._run import (
    NOTEBOOK,
    evidence_path,
    get_release,
    list_releases,
    release_check,
    release_dir,
    release_report_path,
    render_report,
)

__all__ = [
    "CHECK_KINDS",
    "NOTEBOOK",
    "Check",
    "ReleaseFailed",
    "ReleaseReport",
    "evidence_path",
    "get_release",
    "list_releases",
    "release_check",
    "release_dir",
    "release_report_path",
    "render_report",
]
