"""Optuna's storage on the store's database (its tables live beside the workbench's)."""

from __future__ import annotations

from typing import Any

__all__ = ["close_interrupted_trials", "optuna_storage", "prepare_optuna_storage"]


#: Attempts at opening optuna's storage while another process creates its tables.
_OPEN_ATTEMPTS = 8


def optuna_storage(url: str) -> Any:
    """An ``optuna.storages.RDBStorage`` on ``url`` (SQLite gets a 30 s busy timeout).

    Opening it creates optuna's tables on a new database. Processes doing that at the same
    moment (two ``workbench run`` on a new workspace, searchers on a new PostgreSQL database)
    race: the loser's ``CREATE TABLE`` fails ("already exists", a duplicate type). Optuna
    creates only missing tables, so the loser tries again after a short wait and finds them.
    """
    import random
    import time

    import optuna
    import sqlalchemy as sa

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 30}}
    delay = 0.05
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except sa.exc.SQLAlchemyError:
            if attempt == _OPEN_ATTEMPTS - 1:
                raise
            time.sleep(delay * (1 + random.random()))  # jitter: racers do not retry in step
            delay = min(delay * 2, 1.0)
    raise AssertionError("unreachable")


def prepare_optuna_storage(url: str) -> None:
    """Create optuna's tables once, before parallel runs open the storage."""
    optuna_storage(url).engine.dispose()


def close_interrupted_trials(url: str, study_name: str) -> int:
    """Mark ``FAIL`` the trials a killed run left ``RUNNING`` in its optuna study.

    A trial interrupted by SIGKILL stays ``RUNNING`` forever; when the study is continued,
    marking it failed keeps the study honest (samplers ignore failed trials) and does not
    change the number of finished trials the search counts.

    Returns:
        How many trials were marked; 0 when the study does not exist.
    """
    import optuna

    storage = optuna_storage(url)
    try:
        try:
            study_id = storage.get_study_id_from_name(study_name)
        except KeyError:
            return 0
        running = storage.get_all_trials(
            study_id, deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)
        )
        for trial in running:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
        return len(running)
    finally:
        storage.engine.dispose()
