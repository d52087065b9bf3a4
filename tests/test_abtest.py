"""A/B and shadow tests on real stubs: hash routing, a good vs a degraded model, A/A tests,
shadow traffic that never reaches the caller, the statistics, the stored record, the report,
the index and the CLI."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench import abtest as ab
from workbench.bundle import export_bundle
from workbench.config import Workspace
from workbench.datasets import Dataset, load_dataset
from workbench.demo import abtest_stage
from workbench.exceptions import ConfigError
from workbench.modelio import save_model
from workbench.reports import abtest_sections, build_index
from workbench.serving import background_server
from workbench.store import (
    ArtifactRecord,
    DatasetRecord,
    MetricRecord,
    RunStatus,
    Store,
    open_workspace,
    utcnow,
)
from workbench.traffic import Stream, synthetic_stream

LABELS = ["malignant", "benign"]
N = 600  # requests per test: a few seconds each, enough to separate good from degraded


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cancer() -> Dataset:
    return load_dataset("breast_cancer")


@pytest.fixture(scope="module")
def rows(cancer: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out test rows)."""
    idx = np.arange(len(cancer.y))
    train, test = train_test_split(idx, test_size=0.3, random_state=0, stratify=cancer.y)
    return np.sort(train), np.sort(test)


def _fit(cancer: Dataset, train: np.ndarray, *, shuffled: bool) -> Any:
    y = cancer.y.iloc[train].to_numpy()
    if shuffled:  # the degraded model: fitted on labels that have nothing to do with the rows
        y = np.random.default_rng(0).permutation(y)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return pipe.fit(cancer.X.iloc[train], y)


