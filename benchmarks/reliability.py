"""Reliability figures of the serving stub (issue 15, item 7, the stub's part).

    .venv/bin/python benchmarks/reliability.py            # full: ~5 min on 2 cores
    .venv/bin/python benchmarks/reliability.py --quick    # smaller counts, ~2 min
    .venv/bin/python benchmarks/reliability.py --speed-baseline ../main   # + speed vs a tree

What it does, on 127.0.0.1 only, against stubs run from exported bundles' own ``serve.py``
(breast_cancer + LogisticRegression, 30 numeric features; and a mixed integer / nullable number
/ string bundle), printing one section per probe:

1. malformed bodies: N generated bodies in 19 families over keep-alive connections, then broken
   request heads; statuses, 5xx, dropped connections, RSS before/after, /metrics and the
   prediction log against what the client saw;
2. schemathesis (all checks, both bundles, one with a token) against the stub's /openapi.json;
3. huge headers: 20 connections each pushing a 50 MB header value (the issue's probe);
4. slow headers: 1,000 connections sending one header byte per second, and 20 silent ones;
5. connection cap: 1,100 idle connections against --max-connections 1024, then how long until
   a normal request is answered again;
6. rate limit: 1,000 requests as fast as one connection sends them, --max-rps 100;
7. prediction-log faults: the log on a 256 KiB tmpfs filled up (a real ENOSPC; /dev/full when
   tmpfs cannot be mounted), 5,000 requests, then space freed; and a bounded queue overflowing
   during an outage (in-process).

8. with ``--speed-baseline TREE``: the same load (``workbench.loadtest``, one-row requests,
   concurrency 8 and 32, interleaved rounds) against this tree's stub and the stub of another
   workbench source tree (e.g. the main branch before this change), each exported from its own
   tree: req/s, p50/p99 and the server's CPU time per request (from /proc), which is far less
   noisy than req/s on a shared machine.

Every loop is bounded in count and time; every stub is stopped on every exit path.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the stub harness the test suite uses

from stub_harness import (  # noqa: E402
    HOST,
    MALFORMED_HEADS,
    StubProcess,
    closed_within,
    export_mixed_bundle,
    export_numeric_bundle,
    good_row,
    malformed_bodies,
    read_full_response,
    request_bytes,
    send_bodies,
    send_heads,
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def served(metrics: str) -> dict[int, int]:
    pattern = r'^workbench_http_requests_total\{path="/predict",status="(\d+)"\} (\d+)$'
    return {int(s): int(n) for s, n in re.findall(pattern, metrics, re.M)}


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def features_of(bundle: Path) -> list[dict[str, Any]]:
    return json.loads((bundle / "manifest.json").read_text())["signature"]["features"]


# -- 1. malformed bodies and heads ---------------------------------------------------------------


def malformed(bundle: Path, work: Path, n: int) -> dict[str, Any]:
    logfile = work / "fuzz.jsonl"
    with StubProcess(bundle, "--log", str(logfile)) as stub:
        warm = send_bodies(stub.port, malformed_bodies(features_of(bundle), good_row(bundle), 300))
        before = stub.rss_mb()
        result = send_bodies(
            stub.port,
            malformed_bodies(features_of(bundle), good_row(bundle), n, seed=15),
            budget_s=300,
        )
        after = stub.rss_mb()
        _, text = stub.get("/metrics")
        heads = send_heads(stub.port, MALFORMED_HEADS, repeat=10)
        alive = stub.alive()
        stub.stop()
    seen = dict(result.statuses)
    for status, k in warm.statuses.items():
        seen[status] = seen.get(status, 0) + k
    return {
        "bodies": result.sent,
        "seconds": round(result.seconds, 1),
        "families": {f: dict(sorted(s.items())) for f, s in sorted(result.by_family.items())},
        "statuses": dict(sorted(result.statuses.items())),
        "server_errors": len(result.server_errors),
        "dropped_connections": result.dropped,
        "rss_mb": [round(before, 1), round(after, 1)],
        "alive": alive,
        "metrics_match_client": served(text.decode()) == seen,
        "log_lines": len(logfile.read_text().splitlines()),
        "answered_200": seen.get(200, 0),
        "heads_sent": len(MALFORMED_HEADS) * 10,
        "heads": dict(sorted(heads.items())),
    }


# -- 2. schemathesis -----------------------------------------------------------------------------


def schemathesis(bundle: Path, work: Path, examples: int, token: str | None) -> dict[str, Any]:
    args = ["--token", token] if token else []
    runner = (
        "import sys; from schemathesis.cli import schemathesis; "
        "sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())"
    )
    with StubProcess(bundle, *args) as stub:
        command = [sys.executable, "-c", runner, "run", stub.url + "/openapi.json"]
        command += ["--checks", "all", "--workers", "1", "--seed", "15", "--no-color"]
        command += ["--max-examples", str(examples), "--request-timeout", "10"]
        if token:
            command += ["-H", f"Authorization: Bearer {token}"]
        t0 = time.monotonic()
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=work)
        seconds = time.monotonic() - t0
        alive = stub.alive()
        _, text = stub.get("/metrics", headers={"authorization": f"Bearer {token}"})
    generated = re.search(r"(\d+) generated", run.stdout)
    statuses = served(text.decode())
    return {
        "bundle": bundle.name,
        "token": bool(token),
        "cases": int(generated.group(1)) if generated else None,
        "exit_code": run.returncode,
        "summary": next((ln.strip() for ln in run.stdout.splitlines() if "generated" in ln), ""),
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(k for s, k in statuses.items() if s >= 500),
        "alive": alive,
    }


# -- 3. huge headers -----------------------------------------------------------------------------


def huge_headers(bundle: Path, connections: int, mb: int) -> dict[str, Any]:
    big = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (mb << 20)
    outcomes: dict[str, int] = {}
    with StubProcess(bundle) as stub:
        before = stub.rss_mb()
        peak = before
        t0 = time.monotonic()
        for _ in range(connections):
            with socket.create_connection((HOST, stub.port), timeout=30) as s:
                try:
                    s.sendall(big)
                    status = str(read_full_response(s, 30)[0])
                except OSError:
                    status = "reset while sending"
            outcomes[status] = outcomes.get(status, 0) + 1
            peak = max(peak, stub.rss_mb())
        seconds = time.monotonic() - t0
        _, text = stub.get("/metrics")
        alive = stub.alive()
    return {
        "connections": connections,
        "header_mb": mb,
        "outcomes": outcomes,
        "refused_431": metric(
            text.decode(), 'workbench_requests_refused_total{reason="head_too_large"}'
        ),
        "rss_mb": [round(before, 1), round(peak, 1)],
        "seconds_per_connection": round(seconds / connections, 3),
        "alive": alive,
    }


# -- 4. slow headers -----------------------------------------------------------------------------


def slow_headers(bundle: Path, slow: int, silent: int, budget_s: float) -> dict[str, Any]:
    head = f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode() + b"a" * 500
    with StubProcess(bundle) as stub:  # the defaults: header timeout 10 s
        socks = [socket.create_connection((HOST, stub.port), timeout=10) for _ in range(slow)]
        quiet = [socket.create_connection((HOST, stub.port), timeout=10) for _ in range(silent)]
        for s in socks:
            s.setblocking(False)
        t0 = time.monotonic()
        closed: dict[int, float] = {}
        got_408 = 0
        k = 0
        while len(closed) < slow and time.monotonic() - t0 < budget_s:
            for i, s in enumerate(socks):
                if i in closed:
                    continue
                try:
                    data = s.recv(4096)
                    got_408 += b" 408 " in data
                    if data == b"" or b" 408 " in data:
                        closed[i] = time.monotonic() - t0
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    closed[i] = time.monotonic() - t0
                    continue
                with contextlib.suppress(OSError):
                    s.send(head[k : k + 1])
            k = min(k + 1, len(head) - 1)
            time.sleep(1.0)
        quiet_closed = sum(closed_within(s, 0.5)[0] for s in quiet)
        _, text = stub.get("/metrics")
        alive = stub.alive()
        for s in socks + quiet:
            s.close()
    t = text.decode()
    return {
        "slow_connections": slow,
        "closed": len(closed),
        "answered_408": got_408,
        "closed_after_s": [round(min(closed.values()), 1), round(max(closed.values()), 1)]
        if closed
        else None,
        "silent_connections": silent,
        "silent_closed": quiet_closed,
        "metrics_header_timeouts": metric(
            t, 'workbench_requests_refused_total{reason="header_timeout"}'
        ),
        "metrics_idle_closed": metric(t, "workbench_idle_connections_closed_total"),
        "alive": alive,
    }


# -- 5. connection cap ---------------------------------------------------------------------------


def connection_cap(bundle: Path, idle: int) -> dict[str, Any]:
    body = json.dumps({"rows": [good_row(bundle)]}).encode()
    with StubProcess(bundle) as stub:  # the defaults: 1024 connections, header timeout 10 s
        held, refused = [], 0
        for _ in range(idle):
            s = socket.create_connection((HOST, stub.port), timeout=10)
            held.append(s)
        time.sleep(0.5)
        for s in held[1024:]:
            _, data = closed_within(s, 2.0)
            refused += data.startswith(b"HTTP/1.1 503")
        t0 = time.monotonic()
        waited = None
        while time.monotonic() - t0 < 30:
            with socket.create_connection((HOST, stub.port), timeout=10) as s:
                s.sendall(request_bytes(stub.port, body))
                try:
                    status = read_full_response(s, 5)[0]
                except OSError:
                    status = 0
            if status == 200:
                waited = time.monotonic() - t0
                break
            time.sleep(0.25)
        _, text = stub.get("/metrics")
        alive = stub.alive()
        for s in held:
            s.close()
    return {
        "idle_connections_opened": idle,
        "answered_503": refused,
        "metrics_refused": metric(text.decode(), "workbench_connections_refused_total"),
        "seconds_until_a_request_was_answered": None if waited is None else round(waited, 1),
        "alive": alive,
    }


# -- 6. rate limit -------------------------------------------------------------------------------


def rate_limit(bundle: Path, n: int, rps: int) -> dict[str, Any]:
    body = json.dumps({"rows": [good_row(bundle)]}).encode()
    statuses: dict[int, int] = {}
    with StubProcess(bundle, "--max-rps", str(rps)) as stub:
        t0 = time.monotonic()
        with socket.create_connection((HOST, stub.port), timeout=10) as s:
            for _ in range(n):
                s.sendall(request_bytes(stub.port, body))
                status = read_full_response(s)[0]
                statuses[status] = statuses.get(status, 0) + 1
        seconds = time.monotonic() - t0
        health = [stub.get("/health")[0] for _ in range(20)]
    return {
        "requests": n,
        "max_rps": rps,
        "seconds": round(seconds, 2),
        "statuses": dict(sorted(statuses.items())),
        "health_during": sorted(set(health)),
    }


# -- 7. prediction-log faults --------------------------------------------------------------------


@contextlib.contextmanager
def tiny_disk(folder: Path, kib: int) -> Iterator[str]:
    """A tmpfs of ``kib`` KiB at ``folder`` (root only); yields how the fault was made."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        yield f"/dev/full (tmpfs not mountable: {mount.stderr.strip()[:80]})"
        return
    try:
        yield f"tmpfs of {kib} KiB"
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def disk_full(bundle: Path, work: Path, n_full: int, n_after: int) -> dict[str, Any]:
    body = json.dumps({"rows": [good_row(bundle)]}).encode()
    folder = work / "tiny"
    with tiny_disk(folder, 256) as how:
        logfile = folder / "predictions.jsonl"
        filler = folder / "filler"
        if how.startswith("tmpfs"):
            filler.write_bytes(b"\0" * (200 << 10))  # leave ~56 KiB: ~50 lines fit
        else:
            logfile.symlink_to("/dev/full")
        out: dict[str, Any] = {"fault": how}
        with StubProcess(bundle, "--log", str(logfile)) as stub:
            statuses: dict[int, int] = {}
            with socket.create_connection((HOST, stub.port), timeout=10) as s:
                for i in range(n_full):
                    rid = f"X-Request-Id: full-{i}\r\n"
                    s.sendall(request_bytes(stub.port, body, extra=rid))
                    status = read_full_response(s)[0]
                    statuses[status] = statuses.get(status, 0) + 1
            time.sleep(0.5)
            health = json.loads(stub.get("/health")[1])
            _, text = stub.get("/metrics")
            t = text.decode()
            out["while_full"] = {
                "requests": n_full,
                "statuses": statuses,
                "health": health["status"],
                "last_error": health["prediction_log"]["last_error"],
                "lines_on_disk": _lines(logfile),
                "metrics_write_errors": metric(t, "workbench_prediction_log_write_errors_total"),
                "metrics_queued_rows": metric(t, "workbench_prediction_log_queued_rows"),
                "metrics_dropped": metric(t, "workbench_prediction_log_dropped_total"),
                "metrics_up": metric(t, "workbench_prediction_log_up"),
            }
            if how.startswith("tmpfs"):
                filler.unlink()
                subprocess.run(["mount", "-o", "remount,size=16m", str(folder)], check=False)
            else:
                fresh = work / "fresh.jsonl"
                fresh.write_text("")
                shutil.move(str(fresh), str(logfile))
            t0 = time.monotonic()
            while time.monotonic() - t0 < 20:
                if json.loads(stub.get("/health")[1])["status"] == "ok":
                    break
                time.sleep(0.1)
            recovered = time.monotonic() - t0
            with socket.create_connection((HOST, stub.port), timeout=10) as s:
                for i in range(n_after):
                    s.sendall(request_bytes(stub.port, body, extra=f"X-Request-Id: after-{i}\r\n"))
                    read_full_response(s)
            _, text = stub.get("/metrics")
            health = json.loads(stub.get("/health")[1])
            stub.stop()
        ids = [json.loads(line)["request_id"] for line in logfile.read_text().splitlines()]
        expected = [f"full-{i}" for i in range(n_full)] + [f"after-{i}" for i in range(n_after)]
        t = text.decode()
        out["after_space_back"] = {
            "seconds_to_healthy": round(recovered, 2),
            "requests": n_after,
            "health": health["status"],
            "lines_on_disk": len(ids),
            "lines_expected": len(expected),
            "in_order_no_duplicates": ids == expected,
            "metrics_written": metric(t, "workbench_prediction_log_written_total"),
            "metrics_write_errors": metric(t, "workbench_prediction_log_write_errors_total"),
            "metrics_dropped": metric(t, "workbench_prediction_log_dropped_total"),
        }
    return out


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def queue_overflow(work: Path, n: int, max_rows: int) -> dict[str, Any]:
    """In-process: the writer fails (ENOSPC) while ``n`` one-row entries arrive."""
    import errno

    from workbench.serving._observe import Metrics, PredictionLog

    plog = PredictionLog(work / "queue.jsonl", max_queued_rows=max_rows)
    metrics = Metrics(("/predict",), model_version="v", backend="onnx", log=plog)
    full = {"on": True}

    def write(fd: int, data: memoryview) -> int:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    plog._os_write = write  # type: ignore[method-assign]
    accepted = sum(plog.put(time.time(), f"r{i}", "v", 1.0, [[1.0]], {}) for i in range(n))
    during = metrics.render()
    full["on"] = False
    plog.flush(10)
    after = metrics.render()
    plog.close()
    return {
        "entries": n,
        "max_queued_rows": max_rows,
        "accepted": accepted,
        "metrics_dropped_during": metric(during, "workbench_prediction_log_dropped_total"),
        "metrics_queued_during": metric(during, "workbench_prediction_log_queued_rows"),
        "metrics_written_after": metric(after, "workbench_prediction_log_written_total"),
        "lines_on_disk": _lines(work / "queue.jsonl"),
    }


