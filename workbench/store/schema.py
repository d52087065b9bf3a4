"""Table definitions (SQLAlchemy Core). Portable types only: the same schema runs on SQLite and
PostgreSQL. Changes here need a migration in ``migrations/versions``."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Alembic's default version table name is taken by optuna, which shares the database.
VERSION_TABLE = "workbench_schema_version"

datasets = sa.Table(
    "wb_datasets",
    metadata,
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("target", sa.String(255), nullable=False),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("n_features", sa.Integer, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

runs = sa.Table(
    "wb_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("dataset_name", sa.String(255), nullable=False),
    sa.Column(
        "dataset_fingerprint",
        sa.String(64),
        sa.ForeignKey("wb_datasets.fingerprint"),
        nullable=True,
    ),
    sa.Column("model_family", sa.String(64), nullable=True),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("stages", sa.JSON, nullable=False),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("versions", sa.JSON, nullable=False),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("batch_id", sa.String(64), nullable=True, index=True),  # revision 0002
)

stages = sa.Table(
    "wb_stages",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("notebook", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("output_path", sa.Text, nullable=True),
    sa.Column("report_path", sa.Text, nullable=True),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

params = sa.Table(
    "wb_params",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
)

metrics = sa.Table(
    "wb_metrics",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
    sa.Column("stage", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("ci_low", sa.Float, nullable=True),
    sa.Column("ci_high", sa.Float, nullable=True),
)

artifacts = sa.Table(
    "wb_artifacts",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stage", sa.String(64), nullable=True),
)

# -- registry, comparisons, releases, batches (revision 0002) ------------------------------------

model_versions = sa.Table(
    "wb_model_versions",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False, unique=True),
    sa.Column("family", sa.String(64), nullable=True),
    sa.Column("task", sa.String(32), nullable=True),
    sa.Column("dataset_fingerprint", sa.String(64), nullable=True),
    sa.Column("model_path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

aliases = sa.Table(
    "wb_aliases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, sa.ForeignKey("wb_model_versions.version"), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

alias_events = sa.Table(
    "wb_alias_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alias", sa.String(64), nullable=False, index=True),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("comparison_id", sa.String(64), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

comparisons = sa.Table(
    "wb_comparisons",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("candidate_run", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False),
    sa.Column("baseline_run", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("report_path", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

releases = sa.Table(
    "wb_releases",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("bundle", sa.Text, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("report_path", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

batches = sa.Table(
    "wb_batches",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("grid", sa.JSON, nullable=False),
    sa.Column("executor", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("report_path", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)

# -- edge inventory: devices, their assignment history, edge packages (revision 0005) ----------

devices = sa.Table(
    "wb_devices",
    metadata,
    # A surrogate id: a device removed and added again under its name starts a new history.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("group_name", sa.String(64), nullable=False, index=True),
    # The pin is a snapshot of the registered version when it was set (no foreign key: an
    # inventory imported from an older workspace may name versions this store never had).
    sa.Column("model_version", sa.Integer, nullable=True),
    sa.Column("model_ref", sa.String(64), nullable=True),
    sa.Column("model_run_id", sa.String(64), nullable=True),
    sa.Column("model_sha256", sa.String(64), nullable=True),
    sa.Column("hold", sa.Boolean, nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,  # ids are never reused (SQLite would reuse a deleted last id)
)

device_changes = sa.Table(
    "wb_device_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # No foreign key: the audit rows outlive a removed device.
    sa.Column("device_id", sa.Integer, nullable=False, index=True),
    sa.Column("device", sa.String(64), nullable=False, index=True),
    sa.Column("from_ref", sa.String(64), nullable=True),
    sa.Column("to_ref", sa.String(64), nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("actor", sa.String(255), nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

edge_packages = sa.Table(
    "wb_edge_packages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_version", sa.String(64), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# -- A/B tests (revision 0004) --------------------------------------------------------------------

abtests = sa.Table(
    "wb_abtests",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("split", sa.Float, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("a_ref", sa.Text, nullable=False),
    sa.Column("b_ref", sa.Text, nullable=False),
    sa.Column("a_version", sa.Text, nullable=True),
    sa.Column("b_version", sa.Text, nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("report_path", sa.Text, nullable=True),
    sa.Column("record", sa.JSON, nullable=False),
)

abtest_variants = sa.Table(
    "wb_abtest_variants",
    metadata,
    sa.Column("abtest_id", sa.String(64), sa.ForeignKey("wb_abtests.id"), primary_key=True),
    sa.Column("variant", sa.String(1), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    # From the bundles' manifests: any text, so no length limit.
    sa.Column("model_version", sa.Text, nullable=True),
    sa.Column("run_id", sa.Text, nullable=True, index=True),
    sa.Column("bundle", sa.Text, nullable=True),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("errors", sa.Integer, nullable=False),
    sa.Column("error_rate", sa.Float, nullable=True),
    sa.Column("p50_ms", sa.Float, nullable=True),
    sa.Column("p99_ms", sa.Float, nullable=True),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("quality", sa.Float, nullable=True),
    sa.Column("quality_ci_low", sa.Float, nullable=True),
    sa.Column("quality_ci_high", sa.Float, nullable=True),
    sa.Column("labelled", sa.Integer, nullable=False),
    sa.Column("reacted", sa.Integer, nullable=False),
    sa.Column("accepted", sa.Integer, nullable=False),
    sa.Column("acceptance_rate", sa.Float, nullable=True),
    sa.Column("acceptance_ci_low", sa.Float, nullable=True),
    sa.Column("acceptance_ci_high", sa.Float, nullable=True),
)

# -- monitor reports, their windows, retrain decisions, attached records (revision 0003) ---------

# The columns the index and `workbench monitor --list` read; the rest of the record (source,
# reference, settings, features, notes) is JSON. The measurements are in the windows table.
monitor_reports = sa.Table(
    "wb_monitor_reports",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_version", sa.String(255), nullable=True),
    sa.Column("n_windows", sa.Integer, nullable=False),
    sa.Column("n_requests", sa.Integer, nullable=False),
    sa.Column("flagged_features", sa.JSON, nullable=False),
    sa.Column("latest_quality", sa.JSON, nullable=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("notebook_path", sa.Text, nullable=True),
    sa.Column("report_path", sa.Text, nullable=True),
)

# One row per window: its rows, times and labelled count as columns; its measurements as JSON
# (drift has one entry per feature, so columns would need a third table nothing queries).
monitor_windows = sa.Table(
    "wb_monitor_windows",
    metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("wb_monitor_reports.id"), primary_key=True),
    sa.Column("window_index", sa.Integer, primary_key=True),
    sa.Column("start_row", sa.Integer, nullable=False),
    sa.Column("end_row", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("start_ts", sa.DateTime(timezone=True), nullable=True),
    sa.Column("end_ts", sa.DateTime(timezone=True), nullable=True),
    sa.Column("n_labelled", sa.Integer, nullable=False),
    sa.Column("n_alerts", sa.Integer, nullable=False),
    sa.Column("drift", sa.JSON, nullable=False),
    sa.Column("prediction", sa.JSON, nullable=True),
    sa.Column("quality", sa.JSON, nullable=True),
    sa.Column("latency", sa.JSON, nullable=True),
)

retrain_decisions = sa.Table(
    "wb_retrain_decisions",
    metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("wb_monitor_reports.id"), primary_key=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Records kept beside a report under a name, e.g. "retrain": the retraining's outcome.
monitor_records = sa.Table(
    "wb_monitor_records",
    metadata,
    sa.Column("report_id", sa.String(64), sa.ForeignKey("wb_monitor_reports.id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# -- run tags and notes (revision 0006) ----------------------------------------------------------

run_tags = sa.Table(
    "wb_run_tags",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

run_notes = sa.Table(
    "wb_run_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), sa.ForeignKey("wb_runs.id"), nullable=False, index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("author", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
