"""Watch a released model: feature and prediction drift, quality decay, latency, over windows.

The monitor compares live traffic (a stub's prediction log, a CSV of requests or a synthetic
:class:`~workbench.traffic.Stream`) with a *reference profile* of the data the model was built
on, window by window (``window`` consecutive requests each, in time order):

* **feature drift**: per feature, the population stability index (PSI) over 10 bins cut at the
  reference's deciles, ``PSI = Σ (cur − ref) · ln(cur / ref)`` with every share floored at
  ``epsilon = 1e-4`` (an empty bin would otherwise make it infinite), and a two-sample test:
  Kolmogorov–Smirnov (``scipy.stats.ks_2samp``) for numeric features, chi-square for
  categorical ones. The p-values of one window are corrected for testing many features at once
  (Holm by default, controlling the family-wise error rate; ``bh`` is Benjamini–Hochberg).
* **prediction drift**: the same PSI and test on the model's output (the positive-class
  probability for binary classifiers, the predicted class for multiclass, the value for
  regression).
* **quality decay**: once labels arrive (joined by request key), the task's headline metric
  per window with a bootstrap 95% CI, against the reference metric measured on the test split.
* **latency trend**: p50/p99 per window, from the prediction log.

Thresholds (:class:`Thresholds`; PSI levels are the usual credit-scoring conventions)::

    PSI < 0.1 stable · 0.1 ≤ PSI < 0.25 warn · PSI ≥ 0.25 alert
    feature status   alert  PSI ≥ psi_alert AND corrected p < alpha (0.05)
                     warn   PSI ≥ psi_warn OR corrected p < alpha
    decay            the window's metric is worse than the reference by more than decay_gate
                     (relative, 5%) AND its 95% CI lies entirely on the worse side

Both conditions are needed for an alert because each alone misleads on small windows: PSI is
biased upwards by sampling noise (about ``(bins − 1) · (1/n_ref + 1/n_cur)`` with no drift at
all, ≈ 0.1 for 114 reference rows and 250 live rows), and a test on many rows rejects
differences too small to matter.

The reference profile (:func:`workbench.profile.reference_profile`) holds per feature the decile
edges and shares, a sorted sample (≤ 512 values) for the KS test, the range seen in training, and
the reference prediction distribution and metric; the statistics are those of
:mod:`workbench.stats`. A bundle without a stored profile gets one built from its
``evidence/test_split.json`` and the manifest's ranges (:func:`profile_from_bundle`).

Example::

    report = monitor_files(log="logs/predictions.jsonl", bundle="exports/run-42",
                           labels="labels.csv", window=250)
    report.flagged_features()        # ['mean radius', ...] in the latest window
    show(drift_heatmap(report))
    path = save_report(ws, report)   # <workspace>/monitor/<id>/report.json
    html = render_report(ws, report.id)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .exceptions import ConfigError, DatasetError, RunNotFound
from .profile import label_index, reference_profile
from .safehtml import escape, md, md_code
from .stats import (
    CORRECTIONS,
    HEADLINE,
    N_BINS,
    adjust_p_values,
    bootstrap_metrics,
    feature_test,
    get_metric,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from .config import Workspace
    from .reports import IndexSection
    from .store import Store
    from .traffic import Stream

__all__ = [
    "DEFAULT_WINDOW",
    "NOTEBOOK",
    "PROVIDER",
    "MonitorInputs",
    "MonitorReport",
    "Thresholds",
    "attach_record",
    "drift_heatmap",
    "index_sections",
    "latency_figure",
    "list_reports",
    "load_decision",
    "load_inputs",
    "load_record",
    "load_report",
    "monitor",
    "monitor_files",
    "monitor_inputs",
    "notebook_report",
    "prediction_figure",
    "profile_from_bundle",
    "quality_figure",
    "rebuild_index",
    "render_report",
    "report_html_path",
    "save_report",
]

#: Requests per window.
DEFAULT_WINDOW = 250
#: The notebook that renders a monitor report.
NOTEBOOK = "07_monitor.ipynb"
#: Layout version of a stored report.
RECORD_SCHEMA = 1
_REPORT_FILE = "report.json"
_DECISION_FILE = "decision.json"
_ID = re.compile(r"mon-[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")


@dataclass(frozen=True)
class Thresholds:
    """When the monitor calls drift and decay (see the module docstring for the rules).

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


# -- the profile of a bundle ------------------------------------------------------------------


def profile_from_bundle(bundle_dir: str | Path) -> dict[str, Any]:
    """The reference profile of a bundle: stored, or built from its evidence and manifest.

    Looks for ``manifest["reference_profile"]``, then ``evidence/reference_profile.json``;
    otherwise builds one from ``evidence/test_split.json`` (the test rows, their true labels
    and the model's offline outputs), with the training ranges of the manifest's signature.

    Raises:
        ConfigError: The folder is not a bundle, or it holds neither a profile nor evidence.
    """
    from .bundle import Manifest

    manifest = Manifest.read(bundle_dir)
    stored = manifest.data.get("reference_profile")
    path = Path(bundle_dir) / "evidence" / "reference_profile.json"
    if stored is None and path.is_file():
        stored = json.loads(path.read_text())
    if stored is not None:
        return dict(stored)
    if not manifest.evidence_path.is_file():
        raise ConfigError(
            f"bundle {bundle_dir} has no reference profile and no {manifest.evidence_path.name}; "
            "re-export it with `workbench export` so the monitor has a reference"
        )
    return _profile_from_evidence(manifest)


