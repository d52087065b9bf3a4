"""What the stub lets in: connection and request-head limits, the Host allow-list, a rate limit.

Copied into every bundle: imports nothing from the workbench.

Measured on uvicorn 0.54 + httptools 0.9 (the versions a bundle pins), before this module:
a 50 MB header value was read whole (8-11 s of CPU each) and answered 200; a connection that
sends nothing, or one header byte per second, stayed open forever (uvicorn arms its only timer,
``timeout_keep_alive``, after a response, and any byte cancels it). uvicorn's
``h11_max_incomplete_event_size`` bounds the head only with the slower h11 parser and still
has no header timeout; ``limit_concurrency`` counts idle connections, so a few hundred silent
connections turn every real request into a 503 for as long as they stay, which without a
header timeout is forever. So the stub serves with :class:`GuardedHttpToolsProtocol`, a
subclass of uvicorn's httptools protocol that adds, per connection:

- a **head size limit**: request line and headers above ``max_header_bytes`` get 431 and the
  connection is closed; bytes are counted while they arrive, so at most one socket read
  (256 KiB) beyond the limit is ever held;
- a **header timeout**: the whole head must arrive within ``header_timeout_s`` of the
  connection opening (or of the first byte of the next request on a kept-alive connection);
  408 and close otherwise (a connection that sent nothing is closed without an answer);
- a **body timeout**: the body must arrive within ``body_timeout_s`` of the head (408, close);
- a **connection cap**: beyond ``max_connections`` open connections a new one gets 503 and
  is closed at once.

Deadlines are checked by one timer per server that sweeps the open connections a few times per
timeout, so a request pays two ``loop.time()`` calls, not a timer of its own. The checks that
need the request (Host, rate, content type) live in the ASGI app (``app.py``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ._model import BundleError

__all__ = [
    "DEFAULT_HOSTS",
    "Guard",
    "GuardedHttpToolsProtocol",
    "HostAllowList",
    "Limits",
    "RateLimit",
    "parse_hosts",
    "protocol_class",
]

# The names a loopback client puts in Host; with the port the request came in on by default.
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_NAME = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?)$")


@dataclass(frozen=True)
class Limits:
    """Request limits of one stub (every field has a safe default).

    Attributes:
        max_header_bytes: request line plus headers, in bytes (431 above).
        header_timeout_s: seconds for a whole request head to arrive (408, or close).
        body_timeout_s: seconds for the body to arrive after the head (408).
        max_connections: open connections per process (a new one gets 503 beyond).
        max_rps: requests per second per process on every route but ``/health`` and
            ``/metrics``, so probes and scrapes still see a flooded stub (429 beyond, with
            ``Retry-After``); ``None`` means no rate limit.
        allowed_hosts: accepted ``Host`` values: ``name`` (any port) or ``name:port``; ``*``
            accepts any. ``None`` means the loopback names (127.0.0.1, localhost, [::1]) with
            the port the request came in on.
    """

    max_header_bytes: int = 16_384
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1024
    max_rps: float | None = None
    allowed_hosts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        checks = [
            ("max_header_bytes", "--max-header-bytes", 1024, "at least 1024 bytes"),
            ("header_timeout_s", "--header-timeout", 0.1, "at least 0.1 s"),
            ("body_timeout_s", "--body-timeout", 0.1, "at least 0.1 s"),
            ("max_connections", "--max-connections", 1, "at least 1"),
        ]
        if self.max_rps is not None:
            checks.append(("max_rps", "--max-rps", 0.001, "a positive number, or none"))
        for name, flag, low, accepted in checks:
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value >= low:
                raise BundleError(f"{name} ({flag}) is {value!r}; it must be {accepted}")
        if self.allowed_hosts is not None:
            object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
            HostAllowList(self.allowed_hosts)  # raises on a malformed entry

    def to_json(self) -> str:
        """The limits as JSON (worker processes rebuild them from it)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Limits:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        if data.get("allowed_hosts") is not None:
            data["allowed_hosts"] = tuple(data["allowed_hosts"])
        return cls(**data)


