"""The router of an A/B test: an online split by a stable hash of the request key, or shadow
traffic (answer from A, mirror to B).

* **online**: request ``key`` goes to B when ``H(salt:key) < split`` (``H`` the first 8 bytes of
  sha256 as a number in [0, 1)), else to A. The same key always lands on the same variant, in
  every process and every run, whatever else is in the stream; the share of B converges to
  ``split``. The caller receives the answer of the variant it was routed to; the router never
  falls back to the other variant, because a fallback would hide the errors being measured.
* **shadow**: every request goes to A and the caller receives A's answer, untouched. A copy
  goes to B; B's answer and latency are recorded, never returned. By default (``deferred``) the
  copy is sent after A's answer was handed back and before the next request goes out, so the two
  stubs never run at once: both stubs are threads of this process on a 2-core machine, and a
  concurrent mirror measurably inflates A's latency (p50 1.0 → 2.7 ms seen with 600 requests),
  which real shadow infrastructure on separate machines would not. ``background`` sends the
  copies from a thread through a bounded queue (dropped and counted when full), as a proxy in
  production would; use it to see the cost of mirroring on one machine.

Latency is measured by the router around each HTTP request (what a caller waits for: network,
JSON and model), with ``time.perf_counter``. Requests carry ``X-Request-ID: <key>``, so both
stubs' prediction logs are keyed like the labels feed. Only loopback URLs are accepted: an A/B
test replays traffic against stubs on this machine.
"""

from __future__ import annotations

import ipaddress
import math
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from workbench.exceptions import ConfigError

from ._users import unit_hash

if TYPE_CHECKING:
    import httpx
    import pandas as pd

    from workbench.traffic import Stream

__all__ = [
    "DEFAULT_SALT",
    "MIRRORS",
    "MODES",
    "VARIANTS",
    "Answer",
    "RouteResult",
    "Router",
    "assign_variant",
    "route_stream",
]

VARIANTS = ("A", "B")
MODES = ("online", "shadow")
MIRRORS = ("deferred", "background")
DEFAULT_SALT = "workbench-abtest"
_SENTINEL = object()


def assign_variant(key: str, split: float, *, salt: str = DEFAULT_SALT) -> str:
    """The variant of a request in an online split: ``"B"`` when ``H(salt:key) < split``.

    Args:
        key: The request key (a user or session id in real traffic).
        split: Share of the traffic routed to B, within [0, 1].
        salt: Changes the assignment between experiments while keeping it stable within one.

    Example:
        >>> assign_variant("r000042", 0.5) == assign_variant("r000042", 0.5)
        True
    """
    if not 0.0 <= split <= 1.0:
        raise ConfigError(f"split is the share of traffic for B; it must be within [0, 1]: {split}")
    return "B" if unit_hash(f"{salt}:{key}") < split else "A"


