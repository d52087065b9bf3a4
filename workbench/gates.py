"""Promotion gates: small YAML rules a comparison must pass before a candidate is promoted.

A gate compares one number of a comparison with a threshold::

    {metric: roc_auc, check: delta_ci_low, op: ">=", value: 0}     # not worse, with 95% confidence
    {metric: roc_auc, check: lift_ci_low, op: ">", value: 0}       # beats the trivial baseline
    {metric: single_p99_ms, check: ratio_ci_low, op: "<=", value: 1.2}  # not shown >20% slower
    {metric: model_size_bytes, check: candidate, op: "<=", value: 50e6}

or the same as one string, ``"roc_auc delta_ci_low >= 0"``; ``"model_size_bytes <= 50e6"``
(three words) means ``check: candidate``. A gates file is a YAML list of gates, or a mapping
with a ``gates:`` list (see ``templates/gates.yaml``).

Checks (``delta`` is always **candidate − baseline in the metric's units**, and ``lift``
**candidate − trivial baseline**; their sign is never flipped, so for a lower-is-better metric
such as ``rmse`` an improvement is a *negative* delta and the matching gate is
``rmse delta_ci_high <= 0``):

============== ===============================================================================
candidate      the candidate's value
baseline       the baseline's value
delta          candidate − baseline
delta_ci_low   lower bound of the bootstrap 95% CI of the delta (not for model size)
delta_ci_high  upper bound of that interval
ratio          candidate / baseline
ratio_ci_low   lower bound of the 95% CI of the ratio (latency metrics)
ratio_ci_high  upper bound of that interval
p_value        two-sided bootstrap p-value of the delta (not for model size)
trivial        the trivial baseline's value (class prior / training mean; quality metrics)
lift           candidate − trivial baseline (quality metrics)
lift_ci_low    lower bound of the paired-bootstrap 95% CI of the lift
lift_ci_high   upper bound of that interval
============== ===============================================================================

Quality metrics are those of :mod:`workbench.stats` (``roc_auc``, ``rmse``, ...); cost
metrics are the latency and size of :data:`COST_METRICS`. Latency comes with intervals: a
comparison times both models side by side in one process when the runs were timed in different
places, so ``single_p99_ms ratio_ci_low <= 1.2`` holds a candidate only when it is slower by
more than 20% with 95% confidence, never because of where it was timed. A gate on a quality
metric of the *other* task is reported as skipped, so one file serves classification and
regression alike.

A **release gate** (:func:`parse_release_gate`, ``templates/release_gates.yaml``) is the same
language in its absolute ``candidate`` form, read as "the released model's value":
``roc_auc >= 0.95``, ``p99_ms <= 20``; besides the metrics above it may name the load-test
numbers of :data:`RELEASE_METRICS` and what the evaluate stage recorded about the trivial
baseline (``beats_baseline >= 1``, ``lift_roc_auc >= 0.1``; :func:`baseline_metrics`).
:func:`resolve_gates` turns what a caller passed (a file, a list, nothing) into gates of either
kind.

Example::

    gates = load_gates(default_gates_path())
    results = evaluate_gates(comparison.metrics, gates, task="classification")
    all(r.passed for r in results if r.applies)
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .exceptions import ConfigError

__all__ = [
    "BASELINE_PREFIX",
    "BEATS_METRIC",
    "CHECKS",
    "COST_METRICS",
    "LIFT_PREFIX",
    "OPERATORS",
    "RELEASE_METRICS",
    "TIMED_METRICS",
    "Gate",
    "GateError",
    "GateResult",
    "GateStatus",
    "baseline_metrics",
    "default_gates",
    "default_gates_path",
    "default_release_gates_path",
    "evaluate_gates",
    "evaluate_release_gates",
    "known_metrics",
    "load_gates",
    "load_release_gates",
    "parse_gate",
    "parse_gates",
    "parse_release_gate",
    "parse_release_gates",
    "resolve_gates",
]


class GateError(ConfigError):
    """A gate or gates file is malformed or names an unknown metric, check or operator."""


#: Cost metrics recorded by the evaluate stage: ``name -> higher_is_better``.
COST_METRICS: dict[str, bool] = {
    "single_p50_ms": False,
    "single_p99_ms": False,
    "batch_rows_per_s": True,
    "model_size_bytes": False,
}

#: Cost metrics measured with repeats (each a bootstrap interval over the timed calls).
TIMED_METRICS = frozenset({"single_p50_ms", "single_p99_ms", "batch_rows_per_s"})

#: Checks and what they read from a comparison's metric entry.
CHECKS: dict[str, str] = {
    "candidate": "the candidate's value",
    "baseline": "the baseline's value",
    "delta": "candidate − baseline, in the metric's units",
    "delta_ci_low": "lower bound of the bootstrap 95% CI of candidate − baseline",
    "delta_ci_high": "upper bound of the bootstrap 95% CI of candidate − baseline",
    "ratio": "candidate / baseline",
    "ratio_ci_low": "lower bound of the 95% CI of candidate / baseline (latency)",
    "ratio_ci_high": "upper bound of the 95% CI of candidate / baseline (latency)",
    "p_value": "two-sided bootstrap p-value of the delta",
    "trivial": "the trivial baseline's value (class prior / training mean)",
    "lift": "candidate − trivial baseline, in the metric's units",
    "lift_ci_low": "lower bound of the paired-bootstrap 95% CI of candidate − trivial baseline",
    "lift_ci_high": "upper bound of the paired-bootstrap 95% CI of candidate − trivial baseline",
}
# Checks that need an interval: model size is one exact number per model.
_INTERVAL = frozenset({"delta_ci_low", "delta_ci_high", "p_value"})
# Checks against the trivial baseline, which only predicts: quality metrics only.
_TRIVIAL = frozenset({"trivial", "lift", "lift_ci_low", "lift_ci_high"})
# Intervals of the ratio are measured for latency only.
_RATIO_INTERVAL = frozenset({"ratio_ci_low", "ratio_ci_high"})
#: What the evaluate stage records about the trivial baseline (:mod:`workbench.evaluate`):
#: ``beats_baseline`` (1.0 when the headline metric's lift is significant in the good
#: direction), ``baseline_<m>`` (its value) and ``lift_<m>`` (model − it, with a CI).
BEATS_METRIC = "beats_baseline"
BASELINE_PREFIX = "baseline_"
LIFT_PREFIX = "lift_"
_BASELINE_PREFIXES = (BASELINE_PREFIX, LIFT_PREFIX)

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}

_KEYS = ("metric", "check", "op", "value", "name")
_FORMS = (
    'accepted forms: {metric: roc_auc, check: delta_ci_low, op: ">=", value: 0}, '
    '"roc_auc delta_ci_low >= 0", or "model_size_bytes <= 50e6" (check: candidate)'
)
_DEFAULT_FILE = "gates.yaml"

#: Numbers of a release check's load test a release gate may name, besides the test metrics.
RELEASE_METRICS: dict[str, str] = {
    "p50_ms": "median /predict latency under load (ms)",
    "p95_ms": "95th percentile latency under load (ms)",
    "p99_ms": "99th percentile latency under load (ms)",
    "max_ms": "slowest request of the load test (ms)",
    "mean_ms": "mean latency under load (ms)",
    "rps": "requests answered per second",
    "error_rate": "share of load-test requests not answered 2xx (0 to 1)",
    "error_count": "load-test requests not answered 2xx",
}
_DEFAULT_RELEASE_FILE = "release_gates.yaml"
_RELEASE_FORMS = "e.g. ['roc_auc >= 0.95', 'p99_ms <= 20']"
# parse_gate validates keys, operator and value for the metrics a comparison knows; a release
# metric is checked under this stand-in name (a cost metric, so check "candidate" is allowed)
# and renamed afterwards, so both kinds of gate share one parser and its error messages.
_STAND_IN_METRIC = "model_size_bytes"


@dataclass(frozen=True)
class Gate:
    """One rule: ``<check of metric> <op> <value>``.

    Attributes:
        metric: A quality metric of :mod:`workbench.stats` or a name of :data:`COST_METRICS`.
        check: One of :data:`CHECKS`.
        op: One of :data:`OPERATORS`.
        value: The threshold.
        name: Optional label shown in gate tables; defaults to :meth:`describe`.
    """

    metric: str
    check: str
    op: str
    value: float
    name: str = ""

    def describe(self) -> str:
        """The compact form, e.g. ``"roc_auc delta_ci_low >= 0"``."""
        return f"{self.metric} {self.check} {self.op} {self.value:g}"

    @property
    def label(self) -> str:
        return self.name or self.describe()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "metric": self.metric,
            "check": self.check,
            "op": self.op,
            "value": self.value,
        }
        if self.name:
            d["name"] = self.name
        return d


class GateStatus(enum.StrEnum):
    """Outcome of one gate; ``skipped`` gates do not count towards the decision."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class GateResult:
    """A gate evaluated on one comparison.

    Attributes:
        gate: The gate.
        status: passed, failed, or skipped (a quality metric of the other task).
        observed: The number the check read (``None`` when it could not be read).
        reason: One sentence a reviewer can read, e.g. ``"0.0041 >= 0: passed"``.
    """

    gate: Gate
    status: GateStatus
    observed: float | None
    reason: str

    @property
    def passed(self) -> bool:
        return self.status is GateStatus.PASSED

    @property
    def applies(self) -> bool:
        return self.status is not GateStatus.SKIPPED

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.gate.to_dict(),
            "gate": self.gate.label,
            "status": self.status.value,
            "observed": self.observed,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateResult:
        gate = Gate(d["metric"], d["check"], d["op"], float(d["value"]), d.get("name", ""))
        return cls(gate, GateStatus(d["status"]), d.get("observed"), d["reason"])


