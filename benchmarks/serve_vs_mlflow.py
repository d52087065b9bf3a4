"""Serving benchmark: the workbench stub against ``mlflow models serve``, same model, same load.

    .venv/bin/python benchmarks/serve_vs_mlflow.py            # full: 3 rounds, 8 s per run
    .venv/bin/python benchmarks/serve_vs_mlflow.py --quick    # smoke: 1 round, 2 s, 1 worker
    .venv/bin/python benchmarks/serve_vs_mlflow.py --model rf --with-log --json
    .venv/bin/python benchmarks/serve_vs_mlflow.py --case both   # categorical vs numeric

What it does, in one run on this machine (127.0.0.1 only):

1. Fits ``build_pipeline(MODEL, "classification", defaults)`` on breast_cancer (the seeded
   ``make_split``), saves it with skops (``workbench.modelio.save_model``) and exports an
   ``image`` bundle (``workbench.bundle.export_bundle``).
2. Creates once, and then reuses, a separate venv ``benchmarks/.mlflow-venv`` with
   ``mlflow==3.*`` and the project venv's own scikit-learn, skops, numpy and scipy versions
   (MLflow never enters the project venv: it would move pinned packages). The venv holds a
   ``.gitignore`` of ``*``, so git ignores it. In that venv ``_mlflow_save.py`` loads the *same*
   skops file (trusting only the types the workbench allow-list accepted for it) and saves it
   with ``mlflow.sklearn.save_model(..., pyfunc_predict_fn="predict_proba")`` (MLflow 3 stores
   it as skops too, with the same list), so both servers answer with probabilities.
   ``--mlflow-extra 'pandas<3'`` runs MLflow from its own cached venv with that requirement.
   Both answers to the benchmark row are checked against the offline ``predict_proba`` before
   any load is sent.
3. Serves it with ``workbench serve BUNDLE --workers N`` and with
   ``mlflow models serve --env-manager local --workers N`` (subprocesses in their own process
   groups, stopped on every exit path), one server at a time, and drives each with
   ``workbench.loadtest.run_loadtest``: one-row requests (``POST /predict {"rows": ...}`` and
   ``POST /invocations {"dataframe_split": ...}``), a warm-up, then each concurrency for the
   same duration. Rounds interleave the servers (even rounds in reverse order); the table shows
   medians over rounds, errors summed, and the server's CPU time per request (its process
   group, from /proc), which is far less noisy than req/s on a shared 2-core machine.
4. Prints the in-process floor: onnxruntime ``run`` on one row, the stub's parse + predict, and
   sklearn ``predict_proba`` on a one-row DataFrame (MLflow's model path), in µs.
5. Prints, per concurrency and stub configuration, req/s and p99 ratios against MLflow's best
   configuration for that metric (highest req/s; lowest p99), with PASS/MISS against the
   targets: >= 5x MLflow's req/s and <= 1/10 of its p99.

Cases (``--case``): ``numeric`` (default) is the above on breast_cancer (30 numbers).
``categorical`` fits the same family on palmerpenguins' ``penguins.csv`` (species from two text
columns with gaps and five numbers with gaps; a dev dependency that ships the file) and sends
a row whose ``sex`` is null, so the request exercises the gap path. ``both`` serves the two
bundles with the same stub and load in one run (MLflow on the categorical pipeline only) and
adds the ratio categorical / numeric req/s and p99 per stub configuration, with PASS/MISS
against the target: >= 0.8x the numeric req/s. ``--no-mlflow`` skips MLflow (and its venv).

Notes: the load client runs in this process and shares the 2 cores with the server under test,
equally for both servers. MLflow's ``--workers N`` runs ``uvicorn --workers N`` on the asyncio
loop with h11 (uvloop and httptools are not MLflow dependencies), a setup seen to leave
TCP_NODELAY off on accepted sockets (a ~40 ms stall per keep-alive response); compare its w1
and w2 rows, or run ``--concurrency 1`` to see it apart from queueing. Every loop is bounded:
``--duration`` <= 60 s per run, at most 50,000 requests per second of it, 10 rounds, and each
server gets 60 s (stub) or 120 s (MLflow) to answer its health check.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".mlflow-venv"
MLFLOW_SPEC = "mlflow==3.*"
# Installed in the MLflow venv at the project venv's versions, so the same skops file loads
# into the same code.
PINNED_LIKE_PROJECT = ("scikit-learn", "skops", "numpy", "scipy")
TARGET_RPS_RATIO = 5.0  # workbench req/s >= 5x MLflow's
TARGET_P99_RATIO = 10.0  # workbench p99 <= 1/10 of MLflow's
TARGET_CATEGORICAL_RATIO = 0.8  # categorical req/s >= 0.8x numeric, same stub and load
CASES = ("numeric", "categorical")
NO_TELEMETRY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
HOST = "127.0.0.1"
PARITY_TOL = 1e-4
# No proxy, ever: every request of this script goes to 127.0.0.1.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def log(msg: str) -> None:
    """Progress goes to stderr so that ``--json`` output stays clean."""
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# -- configurations and results -----------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """One server setup under test."""

    target: str  # "workbench" | "mlflow"
    workers: int
    prediction_log: bool = False
    case: str = "numeric"  # which model: see CASES

    @property
    def label(self) -> str:
        text = f"{self.target} w{self.workers}" + ("+log" if self.prediction_log else "")
        return text if self.case == "numeric" else f"{text} cat"


@dataclass(frozen=True)
class Sample:
    """One measured run of one configuration at one concurrency."""

    label: str
    target: str
    workers: int
    case: str
    concurrency: int
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    error_kinds: dict[str, int]
    server_cpu_ms_per_req: float


@dataclass(frozen=True)
class Summary:
    """Medians over rounds of one configuration at one concurrency."""

    label: str
    target: str
    workers: int
    case: str
    concurrency: int
    rounds: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms_per_req: float


@dataclass(frozen=True)
class Model:
    """The fitted pipeline's files and the benchmark row."""

    family: str
    case: str
    dataset: str
    skops: Path
    bundle: Path
    trusted: list[str]
    columns: list[str]
    row: list[Any]  # JSON values: numbers, strings, None for a gap
    proba: list[float]
    pipe: Any


