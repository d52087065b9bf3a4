"""skops save/load under the allow-list, ONNX conversion and parity (workbench.modelio)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from stub_harness import mixed_frame

from workbench.exceptions import ModelError
from workbench.modelio import (
    TRUSTED_TYPES,
    load_model,
    onnx_parity,
    parity_probe_rows,
    save_model,
    signature_from_frame,
    task_of,
    to_onnx,
)
from workbench.onnxgraph import onnx_inputs

CLASSIFIERS = {
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "rf": lambda: RandomForestClassifier(n_estimators=20, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
}
REGRESSORS = {
    "ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
    "rf": lambda: RandomForestRegressor(n_estimators=10, random_state=0),
    "hgb": lambda: HistGradientBoostingRegressor(max_iter=20, random_state=0),
}


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def classifiers(cancer: Any) -> dict[str, Any]:
    X_train, _, y_train, _ = cancer
    return {name: make().fit(X_train, y_train) for name, make in CLASSIFIERS.items()}


def mixed_pipeline(estimator: Any, *, impute_strings: bool = False) -> Pipeline:
    """workbench.models' shape: imputed, scaled numbers and one-hot strings."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    strings: Any = onehot
    if impute_strings:
        strings = Pipeline(
            [("impute", SimpleImputer(strategy="most_frequent")), ("onehot", onehot)]
        )
    pre = ColumnTransformer([("num", numeric, ["age", "income"]), ("cat", strings, ["city"])])
    return Pipeline([("preprocess", pre), ("model", estimator)])


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_save_and_load_round_trip_with_hash(
    name: str, classifiers: dict[str, Any], cancer: Any, tmp_path: Path
) -> None:
    _, X_test, _, _ = cancer
    path = tmp_path / "model.skops"
    sha = save_model(classifiers[name], path)
    loaded = load_model(path, sha256=sha)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), classifiers[name].predict_proba(X_test)
    )


def test_load_refuses_a_changed_file_and_names_it(classifiers: Any, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sha = save_model(classifiers["logreg"], path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError, match=r"model\.skops has sha256 .* expected") as err:
        load_model(path, sha256=sha)
    assert "export the model again" in str(err.value)


def test_load_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nowhere\.skops cannot be read.*export"):
        load_model(tmp_path / "nowhere.skops")


def test_untrusted_estimator_is_refused_on_save_and_on_load(tmp_path: Path) -> None:
    import skops.io as sio

    X = pd.DataFrame({"a": np.arange(20.0), "b": np.arange(20.0)[::-1]})
    y = (X["a"] > 9).astype(int)
    knn = KNeighborsClassifier(3).fit(X, y)
    with pytest.raises(ModelError, match="KNeighborsClassifier"):
        save_model(knn, tmp_path / "knn.skops")
    # skops itself trusts every sklearn estimator; our explicit list does not.
    sio.dump(knn, tmp_path / "knn.skops")
    with pytest.raises(ModelError, match=r"not on the trusted list: .*KDTree"):
        load_model(tmp_path / "knn.skops")
    assert not any("neighbors" in t for t in TRUSTED_TYPES)


def test_function_transformer_is_not_trusted(tmp_path: Path) -> None:
    X = pd.DataFrame({"a": np.arange(1.0, 21.0)})
    pipe = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression())
    pipe.fit(X, (X["a"] > 10).astype(int))
    with pytest.raises(ModelError, match="FunctionTransformer"):
        save_model(pipe, tmp_path / "ft.skops")


def test_allow_list_covers_the_internal_types_skops_reports(
    classifiers: dict[str, Any],
) -> None:
    import skops.io as sio

    reported = set()
    for pipe in classifiers.values():
        reported |= set(sio.get_untrusted_types(data=sio.dumps(pipe)))
    X, y = mixed_frame(240)
    reported |= set(
        sio.get_untrusted_types(
            data=sio.dumps(mixed_pipeline(HistGradientBoostingClassifier(max_iter=5)).fit(X, y))
        )
    )
    assert reported <= TRUSTED_TYPES
    assert "sklearn.tree._tree.Tree" in reported
    assert "numpy.dtype" in reported


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifiers_convert_to_onnx_with_parity(
    name: str, classifiers: dict[str, Any], cancer: Any
) -> None:
    X_train, X_test, _, _ = cancer
    onnx_bytes, reason = to_onnx(classifiers[name], X_train)
    assert reason is None and onnx_bytes
    parity = onnx_parity(classifiers[name], onnx_bytes, X_test, "classification")
    assert parity["compared"] == "probabilities"
    assert parity["max_abs_diff"] < 1e-5
    assert parity["label_agreement"] == 1.0
    assert parity["ok"] and parity["n_rows"] == len(X_test)


