"""Gates: the YAML format, its error messages, and evaluation against comparison numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from workbench.gates import (
    CHECKS,
    COST_METRICS,
    Gate,
    GateError,
    GateStatus,
    default_gates,
    default_gates_path,
    default_release_gates_path,
    evaluate_gates,
    evaluate_release_gates,
    known_metrics,
    load_gates,
    load_release_gates,
    parse_gate,
    parse_gates,
    parse_release_gate,
    resolve_gates,
)

# -- parsing ------------------------------------------------------------------------------------


def test_mapping_and_compact_forms_are_the_same_gate() -> None:
    long = parse_gate({"metric": "roc_auc", "check": "delta_ci_low", "op": ">=", "value": 0})
    assert (
        long == parse_gate("roc_auc delta_ci_low >= 0") == Gate("roc_auc", "delta_ci_low", ">=", 0)
    )
    assert parse_gate("model_size_bytes <= 50e6") == Gate(
        "model_size_bytes", "candidate", "<=", 50e6
    )
    assert parse_gate({"metric": "single_p99_ms", "op": "<", "value": "2.5"}).check == "candidate"
    named = parse_gate({"metric": "rmse", "check": "delta", "op": "<", "value": 0, "name": "x"})
    assert named.label == "x" and named.describe() == "rmse delta < 0"


def test_unknown_metric_lists_the_known_metrics() -> None:
    with pytest.raises(GateError) as e:
        parse_gate("auc delta >= 0", where="gates.yaml gate 3")
    message = str(e.value)
    assert message.startswith("gates.yaml gate 3: unknown metric 'auc'; known metrics: ")
    for name in ("roc_auc", "rmse", "r2", *COST_METRICS):
        assert name in message
    assert known_metrics()[-4:] == list(COST_METRICS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("roc_auc delta", "has 2 words, expected 'METRIC [CHECK] OP VALUE'"),
        ("roc_auc best >= 0", "unknown check 'best'; checks: candidate, baseline, delta"),
        ("roc_auc delta => 0", "unknown operator '=>'; operators: >=, >, <=, <"),
        ("roc_auc delta >= high", "value 'high' is not a number"),
        ("roc_auc delta >= nan", "must be a finite number"),
        ({"metric": "roc_auc", "op": ">="}, "missing value"),
        ({"metric": "roc_auc", "op": ">=", "value": 0, "limit": 1}, "unknown key(s) limit"),
        ({"metric": "roc_auc", "op": ">=", "value": True}, "value True is not a number"),
        (["roc_auc", ">=", 0], "expected a mapping or a string, got list"),
        ("model_size_bytes delta_ci_low <= 0", "which 'model_size_bytes' does not have"),
        ("single_p99_ms lift_ci_low > 0", "trivial baseline, which has quality metrics"),
        ("roc_auc ratio_ci_low >= 1", "'ratio_ci_low' is measured for latency only"),
    ],
)
def test_malformed_gates_name_the_gate_and_what_is_accepted(spec: object, message: str) -> None:
    with pytest.raises(GateError) as e:
        parse_gate(spec, where="gate 2")
    assert str(e.value).startswith("gate 2: ") and message in str(e.value)


def test_shape_errors_show_the_accepted_forms() -> None:
    with pytest.raises(GateError, match=r"accepted forms: .*roc_auc delta_ci_low >= 0"):
        parse_gate(5)
    with pytest.raises(GateError, match="non-empty list of gates"):
        parse_gates({"gates": []}, source="g.yaml")
    with pytest.raises(GateError, match="unknown top-level key"):
        parse_gates({"gate": ["roc_auc >= 0.9"]}, source="g.yaml")
    with pytest.raises(GateError, match=r"^g.yaml gate 2: unknown metric"):
        parse_gates(["roc_auc >= 0.9", "nope >= 1"], source="g.yaml")


def test_gate_error_is_a_config_error_with_exit_code_2() -> None:
    from workbench.exceptions import ConfigError

    assert issubclass(GateError, ConfigError) and GateError.exit_code == 2


def test_load_gates_reads_yaml_files(tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    # 50e6 without a dot is a YAML string; it must still read as a number.
    path.write_text(
        "gates:\n"
        '  - {metric: roc_auc, check: delta_ci_low, op: ">=", value: 0}\n'
        "  - single_p99_ms ratio <= 1.2\n"
        "  - {metric: model_size_bytes, op: '<=', value: 50e6}\n"
    )
    gates = load_gates(path)
    assert [g.describe() for g in gates] == [
        "roc_auc delta_ci_low >= 0",
        "single_p99_ms ratio <= 1.2",
        "model_size_bytes candidate <= 5e+07",
    ]
    path.write_text("- roc_auc >= 0.9\n")  # a bare list works too
    assert load_gates(path) == [Gate("roc_auc", "candidate", ">=", 0.9)]
    path.write_text("gates: [roc_auc >= 0.9\n")
    with pytest.raises(GateError, match=r"gates\.yaml is not valid YAML"):
        load_gates(path)
    with pytest.raises(GateError, match=r"cannot read gates file .*missing\.yaml"):
        load_gates(tmp_path / "missing.yaml")


def test_default_gates_file_is_the_documented_template() -> None:
    path = default_gates_path()
    assert path.parent.name == "templates" and path.name == "gates.yaml"
    gates = default_gates()
    assert {g.describe() for g in gates} >= {
        "roc_auc delta_ci_low >= 0",
        "roc_auc lift_ci_low > 0",  # beats the trivial baseline
        "rmse lift_ci_high < 0",
        "single_p99_ms ratio_ci_low <= 1.2",  # latency: its interval, never a lucky timing
        "model_size_bytes candidate <= 5e+07",
    }
    # The file documents every check it accepts.
    text = path.read_text()
    for check in CHECKS:
        assert check in text
    assert isinstance(yaml.safe_load(text)["gates"], list)


# -- evaluation ---------------------------------------------------------------------------------


METRICS = {
    "roc_auc": {"candidate": 0.95, "baseline": 0.93, "delta": 0.02, "delta_ci_low": 0.004,
                "delta_ci_high": 0.035, "ratio": 1.02, "p_value": 0.01},
    "rmse": None,  # filled per test
    "single_p99_ms": {"candidate": 6.0, "baseline": 2.0, "delta": 4.0, "ratio": 3.0},
    "model_size_bytes": {"candidate": 4e6, "baseline": 2e5, "delta": 3.8e6, "ratio": 20.0},
}  # fmt: skip
CLASSIFICATION = {k: v for k, v in METRICS.items() if v is not None}


def test_each_check_reads_its_number() -> None:
    gates = [
        parse_gate(s)
        for s in (
            "roc_auc delta_ci_low >= 0",  # 0.004: pass
            "roc_auc p_value < 0.05",  # pass
            "roc_auc candidate >= 0.96",  # 0.95: fail
            "single_p99_ms ratio <= 1.2",  # 3.0: fail
            "model_size_bytes candidate <= 50e6",  # pass
            "model_size_bytes baseline < 1e5",  # 2e5: fail
        )
    ]
    results = evaluate_gates(CLASSIFICATION, gates, task="classification")
    assert [r.status for r in results] == [
        GateStatus.PASSED, GateStatus.PASSED, GateStatus.FAILED,
        GateStatus.FAILED, GateStatus.PASSED, GateStatus.FAILED,
    ]  # fmt: skip
    assert [r.observed for r in results] == [0.004, 0.01, 0.95, 3.0, 4e6, 2e5]
    assert results[3].reason == "single_p99_ms ratio = 3 misses <= 1.2"
    assert results[0].to_dict()["status"] == "passed"


def test_latency_intervals_and_lifts_are_checks_like_the_others() -> None:
    entries = {
        "roc_auc": {"lift": 0.01, "lift_ci_low": -0.02, "lift_ci_high": 0.04, "trivial": 0.5},
        "single_p99_ms": {"ratio": 1.5, "ratio_ci_low": 0.9, "ratio_ci_high": 2.1,
                          "delta_ci_low": -0.1, "p_value": 0.3},
    }  # fmt: skip
    gates = [
        parse_gate(s)
        for s in (
            "roc_auc lift_ci_low > 0",  # -0.02: the model does not beat the baseline
            "roc_auc trivial <= 0.5",
            "single_p99_ms ratio_ci_low <= 1.2",  # 0.9: not shown slower
            "single_p99_ms ratio <= 1.2",  # 1.5: the strict point check holds it
            "single_p99_ms p_value >= 0.05",
        )
    ]
    results = evaluate_gates(entries, gates, task="classification")
    assert [r.status.value for r in results] == ["failed", "passed", "passed", "failed", "passed"]
    assert results[0].reason == "roc_auc lift_ci_low = -0.02 misses > 0"
    # A comparison without a trivial baseline (runs evaluated before baselines): no evidence.
    old = evaluate_gates({"roc_auc": {"lift_ci_low": None}}, gates[:1], task="classification")
    assert old[0].status is GateStatus.FAILED and "undefined" in old[0].reason


def test_release_gates_read_the_trivial_baseline_metrics() -> None:
    gates = [parse_release_gate(g) for g in ("beats_baseline >= 1", "lift_rmse <= -1",
                                             "lift_roc_auc >= 0.1")]  # fmt: skip
    assert [g.label for g in gates] == ["beats_baseline >= 1", "lift_rmse <= -1",
                                        "lift_roc_auc >= 0.1"]  # fmt: skip
    values = {"beats_baseline": 0.0, "lift_roc_auc": 0.3}
    results = evaluate_release_gates(gates, values, task="classification")
    assert [r.status.value for r in results] == ["failed", "skipped", "passed"]
    assert results[0].reason == "beats_baseline = 0 misses >= 1"
    with pytest.raises(GateError, match=r"unknown metric 'lift_auc'.*lift_<metric>"):
        parse_release_gate("lift_auc >= 0")
    defaults = load_release_gates(default_release_gates_path())
    assert "beats_baseline" in {g.metric for g in defaults}


def test_direction_is_explicit_for_lower_is_better_metrics() -> None:
    # rmse improved by 0.4 (delta negative): "not worse" reads delta_ci_high <= 0.
    better = {"rmse": {"delta": -0.4, "delta_ci_low": -0.6, "delta_ci_high": -0.1}}
    worse = {"rmse": {"delta": 0.4, "delta_ci_low": 0.1, "delta_ci_high": 0.6}}
    gate = [parse_gate("rmse delta_ci_high <= 0")]
    assert evaluate_gates(better, gate, task="regression")[0].passed
    assert not evaluate_gates(worse, gate, task="regression")[0].passed


def test_other_task_is_skipped_but_missing_numbers_fail() -> None:
    gates = [
        parse_gate("rmse delta_ci_high <= 0"),
        parse_gate("accuracy delta >= 0"),
        parse_gate("batch_rows_per_s ratio >= 0.5"),
    ]
    metrics = dict(CLASSIFICATION, roc_auc={**METRICS["roc_auc"], "delta": math.nan})
    r = evaluate_gates(metrics, gates, task="classification")
    assert r[0].status is GateStatus.SKIPPED and not r[0].applies
    assert "rmse is a regression metric" in r[0].reason
    # accuracy belongs to this task but was not recorded: no evidence is not a pass.
    assert r[1].status is GateStatus.FAILED and "not recorded" in r[1].reason
    assert r[2].status is GateStatus.FAILED
    nan = evaluate_gates(metrics, [parse_gate("roc_auc delta >= 0")], task="classification")
    assert nan[0].status is GateStatus.FAILED and "undefined" in nan[0].reason
    # Without a task, a quality metric absent from the comparison is skipped.
    assert evaluate_gates(CLASSIFICATION, gates[:1])[0].status is GateStatus.SKIPPED


# -- release gates and resolving what a caller passed ------------------------------------------


def test_release_gates_reuse_the_gate_language() -> None:
    gate = parse_release_gate("p99_ms <= 20")
    assert (gate.metric, gate.check, gate.op, gate.value, gate.label) == (
        "p99_ms", "candidate", "<=", 20.0, "p99_ms <= 20",
    )  # fmt: skip
    named = parse_release_gate({"metric": "roc_auc", "op": ">=", "value": 0.95, "name": "AUC"})
    assert named.label == "AUC"
    defaults = load_release_gates(default_release_gates_path())
    assert {"roc_auc", "p99_ms", "error_rate"} <= {g.metric for g in defaults}
    with pytest.raises(GateError, match=r"unknown metric 'p99'.*p99_ms.*roc_auc"):
        parse_release_gate("p99 <= 20")
    with pytest.raises(GateError, match="release gate is absolute"):
        parse_release_gate("roc_auc delta >= 0")
    with pytest.raises(GateError, match="unknown operator '=='"):
        parse_release_gate("error_rate == 0")
    with pytest.raises(GateError, match="not a number"):
        parse_release_gate({"metric": "rps", "op": ">=", "value": "fast"})
    with pytest.raises(GateError, match="cannot read gates file"):
        load_release_gates("/nope.yaml")
    results = evaluate_release_gates(
        [parse_release_gate(g) for g in ("rmse <= 50", "p50_ms <= 5", "roc_auc >= 0.9")],
        {"p50_ms": 7.5, "roc_auc": None},
        task="classification",
    )
    assert [r.status.value for r in results] == ["skipped", "failed", "failed"]
    assert results[1].reason == "p50_ms = 7.5 misses <= 5"
    assert "was not measured" in results[2].reason


@pytest.mark.parametrize("release", [False, True])
def test_resolve_gates_reads_the_default_a_file_or_a_list(tmp_path: Path, release: bool) -> None:
    default, source = resolve_gates(None, release=release)
    name = "release_gates.yaml" if release else "gates.yaml"
    assert source == f"default ({name})" and default
    assert resolve_gates("  ", release=release)[1] == source
    path = tmp_path / "g.yaml"
    path.write_text("gates:\n  - model_size_bytes <= 50e6\n")
    from_file, source = resolve_gates(path, release=release)
    assert source == str(path.resolve()) and [g.metric for g in from_file] == ["model_size_bytes"]
    gate = Gate("roc_auc", "candidate", ">=", 0.5)
    inline, source = resolve_gates([gate, "model_size_bytes <= 1e9"], release=release)
    assert source == "inline" and inline[0] is gate and inline[1].value == 1e9


def test_resolve_gates_parses_each_kind_with_its_own_rules() -> None:
    # A load-test number is a release metric only; a relative check a comparison gate only.
    assert resolve_gates(["p99_ms <= 20"], release=True)[0][0].metric == "p99_ms"
    with pytest.raises(GateError, match="unknown metric 'p99_ms'"):
        resolve_gates(["p99_ms <= 20"])
    with pytest.raises(GateError, match="release gate is absolute"):
        resolve_gates(["roc_auc delta >= 0"], release=True)
    # No gate at all holds a comparison, but a release check needs at least one.
    assert resolve_gates([]) == ([], "inline")
    with pytest.raises(GateError, match="no gates given"):
        resolve_gates([], release=True)
