"""What the stub records: Prometheus metrics and the JSONL prediction log.

Copied into every bundle: imports nothing from the workbench. Metrics are hand-written rather than
prometheus_client because the stub needs four series, updating them must cost well under a
microsecond on the request path, and the bundle should not carry another dependency.

Both objects are updated from the event-loop thread only; the prediction log hands entries to a
background writer thread through a bounded buffer so a slow disk never delays a response.
"""

from __future__ import annotations

import atexit
import os
import threading
from bisect import bisect_left
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

__all__ = ["Metrics", "PredictionLog"]

# Seconds; dense below 10 ms where a healthy stub lives.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class Metrics:
    """Request counts by path and status, a latency histogram per path, and model counters."""

    def __init__(self, paths: tuple[str, ...], *, model_version: str, backend: str) -> None:
        self._paths = frozenset(paths)
        self.requests: dict[tuple[str, int], int] = {}
        self._buckets = {p: [0] * (len(LATENCY_BUCKETS) + 1) for p in (*paths, "other")}
        self._sum = dict.fromkeys(self._buckets, 0.0)
        self.rows_predicted = 0
        self.log_dropped = 0
        self._info = f'model_version="{_esc(model_version)}",backend="{backend}"'

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        if path not in self._paths:
            path = "other"  # unknown paths share one label: bounded cardinality
        key = (path, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        self._buckets[path][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sum[path] += seconds

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        out = [
            "# HELP workbench_http_requests_total HTTP requests by path and status code.",
            "# TYPE workbench_http_requests_total counter",
        ]
        for (path, status), n in sorted(self.requests.items()):
            out.append(f'workbench_http_requests_total{{path="{path}",status="{status}"}} {n}')
        out += [
            "# HELP workbench_http_request_errors_total Requests answered 4xx (client) or 5xx.",
            "# TYPE workbench_http_request_errors_total counter",
        ]
        errors: dict[tuple[str, str], int] = {}
        for (path, status), n in self.requests.items():
            if status >= 400:
                kind = "client" if status < 500 else "server"
                errors[path, kind] = errors.get((path, kind), 0) + n
        for (path, kind), n in sorted(errors.items()):
            out.append(f'workbench_http_request_errors_total{{path="{path}",kind="{kind}"}} {n}')
        out += [
            "# HELP workbench_http_request_duration_seconds Time from request to response end.",
            "# TYPE workbench_http_request_duration_seconds histogram",
        ]
        for path, counts in sorted(self._buckets.items()):
            total = sum(counts)
            if not total:
                continue
            cumulative = 0
            for le, n in zip((*LATENCY_BUCKETS, "+Inf"), counts, strict=True):
                cumulative += n
                out.append(
                    f'workbench_http_request_duration_seconds_bucket{{path="{path}",le="{le}"}}'
                    f" {cumulative}"
                )
            out.append(
                f'workbench_http_request_duration_seconds_sum{{path="{path}"}} {self._sum[path]}'
            )
            out.append(f'workbench_http_request_duration_seconds_count{{path="{path}"}} {total}')
        out += [
            "# HELP workbench_predicted_rows_total Rows predicted.",
            "# TYPE workbench_predicted_rows_total counter",
            f"workbench_predicted_rows_total {self.rows_predicted}",
            "# HELP workbench_prediction_log_dropped_total Log entries dropped (queue full).",
            "# TYPE workbench_prediction_log_dropped_total counter",
            f"workbench_prediction_log_dropped_total {self.log_dropped}",
            "# HELP workbench_model_info The served model.",
            "# TYPE workbench_model_info gauge",
            f"workbench_model_info{{{self._info}}} 1",
        ]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PredictionLog:
    """Append-only JSONL log written by a background thread.

    One line per request: ``ts`` (UTC ISO 8601), ``request_id``, ``model_version``,
    ``latency_ms``, ``inputs`` (rows in signature order) and ``outputs`` (as returned).

    The request path only appends a tuple to a deque (no lock, no syscall, no thread wake-up);
    the writer wakes every ``interval_s``, serializes what accumulated and writes it in a single
    ``write`` on an ``O_APPEND`` descriptor, so several uvicorn workers can share one file
    without interleaving lines. Waking the writer per entry (a ``queue.Queue``) cost 40% of the
    stub's throughput in GIL hand-offs; batching costs a few percent. At most ``max_queue``
    entries wait; beyond that entries are dropped and counted rather than blocking a response.
    """

    def __init__(
        self, path: str | Path, *, max_queue: int = 100_000, interval_s: float = 0.05
    ) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._pending: deque[Any] = deque()  # append/popleft are atomic under the GIL
        self._max = max_queue
        self._interval = interval_s
        self._wake = threading.Event()
        self._stopping = False
        self.dropped = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        # The app's lifespan shutdown closes the log; this covers hosts that skip lifespan.
        atexit.register(self.close)

    def put(
        self,
        ts: float,
        request_id: str,
        model_version: str,
        latency_ms: float,
        inputs: list[list[Any]],
        outputs: dict[str, Any],
    ) -> bool:
        """Queue one entry without blocking; return False (and count it) when the queue is full."""
        if len(self._pending) >= self._max or self._stopping:
            self.dropped += 1
            return False
        self._pending.append((ts, request_id, model_version, latency_ms, inputs, outputs))
        return True

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every entry queued so far is on disk; False if ``timeout`` passed first."""
        if self._closed:
            return True
        done = threading.Event()
        self._pending.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the thread and close the file."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        os.close(self._fd)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            stopping = self._stopping  # read before draining: nothing is added after it is set
            self._drain()
            if stopping:
                return

    def _drain(self) -> None:
        pending = self._pending
        while pending:
            items = [pending.popleft() for _ in range(min(len(pending), 4096))]
            lines = [_line(i) for i in items if type(i) is tuple]
            if lines:
                self._write(b"".join(lines))
            for item in items:
                if type(item) is threading.Event:
                    item.set()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]


def _line(item: tuple[Any, ...]) -> bytes:
    ts, request_id, model_version, latency_ms, inputs, outputs = item
    record = {
        "ts": datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds"),
        "request_id": request_id,
        "model_version": model_version,
        "latency_ms": round(latency_ms, 3),
        "inputs": inputs,
        "outputs": outputs,
    }
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
