"""Run an A/B test end to end: bundles for both refs, both stubs, the replay, the analysis,
the record and the report; and the demo's A/B stage."""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench._files import new_id
from workbench.exceptions import ConfigError, RunNotFound
from workbench.export import BundleSource, bundle_for_ref

from ._analysis import analyze
from ._records import (
    ABTest,
    abtest_folder,
    load_abtest,
    render_report,
    save_abtest,
)
from ._results import Guardrails
from ._routing import DEFAULT_SALT, MODES, route_stream
from ._users import UserModel

if TYPE_CHECKING:
    from workbench.bundle import Manifest
    from workbench.config import Workspace
    from workbench.store import RunRecord, Store
    from workbench.traffic import Stream

__all__ = ["MAX_REQUESTS", "run_abtest"]

#: Upper bound of requests in one test (the replay is sequential; this keeps it finite).
MAX_REQUESTS = 100_000
#: Upper bound of the replay's wall time.
MAX_SECONDS = 3600.0
#: Below this many held-out rows shared by both runs, the stream uses A's test rows only.
_MIN_SHARED_ROWS = 30


def _check_compatible(a: Manifest, b: Manifest) -> None:
    fa = [f["name"] for f in a.features]
    fb = [f["name"] for f in b.features]
    if a.task != b.task:
        raise ConfigError(f"A is a {a.task} model and B a {b.task} model; compare like with like")
    if fa != fb:
        raise ConfigError(
            "A and B take different features (or a different order); an A/B test sends both the "
            f"same requests. A: {fa[:4]}..., B: {fb[:4]}..."
        )
    if a.task == "classification":
        ca = a.data["output"].get("class_values")
        cb = b.data["output"].get("class_values")
        if ca != cb:
            raise ConfigError(f"A and B predict different classes ({ca} vs {cb})")


def _run_record(store: Store | None, run_id: str | None) -> RunRecord | None:
    if store is None or not run_id:
        return None
    try:
        return store.get_run(run_id)
    except RunNotFound:
        return None


def _test_rows(ws: Workspace, run: RunRecord) -> tuple[Any, np.ndarray, np.ndarray]:
    """A run's dataset, its held-out test rows and its training rows (train + valid)."""
    from workbench.export import run_data

    ds, split = run_data(ws, run)
    return ds, np.asarray(split.test), np.concatenate([split.train, split.valid])


def default_stream(
    ws: Workspace | None,
    store: Store | None,
    a: BundleSource,
    b: BundleSource,
    *,
    n: int,
    seed: int,
    dataset: str | None = None,
    target: str | None = None,
) -> tuple[Stream, list[str]]:
    """The traffic of a test when none is given, with notes about it.

    A synthetic stream (:func:`workbench.traffic.synthetic_stream`) resampled from the held-out
    test rows both runs share (neither model saw them in training); from A's test rows when
    they share too few; from the whole of ``dataset`` when that is given instead.

    Raises:
        ConfigError: Neither run is known and no dataset was given.
    """
    from workbench.traffic import synthetic_stream

    notes: list[str] = []
    if dataset:
        stream = synthetic_stream(dataset, n=n, seed=seed, target=target)
        notes.append(
            f"traffic resampled from all of {dataset!r}: rows the models trained on may be in "
            "it, which flatters both"
        )
        return stream, notes
    run_a = _run_record(store, a.run_id)
    if ws is None or run_a is None:
        raise ConfigError(
            "A's run is not in this workspace, so its test rows are unknown: pass --dataset NAME "
            "or --stream-csv FILE for the traffic"
        )
    ds, rows, _ = _test_rows(ws, run_a)
    run_b = _run_record(store, b.run_id)
    if run_b is not None and run_b.id != run_a.id:
        try:
            _, rows_b, train_b = _test_rows(ws, run_b)
        except Exception as e:  # B's split is optional evidence
            notes.append(f"B's split could not be read ({e}); traffic uses A's test rows")
        else:
            shared = np.intersect1d(rows, rows_b)
            if len(shared) >= _MIN_SHARED_ROWS:
                rows = shared
            else:
                seen = np.intersect1d(rows, train_b)
                notes.append(
                    f"A and B share only {len(shared)} test rows; traffic uses A's test rows, "
                    f"{len(seen)} of which B trained on (flatters B)"
                )
    stream = synthetic_stream(ds, n=n, seed=seed, rows=rows)
    if n > 2 * len(rows):
        notes.append(
            f"{n} requests resample {len(rows)} distinct held-out rows: intervals describe "
            "this traffic; quality on new data is known only as precisely as those rows allow"
        )
    return stream, notes


