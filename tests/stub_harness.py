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
    """An integer, a number with missing values and a string feature (ONNX per-column path)."""
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
