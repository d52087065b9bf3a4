"""The checks of a release, one function each, against a stub that is already running.

Integration (the stub's answers on the evidence rows equal the offline predictions), system
(bundle integrity, bad inputs, ``/metrics`` and the prediction log, a tampered model refused),
performance (the load test's numbers) and acceptance (the gates). Starting and restarting the
stub for them is :mod:`._stub`'s job.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ConfigError, ModelError, WorkbenchError
from workbench.gates import GateResult

from ._report import Check

if TYPE_CHECKING:
    import httpx

    from workbench.bundle import Manifest
    from workbench.loadtest import LoadResult

CHUNK_ROWS = 256  # evidence rows per request: far below the stub's body limit
MAX_BODY_BYTES = 1_000_000  # the stub's default, which the 413 case exceeds by one byte
HTTP_TIMEOUT_S = 10.0
_HISTOGRAM_BINS = 40


# -- HTTP helpers -------------------------------------------------------------------------------


def post_json(client: httpx.Client, body: bytes, path: str = "/predict") -> httpx.Response:
    return client.post(path, content=body, headers={"content-type": "application/json"})


class Tally:
    """Requests sent to one stub instance, by (path label, status), as ``/metrics`` counts them."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.counts: dict[tuple[str, int], int] = {}

    def request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        headers = {"content-type": "application/json"} if body is not None else None
        r = self.client.request(method, path, content=body, headers=headers)
        label = path if path in ("/predict", "/health", "/metadata", "/metrics") else "other"
        key = (label, r.status_code)
        self.counts[key] = self.counts.get(key, 0) + 1
        return r

    @property
    def ok_predictions(self) -> int:
        return self.counts.get(("/predict", 200), 0)


_METRIC_LINE = re.compile(
    r'^workbench_http_requests_total\{path="([^"]*)",status="(\d+)"\} (\d+)$', re.M
)


def _served_counts(text: str) -> dict[tuple[str, int], int]:
    return {(p, int(s)): int(n) for p, s, n in _METRIC_LINE.findall(text)}


# -- the checks ---------------------------------------------------------------------------------


def integrity_check(bundle: Path, model_uri: str | None) -> Check:
    from workbench.bundle import verify_bundle

    try:
        checked = verify_bundle(bundle, model_uri=model_uri)
    except WorkbenchError as e:
        return Check("system", "bundle integrity", False, str(e).splitlines()[0], {"error": str(e)})
    return Check(
        "system",
        "bundle integrity",
        True,
        f"all {len(checked)} files match the sha256 in manifest.json",
        {"files_checked": len(checked)},
    )


def read_evidence(manifest: Manifest) -> dict[str, Any]:
    import orjson

    try:
        evidence = orjson.loads(manifest.evidence_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise ConfigError(
            f"the bundle has no readable evidence ({manifest.evidence_path}: {e}); re-export it "
            "with `workbench export`"
        ) from e
    if not evidence.get("rows"):
        raise ConfigError(
            f"the evidence of {manifest.bundle_dir} holds no test rows; export it with test rows"
        )
    return evidence


def _tolerance(task: str, expected: Mapping[str, Any]) -> float:
    from workbench.modelio import PARITY_TOLERANCE

    if task == "classification":
        return PARITY_TOLERANCE["probabilities"]
    values = [abs(float(v)) for v in expected.get("values", [])]
    return PARITY_TOLERANCE["relative_prediction"] * max([1.0, *values])


def _served_answers(tally: Tally, rows: list[Any]) -> tuple[dict[str, list[Any]], dict[str, int]]:
    """The stub's labels, probabilities and values for ``rows``, and the statuses it sent."""
    import orjson

    got: dict[str, list[Any]] = {"labels": [], "probabilities": [], "values": []}
    statuses: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK_ROWS):
        r = tally.request(
            "POST", "/predict", orjson.dumps({"rows": rows[start : start + CHUNK_ROWS]})
        )
        statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
        if r.status_code == 200:
            answer = r.json()
            for key in got:
                got[key].extend(answer.get(key) or [])
    return got, statuses