@pytest.mark.parametrize("name", sorted(REGRESSORS))
def test_regressors_convert_to_onnx_with_parity(name: str, diabetes: Any) -> None:
    X_train, X_test, y_train, _ = diabetes
    pipe = REGRESSORS[name]().fit(X_train, y_train)
    assert task_of(pipe) == "regression"
    onnx_bytes, reason = to_onnx(pipe, X_train)
    assert reason is None
    parity = onnx_parity(pipe, onnx_bytes, X_test, "regression")
    assert parity["label_agreement"] is None
    assert parity["ok"], parity


@pytest.mark.parametrize("split", [False, True])
def test_column_transformer_on_numeric_data_gets_one_matrix_input(split: bool, cancer: Any) -> None:
    import onnx
    import onnxruntime as ort

    X_train, X_test, y_train, _ = cancer
    cols = list(X_train.columns)
    if split:  # two column groups: each reads its columns from a Split of X
        parts = [("a", StandardScaler(), cols[20:]), ("b", SimpleImputer(), cols[:20])]
    else:  # all columns in order: the Concat becomes Identity(X)
        parts = [("num", StandardScaler(), cols)]
    pipe = Pipeline([("preprocess", ColumnTransformer(parts)), ("model", LogisticRegression())])
    pipe.set_params(model__max_iter=3000).fit(X_train, y_train)
    onnx_bytes, reason = to_onnx(pipe, X_train)
    assert reason is None
    inputs = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"]).get_inputs()
    assert [(i.name, i.shape) for i in inputs] == [("X", [None, 30])]
    ops = [n.op_type for n in onnx.load_from_string(onnx_bytes).graph.node]
    assert ("Split" in ops) is split and ("Identity" in ops) is not split
    assert onnx_parity(pipe, onnx_bytes, X_test, "classification")["ok"]


@pytest.mark.parametrize(
    "estimator", [LogisticRegression(), HistGradientBoostingClassifier(max_iter=10)]
)
def test_mixed_columns_with_strings_and_missing_values_convert(estimator: Any) -> None:
    X, y = mixed_frame(240)
    pipe = mixed_pipeline(estimator).fit(X, y)
    onnx_bytes, reason = to_onnx(pipe, X)
    assert reason is None, reason
    X_new, _ = mixed_frame(60, seed=1)
    X_new.loc[0, "city"] = "paris"  # unseen category: ignored, as handle_unknown='ignore'
    parity = onnx_parity(pipe, onnx_bytes, X_new, "classification")
    assert parity["ok"] and parity["label_agreement"] == 1.0


def test_text_imputer_of_nan_converts_and_gaps_answer_like_the_pipeline() -> None:
    # skl2onnx converts a text SimpleImputer only when missing_values is a string, and sklearn's
    # default is NaN: to_onnx converts a copy imputing "" (what the stub feeds for a missing
    # text value), and parity on rows with gaps shows it is the same model.
    X, y = mixed_frame(240)
    X.loc[::7, "city"] = None
    pipe = mixed_pipeline(LogisticRegression(), impute_strings=True).fit(X, y)
    onnx_bytes, reason = to_onnx(pipe, X)
    assert reason is None and onnx_bytes
    imputer = pipe.named_steps["preprocess"].named_transformers_["cat"].named_steps["impute"]
    assert np.isnan(imputer.missing_values)  # the pipeline itself is left alone
    probe = parity_probe_rows(X, signature_from_frame(X))
    assert probe["city"].isna().any() and (probe["city"] == "(unseen category)").any()
    assert probe["income"].isna().any() and not probe["age"].isna().any()  # age had no gaps
    for rows in (X, probe):
        parity = onnx_parity(pipe, onnx_bytes, rows, "classification")
        assert parity["ok"] and parity["label_agreement"] == 1.0, parity


