"""No report page runs a script that came in with user data (issue 10, part 2).

Every page kind is built once, through the CLI, from a CSV whose file name, column names,
category values and target labels carry script payloads, with gates and a grid whose names
carry them too. Each page is then opened from ``file://`` in headless Chromium: no dialog may
open, no payload may become an element or an event handler, every ``<script>`` in the page must
be one the workbench wrote (its hash is in the page's Content-Security-Policy), nothing may be
logged as a console error (a policy violation is one), and every figure must draw.

The cheap tests at the end check the escaping helpers themselves and the policy as a second
wall: a script injected into an output is blocked while the figures still draw.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import yaml
from click.testing import CliRunner, Result
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from test_reports import CHROMIUM, CHROMIUM_ARGS

from workbench.cli import cli
from workbench.pages import export_notebook
from workbench.plots import PLOTLY_MIME
from workbench.safehtml import content_security_policy, escape, md, md_code, styled

# Distinct numbers say where a dialog came from.
COL_SCRIPT = "<script>alert(1)</script>"
COL_IMG = "<img src=x onerror=alert(2)>"
COL_ATTR = '"><svg onload=alert(3)>'
COL_CAT = "kind <b onmouseover=alert(4)>x</b>"
CAT_VALUES = ("<img src=x onerror=alert(5)>", "*md* _x_ `c` [l](javascript:alert(6)) | y")
TARGET = "<img src=x onerror=alert(7)>y"
LABELS = ("<script>alert(8)</script>", '"><img src=x onerror=alert(9)>')
CSV_NAME = "data <img src=x onerror=alert(10)>.csv"
COMPARE_GATES = ("<img src=x onerror=alert(21)>", "<script>alert(22)</script> *md* `x`")
RELEASE_GATES = ("<img src=x onerror=alert(31)>", '"><svg onload=alert(32)>')
GRID_NAME = "grid <img src=x onerror=alert(41)>"

KINDS = (
    "explore", "search", "evaluate", "comparison", "release", "abtest", "monitor", "batch",
    "index",
)  # fmt: skip
#: Page kinds drawing no figure.
NO_FIGURES = {"batch", "index"}
#: A user string each page kind must show literally (escaped, not dropped or interpreted).
SHOWN = {
    "explore": COL_IMG,  # the feature table
    "evaluate": LABELS[0],  # the class labels of the split table's columns
    "comparison": COMPARE_GATES[0],  # the gates table
    "release": RELEASE_GATES[1],
    "monitor": COL_SCRIPT,  # the drift table
    "batch": GRID_NAME,
    "index": GRID_NAME,
}


def _hostile_csv(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    cat = rng.choice(CAT_VALUES, size=n)
    signal = x1 + 0.5 * x2 + 0.3 * (cat == CAT_VALUES[0]) + rng.normal(scale=0.7, size=n)
    frame = pd.DataFrame(
        {
            COL_SCRIPT: x1,
            COL_IMG: x2,
            COL_ATTR: rng.normal(size=n),
            COL_CAT: cat,
            TARGET: np.where(signal > 0, LABELS[0], LABELS[1]),
        }
    )
    frame.to_csv(path, index=False)
    return path


def _gates(path: Path, gates: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"gates": gates}, sort_keys=False))
    return path


def _cli(*args: str, ok: tuple[int, ...] = (0,)) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in ok, (args, result.output, result.exception)
    return result


def _drifted_log(log: Path, out: Path) -> Path:
    """The stub's log with the two numeric payload features shifted in its second half."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    for entry in lines[len(lines) // 2 :]:
        for row in entry["inputs"]:
            row[0], row[1] = row[0] + 3.0, row[1] - 3.0
    out.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return out


