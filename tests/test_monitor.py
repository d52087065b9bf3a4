"""The monitor: a bundle's reference profile, drift flags on injected drift, decay with late
labels, a real stub's prediction log, stored reports, the HTML page and the CLI (PSI and the
drift tests on known cases are in test_stats.py)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench import monitor as mon
from workbench.bundle import Manifest, export_bundle
from workbench.cli import cli as workbench_cli
from workbench.config import Workspace
from workbench.datasets import Dataset, load_dataset
from workbench.profile import export_profile
from workbench.reports import build_index, monitor_sections
from workbench.retrain import retrain_decision
from workbench.serving import background_server
from workbench.store import Store
from workbench.traffic import (
    CovariateDrift,
    LabelDrift,
    Stream,
    post_stream,
    replay_log,
    synthetic_stream,
)

DRIFTED = ("mean radius", "worst texture", "worst smoothness")
LABELS = ["malignant", "benign"]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer() -> Dataset:
    return load_dataset("breast_cancer")


@pytest.fixture(scope="module")
def split(cancer: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    return train_test_split(cancer.X, cancer.y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def pipe(split: Any) -> Any:
    X_train, _, y_train, _ = split
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return model.fit(X_train, y_train)


@pytest.fixture(scope="module")
def bundle(pipe: Any, split: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    X_train, X_test, _, y_test = split
    out = tmp_path_factory.mktemp("bundle") / "logreg"
    export_bundle(
        pipe,
        out=out,
        mode="image",
        X_ref=X_train,
        X_test=X_test,
        y_test=y_test,
        labels=LABELS,
        metrics={"roc_auc": 0.99},
        run_id="run-1",
        model_version="v1",
    )
    return out


@pytest.fixture(scope="module")
def profile(bundle: Path) -> dict[str, Any]:
    return mon.profile_from_bundle(bundle)


@pytest.fixture(scope="module")
def served(
    bundle: Path, cancer: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stream, Path, Path]]:
    """A drifting stream answered by the real stub: (stream, its log, the labels CSV)."""
    folder = tmp_path_factory.mktemp("served")
    stream = synthetic_stream(
        cancer, n=480, seed=11, covariate=[CovariateDrift(DRIFTED, start=0.5, shift=2.0)]
    )
    log = folder / "predictions.jsonl"
    with background_server(bundle, log_path=log) as url:
        counts = post_stream(url, stream)
    assert counts == {"sent": 480, "ok": 480, "errors": 0}
    labels = folder / "labels.csv"
    stream.labels.to_csv(labels, index=False)
    yield stream, log, labels


# -- the reference profile of a bundle ----------------------------------------------------------


def test_profile_from_bundle_uses_evidence_and_training_ranges(
    bundle: Path, profile: dict[str, Any], pipe: Any, split: Any
) -> None:
    from sklearn.metrics import roc_auc_score

    X_train, X_test, _, y_test = split
    manifest = Manifest.read(bundle)
    first = manifest.features[0]
    entry = profile["features"][first["name"]]
    assert (entry["min"], entry["max"]) == (first["min"], first["max"])
    # Exported bundles carry the profile of the training rows (less PSI noise than the tests).
    assert profile["n_rows"] == len(X_train) and profile["classes"] == LABELS
    auc = roc_auc_score(y_test, pipe.predict_proba(X_test)[:, 1])
    assert profile["quality"]["metrics"]["roc_auc"] == pytest.approx(auc)
    assert profile["prediction"]["what"] == "probability of the second class"
    json.dumps(profile)  # JSON-ready, so bundle export can store it


def test_profile_falls_back_to_the_evidence_rows(bundle: Path, split: Any, tmp_path: Path) -> None:
    import shutil

    _, X_test, _, _ = split
    copy = tmp_path / "older-bundle"
    shutil.copytree(bundle, copy)
    (copy / "evidence" / "reference_profile.json").unlink()  # as bundles made before profiles
    fallback = mon.profile_from_bundle(copy)
    assert fallback["n_rows"] == len(X_test)


def test_export_profile_and_a_stored_profile_take_precedence(
    bundle: Path, pipe: Any, split: Any, tmp_path: Path
) -> None:
    X_train, X_test, _, y_test = split
    profile = export_profile(pipe, X_train, X_test, y_test, task="classification", classes=LABELS)
    assert profile["n_rows"] == len(X_train) and profile["classes"] == LABELS
    assert profile["features"]["mean radius"]["n"] == len(X_train)
    assert profile["prediction"]["n"] == len(X_test) and profile["quality"]["n"] == len(X_test)
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    (copy / "evidence" / "reference_profile.json").write_text(json.dumps(profile))
    assert mon.profile_from_bundle(copy)["n_rows"] == len(X_train)


# -- drift and decay on synthetic streams ------------------------------------------------------


def test_injected_drift_flags_exactly_the_drifted_features(
    cancer: Dataset, profile: dict[str, Any], pipe: Any
) -> None:
    stream = synthetic_stream(
        cancer, n=1000, seed=3, covariate=[CovariateDrift(DRIFTED, start=0.5, shift=2.0)]
    )
    report = mon.monitor(stream, profile, window=250, model=pipe)
    assert report.n_windows == 4
    assert set(report.flagged_features()) == set(DRIFTED)
    for w in (0, 1):  # before the drift nothing is in alert
        assert report.flagged_features(w) == []
    summary = report.feature_summary()
    assert set(summary[summary["status"] == "alert"].index) == set(DRIFTED)
    assert (summary.loc[list(DRIFTED), "first_alert"] == 2).all()
    decision = retrain_decision(report)
    assert decision.action == "retrain"
    drift = decision.check("drift")
    assert drift.triggered and all(f in drift.detail for f in DRIFTED)
    assert set(drift.evidence["features"]) == set(DRIFTED)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_stream_without_drift_recommends_waiting(
    cancer: Dataset, profile: dict[str, Any], pipe: Any, seed: int
) -> None:
    stream = synthetic_stream(cancer, n=1000, seed=seed)
    report = mon.monitor(stream, profile, window=250, model=pipe)
    assert report.flagged_features() == []
    assert (report.drift["status"] != "alert").all()
    assert report.prediction_drift()["status"] != "alert"
    assert report.latest_quality()["status"] == "ok"
    decision = retrain_decision(report)
    assert decision.action == "wait"
    assert any("no drift" in r for r in decision.reasons)


def test_decay_is_judged_only_once_the_late_labels_arrive(
    cancer: Dataset, profile: dict[str, Any], pipe: Any
) -> None:
    # Concept drift: from request 500 on, 40% of the labels disagree with the features.
    stream = synthetic_stream(
        cancer,
        n=1000,
        seed=4,
        label_delay="2D",
        label=LabelDrift("flip", start=0.5, fraction=0.4),
    )
    early = stream.requests["ts"].iloc[520]
    report = mon.monitor(stream, profile, window=125, model=pipe, as_of=early)
    judged = report.quality[report.quality["status"] != "too few labels"]
    assert judged["window"].max() <= 3 and (judged["status"] == "ok").all()
    assert report.windows["n_labelled"].iloc[-1] == 0  # nothing arrived for the last window
    assert retrain_decision(report).action == "wait"
    later = mon.monitor(stream, profile, window=125, model=pipe)
    last = later.latest_quality()
    assert last["window"] == 7 and last["status"] == "decayed"
    assert last["ci_high"] < last["reference"]
    assert later.flagged_features() == []  # the inputs did not move, the labels did
    decision = retrain_decision(later)
    assert decision.action == "retrain" and decision.check("decay").triggered
    assert not decision.check("drift").triggered


# -- a real stub's prediction log ----------------------------------------------------------------


def test_replayed_stub_log_matches_the_stream_and_the_model(
    served: tuple[Stream, Path, Path], bundle: Path, pipe: Any
) -> None:
    stream, log, labels = served
    names = [f["name"] for f in Manifest.read(bundle).features]
    replay = replay_log(log, features=names)
    assert replay.requests["key"].tolist() == stream.requests["key"].tolist()
    assert np.allclose(replay.X.to_numpy(), stream.X.to_numpy())
    proba = replay.outputs[["p_0", "p_1"]].to_numpy()
    assert np.abs(proba - pipe.predict_proba(stream.X)).max() < 1e-4  # ONNX float32
    assert (replay.outputs["model_version"] == "v1").all()
    report = mon.monitor_files(log=log, bundle=bundle, labels=labels, window=120)
    assert set(report.flagged_features()) == set(DRIFTED)
    assert report.quality["n_labelled"].sum() == len(stream.labels)
    assert len(report.latency) == 4 and (report.latency["p99_ms"] > 0).all()
    assert report.source["model_version"] == "v1" and not report.notes


def test_a_log_with_repeated_ids_and_lines_out_of_order_is_monitored(
    served: tuple[Stream, Path, Path], bundle: Path, tmp_path: Path
) -> None:
    """Two stub workers interleave their lines, a retried write repeats one, clients reuse or
    leave empty their request ids. Before: ValueError "cannot reindex on an axis with duplicate
    labels"."""
    _, log, labels = served
    lines = log.read_bytes().splitlines(keepends=True)
    messy = lines[240:] + lines[:240]  # the second worker's buffer flushed first
    messy += lines[5:8]  # written twice
    entries = [json.loads(line) for line in lines[:10]]
    for i, entry in enumerate(entries):
        entry["request_id"] = "" if i % 2 else "same"  # empty and reused ids, new requests
        entry["inputs"][0][0] += 1000 + i  # distinct requests, not repeated lines
    messy += [(json.dumps(e) + "\n").encode() for e in entries]
    path = tmp_path / "messy.jsonl"
    path.write_bytes(b"".join(messy))

    replay = replay_log(path, features=[f["name"] for f in Manifest.read(bundle).features])
    assert len(replay) == 480 + 10
    assert replay.requests["key"].is_unique
    assert replay.requests["ts"].is_monotonic_increasing
    assert replay.settings["duplicate_lines"] == 3
    assert replay.settings["repeated_request_ids"] == 8  # "same" x5 and "" x5, first of each kept
    assert {"same~2", "~5"} <= set(replay.requests["key"])
    report = mon.monitor_files(log=path, bundle=bundle, labels=labels, window=120)
    assert set(report.flagged_features()) == set(DRIFTED)
    notes = " | ".join(report.notes)
    assert "3 log line(s) repeated exactly, counted once" in notes
    assert "out of time order, sorted by time" in notes
    assert "8 request(s) reused an earlier request id" in notes