# -- 8. speed against a baseline tree ------------------------------------------------------------


def export_baseline(tree: Path, out: Path) -> Path:
    """Export the numeric bundle with another workbench tree's code (its own stub)."""
    code = (
        "import sys; from pathlib import Path; from stub_harness import export_numeric_bundle; "
        "export_numeric_bundle(Path(sys.argv[1]))"
    )
    env = {**os.environ, "PYTHONPATH": f"{tree.resolve()}{os.pathsep}{HERE.parent / 'tests'}"}
    subprocess.run(
        [sys.executable, "-c", code, str(out)], check=True, env=env, cwd=out.parent, timeout=600
    )
    return out


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def speed(
    bundles: dict[str, Path], rounds: int, duration_s: float, concurrencies: list[int]
) -> list[dict[str, Any]]:
    """Both stubs up at once; rounds alternate which one is loaded first."""
    from workbench.loadtest import run_loadtest

    samples = []
    payload = {"rows": [good_row(next(iter(bundles.values())))]}
    with contextlib.ExitStack() as stack:
        stubs = {name: stack.enter_context(StubProcess(b)) for name, b in bundles.items()}
        for stub in stubs.values():  # warm-up
            run_loadtest(stub.url, duration_s=1.0, concurrency=8, payload=payload)
        names = list(stubs)
        for round_no in range(rounds):
            for name in names if round_no % 2 == 0 else names[::-1]:
                stub = stubs[name]
                for c in concurrencies:
                    cpu0 = _cpu_s(stub.proc.pid)
                    r = run_loadtest(
                        stub.url, duration_s=duration_s, concurrency=c, payload=payload
                    )
                    cpu = _cpu_s(stub.proc.pid) - cpu0
                    samples.append(
                        {
                            "stub": name,
                            "round": round_no + 1,
                            "concurrency": c,
                            "rps": r.rps,
                            "p50_ms": r.p50_ms,
                            "p99_ms": r.p99_ms,
                            "errors": r.error_count,
                            "cpu_ms_per_request": 1000 * cpu / max(1, r.requests),
                        }
                    )
    return samples