def categorical_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Text categories with gaps, numbers with gaps, an integer: (X, class label, amount)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
            "length": rng.normal(44, 5, n),
            "sex": rng.choice(["male", "female"], n),
            "year": rng.integers(2007, 2010, n),
        }
    )
    X.loc[::11, "sex"] = None
    X.loc[::13, "length"] = np.nan
    score = X["length"].fillna(44) / 5 + (X["island"] == "Dream") * 2 + (X["sex"] == "male")
    label = pd.Series(np.where(score > 11.5, "big", np.where(score > 10, "mid", "small")))
    amount = score * 100 + rng.normal(0, 5, n)
    return X, label, amount


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("family", ["logreg", "rf", "hgb"])
def test_every_family_converts_categories_with_gaps_with_parity(family: str, task: str) -> None:
    from workbench.models import build_pipeline, get_family

    X, label, amount = categorical_frame()
    y = label if task == "classification" else amount
    pipe = build_pipeline(
        family,
        task,
        get_family(family).defaults(task),
        numeric=["length", "year"],
        categorical=["island", "sex"],
        seed=0,
    ).fit(X[:200], y[:200])
    onnx_bytes, reason = to_onnx(pipe, X[:200])
    assert reason is None and onnx_bytes
    # Two inputs, numbers and text, each in signature order; the graph splits the columns.
    assert onnx_inputs(onnx_bytes) == {"X": ["length", "year"], "T": ["island", "sex"]}
    X_new = X[200:].copy()
    X_new.iloc[0, 0] = "Atlantis"  # a category no training row has
    worst = 0.0
    for rows in (X_new, parity_probe_rows(X_new, signature_from_frame(X[:200]))):
        parity = onnx_parity(pipe, onnx_bytes, rows, task)  # type: ignore[arg-type]
        assert parity["ok"], parity
        if task == "classification":
            assert parity["label_agreement"] == 1.0
        worst = max(worst, parity["max_abs_diff"])
    print(f"parity {family}/{task}: max |diff| {worst:.3g}")  # shown with pytest -s


def test_unconvertible_pipeline_says_why(cancer: Any) -> None:
    class Passthrough(TransformerMixin, BaseEstimator):
        def fit(self, X: Any, y: Any = None) -> Passthrough:
            return self

        def transform(self, X: Any) -> Any:
            return X

    X_train, _, y_train, _ = cancer
    pipe = make_pipeline(Passthrough(), StandardScaler(), LogisticRegression(max_iter=2000))
    pipe.fit(X_train, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_bytes, reason = to_onnx(pipe, X_train)
    assert onnx_bytes is None
    assert reason is not None and "cannot convert" in reason and "Passthrough" in reason


def test_signature_records_kinds_ranges_and_missing_values() -> None:
    X, _ = mixed_frame(240)
    by_name = {f["name"]: f for f in signature_from_frame(X)}
    assert by_name["age"]["kind"] == "integer" and not by_name["age"]["allow_nan"]
    assert by_name["income"]["kind"] == "number" and by_name["income"]["allow_nan"]
    assert by_name["income"]["min"] == pytest.approx(X["income"].min())
    assert by_name["city"]["kind"] == "string"
    assert by_name["city"]["categories"] == ["lima", "oslo", "rome"]


def test_export_records_parity_on_gaps_and_unseen_categories(tmp_path: Path) -> None:
    from workbench.bundle import export_bundle
    from workbench.models import build_pipeline, get_family

    X, label, _ = categorical_frame()
    params = get_family("logreg").defaults("classification")
    pipe = build_pipeline(
        "logreg", "classification", params, numeric=["length", "year"],
        categorical=["island", "sex"], seed=0,
    ).fit(X[:200], label[:200])  # fmt: skip
    m = export_bundle(pipe, out=tmp_path / "a", mode="image", X_ref=X[:200], X_test=X[200:])
    assert m.backend == "onnx" and m.data["onnx"]["text_inputs"] == ["island", "sex"]
    edge = m.data["parity"]["edge_cases"]
    # 5 rows x (2 features with gaps in training + 2 text features with an unseen category)
    assert edge["ok"] and edge["n_rows"] == 20 and m.data["parity"]["ok"]

    # A pipeline that refuses unseen categories itself: nothing to compare on those rows.
    strict = mixed_pipeline(LogisticRegression(), impute_strings=True)
    strict.set_params(preprocess__cat__onehot__handle_unknown="error")
    Xm, ym = mixed_frame(240)
    strict.fit(Xm, ym)
    m = export_bundle(strict, out=tmp_path / "b", mode="image", X_ref=Xm, X_test=Xm[:40])
    assert m.backend == "onnx" and m.data["parity"]["ok"]
    assert m.data["parity"]["edge_cases"]["skipped"].startswith("the pipeline refuses them:")


@pytest.mark.parametrize("backend", ["onnx", "skops"])
def test_a_null_text_value_alone_is_a_gap_on_both_backends(backend: str, tmp_path: Path) -> None:
    # JSON null in a one-row request reaches the skops pipeline as None in an object column,
    # which pandas does not turn into NaN: the pipeline must impute it like NaN.
    from fastapi.testclient import TestClient

    from workbench.bundle import export_bundle
    from workbench.models import build_pipeline, get_family
    from workbench.serving import create_app

    X, label, _ = categorical_frame()
    pipe = build_pipeline(
        "logreg", "classification", get_family("logreg").defaults("classification"),
        numeric=["length", "year"], categorical=["island", "sex"], seed=0,
    ).fit(X[:200], label[:200])  # fmt: skip
    export_bundle(pipe, out=tmp_path / "b", mode="image", X_ref=X[:200], X_test=X[200:])
    row = X.iloc[[201]].copy()
    row["sex"] = np.nan
    want = pipe.predict_proba(row)[0]
    record = {"island": row["island"].iloc[0], "length": float(row["length"].iloc[0]),
              "sex": None, "year": int(row["year"].iloc[0])}  # fmt: skip
    app = create_app(tmp_path / "b", backend=backend)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/predict", json={"records": [record]})
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["probabilities"][0], want, atol=1e-5)


