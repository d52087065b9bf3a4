"""Notebook pages: an executed notebook as one HTML page that opens from disk, offline.

A page per executed stage notebook lives at ``reports/<run_id>/<stage>.html``
(:func:`report_path`); comparisons, release checks, A/B tests and monitor reports get theirs
from their own services. :func:`export_notebook` writes them: plotly figures drawn offline,
widgets replaced by their static form, and a Content-Security-Policy that allows only the
scripts this module wrote (their hashes), so a script smuggled in through data never runs.

Two layouts:

* **shared** (the default inside a workspace, :func:`export_page`): plotly.js and the
  notebook stylesheet are written once per reports folder, under ``reports/_static/``
  (:data:`STATIC_FOLDER`), and every page refers to them by a relative path, so a page weighs
  its own content only (≈ 50–250 KB instead of ≈ 5 MB) and the folder still opens from
  ``file://`` with no network. plotly.js is loaded by one small inline loader whose hash the
  policy lists, with ``'strict-dynamic'``: Chromium refuses ``integrity`` checks on ``file://``
  (subresource integrity needs CORS, which local files lack) and ``'self'`` there allows any
  local script, whereas ``'strict-dynamic'`` trusts only what the hashed loader inserts;
* **standalone** (``standalone=True``, ``workbench report --standalone``): one self-contained
  file, plotly.js and the stylesheet inlined, for e-mail.

Reviewer pages (``reviewer=True``, or the workspace's default: :func:`report_settings`) hide
code cells and prompts, drop stderr streams, and show paths inside the workspace relative to
it.

Core layer: the index page that links them all is :mod:`workbench.reports` (compose layer).
nbconvert and plotly are imported inside the functions that need them.

Example::

    html = report_path(ws, run.id, "evaluate")
    export_page(ws, ws.run_dir(run.id) / "03_evaluate.ipynb", html, title="evaluate")
"""

from __future__ import annotations

import functools
import json
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._files import atomic_write_bytes, atomic_write_text, child_path, sha256_file
from .exceptions import ConfigError, WorkbenchError
from .plots import PLOTLY_MIME
from .safehtml import content_security_policy, escape, script_hash

if TYPE_CHECKING:
    from .config import Workspace

__all__ = [
    "SETTINGS_FILE",
    "STATIC_FOLDER",
    "WIDGET_VIEW_MIME",
    "PageHeader",
    "PageOptions",
    "export_notebook",
    "export_page",
    "header_html",
    "page_options",
    "relative_href",
    "relative_to_workspace",
    "report_path",
    "report_settings",
    "save_report_settings",
]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
#: The folder of a reports folder holding what every page shares (plotly.js, the stylesheet).
STATIC_FOLDER = "_static"
#: The workspace's report settings, beside its marker file (:func:`report_settings`).
SETTINGS_FILE = "reports.toml"

_TEMPLATES = Path(__file__).parent / "templates"
_NBCONVERT_TEMPLATES = _TEMPLATES / "nbconvert"
_NBCONVERT_TEMPLATE_NAME = "workbench"
_WIDGET_PLACEHOLDER = "[interactive widget: open the notebook in JupyterLab to use it]"
#: Where the preprocessor leaves the page's policy and loader for the template
#: (``resources[...]``), read by templates/nbconvert/workbench/index.html.j2.
_CSP_RESOURCE = "workbench_csp"
_LOADER_RESOURCE = "workbench_loader"
_HEADER_RESOURCE = "workbench_header"
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_STYLE = re.compile(r"^\s*<style[^>]*>\n?(.*)</style>\s*$", re.DOTALL | re.IGNORECASE)
_SETTINGS = ("reviewer", "standalone")
#: An absolute POSIX path in text (not a URL's path, not a date or a unit like km/h).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/(?:[^\s/'\"<>`]+/)+([^\s/'\"<>`]+)")
#: The function each figure's call is handed to; the loader draws them once plotly.js is in.
_PLOT_HOOK = "workbenchPlot"  # defined by _LOADER


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