def parse_hosts(text: str | None) -> tuple[str, ...] | None:
    """``"a, b:8080"`` -> ``("a", "b:8080")``; empty or ``None`` -> ``None`` (the default)."""
    if not text or not text.strip():
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


class HostAllowList:
    """Which ``Host`` header values the stub answers (DNS-rebinding defence).

    A browser page on a rebound name (``evil.example`` now resolving to 127.0.0.1) sends
    ``Host: evil.example:PORT``; only names the operator listed are answered.
    """

    def __init__(self, entries: Iterable[str] | None) -> None:
        self.any = False
        self.default = entries is None
        self._exact: set[bytes] = set()  # "name:port" entries
        self._names: set[bytes] = set()  # entries without a port: any port
        self._by_port: dict[int, frozenset[bytes]] = {}
        for entry in () if entries is None else entries:
            if entry.strip() == "*":
                self.any = True
                continue
            name, port = _split_entry(entry)
            if port is None:
                self._names.add(name)
            else:
                self._exact.add(name + b":" + str(port).encode())
                if port == 80:  # a Host without a port means port 80
                    self._exact.add(name)

    def allows(self, host: bytes | None, server_port: int | None) -> bool:
        """Whether a request with this ``Host`` (``None``: absent) may be answered."""
        if self.any:
            return True
        if not host:
            return False
        if self.default:
            allowed = self._defaults(server_port)
            return host in allowed or host.lower() in allowed
        if host in self._exact:
            return True
        host = host.lower()
        if host in self._exact:
            return True
        if not self._names:
            return False
        name = host.rsplit(b":", 1)[0] if host.count(b":") == 1 or b"]:" in host else host
        return name in self._names

    def _defaults(self, port: int | None) -> frozenset[bytes]:
        allowed = self._by_port.get(port or 0)
        if allowed is None:
            names = [n.encode() for n in DEFAULT_HOSTS]
            if port:
                allowed = frozenset(n + b":" + str(port).encode() for n in names)
                if port == 80:
                    allowed |= frozenset(names)
            else:  # unknown port (an in-process client): the names on any port
                allowed = frozenset(names)
            self._by_port[port or 0] = allowed
        return allowed

    def describe(self, server_port: int | None) -> str:
        """The accepted values, for error messages."""
        if self.any:
            return "any Host"
        if self.default:
            listed = sorted(v.decode() for v in self._defaults(server_port))
        else:
            listed = sorted(v.decode() for v in self._exact) + sorted(
                f"{v.decode()} (any port)" for v in self._names
            )
        return ", ".join(listed)


def _split_entry(entry: str) -> tuple[bytes, int | None]:
    text = entry.strip().lower()
    if text.count(":") > 1 and not text.startswith("["):
        text = f"[{text}]"  # a bare IPv6 address such as ::1
    name, port = text, None
    if text.startswith("[") and "]:" in text:
        name, _, tail = text.rpartition(":")
        port = tail
    elif not text.startswith("[") and ":" in text:
        name, _, port = text.partition(":")
    bad_port = port is not None and not (port.isdigit() and 0 < int(port) < 65536)
    if bad_port or not _NAME.match(name):
        raise BundleError(
            f"allowed host {entry!r} is not a host name or address with an optional port; "
            "accepted: name, name:port, [v6 address]:port or *"
        )
    return name.encode(), None if port is None else int(port)


class RateLimit:
    """A token bucket: ``rate`` requests per second on average, bursts up to one second's worth.

    Used from the event loop thread only (one bucket per worker process).
    """

    def __init__(self, rate: float) -> None:
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate)
        self._tokens = self.capacity
        self._last = time.monotonic()

    def allow(self) -> bool:
        """Take one token; False when none is left."""
        now = time.monotonic()
        tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return True
        self._tokens = tokens
        return False

    def retry_after(self) -> int:
        """Whole seconds until a token is back (the ``Retry-After`` value)."""
        return max(1, int((1.0 - self._tokens) / self.rate + 0.999))