def test_the_bundle_and_log_are_found_in_the_workspace(
    served: tuple[Stream, Path, Path], bundle: Path, workspace: Workspace
) -> None:
    _, log, _ = served
    shutil.copytree(bundle, workspace.exports_dir / "logreg")
    shutil.copy(log, workspace.logs_dir / "stub.jsonl")
    from_log = mon.load_inputs(log=log, ws=workspace)
    assert from_log.bundle == workspace.exports_dir / "logreg"
    from_bundle = mon.load_inputs(bundle=bundle, ws=workspace)
    assert Path(from_bundle.source["log"]) == workspace.logs_dir / "stub.jsonl"
    with pytest.raises(Exception, match="pass --bundle DIR"):
        mon.load_inputs(log=log, ws=None)


# -- stored reports, the page, the index, the CLI ------------------------------------------------


def test_report_round_trips_and_is_listed_in_the_index(
    served: tuple[Stream, Path, Path], bundle: Path, workspace: Workspace, store: Store
) -> None:
    _, log, labels = served
    report = mon.monitor_files(log=log, bundle=bundle, labels=labels, window=120)
    decision = retrain_decision(report, store=store)
    mon.save_report(store, report, decision=decision)
    loaded = mon.load_report(store, report.id[:-2])
    assert loaded.to_dict() == json.loads(json.dumps(report.to_dict()))
    assert loaded.flagged_features() == report.flagged_features()
    assert mon.load_decision(store, report.id)["action"] == "retrain"
    [listed] = mon.list_reports(store)
    assert listed.flagged_features == tuple(report.flagged_features())
    assert listed.latest_quality == json.loads(json.dumps(loaded.latest_quality()))
    assert (listed.n_windows, listed.n_requests) == (4, 480) and listed.model_version == "v1"
    [section] = monitor_sections(workspace, store)
    assert section.title == "Monitoring" and section.rows[0][0] == report.id
    assert section.rows[0][6] == "retrain"
    html = mon.render_report(workspace, store, report.id)
    page = html.read_text()
    assert "plotly" in page and 'src="http' not in page and "Recommendation" in page
    assert mon.load_report(store, report.id).report_path == str(html)
    notebook = workspace.artifact_root / "monitor" / report.id / mon.NOTEBOOK
    assert notebook.is_file() and store.get_monitor_report(report.id).notebook_path == str(notebook)
    assert not list((workspace.root / "monitor").glob("*/*.json"))  # records are rows, not files
    [section] = monitor_sections(workspace, store)
    assert section.rows[0][-1].href == f"monitor/{report.id}.html"
    index = build_index(workspace, store).read_text()
    assert f"monitor/{report.id}.html" in index