def _profile_from_evidence(manifest: Any) -> dict[str, Any]:
    evidence = json.loads(manifest.evidence_path.read_text())
    signature = {f["name"]: f for f in manifest.features}
    X = pd.DataFrame(evidence["rows"], columns=evidence["features"])
    for name in X.columns:
        if signature.get(name, {}).get("kind") in ("number", "integer"):
            X[name] = pd.to_numeric(X[name], errors="coerce").astype(float)
    output = manifest.data["output"]
    expected = evidence.get("expected") or {}
    task = manifest.task
    score = None
    if task == "regression" and expected.get("values") is not None:
        score = np.asarray(expected["values"], dtype=float)
    elif expected.get("probabilities") is not None:
        score = np.asarray(expected["probabilities"], dtype=float)
    ranges = {n: (f.get("min"), f.get("max")) for n, f in signature.items() if "min" in f}
    profile = reference_profile(
        X,
        y_score=score,
        y_true=evidence.get("y_true"),
        task=task,
        class_values=output.get("class_values"),
        classes=output.get("classes"),
        ranges=ranges,
        source=f"bundle evidence: {len(X)} test rows; training ranges from the manifest",
    )
    if profile["quality"] is None and manifest.data.get("metrics"):
        profile["quality"] = _quality_from_metrics(manifest.data["metrics"], task)
    profile["model_version"] = manifest.model_version
    return profile


def _quality_from_metrics(metrics: Mapping[str, Any], task: str) -> dict[str, Any] | None:
    values = {
        k: float(v["value"] if isinstance(v, Mapping) else v)
        for k, v in metrics.items()
        if isinstance(v, int | float) or (isinstance(v, Mapping) and "value" in v)
    }
    if HEADLINE[task] not in values:
        return None
    return {"headline": HEADLINE[task], "metrics": values, "n": None}


# -- the report -------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return "mon-" + _now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


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


