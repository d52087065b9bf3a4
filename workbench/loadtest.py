"""A bounded HTTP load test for a stub on this machine.

The client is a compact asyncio HTTP/1.1 keep-alive client on raw streams (uvloop when
installed), not httpx: against the same one-worker stub on a 2-core machine httpx.AsyncClient
reached ~600 req/s at concurrency 8 (and ~160 at 32) using most of a core, while this client
drove ~6,000-9,000 req/s using a fifth of one, so httpx would have measured itself. Each of
``concurrency`` connections has one request in flight; the run stops at ``duration_s`` or
``max_requests``, whichever comes first, and a watchdog cancels whatever is still in flight
``timeout_s`` after the deadline (counted as ``timeout``). Only loopback targets are accepted.

Example:
    >>> url = "http://127.0.0.1:8080/predict"
    >>> r = run_loadtest(url, duration_s=5, concurrency=8)  # doctest: +SKIP
    >>> r.rps, r.p99_ms  # doctest: +SKIP
    (6573.2, 3.2)
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import time
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from workbench.exceptions import ConfigError

__all__ = ["LoadResult", "example_rows", "run_loadtest"]

MAX_DURATION_S = 600.0
MAX_CONCURRENCY = 1024


@dataclass(frozen=True)
class LoadResult:
    """What a load test measured. Latencies are over all answered requests, errors included."""

    url: str
    duration_s: float
    concurrency: int
    rows: int
    requests: int
    ok: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    status_counts: dict[str, int]
    errors: dict[str, int]
    client: str = "asyncio-streams"
    latencies_ms: tuple[float, ...] = field(default=(), repr=False)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self, *, latencies: bool = False) -> dict[str, Any]:
        """Plain data (for ``--json`` and evidence files); raw latencies only when asked."""
        data = asdict(self)
        if not latencies:
            del data["latencies_ms"]
        data["error_count"] = self.error_count
        return data


@dataclass
class _Run:
    deadline: float
    budget: int
    started: int = 0
    latencies: list[float] = field(default_factory=list)
    status: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def take(self) -> bool:
        if self.started >= self.budget or time.perf_counter() >= self.deadline:
            return False
        self.started += 1
        return True

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1


def _target(url: str) -> tuple[str, int, str, str]:
    """(connect host, port, path, Host header) of a loopback http URL, or ConfigError."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ConfigError(f"URL {url!r} must start with http:// (the stub speaks plain HTTP)")
    host = parts.hostname or ""
    if host == "localhost":
        connect = "127.0.0.1"
    else:
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ConfigError(
                f"load tests only target this machine; {host!r} is not a loopback address "
                "(use 127.0.0.1 or localhost)"
            )
        connect = host
    port = parts.port or 80
    path = parts.path if parts.path not in ("", "/") else "/predict"
    if parts.query:
        path += "?" + parts.query
    return connect, port, path, parts.netloc


def example_rows(manifest: Mapping[str, Any], n: int = 1) -> list[list[Any]]:
    """``n`` valid rows for a bundle's signature: mid-range numbers, the first category."""
    row: list[Any] = []
    for f in manifest["signature"]["features"]:
        kind = f["kind"]
        if kind in ("number", "integer"):
            lo, hi = f.get("min"), f.get("max")
            mid = 0.0 if lo is None or hi is None else (lo + hi) / 2
            row.append(round(mid) if kind == "integer" else mid)
        elif kind == "boolean":
            row.append(False)
        else:
            row.append((f.get("categories") or [""])[0])
    return [list(row) for _ in range(n)]


def _fetch_metadata(base: str, token: str | None) -> dict[str, Any]:
    request = urllib.request.Request(base + "/metadata")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(
            request, timeout=10
        ) as resp:  # loopback only: checked by _target
            return json.loads(resp.read())
    except OSError as e:
        raise ConfigError(
            f"cannot read {base}/metadata ({e}); is the stub running? Start it with "
            "`workbench serve BUNDLE`, or pass a payload"
        ) from e


