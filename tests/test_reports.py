"""HTML reports: offline notebook export (plotly inlined once) and the runs index."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pandas as pd
import plotly.graph_objects as go
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.config import Workspace
from workbench.exceptions import ConfigError, WorkbenchError
from workbench.pages import (
    STATIC_FOLDER,
    PageOptions,
    export_notebook,
    page_options,
    report_path,
    report_settings,
    save_report_settings,
)
from workbench.plots import PLOTLY_MIME
from workbench.reports import IndexLink, IndexSection, build_index
from workbench.safehtml import script_hash
from workbench.store import MetricRecord, RunStatus, open_workspace
from workbench.units import format_value, quantity_frame, readable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The banner at the top of plotly.min.js: present once per inlined copy of plotly.js.
PLOTLYJS_BANNER = "* plotly.js v"
CODE_MARKER = "CODE_ONLY_MARKER_42"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
EVIL = "<script>alert('x')</script>"


def _figure_output(title: str) -> nbformat.NotebookNode:
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]), layout_title_text=title)
    return new_output(
        "display_data",
        data={PLOTLY_MIME: json.loads(fig.to_json()), "text/plain": f"<plotly figure: {title}>"},
    )


def _widget_output(fallback: str | None) -> nbformat.NotebookNode:
    data: dict[str, object] = {WIDGET_MIME: {"model_id": "abc", "version_major": 2}}
    if fallback is not None:
        data["text/plain"] = fallback
    return new_output("display_data", data=data)


def _make_notebook(path: Path) -> Path:
    """A partial notebook as papermill leaves it: figures, text, widgets, then an error."""
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Evaluation report\nTest metrics with CIs."),
            new_code_cell(
                f"# {CODE_MARKER}\nshow(fig_roc)\nshow(fig_pr)",
                execution_count=1,
                outputs=[_figure_output("ROC curve"), _figure_output("PR curve")],
            ),
            new_code_cell(
                "slider",
                execution_count=2,
                outputs=[_widget_output("IntSlider(value=3)"), _widget_output(None)],
            ),
            new_code_cell(
                "raise ValueError('threshold out of range')",
                execution_count=3,
                outputs=[
                    new_output(
                        "error",
                        ename="ValueError",
                        evalue="threshold out of range",
                        traceback=["\x1b[0;31mValueError\x1b[0m: threshold out of range"],
                    )
                ],
            ),
            new_code_cell("never_run()"),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
        },
    )
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_notebook(tmp_path_factory.mktemp("nb") / "evaluate.ipynb")


@pytest.fixture(scope="module")
def pages(notebook: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("html")
    full = export_notebook(notebook, out / "full.html")
    reviewer = export_notebook(notebook, out / "reviewer.html", reviewer=True, title="Eval <1>")
    return {"full": full.read_text(), "reviewer": reviewer.read_text()}


# -- export -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["full", "reviewer"])
def test_plotlyjs_inlined_exactly_once_and_both_figures_kept(
    pages: dict[str, str], mode: str
) -> None:
    html = pages[mode]
    assert html.count(PLOTLYJS_BANNER) == 1
    assert html.count('class="plotly-graph-div"') == 2
    assert html.count("Plotly.newPlot(") == 2
    # The first figure carries plotly.js: the library comes before any plot is drawn.
    assert html.index(PLOTLYJS_BANNER) < html.index("Plotly.newPlot(")


@pytest.mark.parametrize("mode", ["full", "reviewer"])
def test_page_loads_nothing_from_a_network(pages: dict[str, str], mode: str) -> None:
    html = pages[mode]
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", html, re.IGNORECASE)
    for cdn in ("require.min.js", "require.js", "cdnjs.cloudflare.com", "MathJax.js", "unpkg.com"):
        assert cdn not in html
    assert "cdn.plot.ly/plotly" not in html


def test_error_output_and_markdown_are_rendered(pages: dict[str, str]) -> None:
    html = pages["full"]
    assert "Evaluation report" in html
    assert "ValueError" in html
    assert "threshold out of range" in html


def test_widget_views_fall_back_to_static_output(pages: dict[str, str]) -> None:
    html = pages["full"]
    assert WIDGET_MIME not in html
    assert "application/vnd.jupyter.widget-state+json" not in html
    assert "IntSlider(value=3)" in html
    assert "interactive widget" in html  # the widget that had no fallback at all


def test_reviewer_mode_hides_code_and_prompts_but_keeps_outputs(pages: dict[str, str]) -> None:
    full, reviewer = pages["full"], pages["reviewer"]
    assert CODE_MARKER in full
    assert CODE_MARKER not in reviewer
    assert 'class="jp-InputPrompt' in full
    assert 'class="jp-InputPrompt' not in reviewer
    assert "threshold out of range" in reviewer
    assert "Evaluation report" in reviewer
    assert "<title>Eval &lt;1&gt;</title>" in reviewer


def test_export_is_atomic_and_creates_folders(notebook: Path, tmp_path: Path) -> None:
    target = tmp_path / "reports" / "run-1" / "evaluate.html"
    assert export_notebook(notebook, target) == target
    assert [p.name for p in target.parent.iterdir()] == ["evaluate.html"]
    assert target.read_text().rstrip().endswith("</html>")


def test_export_of_a_missing_notebook_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ipynb"
    with pytest.raises(WorkbenchError, match=r"nope\.ipynb"):
        export_notebook(missing, tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


# -- pages of a reports folder share plotly.js and the stylesheet -------------------------------


@pytest.fixture(scope="module")
def shared(notebook: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two pages of one reports folder, one level down (as ``reports/<run>/<stage>.html``)."""
    reports = tmp_path_factory.mktemp("shared") / "reports"
    options = PageOptions(reports_dir=reports)
    export_notebook(notebook, reports / "run-1" / "evaluate.html", options=options)
    export_notebook(notebook, reports / "run-2" / "evaluate.html", options=options)
    return reports


