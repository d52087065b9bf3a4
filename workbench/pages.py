"""Notebook pages: an executed notebook as one HTML page that opens from disk, offline.

A page per executed stage notebook lives at ``reports/<run_id>/<stage>.html``
(:func:`report_path`); comparisons, release checks, A/B tests and monitor reports get theirs
from their own services. :func:`export_notebook` writes them: plotly figures inlined with
plotly.js exactly once per page, widgets replaced by their static form, and a
Content-Security-Policy that allows only the scripts this module wrote (their hashes), so a
script smuggled in through data never runs.

Core layer: the index page that links them all is :mod:`workbench.reports` (compose layer).
nbconvert and plotly are imported inside the functions that need them.

Example::

    html = report_path(ws, run.id, "evaluate")
    export_notebook(ws.run_dir(run.id) / "evaluate.ipynb", html, reviewer=True)
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import atomic_write_text, child_path
from .exceptions import WorkbenchError
from .plots import PLOTLY_MIME
from .safehtml import content_security_policy, script_hash

if TYPE_CHECKING:
    from .config import Workspace

__all__ = ["WIDGET_VIEW_MIME", "export_notebook", "report_path"]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"

_TEMPLATES = Path(__file__).parent / "templates"
_NBCONVERT_TEMPLATES = _TEMPLATES / "nbconvert"
_NBCONVERT_TEMPLATE_NAME = "workbench"
_WIDGET_PLACEHOLDER = "[interactive widget: open the notebook in JupyterLab to use it]"
#: Where the preprocessor leaves the page's policy for the template (``resources[...]``).
_CSP_RESOURCE = "workbench_csp"  # read by templates/nbconvert/workbench/index.html.j2
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


# -- paths --------------------------------------------------------------------------------------


def report_path(workspace: Workspace, run_id: str, stage: str) -> Path:
    """The HTML report of one stage of one run: ``<workspace>/reports/<run_id>/<stage>.html``.

    Args:
        workspace: The workspace holding the reports folder.
        run_id: The run id.
        stage: The stage name, e.g. ``"evaluate"``.

    Returns:
        The path (not created).

    Raises:
        ConfigError: ``run_id`` or ``stage`` is empty or would leave the reports folder.

    Example::

        >>> report_path(ws, "20261129-ab12", "evaluate")  # doctest: +SKIP
        PosixPath('.../workspace/reports/20261129-ab12/evaluate.html')
    """
    # Both come from the store, but a path separator here would write outside reports/.
    folder = child_path(workspace.reports_dir, run_id, what="run id")
    return child_path(folder, stage, what="stage name", suffix=".html")


# -- notebook export ----------------------------------------------------------------------------


def export_notebook(
    notebook: Path, html: Path, *, reviewer: bool = False, title: str | None = None
) -> Path:
    """Export an executed (possibly partial) notebook to one self-contained HTML page.

    Plotly figures (displayed as the plotly mimetype by :func:`workbench.plots.show`) become
    inline HTML with plotly.js included once, in the first figure; the page loads nothing from
    a network, so it renders from ``file://`` offline. A Content-Security-Policy lets the page
    run only the scripts written here (plotly.js and each figure's call, by hash), so markup
    that slipped into an output with user data still cannot run. Widget views, which need a
    live kernel, fall back to their static representation. Cells that raised show their
    traceback.

    Args:
        notebook: The executed ``.ipynb``.
        html: Where to write the page; parent folders are created. Written atomically, so a
            reader never sees half a page.
        reviewer: Hide code cells and the ``In[ ]``/``Out[ ]`` prompts, keep outputs and text.
        title: The page title; defaults to the notebook's file name.

    Returns:
        ``html``.

    Raises:
        WorkbenchError: The notebook is missing or is not a readable notebook.

    Example::

        export_notebook(Path("runs/abc/evaluate.ipynb"), Path("reports/abc/evaluate.html"))
    """
    notebook, html = Path(notebook), Path(html)
    nb = _read_notebook(notebook)
    if title:
        nb.metadata["title"] = title  # the lab template prefers this over resources' name
    resources = {"metadata": {"name": title or notebook.stem, "path": str(notebook.parent)}}
    body, _ = _html_exporter(reviewer=reviewer).from_notebook_node(nb, resources=resources)
    atomic_write_text(html, body)
    return html


def _read_notebook(path: Path) -> Any:
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError as e:
        raise WorkbenchError(
            f"no notebook at {path}; pass the executed .ipynb of a stage (runs/<run_id>/...)"
        ) from e
    except (OSError, ValueError) as e:  # nbformat's NotJSONError is a ValueError
        raise WorkbenchError(f"cannot read {path} as a Jupyter notebook: {e}") from e


def _html_exporter(*, reviewer: bool) -> Any:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=_NBCONVERT_TEMPLATE_NAME,
        extra_template_basedirs=[str(_NBCONVERT_TEMPLATES)],
        exclude_input=reviewer,
        exclude_input_prompt=reviewer,
        exclude_output_prompt=reviewer,
        # Markdown images next to the notebook would break once the page is moved.
        embed_images=True,
    )
    exporter.register_preprocessor(_offline_outputs_preprocessor(), enabled=True)
    return exporter


@functools.cache
def _offline_outputs_preprocessor() -> type:
    """The preprocessor class, built on first use so nbconvert is not imported with us."""
    from nbconvert.preprocessors import Preprocessor

    class OfflineOutputsPreprocessor(Preprocessor):  # type: ignore[misc]
        """Rewrite outputs that need a kernel or a CDN into static HTML or text."""

        def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            # One exporter run is one page: plotly.js goes into its first figure only.
            self.plotlyjs_included = False
            # The hashes of the scripts this preprocessor writes, and only those: the page's
            # policy runs them and nothing else (not a script that came in with user data).
            self.script_hashes: list[str] = []
            # Widget state only feeds the CDN widget manager, which offline pages cannot load.
            nb.metadata.pop("widgets", None)
            nb, resources = super().preprocess(nb, resources)
            resources[_CSP_RESOURCE] = content_security_policy(self.script_hashes)
            return nb, resources

        def preprocess_cell(
            self, cell: Any, resources: dict[str, Any], index: int
        ) -> tuple[Any, dict[str, Any]]:
            for output in cell.get("outputs", ()):
                data = output.get("data")
                if not data:
                    continue
                if PLOTLY_MIME in data:
                    figure = data.pop(PLOTLY_MIME)
                    html, scripts = _plotly_html(figure, with_js=not self.plotlyjs_included)
                    data["text/html"] = html
                    self.script_hashes.extend(script_hash(js) for js in scripts)
                    self.plotlyjs_included = True
                if WIDGET_VIEW_MIME in data:
                    _drop_widget_view(data)
            return cell, resources

    return OfflineOutputsPreprocessor


def _plotly_html(figure: Any, *, with_js: bool) -> tuple[str, list[str]]:
    """A figure as an HTML fragment, and the text of each ``<script>`` in it.

    ``with_js`` inlines plotly.js (≈ 4 MB) before the figure. plotly writes the figure's data as
    JSON with ``<``, ``>`` and ``/`` escaped, so no label can close the script early: the
    fragment holds exactly plotly's own scripts, which is checked before they are trusted.
    """
    import plotly.io as pio

    if isinstance(figure, str):  # nbformat stores +json mimetypes parsed; be lenient anyway
        figure = json.loads(figure)
    # validate=False: the figure was valid when the notebook made it; a newer plotly.py here
    # must not refuse an older figure, plotly.js still draws it.
    html = pio.to_html(
        dict(figure),
        full_html=False,
        include_plotlyjs=with_js,
        include_mathjax=False,
        validate=False,
    )
    scripts = _SCRIPT.findall(html)
    # plotly's window config and plotly.js, then the figure's own call.
    expected = 3 if with_js else 1
    if len(scripts) != expected or html.lower().count("<script") != expected:
        raise WorkbenchError(
            f"plotly wrote {len(scripts)} scripts for one figure where {expected} were expected; "
            "this plotly version lays out figures differently: update workbench.reports"
        )
    return html, scripts


def _drop_widget_view(data: dict[str, Any]) -> None:
    # A widget view needs a kernel or the CDN widget manager; keep its static fallback instead.
    del data[WIDGET_VIEW_MIME]
    if not data:
        data["text/plain"] = _WIDGET_PLACEHOLDER