# -- metrics ------------------------------------------------------------------------------------


def _quality_metrics() -> dict[str, Any]:
    from .stats import TASKS, metrics_for

    return {m.name: m for task in TASKS for m in metrics_for(task)}


def known_metrics() -> list[str]:
    """Every metric a gate may name: the registered quality metrics, then the cost metrics."""
    return [*_quality_metrics(), *COST_METRICS]


def baseline_metrics() -> list[str]:
    """What a run's evaluate stage records about the trivial baseline, which release gates may
    name: ``beats_baseline`` (1 or 0), then ``baseline_<m>`` and ``lift_<m>`` per quality
    metric (see :mod:`workbench.evaluate`)."""
    quality = list(_quality_metrics())
    return [BEATS_METRIC, *(p + m for p in _BASELINE_PREFIXES for m in quality)]


# -- parsing ------------------------------------------------------------------------------------


def _fail(where: str, problem: str) -> GateError:
    return GateError(f"{where}: {problem}; {_FORMS}")


def _number(raw: Any, where: str) -> float:
    # PyYAML reads 50e6 (no dot) as a string, so strings that parse as numbers are accepted.
    if isinstance(raw, bool):
        raise _fail(where, f"value {raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _fail(where, f"value {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise _fail(where, f"value {raw!r} must be a finite number")
    return value


def _from_string(text: str, where: str) -> dict[str, Any]:
    words = text.split()
    if len(words) == 3:
        return {"metric": words[0], "check": "candidate", "op": words[1], "value": words[2]}
    if len(words) == 4:
        return dict(zip(("metric", "check", "op", "value"), words, strict=True))
    raise _fail(where, f"{text!r} has {len(words)} words, expected 'METRIC [CHECK] OP VALUE'")


def parse_gate(spec: Any, *, where: str = "gate") -> Gate:
    """Turn one gate (a mapping or a compact string) into a :class:`Gate`.

    Args:
        spec: ``{metric, check, op, value[, name]}`` or ``"METRIC [CHECK] OP VALUE"``.
        where: How error messages name this gate, e.g. ``"gates.yaml gate 2"``.

    Returns:
        The validated gate.

    Raises:
        GateError: Unknown metric (the message lists the known ones), check or operator, a
            missing or unknown key, a non-numeric value, or a check that needs a confidence
            interval on a cost metric.

    Example:
        >>> parse_gate("single_p99_ms ratio <= 1.2")
        Gate(metric='single_p99_ms', check='ratio', op='<=', value=1.2, name='')
    """
    if isinstance(spec, str):
        fields = _from_string(spec, where)
    elif isinstance(spec, Mapping):
        fields = dict(spec)
    else:
        raise _fail(where, f"expected a mapping or a string, got {type(spec).__name__} {spec!r}")
    unknown = sorted(str(k) for k in fields if k not in _KEYS)
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}; keys are {', '.join(_KEYS)}")
    fields.setdefault("check", "candidate")
    missing = [k for k in ("metric", "op", "value") if k not in fields]
    if missing:
        raise _fail(where, f"missing {', '.join(missing)}")
    metric, check, op = (str(fields[k]).strip() for k in ("metric", "check", "op"))
    known = known_metrics()
    if metric not in known:
        raise GateError(f"{where}: unknown metric {metric!r}; known metrics: {', '.join(known)}")
    if check not in CHECKS:
        raise GateError(f"{where}: unknown check {check!r}; checks: {', '.join(CHECKS)}")
    if op not in OPERATORS:
        raise GateError(f"{where}: unknown operator {op!r}; operators: {', '.join(OPERATORS)}")
    if check in _INTERVAL and metric in COST_METRICS and metric not in TIMED_METRICS:
        raise GateError(
            f"{where}: check {check!r} needs a confidence interval, which {metric!r} does not "
            "have (one exact number per model); use candidate, delta or ratio"
        )
    if check in _TRIVIAL and metric in COST_METRICS:
        raise GateError(
            f"{where}: check {check!r} compares with the trivial baseline, which has quality "
            f"metrics only, not {metric!r}; use it on a quality metric, e.g. "
            "'roc_auc lift_ci_low > 0'"
        )
    if check in _RATIO_INTERVAL and metric not in TIMED_METRICS:
        raise GateError(
            f"{where}: check {check!r} is measured for latency only "
            f"({', '.join(sorted(TIMED_METRICS))}), not {metric!r}; use ratio, or delta_ci_low "
            "/ delta_ci_high"
        )
    name = str(fields.get("name") or "")
    return Gate(metric, check, op, _number(fields["value"], where), name)


def parse_gates(
    doc: Any,
    *,
    source: str = "gates",
    parse: Callable[..., Gate] | None = None,
    forms: str = _FORMS,
) -> list[Gate]:
    """Parse a loaded gates document: a list of gates or ``{gates: [...]}``.

    Args:
        doc: The YAML document (already loaded).
        source: How error messages name the document, e.g. the file name.

    Raises:
        GateError: The document is not a non-empty list of valid gates.
    """
    if isinstance(doc, Mapping):
        extra = sorted(str(k) for k in doc if k != "gates")
        if extra:
            raise GateError(
                f"{source}: unknown top-level key(s) {', '.join(extra)}; expected only 'gates:' "
                "holding a list of gates"
            )
        doc = doc.get("gates")
    if not isinstance(doc, list) or not doc:
        raise GateError(
            f"{source}: expected a non-empty list of gates (or 'gates:' holding one); {forms}"
        )
    parse = parse or parse_gate  # release checks pass their own (absolute gates only)
    return [parse(g, where=f"{source} gate {i}") for i, g in enumerate(doc, start=1)]


def load_gates(
    path: str | Path, *, parse: Callable[..., Gate] | None = None, forms: str = _FORMS
) -> list[Gate]:
    """Read and parse a gates YAML file (``parse``/``forms`` as in :func:`parse_gates`).

    Raises:
        GateError: The file is missing, is not YAML, or holds invalid gates.
    """
    from ._yaml import load_yaml

    path = Path(path)
    doc = load_yaml(
        path,
        what="gates file",
        error=GateError,
        hint="pass an existing YAML file (templates/ holds examples)",
    )
    return parse_gates(doc, source=path.name, parse=parse, forms=forms)


def default_gates_path() -> Path:
    """The default gates: the project's ``gates`` setting, else the bundled
    ``templates/gates.yaml`` (package data).

    Raises:
        GateError: The project names a gates file that does not exist.
        ConfigError: The package was installed without its templates.
    """
    return _project_or_bundled("gates", _DEFAULT_FILE)


def _project_or_bundled(setting: str, bundled: str) -> Path:
    """The file a project setting names (it must exist), else the bundled template."""
    from .project import find_project, package_data

    project = find_project()
    if project is None or getattr(project, setting) is None:
        return package_data("templates", bundled)
    path: Path = getattr(project, setting)
    if not path.is_file():
        raise GateError(
            f"the {setting.replace('_', ' ')} file {path} set in {project.describe()} is "
            "missing; restore it, fix the setting, or pass one with --gates FILE"
        )
    return path


def default_gates() -> list[Gate]:
    """The gates of :func:`default_gates_path`."""
    return load_gates(default_gates_path())


# -- release gates ------------------------------------------------------------------------------


def _release_fields(spec: Any, where: str) -> dict[str, Any]:
    """A gate spec as a mapping; a compact string keeps the form ``METRIC [CHECK] OP VALUE``."""
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str):
        words = spec.split()
        if len(words) == 3:
            return {"metric": words[0], "op": words[1], "value": words[2]}
        if len(words) == 4:
            return dict(zip(("metric", "check", "op", "value"), words, strict=True))
        raise GateError(
            f"{where}: {spec!r} has {len(words)} words; a release gate reads 'METRIC OP VALUE', "
            "e.g. 'p99_ms <= 20' or 'roc_auc >= 0.95'"
        )
    raise GateError(f"{where}: expected a mapping or a string, got {type(spec).__name__} {spec!r}")


