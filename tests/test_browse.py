"""Every page of the demo workspace, opened in headless Chromium as a reviewer would.

One browser opens each page once: the pages the demo wrote (full pages) and the same workspace
rewritten with ``workbench report --reviewer`` in a copy (reviewer pages; nothing is executed
again). The tests then read what each visit saw: no console error, no request leaving the
reports folder (no network), every figure drawn, every link resolving to a file, a header
card naming the run, dataset and model, and on reviewer pages no code input, no stderr and no
absolute path. The demo itself runs once per session (``demo_workspace`` in conftest).

Screenshots of the index and of the first page of each kind (reviewer pages) are saved as test
artifacts in ``$WORKBENCH_TEST_ARTIFACTS/screenshots`` (else the session's temp folder); the
README shows two of them (``docs/``).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner
from test_reports import CHROMIUM, CHROMIUM_ARGS

from workbench.cli import cli
from workbench.pages import STATIC_FOLDER

pytestmark = [pytest.mark.slow, pytest.mark.browser]

#: The issue's targets for a page's own weight and a demo's reports folder.
MAX_PAGE = 400_000
MAX_FOLDER = 12_000_000
#: An absolute path on the machine that wrote the page (a reviewer's machine has none of them).
ABSOLUTE = re.compile(r"(?<![\w.~-])/(?:tmp|home|root|work|usr|var|opt|Users|private)/")
FAMILIES = ("logreg", "rf", "hgb")

_SEEN_JS = """
() => {
  const header = document.querySelector("#wb-header");
  const attrs = [];
  for (const el of document.querySelectorAll("[href], [src]")) {
    attrs.push(el.getAttribute("href") || el.getAttribute("src") || "");
  }
  return {
    text: document.body.innerText,
    header: header ? header.innerText : null,
    links: [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")),
    attrs,
    figures: document.querySelectorAll("div.plotly-graph-div").length,
    drawn: [...document.querySelectorAll("div.plotly-graph-div")]
      .filter(d => d.querySelector("svg.main-svg")).length,
    code: document.querySelectorAll(
      ".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .jp-InputPrompt").length,
    stderr: document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
  };
}
"""


@dataclass
class Visit:
    """What opening one page showed."""

    page: Path
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    seen: dict[str, Any] = field(default_factory=dict)


def _pages(reports: Path) -> list[Path]:
    return sorted(p for p in reports.rglob("*.html"))


@pytest.fixture(scope="module")
def workspaces(demo_workspace: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``{"full": demo workspace, "reviewer": a copy rewritten as reviewer pages}``."""
    original, _ = demo_workspace
    reviewer = tmp_path_factory.mktemp("reviewer") / "ws"
    shutil.copytree(original, reviewer)
    result = CliRunner().invoke(cli, ["report", "--reviewer", "--workspace", str(reviewer)])
    assert result.exit_code == 0, result.output
    return {"full": original, "reviewer": reviewer}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("WORKBENCH_TEST_ARTIFACTS")
    folder = Path(root) / "screenshots" if root else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot_name(reports: Path, page: Path, taken: set[str]) -> str | None:
    """``index.png``, or ``<kind>.png`` for the first page of each kind; else None."""
    rel = page.relative_to(reports)
    if rel.as_posix() == "index.html":
        kind = "index"
    elif rel.parts[0] in ("comparisons", "releases", "abtests", "monitor", "batches"):
        kind = rel.parts[0]
    else:  # runs/<id>/<stage>.html
        kind = f"run-{page.stem}"
    if kind in taken:
        return None
    taken.add(kind)
    return f"{kind}.png"


@pytest.fixture(scope="module")
def visits(workspaces: dict[str, Path], screenshots: Path) -> Iterator[dict[str, list[Visit]]]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            taken: set[str] = set()
            seen = {}
            for kind, ws in workspaces.items():
                reports = ws / "reports"
                seen[kind] = [
                    _visit(
                        browser,
                        page,
                        shot=screenshots / name
                        if kind == "reviewer" and (name := _shot_name(reports, page, taken))
                        else None,
                    )
                    for page in _pages(reports)
                ]
            yield seen
        finally:
            browser.close()


def _visit(browser: Any, path: Path, shot: Path | None = None) -> Visit:
    v = Visit(path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: v.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: v.errors.append(str(e)))
    page.on("request", lambda r: v.requests.append(r.url))
    page.on("requestfailed", lambda r: v.errors.append(f"failed: {r.url}"))
    try:
        page.goto(path.as_uri(), wait_until="load")
        if page.locator("div.plotly-graph-div").count():
            page.wait_for_function(
                "[...document.querySelectorAll('div.plotly-graph-div')]"
                ".every(d => d.querySelector('svg.main-svg'))",
                timeout=20_000,
            )
        v.seen = page.evaluate(_SEEN_JS)
        if shot is not None:
            page.screenshot(path=str(shot))
    finally:
        page.close()
    return v


def _name(v: Visit, ws: Path) -> str:
    return v.page.relative_to(ws / "reports").as_posix()


# -- weight (no browser) -------------------------------------------------------------------------


def test_pages_are_light_and_share_one_plotlyjs(demo_workspace: tuple[Path, str]) -> None:
    reports = demo_workspace[0] / "reports"
    heavy = {p.name: p.stat().st_size for p in _pages(reports) if p.stat().st_size > MAX_PAGE}
    assert heavy == {}
    (plotly,) = (reports / STATIC_FOLDER).glob("plotly-*.min.js")
    assert plotly.stat().st_size > 1_000_000  # the real library, once
    folder = sum(p.stat().st_size for p in reports.rglob("*") if p.is_file())
    assert folder <= MAX_FOLDER, f"{folder:,} bytes"


# -- every page, full and reviewer ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["full", "reviewer"])
def test_every_page_opens_offline_without_errors_and_draws_its_figures(
    kind: str, visits: dict[str, list[Visit]], workspaces: dict[str, Path]
) -> None:
    ws = workspaces[kind]
    assert len(visits[kind]) >= 8  # index, 2 runs × 3 stages, comparison, release, A/B, monitor
    for v in visits[kind]:
        name = _name(v, ws)
        assert v.errors == [], (name, v.errors[:3])
        outside = [u for u in v.requests if not u.startswith((ws / "reports").as_uri())]
        assert outside == [], (name, outside[:3])
        assert v.seen["drawn"] == v.seen["figures"], (name, v.seen["figures"], v.seen["drawn"])


@pytest.mark.parametrize("kind", ["full", "reviewer"])
def test_every_link_resolves(
    kind: str, visits: dict[str, list[Visit]], workspaces: dict[str, Path]
) -> None:
    broken = []
    for v in visits[kind]:
        for href in v.seen["links"]:
            parts = urlsplit(href)
            if parts.scheme or not parts.path:  # in-page anchors; external links are not ours
                continue
            if not (v.page.parent / unquote(parts.path)).resolve().is_file():
                broken.append((_name(v, workspaces[kind]), href))
    assert broken == []


@pytest.mark.parametrize("kind", ["full", "reviewer"])
def test_every_page_has_a_header_naming_run_dataset_and_model(
    kind: str, visits: dict[str, list[Visit]], workspaces: dict[str, Path]
) -> None:
    ws = workspaces[kind]
    for v in visits[kind]:
        name = _name(v, ws)
        if name == "index.html":
            continue
        header = v.seen["header"]
        assert header, f"{name}: no header card"
        assert "Dataset" in header and "index" in header, (name, header)
        assert any(f in header for f in FAMILIES), (name, header)
        if v.page.parent.parent == ws / "reports" and v.page.parent.name[:2] == "20":
            assert v.page.parent.name in header, (name, header)  # a run page names its run


def test_reviewer_pages_hold_no_code_no_stderr_no_absolute_path(
    visits: dict[str, list[Visit]], workspaces: dict[str, Path]
) -> None:
    ws = workspaces["reviewer"]
    for v in visits["reviewer"]:
        name = _name(v, ws)
        assert v.seen["code"] == 0, f"{name}: {v.seen['code']} code inputs"
        assert v.seen["stderr"] == 0, f"{name}: {v.seen['stderr']} stderr outputs"
        shown = "\n".join([v.seen["text"], *v.seen["attrs"]])
        found = [m.start() for m in ABSOLUTE.finditer(shown)]
        assert not found, (name, [shown[max(0, i - 60) : i + 80] for i in found[:3]])


def test_screenshots_of_the_index_and_each_page_kind_are_saved(
    visits: dict[str, list[Visit]], screenshots: Path
) -> None:
    names = {p.name for p in screenshots.glob("*.png")}
    wanted = {"index.png", "comparisons.png", "releases.png", "abtests.png", "monitor.png"}
    assert wanted <= names, f"missing screenshots: {sorted(wanted - names)} in {screenshots}"
    assert {n for n in names if n.startswith("run-")}, "no run page screenshot"
    for name in wanted:
        png = (screenshots / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000, name