def test_shared_pages_load_plotlyjs_and_css_from_the_folder_once(shared: Path) -> None:
    static = shared / STATIC_FOLDER
    assets = sorted(p.name for p in static.iterdir())
    js = [a for a in assets if a.endswith(".min.js")]
    assert len(js) == 1 and js[0].startswith("plotly-"), assets
    assert PLOTLYJS_BANNER in (static / js[0]).read_text()
    assert sum(a.endswith(".css") for a in assets) == 2, assets  # the lab theme and layout
    for run in ("run-1", "run-2"):
        html = (shared / run / "evaluate.html").read_text()
        assert PLOTLYJS_BANNER not in html
        assert f'"../{STATIC_FOLDER}/{js[0]}"' in html  # relative: the folder can move
        assert html.count('rel="stylesheet"') == 2
        assert html.count('class="plotly-graph-div"') == 2
        assert len(html) < 60_000  # the page's own content (≈ 5 MB with plotly.js inlined)


def test_shared_page_policy_runs_only_the_hashed_loader_and_figure_calls(shared: Path) -> None:
    html = (shared / "run-1" / "evaluate.html").read_text()
    policy = re.search(r'content="(default-src[^"]*)"', html).group(1)
    script_src = re.search(r"script-src ([^;]*)", policy).group(1).split()
    # the loader and the two figures' calls, by hash; what the loader inserts, by trust.
    assert script_src.count("'strict-dynamic'") == 1 and len(script_src) == 4, script_src
    assert "unsafe" not in " ".join(script_src)
    assert "style-src 'self' 'unsafe-inline'" in policy
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and not any("src" in attrs for attrs in scripts)  # plotly.js is inserted


