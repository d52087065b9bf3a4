"""The demo's monitoring stage: serve the champion a drifting stream, monitor it, decide, and
retrain when the decision says so.

The demo narrates on a console and drives progress bars; the monitoring, the decision and the
retraining are services (:mod:`workbench.monitor`, :mod:`workbench.retrain`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..retrain import OUTCOME_RECORD, Decision, RetrainOutcome, retrain_decision, retrain_now
from ._stages import say

if TYPE_CHECKING:
    from ..config import Workspace
    from ..monitor import MonitorInputs, MonitorReport
    from ..store import Store

__all__ = ["DEMO_DRIFT_FEATURES", "MonitorStageResult", "monitor_stage"]

#: The breast-cancer size features the demo's stream mirrors halfway through (an instrument
#: recalibrated upside down): they carry much of both families' signal, so quality visibly
#: decays, and a model retrained on the mirrored data can learn it back.
DEMO_DRIFT_FEATURES = (
    "mean radius",
    "mean perimeter",
    "mean area",
    "mean concave points",
    "worst radius",
    "worst perimeter",
    "worst area",
    "worst concave points",
)


@dataclass(frozen=True)
class MonitorStageResult:
    """What :func:`monitor_stage` did.

    Attributes:
        report_id: The monitor report.
        report_html: Its HTML page.
        decision: The retrain decision.
        bundle_dir: The champion's bundle that served the stream.
        log_path: The stub's prediction log.
        labels_path: The delayed labels (CSV).
        retrain: The retraining and its comparison (``None`` when not retrained).
    """

    report_id: str
    report_html: str | None
    decision: Decision
    bundle_dir: str
    log_path: str
    labels_path: str
    retrain: RetrainOutcome | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "report_html": self.report_html,
            "decision": self.decision.to_dict(),
            "bundle_dir": self.bundle_dir,
            "log_path": self.log_path,
            "labels_path": self.labels_path,
            "retrain": self.retrain.to_dict() if self.retrain else None,
        }


def _demo_drift(ds: Any) -> Any:
    """Mirror the demo's size features halfway (another dataset: its first 3 numeric ones)."""
    from ..traffic import CovariateDrift

    wanted = [f for f in DEMO_DRIFT_FEATURES if f in ds.numeric_features]
    features = (
        tuple(wanted) if len(wanted) == len(DEMO_DRIFT_FEATURES) else tuple(ds.numeric_features[:3])
    )
    return CovariateDrift(features, start=0.5, scale=-1.0, shift=0.5)


def monitor_stage(
    ws: Workspace,
    store: Store,
    *,
    champion_ref: str = "champion",
    fast: bool = False,
    auto: bool = True,
    bundle_dir: str | Path | None = None,
    seed: int = 7,
    console: Any = None,
) -> MonitorStageResult:
    """The demo's monitoring stage: serve the champion a drifting stream and act on what is seen.

    1. take the champion's verified bundle (``bundle_dir``, or
       :func:`workbench.export.bundle_for_ref`: reused or exported) and serve it on 127.0.0.1
       with a prediction log;
    2. send it a synthetic stream resampled from its dataset whose size features are mirrored
       and shifted halfway through (:data:`DEMO_DRIFT_FEATURES`), one request per row keyed by
       ``X-Request-ID``; write the delayed labels feed to a CSV;
    3. monitor the log against the bundle's reference, decide (drift and decay → retrain);
    4. with ``auto`` and a ``retrain`` decision: :func:`retrain_now` and its comparison;
    5. render the monitor report (notebook 07).

    Args:
        ws: The workspace.
        store: Its store.
        champion_ref: The serving model.
        fast: 1000 requests in windows of 125 and a 3-trial retraining (else 2000, 250, 20).
        auto: Retrain when the decision says so.
        bundle_dir: The champion's bundle from the release stage, if there is one.
        seed: Seed of the stream.
        console: A rich console for progress lines.

    Returns:
        The :class:`MonitorStageResult`.
    """
    from ..bundle import model_source
    from ..datasets import dataset_from_params
    from ..export import bundle_for_ref
    from ..monitor import (
        attach_record,
        load_inputs,
        monitor_inputs,
        render_report,
        save_report,
    )
    from ..registry import resolve_ref
    from ..serving import background_server
    from ..store import utcnow
    from ..traffic import post_stream, synthetic_stream

    run = store.get_run(resolve_ref(store, champion_ref))
    bundle = Path(bundle_dir) if bundle_dir else bundle_for_ref(ws, store, run.id).bundle
    ds = dataset_from_params(run.params)
    n, window = (1000, 125) if fast else (2000, 250)
    drift = _demo_drift(ds)
    stream = synthetic_stream(
        ds, n=n, seed=seed, covariate=[drift], start=utcnow(), interval="1h", label_delay="6h"
    )
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    ws.logs_dir.mkdir(parents=True, exist_ok=True)
    log_path = ws.logs_dir / f"monitor-{run.id}-{stamp}.jsonl"
    labels_path = ws.logs_dir / f"labels-{run.id}-{stamp}.csv"
    say(
        console,
        f"  monitor: serving {bundle.name}; {n} requests, "
        f"{', '.join(drift.features)} mirrored from request {n // 2}",
    )
    source = model_source(bundle)
    with background_server(bundle, model_uri=source, log_path=log_path) as url:
        sent = post_stream(url, stream)
    stream.labels.to_csv(labels_path, index=False)
    inputs = load_inputs(log=log_path, bundle=bundle, labels=labels_path, ws=ws)
    report = monitor_inputs(inputs, window=window)
    decision = retrain_decision(report, store=store, champion=champion_ref)
    save_report(store, report, decision=decision)
    say(console, f"  monitor: {sent['ok']} answered; report {report.id}: {decision.action.upper()}")
    for reason in decision.reasons:
        say(console, f"    - {reason}")
    outcome = None
    if auto and decision.retrain:
        outcome = _retrain_for_demo(ws, store, report, inputs, champion_ref, fast, console)
        attach_record(store, report.id, OUTCOME_RECORD, outcome.to_dict())
    html = render_report(ws, store, report.id)
    return MonitorStageResult(
        report.id, str(html), decision, str(bundle), str(log_path), str(labels_path), outcome
    )


def _retrain_for_demo(
    ws: Workspace,
    store: Store,
    report: MonitorReport,
    inputs: MonitorInputs,
    champion_ref: str,
    fast: bool,
    console: Any,
) -> RetrainOutcome:
    from contextlib import nullcontext

    progress: Any = nullcontext()
    if console is not None:
        from ..progress import RichProgress

        progress = RichProgress(console, label="retrain")
    with progress as sink:
        outcome = retrain_now(
            ws,
            store,
            report,
            inputs,
            champion=champion_ref,
            trials=3 if fast else 20,
            n_boot=200 if fast else 2000,
            progress=sink,
        )
    c = outcome.comparison
    say(
        console,
        f"  retrain: run {outcome.run_id} on {outcome.rows} recent rows vs the "
        f"champion's model on them ({outcome.baseline_run_id}): {c.decision}",
    )
    for reason in c.reasons[:5]:
        say(console, f"    - {reason}")
    return outcome