# -- monitoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Predictions:
    """Model outputs aligned with the monitored rows."""

    proba: np.ndarray | None = None  # (n, k), classes in profile order
    pred_index: np.ndarray | None = None  # (n,), float with NaN where unknown
    values: np.ndarray | None = None  # regression
    latency_ms: np.ndarray | None = None
    request_id: np.ndarray | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _windows(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, end)`` row ranges of ``size``; a short tail joins the previous."""
    if size < 1:
        raise ConfigError(f"window must be at least 1 request, got {size}")
    bounds = [(s, min(s + size, n)) for s in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < size / 2:
        bounds[-2] = (bounds[-2][0], n)
        bounds.pop()
    return bounds


def _window_frame(
    stamps: pd.Series, bounds: list[tuple[int, int]], labelled: np.ndarray
) -> pd.DataFrame:
    rows = [
        (i, s, e, e - s, stamps.iloc[s], stamps.iloc[e - 1], int(labelled[s:e].sum()))
        for i, (s, e) in enumerate(bounds)
    ]
    return pd.DataFrame(rows, columns=_WINDOW_COLS)


def monitor(
    stream: Stream,
    profile: Mapping[str, Any],
    *,
    labels: pd.DataFrame | None = None,
    window: int = DEFAULT_WINDOW,
    thresholds: Thresholds | None = None,
    as_of: Any = None,
    model: Any = None,
    source: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> MonitorReport:
    """Measure drift, decay and latency of a stream against a reference profile.

    Args:
        stream: The traffic (see :mod:`workbench.traffic`); a replayed prediction log brings
            the model's outputs and latencies with it.
        profile: A reference profile (:func:`reference_profile`, :func:`profile_from_bundle`).
        labels: Delayed labels (``key``, ``label``, optional ``label_ts``); default the
            stream's own labels feed.
        window: Requests per window.
        thresholds: Drift and decay rules; default :class:`Thresholds`.
        as_of: Count only labels that had arrived by then (default: all).
        model: A fitted pipeline to predict with when the stream carries no outputs.
        source: Where the inputs came from, for the record.
        seed: Seed of the bootstrap intervals of the quality metric.

    Returns:
        The :class:`MonitorReport` (not yet saved; see :func:`save_report`).

    Raises:
        DatasetError: The stream lacks features the profile has.
    """
    from .traffic import KEY, LABEL, LABEL_TS, TS

    t = thresholds or Thresholds()
    names = [n for n in profile["features"] if n in stream.features]
    missing = [n for n in profile["features"] if n not in stream.features]
    if missing:
        raise DatasetError(
            f"the traffic lacks feature(s) {', '.join(map(repr, missing[:5]))} of the reference; "
            f"it has {', '.join(list(stream.features)[:5])}, ...: monitor traffic of the "
            "model the profile belongs to"
        )
    order = np.argsort(stream.requests[TS].to_numpy(), kind="stable")
    frame = stream.requests.iloc[order].reset_index(drop=True)
    preds = _align_predictions(stream, frame, profile, model)
    feed = stream.labels if labels is None else labels
    if as_of is not None:
        from .traffic import _utc

        cut = _utc(as_of)  # a ConfigError naming the value, not a pandas traceback
        if len(feed):
            feed = feed[feed[LABEL_TS].isna() | (feed[LABEL_TS] <= cut)]
    y_idx, y_raw, label_notes = _join_labels(frame[KEY], feed, profile, KEY, LABEL)
    bounds = _windows(len(frame), window)
    labelled = ~np.isnan(y_idx if profile.get("task") == "classification" else y_raw)
    windows = _window_frame(frame[TS], bounds, labelled)
    drift = _drift_frame(frame, names, profile, bounds, t)
    prediction = _prediction_frame(preds, profile, bounds, t)
    quality = _quality_frame(preds, profile, bounds, y_idx, y_raw, t, seed)
    latency = _latency_frame(preds, bounds)
    reference = {
        "source": profile.get("source"),
        "n_rows": profile.get("n_rows"),
        "model_version": profile.get("model_version"),
        "quality": profile.get("quality"),
        "prediction": (profile.get("prediction") or {}).get("what"),
    }
    n_ref = int(profile.get("n_rows") or 0)
    bins = int(profile.get("n_bins", N_BINS))
    settings = {
        "window": window,
        # PSI's mean under no drift at all (chi-square approximation), for the reader's scale.
        "psi_noise": round((bins - 1) * (1 / max(n_ref, 1) + 1 / window), 4),
        "thresholds": asdict(t),
        "as_of": None if as_of is None else str(as_of),
        "n_bins": profile.get("n_bins", N_BINS),
        "stream": stream.settings,
    }
    return MonitorReport(
        id=_new_id(),
        created_at=_now(),
        source={"traffic": stream.source, **dict(source or {})},
        reference=reference,
        settings=_jsonify(settings),
        features=tuple(names),
        task=profile.get("task") or stream.task,
        windows=windows,
        drift=drift,
        prediction=prediction,
        quality=quality,
        latency=latency,
        notes=tuple(preds.notes) + tuple(label_notes),
    )


def _jsonify(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _status(psi_value: float, p_adj: float, t: Thresholds) -> str:
    significant = bool(np.isfinite(p_adj) and p_adj < t.alpha)
    if np.isfinite(psi_value) and psi_value >= t.psi_alert and significant:
        return "alert"
    if (np.isfinite(psi_value) and psi_value >= t.psi_warn) or significant:
        return "warn"
    return "ok"


def _drift_frame(
    frame: pd.DataFrame,
    names: list[str],
    profile: Mapping[str, Any],
    bounds: list[tuple[int, int]],
    t: Thresholds,
) -> pd.DataFrame:
    rows = []
    for i, (s, e) in enumerate(bounds):
        part = frame.iloc[s:e]
        tests = [feature_test(profile["features"][name], part[name]) for name in names]
        adjusted = adjust_p_values([r["p_value"] for r in tests], t.correction)
        for name, r, p_adj in zip(names, tests, adjusted, strict=True):
            status = "too few rows" if e - s < t.min_rows else _status(r["psi"], p_adj, t)
            rows.append(
                {
                    "window": i,
                    "feature": name,
                    **{k: r[k] for k in ("n", "psi", "statistic", "p_value")},
                    "p_adj": p_adj,
                    "test": r["test"],
                    "missing": r["missing"],
                    "out_of_range": r["out_of_range"],
                    "status": status,
                }
            )
    return pd.DataFrame(rows, columns=_DRIFT_COLS)


def _prediction_values(preds: _Predictions, profile: Mapping[str, Any]) -> np.ndarray | None:
    entry = profile.get("prediction")
    if entry is None:
        return None
    if preds.values is not None:
        return preds.values
    if entry["kind"] == "numeric" and preds.proba is not None and preds.proba.shape[1] == 2:
        return preds.proba[:, 1]
    if entry["kind"] == "categorical" and preds.pred_index is not None:
        idx = preds.pred_index
        return np.array([None if np.isnan(v) else str(int(v)) for v in idx], dtype=object)
    return None


def _prediction_frame(
    preds: _Predictions, profile: Mapping[str, Any], bounds: list[tuple[int, int]], t: Thresholds
) -> pd.DataFrame:
    values = _prediction_values(preds, profile)
    if values is None:
        return pd.DataFrame(columns=_PREDICTION_COLS)
    rows = []
    for i, (s, e) in enumerate(bounds):
        r = feature_test(profile["prediction"], values[s:e])
        # One test per window: no correction, the level is alpha itself.
        status = "too few rows" if e - s < t.min_rows else _status(r["psi"], r["p_value"], t)
        numeric = pd.to_numeric(pd.Series(values[s:e]), errors="coerce")
        rows.append(
            {
                "window": i,
                "n": r["n"],
                "psi": r["psi"],
                "statistic": r["statistic"],
                "p_value": r["p_value"],
                "status": status,
                "mean": float(numeric.mean()) if numeric.notna().any() else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=_PREDICTION_COLS)


def _quality_frame(
    preds: _Predictions,
    profile: Mapping[str, Any],
    bounds: list[tuple[int, int]],
    y_idx: np.ndarray,
    y_raw: np.ndarray,
    t: Thresholds,
    seed: int,
) -> pd.DataFrame:
    ref = profile.get("quality") or {}
    task = profile.get("task")
    metric, scores = _quality_inputs(preds, ref, task)
    if metric is None or task is None:
        return pd.DataFrame(columns=_QUALITY_COLS)
    higher = get_metric(metric).higher_is_better
    reference = (ref.get("metrics") or {}).get(metric)
    rows = []
    for i, (s, e) in enumerate(bounds):
        y = y_idx[s:e] if task == "classification" else y_raw[s:e]
        known = ~np.isnan(y)
        row = {
            "window": i,
            "n_labelled": int(known.sum()),
            "metric": metric,
            "value": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "reference": reference,
            "decay": np.nan,
            "status": "too few labels",
        }
        if known.sum() >= max(t.min_labels, 2):
            est = _window_metric(task, metric, y[known], scores[s:e][known], profile, seed)
            if est is not None:
                row.update(value=est.value, ci_low=est.ci_low, ci_high=est.ci_high)
                row.update(_decay(est, reference, higher, t))
        rows.append(row)
    return pd.DataFrame(rows, columns=_QUALITY_COLS)


def _quality_inputs(
    preds: _Predictions, ref: Mapping[str, Any], task: str | None
) -> tuple[str | None, np.ndarray | None]:
    """The metric to follow and the scores it needs; the reference must have measured it."""
    measured = ref.get("metrics") or {}
    if task == "regression" and preds.values is not None:
        name = ref.get("headline") or "rmse"
        return (name if name in measured or not measured else None), preds.values
    if task == "classification":
        if preds.proba is not None and "roc_auc" in measured:
            return "roc_auc", preds.proba
        if preds.pred_index is not None and "accuracy" in measured:
            return "accuracy", preds.pred_index
    return None, None


def _window_metric(
    task: str,
    metric: str,
    y: np.ndarray,
    scores: np.ndarray,
    profile: Mapping[str, Any],
    seed: int,
) -> Any:
    if task == "classification":
        y = y.astype(int)
        k = len(profile.get("classes") or []) or int(np.nanmax(y)) + 1
        labels = np.arange(k)
        if metric == "roc_auc" and len(np.unique(y)) < 2:
            return None  # AUC is undefined with one class present
        if scores.ndim == 1:
            keep = ~np.isnan(scores)
            y, scores = y[keep], scores[keep].astype(int)
    else:
        labels = None
    with np.errstate(all="ignore"):
        return bootstrap_metrics(
            task, y, scores, labels=labels, n_boot=200, seed=seed, metrics=[metric]
        )[metric]


def _decay(est: Any, reference: float | None, higher: bool, t: Thresholds) -> dict[str, Any]:
    if reference is None or not math.isfinite(est.value):
        return {"status": "ok"}
    loss = (reference - est.value) if higher else (est.value - reference)
    # A perfect reference (rmse 0) makes any loss an unbounded relative decay.
    unbounded = float("inf") if loss > 0 else 0.0
    decay = loss / abs(reference) if reference else unbounded
    worse_ci = est.ci_high < reference if higher else est.ci_low > reference
    decayed = decay > t.decay_gate and bool(worse_ci)
    return {"decay": decay, "status": "decayed" if decayed else "ok"}


def _latency_frame(preds: _Predictions, bounds: list[tuple[int, int]]) -> pd.DataFrame:
    if preds.latency_ms is None:
        return pd.DataFrame(columns=_LATENCY_COLS)
    rows = []
    for i, (s, e) in enumerate(bounds):
        lat = preds.latency_ms[s:e]
        if preds.request_id is not None:
            # A multi-row request is one latency, not one per row.
            _, first = np.unique(preds.request_id[s:e], return_index=True)
            lat = lat[np.sort(first)]
        lat = lat[np.isfinite(lat)]
        if lat.size == 0:
            continue
        rows.append(
            {
                "window": i,
                "requests": int(lat.size),
                "p50_ms": float(np.percentile(lat, 50)),
                "p99_ms": float(np.percentile(lat, 99)),
                "mean_ms": float(lat.mean()),
            }
        )
    return pd.DataFrame(rows, columns=_LATENCY_COLS)


def _join_labels(
    keys: pd.Series, feed: pd.DataFrame, profile: Mapping[str, Any], key: str, label: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per monitored row, its label as a class index and as a number (NaN when unknown)."""
    n = len(keys)
    if feed is None or len(feed) == 0:
        return np.full(n, np.nan), np.full(n, np.nan), []
    by_key = dict(zip(feed[key].astype(str), feed[label], strict=True))
    raw = [by_key.get(str(k)) for k in keys]
    notes = []
    unmatched = len(by_key) - sum(v is not None for v in raw)
    if unmatched > 0:
        notes.append(f"{unmatched} label(s) match no monitored request key")
    if profile.get("task") == "classification":
        idx = label_index(raw, profile)
        unknown = sum(v is not None for v in raw) - int(np.sum(~np.isnan(idx)))
        if unknown:
            notes.append(f"{unknown} label(s) are not among the model's classes")
        return idx, np.full(n, np.nan), notes
    values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)
    return np.full(n, np.nan), values, notes