def relative_href(target: str | Path, base: str | Path) -> str:
    """``target`` as a URL relative to the folder ``base`` (quoted, forward slashes).

    Every link between pages is relative, so a reports folder still works once moved, zipped
    or opened from ``file://``.

    Example::

        >>> relative_href("/ws/reports/_static/a.js", "/ws/reports/run-1")
        '../_static/a.js'
    """
    rel = os.path.relpath(Path(target).resolve(), Path(base).resolve())
    return quote(Path(rel).as_posix())


# -- the header card ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageHeader:
    """The card at the top of a page: what it is, on which data, with which model, by whom.

    A reviewer who opens one page alone reads there what they are looking at and where the
    related pages are; :mod:`workbench.headers` builds one per page kind from the store.

    Attributes:
        kind: The page kind, e.g. ``"Run · evaluate"``, ``"Comparison"``.
        title: One line saying what the page shows.
        facts: ``(label, value)`` rows, already plain text (escaped when written).
        links: ``(label, page)`` pairs to related pages, each a link relative to the page.
            Pages that do not exist (yet) are left out, so every link resolves.
        summary: A sentence or two: the decision and why.
        index: ``reports/index.html``, linked first (always: it is rebuilt after the pages).
    """

    kind: str
    title: str
    facts: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, Path], ...] = ()
    summary: str = ""
    index: Path | None = None


_HEADER_CSS = """<style>
.wb-header{font-family:system-ui,sans-serif;border:1px solid #c9d3df;border-radius:6px;
background:#f5f8fb;margin:12px auto 18px;padding:12px 16px;max-width:1100px;color:#1b2733}
.wb-header .wb-kind{text-transform:uppercase;font-size:11px;letter-spacing:.06em;color:#5a6b7d}
.wb-header h1{font-size:20px;margin:2px 0 6px}
.wb-header p{margin:4px 0 8px}
.wb-header dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0;
font-size:13px}
.wb-header dt{color:#5a6b7d}.wb-header dd{margin:0;overflow-wrap:anywhere}
.wb-header nav{font-size:13px;margin-top:6px}.wb-header nav a{margin-right:12px}
</style>"""


def header_html(header: PageHeader, page: Path) -> str:
    """The header card as an HTML fragment (its own ``<style>``), links relative to ``page``.

    Every text goes through :func:`workbench.safehtml.escape`: names come from user data.
    """
    facts = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>"
        for label, value in header.facts
        if value not in ("", None)
    )
    shown = [("↑ all reports (index)", header.index)] if header.index is not None else []
    shown += [
        (label, target)
        for label, target in header.links
        if Path(target).resolve() != Path(page).resolve() and Path(target).is_file()
    ]
    links = "".join(
        f'<a href="{escape(relative_href(target, page.parent))}">{escape(label)}</a>'
        for label, target in shown
    )
    summary = f"<p>{escape(header.summary)}</p>" if header.summary else ""
    return (
        f'{_HEADER_CSS}<header class="wb-header" id="wb-header">'
        f'<div class="wb-kind">{escape(header.kind)}</div><h1>{escape(header.title)}</h1>'
        f"{summary}<dl>{facts}</dl>" + (f"<nav>{links}</nav>" if links else "") + "</header>"
    )


def relative_to_workspace(path: str | Path | None, workspace: Workspace) -> str:
    """``path`` as shown on a page: relative to the workspace (or its artifact root) when
    inside it, else ``…/<name>`` (no absolute path on a page); ``""`` for ``None``."""
    if not path:
        return ""
    p = Path(path)
    for root in (workspace.root, workspace.artifact_root):
        try:
            return p.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            continue
    # Outside the workspace (or recorded by a workspace since moved): the name says enough.
    return f"…/{p.name}" if p.is_absolute() else str(path)


# -- the workspace's choices ---------------------------------------------------------------------


