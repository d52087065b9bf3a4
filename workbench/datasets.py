"""Datasets: builtin names and data files, how their columns are prepared, a seeded split.

A dataset is a feature frame ``X``, a target ``y`` and a task (classification or regression).
Builtins are the sets scikit-learn ships on disk (no download). Data files are text tables
(``.csv``, ``.tsv``, ``.tab``, ``.txt``, or any existing file) or Parquet (``.parquet``,
``.pq``; read with pyarrow). Every problem with the input is a
:class:`~workbench.exceptions.DatasetError` that names the problem and the fix.

Reading a text file
    The encoding is ``--encoding`` when given, else sniffed: UTF-8 (a byte-order mark is
    dropped), UTF-16 with a byte-order mark, then Windows-1252, then Latin-1. The delimiter is
    ``--sep`` when given (one character, or ``\\t``/``tab``), else a tab for ``.tsv``/``.tab``,
    else sniffed among ``,`` ``;`` tab ``|`` (the one that splits the first lines into the
    same number of fields, more than one). In a semicolon file, text columns whose every value
    is a number written with a decimal comma (``3,14``) become numbers.

How each feature column is prepared (:func:`prepare_features`; recorded per column in
:attr:`Dataset.prep` and shown in the explore report)
    ``numeric``    kept; gaps are median-imputed by the model pipeline.
    ``category``   text kept as categories; gaps (blank text too) become their own category
                   and a category unseen in training is ignored at serving (see
                   ``workbench.models``).
    ``boolean``    ``bool`` columns and text holding only true/false, yes/no, t/f or y/n (any
                   case) become 1/0 (gaps stay missing).
    ``date``       datetime columns and ISO-8601 text (``2026-11-30``, ``2026-11-30 14:05``)
                   are replaced by numeric features ``<col>_year``, ``<col>_month``,
                   ``<col>_day``, ``<col>_dayofweek`` (Monday = 0), plus ``<col>_hour`` when
                   any value has a time of day. Other date formats stay text.
    ``capped``     text with more than 50 categories that is not an identifier keeps its 50
                   most frequent values; the rest become one ``(other)`` category.
    ``dropped``    constant columns (the same value in every row, or entirely missing);
                   identifier-like columns: text whose values are all distinct (20 rows or
                   more) or whose distinct values exceed 50 and half the rows, and integers
                   all distinct that count rows (consecutive) or are named like an id (``id``,
                   ``*_id``, ``*ID``).

Builtin datasets are used as published: their columns are recorded, never dropped (digits has
constant pixels), so their fingerprints stay what earlier runs recorded.

The fingerprint hashes the prepared features and target: the data the model saw.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DatasetError
from .tableread import PARQUET_SUFFIXES, delimiter_name, read_parquet, read_text

__all__ = [
    "Dataset",
    "Split",
    "builtin_names",
    "dataset_from_params",
    "delimiter_name",
    "load_dataset",
    "make_split",
    "prepare_features",
    "register_builtin",
    "resolve_dataset_ref",
]

# Text with more distinct values than this is capped (or dropped when it looks like an id):
# one-hot encoding hundreds of rare values would only memorise rows.
_MAX_CATEGORIES = 50
OTHER = "(other)"
# An integer target with at most this many distinct values is read as class labels.
_MAX_CLASSES = 20
_TEXT_SUFFIXES = {".csv", ".txt", ".tsv", ".tab"}
_BOOLEAN_WORDS = {"true": 1, "false": 0, "yes": 1, "no": 0, "t": 1, "f": 0, "y": 1, "n": 0}
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_ID_NAME = re.compile(r"(?i:^id$|[_\s.-]id$|^id[_\s.-])|[a-z]ID$")


@dataclass(frozen=True)
class Dataset:
    """Features, target and what the workbench records about them.

    ``prep`` has one entry per column of the source (target excluded): ``column``,
    ``treatment`` (see the module docstring), ``detail`` and ``why``. ``read`` says how the
    file was read (format, delimiter, encoding and whether each was given or sniffed).
    """

    name: str
    source: str
    X: pd.DataFrame
    y: pd.Series
    target: str
    task: str  # "classification" | "regression"
    labels: list[Any] = field(default_factory=list)  # class order, classification only
    # Display names of class codes (builtins keep integer codes as labels: they round-trip
    # through JSON and ONNX); empty when the labels are their own names.
    label_names: dict[Any, str] = field(default_factory=dict)
    prep: list[dict[str, str]] = field(default_factory=list)
    read: dict[str, Any] = field(default_factory=dict)

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

    def prep_record(self) -> dict[str, Any]:
        """What the run records as its ``dataset_prep`` artifact (JSON-ready)."""
        return {
            "dataset": self.name,
            "source": self.source,
            "target": self.target,
            "read": dict(self.read),
            "columns": [dict(c) for c in self.prep],
            "features": [str(c) for c in self.X.columns],
            "fingerprint": self.fingerprint,
        }


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


# -- references -------------------------------------------------------------------------------


def resolve_dataset_ref(name: str, *, base: str | Path | None = None) -> str:
    """A dataset reference made independent of the current folder.

    Notebooks execute in ``runs/<run_id>/``, so a relative file path must become absolute before
    it is recorded or handed to a kernel. This is the one place that tells a builtin name from a
    file: a name ending in a data-file suffix (``.csv``, ``.tsv``, ``.tab``, ``.txt``,
    ``.parquet``, ``.pq``), holding a ``/``, or naming an existing file is a file; anything else
    is a name (an unknown one is reported by :func:`load_dataset`).

    Args:
        name: A builtin name or a path to a data file.
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
        what = "is a folder, not a data file" if path.is_dir() else "not found"
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
    suffixes = _TEXT_SUFFIXES | PARQUET_SUFFIXES
    if path.suffix.lower() in suffixes or "/" in name or full.exists():
        return full
    return None


