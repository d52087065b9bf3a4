"""CLI commands for A/B tests and the edge inventory: ``abtest``, ``abtests`` and the
``inventory`` group (``add-device``, ``set``, ``remove``, ``show``, ``export-edge``,
``verify-edge``).

They parse and delegate to :mod:`workbench.abtest` and :mod:`workbench.inventory`; errors are
:class:`~workbench.exceptions.WorkbenchError` subclasses that the main CLI prints without a
traceback. Wire them into the main group with :func:`register_commands`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from ._paths import AbsolutePath, DatasetRef

__all__ = ["COMMANDS", "abtest_cmd", "abtests_cmd", "inventory_group"]

# The same options as workbench.cli's (that module imports this one, so they are not shared).
_PROBABILITY = click.FloatRange(0, 1)


# -- abtest ---------------------------------------------------------------------------------------


@click.command("abtest")
@click.option(
    "--a",
    "a_ref",
    required=True,
    help="Variant A, the running model: alias, vN, run id or bundle folder.",
)
@click.option("--b", "b_ref", required=True, help="Variant B, the candidate (same forms).")
@click.option(
    "--mode",
    type=click.Choice(["online", "shadow"]),
    default="online",
    show_default=True,
    help="online: split by a hash of the request key; shadow: A answers, B is mirrored.",
)
@click.option(
    "--split",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Share of requests routed to B (online).",
)
@click.option(
    "--requests",
    "-n",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Requests to replay.",
)
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Seeds traffic, users and bootstrap."
)
@click.option(
    "--stream-csv",
    type=AbsolutePath(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Replay this CSV of requests instead of a synthetic stream (with --target for labels).",
)
@click.option(
    "--target", default=None, help="Label column of --stream-csv (or of a CSV --dataset)."
)
@click.option(
    "--dataset",
    type=DatasetRef(),
    default=None,
    help="Resample this dataset instead of the runs' held-out test rows.",
)
@click.option(
    "--p-right",
    type=_PROBABILITY,
    default=0.6,
    show_default=True,
    help="Simulated users accept a right answer with this probability.",
)
@click.option(
    "--p-wrong",
    type=_PROBABILITY,
    default=0.2,
    show_default=True,
    help="... and a wrong one with this probability.",
)
@click.option(
    "--patience-ms",
    type=click.FloatRange(0, min_open=True),
    default=1000.0,
    show_default=True,
    help="Users leave answers slower than this.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level (two-sided).",
)
@click.option(
    "--n-boot",
    type=click.IntRange(100, 100_000),
    default=1000,
    show_default=True,
    help="Bootstrap resamples.",
)
@click.option(
    "--mirror",
    type=click.Choice(["deferred", "background"]),
    default="deferred",
    show_default=True,
    help="shadow: send B's copy between requests (clean latencies) or from a thread.",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(0, 3600, min_open=True),
    default=300.0,
    show_default=True,
    help="Stop replaying after this long.",
)
@click.option("--no-report", is_flag=True, help="Skip the HTML report (notebook 06).")
@click.option(
    "--reviewer",
    is_flag=True,
    default=None,
    help="Hide code cells in the HTML report [default: the workspace's reports.toml].",
)
@click.option("--fail-on-keep-a", is_flag=True, help="Exit 1 when the decision is keep_a (CI).")
@workspace_option
@json_option
def abtest_cmd(**opts: Any) -> None:
    """A/B-test two models on real stubs: quality, latency and simulated users; a decision.

    \b
    Serves --a and --b from their bundles on 127.0.0.1 (exported when needed) and replays a
    seeded stream of held-out rows (or --stream-csv). online: each request key goes to B when
    its hash falls below --split, always the same variant for the same key. shadow: every
    caller gets A's answer while B's answer and latency are only recorded. Reports per variant
    the headline metric on the delayed labels (95% CI), p50/p99 latency, error rate and the
    acceptance rate of simulated users; B − A with CIs and p-values; the minimum detectable
    effect; and SHIP_B, KEEP_A or INCONCLUSIVE with the reasons. Records the test in the store
    (`workbench abtests` lists it), its per-request rows in abtests/<id>/ and the report in
    reports/abtests/<id>.html.
    """
    from ..abtest import UserModel, run_abtest

    ws, store = open_ws(opts["workspace"])
    users = UserModel(
        p_right=opts["p_right"],
        p_wrong=opts["p_wrong"],
        patience_ms=opts["patience_ms"],
        seed=opts["seed"],
    )
    test = run_abtest(
        ws,
        store,
        opts["a_ref"],
        opts["b_ref"],
        mode=opts["mode"],
        split=opts["split"],
        requests=opts["requests"],
        seed=opts["seed"],
        stream_csv=opts["stream_csv"],
        target=opts["target"],
        dataset=opts["dataset"],
        users=users,
        alpha=opts["alpha"],
        n_boot=opts["n_boot"],
        mirror=opts["mirror"],
        max_seconds=opts["max_seconds"],
        report=not opts["no_report"],
        reviewer=opts["reviewer"],
    )
    if not opts["no_report"]:
        refresh_index(ws, store)
    if opts["as_json"]:
        print_json(test.to_dict())
    else:
        _render_test(test)
    if opts["fail_on_keep_a"] and test.decision.action == "keep_a":
        click.get_current_context().exit(1)


def _render_test(test: Any) -> None:
    console = out_console()
    colour = {"ship_b": "green", "keep_a": "red"}.get(test.decision.action, "yellow")
    for line in test.summary_lines():
        if line.strip().startswith("decision:"):
            console.print(f"  decision: [bold {colour}]{test.decision.action.upper()}[/]")
        else:
            console.print(line, highlight=False, markup=False)
    if test.report_path:
        console.print(f"report: {test.report_path}", highlight=False, markup=False)


@click.command("abtests")
@workspace_option
@json_option
def abtests_cmd(workspace: str | None, as_json: bool) -> None:
    """List the stored A/B tests, newest first."""
    from rich.table import Table

    from ..abtest import list_abtests

    _, store = open_ws(workspace)
    tests = list_abtests(store)
    if as_json:
        print_json([t.to_dict() for t in tests])
        return
    if not tests:
        click.echo("no A/B tests yet; `workbench abtest --a REF --b REF` runs one")
        return
    table = Table(box=None, header_style="bold")
    for col in ("test", "mode", "A", "B", "requests", "decision"):
        table.add_column(col)
    for t in tests:
        mode = t.mode if t.mode == "shadow" else f"online {t.split:.0%}"
        table.add_row(
            t.id, mode, t.label("A"), t.label("B"), str(t.traffic.get("sent")), t.decision.action
        )
    out_console().print(table)


# -- inventory ------------------------------------------------------------------------------------


@click.group("inventory")
def inventory_group() -> None:
    """Edge devices: which model version runs where, what is outdated, the update plan.

    \b
    Devices live in the workspace's store (a team's shared WORKBENCH_DB_URL too) with the
    history of every change: from, to, who, when and why.
    `show` judges each device against the champion and plans the updates in waves, one group
    at a time, smallest group first; devices on --hold are left alone. `export-edge` writes a
    model's ONNX file with its manifest for on-device runtimes.
    """


@inventory_group.command("add-device")
@click.argument("name")
@click.option(
    "--group", "-g", default="default", show_default=True, help="Devices updated together."
)
@click.option(
    "--model", "-m", "model", default=None, help="The version it runs: alias, vN or run id."
)
@click.option("--hold", is_flag=True, help="Keep it on its version; plans skip it.")
@click.option("--note", default="", help="Why (kept in the device's history).")
@workspace_option
@json_option
def add_device_cmd(
    name: str,
    group: str,
    model: str | None,
    hold: bool,
    note: str,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Add a device (or a stand-in for identical devices) to the inventory."""
    from ..inventory import add_device

    _, store = open_ws(workspace)
    device = add_device(store, name, group=group, model=model, hold=hold, note=note)
    if as_json:
        print_json(device.to_dict())
        return
    runs = device.model.ref if device.model else "no model recorded"
    click.echo(f"added {device.name} (group {device.group}): {runs}")


