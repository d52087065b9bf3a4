"""Helpers for the stub's reliability tests (tests/test_stub_*.py) and benchmarks/reliability.py.

A stub runs here as its own process, from an exported bundle's ``serve.py`` (the code a bundle
ships), so its memory can be measured apart from the client's and a crash is seen as an exit.
Everything talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HOST = "127.0.0.1"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def export_numeric_bundle(out: Path) -> Path:
    """breast_cancer + StandardScaler/LogisticRegression: 30 numeric features, ONNX backend."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from workbench.bundle import export_bundle

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X_train, y_train)
    export_bundle(
        pipe,
        out=out,
        mode="image",
        X_ref=X_train,
        X_test=X_test,
        y_test=y_test,
        labels=["malignant", "benign"],
        model_version="numeric-1",
    )
    return out


def mixed_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """An integer, a number with missing values and a string feature (workbench.models' shape)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50, 10, n),
            "city": rng.choice(["oslo", "rome", "lima"], n),
        }
    )
    X.loc[::9, "income"] = np.nan
    y = ((X["income"].fillna(50) > 50) ^ (X["city"] == "rome")).astype(int)
    return X, y


def export_mixed_bundle(out: Path) -> Path:
    """:func:`mixed_frame` through impute/scale + one-hot + LogisticRegression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from workbench.bundle import export_bundle

    X, y = mixed_frame()
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric, ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    pipe = Pipeline([("preprocess", pre), ("model", LogisticRegression())]).fit(X, y)
    export_bundle(pipe, out=out, mode="image", X_ref=X, X_test=X[:80], model_version="mixed-1")
    return out


def good_row(bundle: Path) -> list[Any]:
    """The first evidence row of a bundle (a row the model answers, inside the training range)."""
    import orjson

    return orjson.loads((bundle / "evidence" / "test_split.json").read_bytes())["rows"][0]


