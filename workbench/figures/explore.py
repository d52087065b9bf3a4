"""Figures of the explore stage: class balance or target distribution, gaps, correlations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from workbench.datasets import Dataset
from workbench.safehtml import escape

__all__ = ["correlation_figure", "missing_figure", "target_figure"]

_MAX_HEATMAP = 40  # beyond this many numeric columns, show the most target-correlated ones


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
