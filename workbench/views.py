"""Plain-data views of runs for `workbench runs` / `show` (JSON) and their terminal rendering."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .store import RunRecord

__all__ = ["headline_metric", "render_run", "run_detail", "run_summaries"]

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
        }
        for r in runs
    ]


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
    }


def render_run(console: Any, d: dict[str, Any]) -> None:
    """Print a run detail as a few rich tables."""
    from rich.table import Table

    ds = d["dataset"]
    console.print(f"[bold]run {d['run_id']}[/bold]  {d['status']}  ({d['source']})")
    fp = (ds.get("fingerprint") or "-")[:16]
    console.print(f"dataset {ds['name']}  task {ds.get('task', '-')}  fingerprint {fp}…")
    console.print(f"model {d['model']}  seed {d['seed']}  git {d['git_commit'] or '-'}")
    dur = f"{d['duration_s']:.1f}s" if d["duration_s"] is not None else "-"
    console.print(f"created {d['created_at']}  duration {dur}")
    if d["error"]:
        e = d["error"]
        where = f"stage {e.get('stage')} cell {e.get('cell_index')}" if "stage" in e else ""
        console.print(f"[red]error {where}: {e.get('ename', '')} {e.get('evalue', e)}[/red]")

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
