"""Limits below HTTP on a real stub process: head size, header/body timeouts, connection cap,
rate limit, and no start beyond loopback without a token (issue 15, item 1).

Each test runs a bundle's own ``serve.py`` on 127.0.0.1 and bounds every wait.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from stub_harness import (
    HOST,
    StubProcess,
    closed_within,
    connections,
    export_numeric_bundle,
    good_row,
    read_full_response,
    read_response,
    request_bytes,
)

from workbench.cli import cli
from workbench.exceptions import ConfigError
from workbench.serving import background_server, run_server


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_numeric_bundle(tmp_path_factory.mktemp("limits") / "bundle")


def _predict_body(bundle: Path) -> bytes:
    return json.dumps({"rows": [good_row(bundle)]}).encode()


def test_a_huge_header_gets_431_and_memory_stays_flat(bundle: Path) -> None:
    """Before: a 50 MB header value was answered 200; 20 of them took the stub to 1.15 GB."""
    with StubProcess(bundle) as stub:
        before = stub.rss_mb()
        # A head just over the limit, sent whole and then waited on: the client reads the 431.
        with socket.create_connection((HOST, stub.port), timeout=10) as s:
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n")
            status, body = read_response(s)
        assert status == 431, body
        assert json.loads(body)["field"] == "headers"
        # 20 connections each pushing an 8 MB header: each is cut off early.
        outcomes = []
        big = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 << 20)
        for _ in range(20):
            with socket.create_connection((HOST, stub.port), timeout=10) as s:
                try:
                    s.sendall(big)
                    outcomes.append(read_response(s)[0])
                except OSError:  # reset while still sending: refused before it was read
                    outcomes.append("reset")
        after = stub.rss_mb()
        assert set(outcomes) <= {431, "reset", 0}, outcomes
        refused = stub.metric('workbench_requests_refused_total{reason="head_too_large"}')
        assert refused == 21
        assert after - before < 40, (before, after)
        assert stub.get("/health")[0] == 200 and stub.alive()


def test_slow_and_silent_connections_are_closed_within_the_bound(bundle: Path) -> None:
    """Before: 1,000 slow-header connections were never closed."""
    head = f"POST /predict HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode() + b"a" * 200
    with StubProcess(bundle, "--header-timeout", "1") as stub:
        with connections(stub.port, 40) as slow, connections(stub.port, 10) as silent:
            t0 = time.monotonic()
            closed_at: dict[int, float] = {}
            answers: dict[int, bytes] = {}
            k = 0
            while len(closed_at) < len(slow) and time.monotonic() - t0 < 6:
                for i, s in enumerate(slow):  # one byte per 0.1 s each: never a whole head
                    if i in closed_at:
                        continue
                    try:
                        s.send(head[k : k + 1])
                    except OSError:
                        closed_at[i] = time.monotonic() - t0
                        continue
                    s.setblocking(False)
                    try:
                        got = s.recv(4096)
                        answers[i] = answers.get(i, b"") + got
                        if not got:
                            closed_at[i] = time.monotonic() - t0
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed_at[i] = time.monotonic() - t0
                    s.setblocking(True)
                k = min(k + 1, len(head) - 1)
                time.sleep(0.1)
            silent_closed = [closed_within(s, 3.0)[0] for s in silent]
        assert len(closed_at) == len(slow), f"{len(slow) - len(closed_at)} slow connections open"
        assert max(closed_at.values()) < 3.0  # timeout 1 s + one sweep + client polling
        assert all(silent_closed)
        assert sum(b" 408 " in a for a in answers.values()) >= 30  # most read it before close
        assert stub.metric('workbench_requests_refused_total{reason="header_timeout"}') == 40
        assert stub.metric("workbench_idle_connections_closed_total") == 10
        assert stub.metric("workbench_open_connections") == 1  # the /metrics scrape itself


def test_a_body_that_stops_arriving_gets_408(bundle: Path) -> None:
    with StubProcess(bundle, "--body-timeout", "1") as stub:
        with socket.create_connection((HOST, stub.port), timeout=10) as s:
            s.sendall(request_bytes(stub.port, b"x" * 100)[:-90])  # 10 of 100 body bytes
            t0 = time.monotonic()
            closed, got = closed_within(s, 5.0)
            elapsed = time.monotonic() - t0
        assert closed and elapsed < 3.0
        assert got.startswith(b"HTTP/1.1 408 "), got[:80]
        assert stub.metric('workbench_requests_refused_total{reason="body_timeout"}') == 1


def test_connections_beyond_the_cap_get_503(bundle: Path) -> None:
    body = _predict_body(bundle)
    with StubProcess(bundle, "--max-connections", "5", "--header-timeout", "30") as stub:
        with connections(stub.port, 5) as held:
            with socket.create_connection((HOST, stub.port), timeout=10) as extra:
                status, answer = read_response(extra)
            assert status == 503 and json.loads(answer)["field"] == "connection"
            # the held ones still work
            held[0].sendall(request_bytes(stub.port, body))
            assert read_response(held[0])[0] == 200
        time.sleep(0.3)  # the held connections close
        assert stub.metric("workbench_connections_refused_total") == 1


def test_rate_limit_answers_429_with_retry_after_and_spares_health(bundle: Path) -> None:
    body = _predict_body(bundle)
    with StubProcess(bundle, "--max-rps", "5") as stub:
        statuses = []
        retry_after = set()
        with socket.create_connection((HOST, stub.port), timeout=10) as s:
            for _ in range(30):
                s.sendall(request_bytes(stub.port, body))
                status, headers, _ = read_full_response(s)
                statuses.append(status)
                if "retry-after" in headers:
                    retry_after.add(int(headers["retry-after"]))
        # a burst of 5 (one second's worth), then about 5 more per second
        assert 5 <= statuses.count(200) <= 12 and statuses.count(429) >= 18, statuses
        assert retry_after and min(retry_after) >= 1
        assert all(stub.get("/health")[0] == 200 for _ in range(20))
        assert all(stub.get("/metrics")[0] == 200 for _ in range(20))
        assert stub.metric('workbench_requests_refused_total{reason="rate_limit"}') >= 18


def test_no_start_beyond_loopback_without_a_token(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the stub warned and served on 0.0.0.0 without a token.

    A regression must not expose anything, so listening is made to fail here, and the bundle's
    own entry point gets a documentation address (192.0.2.1) that cannot be bound on this host.
    """

    def no_listening(host: str, port: int) -> None:
        raise AssertionError(f"the stub tried to listen on {host}:{port}")

    monkeypatch.setattr("workbench.serving._server._listen", no_listening)
    started: list[str] = []
    for host in ("0.0.0.0", "::", "example.internal"):
        with pytest.raises(ConfigError, match=f"refusing to serve on {host} without a token"):
            run_server(bundle, host=host, port=0, on_ready=started.append)
        refused = pytest.raises(ConfigError, match="without a token")
        with refused, background_server(bundle, host=host):
            pass
    assert not started
    result = CliRunner().invoke(cli, ["serve", str(bundle), "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "without a token" in result.output
    assert "Traceback" not in result.output
    # The bundle's own entry point, as the Dockerfile runs it (STUB_TOKEN empty).
    run = subprocess.run(
        [sys.executable, str(bundle / "serve.py"), "--host", "192.0.2.1", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"STUB_TOKEN": "", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 2 and "refusing to serve on 192.0.2.1 without a token" in run.stderr
    dockerfile = (bundle / "Dockerfile").read_text()
    assert "REFUSES TO START WITHOUT A TOKEN" in dockerfile and "-e STUB_TOKEN=" in dockerfile
    assert "without a token" in (bundle / "README.md").read_text()


def test_bad_limits_are_config_errors(bundle: Path) -> None:
    from workbench.serving import limits

    with pytest.raises(ConfigError, match=r"max_header_bytes \(--max-header-bytes\) is 10"):
        limits(max_header_bytes=10)
    with pytest.raises(ConfigError, match="allowed host 'a b'"):
        limits(allowed_hosts=("a b",))
    result = CliRunner().invoke(cli, ["serve", str(bundle), "--header-timeout", "0"])
    assert result.exit_code == 2 and "--header-timeout" in result.output


def test_limits_reach_every_worker(bundle: Path) -> None:
    """With --workers 2 each worker rebuilds the limits from the environment."""
    with StubProcess(bundle, "--workers", "2", "--header-timeout", "1") as stub:
        assert stub.get("/health")[0] == 200  # the workers are up
        with connections(stub.port, 4) as silent:
            t0 = time.monotonic()
            closed = [closed_within(s, 5.0)[0] for s in silent]
        assert all(closed) and time.monotonic() - t0 < 4.0
        assert stub.get("/metadata", {"Host": "evil.example"})[0] == 400


def test_host_entries_and_limits_round_trip() -> None:
    from workbench.serving._limits import HostAllowList, Limits

    hosts = HostAllowList(["::1", "[fe80::1]:8080", "Model.Internal", "web:80"])
    assert hosts.allows(b"[::1]:5000", 5000) and hosts.allows(b"[::1]", 80)
    assert hosts.allows(b"[fe80::1]:8080", 1) and not hosts.allows(b"[fe80::1]:8081", 1)
    assert hosts.allows(b"model.internal:1234", 1) and hosts.allows(b"MODEL.internal", 1)
    assert hosts.allows(b"web", 1) and hosts.allows(b"web:80", 1) and not hosts.allows(b"web:81", 1)
    assert not hosts.allows(None, 1) and not hosts.allows(b"", 1)
    assert not hosts.allows(b"model.internal.evil.example", 1)
    default = HostAllowList(None)
    assert default.allows(b"localhost:8080", 8080) and not default.allows(b"localhost:8081", 8080)
    limits = Limits(max_rps=2.5, allowed_hosts=("a", "b:1"), header_timeout_s=3)
    assert Limits.from_json(limits.to_json()) == limits