@pytest.fixture(scope="module")
def bundles(
    cancer: Dataset, rows: tuple[np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Bundles of a good model and a deliberately degraded one (fitted on shuffled labels)."""
    train, test = rows
    root = tmp_path_factory.mktemp("bundles")
    out = {}
    for name, shuffled in (("good", False), ("degraded", True)):
        export_bundle(
            _fit(cancer, train, shuffled=shuffled),
            out=root / name,
            mode="image",
            X_ref=cancer.X.iloc[train],
            X_test=cancer.X.iloc[test],
            y_test=cancer.y.iloc[test].to_numpy(),
            labels=LABELS,
            model_version=name,
        )
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def stream(cancer: Dataset, rows: tuple[np.ndarray, np.ndarray]) -> Stream:
    return synthetic_stream(cancer, n=N, seed=3, rows=rows[1])


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return open_workspace(tmp_path_factory.mktemp("abtest-ws"), create=True)[0]


@pytest.fixture(scope="module")
def ws_store(ws: Workspace) -> Store:
    """The store of the module's workspace (tests of bundle folders record there)."""
    return open_workspace(ws.root)[1]


@pytest.fixture(scope="module")
def good_vs_degraded(
    ws: Workspace, ws_store: Store, bundles: dict[str, Path], stream: Stream
) -> ab.ABTest:
    return ab.run_abtest(
        ws,
        ws_store,
        str(bundles["good"]),
        str(bundles["degraded"]),
        mode="online",
        stream=stream,
        requests=None,
        seed=0,
        n_boot=500,
        report=False,
    )


@pytest.fixture(scope="module")
def shadow_test(
    ws: Workspace, ws_store: Store, bundles: dict[str, Path], stream: Stream
) -> ab.ABTest:
    return ab.run_abtest(
        ws,
        ws_store,
        str(bundles["good"]),
        str(bundles["degraded"]),
        mode="shadow",
        stream=stream,
        requests=400,
        seed=0,
        n_boot=500,
        report=False,
    )


# -- routing ------------------------------------------------------------------------------------


def test_hash_routing_is_stable_and_close_to_the_split() -> None:
    keys = [f"r{i:06d}" for i in range(20_000)]
    for split in (0.5, 0.2):
        variants = [ab.assign_variant(k, split) for k in keys]
        share = variants.count("B") / len(keys)
        assert abs(share - split) < 0.01, (split, share)
        assert variants == [ab.assign_variant(k, split) for k in keys]  # same key, same variant
    # Growing the split only moves keys from A to B: a key already in B stays there.
    small = {k for k in keys if ab.assign_variant(k, 0.2) == "B"}
    large = {k for k in keys if ab.assign_variant(k, 0.5) == "B"}
    assert small <= large
    salted = [ab.assign_variant(k, 0.5, salt="another-test") for k in keys[:2000]]
    assert salted != [ab.assign_variant(k, 0.5) for k in keys[:2000]]
    # Another process with another hash seed routes the same keys the same way.
    code = "from workbench.abtest import assign_variant as a; print(''.join(a(f'r{i:06d}', 0.5) for i in range(64)))"  # noqa: E501
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert other.stdout.strip() == "".join(ab.assign_variant(k, 0.5) for k in keys[:64])
    with pytest.raises(ConfigError, match="within"):
        ab.assign_variant("r1", 1.5)


def test_online_requests_follow_the_hash(good_vs_degraded: ab.ABTest, ws_store: Store) -> None:
    frame = ab.load_requests(ws_store, good_vs_degraded.id)
    assert len(frame) == N and set(frame["role"]) == {"served"} and frame["returned"].all()
    assert all(frame["variant"] == [ab.assign_variant(k, 0.5) for k in frame["key"]])
    assert frame["key"].is_unique
    a, b = good_vs_degraded.analysis.variants.values()
    assert a.requests + b.requests == N and 0.4 < b.requests / N < 0.6
    assert set(frame.loc[frame["variant"] == "B", "model_version"]) == {"degraded"}


# -- good vs degraded, A/A ----------------------------------------------------------------------


def test_good_vs_degraded_detects_the_quality_difference_and_reports_latencies(
    good_vs_degraded: ab.ABTest,
) -> None:
    t = good_vs_degraded
    an = t.analysis
    assert an.metric == "roc_auc"
    quality = an.delta("roc_auc")
    assert quality.value < -0.15 and quality.ci_high < 0 and quality.p_value < an.alpha / 2
    assert an.variants["A"].quality["ci_low"] > an.variants["B"].quality["ci_high"]
    assert an.delta("acceptance").value < 0  # users accept the degraded model's answers less
    assert t.decision.action == ab.KEEP_A
    assert any("significantly worse" in r and "roc_auc" in r for r in t.decision.reasons)
    for v in an.variants.values():
        assert 0 < v.p50_ms <= v.p99_ms < 1000 and v.errors == 0
        assert v.labelled == v.requests and v.reacted == v.requests
    p99 = an.delta("p99_ms")
    assert math.isfinite(p99.value) and p99.ci_low <= p99.value <= p99.ci_high
    assert t.traffic["sent"] == N and not t.traffic["truncated"]


def test_an_aa_test_claims_no_difference(
    ws: Workspace, ws_store: Store, bundles: dict[str, Path], stream: Stream
) -> None:
    good = str(bundles["good"])
    online = ab.run_abtest(
        ws,
        ws_store,
        good,
        good,
        mode="online",
        stream=stream,
        requests=None,
        seed=0,
        n_boot=500,
        report=False,
    )
    assert online.decision.action == ab.INCONCLUSIVE, online.decision.reasons
    for name in ("acceptance", "roc_auc"):
        d = online.analysis.delta(name)
        assert d.ci_low <= 0 <= d.ci_high and d.p_value > online.analysis.alpha / 2
    assert any("A/A" in n for n in online.notes)
    mde = online.analysis.mde
    assert 0 < mde["mde"] < 0.2 and mde["n_a"] + mde["n_b"] == N
    shadow = ab.run_abtest(
        ws,
        ws_store,
        good,
        good,
        mode="shadow",
        stream=stream,
        requests=300,
        seed=0,
        n_boot=500,
        report=False,
    )
    # Same model, same requests, same simulated users: the paired differences are exactly 0.
    for name in ("acceptance", "roc_auc"):
        d = shadow.analysis.delta(name)
        assert (d.value, d.ci_low, d.ci_high, d.p_value) == (0, 0, 0, 1)
    assert shadow.decision.action == ab.INCONCLUSIVE


# -- shadow mode --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log(path: Path) -> dict[str, dict[str, Any]]:
    return {e["request_id"]: e for e in map(json.loads, path.read_text().splitlines())}


@pytest.mark.parametrize("mirror", ["deferred", "background"])
def test_shadow_never_changes_what_the_caller_receives(
    bundles: dict[str, Path], stream: Stream, tmp_path: Path, mirror: str
) -> None:
    n = 150
    logs = {v: tmp_path / f"{v}.jsonl" for v in ("A", "B")}
    with ExitStack() as stack:
        urls = {
            "A": stack.enter_context(background_server(bundles["good"], log_path=logs["A"])),
            "B": stack.enter_context(background_server(bundles["degraded"], log_path=logs["B"])),
        }
        with ab.Router(urls, mode="shadow", mirror=mirror) as router:
            received = {
                r["key"]: router.handle(r["key"], r["features"])
                for r in stream.iter_requests()
                if int(r["key"][1:]) < n
            }
    log_a, log_b = _log(logs["A"]), _log(logs["B"])
    assert len(received) == n and set(log_a) == set(received)
    for key, answer in received.items():
        # What the caller got is exactly A's answer to that request, never B's.
        assert answer.ok and answer.variant == "A" and answer.role == "served"
        assert answer.body["model_version"] == "good"
        assert answer.body["labels"] == log_a[key]["outputs"]["labels"]
        assert answer.body["probabilities"] == log_a[key]["outputs"]["probabilities"]
    # The mirrored traffic is logged: by the router and by B's own stub, once per request.
    assert len(router.mirrored) == n and router.mirror_dropped == 0
    assert {a.key for a in router.mirrored} == set(received) == set(log_b)
    assert all(a.role == "shadow" and a.variant == "B" and a.ok for a in router.mirrored)
    differing = [
        k for k in received if log_b[k]["outputs"]["labels"] != log_a[k]["outputs"]["labels"]
    ]
    assert differing  # B answered differently, and the caller still only saw A


def test_a_failing_shadow_does_not_reach_the_caller(
    bundles: dict[str, Path], stream: Stream
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    with (
        background_server(bundles["good"]) as url_a,
        ab.Router({"A": url_a, "B": dead}, mode="shadow", timeout_s=2) as router,
    ):
        answers = [
            router.handle(r["key"], r["features"])
            for r in stream.iter_requests()
            if int(r["key"][1:]) < 20
        ]
    assert all(a.ok and a.variant == "A" for a in answers)
    assert len(router.mirrored) == 20 and all(a.status == 0 and a.error for a in router.mirrored)


def test_shadow_test_is_paired_and_logs_the_mirrored_traffic(
    shadow_test: ab.ABTest, ws: Workspace, ws_store: Store
) -> None:
    t = shadow_test
    assert t.traffic["sent"] == t.traffic["mirrored"] == 400 and t.traffic["mirror_dropped"] == 0
    frame = ab.load_requests(ws_store, t.id)
    served, shadow = frame[frame["role"] == "served"], frame[frame["role"] == "shadow"]
    assert set(served["variant"]) == {"A"} and served["returned"].all()
    assert set(shadow["variant"]) == {"B"} and not shadow["returned"].any()
    assert sorted(served["key"]) == sorted(shadow["key"])
    stub_b = (ws.root / "abtests" / t.id / "stub-B.jsonl").read_text().splitlines()
    keys_b = {json.loads(line)["request_id"] for line in stub_b}
    assert set(shadow["key"]) <= keys_b  # plus the unrecorded warm-up requests
    an = t.analysis
    # Requests resample held-out rows: quality and acceptance resample whole rows, paired.
    assert an.delta("roc_auc").test == "cluster bootstrap by source row (paired)"
    assert an.delta("acceptance").test == "cluster bootstrap by source row (paired)"
    assert an.delta("error_rate").test.startswith("McNemar")
    assert an.variants["B"].role == "shadow" and t.decision.action == ab.KEEP_A
    assert any("callers only ever saw A" in n for n in t.decision.notes)


def test_csv_traffic_of_distinct_rows_uses_request_level_tests(
    ws: Workspace,
    ws_store: Store,
    bundles: dict[str, Path],
    cancer: Dataset,
    rows: Any,
    tmp_path: Path,
) -> None:
    test_rows = rows[1]
    csv = tmp_path / "traffic.csv"
    frame = cancer.X.iloc[test_rows].assign(diagnosis=cancer.y.iloc[test_rows].to_numpy())
    frame.to_csv(csv, index=False)
    good, degraded = str(bundles["good"]), str(bundles["degraded"])
    t = ab.run_abtest(
        ws,
        ws_store,
        good,
        degraded,
        mode="shadow",
        stream_csv=csv,
        target="diagnosis",
        requests=None,
        n_boot=500,
        report=False,
    )
    assert t.traffic["sent"] == t.traffic["labels"] == len(test_rows)
    assert t.stream["source"] == str(csv) and "distinct_rows" not in t.stream
    an = t.analysis
    assert an.delta("acceptance").test == "McNemar exact (paired)"
    assert an.delta("roc_auc").test == "paired bootstrap"
    assert an.mde["design_effect"] == 1.0 and t.decision.action == ab.KEEP_A
    online = ab.run_abtest(
        ws,
        ws_store,
        good,
        degraded,
        stream_csv=csv,
        target="diagnosis",
        requests=None,
        n_boot=500,
        report=False,
    )
    assert online.analysis.delta("acceptance").test == "two-proportion z-test"
    assert online.analysis.delta("roc_auc").test == "unpaired bootstrap"


def _answers(n: int, *, b_extra_ms: float = 0.0, b_errors: float = 0.0, b_right: float = 0.9):
    """A synthetic online test: answers of both variants and their labels (no servers)."""
    rng = np.random.default_rng(5)
    keys = [f"r{i:06d}" for i in range(n)]
    variant = [ab.assign_variant(k, 0.5) for k in keys]
    y = rng.integers(0, 2, n)
    is_b = np.array(variant) == "B"
    right = rng.random(n) < np.where(is_b, b_right, 0.9)
    pred = np.where(right, y, 1 - y)
    p1 = np.clip(np.where(pred == 1, 0.8, 0.2) + rng.normal(0, 0.05, n), 0.01, 0.99)
    ok = ~(is_b & (rng.random(n) < b_errors))
    frame = pd.DataFrame(
        {
            "key": keys,
            "variant": variant,
            "role": "served",
            "status": np.where(ok, 200, 500),
            "ok": ok,
            "latency_ms": rng.gamma(4, 0.3, n) + np.where(is_b, b_extra_ms, 0.0),
            "model_version": np.where(is_b, "v2", "v1"),
            "pred_label": np.where(ok, np.array(LABELS)[pred], None),
            "p_0": np.where(ok, 1 - p1, np.nan),
            "p_1": np.where(ok, p1, np.nan),
        }
    )
    labels = pd.DataFrame(
        {"key": keys, "label_ts": pd.Timestamp("2026-01-02", tz="UTC"), "label": y}
    )
    return frame, labels


OUTPUT = {"classes": LABELS, "class_values": [0, 1]}


def test_the_decision_ships_b_keeps_a_on_guardrails_and_says_when_traffic_is_short() -> None:
    better, labels = _answers(2000, b_right=0.97)
    an, _ = ab.analyze(
        better, labels, mode="online", task="classification", output=OUTPUT, n_boot=400
    )
    assert an.decision.action == ab.SHIP_B, an.decision.reasons
    assert an.decision.reasons[0].startswith("B is significantly better on")
    slow, labels = _answers(2000, b_right=0.97, b_extra_ms=40.0)
    an, _ = ab.analyze(
        slow, labels, mode="online", task="classification", output=OUTPUT, n_boot=400
    )
    assert an.decision.action == ab.KEEP_A
    assert any("guardrail: B's p99 latency" in r for r in an.decision.reasons)
    failing, labels = _answers(2000, b_right=0.97, b_errors=0.05)
    an, _ = ab.analyze(
        failing, labels, mode="online", task="classification", output=OUTPUT, n_boot=400
    )
    assert an.decision.action == ab.KEEP_A and an.variants["B"].errors > 0
    assert any("guardrail: B's error rate" in r for r in an.decision.reasons)
    short, labels = _answers(200, b_right=0.93)
    an, _ = ab.analyze(
        short, labels, mode="online", task="classification", output=OUTPUT, n_boot=400
    )
    assert an.decision.action == ab.INCONCLUSIVE
    assert an.mde["mde"] > abs(an.mde["observed"]) and an.mde["required_requests"] > 200
    assert any("MDE" in r and "would need about" in r for r in an.decision.reasons)
    unlabelled = ab.analyze(
        short, labels.iloc[:0], mode="online", task="classification", output=OUTPUT, n_boot=400
    )[0]
    assert unlabelled.decision.action == ab.INCONCLUSIVE
    assert "no label joined" in unlabelled.decision.reasons[0]


# -- the user model --------------------------------------------------------------------------


def test_user_model_is_documented_seeded_and_shared_by_both_variants() -> None:
    users = ab.UserModel(p_right=0.6, p_wrong=0.2, patience_ms=100, seed=7)
    p = users.probability(
        ok=[True, True, False, True, True],
        correct=[1, 0, 1, 1, math.nan],
        latency_ms=[5, 5, 5, 500, 5],
    )
    assert p[:4].tolist() == [0.6, 0.2, 0.0, 0.0] and math.isnan(p[4])
    keys = [f"k{i}" for i in range(5000)]
    right = users.accepts(keys, ok=[True] * 5000, correct=[1] * 5000, latency_ms=[1] * 5000)
    wrong = users.accepts(keys, ok=[True] * 5000, correct=[0] * 5000, latency_ms=[1] * 5000)
    assert abs(right.mean() - 0.6) < 0.03 and abs(wrong.mean() - 0.2) < 0.03
    assert (
        wrong <= right
    ).all()  # the same user's draw: accepts a wrong answer only if a right one
    again = ab.UserModel(p_right=0.6, p_wrong=0.2, patience_ms=100, seed=7)
    assert np.array_equal(again.draws(keys), users.draws(keys))
    with pytest.raises(ConfigError, match="p_right"):
        ab.UserModel(p_right=1.5)


# -- records, report, index ---------------------------------------------------------------------


def test_record_round_trips_and_the_report_renders_offline(
    good_vs_degraded: ab.ABTest, ws: Workspace, ws_store: Store
) -> None:
    t = good_vs_degraded
    store = ws_store
    loaded = ab.load_abtest(store, t.id[:-2])
    assert loaded.to_dict() == json.loads(json.dumps(t.to_dict(), default=str))
    assert [x.id for x in ab.list_abtests(store)][-1] == t.id
    assert not list((ws.root / "abtests").glob("*/record.json"))  # the record is a row
    html = ab.render_report(ws, store, t.id)
    page = html.read_text()
    assert html == ws.reports_dir / "abtests" / f"{t.id}.html"
    assert "plotly" in page and 'src="http' not in page
    assert "KEEP A" in page and "Minimum detectable effect" in page
    assert ab.load_abtest(store, t.id).report_path == str(html)
    assert (ws.root / "abtests" / t.id / ab.NOTEBOOK).is_file()
    [section] = abtest_sections(ws, store)
    row = next(r for r in section.rows if r[0] == t.id)
    assert row[-2] == "keep_a" and row[-1].href == f"abtests/{t.id}.html"
    assert f"abtests/{t.id}.html" in build_index(ws, store).read_text()


def test_a_copied_workspace_finds_its_abtests_files_and_report(
    good_vs_degraded: ab.ABTest, ws: Workspace, ws_store: Store, tmp_path: Path
) -> None:
    import shutil

    t = good_vs_degraded
    ab.render_report(ws, ws_store, t.id)
    copy = tmp_path / "copied"
    shutil.copytree(ws.root, copy)
    ws2, store2 = open_workspace(copy)
    moved = ab.load_abtest(store2, t.id)
    assert moved.report_path == str(copy / "reports" / "abtests" / f"{t.id}.html")
    assert Path(moved.report_path).is_file()
    assert len(ab.load_requests(store2, t.id)) == N
    [section] = abtest_sections(ws2, store2)
    assert next(r for r in section.rows if r[0] == t.id)[-1].href == f"abtests/{t.id}.html"


#: ``abtests/<id>/record.json`` exactly as the workbench wrote it before A/B tests were store
#: rows (a shadow test run by that code; its absolute paths point where that workspace was).
LEGACY_RECORD = Path(__file__).parent / "data" / "abtest_record_v1.json"


def test_an_older_workspace_s_record_json_is_imported_once_and_removed(tmp_path: Path) -> None:
    record = json.loads(LEGACY_RECORD.read_text())
    test_id = record["id"]
    ws = tmp_path / "old-ws"
    open_workspace(ws, create=True)
    folder = ws / "abtests" / test_id
    folder.mkdir(parents=True)
    (folder / "record.json").write_text(LEGACY_RECORD.read_text())
    (folder / "requests.csv").write_text(
        "key,variant,role,ok,returned\nr000001,A,served,True,True\n"
    )
    (folder / "labels.csv").write_text("key,label_ts,label\nr000001,2026-01-02,1\n")
    (folder / "stub-A.jsonl").write_text("{}\n")
    page = ws / "reports" / "abtests" / f"{test_id}.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html>report</html>")
    broken = ws / "abtests" / "ab-20260101-000000-bad000" / "record.json"
    broken.parent.mkdir()
    broken.write_text("{ not json")

    _, store = open_workspace(ws)
    [test] = ab.list_abtests(store)
    # The whole record survives, the report is found where the workspace is now (the recorded
    # absolute path is gone with the old folder), and the payload files stay where they were.
    assert test.to_dict() == {**record, "report_path": str(page)}
    assert test.decision.action == ab.KEEP_A and test.mode == "shadow"
    assert not (folder / "record.json").exists()
    assert {p.name for p in folder.iterdir()} == {"requests.csv", "labels.csv", "stub-A.jsonl"}
    assert ab.load_requests(store, test_id[:-2])["returned"].tolist() == [True]
    assert broken.is_file()  # unreadable: left for a person, not lost
    rec = store.get_abtest(test_id)
    assert Path(rec.folder) == folder and rec.variant("B").model_version == "degraded"
    assert rec.variant("A").requests == record["analysis"]["variants"]["A"]["requests"]

    # Opening again imports nothing twice; a record.json copied back in is taken as done.
    (folder / "record.json").write_text(LEGACY_RECORD.read_text())
    _, store = open_workspace(ws)
    assert [t.id for t in ab.list_abtests(store)] == [test_id]
    assert not (folder / "record.json").exists()


@pytest.mark.postgres
def test_a_process_in_another_folder_on_the_same_database_lists_the_same_abtests(
    postgres_url: str,
    bundles: dict[str, Path],
    stream: Stream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pg import fresh_database

    url = fresh_database(postgres_url, f"wb_abtest_shared_{os.getpid()}")
    shared = tmp_path / "team-artifacts"
    monkeypatch.setenv("WORKBENCH_DB_URL", url)
    monkeypatch.setenv("WORKBENCH_ARTIFACTS", str(shared))
    ws, store = open_workspace(tmp_path / "alice", create=True)
    test = ab.run_abtest(
        ws,
        store,
        str(bundles["good"]),
        str(bundles["degraded"]),
        stream=stream,
        requests=200,
        n_boot=100,
        report=False,
    )
    assert (shared / "abtests" / test.id / "requests.csv").is_file()
    assert not (ws.root / "abtests").exists()  # payload under the shared artifact root
    bob = tmp_path / "bob"
    env = {**os.environ, "WORKBENCH_HOME": str(bob), "WORKBENCH_DB_URL": url}
    cmd = [sys.executable, "-m", "workbench.cli"]
    subprocess.run([*cmd, "init", str(bob)], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*cmd, "abtests", "--json"], env=env, capture_output=True, text=True, check=True
    )
    # The whole record, with the same (shared) paths: Bob's folder holds nothing of it.
    assert json.loads(out.stdout) == [json.loads(json.dumps(test.to_dict(), default=str))]
    assert not (bob / "abtests").exists()


# -- CLI on a registered run --------------------------------------------------------------------


def _real_run(
    ws: Workspace, store: Store, run_id: str, pipe: Any, cancer: Dataset, rows: Any
) -> str:
    """A succeeded run as the search and evaluate stages leave it, with a real model."""
    train, test = rows
    store.record_dataset(
        DatasetRecord(
            fingerprint=cancer.fingerprint,
            name="breast_cancer",
            source="builtin",
            target=cancer.target,
            task="classification",
            n_rows=len(cancer.y),
            n_features=cancer.X.shape[1],
            features=[],
            created_at=utcnow(),
        )
    )
    store.create_run(
        run_id,
        dataset_name="breast_cancer",
        model_family="logreg",
        seed=0,
        stages=[("evaluate", "03_evaluate.ipynb")],
        params={"dataset": "breast_cancer"},
        dataset_fingerprint=cancer.fingerprint,
    )
    folder = ws.run_dir(run_id)
    folder.mkdir(parents=True)
    model = folder / "model.skops"
    sha = save_model(pipe, model)
    store.log_artifact(
        run_id, ArtifactRecord("model", "file", str(model), sha, model.stat().st_size, "search")
    )
    split = folder / "split.json"
    split.write_text(
        json.dumps(
            {
                "fingerprint": cancer.fingerprint,
                "seed": 0,
                "train": train.tolist(),
                "valid": [],
                "test": test.tolist(),
            }
        )
    )
    from workbench._files import sha256_file

    store.log_artifact(
        run_id,
        ArtifactRecord(
            "split.json", "file", str(split), sha256_file(split), split.stat().st_size, "search"
        ),
    )
    store.log_metrics(run_id, [MetricRecord("evaluate", "roc_auc", 0.99)])
    store.finish_run(run_id, RunStatus.SUCCEEDED)
    return run_id


def test_cli_runs_an_aa_test_on_a_registered_run_and_reuses_its_bundle(
    workspace: Workspace, store: Store, cancer: Dataset, rows: Any, cli: click.Group
) -> None:
    run_id = _real_run(
        workspace,
        store,
        "20260101-000000-aaaaaa",
        _fit(cancer, rows[0], shuffled=False),
        cancer,
        rows,
    )
    args = [
        "abtest",
        "--a",
        run_id,
        "--b",
        run_id,
        "--requests",
        "300",
        "--no-report",
        "--n-boot",
        "300",
        "-w",
        str(workspace.root),
    ]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["a"]["reused"] is False and out["b"]["reused"] is True  # exported once
    assert out["a"]["bundle"] == str(workspace.exports_dir / f"{run_id}-abtest")
    assert out["a"]["model_version"] == "v1"  # registered on export
    assert out["analysis"]["decision"]["action"] == "inconclusive"
    assert out["stream"]["distinct_rows"] <= len(rows[1])  # held-out rows only
    text = CliRunner().invoke(cli, [*args, "--mode", "shadow", "--seed", "1"])
    assert text.exit_code == 0, text.output
    assert "decision: INCONCLUSIVE" in text.output and "shadow" in text.output
    listed = CliRunner().invoke(cli, ["abtests", "-w", str(workspace.root)])
    assert listed.output.count("inconclusive") == 2
    unknown = CliRunner().invoke(
        cli, ["abtest", "--a", run_id, "--b", "challenger", "-w", str(workspace.root)]
    )
    assert unknown.exit_code == 2 and "no run, version or alias 'challenger'" in unknown.output
    assert "Traceback" not in unknown.output
    bad = CliRunner().invoke(cli, [*args[:-2], "--split", "1", "-w", str(workspace.root)])
    assert bad.exit_code == 2 and "--split" in bad.output


def test_incompatible_models_and_bad_options_are_refused(
    ws: Workspace, ws_store: Store, bundles: dict[str, Path], stream: Stream, tmp_path: Path
) -> None:
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True, as_frame=True)
    wine = tmp_path / "wine"
    export_bundle(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y),
        out=wine,
        mode="image",
        X_ref=X,
        X_test=X.iloc[:20],
    )
    good = str(bundles["good"])
    before = {t.id for t in ab.list_abtests(ws_store)}
    with pytest.raises(ConfigError, match="different features"):
        ab.run_abtest(ws, ws_store, good, str(wine), stream=stream, report=False)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        ab.run_abtest(ws, ws_store, good, good, split=0.0, stream=stream, report=False)
    with pytest.raises(ConfigError, match="not on this machine"):
        ab.Router({"A": "http://example.com", "B": "http://127.0.0.1:1"}, mode="online")
    with pytest.raises(ConfigError, match="A's run is not in this workspace"):
        ab.run_abtest(ws, ws_store, good, good, report=False)
    stored = {t.id for t in ab.list_abtests(ws_store)}
    assert stored == before  # nothing recorded for a refused test ...
    root = ws.root / "abtests"
    folders = {p.name for p in root.iterdir()} if root.is_dir() else set()
    assert folders <= stored  # ... and no folder left without its record