def integration_check(tally: Tally, manifest: Manifest, evidence: Mapping[str, Any]) -> Check:
    """The stub's answers on the evidence rows against the offline predictions."""
    import numpy as np

    rows, expected = evidence["rows"], evidence["expected"]
    got, statuses = _served_answers(tally, rows)
    n, tol = len(rows), _tolerance(manifest.task, expected)
    data: dict[str, Any] = {"n_rows": n, "requests": sum(statuses.values()), "statuses": statuses}
    data["tolerance"] = tol
    problems = [] if statuses.keys() <= {"200"} else [f"answers other than 200: {statuses}"]
    compared = "probabilities" if manifest.task == "classification" else "values"
    if manifest.task == "classification":
        agree = sum(a == b for a, b in zip(got["labels"], expected["labels"], strict=False))
        data["label_agreement"] = agree / n
        if agree != n:
            problems.append(f"{n - agree} of {n} labels differ from the offline predictions")
    ref, mine = expected.get(compared), got[compared]
    data["compared"] = compared
    if ref is not None and len(mine) == len(ref):
        diff = np.abs(np.asarray(mine, dtype=np.float64) - np.asarray(ref, dtype=np.float64))
        data["max_abs_diff"] = float(diff.max())
        if data["max_abs_diff"] > tol:
            problems.append(f"max |Δ {compared}| {data['max_abs_diff']:.3g} exceeds {tol:.3g}")
    elif ref is not None:  # a classifier without probabilities has only labels to compare
        problems.append(f"{len(mine)} {compared} answered for {n} rows")
    data["export_parity"] = manifest.data.get("parity")
    if problems:
        return Check("integration", "offline parity", False, "; ".join(problems), data)
    detail = f"{n} test rows: "
    if manifest.task == "classification":
        detail += f"{data['label_agreement']:.0%} label agreement, "
    if data.get("max_abs_diff") is not None:
        detail += f"max |Δ {compared}| {data['max_abs_diff']:.3g} ≤ {tol:.3g}"
    return Check("integration", "offline parity", True, detail.rstrip(", "), data)


def _bad_inputs(
    manifest: Manifest, good: list[Any]
) -> list[tuple[str, str, str, bytes | None, int]]:
    """(case, method, path, body, expected status) built from the bundle's signature."""
    import orjson

    features = manifest.features
    names = [f["name"] for f in features]
    numeric = next((i for i, f in enumerate(features) if f["kind"] in ("number", "integer")), None)
    text = next((i for i, f in enumerate(features) if f["kind"] == "string"), None)
    no_nan = next((i for i, f in enumerate(features) if not f.get("allow_nan")), None)
    record = dict(zip(names, good, strict=True))

    def rows(*changed: tuple[int, Any]) -> bytes:
        row = list(good)
        for i, v in changed:
            row[i] = v
        return orjson.dumps({"rows": [row]})

    cases: list[tuple[str, str, str, bytes | None, int]] = [
        ("body is not JSON", "POST", "/predict", b"{rows: 1}", 400),
        ("NaN literal (not JSON)", "POST", "/predict", b'{"rows": [[NaN]]}', 400),
        ("body is a list", "POST", "/predict", orjson.dumps([good]), 422),
        ("empty object", "POST", "/predict", b"{}", 422),
        ("unknown top-level field", "POST", "/predict", orjson.dumps({"rowz": [good]}), 422),
        ("rows and records together", "POST", "/predict",
         orjson.dumps({"rows": [good], "records": [record]}), 422),
        ("empty rows", "POST", "/predict", b'{"rows": []}', 422),
        ("wrong feature count (one short)", "POST", "/predict",
         orjson.dumps({"rows": [good[:-1]]}), 422),
        ("wrong feature count (one extra)", "POST", "/predict",
         orjson.dumps({"rows": [[*good, good[0]]]}), 422),
        ("unknown feature name", "POST", "/predict",
         orjson.dumps({"records": [{**record, "no_such_feature": 1}]}), 422),
        ("missing feature", "POST", "/predict",
         orjson.dumps({"records": [{k: v for k, v in record.items() if k != names[0]}]}), 422),
        ("body too large", "POST", "/predict", b" " * (MAX_BODY_BYTES + 1), 413),
        ("wrong method", "GET", "/predict", None, 405),
        ("unknown route", "POST", "/nope", b"{}", 404),
    ]  # fmt: skip
    if numeric is not None:
        cases += [
            ("string for a number", "POST", "/predict", rows((numeric, "big")), 422),
            ("boolean for a number", "POST", "/predict", rows((numeric, True)), 422),
            ("number beyond float32", "POST", "/predict", rows((numeric, 1e300)), 422),
        ]
    if text is not None:
        cases.append(("number for a category", "POST", "/predict", rows((text, 3)), 422))
    if no_nan is not None:
        cases.append(
            ("null where training had none", "POST", "/predict", rows((no_nan, None)), 422)
        )
    return cases


