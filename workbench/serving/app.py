"""FastAPI app factory of the serving stub.

Copied into every bundle (as ``wbstub/app.py``): imports nothing from the workbench.

Routes: ``POST /predict``, ``GET /health``, ``GET /metadata`` (the manifest), ``GET /metrics``
(Prometheus text), ``GET /openapi.json`` (generated from the signature, see ``_openapi``). The
hot path is lean on purpose, because the HTTP path, not the model (~10 µs in onnxruntime), is
the cost of a request: ``POST /predict`` is answered by a pure ASGI middleware before routing
(no Request object, no FastAPI dependency injection, no pydantic; validation is hand-written in
``_validate`` and names the field and the expected type), JSON goes in and out through orjson,
FastAPI's per-request telemetry is off, and the prediction log is written by a background
thread. The other routes are plain Starlette routes.

Every request but ``GET /health`` (which probes reach by IP) passes two guards first: its
``Host`` must be on the allow-list (400 otherwise: a page on a rebound DNS name cannot reach the
stub) and, with ``max_rps``, the rate limit (429 with ``Retry-After``; not on ``/metrics``, so
a flood does not blind the scraper). ``POST /predict`` also
needs ``Content-Type: application/json`` (415: a browser's no-cors ``text/plain`` post from
another origin is refused) and a valid ``X-Request-Id`` when one is sent (400 when empty,
repeated, longer than 128 characters or not printable ASCII: the id keys the prediction log, so
it is refused rather than silently replaced). Refusals are counted by reason in ``/metrics``.
The limits below HTTP (head size, header and body timeouts, connections) are in ``_limits``.
"""

from __future__ import annotations

import hmac
import inspect
import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._limits import Guard, HostAllowList, Limits, RateLimit
from ._model import (
    BundleError,
    ModelLoadError,
    OnnxPredictor,
    SkopsPredictor,
    fetch_model_file,
    load_skops,
    predicted_index,
)
from ._observe import Metrics, PredictionLog
from ._openapi import openapi_document
from ._validate import ClientError, Signature

__all__ = ["create_app", "create_app_from_env", "load_predictor", "read_manifest"]

MANIFEST = "manifest.json"
PATHS = ("/predict", "/health", "/metadata", "/metrics", "/openapi.json")
BACKENDS = ("auto", "onnx", "skops")
# Worker processes of `run_server(workers>1)` rebuild the app from these variables.
ENV = {
    "bundle_dir": "WBSTUB_BUNDLE",
    "model_uri": "WBSTUB_MODEL_URI",
    "token": "WBSTUB_TOKEN",
    "max_body_bytes": "WBSTUB_MAX_BODY_BYTES",
    "log_path": "WBSTUB_LOG",
    "backend": "WBSTUB_BACKEND",
    "limits": "WBSTUB_LIMITS",
}
_JSON = "application/json"
# Cells listed in a response's out_of_range (count has them all).
_MAX_FLAGGED_CELLS = 20
# A refused request whose unread body may exceed this is answered with Connection: close, so
# the server does not go on reading a body it will throw away.
_KEEP_ALIVE_UNREAD_BYTES = 65_536


