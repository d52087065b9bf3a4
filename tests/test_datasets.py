from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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


def _prep(ds: Any) -> dict[str, dict[str, str]]:
    return {p["column"]: p for p in ds.prep}


def test_ids_dates_constants_booleans_and_rare_categories_are_prepared_as_recorded(
    tmp_path: Path,
) -> None:
    n = 200
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user": [f"user-{i}" for i in range(n)],  # text id: every value distinct
            "row_no": np.arange(1, n + 1),  # integer row counter
            "x": rng.normal(size=n),
            "country": "NO",  # constant
            "signed_up": pd.date_range("2026-01-01 08:30", periods=n, freq="37h").astype(str),
            "member": rng.choice(["Yes", "No", None], n),
            "city": [f"c{i % 70}" for i in range(n)],  # 70 categories: capped
            "y": [0, 1] * (n // 2),
        }
    )
    frame.loc[3, "signed_up"] = None
    ds = load_dataset(_csv(tmp_path, frame), target="y")
    prep = _prep(ds)
    assert [p["column"] for p in ds.prep] == [c for c in frame.columns if c != "y"]
    assert prep["user"]["treatment"] == "dropped" and "200 distinct" in prep["user"]["why"]
    assert prep["row_no"]["treatment"] == "dropped" and "consecutive" in prep["row_no"]["why"]
    assert prep["country"]["treatment"] == "dropped" and "'NO'" in prep["country"]["why"]
    assert prep["x"]["treatment"] == "numeric"
    assert prep["signed_up"]["treatment"] == "date" and "1 missing" in prep["signed_up"]["why"]
    parts = [f"signed_up_{p}" for p in ("year", "month", "day", "dayofweek", "hour")]
    assert list(ds.X.columns) == ["x", *parts, "member", "city"]
    first = pd.Timestamp("2026-01-01 08:30")
    assert ds.X.loc[0, parts].tolist() == [2026, 1, 1, first.day_of_week, 8]
    assert ds.X.loc[3, parts].isna().all()
    assert prep["member"]["treatment"] == "boolean" and prep["member"]["detail"] == "No/Yes → 1/0"
    member = frame["member"].map({"Yes": 1.0, "No": 0.0})
    pd.testing.assert_series_equal(ds.X["member"], member, check_names=False)
    assert prep["city"]["treatment"] == "capped"
    # 60 values appear 3 times, 10 twice: the 50 kept are the first 50 of the 60 (by value).
    assert ds.X["city"].nunique() == 51 and (ds.X["city"] == "(other)").sum() == n - 150
    assert ds.categorical_features == ["city"]
    record = ds.prep_record()
    assert record["columns"] == ds.prep and record["fingerprint"] == ds.fingerprint
    assert record["features"] == list(ds.X.columns) and record["read"]["sep"] == ","


def test_columns_no_treatment_covers_are_refused_with_their_names() -> None:
    from workbench.datasets import _finish

    X = pd.DataFrame(
        {
            "x": np.arange(30.0),
            "lists": [[1, 2]] * 30,
            "span": pd.to_timedelta(np.arange(30), unit="s"),
        }
    )
    with pytest.raises(DatasetError, match=r"'lists' \(values of type list\), 'span'"):
        _finish(name="d", source="mem", X=X, y=pd.Series([0, 1] * 15, name="y"), task="regression")
    only_ids = pd.DataFrame({"id": [f"u{i}" for i in range(30)], "k": 1})
    with pytest.raises(DatasetError, match=r"no usable feature is left in 'd' \('id': "):
        _finish(name="d", source="mem", X=only_ids, y=pd.Series([0, 1] * 15), task="classification")


def test_builtins_are_used_as_published() -> None:
    digits = load_dataset("digits")  # has constant pixels: kept, so fingerprints stay
    assert digits.shape == (1797, 64)
    assert {p["treatment"] for p in digits.prep} == {"numeric"}
    assert digits.read == {"format": "builtin", "loader": "sklearn.datasets.load_digits"}
    with pytest.raises(DatasetError, match="builtin dataset; --sep and --encoding apply"):
        load_dataset("iris", sep=";")


# -- reading what people have --------------------------------------------------------------------

TABLE = pd.DataFrame(
    {
        "size": [1.5, 2.25, 3.0, 4.5, 5.0, 6.75],
        "colour": ["röd", "blå", None, "röd", "grön", "blå"],
        "label": ["a", "b", "a", "b", "a", "b"],
    }
)


def _same_table(ds: Any) -> None:
    assert ds.X["size"].tolist() == TABLE["size"].tolist()
    assert ds.X["colour"].tolist()[:2] == ["röd", "blå"] and pd.isna(ds.X["colour"][2])
    assert ds.y.tolist() == TABLE["label"].tolist()


