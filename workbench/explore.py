"""Profiling for the explore stage: a column table and plotly figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .datasets import Dataset, Split, delimiter_name
from .safehtml import escape

__all__ = [
    "correlation_figure",
    "missing_figure",
    "prep_table",
    "profile_summary",
    "profile_table",
    "read_summary",
    "split_table",
    "target_figure",
]

_MAX_HEATMAP = 40  # beyond this many numeric columns, show the most target-correlated ones


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


def target_figure(ds: Dataset) -> Any:
    """Class balance (bar) or target distribution (histogram)."""
    import plotly.graph_objects as go

    if ds.task == "classification":
        counts = ds.y.value_counts().reindex(ds.labels)
        # Class labels, column names and the target name are user text: plotly reads tags.
        fig = go.Figure(go.Bar(x=[escape(k) for k in counts.index], y=counts.to_numpy()))
        fig.update_layout(
            title=f"Class balance of {escape(repr(ds.target))}",
            xaxis_title="class",
            yaxis_title="rows",
        )
    else:
        fig = go.Figure(go.Histogram(x=ds.y.to_numpy(), nbinsx=40))
        fig.update_layout(
            title=f"Distribution of {escape(repr(ds.target))}",
            xaxis_title=escape(ds.target),
            yaxis_title="rows",
        )
    return fig.update_layout(height=380, margin={"t": 50, "l": 50, "r": 20, "b": 50})


def missing_figure(ds: Dataset) -> Any:
    """Share of missing values per feature (only features that have any)."""
    import plotly.graph_objects as go

    share = ds.X.isna().mean()
    share = share[share > 0].sort_values(ascending=False)
    fig = go.Figure(go.Bar(x=[escape(c) for c in share.index], y=(100 * share).to_numpy()))
    title = "Missing values per feature (%)" if len(share) else "No missing values"
    return fig.update_layout(title=title, yaxis_title="% missing", height=340)


def correlation_figure(ds: Dataset) -> Any:
    """Pearson correlation heatmap of numeric features (and a numeric target)."""
    import plotly.graph_objects as go

    frame = ds.X[ds.numeric_features].copy()
    if pd.api.types.is_numeric_dtype(ds.y):
        frame[f"⟨{ds.target}⟩"] = ds.y.to_numpy()
    if frame.shape[1] > _MAX_HEATMAP:
        target_col = frame.columns[-1]
        strength = frame.corr()[target_col].abs().sort_values(ascending=False)
        frame = frame[list(strength.index[:_MAX_HEATMAP])]
    corr = frame.corr().round(3)
    fig = go.Figure(
        go.Heatmap(
            z=corr.to_numpy(),
            x=[escape(c) for c in corr.columns],
            y=[escape(c) for c in corr.index],
            zmin=-1,
            zmax=1,
            colorscale="RdBu",
            reversescale=True,
        )
    )
    side = int(np.clip(22 * len(corr), 420, 900))
    return fig.update_layout(title="Correlations (Pearson)", height=side, width=side + 120)
