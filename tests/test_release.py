"""The release check against a real stub: passes on a good model, fails on an unreachable gate
or a tampered bundle, and its evidence (record, JSON, HTML, index link) is consistent."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from rich.console import Console
from test_export import trained_run

from workbench import release as rel
from workbench.bundle import MODEL_STORE
from workbench.config import Workspace
from workbench.demo import release_stage
from workbench.notebook import default_release_ref, show_release
from workbench.registry import promote
from workbench.reports import build_index, release_sections
from workbench.store import Store
from workbench.store import schema as t

# Out of the way of a loaded test machine: this suite asserts behaviour, not speed.
LENIENT = ["roc_auc >= 0.95", "p99_ms <= 2000", "error_rate <= 0"]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Store, Any, str]:
    """The demo's release stage on the champion: (workspace, store, report, console text)."""
    ws, store, run_id = trained_run(tmp_path_factory)
    promote(store, run_id, "champion", reason="release tests")
    console = Console(file=io.StringIO(), width=200)
    report = release_stage(ws, store, "champion", fast=True, gates=LENIENT, console=console)
    build_index(ws, store)
    return ws, store, report, console.file.getvalue()


def test_good_model_passes_every_check(released: tuple[Workspace, Store, Any, str]) -> None:
    _, _, report, printed = released
    assert report.passed, report.failures
    assert report.mode == "load" and report.model_version == "v1" and report.failures == ()
    assert [c.kind for c in report.checks] == sorted(
        (c.kind for c in report.checks), key=rel.CHECK_KINDS.index
    )
    assert {c.kind for c in report.checks} == set(rel.CHECK_KINDS)
    parity = report.check("offline parity").data
    assert parity["label_agreement"] == 1.0 and parity["n_rows"] == report.settings["evidence_rows"]
    assert parity["max_abs_diff"] <= parity["tolerance"]
    cases = report.check("bad inputs").data["cases"]
    assert len(cases) >= 15 and all(c["status"] == c["expected"] for c in cases)
    assert all(400 <= c["status"] < 500 for c in cases)
    assert {c["expected"] for c in cases} >= {400, 404, 405, 413, 422}
    tamper = report.check("tamper refused").data["cases"]
    assert {(c["file"], c["change"]) for c in tamper} >= {
        ("model.skops", "one byte flipped"),
        ("model.skops", "file missing"),
    }
    assert all(c["refused"] for c in tamper)
    assert report.check("restart").data["same_answers"] is True
    logged = report.check("metrics and prediction log").data
    assert logged["log_entries"] == logged["predictions_answered"] > 0
    perf = report.performance
    assert perf["requests"] > 0 and perf["error_count"] == 0 and perf["p99_ms"] >= perf["p50_ms"]
    assert sum(perf["latency_histogram"]["counts"]) == perf["requests"]
    assert [g.status.value for g in report.gates] == ["passed"] * 3
    assert f"release check {report.id}: PASSED" in printed and "report:" in printed


def test_evidence_json_equals_stored_record_and_report_is_linked(
    released: tuple[Workspace, Store, Any, str],
) -> None:
    ws, store, report, _ = released
    stored = rel.get_release(store, report.id[:-1])  # a unique prefix is enough
    assert stored.to_dict() == report.to_dict()
    assert json.loads(Path(stored.evidence_path).read_text()) == stored.to_dict()
    assert rel.ReleaseReport.from_dict(stored.to_dict()) == stored
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(t.releases).where(t.releases.c.id == report.id)).one()
    assert row.passed is True and row.run_id == report.run_id
    # The store keeps the bundle's path relative to the workspace, so the workspace can move.
    assert row.bundle == f"exports/{report.run_id}-load"
    assert Path(stored.bundle) == ws.exports_dir / f"{report.run_id}-load"
    html_path = Path(stored.report_path)
    assert html_path == rel.release_report_path(ws, report.id)
    html = html_path.read_text()
    assert report.id in html and "PASSED" in html
    assert html.count("plotly-graph-div") >= 1 and '<script src="http' not in html
    index = ws.index_path.read_text()
    assert f'href="releases/{report.id}.html"' in index
    assert f'href="releases/{report.id}.json"' in index
    assert release_sections(ws, store)[0].rows[0][0] == report.id


def test_out_of_reach_gate_fails_with_exit_1_naming_it(
    released: tuple[Workspace, Store, Any, str], cli: click.Group, tmp_path: Path
) -> None:
    ws, store, report, _ = released
    gates = tmp_path / "hard.yaml"
    gates.write_text(
        'gates:\n  - "roc_auc >= 0.9999"\n  - {metric: p99_ms, op: "<=", value: 0.001}\n'
    )
    args = ["release-check", report.bundle, "--gates", str(gates), "--duration", "0.5"]
    result = CliRunner().invoke(cli, [*args, "--no-report", "--json", "-w", str(ws.root)])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert out == rel.get_release(store, out["id"]).to_dict()
    assert out["passed"] is False and out["report_path"] is None
    assert "gate 'roc_auc >= 0.9999' failed: roc_auc = " in result.stderr
    assert "gate 'p99_ms <= 0.001' failed" in result.stderr
    assert "Traceback" not in result.output
    failed = [c["name"] for c in out["checks"] if not c["passed"]]
    assert failed == ["gates"]  # the stub itself is fine; only acceptance fails


