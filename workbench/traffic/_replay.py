"""Traffic from files (a CSV of requests, a stub's prediction log, a labels feed) and sending a
stream to a stub."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import DatasetError
from ._stream import (
    DEFAULT_START,
    KEY,
    LABEL,
    LABEL_TS,
    TS,
    Stream,
    parse_timedelta,
    timestamps,
)

__all__ = ["post_stream", "read_labels", "replay_csv", "replay_log"]


# -- replays ----------------------------------------------------------------------------------


def replay_csv(
    path: str | Path,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    key: str | None = None,
    ts: str | None = None,
    start: Any = DEFAULT_START,
    interval: str = "1h",
    label_delay: str = "0s",
) -> Stream:
    """Replay a CSV of requests (optionally with the true target) as a stream.

    Args:
        path: The CSV file.
        target: Its target column; becomes the labels feed (arriving ``label_delay`` after
            each request). Without it the stream has no labels.
        features: Feature columns in model order; default every other column.
        key: Column of request keys; default ``<row number>``.
        ts: Column of timestamps; default simulated from ``start`` and ``interval``.
        start: First simulated timestamp when ``ts`` is not given.
        interval: Simulated time between rows when ``ts`` is not given.
        label_delay: Delay of every label after its request.

    Raises:
        DatasetError: The file is missing, unreadable or lacks a named column.
    """
    path = Path(path)
    frame = _read_table(path)
    named = [c for c in (target, key, ts) if c] + list(features or ())
    missing = [c for c in named if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"column(s) {', '.join(map(repr, missing))} not in {path.name}; its columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    reserved = {c for c in (target, key, ts) if c}
    names = list(features) if features else [c for c in frame.columns if c not in reserved]
    n = len(frame)
    keys = frame[key].astype(str).tolist() if key else [f"{i:06d}" for i in range(n)]
    if len(set(keys)) != n:
        raise DatasetError(f"key column {key!r} of {path.name} repeats values; keys must be unique")
    stamps = list(pd.to_datetime(frame[ts], utc=True)) if ts else timestamps(start, interval, n)
    requests = pd.concat(
        [pd.DataFrame({KEY: keys, TS: stamps}), frame[names].reset_index(drop=True)], axis=1
    )
    labels = pd.DataFrame(columns=[KEY, LABEL_TS, LABEL])
    if target:
        delay = parse_timedelta(label_delay, "label_delay")
        labels = (
            pd.DataFrame(
                {KEY: keys, LABEL_TS: pd.DatetimeIndex(stamps) + delay, LABEL: frame[target]}
            )
            .sort_values(LABEL_TS, kind="stable")
            .reset_index(drop=True)
        )
    return Stream(
        requests=requests,
        labels=labels,
        features=tuple(map(str, names)),
        target=target or LABEL,
        source=str(path),
        settings={"kind": "csv", "path": str(path), "rows": n},
    )


def replay_log(path: str | Path, *, features: Sequence[str] | None = None) -> Stream:
    """Read a stub's JSONL prediction log as a stream with the model's outputs.

    One stream row per predicted row. A request's ``request_id`` is its key when it carried
    one row; rows of a multi-row request get ``<request_id>:<row index>``. Send one row per
    request with ``X-Request-ID`` set to your own key (as :func:`post_stream` does) and labels
    keyed the same way join without a lookup table.

    Args:
        path: The JSONL file written by the stub (``--log``).
        features: Feature names in signature order (the bundle manifest has them); default
            ``x0, x1, ...``.

    Returns:
        A stream whose ``outputs`` holds latency, model version and predictions; its
        ``settings`` record ``classes`` (classification) and ``skipped_lines``.

    Raises:
        DatasetError: The file is missing, or holds no readable entry.
    """
    import orjson

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"prediction log {str(path)!r} not found; check the path")
    entries, skipped = [], 0
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
                _check_entry(entry)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                # A crashed writer can leave a torn last line; count it rather than give up.
                skipped += 1
                continue
            entries.append(entry)
    if not entries:
        raise DatasetError(
            f"{path} holds no prediction log entries ({skipped} unreadable line(s)); pass the "
            "JSONL file a stub wrote with --log"
        )
    entries, cleaning = _clean_entries(entries)
    stream = _stream_from_entries(entries, path, features, skipped)
    stream.settings.update(cleaning)
    return stream


def _clean_entries(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Entries in time order with unique request ids, and what it took (for the report's notes).

    A stub with several workers writes lines out of time order, a retried write can repeat a
    line, and clients may reuse or leave empty their ``X-Request-ID``. Keys must be unique to
    join labels and windows must follow time, so: lines repeated exactly are dropped; lines are
    sorted by time (stable, so equal stamps keep the file's order); a request id seen again on
    a different request gets ``~2``, ``~3``... (labels keyed by the id join its first request).
    """
    import orjson

    seen: set[bytes] = set()
    unique: list[dict[str, Any]] = []
    for entry in entries:
        fingerprint = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
        if fingerprint not in seen:
            seen.add(fingerprint)
            unique.append(entry)
    stamps = [pd.Timestamp(e["ts"]) for e in unique]
    stamps = [t.tz_localize("UTC") if t.tzinfo is None else t for t in stamps]
    order = sorted(range(len(unique)), key=stamps.__getitem__)
    reordered = sum(1 for i, j in enumerate(order) if i != j)
    ordered = [unique[i] for i in order]
    counts: dict[str, int] = {}
    renamed = 0
    for entry in ordered:
        rid = str(entry["request_id"])
        counts[rid] = counts.get(rid, 0) + 1
        if counts[rid] > 1:
            entry["request_id"] = f"{rid}~{counts[rid]}"
            renamed += 1
    return ordered, {
        "duplicate_lines": len(entries) - len(unique),
        "reordered_lines": reordered,
        "repeated_request_ids": renamed,
    }


