"""Run the stub under uvicorn: foreground (``run_server``, ``main``) or in a thread (tests).

Copied into every bundle: imports nothing from the workbench; a bundle's ``serve.py`` calls
:func:`main`.

uvicorn settings chosen for the hot path: uvloop when installed, httptools through the stub's
guarded protocol (``_limits``: head size, header and body timeouts, connection cap), no
websockets, no access log, no proxy-headers middleware, no server header. The listening socket
is created here with ``IPPROTO_TCP`` as its protocol: asyncio only sets ``TCP_NODELAY`` on
accepted sockets whose ``proto`` is TCP, and a socket made with ``socket.socket()`` (as
``uvicorn --workers`` does) has ``proto`` 0, so every keep-alive response then waits ~40 ms on
Nagle and delayed ACKs (measured with 2 workers on the asyncio loop: 184 req/s and p50 44 ms
with a proto-0 socket, ~10,000 req/s and p50 0.6 ms with this one). uvloop sets NODELAY either
way.

A stub bound to anything but a loopback address refuses to start without a token.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path

from ._limits import Limits, parse_hosts, protocol_class
from ._model import BundleError, StubError
from .app import ENV, create_app, read_manifest

__all__ = ["background_server", "main", "run_server"]


def _uvicorn_options() -> dict[str, object]:
    return {
        "loop": "uvloop" if find_spec("uvloop") else "asyncio",
        "http": protocol_class(),
        "ws": "none",
        "access_log": False,
        "log_level": "warning",
        "proxy_headers": False,
        "server_header": False,
        "lifespan": "on",
        "timeout_keep_alive": 5,
        "backlog": 2048,
    }


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen; the TCP protocol number matters for TCP_NODELAY (module docstring)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        family = socket.AF_INET  # a host name such as "localhost"
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise BundleError(f"cannot listen on {host}:{port} ({e}); pick another --port") from e
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, limits: Limits | None) -> None:
    """Refuse to serve beyond loopback without a token; note the Host allow-list when exposed.

    Raises:
        BundleError: ``host`` is not a loopback address and no token is set.
    """
    if _is_loopback(host):
        return
    if not token:
        raise BundleError(
            f"refusing to serve on {host} without a token: anyone who can reach that interface "
            "could call the model and read its metadata. Set a token (--token, or STUB_TOKEN "
            "for serve.py / WORKBENCH_STUB_TOKEN for `workbench serve`; clients then send "
            "'Authorization: Bearer <token>'), or bind a loopback address (127.0.0.1, ::1)"
        )
    if limits is None or limits.allowed_hosts is None:
        print(
            f"note: serving on {host}; requests must carry Host 127.0.0.1, localhost or [::1] "
            "with this port: list the names clients use with --allowed-hosts "
            "(ALLOWED_HOSTS for serve.py)",
            file=sys.stderr,
        )


def run_server(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    token: str | None = None,
    model_uri: str | None = None,
    log_path: str | Path | None = None,
    max_body_bytes: int = 1_000_000,
    backend: str = "auto",
    on_ready: Callable[[str], None] | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve a bundle until interrupted (SIGINT/SIGTERM).

    The model is verified and loaded before the port opens, so a tampered or missing model file
    stops here with :class:`ModelLoadError`. With ``workers > 1`` each uvicorn worker process
    builds its own app from ``WBSTUB_*`` variables (the token too, so it is visible in the
    workers' environment to the same user); metrics are then per worker and the workers append
    to one prediction log.

    Args:
        bundle_dir: the exported bundle folder.
        host: interface to bind; a non-loopback one needs ``token`` (refused otherwise).
        port: TCP port; 0 picks a free one (reported through ``on_ready``).
        workers: uvicorn worker processes.
        token: bearer token required on every route but ``/health``.
        model_uri: model location for ``load``-mode bundles (else ``MODEL_URI``).
        log_path: JSONL prediction log.
        max_body_bytes: request body limit (413 above it).
        backend: ``auto``, ``onnx`` or ``skops``.
        on_ready: called with the base URL once the port listens; default prints to stderr.
        limits: request limits (:class:`Limits`); the defaults when ``None``.

    Raises:
        ModelLoadError: the model is missing, tampered with or untrusted.
        BundleError: bad options (a non-loopback host without a token among them), or the
            port cannot be bound.
    """
    import uvicorn

    if workers < 1:
        raise BundleError(f"workers must be at least 1, got {workers}")
    check_exposure(host, token, limits)
    # Build (and so verify) the app first: refuse to start before any port opens. With several
    # workers this parent copy only checks; the workers build their own.
    app = create_app(
        bundle_dir,
        model_uri=model_uri,
        token=token,
        max_body_bytes=max_body_bytes,
        log_path=log_path if workers == 1 else None,
        backend=backend,
        limits=limits,
    )
    sock = _listen(host, port)
    options = _uvicorn_options()
    if on_ready is None:
        on_ready = _print_ready
    if workers == 1:
        server = uvicorn.Server(uvicorn.Config(app, **options))
        on_ready(_url(sock, host))
        server.run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    if options["loop"] != "uvloop":
        print("warning: uvloop not installed; workers use the asyncio loop", file=sys.stderr)
    os.environ.update(
        {
            ENV["bundle_dir"]: str(Path(bundle_dir).resolve()),
            ENV["model_uri"]: model_uri or "",
            ENV["token"]: token or "",
            ENV["max_body_bytes"]: str(max_body_bytes),
            ENV["log_path"]: str(log_path or ""),
            ENV["backend"]: backend,
            ENV["limits"]: (limits or Limits()).to_json(),
        }
    )
    config = uvicorn.Config(
        f"{__package__}.app:create_app_from_env", factory=True, workers=workers, **options
    )
    on_ready(_url(sock, host))
    Multiprocess(config, sockets=[sock]).run()