def test_cli_refuses_bad_gates_before_starting_anything(
    released: tuple[Workspace, Store, Any, str], cli: click.Group, tmp_path: Path
) -> None:
    ws, store, report, _ = released
    before = len(rel.list_releases(store))
    bad = tmp_path / "bad.yaml"
    bad.write_text('- "roc_auc delta_ci_low >= 0"\n')
    result = CliRunner().invoke(
        cli, ["release-check", report.bundle, "--gates", str(bad), "-w", str(ws.root)]
    )
    assert result.exit_code == 2
    assert "release gate is absolute" in result.output and "Traceback" not in result.output
    assert len(rel.list_releases(store)) == before


def test_tampered_bundle_fails_without_crashing(
    released: tuple[Workspace, Store, Any, str], tmp_path: Path
) -> None:
    ws, store, report, _ = released
    copy = tmp_path / "bundle"
    shutil.copytree(report.bundle, copy)
    model = copy / MODEL_STORE / "model.skops"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    bad = rel.release_check(ws, store, copy, gates=LENIENT, duration_s=0.5, report=False)
    assert not bad.passed
    assert not bad.check("bundle integrity").passed
    assert bad.check("offline parity").detail.startswith("not run: the stub did not start")
    assert any("bundle integrity" in f for f in bad.failures)
    assert bad.performance == {}


def test_notebook_without_runs_explains_instead_of_failing(
    workspace: Workspace, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert show_release(workspace, store) is None
    assert "nothing to release" in capsys.readouterr().out


def test_notebook_picks_the_champion_else_the_newest_evaluated_run(
    workspace: Workspace, store: Store
) -> None:
    from workbench.store import MetricRecord, RunStatus

    def fake_run(run_id: str, *, evaluated: bool, status: RunStatus) -> None:
        store.create_run(run_id, dataset_name="iris", model_family="logreg", seed=0,
                         stages=[("evaluate", "03_evaluate.ipynb")], params={})  # fmt: skip
        if evaluated:
            store.log_metrics(run_id, [MetricRecord("evaluate", "roc_auc", 0.9)])
        store.finish_run(run_id, status)

    fake_run("20260101-000000-aaaaaa", evaluated=True, status=RunStatus.SUCCEEDED)
    fake_run("20260101-000001-bbbbbb", evaluated=False, status=RunStatus.SUCCEEDED)
    fake_run("20260101-000002-cccccc", evaluated=True, status=RunStatus.FAILED)
    assert default_release_ref(store) == "20260101-000000-aaaaaa"


def test_regression_bundle_with_categories_and_missing_values(
    workspace: Workspace, store: Store, tmp_path: Path
) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from workbench.bundle import export_bundle

    rng = np.random.default_rng(0)
    n = 240
    X = pd.DataFrame({
        "age": rng.integers(18, 80, n),
        "income": rng.normal(50, 10, n),
        "city": rng.choice(["oslo", "bergen", "tromso"], n),
    })  # fmt: skip
    X.loc[::17, "income"] = np.nan
    y = X["age"] * 0.5 + X["income"].fillna(50) + (X["city"] == "oslo") * 3 + rng.normal(0, 1, n)
    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "income"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
    ])  # fmt: skip
    pipe = Pipeline([("pre", pre), ("model", Ridge())]).fit(X[:160], y[:160])
    bundle = tmp_path / "mixed"
    export_bundle(pipe, out=bundle, mode="image", X_ref=X[:160], X_test=X[160:], y_test=y[160:],
                  metrics={"r2": 0.9})  # fmt: skip
    gates = ["r2 >= 0.5", "roc_auc >= 0.9", "p99_ms <= 2000"]
    report = rel.release_check(workspace, store, bundle, gates=gates, duration_s=0.3, report=False)
    assert report.passed, report.failures
    parity = report.check("offline parity").data
    assert parity["compared"] == "values" and "label_agreement" not in parity
    cases = {c["case"]: c for c in report.check("bad inputs").data["cases"]}
    assert cases["number for a category"]["status"] == 422
    assert "age" in cases["null where training had none"]["detail"]  # income allows nulls
    assert [g.status.value for g in report.gates] == ["passed", "skipped", "passed"]
    assert report.run_id is None and json.loads(Path(report.evidence_path).read_text())["passed"]
