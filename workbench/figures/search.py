"""Figures of a hyperparameter search: optuna's history, importances and parallel coordinates."""

from __future__ import annotations

from typing import Any

__all__ = ["search_figures"]


def search_figures(study: Any, *, seed: int = 0) -> dict[str, Any]:
    """Optimization history, parameter importances and parallel coordinates (plotly).

    A figure that cannot be drawn (e.g. importances need two finished trials with varying
    parameters) is replaced by the reason, as a string.
    """
    import optuna
    from optuna import visualization as vis

    out: dict[str, Any] = {}
    out["history"] = vis.plot_optimization_history(study)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) >= 2 and len({tuple(sorted(t.params.items())) for t in complete}) > 1:
        try:
            out["importances"] = vis.plot_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)
            )
        except (ValueError, RuntimeError) as e:
            out["importances"] = f"parameter importances unavailable: {e}"
        out["parallel"] = vis.plot_parallel_coordinate(study)
    else:
        reason = "needs at least two finished trials with different parameters"
        out["importances"] = f"parameter importances unavailable: {reason}"
        out["parallel"] = f"parallel coordinates unavailable: {reason}"
    return out
