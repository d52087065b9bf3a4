"""The stream every consumer reads (requests, delayed labels, replayed outputs) and the
knobs of a synthetic one. See :mod:`workbench.traffic`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..exceptions import ConfigError

__all__ = [
    "DEFAULT_START",
    "KEY",
    "LABEL",
    "LABEL_TS",
    "TS",
    "CovariateDrift",
    "LabelDrift",
    "Seasonality",
    "Stream",
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
        for key, ts, row in zip(keys, stamps, json_rows(self.X), strict=True):
            yield {"key": key, "ts": ts, "features": dict(zip(names, row, strict=True))}

    def iter_batches(self, size: int) -> Iterator[pd.DataFrame]:
        """Yield consecutive slices of ``requests`` of at most ``size`` rows."""
        if size < 1:
            raise ConfigError(f"batch size must be at least 1, got {size}")
        for start in range(0, len(self.requests), size):
            yield self.requests.iloc[start : start + size]

    def labels_as_of(self, moment: Any) -> pd.DataFrame:
        """The labels that had arrived at ``moment`` (a timestamp or ISO string)."""
        cut = to_utc(moment)
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


def to_utc(value: Any) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{value!r} is not a time; give an ISO 8601 timestamp") from e
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def json_rows(X: pd.DataFrame) -> list[list[Any]]:
    """Rows as plain Python values with NaN as ``None`` (what JSON can carry)."""
    return X.astype(object).where(X.notna(), None).to_numpy().tolist()


def timestamps(start: Any, interval: str, n: int) -> list[pd.Timestamp]:
    step = parse_timedelta(interval, "interval")
    first = to_utc(start)
    return list(pd.date_range(first, periods=n, freq=step)) if n else []


def parse_timedelta(value: str, what: str) -> pd.Timedelta:
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
