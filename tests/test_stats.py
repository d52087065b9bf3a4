"""Tests of workbench.stats: the metric registry, the one bootstrap engine (paired, unpaired,
clustered) and what is built on it, the statistical tests (McNemar, z-test, MDE, Holm/BH,
PSI/KS/chi-square), and that statistics and the reference profile sit in the core layer."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, ks_2samp
from sklearn import metrics as skm

import workbench
from workbench import stats
from workbench.exceptions import ConfigError, DatasetError
from workbench.profile import reference_profile
from workbench.stats import metrics as metrics_module

# ---------------------------------------------------------------------------------------------
# the metric registry
# ---------------------------------------------------------------------------------------------


def test_registry_lists_builtin_metrics_per_task():
    assert [m.name for m in stats.metrics_for("classification")] == [
        "roc_auc",
        "accuracy",
        "f1",
        "log_loss",
        "brier",
    ]
    assert [m.name for m in stats.metrics_for("regression")] == ["rmse", "mae", "r2"]
    for task, name in stats.HEADLINE.items():
        assert stats.get_metric(name).task == task
    assert stats.get_metric("rmse").higher_is_better is False
    assert stats.get_metric("roc_auc").needs_proba is True
    assert stats.get_metric("accuracy").needs_proba is False


def test_unknown_metric_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown metric 'auc'.*roc_auc"):
        stats.get_metric("auc")
    with pytest.raises(ConfigError, match="classification, regression"):
        stats.metrics_for("ranking")


def test_register_refuses_duplicates_and_custom_metric_bootstraps_without_weighted_fn():
    with pytest.raises(ConfigError, match="already registered"):
        stats.register_metric(stats.get_metric("rmse"))
    custom = stats.Metric(
        "max_error_test",
        "regression",
        lambda y, pred, labels: float(np.max(np.abs(y - pred))),
        higher_is_better=False,
    )
    stats.register_metric(custom)
    try:
        rng = np.random.default_rng(0)
        y = rng.normal(size=50)
        pred = y + rng.normal(0, 0.3, 50)
        est = stats.bootstrap_metrics("regression", y, pred, n_boot=50, metrics=["max_error_test"])
        e = est["max_error_test"]
        assert e.value == pytest.approx(np.max(np.abs(y - pred)))
        assert e.ci_high <= e.value + 1e-12  # a resample's max never exceeds the full max
        assert e.n_resamples == 50
    finally:
        metrics_module._REGISTRY.pop("max_error_test", None)


# ---------------------------------------------------------------------------------------------
# known values against sklearn
# ---------------------------------------------------------------------------------------------


def test_binary_point_estimates_match_sklearn(binary_scores):
    y, proba = binary_scores(300)
    est = stats.bootstrap_metrics("classification", y, proba, labels=[0, 1], n_boot=20)
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
    est = stats.bootstrap_metrics("classification", y, proba, n_boot=20)
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
    est = stats.bootstrap_metrics("regression", y, pred, n_boot=20)
    assert est["rmse"].value == pytest.approx(skm.root_mean_squared_error(y, pred))
    assert est["mae"].value == pytest.approx(skm.mean_absolute_error(y, pred))
    assert est["r2"].value == pytest.approx(skm.r2_score(y, pred))


def _cases(binary_scores):
    y, proba = binary_scores(80, seed=3)
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
def test_vectorized_bootstrap_equals_metric_on_each_resample(case, binary_scores):
    task, y, score, labels = _cases(binary_scores)[case]
    inputs = stats.prepare_scores(task, y, score, labels)
    [(counts,)] = stats.resample_weights([len(y)], n_boot=30, seed=7)
    rows = [np.repeat(np.arange(len(y)), c.astype(int)) for c in counts]
    for m in stats.metrics_for(task):
        arg = inputs.arg_for(m)
        fast = m.weighted_fn(inputs.y, arg, inputs.labels, counts)
        slow = np.array([m.fn(inputs.y[i], arg[i], inputs.labels) for i in rows])
        np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12, err_msg=m.name)


def test_label_order_and_string_labels_do_not_change_metrics(binary_scores):
    y, proba = binary_scores(150, seed=5)
    ys = np.where(y == 1, "yes", "no")
    base = stats.bootstrap_metrics("classification", ys, proba, labels=["no", "yes"], n_boot=50)
    swapped = stats.bootstrap_metrics(
        "classification", ys, proba[:, ::-1], labels=["yes", "no"], n_boot=50
    )
    # "no" is the positive class in the swapped order, so only symmetric metrics agree.
    for name in ("roc_auc", "accuracy", "log_loss", "brier"):
        assert swapped[name].value == pytest.approx(base[name].value), name
    rng = np.random.default_rng(6)
    ym = rng.choice(np.array(["a", "b", "c"]), 120)
    pm = rng.dirichlet([2, 2, 2], 120)
    perm = [2, 0, 1]
    a = stats.bootstrap_metrics("classification", ym, pm, labels=["a", "b", "c"], n_boot=50)
    b = stats.bootstrap_metrics(
        "classification", ym, pm[:, perm], labels=np.array(["a", "b", "c"])[perm], n_boot=50
    )
    for name in a:
        assert b[name].value == pytest.approx(a[name].value), name
        assert b[name].ci_low == pytest.approx(a[name].ci_low), name


# ---------------------------------------------------------------------------------------------
# bootstrap behaviour
# ---------------------------------------------------------------------------------------------


def test_ci_contains_point_estimate_and_narrows_with_more_rows(binary_scores):
    small = stats.bootstrap_metrics("classification", *binary_scores(100, seed=8), n_boot=400)
    large = stats.bootstrap_metrics("classification", *binary_scores(3000, seed=8), n_boot=400)
    for name, e in large.items():
        assert e.ci_low <= e.value <= e.ci_high, name
        assert e.contains(e.value)
        s = small[name]
        assert s.ci_low <= s.value <= s.ci_high, name
        assert (e.ci_high - e.ci_low) < (s.ci_high - s.ci_low), name


def test_wider_confidence_gives_wider_interval(binary_scores):
    y, proba = binary_scores(200, seed=9)
    narrow = stats.bootstrap_metrics("classification", y, proba, confidence=0.8, n_boot=300)
    wide = stats.bootstrap_metrics("classification", y, proba, confidence=0.99, n_boot=300)
    for name in narrow:
        assert wide[name].ci_low <= narrow[name].ci_low
        assert wide[name].ci_high >= narrow[name].ci_high


def test_same_seed_same_numbers_other_seed_other_numbers(binary_scores):
    y, proba = binary_scores(200, seed=10)
    a = stats.bootstrap_metrics("classification", y, proba, n_boot=200, seed=3)
    b = stats.bootstrap_metrics("classification", y, proba, n_boot=200, seed=3)
    c = stats.bootstrap_metrics("classification", y, proba, n_boot=200, seed=4)
    assert a == b
    assert a["roc_auc"].value == c["roc_auc"].value
    assert (a["roc_auc"].ci_low, a["roc_auc"].ci_high) != (
        c["roc_auc"].ci_low,
        c["roc_auc"].ci_high,
    )


def test_perfect_predictor_has_auc_one_with_degenerate_ci():
    y = np.array([0, 1] * 30)
    proba = np.column_stack([1 - 0.8 * y - 0.1, 0.8 * y + 0.1])
    est = stats.bootstrap_metrics("classification", y, proba, n_boot=300)
    auc = est["roc_auc"]
    assert (auc.value, auc.ci_low, auc.ci_high) == (1.0, 1.0, 1.0)
    assert est["accuracy"].ci_low == 1.0


def test_resamples_without_a_class_are_skipped_for_auc(binary_scores):
    y = np.zeros(40, dtype=int)
    y[[3, 17]] = 1  # two positives: some resamples have none
    _, proba = binary_scores(40, seed=11)
    est = stats.bootstrap_metrics("classification", y, proba, n_boot=500, seed=0)
    assert 0 < est["roc_auc"].n_resamples < 500
    assert np.isfinite(est["roc_auc"].ci_low)
    assert est["accuracy"].n_resamples == 500


def test_predicted_labels_only_gives_label_metrics(binary_scores):
    y, proba = binary_scores(100, seed=12)
    pred = proba.argmax(axis=1)
    est = stats.bootstrap_metrics("classification", y, pred, n_boot=50)
    assert list(est) == ["accuracy", "f1"]
    with pytest.raises(ConfigError, match="needs class probabilities"):
        stats.bootstrap_metrics("classification", y, pred, n_boot=50, metrics=["roc_auc"])


def test_bad_inputs_are_reported(binary_scores):
    y, proba = binary_scores(50)
    with pytest.raises(DatasetError, match="50 rows but the scores have 49"):
        stats.bootstrap_metrics("classification", y, proba[:49])
    with pytest.raises(DatasetError, match="3 labels"):
        stats.bootstrap_metrics("classification", y, proba, labels=[0, 1, 2])
    with pytest.raises(DatasetError, match="not in labels"):
        stats.bootstrap_metrics("classification", y + 5, proba, labels=[0, 1])
    with pytest.raises(ConfigError, match="n_boot"):
        stats.bootstrap_metrics("classification", y, proba, n_boot=0)
    with pytest.raises(ConfigError, match="confidence"):
        stats.bootstrap_metrics("classification", y, proba, confidence=95)
    with pytest.raises(ConfigError, match="is for regression"):
        stats.bootstrap_metrics("classification", y, proba, metrics=["rmse"])
    with pytest.raises(ConfigError, match="unknown task"):
        stats.bootstrap_metrics("clustering", y, proba)


# ---------------------------------------------------------------------------------------------
# paired bootstrap
# ---------------------------------------------------------------------------------------------


def test_paired_delta_of_identical_models_is_zero(binary_scores):
    y, proba = binary_scores(200, seed=13)
    delta, p = stats.paired_bootstrap_delta(
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
    delta, p = stats.paired_bootstrap_delta(
        "classification", y, a, b, metric="roc_auc", n_boot=500, seed=1
    )
    auc_a, auc_b = skm.roc_auc_score(y, weak), skm.roc_auc_score(y, strong)
    assert delta.value == pytest.approx(auc_b - auc_a)
    assert delta.ci_low > 0
    assert p < 0.01
    reverse, p_rev = stats.paired_bootstrap_delta(
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
    delta, p = stats.paired_bootstrap_delta(
        "regression", y, base, better, metric="rmse", n_boot=400
    )
    assert delta.ci_high < 0  # lower rmse is better
    assert p < 0.01
    single = stats.bootstrap_metrics("regression", y, base, n_boot=400, metrics=["rmse"])["rmse"]
    assert (delta.ci_high - delta.ci_low) < (single.ci_high - single.ci_low)


def test_paired_delta_of_similar_models_has_ci_around_zero():
    rng = np.random.default_rng(16)
    y = rng.integers(0, 2, 300)
    z = 1.0 * (2 * y - 1) + rng.normal(0, 1.5, 300)
    pa = 1 / (1 + np.exp(-(z + rng.normal(0, 0.3, 300))))
    pb = 1 / (1 + np.exp(-(z + rng.normal(0, 0.3, 300))))
    delta, p = stats.paired_bootstrap_delta(
        "classification",
        y,
        np.column_stack([1 - pa, pa]),
        np.column_stack([1 - pb, pb]),
        metric=stats.get_metric("roc_auc"),
        n_boot=400,
    )
    assert delta.contains(0.0)
    assert p > 0.05


# ---------------------------------------------------------------------------------------------
# one engine: paired, unpaired and clustered designs
# ---------------------------------------------------------------------------------------------


def test_the_designs_draw_count_matrices_from_one_stream():
    [(pa, pb)] = stats.resample_weights([50, 50], paired=True, n_boot=20, seed=1)
    assert pa is pb  # paired arms share one count matrix
    assert pa.shape == (20, 50) and (pa.sum(axis=1) == 50).all()
    [(ua, ub)] = stats.resample_weights([50, 40], n_boot=20, seed=1)
    assert ub.shape == (20, 40) and (ub.sum(axis=1) == 40).all()
    # Unpaired arms are drawn one after the other: A's counts are the paired draw's.
    np.testing.assert_array_equal(ua, pa)
    assert not np.array_equal(ua[:, :40], ub)
    # Clustered: every observation carries its unit's count; units are what is resampled.
    units = np.repeat(np.arange(10), 5)
    [(ca,)] = stats.resample_weights([50], clusters=[units], n_boot=20, seed=1)
    np.testing.assert_array_equal(ca, np.repeat(ca[:, ::5], 5, axis=1))
    assert (ca[:, ::5].sum(axis=1) == 10).all()
    with pytest.raises(DatasetError, match="same number of observations"):
        stats.resample_weights([3, 4], paired=True, n_boot=5, seed=0)
    with pytest.raises(DatasetError, match="do not match the arm sizes"):
        stats.resample_weights([3], clusters=[np.arange(4)], n_boot=5, seed=0)


def test_chunks_do_not_change_the_resamples(monkeypatch):
    """The resamples depend on (n, n_boot, seed) only, not on how they are chunked."""
    whole = np.vstack([w for (w,) in stats.resample_weights([300], n_boot=200, seed=2)])
    monkeypatch.setattr(stats.bootstrap, "CHUNK_CELLS", 300 * 7)  # chunks of 7 resamples
    chunks = [w for (w,) in stats.resample_weights([300], n_boot=200, seed=2)]
    assert len(chunks) == 29
    np.testing.assert_array_equal(np.vstack(chunks), whole)


def test_singleton_clusters_give_the_paired_and_one_sample_resamples(binary_scores):
    rng = np.random.default_rng(3)
    a, b = rng.random(120) < 0.4, rng.random(120) < 0.5
    singles = np.arange(120)
    paired = stats.bootstrap_proportion_delta("x", a, b, paired=True, n_boot=300, seed=5)
    clustered = stats.bootstrap_proportion_delta(
        "x", a, b, paired=True, clusters=(singles, singles), n_boot=300, seed=5
    )
    assert paired.test == "paired bootstrap"
    assert clustered.test == "cluster bootstrap by source row (paired)"
    assert (clustered.ci_low, clustered.ci_high, clustered.p_value) == (
        paired.ci_low,
        paired.ci_high,
        paired.p_value,
    )
    one = stats.bootstrap_mean_ci(a, n_boot=300, seed=5)
    assert stats.bootstrap_mean_ci(a, clusters=singles, n_boot=300, seed=5) == one
    y, proba = binary_scores(120, seed=6)
    est = stats.bootstrap_metrics(
        "classification", y, proba, n_boot=300, seed=5, metrics=["roc_auc"]
    )["roc_auc"]
    by_rows = stats.metric_estimate("roc_auc", y, proba, clusters=singles, n_boot=300, seed=5)
    assert by_rows == (est.value, est.ci_low, est.ci_high)


def test_evaluation_and_ab_test_deltas_come_from_the_same_bootstrap(binary_scores):
    y, a = binary_scores(150, seed=1)
    _, b = binary_scores(150, seed=2, signal=2.5)
    est, p = stats.paired_bootstrap_delta(
        "classification", y, a, b, metric="roc_auc", n_boot=300, seed=4
    )
    d = stats.metric_delta(
        "classification", "roc_auc", (y, a), (y, b), paired=True, n_boot=300, seed=4
    )
    assert (d.value, d.ci_low, d.ci_high, d.p_value) == (est.value, est.ci_low, est.ci_high, p)
    assert d.test == "paired bootstrap" and d.excludes_zero()
    unpaired = stats.metric_delta(
        "classification", "roc_auc", (y, a), (y, b), paired=False, n_boot=300, seed=4
    )
    assert unpaired.test == "unpaired bootstrap" and unpaired.value == d.value
    # Independent arms: the interval also carries each arm's own noise.
    assert unpaired.ci_high - unpaired.ci_low > d.ci_high - d.ci_low


def test_bootstrap_p_value_and_interval_conventions():
    assert stats.bootstrap_p_value(np.zeros(9)) == 1.0
    assert stats.bootstrap_p_value(np.ones(99)) == pytest.approx(2 / 100)
    assert math.isnan(stats.bootstrap_p_value(np.array([np.nan])))
    lo, hi = stats.percentile_interval(np.append(np.arange(101.0), np.nan), 0.9)
    assert (lo, hi) == pytest.approx((5.0, 95.0))
    empty = stats.metric_delta("regression", "rmse", ([], []), ([1.0], [1.0]), paired=False)
    assert empty.n_a == 0 and math.isnan(empty.value) and empty.to_dict()["value"] is None
    with pytest.raises(ConfigError, match="n_boot"):
        stats.metric_delta(
            "regression", "rmse", ([1.0], [1.0]), ([1.0], [2.0]), paired=False, n_boot=0
        )


# ---------------------------------------------------------------------------------------------
# tests: McNemar, proportions, MDE
# ---------------------------------------------------------------------------------------------


def test_mcnemar_known_values() -> None:
    # 10 discordant rows all won by the candidate: exact p = 2 * 0.5**10.
    base = [False] * 10 + [True] * 20
    cand = [True] * 30
    r = stats.mcnemar(base, cand)
    assert (r.baseline_only, r.candidate_only) == (0, 10)
    assert r.p_value == pytest.approx(2 * 0.5**10)
    assert r.statistic == pytest.approx(81 / 10)
    assert stats.mcnemar([True, False], [False, True]).p_value == 1.0
    assert stats.McNemarResult.from_dict(r.to_dict()) == r
    with pytest.raises(DatasetError, match="paired rows"):
        stats.mcnemar([True], [True, False])


def test_one_mcnemar_for_comparisons_and_paired_proportions() -> None:
    rng = np.random.default_rng(7)
    a = rng.random(300) < 0.7
    b = a.copy()
    b[rng.choice(300, 40, replace=False)] ^= True
    mc = stats.mcnemar(a, b)
    paired = stats.paired_proportion_delta("acceptance", a, b)
    assert paired.p_value == mc.p_value
    assert paired.p_value == pytest.approx(binomtest(mc.candidate_only, mc.discordant).pvalue)
    assert paired.test == "McNemar exact (paired)" and paired.n_a == paired.n_b == 300


def test_proportion_tests_and_mde_on_known_values() -> None:
    d = stats.two_proportion_delta("acceptance", 120, 400, 150, 400)
    pooled = 270 / 800
    z = 0.075 / math.sqrt(pooled * (1 - pooled) * (2 / 400))
    assert d.value == pytest.approx(0.075)
    assert d.p_value == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))))
    se = math.sqrt(0.3 * 0.7 / 400 + 0.375 * 0.625 / 400)
    assert (d.ci_low, d.ci_high) == pytest.approx((0.075 - 1.959964 * se, 0.075 + 1.959964 * se))
    assert stats.mde_two_proportions(0.5, 1000, 1000) == pytest.approx(
        (1.959964 + 0.841621) * math.sqrt(0.25 * 0.002), rel=1e-5
    )
    assert stats.required_per_arm(0.5, 0.55) == pytest.approx(1561, abs=2)
    a = np.array([1, 1, 0, 0, 1, 0, 1, 1] * 25, dtype=bool)
    b = a.copy()
    b[:30] = True  # B succeeds where A failed on some requests
    paired = stats.paired_proportion_delta("acceptance", a, b)
    n01 = int((~a & b).sum())
    assert paired.p_value == pytest.approx(binomtest(n01, n01, 0.5).pvalue)
    same = stats.bootstrap_quantile_delta("p99", a * 1.0 + 1, a * 1.0 + 1, 0.99, paired=True)
    assert (same.value, same.ci_low, same.ci_high, same.p_value) == (0, 0, 0, 1)
    lo, hi = stats.wilson_interval(30, 100)
    assert (lo, hi) == pytest.approx((0.2189, 0.3958), abs=1e-4)  # the textbook values
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


# ---------------------------------------------------------------------------------------------
# tests: multiple testing, PSI, drift tests
# ---------------------------------------------------------------------------------------------


def test_psi_is_zero_on_identical_data_and_matches_the_formula() -> None:
    ref = np.arange(100.0)
    assert stats.psi(ref, ref) == pytest.approx(0.0, abs=1e-12)
    # Every current value in the first decile: shares 1 and nine empty bins floored at 1e-4.
    expected = 0.9 * math.log(1 / 0.1) + 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert stats.psi(ref, np.zeros(50)) == pytest.approx(expected, rel=1e-9)
    # Half of the values moved from the lowest decile to the highest.
    cur = np.concatenate([np.arange(10.0, 90.0), np.full(20, 99.0)])
    shares = np.array([0.0] + [0.1] * 8 + [0.2])
    shares = np.maximum(shares, 1e-4)
    assert stats.psi(ref, cur) == pytest.approx(
        float(np.sum((shares - 0.1) * np.log(shares / 0.1)))
    )
    rng = np.random.default_rng(0)
    assert stats.psi(rng.normal(size=5000), rng.normal(size=5000)) < 0.01
    assert stats.psi(rng.normal(size=5000), rng.normal(1.0, size=5000)) > 0.25
    with pytest.raises(Exception, match="non-missing"):
        stats.psi([np.nan], [1.0])


def test_multiple_testing_corrections_on_known_values() -> None:
    p = [0.01, 0.04, 0.03, 0.005, np.nan]
    assert stats.holm(p)[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.benjamini_hochberg(p)[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert np.isnan(stats.holm(p)[4]) and np.isnan(stats.benjamini_hochberg(p)[4])
    np.testing.assert_array_equal(stats.adjust_p_values(p, "holm"), stats.holm(p))
    np.testing.assert_array_equal(stats.adjust_p_values(p, "bh"), stats.benjamini_hochberg(p))
    np.testing.assert_array_equal(stats.adjust_p_values(p, "none"), np.asarray(p))
    with pytest.raises(ConfigError, match="holm, bh, none"):
        stats.adjust_p_values(p, "bonferroni")


def test_feature_test_is_scipy_ks_on_the_stored_sample() -> None:
    rng = np.random.default_rng(1)
    ref, cur = rng.normal(size=300), rng.normal(0.3, size=200)
    entry = reference_profile(pd.DataFrame({"x": ref}))["features"]["x"]
    result = stats.feature_test(entry, cur)
    expected = ks_2samp(np.sort(ref), cur)
    assert result["test"] == "ks" and result["n"] == 200
    assert result["statistic"] == pytest.approx(expected.statistic, rel=1e-5)
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-3)
    # A larger reference keeps 512 evenly spaced order statistics.
    big = reference_profile(pd.DataFrame({"x": rng.normal(size=5000)}))["features"]["x"]
    assert len(big["sample"]) == 512 and big["n"] == 5000


def test_categorical_features_use_shares_and_a_chi_square_test() -> None:
    ref = pd.DataFrame({"color": ["red"] * 60 + ["blue"] * 40})
    entry = reference_profile(ref)["features"]["color"]
    assert entry["kind"] == "categorical" and entry["categories"] == ["red", "blue"]
    same = stats.feature_test(entry, pd.Series(["red"] * 30 + ["blue"] * 20))
    assert same["psi"] == pytest.approx(0.0, abs=1e-9) and same["p_value"] > 0.5
    new = stats.feature_test(entry, pd.Series(["green"] * 30 + ["blue"] * 20))
    assert new["test"] == "chi2" and new["psi"] > 1 and new["p_value"] < 1e-6


# ---------------------------------------------------------------------------------------------
# layers: statistics and the reference profile are core
# ---------------------------------------------------------------------------------------------


_ROOT = Path(workbench.__file__).parent


def _workbench_imports(path: Path) -> set[str]:
    """Every workbench module ``path`` imports, at the top or inside functions."""
    package = ["workbench", *path.relative_to(_ROOT).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            parent = package[: len(package) - node.level + 1] if node.level else []
            found.add(".".join([*parent, *([node.module] if node.module else [])]))
    return {m for m in found if m.split(".")[0] == "workbench"}


def test_statistics_and_the_profile_import_no_service_and_bundle_no_monitor():
    core = {"workbench", "workbench.exceptions", "workbench.stats", "workbench.profile"}
    for path in [*sorted((_ROOT / "stats").glob("*.py")), _ROOT / "profile.py"]:
        imported = {m for m in _workbench_imports(path) if not m.startswith("workbench.stats.")}
        assert imported <= core, f"{path.name} imports {sorted(imported - core)}"
    # Packaging a bundle needs the reference profile, not the monitor (the old cycle).
    assert "workbench.monitor" not in _workbench_imports(_ROOT / "bundle.py")
    assert "workbench.profile" in _workbench_imports(_ROOT / "bundle.py")