def bad_inputs_check(tally: Tally, manifest: Manifest, good: list[Any]) -> Check:
    results = []
    for case, method, path, body, want in _bad_inputs(manifest, good):
        r = tally.request(method, path, body)
        detail = ""
        with contextlib.suppress(ValueError):
            detail = str(r.json().get("detail", ""))[:160]
        results.append(
            {"case": case, "request": f"{method} {path}", "expected": want,
             "status": r.status_code, "passed": r.status_code == want, "detail": detail}
        )  # fmt: skip
    wrong = [c for c in results if not c["passed"]]
    fives = [c for c in results if c["status"] >= 500]
    data = {"cases": results, "server_errors": len(fives)}
    if wrong:
        listed = "; ".join(f"{c['case']}: {c['status']} (expected {c['expected']})" for c in wrong)
        return Check("system", "bad inputs", False, listed, data)
    return Check(
        "system", "bad inputs", True,
        f"all {len(results)} bad inputs got their 4xx, none a 5xx", data,
    )  # fmt: skip


def observability_check(
    tally: Tally, metrics_text: str, log_lines: list[str], model_version: str
) -> Check:
    """``/metrics`` counted what was sent; the log has one entry per answered prediction."""
    served = _served_counts(metrics_text)
    sent = dict(tally.counts)
    sent.pop(("/metrics", 200), None)  # the scrape itself is counted after it answers
    mismatched = {
        f"{p} {s}": {"sent": sent.get((p, s), 0), "counted": served.get((p, s), 0)}
        for p, s in sorted(set(sent) | set(served))
        if sent.get((p, s), 0) != served.get((p, s), 0)
    }
    versions = set()
    for line in log_lines:
        with contextlib.suppress(ValueError):
            versions.add(json.loads(line).get("model_version"))
    data = {
        "requests_sent": sum(sent.values()),
        "predictions_answered": tally.ok_predictions,
        "log_entries": len(log_lines),
        "metrics_mismatches": mismatched,
    }
    problems = []
    if mismatched:
        problems.append(f"/metrics counts differ from the requests sent: {mismatched}")
    if len(log_lines) != tally.ok_predictions:
        problems.append(
            f"the prediction log has {len(log_lines)} entries for {tally.ok_predictions} "
            "answered predictions"
        )
    if versions - {model_version}:
        problems.append(f"log entries name model versions {sorted(map(str, versions))}")
    if problems:
        return Check("system", "metrics and prediction log", False, "; ".join(problems), data)
    return Check(
        "system", "metrics and prediction log", True,
        f"/metrics counted all {data['requests_sent']} requests by status; the log holds one "
        f"entry per answered prediction ({len(log_lines)})", data,
    )  # fmt: skip


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one bit pattern changed in the middle: still a plausible file
    path.write_bytes(bytes(data))


def _copy_bundle(bundle: Path, manifest: Manifest, source: str | None, dest: Path) -> str | None:
    """A copy of the bundle (and, in load mode, of its model files); returns the copy's URI."""
    from workbench.bundle import MODEL_STORE
    from workbench.serving import translated_errors
    from workbench.serving._model import fetch_model_file

    shutil.copytree(bundle, dest, ignore=shutil.ignore_patterns("__pycache__", MODEL_STORE))
    if manifest.mode != "load":
        return None
    store_dir = dest / MODEL_STORE
    store_dir.mkdir()
    for name, meta in manifest.model_files.items():
        with translated_errors():
            blob = fetch_model_file(
                source or str(bundle / MODEL_STORE),
                name,
                sha256=meta["sha256"],
                max_bytes=meta["bytes"],
            )
        (store_dir / name).write_bytes(blob)
    return str(store_dir)