@pytest.fixture(scope="module")
def hostile_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Every page kind, built by the CLI from hostile names: ``{kind: [page, ...]}``."""
    tmp = tmp_path_factory.mktemp("xss")
    ws = tmp / "ws"
    w = ["--workspace", str(ws)]
    csv = _hostile_csv(tmp / CSV_NAME)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("WORKBENCH_DB_URL", raising=False)
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")
        # Two runs of the hostile data (all three stages each), as one batch of two workers.
        grid = tmp / "grid.yaml"
        grid.write_text(
            yaml.safe_dump(
                {
                    "name": GRID_NAME,
                    "datasets": [{"name": str(csv), "target": TARGET}],
                    "models": ["logreg", "rf"],
                    "trials": 2,
                    "params": {"n_boot": 50, "cv_folds": 3},
                },
                sort_keys=False,
            )
        )
        batch = json.loads(_cli("batch", str(grid), "--workers", "2", "--json", *w).stdout)
        first, second = (r["run_id"] for r in batch["runs"])
        gates = _gates(
            tmp / "gates.yaml",
            [
                {"metric": "roc_auc", "check": "delta_ci_low", "op": ">=", "value": -1,
                 "name": COMPARE_GATES[0]},
                {"metric": "single_p99_ms", "check": "ratio", "op": "<=", "value": 1e-6,
                 "name": COMPARE_GATES[1]},
            ],
        )  # fmt: skip
        _cli("compare", second, first, "--gates", str(gates), "--n-boot", "50", *w)
        ab = json.loads(
            _cli(
                "abtest", "--a", first, "--b", second, "--requests", "300", "--n-boot", "100",
                "--json", *w,
            ).stdout
        )  # fmt: skip
        bundle = ab["a"]["bundle"]
        release_gates = _gates(
            tmp / "release_gates.yaml",
            [
                {"metric": "roc_auc", "op": ">=", "value": 0.5, "name": RELEASE_GATES[0]},
                {"metric": "p99_ms", "op": "<=", "value": 1e-6, "name": RELEASE_GATES[1]},
            ],
        )
        _cli(
            "release-check", bundle, "--gates", str(release_gates), "--duration", "1",
            "--concurrency", "2", *w, ok=(0, 1),  # the unreachable gate fails it: exit 1
        )  # fmt: skip
        folder = ws / "abtests" / ab["id"]
        log = _drifted_log(folder / "stub-A.jsonl", tmp / "traffic.jsonl")
        _cli(
            "monitor", "--log", str(log), "--bundle", bundle, "--labels",
            str(folder / "labels.csv"), "--window", "50", *w,
        )  # fmt: skip

    reports = ws / "reports"
    pages = {
        stage: [reports / run / f"{stage}.html" for run in (first, second)]
        for stage in ("explore", "search", "evaluate")
    }
    for kind, folder_name in (
        ("comparison", "comparisons"), ("release", "releases"), ("abtest", "abtests"),
        ("monitor", "monitor"), ("batch", "batches"),
    ):  # fmt: skip
        pages[kind] = sorted((reports / folder_name).glob("*.html"))
    pages["index"] = [reports / "index.html"]
    missing = [
        kind for kind in KINDS if not pages[kind] or not all(p.is_file() for p in pages[kind])
    ]
    assert not missing, f"no page of kind(s) {missing} under {reports}"
    return pages


# -- in Chromium ------------------------------------------------------------------------------

# Every script element must be one whose hash the page's policy lists; every element with an
# event-handler attribute, a javascript: link or a payload <img> is markup that came with data.
_FINDINGS_JS = """
async () => {
  const meta = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
  const policy = meta ? meta.content : "";
  const found = [];
  for (const s of document.scripts) {
    // The shared plotly.js, inserted by the hashed loader ('strict-dynamic' trusts it).
    const src = s.getAttribute("src") || "";
    if (/^(\\.\\.\\/)*_static\\/plotly-[0-9.]+[.]min[.]js$/.test(src)) continue;
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s.text));
    const b64 = btoa(String.fromCharCode(...new Uint8Array(digest)));
    if (!policy.includes(`'sha256-${b64}'`)) found.push("script: " + s.text.slice(0, 60));
  }
  for (const el of document.querySelectorAll("*")) {
    for (const name of el.getAttributeNames()) {
      if (name.startsWith("on")) found.push(`${el.tagName} ${name}=${el.getAttribute(name)}`);
    }
  }
  for (const a of document.querySelectorAll("a[href]")) {
    if (/^\\s*javascript:/i.test(a.getAttribute("href"))) found.push("link " + a.href);
  }
  document.querySelectorAll('img[src="x"]').forEach(() => found.push("img src=x"));
  const svgText = [...document.querySelectorAll("svg text")].map(t => t.textContent);
  return {policy, found, text: document.body.innerText, svgText};
}
"""
_FIGURES_DRAWN_JS = """
() => [...document.querySelectorAll("div.plotly-graph-div")]
        .every(d => d.querySelector("svg.main-svg"))