def parse_release_gate(spec: Any, *, where: str = "gate") -> Gate:
    """Parse one absolute gate on the released model: a quality metric or a load-test number.

    Args:
        spec: ``"METRIC OP VALUE"`` (e.g. ``"p99_ms <= 20"``), or a mapping
            ``{metric, op, value[, name][, check: candidate]}`` as in :func:`parse_gate`.
        where: How error messages name this gate.

    Returns:
        A :class:`Gate` with check ``candidate``, labelled ``METRIC OP VALUE`` unless it has a
        name.

    Raises:
        GateError: Unknown metric (the message lists the known ones), a relative check such as
            ``delta`` (a release has nothing to compare with), or a bad key, operator or value.

    Example:
        >>> parse_release_gate("p99_ms <= 20").label
        'p99_ms <= 20'
    """
    fields = _release_fields(spec, where)
    metric = str(fields.get("metric", "")).strip()
    check = str(fields.get("check", "candidate")).strip()
    if check != "candidate":
        raise GateError(
            f"{where}: check {check!r} compares with a baseline, but a release gate is absolute; "
            "drop the check (or use 'candidate'), e.g. 'roc_auc >= 0.95'. Relative gates belong "
            "to `workbench compare`"
        )
    if metric in RELEASE_METRICS or metric in baseline_metrics():
        gate = replace(
            parse_gate({**fields, "metric": _STAND_IN_METRIC}, where=where), metric=metric
        )
    elif metric in known_metrics():
        gate = parse_gate(fields, where=where)
    else:
        raise GateError(
            f"{where}: unknown metric {metric!r}; release gates read the load test "
            f"({', '.join(RELEASE_METRICS)}), the bundle's test metrics "
            f"({', '.join(known_metrics())}) or the trivial baseline's ({BEATS_METRIC}, "
            "baseline_<metric>, lift_<metric>)"
        )
    return replace(gate, name=gate.name or f"{metric} {gate.op} {gate.value:g}")


def parse_release_gates(doc: Any, *, source: str = "gates") -> list[Gate]:
    """Parse a loaded release gates document: a list of gates or ``{gates: [...]}``.

    Raises:
        GateError: The document is not a non-empty list of valid release gates.
    """
    return parse_gates(doc, source=source, parse=parse_release_gate, forms=_RELEASE_FORMS)


def load_release_gates(path: str | Path) -> list[Gate]:
    """Read and parse a release gates YAML file (see ``templates/release_gates.yaml``).

    Raises:
        GateError: The file is missing, is not YAML, or holds invalid gates.
    """
    return load_gates(path, parse=parse_release_gate, forms=_RELEASE_FORMS)


def default_release_gates_path() -> Path:
    """The project's ``release_gates`` setting, else the bundled ``templates/release_gates.yaml``.

    Raises:
        GateError: The project names a file that does not exist.
        ConfigError: The package was installed without its templates.
    """
    return _project_or_bundled("release_gates", _DEFAULT_RELEASE_FILE)


def resolve_gates(
    gates: str | Path | Sequence[Gate | Any] | None, *, release: bool = False
) -> tuple[list[Gate], str]:
    """The gates a caller asked for, and where they came from (as records keep it).

    Args:
        gates: A gates YAML path; a list of :class:`Gate`, mappings or compact strings; or
            ``None`` (or a blank string) for the default file in ``templates/``.
        release: Release gates (absolute, :func:`parse_release_gate`, at least one) instead of
            comparison gates.

    Returns:
        ``(gates, source)``: source is ``"default (<file>)"``, the file's absolute path, or
        ``"inline"``.

    Raises:
        GateError: The file or a gate is malformed, or (release) the list is empty.
    """
    load = load_release_gates if release else load_gates
    parse = parse_release_gate if release else parse_gate
    if gates is None or (isinstance(gates, str) and not gates.strip()):
        path = default_release_gates_path() if release else default_gates_path()
        return load(path), f"default ({path.name})"
    if isinstance(gates, str | Path):
        return load(gates), str(Path(gates).resolve())  # recorded: absolute
    parsed = [
        g if isinstance(g, Gate) else parse(g, where=f"gate {i}")
        for i, g in enumerate(gates, start=1)
    ]
    if release and not parsed:
        raise GateError("no gates given; pass at least one, e.g. ['p99_ms <= 20']")
    return parsed, "inline"