class StubProcess:
    """``python serve.py`` of a bundle on 127.0.0.1 (a free port), stopped on exit."""

    def __init__(self, bundle: Path, *args: str, start_timeout_s: float = 60.0) -> None:
        self.bundle = bundle
        env = {k: v for k, v in os.environ.items() if k not in ("STUB_TOKEN", "ALLOWED_HOSTS")}
        self.proc = subprocess.Popen(
            [sys.executable, str(bundle / "serve.py"), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self.url = self._wait_ready(start_timeout_s)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _wait_ready(self, timeout_s: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline().decode()
                if " on http://" in line:
                    return line.split(" on ", 1)[1].split()[0]
            if self.proc.poll() is not None:
                break
        self.stop()
        err = self.proc.stderr.read().decode() if self.proc.stderr else ""
        raise RuntimeError(f"the stub did not start within {timeout_s} s: {err[-2000:]}")

    def rss_mb(self) -> float:
        """Resident memory of the stub process, in MiB (from /proc)."""
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with _NO_PROXY.open(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def metric(self, name: str) -> float:
        """One sample of ``/metrics`` (0 when absent)."""
        _, text = self.get("/metrics")
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def stop(self) -> str:
        """Stop the stub (SIGTERM, then SIGKILL); return its stderr."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.stderr.read().decode() if self.proc.stderr else ""

    def __enter__(self) -> StubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def request_bytes(
    port: int,
    body: bytes,
    *,
    path: str = "/predict",
    content_type: str | None = "application/json",
    extra: str = "",
) -> bytes:
    """One HTTP/1.1 request as bytes (keep-alive)."""
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    head += f"Content-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def read_response(sock: socket.socket, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """Read one response (status, body) from a keep-alive connection; (0, b"") when closed."""
    status, _, body = read_full_response(sock, timeout_s)
    return status, body


def read_full_response(
    sock: socket.socket, timeout_s: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """Read one response: status, headers (lower-case names), body; (0, {}, b"") when closed."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode("latin-1")
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:length]


def closed_within(sock: socket.socket, timeout_s: float) -> tuple[bool, bytes]:
    """Whether the server closes ``sock`` within ``timeout_s``; and what it sent before."""
    sock.settimeout(0.1)
    got = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


@contextlib.contextmanager
def connections(port: int, n: int) -> Iterator[list[socket.socket]]:
    """``n`` open TCP connections to the stub, closed on exit."""
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection((HOST, port), timeout=10))
        yield socks
    finally:
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()


# -- malformed input, generated ------------------------------------------------------------------


def malformed_bodies(
    features: list[dict[str, Any]], good: list[Any], n: int, seed: int = 0
) -> Iterator[tuple[str, bytes, str | None]]:
    """``n`` request bodies in 19 families of malformed (and a few borderline) input.

    Yields ``(family, body, content_type)``; deterministic for a seed. ``good`` is one valid row
    in signature order, the template most bodies are broken from.
    """
    import json as _json

    rng = np.random.default_rng(seed)
    names = [f["name"] for f in features]
    width = len(features)

    def dumps(value: Any) -> bytes:
        return _json.dumps(value, allow_nan=True).encode()

    def good_body() -> bytes:
        return dumps({"rows": [good]})

    def pick(seq: list[Any]) -> Any:
        return seq[int(rng.integers(len(seq)))]

    def row_with(value: Any) -> list[Any]:
        row = list(good)
        row[int(rng.integers(width))] = value
        return row

    weird_values: list[Any] = [
        "x", "", "1.0", True, False, [], [1.0], {}, {"a": 1}, None, "\u0000", "\ud7ff",
        "NaN", 10**30, -(10**30), 2**63, 2**64 + 1, 1e-320, 1e308, -1e308, 3.4028236e38,
    ]  # fmt: skip

    def random_bytes() -> bytes:
        return rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()

    def truncated() -> bytes:
        body = dumps({"rows": [good, good]})
        return body[: int(rng.integers(0, len(body)))]

    def invalid_utf8() -> bytes:
        body = bytearray(good_body())
        body[int(rng.integers(len(body)))] = pick([0xFF, 0xC3, 0x80, 0xED])
        return bytes(body)

    def non_json_numbers() -> bytes:
        literal = pick(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "0x10", "01", "+1",
                        ".5", "1.", "1e", "--1", "1_000"])  # fmt: skip
        return good_body().replace(b"[[", b"[[" + literal.encode() + b", ", 1)

    def deep() -> bytes:
        depth = int(rng.integers(50, 3000))
        inner = b"[" * depth + b"1" + b"]" * depth
        return pick([inner, b'{"rows": ' + inner + b"}", b'{"records": [' + b'{"a":' * 200
                     + b"1" + b"}" * 200 + b"]}"])  # fmt: skip

    def huge_numbers() -> bytes:
        value = pick(["1e39", "-1e39", "1" + "0" * int(rng.integers(20, 400)), "1e-400",
                      "3.4028236e38", "-3.5e38", "9" * 5000])  # fmt: skip
        row = [_json.dumps(v) for v in good]
        row[int(rng.integers(width))] = value
        return b'{"rows": [[' + ", ".join(row).encode() + b"]]}"

    def wrong_types() -> bytes:
        return dumps({"rows": [row_with(pick(weird_values))]})

    def wrong_lengths() -> bytes:
        k = pick([0, 1, width - 1, width + 1, width + 5, 2 * width])
        return dumps({"rows": [(good * 3)[:k]]})

    def wrong_shape() -> bytes:
        return dumps(pick([[good], good, "rows", 42, None, True, {"rows": good},
                           {"rows": {"0": good}}, {"records": [good]}, {"rows": [[good]]},
                           {"records": "x"}, {"rows": [good], "records": [good]},
                           {"rows": None}, {"rows": [None]}, {"rows": [[]]}]))  # fmt: skip

    def duplicate_keys() -> bytes:
        row = _json.dumps(good)
        rec = _json.dumps(dict(zip(names, good, strict=True)))
        return pick([
            f'{{"rows": [{row}], "rows": [{row}]}}',
            f'{{"rows": [{row}], "rows": 1}}',
            rec.join(['{"records": [', "]}"])[:-3] + f', "{names[0]}": 0}}]}}',
        ]).encode()  # fmt: skip

    def record_keys() -> bytes:
        rec = dict(zip(names, good, strict=True))
        drop = pick(names)
        variant = pick(["missing", "unknown", "empty", "case"])
        if variant == "missing":
            rec.pop(drop)
        elif variant == "unknown":
            rec["no such feature"] = 1
        elif variant == "empty":
            rec = {}
        else:
            rec = {k.upper(): v for k, v in rec.items()}
        return dumps({"records": [rec]})

    def huge_strings() -> bytes:
        size = int(pick([1_000, 50_000, 400_000]))
        return dumps({"rows": [row_with("s" * size)]})

    # The two big families are built once per size: encoding them anew each time cost more than
    # sending them (the draws from rng stay the same, so the bodies do too).
    big: dict[tuple[str, int], bytes] = {}

    def many_rows() -> bytes:
        k = int(pick([500, 1500]))
        if ("rows", k) not in big:
            big["rows", k] = b'{"rows": [' + b", ".join([dumps(good)] * k) + b"]}"
        return big["rows", k]

    def too_large() -> bytes:
        return b"too large"  # sent as a head declaring 5 MB (see send_bodies)

    def empty() -> bytes:
        return pick([b"", b" ", b"\n", b"{}", b"[]", b"null", b'""', b"{", b"}", b"\x00"])

    def control_chars() -> bytes:
        value = pick(["\u0000", "\u001f", "\ud800", "\udfff", "\uffff", "\u202e", "\t\n"])
        key = pick(["rows", "ro\u0000ws", "rows\ud800"])
        return _json.dumps({key: [row_with(value)]}).encode()

    def bom() -> bytes:
        return b"\xef\xbb\xbf" + good_body()

    def trailing() -> bytes:
        return good_body() + pick([b" {}", b"x", b"]", b"\x00", b'{"rows": []}'])

    def many_keys() -> bytes:
        k = int(pick([100, 5_000]))
        if ("keys", k) not in big:
            big["keys", k] = b'{"rows": [], ' + b", ".join(b'"k%d": 1' % i for i in range(k)) + b"}"
        return big["keys", k]

    families: list[tuple[str, Any]] = [
        ("random bytes", random_bytes),
        ("truncated JSON", truncated),
        ("invalid UTF-8", invalid_utf8),
        ("non-JSON numbers", non_json_numbers),
        ("deep nesting", deep),
        ("huge numbers", huge_numbers),
        ("wrong value types", wrong_types),
        ("wrong row lengths", wrong_lengths),
        ("wrong body shape", wrong_shape),
        ("repeated keys", duplicate_keys),
        ("record keys", record_keys),
        ("huge strings", huge_strings),
        ("many rows", many_rows),
        ("empty bodies", empty),
        ("control characters", control_chars),
        ("byte-order mark", bom),
        ("trailing data", trailing),
        ("many keys", many_keys),
        ("declared too large", too_large),
    ]
    ctypes = [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ]
    for i in range(n):
        name, make = families[i % len(families)]
        if name in ("huge strings", "many rows", "declared too large") and rng.random() < 0.8:
            name, make = "wrong value types", wrong_types  # keep the big ones rare
        ctype = "application/json"
        if rng.random() < 0.03:
            name, ctype = "content type", pick(ctypes)
        yield name, make(), ctype


# Broken request heads: each on its own connection (the server may close it).
_POST = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
MALFORMED_HEADS: list[bytes] = [
    _POST + b"Content-Length: abc\r\n\r\n{}",
    _POST + b"Content-Length: -1\r\n\r\n{}",
    _POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    _POST + b"Content-Length: 99999999999999999999\r\n\r\n{}",
    _POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    _POST + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}",
    _POST + b"Bad Header\r\n\r\n",
    _POST + b"X-A: \x00\x01\r\n\r\n",
    _POST + b"Host: evil\r\nContent-Length: 2\r\n\r\n{}",
    _POST + b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    _POST + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    _POST + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"P\x00ST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /predict HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /predict\r\n\r\n",
    b"GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /%00%ff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    b"OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
]