# -- the MLflow venv ----------------------------------------------------------------------------


def mlflow_requirements(extra: Sequence[str] = ()) -> list[str]:
    pinned = [f"{name}=={version(name)}" for name in PINNED_LIKE_PROJECT]
    return [MLFLOW_SPEC, *pinned, *extra]


def mlflow_venv_path(extra: Sequence[str]) -> Path:
    """``.mlflow-venv``, or ``.mlflow-venv-<hash>`` for extra requirements (one venv each)."""
    if not extra:
        return MLFLOW_VENV
    digest = hashlib.sha256("\n".join(sorted(extra)).encode()).hexdigest()[:8]
    return MLFLOW_VENV.with_name(f"{MLFLOW_VENV.name}-{digest}")


def ensure_mlflow_venv(venv: Path, *, extra: Sequence[str] = (), reinstall: bool = False) -> Path:
    """Create (once) the separate MLflow venv and return its python; reuse it when current."""
    requirements = mlflow_requirements(extra)
    spec = {"python": sys.version.split()[0], "requirements": requirements}
    marker = venv / ".workbench-bench.json"
    python = venv / "bin" / "python"
    if not reinstall and python.exists() and marker.exists():
        try:
            if json.loads(marker.read_text()) == spec:
                return python
        except (OSError, ValueError):
            pass
    if reinstall and venv.exists():
        shutil.rmtree(venv)
    if not python.exists():
        log(f"creating {venv} (once; reused by later runs)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    (venv / ".gitignore").write_text("# created by serve_vs_mlflow.py\n*\n")
    log(f"installing {' '.join(requirements)} into {venv.name} (a few minutes the first time)")
    pip_log = venv / "pip-install.log"
    with pip_log.open("w") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", *requirements],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1800,
        )
    if done.returncode != 0:
        tail = pip_log.read_text(errors="replace").splitlines()[-15:]
        raise RuntimeError("pip install into the MLflow venv failed:\n" + "\n".join(tail))
    marker.write_text(json.dumps(spec, indent=2))
    return python


