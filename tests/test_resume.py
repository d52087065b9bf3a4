"""Resume: dead runs are swept (stale heartbeat), failed runs reopen under their id, and a batch
killed with SIGKILL mid-search is resumed without duplicate or lost optuna trials."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from workbench.batch import STALE_AFTER_S, STALE_REASON, get_batch, list_batches, mark_stale_runs
from workbench.batch._records import beat_batch, close_interrupted_trials
from workbench.exceptions import StoreError
from workbench.store import ArtifactRecord, MetricRecord, RunStatus, Store, open_store, utcnow
from workbench.store import schema as t

_COUNTER = iter(range(10_000))


@pytest.fixture
def store(store_url: str) -> Store:  # every test here runs on SQLite and PostgreSQL
    return open_store(store_url)


def _run(store: Store, run_id: str, *, source: str = "cli", age_s: float = 0.0) -> None:
    store.create_run(
        run_id,
        dataset_name="iris",
        model_family="rf",
        seed=1,
        stages=[("explore", "01_explore.ipynb"), ("search", "02_search.ipynb")],
        params={"dataset": "iris", "trials": 3},
        source=source,
    )
    store.start_stage(run_id, "explore", output_path="explore.ipynb")
    if age_s:
        with store.engine.begin() as conn:
            conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(heartbeat_at=utcnow() - timedelta(seconds=age_s))
            )


def test_sweep_fails_only_runs_whose_heartbeat_is_stale(store: Store) -> None:
    _run(store, "dead", age_s=STALE_AFTER_S + 30)
    _run(store, "alive", age_s=5)
    _run(store, "lab", source="lab", age_s=3600)  # open in JupyterLab: no heartbeat, not dead
    _run(store, "done", age_s=3600)
    store.finish_run("done", RunStatus.SUCCEEDED)

    assert mark_stale_runs(store) == ["dead"]
    dead = store.get_run("dead")
    assert dead.status is RunStatus.FAILED
    assert dead.error["reason"] == STALE_REASON == "stale heartbeat: process died"
    assert dead.error["last_heartbeat"]
    assert [s.status for s in dead.stages] == [RunStatus.FAILED, RunStatus.SKIPPED]
    assert {r: store.get_run(r).status for r in ("alive", "lab", "done")} == {
        "alive": RunStatus.RUNNING,
        "lab": RunStatus.RUNNING,
        "done": RunStatus.SUCCEEDED,
    }
    assert mark_stale_runs(store) == []  # idempotent
    assert mark_stale_runs(store, older_than_s=1) == ["alive"]


def test_sweep_fails_batches_whose_process_died(store: Store) -> None:
    old = utcnow() - timedelta(seconds=STALE_AFTER_S + 60)
    with store.engine.begin() as conn:
        for batch_id, created in (("batch-dead", old), ("batch-alive", old)):
            conn.execute(
                t.batches.insert().values(
                    id=batch_id, grid={}, executor="local", status="running", created_at=created
                )
            )
    beat_batch(store, "batch-alive")  # its process still records a heartbeat
    mark_stale_runs(store)
    dead, alive = get_batch(store, "batch-dead"), get_batch(store, "batch-alive")
    assert dead.status is RunStatus.FAILED and dead.summary["error"] == STALE_REASON
    assert alive.status is RunStatus.RUNNING


def test_reopen_starts_a_failed_run_again_under_its_id(store: Store) -> None:
    _run(store, "r1")
    store.log_metrics("r1", [MetricRecord("explore", "rows", 150.0)])
    store.log_artifact("r1", ArtifactRecord("split.json", "split", "/x/split.json", "ab" * 32, 9))
    store.finish_run("r1", RunStatus.FAILED, error={"reason": "killed"})
    with pytest.raises(StoreError):
        _run(store, "r1")  # without reopen a duplicate id is refused
    store.create_run(
        "r1",
        dataset_name="iris",
        model_family="rf",
        seed=1,
        stages=[("explore", "01_explore.ipynb"), ("search", "02_search.ipynb")],
        params={"dataset": "iris", "trials": 5},
        batch_id="batch-1",
        reopen=True,
    )
    run = store.get_run("r1")
    assert run.status is RunStatus.RUNNING and run.error is None and run.finished_at is None
    assert [s.status for s in run.stages] == [RunStatus.PENDING, RunStatus.PENDING]
    assert run.params == {"dataset": "iris", "trials": 5}
    assert run.metrics == [] and run.artifact("split.json") is not None
    with store.engine.connect() as conn:
        batch_id = conn.execute(sa.select(t.runs.c.batch_id).where(t.runs.c.id == "r1")).scalar()
    assert batch_id == "batch-1"


def test_interrupted_trials_are_closed_when_a_study_continues(tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=url)
    study.optimize(lambda tr: tr.suggest_float("x", 0, 1), n_trials=2)
    study.ask()  # what a killed process leaves behind: a trial RUNNING forever
    assert close_interrupted_trials(url, "s") == 1
    states = [tr.state for tr in optuna.load_study(study_name="s", storage=url).trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2
    assert close_interrupted_trials(url, "no-such-study") == 0


# -- kill and resume, end to end (slow) ----------------------------------------------------------

# `workbench batch` as its own process, as a user would start it.
_LAUNCH = "import sys; from workbench.cli import main; main(sys.argv[1:])"


def _finished_trials(url: str, study_name: str) -> dict[str, int]:
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=url)
    except KeyError:
        return {}
    counts: dict[str, int] = {}
    for tr in study.get_trials(deepcopy=False):
        counts[tr.state.name] = counts.get(tr.state.name, 0) + 1
    return counts


def _wait_for_search_progress(proc: subprocess.Popen, url: str, db: Path) -> str:
    """The running run's id, once its study has at least one finished trial."""
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.5)
        if not db.exists():
            continue
        with contextlib.suppress(Exception):  # the store may be mid-migration
            runs = open_store(url).list_runs()
            if runs and runs[0].status is RunStatus.RUNNING:
                counts = _finished_trials(url, f"workbench:{runs[0].id}:rf")
                if counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) >= 1:
                    return runs[0].id
    raise AssertionError("the search stage never finished a trial")


