"""Comparisons: paired statistics on known cases, refusals, the stored record, the CLI, the
trivial baseline and latency timed in different places.

Runs are built directly in the store (``make_run``): a dataset record, split.json,
test_predictions.json, baseline.json, latency.json, a model file and metrics, as the evaluate
stage would leave them, so only the last test needs real notebooks. ``real_run`` does the same
with a fitted model on real data (what re-timing models side by side needs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner

from workbench import compare as cmp
from workbench import registry, widgets
from workbench._files import sha256_file
from workbench.config import Workspace
from workbench.evaluate import TrivialBaseline
from workbench.exceptions import ConfigError, RunNotFound
from workbench.figures import compare as cmp_figures
from workbench.latency import Latency
from workbench.notebook import show_comparison
from workbench.reports import comparison_sections
from workbench.stats import paired_proportion_delta
from workbench.store import ArtifactRecord, DatasetRecord, MetricRecord, RunStatus, Store, utcnow

FP = "a" * 64
OTHER_FP = "b" * 64
N_BOOT = 400
COST = {
    "single_p50_ms": 0.3,
    "single_p99_ms": 0.5,
    "batch_rows_per_s": 50_000.0,
    "model_size_bytes": 100_000.0,
}
#: Where make_run's runs were timed: one batch kernel, so their timings compare as recorded.
CONTEXT = {"process": "batch kernel", "program": "ipykernel_launcher.py", "threads": 1,
           "pool_threads": {}, "cpu_count": 2, "load_1m": 0.5, "host": "ci", "machine": "x86_64",
           "python": "3.11.7"}  # fmt: skip


def timings(cost: dict[str, float], context: dict[str, Any] = CONTEXT) -> dict[str, Any]:
    """A latency.json whose p50, p99 and rows/s are ``cost``'s (100 calls, 5 batches)."""
    return {
        "schema": 1, "context": context, "metrics": {}, "batch_rows": 100,
        "single_ms": [cost["single_p50_ms"]] * 98 + [cost["single_p99_ms"]] * 2,
        "batch_s": [100 / cost["batch_rows_per_s"]] * 5,
    }  # fmt: skip


# -- fixtures: runs as the evaluate stage leaves them -------------------------------------------


def make_run(
    ws: Workspace,
    store: Store,
    run_id: str,
    *,
    y_true: Sequence[Any],
    y_score: Any,
    labels: Sequence[Any] = (0, 1),
    fingerprint: str = FP,
    task: str = "classification",
    test_rows: Sequence[int] | None = None,
    seed: int = 42,
    family: str = "logreg",
    cost: dict[str, float] | None = None,
    status: RunStatus = RunStatus.SUCCEEDED,
    dataset_name: str = "toy",
    predictions: bool = True,
    evidence: bool = True,
) -> str:
    """Record a finished run with a model file, split, test predictions and metrics; with
    ``evidence`` also its trivial baseline and timings, as the evaluate stage keeps them."""
    store.record_dataset(
        DatasetRecord(
            fingerprint=fingerprint, name=dataset_name, source="test", target="y", task=task,
            n_rows=1000, n_features=3, features=[], created_at=utcnow(),
        )
    )  # fmt: skip
    store.create_run(
        run_id, dataset_name=dataset_name, model_family=family, seed=seed,
        stages=[("evaluate", "03_evaluate.ipynb")], params={"dataset": dataset_name},
        dataset_fingerprint=fingerprint,
    )  # fmt: skip
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = list(test_rows) if test_rows is not None else list(range(len(y_true)))
    _artifact(store, run_id, run_dir / "model.skops", "model", b"model-" + run_id.encode())
    split = {"fingerprint": fingerprint, "seed": seed, "train": [], "valid": [], "test": rows}
    _artifact(store, run_id, run_dir / "split.json", "split.json", json.dumps(split).encode())
    if predictions:
        preds = {
            "rows": rows,
            "labels": list(labels) if task == "classification" else [],
            "y_true": np.asarray(y_true).tolist(),
            "y_score": np.asarray(y_score).tolist(),
        }
        _artifact(
            store, run_id, run_dir / "test_predictions.json", "test_predictions.json",
            json.dumps(preds).encode(),
        )  # fmt: skip
    if evidence:
        if task == "classification":
            trivial = TrivialBaseline("classification", 500, labels=tuple(labels),
                                      prior=tuple([1 / len(labels)] * len(labels)))  # fmt: skip
        else:
            trivial = TrivialBaseline("regression", 500, mean=float(np.mean(y_true)))
        _artifact(store, run_id, run_dir / "baseline.json", "baseline.json",
                  json.dumps(trivial.to_dict()).encode())  # fmt: skip
        _artifact(store, run_id, run_dir / "latency.json", "latency.json",
                  json.dumps(timings(cost or COST)).encode())  # fmt: skip
    metrics = [MetricRecord("evaluate", k, v) for k, v in (cost or COST).items()]
    metrics.append(MetricRecord("evaluate", "roc_auc" if task == "classification" else "rmse", 0.9))
    store.log_metrics(run_id, metrics)
    store.finish_run(run_id, status)
    return run_id