@dataclass(frozen=True)
class Answer:
    """What one variant answered to one request.

    Attributes:
        key: The request key.
        variant: ``A`` or ``B``.
        role: ``served`` (the caller received it) or ``shadow`` (mirrored, never returned).
        status: HTTP status; 0 when no response came (connection error, timeout).
        latency_ms: Time from sending to the full response (or to the failure).
        body: The parsed JSON answer (``None`` without a JSON response).
        error: Why the request failed (``None`` on a 2xx answer).
        sent_at: ``time.time()`` when the request was sent.
    """

    key: str
    variant: str
    role: str
    status: int
    latency_ms: float
    body: dict[str, Any] | None
    error: str | None
    sent_at: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _check_loopback(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ConfigError(
            f"stub URL {url!r} is not on this machine; an A/B test replays traffic against "
            "stubs on 127.0.0.1 (e.g. http://127.0.0.1:8080)"
        )
    base = url.rstrip("/")
    return base if base.endswith("/predict") else base + "/predict"


class Router:
    """Routes requests to the stubs of variants A and B (see the module docstring).

    ``handle`` is meant for one calling thread, the way a replay sends its stream. Use it as a
    context manager: leaving it sends the mirrored requests still pending (bounded by
    ``timeout_s`` each) and closes the connections.

    Args:
        endpoints: ``{"A": url, "B": url}``; base URLs or ``/predict`` URLs on loopback.
        mode: ``online`` or ``shadow``.
        split: Share of traffic routed to B (online).
        salt: Salt of the routing hash.
        timeout_s: Per-request timeout.
        token: Bearer token of the stubs, if they need one.
        mirror: ``deferred`` (send B's copy between requests) or ``background`` (a thread).
        mirror_queue: Mirrored requests waiting for B at most (``background``).
        drain_s: On close, the background mirror's time to empty its queue.

    Example:
        >>> with Router({"A": url_a, "B": url_b}, mode="shadow") as router:  # doctest: +SKIP
        ...     answer = router.handle("r000001", {"mean radius": 14.2, ...})
        >>> router.mirrored  # B's answers, never returned  # doctest: +SKIP
    """

    def __init__(
        self,
        endpoints: Mapping[str, str],
        *,
        mode: str,
        split: float = 0.5,
        salt: str = DEFAULT_SALT,
        timeout_s: float = 10.0,
        token: str | None = None,
        mirror: str = "deferred",
        mirror_queue: int = 10_000,
        drain_s: float = 30.0,
    ) -> None:
        import httpx

        if mode not in MODES:
            raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        missing = [v for v in VARIANTS if v not in endpoints]
        if missing:
            raise ConfigError(f"endpoints need a URL for each of A and B; missing {missing}")
        assign_variant("", split)  # validates split
        if mirror not in MIRRORS:
            raise ConfigError(f"mirror {mirror!r} is not one of {', '.join(MIRRORS)}")
        if mirror_queue < 1:
            raise ConfigError(f"mirror_queue must be at least 1, got {mirror_queue}")
        self.mode = mode
        self.mirror = mirror
        self.split = split
        self.salt = salt
        self._urls = {v: _check_loopback(endpoints[v]) for v in VARIANTS}
        headers = {"authorization": f"Bearer {token}"} if token else {}
        # One client (one keep-alive connection pool) per variant and per thread: httpx clients
        # may be shared, but separate pools keep the mirror from queueing behind A's requests.
        self._clients = {v: httpx.Client(timeout=timeout_s, headers=headers) for v in VARIANTS}
        self._mirror_client = httpx.Client(timeout=timeout_s, headers=headers)
        self.served: list[Answer] = []
        self.mirrored: list[Answer] = []
        self.mirror_dropped = 0
        # One slot more than the mirrored requests may take, for the sentinel of close().
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=mirror_queue + 1)
        self._queue_limit = mirror_queue
        self._drain_s = drain_s
        self._drain_until = math.inf
        self._mirror: threading.Thread | None = None
        self._pending: tuple[str, bytes] | None = None
        self._timeout_s = timeout_s
        if mode == "shadow" and mirror == "background":
            self._mirror = threading.Thread(target=self._mirror_loop, name="abtest-mirror")
            self._mirror.daemon = True
            self._mirror.start()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def variant_of(self, key: str) -> str:
        """The variant whose answer the caller receives for ``key``."""
        return "A" if self.mode == "shadow" else assign_variant(key, self.split, salt=self.salt)

    def handle(self, key: str, features: Mapping[str, Any]) -> Answer:
        """Route one request and return the answer the caller receives.

        Args:
            key: The request key (sent as ``X-Request-ID``).
            features: Feature name -> value (``None`` for a missing value).
        """
        import orjson

        self._flush()  # the previous request's copy, before this request goes out
        body = orjson.dumps({"records": [dict(features)]})
        variant = self.variant_of(key)
        answer = _send(self._clients[variant], self._urls[variant], key, body, variant, "served")
        self.served.append(answer)
        if self.mode != "shadow":
            return answer
        if self.mirror == "deferred":
            self._pending = (key, body)
            return answer
        if self._queue.qsize() >= self._queue_limit:
            self.mirror_dropped += 1  # B is behind: drop the copy rather than slow A down
        else:
            self._queue.put_nowait((key, body))
        return answer

    def _flush(self) -> None:
        if self._pending is not None:
            key, body = self._pending
            self._pending = None
            self.mirrored.append(
                _send(self._mirror_client, self._urls["B"], key, body, "B", "shadow")
            )

    def _mirror_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _SENTINEL:
                return
            if time.monotonic() > self._drain_until:
                self.mirror_dropped += 1  # closing and out of time: count, do not send
                continue
            key, body = job
            self.mirrored.append(
                _send(self._mirror_client, self._urls["B"], key, body, "B", "shadow")
            )

    def close(self) -> None:
        """Send the pending mirror requests, then close every connection.

        The background mirror gets ``drain_s`` to empty its queue; what is still queued then is
        dropped and counted in :attr:`mirror_dropped`.
        """
        self._flush()
        if self._mirror is not None and self._mirror.is_alive():
            self._drain_until = time.monotonic() + self._drain_s
            self._queue.put(_SENTINEL)  # never blocks: the queue holds one slot for it
            self._mirror.join(self._drain_s + self._timeout_s)
        for client in (*self._clients.values(), self._mirror_client):
            client.close()


def _send(client: httpx.Client, url: str, key: str, body: bytes, variant: str, role: str) -> Answer:
    import httpx
    import orjson

    sent_at = time.time()
    t0 = time.perf_counter()
    try:
        response = client.post(
            url, content=body, headers={"content-type": "application/json", "x-request-id": key}
        )
    except httpx.TimeoutException:
        return Answer(key, variant, role, 0, _ms(t0), None, "timeout", sent_at)
    except httpx.TransportError as e:
        return Answer(key, variant, role, 0, _ms(t0), None, type(e).__name__, sent_at)
    latency = _ms(t0)
    parsed: dict[str, Any] | None = None
    with suppress(orjson.JSONDecodeError):
        loaded = orjson.loads(response.content)
        parsed = loaded if isinstance(loaded, dict) else None
    error = None
    if not 200 <= response.status_code < 300:
        detail = (parsed or {}).get("detail") or response.reason_phrase
        error = f"HTTP {response.status_code}: {str(detail)[:200]}"
    return Answer(key, variant, role, response.status_code, latency, parsed, error, sent_at)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