class Guard:
    """Per-server state of the protocol limits: open connections and what was refused."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.live: set[Any] = set()
        self.refused_connections = 0
        self.head_too_large = 0
        self.header_timeouts = 0
        self.idle_closed = 0
        self.body_timeouts = 0
        self._sweeper: Any = None
        shortest = min(limits.header_timeout_s, limits.body_timeout_s)
        self._interval = min(1.0, max(0.05, shortest / 4))

    def counters(self) -> dict[str, int]:
        """What the protocol did, for ``/metrics``."""
        return {
            "open_connections": len(self.live),
            "refused_connections": self.refused_connections,
            "head_too_large": self.head_too_large,
            "header_timeouts": self.header_timeouts,
            "idle_closed": self.idle_closed,
            "body_timeouts": self.body_timeouts,
        }

    def watch(self, loop: Any) -> None:
        """Sweep deadlines on ``loop`` from now on (the sweep stops when no connection is open)."""
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._interval, self._sweep, loop)

    def _sweep(self, loop: Any) -> None:
        now = loop.time()
        for protocol in [p for p in self.live if 0.0 < p.wb_deadline < now]:
            protocol.wb_expire()
        self._sweeper = loop.call_later(self._interval, self._sweep, loop) if self.live else None


def _json_response(status: int, reason: str, detail: str, field: str, expected: str) -> bytes:
    body = json.dumps({"detail": detail, "field": field, "expected": expected}).encode()
    return (
        (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n"
        ).encode()
        + (b"retry-after: 1\r\n" if status == 503 else b"")
        + b"\r\n"
        + body
    )


# Where the parser is: between messages, in a request head, in a body.
_IDLE, _HEAD, _BODY = range(3)

try:  # the bundle pins httptools; without it the stub refuses to start (see protocol_class)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - a bundle always has it
    _Base = None  # type: ignore[assignment,misc]


def protocol_class() -> type:
    """The guarded protocol, or a clear error when httptools is missing.

    Raises:
        BundleError: httptools (or uvicorn's httptools protocol) cannot be imported.
    """
    if _Base is None:
        raise BundleError(
            "the stub needs httptools for its request limits (header size and timeouts); "
            "pip install -r requirements.txt (httptools is listed there)"
        )
    return GuardedHttpToolsProtocol


def _guard_of(app: Any) -> Guard | None:
    """The stub's Guard behind uvicorn's wrappers (they keep the wrapped app as ``.app``)."""
    for _ in range(8):
        guard = getattr(getattr(app, "state", None), "guard", None)
        if isinstance(guard, Guard):
            return guard
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


if _Base is not None:

    class GuardedHttpToolsProtocol(_Base):  # type: ignore[valid-type,misc]
        """uvicorn's httptools protocol with the limits of :class:`Limits` (module docstring).

        The parser's own position drives the deadlines: between messages (``_IDLE``), in a
        head (``_HEAD``, from its first byte: header timeout) or in a body (``_BODY``, from the
        end of the head: body timeout). Three overrides per request, base methods called
        directly: the guard costs a few microseconds, measured in benchmarks/reliability.md.
        """

        def __init__(self, config: Any, server_state: Any, app_state: Any, _loop: Any = None):
            _Base.__init__(self, config, server_state, app_state, _loop)
            guard = getattr(config, "wbstub_guard", None)
            if guard is None:
                guard = _guard_of(self.app) or Guard(Limits())
                config.wbstub_guard = guard  # one lookup per server, not per connection
            self.wb_guard: Guard = guard
            self.wb_limits = guard.limits
            self.wb_deadline = 0.0
            self.wb_phase = _IDLE
            self.wb_head_bytes = 0
            self.wb_refused = False
            self.wb_refusal: bytes | None = None

        # -- connection ------------------------------------------------------------------------

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            guard = self.wb_guard
            if len(guard.live) >= self.wb_limits.max_connections:
                guard.refused_connections += 1
                self.wb_refused = True
                self.transport = transport
                n = self.wb_limits.max_connections
                transport.write(
                    _json_response(
                        503,
                        "Service Unavailable",
                        f"the stub has {n} open connections, its limit; retry shortly",
                        "connection",
                        f"at most {n} open connections (--max-connections)",
                    )
                )
                transport.close()
                return
            _Base.connection_made(self, transport)
            guard.live.add(self)
            guard.watch(self.loop)
            # a connection that sends nothing is closed after the header timeout
            self.wb_deadline = self.loop.time() + self.wb_limits.header_timeout_s

        def connection_lost(self, exc: Exception | None) -> None:
            if self.wb_refused:
                return
            self.wb_guard.live.discard(self)
            self.wb_deadline = 0.0
            _Base.connection_lost(self, exc)

        def data_received(self, data: bytes) -> None:
            if self.wb_phase == _IDLE:  # between messages: these bytes start a head
                self.wb_phase = _HEAD
                if self.cycle is not None:  # a fresh connection keeps its deadline from connect
                    self.wb_deadline = self.loop.time() + self.wb_limits.header_timeout_s
            if self.wb_phase == _HEAD:
                self.wb_head_bytes += len(data)
            _Base.data_received(self, data)
            if (
                self.wb_phase == _HEAD
                and self.wb_head_bytes > self.wb_limits.max_header_bytes
                and not self.transport.is_closing()
            ):  # still arriving: refuse before it grows
                self.transport.write(self._wb_refuse_head())
                self.transport.close()

        # -- parser callbacks --------------------------------------------------------------------

        def on_headers_complete(self) -> None:
            limit = self.wb_limits.max_header_bytes
            # The byte count can include body bytes of the same read: measure exactly only then.
            if self.wb_head_bytes > limit and _head_size(self.url, self.headers) > limit:
                self._wb_refuse_head()
                raise _Refused  # stops the parser; uvicorn then calls send_400_response
            _Base.on_headers_complete(self)
            self.wb_head_bytes = 0
            self.wb_phase = _BODY
            self.wb_deadline = self.loop.time() + self.wb_limits.body_timeout_s

        def on_message_complete(self) -> None:
            _Base.on_message_complete(self)
            self.wb_phase, self.wb_deadline = _IDLE, 0.0  # the app's time is not limited here

        def send_400_response(self, msg: str) -> None:
            if self.wb_refusal is not None:  # our own refusal, raised from a parser callback
                if not self.transport.is_closing():
                    self.transport.write(self.wb_refusal)
                    self.transport.close()
                return
            _Base.send_400_response(self, msg)

        # -- limits ----------------------------------------------------------------------------

        def _wb_refuse_head(self) -> bytes:
            self.wb_guard.head_too_large += 1
            n = self.wb_limits.max_header_bytes
            self.wb_refusal = _json_response(
                431,
                "Request Header Fields Too Large",
                f"the request line and headers exceed {n} bytes",
                "headers",
                f"at most {n} bytes of request line and headers (--max-header-bytes)",
            )
            self.wb_phase, self.wb_deadline = _IDLE, 0.0
            return self.wb_refusal

        def wb_expire(self) -> None:
            """Called by the guard's sweep when this connection's deadline passed."""
            phase, self.wb_deadline = self.wb_phase, 0.0
            if self.transport is None or self.transport.is_closing():
                return
            guard, limits = self.wb_guard, self.wb_limits
            if phase == _IDLE:
                if self.cycle is not None:
                    return  # between requests: uvicorn's keep-alive timeout applies
                guard.idle_closed += 1  # connected and never sent a byte
            elif phase == _HEAD:
                guard.header_timeouts += 1
                self.transport.write(
                    _json_response(
                        408,
                        "Request Timeout",
                        f"the request head did not arrive within {limits.header_timeout_s:g} s",
                        "headers",
                        f"a complete request head within {limits.header_timeout_s:g} s",
                    )
                )
            else:
                guard.body_timeouts += 1
                if self.cycle is None or not self.cycle.response_started:
                    self.transport.write(
                        _json_response(
                            408,
                            "Request Timeout",
                            f"the body did not arrive within {limits.body_timeout_s:g} s",
                            "body",
                            f"the whole body within {limits.body_timeout_s:g} s of the headers",
                        )
                    )
            self.transport.close()

else:  # pragma: no cover
    GuardedHttpToolsProtocol = None  # type: ignore[assignment,misc]


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a refused request."""


def _head_size(url: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    # request line and "name: value\r\n" per header, as sent (give or take the method)
    return len(url) + 16 + sum(len(n) + len(v) + 4 for n, v in headers)