def _check_entry(entry: Any) -> None:
    for name in ("ts", "request_id", "inputs", "outputs", "latency_ms"):
        if name not in entry:
            raise KeyError(name)
    if not isinstance(entry["inputs"], list):
        raise TypeError("inputs")


def _stream_from_entries(
    entries: list[dict[str, Any]], path: Path, features: Sequence[str] | None, skipped: int
) -> Stream:
    width = len(entries[0]["inputs"][0]) if entries[0]["inputs"] else 0
    names = list(features) if features else [f"x{i}" for i in range(width)]
    if len(names) != width:
        raise DatasetError(
            f"the log's rows have {width} values but {len(names)} feature names were given; "
            "pass the feature names of the bundle that wrote the log"
        )
    keys, stamps, rows, out_rows = [], [], [], []
    classes: list[Any] | None = None
    for entry in entries:
        inputs, outputs = entry["inputs"], entry["outputs"]
        ts = pd.Timestamp(entry["ts"])
        classes = outputs.get("classes") or classes
        for i, row in enumerate(inputs):
            key = entry["request_id"] if len(inputs) == 1 else f"{entry['request_id']}:{i}"
            keys.append(key)
            stamps.append(ts)
            rows.append(row)
            out_rows.append(_output_row(entry, outputs, i, key))
    X = pd.DataFrame(rows, columns=names).apply(_numeric_if_possible)
    requests = pd.concat(
        [pd.DataFrame({KEY: keys, TS: pd.to_datetime(stamps, utc=True)}), X], axis=1
    )
    outputs_frame = pd.DataFrame(out_rows)
    task = "regression" if "value" in outputs_frame.columns else "classification"
    return Stream(
        requests=requests,
        labels=pd.DataFrame(columns=[KEY, LABEL_TS, LABEL]),
        features=tuple(names),
        task=task,
        source=str(path),
        settings={
            "kind": "log",
            "path": str(path),
            "entries": len(entries),
            "skipped_lines": skipped,
            "classes": classes,
        },
        outputs=outputs_frame,
    )


