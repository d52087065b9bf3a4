"""The monitor report: thresholds, what was measured per window, and its JSON record.

:class:`MonitorReport` holds the frames :func:`~workbench.monitor.monitor` computed (windows,
feature drift, prediction drift, quality, latency) and the views the CLI, the retrain decision
and notebook 07 read (flagged features, the feature summary, the latest quality, a summary in
words). :meth:`MonitorReport.to_dict` / :meth:`MonitorReport.from_dict` are its record, which
the store keeps (``workbench.store``: one row per report, one per window).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from ..exceptions import ConfigError
from ..safehtml import md, md_code
from ..stats import CORRECTIONS

__all__ = ["DEFAULT_WINDOW", "RECORD_SCHEMA", "MonitorReport", "Thresholds"]

#: Requests per window.
DEFAULT_WINDOW = 250
#: Layout version of a stored report.
RECORD_SCHEMA = 1


@dataclass(frozen=True)
class Thresholds:
    """When the monitor calls drift and decay (the rules: :mod:`workbench.monitor`).

    Attributes:
        psi_warn: PSI at which a feature is worth a look.
        psi_alert: PSI at which (with a significant test) a feature has drifted.
        alpha: Significance level of the corrected per-window tests.
        correction: ``holm`` (family-wise error), ``bh`` (false discovery rate) or ``none``.
        decay_gate: Relative loss of the headline metric tolerated before calling decay.
        min_labels: Labelled rows a window needs before its quality is judged.
        min_rows: Rows a window needs before its drift is judged.
    """

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    alpha: float = 0.05
    correction: str = "holm"
    decay_gate: float = 0.05
    min_labels: int = 30
    min_rows: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.psi_warn <= self.psi_alert:
            raise ConfigError(
                f"PSI thresholds need 0 < warn <= alert, got warn {self.psi_warn} and alert "
                f"{self.psi_alert}; the usual values are 0.1 and 0.25"
            )
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be within (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ConfigError(
                f"correction {self.correction!r} is not one of {', '.join(CORRECTIONS)}"
            )
        if not 0 <= self.decay_gate < 1:
            raise ConfigError(f"decay_gate is a relative loss within [0, 1), got {self.decay_gate}")


@dataclass(frozen=True)
class MonitorReport:
    """What the monitor measured, window by window. Frames are in window order.

    Attributes:
        id: ``mon-<utc time>-<hex>``.
        created_at: When it was computed.
        source: Where the traffic, reference and labels came from.
        reference: The profile's summary (source, rows, metric, model version).
        settings: Window size, thresholds, ``as_of``.
        features: Monitored features.
        task: The model's task (``None`` when unknown).
        windows: ``window, start_row, end_row, n, start_ts, end_ts, n_labelled``.
        drift: Per window and feature: ``n, psi, statistic, p_value, p_adj, test, missing,
            out_of_range, status`` (``ok``, ``warn``, ``alert``, ``too few rows``).
        prediction: Per window: ``n, psi, statistic, p_value, status, mean``.
        quality: Per window: ``n_labelled, metric, value, ci_low, ci_high, reference, decay,
            status`` (``ok``, ``decayed``, ``too few labels``).
        latency: Per window: ``requests, p50_ms, p99_ms, mean_ms``.
        notes: Things the reader should know (unmatched labels, skipped log lines, ...).
        report_path: The HTML page, once rendered.
    """

    id: str
    created_at: datetime
    source: dict[str, Any]
    reference: dict[str, Any]
    settings: dict[str, Any]
    features: tuple[str, ...]
    task: str | None
    windows: pd.DataFrame
    drift: pd.DataFrame
    prediction: pd.DataFrame
    quality: pd.DataFrame
    latency: pd.DataFrame
    notes: tuple[str, ...] = ()
    report_path: str | None = None

    # -- views --------------------------------------------------------------------------------

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**self.settings["thresholds"])

    @property
    def n_windows(self) -> int:
        return len(self.windows)

    def latest_judged_window(self) -> int | None:
        """The last window with enough rows to judge drift (``None`` without traffic)."""
        judged = self.drift[self.drift["status"] != "too few rows"]
        return int(judged["window"].max()) if len(judged) else None

    def flagged_features(self, window: int | None = None) -> list[str]:
        """Features in ``alert`` in ``window`` (default the latest judged one), worst first."""
        w = self.latest_judged_window() if window is None else window
        rows = self.drift[(self.drift["window"] == w) & (self.drift["status"] == "alert")]
        return rows.sort_values("psi", ascending=False)["feature"].tolist()

    def feature_summary(self) -> pd.DataFrame:
        """Per feature: its latest PSI, corrected p-value and status, its worst PSI, and the
        first window it was in alert; the most drifted first."""
        cols = ["feature", "psi", "p_adj", "status", "max_psi", "first_alert", "out_of_range"]
        w = self.latest_judged_window()
        if w is None:
            return pd.DataFrame(columns=cols).set_index("feature")
        latest = self.drift[self.drift["window"] == w].set_index("feature")
        grouped = self.drift.groupby("feature")
        alerts = self.drift[self.drift["status"] == "alert"].groupby("feature")["window"].min()
        frame = pd.DataFrame(
            {
                "psi": latest["psi"],
                "p_adj": latest["p_adj"],
                "status": latest["status"],
                "max_psi": grouped["psi"].max(),
                "first_alert": alerts.reindex(latest.index).astype("Int64"),
                "out_of_range": latest["out_of_range"],
            }
        )
        frame.index.name = "feature"
        return frame.sort_values("psi", ascending=False)

    def prediction_drift(self) -> dict[str, Any] | None:
        """The latest judged window's prediction drift entry (``None`` without predictions)."""
        judged = self.prediction[self.prediction["status"] != "too few rows"]
        return None if judged.empty else judged.iloc[-1].to_dict()

    def latest_quality(self) -> dict[str, Any] | None:
        """The latest window with enough labels (``None`` when none has)."""
        judged = self.quality[self.quality["status"] != "too few labels"]
        return None if judged.empty else judged.iloc[-1].to_dict()

    def summary_lines(self) -> list[str]:
        """A few sentences: traffic, drifted features, prediction drift, quality, latency."""
        t = self.thresholds
        n = int(self.windows["n"].sum()) if len(self.windows) else 0
        lines = [
            f"{n} requests in {self.n_windows} window(s) of {self.settings['window']} from "
            f"{self.source.get('traffic', '?')}; reference: {self.reference.get('source')}."
        ]
        flagged = self.flagged_features()
        w = self.latest_judged_window()
        if w is None:
            lines.append("Too little traffic to judge drift.")
        elif flagged:
            lines.append(
                f"Drift in window {w}: {', '.join(flagged)} (PSI ≥ {t.psi_alert} and "
                f"{t.correction}-corrected p < {t.alpha})."
            )
        else:
            lines.append(f"No feature drifted in window {w}.")
        noise = self.settings.get("psi_noise")
        if w is not None and noise:
            lines.append(
                f"Sampling alone gives PSI ≈ {noise:.2f} on average with "
                f"{self.reference.get('n_rows')} reference rows and windows of "
                f"{self.settings['window']}: warnings near that level are noise."
            )
        pred = self.prediction_drift()
        if pred is not None:
            lines.append(
                f"Prediction drift in window {int(pred['window'])}: PSI "
                f"{pred['psi']:.3f} ({pred['status']})."
            )
        q = self.latest_quality()
        if q is not None:
            lines.append(
                f"Quality in window {int(q['window'])}: {q['metric']} {q['value']:.4f} "
                f"[{q['ci_low']:.4f}, {q['ci_high']:.4f}] vs reference {q['reference']:.4f} "
                f"({q['status']})."
            )
        elif not self.quality.empty:
            lines.append("Not enough labels yet in any window to judge quality.")
        if not self.latency.empty:
            last = self.latency.iloc[-1]
            lines.append(
                f"Latency in window {int(last['window'])}: p50 {last['p50_ms']:.2f} ms, "
                f"p99 {last['p99_ms']:.2f} ms."
            )
        return lines

    def summary_markdown(self) -> str:
        """The summary as Markdown for the report's first cell."""
        head = f"**Monitor report {md_code(self.id)}** ({self.created_at:%Y-%m-%d %H:%M UTC})"
        # The lines name features (column names of the traffic): user text.
        notes = [f"- note: {md(n)}" for n in self.notes]
        lines = [f"- {md(line)}" for line in self.summary_lines()]
        return "\n".join([head, "", *lines, *notes])

    # -- records -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record (NaN becomes ``null``, times ISO 8601)."""
        return {
            "schema": RECORD_SCHEMA,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "source": self.source,
            "reference": self.reference,
            "settings": self.settings,
            "features": list(self.features),
            "task": self.task,
            "windows": _records(self.windows),
            "drift": _records(self.drift),
            "prediction": _records(self.prediction),
            "quality": _records(self.quality),
            "latency": _records(self.latency),
            "notes": list(self.notes),
            "report_path": self.report_path,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MonitorReport:
        """Rebuild a report from its record.

        Raises:
            ConfigError: The record was written by a newer workbench.
        """
        if d.get("schema") != RECORD_SCHEMA:
            raise ConfigError(
                f"monitor record {d.get('id')!r} has schema {d.get('schema')!r}; this "
                f"workbench reads schema {RECORD_SCHEMA}; upgrade workbench to read it"
            )
        windows = pd.DataFrame(d["windows"], columns=_WINDOW_COLS)
        for col in ("start_ts", "end_ts"):
            windows[col] = pd.to_datetime(windows[col], utc=True)
        return cls(
            id=d["id"],
            created_at=datetime.fromisoformat(d["created_at"]),
            source=dict(d["source"]),
            reference=dict(d["reference"]),
            settings=dict(d["settings"]),
            features=tuple(d["features"]),
            task=d.get("task"),
            windows=windows,
            drift=_frame(d["drift"], _DRIFT_COLS),
            prediction=_frame(d["prediction"], _PREDICTION_COLS),
            quality=_frame(d["quality"], _QUALITY_COLS),
            latency=_frame(d["latency"], _LATENCY_COLS),
            notes=tuple(d.get("notes") or ()),
            report_path=d.get("report_path"),
        )


_WINDOW_COLS = ["window", "start_row", "end_row", "n", "start_ts", "end_ts", "n_labelled"]
_DRIFT_COLS = [
    "window",
    "feature",
    "n",
    "psi",
    "statistic",
    "p_value",
    "p_adj",
    "test",
    "missing",
    "out_of_range",
    "status",
]
_PREDICTION_COLS = ["window", "n", "psi", "statistic", "p_value", "status", "mean"]
_QUALITY_COLS = [
    "window",
    "n_labelled",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "reference",
    "decay",
    "status",
]
_LATENCY_COLS = ["window", "requests", "p50_ms", "p99_ms", "mean_ms"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # pandas writes NaN as null and timestamps as ISO strings; json.loads gives plain values.
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="s"))


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=columns)
    for col in frame.columns:
        if col not in ("feature", "test", "status", "metric"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame
