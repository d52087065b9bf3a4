"""Tests of workbench.evaluate: metrics registry, bootstrap CIs, paired deltas, latency, figures."""

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
from workbench.exceptions import ConfigError, DatasetError, ModelError

# ---------------------------------------------------------------------------------------------
# fixtures: small synthetic data
# ---------------------------------------------------------------------------------------------


def _binary(n: int, seed: int = 0, signal: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Labels and a (n, 2) probability matrix from a noisy logistic score."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    z = signal * (2 * y - 1) + rng.normal(0, 1.5, n)
    p = 1 / (1 + np.exp(-z))
    return y, np.column_stack([1 - p, p])


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
# registry
# ---------------------------------------------------------------------------------------------


def test_registry_lists_builtin_metrics_per_task():
    assert [m.name for m in ev.metrics_for("classification")] == [
        "roc_auc",
        "accuracy",
        "f1",
        "log_loss",
        "brier",
    ]
    assert [m.name for m in ev.metrics_for("regression")] == ["rmse", "mae", "r2"]
    for task, name in ev.HEADLINE.items():
        assert ev.get_metric(name).task == task
    assert ev.get_metric("rmse").higher_is_better is False
    assert ev.get_metric("roc_auc").needs_proba is True
    assert ev.get_metric("accuracy").needs_proba is False


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown metric 'auc'.*roc_auc"):
        ev.get_metric("auc")
    with pytest.raises(ConfigError, match="classification, regression"):
        ev.metrics_for("ranking")


def test_register_refuses_duplicates_and_custom_metric_bootstraps_without_weighted_fn():
    with pytest.raises(ConfigError, match="already registered"):
        ev.register_metric(ev.get_metric("rmse"))
    custom = ev.Metric(
        "max_error_test",
        "regression",
        lambda y, pred, labels: float(np.max(np.abs(y - pred))),
        higher_is_better=False,
    )
    ev.register_metric(custom)
    try:
        rng = np.random.default_rng(0)
        y = rng.normal(size=50)
        pred = y + rng.normal(0, 0.3, 50)
        est = ev.bootstrap_metrics("regression", y, pred, n_boot=50, metrics=["max_error_test"])
        e = est["max_error_test"]
        assert e.value == pytest.approx(np.max(np.abs(y - pred)))
        assert e.ci_high <= e.value + 1e-12  # a resample's max never exceeds the full max
        assert e.n_resamples == 50
    finally:
        ev._REGISTRY.pop("max_error_test", None)


# ---------------------------------------------------------------------------------------------
# known values against sklearn
# ---------------------------------------------------------------------------------------------


def test_binary_point_estimates_match_sklearn():
    y, proba = _binary(300)
    est = ev.bootstrap_metrics("classification", y, proba, labels=[0, 1], n_boot=20)
    pred = proba.argmax(axis=1)
    assert est["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, proba[:, 1]))
    assert est["accuracy"].value == pytest.approx(skm.accuracy_score(y, pred))
    assert est["f1"].value == pytest.approx(skm.f1_score(y, pred))
    assert est["log_loss"].value == pytest.approx(skm.log_loss(y, proba))
    assert est["brier"].value == pytest.approx(skm.brier_score_loss(y, proba[:, 1]))


def test_multiclass_point_estimates_match_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) + 1.5 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    est = ev.bootstrap_metrics("classification", y, proba, n_boot=20)
    pred = proba.argmax(axis=1)
    auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert est["roc_auc"].value == pytest.approx(auc)
    assert est["f1"].value == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert est["log_loss"].value == pytest.approx(skm.log_loss(y, proba))
    onehot = np.eye(3)[y]
    assert est["brier"].value == pytest.approx(np.mean(((onehot - proba) ** 2).sum(axis=1)))
    assert est["brier"].value == pytest.approx(skm.brier_score_loss(y, proba, labels=[0, 1, 2]))


def test_regression_point_estimates_match_sklearn():
    rng = np.random.default_rng(2)
    y = rng.normal(10, 3, 120)
    pred = y + rng.normal(0, 1, 120)
    est = ev.bootstrap_metrics("regression", y, pred, n_boot=20)
    assert est["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert est["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))
    assert est["r2"].value == pytest.approx(skm.r2_score(y, pred))