def _artifact(store: Store, run_id: str, path: Path, name: str, data: bytes) -> None:
    path.write_bytes(data)
    store.log_artifact(
        run_id,
        ArtifactRecord(name, "file", str(path), sha256_file(path), len(data), "evaluate"),
    )


def binary_case(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a weak model's probabilities and a strong model's, for the same rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    weak = np.clip(0.5 + 0.15 * (2 * y - 1) + rng.normal(0, 0.25, n), 0.01, 0.99)
    strong = np.clip(0.5 + 0.4 * (2 * y - 1) + rng.normal(0, 0.08, n), 0.01, 0.99)
    return y, np.column_stack([1 - weak, weak]), np.column_stack([1 - strong, strong])


ALWAYS = ["roc_auc delta >= -1"]  # a gate every classification comparison passes


@pytest.fixture
def pair(workspace: Workspace, store: Store) -> tuple[str, str]:
    """(strong candidate, weak baseline) on the same rows."""
    y, weak, strong = binary_case()
    base = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak)
    cand = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=strong,
                    family="rf")  # fmt: skip
    return cand, base


# -- statistics on known cases ------------------------------------------------------------------


def test_identical_models_have_zero_deltas_and_p_one(workspace: Workspace, store: Store) -> None:
    y, weak, _ = binary_case()
    a = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak)
    b = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=weak)
    c = cmp.compare_runs(workspace, store, b, a, gates=ALWAYS, n_boot=N_BOOT)
    for m in c.metrics:
        if m.kind == "quality":
            assert m.delta == 0.0, m.name
            assert m.delta_ci_low <= 0.0 <= m.delta_ci_high, m.name
            assert m.p_value == 1.0, m.name
            assert m.verdict == "no significant difference"
            assert m.ratio == pytest.approx(1.0)
    assert c.mcnemar is not None
    assert (c.mcnemar.baseline_only, c.mcnemar.candidate_only) == (0, 0)
    assert c.mcnemar.p_value == 1.0 and c.mcnemar.p_value_chi2 == 1.0
    assert c.metric("single_p99_ms").delta == 0 and c.metric("single_p99_ms").ratio == 1


