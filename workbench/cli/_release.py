"""CLI commands of the release stage: ``export``, ``serve``, ``loadtest``, ``release-check``.

Plain ``click`` commands, added to the main group in ``workbench.cli``. They parse and delegate;
errors are :class:`~workbench.exceptions.WorkbenchError` subclasses that the main CLI prints
without a traceback. Heavy imports happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._common import cli, json_option, open_ws, refresh_index, workspace_option
from ._paths import AbsolutePath, ModelUri

__all__ = [
    "COMMANDS",
    "export_cmd",
    "loadtest",
    "release_check_cmd",
    "serve",
]

# -- export -------------------------------------------------------------------------------------


@click.command("export")
@click.argument("ref", metavar="RUN_ID|MODEL_REF")
@click.option(
    "--mode",
    type=click.Choice(["image", "load"]),
    default="image",
    show_default=True,
    help="image: the model is copied into the image. load: the image holds no model; the stub "
    "fetches it from MODEL_URI at start and verifies its sha256.",
)
@click.option(
    "--out",
    type=AbsolutePath(file_okay=False, path_type=Path),
    default=None,
    help="Bundle folder [default: <workspace>/exports/<run_id>-<mode>].",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle at --out.")
@workspace_option
@json_option
def export_cmd(
    ref: str, mode: str, out: Path | None, overwrite: bool, workspace: str | None, as_json: bool
) -> None:
    """Export the model of a run into a serving bundle.

    \b
    RUN_ID|MODEL_REF is a run id (or unique prefix), a version (v2) or an alias (champion).
    The bundle holds the model (skops, plus ONNX when it converts with parity), manifest.json
    (sha256 of every file, input signature, test metrics, dataset fingerprint, versions),
    requirements.txt, a Dockerfile, the stub's code and the run's test rows as evidence.
    """
    from ..export import export_run

    ws, store = open_ws(workspace)
    manifest = export_run(ws, store, ref, mode=mode, out=out, overwrite=overwrite)  # type: ignore[arg-type]
    data = manifest.data
    if as_json:
        click.echo(json.dumps({"bundle": str(manifest.bundle_dir), **data}, indent=2))
        return
    onnx = data.get("onnx") or {}
    backend = manifest.backend + ("" if onnx.get("available") else f" ({onnx.get('reason')})")
    env = f"MODEL_URI={manifest.bundle_dir / 'model-store'} " if manifest.mode == "load" else ""
    click.echo(
        f"exported run {data.get('run_id')} as {manifest.model_version} to {manifest.bundle_dir}\n"
        f"mode {manifest.mode}, backend {backend}, {len(manifest.files)} files in the manifest\n"
        f"serve it:  {env}workbench serve {manifest.bundle_dir}\n"
        f"check it:  workbench release-check {manifest.bundle_dir}"
    )


@click.command("serve")
@click.argument(
    "bundle", type=AbsolutePath(exists=True, file_okay=False, path_type=Path), metavar="BUNDLE"
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--token",
    envvar="WORKBENCH_STUB_TOKEN",
    default=None,
    help="Bearer token required on all routes but /health (env WORKBENCH_STUB_TOKEN).",
)
@click.option(
    "--model-uri",
    type=ModelUri(),
    default=None,
    help="Where the model files are: folder, file:// or http(s):// URL. A load-mode bundle "
    "falls back to $MODEL_URI.",
)
@click.option(
    "--log",
    "log_path",
    type=AbsolutePath(dir_okay=False, path_type=Path),
    default=None,
    help="Append every prediction to this JSONL file.",
)
@click.option("--max-body-bytes", default=1_000_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--backend",
    type=click.Choice(["auto", "onnx", "skops"]),
    default="auto",
    show_default=True,
    help="auto: ONNX when the bundle has it, else skops.",
)
@click.option(
    "--allowed-hosts",
    envvar="WORKBENCH_STUB_ALLOWED_HOSTS",
    default=None,
    help="Comma-separated Host values answered: name (any port), name:port, or * for any "
    "[default: 127.0.0.1, localhost, [::1] with the serving port]. Guards against DNS rebinding.",
)
@click.option(
    "--max-rps",
    type=click.FloatRange(min=0.001),
    default=None,
    help="Requests per second per worker on every route but /health and /metrics (429 beyond) "
    "[default: off].",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=1024,
    show_default=True,
    help="Open connections per worker; a new one beyond gets 503.",
)
@click.option(
    "--max-header-bytes",
    type=click.IntRange(min=1024),
    default=16_384,
    show_default=True,
    help="Request line plus headers (431 beyond).",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="Seconds for a request's headers to arrive (408 and close beyond).",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds for the body to arrive after the headers (408 and close beyond).",
)
def serve(
    bundle: Path,
    host: str,
    port: int,
    workers: int,
    token: str | None,
    model_uri: str | None,
    log_path: Path | None,
    max_body_bytes: int,
    backend: str,
    allowed_hosts: str | None,
    max_rps: float | None,
    max_connections: int,
    max_header_bytes: int,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """Serve an exported BUNDLE over HTTP until interrupted (Ctrl-C).

    \b
    A HOST other than a loopback address needs a token (the stub refuses to start otherwise).
    """
    from workbench.serving import limits, parse_hosts, run_server

    request_limits = limits(
        max_header_bytes=max_header_bytes,
        header_timeout_s=header_timeout,
        body_timeout_s=body_timeout,
        max_connections=max_connections,
        max_rps=max_rps,
        allowed_hosts=parse_hosts(allowed_hosts),
    )

    def ready(url: str) -> None:
        click.echo(f"serving {bundle} on {url} (workers {workers}); Ctrl-C stops")

    run_server(
        bundle,
        host=host,
        port=port,
        workers=workers,
        token=token,
        model_uri=model_uri,
        log_path=log_path,
        max_body_bytes=max_body_bytes,
        backend=backend,
        on_ready=ready,
        limits=request_limits,
    )


@click.command("loadtest")
@click.argument("url")
@click.option(
    "--duration",
    type=click.FloatRange(0, 600, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds to send requests for.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Connections, one request in flight each.",
)
@click.option("--rows", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--max-requests", type=click.IntRange(min=1), default=500_000, show_default=True)
@click.option("--token", envvar="WORKBENCH_STUB_TOKEN", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def loadtest(
    url: str,
    duration: float,
    concurrency: int,
    rows: int,
    max_requests: int,
    token: str | None,
    as_json: bool,
) -> None:
    """Load-test a stub at URL (127.0.0.1 only): requests/s, latency percentiles, errors."""
    from workbench.loadtest import run_loadtest

    result = run_loadtest(
        url,
        duration_s=duration,
        concurrency=concurrency,
        rows=rows,
        max_requests=max_requests,
        token=token,
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(
        f"{result.requests} requests in {result.duration_s:.2f} s "
        f"(concurrency {concurrency}, {rows} row(s) each): {result.rps:,.0f} req/s\n"
        f"latency ms  p50 {result.p50_ms:.2f}  p95 {result.p95_ms:.2f}  "
        f"p99 {result.p99_ms:.2f}  max {result.max_ms:.2f}\n"
        f"errors      {result.error_count}" + (f" {result.errors}" if result.errors else "")
    )


# -- release-check ------------------------------------------------------------------------------


@click.command("release-check")
@click.argument(
    "bundle", type=AbsolutePath(exists=True, file_okay=False, path_type=Path), metavar="BUNDLE"
)
@click.option(
    "--gates",
    "gates_file",
    type=AbsolutePath(dir_okay=False),
    default=None,
    help="Release gates YAML file [default: templates/release_gates.yaml].",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, 600, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds of the load test.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Connections of the load test, one request in flight each.",
)
@click.option(
    "--model-uri",
    type=ModelUri(),
    default=None,
    help="Where a load-mode bundle's model files are [default: $MODEL_URI or BUNDLE/model-store].",
)
@click.option("--no-report", is_flag=True, help="Record the evidence without the HTML report.")
@workspace_option
@json_option
def release_check_cmd(
    bundle: Path,
    gates_file: str | None,
    duration: float,
    concurrency: int,
    model_uri: str | None,
    no_report: bool,
    workspace: str | None,
    as_json: bool,
) -> None:
    """Test an exported BUNDLE before release; exit 0 when everything passes, 1 when not.

    \b
    Starts the bundle's stub on 127.0.0.1 and runs:
      integration  the stub's answers equal the offline predictions on the test rows
      system       bad inputs get their 4xx; /metrics and the prediction log count every
                   request; a restarted stub answers the same; a tampered model is refused
      performance  a bounded load test (requests/s, p50/p95/p99/max latency, errors)
      acceptance   gates on test metrics and latency, e.g. roc_auc >= 0.95, p99_ms <= 20
    The evidence is stored, written to reports/releases/<id>.json and rendered (notebook 05)
    to reports/releases/<id>.html, linked from reports/index.html.
    """
    from ..release import ReleaseFailed, get_release, release_check

    ws, store = open_ws(workspace)
    report = release_check(
        ws, store, bundle, gates=gates_file, duration_s=duration, concurrency=concurrency,
        model_uri=model_uri, report=not no_report,
    )  # fmt: skip
    if not no_report:
        refresh_index(ws, store)
    report = get_release(store, report.id)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.summary_lines():
            click.echo(line)
        click.echo(f"evidence: {report.evidence_path}")
        if report.report_path:
            click.echo(f"report: {report.report_path}")
    if not report.passed:
        raise ReleaseFailed(f"release check {report.id} failed: " + "; ".join(report.failures))


COMMANDS = (export_cmd, serve, loadtest, release_check_cmd)

for _command in COMMANDS:
    cli.add_command(_command)
