"""Profiling for the explore stage: tables of the columns, the split and dataset-level numbers.

The figures of the stage are in :mod:`workbench.figures.explore`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .datasets import Dataset, Split
from .tableread import delimiter_name

__all__ = ["prep_table", "profile_summary", "profile_table", "read_summary", "split_table"]


def read_summary(ds: Dataset) -> str:
    """One line: how the data was read (format; delimiter and encoding, given or sniffed)."""
    read = ds.read
    if read.get("format") == "text":
        sep = delimiter_name(read["sep"])
        text = (
            f"text table, {sep}-separated ({read['sep_from']}), "
            f"encoding {read['encoding']} ({read['encoding_from']})"
        )
        if read.get("decimal_comma"):
            text += f"; decimal commas read as numbers in {', '.join(read['decimal_comma'])}"
        return text
    if read.get("format") == "parquet":
        return "Parquet file (pyarrow)"
    return f"builtin dataset ({read.get('loader', ds.source)})"


def prep_table(ds: Dataset) -> pd.DataFrame:
    """One row per source column: its treatment, what was done and why (``Dataset.prep``).

    Treatments are ``numeric``, ``category``, ``boolean``, ``date`` (expanded into numeric
    parts), ``capped`` (rare categories → ``(other)``) and ``dropped`` (constant or
    identifier-like); see :mod:`workbench.datasets`.
    """
    frame = pd.DataFrame(ds.prep, columns=["column", "treatment", "detail", "why"])
    return frame.set_index("column")


def profile_table(ds: Dataset) -> pd.DataFrame:
    """One row per feature: dtype, kind, missing count/share, distinct values, numeric summary."""
    rows = []
    numeric = set(ds.numeric_features)
    for c in ds.X.columns:
        col = ds.X[c]
        row: dict[str, Any] = {
            "feature": c,
            "dtype": str(col.dtype),
            "kind": "numeric" if c in numeric else "categorical",
            "missing": int(col.isna().sum()),
            "missing_pct": round(100 * float(col.isna().mean()), 2),
            "distinct": int(col.nunique(dropna=True)),
        }
        if c in numeric:
            row.update(
                mean=float(col.mean()),
                std=float(col.std()),
                min=float(col.min()),
                max=float(col.max()),
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index("feature")


def profile_summary(ds: Dataset) -> dict[str, float]:
    """Dataset-level numbers worth recording as metrics of the explore stage."""
    out = {
        "n_rows": float(ds.shape[0]),
        "n_features": float(ds.shape[1]),
        "n_categorical": float(len(ds.categorical_features)),
        "missing_cells_pct": 100.0 * float(ds.X.isna().to_numpy().mean()),
    }
    if ds.task == "classification":
        counts = ds.y.value_counts()
        out["n_classes"] = float(len(counts))
        out["minority_class_pct"] = 100.0 * float(counts.min() / counts.sum())
    return out


def split_table(ds: Dataset, split: Split) -> pd.DataFrame:
    """Rows per split part, with the class balance or target mean in each."""
    rows = []
    for part, idx in (("train", split.train), ("valid", split.valid), ("test", split.test)):
        y = ds.y.iloc[idx]
        row: dict[str, Any] = {"part": part, "rows": len(idx)}
        if ds.task == "classification":
            shares = y.value_counts(normalize=True)
            row.update(
                {f"class {k} %": round(100 * float(shares.get(k, 0.0)), 1) for k in ds.labels}
            )
        else:
            row.update(target_mean=float(y.mean()), target_std=float(y.std()))
        rows.append(row)
    return pd.DataFrame(rows).set_index("part")
