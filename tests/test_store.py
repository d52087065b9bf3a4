"""The store contract: the same behaviour on every backend (SQLite here; PostgreSQL joins via
the ``store_url`` fixture when a server is available)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from workbench.exceptions import RunNotFound, StoreError
from workbench.store import (
    ArtifactRecord,
    DatasetRecord,
    MetricRecord,
    RunStatus,
    _migrate,
    open_store,
    utcnow,
)
from workbench.store.schema import VERSION_TABLE

_COUNTER = iter(range(10_000))


def _new_run(store, run_id: str = "r1", **kw) -> None:
    store.create_run(
        run_id,
        dataset_name=kw.get("dataset", "iris"),
        model_family="logreg",
        seed=7,
        stages=[("explore", "01_explore.ipynb"), ("search", "02_search.ipynb")],
        params={"trials": 3, "dataset": "iris", "nested": {"a": [1, 2]}},
        versions={"python": "3.11"},
    )


def test_schema_is_migrated_and_versioned_apart_from_optuna(store_url: str) -> None:
    store = open_store(store_url)
    assert _migrate.current_revision(store.engine) == _migrate.head_revision()
    names = sa.inspect(store.engine).get_table_names()
    assert VERSION_TABLE in names
    assert "alembic_version" not in names  # left free for optuna
    for table in ("wb_runs", "wb_stages", "wb_params", "wb_metrics", "wb_artifacts", "wb_datasets"):
        assert table in names


def test_run_round_trip(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    run = store.get_run("r1")
    assert run.status is RunStatus.RUNNING
    assert run.params["nested"] == {"a": [1, 2]}
    assert [s.name for s in run.stages] == ["explore", "search"]
    assert all(s.status is RunStatus.PENDING for s in run.stages)
    assert run.created_at.tzinfo is not None


def test_stage_and_run_lifecycle(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    store.start_stage("r1", "explore", output_path="/x/01.ipynb")
    store.finish_stage("r1", "explore", RunStatus.SUCCEEDED, report_path="/r/explore.html")
    store.start_stage("r1", "search", output_path="/x/02.ipynb")
    store.finish_run("r1", RunStatus.CANCELLED, error={"reason": "interrupted"})
    run = store.get_run("r1")
    assert run.status is RunStatus.CANCELLED and run.status.is_finished()
    assert run.error == {"reason": "interrupted"}
    assert [s.status for s in run.stages] == [RunStatus.SUCCEEDED, RunStatus.CANCELLED]
    assert run.stages[0].report_path == "/r/explore.html"
    assert run.duration_s is not None and run.duration_s >= 0


def test_pending_stages_are_skipped_when_a_run_fails(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    store.start_stage("r1", "explore", output_path="/x")
    store.finish_stage("r1", "explore", RunStatus.FAILED, error={"ename": "ValueError"})
    store.finish_run("r1", RunStatus.FAILED, error={"stage": "explore"})
    run = store.get_run("r1")
    assert [s.status for s in run.stages] == [RunStatus.FAILED, RunStatus.SKIPPED]
    assert run.stages[0].error == {"ename": "ValueError"}


def test_metrics_replace_by_stage_and_name(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    store.log_metrics("r1", [MetricRecord("evaluate", "roc_auc", 0.9, 0.85, 0.95)])
    store.log_metrics(
        "r1",
        [MetricRecord("evaluate", "roc_auc", 0.91, 0.86, 0.96), MetricRecord("search", "cv", 1)],
    )
    run = store.get_run("r1")
    assert run.metric("roc_auc") == MetricRecord("evaluate", "roc_auc", 0.91, 0.86, 0.96)
    assert len(run.metrics) == 2


def test_artifacts_params_and_dataset(store_url: str) -> None:
    store = open_store(store_url)
    ds = DatasetRecord(
        "f" * 64,
        "iris",
        "sklearn:iris",
        "target",
        "classification",
        150,
        4,
        [{"name": "a", "dtype": "float64", "kind": "numeric"}],
        utcnow(),
    )
    store.record_dataset(ds)
    store.record_dataset(ds)  # idempotent
    _new_run(store)
    store.set_dataset("r1", ds.fingerprint)
    store.log_artifact("r1", ArtifactRecord("model", "model", "/m.skops", "a" * 64, 10, "search"))
    store.log_artifact("r1", ArtifactRecord("model", "model", "/m2.skops", "b" * 64, 12, "search"))
    store.log_params("r1", {"trials": 5, "extra": "x"})
    run = store.get_run("r1")
    assert run.dataset == ds
    assert run.artifact("model").path == "/m2.skops"
    assert run.params["trials"] == 5 and run.params["extra"] == "x"


def test_unknown_and_ambiguous_ids(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store, "20260101-000000-aaaaaa")
    _new_run(store, "20260101-000000-aaaabb")
    assert store.get_run("20260101-000000-aaaaa").id == "20260101-000000-aaaaaa"
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get_run("20260101-000000-aaaa")
    with pytest.raises(RunNotFound, match="workbench runs"):
        store.get_run("nope")
    with pytest.raises(RunNotFound):
        store.heartbeat("nope")


def test_duplicate_run_is_refused_and_first_kept(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    with pytest.raises(StoreError):
        _new_run(store, dataset="wine")
    assert store.get_run("r1").dataset_name == "iris"


def test_write_is_all_or_nothing(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store)
    bad = [MetricRecord("evaluate", "ok", 1.0), MetricRecord("evaluate", "bad", "x")]  # type: ignore[arg-type]
    with pytest.raises((StoreError, ValueError)):
        store.log_metrics("r1", bad)
    assert store.get_run("r1").metrics == []


def test_list_runs_newest_first_with_metrics(store_url: str) -> None:
    store = open_store(store_url)
    for i in range(3):
        _new_run(store, f"r{i}")
        store.log_metrics(f"r{i}", [MetricRecord("evaluate", "roc_auc", 0.5 + i / 10)])
    runs = store.list_runs()
    assert [r.id for r in runs] == ["r2", "r1", "r0"]
    assert runs[0].metric("roc_auc").value == pytest.approx(0.7)
    assert len(store.list_runs(limit=2)) == 2


def test_bad_url_gives_clear_error() -> None:
    with pytest.raises(StoreError, match="SQLAlchemy URL"):
        open_store("notadb://x")


def test_migrations_upgrade_an_existing_database_keeping_its_runs(store_url: str) -> None:
    from alembic import command

    import workbench.store as store_pkg

    engine = store_pkg.make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_migrate._config(conn), "0001")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO wb_runs (id, status, dataset_name, seed, source, stages, versions,"
                " created_at) VALUES ('old', 'succeeded', 'iris', 1, 'cli', '[]', '{}', "
                ":now)"
            ),
            {"now": utcnow()},
        )
    assert _migrate.current_revision(engine) == "0001"
    store = open_store(store_url)
    assert _migrate.current_revision(store.engine) == _migrate.head_revision()
    assert store.get_run("old").status is RunStatus.SUCCEEDED
    assert "batch_id" in {c["name"] for c in sa.inspect(store.engine).get_columns("wb_runs")}


# -- registry ---------------------------------------------------------------------------------


def _version(store, run_id: str = "r1"):
    return store.register_version(
        run_id,
        family="logreg",
        task="classification",
        dataset_fingerprint="f" * 64,
        model_path="/m/model.skops",
        sha256="a" * 64,
        size=10,
        metrics={"roc_auc": {"value": 0.9}},
    )


def test_versions_register_once_per_run(store_url: str) -> None:
    store = open_store(store_url)
    _new_run(store, "r1")
    _new_run(store, "r2")
    v1 = _version(store, "r1")
    assert _version(store, "r1") == v1  # idempotent per run
    v2 = _version(store, "r2")
    assert (v1.version, v2.version) == (1, 2) and v1.ref == "v1"
    assert [v.version for v in store.list_versions()] == [2, 1]
    assert store.version_of_run("r2") == v2 and store.get_version(3) is None
    assert v1.metrics == {"roc_auc": {"value": 0.9}} and v1.created_at.tzinfo is not None


def test_alias_moves_through_the_guard_and_are_audited(store_url: str) -> None:
    store = open_store(store_url)
    for r in ("r1", "r2"):
        _new_run(store, r)
    v1, v2 = _version(store, "r1"), _version(store, "r2")
    seen = []

    def allow(holder, holder_run, latest):
        seen.append((holder, holder_run, latest))
        return "because", holder is not None

    first = store.move_alias("champion", v1, actor="ann", guard=allow)
    assert first is not None and first.from_version is None and first.to_run == "r1"
    assert store.alias_run("champion") == "r1"
    assert store.move_alias("champion", v1, actor="ann", guard=allow) is None  # no change

    def refuse(holder, holder_run, latest):
        raise RuntimeError("hold")

    with pytest.raises(RuntimeError):
        store.move_alias("champion", v2, actor="bob", guard=refuse)
    assert store.alias_run("champion") == "r1"  # the refused move left nothing behind

    moved = store.move_alias("champion", v2, actor="bob", guard=allow)
    assert moved is not None and moved.forced and (moved.from_run, moved.to_run) == ("r1", "r2")
    assert seen[-1] == (1, "r1", None)  # the guard saw the holder and no comparison
    trail = store.audit_trail("champion")
    assert [(e.from_version, e.to_version, e.actor) for e in trail] == [
        (None, 1, "ann"),
        (1, 2, "bob"),
    ]
    assert store.list_versions()[0].aliases == ("champion",)


# -- evidence ---------------------------------------------------------------------------------


def test_comparisons_round_trip_and_feed_the_alias_guard(store_url: str) -> None:
    from workbench.store import ComparisonRecord

    store = open_store(store_url)
    for r in ("r1", "r2"):
        _new_run(store, r)
    for i, decision in enumerate(("hold", "promote")):
        store.add_comparison(
            ComparisonRecord(
                id=f"cmp-2026010{i}-000000-abcdef",
                candidate_run="r2",
                baseline_run="r1",
                decision=decision,
                record={"decision": decision, "reasons": ["x"]},
                created_at=utcnow(),
            )
        )
    latest = store.list_comparisons()[0]
    assert latest.decision == "promote" and latest.record["reasons"] == ["x"]
    assert store.get_comparison("cmp-20260100").decision == "hold"
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get_comparison("cmp-2026")
    store.set_comparison_report(latest.id, "/r/cmp.html")
    assert store.get_comparison(latest.id).report_path == "/r/cmp.html"

    v1, v2 = _version(store, "r1"), _version(store, "r2")
    store.move_alias("champion", v1, actor="a", guard=lambda *a: ("first", False))
    got = []
    store.move_alias(
        "champion", v2, actor="a", guard=lambda h, r, c: got.append(c) or ("ok", False)
    )
    assert got[0].id == latest.id  # the latest comparison of candidate vs holder


def test_a_comparison_against_the_holders_model_rescored_feeds_the_alias_guard(
    store_url: str,
) -> None:
    from workbench.store import AUTOMATIC_ACTOR, ComparisonRecord

    store = open_store(store_url)
    for r in ("r1", "r2", "r1-again", "other"):
        _new_run(store, r)

    def compare(cid: str, baseline: str, rescores: str | None, at: int) -> None:
        record = {"decision": "promote", "baseline": {"run_id": baseline, "rescores": rescores}}
        at_time = utcnow() + timedelta(seconds=at)
        store.add_comparison(
            ComparisonRecord(cid, "r2", baseline, "promote", record, created_at=at_time)
        )

    compare("cmp-20260101-000000-aaaaaa", "r1-again", "r1", 0)  # r1's model on other rows
    compare("cmp-20260101-000001-bbbbbb", "other", "somebody-else", 1)  # not about r1
    store.move_alias("champion", _version(store, "r1"), actor="a", guard=lambda *a: ("1", False))
    got = []
    event = store.move_alias(
        "champion", _version(store, "r2"), actor=f"{AUTOMATIC_ACTOR} (as a)",
        guard=lambda h, r, c: got.append(c) or ("ok", False),
    )  # fmt: skip
    assert got[0] is not None and got[0].id == "cmp-20260101-000000-aaaaaa"
    assert event is not None and event.automatic and event.comparison_id == got[0].id
    assert store.audit_trail("champion")[-1].automatic
    assert not store.audit_trail("champion")[0].automatic


def test_releases_round_trip(store_url: str) -> None:
    from workbench.store import ReleaseRecord

    store = open_store(store_url)
    rec = ReleaseRecord(
        id="rel-20260101-000000-abcdef",
        run_id=None,
        bundle="/b/bundle",
        passed=False,
        record={"bundle": "/b/bundle", "failures": ["p99"]},
        created_at=utcnow(),
    )
    store.add_release(rec)
    got = store.get_release("rel-")
    assert (got.bundle, got.passed, got.record["failures"]) == ("/b/bundle", False, ["p99"])
    store.set_release_report(rec.id, "/r/rel.html")
    assert store.list_releases(limit=1)[0].report_path == "/r/rel.html"


# -- batches ----------------------------------------------------------------------------------


def test_batches_lifecycle(store_url: str) -> None:
    store = open_store(store_url)
    store.add_batch("batch-1", grid={"name": "g", "runs": [{"run_id": "r1"}]}, executor="local")
    b = store.get_batch("batch-1")
    assert b.status is RunStatus.RUNNING and b.run_ids == ["r1"] and b.name == "g"
    store.beat_batch("batch-1")
    assert "heartbeat_at" in store.get_batch("batch-1").summary
    assert store.mark_stale_batches(3600, reason="dead") == []
    store.finish_batch("batch-1", status=RunStatus.SUCCEEDED, summary={"n": 1}, report_path="/p")
    done = store.list_batches()[0]
    assert (done.status, done.summary, done.report_path) == (RunStatus.SUCCEEDED, {"n": 1}, "/p")
    assert done.finished_at is not None


# -- paths and moves ----------------------------------------------------------------------------


def _raw(store, sql: str) -> list:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_paths_under_the_artifact_root_are_stored_relative(store_url: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = open_store(store_url, root=root)
    _new_run(store)
    inside = root / "runs" / "r1" / "model.skops"
    store.log_artifact("r1", ArtifactRecord("model", "model", str(inside), "a" * 64, 1))
    store.log_artifact("r1", ArtifactRecord("data", "csv", "/elsewhere/d.csv", "b" * 64, 1))
    store.start_stage("r1", "explore", output_path=str(root / "runs/r1/01.ipynb"))
    stored = dict(_raw(store, "SELECT name, path FROM wb_artifacts"))
    assert stored == {"model": "runs/r1/model.skops", "data": "/elsewhere/d.csv"}
    assert store.get_run("r1").artifact("model").path == str(inside)

    moved = open_store(store_url, root=tmp_path / "moved")  # the same records, another root
    run = moved.get_run("r1")
    assert run.artifact("model").path == str(tmp_path / "moved/runs/r1/model.skops")
    assert run.artifact("data").path == "/elsewhere/d.csv"
    assert run.stages[0].output_path == str(tmp_path / "moved/runs/r1/01.ipynb")


def test_an_older_workspace_gets_relative_paths_when_opened(tmp_path: Path, monkeypatch) -> None:
    from workbench.store import open_workspace

    monkeypatch.delenv("WORKBENCH_ARTIFACTS", raising=False)
    ws, _ = open_workspace(tmp_path / "ws", create=True)
    old = open_store(ws.db_url)  # as older versions did: no root, absolute paths
    _new_run(old)
    old.log_artifact("r1", ArtifactRecord("model", "model", str(ws.runs_dir / "m"), "a" * 64, 1))
    assert _raw(old, "SELECT path FROM wb_artifacts") == [(str(ws.runs_dir / "m"),)]
    _, store = open_workspace(ws.root)
    assert _raw(store, "SELECT path FROM wb_artifacts") == [("runs/m",)]
    assert store.get_run("r1").artifact("model").path == str(ws.runs_dir / "m")


def test_overlong_or_empty_ids_are_refused_cleanly(store_url: str) -> None:
    store = open_store(store_url)
    for ref in ("x" * 50_000, "", "   "):
        with pytest.raises(RunNotFound, match="not a run id"):
            store.get_run(ref)


def _open_new_store(url: str, barrier) -> None:
    barrier.wait(timeout=60)
    open_store(url).list_runs()


def test_processes_opening_a_new_store_at_once_all_succeed(store_url: str) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_open_new_store, args=(store_url, barrier)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4
    assert _migrate.current_revision(open_store(store_url).engine) == _migrate.head_revision()


# -- edge inventory -----------------------------------------------------------------------------


def _pin(version: int):
    from workbench.store import ModelPin

    return ModelPin(version, f"v{version}", f"run-{version}", f"{version:x}" * 64)


def test_devices_round_trip_with_their_history(store_url: str) -> None:
    store = open_store(store_url)
    added = store.add_device("kiosk-01", group="pilot", model=_pin(1), note="installed", actor="a")
    assert added is not None and added.model == _pin(1) and not added.hold
    assert added.added_at.tzinfo is not None and added.added_at == added.updated_at
    assert store.add_device("kiosk-01", group="other", model=None) is None  # name taken
    assert store.get_device("kiosk-01") == added  # unchanged
    store.add_device("kiosk-02", group="pilot", model=None, hold=True)
    store.add_device("store-01", group="stores", model=_pin(1))
    [moved] = store.set_device_model(_pin(2), names=["kiosk-01"], note="wave 1", actor="b")
    assert moved.model == _pin(2) and moved.updated_at >= moved.added_at
    assert [(h.from_ref, h.ref, h.note, h.actor) for h in moved.history] == [
        (None, "v1", "installed", "a"),
        ("v1", "v2", "wave 1", "b"),
    ]
    group = store.set_device_model(_pin(3), group="pilot", hold=False)
    assert [(d.name, d.model.ref, d.hold) for d in group] == [
        ("kiosk-01", "v3", False),
        ("kiosk-02", "v3", False),
    ]
    assert store.set_device_model(_pin(3), group="nowhere") == []
    assert store.set_device_model(_pin(3), names=["nobody"]) == []
    listed = store.list_devices()
    assert [(d.group, d.name) for d in listed] == [
        ("pilot", "kiosk-01"),
        ("pilot", "kiosk-02"),
        ("stores", "store-01"),
    ]
    assert listed[0] == store.get_device("kiosk-01") and len(listed[0].history) == 3
    assert [d.name for d in store.list_devices(group="stores")] == ["store-01"]
    assert store.get_device("kiosk") is None  # names are exact, not prefixes
    removed = store.remove_device("kiosk-02", actor="c")
    assert removed is not None and removed.name == "kiosk-02" and len(removed.history) == 2
    assert store.remove_device("kiosk-02") is None
    changes = store.device_changes("kiosk-02")
    assert [(h.from_ref, h.ref, h.note, h.actor) for h in changes][-1] == (
        "v3",
        None,
        "removed",
        "c",
    )
    assert [d.name for d in store.list_devices()] == ["kiosk-01", "store-01"]
    again = store.add_device("kiosk-02", group="pilot", model=None)  # a new device, a new history
    assert again is not None and [h.note for h in again.history] == ["added"]


def test_a_group_change_is_all_or_nothing(store_url: str, monkeypatch) -> None:
    from workbench.store import _inventory

    store = open_store(store_url)
    for name in ("a", "b"):
        store.add_device(name, group="pilot", model=_pin(1))
    before = store.list_devices()
    calls = []
    real = _inventory._change

    def fail_on_second(*args, **kw):  # the second device's history row cannot be written
        calls.append(args)
        if len(calls) == 2:
            raise sa.exc.IntegrityError("INSERT", {}, Exception("disk full"))
        return real(*args, **kw)

    monkeypatch.setattr(_inventory, "_change", fail_on_second)
    with pytest.raises(StoreError, match="disk full"):
        store.set_device_model(_pin(2), group="pilot")
    assert store.list_devices() == before  # device "a" was not moved either


def test_edge_packages_round_trip_with_relative_paths(store_url: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = open_store(store_url, root=root)
    assert store.edge_package("v1") is None
    store.add_edge_package("v1", run_id="run-1", path=root / "edge" / "v1", sha256="a" * 64)
    store.add_edge_package("v1", run_id="run-1", path="/elsewhere/v1", sha256="b" * 64)
    latest = store.edge_package("v1")
    assert latest.path == "/elsewhere/v1" and latest.sha256 == "b" * 64
    assert [p.sha256 for p in store.list_edge_packages()] == ["b" * 64, "a" * 64]
    assert sorted(_raw(store, "SELECT path FROM wb_edge_packages")) == [
        ("/elsewhere/v1",),
        ("edge/v1",),
    ]
    moved = open_store(store_url, root=tmp_path / "moved")
    assert moved.list_edge_packages()[1].path == str(tmp_path / "moved" / "edge" / "v1")


_DEVICE_WORKERS = 4
_DEVICE_STEPS = 6


def _device_worker(url: str, worker: int, barrier) -> None:
    """One process: adds its own devices, moves a shared device and a shared group, and races
    the others to add one device name."""
    store = open_store(url)
    barrier.wait(timeout=60)
    for i in range(_DEVICE_STEPS):
        store.add_device(f"dev-{worker}-{i}", group="fleet", model=_pin(1), actor=f"w{worker}")
        store.set_device_model(_pin(worker + 2), names=["shared"], note=f"w{worker}-{i}")
        store.set_device_model(_pin(worker + 2), group="pilot", note=f"w{worker}-{i}")
        store.add_device("contested", group="race", model=None, actor=f"w{worker}")


def test_processes_adding_and_moving_devices_at_once_lose_nothing(store_url: str) -> None:
    import multiprocessing

    store = open_store(store_url)
    store.add_device("shared", group="solo", model=_pin(1))
    for name in ("p1", "p2"):
        store.add_device(name, group="pilot", model=_pin(1))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(_DEVICE_WORKERS)
    procs = [
        ctx.Process(target=_device_worker, args=(store_url, w, barrier))
        for w in range(_DEVICE_WORKERS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0] * _DEVICE_WORKERS
    devices = {d.name: d for d in store.list_devices()}
    fleet = {f"dev-{w}-{i}" for w in range(_DEVICE_WORKERS) for i in range(_DEVICE_STEPS)}
    assert fleet <= set(devices) and len(devices) == len(fleet) + 4  # + shared, p1, p2, contested
    assert len(store.device_changes("contested")) == 1  # one winner, the others refused
    moves = _DEVICE_WORKERS * _DEVICE_STEPS
    for name in ("shared", "p1", "p2"):
        history = devices[name].history
        assert len(history) == 1 + moves, name
        # Every move starts from what the device ran just before: no change was lost.
        assert all(b.from_ref == a.ref for a, b in pairwise(history))
        assert devices[name].model.ref == history[-1].ref
    assert len(_raw(store, "SELECT id FROM wb_device_changes")) == len(fleet) + 4 + 3 * moves


# -- A/B tests --------------------------------------------------------------------------------


def _abtest(test_id: str, *, root: Path, created: str = "2026-01-01T00:00:00+00:00") -> object:
    """An A/B test record of the shape :meth:`workbench.abtest.ABTest.to_dict` gives, with a
    NaN where nothing was measured (B received no requests)."""
    from workbench.store import ABTestRecord

    nan = float("nan")

    def summary(variant: str, requests: int) -> dict:
        return {
            "variant": variant,
            "role": "served",
            "model_version": f"v{1 if variant == 'A' else 2}",
            "requests": requests,
            "errors": 0,
            "error_rate": 0.0 if requests else nan,
            "p50_ms": 1.5 if requests else nan,
            "p99_ms": 4.0 if requests else nan,
            "metric": "roc_auc",
            "quality": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95} if requests else None,
            "reacted": requests,
            "accepted": requests // 2,
            "acceptance_rate": 0.5 if requests else nan,
            "acceptance_ci": [0.4, 0.6] if requests else [nan, nan],
            "labelled": requests,
        }

    record = {
        "schema": 1,
        "id": test_id,
        "created_at": created,
        "mode": "online",
        "split": 0.5,
        "seed": 2**40,  # seeds are not limited to 32 bits
        "a": {"ref": "champion", "bundle": str(root / "exports/r1-abtest"), "run_id": "r1"},
        "b": {"ref": "/elsewhere/b", "bundle": "/elsewhere/b", "run_id": None},
        "analysis": {
            "variants": {"A": summary("A", 100), "B": summary("B", 0)},
            "mde": {"mde": nan},
            "decision": {"action": "inconclusive", "reasons": ["variant B received no requests"]},
        },
        "notes": [],
    }
    return ABTestRecord.from_record(record, folder=str(root / "abtests" / test_id))


def test_abtests_round_trip_with_variants_prefixes_and_relative_paths(
    store_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "artifacts"
    store = open_store(store_url, root=root)
    store.add_abtest(_abtest("ab-20260101-000000-aaaaaa", root=root))
    store.add_abtest(
        _abtest("ab-20260102-000000-bbbbbb", root=root, created="2026-01-02T00:00:00+00:00")
    )
    newest, oldest = store.list_abtests()
    assert (newest.id, oldest.id) == ("ab-20260102-000000-bbbbbb", "ab-20260101-000000-aaaaaa")
    assert [t.id for t in store.list_abtests(limit=1)] == [newest.id]
    got = store.get_abtest("ab-20260101")
    assert got.seed == 2**40 and got.decision == "inconclusive" and got.created_at.tzinfo
    a, b = got.variants
    assert (a.variant, a.model_version, a.run_id, a.quality, a.acceptance_ci_high) == (
        "A",
        "v1",
        "r1",
        0.9,
        0.6,
    )
    assert (b.requests, b.p99_ms, b.quality, b.acceptance_rate) == (0, None, None, None)
    assert got.record["analysis"]["variants"]["B"]["p99_ms"] is None  # NaN kept as null
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get_abtest("ab-2026")
    with pytest.raises(RunNotFound, match=r"no A/B test 'ab-1999'.*workbench abtest"):
        store.get_abtest("ab-1999")
    with pytest.raises(StoreError, match="already recorded"):
        store.add_abtest(_abtest(got.id, root=root))
    store.set_abtest_report(got.id, root / "reports" / "abtests" / f"{got.id}.html")

    # Paths under the artifact root are kept relative to it, in columns and in the record.
    stored = _raw(store, f"SELECT folder, report_path FROM wb_abtests WHERE id = '{got.id}'")
    assert stored == [(f"abtests/{got.id}", f"reports/abtests/{got.id}.html")]
    bundles = _raw(store, f"SELECT bundle FROM wb_abtest_variants WHERE abtest_id = '{got.id}'")
    assert sorted(bundles) == [("/elsewhere/b",), ("exports/r1-abtest",)]
    moved = open_store(store_url, root=tmp_path / "moved").get_abtest(got.id)
    assert moved.folder == str(tmp_path / "moved" / "abtests" / got.id)
    assert moved.report_path == str(tmp_path / "moved/reports/abtests" / f"{got.id}.html")
    assert moved.record["a"]["bundle"] == str(tmp_path / "moved/exports/r1-abtest")
    assert moved.variant("A").bundle == str(tmp_path / "moved/exports/r1-abtest")
    assert moved.record["b"]["bundle"] == moved.variant("B").bundle == "/elsewhere/b"


def test_abtests_written_at_once_are_all_kept(store_url: str, tmp_path: Path) -> None:
    """Threads recording tests and their reports at once, and importing one test at once (as
    processes opening an older workspace together do): every write lands, none twice."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path / "artifacts"
    store = open_store(store_url, root=root)
    ids = [f"ab-20260101-0000{i:02d}-cccccc" for i in range(8)]

    def record(test_id: str) -> None:
        store.add_abtest(_abtest(test_id, root=root))
        store.set_abtest_report(test_id, root / f"{test_id}.html")
        store.add_abtest(_abtest("ab-20260103-000000-dddddd", root=root), exist_ok=True)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(record, ids))
    listed = store.list_abtests()
    assert sorted(t.id for t in listed) == sorted([*ids, "ab-20260103-000000-dddddd"])
    assert all(len(t.variants) == 2 for t in listed)
    assert all(t.report_path == str(root / f"{t.id}.html") for t in listed if t.id in ids)


