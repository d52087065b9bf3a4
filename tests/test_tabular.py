"""`workbench run --sep/--encoding`: the options reach the notebooks and the run records them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.store import open_workspace

pytestmark = pytest.mark.slow


def _colon_file(tmp_path: Path) -> Path:
    """Colon-separated Cyrillic text in cp1251: neither the delimiter nor the encoding sniffs."""
    lines = ["size:city:label"]
    for i in range(40):
        city = ("Москва", "Киев", "Минск")[i % 3]
        lines.append(f"{i % 7}:{city}:{'ab'[i % 2]}")
    path = tmp_path / "cities.txt"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1251"))
    return path


def test_sep_and_encoding_reach_every_notebook_and_are_recorded(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    path = _colon_file(tmp_path)
    base = ["run", "-w", str(ws), "-d", str(path), "-t", "label", "--json"]
    sniffed = CliRunner().invoke(cli, base)
    assert sniffed.exit_code == 2
    assert "one column only: give the delimiter with --sep" in sniffed.output
    clash = CliRunner().invoke(cli, [*base, "--sep", ":", "-p", "sep=;"])
    assert clash.exit_code == 2 and "disagree" in clash.output

    args = [*base, "--sep", ":", "--encoding", "cp1251", "--stages", "explore"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout[result.stdout.index("{") :])["run_id"]
    _, store = open_workspace(ws)
    run = store.get_run(run_id)
    assert run.params["sep"] == ":" and run.params["encoding"] == "cp1251"
    prep = json.loads(Path(run.artifact("dataset_prep.json").path).read_text())
    assert prep["read"] == {
        "format": "text",
        "sep": ":",
        "sep_from": "given",
        "encoding": "cp1251",
        "encoding_from": "given",
    }
    assert [c["column"] for c in prep["columns"]] == ["size", "city"]
    page = Path(run.stages[0].report_path).read_text()
    assert "':'-separated (given), encoding cp1251 (given)" in page.replace("&#x27;", "'")