def _wait_until_gone(pgid: int, timeout: float = 30.0) -> bool:
    """True once no process of the batch's session is left (its workers died with it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.25)
    return False


@pytest.mark.slow
def test_sigkilled_batch_is_swept_then_resumed_without_lost_or_duplicate_trials(
    tmp_path: Path,
) -> None:
    from workbench.cli import cli

    trials = 6
    grid = tmp_path / "grid.yaml"
    spec = {"datasets": ["iris"], "models": ["rf"], "trials": trials, "stages": ["search"]}
    grid.write_text(yaml.safe_dump(spec))
    ws = tmp_path / "ws"
    db = ws / "workbench.db"
    url = f"sqlite:///{db}"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, "batch", str(grid), "--workers", "1", "-w", str(ws)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so the test can clean up after it
    )
    try:
        run_id = _wait_for_search_progress(proc, url, db)
        proc.kill()  # SIGKILL the batch: no handler runs, nothing is recorded
        proc.wait(timeout=10)
        # The pool worker notices its parent is gone and exits (its kernel follows).
        assert _wait_until_gone(proc.pid), "the batch's worker outlived it"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    name = f"workbench:{run_id}:rf"
    before = _finished_trials(url, name)
    done_before = before.get("COMPLETE", 0) + before.get("PRUNED", 0)
    assert 1 <= done_before < trials, before

    store = open_store(url)
    assert store.get_run(run_id).status is RunStatus.RUNNING  # nobody will finish it
    assert mark_stale_runs(store) == []  # its heartbeat is recent: not yet presumed dead
    time.sleep(1.5)
    assert mark_stale_runs(store, older_than_s=1.0) == [run_id]
    swept = store.get_run(run_id)
    assert swept.status is RunStatus.FAILED and swept.error["reason"] == STALE_REASON
    assert swept.stages[0].status is RunStatus.FAILED
    (killed,) = list_batches(store)
    assert killed.status is RunStatus.FAILED  # the batch's own heartbeat went stale too

    args = ["batch", str(grid), "--resume", "--workers", "1", "-w", str(ws), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (resumed,) = json.loads(result.stdout)["runs"]
    assert resumed["run_id"] == run_id and resumed["status"] == "succeeded"
    after = _finished_trials(url, name)
    assert after.get("COMPLETE", 0) + after.get("PRUNED", 0) == trials  # none lost, none extra
    assert after.get("RUNNING", 0) == 0
    assert after.get("FAIL", 0) == before.get("RUNNING", 0)  # the killed trial, closed
    run = store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    complete = run.metric("trials_complete", "search").value
    assert complete + run.metric("trials_pruned", "search").value == trials

    # Resuming a finished grid runs nothing and says why.
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    (again,) = json.loads(result.stdout)["runs"]
    assert again["status"] == "skipped" and again["run_id"] == run_id
    assert f"already succeeded as run {run_id}" in again["note"]
    assert len(store.list_runs()) == 1