# -- monitor reports, windows, retrain decisions, attached records ------------------------------


def _monitor_record(report_id: str, *, created: str = "2026-03-01T12:00:00+00:00", root=None):
    """A monitor record laid out as ``MonitorReport.to_dict`` writes it: three windows of two
    features, the first too short to judge, the last with drift on both (``b`` the worse)."""
    root = Path(root) if root is not None else Path("/elsewhere")
    nan = float("nan")

    def drift(w: int, feature: str, psi: float, status: str) -> dict:
        return {"window": w, "feature": feature, "n": 40, "psi": psi, "statistic": 0.3,
                "p_value": 0.001, "p_adj": 0.002, "test": "ks", "missing": 0.0,
                "out_of_range": 0.0, "status": status}  # fmt: skip

    return {
        "schema": 1,
        "id": report_id,
        "created_at": created,
        "source": {
            "traffic": "log",
            "log": str(root / "logs/p.jsonl"),
            "bundle": "/b/x",
            "labels": None,
            "model_version": "v3",
        },
        "reference": {"source": "bundle", "n_rows": 100, "model_version": "v3"},
        "settings": {"window": 40, "thresholds": {"psi_alert": 0.25}},
        "features": ["a", "b"],
        "task": "classification",
        "windows": [
            {
                "window": i,
                "start_row": 40 * i,
                "end_row": 40 * i + n,
                "n": n,
                "start_ts": f"2026-03-0{i + 1}T00:00:00Z",
                "end_ts": f"2026-03-0{i + 1}T09:00:00Z",
                "n_labelled": 30 if i else 0,
            }
            for i, n in enumerate((10, 40, 40))
        ],
        "drift": [
            *(drift(0, f, 0.9, "too few rows") for f in ("a", "b")),
            drift(1, "a", 0.01, "ok"),
            drift(1, "b", nan, "ok"),
            drift(2, "a", 0.3, "alert"),
            drift(2, "b", 0.8, "alert"),
        ],
        "prediction": [{"window": 2, "n": 40, "psi": 0.4, "status": "alert"}],
        "quality": [
            {"window": 1, "metric": "roc_auc", "value": 0.9, "reference": 0.91, "status": "ok"},
            {"window": 2, "metric": "roc_auc", "value": nan, "status": "too few labels"},
        ],
        "latency": [{"window": 1, "p99_ms": 2.0}, {"window": 2, "p99_ms": 3.5}],
        "notes": ["a note"],
        "report_path": None,
    }