def _align_predictions(
    stream: Stream, frame: pd.DataFrame, profile: Mapping[str, Any], model: Any
) -> _Predictions:
    from .traffic import KEY

    if stream.outputs is not None and len(stream.outputs):
        out = stream.outputs.set_index(KEY).reindex(frame[KEY])
        return _from_log(out, profile, stream.settings.get("classes"))
    if model is not None:
        return _from_model(model, frame.loc[:, list(stream.features)], profile)
    return _Predictions(
        notes=(
            "the traffic carries no predictions and no model was given: "
            "no prediction drift, quality or latency",
        )
    )


def _from_log(
    out: pd.DataFrame, profile: Mapping[str, Any], log_classes: list[Any] | None
) -> _Predictions:
    notes = []
    classes = profile.get("classes")
    if log_classes and classes and [str(c) for c in log_classes] != [str(c) for c in classes]:
        notes.append(f"the log's classes {log_classes} differ from the reference's {classes}")
    latency = out["latency_ms"].to_numpy(dtype=float)
    request_id = out["request_id"].astype(str).to_numpy()
    if "value" in out.columns:
        return _Predictions(
            values=out["value"].to_numpy(dtype=float),
            latency_ms=latency,
            request_id=request_id,
            notes=tuple(notes),
        )
    p_cols = sorted(
        (c for c in out.columns if re.fullmatch(r"p_\d+", str(c))), key=lambda c: int(c[2:])
    )
    proba = out[p_cols].to_numpy(dtype=float) if p_cols else None
    pred = label_index(out["pred_label"].tolist(), profile) if "pred_label" in out else None
    if proba is not None and np.isnan(proba).any():
        notes.append("some rows have no probabilities in the log")
    return _Predictions(
        proba=proba, pred_index=pred, latency_ms=latency, request_id=request_id, notes=tuple(notes)
    )