# -- evaluation ---------------------------------------------------------------------------------


def _metric_task(metric: str) -> str | None:
    """The task of a quality metric (also of ``lift_<m>``/``baseline_<m>``), else ``None``."""
    quality = _quality_metrics()
    for prefix in ("", *_BASELINE_PREFIXES):
        if metric.startswith(prefix) and metric[len(prefix) :] in quality:
            return quality[metric[len(prefix) :]].task
    return None


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def evaluate_gates(
    comparison_metrics: Mapping[str, Mapping[str, Any]],
    gates: Sequence[Gate],
    *,
    task: str | None = None,
) -> list[GateResult]:
    """Evaluate gates against the per-metric numbers of a comparison.

    Args:
        comparison_metrics: ``{metric: {"candidate", "baseline", "delta", "delta_ci_low",
            "delta_ci_high", "ratio", "p_value": float | None}}``, the ``metrics`` section of
            a comparison record.
        gates: Parsed gates.
        task: The comparison's task. A gate on a quality metric of another task is skipped;
            without ``task``, a quality metric absent from ``comparison_metrics`` is skipped.

    Returns:
        One result per gate, in order. A gate whose number is missing or undefined (``nan``,
        a ratio over a zero baseline) fails: no evidence is not a pass.

    Example:
        >>> evaluate_gates({"roc_auc": {"delta_ci_low": 0.01}}, [parse_gate("roc_auc delta_ci_low >= 0")])
    """  # noqa: E501
    return [_evaluate_one(comparison_metrics, g, task) for g in gates]


