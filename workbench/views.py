"""Plain-data views of runs for `workbench runs` / `show` / `diff` (JSON) and their terminal
rendering; selecting runs (``--where``, ``--sort``) and the tags and notes people add."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError
from .provenance import current_user
from .store import RunRecord

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "FIELDS",
    "Condition",
    "door_of",
    "headline_metric",
    "note_run",
    "parse_condition",
    "render_diff",
    "render_run",
    "run_detail",
    "run_diff",
    "run_summaries",
    "run_value",
    "select_runs",
    "tag_run",
]

# Searched in order: test metrics first, then the search stage's cross-validated score.
_HEADLINES = (
    ("evaluate", "roc_auc"),
    ("evaluate", "rmse"),
    ("search", "cv_roc_auc"),
    ("search", "cv_rmse"),
)


def headline_metric(run: RunRecord) -> dict[str, Any] | None:
    for stage, name in _HEADLINES:
        m = run.metric(name, stage)
        if m is not None:
            return {"name": name, "stage": stage, **m.to_dict()}
    return None


#: What each recorded ``source`` is called where people read it: the door the run came in by.
_DOORS = {
    "cli": "workbench run",
    "batch": "workbench batch",
    "lab": "JupyterLab",
    "papermill": "papermill",
    "retrain": "retrain",
}


def door_of(run: RunRecord) -> str:
    """Which door made the run: ``workbench run``, ``workbench batch``, ``JupyterLab``, ..."""
    source = "batch" if run.batch_id and run.source == "cli" else run.source
    return _DOORS.get(source, source)


def run_summaries(runs: list[RunRecord]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": r.id,
            "status": r.status.value,
            "dataset": r.dataset_name,
            "model": r.model_family,
            "headline": headline_metric(r),
            "duration_s": r.duration_s,
            "created_at": r.created_at.isoformat(),
            "source": r.source,
            "door": door_of(r),
            "tags": dict(r.tags),
            "notes": [n.text for n in r.notes],
        }
        for r in runs
    ]


# -- selecting runs -----------------------------------------------------------------------------

#: Keys every run has, for --where and --sort.
FIELDS = (
    "id",
    "status",
    "dataset",
    "model",
    "door",
    "source",
    "seed",
    "batch",
    "git",
    "created",
    "duration",
)
_OPERATORS = ("!=", ">=", "<=", "=", ">", "<")
_CONDITION = re.compile(r"\s*([A-Za-z0-9_.:-]+)\s*(!=|>=|<=|=|>|<)(.*)", re.S)


@dataclass(frozen=True)
class Condition:
    """One ``--where`` condition: ``key op value`` (``dataset=wine``, ``roc_auc>=0.95``)."""

    key: str
    op: str
    value: str

    def matches(self, run: RunRecord) -> bool:
        """Whether ``run`` satisfies it; a run without the key never does."""
        actual = run_value(run, self.key)
        if actual is None:
            return False
        a, w = _number(actual), _number(self.value)
        if a is not None and w is not None:
            left: Any = a
            right: Any = w
        else:
            left, right = _text(actual), self.value.strip()
        if self.op == "=":
            return bool(left == right)
        if self.op == "!=":
            return bool(left != right)
        if isinstance(left, str) != isinstance(right, str):
            return False
        return {
            ">": left > right,
            "<": left < right,
            ">=": left >= right,
            "<=": left <= right,
        }[self.op]


def parse_condition(text: str) -> Condition:
    """Read ``KEY=VALUE`` (or ``!=``, ``>=``, ``<=``, ``>``, ``<``).

    Raises:
        ConfigError: the text is not a condition; the message shows the accepted forms.
    """
    m = _CONDITION.fullmatch(text)
    if not m:
        raise ConfigError(
            f"--where {text!r} is not a condition; write KEY=VALUE, KEY!=VALUE or a comparison "
            f"such as roc_auc>=0.9 (operators: {' '.join(_OPERATORS)}); keys are "
            f"{', '.join(FIELDS)}, a metric (roc_auc, search.cv_roc_auc), tag.KEY or param.NAME"
        )
    return Condition(m.group(1), m.group(2), m.group(3).strip())


def run_value(run: RunRecord, key: str) -> Any:
    """The value of ``key`` for ``run``, or ``None`` when it has none.

    A field (:data:`FIELDS`), then ``tag.KEY``, ``param.NAME``, ``metric.NAME`` or
    ``STAGE.METRIC``; a bare name is a field, else a metric (the latest stage's), else a tag,
    else a parameter (parameters need ``list_runs(with_params=True)``).
    """
    fields = {
        "id": run.id,
        "status": run.status.value,
        "dataset": run.dataset_name,
        "model": run.model_family,
        "door": door_of(run),
        "source": run.source,
        "seed": run.seed,
        "batch": run.batch_id,
        "git": run.git_commit,
        "created": run.created_at.isoformat(),
        "duration": run.duration_s,
    }
    if key in fields:
        return fields[key]
    kind, dot, name = key.partition(".")
    if dot:
        if kind == "tag":
            return run.tags.get(name)
        if kind == "param":
            return run.params.get(name)
        if kind == "metric":
            m = run.metric(name)
            return m.value if m is not None else None
        m = run.metric(name, stage=kind)
        if m is not None:
            return m.value
    m = run.metric(key)
    if m is not None:
        return m.value
    if key in run.tags:
        return run.tags[key]
    return run.params.get(key)


def select_runs(
    runs: Sequence[RunRecord],
    *,
    where: Sequence[Condition] = (),
    sort: str | None = None,
    limit: int | None = None,
) -> list[RunRecord]:
    """The runs matching every condition, sorted by ``sort`` (``-key``: descending; runs
    without the key last), at most ``limit`` of them.

    Raises:
        ConfigError: a bare key (not ``tag.``/``param.``-prefixed) that no run has: a typo.
    """
    keys = [c.key for c in where] + ([sort.lstrip("-")] if sort else [])
    for key in keys:
        _check_key(runs, key)
    chosen = [r for r in runs if all(c.matches(r) for c in where)]
    if sort:
        key = sort.lstrip("-")
        have = [r for r in chosen if run_value(r, key) is not None]
        missing = [r for r in chosen if run_value(r, key) is None]
        have.sort(key=lambda r: _sort_key(run_value(r, key)), reverse=sort.startswith("-"))
        chosen = have + missing
    return chosen[:limit] if limit else chosen


def _check_key(runs: Sequence[RunRecord], key: str) -> None:
    if not key or key in FIELDS or key.partition(".")[0] in ("tag", "param") or not runs:
        return
    if any(run_value(r, key) is not None for r in runs):
        return
    metrics = sorted({f"{m.stage}.{m.name}" for r in runs for m in r.metrics})
    tags = sorted({k for r in runs for k in r.tags})
    raise ConfigError(
        f"no run has {key!r}; keys are {', '.join(FIELDS)}, a metric "
        f"({', '.join(metrics[:12]) or 'none recorded'}), a tag "
        f"({', '.join(tags[:12]) or 'none set'}; tag.KEY), or param.NAME"
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _sort_key(value: Any) -> tuple[int, float, str]:
    n = _number(value)
    return (0, n, "") if n is not None else (1, 0.0, _text(value))


# -- tags and notes -----------------------------------------------------------------------------

_TAG_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
MAX_TAG_VALUE = 500
MAX_NOTE = 10_000


def tag_run(
    store: Store, ref: str, assignments: Sequence[str], *, remove: Sequence[str] = ()
) -> dict[str, Any]:
    """Set ``KEY=VALUE`` tags on a run and remove others; returns its tags afterwards.

    Raises:
        ConfigError: nothing to do, a key that is not a word (letters, digits, ``_.:-``), or a
            value longer than :data:`MAX_TAG_VALUE` characters.
        RunNotFound: no such run.
    """
    run_id = store.resolve_run_id(ref)
    if not assignments and not remove:
        raise ConfigError("nothing to tag: give KEY=VALUE (repeatable) or --remove KEY")
    tags: dict[str, str] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"tag {text!r} is not KEY=VALUE (e.g. owner=ana)")
        tags[_tag_key(key)] = value
        if len(value) > MAX_TAG_VALUE:
            raise ConfigError(
                f"tag {key!r} has a value of {len(value)} characters; at most {MAX_TAG_VALUE} "
                "(write longer text with `workbench note`)"
            )
    removed = [_tag_key(k.strip()) for k in remove]
    return {"run_id": run_id, "tags": store.set_tags(run_id, tags, remove=removed)}


def _tag_key(key: str) -> str:
    if not _TAG_KEY.fullmatch(key):
        raise ConfigError(
            f"tag key {key!r} is not usable; use letters, digits, '_', '.', ':' or '-' "
            "(at most 64, not starting with a punctuation mark)"
        )
    return key


def note_run(store: Store, ref: str, text: str, *, author: str | None = None) -> dict[str, Any]:
    """Append a note to a run; returns the note and how many the run has.

    Raises:
        ConfigError: the text is empty or longer than :data:`MAX_NOTE` characters.
        RunNotFound: no such run.
    """
    run_id = store.resolve_run_id(ref)
    text = text.strip()
    if not text:
        raise ConfigError('a note needs text: workbench note RUN "what you want to remember"')
    if len(text) > MAX_NOTE:
        raise ConfigError(f"a note holds at most {MAX_NOTE} characters, got {len(text)}")
    note = store.add_note(run_id, text, author=author or current_user())
    count = len(store.get_run(run_id).notes)
    return {"run_id": run_id, "note": _note(note), "notes": count}


def _note(note: Any) -> dict[str, Any]:
    return {
        "id": note.id,
        "text": note.text,
        "author": note.author,
        "created_at": note.created_at.isoformat(),
    }


def run_detail(run: RunRecord) -> dict[str, Any]:
    metrics: dict[str, dict[str, Any]] = {}
    for m in run.metrics:
        metrics.setdefault(m.stage, {})[m.name] = m.to_dict()
    return {
        "run_id": run.id,
        "status": run.status.value,
        "source": run.source,
        "dataset": {
            "name": run.dataset_name,
            "fingerprint": run.dataset_fingerprint,
            **(
                {
                    "source": run.dataset.source,
                    "target": run.dataset.target,
                    "task": run.dataset.task,
                    "rows": run.dataset.n_rows,
                    "features": run.dataset.features,
                }
                if run.dataset
                else {}
            ),
        },
        "model": run.model_family,
        "seed": run.seed,
        "params": run.params,
        "metrics": metrics,
        "stages": [
            {
                "name": s.name,
                "status": s.status.value,
                "notebook": s.output_path,
                "report": s.report_path,
                "duration_s": s.duration_s,
                "started_at": s.started_at.isoformat() if s.started_at else None,
                "error": s.error,
            }
            for s in run.stages
        ],
        "artifacts": [asdict(a) for a in run.artifacts],
        "git_commit": run.git_commit,
        "versions": run.versions,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_s": run.duration_s,
        "error": run.error,
        "door": door_of(run),
        "batch_id": run.batch_id,
        "tags": dict(run.tags),
        "notes": [_note(n) for n in run.notes],
    }


def render_run(console: Any, d: dict[str, Any]) -> None:
    """Print a run detail as a few rich tables."""
    from rich.table import Table
    from rich.text import Text  # user text (tags, notes) is printed as is, never as markup

    ds = d["dataset"]
    console.print(f"[bold]run {d['run_id']}[/bold]  {d['status']}  ({d['door']})")
    fp = (ds.get("fingerprint") or "-")[:16]
    console.print(f"dataset {ds['name']}  task {ds.get('task', '-')}  fingerprint {fp}…")
    console.print(f"model {d['model']}  seed {d['seed']}  git {d['git_commit'] or '-'}")
    dur = f"{d['duration_s']:.1f}s" if d["duration_s"] is not None else "-"
    console.print(f"created {d['created_at']}  duration {dur}")
    if d["error"]:
        e = d["error"]
        where = f"stage {e.get('stage')} cell {e.get('cell_index')}" if "stage" in e else ""
        console.print(f"[red]error {where}: {e.get('ename', '')} {e.get('evalue', e)}[/red]")
    if d["tags"]:
        console.print(Text("tags " + ", ".join(f"{k}={v}" for k, v in d["tags"].items())))
    for n in d["notes"]:
        console.print(Text(f"note ({n['author']}, {n['created_at'][:16]}): {n['text']}"))

    params = Table("parameter", "value", title="Parameters", box=None, title_justify="left")
    for k, v in sorted(d["params"].items()):
        params.add_row(k, str(v))
    console.print(params)

    metrics = Table(
        "stage", "metric", "value", "95% CI", title="Metrics", box=None, title_justify="left"
    )
    for stage, ms in d["metrics"].items():
        for name, m in ms.items():
            ci = m.get("ci95")
            metrics.add_row(
                stage, name, f"{m['value']:.6g}", f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""
            )
    console.print(metrics)

    stages = Table(
        "stage", "status", "duration", "report", title="Stages", box=None, title_justify="left"
    )
    for s in d["stages"]:
        stages.add_row(
            s["name"],
            s["status"],
            f"{s['duration_s']:.1f}s" if s["duration_s"] is not None else "-",
            s["report"] or "-",
        )
    console.print(stages)

    arts = Table(
        "artifact", "size", "sha256", "path", title="Artifacts", box=None, title_justify="left"
    )
    for a in d["artifacts"]:
        arts.add_row(a["name"], str(a["size"]), a["sha256"][:12], a["path"])
    console.print(arts)
    console.print("versions: " + ", ".join(f"{k} {v}" for k, v in d["versions"].items()))


# -- diff ---------------------------------------------------------------------------------------


def run_diff(a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """Two runs side by side: what they are, their data, parameters, metrics and versions.

    Every row carries both values and ``same``; a metric row also ``delta`` (B minus A) and
    each side's 95% CI when recorded.
    """

    def rows(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"name": k, "a": left.get(k), "b": right.get(k), "same": left.get(k) == right.get(k)}
            for k in sorted(set(left) | set(right))
        ]

    def about(r: RunRecord) -> dict[str, Any]:
        return {
            "status": r.status.value,
            "door": door_of(r),
            "model": r.model_family,
            "seed": r.seed,
            "git_commit": r.git_commit,
            "created_at": r.created_at.isoformat(),
            "duration_s": r.duration_s,
        }

    def data(r: RunRecord) -> dict[str, Any]:
        ds = r.dataset
        return {
            "name": r.dataset_name,
            "fingerprint": r.dataset_fingerprint,
            "target": ds.target if ds else None,
            "task": ds.task if ds else None,
            "rows": ds.n_rows if ds else None,
            "features": ds.n_features if ds else None,
            "source": ds.source if ds else None,
        }

    metrics = []
    names = sorted({(m.stage, m.name) for m in (*a.metrics, *b.metrics)})
    for stage, name in names:
        ma, mb = a.metric(name, stage), b.metric(name, stage)
        metrics.append(
            {
                "stage": stage,
                "name": name,
                "a": ma.to_dict() if ma else None,
                "b": mb.to_dict() if mb else None,
                "delta": mb.value - ma.value if ma and mb else None,
                "same": bool(ma and mb and ma.value == mb.value),
            }
        )
    return {
        "a": a.id,
        "b": b.id,
        "run": rows(about(a), about(b)),
        "dataset": rows(data(a), data(b)),
        "same_data": bool(a.dataset_fingerprint) and a.dataset_fingerprint == b.dataset_fingerprint,
        "params": rows(a.params, b.params),
        "metrics": metrics,
        "versions": rows(a.versions, b.versions),
        "tags": rows(a.tags, b.tags),
    }


def render_diff(console: Any, d: dict[str, Any], *, show_all: bool = False) -> None:
    """Print a :func:`run_diff` as tables; identical parameters and versions are counted, not
    listed, unless ``show_all``."""
    from rich.table import Table
    from rich.text import Text  # values are user text (params, tags): never read as markup

    def fmt(v: Any) -> Text:
        if v is None:
            return Text("-")
        if isinstance(v, float):
            return Text(f"{v:.6g}")
        return Text(str(v))

    def table(title: str, rows: list[dict[str, Any]], *, hide_same: bool) -> None:
        shown = [r for r in rows if show_all or not hide_same or not r["same"]]
        t = Table("", d["a"], d["b"], title=title, box=None, title_justify="left")
        for r in shown:
            style = None if r["same"] else "bold"
            t.add_row(Text(r["name"]), fmt(r["a"]), fmt(r["b"]), style=style)
        hidden = len(rows) - len(shown)
        if shown:
            console.print(t)
        if hidden:
            console.print(f"{title}: {hidden} identical hidden (--all shows them)", style="dim")

    table("Run", d["run"], hide_same=False)
    table("Dataset", d["dataset"], hide_same=False)
    if not d["same_data"]:
        console.print("the datasets differ: the metrics were not measured on the same data")
    table("Parameters", d["params"], hide_same=True)

    def metric(m: dict[str, Any] | None) -> str:
        if m is None:
            return "-"
        ci = m.get("ci95")
        return f"{m['value']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")

    t = Table("metric", d["a"], d["b"], "B - A", title="Metrics", box=None, title_justify="left")
    for m in d["metrics"]:
        delta = f"{m['delta']:+.4f}" if m["delta"] is not None else "-"
        t.add_row(Text(f"{m['stage']}.{m['name']}"), metric(m["a"]), metric(m["b"]), delta)
    console.print(t)
    table("Versions", d["versions"], hide_same=True)
    if d["tags"]:
        table("Tags", d["tags"], hide_same=False)