class FuzzResult:
    """What :func:`send_bodies` saw: statuses per family, server errors, dropped connections."""

    def __init__(self) -> None:
        self.sent = 0
        self.by_family: dict[str, dict[int, int]] = {}
        self.statuses: dict[int, int] = {}
        self.server_errors: list[tuple[str, int, bytes]] = []  # family, status, body -> answer
        self.dropped = 0  # the connection closed without an answer
        self.seconds = 0.0

    def count(self, family: str, status: int) -> None:
        self.sent += 1
        fam = self.by_family.setdefault(family, {})
        fam[status] = fam.get(status, 0) + 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


def send_bodies(
    port: int, items: Iterator[tuple[str, bytes, str | None]], *, budget_s: float = 120.0
) -> FuzzResult:
    """POST each body to ``/predict`` over keep-alive connections (reconnecting when the stub
    closes one); stop early when ``budget_s`` is spent."""
    result = FuzzResult()
    t0 = time.monotonic()
    sock: socket.socket | None = None
    for family, body, ctype in items:
        if time.monotonic() - t0 > budget_s:
            break
        if sock is None:
            sock = socket.create_connection((HOST, port), timeout=10)
        if family == "declared too large":  # a head that announces 5 MB; the stub answers first
            data = request_bytes(port, b"", content_type=ctype).replace(
                b"Content-Length: 0", b"Content-Length: 5000000"
            )
        else:
            data = request_bytes(port, body, content_type=ctype)
        try:
            sock.sendall(data)
            status, headers, answer = read_full_response(sock)
        except OSError:
            status, headers, answer = 0, {}, b""
        if status == 0:
            result.dropped += 1
        if status >= 500:
            result.server_errors.append((family, status, body[:200] + b" -> " + answer[:200]))
        result.count(family, status)
        if status == 0 or headers.get("connection", "").lower() == "close":
            sock.close()
            sock = None
    if sock is not None:
        sock.close()
    result.seconds = time.monotonic() - t0
    return result


def send_heads(port: int, heads: list[bytes], repeat: int = 1) -> dict[str, int]:
    """Send each broken head on a fresh connection; count answers by status (0: closed)."""
    outcomes: dict[str, int] = {}
    for _ in range(repeat):
        for head in heads:
            with socket.create_connection((HOST, port), timeout=10) as s:
                try:  # with the right Host, so the request gets past the allow-list
                    s.sendall(
                        head.replace(b"Host: 127.0.0.1\r\n", f"Host: {HOST}:{port}\r\n".encode())
                    )
                    status, _, _ = read_full_response(s, timeout_s=5.0)
                except OSError:
                    status = 0
            key = str(status)
            outcomes[key] = outcomes.get(key, 0) + 1
    return outcomes