def read_manifest(bundle_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a bundle.

    Raises:
        BundleError: the folder holds no readable manifest.
    """
    path = Path(bundle_dir) / MANIFEST
    try:
        manifest = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise BundleError(
            f"{path} not found: {bundle_dir} is not a bundle; pass the folder written by "
            "`workbench export`"
        ) from None
    except (OSError, orjson.JSONDecodeError) as e:
        raise BundleError(f"{path} cannot be read as JSON ({e}); re-export the bundle") from e
    for key in ("model_version", "task", "model", "signature", "output"):
        if key not in manifest:
            raise BundleError(f"{path} has no {key!r}; re-export the bundle")
    return manifest


def load_predictor(
    bundle_dir: str | Path,
    manifest: dict[str, Any],
    *,
    model_uri: str | None = None,
    backend: str = "auto",
) -> OnnxPredictor | SkopsPredictor:
    """Fetch, verify and load the bundle's model; refuse a missing or tampered file.

    In ``image`` mode the model files sit in the bundle folder; in ``load`` mode they come from
    ``model_uri`` or the ``MODEL_URI`` environment variable (a folder, ``file://`` or
    ``http(s)://`` URL). Every model file is verified against the manifest, even the one that
    is not served, so a tampered file is refused whatever the backend.

    Raises:
        ModelLoadError: a model file is missing, tampered with or untrusted.
        BundleError: unknown backend, or ``onnx`` asked for but not in the bundle.
    """
    if backend not in BACKENDS:
        raise BundleError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
    model = manifest["model"]
    source = model_uri
    if source is None and manifest.get("mode") == "load":
        source = os.environ.get("MODEL_URI") or None
        if source is None:
            raise ModelLoadError(
                "this is a load-mode bundle: its image holds no model. Set MODEL_URI (or pass "
                "--model-uri) to the folder or URL holding "
                f"{', '.join(model['files'])}, e.g. the bundle's model-store/"
            )
    source = source or str(bundle_dir)
    blobs = {
        name: fetch_model_file(source, name, sha256=meta["sha256"], max_bytes=meta["bytes"])
        for name, meta in model["files"].items()
    }
    features, task = manifest["signature"]["features"], manifest["task"]
    want_onnx = backend == "onnx" or (backend == "auto" and "model.onnx" in blobs)
    if want_onnx:
        if "model.onnx" not in blobs:
            reason = (manifest.get("onnx") or {}).get("reason") or "no ONNX file"
            raise BundleError(f"backend 'onnx' asked for, but the bundle has none: {reason}")
        try:
            # Older manifests have no "inputs": the model is then fed one input per column.
            inputs = (manifest.get("onnx") or {}).get("inputs")
            return OnnxPredictor(blobs["model.onnx"], features, task, inputs)
        except ImportError:
            if backend == "onnx":
                raise BundleError("backend 'onnx' needs onnxruntime; pip install it") from None
    try:
        loaded = load_skops(blobs["model.skops"], where=f"{source}/model.skops")
    except ImportError as e:
        raise BundleError(f"the skops fallback needs {e.name}; install requirements.txt") from e
    return SkopsPredictor(loaded, features, task)


class _Stub:
    """State and route handlers of one app instance."""

    def __init__(
        self,
        manifest: dict[str, Any],
        predictor: OnnxPredictor | SkopsPredictor,
        *,
        token: str | None,
        max_body_bytes: int,
        log: PredictionLog | None,
        limits: Limits,
    ) -> None:
        self.manifest = manifest
        self.predictor = predictor
        features = manifest["signature"]["features"]
        self.signature = Signature(features)
        self._ranges = [(f.get("min"), f.get("max")) for f in features]
        self.model_version = str(manifest["model_version"])
        self.task = manifest["task"]
        output = manifest["output"]
        self.classes = list(output.get("classes") or [])
        self._class_index = {v: i for i, v in enumerate(output.get("class_values") or [])}
        self.max_body_bytes = max_body_bytes
        self._auth = f"Bearer {token}".encode() if token else None
        self.log = log
        self.limits = limits
        self.hosts = HostAllowList(limits.allowed_hosts)
        self.rate = RateLimit(limits.max_rps) if limits.max_rps else None
        self.guard = Guard(limits)
        self.metrics = Metrics(
            PATHS,
            model_version=self.model_version,
            backend=predictor.backend,
            log=log,
            guard=self.guard,
        )
        self.started = time.time()
        self._metadata = orjson.dumps(manifest)
        self._openapi = orjson.dumps(
            openapi_document(
                manifest,
                token=token is not None and token != "",
                max_body_bytes=max_body_bytes,
                rate_limited=self.rate is not None,
            )
        )

    # -- POST /predict: raw ASGI, the hot path ----------------------------------------------

    async def predict(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one prediction request; return the status sent."""
        t0 = time.perf_counter()
        length = auth = request_id = host = ctype = None
        repeated = None
        for key, value in scope["headers"]:
            if key == b"host":
                if host is not None:
                    repeated = "Host"
                host = value
            elif key == b"content-type":
                ctype = value
            elif key == b"content-length":
                length = value
            elif key == b"x-request-id":
                if request_id is not None:
                    repeated = "X-Request-Id"
                request_id = value
            elif key == b"authorization":
                auth = value
        body_read = False
        try:
            if repeated is not None:
                raise _repeated(repeated)
            if not self.hosts.allows(host, _server_port(scope)):
                raise self._bad_host(host, scope)
            if self.rate is not None and not self.rate.allow():
                raise self._rate_limited()
            if self._auth is not None and not hmac.compare_digest(auth or b"", self._auth):
                raise _UNAUTHORIZED
            if ctype != b"application/json" and not _is_json(ctype):
                raise _unsupported(ctype)
            rid = _request_id(request_id)
            raw = await self._read_body(receive, length)
            body_read = True
            batch, rows, flags = self.signature.parse(raw)
        except ClientError as e:
            return await self.refuse(send, e, length, body_read)
        outputs = self._outputs(self.predictor.predict(batch))
        self.metrics.rows_predicted += batch.n_rows
        answer = {"model_version": self.model_version, "request_id": rid, **outputs}
        if flags:
            answer["out_of_range"] = self._flagged(flags)
        body = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
        if self.log is not None:
            latency_ms = (time.perf_counter() - t0) * 1000.0
            self.log.put(time.time(), rid, self.model_version, latency_ms, rows, outputs)
        return await _send(send, 200, body, [(b"x-request-id", rid.encode())])

    async def refuse(
        self, send: Send, e: ClientError, length: bytes | None, body_read: bool
    ) -> int:
        """Answer a refused request (counted by reason); close when a body would stay unread."""
        if e.reason is not None:
            self.metrics.refused[e.reason] = self.metrics.refused.get(e.reason, 0) + 1
        headers = list(e.headers)
        if e.status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        unread = not body_read and not (
            length is not None and length.isdigit() and int(length) <= _KEEP_ALIVE_UNREAD_BYTES
        )
        if unread or e.status == 413:
            headers.append((b"connection", b"close"))  # do not read a body thrown away
        return await _send(send, e.status, e.body(), headers)

    def _flagged(self, flags: list[tuple[int, int, float]]) -> dict[str, Any]:
        """The response's out_of_range part; counts every flagged value in /metrics."""
        metrics, names = self.metrics, self.signature.names
        metrics.out_of_range_requests += 1
        counts = metrics.out_of_range_values
        for _, j, _ in flags:
            counts[names[j]] = counts.get(names[j], 0) + 1
        cells = [
            {
                "row": i,
                "feature": names[j],
                "value": value,
                "training_min": self._ranges[j][0],
                "training_max": self._ranges[j][1],
            }
            for i, j, value in flags[:_MAX_FLAGGED_CELLS]
        ]
        return {"count": len(flags), "cells": cells}

    def gate(self, scope: Scope) -> ClientError | None:
        """Host and rate checks of the routes other than ``POST /predict`` (not /health)."""
        if scope["path"] == "/health":
            return None
        host = None
        for key, value in scope["headers"]:
            if key == b"host":
                if host is not None:
                    return _repeated("Host")
                host = value
        if not self.hosts.allows(host, _server_port(scope)):
            return self._bad_host(host, scope)
        if self.rate is not None and scope["path"] != "/metrics" and not self.rate.allow():
            return self._rate_limited()
        return None

    def _bad_host(self, host: bytes | None, scope: Scope) -> ClientError:
        shown = "no Host header" if host is None else f"Host {host.decode('latin-1')[:100]!r}"
        return ClientError(
            400,
            "Host",
            f"{shown} is not one this stub answers (a guard against DNS rebinding); start it "
            "with --allowed-hosts to add the names clients use",
            self.hosts.describe(_server_port(scope)),
            reason="host",
        )

    def _rate_limited(self) -> ClientError:
        assert self.rate is not None
        wait = self.rate.retry_after()
        return ClientError(
            429,
            "rate",
            f"more than {self.limits.max_rps:g} requests per second; retry in {wait} s",
            f"at most {self.limits.max_rps:g} requests per second (--max-rps)",
            reason="rate_limit",
            headers=[(b"retry-after", str(wait).encode())],
        )

    async def _read_body(self, receive: Receive, length: bytes | None) -> bytes:
        limit = self.max_body_bytes
        if length is not None:
            if not length.isdigit():
                raise ClientError(400, "Content-Length", "Content-Length is not a number", "bytes")
            if len(length) > 18:  # an int() of a million digits would cost more than the request
                raise self._too_large(10**18)
            if int(length) > limit:
                raise self._too_large(int(length))
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientError(400, "body", "the client went away mid-body", "a body")
            body += message.get("body", b"")
            if len(body) > limit:  # chunked bodies carry no Content-Length
                raise self._too_large(len(body))
            if not message.get("more_body", False):
                return body

    def _too_large(self, size: int) -> ClientError:
        return ClientError(
            413,
            "body",
            f"the body has {size} bytes or more; this stub accepts at most "
            f"{self.max_body_bytes} (send fewer rows per request, or start the stub with a "
            "larger --max-body-bytes)",
            f"at most {self.max_body_bytes} bytes",
        )

    def _outputs(self, pred: dict[str, np.ndarray]) -> dict[str, Any]:
        """The answer's fields. A row whose model output is not finite (NaN or inf: inputs
        far beyond what the model can compute with, e.g. a logit overflowing) is answered with
        ``null`` (no label is made up from NaN) and counted in /metrics."""
        if self.task == "regression":
            values = np.ascontiguousarray(pred["values"])
            # one reduction: NaN or inf in any cell makes the sum non-finite (an overflowing
            # sum of finite values only costs the exact check below)
            if not math.isfinite(values.sum()) and not np.isfinite(values).all():
                values = values.astype(np.float64)  # a copy: NaN serializes as null
                values[~np.isfinite(values)] = np.nan
                self.metrics.non_finite_rows += int(np.isnan(values).sum())
            return {"values": values}
        if "probabilities" in pred:
            proba = np.ascontiguousarray(pred["probabilities"])
            classes = self.classes
            labels = [classes[k] for k in predicted_index(proba).tolist()]
            if not math.isfinite(proba.sum()) and not np.isfinite(proba).all():
                bad = (~np.isfinite(proba).all(axis=1)).tolist()
                rows = proba.tolist()
                proba = [None if b else row for row, b in zip(rows, bad, strict=True)]
                labels = [None if b else x for x, b in zip(labels, bad, strict=True)]
                self.metrics.non_finite_rows += sum(bad)
            return {"labels": labels, "probabilities": proba, "classes": classes}
        index = self._class_index
        labels = [self.classes[index[v]] for v in pred["label_values"].tolist()]
        return {"labels": labels, "probabilities": None, "classes": self.classes}

    # -- the other routes (Starlette) --------------------------------------------------------

    def _unauthorized(self, request: Request) -> Response | None:
        if self._auth is None:
            return None
        given = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(given, self._auth):
            return None
        return Response(_UNAUTHORIZED.body(), 401, {"www-authenticate": "Bearer"}, media_type=_JSON)

    async def health(self, request: Request) -> Response:
        """Liveness; ``degraded`` (still 200: the model serves) while the log cannot write."""
        body: dict[str, Any] = {
            "status": "ok",
            "model_version": self.model_version,
            "backend": self.predictor.backend,
            "task": self.task,
            "uptime_s": round(time.time() - self.started, 3),
        }
        if self.log is not None:
            body["prediction_log"] = self.log.status()
            if not self.log.healthy:
                body["status"] = "degraded"
        return Response(orjson.dumps(body), media_type=_JSON)

    async def openapi(self, request: Request) -> Response:
        return self._unauthorized(request) or Response(self._openapi, media_type=_JSON)

    async def metadata(self, request: Request) -> Response:
        return self._unauthorized(request) or Response(self._metadata, media_type=_JSON)

    async def metrics_text(self, request: Request) -> Response:
        return self._unauthorized(request) or Response(
            self.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )


_UNAUTHORIZED = ClientError(
    401, "Authorization", "missing or wrong bearer token", "Authorization: Bearer <token>"
)


def _request_id(given: bytes | None) -> str:
    """The client's id when valid, a generated one when absent; refuse an invalid one."""
    if given is None:
        return os.urandom(12).hex()  # a third of uuid4's cost, as unique for this purpose
    if 0 < len(given) <= 128 and given.isascii():
        text = given.decode()
        if text.isprintable():
            return text
    shown = given[:40].decode("latin-1")
    why = "is empty" if not given else f"({shown!r}) is longer than 128 characters or not ASCII"
    if given and len(given) <= 128 and given.isascii():
        why = f"({shown!r}) has a control character"
    raise ClientError(
        400,
        "X-Request-Id",
        f"X-Request-Id {why}; it keys the prediction log, so the stub does not replace it",
        "1 to 128 printable ASCII characters, or no header (the stub then makes one)",
        reason="request_id",
    )


def _repeated(header: str) -> ClientError:
    return ClientError(
        400,
        header,
        f"the request has more than one {header} header",
        f"one {header} header",
        reason="request_id" if header == "X-Request-Id" else "host",
    )


def _is_json(value: bytes | None) -> bool:
    """``application/json``, any case, with at most a UTF-8 charset parameter."""
    if value is None:
        return False
    media, _, params = value.partition(b";")
    if media.strip().lower() != b"application/json":
        return False
    for param in params.split(b";") if params else ():
        name, _, given = param.partition(b"=")
        if name.strip().lower() == b"charset" and given.strip().strip(b'"').lower() not in (
            b"utf-8",
            b"utf8",
        ):
            return False
    return True


def _unsupported(ctype: bytes | None) -> ClientError:
    shown = "no Content-Type" if ctype is None else f"Content-Type {ctype.decode('latin-1')[:80]!r}"
    return ClientError(
        415,
        "Content-Type",
        f"{shown}: the body must be sent as JSON (this also keeps browsers on other origins "
        "from posting to the stub without a CORS check)",
        "Content-Type: application/json",
        reason="content_type",
    )


def _server_port(scope: Scope) -> int | None:
    server = scope.get("server")
    return server[1] if server else None


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
    return status


class _PredictRoute:
    """``POST /predict`` as a plain ASGI endpoint (reached only when the fast path is bypassed)."""

    def __init__(self, stub: _Stub) -> None:
        self.stub = stub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stub.predict(scope, receive, send)


class _StubMiddleware:
    """Pure ASGI middleware: answers ``POST /predict`` directly and times every request.

    The fast path skips routing, the Request object and the exception middleware (about 60 µs
    per request measured); every other request goes through FastAPI as usual.
    """

    def __init__(self, app: ASGIApp, stub: _Stub) -> None:
        self.app = app
        self.stub = stub
        self.metrics = stub.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        if scope["path"] == "/predict" and scope["method"] == "POST":
            status = 500  # stays 500 when the model raises (a server fault, not the client's)
            try:
                status = await self.stub.predict(scope, receive, send)
            finally:
                self.metrics.observe("/predict", status, time.perf_counter() - t0)
            return
        refused = self.stub.gate(scope)
        if refused is not None:
            status = await self.stub.refuse(send, refused, b"0", True)
            self.metrics.observe(scope["path"], status, time.perf_counter() - t0)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(scope["path"], status, time.perf_counter() - t0)


def create_app(
    bundle_dir: str | Path,
    *,
    model_uri: str | None = None,
    token: str | None = None,
    max_body_bytes: int = 1_000_000,
    log_path: str | Path | None = None,
    backend: str = "auto",
    limits: Limits | None = None,
) -> FastAPI:
    """Build the stub's ASGI app for a bundle; the model is verified and loaded before return.

    Args:
        bundle_dir: folder holding ``manifest.json`` (and the model files in ``image`` mode).
        model_uri: where the model files are (folder, ``file://`` or ``http(s)://`` URL);
            defaults to the bundle folder, or ``MODEL_URI`` for a ``load``-mode bundle.
        token: when set, ``/predict``, ``/metadata`` and ``/metrics`` need
            ``Authorization: Bearer <token>``; ``/health`` stays open for probes.
        max_body_bytes: larger request bodies get 413.
        log_path: JSONL prediction log; ``None`` disables it.
        backend: ``auto`` (ONNX when present, else skops), ``onnx`` or ``skops``.
        limits: request limits (Host allow-list, rate, head size, timeouts, connections);
            default :class:`Limits` ``()``. The protocol-level ones apply when served by
            :func:`_server.run_server` / ``background_server`` (they pick the app's guard).

    Returns:
        A FastAPI app; ``app.state.stub`` exposes ``metrics``, ``log`` and ``predictor``;
        ``app.state.guard`` the protocol limits' state.

    Raises:
        ModelLoadError: a model file is missing, tampered with or untrusted (refuse to start).
        BundleError: the folder is not a bundle or an option is not usable.

    Example:
        >>> app = create_app("exports/run-42", log_path="logs/predictions.jsonl")  # doctest: +SKIP
    """
    if max_body_bytes < 1:
        raise BundleError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
    manifest = read_manifest(bundle_dir)
    predictor = load_predictor(bundle_dir, manifest, model_uri=model_uri, backend=backend)
    try:
        log = PredictionLog(log_path) if log_path else None
    except OSError as e:
        raise BundleError(f"the prediction log {log_path} cannot be opened ({e})") from e
    stub = _Stub(
        manifest,
        predictor,
        token=token,
        max_body_bytes=max_body_bytes,
        log=log,
        limits=limits or Limits(),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if stub.log is not None:
            stub.log.close()  # flush what is queued before the process exits

    options: dict[str, Any] = {}
    if "telemetry" in inspect.signature(FastAPI).parameters:
        # FastAPI's native OpenTelemetry (0.16x) checks the global providers on every request;
        # the stub has its own /metrics, so switch it off rather than pay for it per request.
        options["telemetry"] = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title=f"workbench stub {stub.model_version}",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        **options,
    )
    # Plain Starlette routes: FastAPI's dependency solving costs more than the model here.
    app.router.routes.append(Route("/predict", _PredictRoute(stub), methods=["POST"]))
    app.add_route("/health", stub.health, methods=["GET"])
    app.add_route("/metadata", stub.metadata, methods=["GET"])
    app.add_route("/metrics", stub.metrics_text, methods=["GET"])
    app.add_route("/openapi.json", stub.openapi, methods=["GET"])
    app.add_middleware(_StubMiddleware, stub=stub)
    app.state.stub = stub
    app.state.guard = stub.guard
    return app


def create_app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes: the options come from ``WBSTUB_*`` variables."""
    env = {key: os.environ.get(var) for key, var in ENV.items()}
    if not env["bundle_dir"]:
        raise BundleError(f"{ENV['bundle_dir']} is not set; start the stub with run_server()")
    return create_app(
        env["bundle_dir"],
        model_uri=env["model_uri"] or None,
        token=env["token"] or None,
        max_body_bytes=int(env["max_body_bytes"] or 1_000_000),
        log_path=env["log_path"] or None,
        backend=env["backend"] or "auto",
        limits=Limits.from_json(env["limits"]) if env["limits"] else None,
    )
