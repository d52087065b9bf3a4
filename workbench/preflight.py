"""Checks made before a kernel starts: what a notebook would reject, refused at the door.

A run whose parameters or dataset a notebook cannot use would otherwise start kernels, record a
run and fail inside a cell (a ``KFold`` error in the search stage, a bootstrap error in the
evaluation). :func:`check_run` refuses such a run before anything is recorded, with the value,
the reason and what would be accepted. The limits are named constants so the CLI help, the
notebooks and the tests agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .config import latency_seconds
from .exceptions import ConfigError, DatasetError

__all__ = [
    "CV_FOLDS",
    "N_BOOT",
    "SEED_MAX",
    "TRIALS",
    "check_cv_folds",
    "check_finite",
    "check_n_boot",
    "check_run",
    "check_seed",
    "check_trials",
    "split_sizes",
]

#: Seeds numpy and scikit-learn accept (``RandomState`` takes 32-bit unsigned integers).
SEED_MAX = 2**32 - 1
#: Folds per search trial: at least 2 (one fold is no cross-validation); above 20 a trial costs
#: 20 fits for a estimate no better in practice.
CV_FOLDS = (2, 20)
#: Bootstrap resamples: fewer than 10 gives no interval worth the name, more than 100,000 only
#: costs memory (resamples x test rows indices).
N_BOOT = (10, 100_000)
#: Optuna trials per search: at least 1; above 10,000 a typo (an extra zero or two) would keep
#: a machine busy for days before anyone noticed.
TRIALS = (1, 10_000)
#: Rows each part of the train/valid/test split needs at least (a test set of one row has no
#: interval, a one-row validation set no score).
MIN_PART_ROWS = 2


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_seed(value: Any, *, what: str = "--seed") -> int:
    """``value`` as a seed numpy and scikit-learn accept.

    Raises:
        ConfigError: not an integer from 0 to :data:`SEED_MAX`.
    """
    if not _is_int(value) or not 0 <= value <= SEED_MAX:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise ConfigError(
            f"{what} must be an integer from 0 to {SEED_MAX:,} (2**32 - 1, what numpy and "
            f"scikit-learn accept), got {shown}"
        )
    return int(value)


def _bounded(value: Any, bounds: tuple[int, int], *, what: str, unit: str, hint: str) -> int:
    """``value`` as an integer within ``bounds``, or a ConfigError naming them and ``hint``."""
    low, high = bounds
    if not _is_int(value) or not low <= value <= high:
        raise ConfigError(
            f"{what} must be an integer from {low} to {high:,} {unit}, got {value!r}; {hint}"
        )
    return int(value)


def check_n_boot(value: Any, *, what: str = "n_boot") -> int:
    """``value`` as a number of bootstrap resamples within :data:`N_BOOT`.

    Raises:
        ConfigError: not an integer within the bounds.
    """
    hint = "1000 is usual, 50 is enough for a quick look"
    return _bounded(value, N_BOOT, what=what, unit="bootstrap resamples", hint=hint)


def check_trials(value: Any, *, what: str = "trials") -> int:
    """``value`` as a number of optuna trials within :data:`TRIALS`.

    Raises:
        ConfigError: not an integer within the bounds.
    """
    hint = "20 is usual, 5 is enough for a quick look"
    return _bounded(value, TRIALS, what=what, unit="optuna trials", hint=hint)


def split_sizes(
    n_rows: int, *, test_size: float = 0.2, valid_size: float = 0.2
) -> tuple[int, int, int]:
    """(train, valid, test) rows :func:`workbench.datasets.make_split` makes from ``n_rows``:
    scikit-learn's ``train_test_split`` arithmetic (test rounded up, the rest to train)."""
    test = math.ceil(test_size * n_rows)
    rest = n_rows - test
    valid = math.ceil(valid_size / (1 - test_size) * rest)
    return rest - valid, valid, test


def check_cv_folds(value: Any, *, train_rows: int | None = None, what: str = "cv_folds") -> int:
    """``value`` as a number of folds within :data:`CV_FOLDS` and, given ``train_rows``, no more
    than half the training rows (each fold needs rows to fit on and rows to score).

    Raises:
        ConfigError: not an integer within the bounds.
    """
    _bounded(value, CV_FOLDS, what=what, unit="folds per trial", hint="5 is usual")
    if train_rows is not None and value * 2 > train_rows:
        raise ConfigError(
            f"{what}={value} is too many folds for {train_rows} training rows: each fold needs "
            f"at least 2 rows; use at most {max(train_rows // 2, 1)} folds or a larger dataset"
        )
    return int(value)


def check_finite(params: Mapping[str, Any]) -> None:
    """Refuse non-finite numbers (``inf``, ``1e400``, ``NaN``) among the parameters.

    Raises:
        ConfigError: names the parameter.
    """
    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(
                f"parameter {name}={value!r} is not a finite number (1e400 overflows to inf); "
                "give a finite value"
            )


def check_run(params: Mapping[str, Any], dataset: Any) -> None:
    """Everything a stage notebook would reject about ``params`` and ``dataset``, checked now.

    Args:
        params: the run's full parameter set (names as the notebooks declare them).
        dataset: the loaded :class:`~workbench.datasets.Dataset` the kernels will read.

    Raises:
        ConfigError: a seed, trial count, fold count, resample count or number out of range.
        DatasetError: too few rows for the train/valid/test split or the folds.
    """
    check_finite(params)
    if "seed" in params:
        check_seed(params["seed"])
    if "n_boot" in params:
        check_n_boot(params["n_boot"], what="-p n_boot")
    if "trials" in params:
        check_trials(params["trials"], what="-p trials")
    if params.get("latency_seconds"):  # 0 means "the environment's budget or 10 s"
        latency_seconds(params["latency_seconds"])
    n_rows = len(dataset.y)
    train, valid, test = split_sizes(n_rows)
    if min(train, valid, test) < MIN_PART_ROWS:
        need = next(n for n in range(n_rows, 10_000) if min(split_sizes(n)) >= MIN_PART_ROWS)
        raise DatasetError(
            f"dataset {dataset.name!r} has {n_rows} rows: too few for a train/valid/test split "
            f"of 60/20/20% with at least {MIN_PART_ROWS} rows each (it would give "
            f"{train}/{valid}/{test}); it needs at least {need} rows"
        )
    if "cv_folds" in params:
        try:
            check_cv_folds(params["cv_folds"], train_rows=train, what="-p cv_folds")
        except ConfigError as e:
            if _is_int(params["cv_folds"]) and CV_FOLDS[0] <= params["cv_folds"] <= CV_FOLDS[1]:
                raise DatasetError(f"dataset {dataset.name!r}: {e}") from None
            raise
