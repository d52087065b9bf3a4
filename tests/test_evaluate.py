"""Tests of workbench.evaluate: evaluating a pipeline, latency, size, thresholds, figures.

The metrics and their bootstrap are tested in test_stats.py."""

from __future__ import annotations

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
