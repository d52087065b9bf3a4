"""Hyperparameter search: an optuna study, stored in the workspace database, over one family.

Each trial runs k-fold cross-validation on the training rows and reports the running mean after
every fold, so the pruner can stop a hopeless trial early. The best parameters are then checked
on the validation rows and refit on train+valid for the evaluation stage. The study's figures
are in :mod:`workbench.figures.search`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .datasets import Dataset, Split
from .models import build_pipeline, get_family

__all__ = ["SearchResult", "direction_for", "run_search", "study_name_for"]


def direction_for(task: str) -> str:
    from .stats import HEADLINE, get_metric

    return "maximize" if get_metric(HEADLINE[task]).higher_is_better else "minimize"


def study_name_for(run_id: str, family: str) -> str:
    """Study names derive from the run, so a resumed run continues its own study."""
    return f"workbench:{run_id}:{get_family(family).name}"


@dataclass
class SearchResult:
    study: Any
    family: str
    metric: str
    best_params: dict[str, Any]
    best_cv: float
    valid_score: float
    pipeline: Any  # refit on train + valid
    n_complete: int
    n_pruned: int
    seconds: float
    trial_seconds: list[float] = field(default_factory=list)


def _folds(ds: Dataset, rows: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    y = ds.y.to_numpy()[rows]
    if ds.task == "classification" and np.unique(y, return_counts=True)[1].min() >= k:
        splitter: Any = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(rows[a], rows[b]) for a, b in splitter.split(rows, y)]


def _score(ds: Dataset, pipe: Any, rows: np.ndarray, metric: str) -> float:
    from .stats import get_metric

    X, y = ds.X.iloc[rows], ds.y.to_numpy()[rows]
    m = get_metric(metric)
    if ds.task == "classification":
        proba = pipe.predict_proba(X)
        return float(m.fn(y, proba, list(pipe.classes_)))
    return float(m.fn(y, pipe.predict(X), None))


def make_objective(ds: Dataset, split: Split, family: str, *, seed: int, cv_folds: int = 5) -> Any:
    """The optuna objective: mean CV score of the headline metric on the training rows."""
    import optuna

    from .stats import HEADLINE

    fam = get_family(family)
    metric = HEADLINE[ds.task]
    folds = _folds(ds, split.train, cv_folds, seed)
    numeric, categorical = ds.numeric_features, ds.categorical_features

    def objective(trial: optuna.Trial) -> float:
        params = fam.suggest(trial, ds.task)
        scores: list[float] = []
        for step, (fit_rows, score_rows) in enumerate(folds):
            pipe = build_pipeline(
                fam, ds.task, params, numeric=numeric, categorical=categorical, seed=seed
            )
            pipe.fit(ds.X.iloc[fit_rows], ds.y.iloc[fit_rows])
            scores.append(_score(ds, pipe, score_rows, metric))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


def run_search(
    ds: Dataset,
    split: Split,
    *,
    family: str,
    trials: int,
    seed: int,
    storage_url: str | None,
    study_name: str,
    cv_folds: int = 5,
    timeout_s: float | None = None,
) -> SearchResult:
    """Run (or continue) the study and refit the best pipeline on train + valid.

    A study of the same name in the same storage is continued, not duplicated: only the missing
    number of finished trials is run.
    """
    import optuna

    from .stats import HEADLINE

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fam = get_family(family)
    metric = HEADLINE[ds.task]
    storage = _storage(storage_url)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        direction=direction_for(ds.task),
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=True,
    )
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len(study.get_trials(deepcopy=False, states=finished))
    objective = make_objective(ds, split, family, seed=seed, cv_folds=cv_folds)
    durations: list[float] = []

    def timed(trial: optuna.Trial) -> float:
        if _surplus(study, trial, trials):
            study.stop()
            raise _SurplusTrial(f"the study already has {trials} trials finished or running")
        t0 = time.perf_counter()
        try:
            return objective(trial)
        finally:
            durations.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    if trials - done > 0:
        with _quiet_surplus():
            study.optimize(
                timed,
                n_trials=trials - done,
                timeout=timeout_s,
                gc_after_trial=False,
                catch=(_SurplusTrial,),
            )
    seconds = time.perf_counter() - t0
    states = [t.state for t in study.get_trials(deepcopy=False)]
    n_complete = states.count(optuna.trial.TrialState.COMPLETE)
    if n_complete == 0:
        best_params, best_cv = fam.defaults(ds.task), float("nan")
    else:
        best_params, best_cv = dict(study.best_params), float(study.best_value)

    def fit(rows: np.ndarray) -> Any:
        pipe = build_pipeline(
            fam,
            ds.task,
            best_params,
            numeric=ds.numeric_features,
            categorical=ds.categorical_features,
            seed=seed,
        )
        return pipe.fit(ds.X.iloc[rows], ds.y.iloc[rows])

    valid_score = _score(ds, fit(split.train), split.valid, metric)
    final = fit(np.concatenate([split.train, split.valid]))
    return SearchResult(
        study=study,
        family=fam.name,
        metric=metric,
        best_params=best_params,
        best_cv=best_cv,
        valid_score=valid_score,
        pipeline=final,
        n_complete=n_complete,
        n_pruned=states.count(optuna.trial.TrialState.PRUNED),
        seconds=seconds,
        trial_seconds=durations,
    )


class _SurplusTrial(Exception):
    """A trial started after the study reached its count elsewhere; recorded FAIL, not run."""


@contextlib.contextmanager
def _quiet_surplus() -> Iterator[None]:
    """Keep optuna's warnings about surplus trials (a traceback, then "failed with value
    None") out of the notebook: they are bookkeeping, not a failure."""
    import logging

    surplus: set[str] = set()

    def keep(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        trial = message.split(" failed", 1)[0] if message.startswith("Trial ") else ""
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, _SurplusTrial) or "_SurplusTrial" in message:
            surplus.add(trial)
            return False
        return not (trial and trial in surplus)

    # Records come from optuna's child loggers: a filter on its handlers sees them, one on the
    # "optuna" logger itself would not.
    handlers = list(logging.getLogger("optuna").handlers)
    for handler in handlers:
        handler.addFilter(keep)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(keep)


def _surplus(study: Any, trial: Any, trials: int) -> bool:
    """Whether ``trial`` would take the study past ``trials`` finished trials.

    Each process sharing a study (a resumed run, searchers on one database) computes the
    trials missing when it starts; run alone, those counts overshoot. Trials are numbered in
    the storage as they start, so the ones numbered before this one that finished or are still
    running are what the study will have without it.
    """
    import optuna

    states = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.RUNNING,
    )
    ahead = [t for t in study.get_trials(deepcopy=False, states=states) if t.number < trial.number]
    return len(ahead) >= trials


def _storage(url: str | None) -> Any:
    from .store import optuna_storage

    return None if url is None else optuna_storage(url)