@inventory_group.command("set")
@click.argument("name", required=False)
@click.option("--group", "-g", default=None, help="Set every device of this group instead.")
@click.option("--model", "-m", "model", required=True, help="The version it now runs.")
@click.option("--hold/--no-hold", default=None, help="Put on hold, or release the hold.")
@click.option("--note", default="", help="Why (kept in each device's history).")
@workspace_option
@json_option
def set_cmd(
    name: str | None,
    group: str | None,
    model: str,
    hold: bool | None,
    note: str,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Record that a device (or every device of --group) now runs --model."""
    from ..inventory import set_model

    _, store = open_ws(workspace)
    changed = set_model(store, model=model, name=name, group=group, hold=hold, note=note)
    if as_json:
        print_json([d.to_dict() for d in changed])
        return
    for d in changed:
        hold_text = " (on hold)" if d.hold else ""
        click.echo(
            f"{d.name} (group {d.group}) now runs {d.model.ref if d.model else '—'}{hold_text}"
        )


@inventory_group.command("remove")
@click.argument("name")
@workspace_option
def remove_cmd(name: str, workspace: str | None) -> None:
    """Remove a retired device from the inventory."""
    from ..inventory import remove_device

    _, store = open_ws(workspace)
    device = remove_device(store, name)
    click.echo(f"removed {device.name} (group {device.group})")


@inventory_group.command("show")
@click.option(
    "--champion", default="champion", show_default=True, help="The alias devices should run."
)
@click.option(
    "--wave-size",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many devices per wave.",
)
@workspace_option
@json_option
def show_cmd(champion: str, wave_size: int | None, workspace: str | None, as_json: bool) -> None:
    """Devices, their version, outdated ones against the champion, and the update plan."""
    from rich.table import Table

    from ..inventory import inventory_view

    _, store = open_ws(workspace)
    view = inventory_view(store, champion=champion, wave_size=wave_size)
    if as_json:
        print_json(view.to_dict())
        return
    console = out_console()
    if not view.devices:
        console.print("no devices yet; `workbench inventory add-device NAME --model REF` adds one")
        return
    table = Table(box=None, header_style="bold")
    for col in ("device", "group", "model", "since", "status", "detail"):
        table.add_column(col)
    colours = {"current": "green", "outdated": "yellow", "unassigned": "red"}
    for s in view.devices:
        d = s.device
        status = f"[{colours[s.status]}]{s.status}[/]" + (" (hold)" if d.hold else "")
        since = d.to_dict()["updated_at"]
        table.add_row(d.name, d.group, d.model.ref if d.model else "—", since, status, s.detail)
    champ = view.champion.ref if view.champion else "none"
    console.print(f"champion: [bold]{champ}[/]")
    console.print(table)
    for line in view.plan.lines():
        console.print(line, highlight=False, markup=False)


@inventory_group.command("export-edge")
@click.argument("ref")
@click.option(
    "--out",
    "-o",
    required=True,
    type=AbsolutePath(path_type=Path),
    help="Folder for model.onnx and edge-manifest.json.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing edge package at --out.")
@workspace_option
@json_option
def export_edge_cmd(
    ref: str, out: Path, overwrite: bool, workspace: str | None, as_json: bool
) -> None:
    """Write REF's ONNX model with its manifest for on-device runtimes.

    \b
    REF is an alias, vN, run id or bundle folder. The manifest lists the features (names,
    dtypes, ranges), the ONNX inputs and outputs, the output schema and the model's sha256;
    the exported file is checked against the bundle's evidence rows. A model without an ONNX
    copy is refused with the reason recorded in its bundle.
    """
    from ..edge import export_edge

    ws, store = open_ws(workspace)
    package = export_edge(ws, store, ref, out=out, overwrite=overwrite)
    if as_json:
        print_json({"path": str(package.path), **package.manifest})
        return
    check = package.manifest["parity"]["edge_file"]
    parity = (
        "" if check is None else f"; max |Δ| {check['max_abs_diff']:.2g} on {check['rows']} rows"
    )
    click.echo(
        f"edge package of {package.model_version}: {package.path} "
        f"(model.onnx sha256 {package.sha256[:12]}…{parity})"
    )


@inventory_group.command("verify-edge")
@click.argument("folder", type=AbsolutePath(file_okay=False, path_type=Path))
def verify_edge_cmd(folder: Path) -> None:
    """Check an edge package's model against the sha256 in its manifest (exit 2 if it differs)."""
    from ..edge import verify_edge

    data = verify_edge(folder)
    click.echo(
        f"ok: {folder} holds model {data['model_version']} (sha256 {data['model']['sha256'][:12]}…)"
    )


COMMANDS: tuple[click.Command, ...] = (abtest_cmd, abtests_cmd, inventory_group)

for _command in COMMANDS:
    cli.add_command(_command)