def test_monitor_report_round_trips_with_its_windows_decision_and_records(store_url: str) -> None:
    store = open_store(store_url)
    names = sa.inspect(store.engine).get_table_names()
    for table in ("wb_monitor_reports", "wb_monitor_windows", "wb_retrain_decisions",
                  "wb_monitor_records"):  # fmt: skip
        assert table in names
    record = _monitor_record("mon-20260301-120000-aaaaaa")
    decision = {"action": "retrain", "reasons": ["drift on b"], "cost": None}
    assert store.add_monitor_report(record, decision=decision, records={"retrain": {"rows": 5}})
    store.add_monitor_report(_monitor_record("mon-20260301-120000-aaaabb", created="2026-02-01"))

    got = store.get_monitor_report("mon-20260301-120000-aaaaa")
    assert (got.model_version, got.n_windows, got.n_requests) == ("v3", 3, 90)
    assert got.flagged_features == ("b", "a")  # latest judged window, most drifted first
    assert got.latest_quality["window"] == 1 and got.decision == "retrain"
    assert [(w.window, w.n, w.n_labelled, w.n_alerts) for w in got.windows] == [
        (0, 10, 0, 0), (1, 40, 30, 0), (2, 40, 30, 2),
    ]  # fmt: skip
    assert got.windows[2].start_ts == datetime(2026, 3, 3, tzinfo=UTC)
    assert got.windows[0].prediction is None and got.windows[2].prediction["psi"] == 0.4
    # The whole record comes back as the monitor wrote it; NaN (refused by PostgreSQL's json)
    # comes back as null, times as ISO 8601 with an offset.
    back = got.report_dict()
    for w in back["windows"]:
        w["start_ts"] = w["start_ts"].replace("+00:00", "Z")
        w["end_ts"] = w["end_ts"].replace("+00:00", "Z")
    expected = json.loads(json.dumps(record).replace("NaN", "null"))
    assert back == expected
    assert store.get_retrain_decision(got.id).record == decision
    assert store.get_monitor_record(got.id, "retrain") == {"rows": 5}
    assert store.get_monitor_record(got.id, "other") is None

    listed = store.list_monitor_reports()
    assert [r.id for r in listed] == [got.id, "mon-20260301-120000-aaaabb"]
    assert listed[0].windows is None and listed[1].decision is None
    assert listed[0].summary()["flagged_features"] == ["b", "a"]
    assert len(store.list_monitor_reports(limit=1)) == 1
    with pytest.raises(RunNotFound, match="ambiguous"):
        store.get_monitor_report("mon-20260301-120000-aaaa")
    with pytest.raises(RunNotFound, match="workbench monitor --log"):
        store.get_monitor_report("mon-nope")
    with pytest.raises(StoreError):
        store.add_monitor_report(record)  # ids are unique
    assert not store.add_monitor_report(record, if_missing=True)  # imports: insert if missing


