"""Replayable traffic: a seeded synthetic stream, replays of a CSV or a stub's prediction log.

A :class:`Stream` is plain data that any consumer (the monitor, an A/B router, a load test) can
read without knowing where it came from:

* ``requests``: one row per prediction request, columns ``key`` (unique, str), ``ts`` (UTC
  timestamp) and the features in the dataset's column order;
* ``labels``: the delayed-labels feed, columns ``key``, ``label_ts`` (when the true label became
  known) and ``label``; sorted by ``label_ts``. Labels arrive later than requests, some never;
* ``outputs`` (replayed prediction logs only): what the model answered, per request row.

The synthetic stream resamples rows of a dataset with replacement (a bootstrap) and perturbs
them. Its knobs, all deterministic for a given ``seed`` (each knob draws from its own child
random generator, so adding a drift never changes which rows were drawn)::

    covariate drift   CovariateDrift(features, start, shift, scale, noise, ramp)
                      x' = x + w·((scale − 1)·(x − mean) + shift·std + noise·std·N(0, 1))
                      where w goes from 0 to 1 at ``start`` (abrupt) or over ``ramp`` (gradual);
                      mean and std are the feature's over the resampled pool, so shift and noise
                      are in standard deviations and scale = −1 mirrors the feature.
    label drift       LabelDrift("prior", priors={class: weight}): rows after ``start`` are
                      drawn with these class weights instead of the pool's (prior shift);
                      LabelDrift("flip", fraction=f): a fraction f of labels after ``start`` is
                      changed (another class, or mirrored around the mean for regression).
    seasonality       Seasonality(features, amplitude, period, phase): adds
                      amplitude·std·sin(2π·(t/period + phase)) over simulated time t.
    noise             Gaussian noise of ``noise`` standard deviations on every numeric feature.
    label delay       each label arrives ``label_delay``·U(0.5, 1.5) after its request; a
                      fraction ``1 − label_fraction`` never arrives.

``start`` and ``ramp`` are a fraction of the stream when a float below 1, a row count when an
int. Simulated time starts at ``start`` and advances by ``interval`` per request.

Example:
    >>> s = synthetic_stream("breast_cancer", n=1000, seed=1,
    ...     covariate=[CovariateDrift(("mean radius",), start=0.5, shift=2.0)])
    >>> s.requests.shape, s.labels.columns.tolist()
    ((1000, 32), ['key', 'label_ts', 'label'])
    >>> for request in s.iter_requests():  # {"key", "ts", "features": {...}}
    ...     break
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .exceptions import ConfigError, DatasetError

if TYPE_CHECKING:
    from .datasets import Dataset

__all__ = [
    "KEY",
    "LABEL",
    "LABEL_TS",
    "TS",
    "CovariateDrift",
    "LabelDrift",
    "Seasonality",
    "Stream",
    "post_stream",
    "read_labels",
    "replay_csv",
    "replay_log",
    "synthetic_stream",
]

KEY, TS, LABEL, LABEL_TS = "key", "ts", "label", "label_ts"
DEFAULT_START = "2026-01-01T00:00:00Z"


# -- knobs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CovariateDrift:
    """Shift, rescale or add noise to named numeric features from a point of the stream on.

    Attributes:
        features: The features to perturb (numeric ones).
        start: Where the drift begins: a fraction of the stream (float < 1) or a row index.
        shift: Added offset, in standard deviations of the feature.
        scale: Factor on the deviation from the feature's mean (2 widens, −1 mirrors).
        noise: Extra Gaussian noise, in standard deviations.
        ramp: Rows (int) or fraction of the stream (float) over which the drift grows to full
            strength; 0 is an abrupt change.
    """

    features: tuple[str, ...]
    start: float | int = 0.5
    shift: float = 0.0
    scale: float = 1.0
    noise: float = 0.0
    ramp: float | int = 0


@dataclass(frozen=True)
class LabelDrift:
    """Change the labels' distribution (``prior``) or their relation to the features (``flip``).

    Attributes:
        kind: ``prior``: rows after ``start`` are drawn with ``priors`` as class weights
            (classification only); ``flip``: a ``fraction`` of the labels after ``start`` is
            changed to another class (regression: mirrored around the target's mean).
        start: Where it begins: a fraction of the stream (float < 1) or a row index.
        priors: Class value -> relative weight, for ``prior``.
        fraction: Share of labels flipped at full strength, for ``flip``.
        ramp: Rows (int) or fraction of the stream (float) to reach full strength.
    """

    kind: Literal["prior", "flip"]
    start: float | int = 0.5
    priors: Mapping[Any, float] | None = None
    fraction: float = 0.0
    ramp: float | int = 0


@dataclass(frozen=True)
class Seasonality:
    """A sinusoidal cycle over simulated time on numeric features.

    Attributes:
        features: The features that cycle; ``None`` means every numeric feature.
        amplitude: Peak offset in standard deviations of each feature.
        period: Length of one cycle, a pandas Timedelta string (``"30D"`` is about monthly).
        phase: Offset of the cycle as a fraction of the period.
    """

    features: tuple[str, ...] | None = None
    amplitude: float = 0.5
    period: str = "30D"
    phase: float = 0.0


# -- the stream -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """Requests, their delayed labels and (for replayed logs) the model's answers.

    Attributes:
        requests: ``key``, ``ts`` and the feature columns, in arrival order.
        labels: ``key``, ``label_ts``, ``label``, sorted by ``label_ts``.
        features: Feature names, in the order a model expects them.
        target: Name of the target (used as the label column of exported CSVs).
        task: ``classification``, ``regression`` or ``None`` when unknown.
        source: Where the traffic came from (dataset, CSV or log path).
        settings: The knobs that produced it, JSON-ready (reports show them).
        outputs: For a replayed prediction log: ``key``, ``request_id``, ``model_version``,
            ``latency_ms``, ``pred_label`` and ``p_<i>`` probability columns (in the order of
            ``settings["classes"]``) or ``value``. ``None`` otherwise.
    """

    requests: pd.DataFrame
    labels: pd.DataFrame
    features: tuple[str, ...]
    target: str = "label"
    task: str | None = None
    source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    outputs: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.requests)

    @property
    def X(self) -> pd.DataFrame:
        """The feature columns only."""
        return self.requests.loc[:, list(self.features)]

    def iter_requests(self) -> Iterator[dict[str, Any]]:
        """Yield ``{"key", "ts", "features": {name: value}}`` per request (NaN as ``None``)."""
        names = list(self.features)
        keys = self.requests[KEY].tolist()
        stamps = self.requests[TS].tolist()
        for key, ts, row in zip(keys, stamps, _json_rows(self.X), strict=True):
            yield {"key": key, "ts": ts, "features": dict(zip(names, row, strict=True))}

    def iter_batches(self, size: int) -> Iterator[pd.DataFrame]:
        """Yield consecutive slices of ``requests`` of at most ``size`` rows."""
        if size < 1:
            raise ConfigError(f"batch size must be at least 1, got {size}")
        for start in range(0, len(self.requests), size):
            yield self.requests.iloc[start : start + size]

    def labels_as_of(self, moment: Any) -> pd.DataFrame:
        """The labels that had arrived at ``moment`` (a timestamp or ISO string)."""
        cut = _utc(moment)
        return self.labels[self.labels[LABEL_TS] <= cut]

    def labelled(self, *, as_of: Any = None) -> pd.DataFrame:
        """Requests joined with their labels (inner join; only labels arrived by ``as_of``)."""
        labels = self.labels if as_of is None else self.labels_as_of(as_of)
        return self.requests.merge(labels, on=KEY, how="inner", validate="one_to_one")

    def to_csv(self, path: str | Path, *, as_of: Any = None, dedupe: bool = True) -> Path:
        """Write the labelled requests as a training CSV: features plus ``target`` column.

        Args:
            path: The file to write (parent folders are created).
            as_of: Only labels that arrived by then.
            dedupe: Drop rows repeating earlier features and label: a resampled stream
                repeats rows, and a duplicate on both sides of a train/test split would
                flatter the model evaluated on it.

        Returns:
            The path.
        """
        frame = self.labelled(as_of=as_of)
        out = frame.loc[:, list(self.features)].copy()
        out[self.target] = frame[LABEL].to_numpy()
        if dedupe:
            out = out.drop_duplicates()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(path, index=False)
        return path


# -- synthetic stream -------------------------------------------------------------------------


def synthetic_stream(
    dataset: Dataset | str,
    *,
    n: int = 2000,
    seed: int = 0,
    rows: Sequence[int] | np.ndarray | None = None,
    target: str | None = None,
    start: Any = DEFAULT_START,
    interval: str = "1h",
    covariate: Sequence[CovariateDrift] = (),
    label: LabelDrift | None = None,
    seasonality: Seasonality | None = None,
    noise: float = 0.0,
    label_delay: str = "1D",
    label_fraction: float = 1.0,
    key_prefix: str = "r",
) -> Stream:
    """A seeded synthetic request stream resampled from a dataset, with drift and seasonality.

    See the module docstring for the knobs and their formulas.

    Args:
        dataset: A :class:`~workbench.datasets.Dataset` or a name/path for ``load_dataset``.
        n: Number of requests.
        seed: Seeds every random choice; the same arguments give the same stream.
        rows: Dataset row positions to resample from (e.g. a held-out split); default all.
        target: Target column when ``dataset`` is a CSV path.
        start: Simulated time of the first request.
        interval: Simulated time between requests (pandas Timedelta string).
        covariate: Covariate drifts, applied in order.
        label: A label drift (prior shift or flipped labels).
        seasonality: A seasonal cycle over simulated time.
        noise: Gaussian noise on every numeric feature, in standard deviations.
        label_delay: Typical delay before a label arrives (pandas Timedelta string).
        label_fraction: Share of requests whose label ever arrives.
        key_prefix: Keys are ``<prefix><six-digit index>``.

    Returns:
        The :class:`Stream`; ``requests`` also has a ``row`` column: the dataset row each
        request was drawn from.

    Raises:
        ConfigError: A knob is out of range or names an unknown or non-numeric feature.
        DatasetError: The dataset cannot be loaded.

    Example:
        >>> s = synthetic_stream("wine", n=500, seed=3, seasonality=Seasonality(period="30D"))
    """
    from .datasets import load_dataset

    ds = load_dataset(dataset, target=target) if isinstance(dataset, str) else dataset
    _check_knobs(
        ds,
        n=n,
        covariate=covariate,
        label=label,
        seasonality=seasonality,
        noise=noise,
        label_fraction=label_fraction,
    )
    pool = np.arange(len(ds.y)) if rows is None else np.asarray(rows, dtype=int)
    if pool.size == 0 or pool.min() < 0 or pool.max() >= len(ds.y):
        raise ConfigError(f"rows must be non-empty positions below {len(ds.y)} (the dataset size)")
    rngs = dict(
        zip(
            ("rows", "noise", "drift", "flip", "delay", "keep"),
            np.random.default_rng(seed).spawn(6),
            strict=True,
        )
    )
    stamps = _timestamps(start, interval, n)
    picked = _pick_rows(ds, pool, n, label, rngs["rows"])
    X = ds.X.iloc[picked].reset_index(drop=True)
    y = ds.y.iloc[picked].reset_index(drop=True)
    stats = _feature_stats(ds.X.iloc[pool], ds.numeric_features)
    X = _to_float(X, _perturbed(covariate, seasonality, noise, ds.numeric_features))
    if seasonality is not None:
        _apply_seasonality(X, stats, seasonality, stamps, ds.numeric_features)
    for drift in covariate:
        _apply_drift(X, stats, drift, rngs["drift"])
    if noise > 0:
        for name in ds.numeric_features:
            X[name] += noise * stats[name][1] * rngs["noise"].standard_normal(n)
    if label is not None and label.kind == "flip":
        y = _flip_labels(ds, y, label, rngs["flip"])
    keys = [f"{key_prefix}{i:06d}" for i in range(n)]
    requests = pd.concat([pd.DataFrame({KEY: keys, TS: stamps, "row": picked}), X], axis=1)
    labels = _label_feed(keys, stamps, y, label_delay, label_fraction, rngs)
    settings = {
        "kind": "synthetic",
        "dataset": ds.name,
        "n": n,
        "seed": seed,
        "rows": "all" if rows is None else f"{pool.size} given",
        "start": stamps[0].isoformat() if n else None,
        "interval": interval,
        "covariate": [asdict(d) for d in covariate],
        "label": None if label is None else _label_dict(label),
        "seasonality": None if seasonality is None else asdict(seasonality),
        "noise": noise,
        "label_delay": label_delay,
        "label_fraction": label_fraction,
    }
    return Stream(
        requests=requests,
        labels=labels,
        features=tuple(ds.X.columns),
        target=ds.target,
        task=ds.task,
        source=f"synthetic:{ds.name}",
        settings=settings,
    )


def _label_dict(label: LabelDrift) -> dict[str, Any]:
    d = asdict(label)
    if d["priors"] is not None:
        d["priors"] = {str(k): v for k, v in d["priors"].items()}  # JSON keys are strings
    return d


def _check_knobs(
    ds: Dataset,
    *,
    n: int,
    covariate: Sequence[CovariateDrift],
    label: LabelDrift | None,
    seasonality: Seasonality | None,
    noise: float,
    label_fraction: float,
) -> None:
    if n < 1:
        raise ConfigError(f"n must be at least 1 request, got {n}")
    if not 0.0 <= label_fraction <= 1.0:
        raise ConfigError(f"label_fraction must be within [0, 1], got {label_fraction}")
    if noise < 0:
        raise ConfigError(f"noise is a standard deviation; it must be >= 0, got {noise}")
    numeric = set(ds.numeric_features)
    named = [f for d in covariate for f in d.features]
    if seasonality is not None and seasonality.features:
        named += list(seasonality.features)
    unknown = [f for f in named if f not in ds.X.columns]
    if unknown:
        raise ConfigError(
            f"unknown feature(s) {', '.join(map(repr, unknown))} in the drift knobs; "
            f"{ds.name!r} has {', '.join(map(str, list(ds.X.columns)[:8]))}, ..."
        )
    categorical = [f for f in named if f not in numeric]
    if categorical:
        raise ConfigError(
            f"feature(s) {', '.join(map(repr, categorical))} are categorical; covariate drift "
            "and seasonality shift numbers, so name numeric features"
        )
    if label is not None:
        if label.kind not in ("prior", "flip"):
            raise ConfigError(f"label drift kind {label.kind!r} is not one of prior, flip")
        if label.kind == "prior" and (ds.task != "classification" or not label.priors):
            raise ConfigError(
                "a prior shift needs a classification dataset and priors={class: weight}"
            )
        if label.kind == "flip" and not 0.0 <= label.fraction <= 1.0:
            raise ConfigError(f"flip fraction must be within [0, 1], got {label.fraction}")


def _timestamps(start: Any, interval: str, n: int) -> list[pd.Timestamp]:
    step = _timedelta(interval, "interval")
    first = _utc(start)
    return list(pd.date_range(first, periods=n, freq=step)) if n else []


def _timedelta(value: str, what: str) -> pd.Timedelta:
    try:
        delta = pd.Timedelta(value)
    except ValueError as e:
        raise ConfigError(
            f"{what} {value!r} is not a duration; use a pandas Timedelta string such as "
            "'1h', '30min' or '2D'"
        ) from e
    if delta < pd.Timedelta(0):
        raise ConfigError(f"{what} {value!r} is negative; give a positive duration")
    return delta


def _utc(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{value!r} is not a time; give an ISO 8601 timestamp") from e
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _position(value: float | int, n: int) -> int:
    """A row index from a fraction (float < 1) or an index (int)."""
    if isinstance(value, float) and value < 1.0:
        return round(value * n)
    return int(value)


def _strength(start: float | int, ramp: float | int, n: int) -> np.ndarray:
    """Per row, how much of a drift applies: 0 before ``start``, ramping linearly to 1."""
    i = np.arange(n, dtype=float)
    begin, width = _position(start, n), _position(ramp, n)
    if width <= 0:
        return (i >= begin).astype(float)
    return np.clip((i - begin + 1) / width, 0.0, 1.0)


def _pick_rows(
    ds: Dataset, pool: np.ndarray, n: int, label: LabelDrift | None, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap positions; under a prior shift, rows after its start follow the new priors."""
    picked = pool[rng.integers(0, pool.size, size=n)]
    if label is None or label.kind != "prior":
        return picked
    w = _strength(label.start, label.ramp, n)
    y_pool = ds.y.to_numpy()[pool]
    classes = [c for c in ds.labels if np.any(y_pool == c)]
    base = np.array([np.mean(y_pool == c) for c in classes])
    wanted = np.array([float(_prior(label.priors or {}, c)) for c in classes])
    if wanted.sum() <= 0:
        raise ConfigError(f"priors {dict(label.priors or {})} give no class a positive weight")
    wanted = wanted / wanted.sum()
    drifting = np.flatnonzero(w > 0)
    # Per row a mixture of the pool's class shares and the wanted ones, by drift strength.
    probs = np.outer(1 - w[drifting], base) + np.outer(w[drifting], wanted)
    u = rng.random(drifting.size)
    chosen = np.minimum((probs.cumsum(axis=1) < u[:, None]).sum(axis=1), len(classes) - 1)
    members = [pool[y_pool == c] for c in classes]
    for k, members_k in enumerate(members):
        at = drifting[chosen == k]
        picked[at] = members_k[rng.integers(0, members_k.size, size=at.size)]
    return picked


def _prior(priors: Mapping[Any, float], cls: Any) -> float:
    # Keys may come from JSON or a CLI as strings while the classes are integers.
    if cls in priors:
        return float(priors[cls])
    return float(priors.get(str(cls), 0.0))


def _feature_stats(X: pd.DataFrame, numeric: list[str]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation per numeric feature (std 1 where it is 0 or undefined)."""
    out = {}
    for name in numeric:
        col = X[name].astype(float)
        std = float(col.std())
        out[name] = (float(col.mean()), std if math.isfinite(std) and std > 0 else 1.0)
    return out


def _perturbed(
    covariate: Sequence[CovariateDrift],
    seasonality: Seasonality | None,
    noise: float,
    numeric: list[str],
) -> set[str]:
    names = {f for d in covariate for f in d.features}
    if seasonality is not None:
        names |= set(seasonality.features or numeric)
    if noise > 0:
        names |= set(numeric)
    return names


def _to_float(X: pd.DataFrame, names: set[str]) -> pd.DataFrame:
    # Integer columns that get perturbed become float: a shifted count is no longer whole.
    X = X.copy()
    for name in names:
        X[name] = X[name].astype("float64")
    return X


def _apply_seasonality(
    X: pd.DataFrame,
    stats: dict[str, tuple[float, float]],
    season: Seasonality,
    stamps: list[pd.Timestamp],
    numeric: list[str],
) -> None:
    period = _timedelta(season.period, "seasonality period")
    if period <= pd.Timedelta(0):
        raise ConfigError(f"seasonality period {season.period!r} must be longer than 0")
    elapsed = np.array([(t - stamps[0]) / period for t in stamps], dtype=float)
    wave = np.sin(2 * np.pi * (elapsed + season.phase))
    for name in season.features or numeric:
        X[name] += season.amplitude * stats[name][1] * wave


def _apply_drift(
    X: pd.DataFrame,
    stats: dict[str, tuple[float, float]],
    drift: CovariateDrift,
    rng: np.random.Generator,
) -> None:
    w = _strength(drift.start, drift.ramp, len(X))
    for name in drift.features:
        mean, std = stats[name]
        x = X[name].to_numpy(dtype=float)
        delta = (drift.scale - 1.0) * (x - mean) + drift.shift * std
        if drift.noise > 0:
            delta = delta + drift.noise * std * rng.standard_normal(len(x))
        X[name] = x + w * delta


def _flip_labels(
    ds: Dataset, y: pd.Series, label: LabelDrift, rng: np.random.Generator
) -> pd.Series:
    w = _strength(label.start, label.ramp, len(y)) * label.fraction
    flip = rng.random(len(y)) < w
    values = y.to_numpy().copy()
    if ds.task == "regression":
        mean = float(ds.y.mean())
        values = values.astype(float)
        values[flip] = 2 * mean - values[flip]
        return pd.Series(values, name=y.name)
    classes = np.asarray(ds.labels, dtype=object)
    for i in np.flatnonzero(flip):
        others = classes[classes != values[i]]
        values[i] = others[rng.integers(0, others.size)]
    return pd.Series(values, name=y.name).astype(y.dtype)


def _label_feed(
    keys: list[str],
    stamps: list[pd.Timestamp],
    y: pd.Series,
    label_delay: str,
    label_fraction: float,
    rngs: dict[str, np.random.Generator],
) -> pd.DataFrame:
    delay = _timedelta(label_delay, "label_delay")
    n = len(keys)
    factors = rngs["delay"].uniform(0.5, 1.5, size=n)
    keep = rngs["keep"].random(n) < label_fraction
    # Whole seconds: nanosecond arrival times only clutter the feed and its CSV.
    offsets = pd.to_timedelta(np.round(factors * delay.total_seconds()), unit="s")
    arrival = pd.DatetimeIndex(stamps) + offsets
    feed = pd.DataFrame({KEY: keys, LABEL_TS: arrival, LABEL: y.to_numpy()})[keep]
    return feed.sort_values(LABEL_TS, kind="stable").reset_index(drop=True)


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
    stamps = list(pd.to_datetime(frame[ts], utc=True)) if ts else _timestamps(start, interval, n)
    requests = pd.concat(
        [pd.DataFrame({KEY: keys, TS: stamps}), frame[names].reset_index(drop=True)], axis=1
    )
    labels = pd.DataFrame(columns=[KEY, LABEL_TS, LABEL])
    if target:
        delay = _timedelta(label_delay, "label_delay")
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
    return _stream_from_entries(entries, path, features, skipped)


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


def _json_rows(X: pd.DataFrame) -> list[list[Any]]:
    """Rows as plain Python values with NaN as ``None`` (what JSON can carry)."""
    return X.astype(object).where(X.notna(), None).to_numpy().tolist()
