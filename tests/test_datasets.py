from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.datasets import builtin_names, load_dataset, make_split
from workbench.exceptions import DatasetError


@pytest.mark.parametrize(
    ("name", "task"),
    [
        ("breast_cancer", "classification"),
        ("wine", "classification"),
        ("iris", "classification"),
        ("diabetes", "regression"),
    ],
)
def test_builtins_load_with_task(name: str, task: str) -> None:
    ds = load_dataset(name)
    assert ds.task == task
    assert len(ds.fingerprint) == 64
    assert ds.fingerprint == load_dataset(name).fingerprint
    assert {f["kind"] for f in ds.features} == {"numeric"}


def test_unknown_dataset_lists_builtins() -> None:
    with pytest.raises(DatasetError) as e:
        load_dataset("titanic")
    for name in builtin_names():
        assert name in str(e.value)
    assert "--target" in str(e.value)


def test_split_is_seeded_disjoint_and_stratified() -> None:
    ds = load_dataset("breast_cancer")
    a, b, c = make_split(ds, seed=1), make_split(ds, seed=1), make_split(ds, seed=2)
    assert np.array_equal(a.test, b.test) and not np.array_equal(a.test, c.test)
    parts = [set(a.train), set(a.valid), set(a.test)]
    assert sum(map(len, parts)) == len(ds.y) and set.union(*parts) == set(range(len(ds.y)))
    share = ds.y.mean()
    assert abs(ds.y.iloc[a.test].mean() - share) < 0.02


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def test_csv_with_categories_and_missing_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "color": rng.choice(["red", "blue", None], size=60),
            "flag": rng.choice([True, False], size=60),
            "label": rng.choice(["yes", "no"], size=60),
        }
    )
    ds = load_dataset(_csv(tmp_path, frame), target="label")
    assert ds.task == "classification" and ds.labels == ["no", "yes"]
    assert ds.categorical_features == ["color"]
    assert ds.X["flag"].dtype.kind == "i"


def test_csv_regression_target_is_inferred(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(50.0), "y": np.linspace(0, 1, 50)})
    assert load_dataset(_csv(tmp_path, frame), target="y").task == "regression"


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        (None, "y", "not found"),
        ("", "y", "is empty"),
        ("a,y\n", "y", "no rows"),
        ("a,b\n1,2\n", "y", "target column 'y' not in data.csv; its columns are a, b"),
        ("a,b\n1,2\n", None, "needs --target"),
        ("a,y\n1,x\n2,x\n3,x\n", "y", "single class"),
    ],
)
def test_bad_csv_inputs_name_the_problem(
    tmp_path: Path, content: str | None, target: str | None, message: str
) -> None:
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(path), target=target)


def test_free_text_and_dates_are_refused_with_the_column_named(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": [f"user-{i}" for i in range(80)],
            "x": np.arange(80.0),
            "y": [0, 1] * 40,
        }
    )
    with pytest.raises(DatasetError, match=r"'id' \(text with 80 distinct values\)"):
        load_dataset(_csv(tmp_path, frame), target="y")
    frame = pd.DataFrame({"x": np.arange(10.0), "y": [0, 1] * 5})
    ds_frame = frame.assign(when=pd.date_range("2026-01-01", periods=10))
    from workbench.datasets import _finish

    with pytest.raises(DatasetError, match="when"):
        _finish(
            name="d",
            source="mem",
            X=ds_frame.drop(columns="y"),
            y=ds_frame["y"],
            task="classification",
        )


def test_missing_target_values_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, None, 0.0]})
    with pytest.raises(DatasetError, match="missing values"):
        load_dataset(_csv(tmp_path, frame), target="y")


def test_resolve_dataset_ref_keeps_names_and_makes_files_absolute(tmp_path: Path) -> None:
    from workbench.datasets import resolve_dataset_ref

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("a,y\n1,0\n2,1\n")
    (tmp_path / "plain").write_text("a,y\n1,0\n2,1\n")  # an existing file without a suffix
    assert resolve_dataset_ref("iris", base=tmp_path) == "iris"
    assert resolve_dataset_ref("nope", base=tmp_path) == "nope"  # load_dataset names builtins
    absolute = str((tmp_path / "sub" / "data.csv").resolve())
    assert resolve_dataset_ref("sub/data.csv", base=tmp_path) == absolute
    assert resolve_dataset_ref("data.csv", base=tmp_path / "sub") == absolute
    assert resolve_dataset_ref(absolute, base="/") == absolute
    assert resolve_dataset_ref("plain", base=tmp_path) == str((tmp_path / "plain").resolve())
    folder = re.escape(str(tmp_path.resolve()))
    with pytest.raises(DatasetError, match=f"'data.csv' not found in {folder}"):
        resolve_dataset_ref("data.csv", base=tmp_path)
    with pytest.raises(DatasetError, match="'sub' is a folder"):
        resolve_dataset_ref("sub", base=tmp_path)
