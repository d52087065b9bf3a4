"""Turn the answers of an A/B test into per-variant results and differences, then decide.

Per variant: requests, error rate, p50/p99 latency, the headline metric on the labels that had
arrived (with a bootstrap 95% CI), the share of right answers, and the simulated users'
acceptance rate (with a Wilson 95% CI). Differences ``B − A`` (tests: :mod:`workbench.stats`):
acceptance, the headline metric, error rate, p50 and p99 latency. The decision rules are in
:mod:`._decision`; the result values in :mod:`._results`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.exceptions import ConfigError
from workbench.stats import (
    HEADLINE,
    Delta,
    bootstrap_mean_ci,
    bootstrap_proportion_delta,
    bootstrap_quantile_delta,
    get_metric,
    metric_delta,
    metric_estimate,
    paired_proportion_delta,
    two_proportion_delta,
    wilson_interval,
)

from ._decision import decide, minimum_detectable_effect
from ._results import Analysis, Guardrails, VariantSummary
from ._users import UserModel

__all__ = ["MIN_LABELLED", "analyze", "annotate"]

#: Fewer labelled answers than this per variant and the headline metric is not judged.
MIN_LABELLED = 30


# -- annotate: truth, correctness, simulated users ------------------------------------------------


def _norm(value: Any) -> str:
    """A label's identity across JSON, CSV and numpy: ``1``, ``1.0`` and ``"1"`` are one class."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        f = float(value)
        if math.isfinite(f) and f.is_integer():
            return str(int(f))
        return repr(f)
    return str(value)


def annotate(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    task: str,
    output: Mapping[str, Any],
    users: UserModel,
    as_of: Any = None,
) -> pd.DataFrame:
    """Add truth, correctness and the simulated users' reactions to the answers.

    Added columns: ``label`` (true value, whenever it arrives), ``label_arrived`` (by
    ``as_of``; every label when ``None``), ``y_index`` (class position, classification),
    ``pred_index``, ``correct`` (1/0, ``nan`` without a label or an answer), ``p_accept`` and
    ``accepted`` (see :class:`UserModel`); and ``unit`` (a code per source row) when the answers
    carry the ``row`` each request was resampled from, so the statistics resample rows.

    Args:
        frame: The answers (:func:`workbench.abtest.answers_frame`).
        labels: The labels feed: ``key``, ``label_ts``, ``label``.
        task: ``classification`` or ``regression``.
        output: The bundle manifest's ``output`` (``classes``, ``class_values``).
        users: The user model.
        as_of: Only labels arrived by then count for quality.
    """
    out = frame.copy()
    if "row" in out and len(out) and out["row"].notna().all():
        out["unit"] = pd.factorize(out["row"])[0]
    feed = labels.drop_duplicates("key", keep="last").set_index("key")
    out["label"] = out["key"].map(feed["label"])
    arrived = pd.Series(True, index=feed.index)
    if as_of is not None and len(feed):
        cut = pd.Timestamp(as_of)
        cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
        stamps = pd.to_datetime(feed["label_ts"], utc=True)
        arrived = stamps.isna() | (stamps <= cut)
    out["label_arrived"] = out["key"].isin(arrived.index[arrived.to_numpy(dtype=bool)])
    has_label = out["label"].notna()
    if task == "classification":
        values = [_norm(v) for v in output.get("class_values") or output.get("classes") or []]
        index = {v: i for i, v in enumerate(values)}
        names = {str(c): i for i, c in enumerate(output.get("classes") or [])}
        out["y_index"] = [
            index.get(_norm(v), math.nan) if h else math.nan
            for v, h in zip(out["label"], has_label, strict=True)
        ]
        pred = out["pred_label"] if "pred_label" in out else pd.Series(None, index=out.index)
        out["pred_index"] = [
            names.get(str(p), math.nan) if p is not None else math.nan for p in pred
        ]
        correct = (out["pred_index"] == out["y_index"]).astype(float)
        correct[out["y_index"].isna() | out["pred_index"].isna()] = math.nan
    else:
        y = pd.to_numeric(out["label"], errors="coerce")
        tol = users.resolved_tolerance(y.to_numpy())
        value = out["value"] if "value" in out else pd.Series(math.nan, index=out.index)
        correct = ((value - y).abs() <= tol).astype(float)
        correct[y.isna() | value.isna()] = math.nan
    out["correct"] = correct
    out.loc[~out["ok"], "correct"] = math.nan
    keys = out["key"].astype(str).tolist()
    out["p_accept"] = users.probability(
        ok=out["ok"], correct=out["correct"], latency_ms=out["latency_ms"]
    )
    out["accepted"] = users.accepts(
        keys, ok=out["ok"], correct=out["correct"], latency_ms=out["latency_ms"]
    )
    return out