"""


@dataclass
class Visit:
    """What opening one page did."""

    page: Path
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    policy: str = ""
    text: str = ""
    svg_text: list[str] = field(default_factory=list)
    figures: int = 0
    drawn: int = 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def visit(browser: Any, path: Path) -> Visit:
    """Open ``path`` from disk; record dialogs (dismissed), console errors and findings."""
    v = Visit(path)
    page = browser.new_page()
    try:
        # Registered through DevTools, so it runs whatever the page's own policy says.
        page.add_init_script(
            "window.__violations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.__violations"
            ".push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));"
        )
        page.on("dialog", lambda d: (v.dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: v.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: v.errors.append(f"pageerror: {e}"))
        page.goto(path.as_uri(), wait_until="load")
        v.figures = page.locator("div.plotly-graph-div").count()
        if v.figures:
            page.wait_for_function(_FIGURES_DRAWN_JS, timeout=30_000)
        page.wait_for_timeout(200)  # late onerror handlers of broken images
        v.drawn = page.eval_on_selector_all(
            "div.plotly-graph-div", "ds => ds.filter(d => d.querySelector('svg.main-svg')).length"
        )
        findings = page.evaluate(_FINDINGS_JS)
        v.policy, v.injected, v.text = findings["policy"], findings["found"], findings["text"]
        v.svg_text = findings["svgText"]
        v.violations = page.evaluate("window.__violations")
    finally:
        page.close()
    return v


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("kind", KINDS)
def test_no_page_runs_a_script_from_user_data(
    kind: str, browser: Any, hostile_pages: dict[str, list[Path]]
) -> None:
    # browser first: without Chromium the test skips before the pages are built.
    visits = [visit(browser, page) for page in hostile_pages[kind]]
    summary = {
        v.page.name: {
            "dialogs": v.dialogs,
            "injected": v.injected[:5],
            "errors": [e[:160] for e in v.errors[:5]],
            "violations": v.violations[:5],
        }
        for v in visits
    }
    assert all(not v.dialogs for v in visits), f"{kind}: dialogs opened: {summary}"
    assert all(not v.injected for v in visits), f"{kind}: markup from user data: {summary}"
    assert all(not v.errors and not v.violations for v in visits), f"{kind}: errors: {summary}"
    for v in visits:
        script_src = re.search(r"script-src ([^;]*)", v.policy)
        assert v.policy.startswith("default-src 'none'") and script_src, (v.page, v.policy)
        assert "unsafe" not in script_src.group(1), v.policy
        if kind not in NO_FIGURES:
            assert v.figures > 0 and v.drawn == v.figures, (v.page, v.figures, v.drawn)
    if kind in SHOWN:
        assert any(SHOWN[kind] in v.text for v in visits), f"{kind}: {SHOWN[kind]!r} not shown"


# -- the helpers, and the policy as a second wall (cheap) ---------------------------------------

PAYLOADS = (
    COL_SCRIPT, COL_IMG, COL_ATTR, COL_CAT, *CAT_VALUES, TARGET,
    "a & b &lt;c&gt; 'q' \\*x\\*", "$x^2$ ~~s~~ # h", "http://example.org/<b>x</b>",
    "line one\n# heading\n- item",
)  # fmt: skip


class _Text(HTMLParser):
    """The text and the tags of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text, self.code, self.tags, self.open = "", "", [], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        self.text += data
        if "code" in self.open:
            self.code += data