@dataclass(frozen=True)
class PageOptions:
    """How pages are written.

    Attributes:
        reviewer: Hide code cells and prompts, drop stderr, show workspace paths relative.
        standalone: One self-contained file per page (plotly.js and the stylesheet inlined);
            otherwise both are shared from ``<reports>/_static/``.
        reports_dir: The reports folder holding ``_static/`` (``None``: standalone pages).
        workspace_root: Paths under it are shown relative to it on reviewer pages.
        artifact_root: Likewise (``WORKBENCH_ARTIFACTS``, when set apart).
    """

    reviewer: bool = False
    standalone: bool = False
    reports_dir: Path | None = None
    workspace_root: Path | None = None
    artifact_root: Path | None = None


def report_settings(workspace: Workspace) -> dict[str, bool]:
    """The workspace's defaults for its pages, from ``<workspace>/reports.toml``.

    The file holds ``reviewer = true|false`` and ``standalone = true|false`` (both default
    false); ``workbench report --reviewer --save`` writes it. Every page the workspace makes
    (runs, comparisons, releases, A/B tests, monitor reports, ``workbench report``) follows it
    unless told otherwise.

    Raises:
        ConfigError: The file is not TOML, or holds another key or a non-boolean value.
    """
    path = workspace.root / SETTINGS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {key: False for key in _SETTINGS}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(
            f"cannot read the report settings {path}: {e}; it holds `reviewer = true` and "
            "`standalone = false` lines (or delete it for the defaults)"
        ) from e
    unknown = sorted(set(data) - set(_SETTINGS))
    wrong = sorted(k for k in _SETTINGS if k in data and not isinstance(data[k], bool))
    if unknown or wrong:
        raise ConfigError(
            f"report settings {path}: "
            + (f"unknown key(s) {', '.join(unknown)}" if unknown else "")
            + ("; " if unknown and wrong else "")
            + (f"{', '.join(wrong)} must be true or false" if wrong else "")
            + f"; the keys are {', '.join(_SETTINGS)} (true or false)"
        )
    return {key: bool(data.get(key, False)) for key in _SETTINGS}


def save_report_settings(
    workspace: Workspace, *, reviewer: bool | None = None, standalone: bool | None = None
) -> Path:
    """Record the workspace's page defaults (a ``None`` argument keeps what is recorded).

    Returns:
        The settings file.
    """
    current = report_settings(workspace)
    chosen = {"reviewer": reviewer, "standalone": standalone}
    current.update({k: v for k, v in chosen.items() if v is not None})
    lines = [
        "# How this workspace writes its report pages (`workbench report --help`).",
        "# reviewer: no code cells, no stderr, workspace paths shown relative to it.",
        "# standalone: one self-contained file per page instead of the shared reports/_static/.",
        *(f"{key} = {'true' if current[key] else 'false'}" for key in _SETTINGS),
    ]
    return atomic_write_text(workspace.root / SETTINGS_FILE, "\n".join(lines) + "\n")


def page_options(
    workspace: Workspace, *, reviewer: bool | None = None, standalone: bool | None = None
) -> PageOptions:
    """The options of a page of ``workspace``: each ``None`` takes the workspace's default."""
    settings = report_settings(workspace)
    standalone = settings["standalone"] if standalone is None else standalone
    return PageOptions(
        reviewer=settings["reviewer"] if reviewer is None else reviewer,
        standalone=standalone,
        reports_dir=None if standalone else workspace.reports_dir,
        workspace_root=workspace.root,
        artifact_root=workspace.artifact_root,
    )


# -- notebook export ----------------------------------------------------------------------------


