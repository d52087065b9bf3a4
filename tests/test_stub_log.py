"""The prediction log never lies (issue 15, item 3): a failed write is retried, counted in
/metrics, reported by /health, and logging resumes when the disk allows; the queue is bounded
and what it drops is counted.

Faults are injected two ways: the log's write call made to raise ENOSPC (then recover, or cut a
line in two), and a real ENOSPC from the kernel (the log path a symlink to /dev/full, later
replaced by a regular file).
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from stub_harness import export_numeric_bundle, good_row

from workbench.serving import background_server, create_app
from workbench.serving._observe import Metrics, PredictionLog

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LOOPBACK = "http://127.0.0.1"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_numeric_bundle(tmp_path_factory.mktemp("log") / "bundle")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _wait(condition: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class FlakyDisk:
    """A write call that fails with ENOSPC while ``full`` is set (optionally after half)."""

    def __init__(self, *, half: bool = False) -> None:
        self.full = threading.Event()
        self.half = half
        self.failures = 0

    def __call__(self, fd: int, data: memoryview) -> int:
        if self.full.is_set():
            self.failures += 1
            if self.half and len(data) > 1 and self.failures == 1:
                return os.write(fd, data[: len(data) // 2])  # a short write, then the error
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["request_id"] for line in path.read_text().splitlines()]


def test_a_full_disk_is_reported_and_logging_resumes(bundle: Path, tmp_path: Path) -> None:
    """Before: after one write error the log stopped for good, /metrics said 0 dropped."""
    log = tmp_path / "predictions.jsonl"
    app = create_app(bundle, log_path=log)
    plog = app.state.stub.log
    disk = FlakyDisk()
    plog._os_write = disk
    body = {"rows": [good_row(bundle)]}
    with TestClient(app, base_url=LOOPBACK) as c:
        for i in range(5):
            assert (
                c.post("/predict", json=body, headers={"x-request-id": f"a{i}"}).status_code == 200
            )
        assert plog.flush(5)
        disk.full.set()
        for i in range(200):
            assert (
                c.post("/predict", json=body, headers={"x-request-id": f"b{i}"}).status_code == 200
            )
        assert _wait(lambda: disk.failures >= 2)
        health = c.get("/health").json()
        assert health["status"] == "degraded"
        state = health["prediction_log"]
        assert state["healthy"] is False and state["write_errors"] >= 1
        assert "No space left on device" in state["last_error"] and state["queued_rows"] == 200
        metrics = c.get("/metrics").text
        assert _metric(metrics, "workbench_prediction_log_up") == 0
        assert _metric(metrics, "workbench_prediction_log_write_errors_total") >= 1
        assert _metric(metrics, "workbench_prediction_log_queued_rows") == 200
        assert _metric(metrics, "workbench_prediction_log_dropped_total") == 0
        disk.full.clear()  # space is back
        assert plog.flush(10)
        assert c.get("/health").json()["status"] == "ok"
        for i in range(20):
            assert (
                c.post("/predict", json=body, headers={"x-request-id": f"c{i}"}).status_code == 200
            )
        metrics = c.get("/metrics").text
    expected = [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(200)]
    expected += [f"c{i}" for i in range(20)]
    assert _ids(log) == expected  # every answered prediction, in order, once
    assert _metric(metrics, "workbench_prediction_log_up") == 1
    assert _metric(metrics, "workbench_prediction_log_written_total") >= 205


def test_a_line_cut_by_a_full_disk_is_completed_not_repeated(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.jsonl")
    disk = FlakyDisk(half=True)
    log._os_write = disk  # type: ignore[method-assign]
    disk.full.set()
    for i in range(10):
        log.put(time.time(), f"r{i}", "v", 1.0, [[float(i)]], {"values": [i]})
    assert _wait(lambda: disk.failures >= 2)
    disk.full.clear()
    assert log.flush(10)
    log.close()
    assert _ids(tmp_path / "p.jsonl") == [f"r{i}" for i in range(10)]
    assert log.written == 10 and log.write_errors >= 1 and log.lost == 0


def test_real_enospc_from_the_kernel_then_space_comes_back(bundle: Path, tmp_path: Path) -> None:
    """The issue's scenario on a real server: 200s while the disk is full, then recovery."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    log = tmp_path / "predictions.jsonl"
    log.symlink_to("/dev/full")  # every write: ENOSPC
    body = {"rows": [good_row(bundle)]}
    with background_server(bundle, log_path=log) as url, httpx.Client(base_url=url) as http:
        for i in range(300):
            r = http.post("/predict", json=body, headers={"x-request-id": f"full-{i}"})
            assert r.status_code == 200
        assert _wait(lambda: http.get("/health").json()["status"] == "degraded")
        state = http.get("/health").json()["prediction_log"]
        assert "ENOSPC" in state["last_error"] or "No space left" in state["last_error"]
        replacement = tmp_path / "fresh.jsonl"
        replacement.write_text("")
        os.replace(replacement, log)  # the disk has room again (a regular file now)
        assert _wait(lambda: http.get("/health").json()["status"] == "ok")
        for i in range(50):
            http.post("/predict", json=body, headers={"x-request-id": f"ok-{i}"})
        metrics = http.get("/metrics").text
    expected = [f"full-{i}" for i in range(300)] + [f"ok-{i}" for i in range(50)]
    assert _ids(log) == expected
    assert _metric(metrics, "workbench_prediction_log_write_errors_total") >= 1
    assert _metric(metrics, "workbench_prediction_log_dropped_total") == 0
    served = _metric(metrics, 'workbench_http_requests_total{path="/predict",status="200"}')
    assert served == len(expected)


def test_the_queue_is_bounded_and_drops_are_counted(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.jsonl", max_queued_rows=100)
    metrics = Metrics(("/predict",), model_version="v", backend="onnx", log=log)
    disk = FlakyDisk()
    log._os_write = disk  # type: ignore[method-assign]
    disk.full.set()
    accepted = [
        log.put(time.time(), f"r{i}", "v", 1.0, [[1.0], [2.0]], {"values": [1, 2]})
        for i in range(300)
    ]
    assert accepted.count(True) == 50  # 2 rows each, 100 rows at most
    assert log.queued_rows == 100 and log.dropped == 250
    assert _metric(metrics.render(), "workbench_prediction_log_dropped_total") == 250
    disk.full.clear()
    assert log.flush(10)
    text = metrics.render()
    assert _metric(text, "workbench_prediction_log_written_total") == 50
    assert _metric(text, "workbench_prediction_log_queued_rows") == 0
    # space again: new entries are taken again
    assert log.put(time.time(), "after", "v", 1.0, [[1.0]], {"values": [1]})
    log.close()
    assert _ids(tmp_path / "p.jsonl")[-1] == "after"


def test_closing_on_a_full_disk_counts_what_is_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = PredictionLog(tmp_path / "p.jsonl")
    disk = FlakyDisk()
    log._os_write = disk  # type: ignore[method-assign]
    disk.full.set()
    for i in range(7):
        log.put(time.time(), f"r{i}", "v", 1.0, [[1.0]], {"values": [1]})
    t0 = time.monotonic()
    log.close(timeout=1.0)
    assert time.monotonic() - t0 < 2.0
    assert log.lost == 7 and log.written == 0
    assert "7 entries could not be written" in capsys.readouterr().err
    assert not log.put(time.time(), "late", "v", 1.0, [[1.0]], {"values": [1]})
    assert log.dropped == 1