def test_standalone_option_keeps_one_self_contained_file(notebook: Path, tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    html = report_path(ws, "run-1", "evaluate")
    export_notebook(notebook, html, options=page_options(ws, standalone=True))
    text = html.read_text()
    assert text.count(PLOTLYJS_BANNER) == 1
    assert 'rel="stylesheet"' not in text and "'strict-dynamic'" not in text
    assert not (ws.reports_dir / STATIC_FOLDER).exists()


def test_report_settings_default_saved_and_refused(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    assert report_settings(ws) == {"reviewer": False, "standalone": False}
    assert page_options(ws).reports_dir == ws.reports_dir
    save_report_settings(ws, reviewer=True)
    assert report_settings(ws) == {"reviewer": True, "standalone": False}
    options = page_options(ws)
    assert options.reviewer and not options.standalone
    assert not page_options(ws, reviewer=False).reviewer  # an explicit choice wins
    save_report_settings(ws, standalone=True)  # keeps reviewer
    assert report_settings(ws) == {"reviewer": True, "standalone": True}
    assert page_options(ws).reports_dir is None
    (ws.root / "reports.toml").write_text('reviewer = "yes"\ncolour = 1\n')
    with pytest.raises(ConfigError, match=r"colour.*reviewer must be true or false"):
        report_settings(ws)
    (ws.root / "reports.toml").write_text("reviewer = \n")
    with pytest.raises(ConfigError, match=r"reports\.toml"):
        report_settings(ws)


def test_importing_reports_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, workbench.reports\n"
        "print(sorted(m for m in ('nbconvert', 'plotly', 'jinja2', 'nbformat') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- paths --------------------------------------------------------------------------------------


def _workspace(tmp_path: Path) -> Workspace:
    ws = Workspace(root=tmp_path / "ws", db_url=f"sqlite:///{tmp_path / 'ws' / 'workbench.db'}")
    ws.create()
    return ws


def test_report_path(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    assert report_path(ws, "run-1", "evaluate") == ws.reports_dir / "run-1" / "evaluate.html"


@pytest.mark.parametrize(("run_id", "stage"), [("../x", "evaluate"), ("r", ".."), ("", "s")])
def test_report_path_refuses_names_leaving_the_reports_folder(
    tmp_path: Path, run_id: str, stage: str
) -> None:
    with pytest.raises(ConfigError, match="cannot name a file"):
        report_path(_workspace(tmp_path), run_id, stage)


# -- index --------------------------------------------------------------------------------------

STAGES = [("explore", "01_explore.ipynb"), ("evaluate", "03_evaluate.ipynb")]


def _populate(ws: Workspace, notebook: Path | None = None) -> None:
    """Run ``run-a`` failed in evaluate (no reports); ``run-b`` succeeded with two reports."""
    store = open_workspace(ws.root)[1]
    store.create_run(
        "run-a", dataset_name=EVIL, model_family="rf", seed=0, stages=STAGES, params={}
    )
    store.finish_run(
        "run-a",
        RunStatus.FAILED,
        error={"stage": "evaluate", "cell_index": 4, "ename": "ValueError", "evalue": "bad <x>"},
    )
    store.create_run(
        "run-b", dataset_name="diabetes", model_family="hgb", seed=0, stages=STAGES, params={}
    )
    store.log_metrics(
        "run-b",
        [
            MetricRecord("evaluate", "rmse", 53.25, 50.5, 56.0),
            MetricRecord("search", "rmse", 1.0),  # not the headline stage
        ],
    )
    evaluate = report_path(ws, "run-b", "evaluate")
    if notebook is not None:
        # As a workspace writes it: plotly.js and the stylesheet shared from reports/_static/.
        export_notebook(notebook, evaluate, options=page_options(ws, reviewer=True))
    else:
        evaluate.parent.mkdir(parents=True)
        evaluate.write_text("<html>evaluate</html>")
    store.set_report("run-b", "evaluate", str(evaluate))
    # explore has a report at the default place but none recorded: still linked.
    report_path(ws, "run-b", "explore").write_text("<html>explore</html>")
    store.finish_run("run-b", RunStatus.SUCCEEDED)


def test_index_lists_runs_newest_first_with_status_metric_and_links(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _populate(ws)
    path = build_index(ws, open_workspace(ws.root)[1])
    assert path == ws.index_path
    html = path.read_text()
    assert html.index('id="run-run-b"') < html.index('id="run-run-a"')
    assert 'class="badge status-succeeded">succeeded' in html
    assert 'class="badge status-failed">failed' in html
    assert "rmse 53.2" in html  # the CI is 5.5 wide: one decimal
    assert "95% CI [50.5, 56.0]" in html
    assert "rmse 1.00" not in html
    assert "diabetes" in html and "hgb" in html
    assert 'href="run-b/evaluate.html"' in html
    assert 'href="run-b/explore.html"' in html
    assert "run-a/" not in html  # no report exists for the failed run
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(not urlsplit(h).scheme and not h.startswith("/") for h in hrefs)
    assert all((ws.reports_dir / unquote(h)).is_file() for h in hrefs)


def test_index_shows_the_failure_summary_and_escapes_user_text(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    _populate(ws)
    html = build_index(ws, open_workspace(ws.root)[1]).read_text()
    assert "stage evaluate, cell 4: ValueError: bad &lt;x&gt;" in html
    assert EVIL not in html
    assert "&lt;script&gt;alert(" in html
    # One script, the page's own sorting and filtering (its hash is the policy's only one).
    assert html.count("<script") == 1 and "<script>(function () {" in html


def test_index_classification_headline_is_roc_auc(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_workspace(ws.root)[1]
    store.create_run(
        "c1", dataset_name="breast_cancer", model_family="lr", seed=1, stages=STAGES, params={}
    )
    store.log_metrics("c1", [MetricRecord("evaluate", "roc_auc", 0.9912)])
    store.finish_run("c1", RunStatus.SUCCEEDED)
    html = build_index(ws, store).read_text()
    assert "roc_auc 0.991" in html  # no CI: three significant digits
    assert "95% CI" not in html


def test_index_groups_helper_runs_and_sorts_with_its_one_hashed_script(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    store = open_workspace(ws.root)[1]
    for rid, params in (("champ", {}), ("other", {}), ("reeval", {"reevaluates": "champ"})):
        store.create_run(
            rid, dataset_name="d", model_family="lr", seed=1, stages=STAGES, params=params
        )
    html = build_index(ws, store).read_text()
    # The helper sits right under the run it was made for, in the same sortable group.
    bodies = re.findall(r"<tbody>(.*?)</tbody>", html, re.DOTALL)
    groups = [re.findall(r'id="run-([^"]+)"', b) for b in bodies]
    assert ["champ", "reeval"] in groups and ["other"] in groups, groups
    assert "helper run: the model of champ evaluated again" in html
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    policy = unescape(re.search(r'content="(default-src[^"]*)"', html).group(1))
    assert len(scripts) == 1 and f"script-src {script_hash(scripts[0])};" in policy
    assert 'class="filter"' in html and 'class="sortable"' in html


def test_numbers_carry_units_and_the_digits_their_interval_supports() -> None:
    assert format_value("single_p50_ms", 1.8102200000029711) == "1.81 ms"
    assert format_value("model_size_bytes", 3915557.0) == "3.92 MB"
    assert format_value("batch_rows_per_s", 12345.6) == "12,346 rows/s"
    assert format_value("roc_auc", 0.996012, ci_width=0.0123) == "0.996"
    assert format_value("rmse", 53.25, ci_width=5.5) == "53.2"
    assert format_value("passed", True) == "✓" and format_value("x", None) == "—"
    frame = pd.DataFrame(
        {"candidate": [0.9912, 3915557.0], "ratio": [1.01, 1.5], "passed": [True, False]},
        index=pd.Index(["roc_auc", "model_size_bytes"], name="metric"),
    )
    shown = readable(frame)
    assert shown.loc["model_size_bytes"].tolist() == ["3.92 MB", "1.50", "✗"]
    assert shown.loc["roc_auc"].tolist() == ["0.991", "1.01", "✓"]
    assert quantity_frame({"single_p99_ms": 4.5}).values.tolist() == [["single p99 ms", "4.50 ms"]]
    gates = pd.DataFrame(
        {"gate": ["a", "b", "c"], "status": ["passed", "failed", "skipped"], "why": ["failed"] * 3}
    )
    shown = readable(gates, name_column="gate")
    assert shown["status"].tolist() == ["✓ passed", "✗ failed", "— skipped"]
    assert shown["why"].tolist() == ["failed"] * 3  # only outcome columns get a mark


def test_index_of_an_empty_store_and_extra_sections(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    section = IndexSection(
        "Comparisons",
        columns=("candidate", "decision", "report"),
        rows=(("run-b", "promote <now>", IndexLink("open", "cmp/1.html", tooltip="b vs a")),),
        note="candidate vs champion",
    )
    html = build_index(ws, open_workspace(ws.root)[1], extra_sections=[section]).read_text()
    assert "No runs yet" in html
    assert "<h2>Comparisons</h2>" in html
    assert "promote &lt;now&gt;" in html
    assert '<a href="cmp/1.html" title="b vs a">open</a>' in html


@pytest.mark.parametrize("href", ["javascript:alert(1)", "/etc/passwd", "https://x.org/a.html"])
def test_index_links_must_be_relative(href: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        IndexLink("x", href)


# -- in a real browser --------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: apt-get install chromium")
def test_pages_render_offline_in_chromium(notebook: Path, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    ws = _workspace(tmp_path)
    _populate(ws, notebook)
    index = build_index(ws, open_workspace(ws.root)[1])

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            requests: list[str] = []
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on(
                "console",
                lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.on("request", lambda r: requests.append(r.url))

            page.goto(index.as_uri())
            assert page.locator("tr[id^=run-]").count() == 2
            hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            assert len(hrefs) == 2
            for href in hrefs:
                assert href.startswith("file://")
                assert Path(unquote(urlsplit(href).path)).is_file(), href

            page.goto(report_path(ws, "run-b", "evaluate").as_uri())
            page.wait_for_function(
                "document.querySelectorAll('div.plotly-graph-div').length === 2 && "
                "[...document.querySelectorAll('div.plotly-graph-div')]"
                ".every(d => d.querySelector('svg.main-svg'))",
                timeout=30_000,
            )
            plots = page.locator("div.plotly-graph-div")
            for i in range(plots.count()):
                assert plots.nth(i).locator("svg.main-svg").count() > 0
                box = plots.nth(i).bounding_box()
                assert box is not None and box["height"] > 100
            assert page.get_by_text("threshold out of range").count() > 0
            page.close()

            # Copied out of its folder, the page says why its figures are missing.
            alone = tmp_path / "alone.html"
            alone.write_bytes(report_path(ws, "run-b", "evaluate").read_bytes())
            lost = browser.new_page()
            lost.goto(alone.as_uri())  # the missing script's onerror has run by "load"
            said = lost.eval_on_selector_all(
                "div.plotly-graph-div", "ds => ds.map(d => d.textContent.includes('not drawn'))"
            )
            assert said == [True, True]
        finally:
            browser.close()

    assert errors == []
    assert all(u.startswith(("file://", "data:", "blob:")) for u in requests), requests


def test_per_request_curves_are_thinned_to_a_page_weight() -> None:
    from workbench.figures.abtest import _MAX_POINTS, _thin

    keep = _thin(10_000)
    assert len(keep) <= _MAX_POINTS and keep[0] == 0 and keep[-1] == 9_999
    assert list(_thin(5)) == [0, 1, 2, 3, 4]
