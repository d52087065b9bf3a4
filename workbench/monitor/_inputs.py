"""What the monitor reads: a bundle's reference profile, a prediction log (or a CSV of
requests), delayed labels, and finding the bundle for a log or the log for a bundle."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError, DatasetError
from ..profile import reference_profile
from ..stats import HEADLINE
from ._compute import monitor
from ._report import DEFAULT_WINDOW, MonitorReport, Thresholds

if TYPE_CHECKING:
    from ..config import Workspace
    from ..traffic import Stream

__all__ = [
    "MonitorInputs",
    "load_inputs",
    "monitor_files",
    "monitor_inputs",
    "profile_from_bundle",
]


def profile_from_bundle(bundle_dir: str | Path) -> dict[str, Any]:
    """The reference profile of a bundle: stored, or built from its evidence and manifest.

    Looks for ``manifest["reference_profile"]``, then ``evidence/reference_profile.json``;
    otherwise builds one from ``evidence/test_split.json`` (the test rows, their true labels
    and the model's offline outputs), with the training ranges of the manifest's signature.

    Raises:
        ConfigError: The folder is not a bundle, or it holds neither a profile nor evidence.
    """
    from ..bundle import Manifest

    manifest = Manifest.read(bundle_dir)
    stored = manifest.data.get("reference_profile")
    path = Path(bundle_dir) / "evidence" / "reference_profile.json"
    if stored is None and path.is_file():
        stored = json.loads(path.read_text())
    if stored is not None:
        return dict(stored)
    if not manifest.evidence_path.is_file():
        raise ConfigError(
            f"bundle {bundle_dir} has no reference profile and no {manifest.evidence_path.name}; "
            "re-export it with `workbench export` so the monitor has a reference"
        )
    return _profile_from_evidence(manifest)


def _profile_from_evidence(manifest: Any) -> dict[str, Any]:
    evidence = json.loads(manifest.evidence_path.read_text())
    signature = {f["name"]: f for f in manifest.features}
    X = pd.DataFrame(evidence["rows"], columns=evidence["features"])
    for name in X.columns:
        if signature.get(name, {}).get("kind") in ("number", "integer"):
            X[name] = pd.to_numeric(X[name], errors="coerce").astype(float)
    output = manifest.data["output"]
    expected = evidence.get("expected") or {}
    task = manifest.task
    score = None
    if task == "regression" and expected.get("values") is not None:
        score = np.asarray(expected["values"], dtype=float)
    elif expected.get("probabilities") is not None:
        score = np.asarray(expected["probabilities"], dtype=float)
    ranges = {n: (f.get("min"), f.get("max")) for n, f in signature.items() if "min" in f}
    profile = reference_profile(
        X,
        y_score=score,
        y_true=evidence.get("y_true"),
        task=task,
        class_values=output.get("class_values"),
        classes=output.get("classes"),
        ranges=ranges,
        source=f"bundle evidence: {len(X)} test rows; training ranges from the manifest",
    )
    if profile["quality"] is None and manifest.data.get("metrics"):
        profile["quality"] = _quality_from_metrics(manifest.data["metrics"], task)
    profile["model_version"] = manifest.model_version
    return profile


def _quality_from_metrics(metrics: Mapping[str, Any], task: str) -> dict[str, Any] | None:
    values = {
        k: float(v["value"] if isinstance(v, Mapping) else v)
        for k, v in metrics.items()
        if isinstance(v, int | float) or (isinstance(v, Mapping) and "value" in v)
    }
    if HEADLINE[task] not in values:
        return None
    return {"headline": HEADLINE[task], "metrics": values, "n": None}


@dataclass(frozen=True)
class MonitorInputs:
    """What :func:`load_inputs` found: the traffic, its reference and labels, and the model.

    Attributes:
        stream: The traffic.
        profile: The bundle's reference profile.
        labels: The delayed labels (``None`` when no file was given).
        model: The bundle's pipeline when the traffic carries no predictions (a CSV).
        bundle: The bundle folder.
        model_version: The bundle's model version.
        source: Paths, for the record.
    """

    stream: Stream
    profile: dict[str, Any]
    labels: pd.DataFrame | None
    model: Any
    bundle: Path
    model_version: str
    source: dict[str, Any]


def load_inputs(
    *,
    log: str | Path | None = None,
    bundle: str | Path | None = None,
    labels: str | Path | None = None,
    ws: Workspace | None = None,
) -> MonitorInputs:
    """Find and read the traffic, the reference profile and the labels.

    Args:
        log: The stub's JSONL prediction log, or a CSV of requests (optional ``key`` and ``ts``
            columns). Default: the newest ``logs/*.jsonl`` of the workspace written by the
            bundle's model version (without a bundle either: the newest log).
        bundle: The bundle folder holding the reference. Default: the bundle in the
            workspace's ``exports/`` whose model version wrote the log.
        labels: Delayed labels, CSV or JSONL with ``key`` (or ``request_id``) and ``label``.
        ws: The workspace to look in when ``log`` or ``bundle`` is omitted.

    Raises:
        ConfigError: The log or the bundle cannot be found.
        DatasetError: A file is missing or unreadable.
    """
    from ..bundle import Manifest
    from ..traffic import read_labels, replay_csv, replay_log

    # The report records these paths: absolute, so they name the same files from any folder.
    log, bundle, labels = (Path(p).resolve() if p else None for p in (log, bundle, labels))
    if log is None and bundle is None:
        log = _newest_log(ws)
    if bundle is None:
        bundle = _bundle_for_log(Path(log), ws)  # type: ignore[arg-type]
    profile = profile_from_bundle(bundle)
    manifest = Manifest.read(bundle)
    log = Path(log) if log is not None else _log_for_bundle(manifest.model_version, ws)
    names = [f["name"] for f in manifest.features]
    if log.suffix.lower() == ".csv":
        columns = set(pd.read_csv(log, nrows=0).columns) if log.is_file() else set()
        key = "key" if "key" in columns else None
        stream = replay_csv(log, features=names, key=key, ts="ts" if "ts" in columns else None)
    else:
        stream = replay_log(log, features=names)
    return MonitorInputs(
        stream=stream,
        profile=profile,
        labels=read_labels(labels) if labels else None,
        model=None if stream.outputs is not None else _bundle_model(manifest),
        bundle=Path(bundle),
        model_version=manifest.model_version,
        source={
            "log": str(log),
            "bundle": str(bundle),
            "labels": str(labels) if labels else None,
            "model_version": manifest.model_version,
        },
    )


def monitor_files(
    *,
    log: str | Path | None = None,
    bundle: str | Path | None = None,
    labels: str | Path | None = None,
    window: int = DEFAULT_WINDOW,
    thresholds: Thresholds | None = None,
    as_of: Any = None,
    ws: Workspace | None = None,
) -> MonitorReport:
    """Monitor a prediction log (or a CSV of requests) against a bundle's reference profile.

    The arguments are those of :func:`load_inputs` and :func:`monitor`.

    Raises:
        ConfigError: Neither ``log`` nor ``bundle``, or the missing one cannot be found.
        DatasetError: A file is missing or unreadable.

    Example:
        >>> report = monitor_files(log="logs/run-42.jsonl", bundle="exports/run-42",
        ...                        labels="labels.csv")  # doctest: +SKIP
    """
    inputs = load_inputs(log=log, bundle=bundle, labels=labels, ws=ws)
    return monitor_inputs(inputs, window=window, thresholds=thresholds, as_of=as_of)


def monitor_inputs(
    inputs: MonitorInputs,
    *,
    window: int = DEFAULT_WINDOW,
    thresholds: Thresholds | None = None,
    as_of: Any = None,
) -> MonitorReport:
    """:func:`monitor` on what :func:`load_inputs` found."""
    report = monitor(
        inputs.stream,
        inputs.profile,
        labels=inputs.labels,
        window=window,
        thresholds=thresholds,
        as_of=as_of,
        model=inputs.model,
        source=inputs.source,
    )
    settings = inputs.stream.settings
    notes = [
        text.format(n=settings[name])
        for name, text in (
            ("skipped_lines", "{n} unreadable log line(s)"),
            ("duplicate_lines", "{n} log line(s) repeated exactly, counted once"),
            ("reordered_lines", "{n} log line(s) out of time order, sorted by time"),
            (
                "repeated_request_ids",
                "{n} request(s) reused an earlier request id (or none); keyed <id>~2, ~3... "
                "(labels keyed by the id join its first request)",
            ),
        )
        if settings.get(name)
    ]
    if notes:
        report = replace(report, notes=(*report.notes, *notes))
    return report


def _bundle_model(manifest: Any) -> Any:
    """The bundle's sklearn pipeline, verified against the manifest."""
    from ..modelio import load_model

    meta = manifest.model_files["model.skops"]
    for folder in (manifest.bundle_dir, manifest.bundle_dir / "model-store"):
        if (folder / "model.skops").is_file():
            return load_model(folder / "model.skops", sha256=meta["sha256"])
    raise ConfigError(
        f"bundle {manifest.bundle_dir} holds no model.skops (a load-mode bundle without its "
        "model-store/); monitor a prediction log instead, which carries the predictions"
    )


def _bundle_for_log(log: Path, ws: Workspace | None) -> Path:
    version = _log_model_version(log)
    if ws is not None and ws.exports_dir.is_dir():
        for manifest in sorted(ws.exports_dir.glob("*/manifest.json")):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(manifest.read_text()).get("model_version") == version:
                    return manifest.parent
    raise ConfigError(
        f"no bundle of model version {version!r} (the one that wrote {log.name}) in "
        f"{ws.exports_dir if ws else 'the workspace'}; pass --bundle DIR"
    )


def _newest_log(ws: Workspace | None) -> Path:
    logs = sorted(ws.logs_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if ws else []
    if not logs:
        raise ConfigError(
            "give --log FILE (the traffic), --bundle DIR (the reference), or both; the "
            f"workspace has no prediction log in {ws.logs_dir if ws else 'logs/'} to default to"
        )
    return logs[-1]


def _log_model_version(log: Path) -> str | None:
    if not log.is_file():
        raise DatasetError(f"prediction log {str(log)!r} not found; check the path")
    with log.open("rb") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                return json.loads(line).get("model_version")
    return None


def _log_for_bundle(version: str, ws: Workspace | None) -> Path:
    candidates = []
    if ws is not None and ws.logs_dir.is_dir():
        for path in sorted(ws.logs_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime):
            with contextlib.suppress(OSError, DatasetError):
                if _log_model_version(path) == version:
                    candidates.append(path)
    if not candidates:
        raise ConfigError(
            f"no prediction log of model version {version!r} in "
            f"{ws.logs_dir if ws else 'the workspace'}; pass --log FILE (serve the bundle with "
            "`workbench serve BUNDLE --log FILE` to write one)"
        )
    return candidates[-1]
