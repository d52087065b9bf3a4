"""Running a release check and keeping its evidence: the store, the JSON, notebook 05's page."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._files import atomic_write_text, child_path, new_id
from workbench.exceptions import ConfigError
from workbench.gates import (
    RELEASE_METRICS,
    Gate,
    GateResult,
    evaluate_release_gates,
    resolve_gates,
)
from workbench.store import ReleaseRecord, utcnow

from ._checks import MAX_BODY_BYTES, acceptance_check, read_evidence
from ._report import CHECK_KINDS, Check, ReleaseReport
from ._stub import run_checks

if TYPE_CHECKING:
    from workbench.bundle import Manifest
    from workbench.config import Workspace
    from workbench.store import Store

#: The notebook that renders a release check.
NOTEBOOK = "05_release.ipynb"


# -- release_check ------------------------------------------------------------------------------


def _gate_values(manifest: Manifest, perf: Mapping[str, Any]) -> dict[str, float | None]:
    values: dict[str, float | None] = {}
    for name, v in dict(manifest.data.get("metrics") or {}).items():
        raw = v.get("value") if isinstance(v, Mapping) else v
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            values[name] = float(raw)
    for name in RELEASE_METRICS:
        raw = perf.get(name)
        values[name] = None if raw is None else float(raw)
    return values


def _failures(checks: Sequence[Check], gates: Sequence[GateResult]) -> tuple[str, ...]:
    out = [
        f"check '{c.name}' ({c.kind}) failed: {c.detail}"
        for c in checks
        if not c.passed and c.kind != "acceptance"
    ]
    out += [
        f"gate '{g.gate.label}' failed: {g.reason}" for g in gates if g.applies and not g.passed
    ]
    if not any(g.applies for g in gates):
        out.append("no gate applies to this task")
    return tuple(out)


def release_check(
    ws: Workspace,
    store: Store,
    bundle_dir: str | Path,
    *,
    gates: str | Path | Sequence[Gate | Any] | None = None,
    duration_s: float = 5,
    concurrency: int = 8,
    model_uri: str | None = None,
    report: bool = True,
) -> ReleaseReport:
    """Run the pre-release checks on a bundle against a real stub, and record the evidence.

    Args:
        ws: The workspace (evidence and report go to ``reports/releases/``).
        store: Its store (the record goes to ``wb_releases``).
        bundle_dir: A bundle written by ``workbench export``.
        gates: A release gates YAML path, a list of gates (strings such as ``"p99_ms <= 20"``,
            mappings or :class:`~workbench.gates.Gate`), or ``None`` for
            ``templates/release_gates.yaml``.
        duration_s: Seconds of the load test (at most 600).
        concurrency: Connections of the load test (one request in flight each).
        model_uri: Where a ``load``-mode bundle's model is; default ``$MODEL_URI`` or the
            bundle's ``model-store/``.
        report: Render notebook 05 into ``reports/releases/<id>.html``.

    Returns:
        The stored :class:`ReleaseReport`; ``passed`` says whether every check and every
        applicable gate passed. A failed check does not raise.

    Raises:
        ConfigError: The folder is not a bundle, or has no evidence.
        GateError: The gates are malformed (checked before any stub starts).
        StageFailed: Notebook 05 failed while rendering the report (the record is kept).

    Example:
        >>> r = release_check(ws, store, "exports/run-load", gates=["p99_ms <= 20"])
        >>> r.passed, [c.name for c in r.checks if not c.passed]
        (True, [])
    """
    from workbench.bundle import Manifest, model_source

    if not 0 < duration_s <= 600 or not 1 <= concurrency <= 1024:
        raise ConfigError(
            f"duration_s must be in (0, 600] and concurrency in [1, 1024]; got {duration_s} "
            f"and {concurrency}"
        )
    gate_list, gates_source = resolve_gates(gates, release=True)
    bundle = Path(bundle_dir).resolve()
    manifest = Manifest.read(bundle)
    evidence = read_evidence(manifest)
    source = model_source(bundle, model_uri=model_uri)
    created = utcnow()
    checks, perf, seconds = run_checks(
        bundle, manifest, source, evidence, duration_s=duration_s, concurrency=concurrency
    )
    results = evaluate_release_gates(gate_list, _gate_values(manifest, perf), task=manifest.task)
    checks.append(acceptance_check(results))
    checks.sort(key=lambda c: CHECK_KINDS.index(c.kind))
    release_id = new_id("rel-")
    failures = _failures(checks, results)
    record = ReleaseReport(
        id=release_id,
        created_at=created,
        bundle=str(bundle),
        run_id=manifest.data.get("run_id"),
        model_version=manifest.model_version,
        mode=manifest.mode,
        task=manifest.task,
        backend=manifest.backend,
        dataset_fingerprint=manifest.data.get("dataset_fingerprint"),
        settings={
            "duration_s": duration_s,
            "concurrency": concurrency,
            "rows_per_request": 1,
            "max_body_bytes": MAX_BODY_BYTES,
            "model_uri": source,
            "evidence_rows": len(evidence["rows"]),
            "host": "127.0.0.1",
            "seconds": seconds,
        },
        checks=tuple(checks),
        gates=tuple(results),
        gates_source=gates_source,
        quality={k: v for k, v in _gate_values(manifest, {}).items() if v is not None},
        performance=perf,
        passed=not failures,
        failures=failures,
        evidence_path=str(evidence_path(ws, release_id)),
    )
    _save(store, record)
    _write_evidence(record)
    if report:
        render_report(ws, store, release_id)
    return get_release(store, release_id)


# -- storage ------------------------------------------------------------------------------------


def _save(store: Store, report: ReleaseReport) -> None:
    record = report.to_dict()
    record.pop("report_path", None)  # kept in its own column, set once the page exists
    store.add_release(
        ReleaseRecord(
            id=report.id,
            run_id=report.run_id,
            bundle=report.bundle,
            passed=report.passed,
            record=record,
            created_at=report.created_at,
        )
    )


def _from_record(rec: ReleaseRecord) -> ReleaseReport:
    return ReleaseReport.from_dict({**rec.record, "report_path": rec.report_path})


def get_release(store: Store, ref: str) -> ReleaseReport:
    """A stored release check by id or unique id prefix.

    Raises:
        RunNotFound: No release matches, or the prefix is ambiguous.
    """
    return _from_record(store.get_release(ref))


def list_releases(store: Store, *, limit: int | None = None) -> list[ReleaseReport]:
    """Stored release checks, newest first."""
    return [_from_record(r) for r in store.list_releases(limit=limit)]


# -- files --------------------------------------------------------------------------------------


def release_dir(ws: Workspace, release_id: str) -> Path:
    """Where the executed notebook of a release check lives: ``<workspace>/releases/<id>/``."""
    return child_path(ws.artifact_root / "releases", release_id, what="release id")


def release_report_path(ws: Workspace, release_id: str) -> Path:
    """The HTML report of a release check: ``<workspace>/reports/releases/<id>.html``."""
    return child_path(ws.reports_dir / "releases", release_id, what="release id", suffix=".html")


def evidence_path(ws: Workspace, release_id: str) -> Path:
    """The JSON evidence of a release check: ``<workspace>/reports/releases/<id>.json``."""
    return child_path(ws.reports_dir / "releases", release_id, what="release id", suffix=".json")


def _write_evidence(report: ReleaseReport) -> Path:
    """Write the record as JSON beside the report, atomically (a reader never sees half)."""
    text = json.dumps(report.to_dict(), indent=1, allow_nan=False)
    return atomic_write_text(report.evidence_path, text)


# -- the report (notebook 05) -------------------------------------------------------------------


def render_report(
    ws: Workspace,
    store: Store,
    release_id: str,
    *,
    reviewer: bool | None = None,
    standalone: bool | None = None,
    log_output: bool = False,
) -> Path:
    """Execute notebook 05 on a stored release check and export it to HTML (``reviewer`` and
    ``standalone`` default to the workspace's report settings).

    The notebook loads the stored record (it runs no check), so the page shows the stored
    numbers. The executed notebook goes to ``releases/<id>/``, the page to
    ``reports/releases/<id>.html``; its path is recorded and the evidence JSON rewritten.

    Raises:
        StageFailed: A notebook cell raised (the partial notebook is exported all the same).
    """
    from workbench.execute import render_report as execute_report
    from workbench.headers import release_header

    report = get_release(store, release_id)
    return execute_report(
        NOTEBOOK,
        out=release_dir(ws, report.id) / NOTEBOOK,
        html=release_report_path(ws, report.id),
        parameters={"workspace": str(ws.root), "release_id": report.id},
        stage="release",
        owner=report.id,
        title=f"{report.id} · release check of {report.model_version}",
        workspace=ws,
        reviewer=reviewer,
        standalone=standalone,
        log_output=log_output,
        on_export=lambda html: _finish_report(store, report.id, html),
        header=lambda: release_header(ws, store, report.id),
    )


def _finish_report(store: Store, release_id: str, html: Path) -> None:
    store.set_release_report(release_id, html)
    _write_evidence(get_release(store, release_id))  # now with its report_path