def test_monitor_cli_prints_json_without_a_workspace(
    served: tuple[Stream, Path, Path], bundle: Path, tmp_path: Path
) -> None:
    _, log, labels = served
    args = [
        "monitor",
        "--log",
        str(log),
        "--bundle",
        str(bundle),
        "--labels",
        str(labels),
        "--window",
        "120",
        "--no-report",
        "--json",
        "-w",
        str(tmp_path / "none"),
    ]
    result = CliRunner().invoke(workbench_cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["decision"]["action"] == "retrain" and out["report"]["windows"][-1]["n"] == 120
    text = CliRunner().invoke(workbench_cli, [*args[:-3], "-w", str(tmp_path / "none")])
    assert "decision: retrain" in text.output and "alert" in text.output


def test_monitor_cli_records_relative_paths_as_absolute(
    served: tuple[Stream, Path, Path], bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, log, labels = served
    monkeypatch.chdir(log.parent)
    rel_bundle = os.path.relpath(bundle, log.parent)
    args = ["monitor", "--log", log.name, "--bundle", rel_bundle, "--labels", labels.name,
            "--window", "240", "--no-report", "--json", "-w", "no-workspace"]  # fmt: skip
    result = CliRunner().invoke(workbench_cli, args)
    assert result.exit_code == 0, result.output
    source = json.loads(result.output)["report"]["source"]
    assert (source["log"], source["bundle"], source["labels"]) == (
        str(log.resolve()),
        str(bundle.resolve()),
        str(labels.resolve()),
    )


def test_retrain_check_cli_exit_code_and_user_errors(
    served: tuple[Stream, Path, Path], bundle: Path, tmp_path: Path
) -> None:
    _, log, _ = served
    base = [
        "retrain-check",
        "--log",
        str(log),
        "--bundle",
        str(bundle),
        "--no-report",
        "-w",
        str(tmp_path / "none"),
    ]
    result = CliRunner().invoke(
        workbench_cli, [*base, "--fail-on-retrain", "--schedule", "monthly"]
    )
    assert result.exit_code == 1 and "decision: retrain" in result.output
    missing = CliRunner().invoke(
        workbench_cli, [*base[:2], str(tmp_path / "nope.jsonl"), *base[3:]]
    )
    assert missing.exit_code == 2 and "not found" in missing.output
    assert "Traceback" not in missing.output
    bad = CliRunner().invoke(workbench_cli, [*base, "--schedule", "sometimes"])
    assert bad.exit_code == 2 and "weekly, monthly" in bad.output
    late = CliRunner().invoke(workbench_cli, [*base, "--as-of", "soon"])
    assert late.exit_code == 2 and "'soon' is not a time" in late.output
    no_ws = CliRunner().invoke(workbench_cli, [*base, "--auto"])
    assert no_ws.exit_code == 2 and "workbench init" in no_ws.output


# -- records in the store: older workspaces, the listing, a second process -----------------------


def _drifted_report(cancer: Dataset, profile: dict[str, Any], pipe: Any) -> mon.MonitorReport:
    stream = synthetic_stream(
        cancer, n=500, seed=3, covariate=[CovariateDrift(DRIFTED, start=0.5, shift=2.0)]
    )
    return mon.monitor(stream, profile, window=125, model=pipe)


def test_an_older_workspace_s_monitor_folders_are_imported_once(
    cancer: Dataset,
    profile: dict[str, Any],
    pipe: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workbench.store import open_workspace

    monkeypatch.delenv("WORKBENCH_ARTIFACTS", raising=False)
    ws, _ = open_workspace(tmp_path / "old", create=True)
    report = _drifted_report(cancer, profile, pipe)
    decision = retrain_decision(report)
    # As workbench kept them before the store had them: monitor/<id>/report.json, decision.json
    # and attached <name>.json beside the executed notebook, written by json.dumps(indent=1).
    folder = ws.root / "monitor" / report.id
    folder.mkdir(parents=True)
    old = {**report.to_dict(), "report_path": str(ws.reports_dir / "monitor" / f"{report.id}.html")}
    outcome = {"csv": str(ws.root / "retrain" / report.id / "recent.csv"), "rows": 3}
    for name, record in (("report", old), ("decision", decision.to_dict()), ("retrain", outcome)):
        (folder / f"{name}.json").write_text(json.dumps(record, indent=1, default=str))
    (folder / mon.NOTEBOOK).write_text("{}")
    broken = ws.root / "monitor" / "mon-20200101-000000-abcdef"
    broken.mkdir()
    (broken / "report.json").write_text("{half a record")

    _, store = open_workspace(ws.root)
    assert sorted(p.name for p in folder.iterdir()) == [mon.NOTEBOOK]  # the JSON files are gone
    assert (broken / "report.json").is_file()  # unreadable: left for a person to look at
    loaded = mon.load_report(store, report.id)
    assert loaded.to_dict() == json.loads(json.dumps(old))
    assert loaded.flagged_features() == report.flagged_features()
    assert set(report.flagged_features()) == set(DRIFTED)
    assert mon.load_decision(store, report.id) == json.loads(json.dumps(decision.to_dict()))
    assert mon.load_record(store, report.id, "retrain") == outcome
    assert store.get_monitor_report(report.id).notebook_path == str(folder / mon.NOTEBOOK)
    [section] = monitor_sections(ws, store)
    assert section.rows[0][0] == report.id and section.rows[0][6] == "retrain"

    open_workspace(ws.root)  # once: opening again imports nothing twice
    assert [r.id for r in mon.list_reports(store)] == [report.id]


def test_monitor_list_cli(
    cli: Any,
    cancer: Dataset,
    profile: dict[str, Any],
    pipe: Any,
    workspace: Workspace,
    store: Store,
    tmp_path: Path,
) -> None:
    report = _drifted_report(cancer, profile, pipe)
    mon.save_report(store, report, decision=retrain_decision(report))
    args = ["monitor", "--list", "-w", str(workspace.root)]
    listed = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)
    assert [r["id"] for r in listed] == [report.id]
    assert listed[0]["decision"] == "retrain" and listed[0]["windows"] == 4
    assert listed[0]["flagged_features"] == report.flagged_features()
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0 and report.id in text.output and "retrain" in text.output
    none = CliRunner().invoke(cli, ["monitor", "--list", "-w", str(tmp_path / "none")])
    assert none.exit_code == 2 and "workbench init" in none.output


@pytest.mark.postgres
def test_a_second_process_on_the_same_database_lists_the_same_reports(
    cancer: Dataset,
    profile: dict[str, Any],
    pipe: Any,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 11's "Done when": on a team's PostgreSQL store, another process in another
    workspace folder sees the monitor reports (and their decisions) one process saved."""
    import secrets
    import subprocess
    import sys

    from pg import fresh_database

    from workbench.store import open_workspace

    url = fresh_database(postgres_url, f"wb_monitor_{os.getpid()}_{secrets.token_hex(3)}")
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    _, store = open_workspace(tmp_path / "alice", create=True)
    report = _drifted_report(cancer, profile, pipe)
    mon.save_report(store, report, decision=retrain_decision(report))
    bob, _ = open_workspace(tmp_path / "bob", create=True)
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "monitor", "--list", "--json", "-w", str(bob.root)],
        env={**os.environ, "WORKBENCH_DB_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [listed] = json.loads(result.stdout)
    assert (listed["id"], listed["decision"]) == (report.id, "retrain")
    assert listed["flagged_features"] == report.flagged_features()
    assert listed["requests"] == 500 and listed["windows"] == 4