def _request_bytes(path: str, host: str, body: bytes, token: str | None) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return (head + "\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, keep-alive)."""
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    i = head.find(b"\r\ncontent-length:")
    if i >= 0:
        end = head.index(b"\r\n", i + 2)
        await reader.readexactly(int(head[i + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in head:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, b"\r\nconnection: close" not in head


async def _connection(host: str, port: int, request: bytes, run: _Run) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while run.take():
            t0 = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                writer.write(request)
                status, keep = await _read_response(reader)
            except asyncio.CancelledError:
                run.fail("timeout")
                raise
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                run.fail("connection")
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)  # a refused connection must not spin the loop
                continue
            run.latencies.append((time.perf_counter() - t0) * 1000.0)
            run.status[status] = run.status.get(status, 0) + 1
            if not keep:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _drive(
    host: str,
    port: int,
    request: bytes,
    *,
    duration_s: float,
    concurrency: int,
    max_requests: int,
    timeout_s: float,
) -> tuple[_Run, float]:
    run = _Run(deadline=time.perf_counter() + duration_s, budget=max_requests)
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(_connection(host, port, request, run)) for _ in range(concurrency)]
    # Watchdog: the run is bounded in time even when the server stops answering.
    done, pending = await asyncio.wait(tasks, timeout=duration_s + timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.perf_counter() - t0
    for task in done:
        if task.exception() is not None:
            run.fail(type(task.exception()).__name__)
    return run, elapsed


def _run_coroutine(factory: Any) -> Any:
    """Run a coroutine to completion, on uvloop when available, even inside Jupyter's loop."""
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a workbench dependency on POSIX
        loop_factory = None

    def run() -> Any:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(factory())

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    # A notebook already runs a loop in this thread: use a thread with its own loop.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return math.nan
    k = max(0, math.ceil(q / 100 * len(sorted_ms)) - 1)  # nearest rank
    return sorted_ms[k]


def run_loadtest(
    url: str,
    *,
    duration_s: float,
    concurrency: int,
    rows: int = 1,
    payload: Mapping[str, Any] | bytes | None = None,
    max_requests: int = 500_000,
    timeout_s: float = 10.0,
    token: str | None = None,
) -> LoadResult:
    """POST the same request over ``concurrency`` keep-alive connections for ``duration_s``.

    Args:
        url: the stub's base URL or its ``/predict`` URL, on 127.0.0.1/localhost/::1.
        duration_s: stop starting requests after this many seconds (at most 600).
        concurrency: connections, each with one request in flight (at most 1024).
        rows: rows per request when the payload is built from ``/metadata``.
        payload: a JSON-able body or raw bytes; default ``rows`` mid-range rows.
        max_requests: stop after this many requests even before ``duration_s``.
        timeout_s: grace after the deadline before in-flight requests count as timeouts.
        token: bearer token of the stub.

    Returns:
        A :class:`LoadResult` with requests/s, p50/p95/p99/max latency and errors by kind
        (HTTP status or ``connection``/``timeout``).

    Raises:
        ConfigError: a non-loopback or non-http URL, limits out of range, or no stub answering.
    """
    if not 0 < duration_s <= MAX_DURATION_S:
        raise ConfigError(f"duration_s must be in (0, {MAX_DURATION_S:g}], got {duration_s}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ConfigError(f"concurrency must be in [1, {MAX_CONCURRENCY}], got {concurrency}")
    if rows < 1 or max_requests < 1 or timeout_s <= 0:
        raise ConfigError("rows and max_requests must be at least 1 and timeout_s positive")
    host, port, path, host_header = _target(url)
    if payload is None:
        base = url.split("://", 1)[0] + "://" + host_header
        payload = {"rows": example_rows(_fetch_metadata(base, token), rows)}
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = _request_bytes(path, host_header, body, token)
    _preflight(host, port, url)
    run, elapsed = _run_coroutine(
        lambda: _drive(
            host,
            port,
            request,
            duration_s=duration_s,
            concurrency=concurrency,
            max_requests=max_requests,
            timeout_s=timeout_s,
        )
    )
    return _result(url, run, elapsed, concurrency, rows)


def _preflight(host: str, port: int, url: str) -> None:
    async def once() -> None:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        writer.close()

    try:
        _run_coroutine(once)
    except (OSError, TimeoutError) as e:
        raise ConfigError(
            f"nothing answers at {url} ({e}); start the stub first (`workbench serve BUNDLE`)"
        ) from e


def _result(url: str, run: _Run, elapsed: float, concurrency: int, rows: int) -> LoadResult:
    lat = sorted(run.latencies)
    ok = sum(n for s, n in run.status.items() if 200 <= s < 300)
    errors = {str(s): n for s, n in sorted(run.status.items()) if not 200 <= s < 300}
    errors.update(run.failures)
    return LoadResult(
        url=url,
        duration_s=round(elapsed, 4),
        concurrency=concurrency,
        rows=rows,
        requests=len(lat),
        ok=ok,
        rps=round(len(lat) / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=_round(_percentile(lat, 50)),
        p95_ms=_round(_percentile(lat, 95)),
        p99_ms=_round(_percentile(lat, 99)),
        max_ms=_round(lat[-1] if lat else math.nan),
        mean_ms=_round(sum(lat) / len(lat) if lat else math.nan),
        status_counts={str(s): n for s, n in sorted(run.status.items())},
        errors=errors,
        latencies_ms=tuple(lat),
    )


def _round(x: float) -> float:
    return x if math.isnan(x) else round(x, 3)
