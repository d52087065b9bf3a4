"""Limits where a settings file enters: every YAML file (gates, grids) goes through one loader
(``workbench._yaml``) that refuses alias bombs, huge, deep and non-UTF-8 files quickly and
clearly; the project's TOML settings get the same size, encoding and depth treatment."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from workbench._yaml import MAX_BYTES, load_yaml, parse_yaml
from workbench.batch import load_grid
from workbench.config import Workspace
from workbench.exceptions import ConfigError
from workbench.gates import Gate, GateError, load_gates
from workbench.project import load_project
from workbench.runner import Runner
from workbench.store import Store


def billion_laughs(key: str = "value") -> str:
    """A ~400-byte YAML gate whose value expands to 9**9 strings."""
    parts = ['&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        parts.append(f"&{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return f'gates:\n - metric: roc_auc\n   op: ">="\n   {key}: [' + ", ".join(parts) + "]\n"


def test_billion_laughs_gates_file_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs())
    assert path.stat().st_size < 1024
    started = time.perf_counter()
    with pytest.raises(GateError, match=r"laughs\.yaml, line 4: holds more than 100,000 values"):
        load_gates(path)
    assert time.perf_counter() - started < 5  # before the fix: minutes and gigabytes


def test_huge_gates_file_is_refused_by_size_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    line = b' - {metric: roc_auc, op: ">=", value: 0.5}\n'
    with path.open("wb") as f:
        f.write(b"gates:\n" + line * 800_000)  # 34 MB, 800k gates
    assert path.stat().st_size > 30 * MAX_BYTES
    started = time.perf_counter()
    with pytest.raises(GateError, match=r"big\.yaml is larger than 1,048,576 bytes; it was not"):
        load_gates(path)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"gates:\n - \xff\xfe roc_auc >= 0\n", r"is not UTF-8 text \(byte 0xff at offset 10\)"),
        (b"gates: " + b"[" * 100_000 + b"]" * 100_000, "line 1: nested more than 64 levels"),
        (b"gates: &g\n - *g\n", r"alias \*g refers to the collection it is inside"),
        (
            b"gates:\n - {metric: roc_auc, op: '>=', value: 0, value: 1}\n",
            "line 2: key 'value' appears twice in one mapping",
        ),
        (b"gates: [roc_auc >= 0\n", r"gates\.yaml is not valid YAML"),
    ],
    ids=["not-utf8", "100k-deep", "recursive-alias", "repeated-key", "not-yaml"],
)
def test_malformed_gates_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "gates.yaml"
    path.write_bytes(content)
    with pytest.raises(GateError, match=message):
        load_gates(path)


def test_reasonable_yaml_still_loads(tmp_path: Path) -> None:
    # A byte-order mark, an alias reusing a small value and a merge key are ordinary YAML.
    path = tmp_path / "gates.yaml"
    path.write_bytes(
        "\ufeffbase: &base {metric: roc_auc, op: '>='}\n"
        "gates:\n - {<<: *base, value: 0.9}\n - {<<: *base, op: '>', value: 0.5}\n".encode()
    )
    doc = load_yaml(path, what="gates file")
    assert doc["gates"][1] == {"metric": "roc_auc", "op": ">", "value": 0.5}
    path.write_text("gates:\n - &g roc_auc >= 0.9\n - *g\n")
    assert load_gates(path) == [Gate("roc_auc", "candidate", ">=", 0.9)] * 2
    assert parse_yaml("[1, 2]", source="inline") == [1, 2]


def test_grid_files_use_the_same_limits(tmp_path: Path, workspace: Workspace, store: Store) -> None:
    runner = Runner(workspace, store)
    path = tmp_path / "grid.yaml"
    path.write_text(
        "datasets: [iris]\nmodels: [logreg]\nparams:\n  n_boot: "
        + billion_laughs().split("value: ", 1)[1]
    )
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="holds more than 100,000 values"):
        load_grid(path, runner=runner)
    assert time.perf_counter() - started < 5
    path.write_bytes(b"datasets: [iris]\nmodels: [\xe9]\n")
    with pytest.raises(ConfigError, match=r"grid file .* is not UTF-8 text"):
        load_grid(path, runner=runner)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"dataset = " + b"[" * 100_000 + b"]" * 100_000, "arrays nest too deeply"),
        (b'dataset = "caf\xe9"\n', "is not UTF-8 text"),
        (b"# " + b"x" * (MAX_BYTES + 10) + b"\n", "is larger than 1,048,576 bytes"),
    ],
    ids=["deep", "not-utf8", "huge"],
)
def test_project_settings_limits(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "workbench.toml").write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_project(tmp_path)
