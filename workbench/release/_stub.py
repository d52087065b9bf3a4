"""Starting, stopping and restarting the bundle's stub for the checks, in order.

One instance answers the integration and system checks; it is stopped, started again (same
answers?) and load-tested; tampered copies must then refuse to start. :func:`run_checks` runs
them all in a temporary folder and times each phase.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ConfigError, WorkbenchError

from ._checks import (
    CHUNK_ROWS,
    HTTP_TIMEOUT_S,
    MAX_BODY_BYTES,
    Tally,
    bad_inputs_check,
    integration_check,
    integrity_check,
    not_run,
    observability_check,
    performance_check,
    post_json,
    tamper_check,
)
from ._report import Check

if TYPE_CHECKING:
    import httpx

    from workbench.bundle import Manifest


_FIRST_INSTANCE_CHECKS = (
    ("integration", "offline parity"),
    ("system", "bad inputs"),
    ("system", "metrics and prediction log"),
)


@dataclass
class _Session:
    """What the first stub instance answered (restart compares against it)."""

    port: int | None = None
    probe: bytes | None = None
    probe_rows: int = 0
    answer: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)


def _first_instance(
    bundle: Path, manifest: Manifest, source: str | None, evidence: Mapping[str, Any], tmp: Path
) -> _Session:
    """Integration, bad inputs and observability against one stub instance."""
    import httpx
    import orjson

    from workbench.serving import background_server

    session = _Session()
    log_path = tmp / "predictions-first.jsonl"
    good = evidence["rows"][0]
    probe = evidence["rows"][:CHUNK_ROWS]
    session.probe, session.probe_rows = orjson.dumps({"rows": probe}), len(probe)
    try:
        with (
            background_server(
                bundle, model_uri=source, log_path=log_path, max_body_bytes=MAX_BODY_BYTES
            ) as url,
            httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client,
        ):
            session.port = int(url.rsplit(":", 1)[1])
            tally = Tally(client)
            tally.request("GET", "/health")
            session.checks.append(integration_check(tally, manifest, evidence))
            session.answer = _answer(tally.request("POST", "/predict", session.probe))
            session.checks.append(bad_inputs_check(tally, manifest, good))
            metrics_text = tally.request("GET", "/metrics").text
    except (WorkbenchError, httpx.HTTPError) as e:
        started = session.port is not None
        why = f"the stub {'failed' if started else 'did not start'}: {str(e).splitlines()[0]}"
        done = {c.name for c in session.checks}
        session.checks += [
            not_run(kind, name, why) for kind, name in _FIRST_INSTANCE_CHECKS if name not in done
        ]
        session.answer = None
        return session
    # The stub closed its log on shutdown, so every entry is on disk now.
    lines = log_path.read_text(encoding="utf-8").splitlines() if log_path.exists() else []
    session.checks.append(observability_check(tally, metrics_text, lines, manifest.model_version))
    return session


def _answer(r: httpx.Response) -> dict[str, Any]:
    """The model's part of an answer (request ids differ between requests by design)."""
    if r.status_code != 200:
        return {"status": r.status_code}
    return {k: v for k, v in r.json().items() if k != "request_id"}


@contextlib.contextmanager
def _restarted(
    bundle: Path, source: str | None, port: int | None, log: Path
) -> Iterator[tuple[str, str]]:
    """Start the stub again on the same port when it is free (else any port; said so)."""
    from workbench.serving import background_server

    options = {"model_uri": source, "log_path": log, "max_body_bytes": MAX_BODY_BYTES}
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(background_server(bundle, port=port or 0, **options))
            note = ""
        except ConfigError as e:  # the port was taken in between: a restart elsewhere counts
            note = f" (port {port} was taken: {str(e).splitlines()[0]}; restarted elsewhere)"
            url = stack.enter_context(background_server(bundle, **options))
        yield url, note


def _restart_check(url: str, note: str, first: _Session) -> Check:
    """The restarted stub is healthy and gives the first instance's answers to the same rows."""
    import httpx

    assert first.probe is not None
    with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        health = client.get("/health")
        again = _answer(post_json(client, first.probe))
    same = health.status_code == 200 and again == first.answer
    data = {"port_before": first.port, "url_after": url, "same_answers": same}
    if not same:
        detail = f"after a restart the stub answered differently (health {health.status_code})"
        return Check("system", "restart", False, detail, data)
    detail = f"stopped and started again: the same answers to the same {first.probe_rows} rows"
    return Check("system", "restart", True, detail + note, data)


def _second_instance(
    bundle: Path,
    source: str | None,
    first: _Session,
    tmp: Path,
    *,
    duration_s: float,
    concurrency: int,
    payload: Mapping[str, Any],
) -> tuple[list[Check], dict[str, Any]]:
    """Restart (same answers), then the load test on the restarted stub."""
    import httpx

    from workbench.loadtest import run_loadtest

    if first.answer is None or first.probe is None:
        why = "the first stub instance did not answer"
        return [not_run("system", "restart", why), not_run("performance", "load test", why)], {}
    try:
        with _restarted(bundle, source, first.port, tmp / "predictions-second.jsonl") as started:
            url, note = started
            restart = _restart_check(url, note, first)
            load = run_loadtest(
                url + "/predict", duration_s=duration_s, concurrency=concurrency, payload=payload
            )
    except (WorkbenchError, httpx.HTTPError) as e:
        why = f"the restarted stub failed: {str(e).splitlines()[0]}"
        return [
            Check("system", "restart", False, why, {}),
            not_run("performance", "load test", why),
        ], {}
    check, perf = performance_check(load)
    return [restart, check], perf


def run_checks(
    bundle: Path,
    manifest: Manifest,
    source: str | None,
    evidence: Mapping[str, Any],
    *,
    duration_s: float,
    concurrency: int,
) -> tuple[list[Check], dict[str, Any], dict[str, float]]:
    """Every check but acceptance, the performance numbers, and seconds spent per phase."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal t
        now = time.perf_counter()
        seconds[phase] = round(now - t, 3)
        t = now

    checks = [integrity_check(bundle, source)]
    lap("integrity")
    with tempfile.TemporaryDirectory(prefix="wb-release-") as tmp_name:
        tmp = Path(tmp_name)  # prediction logs and tampered copies; never inside the bundle
        first = _first_instance(bundle, manifest, source, evidence, tmp)
        checks += first.checks
        lap("integration_and_system")
        second, perf = _second_instance(
            bundle, source, first, tmp, duration_s=duration_s,
            concurrency=concurrency, payload={"rows": evidence["rows"][:1]},
        )  # fmt: skip
        checks += second
        lap("restart_and_load")
        checks.append(tamper_check(bundle, manifest, source, tmp))
        lap("tamper")
    return checks, perf, seconds
