"""Model families: how to build each pipeline and the space optuna searches.

Every family builds a complete scikit-learn ``Pipeline`` (preprocessing included), so the saved
model takes the raw feature frame. Search spaces (documented per family, ranges inclusive):

``logreg`` (alias ``linear``)
    classification: ``LogisticRegression``; ``C`` log-uniform in [1e-3, 1e2],
    ``class_weight`` in {None, "balanced"}. regression: ``Ridge``; ``alpha`` log-uniform in
    [1e-3, 1e3]. Numeric features are median-imputed and standardised.
``rf``
    ``RandomForest{Classifier,Regressor}``; ``n_estimators`` in [50, 300] step 50,
    ``max_depth`` in [2, 16], ``min_samples_leaf`` in [1, 10], ``max_features`` in
    {"sqrt", 0.5, 1.0}.
``hgb``
    ``HistGradientBoosting{Classifier,Regressor}``; ``learning_rate`` log-uniform in
    [0.01, 0.3], ``max_leaf_nodes`` in [8, 64], ``min_samples_leaf`` in [5, 50],
    ``l2_regularization`` log-uniform in [1e-6, 1.0], ``max_iter`` in [50, 300] step 50.

Preprocessing, the same in every family and chosen so that skl2onnx converts every pipeline
with exact parity (``workbench.modelio.to_onnx``; the stub's ONNX fast path):

- numeric features: median-imputed (and standardised for ``logreg``);
- text (categorical) features: a gap (NaN or None) becomes its own category :data:`MISSING`
  (a constant, before encoding), then one-hot encoded; a category unseen in training is
  ignored (all zeros) at serving, identically in sklearn and ONNX.

``hgb`` takes the one-hot (encoded) path too: skl2onnx 1.20 converts HistGradientBoosting's
native categorical support, but its output differs from sklearn's (max |Δp| 0.89 measured on
penguins), and an ordinal encoder would need a new type on the stub's skops allow-list. High
cardinality is capped before the model sees it (``workbench.datasets``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .exceptions import ConfigError

__all__ = [
    "MISSING",
    "ModelFamily",
    "build_pipeline",
    "family_names",
    "get_family",
    "register_family",
]

Params = dict[str, Any]
#: The category a missing text value becomes (parenthesised so it rarely meets a real value).
MISSING = "(missing)"


@dataclass(frozen=True)
class ModelFamily:
    """A family: default hyperparameters, a search space and an estimator factory."""

    name: str
    description: str
    suggest: Callable[[Any, str], Params]  # (optuna trial, task) -> params
    defaults: Callable[[str], Params]
    estimator: Callable[[str, Params, int], Any]  # (task, params, seed) -> estimator
    scale_numeric: bool = True


_FAMILIES: dict[str, ModelFamily] = {}
_ALIASES: dict[str, str] = {}


def register_family(family: ModelFamily, *aliases: str, replace: bool = False) -> ModelFamily:
    """Add a model family (plugins call this; see :mod:`workbench.plugins`).

    Args:
        family: The family: its search space (``suggest``), defaults and estimator factory.
            The estimator goes into the same preprocessing pipeline as the builtin families
            (:func:`build_pipeline`); saved models admit only reviewed sklearn types
            (``workbench.serving._model.TRUSTED_TYPES``).
        aliases: Other names ``--model`` accepts for it.
        replace: Overwrite a different family of the same name instead of refusing.

    Returns:
        The family, so the call can be used as an expression.

    Raises:
        ConfigError: The name or an alias is taken by another family and ``replace`` is false.

    Example:
        >>> register_family(ModelFamily(  # doctest: +SKIP
        ...     "tree", "a decision tree", suggest, defaults, estimator, scale_numeric=False))
    """
    if not replace:
        for name in (family.name, *aliases):
            taken = _FAMILIES.get(_ALIASES.get(name, name))
            if taken is not None and taken != family:
                raise ConfigError(
                    f"a model family named {name!r} is already registered ({taken.description}); "
                    "pick another name or pass replace=True"
                )
    _FAMILIES[family.name] = family
    for a in aliases:
        _ALIASES[a] = family.name
    return family


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str) -> ModelFamily:
    """The family called ``name`` (or an alias); plugins are loaded when it is not registered.

    Raises:
        ConfigError: No family has that name (the message lists the known ones), or a plugin
            failed to load.
    """
    if _ALIASES.get(name, name) not in _FAMILIES:
        from .plugins import load_plugins

        load_plugins()  # a project or installed plugin may bring it (idempotent)
    key = _ALIASES.get(name, name)
    if key not in _FAMILIES:
        known = ", ".join(family_names() + sorted(_ALIASES))
        raise ConfigError(f"unknown model family {name!r}; known families: {known}")
    return _FAMILIES[key]


# -- logreg / linear ----------------------------------------------------------------------------


def _linear_suggest(trial: Any, task: str) -> Params:
    if task == "classification":
        return {
            "C": trial.suggest_float("C", 1e-3, 1e2, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"]),
        }
    return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}


def _linear_defaults(task: str) -> Params:
    return {"C": 1.0, "class_weight": None} if task == "classification" else {"alpha": 1.0}


def _linear_estimator(task: str, p: Params, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression, Ridge

    if task == "classification":
        return LogisticRegression(
            C=p["C"], class_weight=p["class_weight"], max_iter=2000, random_state=seed
        )
    return Ridge(alpha=p["alpha"])


# -- random forest ------------------------------------------------------------------------------


def _rf_suggest(trial: Any, task: str) -> Params:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 300, step=50),
        "max_depth": trial.suggest_int("max_depth", 2, 16),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 10),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", 0.5, 1.0]),
    }


def _rf_defaults(task: str) -> Params:
    return {"n_estimators": 100, "max_depth": 12, "min_samples_leaf": 1, "max_features": "sqrt"}


def _rf_estimator(task: str, p: Params, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task == "classification" else RandomForestRegressor
    # One job: batch runs already use every core, and results must not depend on scheduling.
    return cls(**p, random_state=seed, n_jobs=1)


# -- histogram gradient boosting ----------------------------------------------------------------


def _hgb_suggest(trial: Any, task: str) -> Params:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 8, 64),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 50),
        "l2_regularization": trial.suggest_float("l2_regularization", 1e-6, 1.0, log=True),
        "max_iter": trial.suggest_int("max_iter", 50, 300, step=50),
    }


def _hgb_defaults(task: str) -> Params:
    return {
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 1e-6,
        "max_iter": 100,
    }


def _hgb_estimator(task: str, p: Params, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = (
        HistGradientBoostingClassifier
        if task == "classification"
        else (HistGradientBoostingRegressor)
    )
    # No early stopping: it would carve its own validation split out of each CV fold.
    return cls(**p, early_stopping=False, random_state=seed)


register_family(
    ModelFamily(
        "logreg",
        "logistic regression (classification) / ridge (regression)",
        _linear_suggest,
        _linear_defaults,
        _linear_estimator,
    ),
    "linear",
)
register_family(ModelFamily("rf", "random forest", _rf_suggest, _rf_defaults, _rf_estimator, False))
register_family(
    ModelFamily(
        "hgb", "histogram gradient boosting", _hgb_suggest, _hgb_defaults, _hgb_estimator, False
    )
)


def build_pipeline(
    family: str | ModelFamily,
    task: str,
    params: Params,
    *,
    numeric: list[str],
    categorical: list[str],
    seed: int,
) -> Any:
    """A ``Pipeline(preprocess -> estimator)`` for the given feature columns.

    Args:
        family: a family name (or alias) or a :class:`ModelFamily`.
        task: ``classification`` or ``regression``.
        params: the family's hyperparameters (see the module docstring).
        numeric: numeric feature columns (median-imputed, standardised where the family scales).
        categorical: text feature columns (gaps → :data:`MISSING`, then one-hot; unknown
            categories ignored).
        seed: the estimator's random state.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    fam = get_family(family) if isinstance(family, str) else family
    num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if fam.scale_numeric:
        num_steps.append(("scale", StandardScaler()))
    transformers: list[tuple[str, Any, list[str]]] = [("num", Pipeline(num_steps), numeric)]
    if categorical:
        transformers.append(
            (
                "cat",
                Pipeline(
                    [
                        # A constant, not the mode: a gap is information of its own, and
                        # skl2onnx converts a constant text imputer (see modelio.to_onnx).
                        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING)),
                        # A gap arriving as None (JSON null in an all-null object column, which
                        # pandas does not turn into NaN) is the same gap.
                        (
                            "impute_none",
                            SimpleImputer(
                                missing_values=None, strategy="constant", fill_value=MISSING
                            ),
                        ),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            )
        )
    pre = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("preprocess", pre), ("model", fam.estimator(task, params, seed))])