def test_clearly_better_model_has_ci_above_zero_and_small_p(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    cand, base = pair
    c = cmp.compare_runs(workspace, store, cand, base, gates=ALWAYS, n_boot=N_BOOT)
    auc = c.metric("roc_auc")
    assert auc.candidate > auc.baseline
    assert auc.delta == pytest.approx(auc.candidate - auc.baseline)
    assert auc.delta_ci_low > 0 and auc.p_value < 0.01 and auc.verdict == "better"
    # Lower-is-better metrics: the delta is not sign-flipped, an improvement is negative.
    ll = c.metric("log_loss")
    assert ll.delta < 0 and ll.delta_ci_high < 0 and ll.verdict == "better"
    assert c.mcnemar.candidate_only > c.mcnemar.baseline_only
    assert c.mcnemar.p_value < 0.01
    # One McNemar: the A/B tests' paired proportion test on the same rows gives the same p.
    y, weak, strong = binary_case()
    paired = paired_proportion_delta("correct", weak.argmax(1) == y, strong.argmax(1) == y)
    assert paired.p_value == c.mcnemar.p_value
    # Swapping the roles flips the sign of every delta.
    back = cmp.compare_runs(workspace, store, base, cand, gates=ALWAYS, n_boot=N_BOOT)
    assert back.metric("roc_auc").delta == pytest.approx(-auc.delta)
    assert back.metric("roc_auc").verdict == "worse"


def test_regression_deltas_keep_metric_units(workspace: Workspace, store: Store) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(10, 3, 150)
    good, bad = y + rng.normal(0, 0.5, 150), y + rng.normal(0, 3, 150)
    kw = {"task": "regression", "labels": ()}
    base = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=bad, **kw)
    cand = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=good, **kw)
    c = cmp.compare_runs(workspace, store, cand, base, n_boot=N_BOOT)  # default gates
    assert c.task == "regression" and c.mcnemar is None
    assert [m.name for m in c.metrics if m.kind == "quality"] == ["rmse", "mae", "r2"]
    rmse = c.metric("rmse")
    assert rmse.delta == pytest.approx(rmse.candidate - rmse.baseline)
    assert rmse.delta < 0 and rmse.delta_ci_high < 0 and rmse.verdict == "better"
    statuses = {g.gate.metric: g.status.value for g in c.gates}
    assert statuses["roc_auc"] == "skipped" and statuses["rmse"] == "passed"
    assert c.decision == "promote"


# -- refusals -----------------------------------------------------------------------------------


def test_different_data_is_refused_with_the_reason(workspace: Workspace, store: Store) -> None:
    y, weak, strong = binary_case()
    a = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak)
    b = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=strong,
                 fingerprint=OTHER_FP, dataset_name="other")  # fmt: skip
    with pytest.raises(cmp.IncomparableRuns, match="different data") as e:
        cmp.compare_runs(workspace, store, b, a, gates=ALWAYS, n_boot=N_BOOT)
    assert "'other'" in str(e.value) and "'toy'" in str(e.value) and "bbbbbbbbbbbb" in str(e.value)
    assert cmp.list_comparisons(store) == []


def test_different_test_rows_are_refused(workspace: Workspace, store: Store) -> None:
    y, weak, strong = binary_case()
    a = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak)
    b = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=strong, seed=7,
                 test_rows=range(1000, 1000 + len(y)))  # fmt: skip
    with pytest.raises(cmp.IncomparableRuns, match="different test rows") as e:
        cmp.compare_runs(workspace, store, b, a, gates=ALWAYS, n_boot=N_BOOT)
    assert "seed 7" in str(e.value) and "--seed" in str(e.value)


def test_missing_predictions_and_same_run_are_refused(workspace: Workspace, store: Store) -> None:
    y, weak, strong = binary_case()
    a = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak)
    b = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=strong,
                 predictions=False)  # fmt: skip
    with pytest.raises(cmp.IncomparableRuns, match="no saved test predictions"):
        cmp.compare_runs(workspace, store, b, a, gates=ALWAYS)
    with pytest.raises(ConfigError, match="same run"):
        cmp.compare_runs(workspace, store, a, a, gates=ALWAYS)
    with pytest.raises(RunNotFound, match="no run, version or alias 'champion'"):
        cmp.compare_runs(workspace, store, a, "champion", gates=ALWAYS)


# -- record, gates, decision --------------------------------------------------------------------