def export_page(
    workspace: Workspace,
    notebook: Path,
    html: Path,
    *,
    title: str | None = None,
    reviewer: bool | None = None,
    standalone: bool | None = None,
    header: PageHeader | None = None,
) -> Path:
    """:func:`export_notebook` the way ``workspace`` writes its pages (:func:`page_options`).

    Example::

        export_page(ws, run_dir / "03_evaluate.ipynb", report_path(ws, run_id, "evaluate"))
    """
    options = page_options(workspace, reviewer=reviewer, standalone=standalone)
    return export_notebook(notebook, html, title=title, options=options, header=header)


def export_notebook(
    notebook: Path,
    html: Path,
    *,
    reviewer: bool = False,
    title: str | None = None,
    options: PageOptions | None = None,
    header: PageHeader | None = None,
) -> Path:
    """Export an executed (possibly partial) notebook to one HTML page that opens offline.

    Plotly figures (displayed as the plotly mimetype by :func:`workbench.plots.show`) become
    HTML drawn by plotly.js: shared from ``<reports>/_static/`` when ``options.reports_dir``
    is set, else inlined once, in the first figure (a standalone page). The page loads nothing
    from a network, so it renders from ``file://`` offline. A Content-Security-Policy lets the
    page run only the scripts written here (by hash), so markup that slipped into an output
    with user data still cannot run. Widget views, which need a live kernel, fall back to
    their static representation. Cells that raised show their traceback.

    Args:
        notebook: The executed ``.ipynb``.
        html: Where to write the page; parent folders are created. Written atomically, so a
            reader never sees half a page.
        reviewer: Hide code cells and the ``In[ ]``/``Out[ ]`` prompts, keep outputs and text
            (``options.reviewer`` wins when ``options`` is given).
        title: The page title; defaults to the notebook's file name.
        options: How to write it (:func:`page_options`); default a standalone page.
        header: The card on top of the page (:class:`PageHeader`); ``None``: none.

    Returns:
        ``html``.

    Raises:
        WorkbenchError: The notebook is missing or is not a readable notebook.

    Example::

        export_notebook(Path("runs/abc/evaluate.ipynb"), Path("reports/abc/evaluate.html"))
    """
    notebook, html = Path(notebook), Path(html)
    options = options or PageOptions(reviewer=reviewer, standalone=True)
    nb = _read_notebook(notebook)
    if title:
        nb.metadata["title"] = title  # the lab template prefers this over resources' name
    resources = {
        "metadata": {"name": title or notebook.stem, "path": str(notebook.parent)},
        "workbench_page": html,
        _HEADER_RESOURCE: header_html(header, html) if header is not None else "",
    }
    exporter = _html_exporter(options)
    body, _ = exporter.from_notebook_node(nb, resources=resources)
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


def _html_exporter(options: PageOptions) -> Any:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=_NBCONVERT_TEMPLATE_NAME,
        extra_template_basedirs=[str(_NBCONVERT_TEMPLATES)],
        exclude_input=options.reviewer,
        exclude_input_prompt=options.reviewer,
        exclude_output_prompt=options.reviewer,
        # Markdown images next to the notebook would break once the page is moved.
        embed_images=True,
    )
    preprocessor = _offline_outputs_preprocessor()(options=options)
    exporter.register_preprocessor(preprocessor, enabled=True)
    return exporter


