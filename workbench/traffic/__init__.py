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

from ._replay import post_stream, read_labels, replay_csv, replay_log
from ._stream import (
    KEY,
    LABEL,
    LABEL_TS,
    TS,
    CovariateDrift,
    LabelDrift,
    Seasonality,
    Stream,
    to_utc,
)
from ._synthetic import synthetic_stream

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
    "to_utc",
]