def _csv_stream(path: str | Path, target: str | None, a: Manifest) -> Stream:
    from workbench.traffic import replay_csv

    names = [f["name"] for f in a.features]
    return replay_csv(path, target=target, features=names)


def run_abtest(
    ws: Workspace,
    store: Store,
    a: str,
    b: str,
    *,
    mode: str = "online",
    split: float = 0.5,
    requests: int | None = 1000,
    seed: int = 0,
    stream: Stream | None = None,
    stream_csv: str | Path | None = None,
    target: str | None = None,
    dataset: str | None = None,
    users: UserModel | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    n_boot: int = 1000,
    guardrails: Guardrails | None = None,
    as_of: Any = None,
    salt: str = DEFAULT_SALT,
    timeout_s: float = 10.0,
    max_seconds: float = 300.0,
    warmup: int = 3,
    mirror: str = "deferred",
    report: bool = True,
    reviewer: bool | None = None,
) -> ABTest:
    """Run an A/B (``online``) or shadow test of two models on real stubs and store it.

    1. resolve both references to verified bundles (:func:`bundle_for_ref`; exported if needed);
    2. start both stubs on 127.0.0.1 (threads of this process), each with a prediction log;
    3. replay the traffic through the router (hash split, or A answers while B is mirrored);
    4. join the delayed labels, simulate the users, compare (:func:`workbench.abtest.analyze`);
    5. write the files to ``abtests/<id>/`` under the artifact root, record the test in the
       store and, with ``report``, render notebook 06 to ``reports/abtests/<id>.html`` and
       rebuild the index.

    Args:
        ws: The workspace (files go to ``abtests/<id>/`` under its artifact root).
        store: Its store: records the test and resolves registry references.
        a: Variant A, the running model: alias, ``vN``, run id or bundle folder.
        b: Variant B, the candidate.
        mode: ``online`` (split by key hash) or ``shadow`` (A answers, B mirrored).
        split: Share of requests routed to B (online), strictly between 0 and 1.
        requests: Requests to send (synthetic stream size; a cap for a given stream).
        seed: Seeds the stream, the simulated users and the bootstrap.
        stream: The traffic to replay; default a synthetic stream of held-out rows.
        stream_csv: A CSV of requests (with ``target`` for labels) instead.
        target: The label column of ``stream_csv`` (or of a CSV ``dataset``).
        dataset: Resample the whole of this dataset instead of the runs' test rows.
        users: The simulated users; default :class:`UserModel` with ``seed``.
        alpha: Significance level.
        power: Power of the minimum detectable effect.
        n_boot: Bootstrap resamples.
        guardrails: Error-rate and latency limits.
        as_of: Quality counts only labels arrived by then.
        salt: Salt of the routing hash.
        timeout_s: Per-request timeout.
        max_seconds: Stop replaying after this long (bounded; the record says truncated).
        warmup: Unrecorded requests per stub before the test.
        mirror: Shadow copies to B ``deferred`` (between requests, clean latencies) or from a
            ``background`` thread (see :class:`workbench.abtest.Router`).
        report: Render the HTML report (the caller rebuilds the index).
        reviewer: Hide code cells in the report (``None``: the workspace's report settings).

    Returns:
        The stored :class:`ABTest`.

    Raises:
        ConfigError: Bad options, incompatible models, or no traffic source.
        RunNotFound: A reference matches nothing.
        ModelError: A model file is missing or tampered with.

    Example:
        >>> t = run_abtest(ws, store, "champion", "v3", mode="shadow")  # doctest: +SKIP
        >>> t.decision.action  # doctest: +SKIP
        'inconclusive'
    """
    from workbench.bundle import Manifest
    from workbench.serving import background_server

    _check_options(mode, split, requests, max_seconds, n_boot)
    src_a, src_b = bundle_for_ref(ws, store, a), bundle_for_ref(ws, store, b)
    man_a, man_b = Manifest.read(src_a.bundle), Manifest.read(src_b.bundle)
    _check_compatible(man_a, man_b)
    notes: list[str] = []
    if stream is None and stream_csv is not None:
        stream = _csv_stream(stream_csv, target, man_a)
    elif stream is None:
        stream, notes = default_stream(
            ws, store, src_a, src_b, n=requests or 1000, seed=seed, dataset=dataset, target=target
        )
    if len(stream) == 0:
        raise ConfigError("the traffic has no requests; give a stream with at least one")
    if src_a.bundle.resolve() == src_b.bundle.resolve():
        notes.append("A and B are the same bundle: an A/A test (any difference is noise)")
    users = users or UserModel(seed=seed)
    test_id = new_id("ab-")
    folder = abtest_folder(ws, test_id)
    folder.mkdir(parents=True)
    try:
        with ExitStack() as stack:
            urls = {
                v: stack.enter_context(
                    background_server(
                        src.bundle, model_uri=src.model_uri, log_path=folder / f"stub-{v}.jsonl"
                    )
                )
                for v, src in (("A", src_a), ("B", src_b))
            }
            routed = route_stream(
                stream,
                urls,
                mode=mode,
                split=split,
                salt=salt,
                timeout_s=timeout_s,
                max_seconds=max_seconds,
                limit=requests,
                warmup=warmup,
                mirror=mirror,
            )
        sent = set(routed.frame["key"])
        labels = stream.labels[stream.labels["key"].isin(sent)]
        frame = routed.frame
        if "row" in stream.requests:
            # The source row of each request: the analysis resamples rows, not requests.
            frame = frame.merge(stream.requests[["key", "row"]], on="key", how="left")
        analysis, annotated = analyze(
            frame,
            labels,
            mode=mode,
            task=man_a.task,
            output=man_a.data["output"],
            users=users,
            split=split,
            alpha=alpha,
            power=power,
            n_boot=n_boot,
            seed=seed,
            guardrails=guardrails,
            as_of=as_of,
        )
        if routed.truncated:
            notes.append(f"stopped after {max_seconds:g} s: {routed.sent} of {len(stream)} sent")
        if routed.mirror_dropped:
            notes.append(f"{routed.mirror_dropped} mirrored requests dropped (B's queue was full)")
        test = ABTest(
            id=test_id,
            created_at=_now(),
            mode=mode,
            split=split if mode == "online" else 0.0,
            seed=seed,
            salt=salt,
            a=src_a.to_dict(),
            b=src_b.to_dict(),
            stream=_stream_info(stream),
            users=users.to_dict(),
            traffic={
                "sent": routed.sent,
                "mirrored": routed.mirrored,
                "mirror_dropped": routed.mirror_dropped,
                "elapsed_s": routed.elapsed_s,
                "truncated": routed.truncated,
                "labels": len(labels),
            },
            settings={
                "alpha": alpha,
                "power": power,
                "n_boot": n_boot,
                "as_of": None if as_of is None else str(as_of),
                "timeout_s": timeout_s,
                "max_seconds": max_seconds,
                "warmup": warmup,
                "mirror": mirror if mode == "shadow" else None,
                "latency": "measured by the router around each HTTP request; both stubs are "
                "threads of one process on this machine",
            },
            analysis=analysis,
            notes=tuple(notes),
        )
        save_abtest(ws, store, test, annotated, labels)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no files of a test the store does not list
        raise
    if report:
        render_report(ws, store, test_id, reviewer=reviewer)
    return load_abtest(store, test_id)


def _check_options(
    mode: str, split: float, requests: int | None, max_seconds: float, n_boot: int
) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "online" and not 0.0 < split < 1.0:
        raise ConfigError(
            f"split {split} leaves one variant without traffic; give the share for B strictly "
            "between 0 and 1 (e.g. 0.5)"
        )
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise ConfigError(f"requests must be within [1, {MAX_REQUESTS}], got {requests}")
    if not 0 < max_seconds <= MAX_SECONDS:
        raise ConfigError(f"max_seconds must be within (0, {MAX_SECONDS:g}], got {max_seconds}")
    if n_boot < 100:
        raise ConfigError(f"n_boot must be at least 100 for a usable interval, got {n_boot}")


def _stream_info(stream: Stream) -> dict[str, Any]:
    info = {"source": stream.source, "requests": len(stream), "labels": len(stream.labels)}
    settings = json.loads(json.dumps(stream.settings, default=str))
    if "row" in stream.requests:
        info["distinct_rows"] = int(stream.requests["row"].nunique())
    return {**info, "settings": settings}


def _now() -> Any:
    from workbench.store import utcnow

    return utcnow()


# -- the demo stage --------------------------------------------------------------------------------