# -- per variant ----------------------------------------------------------------------------------


def _proba(rows: pd.DataFrame) -> np.ndarray | None:
    cols = sorted(
        (c for c in rows.columns if c.startswith("p_") and c[2:].isdigit()),
        key=lambda c: int(c[2:]),
    )
    if not cols or rows[cols].isna().any().any():
        return None
    return rows[cols].to_numpy(dtype=float)


def _scores(rows: pd.DataFrame, task: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, score)`` of labelled answers in the form the metric needs."""
    if task == "regression":
        return rows["label"].astype(float).to_numpy(), rows["value"].astype(float).to_numpy()
    y = rows["y_index"].astype(int).to_numpy()
    if metric == "accuracy":
        return y, rows["pred_index"].astype(int).to_numpy()
    proba = _proba(rows)
    assert proba is not None
    return y, proba


def _labelled(rows: pd.DataFrame, task: str) -> pd.DataFrame:
    keep = rows["ok"] & rows["label_arrived"] & rows["label"].notna()
    if task == "classification":
        keep &= rows["y_index"].notna() & rows["pred_index"].notna()
    else:
        keep &= rows["value"].notna()
    return rows[keep]


def _units(rows: pd.DataFrame) -> np.ndarray | None:
    """The source-row code of each request (see :func:`annotate`), or ``None``."""
    return rows["unit"].to_numpy(dtype=int) if "unit" in rows else None


def _summary(
    rows: pd.DataFrame,
    variant: str,
    *,
    task: str,
    metric: str,
    k: int,
    users: UserModel,
    n_boot: int,
    seed: int,
) -> VariantSummary:
    n = len(rows)
    answered = rows[rows["status"] > 0]["latency_ms"].to_numpy(dtype=float)
    errors = int((~rows["ok"]).sum())
    lab = _labelled(rows, task)
    quality = None
    if len(lab) >= MIN_LABELLED:
        y, score = _scores(lab, task, metric)
        value, lo, hi = metric_estimate(
            metric,
            y,
            score,
            labels=np.arange(k) if task == "classification" else None,
            clusters=_units(lab),
            n_boot=n_boot,
            seed=seed,
        )
        quality = {"value": value, "ci_low": lo, "ci_high": hi}
    reacted = rows[rows["accepted"].notna()]
    accepted = int((reacted["accepted"] == 1.0).sum())
    units = _units(reacted)
    if units is None:
        ci = wilson_interval(accepted, len(reacted))
    else:
        _, lo, hi = bootstrap_mean_ci(
            reacted["accepted"].to_numpy(), clusters=units, n_boot=n_boot, seed=seed
        )
        ci = (lo, hi)
    roles = rows["role"].unique().tolist()
    versions = rows["model_version"].dropna().unique().tolist()
    return VariantSummary(
        variant=variant,
        role=roles[0] if len(roles) == 1 else "served",
        model_version=str(versions[0]) if versions else None,
        requests=n,
        errors=errors,
        error_rate=errors / n if n else math.nan,
        p50_ms=_quantile(answered, 0.5),
        p99_ms=_quantile(answered, 0.99),
        mean_ms=float(answered.mean()) if len(answered) else math.nan,
        labelled=len(lab),
        metric=metric,
        quality=quality,
        right_rate=float(lab["correct"].mean()) if len(lab) else math.nan,
        reacted=len(reacted),
        accepted=accepted,
        acceptance_rate=accepted / len(reacted) if len(reacted) else math.nan,
        acceptance_ci=ci,
        abandoned=int((rows["ok"] & (rows["latency_ms"] > users.patience_ms)).sum()),
    )


def _quantile(values: np.ndarray, q: float) -> float:
    return float(np.quantile(values, q, method="inverted_cdf")) if len(values) else math.nan


# -- differences ----------------------------------------------------------------------------------


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame[frame["variant"] == "A"], frame[frame["variant"] == "B"]


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """A's and B's answers to the same requests side by side (suffixes ``_a``, ``_b``)."""
    return a.merge(b, on="key", suffixes=("_a", "_b"), validate="one_to_one")


def _deltas(
    frame: pd.DataFrame,
    *,
    mode: str,
    task: str,
    metric: str,
    k: int,
    n_boot: int,
    seed: int,
) -> list[Delta]:
    a, b = _split(frame)
    paired = mode == "shadow"
    out: list[Delta] = []
    if paired:
        both = _paired(a, b)
        reacted = both[both["accepted_a"].notna() & both["accepted_b"].notna()]
        acc_a, acc_b = reacted["accepted_a"] == 1.0, reacted["accepted_b"] == 1.0
        if "unit_a" in reacted:
            units = reacted["unit_a"].to_numpy(dtype=int)
            out.append(
                bootstrap_proportion_delta(
                    "acceptance",
                    acc_a,
                    acc_b,
                    paired=True,
                    clusters=(units, units),
                    n_boot=n_boot,
                    seed=seed,
                )
            )
        else:
            out.append(paired_proportion_delta("acceptance", acc_a, acc_b))
    else:
        ra, rb = a[a["accepted"].notna()], b[b["accepted"].notna()]
        ua, ub = _units(ra), _units(rb)
        if ua is not None and ub is not None:
            out.append(
                bootstrap_proportion_delta(
                    "acceptance",
                    ra["accepted"] == 1.0,
                    rb["accepted"] == 1.0,
                    paired=False,
                    clusters=(ua, ub),
                    n_boot=n_boot,
                    seed=seed,
                )
            )
        else:
            out.append(
                two_proportion_delta(
                    "acceptance",
                    int((ra["accepted"] == 1).sum()),
                    len(ra),
                    int((rb["accepted"] == 1).sum()),
                    len(rb),
                )
            )
    out.append(
        _quality_delta(a, b, mode=mode, task=task, metric=metric, k=k, n_boot=n_boot, seed=seed)
    )
    if paired:
        both = _paired(a, b)
        out.append(paired_proportion_delta("error_rate", ~both["ok_a"], ~both["ok_b"]))
        answered = both[(both["status_a"] > 0) & (both["status_b"] > 0)]
        la, lb = answered["latency_ms_a"].to_numpy(), answered["latency_ms_b"].to_numpy()
    else:
        out.append(
            two_proportion_delta(
                "error_rate", int((~a["ok"]).sum()), len(a), int((~b["ok"]).sum()), len(b)
            )
        )
        la = a[a["status"] > 0]["latency_ms"].to_numpy()
        lb = b[b["status"] > 0]["latency_ms"].to_numpy()
    for name, q in (("p50_ms", 0.5), ("p99_ms", 0.99)):
        out.append(
            bootstrap_quantile_delta(name, la, lb, q, paired=paired, n_boot=n_boot, seed=seed)
        )
    return out


def _quality_delta(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    mode: str,
    task: str,
    metric: str,
    k: int,
    n_boot: int,
    seed: int,
) -> Delta:
    labels = np.arange(k) if task == "classification" else None
    la, lb = _labelled(a, task), _labelled(b, task)
    if mode == "shadow":
        # Both variants answered the same labelled requests: compare them on exactly those.
        keys = np.intersect1d(la["key"].to_numpy(), lb["key"].to_numpy())
        la = la.set_index("key").loc[keys].reset_index()
        lb = lb.set_index("key").loc[keys].reset_index()
    if min(len(la), len(lb)) < MIN_LABELLED:
        nan = math.nan
        test = f"not judged: fewer than {MIN_LABELLED} labelled answers"
        return Delta(metric, nan, nan, nan, nan, nan, nan, test, len(la), len(lb))
    ua, ub = _units(la), _units(lb)
    return metric_delta(
        task,
        metric,
        _scores(la, task, metric),
        _scores(lb, task, metric),
        labels=labels,
        paired=mode == "shadow",
        clusters=None if ua is None or ub is None else (ua, ub),
        n_boot=n_boot,
        seed=seed,
    )


def analyze(
    frame: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    mode: str,
    task: str,
    output: Mapping[str, Any],
    users: UserModel | None = None,
    split: float = 0.5,
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 1000,
    seed: int = 0,
    guardrails: Guardrails | None = None,
    as_of: Any = None,
) -> tuple[Analysis, pd.DataFrame]:
    """Analyze the answers of an A/B test.

    Args:
        frame: The answers (:func:`workbench.abtest.answers_frame`), both variants.
        labels: The delayed-labels feed (``key``, ``label_ts``, ``label``).
        mode: ``online`` (unpaired arms) or ``shadow`` (both variants answered every request).
        task: ``classification`` or ``regression``.
        output: The bundle manifest's ``output`` schema (classes and their values).
        users: The simulated users; default :class:`UserModel` ``()``.
        split: Share of traffic routed to B (online; for the requests-needed estimate).
        alpha: Significance level (two-sided).
        power: Power of the MDE.
        n_boot: Bootstrap resamples.
        seed: Seed of every bootstrap.
        guardrails: Error-rate and latency limits.
        as_of: Quality counts only labels arrived by then (default: every label).

    Returns:
        ``(Analysis, annotated answers)``; the frame gains the columns of :func:`annotate`.

    Raises:
        ConfigError: Bad mode, task, alpha or power.
    """
    if mode not in ("online", "shadow"):
        raise ConfigError(f"mode {mode!r} is not one of online, shadow")
    if task not in HEADLINE:
        raise ConfigError(f"task {task!r} is not one of {', '.join(HEADLINE)}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ConfigError(f"alpha and power must lie in (0, 1), got {alpha} and {power}")
    users = users or UserModel()
    guardrails = guardrails or Guardrails()
    annotated = annotate(frame, labels, task=task, output=output, users=users, as_of=as_of)
    k = len(output.get("classes") or []) if task == "classification" else 0
    metric = HEADLINE[task]
    if task == "classification" and _proba(annotated[annotated["ok"]]) is None:
        metric = "accuracy"  # the stubs return no probabilities
    a, b = _split(annotated)
    variants = {
        v: _summary(rows, v, task=task, metric=metric, k=k, users=users, n_boot=n_boot, seed=seed)
        for v, rows in (("A", a), ("B", b))
    }
    deltas = _deltas(annotated, mode=mode, task=task, metric=metric, k=k, n_boot=n_boot, seed=seed)
    by_name = {d.name: d for d in deltas}
    mde = minimum_detectable_effect(
        variants,
        by_name["acceptance"],
        mode=mode,
        split=split,
        alpha=alpha,
        power=power,
        clustered="unit" in annotated,
    )
    decision = decide(
        by_name,
        metric=metric,
        higher_is_better=get_metric(metric).higher_is_better,
        variants=variants,
        mde=mde,
        mode=mode,
        alpha=alpha,
        guardrails=guardrails,
    )
    analysis = Analysis(
        mode, task, metric, variants, tuple(deltas), mde, decision, alpha, power, guardrails
    )
    return analysis, annotated