def _from_model(model: Any, X: pd.DataFrame, profile: Mapping[str, Any]) -> _Predictions:
    if profile.get("task") == "regression":
        return _Predictions(values=np.asarray(model.predict(X), dtype=float).reshape(-1))
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=float)
        return _Predictions(proba=proba, pred_index=np.argmax(proba, axis=1).astype(float))
    return _Predictions(pred_index=label_index(list(model.predict(X)), profile))


# -- from files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitorInputs:
    """What :func:`load_inputs` found: the traffic, its reference and labels, and the model.

    Attributes:
        stream: The traffic.
        profile: The bundle's reference profile.
        labels: The delayed labels (``None`` when no file was given).
        model: The bundle's pipeline when the traffic carries no predictions (a CSV).
        bundle: The bundle folder.
        model_version: The bundle's model version.
        source: Paths, for the record.
    """

    stream: Stream
    profile: dict[str, Any]
    labels: pd.DataFrame | None
    model: Any
    bundle: Path
    model_version: str
    source: dict[str, Any]


def load_inputs(
    *,
    log: str | Path | None = None,
    bundle: str | Path | None = None,
    labels: str | Path | None = None,
    ws: Workspace | None = None,
) -> MonitorInputs:
    """Find and read the traffic, the reference profile and the labels.

    Args:
        log: The stub's JSONL prediction log, or a CSV of requests (optional ``key`` and ``ts``
            columns). Default: the newest ``logs/*.jsonl`` of the workspace written by the
            bundle's model version (without a bundle either: the newest log).
        bundle: The bundle folder holding the reference. Default: the bundle in the
            workspace's ``exports/`` whose model version wrote the log.
        labels: Delayed labels, CSV or JSONL with ``key`` (or ``request_id``) and ``label``.
        ws: The workspace to look in when ``log`` or ``bundle`` is omitted.

    Raises:
        ConfigError: The log or the bundle cannot be found.
        DatasetError: A file is missing or unreadable.
    """
    from .bundle import Manifest
    from .traffic import read_labels, replay_csv, replay_log

    # The report records these paths: absolute, so they name the same files from any folder.
    log, bundle, labels = (Path(p).resolve() if p else None for p in (log, bundle, labels))
    if log is None and bundle is None:
        log = _newest_log(ws)
    if bundle is None:
        bundle = _bundle_for_log(Path(log), ws)  # type: ignore[arg-type]
    profile = profile_from_bundle(bundle)
    manifest = Manifest.read(bundle)
    log = Path(log) if log is not None else _log_for_bundle(manifest.model_version, ws)
    names = [f["name"] for f in manifest.features]
    if log.suffix.lower() == ".csv":
        columns = set(pd.read_csv(log, nrows=0).columns) if log.is_file() else set()
        key = "key" if "key" in columns else None
        stream = replay_csv(log, features=names, key=key, ts="ts" if "ts" in columns else None)
    else:
        stream = replay_log(log, features=names)
    return MonitorInputs(
        stream=stream,
        profile=profile,
        labels=read_labels(labels) if labels else None,
        model=None if stream.outputs is not None else _bundle_model(manifest),
        bundle=Path(bundle),
        model_version=manifest.model_version,
        source={
            "log": str(log),
            "bundle": str(bundle),
            "labels": str(labels) if labels else None,
            "model_version": manifest.model_version,
        },
    )


def monitor_files(
    *,
    log: str | Path | None = None,
    bundle: str | Path | None = None,
    labels: str | Path | None = None,
    window: int = DEFAULT_WINDOW,
    thresholds: Thresholds | None = None,
    as_of: Any = None,
    ws: Workspace | None = None,
) -> MonitorReport:
    """Monitor a prediction log (or a CSV of requests) against a bundle's reference profile.

    The arguments are those of :func:`load_inputs` and :func:`monitor`.

    Raises:
        ConfigError: Neither ``log`` nor ``bundle``, or the missing one cannot be found.
        DatasetError: A file is missing or unreadable.

    Example:
        >>> report = monitor_files(log="logs/run-42.jsonl", bundle="exports/run-42",
        ...                        labels="labels.csv")  # doctest: +SKIP
    """
    inputs = load_inputs(log=log, bundle=bundle, labels=labels, ws=ws)
    return monitor_inputs(inputs, window=window, thresholds=thresholds, as_of=as_of)


def monitor_inputs(
    inputs: MonitorInputs,
    *,
    window: int = DEFAULT_WINDOW,
    thresholds: Thresholds | None = None,
    as_of: Any = None,
) -> MonitorReport:
    """:func:`monitor` on what :func:`load_inputs` found."""
    report = monitor(
        inputs.stream,
        inputs.profile,
        labels=inputs.labels,
        window=window,
        thresholds=thresholds,
        as_of=as_of,
        model=inputs.model,
        source=inputs.source,
    )
    skipped = inputs.stream.settings.get("skipped_lines") or 0
    if skipped:
        report = replace(report, notes=(*report.notes, f"{skipped} unreadable log line(s)"))
    return report


def _bundle_model(manifest: Any) -> Any:
    """The bundle's sklearn pipeline, verified against the manifest."""
    from .modelio import load_model

    meta = manifest.model_files["model.skops"]
    for folder in (manifest.bundle_dir, manifest.bundle_dir / "model-store"):
        if (folder / "model.skops").is_file():
            return load_model(folder / "model.skops", sha256=meta["sha256"])
    raise ConfigError(
        f"bundle {manifest.bundle_dir} holds no model.skops (a load-mode bundle without its "
        "model-store/); monitor a prediction log instead, which carries the predictions"
    )