def _evaluate_one(
    metrics: Mapping[str, Mapping[str, Any]], gate: Gate, task: str | None
) -> GateResult:
    metric_task = _metric_task(gate.metric)
    if metric_task is not None and (
        (task is not None and metric_task != task) or (task is None and gate.metric not in metrics)
    ):
        return GateResult(
            gate,
            GateStatus.SKIPPED,
            None,
            f"not applicable: {gate.metric} is a {metric_task} metric"
            + (f" and this comparison is {task}" if task else ""),
        )
    entry = metrics.get(gate.metric)
    if entry is None:
        return GateResult(
            gate, GateStatus.FAILED, None, f"{gate.metric} was not recorded for both runs"
        )
    raw = entry.get(gate.check)
    if raw is None or not math.isfinite(float(raw)):
        return GateResult(
            gate,
            GateStatus.FAILED,
            None,
            f"{gate.check} of {gate.metric} is undefined for this comparison",
        )
    observed = float(raw)
    ok = OPERATORS[gate.op](observed, gate.value)
    verdict = "meets" if ok else "misses"
    return GateResult(
        gate,
        GateStatus.PASSED if ok else GateStatus.FAILED,
        observed,
        f"{gate.metric} {gate.check} = {_fmt(observed)} {verdict} {gate.op} {gate.value:g}",
    )


def evaluate_release_gates(
    gates: Sequence[Gate], values: Mapping[str, float | None], *, task: str
) -> list[GateResult]:
    """Evaluate absolute (release) gates on one model's numbers.

    Args:
        gates: Release gates (:func:`parse_release_gate`).
        values: ``{metric: value}``: the bundle's test metrics and the load test's numbers
            (``None`` for one not measured).
        task: The model's task; a gate on a quality metric of the other task is skipped.

    Returns:
        One result per gate, whose reason reads e.g. ``p99_ms = 3.2 meets <= 20``.
    """
    entries = {name: {"candidate": v} for name, v in values.items()}
    out = []
    for r in evaluate_gates(entries, gates, task=task):
        g = r.gate
        if not r.applies:
            reason = f"not applicable: {g.metric} is not a metric of a {task} model"
        elif r.observed is None:
            recorded = ", ".join(sorted(n for n, v in values.items() if v is not None))
            reason = f"{g.metric} was not measured for this bundle (measured: {recorded})"
        else:
            verdict = "meets" if r.passed else "misses"
            reason = f"{g.metric} = {r.observed:.4g} {verdict} {g.op} {g.value:g}"
        out.append(GateResult(g, r.status, r.observed, reason))
    return out
