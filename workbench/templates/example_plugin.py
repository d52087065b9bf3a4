"""An example workbench plugin: a dataset loader (``moons``) and a model family (``tree``).

`workbench init` copies this file into a new project. Enable it in the project's
workbench.toml, then use what it registers like the builtins::

    plugins = ["example_plugin"]

    workbench run --dataset moons --model tree --trials 5

The CLI loads it before any kernel starts (so ``--model tree`` is checked up front) and every
notebook kernel loads it too. An installed package registers the same way through the
``workbench.plugins`` entry-point group of its pyproject.toml::

    [project.entry-points."workbench.plugins"]
    example = "example_plugin:register"

With ``module:function`` the function is called once per process; with a bare module, importing
it is enough. This module registers at import *and* offers ``register``: registering the same
objects again is harmless.
"""

from __future__ import annotations

from typing import Any

from workbench.datasets import register_builtin
from workbench.models import ModelFamily, register_family


def load_moons() -> Any:
    """Two interleaving half circles plus one pure-noise feature, 400 rows, seeded.

    A loader returns a sklearn-style ``Bunch``: ``data`` (feature DataFrame), ``target``
    (Series) and, for class codes, ``target_names``.
    """
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_moons
    from sklearn.utils import Bunch

    X, y = make_moons(n_samples=400, noise=0.3, random_state=0)
    noise = np.random.default_rng(0).normal(size=len(y))
    data = pd.DataFrame({"x1": X[:, 0], "x2": X[:, 1], "noise": noise})
    return Bunch(data=data, target=pd.Series(y, name="moon"), target_names=["lower", "upper"])


def _tree_suggest(trial: Any, task: str) -> dict[str, Any]:
    """The search space optuna explores (ranges inclusive)."""
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 12),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 30),
    }


def _tree_defaults(task: str) -> dict[str, Any]:
    """What a notebook fits when it runs without a search."""
    return {"max_depth": 6, "min_samples_leaf": 5}


def _tree_estimator(task: str, params: dict[str, Any], seed: int) -> Any:
    # Decision trees are on the reviewed list of types a saved model may hold (skops); a family
    # whose estimator is not would fail when its model is saved, naming the type.
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    return cls(**params, random_state=seed)


TREE = ModelFamily(
    "tree",
    "a single decision tree (example plugin)",
    _tree_suggest,
    _tree_defaults,
    _tree_estimator,
    scale_numeric=False,
)


def register() -> None:
    """Register the dataset and the family (the entry-point form calls this)."""
    register_builtin("moons", load_moons, "classification")
    register_family(TREE, "decision_tree")


register()
