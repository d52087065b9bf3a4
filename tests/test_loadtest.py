"""The bounded load test and the serve/loadtest CLI commands."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from workbench.bundle import export_bundle
from workbench.cli._release import loadtest, serve
from workbench.exceptions import ConfigError, ModelError
from workbench.loadtest import LoadResult, example_rows, run_loadtest
from workbench.serving import background_server


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    out = tmp_path_factory.mktemp("lt") / "bundle"
    export_bundle(pipe, out=out, mode="image", X_ref=X, X_test=X[:50])
    return out


@pytest.fixture(scope="module")
def stub(bundle: Path) -> Iterator[str]:
    with background_server(bundle) as url:
        yield url


def test_load_test_reports_rate_percentiles_and_no_errors(stub: str) -> None:
    r = run_loadtest(stub + "/predict", duration_s=0.5, concurrency=4)
    assert isinstance(r, LoadResult)
    assert r.requests > 50 and r.ok == r.requests and r.errors == {} and r.error_count == 0
    assert r.status_counts == {"200": r.requests}
    assert 0 < r.p50_ms <= r.p95_ms <= r.p99_ms <= r.max_ms
    assert 0.4 < r.duration_s < 2.0 and r.rps > 0
    assert len(r.latencies_ms) == r.requests
    assert "latencies_ms" not in r.to_dict() and r.to_dict()["error_count"] == 0


def test_load_test_is_bounded_by_count(stub: str) -> None:
    r = run_loadtest(stub, duration_s=30, concurrency=3, max_requests=40, rows=5)
    assert r.requests == 40 and r.duration_s < 5 and r.rows == 5


def test_errors_are_counted_by_status(stub: str) -> None:
    r = run_loadtest(stub + "/predict", duration_s=0.3, concurrency=2, payload={"rows": []})
    assert r.ok == 0 and r.errors == {"422": r.requests} and r.requests > 0


def test_payload_is_built_from_the_signature(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    rows = example_rows(manifest, 3)
    assert len(rows) == 3 and len(rows[0]) == 30
    first = manifest["signature"]["features"][0]
    assert first["min"] <= rows[0][0] <= first["max"]


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://10.1.2.3:8080/predict", "not a loopback address"),
        ("http://example.com/predict", "not a loopback address"),
        ("https://127.0.0.1:8443/predict", "must start with http://"),
    ],
)
def test_only_loopback_http_targets_are_accepted(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        run_loadtest(url, duration_s=1, concurrency=1, payload=b"{}")


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigError, match="duration_s"):
        run_loadtest("http://127.0.0.1:1/", duration_s=601, concurrency=1)
    with pytest.raises(ConfigError, match="concurrency"):
        run_loadtest("http://127.0.0.1:1/", duration_s=1, concurrency=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_listening_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="start the stub first"):
        run_loadtest(
            f"http://127.0.0.1:{_free_port()}/predict", duration_s=1, concurrency=1, payload=b"{}"
        )


def test_a_server_that_never_answers_cannot_hold_the_run() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never responds
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        r = run_loadtest(
            f"http://127.0.0.1:{port}/predict",
            duration_s=0.2,
            concurrency=3,
            payload=b"{}",
            timeout_s=0.3,
        )
    assert time.monotonic() - t0 < 3
    assert r.requests == 0 and r.errors == {"timeout": 3}


def test_works_inside_a_running_event_loop(stub: str) -> None:
    async def notebook_cell() -> Any:  # Jupyter runs cells inside a loop
        return run_loadtest(stub, duration_s=0.2, concurrency=2)

    assert asyncio.run(notebook_cell()).ok > 0


def test_loadtest_command_prints_json(stub: str) -> None:
    result = CliRunner().invoke(
        loadtest, [stub + "/predict", "--duration", "0.3", "--concurrency", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["requests"] > 0 and data["errors"] == {} and data["concurrency"] == 2
    text = CliRunner().invoke(loadtest, [stub, "--duration", "0.2", "--concurrency", "1"])
    assert text.exit_code == 0 and "req/s" in text.output and "p99" in text.output


def test_loadtest_command_raises_workbench_errors() -> None:
    result = CliRunner().invoke(loadtest, ["http://192.0.2.1/predict", "--duration", "1"])
    assert isinstance(result.exception, ConfigError)


def test_serve_command_refuses_a_tampered_bundle(bundle: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / "model.skops").write_bytes(b"tampered")
    result = CliRunner().invoke(serve, [str(copy), "--port", "0"])
    assert isinstance(result.exception, ModelError)
    assert "model.skops has sha256" in str(result.exception)
