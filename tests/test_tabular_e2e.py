"""Real public data with categories and gaps, end to end: run → export (ONNX) → serve → release.

The data ships inside an installed package (palmerpenguins, a dev dependency): nothing is
downloaded. ``penguins-raw.csv`` (classification of the species) has what real files have: a
date column, an identifier, constant columns, a yes/no column, text with gaps and numbers with
gaps. ``penguins.csv`` (regression of the body mass) is written as Parquet, without the two
rows whose mass is unknown (a target gap is refused by design).
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workbench.bundle import Manifest
from workbench.cli import cli
from workbench.modelio import load_model
from workbench.serving import background_server
from workbench.store import RunStatus, open_workspace

pytestmark = pytest.mark.slow

PENGUINS = importlib.resources.files("palmerpenguins") / "data"
CHEAP = ["--trials", "2", "-p", "n_boot=50", "-p", "cv_folds=2"]


def invoke(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tabular") / "workspace"


def _gates(tmp: Path, quality: str) -> str:
    path = tmp / "gates.yaml"
    path.write_text(
        "gates:\n"
        f'  - "{quality}"\n'
        '  - "p99_ms <= 2000"\n'  # a loaded test machine: behaviour, not speed
        '  - "error_rate <= 0"\n'
    )
    return str(path)


def _end_to_end(
    ws: Path, tmp: Path, *, dataset: str, target: str, model: str, quality: str
) -> tuple[str, Manifest]:
    out = invoke("run", "-w", str(ws), "-d", dataset, "-t", target, "-m", model, *CHEAP)
    assert out["status"] == "succeeded", out["error"]
    run_id = out["run_id"]
    exported = invoke("export", run_id, "-w", str(ws))
    manifest = Manifest.read(exported["bundle"])
    assert manifest.backend == "onnx", manifest.data["onnx"]
    parity = manifest.data["parity"]
    assert parity["ok"] and parity["edge_cases"]["ok"] and parity["edge_cases"]["n_rows"] > 0
    release = invoke(
        "release-check",
        exported["bundle"],
        "-w",
        str(ws),
        "--gates",
        _gates(tmp, quality),
        "--duration",
        "0.5",
        "--no-report",
    )
    assert release["passed"], release["failures"]
    return run_id, manifest


def _served_like_offline(manifest: Manifest, pipe: Any, frame: pd.DataFrame) -> None:
    """Both backends of a real stub on 127.0.0.1 answer like the pipeline, gaps included."""
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    classify = manifest.task == "classification"
    want = pipe.predict_proba(frame) if classify else pipe.predict(frame)
    for backend in ("onnx", "skops"):
        with background_server(manifest.bundle_dir, backend=backend) as url:
            assert url.startswith("http://127.0.0.1:")
            with httpx.Client(base_url=url, timeout=10) as http:
                # All rows at once, then one by one: a lone null is an all-null column.
                answers = [http.post("/predict", json={"records": records})]
                answers += [http.post("/predict", json={"records": [r]}) for r in records]
        for answer in answers:
            assert answer.status_code == 200, answer.text
        key = "probabilities" if classify else "values"
        together = np.asarray(answers[0].json()[key])
        alone = np.concatenate([np.asarray(a.json()[key]) for a in answers[1:]])
        for got in (together, alone):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=backend)


def test_classification_on_a_raw_file_with_dates_ids_constants_and_gaps(
    ws: Path, tmp_path: Path
) -> None:
    path = str(PENGUINS / "penguins-raw.csv")
    run_id, manifest = _end_to_end(
        ws, tmp_path, dataset=path, target="Species", model="hgb", quality="accuracy >= 0.9"
    )
    _, store = open_workspace(ws)
    run = store.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    prep = json.loads(Path(run.artifact("dataset_prep.json").path).read_text())
    treatment = {c["column"]: c["treatment"] for c in prep["columns"]}
    assert treatment["Date Egg"] == "date" and treatment["Clutch Completion"] == "boolean"
    assert treatment["Region"] == treatment["Stage"] == "dropped"  # constants
    assert treatment["Individual ID"] == "dropped"  # an identifier
    assert treatment["Sex"] == treatment["Comments"] == "category"
    assert prep["read"]["sep"] == "," and prep["fingerprint"] == run.dataset_fingerprint
    names = [f["name"] for f in manifest.features]
    assert "Date Egg_month" in names and "Individual ID" not in names
    kinds = {f["name"]: f for f in manifest.features}
    assert kinds["Sex"]["kind"] == "string" and kinds["Sex"]["allow_nan"]
    explore_html = Path(next(s.report_path for s in run.stages if s.name == "explore"))
    page = explore_html.read_text()
    assert "Data preparation" in page and "identifier or free text" in page
    assert "comma-separated (sniffed)" in page

    pipe = load_model(run.artifact("model").path)
    evidence = json.loads((manifest.bundle_dir / "evidence/test_split.json").read_text())
    rows = pd.DataFrame(evidence["rows"][:6], columns=evidence["features"])
    rows = rows.astype({f["name"]: float for f in manifest.features if f["kind"] != "string"})
    rows.loc[0, "Sex"] = None  # a gap
    rows.loc[1, "Island"] = "Atlantis"  # a category no training row has
    rows.loc[2, "Comments"] = None
    _served_like_offline(manifest, pipe, rows)


def test_regression_on_parquet_with_category_gaps(ws: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(str(PENGUINS / "penguins.csv")).dropna(subset=["body_mass_g"])
    assert frame["sex"].isna().sum() > 0  # gaps in a category remain
    path = tmp_path / "penguins.parquet"
    frame.to_parquet(path)
    run_id, manifest = _end_to_end(
        ws, tmp_path, dataset=str(path), target="body_mass_g", model="logreg", quality="r2 >= 0.6"
    )
    _, store = open_workspace(ws)
    run = store.get_run(run_id)
    prep = json.loads(Path(run.artifact("dataset_prep.json").path).read_text())
    assert prep["read"] == {"format": "parquet"}
    pipe = load_model(run.artifact("model").path)
    rows = frame.drop(columns="body_mass_g").iloc[:4].reset_index(drop=True)
    rows.loc[0, "sex"] = None
    rows.loc[1, "island"] = "Atlantis"
    rows = rows.astype({"year": float})
    _served_like_offline(manifest, pipe, rows)