@pytest.mark.parametrize(
    ("name", "write", "read"),
    [
        ("wine.tsv", {"sep": "\t"}, {"sep": "\t", "sep_from": "file suffix"}),
        ("tabs.txt", {"sep": "\t"}, {"sep": "\t", "sep_from": "sniffed"}),
        ("euro.csv", {"sep": ";", "decimal": ","}, {"sep": ";", "decimal_comma": ["size"]}),
        ("pipes.csv", {"sep": "|"}, {"sep": "|", "sep_from": "sniffed"}),
        ("latin.csv", {"encoding": "cp1252"}, {"encoding": "cp1252", "sep": ","}),
        ("bom.csv", {"encoding": "utf-8-sig"}, {"encoding": "utf-8"}),
        ("wide.csv", {"encoding": "utf-16"}, {"encoding": "utf-16"}),
    ],
)
def test_text_files_load_with_sniffed_delimiter_and_encoding(
    tmp_path: Path, name: str, write: dict[str, str], read: dict[str, Any]
) -> None:
    path = tmp_path / name
    TABLE.to_csv(path, index=False, **write)
    ds = load_dataset(str(path), target="label")
    _same_table(ds)
    assert ds.read["format"] == "text" and ds.read.items() >= read.items()


def test_parquet_loads_with_its_types(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    frame = TABLE.assign(
        flag=[True, False, None, True, True, False],
        when=pd.to_datetime(["2026-01-01", "2026-02-01", None, "2026-03-01", "2026-04-01", None]),
    )
    frame.to_parquet(path)
    ds = load_dataset(str(path), target="label")
    _same_table(ds)
    assert ds.read == {"format": "parquet"}
    assert _prep(ds)["flag"]["treatment"] == "boolean" and ds.X["flag"].isna().sum() == 1
    assert _prep(ds)["when"]["treatment"] == "date"
    assert ds.X["when_month"].tolist()[:2] == [1.0, 2.0]
    from workbench.datasets import resolve_dataset_ref

    assert resolve_dataset_ref("table.parquet", base=tmp_path) == str(path.resolve())


def test_given_sep_and_encoding_win_over_sniffing(tmp_path: Path) -> None:
    path = tmp_path / "colons.txt"
    path.write_bytes("size:city:label\n1:Москва:a\n2:Киев:b\n3:Москва:a\n".encode("cp1251"))
    with pytest.raises(DatasetError, match=r"one column only: give the delimiter with --sep"):
        load_dataset(str(path), target="label")
    ds = load_dataset(str(path), target="label", sep=":", encoding="cp1251")
    assert ds.X["city"].tolist() == ["Москва", "Киев", "Москва"]
    assert ds.read["sep_from"] == "given" and ds.read["encoding_from"] == "given"
    sniffed = load_dataset(str(path), target="label", sep=":")
    assert sniffed.read["encoding"] == "cp1252"  # readable, but not what was meant
    tab = load_dataset(_csv(tmp_path, TABLE.astype(str), "t.csv"), target="label", sep="comma")
    assert tab.read["sep"] == ","


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sep": ";;"}, r"delimiter ';;' is not usable; give one character"),
        ({"encoding": "klingon"}, r"unknown encoding 'klingon'; give a Python codec name"),
        ({"encoding": "ascii"}, r"is not valid ascii \(byte \d+"),
    ],
)
def test_bad_read_options_name_the_problem(
    tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    path = tmp_path / "data.csv"
    TABLE.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=message):
        load_dataset(str(path), target="label", **kwargs)


def test_bad_parquet_inputs_name_the_problem(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DatasetError, match=r"broken.parquet' is not a readable Parquet file"):
        load_dataset(str(broken), target="label")
    good = tmp_path / "good.parquet"
    TABLE.to_parquet(good)
    with pytest.raises(DatasetError, match="Parquet file: it has no delimiter"):
        load_dataset(str(good), target="label", sep=";")
    with pytest.raises(DatasetError, match=r"target column 'y' not in good\.parquet"):
        load_dataset(str(good), target="y")


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


def test_blank_text_is_a_gap_like_an_empty_field(tmp_path: Path) -> None:
    # The stub sends a missing text value to ONNX as "": blank text must mean "missing" too.
    frame = pd.DataFrame({"x": np.arange(30.0), "colour": ["red", " ", "blue"] * 10, "y": 0})
    frame.loc[::2, "y"] = 1
    ds = load_dataset(_csv(tmp_path, frame), target="y")
    assert ds.X["colour"].isna().sum() == 10 and set(ds.X["colour"].dropna()) == {"red", "blue"}
    assert _prep(ds)["colour"]["why"] == "text; 10 missing"


def test_builtin_class_codes_carry_their_names() -> None:
    cancer = load_dataset("breast_cancer")
    assert cancer.labels == [0, 1]
    assert cancer.label_names == {0: "malignant", 1: "benign"}
    assert load_dataset("digits").label_names == {}  # the names are the codes themselves
    assert load_dataset("diabetes").label_names == {}  # regression