def test_monitor_updates_are_upserts_that_lose_nothing_under_concurrency(store_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = open_store(store_url)
    rid = "mon-20260301-120000-cccccc"
    store.add_monitor_report(_monitor_record(rid))

    def write(i: int) -> None:
        store.attach_monitor_record(rid, f"r{i}", {"i": i})
        store.attach_monitor_record(rid, "shared", {"i": i})
        store.set_retrain_decision(rid, {"action": "wait" if i % 2 else "retrain", "i": i})

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(write, range(12)))
    assert [store.get_monitor_record(rid, f"r{i}") for i in range(12)] == [
        {"i": i} for i in range(12)
    ]
    assert store.get_monitor_record(rid, "shared")["i"] in range(12)  # one whole write won
    final = store.get_retrain_decision(rid)
    assert final.action == ("wait" if final.record["i"] % 2 else "retrain")
    with pytest.raises(RunNotFound, match="no monitor report"):
        store.attach_monitor_record("mon-nope", "x", {})
    with pytest.raises(RunNotFound, match="no monitor report"):
        store.set_retrain_decision("mon-nope", {"action": "wait"})


def test_monitor_paths_are_stored_relative(store_url: str, tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = open_store(store_url, root=root)
    rid = "mon-20260301-120000-dddddd"
    record = _monitor_record(rid, root=root)
    record["report_path"] = str(root / "reports/monitor" / f"{rid}.html")
    store.add_monitor_report(record, notebook_path=root / "monitor" / rid / "07_monitor.ipynb")
    store.attach_monitor_record(rid, "retrain", {"csv": str(root / "retrain/r.csv"), "rows": 1})
    raw = _raw(store, "SELECT report_path, notebook_path, record FROM wb_monitor_reports")[0]
    assert raw[:2] == (f"reports/monitor/{rid}.html", f"monitor/{rid}/07_monitor.ipynb")
    source = (json.loads(raw[2]) if isinstance(raw[2], str) else raw[2])["source"]
    assert (source["log"], source["bundle"]) == ("logs/p.jsonl", "/b/x")  # outside: as given

    moved = open_store(store_url, root=tmp_path / "moved")
    got = moved.get_monitor_report(rid)
    assert got.report_path == str(tmp_path / "moved/reports/monitor" / f"{rid}.html")
    assert got.record["source"]["log"] == str(tmp_path / "moved/logs/p.jsonl")
    assert moved.get_monitor_record(rid, "retrain")["csv"] == str(tmp_path / "moved/retrain/r.csv")
    moved.set_monitor_report_paths(rid, report_path=tmp_path / "moved/reports/x.html")
    assert store.get_monitor_report(rid, windows=False).report_path == str(root / "reports/x.html")