# -- loading ----------------------------------------------------------------------------------


def dataset_from_params(params: Mapping[str, Any]) -> Dataset:
    """The dataset a run's parameters name (``dataset``, ``target``, ``sep``, ``encoding``).

    Every place that reloads a run's data goes through here, so an explicit delimiter or
    encoding given to ``workbench run`` is used again.
    """
    return load_dataset(
        str(params["dataset"]),
        target=params.get("target") or None,
        sep=params.get("sep") or None,
        encoding=params.get("encoding") or None,
    )


def load_dataset(
    name: str,
    *,
    target: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
) -> Dataset:
    """Load a builtin dataset by name or a data file by path, and prepare its features.

    Args:
        name: a builtin name (see :func:`builtin_names`) or a path to a data file (relative
            paths are read from the current folder; see :func:`resolve_dataset_ref`).
        target: the target column; required for files, optional for builtins.
        sep: the delimiter of a text file (one character; ``\\t`` or ``tab`` for a tab);
            sniffed when omitted.
        encoding: the text encoding of a text file (e.g. ``utf-8``, ``cp1252``); sniffed when
            omitted.

    Raises:
        DatasetError: unknown name, missing, empty or unreadable file, bad ``sep`` or
            ``encoding``, missing target column or target values, no usable feature, or a
            target with a single class.

    Example:
        >>> ds = load_dataset("iris")
        >>> ds.task, ds.shape
        ('classification', (150, 4))
    """
    if name not in _BUILTINS and _file_of(name, Path.cwd()) is None:
        from .plugins import load_plugins

        load_plugins()  # a project or installed plugin may register it (idempotent)
    if name in _BUILTINS:
        if sep or encoding:
            raise DatasetError(
                f"{name!r} is a builtin dataset; --sep and --encoding apply to text files only"
            )
        return _load_builtin(name, target)
    if _file_of(name, Path.cwd()) is None:
        raise DatasetError(
            f"unknown dataset {name!r}; builtin datasets are {', '.join(builtin_names())}, "
            "or pass the path of a data file (CSV, TSV, Parquet) together with --target COLUMN"
        )
    return _load_file(Path(resolve_dataset_ref(name)), target, sep=sep, encoding=encoding)


