"""Datasets: builtin names and CSV files, their fingerprint and a seeded split.

A dataset is a feature frame ``X``, a target ``y`` and a task (classification or regression).
Builtins are the sets scikit-learn ships on disk (no download). Every problem with the input is
a :class:`~workbench.exceptions.DatasetError` that names the problem and the fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DatasetError

__all__ = [
    "Dataset",
    "Split",
    "builtin_names",
    "load_dataset",
    "make_split",
    "register_builtin",
    "resolve_dataset_ref",
]

# A string feature with more distinct values than this (and than half the rows) is free text or
# an identifier; one-hot encoding it would only memorise rows.
_MAX_CATEGORIES = 50
# An integer target with at most this many distinct values is read as class labels.
_MAX_CLASSES = 20


@dataclass(frozen=True)
class Dataset:
    """Features, target and what the workbench records about them."""

    name: str
    source: str
    X: pd.DataFrame
    y: pd.Series
    target: str
    task: str  # "classification" | "regression"
    labels: list[Any] = field(default_factory=list)  # class order, classification only

    @property
    def shape(self) -> tuple[int, int]:
        return self.X.shape  # type: ignore[return-value]

    @property
    def numeric_features(self) -> list[str]:
        return [c for c in self.X.columns if pd.api.types.is_numeric_dtype(self.X[c])]

    @property
    def categorical_features(self) -> list[str]:
        return [c for c in self.X.columns if c not in set(self.numeric_features)]

    @property
    def features(self) -> list[dict[str, str]]:
        numeric = set(self.numeric_features)
        return [
            {
                "name": str(c),
                "dtype": str(self.X[c].dtype),
                "kind": "numeric" if c in numeric else "categorical",
            }
            for c in self.X.columns
        ]

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical CSV form of features and target (column order kept)."""
        frame = self.X.copy()
        frame[self.target] = self.y.to_numpy()
        digest = hashlib.sha256()
        digest.update(f"target={self.target};task={self.task}\n".encode())
        digest.update(frame.to_csv(index=False, lineterminator="\n").encode())
        return digest.hexdigest()


