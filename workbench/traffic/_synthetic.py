"""A seeded synthetic stream resampled from a dataset, with drift, seasonality and delayed
labels. See :mod:`workbench.traffic` for the knobs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..exceptions import ConfigError
from ._stream import (
    DEFAULT_START,
    KEY,
    LABEL,
    LABEL_TS,
    TS,
    CovariateDrift,
    LabelDrift,
    Seasonality,
    Stream,
    parse_timedelta,
    timestamps,
)

if TYPE_CHECKING:
    from ..datasets import Dataset

__all__ = ["synthetic_stream"]


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
    from ..datasets import load_dataset

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
    stamps = timestamps(start, interval, n)
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
    period = parse_timedelta(season.period, "seasonality period")
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
    delay = parse_timedelta(label_delay, "label_delay")
    n = len(keys)
    factors = rngs["delay"].uniform(0.5, 1.5, size=n)
    keep = rngs["keep"].random(n) < label_fraction
    # Whole seconds: nanosecond arrival times only clutter the feed and its CSV.
    offsets = pd.to_timedelta(np.round(factors * delay.total_seconds()), unit="s")
    arrival = pd.DatetimeIndex(stamps) + offsets
    feed = pd.DataFrame({KEY: keys, LABEL_TS: arrival, LABEL: y.to_numpy()})[keep]
    return feed.sort_values(LABEL_TS, kind="stable").reset_index(drop=True)
