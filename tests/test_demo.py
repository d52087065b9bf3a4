"""`workbench demo --fast`: the main job behind `make demo`, end to end, and what it leaves: a
workspace whose every record is a row in the store, which still works when moved."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.cli import cli
from workbench.store import RunStatus, open_workspace

pytestmark = pytest.mark.slow


def test_demo_runs_the_lifecycle_and_prints_the_index(demo_workspace: tuple[Path, str]) -> None:
    ws, output = demo_workspace
    index = ws / "reports" / "index.html"
    assert f"report index: {index}" in output
    store = open_workspace(ws)[1]
    runs = store.list_runs()
    assert {r.model_family for r in runs} >= {"logreg", "rf"}
    assert all(r.status is RunStatus.SUCCEEDED for r in runs)
    runs = [r for r in runs if r.source == "cli" and r.dataset_name == "breast_cancer"]
    html = index.read_text()
    for run in runs:
        assert run.id in html
    # The second family was compared with the champion; the decision follows its gates.
    from workbench.compare import list_comparisons
    from workbench.registry import aliases

    rf_run = next(r.id for r in runs if r.model_family == "rf")
    (comparison,) = [c for c in list_comparisons(store) if c.candidate.run_id == rf_run]
    applied = [g for g in comparison.gates if g.applies]
    assert applied, "the default gates apply to a classification comparison"
    expected = "promote" if all(g.passed for g in applied) else "hold"
    assert comparison.decision == expected
    assert Path(comparison.report_path).is_file()
    champion = aliases(store)["champion"]
    # Both families train in one batch (same second): the first family, logreg, is the champion.
    logreg_run = next(r.id for r in runs if r.model_family == "logreg")
    assert champion.run_id == (rf_run if expected == "promote" else logreg_run)
    assert "Comparisons" in html and comparison.id in html
    assert "compare" in output and comparison.decision in output
    # The champion was exported and release-checked against a real stub.
    from workbench.release import list_releases

    (release,) = list_releases(store)
    assert Path(release.report_path).is_file() and "Release checks" in html
    # Shadow and online A/B tests, the edge inventory and the monitor all reached the index.
    from workbench.abtest import list_abtests
    from workbench.monitor import list_reports

    assert sorted(t.mode for t in list_abtests(store)) == ["online", "shadow"]
    assert list_reports(store), "the monitor stage stored its report"
    for heading in ("A/B", "Monitoring", "nventory"):
        assert heading in html, heading


def test_every_record_is_a_row_not_a_json_file(demo_workspace: tuple[Path, str]) -> None:
    """The store holds the records; the workspace holds payloads (notebooks, CSVs, models,
    pages, bundles). Record files of older versions would be JSON beside those payloads."""
    ws, _ = demo_workspace
    record_files = [
        p.relative_to(ws).as_posix()
        for folder in ("monitor", "abtests", "inventory", "comparisons", "releases")
        for p in (ws / folder).rglob("*.json")
    ]
    assert record_files == []
    assert not (ws / "inventory").exists()


def test_a_copied_workspace_serves_compares_and_rebuilds_its_reports(
    demo_workspace: tuple[Path, str], tmp_path: Path
) -> None:
    """Copy a workspace to another folder (its source moved away), then use it."""
    # The session's demo workspace is shared with other test files running at the same time:
    # it is copied once, and that copy is the one moved away, never the shared folder.
    source = tmp_path / "here" / "ws"
    shutil.copytree(demo_workspace[0], source)
    moved = tmp_path / "elsewhere" / "ws"
    shutil.copytree(source, moved)
    hidden = source.with_name("ws-away")
    source.rename(hidden)  # nothing may still point into the old folder
    try:
        _, store = open_workspace(moved)
        demo_runs = [r for r in store.list_runs() if r.dataset_name == "breast_cancer"]
        runs = {r.model_family: r for r in reversed(demo_runs)}  # the first run of each family
        run = store.get_run(runs["rf"].id)
        assert all(Path(a.path).is_relative_to(moved) for a in run.artifacts)
        # Compare again in the copy: predictions, splits and models are found there.
        w = ["--workspace", str(moved)]
        result = CliRunner().invoke(
            cli, ["compare", runs["rf"].id, runs["logreg"].id, "--n-boot", "50", "--json", *w]
        )
        assert result.exit_code == 0, result.output
        comparison = json.loads(result.stdout)
        assert Path(comparison["report_path"]).is_relative_to(moved)
        # Rebuild every report from the copied notebooks.
        result = CliRunner().invoke(cli, ["report", *w])
        assert result.exit_code == 0, result.output
        index = (moved / "reports" / "index.html").read_text()
        assert comparison["id"] in index and str(hidden) not in index
        # Serve the champion from its bundle in the copy (export verifies the model's hash).
        out = moved / "exports" / "moved-champion"
        result = CliRunner().invoke(cli, ["export", "champion", "--out", str(out), *w])
        assert result.exit_code == 0, result.output
        from workbench.bundle import verify_bundle
        from workbench.serving import background_server

        verify_bundle(out)
        import httpx

        with background_server(out) as url:
            features = json.loads((out / "manifest.json").read_text())["signature"]["features"]
            row = [f.get("min", 0.0) for f in features]
            answer = httpx.post(f"{url}/predict", json={"rows": [row]}, timeout=10).json()
        assert len(answer["labels"]) == 1
    finally:
        hidden.rename(source)