@functools.cache
def _offline_outputs_preprocessor() -> type:
    """The preprocessor class, built on first use so nbconvert is not imported with us."""
    from nbconvert.preprocessors import Preprocessor

    class OfflineOutputsPreprocessor(Preprocessor):  # type: ignore[misc]
        """Rewrite outputs that need a kernel or a CDN into static HTML or text."""

        def __init__(self, *, options: PageOptions, **kw: Any) -> None:
            super().__init__(**kw)
            self.options = options

        def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
            page = Path(resources["workbench_page"])
            shared = self.options.reports_dir is not None
            # Standalone: plotly.js goes into the page's first figure only.
            self.plotlyjs_included = False
            self.figures = 0
            # The hashes of the scripts this preprocessor writes, and only those: the page's
            # policy runs them and nothing else (not a script that came in with user data).
            self.script_hashes: list[str] = []
            # Widget state only feeds the CDN widget manager, which offline pages cannot load.
            nb.metadata.pop("widgets", None)
            self.roots = _workspace_roots(self.options, nb)
            nb, resources = super().preprocess(nb, resources)
            if shared:
                assert self.options.reports_dir is not None
                static = self.options.reports_dir / STATIC_FOLDER
                resources["include_css"] = _shared_css(resources["include_css"], static, page)
                if self.figures:
                    href = relative_href(_plotly_asset(static), page.parent)
                    loader = _loader_js(href)
                    resources[_LOADER_RESOURCE] = loader
                    self.script_hashes.insert(0, script_hash(loader))
            resources[_CSP_RESOURCE] = content_security_policy(
                self.script_hashes, loader=shared and self.figures > 0, style_files=shared
            )
            return nb, resources

        def preprocess_cell(
            self, cell: Any, resources: dict[str, Any], index: int
        ) -> tuple[Any, dict[str, Any]]:
            if self.options.reviewer:
                _for_reviewer(cell, self.roots)
            for output in cell.get("outputs", ()):
                data = output.get("data")
                if not data:
                    continue
                if PLOTLY_MIME in data:
                    figure = data.pop(PLOTLY_MIME)
                    if self.options.reports_dir is not None:
                        html, scripts = _plotly_html(figure, with_js=False, deferred=True)
                    else:
                        html, scripts = _plotly_html(figure, with_js=not self.plotlyjs_included)
                        self.plotlyjs_included = True
                    data["text/html"] = html
                    self.script_hashes.extend(script_hash(js) for js in scripts)
                    self.figures += 1
                if WIDGET_VIEW_MIME in data:
                    _drop_widget_view(data)
            return cell, resources

    return OfflineOutputsPreprocessor


def _workspace_roots(options: PageOptions, nb: Any) -> list[str]:
    """The absolute folders a reviewer page shows relative: the workspace and artifact root,
    and the workspace the notebook was executed in (papermill recorded it; a workspace copied
    or moved since then still has the old folder in its outputs). Longest first, so the
    artifact root inside the workspace is not cut halfway."""
    given = [Path(r) for r in (options.workspace_root, options.artifact_root) if r is not None]
    executed_in = nb.metadata.get("papermill", {}).get("parameters", {}).get("workspace")
    if isinstance(executed_in, str) and os.path.isabs(executed_in):
        given.append(Path(executed_in))
    return sorted({str(r) for r in given} | {str(r.resolve()) for r in given}, key=len)[::-1]