def _bundle_for_log(log: Path, ws: Workspace | None) -> Path:
    version = _log_model_version(log)
    if ws is not None and ws.exports_dir.is_dir():
        for manifest in sorted(ws.exports_dir.glob("*/manifest.json")):
            with contextlib.suppress(OSError, ValueError):
                if json.loads(manifest.read_text()).get("model_version") == version:
                    return manifest.parent
    raise ConfigError(
        f"no bundle of model version {version!r} (the one that wrote {log.name}) in "
        f"{ws.exports_dir if ws else 'the workspace'}; pass --bundle DIR"
    )


def _newest_log(ws: Workspace | None) -> Path:
    logs = sorted(ws.logs_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if ws else []
    if not logs:
        raise ConfigError(
            "give --log FILE (the traffic), --bundle DIR (the reference), or both; the "
            f"workspace has no prediction log in {ws.logs_dir if ws else 'logs/'} to default to"
        )
    return logs[-1]


def _log_model_version(log: Path) -> str | None:
    if not log.is_file():
        raise DatasetError(f"prediction log {str(log)!r} not found; check the path")
    with log.open("rb") as fh:
        for line in fh:
            with contextlib.suppress(ValueError):
                return json.loads(line).get("model_version")
    return None


def _log_for_bundle(version: str, ws: Workspace | None) -> Path:
    candidates = []
    if ws is not None and ws.logs_dir.is_dir():
        for path in sorted(ws.logs_dir.glob("*.jsonl"), key=lambda p: p.stat().st_mtime):
            with contextlib.suppress(OSError, DatasetError):
                if _log_model_version(path) == version:
                    candidates.append(path)
    if not candidates:
        raise ConfigError(
            f"no prediction log of model version {version!r} in "
            f"{ws.logs_dir if ws else 'the workspace'}; pass --log FILE (serve the bundle with "
            "`workbench serve BUNDLE --log FILE` to write one)"
        )
    return candidates[-1]


# -- figures ----------------------------------------------------------------------------------


def _window_labels(report: MonitorReport) -> list[str]:
    return [f"w{int(w)}" for w in report.windows["window"]]


def _ts(value: Any) -> str:
    return "?" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")


def drift_heatmap(report: MonitorReport, *, max_features: int = 60) -> go.Figure:
    """PSI per feature (rows) and window (columns); a dot marks an alert.

    Colour saturates at 0.5 so the 0.1 and 0.25 levels stay visible; the hover shows the
    exact PSI, the test's corrected p-value and the status. The most drifted features are on
    top; beyond ``max_features`` only the most drifted are shown.
    """
    import plotly.graph_objects as go

    t = report.thresholds
    order = (
        report.drift.groupby("feature")["psi"]
        .max()
        .sort_values(ascending=False)
        .index.tolist()[:max_features]
    )[::-1]
    cols = _window_labels(report)
    pivot = lambda col: report.drift.pivot(index="feature", columns="window", values=col)  # noqa: E731
    z = pivot("psi").reindex(order) if len(report.drift) else pd.DataFrame()
    p_adj, status = pivot("p_adj").reindex(order), pivot("status").reindex(order)
    w = report.windows
    spans = [f"{_ts(a)} → {_ts(b)}" for a, b in zip(w["start_ts"], w["end_ts"], strict=True)]
    hover = [
        [
            f"{escape(f)} · {cols[j]} ({spans[j]})<br>PSI {z.iloc[i, j]:.3f} · "
            f"p_adj {p_adj.iloc[i, j]:.2g}<br>{status.iloc[i, j]}"
            for j in range(z.shape[1])
        ]
        for i, f in enumerate(order)
    ]
    marks = [["●" if s == "alert" else "" for s in row] for row in status.to_numpy().tolist()]
    top = max(0.5, 2 * t.psi_alert)
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=cols,
            y=[escape(f) for f in order],  # feature names are user text
            zmin=0,
            zmax=top,
            text=marks,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            colorscale=[
                [0, "#f4f9f4"],
                [t.psi_warn / top, "#fff3b0"],
                [t.psi_alert / top, "#f4a261"],
                [1, "#b5172f"],
            ],
            colorbar={"title": {"text": "PSI"}},
        )
    )
    fig.update_layout(
        template="plotly_white",
        height=160 + 18 * max(len(order), 3),
        title={
            "text": f"Feature drift per window (PSI; ● alert: PSI ≥ {t.psi_alert} and "
            f"{t.correction}-corrected p < {t.alpha})",
            "x": 0.02,
        },
        xaxis={"title": f"window of {report.settings['window']} requests", "side": "bottom"},
        margin={"l": 200, "r": 20, "t": 60, "b": 50},
    )
    return fig


