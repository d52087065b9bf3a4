"""Runs at hand: tags and notes in the store (every backend), `runs --where/--sort`, `tag`,
`note`, `diff`, and the index showing door, tags and notes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from workbench.cli import cli
from workbench.exceptions import RunNotFound
from workbench.store import MetricRecord, RunStatus, _migrate, open_store, open_workspace, utcnow

STAGES = [("explore", "01_explore.ipynb"), ("evaluate", "03_evaluate.ipynb")]


def _run(store, run_id: str, **kw) -> None:
    store.create_run(
        run_id,
        dataset_name=kw.get("dataset", "iris"),
        model_family=kw.get("model", "logreg"),
        seed=kw.get("seed", 1),
        stages=STAGES,
        params={"trials": kw.get("trials", 5), "dataset": kw.get("dataset", "iris")},
        versions=kw.get("versions", {"python": "3.11", "numpy": "2.1"}),
        batch_id=kw.get("batch_id"),
    )


# -- store contract -----------------------------------------------------------------------------


def test_tags_are_set_replaced_and_removed(store_url: str) -> None:
    store = open_store(store_url)
    _run(store, "r1")
    assert store.set_tags("r1", {"owner": "ana", "purpose": "baseline"}) == {
        "owner": "ana",
        "purpose": "baseline",
    }
    after = store.set_tags("r1", {"purpose": "candidate", "ticket": ""}, remove=["owner"])
    assert after == {"purpose": "candidate", "ticket": ""}
    assert store.get_run("r1").tags == after
    assert store.list_runs()[0].tags == after
    # Starting the run again (a resumed batch run) keeps what people wrote about it.
    store.create_run(
        "r1", dataset_name="iris", model_family="rf", seed=1, stages=STAGES, params={}, reopen=True
    )
    assert store.get_run("r1").tags == after
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        store.set_tags("nope", {"a": "b"})


def test_notes_are_appended_in_order_with_author_and_time(store_url: str) -> None:
    store = open_store(store_url)
    _run(store, "r1")
    _run(store, "r2")
    first = store.add_note("r1", "looks overfit", author="ana")
    store.add_note("r1", "retrained with more data: fine", author="bo")
    store.add_note("r2", "other run", author="ana")
    notes = store.get_run("r1").notes
    assert [(n.text, n.author) for n in notes] == [
        ("looks overfit", "ana"),
        ("retrained with more data: fine", "bo"),
    ]
    assert notes[0] == first and notes[0].created_at.tzinfo is not None
    listed = {r.id: r.notes for r in store.list_runs()}
    assert len(listed["r1"]) == 2 and [n.text for n in listed["r2"]] == ["other run"]
    with pytest.raises(RunNotFound):
        store.add_note("nope", "x", author="ana")


def test_concurrent_tag_writes_never_fail(store_url: str) -> None:
    store = open_store(store_url)
    _run(store, "r1")
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            for j in range(5):
                store.set_tags("r1", {"owner": f"w{i}", f"k{i}": str(j)})
                store.add_note("r1", f"{i}-{j}", author=f"w{i}")
        except BaseException as e:  # pragma: no cover - what the test looks for
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    run = store.get_run("r1")
    assert run.tags["owner"] in {f"w{i}" for i in range(6)}
    assert {run.tags[f"k{i}"] for i in range(6)} == {"4"} and len(run.notes) == 30


def test_revision_0006_creates_what_the_schema_declares(store_url: str) -> None:
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import workbench.store as store_pkg
    from workbench.store.schema import metadata

    engine = store_pkg.make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_migrate._config(conn), "0002")
        conn.execute(
            sa.text(
                "INSERT INTO wb_runs (id, status, dataset_name, seed, source, stages, versions,"
                " created_at) VALUES ('old', 'succeeded', 'iris', 1, 'cli', '[]', '{}', :now)"
            ),
            {"now": utcnow()},
        )
    store = open_store(store_url)
    assert _migrate.current_revision(store.engine) == _migrate.head_revision()
    assert store.get_run("old").tags == {} and store.get_run("old").notes == []
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    mine = [d for d in diffs if "wb_run_tags" in str(d) or "wb_run_notes" in str(d)]
    assert mine == []


# -- CLI ----------------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Four runs: wine failed twice (two AUCs), wine succeeded, iris succeeded in a batch."""
    ws, store = open_workspace(tmp_path / "ws", create=True)
    _run(store, "20260101-000001-aaaaaa", dataset="wine", model="rf", trials=5)
    _run(store, "20260101-000002-bbbbbb", dataset="wine", model="hgb", trials=20)
    _run(store, "20260101-000003-cccccc", dataset="wine", model="logreg", trials=5)
    _run(
        store,
        "20260101-000004-dddddd",
        dataset="iris",
        batch_id="batch-1",
        versions={"python": "3.11", "numpy": "2.2"},
    )
    aucs = {"aaaaaa": 0.91, "bbbbbb": 0.95, "cccccc": 0.97, "dddddd": 0.99}
    for run in store.list_runs():
        value = aucs[run.id[-6:]]
        store.log_metrics(
            run.id, [MetricRecord("evaluate", "roc_auc", value, value - 0.02, value + 0.01)]
        )
    store.finish_run("20260101-000001-aaaaaa", RunStatus.FAILED, error={"ename": "ValueError"})
    store.finish_run("20260101-000002-bbbbbb", RunStatus.FAILED, error={"ename": "ValueError"})
    store.finish_run("20260101-000003-cccccc", RunStatus.SUCCEEDED)
    store.finish_run("20260101-000004-dddddd", RunStatus.SUCCEEDED)
    store.set_tags("20260101-000003-cccccc", {"owner": "ana"})
    return ws.root


