"""The retrain decision: schedule for seasonal data, measured cost, a winning challenger, the
cost budget; the recent-data CSV, the champion's re-evaluation and `retrain-check --auto`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench import monitor as mon
from workbench import retrain as rt
from workbench._files import sha256_file
from workbench.compare import compare_runs
from workbench.config import Workspace
from workbench.datasets import Dataset, load_dataset
from workbench.exceptions import ConfigError
from workbench.gates import GateStatus
from workbench.modelio import save_model
from workbench.profile import reference_profile
from workbench.registry import promote
from workbench.retrain._decision import _decide
from workbench.retrain._retraining import _recent_start
from workbench.store import ArtifactRecord, DatasetRecord, MetricRecord, RunStatus, Store, utcnow
from workbench.traffic import CovariateDrift, synthetic_stream

UTC0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
DRIFTED = ("mean radius", "worst texture")
AUC_GATE = ["roc_auc delta_ci_low >= 0"]  # deterministic: no latency gate in these tests


@pytest.fixture(scope="module")
def cancer() -> Dataset:
    return load_dataset("breast_cancer")


@pytest.fixture(scope="module")
def fitted(cancer: Dataset) -> tuple[Any, dict[str, Any]]:
    """A logistic regression and the reference profile of its training rows."""
    X_train, _, y_train, _ = train_test_split(cancer.X, cancer.y, test_size=0.25, random_state=0)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pipe.fit(X_train, y_train)
    profile = reference_profile(
        X_train,
        y_score=pipe.predict_proba(X_train),
        y_true=y_train,
        task="classification",
        class_values=[0, 1],
        classes=["malignant", "benign"],
    )
    return pipe, profile


def drifted_report(cancer: Dataset, fitted: Any, *, drift: bool = True) -> Any:
    pipe, profile = fitted
    cov = [CovariateDrift(DRIFTED, start=0.5, shift=2.0)] if drift else []
    stream = synthetic_stream(cancer, n=1000, seed=2, covariate=cov)
    return mon.monitor(stream, profile, window=125, model=pipe), stream


def model_run(
    ws: Workspace, store: Store, run_id: str, pipe: Any, cancer: Dataset, *, search_s: float = 75.0
) -> str:
    """Record a finished run with a model file and a timed search stage, as the runner would."""
    fp = cancer.fingerprint
    store.record_dataset(
        DatasetRecord(
            fp,
            cancer.name,
            "test",
            cancer.target,
            cancer.task,
            *cancer.shape,
            cancer.features,
            utcnow(),
        )
    )
    store.create_run(
        run_id,
        dataset_name=cancer.name,
        model_family="logreg",
        seed=42,
        stages=[("search", "02_search.ipynb"), ("evaluate", "03_evaluate.ipynb")],
        params={"dataset": cancer.name, "seed": 42, "model": "logreg"},
        dataset_fingerprint=fp,
    )
    path = ws.run_dir(run_id) / "model.skops"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_model(pipe, path)
    art = ArtifactRecord("model", "model", str(path), sha256_file(path), path.stat().st_size)
    store.log_artifact(run_id, art)
    for stage in ("search", "evaluate"):
        store.start_stage(run_id, stage, output_path=f"{stage}.ipynb")
        store.finish_stage(run_id, stage, RunStatus.SUCCEEDED)
    _set_stage_times(store, run_id, "search", UTC0 - timedelta(seconds=search_s), UTC0)
    store.log_metrics(run_id, [MetricRecord("search", "trials_complete", 20.0)])
    store.finish_run(run_id, RunStatus.SUCCEEDED)
    return run_id


def _set_stage_times(store: Store, run_id: str, stage: str, start: datetime, end: datetime) -> None:
    from workbench.store import schema as t

    c = t.stages.c
    store._write(
        lambda conn: conn.execute(
            t.stages.update()
            .where((c.run_id == run_id) & (c.name == stage))
            .values(started_at=start, finished_at=end)
        )
    )


def recent_csv(cancer: Dataset, tmp_path: Path, n: int = 400) -> Path:
    frame = cancer.X.copy()
    frame["target"] = cancer.y.to_numpy()
    path = tmp_path / "recent.csv"
    frame.iloc[:n].to_csv(path, index=False)
    return path


# -- schedule -----------------------------------------------------------------------------------


def test_schedule_due_by_calendar_month_quarter_and_duration() -> None:
    feb28 = datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert rt.schedule_due(UTC0, feb28, "monthly") == (True, feb28)  # Jan 31 + 1 month
    assert rt.schedule_due(UTC0, feb28 - timedelta(minutes=1), "monthly")[0] is False
    assert rt.schedule_due(UTC0, datetime(2026, 4, 30, 12, tzinfo=UTC), "quarterly")[0]
    assert not rt.schedule_due(UTC0, UTC0 + timedelta(days=13), "14D")[0]
    assert rt.schedule_due(UTC0.replace(tzinfo=None), UTC0 + timedelta(days=14), "14D")[0]
    with pytest.raises(ConfigError, match="weekly, monthly"):
        rt.schedule_due(UTC0, UTC0, "sometimes")


def test_seasonal_data_is_retrained_when_the_period_has_passed() -> None:
    later = datetime(2026, 3, 2, tzinfo=UTC)
    due = rt.retrain_decision(schedule="monthly", last_trained=UTC0, now=later)
    assert due.action == "retrain" and due.reasons[0].startswith("schedule monthly")
    assert due.check("schedule").evidence["age_days"] == pytest.approx(29.5)
    early = rt.retrain_decision(schedule="monthly", last_trained=UTC0, now=UTC0 + timedelta(7))
    assert early.action == "wait" and "next due 2026-02-28" in early.check("schedule").detail
    assert "no monitor report" in early.notes[0]
    assert rt.retrain_decision(last_trained=UTC0).action == "wait"  # no schedule set


def test_schedule_and_cost_come_from_the_champion_run(
    workspace: Workspace, store: Store, cancer: Dataset, fitted: Any
) -> None:
    run_id = model_run(workspace, store, "20260131-120000-aaaaaa", fitted[0], cancer)
    promote(store, run_id, "champion")
    cost = rt.training_cost(store, "champion")
    assert cost.wall_s == pytest.approx(75.0) and cost.trials == 20
    assert cost.cpu_s is None and "records no CPU time" in cost.note
    assert "75.0 s wall, CPU seconds not recorded, 20 trials" in cost.describe()
    store.log_metrics(run_id, [MetricRecord("search", "cpu_seconds", 140.0)])
    assert rt.training_cost(store, run_id).cpu_s == 140.0
    decision = rt.retrain_decision(
        store=store, schedule="monthly", now=datetime(2026, 3, 1, tzinfo=UTC)
    )
    assert decision.action == "retrain" and decision.champion == run_id
    assert decision.cost is not None and decision.cost.wall_s == pytest.approx(75.0)
    assert "no 'challenger' alias" in decision.check("challenger").detail
    again = rt.Decision.from_dict(json.loads(json.dumps(decision.to_dict())))
    assert again == decision
    assert "Cost of the last training" in decision.summary_markdown()


# -- drift, watch list and cost budget -----------------------------------------------------------


def test_watch_list_and_cost_budget(cancer: Dataset, fitted: Any) -> None:
    report, _ = drifted_report(cancer, fitted)
    assert set(report.flagged_features()) == set(DRIFTED)
    assert rt.retrain_decision(report, watch=["mean radius"]).action == "retrain"
    calm = rt.retrain_decision(report, watch=["worst area"]).check("drift")
    assert not calm.triggered and "the 1 watched features" in calm.detail
    with pytest.raises(ConfigError, match="'nope' are not monitored"):
        rt.retrain_decision(report, watch=["nope"])
    cost = rt.TrainingCost("r", "search", 600.0, None)
    fired = [rt.Check("drift", True, "drift on x")]
    action, reasons = _decide(fired, cost, 60.0)
    assert action == "wait" and "above the budget of 60.0 s" in reasons[-1]
    harm = [*fired, rt.Check("decay", True, "auc fell")]
    assert _decide(harm, cost, 60.0)[0] == "retrain"
    assert _decide(fired, cost, 6000.0)[0] == "retrain"


# -- a challenger that beats the champion; the champion re-evaluated -----------------------------


def test_a_challenger_that_beats_the_champion_triggers_retraining(
    workspace: Workspace, store: Store, cancer: Dataset, fitted: Any, tmp_path: Path
) -> None:
    good = fitted[0]
    shuffled = np.random.default_rng(0).permutation(cancer.y.to_numpy())
    bad = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(cancer.X, shuffled)
    model_run(workspace, store, "20260101-000000-bbbbbb", bad, cancer)
    model_run(workspace, store, "20260101-000001-cccccc", good, cancer)
    csv = recent_csv(cancer, tmp_path)
    a = rt.evaluate_champion_on(
        workspace, store, "20260101-000000-bbbbbb", csv, target="target", seed=42, n_boot=100
    )
    b = rt.evaluate_champion_on(
        workspace, store, "20260101-000001-cccccc", csv, target="target", seed=42, n_boot=100
    )
    run_a = store.get_run(a)
    assert run_a.status is RunStatus.SUCCEEDED and run_a.source == "retrain"
    assert (
        run_a.artifact("model").sha256
        == store.get_run("20260101-000000-bbbbbb").artifact("model").sha256
    )
    assert run_a.metric("single_p99_ms", stage="evaluate") is not None
    promote(store, a, "champion")
    promote(store, b, "challenger")
    assert not rt.retrain_decision(store=store).check("challenger").triggered  # not compared
    comparison = compare_runs(workspace, store, b, a, gates=AUC_GATE, n_boot=200)
    assert comparison.decision == "promote"  # same test rows: the pairing works
    decision = rt.retrain_decision(store=store)
    check = decision.check("challenger")
    assert decision.action == "retrain" and check.triggered
    assert comparison.id in check.detail and "roc_auc delta +" in check.detail


# -- retraining on recent traffic ---------------------------------------------------------------


def test_recent_training_csv_starts_at_the_drift_and_maps_labels(
    cancer: Dataset, fitted: Any, tmp_path: Path
) -> None:
    report, stream = drifted_report(cancer, fitted)
    assert _recent_start(report) == 4  # windows 4..7 are in alert
    names = stream.labels.assign(label=stream.labels["label"].map({0: "malignant", 1: "benign"}))
    path, rows = rt.recent_training_csv(report, stream, names, fitted[1], tmp_path / "r.csv")
    frame = pd.read_csv(path)
    assert rows == len(frame) == len(frame.drop_duplicates()) <= 500
    assert set(frame["target"]) == {0, 1}  # names became the champion's class values
    assert (
        frame["mean radius"].mean()
        > cancer.X["mean radius"].mean() + 1.5 * cancer.X["mean radius"].std()
    )  # only drifted rows
    _, more = rt.recent_training_csv(
        report, stream, None, fitted[1], tmp_path / "m.csv", min_rows=800
    )
    assert more > rows  # extended back window by window


def fake_runner(
    monkeypatch: pytest.MonkeyPatch,
    cancer: Dataset,
    seen: dict[str, Any],
    *,
    trained_id: str = "20260101-000009-eeeeee",
) -> None:
    """Replace the runner by the notebooks' work in process: fit on the CSV, then evaluate."""

    class FakeRunner:
        def __init__(self, ws: Workspace, store: Store, **kw: Any) -> None:
            self.ws, self.store = ws, store

        def run(self, req: Any) -> Any:
            seen["request"] = req
            data = pd.read_csv(req.dataset)
            y = data.pop(req.target)
            pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(data, y)
            trained = model_run(self.ws, self.store, trained_id, pipe, cancer)
            run_id = rt.evaluate_champion_on(
                self.ws,
                self.store,
                trained,
                req.dataset,
                target=req.target,
                seed=req.seed,
                n_boot=100,
            )
            return SimpleNamespace(run_id=run_id)

    monkeypatch.setattr("workbench.runner.Runner", FakeRunner)
    monkeypatch.setattr("workbench.compare._run.render_report", lambda *a, **k: None)


