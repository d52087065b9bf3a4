"""Evaluate a fitted model on its test split: metrics with bootstrap CIs, the trivial baseline,
latency with its context, size.

The pieces, in the order a notebook uses them::

    result = evaluate_pipeline(pipe, X_test, y_test, task="classification", n_boot=1000, seed=0)
    result.to_frame()                      # name / value / ci_low / ci_high
    vs = compare_with_baseline(result, y_train)   # class prior / training mean on the same rows
    vs.beats, vs.lifts["roc_auc"]          # model − baseline with a paired CI
    threshold_table(result.y_true, result.positive_proba)  # binary tasks: metrics per threshold
    latency = time_model(pipe, X_test)     # p50/p99 and rows/s with CIs, and where measured
    model_size_bytes(model_path)

A run's evaluate stage (notebook 03, the champion's re-evaluation) does all of it and records
it with :func:`evaluate_run`. Latency (timings with intervals and the context they were taken
in, models timed side by side) is :mod:`workbench.latency`; :func:`measure_latency` is
re-exported here for notebooks that call ``evaluate.measure_latency``.

The metrics and their bootstrap intervals come from :mod:`workbench.stats` (the metric registry,
:func:`~workbench.stats.bootstrap_metrics`, :func:`~workbench.stats.paired_bootstrap_delta`).
The figures of an evaluation are in :mod:`workbench.figures.evaluate`, the interactive threshold
explorer in :mod:`workbench.widgets`.

Conventions:

- Classification scores are ``predict_proba`` matrices of shape ``(n, k)`` whose columns follow
  ``labels`` (a classifier's ``classes_``). For two classes the positive class is ``labels[1]``.
  A metric with ``needs_proba=False`` receives the predicted labels ``labels[argmax(proba)]``.
- Regression scores are the predictions, shape ``(n,)``.
- A lift or delta is always model (candidate) − baseline in the metric's units, never
  sign-flipped: for a lower-is-better metric (rmse, log loss, latency) a gain is negative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from workbench.config import latency_seconds as latency_seconds_setting
from workbench.exceptions import ConfigError, DatasetError, ModelError
from workbench.gates import BASELINE_PREFIX, BEATS_METRIC, LIFT_PREFIX
from workbench.latency import LATENCY_FILE, Latency, measure_latency, time_model
from workbench.stats import (
    HEADLINE,
    Estimate,
    Metric,
    bootstrap_metrics,
    check_bootstrap_options,
    check_task,
    f1_from_counts,
    get_metric,
    paired_bootstrap_delta,
    prepare_scores,
)

if TYPE_CHECKING:
    from workbench.context import RunContext
    from workbench.datasets import Dataset, Split

__all__ = [
    "BASELINE_FILE",
    "BASELINE_PREFIX",
    "BEATS_METRIC",
    "LIFT_PREFIX",
    "BaselineComparison",
    "EvaluationResult",
    "RunEvaluation",
    "TrivialBaseline",
    "baseline_verdict",
    "beats",
    "compare_with_baseline",
    "evaluate_pipeline",
    "evaluate_run",
    "measure_latency",
    "model_size_bytes",
    "threshold_table",
]

# --------------------------------------------------------------------------------------------
# Evaluating a pipeline
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """What :func:`evaluate_pipeline` measured on the test split (compared by identity).

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        estimates: ``{metric name: Estimate}``.
        y_true: True test targets.
        y_score: Classification: probability matrix ``(n, k)`` (or predicted labels when the
            model has no ``predict_proba``); regression: predictions.
        labels: Class order of ``y_score``'s columns; ``None`` for regression.
        n_boot: Bootstrap resamples used.
        seed: Seed of the bootstrap.
        confidence: Coverage of the intervals.
    """

    task: str
    estimates: dict[str, Estimate]
    y_true: np.ndarray
    y_score: np.ndarray
    labels: np.ndarray | None
    n_boot: int
    seed: int
    confidence: float

    @property
    def y_pred(self) -> np.ndarray:
        """Predicted labels (classification) or predictions (regression)."""
        if self.task == "classification" and self.y_score.ndim == 2:
            assert self.labels is not None
            return self.labels[np.argmax(self.y_score, axis=1)]
        return self.y_score

    @property
    def positive_proba(self) -> np.ndarray:
        """Probability of the positive class ``labels[1]`` (binary classification only)."""
        if self.task != "classification" or self.y_score.ndim != 2 or self.y_score.shape[1] != 2:
            raise ConfigError(
                "positive_proba needs a binary classifier with predict_proba; "
                f"this result is {self.task} with scores of shape {self.y_score.shape}"
            )
        return self.y_score[:, 1]

    @property
    def headline(self) -> Estimate:
        """The estimate of the task's headline metric (see :data:`HEADLINE`)."""
        name = HEADLINE[self.task]
        if name not in self.estimates:
            raise ConfigError(
                f"the headline metric {name!r} was not computed; computed: "
                + ", ".join(self.estimates)
            )
        return self.estimates[name]

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a table with columns ``name, value, ci_low, ci_high``."""
        return pd.DataFrame(
            {
                "name": list(self.estimates),
                "value": [e.value for e in self.estimates.values()],
                "ci_low": [e.ci_low for e in self.estimates.values()],
                "ci_high": [e.ci_high for e in self.estimates.values()],
            }
        )


def evaluate_pipeline(
    pipe: Any,
    X_test: Any,
    y_test: npt.ArrayLike,
    *,
    task: str,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    metrics: Sequence[str | Metric] | None = None,
) -> EvaluationResult:
    """Score a fitted pipeline on the test split and bootstrap its metrics.

    Classifiers are scored with ``predict_proba`` (class order ``pipe.classes_``); a classifier
    without it is scored with ``predict`` and gets only the label metrics. Regressors use
    ``predict``.

    Args:
        pipe: A fitted sklearn estimator or Pipeline.
        X_test: Test features.
        y_test: Test targets.
        task: ``"classification"`` or ``"regression"``.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap.
        confidence: Coverage of the intervals.
        metrics: Metric names; default all registered metrics of the task.

    Returns:
        An :class:`EvaluationResult`.

    Example:
        >>> result = evaluate_pipeline(pipe, X_test, y_test, task="classification")
        >>> result.to_frame()
    """
    check_task(task)
    check_bootstrap_options(n_boot, confidence)
    y = np.asarray(y_test)
    labels: np.ndarray | None = None
    if task == "classification":
        classes = getattr(pipe, "classes_", None)
        labels = None if classes is None else np.asarray(classes)
        if hasattr(pipe, "predict_proba"):
            score = np.asarray(pipe.predict_proba(X_test))
        else:
            score = np.asarray(pipe.predict(X_test))
    else:
        score = np.asarray(pipe.predict(X_test))
    estimates = bootstrap_metrics(
        task, y, score, labels=labels, n_boot=n_boot, seed=seed, confidence=confidence,
        metrics=metrics,
    )  # fmt: skip
    if task == "classification" and labels is None:
        labels = prepare_scores(task, y, score, None).labels
    return EvaluationResult(task, estimates, y, score, labels, n_boot, seed, confidence)


# --------------------------------------------------------------------------------------------
# The trivial baseline
# --------------------------------------------------------------------------------------------

# The evaluate stage's baseline metrics (named in workbench.gates, which release gates read):
# ``baseline_roc_auc`` (the trivial model's value), ``lift_roc_auc`` (model − trivial model,
# with its paired CI) and ``beats_baseline`` (1.0 when the headline's lift is significant in
# the good direction, else 0.0).

#: The run file keeping the trivial baseline (what comparisons rebuild it from).
BASELINE_FILE = "baseline.json"


@dataclass(frozen=True)
class TrivialBaseline:
    """The model that ignores the features, fitted on the rows the model was fitted on.

    Classification predicts the class prior of those rows as probabilities (its label is the
    majority class); regression predicts their mean. Every evaluation scores it on the same test
    rows, so "does the model beat it?" is answered with a paired interval.

    Attributes:
        task: ``"classification"`` or ``"regression"``.
        n_fit: Rows it was fitted on.
        labels: Class order (classification; the model's ``classes_``).
        prior: Share of each class among the fitted rows, in ``labels`` order.
        mean: Mean target of the fitted rows (regression).
    """

    task: str
    n_fit: int
    labels: tuple[Any, ...] | None = None
    prior: tuple[float, ...] | None = None
    mean: float | None = None

    @classmethod
    def fit(
        cls, task: str, y_fit: npt.ArrayLike, *, labels: npt.ArrayLike | None = None
    ) -> TrivialBaseline:
        """Fit it on the training targets (``labels``: the model's class order).

        Raises:
            DatasetError: No training rows.
        """
        check_task(task)
        y = np.asarray(y_fit)
        if len(y) == 0:
            raise DatasetError("the trivial baseline needs the training targets; none given")
        if task == "regression":
            return cls(task, len(y), mean=float(np.mean(y.astype(float))))
        lab = np.unique(y) if labels is None else np.asarray(labels)
        prior = tuple(float(np.mean(y == c)) for c in lab)
        return cls(task, len(y), labels=tuple(lab.tolist()), prior=prior)

    @property
    def kind(self) -> str:
        return "class prior" if self.task == "classification" else "training mean"

    def scores(self, n: int, *, proba: bool = True) -> np.ndarray:
        """Its scores for ``n`` test rows: probabilities ``(n, k)`` (or the majority label when
        ``proba`` is false), or the mean ``(n,)``."""
        if self.task == "regression":
            return np.full(n, float(self.mean or 0.0))
        assert self.labels is not None and self.prior is not None
        if not proba:
            return np.asarray([self.labels[int(np.argmax(self.prior))]] * n)
        return np.tile(np.asarray(self.prior, dtype=float), (n, 1))

    def describe(self) -> str:
        """E.g. ``class prior of 455 training rows (0: 0.37, 1: 0.63)``."""
        if self.task == "regression":
            return f"training mean of {self.n_fit} rows ({self.mean:.4g})"
        assert self.labels is not None and self.prior is not None
        shares = ", ".join(
            f"{c}: {p:.2f}" for c, p in list(zip(self.labels, self.prior, strict=True))[:6]
        )
        more = ", …" if len(self.labels) > 6 else ""
        return f"class prior of {self.n_fit} training rows ({shares}{more})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "task": self.task,
            "n_fit": self.n_fit,
            "labels": None if self.labels is None else [_plain(c) for c in self.labels],
            "prior": None if self.prior is None else list(self.prior),
            "mean": self.mean,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrivialBaseline:
        labels, prior = d.get("labels"), d.get("prior")
        return cls(
            task=str(d["task"]),
            n_fit=int(d["n_fit"]),
            labels=None if labels is None else tuple(labels),
            prior=None if prior is None else tuple(float(p) for p in prior),
            mean=None if d.get("mean") is None else float(d["mean"]),
        )


def _plain(x: Any) -> Any:
    """A numpy scalar as the Python value JSON can hold."""
    return x.item() if hasattr(x, "item") else x


def beats(lift: Estimate, higher_is_better: bool) -> bool:
    """Whether a lift (model − baseline) is significant in the good direction: its interval
    lies above 0 for a higher-is-better metric, below 0 otherwise."""
    if higher_is_better:
        return bool(lift.ci_low > 0)
    return bool(lift.ci_high < 0)


@dataclass(frozen=True, eq=False)
class BaselineComparison:
    """An evaluated model against the trivial baseline on the same test rows.

    Attributes:
        baseline: The trivial model.
        model: The model's estimates (as :func:`evaluate_pipeline` measured them).
        estimates: The trivial model's estimates, same metrics, same resamples.
        lifts: ``{metric: model − baseline}`` with paired-bootstrap intervals.
        p_values: Two-sided paired-bootstrap p-value of each lift.
        headline: The metric the verdict reads (the task's headline when measured).
    """

    baseline: TrivialBaseline
    model: dict[str, Estimate]
    estimates: dict[str, Estimate]
    lifts: dict[str, Estimate]
    p_values: dict[str, float]
    headline: str

    @property
    def beats(self) -> bool:
        """Whether the model beats the baseline on the headline metric (95% CI)."""
        return beats(self.lifts[self.headline], get_metric(self.headline).higher_is_better)

    def metrics(self) -> dict[str, Estimate | float]:
        """What the evaluate stage records: ``baseline_<m>``, ``lift_<m>``, ``beats_baseline``."""
        out: dict[str, Estimate | float] = {}
        for name, est in self.estimates.items():
            out[BASELINE_PREFIX + name] = est
            out[LIFT_PREFIX + name] = self.lifts[name]
        out[BEATS_METRIC] = 1.0 if self.beats else 0.0
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per metric: the model with its CI, the baseline, the lift with its CI."""
        rows = []
        for name, m in self.model.items():
            lift = self.lifts[name]
            rows.append(
                {
                    "metric": name,
                    "model": m.value,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "baseline": self.estimates[name].value,
                    "lift": lift.value,
                    "lift_ci_low": lift.ci_low,
                    "lift_ci_high": lift.ci_high,
                    "p_value": self.p_values[name],
                }
            )
        return pd.DataFrame(rows).set_index("metric")

    def verdict(self) -> str:
        """One sentence (plain text): does the model beat the trivial baseline, by how much."""
        return _verdict_sentence(
            self.beats,
            self.headline,
            self.model[self.headline].value,
            self.estimates[self.headline].value,
            self.lifts[self.headline],
            self.baseline.describe(),
        )

    def banner_markdown(self) -> str:
        """The verdict for the top of a report: a warning when the model does not beat it."""
        from .safehtml import md

        if self.beats:
            return f"✅ {md(self.verdict())}"
        return f"### ⚠️ This model does not beat the trivial baseline\n\n{md(self.verdict())}"


def _verdict_sentence(
    won: bool, name: str, model: float, base: float, lift: Estimate, what: str
) -> str:
    tail = (
        f"{name} {model:.4f} vs {base:.4f}, lift {lift.value:+.4f} "
        f"(95% CI [{lift.ci_low:+.4f}, {lift.ci_high:+.4f}])"
    )
    if won:
        return f"The model beats the trivial baseline ({what}): {tail}."
    return (
        f"The model does not beat the trivial baseline ({what}): {tail}; a model that ignores "
        "the features does as well on these test rows, so this one is not worth serving."
    )


def compare_with_baseline(
    result: EvaluationResult,
    y_fit: npt.ArrayLike,
    *,
    n_boot: int | None = None,
    seed: int | None = None,
) -> BaselineComparison:
    """Score the trivial baseline (fitted on ``y_fit``) on the model's test rows and measure
    the lift of every metric with a paired bootstrap (:func:`paired_bootstrap_delta`).

    Args:
        result: The model's evaluation.
        y_fit: The targets of the rows the model was fitted on (train + valid for a run).
        n_boot: Resamples; default the evaluation's.
        seed: Seed; default the evaluation's (same resamples as its intervals).

    Example:
        >>> vs = compare_with_baseline(result, y_train)
        >>> vs.beats, vs.lifts["roc_auc"]
    """
    n_boot = result.n_boot if n_boot is None else n_boot
    seed = result.seed if seed is None else seed
    base = TrivialBaseline.fit(result.task, y_fit, labels=result.labels)
    score = base.scores(len(result.y_true), proba=result.y_score.ndim == 2)
    names = list(result.estimates)
    estimates = bootstrap_metrics(
        result.task, result.y_true, score, labels=result.labels, n_boot=n_boot, seed=seed,
        confidence=result.confidence, metrics=names,
    )  # fmt: skip
    lifts, p_values = {}, {}
    for name in names:
        lifts[name], p_values[name] = paired_bootstrap_delta(
            result.task, result.y_true, score, result.y_score, metric=name, labels=result.labels,
            n_boot=n_boot, seed=seed, confidence=result.confidence,
        )  # fmt: skip
    headline = HEADLINE[result.task] if HEADLINE[result.task] in names else names[0]
    return BaselineComparison(base, dict(result.estimates), estimates, lifts, p_values, headline)


def baseline_verdict(metrics: Mapping[str, Any]) -> str | None:
    """The warning for a run whose model did not beat its trivial baseline, from its recorded
    evaluate metrics; ``None`` when it beat it or recorded no baseline.

    Args:
        metrics: ``{name: value}`` where a value is ``{"value", "ci95"}`` (as
            ``workbench run --json`` prints metrics), a record or estimate with
            ``value``/``ci_low``/``ci_high``, or a plain number (what
            :meth:`BaselineComparison.metrics` returns).
    """

    def get(name: str) -> tuple[float, float, float] | None:
        m = metrics.get(name)
        if m is None:
            return None
        if isinstance(m, int | float):
            return float(m), math.nan, math.nan
        if isinstance(m, Mapping):
            lo, hi = (m.get("ci95") or [math.nan, math.nan])[:2]
            return float(m["value"]), float(lo), float(hi)
        lo = m.ci_low if m.ci_low is not None else math.nan
        hi = m.ci_high if m.ci_high is not None else math.nan
        return float(m.value), float(lo), float(hi)

    flag = get(BEATS_METRIC)
    if flag is None or flag[0] >= 1:
        return None
    for name in (*HEADLINE.values(), "accuracy"):
        lift, base, model = (get(p + name) for p in (LIFT_PREFIX, BASELINE_PREFIX, ""))
        if lift is not None and base is not None and model is not None:
            est = Estimate(*lift)
            return _verdict_sentence(False, name, model[0], base[0], est, "the trivial model")
    return "The model does not beat the trivial baseline on its test rows."


# --------------------------------------------------------------------------------------------
# Size
# --------------------------------------------------------------------------------------------


def model_size_bytes(path: str | Path) -> int:
    """Size on disk of a model file, or the total of all files under a model folder.

    Raises:
        ModelError: Nothing exists at ``path``.
    """
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    raise ModelError(f"no model file or folder at {str(p)!r}; pass the path the model was saved to")


# --------------------------------------------------------------------------------------------
# A run's evaluate stage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RunEvaluation:
    """What :func:`evaluate_run` measured and recorded for a run.

    Attributes:
        result: The model on the test rows.
        baseline: The model against the trivial baseline.
        latency: Its timings, intervals and context.
        size_bytes: The model file's size.
    """

    result: EvaluationResult
    baseline: BaselineComparison
    latency: Latency
    size_bytes: int

    def cost(self) -> dict[str, Estimate | float]:
        """The cost metrics recorded: latency (with intervals) and size."""
        return {**self.latency.metrics(), "model_size_bytes": float(self.size_bytes)}

    def cost_frame(self) -> pd.DataFrame:
        """The cost metrics as ``name, value, ci_low, ci_high``, and the context below."""
        rows = [
            {"name": k, "value": v.value, "ci_low": v.ci_low, "ci_high": v.ci_high}
            if isinstance(v, Estimate) else {"name": k, "value": v}
            for k, v in self.cost().items()
        ]  # fmt: skip
        return pd.DataFrame(rows).set_index("name")


def evaluate_run(
    ctx: RunContext,
    pipe: Any,
    ds: Dataset,
    split: Split,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    model_path: str | Path | None = None,
    latency_seconds: float | None = None,
) -> RunEvaluation:
    """The evaluate stage of a run: metrics, the trivial baseline, latency and size, recorded.

    Evaluates ``pipe`` on the split's test rows (:func:`evaluate_pipeline`), scores the trivial
    baseline fitted on the rows the model was fitted on (train + valid) and the lift
    (:func:`compare_with_baseline`), times the model (:func:`time_model`) and records, as
    metrics of the stage: every metric with its CI, ``baseline_<m>``, ``lift_<m>``,
    ``beats_baseline``, the latency metrics with their CIs and ``model_size_bytes``; as files:
    the test predictions, :data:`BASELINE_FILE` and :data:`LATENCY_FILE` (timings and context),
    which comparisons read. Notebook 03 and the champion's re-evaluation share it.

    Args:
        ctx: The run's context (stage ``evaluate``).
        pipe: The fitted model.
        ds: The run's dataset.
        split: Its split.
        n_boot: Bootstrap resamples.
        seed: Seed of the bootstrap and of the rows timed.
        model_path: The model file (default the run's).
        latency_seconds: Time budget of the latency measurement (None or 0:
            ``WORKBENCH_LATENCY_SECONDS``, else 10 s; see :func:`workbench.config.latency_seconds`).
    """
    X_test, y_test = ds.X.iloc[split.test], ds.y.iloc[split.test]
    result = evaluate_pipeline(pipe, X_test, y_test, task=ds.task, n_boot=n_boot, seed=seed)
    fit_rows = np.concatenate([split.train, split.valid])
    vs = compare_with_baseline(result, ds.y.iloc[fit_rows])
    ctx.log_metrics({**result.estimates, **vs.metrics()})
    ctx.save_test_predictions(split, result)
    ctx.save_json(BASELINE_FILE, vs.baseline.to_dict(), kind="baseline")
    budget = latency_seconds_setting(latency_seconds)
    latency = time_model(pipe, X_test, seed=seed, n_boot=n_boot, max_seconds=budget)
    ctx.save_json(LATENCY_FILE, latency.to_dict(), kind="latency")
    evaluation = RunEvaluation(result, vs, latency, model_size_bytes(model_path or ctx.model_path))
    ctx.log_metrics(evaluation.cost())
    return evaluation


# --------------------------------------------------------------------------------------------
# Thresholds (binary tasks)
# --------------------------------------------------------------------------------------------


def _binary_truth(y_true: npt.ArrayLike, pos_label: Any) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise DatasetError(f"y_true must be one-dimensional, got shape {y.shape}")
    present = np.unique(y)
    if len(present) > 2:
        raise DatasetError(
            f"thresholds apply to binary tasks; y_true has {len(present)} classes "
            f"({list(present)[:10]})"
        )
    if pos_label is None:
        pos_label = present[-1] if len(present) else 1
    return y == pos_label


def _counts_at(
    truth: np.ndarray, proba: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``tp, fp, fn, tn`` per threshold, predicting positive when ``proba >= threshold``."""
    pos_sorted = np.sort(proba[truth])
    neg_sorted = np.sort(proba[~truth])
    tp = len(pos_sorted) - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, thresholds, side="left")
    return tp, fp, len(pos_sorted) - tp, len(neg_sorted) - fp


def threshold_table(
    y_true: npt.ArrayLike,
    proba_pos: npt.ArrayLike,
    *,
    thresholds: npt.ArrayLike | None = None,
    pos_label: Any = None,
    counts: bool = False,
) -> pd.DataFrame:
    """Precision, recall, F1 and accuracy of a binary classifier at several thresholds.

    A row is predicted positive when ``proba_pos >= threshold``. Precision is 0 where nothing is
    predicted positive (likewise F1), matching sklearn's ``zero_division=0``.

    Args:
        y_true: True labels of a binary task.
        proba_pos: Probability of the positive class, shape ``(n,)``.
        thresholds: Thresholds to tabulate; default 0.05, 0.10, ..., 0.95.
        pos_label: The positive class; default the larger of the (sorted) labels, i.e. a
            classifier's ``classes_[1]``.
        counts: Also give the confusion counts ``tp, fp, fn, tn`` of each threshold (what
            :func:`workbench.widgets.threshold_explorer` shows).

    Returns:
        Columns ``threshold, precision, recall, f1, accuracy, predicted_positive`` (then
        ``tp, fp, fn, tn`` with ``counts``); recall never increases with the threshold.

    Example:
        >>> threshold_table([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9], thresholds=[0.5])
    """
    truth = _binary_truth(y_true, pos_label)
    proba = np.asarray(proba_pos, dtype=float)
    if proba.shape != truth.shape:
        raise DatasetError(
            f"proba_pos has shape {proba.shape} but y_true has {truth.shape}; "
            "pass the positive-class column, e.g. proba[:, 1]"
        )
    t = np.round(np.arange(1, 20) * 0.05, 10) if thresholds is None else np.asarray(thresholds)
    t = np.sort(t.astype(float))
    tp, fp, fn, tn = _counts_at(truth, proba, t)
    pp = tp + fp
    precision = np.divide(tp, pp, out=np.zeros(len(t)), where=pp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros(len(t)), where=(tp + fn) > 0)
    table = pd.DataFrame(
        {
            "threshold": t,
            "precision": precision,
            "recall": recall,
            "f1": f1_from_counts(tp.astype(float), fp.astype(float), fn.astype(float)),
            "accuracy": (tp + tn) / max(len(truth), 1),
            "predicted_positive": pp.astype(int),
        }
    )
    if counts:
        table = table.assign(tp=tp.astype(int), fp=fp.astype(int), fn=fn.astype(int),
                             tn=tn.astype(int))  # fmt: skip
    return table
