"""Stored A/B tests: the record, its files, the HTML report (notebook 06) and the index table.

One folder per test, written once by the process that ran it (ids are unique, so no lock is
needed; each file is written to a temporary name and renamed, so a reader never sees half)::

    <workspace>/abtests/<id>/record.json      the ABTest record (settings, analysis, decision)
    <workspace>/abtests/<id>/requests.csv     one row per answer (served and mirrored)
    <workspace>/abtests/<id>/labels.csv       the delayed-labels feed of the requests sent
    <workspace>/abtests/<id>/stub-A.jsonl     prediction logs of both stubs (keyed by request)
    <workspace>/abtests/<id>/stub-B.jsonl
    <workspace>/abtests/<id>/06_abtest.ipynb  the executed notebook
    <workspace>/reports/abtests/<id>.html     the report, linked from reports/index.html

Files rather than store tables: a test is written once and never updated concurrently, its
bulk (per-request rows) does not belong in the run store, and the records stay readable with
any tool. The index lists them through :func:`index_sections`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ConfigError, RunNotFound
from workbench.safehtml import md

from ._analysis import Analysis, Decision, deltas_frame, variants_frame
from ._users import UserModel

if TYPE_CHECKING:
    import pandas as pd

    from workbench.config import Workspace
    from workbench.reports import IndexSection
    from workbench.store import Store

__all__ = [
    "NOTEBOOK",
    "PROVIDER",
    "ABTest",
    "index_sections",
    "list_abtests",
    "load_abtest",
    "load_labels",
    "load_requests",
    "rebuild_index",
    "render_report",
    "report_html_path",
    "save_abtest",
]

NOTEBOOK = "06_abtest.ipynb"
PROVIDER = "workbench.abtest:index_sections"
RECORD_SCHEMA = 1
_RECORD = "record.json"
_REQUESTS = "requests.csv"
_LABELS = "labels.csv"
_ID = re.compile(r"ab-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


def new_id() -> str:
    """``ab-YYYYMMDD-HHMMSS-xxxxxx`` (UTC time and 3 random bytes)."""
    return f"ab-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class ABTest:
    """One A/B (or shadow) test: what was compared, on which traffic, and what came out.

    Attributes:
        id: ``ab-YYYYMMDD-HHMMSS-xxxxxx``.
        created_at: When it ran (UTC).
        mode: ``online`` or ``shadow``.
        split: Share of traffic routed to B (online).
        seed: Seed of the stream, the users and the bootstrap.
        salt: Salt of the routing hash.
        a: Variant A: ``ref``, ``bundle``, ``model_version``, ``run_id``, ``reused``.
        b: Variant B, the same fields.
        stream: Where the traffic came from and its knobs.
        users: The simulated users' parameters (:class:`UserModel`).
        traffic: ``sent``, ``mirrored``, ``mirror_dropped``, ``elapsed_s``, ``truncated``.
        settings: ``alpha``, ``power``, ``n_boot``, ``as_of``, timeouts, warm-up.
        analysis: Per-variant results, differences, MDE and decision.
        notes: What a reader should know (caveats about the traffic or the bundles).
        report_path: The HTML report, once rendered.
    """

    id: str
    created_at: datetime
    mode: str
    split: float
    seed: int
    salt: str
    a: dict[str, Any]
    b: dict[str, Any]
    stream: dict[str, Any]
    users: dict[str, Any]
    traffic: dict[str, Any]
    settings: dict[str, Any]
    analysis: Analysis
    notes: tuple[str, ...] = ()
    report_path: str | None = None
    schema: int = field(default=RECORD_SCHEMA)

    @property
    def decision(self) -> Decision:
        return self.analysis.decision

    @property
    def user_model(self) -> UserModel:
        return UserModel.from_dict(self.users)

    def variants_frame(self) -> pd.DataFrame:
        """Per-variant results (one row per variant)."""
        return variants_frame(self.analysis)

    def deltas_frame(self) -> pd.DataFrame:
        """The differences ``B − A`` with intervals and p-values."""
        return deltas_frame(self.analysis)

    def label(self, variant: str) -> str:
        """``A (v2)``: the variant with the model version it served."""
        side = self.a if variant == "A" else self.b
        return f"{variant} ({side.get('model_version') or side.get('ref')})"

    def summary_lines(self) -> list[str]:
        """Plain lines for the console."""
        an = self.analysis
        what = (
            f"online split, {self.split:.0%} of requests to B"
            if self.mode == "online"
            else "shadow: A answers, B mirrored"
        )
        lines = [
            f"A/B test {self.id}: {self.label('A')} vs {self.label('B')}, {what}",
            f"  traffic: {self.traffic['sent']} requests"
            + (f", {self.traffic['mirrored']} mirrored" if self.mode == "shadow" else "")
            + f" in {self.traffic['elapsed_s']:.1f} s ({self.stream.get('source', '')})",
        ]
        for v in an.variants.values():
            q = v.quality
            quality = (
                "—" if q is None else f"{q['value']:.4f} [{q['ci_low']:.4f}, {q['ci_high']:.4f}]"
            )
            lines.append(
                f"  {self.label(v.variant)} [{v.role}]: {v.requests} requests, errors "
                f"{_pct(v.error_rate)}, p50 {_num(v.p50_ms)} ms, p99 {_num(v.p99_ms)} ms, "
                f"{an.metric} {quality}, acceptance {_pct(v.acceptance_rate)}"
            )
        lines.append(f"  decision: {self.decision.action.upper()}")
        lines += [f"    - {r}" for r in self.decision.reasons]
        lines += [f"    note: {n}" for n in (*self.decision.notes, *self.notes)]
        return lines

    def summary_markdown(self) -> str:
        """The headline of the report: the decision and its reasons."""
        colour = {"ship_b": "green", "keep_a": "firebrick"}.get(self.decision.action, "darkorange")
        # Labels carry the model refs given on the command line (bundle paths, aliases).
        head = (
            f"**{md(self.id)}** · {md(self.label('A'))} vs {md(self.label('B'))} · "
            f"mode **{md(self.mode)}**"
            + (f" (split {self.split:.0%} to B)" if self.mode == "online" else "")
            + f"\n\n### Decision: <span style='color:{colour}'>"
            f"{md(self.decision.action.replace('_', ' ').upper())}</span>\n"
        )
        reasons = "\n".join(f"- {md(r)}" for r in self.decision.reasons)
        notes = "\n".join(f"- *{md(n)}*" for n in (*self.decision.notes, *self.notes))
        return head + "\n" + reasons + ("\n\n**Notes**\n\n" + notes if notes else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as stored in ``record.json`` (``--json`` prints it)."""
        return {
            "schema": self.schema,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "mode": self.mode,
            "split": self.split,
            "seed": self.seed,
            "salt": self.salt,
            "a": self.a,
            "b": self.b,
            "stream": self.stream,
            "users": self.users,
            "traffic": self.traffic,
            "settings": self.settings,
            "analysis": self.analysis.to_dict(),
            "notes": list(self.notes),
            "report_path": self.report_path,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ABTest:
        """Inverse of :meth:`to_dict`."""
        return cls(
            id=d["id"],
            created_at=datetime.fromisoformat(d["created_at"]),
            mode=d["mode"],
            split=d["split"],
            seed=d["seed"],
            salt=d["salt"],
            a=dict(d["a"]),
            b=dict(d["b"]),
            stream=dict(d["stream"]),
            users=dict(d["users"]),
            traffic=dict(d["traffic"]),
            settings=dict(d["settings"]),
            analysis=Analysis.from_dict(d["analysis"]),
            notes=tuple(d.get("notes", ())),
            report_path=d.get("report_path"),
            schema=d.get("schema", RECORD_SCHEMA),
        )


def _pct(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.1%}"


def _num(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.2f}"


# -- files ----------------------------------------------------------------------------------------


def abtests_root(ws: Workspace) -> Path:
    """``<workspace>/abtests``."""
    return ws.root / "abtests"


def check_id(test_id: str) -> None:
    """Refuse anything but an A/B test id (ids become paths)."""
    if not _ID.fullmatch(test_id or ""):
        raise ConfigError(f"A/B test id {test_id!r} is not of the form ab-YYYYMMDD-HHMMSS-xxxxxx")


def report_html_path(ws: Workspace, test_id: str) -> Path:
    """``<workspace>/reports/abtests/<id>.html``."""
    check_id(test_id)
    return ws.reports_dir / "abtests" / f"{test_id}.html"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a file


def save_abtest(ws: Workspace, test: ABTest, requests: pd.DataFrame, labels: pd.DataFrame) -> Path:
    """Write ``record.json``, ``requests.csv`` and ``labels.csv`` of a test; return the folder."""
    check_id(test.id)
    folder = abtests_root(ws) / test.id
    folder.mkdir(parents=True, exist_ok=True)
    _write_text(folder / _REQUESTS, requests.to_csv(index=False))
    _write_text(folder / _LABELS, labels.to_csv(index=False))
    _write_text(folder / _RECORD, json.dumps(test.to_dict(), indent=1, default=str))
    return folder


def resolve_id(ws: Workspace, ref: str) -> str:
    """A stored test's id from its id or a unique prefix.

    Raises:
        RunNotFound: No test matches, or the prefix is ambiguous.
    """
    root = abtests_root(ws)
    if ref and (root / ref / _RECORD).is_file():
        return ref
    matches = sorted(p.parent.name for p in root.glob(f"{ref}*/{_RECORD}")) if ref else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(t.id for t in list_abtests(ws)[:5]) or "none yet"
        raise RunNotFound(
            f"no A/B test {ref!r} in {root} (recent: {known}); `workbench abtest --a REF --b REF` "
            "runs one"
        )
    raise RunNotFound(f"A/B test prefix {ref!r} is ambiguous ({', '.join(matches[:5])})")


def load_abtest(ws: Workspace, ref: str) -> ABTest:
    """A stored test by id or unique id prefix.

    Raises:
        RunNotFound: No test matches, or the prefix is ambiguous.
    """
    rid = resolve_id(ws, ref)
    return ABTest.from_dict(json.loads((abtests_root(ws) / rid / _RECORD).read_text()))


def load_requests(ws: Workspace, ref: str) -> pd.DataFrame:
    """The per-answer rows of a stored test (``requests.csv``)."""
    import pandas as pd

    frame = pd.read_csv(abtests_root(ws) / resolve_id(ws, ref) / _REQUESTS)
    for col in ("ok", "returned", "label_arrived"):
        if col in frame:
            frame[col] = frame[col].astype(bool)
    return frame


def load_labels(ws: Workspace, ref: str) -> pd.DataFrame:
    """The labels feed stored with a test."""
    import pandas as pd

    return pd.read_csv(abtests_root(ws) / resolve_id(ws, ref) / _LABELS)


def list_abtests(ws: Workspace) -> list[ABTest]:
    """Stored tests, newest first (unreadable records are skipped)."""
    out = []
    for path in abtests_root(ws).glob(f"*/{_RECORD}"):
        with contextlib.suppress(ValueError, KeyError, TypeError, OSError):
            out.append(ABTest.from_dict(json.loads(path.read_text())))
    return sorted(out, key=lambda t: (t.created_at, t.id), reverse=True)


def _set_report_path(ws: Workspace, test_id: str, html: Path) -> None:
    path = abtests_root(ws) / test_id / _RECORD
    record = json.loads(path.read_text())
    record["report_path"] = str(html)
    _write_text(path, json.dumps(record, indent=1, default=str))


# -- the report -----------------------------------------------------------------------------------


def render_report(
    ws: Workspace, test_id: str, *, reviewer: bool = False, log_output: bool = False
) -> Path:
    """Execute notebook 06 on a stored test and export it to a self-contained HTML page.

    The executed notebook goes to ``abtests/<id>/06_abtest.ipynb``, the page to
    ``reports/abtests/<id>.html``, and its path into the record (also when a cell fails and
    the partial notebook is exported).

    Raises:
        RunNotFound: No such test.
        StageFailed: A notebook cell raised (the partial notebook is kept and exported).
    """
    from workbench.execute import render_report as execute_report

    rid = resolve_id(ws, test_id)
    return execute_report(
        NOTEBOOK,
        out=abtests_root(ws) / rid / NOTEBOOK,
        html=report_html_path(ws, rid),
        parameters={"workspace": str(ws.root), "abtest_id": rid},
        stage="abtest",
        owner=rid,
        title=f"{rid} · A/B test",
        reviewer=reviewer,
        log_output=log_output,
        on_export=lambda html: _set_report_path(ws, rid, html),
    )


def notebook_abtest(ws: Workspace, abtest_id: str = "") -> ABTest | None:
    """What notebook 06 shows: the given test, else the newest stored one (``None``: none)."""
    if abtest_id:
        return load_abtest(ws, abtest_id)
    stored = list_abtests(ws)
    if stored:
        print(f"showing the newest stored A/B test, {stored[0].id}")
        return stored[0]
    print("nothing to show yet: run `workbench abtest --a REF --b REF --mode online|shadow`")
    return None


# -- the index ------------------------------------------------------------------------------------


def index_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "A/B tests" table of ``reports/index.html`` (nothing when there is no test).

    Provider string for :data:`workbench.reports.SECTION_PROVIDERS`:
    ``"workbench.abtest:index_sections"``.
    """
    from workbench.reports import IndexLink, IndexSection

    tests = list_abtests(ws)
    if not tests:
        return []
    rows: list[tuple[str | IndexLink, ...]] = []
    for t in tests:
        link: str | IndexLink = "—"
        if t.report_path and Path(t.report_path).is_file():
            href = os.path.relpath(Path(t.report_path).resolve(), ws.reports_dir.resolve())
            link = IndexLink("open", Path(href).as_posix(), tooltip=f"A/B test {t.id}")
        rows.append(
            (
                t.id,
                t.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                t.mode if t.mode == "shadow" else f"online {t.split:.0%}",
                t.label("A"),
                t.label("B"),
                str(t.traffic.get("sent", "—")),
                _delta_cell(t, "acceptance"),
                _delta_cell(t, t.analysis.metric),
                _delta_cell(t, "p99_ms"),
                t.decision.action,
                link,
            )
        )
    return [
        IndexSection(
            "A/B tests",
            columns=(
                "test",
                "when",
                "mode",
                "A",
                "B",
                "requests",
                "acceptance B − A",
                "quality B − A",
                "p99 ms B − A",
                "decision",
                "report",
            ),
            rows=tuple(rows),
            note="B − A with p-values; acceptance comes from simulated users (see each report); "
            "shadow tests never return B's answers",
        )
    ]


def _delta_cell(test: ABTest, name: str) -> str:
    d = test.analysis.delta(name)
    if d is None or not math.isfinite(d.value):
        return "—"
    p = "" if not math.isfinite(d.p_value) else f" (p {d.p_value:.2g})"
    return f"{d.value:+.3g}{p}"


def rebuild_index(ws: Workspace, store: Store) -> Path:
    """Rebuild ``reports/index.html`` with the A/B table, whether the provider is wired or not."""
    from workbench.reports import SECTION_PROVIDERS, build_index, default_sections

    sections = default_sections(ws, store)
    if PROVIDER not in SECTION_PROVIDERS:
        sections += index_sections(ws, store)
    return build_index(ws, store, sections)
