"""Suites that keep the stub honest (issue 15, item 6): schemathesis against the stub's own
/openapi.json, and 10,000 generated malformed bodies against a real stub process with the
counts asserted (no 5xx, the process alive, memory bounded, /metrics and the log agreeing).

Everything runs on 127.0.0.1 against a bundle's own ``serve.py``; every loop is bounded in
count and time.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stub_harness import (
    MALFORMED_HEADS,
    StubProcess,
    export_mixed_bundle,
    export_numeric_bundle,
    good_row,
    malformed_bodies,
    send_bodies,
    send_heads,
)

N_BODIES = 10_000
# Families that are never a valid request: any 200 among them would be a validation hole.
NEVER_VALID = {
    "random bytes", "truncated JSON", "invalid UTF-8", "non-JSON numbers", "repeated keys",
    "record keys", "byte-order mark", "trailing data", "content type", "declared too large",
    "wrong row lengths", "wrong body shape", "empty bodies", "many keys", "deep nesting",
}  # fmt: skip


@pytest.fixture(scope="module")
def numeric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_numeric_bundle(tmp_path_factory.mktemp("fuzz") / "numeric")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_mixed_bundle(tmp_path_factory.mktemp("fuzz") / "mixed")


def _served(metrics: str) -> dict[int, int]:
    pattern = r'^workbench_http_requests_total\{path="/predict",status="(\d+)"\} (\d+)$'
    return {int(s): int(n) for s, n in re.findall(pattern, metrics, re.M)}


def test_ten_thousand_malformed_bodies(numeric: Path, tmp_path: Path) -> None:
    features = json.loads((numeric / "manifest.json").read_text())["signature"]["features"]
    log = tmp_path / "predictions.jsonl"
    with StubProcess(numeric, "--log", str(log)) as stub:
        bodies = malformed_bodies(features, good_row(numeric), N_BODIES, seed=15)
        warm = send_bodies(stub.port, malformed_bodies(features, good_row(numeric), 300, seed=1))
        before = stub.rss_mb()
        result = send_bodies(stub.port, bodies, budget_s=150)
        after = stub.rss_mb()
        _, metrics = stub.get("/metrics")
        heads = send_heads(stub.port, MALFORMED_HEADS, repeat=3)
        alive = stub.alive()
        stub.stop()  # flushes the log
    assert result.sent == N_BODIES, f"only {result.sent} sent within the time budget"
    assert result.server_errors == [] and not any(s >= 500 for s in result.statuses)
    assert result.dropped == 0
    assert alive
    assert after - before < 50, f"RSS {before:.0f} -> {after:.0f} MiB"
    assert all(int(status) < 500 for status in heads), heads
    # /metrics counted exactly what the client saw; the log holds one line per 200
    seen = dict(result.statuses)
    for status, n in warm.statuses.items():
        seen[status] = seen.get(status, 0) + n
    assert _served(metrics.decode()) == seen
    assert len(log.read_text().splitlines()) == seen.get(200, 0)
    for family, statuses in result.by_family.items():
        assert statuses, family
        if family in NEVER_VALID:
            assert 200 not in statuses, (family, statuses)
    assert len(result.by_family) >= 19


def _schemathesis(url: str, cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    runner = (
        "import sys; from schemathesis.cli import schemathesis; "
        "sys.argv[0] = 'schemathesis'; sys.exit(schemathesis())"
    )
    command = [sys.executable, "-c", runner, "run", url + "/openapi.json", "--checks", "all"]
    command += ["--workers", "1", "--request-timeout", "10", "--seed", "15", "--no-color"]
    command += ["--max-failures", "5", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=cwd)


@pytest.mark.parametrize("which", ["numeric-with-token", "mixed"])
def test_schemathesis_against_the_stubs_own_openapi(
    which: str, numeric: Path, mixed: Path, tmp_path: Path
) -> None:
    pytest.importorskip("schemathesis")
    bundle, args, options = numeric, ["--token", "s3cret"], ["-H", "Authorization: Bearer s3cret"]
    if which == "mixed":
        bundle, args, options = mixed, [], []
    with StubProcess(bundle, *args) as stub:
        # 25 examples per operation and phase: ~150 cases, most of them the coverage phase's
        # boundary values; the stateful phase is left out (no links between operations to chain)
        phases = ["--phases", "examples,coverage,fuzzing"]
        run = _schemathesis(stub.url, tmp_path, "--max-examples", "25", *phases, *options)
        alive = stub.alive()
        _, metrics = stub.get("/metrics", headers={"authorization": "Bearer s3cret"})
    tail = run.stdout[-4000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated and int(generated.group(1)) >= 120, tail
    assert "POST /predict" in run.stdout or "4/4" in run.stdout or "5/5" in run.stdout
    assert alive
    assert not any(s >= 500 for s in _served(metrics.decode())), metrics
