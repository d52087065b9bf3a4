"""Tests of workbench.evaluate: evaluating a pipeline, latency, size, thresholds, figures.

The metrics and their bootstrap are tested in test_stats.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench import evaluate as ev
from workbench import widgets
from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.figures import evaluate as ev_figures
from workbench.stats import Estimate, bootstrap_metrics, metrics_for

# ---------------------------------------------------------------------------------------------
# fixtures: small synthetic data
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iris_split():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def iris_model(iris_split):
    X_tr, _, y_tr, _ = iris_split
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X_tr, y_tr)


@pytest.fixture(scope="module")
def binary_split():
    X, y = make_classification(n_samples=400, n_features=6, n_informative=4, random_state=0)
    X = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    return train_test_split(X, y, test_size=0.5, random_state=0)


@pytest.fixture(scope="module")
def binary_model(binary_split):
    X_tr, _, y_tr, _ = binary_split
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X_tr, y_tr)


@pytest.fixture(scope="module")
def regression_split():
    X, y = make_regression(n_samples=300, n_features=5, noise=10.0, random_state=0)
    return train_test_split(X, y, test_size=0.5, random_state=0)


@pytest.fixture(scope="module")
def regression_model(regression_split):
    X_tr, _, y_tr, _ = regression_split
    return LinearRegression().fit(X_tr, y_tr)


# ---------------------------------------------------------------------------------------------
# evaluate_pipeline
# ---------------------------------------------------------------------------------------------


def test_evaluate_pipeline_binary(binary_split, binary_model):
    _, X_te, _, y_te = binary_split
    result = ev.evaluate_pipeline(binary_model, X_te, y_te, task="classification", n_boot=200)
    frame = result.to_frame()
    assert list(frame.columns) == ["name", "value", "ci_low", "ci_high"]
    assert list(frame["name"]) == [m.name for m in metrics_for("classification")]
    proba = binary_model.predict_proba(X_te)
    assert result.headline.value == pytest.approx(skm.roc_auc_score(y_te, proba[:, 1]))
    np.testing.assert_array_equal(result.y_pred, binary_model.predict(X_te))
    np.testing.assert_allclose(result.positive_proba, proba[:, 1])
    assert (frame["ci_low"] <= frame["ci_high"]).all()


def test_evaluate_pipeline_multiclass(iris_split, iris_model):
    _, X_te, _, y_te = iris_split
    result = ev.evaluate_pipeline(iris_model, X_te, y_te, task="classification", n_boot=200)
    assert list(result.labels) == [0, 1, 2]
    assert result.y_score.shape == (len(y_te), 3)
    assert result.estimates["accuracy"].value == pytest.approx(iris_model.score(X_te, y_te))
    with pytest.raises(ConfigError, match="binary"):
        _ = result.positive_proba


def test_evaluate_pipeline_without_predict_proba(binary_split):
    X_tr, X_te, y_tr, y_te = binary_split
    model = RidgeClassifier().fit(X_tr, y_tr)
    result = ev.evaluate_pipeline(model, X_te, y_te, task="classification", n_boot=50)
    assert list(result.estimates) == ["accuracy", "f1"]


def test_evaluate_pipeline_regression(regression_split, regression_model):
    _, X_te, _, y_te = regression_split
    result = ev.evaluate_pipeline(regression_model, X_te, y_te, task="regression", n_boot=200)
    assert result.labels is None
    assert result.headline is result.estimates["rmse"]
    assert result.estimates["r2"].value == pytest.approx(regression_model.score(X_te, y_te))
    assert result.to_frame().shape == (3, 4)


# ---------------------------------------------------------------------------------------------
# the trivial baseline
# ---------------------------------------------------------------------------------------------


def test_trivial_baseline_is_the_class_prior_or_the_training_mean():
    clf = ev.TrivialBaseline.fit("classification", ["b", "a", "b", "b"], labels=["a", "b"])
    assert clf.prior == (0.25, 0.75) and clf.kind == "class prior"
    np.testing.assert_allclose(clf.scores(3), [[0.25, 0.75]] * 3)
    assert list(clf.scores(2, proba=False)) == ["b", "b"]  # the majority class
    assert ev.TrivialBaseline.from_dict(clf.to_dict()) == clf
    reg = ev.TrivialBaseline.fit("regression", [1.0, 2.0, 6.0])
    np.testing.assert_allclose(reg.scores(2), [3.0, 3.0])
    assert reg.describe() == "training mean of 3 rows (3)"
    with pytest.raises(DatasetError, match="training targets"):
        ev.TrivialBaseline.fit("regression", [])


def test_a_model_is_measured_against_the_trivial_baseline(binary_split, binary_model):
    _, X_te, y_tr, y_te = binary_split
    result = ev.evaluate_pipeline(binary_model, X_te, y_te, task="classification", n_boot=200)
    vs = ev.compare_with_baseline(result, y_tr)
    prior = np.mean(np.asarray(y_tr) == 1)
    base = bootstrap_metrics(
        "classification", y_te, np.tile([1 - prior, prior], (len(y_te), 1)), n_boot=10
    )
    assert vs.estimates["roc_auc"].value == 0.5  # a constant score ranks nothing
    assert vs.estimates["log_loss"].value == pytest.approx(base["log_loss"].value)
    lift = vs.lifts["roc_auc"]
    assert lift.value == pytest.approx(result.estimates["roc_auc"].value - 0.5)
    assert lift.ci_low > 0 and vs.beats and vs.p_values["roc_auc"] < 0.05
    recorded = vs.metrics()
    assert recorded["baseline_roc_auc"] is vs.estimates["roc_auc"]
    assert recorded["lift_log_loss"].value < 0  # lower is better: a gain is negative
    assert recorded["beats_baseline"] == 1.0
    assert set(vs.to_frame().columns) >= {"model", "baseline", "lift", "lift_ci_low"}
    assert vs.banner_markdown().startswith("✅") and ev.baseline_verdict(recorded) is None


def test_a_useless_model_does_not_beat_the_baseline_and_says_so(binary_split):
    X_tr, X_te, y_tr, y_te = binary_split
    shuffled = np.random.default_rng(0).permutation(np.asarray(y_tr))
    useless = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_tr, shuffled)
    result = ev.evaluate_pipeline(useless, X_te, y_te, task="classification", n_boot=200)
    vs = ev.compare_with_baseline(result, y_tr)
    assert not vs.beats and vs.metrics()["beats_baseline"] == 0.0
    assert vs.lifts["roc_auc"].ci_low <= 0
    assert vs.banner_markdown().startswith("### ⚠️ This model does not beat the trivial baseline")
    # What `workbench run` prints, from the recorded metrics as its --json gives them.
    as_json = {
        k: {"value": v.value, "ci95": [v.ci_low, v.ci_high]} if hasattr(v, "value") else
        {"value": v} for k, v in {**result.estimates, **vs.metrics()}.items()
    }  # fmt: skip
    sentence = ev.baseline_verdict(as_json)
    assert sentence is not None and sentence.startswith("The model does not beat")
    assert f"roc_auc {result.estimates['roc_auc'].value:.4f} vs 0.5000" in sentence


def test_workbench_run_warns_first_when_the_model_does_not_beat_the_baseline(capsys):
    from types import SimpleNamespace

    from workbench.cli._runs import _print_outcome
    from workbench.store import RunStatus

    metrics = {
        "roc_auc": {"value": 0.52, "ci95": [0.45, 0.6]},
        "baseline_roc_auc": {"value": 0.5, "ci95": [0.5, 0.5]},
        "lift_roc_auc": {"value": 0.02, "ci95": [-0.05, 0.1]},
        "beats_baseline": {"value": 0.0},
    }
    outcome = SimpleNamespace(run_id="r1", status=RunStatus.SUCCEEDED, metrics=metrics,
                              report=None, index=None)  # fmt: skip
    _print_outcome(outcome)
    out, err = capsys.readouterr()
    assert err.startswith("WARNING: The model does not beat the trivial baseline")
    assert "lift_roc_auc" in out and "baseline_roc_auc" not in out
    _print_outcome(SimpleNamespace(**{**vars(outcome), "metrics": {
        **metrics, "beats_baseline": {"value": 1.0}}}))  # fmt: skip
    assert "WARNING" not in capsys.readouterr().err


def test_regression_and_label_only_models_have_their_baseline(binary_split, regression_split,
                                                              regression_model):  # fmt: skip
    X_tr, X_te, y_tr, y_te = regression_split
    result = ev.evaluate_pipeline(regression_model, X_te, y_te, task="regression", n_boot=100)
    vs = ev.compare_with_baseline(result, y_tr)
    mean_rmse = float(np.sqrt(np.mean((y_te - np.mean(y_tr)) ** 2)))
    assert vs.estimates["rmse"].value == pytest.approx(mean_rmse)
    assert vs.headline == "rmse" and vs.lifts["rmse"].ci_high < 0 and vs.beats
    X_tr, X_te, y_tr, y_te = binary_split
    ridge = RidgeClassifier().fit(X_tr, y_tr)
    labels_only = ev.evaluate_pipeline(ridge, X_te, y_te, task="classification", n_boot=50)
    vs = ev.compare_with_baseline(labels_only, y_tr)
    assert vs.headline == "accuracy" and set(vs.lifts) == {"accuracy", "f1"}


def test_evaluate_run_records_the_baseline_latency_and_their_files(workspace, store):
    from workbench.context import RunContext
    from workbench.datasets import load_dataset, make_split
    from workbench.modelio import save_model

    ds = load_dataset("breast_cancer")
    split = make_split(ds, seed=1)
    rows = np.concatenate([split.train, split.valid])
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pipe.fit(ds.X.iloc[rows], ds.y.iloc[rows])
    store.create_run("20260101-000000-aaaaaa", dataset_name=ds.name, model_family="logreg",
                     seed=1, stages=[("evaluate", "03_evaluate.ipynb")],
                     params={"dataset": ds.name, "seed": 1})  # fmt: skip
    ctx = RunContext(workspace, store, "20260101-000000-aaaaaa", "evaluate", {"dataset": ds.name})
    ctx.run_dir.mkdir(parents=True)
    save_model(pipe, ctx.run_dir / "model.skops")
    evaluation = ev.evaluate_run(ctx, pipe, ds, split, n_boot=50, seed=1, latency_seconds=1,
                                 model_path=ctx.run_dir / "model.skops")  # fmt: skip
    run = store.get_run(ctx.run_id)
    lift = run.metric("lift_roc_auc", "evaluate")
    assert lift.ci_low is not None and lift.ci_low > 0
    assert run.metric("baseline_roc_auc", "evaluate").value == 0.5
    assert run.metric("beats_baseline", "evaluate").value == 1.0
    p99 = run.metric("single_p99_ms", "evaluate")
    assert p99.ci_low <= p99.value <= p99.ci_high  # latency with its interval
    assert {a.name for a in run.artifacts} >= {"baseline.json", "latency.json"}
    kept = json.loads((ctx.run_dir / "latency.json").read_text())
    assert kept["context"]["process"] == "process" and kept["context"]["threads"] == 1
    assert len(kept["single_ms"]) == len(evaluation.latency.single_ms) > 0
    assert "timed in a process on host" in evaluation.latency.describe()


# ---------------------------------------------------------------------------------------------
# latency and size
# ---------------------------------------------------------------------------------------------


def test_measure_latency_reports_positive_numbers(binary_split, binary_model):
    _, X_te, _, _ = binary_split
    out = ev.measure_latency(binary_model, X_te, n_single=20, batch_rows=50, max_seconds=5)
    for key in ("single_p50_ms", "single_p99_ms", "batch_rows_per_s"):
        assert out[key] > 0, key
    assert out["single_p99_ms"] >= out["single_p50_ms"]
    assert out["batch_rows"] == 50
    assert 1 <= out["n_single"] <= 20
    assert 1 <= out["batch_repeats"] <= 5


def test_measure_latency_respects_counts_and_method(regression_split, regression_model):
    _, X_te, _, _ = regression_split
    out = ev.measure_latency(regression_model, X_te, n_single=3, batch_rows=500, n_warmup=1)
    assert out["n_single"] == 3
    assert out["batch_rows"] == 500  # more than len(X): sampled with replacement
    with pytest.raises(ConfigError, match="no method 'predict_proba'"):
        ev.measure_latency(regression_model, X_te, method="predict_proba")
    with pytest.raises(ConfigError, match="empty"):
        ev.measure_latency(regression_model, X_te[:0])


def test_models_timed_side_by_side_pair_their_calls(binary_split, binary_model):
    from workbench import latency as lt

    _, X_te, _, _ = binary_split
    a, b = lt.time_models([binary_model, binary_model], X_te, n_single=30, n_boot=100)
    assert len(a.single_ms) == len(b.single_ms) and len(a.batch_s) == len(b.batch_s)
    assert a.context["interleaved"] == 2 and a.context["threads"] == 1
    deltas = lt.latency_deltas(b, a, paired=True, n_boot=200)
    p50 = deltas["single_p50_ms"]
    assert p50.paired and p50.ratio.ci_low <= p50.ratio.value <= p50.ratio.ci_high
    assert p50.ratio.value == pytest.approx(p50.candidate / p50.baseline)
    assert set(deltas) == set(lt.LATENCY_METRICS)
    again = lt.Latency.from_dict(json.loads(json.dumps(a.to_dict())), n_boot=100)
    np.testing.assert_allclose(again.single_ms, a.single_ms, rtol=1e-5)


def test_latency_contexts_are_compared_before_their_numbers():
    from workbench import latency as lt

    here = lt.latency_context()
    assert lt.context_difference(here, dict(here)) is None
    lab = {**here, "process": "lab kernel"}
    assert "process differs ('lab kernel' vs" in lt.context_difference(lab, here)
    busy = {**here, "load_1m": (here["load_1m"] or 0) + 3 * here["cpu_count"]}
    assert "machine load differed" in lt.context_difference(busy, here)
    assert "no latency context" in lt.context_difference(None, here)


def test_model_size_bytes(tmp_path):
    f = tmp_path / "model.skops"
    f.write_bytes(b"x" * 123)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "model.onnx").write_bytes(b"y" * 7)
    assert ev.model_size_bytes(f) == 123
    assert ev.model_size_bytes(tmp_path) == 130
    with pytest.raises(ModelError, match="no model file"):
        ev.model_size_bytes(tmp_path / "missing.skops")


# ---------------------------------------------------------------------------------------------
# thresholds
# ---------------------------------------------------------------------------------------------


def test_threshold_table_matches_sklearn_and_recall_is_monotonic(binary_scores):
    y, proba = binary_scores(300, seed=17)
    p = proba[:, 1]
    table = ev.threshold_table(y, p)
    assert list(table.columns) == [
        "threshold",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "predicted_positive",
    ]
    assert len(table) == 19
    assert (np.diff(table["recall"]) <= 0).all()
    assert (np.diff(table["predicted_positive"]) <= 0).all()
    row = table[np.isclose(table["threshold"], 0.5)].iloc[0]
    pred = (p >= 0.5).astype(int)
    assert row["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert row["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert row["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert row["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert row["predicted_positive"] == pred.sum()


def test_threshold_table_edges_and_labels():
    y = np.array(["no", "yes", "yes", "no"])
    table = ev.threshold_table(y, [0.2, 0.7, 0.4, 0.9], thresholds=[1.1, 0.0, 0.5])
    assert list(table["threshold"]) == [0.0, 0.5, 1.1]
    assert list(table["predicted_positive"]) == [4, 2, 0]
    assert list(table["recall"]) == [1.0, 0.5, 0.0]
    assert table["precision"].iloc[-1] == 0.0  # nothing predicted positive
    with pytest.raises(DatasetError, match="binary"):
        ev.threshold_table([0, 1, 2], [0.1, 0.2, 0.3])


def test_threshold_table_counts_are_the_confusion_matrix(binary_scores):
    y, proba = binary_scores(120, seed=19)
    table = ev.threshold_table(y, proba[:, 1], thresholds=[0.3, 0.7], counts=True)
    assert list(table.columns)[-4:] == ["tp", "fp", "fn", "tn"]
    for _, row in table.iterrows():
        pred = (proba[:, 1] >= row["threshold"]).astype(int)
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (tp, fp, fn, tn)
        assert row["predicted_positive"] == tp + fp
    assert "tp" not in ev.threshold_table(y, proba[:, 1]).columns


def test_threshold_explorer_updates_on_slider_change(binary_scores):
    y, proba = binary_scores(100, seed=18)
    widget = widgets.threshold_explorer(y, proba[:, 1])
    slider, out = widget.children
    assert slider.value == 0.5
    before = out.value
    assert "TP" in before and "precision" in before
    slider.value = 0.9
    assert out.value != before
    tp = int(((proba[:, 1] >= 0.9) & (y == 1)).sum())
    assert f"TP {tp}<" in out.value


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------


def _check_figure(fig: go.Figure, min_traces: int) -> None:
    assert isinstance(fig, go.Figure)
    assert len(fig.data) >= min_traces
    assert fig.layout.title.text
    fig.to_json()  # serializable for the notebook mimetype / HTML export


def test_binary_figures_build(binary_split, binary_model):
    _, X_te, _, y_te = binary_split
    proba = binary_model.predict_proba(X_te)
    roc = ev_figures.roc_figure(y_te, proba)
    _check_figure(roc, 2)
    assert roc.layout.xaxis.title.text == "false positive rate"
    _check_figure(ev_figures.roc_figure(y_te, proba[:, 1]), 2)  # 1-D positive-class proba
    _check_figure(ev_figures.pr_figure(y_te, proba), 2)
    cal = ev_figures.calibration_figure(y_te, proba, n_bins=5)
    _check_figure(cal, 3)
    conf = ev_figures.confusion_figure(y_te, proba, normalize="true")
    _check_figure(conf, 1)
    assert np.asarray(conf.data[0].z).shape == (2, 2)


def test_multiclass_figures_have_one_curve_per_class(iris_split, iris_model):
    _, X_te, _, y_te = iris_split
    proba = iris_model.predict_proba(X_te)
    roc = ev_figures.roc_figure(y_te, proba, labels=iris_model.classes_)
    assert len(roc.data) == 3 + 1  # three classes + chance line
    assert len(ev_figures.pr_figure(y_te, proba).data) == 3
    assert len(ev_figures.calibration_figure(y_te, proba).data) == 3 * 2 + 1
    conf = ev_figures.confusion_figure(y_te, iris_model.predict(X_te), labels=[0, 1, 2])
    _check_figure(conf, 1)
    assert np.asarray(conf.data[0].z).sum() == len(y_te)
    with pytest.raises(DatasetError, match="positive-class probability"):
        ev_figures.roc_figure(y_te, proba[:, 1])


def test_figures_name_class_codes_when_names_are_given(iris_split, iris_model):
    _, X_te, _, y_te = iris_split
    proba = iris_model.predict_proba(X_te)
    names = {0: "setosa", 1: "versicolor", 2: "<b>virginica</b>"}
    conf = ev_figures.confusion_figure(y_te, proba, labels=[0, 1, 2], names=names)
    assert list(conf.data[0].x) == [
        "setosa (0)",
        "versicolor (1)",
        "&lt;b&gt;virginica&lt;/b&gt; (2)",
    ]
    roc = ev_figures.roc_figure(y_te, proba, labels=[0, 1, 2], names=names)
    assert roc.data[0].name.startswith("setosa (0) (AUC ")
    plain = ev_figures.confusion_figure(y_te, proba, labels=[0, 1, 2])
    assert list(plain.data[0].x) == ["0", "1", "2"]


def test_regression_and_metric_figures_build(regression_split, regression_model):
    _, X_te, _, y_te = regression_split
    pred = regression_model.predict(X_te)
    res = ev_figures.residual_figure(y_te, pred)
    _check_figure(res, 3)
    assert res.layout.xaxis.title.text == "predicted"
    assert res.layout.xaxis2.title.text == "actual"
    small = ev_figures.residual_figure(y_te, pred, max_points=20)
    assert len(small.data[0].x) == 20
    est = bootstrap_metrics("regression", y_te, pred, n_boot=100)
    ci = ev_figures.metrics_ci_figure(est)
    _check_figure(ci, 3)
    assert ci.data[0].error_x.array[0] == pytest.approx(est["rmse"].ci_high - est["rmse"].value)
    nan_ci = ev_figures.metrics_ci_figure({"x": Estimate(1.0, float("nan"), float("nan"))})
    _check_figure(nan_ci, 1)
    with pytest.raises(ConfigError):
        ev_figures.metrics_ci_figure({})