def prediction_figure(report: MonitorReport) -> go.Figure:
    """Prediction drift per window: PSI bars with the warn and alert levels."""
    import plotly.graph_objects as go

    t = report.thresholds
    frame = report.prediction
    labels = _window_labels(report)
    colors = {"alert": "#b5172f", "warn": "#f4a261"}
    fig = go.Figure(
        go.Bar(
            x=[labels[int(w)] for w in frame["window"]],
            y=frame["psi"],
            marker={"color": [colors.get(s, "#6c9a8b") for s in frame["status"]]},
            customdata=np.stack([frame["p_value"], frame["mean"]], axis=-1) if len(frame) else None,
            hovertemplate="%{x}: PSI %{y:.3f}<br>p %{customdata[0]:.2g}"
            "<br>mean %{customdata[1]:.3f}<extra></extra>",
        )
    )
    for level, name in ((t.psi_warn, "warn"), (t.psi_alert, "alert")):
        fig.add_hline(
            y=level,
            line={"dash": "dash", "color": "grey", "width": 1},
            annotation_text=name,
            annotation_position="top left",
        )
    what = report.reference.get("prediction") or "the model's output"
    fig.update_layout(
        template="plotly_white",
        height=320,
        title={"text": f"Prediction drift per window (PSI of {what})", "x": 0.02},
        yaxis={"title": "PSI"},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def quality_figure(report: MonitorReport) -> go.Figure:
    """The headline metric per window with its 95% CI, the reference and the decay gate."""
    import plotly.graph_objects as go

    frame = report.quality
    labels = _window_labels(report)
    judged = frame[frame["status"] != "too few labels"]
    fig = go.Figure()
    if len(judged):
        fig.add_trace(
            go.Scatter(
                x=[labels[int(w)] for w in judged["window"]],
                y=judged["value"],
                mode="lines+markers",
                name=str(judged["metric"].iloc[0]),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": judged["ci_high"] - judged["value"],
                    "arrayminus": judged["value"] - judged["ci_low"],
                },
                marker={
                    "size": 9,
                    "color": ["#b5172f" if s == "decayed" else "#2a6f97" for s in judged["status"]],
                },
                customdata=judged["n_labelled"],
                hovertemplate="%{x}: %{y:.4f}<br>%{customdata} labelled rows<extra></extra>",
            )
        )
    ref = frame["reference"].dropna()
    if len(ref):
        value = float(ref.iloc[0])
        higher = get_metric(str(frame["metric"].iloc[0])).higher_is_better
        gate = report.thresholds.decay_gate
        fig.add_hline(
            y=value,
            line={"color": "#1a7f37", "width": 2},
            annotation_text="reference",
            annotation_position="top left",
        )
        fig.add_hline(
            y=value * (1 - gate if higher else 1 + gate),
            line={"dash": "dash", "color": "#b5172f", "width": 1},
            annotation_text=f"decay gate ({gate:.0%})",
            annotation_position="bottom left",
        )
    metric = str(frame["metric"].iloc[0]) if len(frame) else "quality"
    fig.update_layout(
        template="plotly_white",
        height=360,
        showlegend=False,
        title={
            "text": f"{metric} per window on the labels that arrived (95% bootstrap CI)",
            "x": 0.02,
        },
        xaxis={"categoryorder": "array", "categoryarray": labels},
        yaxis={"title": metric},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


def latency_figure(report: MonitorReport) -> go.Figure:
    """p50 and p99 latency per window, from the prediction log."""
    import plotly.graph_objects as go

    frame = report.latency
    labels = _window_labels(report)
    x = [labels[int(w)] for w in frame["window"]]
    fig = go.Figure()
    for col, name, color in (("p50_ms", "p50", "#2a6f97"), ("p99_ms", "p99", "#b5172f")):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=frame[col],
                mode="lines+markers",
                name=name,
                line={"color": color},
                hovertemplate=f"%{{x}}: {name} %{{y:.2f}} ms<extra></extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        height=320,
        title={"text": "Latency per window (server side, per request)", "x": 0.02},
        yaxis={"title": "ms", "rangemode": "tozero"},
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return fig


# -- storage ----------------------------------------------------------------------------------


def _monitor_root(ws: Workspace) -> Path:
    return ws.root / "monitor"


def _check_id(report_id: str) -> None:
    if not _ID.fullmatch(report_id or ""):
        raise ConfigError(
            f"monitor report id {report_id!r} is not of the form mon-YYYYMMDD-HHMMSS-xxxxxx"
        )


def report_html_path(ws: Workspace, report_id: str) -> Path:
    """``<workspace>/reports/monitor/<id>.html``."""
    _check_id(report_id)
    return ws.reports_dir / "monitor" / f"{report_id}.html"


def save_report(ws: Workspace, report: MonitorReport, *, decision: Any = None) -> Path:
    """Write ``<workspace>/monitor/<id>/report.json`` (and ``decision.json`` when given).

    Args:
        ws: The workspace.
        report: The report.
        decision: A retrain decision (anything with ``to_dict()``) shown beside it.

    Returns:
        The path of ``report.json``.
    """
    _check_id(report.id)
    folder = _monitor_root(ws) / report.id
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / _REPORT_FILE, report.to_dict())
    if decision is not None:
        _write_json(folder / _DECISION_FILE, decision.to_dict())
    return folder / _REPORT_FILE


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)  # readers never see half a record


def _resolve_id(ws: Workspace, ref: str) -> str:
    root = _monitor_root(ws)
    if ref and (root / ref / _REPORT_FILE).is_file():
        return ref
    matches = sorted(p.parent.name for p in root.glob(f"{ref}*/{_REPORT_FILE}")) if ref else []
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunNotFound(
            f"no monitor report {ref!r} in {root}; `workbench monitor --log FILE` makes one"
        )
    raise RunNotFound(f"monitor report prefix {ref!r} is ambiguous ({', '.join(matches[:5])})")


def load_report(ws: Workspace, report_id: str) -> MonitorReport:
    """A stored report by id or unique id prefix.

    Raises:
        RunNotFound: No report matches, or the prefix is ambiguous.
    """
    rid = _resolve_id(ws, report_id)
    return MonitorReport.from_dict(json.loads((_monitor_root(ws) / rid / _REPORT_FILE).read_text()))


def load_decision(ws: Workspace, report_id: str) -> dict[str, Any] | None:
    """The retrain decision stored with a report, as a dict (``None`` when there is none)."""
    return load_record(ws, report_id, "decision")