def _output_row(entry: dict[str, Any], outputs: dict[str, Any], i: int, key: str) -> dict:
    row: dict[str, Any] = {
        KEY: key,
        "request_id": entry["request_id"],
        "model_version": entry.get("model_version"),
        "latency_ms": float(entry["latency_ms"]),
    }
    if "values" in outputs:
        row["value"] = float(outputs["values"][i])
        return row
    row["pred_label"] = outputs["labels"][i]
    proba = outputs.get("probabilities")
    if proba is not None:
        for j, p in enumerate(proba[i]):
            row[f"p_{j}"] = float(p)
    return row


def _numeric_if_possible(col: pd.Series) -> pd.Series:
    converted = pd.to_numeric(col, errors="coerce")
    # Keep strings (categories) as they are; a column of numbers and nulls becomes float.
    return converted if converted.notna().sum() == col.notna().sum() else col


def read_labels(
    path: str | Path, *, key: str = KEY, label: str = LABEL, label_ts: str = LABEL_TS
) -> pd.DataFrame:
    """Read a delayed-labels file (CSV or JSONL) into ``key``, ``label_ts``, ``label``.

    ``request_id`` is accepted for ``key`` and ``y``/``target`` for ``label`` when the named
    columns are absent. ``label_ts`` is optional (labels then count as arrived).

    Raises:
        DatasetError: The file is missing or lacks a key or label column.
    """
    path = Path(path)
    frame = _read_table(path)
    key_col = _first_present(frame, (key, "request_id"))
    label_col = _first_present(frame, (label, "y", "target"))
    if key_col is None or label_col is None:
        raise DatasetError(
            f"labels file {path.name} needs a {key!r} (or request_id) column and a {label!r} "
            f"(or y, target) column; it has {', '.join(map(str, frame.columns))}"
        )
    arrived = (
        pd.to_datetime(frame[label_ts], utc=True)
        if label_ts in frame.columns
        else pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    )
    out = pd.DataFrame(
        {KEY: frame[key_col].astype(str), LABEL_TS: arrived, LABEL: frame[label_col]}
    )
    if out[KEY].duplicated().any():
        dup = out.loc[out[KEY].duplicated(), KEY].iloc[0]
        raise DatasetError(f"labels file {path.name} has key {dup!r} more than once")
    return out.sort_values(LABEL_TS, kind="stable").reset_index(drop=True)


def _first_present(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(f"file {str(path)!r} not found; check the path")
    try:
        if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            return pd.read_json(path, lines=path.suffix.lower() != ".json")
        return pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} is not a readable CSV or JSONL file: {e}") from e


# -- sending a stream to a stub ---------------------------------------------------------------


def post_stream(
    url: str,
    stream: Stream,
    *,
    token: str | None = None,
    timeout_s: float = 10.0,
    limit: int | None = None,
) -> dict[str, int]:
    """Send each request of a stream to a stub's ``/predict``, one row per HTTP request.

    Each request carries ``X-Request-ID: <key>``, so the stub's prediction log is keyed like
    the stream's labels feed. Requests go one after the other (the order is the stream's).

    Args:
        url: The stub's base URL (``http://127.0.0.1:PORT``) or its ``/predict`` URL.
        stream: The stream to send.
        token: Bearer token of the stub, when it needs one.
        timeout_s: Per-request timeout.
        limit: Send only the first ``limit`` requests.

    Returns:
        ``{"sent": n, "ok": n_2xx, "errors": n_other}``.
    """
    import httpx

    target = url if url.rstrip("/").endswith("/predict") else url.rstrip("/") + "/predict"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    counts = {"sent": 0, "ok": 0, "errors": 0}
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        for i, request in enumerate(stream.iter_requests()):
            if limit is not None and i >= limit:
                break
            response = client.post(
                target,
                json={"records": [request["features"]]},
                headers={"x-request-id": request["key"]},
            )
            counts["sent"] += 1
            counts["ok" if response.status_code < 300 else "errors"] += 1
    return counts