def _cases():
    y, proba = _binary(80, seed=3)
    rng = np.random.default_rng(4)
    ym = rng.integers(0, 3, 90)
    pm = rng.dirichlet([1, 1, 1], 90)
    yr = rng.normal(size=70)
    pr = yr + rng.normal(0, 0.5, 70)
    tied = np.round(proba, 1)  # many ties between positives and negatives
    return [
        ("classification", y, proba, np.array([0, 1])),
        ("classification", y, tied, np.array([0, 1])),
        ("classification", ym, pm, np.array([0, 1, 2])),
        ("regression", yr, pr, None),
    ]


@pytest.mark.parametrize("case", range(4))
def test_vectorized_bootstrap_equals_metric_on_each_resample(case):
    task, y, score, labels = _cases()[case]
    inputs = ev._prepare(task, y, score, labels)
    idx, counts = next(ev._resamples(len(y), 30, seed=7))
    for m in ev.metrics_for(task):
        arg = inputs.arg_for(m)
        fast = m.weighted_fn(inputs.y, arg, inputs.labels, counts)
        slow = np.array([m.fn(inputs.y[i], arg[i], inputs.labels) for i in idx])
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12, err_msg=m.name)


def test_label_order_and_string_labels_do_not_change_metrics():
    y, proba = _binary(150, seed=5)
    ys = np.where(y == 1, "yes", "no")
    base = ev.bootstrap_metrics("classification", ys, proba, labels=["no", "yes"], n_boot=50)
    swapped = ev.bootstrap_metrics(
        "classification", ys, proba[:, ::-1], labels=["yes", "no"], n_boot=50
    )
    # "no" is the positive class in the swapped order, so only symmetric metrics agree.
    for name in ("roc_auc", "accuracy", "log_loss", "brier"):
        assert swapped[name].value == pytest.approx(base[name].value), name
    rng = np.random.default_rng(6)
    ym = rng.choice(np.array(["a", "b", "c"]), 120)
    pm = rng.dirichlet([2, 2, 2], 120)
    perm = [2, 0, 1]
    a = ev.bootstrap_metrics("classification", ym, pm, labels=["a", "b", "c"], n_boot=50)
    b = ev.bootstrap_metrics(
        "classification", ym, pm[:, perm], labels=np.array(["a", "b", "c"])[perm], n_boot=50
    )
    for name in a:
        assert b[name].value == pytest.approx(a[name].value), name
        assert b[name].ci_low == pytest.approx(a[name].ci_low), name


# ---------------------------------------------------------------------------------------------
# bootstrap behaviour
# ---------------------------------------------------------------------------------------------


def test_ci_contains_point_estimate_and_narrows_with_more_rows():
    small = ev.bootstrap_metrics("classification", *_binary(100, seed=8), n_boot=400)
    large = ev.bootstrap_metrics("classification", *_binary(3000, seed=8), n_boot=400)
    for name, e in large.items():
        assert e.ci_low <= e.value <= e.ci_high, name
        assert e.contains(e.value)
        s = small[name]
        assert s.ci_low <= s.value <= s.ci_high, name
        assert (e.ci_high - e.ci_low) < (s.ci_high - s.ci_low), name


def test_wider_confidence_gives_wider_interval():
    y, proba = _binary(200, seed=9)
    narrow = ev.bootstrap_metrics("classification", y, proba, confidence=0.8, n_boot=300)
    wide = ev.bootstrap_metrics("classification", y, proba, confidence=0.99, n_boot=300)
    for name in narrow:
        assert wide[name].ci_low <= narrow[name].ci_low
        assert wide[name].ci_high >= narrow[name].ci_high


def test_same_seed_same_numbers_other_seed_other_numbers():
    y, proba = _binary(200, seed=10)
    a = ev.bootstrap_metrics("classification", y, proba, n_boot=200, seed=3)
    b = ev.bootstrap_metrics("classification", y, proba, n_boot=200, seed=3)
    c = ev.bootstrap_metrics("classification", y, proba, n_boot=200, seed=4)
    assert a == b
    assert a["roc_auc"].value == c["roc_auc"].value
    assert (a["roc_auc"].ci_low, a["roc_auc"].ci_high) != (
        c["roc_auc"].ci_low,
        c["roc_auc"].ci_high,
    )


