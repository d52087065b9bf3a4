"""What the stub records: Prometheus metrics and the JSONL prediction log.

Copied into every bundle: imports nothing from the workbench. Metrics are hand-written rather than
prometheus_client because the stub needs four series, updating them must cost well under a
microsecond on the request path, and the bundle should not carry another dependency.

Both objects are updated from the event-loop thread only; the prediction log hands entries to a
background writer thread through a bounded buffer so a slow or full disk never delays a
response, and says what it could not write (``/metrics``, ``/health``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
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
    """Request counts by path and status, a latency histogram per path, and model counters.

    ``log`` (a :class:`PredictionLog`) and ``guard`` (the protocol limits' counters, an object
    with ``counters() -> dict``) are read when rendering; either may be ``None``.
    """

    def __init__(
        self,
        paths: tuple[str, ...],
        *,
        model_version: str,
        backend: str,
        log: PredictionLog | None = None,
        guard: Any = None,
    ) -> None:
        self._paths = frozenset(paths)
        self.requests: dict[tuple[str, int], int] = {}
        self._buckets = {p: [0] * (len(LATENCY_BUCKETS) + 1) for p in (*paths, "other")}
        self._sum = dict.fromkeys(self._buckets, 0.0)
        self.rows_predicted = 0
        self.non_finite_rows = 0  # rows answered null: the model's output was NaN or inf
        self.refused: dict[str, int] = {}  # requests refused by a guard, by reason
        self.out_of_range_requests = 0
        self.out_of_range_values: dict[str, int] = {}  # by feature
        self.log = log
        self.guard = guard
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
            "# HELP workbench_non_finite_rows_total Rows answered null because the model's "
            "output was not finite (inputs beyond what it can compute with).",
            "# TYPE workbench_non_finite_rows_total counter",
            f"workbench_non_finite_rows_total {self.non_finite_rows}",
        ]
        out += self._refusals() + self._out_of_range() + self._log_lines()
        out += [
            "# HELP workbench_model_info The served model.",
            "# TYPE workbench_model_info gauge",
            f"workbench_model_info{{{self._info}}} 1",
        ]
        return "\n".join(out) + "\n"

    def _refusals(self) -> list[str]:
        counters = self.guard.counters() if self.guard is not None else {}
        reasons = dict(self.refused)
        for key, reason in (
            ("head_too_large", "head_too_large"),
            ("header_timeouts", "header_timeout"),
            ("body_timeouts", "body_timeout"),
        ):
            if counters.get(key):
                reasons[reason] = counters[key]
        out = [
            "# HELP workbench_requests_refused_total Requests refused by a limit or guard, "
            "by reason (host, rate_limit, content_type, request_id, duplicate_keys, "
            "head_too_large, header_timeout, body_timeout).",
            "# TYPE workbench_requests_refused_total counter",
        ]
        out += [
            f'workbench_requests_refused_total{{reason="{r}"}} {n}'
            for r, n in sorted(reasons.items())
        ]
        if counters:
            out += [
                "# HELP workbench_open_connections Open client connections.",
                "# TYPE workbench_open_connections gauge",
                f"workbench_open_connections {counters['open_connections']}",
                "# HELP workbench_connections_refused_total Connections refused at the "
                "--max-connections limit.",
                "# TYPE workbench_connections_refused_total counter",
                f"workbench_connections_refused_total {counters['refused_connections']}",
                "# HELP workbench_idle_connections_closed_total Connections closed after "
                "sending no request within the header timeout.",
                "# TYPE workbench_idle_connections_closed_total counter",
                f"workbench_idle_connections_closed_total {counters['idle_closed']}",
            ]
        return out

    def _out_of_range(self) -> list[str]:
        out = [
            "# HELP workbench_out_of_range_requests_total Answered requests with a value far "
            "outside the training range.",
            "# TYPE workbench_out_of_range_requests_total counter",
            f"workbench_out_of_range_requests_total {self.out_of_range_requests}",
            "# HELP workbench_out_of_range_values_total Values far outside the training range, "
            "by feature.",
            "# TYPE workbench_out_of_range_values_total counter",
        ]
        out += [
            f'workbench_out_of_range_values_total{{feature="{_esc(f)}"}} {n}'
            for f, n in sorted(self.out_of_range_values.items())
        ]
        return out

    def _log_lines(self) -> list[str]:
        log = self.log
        dropped = 0 if log is None else log.dropped + log.lost
        out = [
            "# HELP workbench_prediction_log_dropped_total Log entries not written: queue full "
            "during a write outage, unserializable, or still unwritten at shutdown.",
            "# TYPE workbench_prediction_log_dropped_total counter",
            f"workbench_prediction_log_dropped_total {dropped}",
        ]
        if log is None:
            return out
        return [
            *out,
            "# HELP workbench_prediction_log_written_total Log lines written.",
            "# TYPE workbench_prediction_log_written_total counter",
            f"workbench_prediction_log_written_total {log.written}",
            "# HELP workbench_prediction_log_write_errors_total Failed log write attempts "
            "(each is retried).",
            "# TYPE workbench_prediction_log_write_errors_total counter",
            f"workbench_prediction_log_write_errors_total {log.write_errors}",
            "# HELP workbench_prediction_log_queued_rows Input rows waiting to be written.",
            "# TYPE workbench_prediction_log_queued_rows gauge",
            f"workbench_prediction_log_queued_rows {log.queued_rows}",
            "# HELP workbench_prediction_log_up 1 when the last log write succeeded.",
            "# TYPE workbench_prediction_log_up gauge",
            f"workbench_prediction_log_up {int(log.healthy)}",
        ]


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class PredictionLog:
    """Append-only JSONL log written by a background thread; it never fails silently.

    One line per request: ``ts`` (UTC ISO 8601), ``request_id``, ``model_version``,
    ``latency_ms``, ``inputs`` (rows in signature order) and ``outputs`` (as returned).

    The request path only appends a tuple to a deque (no lock, no syscall, no thread wake-up);
    the writer wakes every ``interval_s``, serializes what accumulated and writes it in a single
    ``write`` on an ``O_APPEND`` descriptor, so several uvicorn workers can share one file
    without interleaving lines. Waking the writer per entry (a ``queue.Queue``) cost 40% of the
    stub's throughput in GIL hand-offs; batching costs a few percent.

    Faults: a failed write (disk full, I/O error, the folder removed) is counted
    (``write_errors``), marks the log unhealthy and is retried with back-off (50 ms doubling to
    2 s) on a freshly opened descriptor, keeping the unwritten bytes, so logging resumes by itself
    when the disk allows, in order, without losing or repeating a line. Meanwhile entries wait
    in memory up to ``max_queued_rows`` input rows (bounding memory whatever the outage lasts);
    beyond that a new entry is dropped and counted (``dropped``). Entries still unwritten when
    the log is closed are counted in ``lost`` and reported on stderr. A line cut short by a full
    disk is completed on the retry; with several workers another worker's line may land
    between the two parts (one unparseable line).
    """

    # The one write call, as an attribute so fault tests can make the disk fail or hang.
    _os_write = staticmethod(os.write)

    def __init__(
        self,
        path: str | Path,
        *,
        max_queued_rows: int = 50_000,
        interval_s: float = 0.05,
        max_backoff_s: float = 2.0,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = self._open()  # fails here, at start, when it cannot be opened
        self._pending: deque[Any] = deque()  # append/popleft are atomic under the GIL
        self._max_rows = max_queued_rows
        self._interval = interval_s
        self._max_backoff = max_backoff_s
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._close_by = float("inf")
        # Each counter has one writing thread: the request path or the writer thread.
        self._rows_in = 0  # request path
        self.dropped = 0  # request path: queue full, or arriving after close
        self._rows_out = 0  # writer
        self.written = 0  # writer: lines on disk
        self.write_errors = 0  # writer: failed write attempts
        self.lost = 0  # writer: unwritable entries, or still unwritten at close
        self.healthy = True  # writer: the last write attempt succeeded
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self._carry: tuple[memoryview, int, int, list[threading.Event]] | None = None
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
        if self._rows_in - self._rows_out >= self._max_rows or self._stopping:
            self.dropped += 1
            return False
        self._rows_in += len(inputs)
        self._pending.append((ts, request_id, model_version, latency_ms, inputs, outputs))
        return True

    @property
    def queued_rows(self) -> int:
        """Input rows accepted but not yet on disk."""
        return max(0, self._rows_in - self._rows_out)

    def status(self) -> dict[str, Any]:
        """The log's state for ``/health``."""
        return {
            "path": str(self.path),
            "healthy": self.healthy,
            "written": self.written,
            "queued_rows": self.queued_rows,
            "dropped": self.dropped + self.lost,
            "write_errors": self.write_errors,
            "last_error": self.last_error,
            "last_error_at": None
            if self.last_error_at is None
            else datetime.fromtimestamp(self.last_error_at, UTC).isoformat(timespec="seconds"),
        }

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every entry queued so far is on disk; False if ``timeout`` passed first."""
        if self._closed:
            return True
        done = threading.Event()
        self._pending.append(done)
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (retrying failed writes for most of ``timeout``), then stop."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._close_by = time.monotonic() + 0.8 * timeout
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.lost:
            print(
                f"prediction log {self.path}: {self.lost} entries could not be written "
                f"(last error: {self.last_error})",
                file=sys.stderr,
                flush=True,
            )

    # -- the writer thread -------------------------------------------------------------------

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _run(self) -> None:
        backoff = 0.0
        while True:
            wait = backoff or self._interval
            if self._stopping:  # closing: the last try falls on the close deadline
                wait = min(wait, max(0.0, self._close_by - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            stopping = self._stopping  # read before draining: nothing is added after it is set
            try:
                done = self._drain()
            except Exception as e:  # the writer must outlive any surprise
                self._failed(e)
                done = False
            if done:
                backoff = 0.0
                if stopping:
                    return
                continue
            backoff = min(self._max_backoff, max(0.05, backoff * 2))
            if stopping and time.monotonic() >= self._close_by:
                self._give_up()
                return

    def _drain(self) -> bool:
        """Write everything pending; False when a write failed (the rest stays queued)."""
        pending = self._pending
        while self._carry is not None or pending:
            if self._carry is None:
                items = [pending.popleft() for _ in range(min(len(pending), 4096))]
                lines, rows, events = [], 0, []
                for item in items:
                    if type(item) is not tuple:
                        events.append(item)
                        continue
                    rows += len(item[4])
                    try:
                        lines.append(_line(item))
                    except Exception as e:  # an unserializable entry
                        self.lost += 1
                        self._rows_out += len(item[4])
                        rows -= len(item[4])
                        self._note(f"entry {item[1]!r} cannot be serialized: {e}")
                self._carry = (memoryview(b"".join(lines)), len(lines), rows, events)
            view, n_lines, rows, events = self._carry
            try:
                if self._fd is None:
                    self._fd = self._open()
                while view:
                    view = view[self._os_write(self._fd, view) :]
            except OSError as e:
                self._carry = (view, n_lines, rows, events)  # keep what is still unwritten
                self._failed(e)
                return False
            self._carry = None
            self.written += n_lines
            self._rows_out += rows
            self.healthy = True
            for event in events:
                event.set()
        return True

    def _failed(self, e: BaseException) -> None:
        self.write_errors += 1
        self.healthy = False
        self._note(f"{type(e).__name__}: {e}")
        if self._fd is not None:  # reopen on the next try: the file may have been replaced
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def _note(self, message: str) -> None:
        self.last_error = message[:300]
        self.last_error_at = time.time()

    def _give_up(self) -> None:
        """Closing while writes still fail: count what stays unwritten, release the waiters."""
        if self._carry is not None:
            _, n_lines, rows, events = self._carry
            self.lost += n_lines
            self._rows_out += rows
            for event in events:
                event.set()
            self._carry = None
        while self._pending:
            item = self._pending.popleft()
            if type(item) is tuple:
                self.lost += 1
                self._rows_out += len(item[4])
            else:
                item.set()


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
