"""Show plotly figures so they render in JupyterLab and in exported HTML.

Figures are displayed as the plotly mimetype only (small notebooks); the HTML export
(:mod:`workbench.reports`) turns them into inline HTML with plotly.js included once per page.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["PLOTLY_MIME", "show"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"


def show(fig: Any) -> None:
    """Display a plotly figure in the current notebook (no-op outside IPython)."""
    from IPython.display import display

    bundle = {
        PLOTLY_MIME: json.loads(fig.to_json()),
        "text/plain": f"<plotly figure: {fig.layout.title.text or 'untitled'}>",
    }
    display(bundle, raw=True)