def _load_builtin(name: str, target: str | None) -> Dataset:
    loader, task = _BUILTINS[name]
    bunch = loader()
    X = bunch.data.copy()
    X.columns = [str(c) for c in X.columns]
    y = bunch.target.rename(target or "target")
    if task == "classification" and hasattr(bunch, "target_names"):
        # Keep integer codes as labels: they round-trip through JSON and ONNX cleanly.
        y = y.astype("int64")
    read = {"format": "builtin", "loader": f"sklearn.datasets.load_{name}"}
    ds = _finish(name=name, source=f"sklearn:{name}", X=X, y=y, task=task, read=read, curated=True)
    return dataclasses.replace(
        ds, label_names=_label_names(ds.labels, getattr(bunch, "target_names", None))
    )


def _label_names(labels: list[Any], names: Any) -> dict[Any, str]:
    """Code → name for integer class codes that have names other than themselves."""
    if names is None or not all(isinstance(c, int) for c in labels):
        return {}
    found = {c: str(names[c]) for c in labels if 0 <= c < len(names)}
    return {} if all(n == str(c) for c, n in found.items()) else found


def _load_file(path: Path, target: str | None, *, sep: str | None, encoding: str | None) -> Dataset:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        if sep or encoding:
            raise DatasetError(
                f"{path.name} is a Parquet file: it has no delimiter or text encoding; "
                "drop --sep/--encoding"
            )
        frame, read = read_parquet(path), {"format": "parquet"}
    else:
        frame, read = read_text(path, sep=sep, encoding=encoding)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if target is None:
        raise DatasetError(
            f"a data file needs --target COLUMN; the columns of {path.name} are "
            f"{', '.join(columns)}"
        )
    if target not in frame.columns:
        hint = ""
        if len(columns) == 1 and read.get("sep_from") == "sniffed":
            hint = " (one column only: give the delimiter with --sep)"
        raise DatasetError(
            f"target column {target!r} not in {path.name}; its columns are "
            f"{', '.join(columns)}{hint}"
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
    return _finish(
        name=path.stem,
        source=str(path.resolve()),
        X=frame,
        y=y,
        task=_infer_task(y),
        read=read,
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


def _finish(
    *,
    name: str,
    source: str,
    X: pd.DataFrame,
    y: pd.Series,
    task: str,
    read: dict[str, Any] | None = None,
    curated: bool = False,
) -> Dataset:
    X, prep = prepare_features(X, name=name, drop=not curated)
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
    return Dataset(
        name=name,
        source=source,
        X=X,
        y=y.reset_index(drop=True),
        target=str(y.name),
        task=task,
        labels=labels,
        prep=prep,
        read=dict(read or {}),
    )


# -- preparing features -----------------------------------------------------------------------


def prepare_features(
    X: pd.DataFrame, *, name: str = "data", drop: bool = True
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Prepare raw feature columns as the module docstring describes.

    Args:
        X: the raw feature columns.
        name: the dataset's name, for messages.
        drop: drop constant and identifier-like columns (``False`` for builtins, which are
            used as published).

    Returns:
        The prepared frame (new columns in place of expanded dates) and one record per source
        column: ``column``, ``treatment``, ``detail``, ``why``.

    Raises:
        DatasetError: a column holds values no treatment covers (lists, periods, intervals,
            durations), or no feature is left.
    """
    X = X.reset_index(drop=True)
    X.columns = [str(c) for c in X.columns]
    out: dict[str, pd.Series] = {}
    prep: list[dict[str, str]] = []
    unusable: list[str] = []
    for c in X.columns:
        col = X[c]
        try:
            entry, produced = _prepare_column(c, col, drop=drop)
        except _Unusable as e:
            unusable.append(f"{c!r} ({e})")
            continue
        for new_name in produced:
            if new_name in out or (new_name != c and new_name in X.columns):
                raise DatasetError(
                    f"column {c!r} of {name!r} expands to {new_name!r}, which already exists; "
                    "rename one of them"
                )
        out.update(produced)
        prep.append({"column": c, **entry})
    if unusable:
        raise DatasetError(
            f"features of {name!r} no preparation covers: {', '.join(unusable)}; numbers, text, "
            "booleans and dates are supported — drop these columns or convert them first"
        )
    if not out:
        dropped = "; ".join(f"{p['column']!r}: {p['why']}" for p in prep)
        raise DatasetError(f"no usable feature is left in {name!r} ({dropped})")
    return pd.DataFrame(out), prep


class _Unusable(Exception):
    """A column no treatment covers (internal; collected into one DatasetError)."""


def _entry(treatment: str, detail: str, why: str) -> dict[str, str]:
    return {"treatment": treatment, "detail": detail, "why": why}


def _prepare_column(
    c: str, col: pd.Series, *, drop: bool = True
) -> tuple[dict[str, str], dict[str, pd.Series]]:
    if not drop and pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return _entry("numeric", str(col.dtype), "builtin dataset, used as published"), {c: col}
    n = len(col)
    if not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_datetime64_any_dtype(col):
        # Blank text is a gap: the stub sends a missing text value to ONNX as "" too.
        blank = np.array([isinstance(v, str) and not v.strip() for v in col], dtype=bool)
        col = col.mask(blank) if blank.any() else col
    n_missing = int(col.isna().sum())
    gaps = f"; {n_missing} missing" if n_missing else ""
    if n_missing == n:
        return _entry("dropped", "entirely missing", "no value to learn from"), {}
    if isinstance(
        col.dtype, pd.PeriodDtype | pd.IntervalDtype
    ) or pd.api.types.is_timedelta64_dtype(col):
        raise _Unusable(str(col.dtype))
    if pd.api.types.is_datetime64_any_dtype(col):
        return _expand_date(c, col, gaps)
    present = col.dropna()
    if col.dtype == object and len(present) and all(isinstance(v, Decimal) for v in present):
        col = col.astype("float64")  # Parquet decimals: numbers
    elif col.dtype == object and not all(
        isinstance(v, str | bool | int | float | np.generic) for v in present
    ):
        kinds = sorted({type(v).__name__ for v in present} - {"str", "bool", "int", "float"})
        raise _Unusable(f"values of type {', '.join(kinds)}")
    n_unique = int(present.nunique())
    if n_unique <= 1 and not n_missing:
        return _entry("dropped", "constant", f"every row holds {present.iloc[0]!r}"), {}
    if pd.api.types.is_bool_dtype(col):
        return _entry("boolean", "true → 1, false → 0", f"bool column{gaps}"), {
            c: _boolean_column(col, {True: 1, False: 0})
        }
    if pd.api.types.is_numeric_dtype(col):
        if isinstance(col.dtype, pd.api.extensions.ExtensionDtype):
            col = col.astype("float64")  # nullable Int64/Float64: NaN for sklearn and ONNX
        if _integer_id(c, col, n_unique):
            why = "all values distinct" + (
                " and consecutive (a row number)" if not _ID_NAME.search(c) else ", named as an id"
            )
            return _entry("dropped", "identifier", why), {}
        return _entry("numeric", str(col.dtype), f"numbers{gaps}"), {c: col}
    boolean = _as_boolean(present)
    if boolean is not None:
        words = "/".join(sorted({str(v) for v in present.unique()}, key=str.lower))
        return _entry("boolean", f"{words} → 1/0", f"two-valued text{gaps}"), {
            c: _boolean_column(col, boolean)
        }
    text = col.astype("str")  # mixed objects become text; missing stays missing
    present_text = text.dropna()
    if present_text.str.fullmatch(_ISO_DATE).all():
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=_has_offset(text))
        if int(parsed.isna().sum()) == n_missing:
            return _expand_date(c, parsed, gaps, text=True)
    if n_unique == len(present) >= 20 or n_unique > _MAX_CATEGORIES:
        if n_unique >= len(present) / 2:
            return _entry(
                "dropped",
                "identifier or free text",
                f"{n_unique} distinct values in {len(present)} rows",
            ), {}
        counts = present_text.value_counts()
        # Ties broken by value, so the kept set does not depend on row order.
        order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = {v for v, _ in order[:_MAX_CATEGORIES]}
        capped = text.where(text.isin(keep) | text.isna(), OTHER)
        n_other = int((capped == OTHER).sum())
        return _entry(
            "capped",
            f"{_MAX_CATEGORIES} most frequent of {n_unique} values kept, {n_other} rows → "
            f"{OTHER!r}",
            f"more than {_MAX_CATEGORIES} categories{gaps}",
        ), {c: capped}
    return _entry("category", f"{n_unique} values", f"text{gaps}"), {c: text}


def _integer_id(c: str, col: pd.Series, n_unique: int) -> bool:
    if not pd.api.types.is_integer_dtype(col) or n_unique != len(col) or len(col) < 20:
        return False
    consecutive = int(col.max()) - int(col.min()) + 1 == len(col)
    return consecutive or bool(_ID_NAME.search(c))


def _as_boolean(present: pd.Series) -> dict[Any, int] | None:
    """The 1/0 mapping of two-valued true/false-like text, else None."""
    mapping: dict[Any, int] = {}
    for v in present.unique():
        if isinstance(v, bool | np.bool_):
            mapping[v] = int(v)
        elif isinstance(v, str) and v.strip().lower() in _BOOLEAN_WORDS:
            mapping[v] = _BOOLEAN_WORDS[v.strip().lower()]
        else:
            return None
    if set(mapping.values()) != {0, 1}:
        return None  # "yes" alone (or "t"/"y" alone) is a category, not a boolean
    words = {str(v).strip().lower() for v in mapping}
    pairs = ({"true", "false"}, {"yes", "no"}, {"t", "f"}, {"y", "n"})
    if not any(words <= p for p in pairs):
        return None  # "yes"/"f" mixes vocabularies: leave it as text
    return mapping


def _boolean_column(col: pd.Series, mapping: dict[Any, int]) -> pd.Series:
    values = col.map(lambda v: mapping.get(v, np.nan) if not pd.isna(v) else np.nan)
    values = values.astype("float64")
    return values.astype("int64") if not values.isna().any() else values


def _has_offset(text: pd.Series) -> bool:
    return bool(text.dropna().str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).any())


def _expand_date(
    c: str, col: pd.Series, gaps: str, *, text: bool = False
) -> tuple[dict[str, str], dict[str, pd.Series]]:
    values = pd.to_datetime(col)
    parts: dict[str, pd.Series] = {
        f"{c}_year": values.dt.year,
        f"{c}_month": values.dt.month,
        f"{c}_day": values.dt.day,
        f"{c}_dayofweek": values.dt.day_of_week,
    }
    if bool((values.dt.hour.fillna(0) != 0).any() or (values.dt.minute.fillna(0) != 0).any()):
        parts[f"{c}_hour"] = values.dt.hour
    # float64 keeps gaps as NaN (imputed like any number); whole dates stay exact.
    produced = {k: v.astype("float64") for k, v in parts.items()}
    source = "ISO-8601 text" if text else f"{col.dtype} column"
    return _entry("date", "→ " + ", ".join(produced), f"{source}{gaps}"), produced


# -- split ------------------------------------------------------------------------------------


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