def _parse(fragment: str) -> _Text:
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return parser


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_renders_literally_through_nbconvert(payload: str) -> None:
    from nbconvert import HTMLExporter

    # As reports export: embedding images also reparses every inline HTML tag on its own.
    render = HTMLExporter(embed_images=True).markdown2html
    literal = " ".join(payload.splitlines())
    source = f"- gate **{md(payload)}** failed on {md_code(payload)}"
    out = _parse(render({"resources": {"metadata": {"path": "."}}}, source))
    assert out.tags == ["ul", "li", "strong", "code"], out.tags
    assert out.text.strip() == f"gate {literal} failed on {literal}"
    assert out.code == literal


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_is_text_in_html(payload: str) -> None:
    out = _parse(f'<p title="{escape(payload)}">{escape(payload)}</p>')
    assert out.tags == ["p"] and out.text == payload


def test_styled_escapes_cells_labels_and_names_and_keeps_escaping() -> None:
    frame = pd.DataFrame(
        {COL_IMG: [COL_SCRIPT, 0.123456, [COL_ATTR], None]},
        index=pd.Index([COL_CAT, "b", "c", "d"], name=TARGET),
    )
    frame.columns.name = LABELS[1]
    shown = {
        # cells, the list shown as its str(), labels and both axis names; numbers formatted
        styled(frame, precision=2, na_rep="—"): (
            COL_IMG,
            COL_SCRIPT,
            str([COL_ATTR]),
            COL_CAT,
            TARGET,
            LABELS[1],
            "0.12",
            "—",
        ),
        # later format() and format_index() calls keep escaping
        styled(frame).format(precision=3): (COL_SCRIPT, "0.123"),
        styled(frame).format_index(str.upper, axis=1): (COL_IMG.upper(), COL_SCRIPT),
        styled(frame).hide(axis="index"): (COL_IMG, COL_SCRIPT),
    }
    for styler, texts in shown.items():
        out = _parse(styler.to_html())
        assert set(out.tags) <= {"style", "table", "thead", "tbody", "tr", "th", "td"}, out.tags
        assert all(t in out.text for t in texts), (texts, out.text)
    with pytest.raises(ValueError, match="escape HTML"):
        styled(frame).format(escape="latex")


def test_policy_allows_only_listed_scripts() -> None:
    policy = content_security_policy(["'sha256-a'", "'sha256-a'", "'sha256-b'"])
    assert policy.startswith("default-src 'none'; script-src 'sha256-a' 'sha256-b';")
    assert "unsafe" not in policy.split("style-src")[0]
    assert "script-src 'none'" in content_security_policy()


@pytest.mark.browser
def test_policy_blocks_a_script_injected_into_an_output(tmp_path: Path, browser: Any) -> None:
    """The second wall: markup that reached an output unescaped still cannot run."""
    fig = go.Figure(go.Bar(x=[escape(COL_IMG), "b"], y=[1, 2]), layout_title_text=escape(TARGET))
    figure = new_output(
        "display_data", data={PLOTLY_MIME: json.loads(fig.to_json()), "text/plain": "fig"}
    )
    injected = new_output(
        "display_data",
        data={"text/html": f"{COL_SCRIPT}{COL_IMG}<p>ok</p>", "text/plain": "x"},
    )
    nb = new_notebook(
        cells=[
            new_markdown_cell("# page"),
            new_code_cell("show(fig)", execution_count=1, outputs=[figure, injected]),
            new_code_cell("show(fig)", execution_count=2, outputs=[figure]),
        ]
    )
    nbformat.write(nb, tmp_path / "p.ipynb")
    v = visit(browser, export_notebook(tmp_path / "p.ipynb", tmp_path / "p.html"))
    assert v.dialogs == []
    assert v.figures == v.drawn == 2
    # plotly's config, plotly.js and one call per figure; not the injected script.
    assert v.policy.count("'sha256-") == 4
    assert [i for i in v.injected if i.startswith("script")] == ["script: alert(1)"]
    assert any("script-src-elem" in x for x in v.violations), v.violations
    assert any("script-src-attr" in x for x in v.violations), v.violations
    # plotly shows the escaped labels as the user wrote them.
    assert COL_IMG in v.svg_text and TARGET in v.svg_text, v.svg_text