def test_record_round_trips_and_is_strict_json(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    cand, base = pair
    c = cmp.compare_runs(workspace, store, cand, base, n_boot=N_BOOT, seed=3)
    record = c.to_dict()
    json.dumps(record, allow_nan=False)  # undefined numbers are null, never NaN
    stored = cmp.get_comparison(store, c.id)
    assert stored.to_dict() == record
    assert cmp.get_comparison(store, c.id[:-2]).id == c.id  # unique prefix
    assert record["settings"] == {
        "n_boot": N_BOOT, "seed": 3, "confidence": 0.95,
        "delta": "candidate - baseline, in the metric's units",
    }  # fmt: skip
    assert record["candidate"]["run_id"] == cand and record["baseline"]["ref"] == base
    # Same inputs and seed: the same numbers.
    again = cmp.compare_runs(workspace, store, cand, base, n_boot=N_BOOT, seed=3)
    assert again.metrics == c.metrics and again.id != c.id
    assert [x.id for x in cmp.list_comparisons(store)] == [again.id, c.id]
    with pytest.raises(RunNotFound, match="no comparison"):
        cmp.get_comparison(store, "cmp-nope")


def test_decision_follows_gates(workspace: Workspace, store: Store, pair: tuple[str, str]) -> None:
    cand, base = pair
    ok = cmp.compare_runs(
        workspace, store, cand, base, n_boot=N_BOOT,
        gates=["roc_auc delta_ci_low >= 0", "single_p99_ms ratio <= 1.2"],
    )  # fmt: skip
    assert ok.decision == "promote" and "all 2 applicable gates passed" in ok.reasons[0]
    slow = dict(COST, single_p99_ms=5.0)
    y, _, strong = binary_case()
    make_run(workspace, store, "20260101-000002-cccccc", y_true=y, y_score=strong, cost=slow)
    held = cmp.compare_runs(
        workspace, store, "20260101-000002", base, n_boot=N_BOOT,
        gates=["roc_auc delta_ci_low >= 0", "single_p99_ms ratio <= 1.2"],
    )  # fmt: skip
    assert held.decision == "hold"
    assert held.reasons == ("gate 'single_p99_ms ratio <= 1.2' failed: single_p99_ms ratio = 10 "
                            "misses <= 1.2",)  # fmt: skip
    only_other_task = cmp.compare_runs(
        workspace, store, cand, base, n_boot=N_BOOT, gates=["rmse delta_ci_high <= 0"]
    )
    assert only_other_task.decision == "hold"
    assert "no gate applies" in only_other_task.reasons[0]


def test_gates_file_and_default_gates(
    workspace: Workspace, store: Store, pair: tuple[str, str], tmp_path: Path
) -> None:
    cand, base = pair
    path = tmp_path / "g.yaml"
    path.write_text("gates:\n  - model_size_bytes <= 50e6\n")
    c = cmp.compare_runs(workspace, store, cand, base, gates=path, n_boot=N_BOOT)
    assert c.gates_source == str(path) and [g.passed for g in c.gates] == [True]
    default = cmp.compare_runs(workspace, store, cand, base, n_boot=N_BOOT)
    assert default.gates_source == "default (gates.yaml)"
    assert {g.gate.metric for g in default.gates} >= {"roc_auc", "single_p99_ms"}


def test_summary_and_frames_show_the_record(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    cand, base = pair
    c = cmp.compare_runs(workspace, store, cand, base, gates=ALWAYS, n_boot=N_BOOT)
    text = c.summary_markdown()
    auc = c.metric("roc_auc")
    assert "PROMOTE" in text and f"{auc.delta:.4f}" in text and "McNemar" in text
    frame = c.deltas_frame()
    assert frame.loc["roc_auc", "delta"] == auc.delta
    assert list(c.gates_frame()["status"]) == ["passed"]
    fig = cmp_figures.delta_ci_figure(c)
    assert len(fig.data) == 5 and fig.data[0].error_x.array[0] == pytest.approx(
        auc.delta_ci_high - auc.delta
    )
    assert len(cmp_figures.cost_ratio_figure(c).data[0].y) == 4


# -- the trivial baseline -----------------------------------------------------------------------


def test_the_trivial_baseline_and_the_lifts_are_in_the_comparison(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    cand, base = pair
    c = cmp.compare_runs(workspace, store, cand, base, n_boot=N_BOOT)  # default gates
    auc = c.metric("roc_auc")
    assert auc.trivial == 0.5  # the class prior ranks nothing
    assert auc.lift == pytest.approx(auc.candidate - 0.5) and auc.lift_ci_low > 0
    assert auc.baseline_lift == pytest.approx(auc.baseline - 0.5)
    assert c.metric("log_loss").lift < 0  # lower is better: a gain is negative
    beats = next(g for g in c.gates if g.gate.check == "lift_ci_low")
    assert beats.passed and beats.gate.label == "beats the baseline (AUC, 95% CI)"
    assert c.trivial is not None and c.trivial["kind"] == "class prior"
    assert "Trivial baseline (class prior of the training rows): roc_auc 0.5000" in (
        c.summary_markdown()
    )
    assert "the candidate beats it" in c.summary_markdown()
    frame = c.baseline_frame()
    assert list(frame.index) == ["roc_auc", "accuracy", "f1", "log_loss", "brier"]
    assert frame.loc["roc_auc", "trivial baseline"] == 0.5
    assert frame.loc["roc_auc", "candidate lift"] == auc.lift
    assert cmp.get_comparison(store, c.id).to_dict() == c.to_dict()
    fig = cmp_figures.baseline_figure(c)
    assert {t.name for t in fig.data} == {"trivial baseline", "baseline", "candidate"}


def test_runs_evaluated_before_baselines_cannot_pass_the_baseline_gate(
    workspace: Workspace, store: Store
) -> None:
    y, weak, strong = binary_case()
    a = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak,
                 evidence=False)  # fmt: skip
    b = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=strong,
                 evidence=False)  # fmt: skip
    c = cmp.compare_runs(workspace, store, b, a, n_boot=N_BOOT)
    auc = c.metric("roc_auc")
    assert auc.trivial is None and auc.lift is None and c.trivial is None
    beats = next(g for g in c.gates if g.gate.check == "lift_ci_low")
    assert beats.status.value == "failed" and "undefined" in beats.reason
    assert "recorded a trivial baseline" in c.notes[0]
    # No timings kept either: the recorded values, one measurement each, no interval.
    p99 = c.metric("single_p99_ms")
    assert (p99.ratio, p99.ratio_ci_low) == (1.0, None)
    assert p99.measured == "as recorded by each run"
    assert c.decision == "hold"


def test_a_record_of_the_first_schema_is_still_read(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    cand, base = pair
    record = cmp.compare_runs(workspace, store, cand, base, gates=ALWAYS, n_boot=50).to_dict()
    old = {k: v for k, v in record.items() if k not in ("notes", "trivial_baseline", "latency")}
    old["schema"] = 1
    old["candidate"] = {k: v for k, v in old["candidate"].items() if k != "rescores"}
    keys = ("name", "kind", "higher_is_better", "candidate", "baseline", "delta",
            "delta_ci_low", "delta_ci_high", "ratio", "p_value", "verdict")  # fmt: skip
    old["metrics"] = [{k: m[k] for k in keys} for m in old["metrics"]]
    back = cmp.Comparison.from_dict(old)
    assert back.metric("roc_auc").lift is None and back.latency is None and back.notes == ()
    with pytest.raises(ConfigError, match="schema 9"):
        cmp.Comparison.from_dict({**old, "schema": 9})


# -- real models: useless ones, identical ones timed in different places -----------------------


@pytest.fixture(scope="module")
def cancer() -> Any:
    from workbench.datasets import load_dataset, make_split

    ds = load_dataset("breast_cancer")
    return ds, make_split(ds, seed=42)


def real_run(
    ws: Workspace,
    store: Store,
    run_id: str,
    pipe: Any,
    cancer: Any,
    *,
    latency: dict[str, Any],
    scale: float = 1.0,
) -> str:
    """A run of a fitted model on breast_cancer, recorded as the evaluate stage leaves it;
    its timings (and recorded latency metrics) multiplied by ``scale``."""
    from workbench import evaluate as ev
    from workbench.modelio import save_model

    ds, split = cancer
    store.record_dataset(
        DatasetRecord(
            ds.fingerprint, ds.name, "test", ds.target, ds.task, *ds.shape, ds.features, utcnow()
        )
    )
    store.create_run(
        run_id, dataset_name=ds.name, model_family="logreg", seed=42,
        stages=[("evaluate", "03_evaluate.ipynb")], params={"dataset": ds.name, "seed": 42},
        dataset_fingerprint=ds.fingerprint,
    )  # fmt: skip
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_model(pipe, run_dir / "model.skops")
    X_test, y_test = ds.X.iloc[split.test], ds.y.iloc[split.test]
    result = ev.evaluate_pipeline(pipe, X_test, y_test, task=ds.task, n_boot=50)
    fit_rows = np.concatenate([split.train, split.valid])
    trivial = ev.TrivialBaseline.fit(ds.task, ds.y.iloc[fit_rows], labels=result.labels)
    split_doc = {"fingerprint": ds.fingerprint, **split.to_dict()}
    preds = {"rows": split.test.tolist(), "labels": result.labels.tolist(),
             "y_true": result.y_true.tolist(), "y_score": result.y_score.tolist()}  # fmt: skip
    timed = {**latency, "single_ms": [x * scale for x in latency["single_ms"]],
             "batch_s": [x * scale for x in latency["batch_s"]]}  # fmt: skip
    for name, doc in (("split.json", split_doc), ("test_predictions.json", preds),
                      ("baseline.json", trivial.to_dict()), ("latency.json", timed)):  # fmt: skip
        _artifact(store, run_id, run_dir / name, name, json.dumps(doc).encode())
    path = run_dir / "model.skops"
    store.log_artifact(
        run_id, ArtifactRecord("model", "model", str(path), sha256_file(path), 1, "evaluate")
    )
    recorded = Latency.from_dict(timed, n_boot=50).metrics()
    metrics = [MetricRecord("evaluate", k, e.value, e.ci_low, e.ci_high)
               for k, e in {**result.estimates, **recorded}.items()]  # fmt: skip
    metrics.append(MetricRecord("evaluate", "model_size_bytes", float(path.stat().st_size)))
    store.log_metrics(run_id, metrics)
    store.finish_run(run_id, RunStatus.SUCCEEDED)
    return run_id


def _fit(cancer: Any, labels: Any = None) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds, split = cancer
    rows = np.concatenate([split.train, split.valid])
    y = ds.y.iloc[rows] if labels is None else labels
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        ds.X.iloc[rows], y
    )


def test_the_default_gates_hold_a_model_that_does_not_beat_the_baseline(
    workspace: Workspace, store: Store, cancer: Any
) -> None:
    ds, split = cancer
    rows = np.concatenate([split.train, split.valid])
    y = ds.y.iloc[rows].to_numpy()
    # A champion trained on flipped labels ranks backwards (AUC near 0); a candidate trained on
    # shuffled labels is useless (AUC near 0.5). It beats that champion, not the baseline.
    same = timings(COST)  # one timing for both: the decision does not hang on latency here
    champion = real_run(workspace, store, "20260101-000000-aaaaaa", _fit(cancer, 1 - y), cancer,
                        latency=same)  # fmt: skip
    shuffled = np.random.default_rng(0).permutation(y)
    useless = real_run(workspace, store, "20260101-000001-bbbbbb", _fit(cancer, shuffled),
                       cancer, latency=same)  # fmt: skip
    c = cmp.compare_runs(workspace, store, useless, champion, n_boot=N_BOOT)
    status = {g.gate.label: g.status.value for g in c.gates}
    assert status["AUC not worse (95% CI)"] == "passed"  # far better than the champion
    assert status["beats the baseline (AUC, 95% CI)"] == "failed"
    assert c.decision == "hold"
    assert any(r.startswith("gate 'beats the baseline (AUC, 95% CI)' failed") for r in c.reasons)
    assert "the candidate **does not beat it**" in c.summary_markdown()


def test_identical_models_timed_in_different_places_pass_the_latency_gate(
    workspace: Workspace, store: Store, cancer: Any
) -> None:
    from workbench import latency as lt

    ds, split = cancer
    pipe = _fit(cancer)
    batch = lt.time_model(pipe, ds.X.iloc[split.test], n_single=60, max_seconds=2, n_boot=50)
    record = batch.to_dict()
    record["context"] = {**record["context"], "process": "batch kernel"}
    run = real_run(workspace, store, "20260101-000000-aaaaaa", pipe, cancer, latency=record)
    # The same model, as if timed in a busy JupyterLab kernel: every call 6x slower.
    busy = {**record["context"], "process": "lab kernel",
            "load_1m": (record["context"]["load_1m"] or 0) + 8.0}  # fmt: skip
    copy = real_run(workspace, store, "20260101-000001-bbbbbb", pipe, cancer,
                    latency={**record, "context": busy}, scale=6.0)  # fmt: skip
    assert store.get_run(copy).metric("single_p99_ms", "evaluate").value == pytest.approx(
        6 * store.get_run(run).metric("single_p99_ms", "evaluate").value
    )
    # What the runs recorded says 6x slower, with confidence: that is where they were timed.
    as_recorded = cmp.compare_runs(workspace, store, copy, run, n_boot=N_BOOT, remeasure="never")
    assert as_recorded.metric("single_p99_ms").ratio == pytest.approx(6.0)
    assert "contexts differ: process differs" in as_recorded.notes[0]
    # Timed again side by side in one process, they are the same model.
    c = cmp.compare_runs(workspace, store, copy, run, n_boot=N_BOOT, latency_seconds=2)
    assert c.latency["measured"] == cmp.REMEASURED and c.latency["paired"]
    assert (
        "recorded contexts differ: process differs ('lab kernel' vs 'batch kernel')"
        in (c.latency["reason"])
    )
    assert c.latency["contexts"]["paired"]["interleaved"] == 2
    assert c.latency["recorded"]["candidate"]["single_p99_ms"] == pytest.approx(
        6 * c.latency["recorded"]["baseline"]["single_p99_ms"]
    )
    latency_gates = [g for g in c.gates if g.gate.metric in lt.LATENCY_METRICS]
    assert latency_gates and all(g.passed for g in latency_gates), c.reasons
    p99 = c.metric("single_p99_ms")
    assert p99.ratio_ci_low <= p99.ratio <= p99.ratio_ci_high
    assert p99.measured == "re-measured side by side in one process (paired calls)"
    assert c.decision == "promote", c.reasons  # identical predictions, size, latency
    assert "Latency re\\-measured side by side in one process" in c.summary_markdown()


# -- notebook helpers ---------------------------------------------------------------------------


def test_notebook_picks_newest_non_champion_or_explains(
    workspace: Workspace, store: Store, pair: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    cand, base = pair
    assert show_comparison(workspace, store, n_boot=N_BOOT) is None
    assert "nothing to compare" in capsys.readouterr().out
    registry.promote(store, base, "champion")
    c = show_comparison(workspace, store, n_boot=N_BOOT, gates="")
    assert c is not None and c.candidate.run_id == cand and c.baseline.ref == "champion"
    assert show_comparison(workspace, store, comparison_id=c.id).to_dict() == c.to_dict()
    registry.promote(store, cand, "champion", force=True, reason="test")
    registry.promote(store, base, "old", reason="test")
    # Only other run is the old champion, which exists: it becomes the candidate.
    assert show_comparison(workspace, store, n_boot=N_BOOT).candidate.run_id == base


def test_picker_compares_on_click(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    picker = widgets.comparison_picker(workspace, store, fingerprint=FP, n_boot=50)
    cand_dd, base_dd, button, _ = picker.children
    assert {v for _, v in cand_dd.options} == set(pair)
    cand_dd.value, base_dd.value = pair
    button.click()
    assert len(cmp.list_comparisons(store)) == 1


def test_index_sections_list_comparisons_and_registry(
    workspace: Workspace, store: Store, pair: tuple[str, str]
) -> None:
    from workbench.reports import build_index

    cand, base = pair
    registry.promote(store, base, "champion")
    c = cmp.compare_runs(workspace, store, cand, "champion", gates=ALWAYS, n_boot=N_BOOT)
    html = cmp.comparison_report_path(workspace, c.id)
    html.parent.mkdir(parents=True)
    html.write_text("<p>report</p>")
    store.set_comparison_report(c.id, html)
    comparisons, models, audit = comparison_sections(workspace, store)
    row = comparisons.rows[0]
    assert row[0] == c.id and row[4] == "promote"
    assert row[5].href == f"comparisons/{c.id}.html"
    assert models.rows[0][1] == "champion" and audit.rows[0][1] == "champion"
    index = build_index(workspace, store, extra_sections=[comparisons, models, audit]).read_text()
    assert c.id in index and f'href="comparisons/{c.id}.html"' in index


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_compare_json_equals_stored_record(
    workspace: Workspace, store: Store, pair: tuple[str, str], cli: click.Group
) -> None:
    cand, base = pair
    args = ["compare", cand, base, "--no-report", "--n-boot", "200", "-w", str(workspace.root)]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == cmp.get_comparison(store, out["id"]).to_dict()
    result = CliRunner().invoke(cli, [*args, "--fail-on-hold", "--gates", "/nope.yaml"])
    assert result.exit_code == 2 and "cannot read gates file /nope.yaml" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(cli, [*args, "--remeasure", "never"])
    assert result.exit_code == 0 and "decision:" in result.output and "McNemar" in result.output
    # The lift over the trivial baseline and where the latency numbers come from are shown.
    assert "candidate vs the trivial baseline (class prior)" in result.output
    assert "roc_auc: " in result.output and "vs trivial 0.5, lift +" in result.output
    assert "latency: as recorded by each run (both were timed in the same context)" in result.output


def test_cli_compare_records_a_relative_gates_file_as_absolute(
    workspace: Workspace,
    pair: tuple[str, str],
    cli: click.Group,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cand, base = pair
    here = tmp_path / "here"
    here.mkdir()
    (here / "rel.yaml").write_text("gates:\n  - model_size_bytes <= 50e6\n")
    monkeypatch.chdir(here)
    ws = os.path.relpath(workspace.root, here)
    args = ["compare", cand, base, "--gates", "rel.yaml", "--no-report", "--n-boot", "200"]
    result = CliRunner().invoke(cli, [*args, "-w", ws, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["gates"]["source"] == str((here / "rel.yaml").resolve())


def test_cli_refusal_is_one_clean_line(
    workspace: Workspace, store: Store, cli: click.Group
) -> None:
    y, weak, strong = binary_case()
    a = make_run(workspace, store, "20260101-000000-aaaaaa", y_true=y, y_score=weak)
    b = make_run(workspace, store, "20260101-000001-bbbbbb", y_true=y, y_score=strong,
                 fingerprint=OTHER_FP)  # fmt: skip
    result = CliRunner().invoke(cli, ["compare", b, a, "-w", str(workspace.root)])
    assert result.exit_code == 2
    assert result.output.startswith("error: runs were evaluated on different data")
    assert "Traceback" not in result.output


# -- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_real_runs_compared_through_the_cli(
    tmp_path: Path, cli: click.Group, demo_workspace: tuple[Path, str]
) -> None:
    """The demo's logreg and rf runs (real notebooks, in a copy of the suite's demo workspace)
    compared again through the CLI against an alias of their own."""
    import shutil

    from workbench.config import resolve_workspace
    from workbench.store import open_workspace

    shutil.copytree(demo_workspace[0], tmp_path / "e2e")
    ws = resolve_workspace(tmp_path / "e2e")
    store = open_workspace(ws.root)[1]
    runs = [r for r in store.list_runs() if r.source == "cli" and r.dataset_name == "breast_cancer"]
    ids = {r.model_family: r.id for r in runs}
    w = ["-w", str(ws.root)]
    assert (
        CliRunner().invoke(cli, ["promote", ids["logreg"], "--alias", "staging", *w]).exit_code == 0
    )
    result = CliRunner().invoke(
        cli, ["compare", ids["rf"], "staging", "--n-boot", "300", "--json", *w]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    stored = cmp.get_comparison(store, out["id"])
    assert out == stored.to_dict()
    assert out["baseline"]["run_id"] == ids["logreg"] and out["baseline"]["ref"] == "staging"
    auc = next(m for m in out["metrics"] if m["name"] == "roc_auc")
    assert auc["delta_ci_low"] <= auc["delta"] <= auc["delta_ci_high"]
    assert out["tests"]["mcnemar"]["p_value"] > 0
    html_path = Path(out["report_path"])
    assert html_path == cmp.comparison_report_path(ws, out["id"])
    html = html_path.read_text()
    assert f"Decision: {out['decision'].upper()}" in html
    assert f"{auc['delta']:.4f}" in html and out["id"] in html
    assert html.count("plotly-graph-div") >= 3 and '<script src="http' not in html
    assert out["id"] in ws.index_path.read_text()
    # Promotion follows the decision.
    promote = CliRunner().invoke(cli, ["promote", ids["rf"], "--alias", "staging", *w])
    if out["decision"] == "hold":
        assert promote.exit_code == 1 and "decided hold" in promote.output
    else:
        assert promote.exit_code == 0