# -- the model ---------------------------------------------------------------------------------


def _case_data(case: str) -> Any:
    """The dataset of a case: breast_cancer (numbers) or penguins.csv (text and gaps)."""
    from workbench.datasets import load_dataset

    if case == "numeric":
        return load_dataset("breast_cancer")
    import importlib.resources

    try:
        path = importlib.resources.files("palmerpenguins") / "data" / "penguins.csv"
    except ModuleNotFoundError as e:
        raise RuntimeError(
            "the categorical case needs palmerpenguins (a dev dependency): pip install -e '.[dev]'"
        ) from e
    return load_dataset(str(path), target="species")


def build_model(family: str, workdir: Path, seed: int, case: str = "numeric") -> Model:
    """Fit, save with skops, export an image bundle; pick a test row as the payload.

    The numeric case sends the first test row; the categorical case the same row with a gap in
    a text column (null in JSON), so the gap path is what gets measured.
    """
    import pandas as pd

    from workbench.bundle import export_bundle
    from workbench.datasets import make_split
    from workbench.modelio import read_model_bytes, save_model
    from workbench.models import build_pipeline, get_family
    from workbench.serving._model import check_skops_types

    ds = _case_data(case)
    workdir = workdir / case
    workdir.mkdir(parents=True, exist_ok=True)
    split = make_split(ds, seed=seed)
    X_train, y_train = ds.X.iloc[split.train], ds.y.iloc[split.train]
    X_test, y_test = ds.X.iloc[split.test], ds.y.iloc[split.test]
    pipe = build_pipeline(
        family,
        ds.task,
        get_family(family).defaults(ds.task),
        numeric=ds.numeric_features,
        categorical=ds.categorical_features,
        seed=seed,
    )
    pipe.fit(X_train, y_train)
    skops_path = workdir / "model.skops"
    sha = save_model(pipe, skops_path)
    trusted = sorted(check_skops_types(read_model_bytes(skops_path, sha256=sha)))
    manifest = export_bundle(
        skops_path,
        out=workdir / "bundle",
        mode="image",
        X_ref=X_train,
        X_test=X_test,
        y_test=y_test.to_numpy(),
        model_sha256=sha,
        dataset_fingerprint=ds.fingerprint,
    )
    if manifest.backend != "onnx":
        log(f"note: the {case} bundle serves from {manifest.backend}: {manifest.data['onnx']}")
    first = X_test.iloc[[0]].copy()
    if case == "categorical":  # a gap in the first text feature that had gaps in training
        gap = next(c for c in ds.categorical_features if X_train[c].isna().any())
        first[gap] = None
    row = [None if pd.isna(v) else (v if isinstance(v, str) else float(v)) for v in first.iloc[0]]
    return Model(
        family=family,
        case=case,
        dataset=ds.name,
        skops=skops_path,
        bundle=workdir / "bundle",
        trusted=trusted,
        columns=[str(c) for c in ds.X.columns],
        row=row,
        proba=[float(p) for p in pipe.predict_proba(first)[0]],
        pipe=pipe,
    )