def _print_ready(url: str) -> None:
    print(f"stub listening on {url}", file=sys.stderr, flush=True)


@contextmanager
def background_server(
    bundle_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    model_uri: str | None = None,
    log_path: str | Path | None = None,
    max_body_bytes: int = 1_000_000,
    backend: str = "auto",
    start_timeout_s: float = 10.0,
    limits: Limits | None = None,
) -> Iterator[str]:
    """Serve a bundle from a thread of this process (one worker); yield its base URL.

    Example:
        >>> with background_server("exports/run-42") as url:  # doctest: +SKIP
        ...     httpx.post(url + "/predict", json={"rows": [[...]]})
    """
    import uvicorn

    check_exposure(host, token, limits)
    app = create_app(
        bundle_dir,
        model_uri=model_uri,
        token=token,
        max_body_bytes=max_body_bytes,
        log_path=log_path,
        backend=backend,
        limits=limits,
    )
    sock = _listen(host, port)
    server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options()))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="stub-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise BundleError(f"the stub did not start within {start_timeout_s} s")
        time.sleep(0.01)
    try:
        yield _url(sock, host)
    finally:
        server.should_exit = True
        thread.join(start_timeout_s)
        sock.close()


def main(argv: list[str] | None = None, *, default_bundle: str | Path | None = None) -> int:
    """Command line of a bundle's ``serve.py``; returns the exit code."""
    parser = argparse.ArgumentParser(description="Serve this model bundle over HTTP.")
    parser.add_argument("--bundle", default=str(default_bundle or "."), help="bundle folder")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    parser.add_argument(
        "--token", default=os.environ.get("STUB_TOKEN"), help="bearer token (env STUB_TOKEN)"
    )
    parser.add_argument(
        "--model-uri", default=None, help="model files; a load-mode bundle falls back to MODEL_URI"
    )
    parser.add_argument("--log", default=os.environ.get("PREDICTION_LOG"), help="JSONL log")
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000)
    parser.add_argument("--backend", default="auto", choices=("auto", "onnx", "skops"))
    default = Limits()
    parser.add_argument(
        "--allowed-hosts",
        default=os.environ.get("ALLOWED_HOSTS"),
        help="comma-separated Host values answered: name (any port), name:port, or * "
        "(env ALLOWED_HOSTS; default the loopback names with the serving port)",
    )
    parser.add_argument("--max-rps", type=float, default=None, help="requests/s per worker")
    parser.add_argument("--max-connections", type=int, default=default.max_connections)
    parser.add_argument("--max-header-bytes", type=int, default=default.max_header_bytes)
    parser.add_argument("--header-timeout", type=float, default=default.header_timeout_s)
    parser.add_argument("--body-timeout", type=float, default=default.body_timeout_s)
    args = parser.parse_args(argv)
    try:
        limits = Limits(
            max_header_bytes=args.max_header_bytes,
            header_timeout_s=args.header_timeout,
            body_timeout_s=args.body_timeout,
            max_connections=args.max_connections,
            max_rps=args.max_rps,
            allowed_hosts=parse_hosts(args.allowed_hosts),
        )
        version = read_manifest(args.bundle)["model_version"]
        run_server(
            args.bundle,
            host=args.host,
            port=args.port,
            workers=args.workers,
            token=args.token,
            model_uri=args.model_uri,
            log_path=args.log,
            max_body_bytes=args.max_body_bytes,
            backend=args.backend,
            on_ready=lambda url: print(
                f"serving model {version} on {url} (workers {args.workers})", flush=True
            ),
            limits=limits,
        )
    except StubError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
