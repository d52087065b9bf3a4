"""The run context a notebook uses to read its inputs and record its results.

Batch runs (``workbench run``) pass ``run_id`` and ``workspace`` as papermill parameters; the
runner owns the run's status. Every other door (JupyterLab, plain papermill, any kernel) is
handled by :mod:`workbench.labruns`: without a ``run_id`` the notebook starts a new run with its
parameters, ``run_id="…"`` continues that run explicitly, and a failing cell, the CPU time of
the cells and the executed notebook are recorded whichever door ran it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._files import atomic_write_json, sha256_file
from .config import Workspace
from .datasets import Dataset, Split, dataset_from_params, make_split
from .exceptions import DatasetError, ModelError
from .labruns import StageTracker, open_stage
from .project import BUILTIN_STAGES
from .store import (
    ArtifactRecord,
    DatasetRecord,
    MetricRecord,
    Store,
    open_workspace,
    utcnow,
)

__all__ = ["STAGES", "RunContext"]

# stage name -> notebook file, in lifecycle order
#: The bundled stages, name -> notebook, in lifecycle order (a project may add its own).
STAGES: dict[str, str] = BUILTIN_STAGES

SPLIT_FILE = "split.json"
PREP_FILE = "dataset_prep.json"
MODEL_FILE = "model.skops"


@dataclass
class RunContext:
    """Access to one run from inside a notebook stage."""

    workspace: Workspace
    store: Store
    run_id: str
    stage: str
    params: dict[str, Any]
    #: The stage run by hand (JupyterLab, papermill, ...); ``None`` under ``workbench run``.
    tracker: StageTracker | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        *,
        stage: str,
        run_id: str = "",
        workspace: str = "",
        **params: Any,
    ) -> RunContext:
        """Open ``stage`` of a run for this notebook.

        Args:
            stage: The stage name.
            run_id: ``""`` starts a new run with ``params`` (``"new"`` too, as older notebooks
                say); an id or unique prefix continues that run (``workbench run`` passes it).
            workspace: The workspace folder (``""``: ``WORKBENCH_HOME`` or ``./workspace``).
            **params: The notebook's parameters (dataset, target, seed, model, ...).

        Raises:
            RunNotFound: ``run_id`` names no run.
            ConfigError: the continued run has other parameters, or the model is unknown.
        """
        ws, store = open_workspace(workspace or None, create=True)
        opened = open_stage(
            ws,
            store,
            stage=stage,
            notebook=STAGES.get(stage, f"{stage}.ipynb"),
            run_id=run_id,
            params=params,
        )
        ctx = cls(ws, store, opened.run_id, stage, opened.params, tracker=opened.tracker)
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        return ctx

    @property
    def run_dir(self) -> Path:
        return self.workspace.run_dir(self.run_id)

    @property
    def seed(self) -> int:
        return int(self.params.get("seed", 0))

    # -- data ---------------------------------------------------------------------------------

    def load_data(self) -> tuple[Dataset, Split]:
        """The run's dataset and its split; the first stage records both, later ones verify.

        The dataset is read with the run's ``sep``/``encoding`` parameters (sniffed when
        empty). How it was read and how each column was prepared is recorded once as the
        ``dataset_prep`` artifact (``dataset_prep.json``), beside the split.
        """
        ds = dataset_from_params(self.params)
        fp = ds.fingerprint
        self.store.record_dataset(
            DatasetRecord(
                fingerprint=fp,
                name=ds.name,
                source=ds.source,
                target=ds.target,
                task=ds.task,
                n_rows=ds.shape[0],
                n_features=ds.shape[1],
                features=ds.features,
                created_at=utcnow(),
            )
        )
        self.store.set_dataset(self.run_id, fp)
        path = self.run_dir / SPLIT_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("fingerprint") != fp:
                raise DatasetError(
                    f"the data of {ds.name!r} changed since this run recorded its split "
                    f"(fingerprint {saved.get('fingerprint', '?')[:12]} → {fp[:12]}); "
                    "start a new run"
                )
            split = Split.from_dict(saved)
        else:
            split = make_split(ds, seed=self.seed)
            self.save_json(SPLIT_FILE, {"fingerprint": fp, **split.to_dict()}, kind="split")
        if not (self.run_dir / PREP_FILE).exists():
            self.save_json(PREP_FILE, ds.prep_record(), kind="dataset_prep")
        return ds, split

    # -- results ------------------------------------------------------------------------------

    def log_metrics(self, values: dict[str, Any]) -> None:
        """Record metrics of this stage: plain numbers or objects with value/ci_low/ci_high."""
        records = []
        for name, v in values.items():
            if hasattr(v, "value"):
                records.append(MetricRecord(self.stage, name, v.value, v.ci_low, v.ci_high))
            else:
                records.append(MetricRecord(self.stage, name, float(v)))
        self.store.log_metrics(self.run_id, records)

    def log_seconds(self, name: str, seconds: float) -> float:
        """Add ``seconds`` to this stage's time metric ``name`` and return the total: a stage
        continued in the same run adds its time instead of replacing what was measured."""
        before = self.store.get_run(self.run_id).metric(name, self.stage)
        total = (before.value if before else 0.0) + float(seconds)
        self.store.log_metrics(self.run_id, [MetricRecord(self.stage, name, total)])
        return total

    def log_params(self, values: dict[str, Any]) -> None:
        self.store.log_params(self.run_id, values)

    def save_json(self, name: str, obj: Any, *, kind: str = "json") -> Path:
        path = atomic_write_json(self.run_dir / name, obj)
        self._record_artifact(name, path, kind)
        return path

    def save_model(self, pipe: Any) -> Path:
        """Save the fitted pipeline with skops and record its hash."""
        from .modelio import save_model

        path = self.run_dir / MODEL_FILE
        save_model(pipe, path)
        self._record_artifact("model", path, "model")
        return path

    def load_model(self) -> Any:
        """Load this run's model, verifying the hash recorded when it was saved."""
        from .modelio import load_model

        art = self.store.get_run(self.run_id).artifact("model")
        if art is None:
            raise ModelError(
                f"run {self.run_id} has no model yet; run its search stage first "
                "(`workbench run ... --stages search,evaluate`)"
            )
        return load_model(Path(art.path), sha256=art.sha256)

    @property
    def model_path(self) -> Path:
        art = self.store.get_run(self.run_id).artifact("model")
        return Path(art.path) if art else self.run_dir / MODEL_FILE

    def fit_default_model(self, ds: Dataset, split: Split) -> Any:
        """For a lab run without a search: fit the family's defaults on train + valid, save it."""
        import numpy as np

        from .models import build_pipeline, get_family

        fam = get_family(str(self.params.get("model", "logreg")))
        print(f"no searched model in run {self.run_id}: fitting {fam.name} with its defaults")
        pipe = build_pipeline(
            fam,
            ds.task,
            fam.defaults(ds.task),
            numeric=ds.numeric_features,
            categorical=ds.categorical_features,
            seed=self.seed,
        )
        rows = np.concatenate([split.train, split.valid])
        pipe.fit(ds.X.iloc[rows], ds.y.iloc[rows])
        self.save_model(pipe)
        return pipe

    def save_test_predictions(self, split: Split, result: Any) -> Path:
        """Keep the test-set scores so comparisons can pair models row by row later."""
        import numpy as np

        return self.save_json(
            "test_predictions.json",
            {
                "rows": split.test.tolist(),
                "labels": [] if result.labels is None else np.asarray(result.labels).tolist(),
                "y_true": np.asarray(result.y_true).tolist(),
                "y_score": np.asarray(result.y_score).tolist(),
            },
            kind="predictions",
        )

    def has_model(self) -> bool:
        return self.store.get_run(self.run_id).artifact("model") is not None

    def _record_artifact(self, name: str, path: Path, kind: str) -> None:
        self.store.log_artifact(
            self.run_id,
            ArtifactRecord(
                name=name,
                kind=kind,
                path=str(path),
                sha256=sha256_file(path),
                size=path.stat().st_size,
                stage=self.stage,
            ),
        )

    def finish(self) -> None:
        """End of a notebook: a stage run by hand is recorded as succeeded with the CPU time of
        its cells (a stage that failed stays failed); ``workbench run`` records its own."""
        if self.tracker is not None:
            self.tracker.finish()