def test_retrain_now_trains_on_recent_rows_and_compares_with_the_champion(
    workspace: Workspace,
    store: Store,
    cancer: Dataset,
    fitted: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    champion = model_run(workspace, store, "20260101-000000-dddddd", fitted[0], cancer)
    promote(store, champion, "champion")
    report, stream = drifted_report(cancer, fitted)
    seen: dict[str, Any] = {}
    fake_runner(monkeypatch, cancer, seen)
    outcome = rt.retrain_now(
        workspace, store, report, stream, profile=fitted[1], trials=2, n_boot=200
    )
    req = seen["request"]
    assert req.model == "logreg" and req.trials == 2 and req.target == "target"
    assert tuple(req.stages) == ("search", "evaluate")
    assert Path(req.dataset) == workspace.root / "retrain" / report.id / f"recent-{report.id}.csv"
    baseline = store.get_run(outcome.baseline_run_id)
    assert baseline.params["reevaluates"] == champion
    assert outcome.comparison.baseline.run_id == outcome.baseline_run_id
    assert outcome.comparison.candidate.run_id == outcome.run_id
    # The default gates decide. Trained on the drifted rows, the new model beats the champion's
    # on them, so the quality gate passes; a hold can only come from a cost gate (latency is
    # measured, so it varies from run to run) and the decision must say which.
    c = outcome.comparison
    assert next(g for g in c.gates if g.gate.metric == "roc_auc").passed
    failed = [g for g in c.gates if g.status is GateStatus.FAILED]
    assert c.decision == ("hold" if failed else "promote")
    assert all(g.gate.metric != "roc_auc" for g in failed)
    assert f"comparison {c.id} decided {c.decision}" in outcome.note
    assert outcome.promotion is None  # not asked to promote
    json.dumps(outcome.to_dict())


def test_auto_retraining_promotes_audited_and_the_edge_plan_follows(
    workspace: Workspace,
    store: Store,
    cancer: Dataset,
    fitted: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench.inventory import add_device, inventory_view
    from workbench.registry import RegistryError, aliases, audit_trail

    champion = model_run(workspace, store, "20260101-000000-dddddd", fitted[0], cancer)
    promote(store, champion, "champion")
    add_device(store, "edge-1", model="champion")
    report, stream = drifted_report(cancer, fitted)
    fake_runner(monkeypatch, cancer, {})
    # A gate no model can pass: the comparison holds, nothing moves.
    opts: dict[str, Any] = {"profile": fitted[1], "trials": 2, "n_boot": 100, "promote": True}
    held = rt.retrain_now(
        workspace, store, report, stream, gates=["roc_auc delta_ci_low >= 1"], **opts
    )
    assert held.comparison.decision == "hold" and held.promotion is None
    assert aliases(store)["champion"].run_id == champion and "decided hold" in held.note
    # Trained on the drifted rows, the new model beats the champion's on them: promoted.
    fake_runner(monkeypatch, cancer, {}, trained_id="20260101-000010-ffffff")
    outcome = rt.retrain_now(
        workspace, store, report, stream, gates=["roc_auc delta_ci_low >= 0"], **opts
    )
    c = outcome.comparison
    assert c.decision == "promote" and c.baseline.rescores == champion
    assert outcome.promotion is not None and outcome.promotion.changed
    assert aliases(store)["champion"].run_id == outcome.run_id
    event = audit_trail(store, "champion")[-1]
    assert event.automatic and event.actor.startswith("workbench retrain-check --auto (as ")
    assert event.comparison_id == c.id and not event.forced
    assert event.from_run == champion and event.to_run == outcome.run_id
    assert "automatic" in event.reason and c.id in event.reason
    assert outcome.to_dict()["promotion"]["event"]["automatic"] is True
    assert "Promoted automatically" in rt.outcome_markdown(outcome.to_dict())
    # The edge inventory's plan moves the device to the promoted version.
    plan = inventory_view(store).plan
    assert plan.target is not None and plan.target.run_id == outcome.run_id
    assert [(m.device, m.to_ref) for m in plan.moves] == [("edge-1", plan.target.ref)]
    with pytest.raises(RegistryError, match="cannot be forced"):
        promote(store, champion, "champion", force=True, automatic=True)


# -- the demo's monitoring stage ------------------------------------------------------------------


@pytest.mark.slow  # serves 1000 requests and renders notebook 07
def test_the_demo_stage_serves_the_champions_verified_bundle_and_stores_its_records(
    workspace: Workspace, store: Store, cancer: Dataset, fitted: Any
) -> None:
    from workbench.bundle import Manifest
    from workbench.datasets import make_split
    from workbench.demo import monitor_stage
    from workbench.monitor import load_report

    run_id = model_run(workspace, store, "20260101-000000-ffffff", fitted[0], cancer)
    # What export needs beyond the model: the run's split and its test metrics.
    split = {"fingerprint": cancer.fingerprint, **make_split(cancer, seed=42).to_dict()}
    (workspace.run_dir(run_id) / "split.json").write_text(json.dumps(split))
    store.log_metrics(run_id, [MetricRecord("evaluate", "roc_auc", 0.99)])
    promote(store, run_id, "champion")
    result = monitor_stage(workspace, store, fast=True, auto=False)
    # The one run→bundle export: fingerprint checked, the version registered and served.
    manifest = Manifest.read(result.bundle_dir)
    assert (manifest.data["run_id"], manifest.model_version) == (run_id, "v1")
    stored = store.get_monitor_report(result.report_id)
    assert stored.model_version == "v1" and stored.decision == result.decision.action
    assert stored.report_path == result.report_html and Path(result.report_html).is_file()
    assert load_report(store, result.report_id).n_windows == 8
    assert not list((workspace.root / "monitor").glob("*/*.json"))  # rows, not files
