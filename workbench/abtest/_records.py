"""Stored A/B tests: the record, its files, the HTML report (notebook 06) and the index table.

The record is a row of the store (``wb_abtests``, with a row per variant in
``wb_abtest_variants``), so every process on the same store lists the same tests; the bulk stays
files in the test's folder under the artifact root (the workspace, or ``WORKBENCH_ARTIFACTS``)::

    <artifacts>/abtests/<id>/requests.csv     one row per answer (served and mirrored)
    <artifacts>/abtests/<id>/labels.csv       the delayed-labels feed of the requests sent
    <artifacts>/abtests/<id>/stub-A.jsonl     prediction logs of both stubs (keyed by request)
    <artifacts>/abtests/<id>/stub-B.jsonl
    <artifacts>/abtests/<id>/06_abtest.ipynb  the executed notebook
    <artifacts>/reports/abtests/<id>.html     the report, linked from reports/index.html

The files are written before the row (a listed test always has them), each through a
temporary name and a rename. Older workspaces' ``abtests/<id>/record.json`` files are imported
into the store when the workspace is opened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench._files import atomic_write_text, child_path
from workbench.exceptions import ConfigError
from workbench.safehtml import md
from workbench.store import ABTestRecord

from ._results import Analysis, Decision, deltas_frame, variants_frame
from ._users import UserModel

if TYPE_CHECKING:
    import pandas as pd

    from workbench.config import Workspace
    from workbench.store import Store

__all__ = [
    "NOTEBOOK",
    "ABTest",
    "abtest_folder",
    "list_abtests",
    "load_abtest",
    "load_labels",
    "load_requests",
    "render_report",
    "report_html_path",
    "save_abtest",
]

NOTEBOOK = "06_abtest.ipynb"
RECORD_SCHEMA = 1
_REQUESTS = "requests.csv"
_LABELS = "labels.csv"
_WHAT = "A/B test id"


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
        """Plain data, as the store keeps it (``--json`` prints it)."""
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


# -- the store and the files ---------------------------------------------------------------------


def abtest_folder(ws: Workspace, test_id: str) -> Path:
    """``<artifacts>/abtests/<id>``: where a new test's files go.

    Raises:
        ConfigError: ``test_id`` cannot name a folder.
    """
    return child_path(ws.artifact_root / "abtests", test_id, what=_WHAT)


def report_html_path(ws: Workspace, test_id: str) -> Path:
    """``<artifacts>/reports/abtests/<id>.html``.

    Raises:
        ConfigError: ``test_id`` cannot name a file.
    """
    return child_path(ws.reports_dir / "abtests", test_id, what=_WHAT, suffix=".html")


def save_abtest(
    ws: Workspace, store: Store, test: ABTest, requests: pd.DataFrame, labels: pd.DataFrame
) -> Path:
    """Write ``requests.csv`` and ``labels.csv`` of a test, then record it; return its folder.

    Raises:
        ConfigError: The id cannot name a folder.
        StoreError: The id is taken or the store refused.
    """
    folder = abtest_folder(ws, test.id)
    atomic_write_text(folder / _REQUESTS, requests.to_csv(index=False))
    atomic_write_text(folder / _LABELS, labels.to_csv(index=False))
    rec = ABTestRecord.from_record(test.to_dict(), folder=str(folder))
    store.add_abtest(rec)
    return folder


def _from_record(rec: ABTestRecord) -> ABTest:
    return ABTest.from_dict({**rec.record, "report_path": rec.report_path})


def load_abtest(store: Store, ref: str) -> ABTest:
    """A stored test by id or unique id prefix.

    Raises:
        RunNotFound: No test matches, or the prefix is ambiguous.
    """
    return _from_record(store.get_abtest(ref))


def list_abtests(store: Store, *, limit: int | None = None) -> list[ABTest]:
    """Stored tests, newest first."""
    return [_from_record(r) for r in store.list_abtests(limit=limit)]


def _payload(store: Store, ref: str, name: str, what: str) -> Path:
    rec = store.get_abtest(ref)
    path = Path(rec.folder) / name
    if not path.is_file():
        raise ConfigError(
            f"the {what} of A/B test {rec.id} are missing: no {path}. The store keeps files "
            "relative to the artifact root; if the workspace moved, copy its abtests/ folder "
            "along (or set WORKBENCH_ARTIFACTS to the folder that holds it)"
        )
    return path


def load_requests(store: Store, ref: str) -> pd.DataFrame:
    """The per-answer rows of a stored test (``requests.csv``).

    Raises:
        RunNotFound: No test matches.
        ConfigError: Its file is missing.
    """
    import pandas as pd

    frame = pd.read_csv(_payload(store, ref, _REQUESTS, "requests"))
    for col in ("ok", "returned", "label_arrived"):
        if col in frame:
            frame[col] = frame[col].astype(bool)
    return frame


def load_labels(store: Store, ref: str) -> pd.DataFrame:
    """The labels feed stored with a test.

    Raises:
        RunNotFound: No test matches.
        ConfigError: Its file is missing.
    """
    import pandas as pd

    return pd.read_csv(_payload(store, ref, _LABELS, "labels"))


# -- the report -----------------------------------------------------------------------------------


def render_report(
    ws: Workspace,
    store: Store,
    test_id: str,
    *,
    reviewer: bool | None = None,
    standalone: bool | None = None,
    log_output: bool = False,
) -> Path:
    """Execute notebook 06 on a stored test and export it to an HTML page (``reviewer`` and
    ``standalone`` default to the workspace's report settings).

    The executed notebook goes to the test's folder, the page to
    ``reports/abtests/<id>.html``, and its path into the record (also when a cell fails and
    the partial notebook is exported).

    Raises:
        RunNotFound: No such test.
        StageFailed: A notebook cell raised (the partial notebook is kept and exported).
    """
    from workbench.execute import render_report as execute_report
    from workbench.headers import abtest_header

    rec = store.get_abtest(test_id)
    return execute_report(
        NOTEBOOK,
        out=Path(rec.folder) / NOTEBOOK,
        html=report_html_path(ws, rec.id),
        parameters={"workspace": str(ws.root), "abtest_id": rec.id},
        stage="abtest",
        owner=rec.id,
        title=f"{rec.id} · A/B test",
        workspace=ws,
        reviewer=reviewer,
        standalone=standalone,
        log_output=log_output,
        on_export=lambda html: store.set_abtest_report(rec.id, html),
        header=lambda: abtest_header(ws, store, rec.id),
    )
