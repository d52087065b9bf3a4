"""Export a recorded run's model into a serving bundle (``workbench export``).

The run is the source of truth: its model file must still match the sha256 recorded when the
search stage saved it, its dataset must still have the fingerprint the run recorded, and the
bundle's evidence rows are the run's own test split, so the release check later compares the
stub with the very predictions the evaluate stage scored. The model is registered (a version
such as ``v3``) if it was not yet, and that version is what the stub serves as
``model_version``.

Example:
    >>> m = export_run(ws, store, "champion", mode="load")  # doctest: +SKIP
    >>> m.bundle_dir, m.model_version  # doctest: +SKIP
    (PosixPath('.../workspace/exports/20261129-204416-3c5b1c-load'), 'v2')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .exceptions import ConfigError, DatasetError, ModelError, RunNotFound

if TYPE_CHECKING:
    from .bundle import Manifest
    from .config import Workspace
    from .datasets import Dataset, Split
    from .store import RunRecord, Store

__all__ = [
    "EVALUATE_STAGE",
    "BundleSource",
    "bundle_for_ref",
    "default_out",
    "export_run",
    "run_data",
]

#: The stage whose metrics (measured on the test split) go into the manifest.
EVALUATE_STAGE = "evaluate"
_SPLIT_FILE = "split.json"


def default_out(ws: Workspace, run_id: str, mode: str) -> Path:
    """Where :func:`export_run` writes by default: ``<workspace>/exports/<run_id>-<mode>``."""
    return ws.exports_dir / f"{run_id}-{mode}"


def export_run(
    ws: Workspace,
    store: Store,
    ref: str,
    *,
    mode: Literal["image", "load"],
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Manifest:
    """Export the model of a run (or model version / alias) into a serving bundle.

    Args:
        ws: The workspace holding the run's files.
        store: Its store.
        ref: A run id or unique prefix, a version (``v2``) or an alias (``champion``).
        mode: ``image`` (model copied into the image) or ``load`` (model fetched from
            ``MODEL_URI`` at start; the files go to ``<out>/model-store/``).
        out: The bundle folder; default ``<workspace>/exports/<run_id>-<mode>``.
        overwrite: Replace an existing bundle at ``out``. Only a bundle is replaced; the
            workspace, any folder holding it, the home folder and ``/`` never are.

    Returns:
        The written :class:`~workbench.bundle.Manifest`.

    Raises:
        RunNotFound: ``ref`` matches no run, version or alias.
        RegistryError: The run failed, was cancelled, or has no model.
        ModelError: The model file is missing or no longer matches its recorded sha256.
        DatasetError: The dataset changed since the run (fingerprint differs), or the run has
            no recorded split.
        ConfigError: The run has no evaluate metrics, ``mode`` is unknown, or ``out`` exists
            and ``overwrite`` is false, is not a bundle, or is protected.

    Example:
        >>> export_run(ws, store, "v1", mode="image", out="bundles/v1").model_version
        'v1'
    """
    from ._files import check_output_dir
    from .bundle import BUNDLE_KIND, MODES, export_bundle
    from .registry import register_model, resolve_ref

    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    run = store.get_run(resolve_ref(store, ref))
    target = Path(out) if out is not None else default_out(ws, run.id, mode)
    # Before registering: a refused --out must leave no new version behind.
    check_output_dir(target, kind=BUNDLE_KIND, overwrite=overwrite, workspace_root=ws.root)
    metrics = _evaluate_metrics(run)
    ds, split = run_data(ws, run)
    # Registering checks the status, the model artifact and its hash against the record; it
    # comes last so a refused export leaves no new version behind.
    version = register_model(store, run.id)
    art = run.artifact("model")
    assert art is not None  # register_model refuses a run without one
    # The model was refit on train + valid (workbench.search), so those rows are its training
    # data: the signature's ranges and missing-value flags must describe all of them.
    fit_rows = [*split.train.tolist(), *split.valid.tolist()]
    test_rows = split.test.tolist()
    return export_bundle(
        Path(art.path),
        out=target,
        mode=mode,
        X_ref=ds.X.iloc[sorted(fit_rows)],
        X_test=ds.X.iloc[test_rows],
        y_test=ds.y.iloc[test_rows].to_numpy(),
        task=ds.task,  # type: ignore[arg-type]
        metrics=metrics,
        dataset_fingerprint=ds.fingerprint,
        run_id=run.id,
        model_version=version.ref,
        model_sha256=art.sha256,
        overwrite=overwrite,
        workspace_root=ws.root,
    )


def run_data(ws: Workspace, run: RunRecord) -> tuple[Dataset, Split]:
    """Reload a run's dataset and split, refusing data that changed since the run.

    Raises:
        DatasetError: The dataset's fingerprint differs from the run's (or from its split's),
            or the split file is missing.
    """
    from .datasets import Split, dataset_from_params

    params = run.params
    name = str(params.get("dataset") or run.dataset_name)
    ds = dataset_from_params({**params, "dataset": name})
    recorded = run.dataset_fingerprint
    if recorded is not None and ds.fingerprint != recorded:
        raise DatasetError(
            f"the data of {ds.name!r} changed since run {run.id} was trained (fingerprint "
            f"{recorded[:12]} recorded, {ds.fingerprint[:12]} now); export from the data the "
            "model was trained on, or train a new run on the current data"
        )
    art = run.artifact(_SPLIT_FILE)
    path = Path(art.path) if art is not None else ws.run_dir(run.id) / _SPLIT_FILE
    try:
        saved: dict[str, Any] = json.loads(path.read_text())
    except OSError as e:
        raise DatasetError(
            f"run {run.id} has no readable split ({path}: {e.strerror or e}); its test rows are "
            "the bundle's evidence, so export a run whose search stage finished"
        ) from e
    if saved.get("fingerprint") not in (None, ds.fingerprint):
        raise DatasetError(
            f"the split of run {run.id} was made on other data (fingerprint "
            f"{str(saved['fingerprint'])[:12]}, dataset {ds.fingerprint[:12]}); start a new run"
        )
    return ds, Split.from_dict(saved)


def _evaluate_metrics(run: RunRecord) -> dict[str, float]:
    """The run's test metrics, or ConfigError: a model is released only after its evaluation."""
    metrics = {m.name: float(m.value) for m in run.metrics if m.stage == EVALUATE_STAGE}
    if not metrics:
        raise ConfigError(
            f"run {run.id} has no {EVALUATE_STAGE} metrics; evaluate it first "
            f"(`workbench run ... --stages {EVALUATE_STAGE}`) so the bundle carries test "
            "metrics for its release gates"
        )
    return metrics


# -- a verified bundle for a reference (A/B tests, edge exports, retraining) ---------------------

# Bundles of a run the test may reuse, in order of preference: the release's, an export's, the
# A/B test's own. All serve the registry version (v3); the monitor's bundle serves sha-..., so
# it is left out to keep the versions in reports and the inventory one vocabulary.
_REUSABLE = ("load", "image", "abtest")


@dataclass(frozen=True)
class BundleSource:
    """A verified bundle to serve, and where it came from.

    Attributes:
        ref: What the user asked for (alias, version, run id or bundle folder).
        bundle: The bundle folder.
        model_version: What its stub serves as ``model_version``.
        run_id: The run that produced the model (``None`` when unknown).
        reused: An existing bundle was reused (else it was exported for this test).
        model_uri: Where a ``load``-mode bundle's stub reads its model.
    """

    ref: str
    bundle: Path
    model_version: str
    run_id: str | None
    reused: bool
    model_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "bundle": str(self.bundle),
            "model_version": self.model_version,
            "run_id": self.run_id,
            "reused": self.reused,
        }


