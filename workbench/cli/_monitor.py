"""CLI commands after release: ``monitor`` and ``retrain-check``.

They parse and delegate to :mod:`workbench.monitor` and :mod:`workbench.retrain`; errors are
:class:`~workbench.exceptions.WorkbenchError` subclasses that the main CLI prints without a
traceback. Wire them into the main group with :func:`register_commands`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ..preflight import TRIALS
from ._common import (
    SEED,
    cli,
    err_console,
    json_option,
    out_console,
    print_json,
    refresh_index,
    workspace_option,
)
from ._paths import AbsolutePath

__all__ = ["COMMANDS", "monitor_cmd", "retrain_check_cmd"]

# The same options as workbench.cli's (that module imports this one, so they are not shared).
_PATH = AbsolutePath(dir_okay=False, path_type=Path)


def _inputs(func: Any) -> Any:
    """The options both commands share: what to monitor and how."""
    options = [
        click.option(
            "--log",
            "log",
            type=_PATH,
            default=None,
            help="Prediction log (JSONL) of a stub, or a CSV of requests "
            "[default: the workspace's newest log of the bundle's model].",
        ),
        click.option(
            "--bundle",
            type=AbsolutePath(file_okay=False, path_type=Path),
            default=None,
            help="Bundle holding the reference profile [default: the bundle in "
            "exports/ whose model wrote the log].",
        ),
        click.option(
            "--labels",
            type=_PATH,
            default=None,
            help="Delayed labels: CSV or JSONL with key (or request_id) and label.",
        ),
        click.option(
            "--window",
            type=click.IntRange(min=1),
            default=250,
            show_default=True,
            help="Requests per window.",
        ),
        click.option("--as-of", default=None, help="Count only labels arrived by this time."),
        click.option(
            "--psi-alert",
            type=click.FloatRange(0, min_open=True),
            default=0.25,
            show_default=True,
            help="PSI of an alert (with a significant test).",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.05,
            show_default=True,
            help="Level of the per-window tests after correction.",
        ),
        click.option(
            "--correction",
            type=click.Choice(["holm", "bh", "none"]),
            default="holm",
            show_default=True,
            help="Multiple-testing correction across features.",
        ),
        click.option(
            "--decay-gate",
            type=click.FloatRange(0, 1, max_open=True),
            default=0.05,
            show_default=True,
            help="Relative loss of the headline metric tolerated.",
        ),
        click.option("--no-report", is_flag=True, help="Skip the HTML report (notebook 07)."),
        click.option(
            "--reviewer",
            is_flag=True,
            default=None,
            help="Hide code cells in the HTML report [default: the workspace's reports.toml].",
        ),
        workspace_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _workspace(workspace: str | None, *, need: bool) -> tuple[Any, Any]:
    """The workspace and store when one exists; required only for reports and retraining."""
    from ..config import resolve_workspace
    from ..store import open_workspace

    if not resolve_workspace(workspace).exists():
        if need:
            resolve_workspace(workspace).require()  # raises the error saying how to make one
        return None, None
    return open_workspace(workspace)


def _thresholds(psi_alert: float, alpha: float, correction: str, decay_gate: float) -> Any:
    from ..monitor import Thresholds

    return Thresholds(
        psi_warn=min(0.1, psi_alert),
        psi_alert=psi_alert,
        alpha=alpha,
        correction=correction,
        decay_gate=decay_gate,
    )


def _run_monitor(ws: Any, opts: dict[str, Any]) -> tuple[Any, Any]:
    from ..monitor import load_inputs, monitor_inputs

    inputs = load_inputs(log=opts["log"], bundle=opts["bundle"], labels=opts["labels"], ws=ws)
    thresholds = _thresholds(
        opts["psi_alert"], opts["alpha"], opts["correction"], opts["decay_gate"]
    )
    report = monitor_inputs(
        inputs, window=opts["window"], thresholds=thresholds, as_of=opts["as_of"]
    )
    return inputs, report


def _publish(
    ws: Any, store: Any, report: Any, decision: Any, opts: dict[str, Any], *, saved: bool = False
) -> Any:
    """Save the report (and decision) unless ``saved``, render it and rebuild the index;
    returns the stored report."""
    from ..monitor import load_report, render_report, save_report

    if ws is None:
        return report
    if not saved:
        save_report(store, report, decision=decision)
    if not opts["no_report"]:
        render_report(ws, store, report.id, reviewer=opts["reviewer"])
        refresh_index(ws, store)
    return load_report(store, report.id)


# -- monitor ------------------------------------------------------------------------------------


@click.command("monitor")
@_inputs
@click.option(
    "--list",
    "list_reports",
    is_flag=True,
    help="List the stored monitor reports, newest first, and exit (other options ignored).",
)
def monitor_cmd(**opts: Any) -> None:
    """Drift, prediction drift, quality decay and latency of a model's traffic, per window.

    \b
    Compares a stub's prediction log (--log) with the reference profile of its bundle
    (--bundle): per feature PSI and a KS test (Holm-corrected), the model's output, the
    headline metric once --labels arrive, p50/p99 latency. Saves the report in the store and
    the HTML report reports/monitor/<id>.html (notebook 07), and prints the retrain
    recommendation (`workbench retrain-check` adds a schedule and --auto). --list lists the
    stored reports.
    """
    from ..retrain import retrain_decision

    if opts["list_reports"]:
        _list_reports(opts)
        return

    ws, store = _workspace(opts["workspace"], need=not opts["no_report"])
    _, report = _run_monitor(ws, opts)
    decision = retrain_decision(report, store=store)
    report = _publish(ws, store, report, decision, opts)
    if opts["as_json"]:
        print_json({"report": report.to_dict(), "decision": decision.to_dict()})
        return
    _render_report(report)
    _render_decision(decision)
    if report.report_path:
        click.echo(f"report: {report.report_path}")


# -- retrain-check ------------------------------------------------------------------------------


@click.command("retrain-check")
@_inputs
@click.option("--champion", default="champion", show_default=True, help="The serving model.")
@click.option(
    "--challenger",
    default="challenger",
    show_default=True,
    help="Alias of a candidate that may beat the champion.",
)
@click.option(
    "--schedule",
    default=None,
    help="Retrain at least this often: weekly, monthly, quarterly, yearly or a "
    "duration such as 14D (seasonal data).",
)
@click.option("--now", "now", default=None, help="Judge the schedule at this time [default: now].")
@click.option("--watch", multiple=True, help="Only drift on this feature counts (repeatable).")
@click.option(
    "--cost-budget",
    type=click.FloatRange(0),
    default=None,
    help="Training seconds above which drift alone does not justify retraining.",
)
@click.option(
    "--auto",
    is_flag=True,
    help="On a retrain decision, train on the recent labelled traffic and compare "
    "with the champion on those rows; the gates decide, and a promote decision moves the "
    "champion alias (audited as automatic) unless --no-promote.",
)
@click.option(
    "--promote/--no-promote",
    default=True,
    show_default=True,
    help="With --auto: promote the new model when the comparison decides promote.",
)
@click.option(
    "--trials",
    type=click.IntRange(*TRIALS),
    default=20,
    show_default=True,
    help="Optuna trials of the retraining run (--auto).",
)
@click.option("--seed", type=SEED, default=42, show_default=True, help="Seed of the retraining.")
@click.option("--fail-on-retrain", is_flag=True, help="Exit 1 when the decision is retrain.")
def retrain_check_cmd(**opts: Any) -> None:
    """Decide whether to retrain the champion: RETRAIN or WAIT, with the reasons and the cost.

    \b
    Checks: drift above the threshold on named features, the model's output drifting,
    quality decayed beyond the gate (with --labels), the --schedule for seasonal data, and a
    challenger whose latest comparison with the champion says promote. Shows the measured
    cost of the champion's last training (wall time of its search stage; CPU seconds when
    recorded). With --auto a retrain decision launches a new run on the recent labelled
    traffic (written to retrain/<report id>/) and compares it with the champion's model on the
    same rows (reports/comparisons/); when the gates say promote, the champion alias moves to
    the new model (`workbench audit` shows it as automatic, with the comparison).
    """
    from ..retrain import retrain_decision

    need = opts["auto"] or not opts["no_report"]
    ws, store = _workspace(opts["workspace"], need=need)
    inputs, report = _run_monitor(ws, opts)
    decision = retrain_decision(
        report,
        store=store,
        champion=opts["champion"],
        challenger=opts["challenger"],
        schedule=opts["schedule"],
        now=_parse_time(opts["now"]),
        watch=opts["watch"] or None,
        cost_budget_s=opts["cost_budget"],
    )
    if ws is not None:  # before retraining: the outcome is kept with the stored report
        from ..monitor import save_report

        save_report(store, report, decision=decision)
    outcome = _auto(ws, store, report, inputs, decision, opts) if opts["auto"] else None
    report = _publish(ws, store, report, decision, opts, saved=ws is not None)
    if opts["as_json"]:
        print_json(
            {
                "decision": decision.to_dict(),
                "report_id": report.id,
                "report_path": report.report_path,
                "retrain": outcome.to_dict() if outcome else None,
            }
        )
    else:
        _render_decision(decision)
        if outcome is not None:
            _render_outcome(outcome)
        if report.report_path:
            click.echo(f"report: {report.report_path}")
    if opts["fail_on_retrain"] and decision.retrain:
        click.get_current_context().exit(1)


def _auto(ws: Any, store: Any, report: Any, inputs: Any, decision: Any, opts: dict) -> Any:
    from ..monitor import attach_record
    from ..retrain import OUTCOME_RECORD, retrain_now

    if not decision.retrain:
        return None
    from ..progress import RichProgress

    with RichProgress(err_console(), label="retrain") as progress:
        outcome = retrain_now(
            ws,
            store,
            report,
            inputs,
            champion=opts["champion"],
            trials=opts["trials"],
            seed=opts["seed"],
            progress=progress,
            promote=opts["promote"],
        )
    attach_record(store, report.id, OUTCOME_RECORD, outcome.to_dict())
    return outcome


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    from ..exceptions import ConfigError

    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise ConfigError(
            f"--now {value!r} is not an ISO 8601 time; e.g. 2026-03-01 or 2026-03-01T12:00+00:00"
        ) from e


# -- output -------------------------------------------------------------------------------------


def _list_reports(opts: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..monitor import list_reports

    _, store = _workspace(opts["workspace"], need=True)
    reports = list_reports(store)
    if opts["as_json"]:
        print_json([r.summary() for r in reports])
        return
    console = out_console()
    if not reports:
        console.print("no monitor report yet; `workbench monitor --log FILE` makes one")
        return
    table = Table(box=None, header_style="bold")
    for col in ("report", "when", "model", "requests / windows", "drifted", "quality", "decision"):
        table.add_column(col, no_wrap=col in ("report", "when"))
    for r in reports:
        q = r.latest_quality or {}
        quality = "—" if q.get("value") is None else f"{q['metric']} {q['value']:.4f}"
        table.add_row(
            r.id,
            f"{r.created_at:%Y-%m-%d %H:%M}",
            escape(r.model_version or "—"),  # model versions and features are user text
            f"{r.n_requests} / {r.n_windows}",
            escape(", ".join(r.flagged_features) or "none"),
            escape(quality),
            r.decision or "—",
        )
    console.print(table)


def _render_report(report: Any) -> None:
    from rich.table import Table

    console = out_console()
    console.print(f"monitor report [bold]{report.id}[/]", highlight=False)
    for line in report.summary_lines():
        console.print(f"  {line}", highlight=False)
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)
    summary = report.feature_summary()
    shown = summary[summary["status"] != "ok"].head(15)
    if shown.empty:
        return
    table = Table(box=None, header_style="bold")
    for col in ("feature", "PSI", "p (corrected)", "status", "worst PSI", "first alert"):
        table.add_column(col, justify="left" if col in ("feature", "status") else "right")
    colors = {"alert": "red", "warn": "yellow"}
    for name, row in shown.iterrows():
        color = colors.get(row["status"], "white")
        first = (
            ""
            if row["first_alert"] is None or str(row["first_alert"]) == "<NA>"
            else (f"w{row['first_alert']}")
        )
        table.add_row(
            str(name),
            f"{row['psi']:.3f}",
            f"{row['p_adj']:.2g}",
            f"[{color}]{row['status']}[/]",
            f"{row['max_psi']:.3f}",
            first,
        )
    console.print(table)


def _render_decision(decision: Any) -> None:
    console = out_console()
    color = "yellow" if decision.retrain else "green"
    console.print(f"decision: [bold {color}]{decision.action}[/]")
    for reason in decision.reasons:
        console.print(f"  - {reason}", highlight=False)
    if decision.cost is not None:
        console.print(f"  cost of the last training: {decision.cost.describe()}", highlight=False)
    for note in decision.notes:
        console.print(f"  note: {note}", highlight=False)


def _render_outcome(outcome: Any) -> None:
    console = out_console()
    c = outcome.comparison
    console.print(
        f"retrained: run {outcome.run_id} on {outcome.rows} recent rows ({outcome.csv}); "
        f"vs the champion's model on them ({outcome.baseline_run_id}): comparison {c.id} "
        f"decided [bold]{c.decision}[/]",
        highlight=False,
    )
    for reason in c.reasons:
        console.print(f"  - {reason}", highlight=False)
    console.print(f"  {outcome.note}", highlight=False)


COMMANDS: tuple[click.Command, ...] = (monitor_cmd, retrain_check_cmd)

for _command in COMMANDS:
    cli.add_command(_command)