def speed_summary(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import statistics

    rows = []
    for key in sorted({(s["stub"], s["concurrency"]) for s in samples}, key=lambda k: (k[1], k[0])):
        group = [s for s in samples if (s["stub"], s["concurrency"]) == key]
        rows.append(
            {
                "stub": key[0],
                "concurrency": key[1],
                "rps": statistics.median(s["rps"] for s in group),
                "p50_ms": statistics.median(s["p50_ms"] for s in group),
                "p99_ms": statistics.median(s["p99_ms"] for s in group),
                "errors": sum(s["errors"] for s in group),
                "cpu_ms_per_request": statistics.median(s["cpu_ms_per_request"] for s in group),
                "cpu_ms_min": min(s["cpu_ms_per_request"] for s in group),
                "rounds": len(group),
            }
        )
    return rows


_MICRO = r"""
import asyncio, json, sys, time
sys.path.insert(0, sys.argv[1])
import uvloop
from uvicorn.config import Config
from uvicorn.server import ServerState
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
import wbstub_base.app as base_app, wbstub_this.app as this_app
from wbstub_this._limits import GuardedHttpToolsProtocol, Guard, Limits

row = json.loads(sys.argv[2])
body = json.dumps({"rows": [row]}).encode()
headers = [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
           (b"content-length", str(len(body)).encode())]
scope = {"type": "http", "method": "POST", "path": "/predict", "headers": headers,
         "server": ("127.0.0.1", 8080)}
message = {"type": "http.request", "body": body, "more_body": False}
async def receive(): return message
async def send(m): pass
request = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json"
           b"\r\nContent-Length: 2\r\n\r\n{}")
class State: pass
async def trivial(scope, receive, send):
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
trivial.state = State(); trivial.state.guard = Guard(Limits())
class Transport:
    closing = False
    def write(self, data): pass
    def is_closing(self): return self.closing
    def close(self): self.closing = True
    def get_extra_info(self, key, default=None):
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 5555)}.get(key)
    def pause_reading(self): pass
    def resume_reading(self): pass
async def asgi(app, n):
    for _ in range(n):
        await app(scope, receive, send)
async def protocol(cls, n):
    config = Config(trivial, http=cls, log_level="warning", access_log=False, lifespan="off")
    config.load()
    p = cls(config, ServerState(), {}, asyncio.get_running_loop())
    p.connection_made(Transport())
    for _ in range(n):
        p.data_received(request); await asyncio.sleep(0); await asyncio.sleep(0)
async def main(reps):
    apps = {"baseline": base_app.create_app(sys.argv[3]),
            "this tree": this_app.create_app(sys.argv[4])}
    protocols = {"baseline": HttpToolsProtocol, "this tree": GuardedHttpToolsProtocol}
    best = {}
    for _ in range(reps):
        for name in apps:
            for what, run in (("asgi", lambda: asgi(apps[name], 1000)),
                              ("protocol", lambda: protocol(protocols[name], 1000))):
                t0 = time.thread_time(); await run(); dt = (time.thread_time() - t0) / 1000
                best[name, what] = min(best.get((name, what), 1e9), dt)
    print(json.dumps({f"{n}|{w}": round(v * 1e6, 2) for (n, w), v in best.items()}))
uvloop.run(main(int(sys.argv[5])))
"""


def micro(bundles: dict[str, Path], work: Path, reps: int) -> dict[str, dict[str, float]]:
    """CPU µs per request in-process (thread time, best of ``reps``): the ASGI app on one row,
    and uvicorn's protocol (plain vs guarded) around a trivial app. Far steadier than req/s."""
    pk = work / "pk"
    pk.mkdir(exist_ok=True)
    for name, package in (("baseline", "wbstub_base"), ("this tree", "wbstub_this")):
        shutil.copytree(bundles[name] / "wbstub", pk / package, dirs_exist_ok=True)
    row = json.dumps(good_row(bundles["this tree"]))
    command = [sys.executable, "-c", _MICRO, str(pk), row, str(bundles["baseline"])]
    command += [str(bundles["this tree"]), str(reps)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"the in-process measurement failed: {run.stderr[-2000:]}")
    out: dict[str, dict[str, float]] = {}
    for key, us in json.loads(run.stdout.strip().splitlines()[-1]).items():
        name, what = key.split("|")
        out.setdefault(what, {})[name] = us
    return out


# -- report --------------------------------------------------------------------------------------


def render(r: dict[str, Any]) -> str:
    meta, m = r["meta"], r["malformed"]
    out = [f"stub reliability, {meta['date']}, {meta['cpus']} cores, load {meta['load']}"]
    out += [
        "",
        "1. malformed bodies (one stub process, keep-alive, --log on)",
        f"   bodies sent        {m['bodies']} in {m['seconds']} s (19 families)",
        f"   statuses           {m['statuses']}",
        f"   5xx                {m['server_errors']}   "
        f"dropped connections {m['dropped_connections']}   alive {m['alive']}",
        f"   RSS MiB            {m['rss_mb'][0]} -> {m['rss_mb'][1]}",
        f"   /metrics == client {m['metrics_match_client']}   "
        f"log lines {m['log_lines']} for {m['answered_200']} answered 200",
        f"   broken heads       {m['heads_sent']} sent: {m['heads']} (0 = closed, no answer)",
        "   per family:",
    ]
    out += [f"     {f:22s} {s}" for f, s in m["families"].items()]
    out += ["", "2. schemathesis (--checks all, --max-examples per operation)"]
    for s in r["schemathesis"]:
        out.append(
            f"   {s['bundle']:8s} token={s['token']!s:5s} cases {s['cases']}  "
            f"exit {s['exit_code']}  5xx {s['server_errors']}  alive {s['alive']}  "
            f"{s['seconds']} s  statuses {s['statuses']}"
        )
    h = r["huge_headers"]
    out += [
        "",
        f"3. huge headers: {h['connections']} connections x {h['header_mb']} MB header value",
        f"   outcomes           {h['outcomes']}   431 counted {h['refused_431']:.0f}",
        f"   RSS MiB            {h['rss_mb'][0]} -> peak {h['rss_mb'][1]}   "
        f"{h['seconds_per_connection']} s per connection   alive {h['alive']}",
    ]
    s = r["slow_headers"]
    out += [
        "",
        f"4. slow headers: {s['slow_connections']} connections, one byte per second "
        "(header timeout 10 s, the default)",
        f"   closed             {s['closed']} (408 read by {s['answered_408']}) after "
        f"{s['closed_after_s']} s   metrics {s['metrics_header_timeouts']:.0f}",
        f"   silent             {s['silent_closed']} of {s['silent_connections']} closed   "
        f"metrics idle closed {s['metrics_idle_closed']:.0f}   alive {s['alive']}",
    ]
    c = r["connection_cap"]
    out += [
        "",
        f"5. connection cap: {c['idle_connections_opened']} idle connections, "
        "--max-connections 1024 (the default)",
        f"   answered 503       {c['answered_503']}   metrics {c['metrics_refused']:.0f}   "
        f"a request answered 200 again after {c['seconds_until_a_request_was_answered']} s   "
        f"alive {c['alive']}",
    ]
    q = r["rate_limit"]
    out += [
        "",
        f"6. rate limit: {q['requests']} requests in {q['seconds']} s, --max-rps {q['max_rps']}",
        f"   statuses           {q['statuses']}   /health meanwhile {q['health_during']}",
    ]
    d, o = r["disk_full"], r["queue_overflow"]
    w, a = d["while_full"], d["after_space_back"]
    out += [
        "",
        f"7. prediction log on a full disk ({d['fault']})",
        f"   while full         {w['requests']} requests {w['statuses']}, "
        f"{w['lines_on_disk']} lines on disk, /health {w['health']} ({w['last_error']})",
        f"                      metrics: write errors {w['metrics_write_errors']:.0f}, "
        f"queued rows {w['metrics_queued_rows']:.0f}, dropped {w['metrics_dropped']:.0f}, "
        f"up {w['metrics_up']:.0f}",
        f"   space back         /health {a['health']} after {a['seconds_to_healthy']} s; "
        f"{a['requests']} more requests",
        f"                      {a['lines_on_disk']} of {a['lines_expected']} lines on disk, "
        f"in order without duplicates: {a['in_order_no_duplicates']}",
        f"                      metrics: written {a['metrics_written']:.0f}, "
        f"write errors {a['metrics_write_errors']:.0f}, dropped {a['metrics_dropped']:.0f}",
        f"   bounded queue      {o['entries']} entries during an outage, "
        f"max {o['max_queued_rows']} rows: {o['accepted']} kept, "
        f"metrics dropped {o['metrics_dropped_during']:.0f}, "
        f"queued {o['metrics_queued_during']:.0f}",
        f"                      after: metrics written {o['metrics_written_after']:.0f}, "
        f"{o['lines_on_disk']} lines on disk",
    ]
    if r.get("speed"):
        out += ["", *_speed_lines(r)]
    return "\n".join(out)


def _speed_lines(r: dict[str, Any]) -> list[str]:
    lines = [
        f"8. speed: this tree vs {r['speed_baseline']} (both stubs up, "
        f"{r['speed'][0]['rounds']} interleaved rounds, one-row requests; medians, and the "
        "least server CPU per request)",
        "   stub        conc     req/s   p50 ms   p99 ms  errors  CPU ms/req (median, min)",
    ]
    lines += [
        f"   {s['stub']:10s} {s['concurrency']:5d} {s['rps']:9.0f} {s['p50_ms']:8.2f} "
        f"{s['p99_ms']:8.2f} {s['errors']:7d}   {s['cpu_ms_per_request']:.3f}, "
        f"{s['cpu_ms_min']:.3f}"
        for s in r["speed"]
    ]
    m = r.get("micro")
    if m:
        lines += [
            "   in-process CPU per request (thread time, best of repeats), µs:",
            f"     ASGI app, POST /predict one row:   baseline {m['asgi']['baseline']:.2f}   "
            f"this tree {m['asgi']['this tree']:.2f}",
            f"     uvicorn protocol, trivial app:     baseline {m['protocol']['baseline']:.2f}   "
            f"this tree {m['protocol']['this tree']:.2f}",
        ]
    return lines


def render_speed(r: dict[str, Any]) -> str:
    """Only section 8 (``--speed-only``)."""
    meta = r["meta"]
    head = f"stub speed, {meta['date']}, {meta['cpus']} cores, load {meta['load']}"
    return "\n".join([head, *_speed_lines(r)])


def write_markdown(path: Path, text: str, argv: list[str]) -> None:
    """The figures as the page ``benchmarks/reliability.md``: the command, then the report."""
    command = " ".join(["python benchmarks/reliability.py", *argv])
    path.write_text(
        "# Reliability figures of the serving stub\n\n"
        "Regenerated by one script; what each section sends and asserts is in its docstring in\n"
        "`benchmarks/reliability.py`. Absolute times depend on the machine's load (in the\n"
        "header); the counts (5xx, crashes, lines lost) do not.\n\n"
        f"`{command}`\n\n```\n{text.rstrip()}\n```\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Reliability figures of the serving stub.")
    p.add_argument("--quick", action="store_true", help="smaller counts (~1 min)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--markdown",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the figures to FILE as Markdown (benchmarks/reliability.md)",
    )
    p.add_argument(
        "--speed-baseline",
        type=Path,
        default=None,
        metavar="TREE",
        help="also compare serving speed with the stub of this workbench source tree",
    )
    p.add_argument("--speed-only", action="store_true", help="only the speed comparison")
    p.add_argument("--rounds", type=int, default=8, help="speed rounds (1-20)")
    p.add_argument("--duration", type=float, default=3.0, help="s per speed run (0-30]")
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= 20 or not 0 < args.duration <= 30:
        p.error("--rounds must be in [1, 20] and --duration in (0, 30]")
    if args.speed_only and args.speed_baseline is None:
        p.error("--speed-only needs --speed-baseline")
    q = args.quick
    work = Path(tempfile.mkdtemp(prefix="wb-reliability-"))
    try:
        log(f"exporting bundles into {work}")
        numeric = export_numeric_bundle(work / "numeric")
        mixed = export_mixed_bundle(work / "mixed")
        result: dict[str, Any] = {
            "meta": {
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "cpus": os.cpu_count(),
                "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            }
        }
        if args.speed_baseline is not None:
            log(f"speed: exporting the baseline bundle with {args.speed_baseline}")
            (work / "base").mkdir()
            baseline = export_baseline(args.speed_baseline, work / "base" / "numeric")
            bundles = {"this tree": numeric, "baseline": baseline}
            samples = speed(bundles, args.rounds, args.duration, [8, 32])
            result["speed_baseline"] = str(args.speed_baseline)
            result["speed"] = speed_summary(samples)
            result["speed_samples"] = samples
            log("speed: in-process CPU per request")
            result["micro"] = micro(bundles, work, 20)
            if args.speed_only:
                print(json.dumps(result, indent=2) if args.json else render_speed(result))
                return 0
        log("malformed bodies")
        result["malformed"] = malformed(numeric, work, 2_000 if q else 10_000)
        log("schemathesis")
        examples = 30 if q else 100
        result["schemathesis"] = [
            schemathesis(numeric, work, examples, "s3cret"),
            schemathesis(mixed, work, examples, None),
        ]
        log("huge headers")
        result["huge_headers"] = huge_headers(numeric, 5 if q else 20, 50)
        log("slow headers")
        # slow + silent stay under the default cap of 1024 connections (section 5 covers it)
        result["slow_headers"] = slow_headers(numeric, 200 if q else 1000, 20, 30.0)
        log("connection cap")
        result["connection_cap"] = connection_cap(numeric, 1100)
        log("rate limit")
        result["rate_limit"] = rate_limit(numeric, 300 if q else 1000, 100)
        log("prediction-log faults")
        result["disk_full"] = disk_full(numeric, work, 1000 if q else 5000, 200)
        result["queue_overflow"] = queue_overflow(work, 5000, 1000)
        text = render(result)
        print(json.dumps(result, indent=2) if args.json else text, flush=True)
        if args.markdown is not None:
            write_markdown(args.markdown, text, argv if argv is not None else sys.argv[1:])
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