def test_frames_are_tables_for_the_notebook(good_vs_degraded: ab.ABTest) -> None:
    variants = good_vs_degraded.variants_frame()
    assert list(variants.index) == ["A", "B"] and "p99 ms" in variants and "acceptance" in variants
    deltas = good_vs_degraded.deltas_frame()
    assert list(deltas.index) == ["acceptance", "roc_auc", "error_rate", "p50_ms", "p99_ms"]
    assert isinstance(deltas, pd.DataFrame) and deltas.loc["roc_auc", "B − A"] < 0


def test_demo_stage_shadows_then_splits_champion_and_the_other_model(
    workspace: Workspace, store: Store, cancer: Dataset, rows: Any
) -> None:
    from workbench.registry import promote, register_model

    good = _real_run(
        workspace,
        store,
        "20260101-000000-aaaaaa",
        _fit(cancer, rows[0], shuffled=False),
        cancer,
        rows,
    )
    degraded = _real_run(
        workspace,
        store,
        "20260101-000001-bbbbbb",
        _fit(cancer, rows[0], shuffled=True),
        cancer,
        rows,
    )
    register_model(store, good)
    register_model(store, degraded)
    promote(store, good, "champion", reason="test")
    shadow, online = abtest_stage(workspace, store, fast=True, report=False)
    assert (shadow.mode, online.mode) == ("shadow", "online")
    assert shadow.a["model_version"] == online.a["model_version"] == "v1"
    assert shadow.b["model_version"] == online.b["model_version"] == "v2"
    assert shadow.traffic["sent"] == online.traffic["sent"] == 600
    assert shadow.decision.action == online.decision.action == ab.KEEP_A
    assert online.a["reused"] and online.b["reused"]  # exported once, by the shadow test