def _categorical_bundle(out: Path) -> tuple[Any, pd.DataFrame, pd.DataFrame, Any]:
    """A penguins-like logreg bundle; returns the pipeline, rows to ask and the manifest."""
    from workbench.bundle import export_bundle
    from workbench.models import build_pipeline, get_family

    X, label, _ = categorical_frame()
    pipe = build_pipeline(
        "logreg", "classification", get_family("logreg").defaults("classification"),
        numeric=["length", "year"], categorical=["island", "sex"], seed=0,
    ).fit(X[:200], label[:200])  # fmt: skip
    m = export_bundle(pipe, out=out, mode="image", X_ref=X[:200], X_test=X[200:])
    asked = parity_probe_rows(X[200:], signature_from_frame(X[:200]))
    assert asked is not None
    asked = pd.concat([X[200:210], asked], ignore_index=True)
    return pipe, X, asked, m


def _served(bundle: Path, asked: pd.DataFrame) -> Any:
    from fastapi.testclient import TestClient

    from workbench.serving import create_app

    app = create_app(bundle, backend="onnx")
    assert app.state.stub.predictor.backend == "onnx"
    rows = asked.astype(object).where(asked.notna(), None).to_numpy().tolist()
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.post("/predict", json={"rows": rows})
    assert answer.status_code == 200, answer.text
    return answer.json()["probabilities"]


def test_a_categorical_bundle_has_two_inputs_and_answers_like_the_pipeline(
    tmp_path: Path,
) -> None:
    import onnxruntime as ort

    pipe, _, asked, m = _categorical_bundle(tmp_path / "b")
    layout = {"X": ["length", "year"], "T": ["island", "sex"]}
    assert m.backend == "onnx" and m.data["onnx"]["inputs"] == layout
    session = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"))
    assert [(i.name, i.type, i.shape[1]) for i in session.get_inputs()] == [
        ("X", "tensor(float)", 2),
        ("T", "tensor(string)", 2),
    ]
    # Gaps in every feature that had them and unseen categories: the same as the pipeline.
    got = _served(tmp_path / "b", asked)
    np.testing.assert_allclose(got, pipe.predict_proba(asked), atol=1e-5)


def test_an_old_per_column_bundle_still_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import onnxruntime as ort

    from workbench import onnxgraph

    # Bundles exported before the layout was recorded: one [None, 1] input per column and no
    # "inputs" in the manifest (the stub's manifest is not hashed, so it can be edited back).
    monkeypatch.setattr(onnxgraph, "group_inputs", lambda model, features: model)
    pipe, _, asked, _ = _categorical_bundle(tmp_path / "old")
    manifest_path = tmp_path / "old" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["onnx"].pop("inputs") is None
    manifest_path.write_text(json.dumps(manifest))
    session = ort.InferenceSession(str(tmp_path / "old" / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["island", "length", "sex", "year"]
    got = _served(tmp_path / "old", asked)
    np.testing.assert_allclose(got, pipe.predict_proba(asked), atol=1e-5)


def test_a_manifest_layout_that_differs_from_the_model_is_refused(tmp_path: Path) -> None:
    from workbench.serving._model import ModelLoadError, OnnxPredictor

    _, _, _, m = _categorical_bundle(tmp_path / "b")
    data = (tmp_path / "b" / "model.onnx").read_bytes()
    features = m.data["signature"]["features"]
    wrong = {"X": ["year", "length"], "T": ["island", "sex"]}
    with pytest.raises(ModelLoadError, match="re-export the bundle"):
        OnnxPredictor(data, features, "classification", wrong)