def tamper_check(bundle: Path, manifest: Manifest, source: str | None, tmp: Path) -> Check:
    """A flipped byte in each model file, and a missing model file: the stub must not start."""
    from workbench.serving import background_server

    cases = [(name, "one byte flipped") for name in manifest.model_files]
    cases.append(("model.skops", "file missing"))
    results = []
    for i, (name, how) in enumerate(cases):
        copy = tmp / f"tamper-{i}"
        try:
            uri = _copy_bundle(bundle, manifest, source, copy)
        except WorkbenchError as e:
            message = f"could not copy the model to tamper with: {e}"
            results.append({"file": name, "change": how, "refused": False, "message": message})
            continue
        target = Path(uri or copy) / name
        if how == "file missing":
            target.unlink()
        else:
            _flip_byte(target)
        try:
            with background_server(copy, model_uri=uri):
                refused, message = False, "the stub started on a changed model"
        except ModelError as e:
            refused, message = True, str(e).splitlines()[0][:240]
        except WorkbenchError as e:  # refused, but not for the model: say so
            refused, message = False, f"the stub failed otherwise: {str(e).splitlines()[0]}"
        results.append({"file": name, "change": how, "refused": refused, "message": message})
        shutil.rmtree(copy, ignore_errors=True)
    ok = all(c["refused"] for c in results)
    detail = (
        f"the stub refused to start in all {len(results)} cases (ModelError)"
        if ok
        else "; ".join(
            f"{c['file']} {c['change']}: {c['message']}" for c in results if not c["refused"]
        )
    )
    return Check("system", "tamper refused", ok, detail, {"cases": results})


def _latency_histogram(latencies_ms: Sequence[float]) -> dict[str, Any]:
    """Counts over log-spaced bins of every request's latency (a sample of none is empty)."""
    import numpy as np

    lat = np.asarray(latencies_ms, dtype=np.float64)
    if lat.size == 0:
        return {"edges_ms": [], "counts": []}
    lo, hi = max(float(lat.min()), 1e-3), max(float(lat.max()), 1e-3)
    edges = (
        np.geomspace(lo, hi * 1.0001, _HISTOGRAM_BINS + 1) if hi > lo else np.array([lo, lo * 1.01])
    )
    counts, _ = np.histogram(np.clip(lat, lo, None), bins=edges)
    return {"edges_ms": edges.round(4).tolist(), "counts": counts.tolist()}


def performance_check(load: LoadResult) -> tuple[Check, dict[str, Any]]:
    perf = load.to_dict()
    # Connection failures and timeouts never got an answer, so they are not in `requests`.
    attempts = load.ok + load.error_count
    perf["error_rate"] = load.error_count / attempts if attempts else None
    perf["latency_histogram"] = _latency_histogram(load.latencies_ms)
    ok = load.requests > 0 and load.error_count == 0
    detail = (
        f"{load.requests} requests in {load.duration_s:.1f} s at concurrency {load.concurrency}: "
        f"{load.rps:,.0f} req/s, p50 {load.p50_ms:.2f} ms, p95 {load.p95_ms:.2f} ms, "
        f"p99 {load.p99_ms:.2f} ms, max {load.max_ms:.2f} ms, {load.error_count} errors"
    )
    if load.errors:
        detail += f" {load.errors}"
    return Check("performance", "load test", ok, detail, {}), perf


def not_run(kind: str, name: str, why: str) -> Check:
    return Check(kind, name, False, f"not run: {why}", {})


def acceptance_check(results: Sequence[GateResult]) -> Check:
    applied = [r for r in results if r.applies]
    failed = [r for r in applied if not r.passed]
    data = {"applied": len(applied), "failed": [r.gate.label for r in failed]}
    if not applied:
        return Check("acceptance", "gates", False, "no gate applies to this task; add one", data)
    if failed:
        names = ", ".join(f"'{r.gate.label}'" for r in failed)
        return Check(
            "acceptance",
            "gates",
            False,
            f"{len(failed)} of {len(applied)} gates failed: {names}",
            data,
        )
    return Check("acceptance", "gates", True, f"all {len(applied)} applicable gates passed", data)