def attach_record(ws: Workspace, report_id: str, name: str, record: Mapping[str, Any]) -> Path:
    """Store a JSON record beside a report (``<name>.json``; e.g. the retraining's outcome).

    Raises:
        ConfigError: ``name`` is not a plain lower-case word.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name == "report":
        raise ConfigError(f"record name {name!r} must be a lower-case word other than 'report'")
    path = _monitor_root(ws) / _resolve_id(ws, report_id) / f"{name}.json"
    _write_json(path, record)
    return path


def load_record(ws: Workspace, report_id: str, name: str) -> dict[str, Any] | None:
    """A record stored with :func:`attach_record` (``None`` when absent)."""
    path = _monitor_root(ws) / _resolve_id(ws, report_id) / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def list_reports(ws: Workspace) -> list[MonitorReport]:
    """Stored reports, newest first (unreadable ones are skipped)."""
    out = []
    for path in _monitor_root(ws).glob(f"*/{_REPORT_FILE}"):
        with contextlib.suppress(ValueError, KeyError, ConfigError, OSError):
            out.append(MonitorReport.from_dict(json.loads(path.read_text())))
    return sorted(out, key=lambda r: (r.created_at, r.id), reverse=True)


def render_report(
    ws: Workspace, report_id: str, *, reviewer: bool = False, log_output: bool = False
) -> Path:
    """Execute notebook 07 on a stored report and export it to self-contained HTML.

    The executed notebook goes to ``monitor/<id>/07_monitor.ipynb`` and the page to
    ``reports/monitor/<id>.html``, whose path is written into the stored record.

    Raises:
        RunNotFound: No such report.
        StageFailed: A notebook cell raised (the partial notebook is kept and exported).
    """
    from .execute import render_report as execute_report

    rid = _resolve_id(ws, report_id)

    def record(html: Path) -> None:
        path = _monitor_root(ws) / rid / _REPORT_FILE
        data = json.loads(path.read_text())
        data["report_path"] = str(html)
        _write_json(path, data)

    return execute_report(
        NOTEBOOK,
        out=_monitor_root(ws) / rid / NOTEBOOK,
        html=report_html_path(ws, rid),
        parameters={"workspace": str(ws.root), "report_id": rid},
        stage="monitor",
        owner=rid,
        title=f"{rid} · monitor",
        reviewer=reviewer,
        log_output=log_output,
        on_export=record,
    )


# -- index and notebook -----------------------------------------------------------------------


def index_sections(ws: Workspace, store: Store) -> list[IndexSection]:
    """The "Monitoring" table of ``reports/index.html`` (nothing when there is no report).

    Provider string for :data:`workbench.reports.SECTION_PROVIDERS`:
    ``"workbench.monitor:index_sections"``.
    """
    from .reports import IndexLink, IndexSection

    reports = list_reports(ws)
    if not reports:
        return []
    rows: list[tuple[str | IndexLink, ...]] = []
    for r in reports:
        decision = _decision_cell(ws, r.id)
        link: str | IndexLink = "—"
        if r.report_path and Path(r.report_path).is_file():
            href = os.path.relpath(Path(r.report_path).resolve(), ws.reports_dir.resolve())
            link = IndexLink("open", Path(href).as_posix(), tooltip=f"monitor report {r.id}")
        q = r.latest_quality()
        quality = "—" if q is None else f"{q['metric']} {q['value']:.4f} (ref {q['reference']:.4f})"
        rows.append(
            (
                r.id,
                r.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                str(r.source.get("model_version") or r.reference.get("model_version") or "—"),
                f"{int(r.windows['n'].sum()) if len(r.windows) else 0} / {r.n_windows}",
                ", ".join(r.flagged_features()) or "none",
                quality,
                decision,
                link,
            )
        )
    return [
        IndexSection(
            "Monitoring",
            columns=(
                "report",
                "when",
                "model version",
                "requests / windows",
                "drifted features (latest window)",
                "quality (latest window)",
                "retrain decision",
                "report",
            ),
            rows=tuple(rows),
            note="drift: PSI ≥ 0.25 and a corrected test; decay: headline metric below the "
            "reference by more than the gate with its CI",
        )
    ]


PROVIDER = "workbench.monitor:index_sections"


def rebuild_index(ws: Workspace, store: Store) -> Path:
    """Rebuild ``reports/index.html`` with the monitoring table, registered as a provider or not."""
    from .reports import SECTION_PROVIDERS, build_index, default_sections

    sections = default_sections(ws, store)
    if PROVIDER not in SECTION_PROVIDERS:
        sections += index_sections(ws, store)
    return build_index(ws, store, sections)


def _decision_cell(ws: Workspace, report_id: str) -> str:
    with contextlib.suppress(OSError, ValueError, RunNotFound):
        d = load_decision(ws, report_id)
        if d:
            return str(d.get("action", "—"))
    return "—"


def notebook_report(
    ws: Workspace,
    *,
    report_id: str = "",
    log: str = "",
    bundle: str = "",
    labels: str = "",
    window: int = DEFAULT_WINDOW,
) -> MonitorReport | None:
    """What notebook 07 shows: a stored report, a new one from files, or the newest stored.

    Returns:
        The report, or ``None`` after printing how to make one.
    """
    if report_id:
        return load_report(ws, report_id)
    if log or bundle:
        report = monitor_files(
            log=log or None, bundle=bundle or None, labels=labels or None, window=window, ws=ws
        )
        save_report(ws, report)
        return report
    stored = list_reports(ws)
    if stored:
        print(f"showing the newest stored report, {stored[0].id}")
        return stored[0]
    print(
        "nothing to show: set `log` (a prediction log) and `bundle`, or run "
        "`workbench monitor --log FILE --bundle DIR`"
    )
    return None