def test_perfect_predictor_has_auc_one_with_degenerate_ci():
    y = np.array([0, 1] * 30)
    proba = np.column_stack([1 - 0.8 * y - 0.1, 0.8 * y + 0.1])
    est = ev.bootstrap_metrics("classification", y, proba, n_boot=300)
    auc = est["roc_auc"]
    assert (auc.value, auc.ci_low, auc.ci_high) == (1.0, 1.0, 1.0)
    assert est["accuracy"].ci_low == 1.0


def test_resamples_without_a_class_are_skipped_for_auc():
    y = np.zeros(40, dtype=int)
    y[[3, 17]] = 1  # two positives: some resamples have none
    _, proba = _binary(40, seed=11)
    est = ev.bootstrap_metrics("classification", y, proba, n_boot=500, seed=0)
    assert 0 < est["roc_auc"].n_resamples < 500
    assert np.isfinite(est["roc_auc"].ci_low)
    assert est["accuracy"].n_resamples == 500


def test_predicted_labels_only_gives_label_metrics():
    y, proba = _binary(100, seed=12)
    pred = proba.argmax(axis=1)
    est = ev.bootstrap_metrics("classification", y, pred, n_boot=50)
    assert list(est) == ["accuracy", "f1"]
    with pytest.raises(ConfigError, match="needs class probabilities"):
        ev.bootstrap_metrics("classification", y, pred, n_boot=50, metrics=["roc_auc"])


def test_bad_inputs_are_reported():
    y, proba = _binary(50)
    with pytest.raises(DatasetError, match="50 rows but the scores have 49"):
        ev.bootstrap_metrics("classification", y, proba[:49])
    with pytest.raises(DatasetError, match="3 labels"):
        ev.bootstrap_metrics("classification", y, proba, labels=[0, 1, 2])
    with pytest.raises(DatasetError, match="not in labels"):
        ev.bootstrap_metrics("classification", y + 5, proba, labels=[0, 1])
    with pytest.raises(ConfigError, match="n_boot"):
        ev.bootstrap_metrics("classification", y, proba, n_boot=0)
    with pytest.raises(ConfigError, match="confidence"):
        ev.bootstrap_metrics("classification", y, proba, confidence=95)
    with pytest.raises(ConfigError, match="is for regression"):
        ev.bootstrap_metrics("classification", y, proba, metrics=["rmse"])
    with pytest.raises(ConfigError, match="unknown task"):
        ev.bootstrap_metrics("clustering", y, proba)


# ---------------------------------------------------------------------------------------------
# paired bootstrap
# ---------------------------------------------------------------------------------------------


def test_paired_delta_of_identical_models_is_zero():
    y, proba = _binary(200, seed=13)
    delta, p = ev.paired_bootstrap_delta(
        "classification", y, proba, proba.copy(), metric="roc_auc", n_boot=300
    )
    assert (delta.value, delta.ci_low, delta.ci_high) == (0.0, 0.0, 0.0)
    assert delta.contains(0.0)
    assert p == 1.0


def test_paired_delta_of_clearly_better_model_is_above_zero():
    rng = np.random.default_rng(14)
    y = rng.integers(0, 2, 300)
    weak = 1 / (1 + np.exp(-(0.5 * (2 * y - 1) + rng.normal(0, 1.5, 300))))
    strong = 1 / (1 + np.exp(-(2.5 * (2 * y - 1) + rng.normal(0, 1.5, 300))))
    a, b = np.column_stack([1 - weak, weak]), np.column_stack([1 - strong, strong])
    delta, p = ev.paired_bootstrap_delta(
        "classification", y, a, b, metric="roc_auc", n_boot=500, seed=1
    )
    auc_a, auc_b = skm.roc_auc_score(y, weak), skm.roc_auc_score(y, strong)
    assert delta.value == pytest.approx(auc_b - auc_a)
    assert delta.ci_low > 0
    assert p < 0.01
    reverse, p_rev = ev.paired_bootstrap_delta(
        "classification", y, b, a, metric="roc_auc", n_boot=500, seed=1
    )
    assert reverse.value == pytest.approx(-delta.value)
    assert reverse.ci_high == pytest.approx(-delta.ci_low)
    assert p_rev == pytest.approx(p)


def test_paired_delta_is_tighter_than_unpaired_intervals_and_works_for_regression():
    rng = np.random.default_rng(15)
    y = rng.normal(0, 5, 300)
    base = y + rng.normal(0, 2.0, 300)
    better = y + 0.8 * (base - y)  # same errors, shrunk: better on every row
    delta, p = ev.paired_bootstrap_delta("regression", y, base, better, metric="rmse", n_boot=400)
    assert delta.ci_high < 0  # lower rmse is better
    assert p < 0.01
    single = ev.bootstrap_metrics("regression", y, base, n_boot=400, metrics=["rmse"])["rmse"]
    assert (delta.ci_high - delta.ci_low) < (single.ci_high - single.ci_low)


def test_paired_delta_of_similar_models_has_ci_around_zero():
    rng = np.random.default_rng(16)
    y = rng.integers(0, 2, 300)
    z = 1.0 * (2 * y - 1) + rng.normal(0, 1.5, 300)
    pa = 1 / (1 + np.exp(-(z + rng.normal(0, 0.3, 300))))
    pb = 1 / (1 + np.exp(-(z + rng.normal(0, 0.3, 300))))
    delta, p = ev.paired_bootstrap_delta(
        "classification",
        y,
        np.column_stack([1 - pa, pa]),
        np.column_stack([1 - pb, pb]),
        metric=ev.get_metric("roc_auc"),
        n_boot=400,
    )
    assert delta.contains(0.0)
    assert p > 0.05


# ---------------------------------------------------------------------------------------------
# evaluate_pipeline
# ---------------------------------------------------------------------------------------------


def test_evaluate_pipeline_binary(binary_split, binary_model):
    _, X_te, _, y_te = binary_split
    result = ev.evaluate_pipeline(binary_model, X_te, y_te, task="classification", n_boot=200)
    frame = result.to_frame()
    assert list(frame.columns) == ["name", "value", "ci_low", "ci_high"]
    assert list(frame["name"]) == [m.name for m in ev.metrics_for("classification")]
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


def test_threshold_table_matches_sklearn_and_recall_is_monotonic():
    y, proba = _binary(300, seed=17)
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


def test_threshold_explorer_updates_on_slider_change():
    y, proba = _binary(100, seed=18)
    widget = ev.threshold_explorer(y, proba[:, 1])
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
    roc = ev.roc_figure(y_te, proba)
    _check_figure(roc, 2)
    assert roc.layout.xaxis.title.text == "false positive rate"
    _check_figure(ev.roc_figure(y_te, proba[:, 1]), 2)  # 1-D positive-class proba
    _check_figure(ev.pr_figure(y_te, proba), 2)
    cal = ev.calibration_figure(y_te, proba, n_bins=5)
    _check_figure(cal, 3)
    conf = ev.confusion_figure(y_te, proba, normalize="true")
    _check_figure(conf, 1)
    assert np.asarray(conf.data[0].z).shape == (2, 2)


def test_multiclass_figures_have_one_curve_per_class(iris_split, iris_model):
    _, X_te, _, y_te = iris_split
    proba = iris_model.predict_proba(X_te)
    roc = ev.roc_figure(y_te, proba, labels=iris_model.classes_)
    assert len(roc.data) == 3 + 1  # three classes + chance line
    assert len(ev.pr_figure(y_te, proba).data) == 3
    assert len(ev.calibration_figure(y_te, proba).data) == 3 * 2 + 1
    conf = ev.confusion_figure(y_te, iris_model.predict(X_te), labels=[0, 1, 2])
    _check_figure(conf, 1)
    assert np.asarray(conf.data[0].z).sum() == len(y_te)
    with pytest.raises(DatasetError, match="positive-class probability"):
        ev.roc_figure(y_te, proba[:, 1])


def test_regression_and_metric_figures_build(regression_split, regression_model):
    _, X_te, _, y_te = regression_split
    pred = regression_model.predict(X_te)
    res = ev.residual_figure(y_te, pred)
    _check_figure(res, 3)
    assert res.layout.xaxis.title.text == "predicted"
    assert res.layout.xaxis2.title.text == "actual"
    small = ev.residual_figure(y_te, pred, max_points=20)
    assert len(small.data[0].x) == 20
    est = ev.bootstrap_metrics("regression", y_te, pred, n_boot=100)
    ci = ev.metrics_ci_figure(est)
    _check_figure(ci, 3)
    assert ci.data[0].error_x.array[0] == pytest.approx(est["rmse"].ci_high - est["rmse"].value)
    nan_ci = ev.metrics_ci_figure({"x": ev.Estimate(1.0, float("nan"), float("nan"))})
    _check_figure(nan_ci, 1)
    with pytest.raises(ConfigError):
        ev.metrics_ci_figure({})