def _ids(out: str) -> list[str]:
    return [r["run_id"][-6:] for r in json.loads(out)]


def test_runs_where_and_sort(runs: Path) -> None:
    w = ("--workspace", str(runs), "--json")
    code, out = invoke("runs", "--where", "dataset=wine", "--where", "status=failed", "--sort",
                       "-roc_auc", *w)  # fmt: skip
    assert code == 0, out
    assert _ids(out) == ["bbbbbb", "aaaaaa"]
    assert _ids(invoke("runs", "--sort", "roc_auc", *w)[1]) == [
        "aaaaaa",
        "bbbbbb",
        "cccccc",
        "dddddd",
    ]
    assert _ids(invoke("runs", "--where", "roc_auc>=0.95", "--where", "dataset!=iris", *w)[1]) == [
        "cccccc",
        "bbbbbb",
    ]
    assert _ids(invoke("runs", "--where", "tag.owner=ana", *w)[1]) == ["cccccc"]
    assert _ids(invoke("runs", "--where", "owner=ana", *w)[1]) == ["cccccc"]  # a bare tag
    assert _ids(invoke("runs", "--where", "trials=20", *w)[1]) == ["bbbbbb"]  # a parameter
    assert _ids(invoke("runs", "--where", "door=workbench batch", *w)[1]) == ["dddddd"]
    assert _ids(invoke("runs", "--sort", "-roc_auc", "--limit", "1", *w)[1]) == ["dddddd"]
    row = json.loads(invoke("runs", "--where", "owner=ana", *w)[1])[0]
    assert row["tags"] == {"owner": "ana"} and row["door"] == "workbench run"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("dataset", "--where 'dataset' is not a condition; write KEY=VALUE"),
        ("roc_acu>0.9", "no run has 'roc_acu'; keys are id, status"),
    ],
)
def test_a_bad_where_says_what_is_accepted(runs: Path, condition: str, message: str) -> None:
    code, out = invoke("runs", "--where", condition, "--workspace", str(runs))
    assert code == 2 and message in out and "Traceback" not in out


def test_tag_and_note_a_run_by_prefix(runs: Path) -> None:
    w = ("--workspace", str(runs))
    code, out = invoke("tag", "20260101-000001", "owner=bo", "purpose=a b=c", *w, "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "run_id": "20260101-000001-aaaaaa",
        "tags": {"owner": "bo", "purpose": "a b=c"},
    }
    code, out = invoke("tag", "20260101-000001", "--remove", "purpose", *w)
    assert code == 0 and out.strip() == "run 20260101-000001-aaaaaa tags: owner=bo"
    for args, message in (
        ((), "nothing to tag"),
        (("owner",), "tag 'owner' is not KEY=VALUE"),
        (("no spaces=1",), "tag key 'no spaces' is not usable"),
    ):
        code, out = invoke("tag", "20260101-000001", *args, *w)
        assert code == 2 and message in out, out
    code, out = invoke("note", "20260101-000001", "  overfit on fold 3  ", *w, "--json")
    assert code == 0, out
    note = json.loads(out)
    assert note["note"]["text"] == "overfit on fold 3" and note["notes"] == 1
    code, out = invoke("note", "20260101-000001", " ", *w)
    assert code == 2 and "a note needs text" in out
    code, out = invoke("note", "nope", "x", *w)
    assert code == 2 and "no run 'nope'" in out
    shown = json.loads(invoke("show", "20260101-000001", *w, "--json")[1])
    assert shown["tags"] == {"owner": "bo"} and shown["notes"][0]["text"] == "overfit on fold 3"
    index = (runs / "reports" / "index.html").read_text()  # rebuilt for reviewers
    assert "owner=bo" in index and "overfit on fold 3" in index


def test_diff_puts_two_runs_side_by_side(runs: Path) -> None:
    w = ("--workspace", str(runs))
    code, out = invoke("diff", "20260101-000003", "20260101-000004", *w, "--json")
    assert code == 0, out
    d = json.loads(out)
    assert (d["a"], d["b"]) == ("20260101-000003-cccccc", "20260101-000004-dddddd")
    params = {r["name"]: r for r in d["params"]}
    assert params["dataset"]["a"] == "wine" and params["dataset"]["b"] == "iris"
    assert params["trials"]["same"] is True
    (auc,) = d["metrics"]
    assert auc["a"] == {"value": 0.97, "ci95": [0.95, 0.98]}
    assert auc["delta"] == pytest.approx(0.02)
    versions = {r["name"]: r for r in d["versions"]}
    assert versions["numpy"]["same"] is False and versions["python"]["same"] is True
    run = {r["name"]: r for r in d["run"]}
    assert run["door"]["a"] == "workbench run" and run["door"]["b"] == "workbench batch"
    assert d["same_data"] is False
    code, text = invoke("diff", "20260101-000003", "20260101-000004", *w)
    assert code == 0
    assert "B - A" in text and "+0.0200" in text and "2.1" in text and "2.2" in text
    assert "Versions: 1 identical hidden (--all shows them)" in text
    assert "python" in invoke("diff", "20260101-000003", "20260101-000004", "--all", *w)[1]


def test_the_index_shows_door_tags_and_notes_escaped(runs: Path) -> None:
    from workbench.reports import build_index

    ws, store = open_workspace(runs)
    store.set_tags("20260101-000004-dddddd", {"why": "<script>alert(1)</script>"})
    store.add_note("20260101-000004-dddddd", "<b>good</b> & fast", author="ana")
    html = build_index(ws, store).read_text()
    assert "<th>Door</th>" in html and "workbench batch" in html and "workbench run" in html
    assert "why=&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "&lt;b&gt;good&lt;/b&gt; &amp; fast — ana" in html