@dataclass(frozen=True)
class RouteResult:
    """What replaying a stream through a :class:`Router` produced.

    Attributes:
        frame: One row per answer (see :func:`answers_frame`): the served answer of every
            request sent, plus B's mirrored answer in shadow mode.
        sent: Requests sent (the caller's view).
        mirrored: Mirrored requests answered or failed (shadow).
        mirror_dropped: Mirrored requests dropped because B's queue was full.
        elapsed_s: Wall time of the replay.
        truncated: The time budget ran out before the stream did.
    """

    frame: pd.DataFrame
    sent: int
    mirrored: int
    mirror_dropped: int
    elapsed_s: float
    truncated: bool


def route_stream(
    stream: Stream,
    endpoints: Mapping[str, str],
    *,
    mode: str,
    split: float = 0.5,
    salt: str = DEFAULT_SALT,
    timeout_s: float = 10.0,
    max_seconds: float = 300.0,
    limit: int | None = None,
    warmup: int = 3,
    token: str | None = None,
    mirror: str = "deferred",
) -> RouteResult:
    """Replay a stream through a :class:`Router`, one request after the other.

    Args:
        stream: The requests (``key``, ``ts`` and features).
        endpoints: ``{"A": url, "B": url}`` of running stubs on loopback.
        mode: ``online`` or ``shadow``.
        split: Share of traffic for B (online).
        salt: Salt of the routing hash.
        timeout_s: Per-request timeout.
        max_seconds: Stop sending after this long (the result says ``truncated``).
        limit: Send at most this many requests.
        warmup: Requests sent to each stub first and not recorded (keyed ``warmup-<i>``), so
            neither variant pays for opening its connection or its first model call.
        token: Bearer token of the stubs.
        mirror: How shadow copies reach B: ``deferred`` or ``background`` (see the module).

    Returns:
        The :class:`RouteResult`.
    """
    if max_seconds <= 0:
        raise ConfigError(f"max_seconds must be positive, got {max_seconds}")
    requests = _bounded(stream.iter_requests(), limit)
    t0 = time.monotonic()
    truncated = False
    with Router(
        endpoints,
        mode=mode,
        split=split,
        salt=salt,
        timeout_s=timeout_s,
        token=token,
        mirror=mirror,
    ) as router:
        _warm_up(router, stream, warmup)
        for request in requests:
            if time.monotonic() - t0 > max_seconds:
                truncated = True
                break
            router.handle(request["key"], request["features"])
    stamps = dict(zip(stream.requests["key"], stream.requests["ts"], strict=True))
    frame = answers_frame([*router.served, *router.mirrored], stamps)
    return RouteResult(
        frame=frame,
        sent=len(router.served),
        mirrored=len(router.mirrored),
        mirror_dropped=router.mirror_dropped,
        elapsed_s=round(time.monotonic() - t0, 3),
        truncated=truncated,
    )


def _bounded(requests: Iterator[dict[str, Any]], limit: int | None) -> Iterator[dict[str, Any]]:
    for i, request in enumerate(requests):
        if limit is not None and i >= limit:
            return
        yield request


def _warm_up(router: Router, stream: Stream, n: int) -> None:
    if n <= 0 or len(stream) == 0:
        return
    import orjson

    first = next(stream.iter_requests())
    body = orjson.dumps({"records": [first["features"]]})
    for variant in VARIANTS:
        for i in range(n):
            _send(router._clients[variant], router._urls[variant], f"warmup-{i}", body, variant, "")
    if router.mode == "shadow":
        for i in range(n):
            _send(router._mirror_client, router._urls["B"], f"warmup-{i}", body, "B", "")


def answers_frame(answers: list[Answer], stamps: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per answer: ``key, ts, variant, role, returned, status, ok, latency_ms, error,
    model_version`` and the prediction: ``pred_label`` and ``p_0 … p_k`` (classification, in
    the order of the stub's ``classes``) or ``value`` (regression)."""
    import pandas as pd

    rows = []
    for a in answers:
        row: dict[str, Any] = {
            "key": a.key,
            "ts": (stamps or {}).get(a.key),
            "variant": a.variant,
            "role": a.role,
            "returned": a.role == "served",
            "status": a.status,
            "ok": a.ok,
            "latency_ms": round(a.latency_ms, 4),
            "error": a.error,
            "model_version": (a.body or {}).get("model_version"),
            "sent_at": a.sent_at,
        }
        if a.ok and a.body is not None:
            row.update(_prediction(a.body))
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = {"served": 0, "shadow": 1}
    frame["_o"] = frame["role"].map(order)
    frame = frame.sort_values(["sent_at", "_o"], kind="stable").drop(columns="_o")
    return frame.reset_index(drop=True)


def _prediction(body: Mapping[str, Any]) -> dict[str, Any]:
    if "values" in body:
        values = body.get("values") or [math.nan]
        return {"value": float(values[0])}
    out: dict[str, Any] = {"pred_label": (body.get("labels") or [None])[0]}
    proba = body.get("probabilities")
    if proba:
        for j, p in enumerate(proba[0]):
            out[f"p_{j}"] = float(p)
    return out