@dataclass(frozen=True)
class Split:
    """Row positions of a seeded train/valid/test split."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "train": self.train.tolist(),
            "valid": self.valid.tolist(),
            "test": self.test.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Split:
        return cls(
            train=np.asarray(d["train"], dtype=int),
            valid=np.asarray(d["valid"], dtype=int),
            test=np.asarray(d["test"], dtype=int),
            seed=int(d["seed"]),
        )

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


# -- builtin registry -------------------------------------------------------------------------

_BUILTINS: dict[str, tuple[Callable[[], Any], str]] = {}


def register_builtin(
    name: str, loader: Callable[[], Any], task: str, *, replace: bool = False
) -> None:
    """Register a dataset loader under ``name`` (plugins call this; see :mod:`workbench.plugins`).

    Args:
        name: What ``--dataset`` accepts.
        loader: Returns a sklearn-style ``Bunch`` with ``data`` (a feature DataFrame) and
            ``target`` (a Series); ``target_names`` marks integer class codes as labels.
        task: ``"classification"`` or ``"regression"``.
        replace: Overwrite a different loader of the same name instead of refusing.

    Raises:
        DatasetError: The task is unknown, or the name is taken and ``replace`` is false.
    """
    if task not in ("classification", "regression"):
        raise DatasetError(
            f"dataset {name!r}: unknown task {task!r}; use classification or regression"
        )
    if not replace and name in _BUILTINS and _BUILTINS[name] != (loader, task):
        raise DatasetError(
            f"a dataset named {name!r} is already registered; pick another name or pass "
            "replace=True"
        )
    _BUILTINS[name] = (loader, task)


def _sk(fn_name: str) -> Callable[[], Any]:
    def load() -> Any:
        import sklearn.datasets as skd

        return getattr(skd, fn_name)(as_frame=True)

    return load


for _name, _fn, _task in (
    ("breast_cancer", "load_breast_cancer", "classification"),
    ("wine", "load_wine", "classification"),
    ("iris", "load_iris", "classification"),
    ("digits", "load_digits", "classification"),
    ("diabetes", "load_diabetes", "regression"),
):
    register_builtin(_name, _sk(_fn), _task)


def builtin_names() -> list[str]:
    return sorted(_BUILTINS)


# -- loading ----------------------------------------------------------------------------------


def resolve_dataset_ref(name: str, *, base: str | Path | None = None) -> str:
    """A dataset reference made independent of the current folder.

    Notebooks execute in ``runs/<run_id>/``, so a relative CSV path must become absolute before
    it is recorded or handed to a kernel. This is the one place that tells a builtin name from a
    file: a name ending in ``.csv``/``.txt``, holding a ``/``, or naming an existing file is a
    file; anything else is a name (an unknown one is reported by :func:`load_dataset`).

    Args:
        name: A builtin name or a path to a CSV file.
        base: The folder a relative path is read from (default: the current folder; a grid
            file's folder for ``workbench batch``).

    Returns:
        ``name`` unchanged when it is not a file path, else the absolute path of the file.

    Raises:
        DatasetError: ``name`` is a file path but no such file exists; the message names the
            path and the folder it was resolved against.

    Example:
        >>> resolve_dataset_ref("iris")
        'iris'
        >>> resolve_dataset_ref("data.csv", base="/data")  # doctest: +SKIP
        '/data/data.csv'
    """
    folder = Path(base).expanduser() if base is not None else Path.cwd()
    path = _file_of(name, folder)
    if path is None:
        return name
    if not path.is_file():
        what = "is a folder, not a CSV file" if path.is_dir() else "not found"
        if not Path(name).expanduser().is_absolute():
            what += f" in {folder.resolve()} (a relative path is read from that folder)"
        raise DatasetError(
            f"dataset file {name!r} {what}; check the path, or give a builtin name: "
            + ", ".join(builtin_names())
        )
    return str(path.resolve())


def _file_of(name: str, folder: Path) -> Path | None:
    """The file ``name`` refers to from ``folder``, or None when ``name`` is not a file path."""
    if name in _BUILTINS:
        return None
    path = Path(name).expanduser()
    full = path if path.is_absolute() else folder / path
    if path.suffix.lower() in {".csv", ".txt"} or "/" in name or full.exists():
        return full
    return None


def load_dataset(name: str, *, target: str | None = None) -> Dataset:
    """Load a builtin dataset by name or a CSV file by path.

    Args:
        name: a builtin name (see :func:`builtin_names`) or a path to a ``.csv`` file (relative
            paths are read from the current folder; see :func:`resolve_dataset_ref`).
        target: the target column; required for CSV files, optional for builtins.

    Raises:
        DatasetError: unknown name, missing or empty file, missing target column, features the
            pipeline cannot encode, or a target with a single class.

    Example:
        >>> ds = load_dataset("iris")
        >>> ds.task, ds.shape
        ('classification', (150, 4))
    """
    if name not in _BUILTINS and _file_of(name, Path.cwd()) is None:
        from .plugins import load_plugins

        load_plugins()  # a project or installed plugin may register it (idempotent)
    if name in _BUILTINS:
        return _load_builtin(name, target)
    if _file_of(name, Path.cwd()) is None:
        raise DatasetError(
            f"unknown dataset {name!r}; builtin datasets are {', '.join(builtin_names())}, "
            "or pass the path of a CSV file together with --target COLUMN"
        )
    return _load_csv(Path(resolve_dataset_ref(name)), target)


def _load_builtin(name: str, target: str | None) -> Dataset:
    loader, task = _BUILTINS[name]
    bunch = loader()
    X = bunch.data.copy()
    X.columns = [str(c) for c in X.columns]
    y = bunch.target.rename(target or "target")
    if task == "classification" and hasattr(bunch, "target_names"):
        # Keep integer codes as labels: they round-trip through JSON and ONNX cleanly.
        y = y.astype("int64")
    return _finish(name=name, source=f"sklearn:{name}", X=X, y=y, task=task)


def _load_csv(path: Path, target: str | None) -> Dataset:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError as e:
        raise DatasetError(
            f"dataset file {str(path)!r} is empty; it needs a header and rows"
        ) from e
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DatasetError(f"dataset file {str(path)!r} is not a readable CSV: {e}") from e
    _check_unique_header(path, frame)
    columns = [str(c) for c in frame.columns]
    if target is None:
        raise DatasetError(
            f"a CSV dataset needs --target COLUMN; the columns of {path.name} are "
            f"{', '.join(columns)}"
        )
    if target not in frame.columns:
        raise DatasetError(
            f"target column {target!r} not in {path.name}; its columns are {', '.join(columns)}"
        )
    if frame.empty:
        raise DatasetError(f"dataset file {str(path)!r} has a header but no rows")
    y = frame.pop(target)
    if y.isna().any():
        raise DatasetError(
            f"target column {target!r} has {int(y.isna().sum())} missing values; "
            "drop or fill those rows first"
        )
    if frame.shape[1] == 0:
        raise DatasetError(f"{path.name} has only the target column {target!r}; it needs features")
    return _finish(name=path.stem, source=str(path.resolve()), X=frame, y=y, task=_infer_task(y))


def _check_unique_header(path: Path, frame: pd.DataFrame) -> None:
    """Refuse repeated column names: pandas renames the second ``a`` to ``a.1``, so a model
    would silently train on a column the file does not name."""
    header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    names = [str(v) for v in header.iloc[0].tolist()] if len(header) else []
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(
            f"dataset file {str(path)!r} repeats column name(s) "
            f"{', '.join(map(repr, repeated))} in its header; column names must be unique — "
            "rename or drop the repeated columns"
        )


def _check_finite(frame: pd.DataFrame, name: str) -> None:
    """Refuse infinite numbers (``inf``, or ``1e400`` which overflows to it): scaling, the
    models and the metrics turn them into NaN or errors deep inside a notebook."""
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            bad = np.isinf(col.to_numpy(dtype="float64", na_value=np.nan))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise DatasetError(
                    f"column {str(c)!r} of {name!r} holds {int(bad.sum())} infinite value(s) "
                    f"(first in data row {row + 1}: {float(col.iloc[row])!r}; 1e400 overflows "
                    "to inf); "
                    "replace them with finite numbers or leave the cells empty"
                )


def _infer_task(y: pd.Series) -> str:
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    if pd.api.types.is_integer_dtype(y) and y.nunique() <= _MAX_CLASSES:
        return "classification"
    return "regression"


def _finish(*, name: str, source: str, X: pd.DataFrame, y: pd.Series, task: str) -> Dataset:
    X = _check_features(X, name)
    _check_finite(X, name)
    _check_finite(y.to_frame(), name)
    labels: list[Any] = []
    if task == "classification":
        labels = sorted(pd.unique(y).tolist(), key=lambda v: (str(type(v)), v))
        if len(labels) < 2:
            raise DatasetError(
                f"target {y.name!r} of {name!r} has a single class ({labels[0]!r}); "
                "classification needs at least two"
            )
    return Dataset(name=name, source=source, X=X, y=y, target=str(y.name), task=task, labels=labels)


def _check_features(X: pd.DataFrame, name: str) -> pd.DataFrame:
    X = X.copy()
    X.columns = [str(c) for c in X.columns]
    empty = [c for c in X.columns if X[c].isna().all()]
    if empty:
        raise DatasetError(
            f"features {', '.join(map(repr, empty))} of {name!r} are entirely missing; drop them"
        )
    unusable: list[str] = []
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_bool_dtype(col):
            X[c] = col.astype("int64")
        elif pd.api.types.is_datetime64_any_dtype(col) or isinstance(
            col.dtype, pd.PeriodDtype | pd.IntervalDtype
        ):
            unusable.append(f"{c!r} ({col.dtype})")
        elif not pd.api.types.is_numeric_dtype(col):
            n_unique = col.nunique(dropna=True)
            if n_unique > max(_MAX_CATEGORIES, len(col) // 2):
                unusable.append(f"{c!r} (text with {n_unique} distinct values)")
            else:
                X[c] = col.astype("str")  # mixed objects become categories; missing stays NaN
    if unusable:
        raise DatasetError(
            f"features of {name!r} the pipeline cannot encode: {', '.join(unusable)}; numeric "
            f"columns and categories with at most {_MAX_CATEGORIES} values are supported — "
            "drop these columns or encode them as numbers first"
        )
    return X


def make_split(ds: Dataset, *, seed: int, test_size: float = 0.2, valid_size: float = 0.2) -> Split:
    """A seeded train/valid/test split (stratified for classification when every class allows)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(ds.y))
    stratify = ds.y.to_numpy() if _can_stratify(ds) else None
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
    rest_strat = stratify[rest] if stratify is not None else None
    train, valid = train_test_split(
        rest, test_size=valid_size / (1 - test_size), random_state=seed, stratify=rest_strat
    )
    return Split(train=np.sort(train), valid=np.sort(valid), test=np.sort(test), seed=seed)


def _can_stratify(ds: Dataset) -> bool:
    return ds.task == "classification" and int(ds.y.value_counts().min()) >= 5
