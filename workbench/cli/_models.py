"""CLI commands for comparisons and the model registry: ``compare``, ``models``, ``register``,
``promote``. They parse and delegate to :mod:`workbench.compare` and :mod:`workbench.registry`.
A comparison with its page rebuilds the report index, which lists the comparisons, the registry
and the alias audit trail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ._common import (
    SEED,
    cli,
    json_option,
    open_ws,
    out_console,
    print_json,
    refresh_index,
    workspace_option,
)
from ._paths import AbsolutePath

if TYPE_CHECKING:
    pass

__all__ = [
    "COMMANDS",
    "compare_cmd",
    "models_cmd",
    "promote_cmd",
    "register_cmd",
]

# -- compare ------------------------------------------------------------------------------------


@click.command("compare")
@click.argument("candidate")
@click.argument("baseline")
@click.option(
    "--gates",
    "gates_file",
    type=AbsolutePath(dir_okay=False),
    default=None,
    help="Gates YAML file [default: templates/gates.yaml].",
)
@click.option("--n-boot", default=2000, show_default=True, type=int, help="Bootstrap resamples.")
@click.option("--seed", default=0, show_default=True, type=SEED, help="Seed of the bootstrap.")
@click.option(
    "--remeasure",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Time both models again side by side in this process: auto when the runs were timed "
    "in different contexts (process, host, load), always, or never (use what they recorded).",
)
@click.option(
    "--reviewer",
    is_flag=True,
    default=None,
    help="Hide code cells in the HTML report [default: the workspace's reports.toml].",
)
@click.option("--no-report", is_flag=True, help="Record the comparison without the HTML report.")
@click.option("--fail-on-hold", is_flag=True, help="Exit 1 when the decision is hold (for CI).")
@workspace_option
@json_option
def compare_cmd(
    candidate: str,
    baseline: str,
    gates_file: str | None,
    n_boot: int,
    seed: int,
    remeasure: str,
    reviewer: bool | None,
    no_report: bool,
    fail_on_hold: bool,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Compare CANDIDATE with BASELINE on the same test rows, gate it, record a decision.

    \b
    CANDIDATE and BASELINE are run ids (or unique prefixes), versions (v2) or aliases
    (champion). Records each metric for both, delta = candidate − baseline with a paired
    bootstrap 95% CI and p-value, the lift over a trivial baseline (class prior / training
    mean) with its CI, McNemar's test, latency/size deltas and ratios (latency re-timed side by
    side when the runs were timed in different places), every gate's result and the decision
    (promote / hold). The report is notebook 04 executed into
    comparisons/<id>/ and exported to reports/comparisons/<id>.html.
    """
    from ..compare import compare_and_report, compare_runs, get_comparison

    ws, store = open_ws(workspace)
    if no_report:
        comparison = compare_runs(
            ws, store, candidate, baseline, gates=gates_file, n_boot=n_boot, seed=seed,
            remeasure=remeasure,
        )  # fmt: skip
    else:
        comparison = compare_and_report(
            ws, store, candidate, baseline, gates=gates_file, n_boot=n_boot, seed=seed,
            reviewer=reviewer, remeasure=remeasure,
        )  # fmt: skip
        refresh_index(ws, store)
    comparison = get_comparison(store, comparison.id)
    if as_json:
        print_json(comparison.to_dict())
    else:
        _render_comparison(comparison)
    if fail_on_hold and comparison.decision != "promote":
        click.get_current_context().exit(1)


def _render_comparison(c: Any) -> None:
    from rich.table import Table

    console = out_console()
    console.print(
        f"comparison [bold]{c.id}[/]: candidate {c.candidate.label()} vs baseline "
        f"{c.baseline.label()} on {c.dataset['name']} ({c.n_test} test rows)"
    )
    table = Table(box=None, header_style="bold")
    for col in ("metric", "candidate", "baseline", "delta", "95% CI", "ratio", "p", "verdict"):
        table.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    for m in c.metrics:
        ci = "" if m.delta_ci_low is None else f"[{m.delta_ci_low:+.4f}, {m.delta_ci_high:+.4f}]"
        ratio = "" if m.ratio is None else f"×{m.ratio:.3g}"
        if m.ratio is not None and m.ratio_ci_low is not None and m.ratio_ci_high is not None:
            ratio += f" [{m.ratio_ci_low:.3g}, {m.ratio_ci_high:.3g}]"
        table.add_row(
            m.name, _num(m.candidate), _num(m.baseline),
            "" if m.delta is None else f"{m.delta:+.4g}", ci, ratio,
            "" if m.p_value is None else f"{m.p_value:.3g}", _SHORT.get(m.verdict, m.verdict),
        )  # fmt: skip
    console.print(table)
    lifts = [m for m in c.metrics if m.lift is not None]
    if lifts:
        kind = (c.trivial or {}).get("kind", "trivial baseline")
        console.print(f"candidate vs the trivial baseline ({kind}):", highlight=False)
        for m in lifts:
            ci = "" if m.lift_ci_low is None else f" [{m.lift_ci_low:+.4f}, {m.lift_ci_high:+.4f}]"
            console.print(
                f"  {m.name}: {_num(m.candidate)} vs trivial {_num(m.trivial)}, "
                f"lift {m.lift:+.4g}{ci}",
                highlight=False,
            )
    if c.latency:
        console.print(f"latency: {c.latency['measured']} ({c.latency['reason']})", highlight=False)
    for note in c.notes:
        console.print(f"note: {note}", highlight=False)
    if c.mcnemar is not None:
        mc = c.mcnemar
        console.print(
            f"McNemar: only candidate right {mc.candidate_only}, only baseline right "
            f"{mc.baseline_only}, exact p = {mc.p_value:.4g}"
        )
    for g in c.gates:
        mark = {"passed": "[green]pass[/]", "failed": "[red]FAIL[/]"}.get(g.status.value, "skip")
        console.print(f"  {mark}  {g.gate.label}: {g.reason}", highlight=False)
    color = "green" if c.decision == "promote" else "yellow"
    console.print(f"decision: [bold {color}]{c.decision}[/]")
    for r in c.reasons:
        console.print(f"  - {r}", highlight=False)
    if c.report_path:
        console.print(f"report: {c.report_path}", highlight=False)


