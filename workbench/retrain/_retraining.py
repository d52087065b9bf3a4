"""Retraining on the recent labelled traffic, and the champion's model evaluated on the same
rows, compared; the gates decide, and with ``promote=True`` a ``promote`` decision moves the
champion alias to the new model (an automatic, audited promotion)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..safehtml import md, md_code

if TYPE_CHECKING:
    from ..compare import Comparison
    from ..config import Workspace
    from ..gates import Gate
    from ..monitor import MonitorInputs, MonitorReport
    from ..registry import Promotion
    from ..store import Store
    from ..traffic import Stream

__all__ = [
    "OUTCOME_RECORD",
    "RetrainOutcome",
    "evaluate_champion_on",
    "outcome_markdown",
    "recent_training_csv",
    "retrain_now",
]

#: Name under which the retraining's outcome is kept with its monitor report.
OUTCOME_RECORD = "retrain"


@dataclass(frozen=True)
class RetrainOutcome:
    """What :func:`retrain_now` did.

    Attributes:
        csv: The recent labelled traffic it trained on.
        rows: Rows in the CSV (after dropping repeats).
        run_id: The new run (the champion's family on the recent data).
        baseline_run_id: The champion's model evaluated on the same rows.
        comparison: The comparison of the two (its decision follows the gates).
        note: What the comparison meant for the registry (promoted, or why not).
        promotion: The automatic promotion, when the comparison decided ``promote`` and
            promotion was asked for; ``None`` otherwise.
    """

    csv: str
    rows: int
    run_id: str
    baseline_run_id: str
    comparison: Comparison
    note: str
    promotion: Promotion | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "csv": self.csv,
            "rows": self.rows,
            "run_id": self.run_id,
            "baseline_run_id": self.baseline_run_id,
            "comparison_id": self.comparison.id,
            "decision": self.comparison.decision,
            "reasons": list(self.comparison.reasons),
            "report_path": self.comparison.report_path,
            "note": self.note,
            "promotion": self.promotion.to_dict() if self.promotion else None,
        }


def outcome_markdown(record: Mapping[str, Any]) -> str:
    """A stored :meth:`RetrainOutcome.to_dict` record as Markdown (notebook 07 shows it)."""
    # A stored record is a file: every value in it is user text here.
    lines = [
        f"**Retrained**: run {md_code(record['run_id'])} on {md(record['rows'])} recent "
        "labelled rows, compared with the champion's model on the same rows "
        f"({md_code(record['baseline_run_id'])}): comparison {md_code(record['comparison_id'])} "
        f"decided **{md(record['decision'])}**.",
        "",
        *[f"- {md(r)}" for r in record.get("reasons") or ()],
        "",
    ]
    event = (record.get("promotion") or {}).get("event")
    if event:
        lines += [
            f"**Promoted automatically**: {md(event['alias'])} v{md(event['from_version'])} → "
            f"v{md(event['to_version'])} at {md(event['at'])} by {md(event['actor'])}, on "
            f"comparison {md_code(event['comparison_id'])}.",
            "",
        ]
    lines.append(f"_{md(record.get('note', ''))}_")
    return "\n".join(lines)


def _recent_start(report: MonitorReport) -> int:
    """First window of the trailing run of windows in alert (drift, prediction or decay)."""
    bad = set(report.drift.loc[report.drift["status"] == "alert", "window"].astype(int))
    bad |= set(report.prediction.loc[report.prediction["status"] == "alert", "window"].astype(int))
    bad |= set(report.quality.loc[report.quality["status"] == "decayed", "window"].astype(int))
    last = report.n_windows - 1
    start = last
    while start - 1 >= 0 and start - 1 in bad and start in bad:
        start -= 1
    return max(start, 0)


def recent_training_csv(
    report: MonitorReport,
    stream: Stream,
    labels: pd.DataFrame | None,
    profile: Mapping[str, Any],
    path: str | Path,
    *,
    min_rows: int = 200,
) -> tuple[Path, int]:
    """Write the recent labelled traffic as a training CSV (features and the target).

    "Recent" starts at the first window of the trailing streak of windows in alert (or the
    last window), extended back window by window until ``min_rows`` labelled rows are in.
    Labels are written as the champion's class values, so both models score the same classes;
    rows repeating earlier features and label are dropped (a resampled stream repeats rows, and
    a repeat on both sides of the new run's split would flatter it).

    Returns:
        The path and the number of rows written.

    Raises:
        DatasetError: No labelled row in the recent traffic.
    """
    from ..exceptions import DatasetError
    from ..traffic import KEY, LABEL, TS

    order = np.argsort(stream.requests[TS].to_numpy(), kind="stable")
    frame = stream.requests.iloc[order].reset_index(drop=True)
    feed = stream.labels if labels is None else labels
    by_key = dict(zip(feed[KEY].astype(str), feed[LABEL], strict=True)) if len(feed) else {}
    y = pd.Series([by_key.get(str(k)) for k in frame[KEY]], dtype=object)
    start_window = _recent_start(report)
    rows = report.windows.set_index("window")
    start = int(rows.loc[start_window, "start_row"]) if len(rows) else 0
    while start_window > 0 and int(y.iloc[start:].notna().sum()) < min_rows:
        start_window -= 1
        start = int(rows.loc[start_window, "start_row"])
    out = frame.iloc[start:].loc[:, list(report.features)].copy()
    target = _target_values(y.iloc[start:], profile)
    out[stream.target] = target.to_numpy()
    out = out[target.notna().to_numpy()].drop_duplicates()
    if out.empty:
        raise DatasetError(
            "no labelled request in the recent traffic; pass --labels FILE with the true "
            "labels (key, label) before retraining"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return path, len(out)


def _target_values(labels: pd.Series, profile: Mapping[str, Any]) -> pd.Series:
    from ..profile import label_index

    if profile.get("task") != "classification" or not profile.get("class_values"):
        return pd.to_numeric(labels, errors="coerce")
    idx = label_index(labels.tolist(), profile)
    values = list(profile["class_values"])
    return pd.Series([None if np.isnan(i) else values[int(i)] for i in idx], dtype=object)


def evaluate_champion_on(
    ws: Workspace,
    store: Store,
    champion: str,
    csv: str | Path,
    *,
    target: str,
    seed: int,
    n_boot: int = 1000,
) -> str:
    """Evaluate the champion's own model on a CSV dataset, recorded as a run.

    The run (source ``retrain``, only an ``evaluate`` stage) loads the CSV with the same seed
    as a new run on it would, so both are evaluated on the same test rows; it keeps a copy of
    the champion's model file (same sha256), the test predictions, metrics and cost metrics,
    which is everything :func:`workbench.compare.compare_runs` pairs.

    Returns:
        The new run id.

    Raises:
        RunNotFound: No such champion.
        ModelError: The champion's model file is missing or changed since it was saved.
    """
    from .._files import new_id, sha256_file
    from ..compare import RESCORES_PARAM
    from ..context import RunContext
    from ..evaluate import evaluate_run
    from ..exceptions import ModelError
    from ..modelio import load_model
    from ..provenance import package_versions
    from ..registry import resolve_ref
    from ..store import ArtifactRecord, RunStatus

    champ = store.get_run(resolve_ref(store, champion))
    art = champ.artifact("model")
    if art is None or not Path(art.path).is_file():
        raise ModelError(f"the champion run {champ.id} has no model file to evaluate")
    run_id = new_id()
    params = {
        "dataset": str(csv),
        "target": target,
        "seed": seed,
        "model": champ.model_family,
        "n_boot": n_boot,
        RESCORES_PARAM: champ.id,  # what makes the comparison evidence against the champion
    }
    store.create_run(
        run_id,
        dataset_name=Path(csv).stem,
        model_family=champ.model_family,
        seed=seed,
        stages=[("evaluate", "03_evaluate.ipynb")],
        params=params,
        source="retrain",
        versions=package_versions(),
    )
    store.start_stage(run_id, "evaluate", output_path="(evaluated in process by workbench.retrain)")
    try:
        ctx = RunContext(workspace=ws, store=store, run_id=run_id, stage="evaluate", params=params)
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        ds, split = ctx.load_data()
        model_path = ctx.run_dir / "model.skops"
        shutil.copyfile(art.path, model_path)
        pipe = load_model(model_path, sha256=art.sha256)  # refuses a changed file
        store.log_artifact(
            run_id,
            ArtifactRecord(
                "model",
                "model",
                str(model_path),
                sha256_file(model_path),
                model_path.stat().st_size,
                "evaluate",
            ),
        )
        evaluate_run(ctx, pipe, ds, split, n_boot=n_boot, seed=seed, model_path=model_path)
    except BaseException as e:
        error = {"reason": f"{type(e).__name__}: {e}"}
        store.finish_stage(run_id, "evaluate", RunStatus.FAILED, error=error)
        store.finish_run(run_id, RunStatus.FAILED, error=error)
        raise
    store.finish_stage(run_id, "evaluate", RunStatus.SUCCEEDED)
    store.finish_run(run_id, RunStatus.SUCCEEDED)
    return run_id


def retrain_now(
    ws: Workspace,
    store: Store,
    report: MonitorReport,
    inputs: MonitorInputs | Stream,
    *,
    labels: pd.DataFrame | None = None,
    profile: Mapping[str, Any] | None = None,
    champion: str = "champion",
    trials: int = 20,
    seed: int = 42,
    n_boot: int = 2000,
    min_rows: int = 200,
    progress: Any = None,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    promote: bool = False,
) -> RetrainOutcome:
    """Retrain on the recent labelled traffic, compare with the champion on those rows, and
    promote the new model when asked and the gates say so.

    Steps: :func:`recent_training_csv` → a run of the champion's model family on that CSV
    (stages search and evaluate, ``trials`` optuna trials) → :func:`evaluate_champion_on`
    the same CSV and seed → :func:`workbench.compare.compare_and_report` (the new run vs the
    champion's evaluation). The comparison's decision follows the gates. With ``promote``
    and a ``promote`` decision, ``champion`` (an alias) moves to the new run's model through
    :func:`workbench.registry.promote` (``automatic=True``): the registry accepts the
    comparison because its baseline re-scored the alias holder's own model file, and the audit
    trail records the move as automatic with the comparison, the time and the reason. The edge
    inventory's update plan targets the champion, so it picks the new version up.

    Args:
        ws: The workspace.
        store: Its store.
        report: The monitor report that recommended retraining.
        inputs: What :func:`workbench.monitor.load_inputs` returned, or the stream itself.
        labels: The labels feed (default the inputs' or the stream's).
        profile: The reference profile (default the inputs'; needed for class values).
        champion: The serving model's reference.
        trials: Optuna trials of the new run.
        seed: Seed of the new run and of the champion's evaluation (same split).
        n_boot: Bootstrap resamples of the evaluations and the comparison.
        min_rows: Labelled rows the recent data should have at least.
        progress: A runner progress sink (the CLI's bars).
        gates: The comparison's gates (default ``templates/gates.yaml``).
        promote: Promote the new model when the comparison decides ``promote``.

    Raises:
        DatasetError: Not enough labelled recent traffic to train on.
        StageFailed: A notebook of the new run failed.
    """
    from ..compare import compare_and_report
    from ..registry import resolve_ref
    from ..runner import Runner, RunRequest

    stream = getattr(inputs, "stream", inputs)
    labels = labels if labels is not None else getattr(inputs, "labels", None)
    profile = profile if profile is not None else getattr(inputs, "profile", {})
    champ = store.get_run(resolve_ref(store, champion))
    csv, rows = recent_training_csv(
        report,
        stream,
        labels,
        profile or {},
        ws.artifact_root / "retrain" / report.id / f"recent-{report.id}.csv",
        min_rows=min_rows,
    )
    target = stream.target
    # No explore stage: retraining needs the model and its evaluation, not another profile.
    request = RunRequest(
        stages=("search", "evaluate"),
        dataset=str(csv),
        target=target,
        model=champ.model_family or "logreg",
        trials=trials,
        seed=seed,
        params={"n_boot": min(n_boot, 1000)},
    )
    outcome = Runner(ws, store, progress=progress).run(request)
    baseline = evaluate_champion_on(
        ws, store, champ.id, csv, target=target, seed=seed, n_boot=min(n_boot, 1000)
    )
    comparison = compare_and_report(
        ws, store, outcome.run_id, baseline, gates=gates, n_boot=n_boot, seed=0
    )
    promotion, note = _promote(store, champion, champ.id, outcome.run_id, comparison, promote)
    note = (
        f"baseline {baseline} is the champion's model ({champ.id}, same sha256) evaluated on "
        f"the recent rows; {note}"
    )
    return RetrainOutcome(str(csv), rows, outcome.run_id, baseline, comparison, note, promotion)


def _promote(
    store: Store,
    champion: str,
    champion_run: str,
    run_id: str,
    comparison: Comparison,
    promote: bool,
) -> tuple[Promotion | None, str]:
    """The automatic promotion of a retrained model, and a sentence on what happened."""
    from ..registry import PromotionRefused, aliases
    from ..registry import promote as move_alias

    by_hand = f"`workbench promote {run_id} --alias {champion}`"
    if comparison.decision != "promote":
        return None, f"comparison {comparison.id} decided {comparison.decision}: not promoted"
    if not promote:
        return None, f"comparison {comparison.id} decided promote; promote it with {by_hand}"
    if champion not in aliases(store):
        return None, (
            f"{champion!r} is not an alias, so there is nothing to move automatically; "
            f"promote it with `workbench promote {run_id} --alias <name>`"
        )
    reason = (
        f"automatic: retrained on recent traffic; comparison {comparison.id} against the "
        f"champion's model (run {champion_run}) re-scored on the same rows decided promote"
    )
    try:
        promotion = move_alias(store, run_id, champion, reason=reason, automatic=True)
    except PromotionRefused as e:  # the alias moved meanwhile, or a newer comparison holds
        return None, f"comparison {comparison.id} decided promote, but the registry refused: {e}"
    return promotion, f"promoted automatically: {promotion.message}"
