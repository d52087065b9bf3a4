"""Interactive explorers for JupyterLab (ipywidgets): a threshold slider, a run picker.

Widgets need a live kernel; a batch run or an exported page shows their static text, so the
notebooks also show the matching static table (:func:`workbench.evaluate.threshold_table`,
the stored comparison's tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy.typing as npt

from workbench.evaluate import threshold_table
from workbench.exceptions import ConfigError, DatasetError, RunNotFound
from workbench.safehtml import escape

if TYPE_CHECKING:
    import ipywidgets

    from workbench.config import Workspace
    from workbench.store import Store

__all__ = ["comparison_picker", "threshold_explorer"]


def _threshold_html(y_true: Any, proba_pos: Any, pos_label: Any, t: float) -> str:
    row = threshold_table(y_true, proba_pos, thresholds=[t], pos_label=pos_label, counts=True)
    r = row.iloc[0]
    tp, fp, fn, tn = (int(r[k]) for k in ("tp", "fp", "fn", "tn"))
    cell = 'style="padding:2px 10px;text-align:right"'
    return (
        f"<table><tr><th></th><th {cell}>predicted +</th><th {cell}>predicted −</th></tr>"
        f"<tr><th>actual +</th><td {cell}>TP {tp}</td><td {cell}>FN {fn}</td></tr>"
        f"<tr><th>actual −</th><td {cell}>FP {fp}</td><td {cell}>TN {tn}</td></tr></table>"
        f"<p>threshold {escape(f'{t:.3f}')} · precision {r['precision']:.3f} · "
        f"recall {r['recall']:.3f} · F1 {r['f1']:.3f} · accuracy {r['accuracy']:.3f}</p>"
    )


def threshold_explorer(
    y_true: npt.ArrayLike,
    proba_pos: npt.ArrayLike,
    *,
    pos_label: Any = None,
    value: float = 0.5,
    step: float = 0.01,
) -> ipywidgets.VBox:
    """An interactive threshold picker for JupyterLab: a slider over confusion counts and metrics.

    The numbers are :func:`workbench.evaluate.threshold_table`'s at the slider's threshold. The
    widget needs a live kernel; batch runs and HTML reports show that table instead.

    Args:
        y_true: True labels of a binary task.
        proba_pos: Probability of the positive class, shape ``(n,)``.
        pos_label: The positive class (see :func:`~workbench.evaluate.threshold_table`).
        value: Initial threshold.
        step: Slider step.

    Returns:
        ``VBox([FloatSlider, HTML])``; display it in a notebook cell.

    Raises:
        DatasetError: More than two classes, or scores not of the labels' shape.
    """
    import ipywidgets as widgets
    import numpy as np

    y, proba = np.asarray(y_true), np.asarray(proba_pos, dtype=float)
    # Checked here, before any widget exists: a bad input fails in the cell that made it.
    out = widgets.HTML(value=_threshold_html(y, proba, pos_label, value))
    slider = widgets.FloatSlider(
        value=value, min=0.0, max=1.0, step=step, description="threshold",
        readout_format=".2f", continuous_update=True,
    )  # fmt: skip

    def _update(change: dict[str, Any]) -> None:
        out.value = _threshold_html(y, proba, pos_label, float(change["new"]))

    slider.observe(_update, names="value")
    return widgets.VBox([slider, out])


def comparison_picker(
    ws: Workspace,
    store: Store,
    *,
    fingerprint: str | None = None,
    gates: str = "",
    n_boot: int = 2000,
    seed: int = 0,
) -> ipywidgets.VBox:
    """An interactive run picker for JupyterLab: choose two runs, compare, see the result.

    Each click records a comparison in the store like ``workbench compare`` does. The widget
    needs a live kernel; batch reports show the static tables instead.

    Args:
        ws: The workspace.
        store: Its store.
        fingerprint: Offer only runs of this dataset (default: every succeeded run).
        gates: Gates file for the comparisons (default ``templates/gates.yaml``).
        n_boot: Paired bootstrap resamples.
        seed: Seed of the resampling.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, display

    from workbench.compare import comparable_runs, compare_runs
    from workbench.figures.compare import delta_ci_figure
    from workbench.plots import show

    runs = comparable_runs(store, fingerprint)
    options = [(f"{r.id} · {r.model_family} · {r.dataset_name}", r.id) for r in runs]
    cand = widgets.Dropdown(options=options, description="candidate", layout={"width": "60%"})
    base = widgets.Dropdown(options=options, description="baseline", layout={"width": "60%"})
    if len(options) > 1:
        base.value = options[1][1]
    button = widgets.Button(description="Compare", button_style="primary")
    out = widgets.Output()

    def _on_click(_: Any) -> None:
        out.clear_output()
        with out:
            try:
                c = compare_runs(ws, store, cand.value, base.value, gates=gates or None,
                                 n_boot=n_boot, seed=seed)  # fmt: skip
            except (DatasetError, ConfigError, RunNotFound) as e:
                print(f"cannot compare: {e}")
                return
            display(Markdown(c.summary_markdown()))
            display(c.deltas_frame())
            show(delta_ci_figure(c))
            display(c.gates_frame())

    button.on_click(_on_click)
    return widgets.VBox([cand, base, button, out])
