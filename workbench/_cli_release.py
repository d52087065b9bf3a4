"""CLI commands of the release stage: ``serve`` and ``loadtest``.

Plain ``click`` commands, added to the main group in ``workbench.cli``. They parse and delegate;
errors are :class:`~workbench.exceptions.WorkbenchError` subclasses that the main CLI prints
without a traceback. Heavy imports happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["COMMANDS", "loadtest", "register_commands", "serve"]


@click.command("serve")
@click.argument(
    "bundle", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="BUNDLE"
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
    default=None,
    help="Where the model files are: folder, file:// or http(s):// URL. A load-mode bundle "
    "falls back to $MODEL_URI.",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
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
) -> None:
    """Serve an exported BUNDLE over HTTP until interrupted (Ctrl-C)."""
    from workbench.serving import run_server

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


COMMANDS = (serve, loadtest)


def register_commands(group: click.Group) -> None:
    """Add ``serve`` and ``loadtest`` to ``group`` (the ``workbench`` CLI)."""
    for command in COMMANDS:
        group.add_command(command)