def save_mlflow_model(python: Path, model: Model, workdir: Path) -> tuple[Path, dict[str, str]]:
    """Save the same skops file as an MLflow model (in the MLflow venv).

    Returns:
        The model folder and the MLflow venv's ``mlflow`` and ``pandas`` versions.
    """
    example = workdir / f"example-{model.case}.json"
    example.write_text(json.dumps({"columns": model.columns, "data": [model.row]}))
    out = workdir / f"mlflow-model-{model.case}"
    requirements = [f"mlflow=={_venv_version(python, 'mlflow')}"] + [
        f"{name}=={version(name)}" for name in ("scikit-learn", "skops")
    ]
    done = subprocess.run(
        [
            str(python),
            str(HERE / "_mlflow_save.py"),
            "--skops",
            str(model.skops),
            "--out",
            str(out),
            "--trusted",
            json.dumps(model.trusted),
            "--example",
            str(example),
            "--requirements",
            json.dumps(requirements),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **NO_TELEMETRY},
    )
    if done.returncode != 0:
        raise RuntimeError(f"saving the MLflow model failed:\n{done.stderr[-3000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    _check_parity("MLflow venv's loaded pipeline", info["probabilities"][0], model.proba)
    return out, {"mlflow": str(info["mlflow"]), "pandas": str(info["pandas"])}


def _venv_version(python: Path, dist: str) -> str:
    code = f"from importlib.metadata import version; print(version({dist!r}))"
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def _check_parity(what: str, got: Sequence[float], want: Sequence[float]) -> None:
    diff = max(abs(a - b) for a, b in zip(got, want, strict=True))
    if diff > PARITY_TOL:
        raise RuntimeError(f"{what} gives {list(got)}, offline predict_proba {list(want)}")


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with _HTTP.open(request, timeout=timeout) as resp:  # 127.0.0.1 only
        return resp.read()


class Server:
    """A server subprocess in its own process group; :meth:`stop` ends the whole group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # pgid == pid: uvicorn's worker processes included
        )

    def wait_ready(self, url: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                http("GET", url, timeout=2.0)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {timeout_s:g} s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """user+system CPU of every live process in the server's process group."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == self.proc.pid:  # pgrp
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / ticks

    def tail(self, n: int = 20) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        try:
            if self.proc.poll() is None:
                _killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    _killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(5)
            # Workers that outlived their parent: the group goes whatever happened above.
            _killpg(self.proc.pid, signal.SIGKILL)
        finally:
            self._log.close()


def _killpg(pgid: int, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


@dataclass(frozen=True)
class Target:
    """How to start one configuration and what to send it."""

    config: Config
    cmd: list[str]
    env: dict[str, str]
    ready_path: str
    predict_path: str
    payload: bytes
    ready_timeout_s: float
    parse_proba: Callable[[bytes], list[float]]
    expected: list[float]


@contextmanager
def serving(target: Target, workdir: Path) -> Iterator[tuple[Server, str]]:
    port = free_port()
    cmd = [part.replace("{port}", str(port)) for part in target.cmd]
    name = target.config.label
    server = Server(name, cmd, target.env, workdir / f"{name.replace(' ', '_')}.log")
    try:
        base = f"http://{HOST}:{port}"
        server.wait_ready(base + target.ready_path, target.ready_timeout_s)
        yield server, base + target.predict_path
    finally:
        server.stop()


def workbench_target(config: Config, model: Model, workdir: Path) -> Target:
    cli = Path(sys.executable).with_name("workbench")
    cmd = [str(cli), "serve", str(model.bundle), "--host", HOST, "--port", "{port}"]
    cmd += ["--workers", str(config.workers)]
    if config.prediction_log:
        cmd += ["--log", str(workdir / "predictions.jsonl")]

    def proba(body: bytes) -> list[float]:
        return [float(p) for p in json.loads(body)["probabilities"][0]]

    return Target(
        config=config,
        cmd=cmd,
        env=dict(os.environ),
        ready_path="/health",
        predict_path="/predict",
        payload=json.dumps({"rows": [model.row]}).encode(),
        ready_timeout_s=60.0,
        parse_proba=proba,
        expected=model.proba,
    )


def mlflow_target(config: Config, python: Path, model_dir: Path, model: Model) -> Target:
    cmd = [str(python.with_name("mlflow")), "models", "serve", "-m", str(model_dir)]
    cmd += ["--env-manager", "local", "-h", HOST, "-p", "{port}", "--workers", str(config.workers)]
    env = {**os.environ, **NO_TELEMETRY}
    # The MLflow venv's own bin first: its `mlflow models serve` execs `uvicorn` by name.
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)

    def proba(body: bytes) -> list[float]:
        return [float(p) for p in json.loads(body)["predictions"][0]]

    payload = {"dataframe_split": {"columns": model.columns, "data": [model.row]}}
    return Target(
        config=config,
        cmd=cmd,
        env=env,
        ready_path="/ping",
        predict_path="/invocations",
        payload=json.dumps(payload).encode(),
        ready_timeout_s=120.0,
        parse_proba=proba,
        expected=model.proba,
    )


# -- measuring ---------------------------------------------------------------------------------


def measure_target(
    target: Target,
    workdir: Path,
    *,
    round_no: int,
    concurrencies: Sequence[int],
    duration_s: float,
    warmup_s: float,
) -> list[Sample]:
    from workbench.loadtest import run_loadtest

    label = target.config.label
    samples: list[Sample] = []
    with serving(target, workdir) as (server, url):
        got = target.parse_proba(http("POST", url, target.payload))
        _check_parity(f"{label} answer", got, target.expected)
        run_loadtest(
            url, duration_s=warmup_s, concurrency=max(concurrencies), payload=target.payload
        )
        for conc in concurrencies:
            cpu0 = server.cpu_seconds()
            r = run_loadtest(
                url,
                duration_s=duration_s,
                concurrency=conc,
                payload=target.payload,
                max_requests=int(duration_s * 50_000),
                timeout_s=10.0,
            )
            cpu_ms = (server.cpu_seconds() - cpu0) * 1000.0
            sample = Sample(
                label=label,
                target=target.config.target,
                workers=target.config.workers,
                case=target.config.case,
                concurrency=conc,
                round=round_no,
                rps=r.rps,
                p50_ms=r.p50_ms,
                p99_ms=r.p99_ms,
                requests=r.requests,
                errors=r.error_count,
                error_kinds=dict(r.errors),
                server_cpu_ms_per_req=round(cpu_ms / max(r.requests, 1), 4),
            )
            log(
                f"round {round_no} {label:18s} c={conc:<3d} {r.rps:9.1f} req/s  "
                f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  errors {r.error_count}"
            )
            samples.append(sample)
    return samples


def summarize(samples: Sequence[Sample]) -> list[Summary]:
    keys: dict[tuple[str, int], list[Sample]] = {}
    for s in samples:
        keys.setdefault((s.label, s.concurrency), []).append(s)
    out = []
    for (label, conc), group in keys.items():
        out.append(
            Summary(
                label=label,
                target=group[0].target,
                workers=group[0].workers,
                case=group[0].case,
                concurrency=conc,
                rounds=len(group),
                rps=round(statistics.median(s.rps for s in group), 1),
                p50_ms=round(statistics.median(s.p50_ms for s in group), 3),
                p99_ms=round(statistics.median(s.p99_ms for s in group), 3),
                errors=sum(s.errors for s in group),
                server_cpu_ms_per_req=round(
                    statistics.median(s.server_cpu_ms_per_req for s in group), 4
                ),
            )
        )
    order = {"workbench": 0, "mlflow": 1}
    return sorted(
        out, key=lambda s: (s.concurrency, order.get(s.target, 9), CASES.index(s.case), s.label)
    )


def ratios(summaries: Sequence[Summary]) -> list[dict[str, Any]]:
    """Each stub configuration against MLflow's best req/s and best p99 at each concurrency,
    on the same model (case)."""
    rows = []
    pairs = sorted({(s.concurrency, s.case) for s in summaries}, key=lambda k: k[0])
    for conc, case in pairs:
        here = [s for s in summaries if s.concurrency == conc and s.case == case]
        ml = [s for s in here if s.target == "mlflow"]
        wb = [s for s in here if s.target == "workbench"]
        if not ml or not wb:
            continue
        best_rps = max(ml, key=lambda s: s.rps)
        best_p99 = min(ml, key=lambda s: s.p99_ms)
        for s in wb:
            rps_ratio = s.rps / best_rps.rps if best_rps.rps else float("inf")
            p99_ratio = best_p99.p99_ms / s.p99_ms if s.p99_ms else float("inf")
            rows.append(
                {
                    "concurrency": conc,
                    "workbench": s.label,
                    "rps_ratio": round(rps_ratio, 2),
                    "rps_vs": best_rps.label,
                    "rps_pass": rps_ratio >= TARGET_RPS_RATIO,
                    "p99_ratio": round(p99_ratio, 2),
                    "p99_vs": best_p99.label,
                    "p99_pass": p99_ratio >= TARGET_P99_RATIO,
                }
            )
    return rows


def categorical_ratios(summaries: Sequence[Summary]) -> list[dict[str, Any]]:
    """The stub on the categorical model against the same stub configuration on the numeric
    one, at each concurrency: req/s ratio (target >= 0.8) and p99 ratio (numeric / categorical,
    so above 1 means faster)."""
    rows = []
    stubs = [s for s in summaries if s.target == "workbench"]
    for cat in (s for s in stubs if s.case == "categorical"):
        num = next(
            (
                s
                for s in stubs
                if s.case == "numeric"
                and s.concurrency == cat.concurrency
                and s.label == cat.label.removesuffix(" cat")
            ),
            None,
        )
        if num is None:
            continue
        rps_ratio = cat.rps / num.rps if num.rps else float("inf")
        rows.append(
            {
                "concurrency": cat.concurrency,
                "categorical": cat.label,
                "numeric": num.label,
                "rps_ratio": round(rps_ratio, 3),
                "rps_pass": rps_ratio >= TARGET_CATEGORICAL_RATIO,
                "p99_ratio": round(num.p99_ms / cat.p99_ms, 3) if cat.p99_ms else float("inf"),
                "cpu_ms_ratio": round(cat.server_cpu_ms_per_req / num.server_cpu_ms_per_req, 3)
                if num.server_cpu_ms_per_req
                else None,
            }
        )
    return rows


def in_process_floor(model: Model, repeats: int, calls: int) -> dict[str, float]:
    """µs per one-row call: onnxruntime run, the stub's parse + predict, sklearn predict_proba."""
    import onnxruntime as ort
    import pandas as pd

    from workbench.bundle import Manifest
    from workbench.serving._validate import Signature
    from workbench.serving.app import load_predictor

    def per_call_us(fn: Callable[[], Any], n: int) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times.append((time.perf_counter() - t0) / n * 1e6)
        return round(min(times), 2)  # least disturbed by other sessions on the machine

    out: dict[str, float] = {}
    manifest = dict(Manifest.read(model.bundle).data)
    predictor = load_predictor(model.bundle, manifest)
    signature = Signature(manifest["signature"]["features"])
    raw = json.dumps({"rows": [model.row]}).encode()
    onnx_file = model.bundle / "model.onnx"
    if onnx_file.exists():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            onnx_file.read_bytes(), options, providers=["CPUExecutionProvider"]
        )
        # One-row feeds exactly as the stub builds them (its layout: one matrix X, or X and
        # T for a model with text features, or one input per column for older bundles).
        feeds = predictor._feeds(signature.parse(raw)[0])  # type: ignore[union-attr]
        out["onnxruntime_run_us"] = per_call_us(lambda: session.run(None, feeds), calls)
    out["stub_parse_predict_us"] = per_call_us(
        lambda: predictor.predict(signature.parse(raw)[0]), calls
    )
    frame = pd.DataFrame([model.row], columns=model.columns)
    out["sklearn_predict_proba_us"] = per_call_us(
        lambda: model.pipe.predict_proba(frame), max(50, calls // 50)
    )
    return out


# -- output ------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    meta = result["meta"]
    cases = ", ".join(f"{case}: {name}" for case, name in meta["datasets"].items())
    backends = ", ".join(f"{case} {b}" for case, b in meta["stub_backend"].items())
    versus = (
        f"mlflow {meta['mlflow_version']} with pandas {meta['mlflow_pandas']} (`mlflow models "
        f"serve --env-manager local`, venv {meta['mlflow_venv']}) on the {meta['mlflow_case']} "
        "model"
        if meta["mlflow_case"]
        else "no MLflow (--no-mlflow)"
    )
    lines = [
        f"serve_vs_mlflow: {meta['model']} on {cases}, 1-row requests, "
        f"{meta['duration_s']:g} s per run after a {meta['warmup_s']:g} s warm-up, "
        f"median of {meta['rounds']} round(s)",
        f"workbench stub (backend: {backends}) vs {versus}",
        f"load client: workbench.loadtest in this process ({os.cpu_count()} cores shared)",
        "",
        f"{'target':<22}{'workers':>8}{'conc':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'srv CPU ms/req':>16}",
    ]
    for s in result["summary"]:
        lines.append(
            f"{s['label']:<22}{s['workers']:>8}{s['concurrency']:>6}{s['rps']:>10.1f}"
            f"{s['p50_ms']:>9.2f}{s['p99_ms']:>9.2f}{s['errors']:>8}"
            f"{s['server_cpu_ms_per_req']:>16.3f}"
        )
    names = {
        "onnxruntime_run_us": "onnxruntime session.run",
        "stub_parse_predict_us": "stub parse + predict",
        "sklearn_predict_proba_us": "sklearn predict_proba (DataFrame; MLflow's model path)",
    }
    for case, floor in result["floor_us"].items():
        lines += ["", f"in-process floor, {case} model, one row (µs per call, best of repeats):"]
        for key, text in names.items():
            if key in floor:
                lines.append(f"  {text:<56}{floor[key]:>10.1f}")
    if result["ratios"]:
        lines += [
            "",
            f"ratios vs MLflow's best config per metric, same model (targets: req/s >= "
            f"{TARGET_RPS_RATIO:g}x, p99 <= 1/{TARGET_P99_RATIO:g}):",
        ]
    for r in result["ratios"]:
        lines.append(
            f"  c={r['concurrency']:<3d} {r['workbench']:<22} req/s {r['rps_ratio']:6.2f}x "
            f"(vs {r['rps_vs']}) {'PASS' if r['rps_pass'] else 'MISS'}   "
            f"p99 1/{r['p99_ratio']:<6.2f} (vs {r['p99_vs']}) "
            f"{'PASS' if r['p99_pass'] else 'MISS'}"
        )
    for label, ok in result["verdict"].items():
        lines.append(f"  {label}: {'PASS' if ok else 'MISS'} (both targets at every concurrency)")
    if result["categorical_ratios"]:
        lines += [
            "",
            "categorical vs numeric, same stub and load (target: req/s >= "
            f"{TARGET_CATEGORICAL_RATIO:g}x numeric; p99 and CPU/req as numeric/categorical "
            "and categorical/numeric):",
        ]
    for r in result["categorical_ratios"]:
        cpu = "" if r["cpu_ms_ratio"] is None else f"   CPU/req {r['cpu_ms_ratio']:.2f}x"
        lines.append(
            f"  c={r['concurrency']:<3d} {r['categorical']:<22} req/s {r['rps_ratio']:5.2f}x "
            f"(vs {r['numeric']}) {'PASS' if r['rps_pass'] else 'MISS'}   "
            f"p99 {r['p99_ratio']:.2f}x{cpu}"
        )
    return "\n".join(lines)


def verdict(rows: Sequence[dict[str, Any]]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for r in rows:
        ok = r["rps_pass"] and r["p99_pass"]
        out[r["workbench"]] = out.get(r["workbench"], True) and ok
    return out


# -- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Workbench stub vs `mlflow models serve`: same model, same bounded load.",
    )
    p.add_argument("--model", choices=("logreg", "rf", "hgb"), default="logreg")
    p.add_argument(
        "--case",
        choices=(*CASES, "both"),
        default="numeric",
        help="numeric (breast_cancer), categorical (penguins: text and gaps), or both with the "
        "categorical/numeric ratio (MLflow then serves the categorical model)",
    )
    p.add_argument("--no-mlflow", action="store_true", help="measure the stub only")
    p.add_argument("--quick", action="store_true", help="1 round, 2 s runs, 1 worker (smoke)")
    p.add_argument("--rounds", type=int, default=None, help="default 3 (quick: 1)")
    p.add_argument("--duration", type=float, default=None, help="s per run; default 8 (quick 2)")
    p.add_argument("--warmup", type=float, default=None, help="s; default 2 (quick 0.5)")
    p.add_argument("--concurrency", default="8,32", help="comma-separated, default 8,32")
    p.add_argument("--workers", default=None, help="comma-separated; default 1,2 (quick: 1)")
    p.add_argument("--with-log", action="store_true", help="also the stub with --log (1 worker)")
    p.add_argument(
        "--mlflow-extra",
        action="append",
        metavar="REQ",
        help="extra requirement for the MLflow venv, e.g. 'pandas<3' (own cached venv)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--reinstall", action="store_true", help="recreate the MLflow venv")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, models)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (2.0 if args.quick else 8.0)
    args.warmup = args.warmup or (0.5 if args.quick else 2.0)
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.workers = [int(w) for w in (args.workers or ("1" if args.quick else "1,2")).split(",")]
    if not 1 <= args.rounds <= 10 or not 0 < args.duration <= 60 or not 0 < args.warmup <= 30:
        p.error("rounds must be in [1, 10], duration in (0, 60] s, warmup in (0, 30] s")
    if any(not 1 <= c <= 256 for c in args.concurrency) or any(
        not 1 <= w <= 8 for w in args.workers
    ):
        p.error("concurrency must be in [1, 256] and workers in [1, 8]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cases = list(CASES) if args.case == "both" else [args.case]
    # MLflow serves one model: the categorical one when both are measured.
    mlflow_case = None if args.no_mlflow else cases[-1]
    python = None
    if mlflow_case:
        extra = args.mlflow_extra or []
        python = ensure_mlflow_venv(mlflow_venv_path(extra), extra=extra, reinstall=args.reinstall)
    workdir = Path(tempfile.mkdtemp(prefix="wb-serve-vs-mlflow-"))
    try:
        models: dict[str, Model] = {}
        for case in cases:
            log(f"fitting {args.model} for the {case} case; work folder {workdir}")
            models[case] = build_model(args.model, workdir, args.seed, case)
        mlflow_dir, mlflow_versions = None, {"mlflow": None, "pandas": None}
        if mlflow_case and python is not None:
            mlflow_dir, mlflow_versions = save_mlflow_model(python, models[mlflow_case], workdir)
        configs: list[Config] = []
        for w in args.workers:
            configs += [Config("workbench", w, case=case) for case in cases]
            if mlflow_case:
                configs.append(Config("mlflow", w, case=mlflow_case))
        if args.with_log:
            configs.insert(1, Config("workbench", 1, prediction_log=True, case=cases[0]))
        targets = []
        for c in configs:
            model = models[c.case]
            if c.target == "workbench":
                targets.append(workbench_target(c, model, workdir / c.case))
            else:
                assert python is not None and mlflow_dir is not None
                targets.append(mlflow_target(c, python, mlflow_dir, model))
        samples: list[Sample] = []
        for round_no in range(1, args.rounds + 1):
            order = targets if round_no % 2 else list(reversed(targets))
            for t in order:
                samples += measure_target(
                    t,
                    workdir,
                    round_no=round_no,
                    concurrencies=args.concurrency,
                    duration_s=args.duration,
                    warmup_s=args.warmup,
                )
        log("in-process floor")
        calls = 2000 if args.quick else 20000
        floor = {case: in_process_floor(m, repeats=5, calls=calls) for case, m in models.items()}
        summary = summarize(samples)
        ratio_rows = ratios(summary)
        from workbench.bundle import Manifest

        result = {
            "meta": {
                "model": args.model,
                "cases": cases,
                "datasets": {case: m.dataset for case, m in models.items()},
                "payload_rows": {case: m.row for case, m in models.items()},
                "rounds": args.rounds,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "mlflow_case": mlflow_case,
                "mlflow_version": mlflow_versions["mlflow"],
                "mlflow_pandas": mlflow_versions["pandas"],
                "mlflow_venv": python.parent.parent.name if python else None,
                "stub_backend": {
                    case: Manifest.read(m.bundle).backend for case, m in models.items()
                },
                "cpu_count": os.cpu_count(),
                "targets": {
                    "rps_ratio_min": TARGET_RPS_RATIO,
                    "p99_ratio_min": TARGET_P99_RATIO,
                    "categorical_rps_ratio_min": TARGET_CATEGORICAL_RATIO,
                },
            },
            "summary": [asdict(s) for s in summary],
            "floor_us": floor,
            "ratios": ratio_rows,
            "verdict": verdict(ratio_rows),
            "categorical_ratios": categorical_ratios(summary),
            "samples": [asdict(s) for s in samples],
        }
        print(json.dumps(result, indent=2) if args.json else render(result), flush=True)
        return 0
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
