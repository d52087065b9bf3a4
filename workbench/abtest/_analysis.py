"""Turn the answers of an A/B test into per-variant results, differences and a decision.

Per variant: requests, error rate, p50/p99 latency, the headline metric on the labels that had
arrived (with a bootstrap 95% CI), the share of right answers, and the simulated users'
acceptance rate (with a Wilson 95% CI). Differences ``B − A`` (tests: :mod:`workbench.stats`):
acceptance, the headline metric, error rate, p50 and p99 latency.

The decision (``ship_b`` / ``keep_a`` / ``inconclusive``):

1. **Guardrails** (any breach keeps A): B's error rate higher by more than
   ``max_error_increase`` with p < alpha; B's p99 latency higher by more than
   ``max(latency_slack_ms, latency_slack_rel · p99(A))`` with the interval of the difference
   above 0.
2. **Primary metrics**, acceptance (user behaviour) and the headline metric (result quality),
   each tested at ``alpha / 2`` (Bonferroni over the two, so an A/A test claims a difference in
   either at most ``alpha`` of the time). B significantly worse on either keeps A.
3. B significantly better on at least one primary metric and worse on none ships B.
4. Otherwise inconclusive, with the minimum detectable effect of the traffic used and the
   requests per arm the observed difference would need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
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
    mde_two_proportions,
    metric_delta,
    metric_estimate,
    paired_proportion_delta,
    required_per_arm,
    two_proportion_delta,
    wilson_interval,
)

from ._users import UserModel

__all__ = [
    "INCONCLUSIVE",
    "KEEP_A",
    "SHIP_B",
    "Analysis",
    "Decision",
    "Guardrails",
    "VariantSummary",
    "analyze",
    "annotate",
]

SHIP_B, KEEP_A, INCONCLUSIVE = "ship_b", "keep_a", "inconclusive"
#: Fewer labelled answers than this per variant and the headline metric is not judged.
MIN_LABELLED = 30


@dataclass(frozen=True)
class Guardrails:
    """Limits B must stay within whatever its quality (see the module docstring).

    Attributes:
        max_error_increase: Largest tolerated increase of the error rate (absolute, 0.01 is
            one percentage point).
        latency_slack_ms: B's p99 may exceed A's by this many milliseconds ...
        latency_slack_rel: ... or by this share of A's p99, whichever is larger.
    """

    max_error_increase: float = 0.01
    latency_slack_ms: float = 5.0
    latency_slack_rel: float = 0.5

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value >= 0:
                raise ConfigError(f"guardrail {name} must be >= 0, got {value}")


@dataclass(frozen=True)
class VariantSummary:
    """What one variant did. Rates are ``nan`` when nothing was measured.

    Attributes:
        variant: ``A`` or ``B``.
        role: ``served`` (its answers reached callers) or ``shadow`` (mirrored only).
        model_version: What its stub served.
        requests: Requests it received.
        errors: Requests without a 2xx answer (HTTP errors, timeouts, refused connections).
        error_rate: ``errors / requests``.
        p50_ms: Median latency of the answered requests.
        p99_ms: 99th percentile latency.
        mean_ms: Mean latency.
        labelled: Answered requests whose label had arrived.
        metric: The headline metric's name.
        quality: ``{"value", "ci_low", "ci_high"}`` of the metric on those (``None``: too few).
        right_rate: Share of right answers among them.
        reacted: Requests with a simulated user reaction (their label exists).
        accepted: Simulated users who accepted the answer.
        acceptance_rate: ``accepted / reacted``.
        acceptance_ci: Wilson 95% interval of the acceptance rate.
        abandoned: Answers slower than the users' patience.
    """

    variant: str
    role: str
    model_version: str | None
    requests: int
    errors: int
    error_rate: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    labelled: int
    metric: str
    quality: dict[str, float] | None
    right_rate: float
    reacted: int
    accepted: int
    acceptance_rate: float
    acceptance_ci: tuple[float, float]
    abandoned: int

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VariantSummary:
        out = {k: _nan(v) for k, v in d.items() if k not in ("quality", "acceptance_ci")}
        quality = d.get("quality")
        out["quality"] = None if quality is None else {k: _nan(v) for k, v in quality.items()}
        out["acceptance_ci"] = tuple(_nan(x) for x in d["acceptance_ci"])
        return cls(**out)


@dataclass(frozen=True)
class Decision:
    """The outcome: ``action`` with the reasons that led to it and notes for the reader."""

    action: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reasons": list(self.reasons), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        return cls(d["action"], tuple(d["reasons"]), tuple(d.get("notes", ())))


@dataclass(frozen=True)
class Analysis:
    """Per-variant results, the differences ``B − A``, the MDE and the decision."""

    mode: str
    task: str
    metric: str
    variants: dict[str, VariantSummary]
    deltas: tuple[Delta, ...]
    mde: dict[str, Any]
    decision: Decision
    alpha: float
    power: float
    guardrails: Guardrails = field(default_factory=Guardrails)

    def delta(self, name: str) -> Delta | None:
        """The difference named ``name`` (``acceptance``, the metric, ``p99_ms``, ...)."""
        return next((d for d in self.deltas if d.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "task": self.task,
            "metric": self.metric,
            "variants": {k: v.to_dict() for k, v in self.variants.items()},
            "deltas": [d.to_dict() for d in self.deltas],
            "mde": _jsonable(self.mde),
            "decision": self.decision.to_dict(),
            "alpha": self.alpha,
            "power": self.power,
            "guardrails": asdict(self.guardrails),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Analysis:
        return cls(
            mode=d["mode"],
            task=d["task"],
            metric=d["metric"],
            variants={k: VariantSummary.from_dict(v) for k, v in d["variants"].items()},
            deltas=tuple(Delta.from_dict(x) for x in d["deltas"]),
            mde={k: _nan(v) for k, v in d["mde"].items()},
            decision=Decision.from_dict(d["decision"]),
            alpha=d["alpha"],
            power=d["power"],
            guardrails=Guardrails(**d.get("guardrails", {})),
        )


def _nan(v: Any) -> Any:
    return math.nan if v is None else v


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    return obj


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


# -- the decision ---------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 4) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "p = —"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def _describe(d: Delta, label: str) -> str:
    return (
        f"{label}: B {_fmt(d.b)} vs A {_fmt(d.a)}, Δ {_fmt(d.value, 3)} "
        f"[{_fmt(d.ci_low, 3)}, {_fmt(d.ci_high, 3)}], {_fmt_p(d.p_value)} ({d.test})"
    )


def _direction(d: Delta, level: float, higher_is_better: bool) -> int:
    """+1: B significantly better, -1: significantly worse, 0: no significant difference."""
    if not (math.isfinite(d.p_value) and math.isfinite(d.value)) or d.p_value >= level:
        return 0
    if d.value == 0:
        return 0
    up = d.value > 0
    return 1 if up == higher_is_better else -1


def _guardrail_breaches(
    deltas: Mapping[str, Delta], guardrails: Guardrails, alpha: float
) -> list[str]:
    breaches = []
    err = deltas["error_rate"]
    if (
        math.isfinite(err.value)
        and err.value > guardrails.max_error_increase
        and err.p_value < alpha
    ):
        breaches.append(
            f"guardrail: B's error rate {_fmt(err.b, 3)} exceeds A's {_fmt(err.a, 3)} by more "
            f"than {guardrails.max_error_increase:g} ({_fmt_p(err.p_value)})"
        )
    p99 = deltas["p99_ms"]
    if math.isfinite(p99.value) and math.isfinite(p99.a):
        slack = max(guardrails.latency_slack_ms, guardrails.latency_slack_rel * p99.a)
        if p99.value > slack and p99.ci_low > 0:
            breaches.append(
                f"guardrail: B's p99 latency {_fmt(p99.b, 3)} ms exceeds A's {_fmt(p99.a, 3)} ms "
                f"by {_fmt(p99.value, 3)} ms (more than the {slack:.3g} ms allowed; 95% CI "
                f"[{_fmt(p99.ci_low, 3)}, {_fmt(p99.ci_high, 3)}])"
            )
    return breaches


def _mde(
    variants: Mapping[str, VariantSummary],
    acceptance: Delta,
    *,
    mode: str,
    split: float,
    alpha: float,
    power: float,
    clustered: bool,
) -> dict[str, Any]:
    a, b = variants["A"], variants["B"]
    base = a.acceptance_rate
    deff = _design_effect(a) if clustered else 1.0
    mde = mde_two_proportions(base, a.reacted / deff, b.reacted / deff, alpha=alpha, power=power)
    need = required_per_arm(acceptance.a, acceptance.b, alpha=alpha, power=power) * deff
    # Online, the smaller arm sets the pace: it gets min(split, 1 - split) of the requests.
    share = 1.0 if mode == "shadow" else min(split, 1 - split)
    total = need / share if math.isfinite(need) and share > 0 else math.inf
    return {
        "metric": "acceptance",
        "baseline": base,
        "n_a": a.reacted,
        "n_b": b.reacted,
        "alpha": alpha,
        "power": power,
        "mde": mde,
        "mde_relative": mde / base if base and math.isfinite(base) and base > 0 else math.nan,
        "observed": acceptance.value,
        "required_per_arm": math.ceil(need) if math.isfinite(need) else None,
        "required_requests": math.ceil(total) if math.isfinite(total) else None,
        "design_effect": deff,
        "note": (
            "two-proportion formula"
            + (
                f", counts divided by the design effect {deff:.2f} of resampled rows"
                if clustered
                else ""
            )
            + ("; the paired shadow test usually needs fewer requests" if mode == "shadow" else "")
        ),
    }


def _design_effect(a: VariantSummary) -> float:
    """Variance of A's acceptance rate under the cluster bootstrap over the binomial variance
    (from the interval widths; at least 1: clustering never adds information)."""
    p, n = a.acceptance_rate, a.reacted
    lo, hi = a.acceptance_ci
    if not (n and math.isfinite(p) and 0 < p < 1 and math.isfinite(lo) and math.isfinite(hi)):
        return 1.0
    binomial = 2 * 1.959964 * math.sqrt(p * (1 - p) / n)
    return max(1.0, ((hi - lo) / binomial) ** 2)


def _decide(
    deltas: Mapping[str, Delta],
    *,
    metric: str,
    higher_is_better: bool,
    variants: Mapping[str, VariantSummary],
    mde: Mapping[str, Any],
    mode: str,
    alpha: float,
    guardrails: Guardrails,
) -> Decision:
    notes = []
    if mode == "shadow":
        notes.append(
            "shadow mode: callers only ever saw A; B's acceptance is what the simulated users "
            "would have done with B's answers (same users, same draws)"
        )
    if min(variants["A"].requests, variants["B"].requests) == 0:
        empty = "A" if variants["A"].requests == 0 else "B"
        return Decision(INCONCLUSIVE, (f"variant {empty} received no requests",), tuple(notes))
    level = alpha / 2
    acc, qual = deltas["acceptance"], deltas[metric]
    breaches = _guardrail_breaches(deltas, guardrails, alpha)
    if variants["A"].reacted == 0 and variants["B"].reacted == 0 and not breaches:
        return Decision(
            INCONCLUSIVE,
            (
                "no label joined these requests, so neither quality nor the simulated users "
                "can be judged; give the labels (the target column of --stream-csv, or a "
                "stream with a labels feed)",
                "guardrails: error rate and p99 latency within the limits",
            ),
            tuple(notes),
        )
    reasons = [
        _describe(acc, "acceptance (simulated users)"),
        _describe(qual, f"quality ({metric}, on {qual.n_a}/{qual.n_b} labelled answers)")
        if math.isfinite(qual.value)
        else f"quality ({metric}): {qual.test}",
    ]
    directions = {
        "acceptance": _direction(acc, level, True),
        metric: _direction(qual, level, higher_is_better),
    }
    worse = [name for name, d in directions.items() if d < 0]
    better = [name for name, d in directions.items() if d > 0]
    significance = f"significance: p < {level:g} per primary metric (alpha {alpha:g}, Bonferroni)"
    if breaches or worse:
        head = [f"B is significantly worse on {', '.join(worse)}"] if worse else []
        return Decision(KEEP_A, (*head, *breaches, *reasons, significance), tuple(notes))
    guard_ok = "guardrails: error rate and p99 latency within the limits"
    if better:
        return Decision(
            SHIP_B,
            (f"B is significantly better on {', '.join(better)}", *reasons, guard_ok, significance),
            tuple(notes),
        )
    deff = mde.get("design_effect") or 1.0
    effective = f", design effect {deff:.2f} of resampled rows" if deff > 1 else ""
    size = (
        f"with {mde['n_a']} (A) and {mde['n_b']} (B) reactions{effective} the smallest "
        f"acceptance difference detectable with {mde['power']:.0%} power is "
        f"±{_fmt(mde['mde'], 3)} (MDE at alpha {mde['alpha']:g})"
    )
    need = mde.get("required_requests")
    more = (
        f"; the observed Δ {_fmt(mde['observed'], 3)} would need about {need:,} requests"
        if need
        else ""
    )
    return Decision(
        INCONCLUSIVE,
        (
            "no significant difference on acceptance or quality",
            *reasons,
            size + more,
            guard_ok,
            significance,
        ),
        tuple(notes),
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
    mde = _mde(
        variants,
        by_name["acceptance"],
        mode=mode,
        split=split,
        alpha=alpha,
        power=power,
        clustered="unit" in annotated,
    )
    decision = _decide(
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


def variants_frame(analysis: Analysis) -> pd.DataFrame:
    """Per-variant results as a table (one row per variant)."""
    rows = []
    for v in analysis.variants.values():
        q = v.quality or {}
        rows.append(
            {
                "variant": v.variant,
                "role": v.role,
                "model": v.model_version,
                "requests": v.requests,
                "error rate": v.error_rate,
                "p50 ms": v.p50_ms,
                "p99 ms": v.p99_ms,
                f"{v.metric}": q.get("value", math.nan),
                f"{v.metric} 95% CI": _ci(q.get("ci_low"), q.get("ci_high")),
                "right": v.right_rate,
                "labelled": v.labelled,
                "acceptance": v.acceptance_rate,
                "acceptance 95% CI": _ci(*v.acceptance_ci),
                "reactions": v.reacted,
            }
        )
    return pd.DataFrame(rows).set_index("variant")


def deltas_frame(analysis: Analysis) -> pd.DataFrame:
    """The differences ``B − A`` as a table."""
    rows = [
        {
            "difference": d.name,
            "A": d.a,
            "B": d.b,
            "B − A": d.value,
            "95% CI": _ci(d.ci_low, d.ci_high),
            "p": d.p_value,
            "test": d.test,
            "n A": d.n_a,
            "n B": d.n_b,
        }
        for d in analysis.deltas
    ]
    return pd.DataFrame(rows).set_index("difference")


def _ci(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{lo:.4g}, {hi:.4g}]"