def _verified(bundle: Path, run: RunRecord | None = None) -> Manifest | None:
    """The bundle's manifest when every file matches it (and the run's model), else ``None``."""
    from .bundle import Manifest, model_source, verify_bundle

    if not (bundle / "manifest.json").is_file():
        return None
    try:
        manifest = Manifest.read(bundle)
        verify_bundle(bundle, model_uri=model_source(bundle))
    except (ConfigError, ModelError):
        return None
    if run is not None:
        art = run.artifact("model")
        skops = manifest.model_files.get("model.skops", {})
        if (
            manifest.data.get("run_id") != run.id
            or art is None
            or skops.get("sha256") != art.sha256
        ):
            return None
    return manifest


def bundle_for_ref(ws: Workspace | None, store: Store | None, ref: str) -> BundleSource:
    """The bundle to serve for a reference: a bundle folder, or a run's verified bundle.

    A folder holding ``manifest.json`` is used as it is (after verifying its files). Otherwise
    ``ref`` is resolved in the registry (alias, ``vN``, run id) and the run's bundles under
    ``exports/`` are tried (``<run>-load``, ``-image``, ``-abtest``): the first whose
    files and model hash still match is reused; else the run is exported into
    ``exports/<run>-abtest`` (``image`` mode).

    Raises:
        ConfigError: A bundle folder does not match its manifest, or no workspace was given for
            a registry reference.
        RunNotFound: ``ref`` is neither a bundle folder nor a known run, version or alias.
    """
    from .bundle import model_source

    path = Path(ref).expanduser()
    if (path / "manifest.json").is_file():
        path = path.resolve()  # recorded with the test: valid from any folder
        manifest = _verified(path)
        if manifest is None:
            raise ConfigError(
                f"bundle {path} does not match its manifest (`workbench release-check` shows "
                "which file); re-export it"
            )
        return BundleSource(
            ref, path, manifest.model_version, manifest.data.get("run_id"), True, model_source(path)
        )
    if ws is None or store is None:
        raise ConfigError(f"{ref!r} is not a bundle folder; give one, or a workspace to resolve it")
    from .registry import resolve_ref

    try:
        run = store.get_run(resolve_ref(store, ref))
    except RunNotFound as e:
        raise RunNotFound(f"{e} (or give a bundle folder holding manifest.json)") from None
    for suffix in _REUSABLE:
        folder = ws.exports_dir / f"{run.id}-{suffix}"
        manifest = _verified(folder, run)
        if manifest is not None:
            return BundleSource(
                ref, folder, manifest.model_version, run.id, True, model_source(folder)
            )
    out = ws.exports_dir / f"{run.id}-abtest"
    manifest = export_run(ws, store, ref, mode="image", out=out, overwrite=True)
    return BundleSource(ref, out, manifest.model_version, run.id, False, None)