def _for_reviewer(cell: Any, roots: list[str]) -> None:
    """A reviewer's cell: no stderr stream (warnings, progress bars), and every path inside
    the workspace written relative to it (a reviewer's machine has another layout)."""
    if "outputs" in cell:
        cell.outputs = [
            o
            for o in cell.outputs
            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
        ]

    def relative(text: str) -> str:
        for root in roots:
            text = text.replace(root + "/", "").replace(root, ".")
        # Any other absolute path (a temporary folder, a file outside the workspace): its name.
        return _ABSOLUTE_PATH.sub(lambda m: "…/" + m.group(1), text)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return relative(value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    if cell.get("cell_type") == "markdown":
        cell.source = relative(cell.source)
    for output in cell.get("outputs", ()):
        if "text" in output:
            output["text"] = walk(output["text"])
        for mime, value in output.get("data", {}).items():
            if mime.startswith("text/"):
                output["data"][mime] = walk(value)


# -- what pages share -----------------------------------------------------------------------------


def _write_shared(path: Path, data: bytes) -> Path:
    """Write a shared file unless it is there already with this content (pages of parallel
    runs share it: written atomically, so no page ever loads half a file)."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return path
    return atomic_write_bytes(path, data)


def _plotly_asset(static: Path) -> Path:
    """``<static>/plotly-<version>.min.js``, written once per plotly.js version."""
    from plotly.offline import get_plotlyjs_version

    path = static / f"plotly-{get_plotlyjs_version()}.min.js"
    if path.is_file() and path.stat().st_size == len(_plotlyjs_bytes()):
        return path  # a version's file never changes; skip comparing 5 MB per page
    return _write_shared(path, _plotlyjs_bytes())


@functools.cache
def _plotlyjs_bytes() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


def _shared_css(include_css: Callable[[str], Any], static: Path, page: Path) -> Callable[..., Any]:
    """The template's ``include_css``, writing each stylesheet once under ``static`` (named by
    its content's hash) and linking it, instead of inlining ≈ 260 KB into every page."""
    import hashlib

    import markupsafe

    def include(name: str) -> Any:
        inline = str(include_css(name))
        match = _STYLE.match(inline)
        if match is None:  # not the <style> block nbconvert writes: keep it inline
            return include_css(name)
        css = match.group(1).encode("utf-8")
        stem = Path(name).stem
        path = static / f"{stem}-{hashlib.sha256(css).hexdigest()[:12]}.css"
        if not path.is_file() or sha256_file(path) != hashlib.sha256(css).hexdigest():
            _write_shared(path, css)
        href = relative_href(path, page.parent)
        return markupsafe.Markup(f'<link rel="stylesheet" href="{href}">')

    return include


_LOADER = """window.PlotlyConfig = {MathJaxConfig: 'local'};
(function () {
  var queue = [], ready = false;
  window.workbenchPlot = function (draw) { if (ready) draw(); else queue.push(draw); };
  var s = document.createElement('script');
  s.src = HREF;
  s.onload = function () {
    ready = true;
    queue.splice(0).forEach(function (draw) { draw(); });
  };
  s.onerror = function () {
    var mark = function () {
      document.querySelectorAll('div.plotly-graph-div').forEach(function (d) {
        d.textContent = MISSING;
      });
    };
    // The error can come before the body is parsed: mark the figures once they all exist.
    if (document.readyState === 'loading') {
      document.addEventListener('DOMContentLoaded', mark);
    } else {
      mark();
    }
  };
  document.head.appendChild(s);
})();"""


def _loader_js(href: str) -> str:
    """The page's one script that loads plotly.js from the shared folder, then draws the
    figures handed to ``window.workbenchPlot``; if the file is missing (a page copied out of
    its folder), each figure says so instead of staying blank."""
    missing = (
        f"figure not drawn: {href} was not found next to this page; open the page inside its "
        "reports folder, or rebuild it with `workbench report --standalone` to mail it alone"
    )
    # json.dumps makes both JavaScript string literals; neither can hold "</script".
    return _LOADER.replace("HREF", json.dumps(href)).replace("MISSING", json.dumps(missing))


def _plotly_html(figure: Any, *, with_js: bool, deferred: bool = False) -> tuple[str, list[str]]:
    """A figure as an HTML fragment, and the text of each ``<script>`` in it.

    ``with_js`` inlines plotly.js (≈ 4.8 MB) before the figure. ``deferred`` hands the
    figure's call to the page's loader (:func:`_loader_js`), which runs it once the shared
    plotly.js has loaded. plotly writes the figure's data as JSON with ``<``, ``>`` and ``/``
    escaped, so no label can close the script early: the fragment holds exactly plotly's own
    scripts, which is checked before they are trusted.
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
            "this plotly version lays out figures differently: update workbench.pages"
        )
    if deferred:
        call = scripts[0]
        wrapped = f"window.{_PLOT_HOOK}(function () {{{call}}});"
        html = html.replace(call, wrapped, 1)
        scripts = [wrapped]
    return html, scripts


def _drop_widget_view(data: dict[str, Any]) -> None:
    # A widget view needs a kernel or the CDN widget manager; keep its static fallback instead.
    del data[WIDGET_VIEW_MIME]
    if not data:
        data["text/plain"] = _WIDGET_PLACEHOLDER