_SHORT = {"no significant difference": "no sig. diff."}


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.4g}"


# -- registry -----------------------------------------------------------------------------------


@click.command("register")
@click.argument("run_id")
@workspace_option
@json_option
def register_cmd(run_id: str, workspace: str | None, as_json: bool) -> None:
    """Register the model of RUN_ID as a new model version (idempotent)."""
    from ..registry import register_model

    _, store = open_ws(workspace)
    version = register_model(store, run_id)
    if as_json:
        print_json(version.to_dict())
    else:
        click.echo(f"{version.ref}: run {version.run_id} ({version.family}, {version.task})")


@click.command("models")
@click.option("--audit", is_flag=True, help="Show the alias audit trail instead.")
@click.option("--alias", default=None, help="With --audit: only this alias.")
@workspace_option
@json_option
def models_cmd(audit: bool, alias: str | None, workspace: str | None, as_json: bool) -> None:
    """List model versions and their aliases (--audit: every alias change, oldest first)."""
    from ..registry import audit_trail, list_models

    _, store = open_ws(workspace)
    if audit:
        events = audit_trail(store, alias=alias)
        if as_json:
            print_json([e.to_dict() for e in events])
        else:
            _render_audit(events)
        return
    models = list_models(store)
    if as_json:
        print_json([v.to_dict() for v in models])
    else:
        _render_models(models)


def _render_models(models: list[Any]) -> None:
    from rich.table import Table

    if not models:
        out_console().print("no model versions yet; `workbench register RUN_ID` adds one")
        return
    table = Table(box=None, header_style="bold")
    for col in ("version", "aliases", "run", "family", "task", "metric", "size", "registered"):
        table.add_column(col)
    for v in models:
        metric = next(
            (f"{n} {v.metrics[n]['value']:.4f}" for n in ("roc_auc", "rmse") if n in v.metrics),
            "",
        )
        table.add_row(
            v.ref, ", ".join(v.aliases) or "-", v.run_id, v.family or "-", v.task or "-",
            metric, f"{v.size / 1e6:.2f} MB", v.created_at.strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    out_console().print(table)


def _render_audit(events: list[Any]) -> None:
    from rich.table import Table

    if not events:
        out_console().print(
            "no alias changes yet; `workbench promote RUN_ID --alias NAME` makes one"
        )
        return
    table = Table(box=None, header_style="bold")
    for col in ("when", "alias", "from", "to", "who", "forced", "why", "comparison"):
        table.add_column(col)
    for e in events:
        table.add_row(
            e.at.strftime("%Y-%m-%d %H:%M:%S"), e.alias,
            f"v{e.from_version}" if e.from_version is not None else "-",
            f"v{e.to_version}" if e.to_version is not None else "-",
            e.actor, "yes" if e.forced else "no", e.reason, e.comparison_id or "-",
        )  # fmt: skip
    out_console().print(table)


@click.command("promote")
@click.argument("run_id")
@click.option("--alias", required=True, help="Alias to move, e.g. champion or challenger.")
@click.option("--force", is_flag=True, help="Promote even when the comparison says hold.")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
@click.option("--actor", default=None, help="Who is promoting [default: the OS user].")
@workspace_option
@json_option
def promote_cmd(
    run_id: str,
    alias: str,
    force: bool,
    reason: str,
    actor: str | None,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Point ALIAS at the model of RUN_ID, if the latest comparison against its holder allows.

    The run is registered first when needed. Moving an alias that already points elsewhere
    needs a comparison of RUN_ID against the current holder that decided promote
    (`workbench compare RUN_ID ALIAS`); --force overrides a hold and is recorded as forced.
    """
    from ..registry import promote

    _, store = open_ws(workspace)
    result = promote(store, run_id, alias, force=force, actor=actor, reason=reason)
    if as_json:
        print_json(result.to_dict())
    else:
        click.echo(result.message)


COMMANDS: tuple[click.Command, ...] = (compare_cmd, models_cmd, promote_cmd, register_cmd)

for _command in COMMANDS:
    cli.add_command(_command)
