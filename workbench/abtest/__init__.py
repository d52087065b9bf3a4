"""A/B and shadow tests of two models on real stubs, with simulated users and a decision.

The seed's rule: when a model already runs, a new one is verified with an A/B test that weighs
result quality, latency and the users' behaviour. :func:`run_abtest` serves both models from
their bundles on 127.0.0.1, replays a request stream through a router and compares:

* ``online`` mode splits the traffic by a stable hash of the request key (the same key always
  reaches the same variant; :func:`assign_variant`); ``shadow`` mode answers every request from
  A and mirrors it to B, whose answers are recorded and never returned (:class:`Router`);
* per variant: the headline metric on the delayed labels (bootstrap 95% CI), p50/p99 latency,
  error rate, and the acceptance rate of simulated users (:class:`UserModel`, documented and
  seeded);
* ``B − A`` with intervals and p-values (paired in shadow mode), the minimum detectable effect
  of the traffic used, and a decision ``ship_b`` / ``keep_a`` / ``inconclusive`` with reasons
  (:func:`analyze`; the rules are in ``_analysis``, the statistics in :mod:`workbench.stats`);
* a record in the store (:func:`list_abtests`, :func:`load_abtest`: every process on the same
  store sees it), the per-request rows and logs in ``abtests/<id>/`` under the artifact root,
  and the report ``reports/abtests/<id>.html`` (notebook ``06_abtest``; its figures are in
  :mod:`workbench.figures.abtest`), listed on the index by
  :func:`workbench.reports.abtest_sections`.

Example::

    from workbench.abtest import run_abtest
    test = run_abtest(ws, store, "champion", "v3", mode="online", split=0.5, requests=2000)
    test.decision.action, test.decision.reasons
    test.variants_frame()

Errors are the workbench's own (:class:`~workbench.exceptions.ConfigError` for bad options or
incompatible models, :class:`~workbench.exceptions.RunNotFound` for unknown references,
:class:`~workbench.exceptions.ModelError` for tampered bundles).
"""

from __future__ import annotations

from ._analysis import analyze, annotate
from ._records import (
    NOTEBOOK,
    ABTest,
    list_abtests,
    load_abtest,
    load_labels,
    load_requests,
    render_report,
    report_html_path,
)
from ._results import (
    INCONCLUSIVE,
    KEEP_A,
    SHIP_B,
    Analysis,
    Decision,
    Guardrails,
    VariantSummary,
    deltas_frame,
    variants_frame,
)
from ._routing import (
    DEFAULT_SALT,
    MODES,
    VARIANTS,
    Answer,
    Router,
    RouteResult,
    answers_frame,
    assign_variant,
    route_stream,
)
from ._run import MAX_REQUESTS, run_abtest
from ._users import UserModel, unit_hash

__all__ = [
    "DEFAULT_SALT",
    "INCONCLUSIVE",
    "KEEP_A",
    "MAX_REQUESTS",
    "MODES",
    "NOTEBOOK",
    "SHIP_B",
    "VARIANTS",
    "ABTest",
    "Analysis",
    "Answer",
    "Decision",
    "Guardrails",
    "RouteResult",
    "Router",
    "UserModel",
    "VariantSummary",
    "analyze",
    "annotate",
    "answers_frame",
    "assign_variant",
    "deltas_frame",
    "list_abtests",
    "load_abtest",
    "load_labels",
    "load_requests",
    "render_report",
    "report_html_path",
    "route_stream",
    "run_abtest",
    "unit_hash",
    "variants_frame",
]
