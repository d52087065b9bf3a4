"""`workbench demo --fast`: the main job behind `make demo`, end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.store import RunStatus, open_workspace

pytestmark = pytest.mark.slow


def _ws(path: Path):
    from workbench.config import resolve_workspace

    return resolve_workspace(path)


def test_demo_runs_the_lifecycle_and_prints_the_index(tmp_path: Path) -> None:
    ws = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--fast", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    index = ws / "reports" / "index.html"
    assert f"report index: {index}" in result.stdout
    runs = open_workspace(ws)[1].list_runs()
    assert {r.model_family for r in runs} >= {"logreg", "rf"}
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    runs = [r for r in runs if r.source == "cli" and r.dataset_name == "breast_cancer"]
    html = index.read_text()
    for run in runs:
        assert run.id in html
    # The second family was compared with the champion, with a decision and a report.
    from workbench.compare import list_comparisons
    from workbench.registry import aliases

    store = open_workspace(ws)[1]
    rf_run = next(r.id for r in runs if r.model_family == "rf")
    (comparison,) = [c for c in list_comparisons(store) if c.candidate.run_id == rf_run]
    assert comparison.decision in ("promote", "hold")
    assert Path(comparison.report_path).is_file()
    assert "champion" in aliases(store)
    assert "Comparisons" in html and comparison.id in html
    assert "compare" in result.output and comparison.decision in result.output
    # The champion was exported and release-checked against a real stub.
    from workbench.release import list_releases

    (release,) = list_releases(store)
    assert Path(release.report_path).is_file() and "Release checks" in index.read_text()
    # Shadow and online A/B tests, the edge inventory and the monitor all reached the index.
    from workbench.abtest import list_abtests

    modes = sorted(t.mode for t in list_abtests(store))
    assert modes == ["online", "shadow"]
    final = index.read_text()
    for heading in ("A/B", "Monitoring", "nventory"):
        assert heading in final, heading
