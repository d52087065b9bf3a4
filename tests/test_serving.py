"""The stub: answers equal offline predictions, every bad input gets its 4xx, metrics and log."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from stub_harness import mixed_frame

from workbench.bundle import export_bundle
from workbench.exceptions import ConfigError, ModelError
from workbench.serving import background_server, create_app, run_server
from workbench.serving._observe import PredictionLog

with warnings.catch_warnings():  # starlette deprecates its httpx-based TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LABELS = ["malignant", "benign"]
TOKEN = "s3cret-token"


def stub_client(app: Any) -> TestClient:
    """An in-process client whose Host the stub answers (TestClient's own is 'testserver')."""
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def fitted(cancer: Any) -> dict[str, Any]:
    X_train, _, y_train, _ = cancer
    models = {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        # an odd number of fully grown trees: no exact 0.5 votes
        "rf": RandomForestClassifier(n_estimators=21, random_state=0),
        "hgb": HistGradientBoostingClassifier(max_iter=20, random_state=0),
    }
    return {name: m.fit(X_train, y_train) for name, m in models.items()}


@pytest.fixture(scope="module")
def bundles(fitted: dict[str, Any], cancer: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    X_train, X_test, _, y_test = cancer
    root = tmp_path_factory.mktemp("serving")
    return {
        name: export_bundle(
            pipe,
            out=root / name,
            mode="image",
            X_ref=X_train,
            X_test=X_test,
            y_test=y_test,
            labels=LABELS,
            model_version=f"{name}-1",
        ).bundle_dir
        for name, pipe in fitted.items()
    }


@pytest.fixture(scope="module")
def client(bundles: dict[str, Path]) -> Iterator[TestClient]:
    with stub_client(create_app(bundles["logreg"], max_body_bytes=20_000)) as c:
        yield c


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, pd.DataFrame]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    pipe = make_pipeline(StandardScaler(), Ridge()).fit(X_train, y_train)
    out = tmp_path_factory.mktemp("reg") / "bundle"
    export_bundle(pipe, out=out, mode="image", X_ref=X_train, X_test=X_test, y_test=y_test)
    return out, pipe, X_test


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, pd.DataFrame]:
    """An integer, a number with missing values and a string feature."""
    X, y = mixed_frame()
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    pre = ColumnTransformer(
        [
            ("num", numeric, ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    pipe = Pipeline([("preprocess", pre), ("model", LogisticRegression())]).fit(X, y)
    out = tmp_path_factory.mktemp("mixed") / "bundle"
    export_bundle(pipe, out=out, mode="image", X_ref=X, X_test=X[:80])
    return out, pipe, X


def rows_of(X: pd.DataFrame) -> list[list[Any]]:
    return X.astype(object).where(X.notna(), None).to_numpy().tolist()


# -- answers equal offline predictions ---------------------------------------------------------


@pytest.mark.parametrize("name", ["logreg", "rf", "hgb"])
@pytest.mark.parametrize("backend", ["onnx", "skops"])
def test_answers_equal_offline_predictions(
    name: str, backend: str, bundles: dict[str, Path], fitted: dict[str, Any], cancer: Any
) -> None:
    _, X_test, _, _ = cancer
    pipe = fitted[name]
    with stub_client(create_app(bundles[name], backend=backend)) as c:
        r = c.post("/predict", json={"rows": X_test.to_numpy().tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == f"{name}-1" and body["classes"] == LABELS
    atol = 1e-5 if backend == "onnx" else 0.0
    np.testing.assert_allclose(body["probabilities"], pipe.predict_proba(X_test), atol=atol)
    assert body["labels"] == [LABELS[k] for k in pipe.predict(X_test)]
    assert r.headers["x-request-id"] == body["request_id"]


def test_records_give_the_same_answer_as_rows(client: TestClient, cancer: Any) -> None:
    _, X_test, _, _ = cancer
    records = X_test.iloc[:5].to_dict(orient="records")
    by_records = client.post("/predict", json={"records": records}).json()
    by_rows = client.post("/predict", json={"rows": X_test.iloc[:5].to_numpy().tolist()}).json()
    assert by_records["probabilities"] == by_rows["probabilities"]


def test_regression_returns_values(regression: tuple[Path, Any, pd.DataFrame]) -> None:
    bundle, pipe, X_test = regression
    with stub_client(create_app(bundle)) as c:
        r = c.post("/predict", json={"rows": X_test.to_numpy().tolist()})
    body = r.json()
    assert set(body) == {"model_version", "request_id", "values"}
    np.testing.assert_allclose(body["values"], pipe.predict(X_test), rtol=1e-5)


def test_mixed_features_accept_strings_and_allowed_nulls(
    mixed: tuple[Path, Any, pd.DataFrame],
) -> None:
    bundle, pipe, X = mixed
    app = create_app(bundle)
    assert app.state.stub.predictor.backend == "onnx"
    sample = X.iloc[:10]
    with stub_client(app) as c:
        r = c.post("/predict", json={"rows": rows_of(sample)})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["probabilities"], pipe.predict_proba(sample), atol=1e-5)
        unseen = c.post(
            "/predict", json={"records": [{"age": 40, "income": None, "city": "paris"}]}
        )
        assert unseen.status_code == 200, unseen.text
        bad = [
            ({"age": 40, "income": 50.0, "city": 3}, "records[0].city", "a string"),
            ({"age": None, "income": 1.0, "city": "oslo"}, "records[0].age", "an integer"),
            ({"age": 40.5, "income": 1.0, "city": "oslo"}, "records[0].age", "an integer"),
        ]
        for record, field, expected in bad:
            r = c.post("/predict", json={"records": [record]})
            assert r.status_code == 422, (record, r.text)
            assert r.json()["field"] == field and r.json()["expected"] == expected


# -- every bad input gets its 4xx, naming the field and the expected form ----------------------

GOOD_ROW = [1.0] * 30
BAD_INPUTS = [
    # (id, raw body, status, field, words the message must contain)
    ("not-json", b"{rows: 1}", 400, "body", "not valid JSON"),
    ("nan-literal", b'{"rows": [[NaN]]}', 400, "body", "send null"),
    ("top-level-list", b"[[1, 2]]", 422, "body", "the body is a list"),
    ("empty-object", b"{}", 422, "body", "neither rows nor records"),
    ("both-keys", json.dumps({"rows": [GOOD_ROW], "records": []}), 422, "body", "not both"),
    ("unknown-key", json.dumps({"rowz": [GOOD_ROW]}), 422, "rowz", "unknown top-level field"),
    ("rows-not-list", json.dumps({"rows": "1,2"}), 422, "rows", "rows is a string"),
    ("empty-rows", json.dumps({"rows": []}), 422, "rows", "rows is empty"),
    ("row-not-list", json.dumps({"rows": [5]}), 422, "rows[0]", "rows[0] is a number"),
    ("too-few", json.dumps({"rows": [[1.0] * 29]}), 422, "rows[0]", "has 29 values; expected 30"),
    ("too-many", json.dumps({"rows": [GOOD_ROW, [1.0] * 31]}), 422, "rows[1]", "expected 30"),
    ("string", json.dumps({"rows": [[1.0] * 3 + ["big"] + [1.0] * 26]}), 422,
     "rows[0][3] (mean area)", "is a string ('big'); feature 'mean area' expects a number"),
    ("boolean", json.dumps({"rows": [[True] + [1.0] * 29]}), 422, "rows[0][0] (mean radius)",
     "is a boolean"),
    ("null", json.dumps({"rows": [[None] + [1.0] * 29]}), 422, "rows[0][0] (mean radius)",
     "had no missing values in training"),
    ("nested", json.dumps({"rows": [[[1.0]] + [1.0] * 29]}), 422, "rows[0][0] (mean radius)",
     "is a list"),
    ("huge", json.dumps({"rows": [[1e300] + [1.0] * 29]}), 422, "rows[0][0] (mean radius)",
     "outside the float32 range"),
    ("records-not-objects", json.dumps({"records": [[1.0]]}), 422, "records[0]", "is a list"),
    ("empty-records", json.dumps({"records": []}), 422, "records", "records is empty"),
    ("missing-feature", json.dumps({"records": [{"mean radius": 1.0}]}), 422,
     "records[0].mean texture", "missing feature(s) 'mean texture'"),
    ("unknown-feature", None, 422, "records[0].colour", "unknown feature(s) 'colour'"),
    ("record-string", None, 422, "records[0].mean area", "is a string"),
]  # fmt: skip


def _body(case_id: str, raw: Any, cancer: Any) -> Any:
    if raw is not None:
        return raw
    record = cancer[1].iloc[0].to_dict()
    if case_id == "unknown-feature":
        record["colour"] = "red"
    else:
        record["mean area"] = "large"
    return json.dumps({"records": [record]})


@pytest.mark.parametrize(
    "case_id, raw, status, field, words", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_gets_its_4xx(
    case_id: str, raw: Any, status: int, field: str, words: str, client: TestClient, cancer: Any
) -> None:
    r = client.post(
        "/predict",
        content=_body(case_id, raw, cancer),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == field
    assert words in body["detail"]
    assert body["expected"]


def test_body_too_large_is_413_with_or_without_content_length(client: TestClient) -> None:
    big = json.dumps({"rows": [GOOD_ROW] * 1000})
    r = client.post("/predict", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "at most 20000" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"rows": ['
        for _ in range(1000):
            yield json.dumps(GOOD_ROW).encode() + b","
        yield b"[]]}"

    r = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "--max-body-bytes" in r.json()["detail"]


def test_unknown_route_and_wrong_method_are_4xx(client: TestClient) -> None:
    assert client.get("/predict").status_code == 405
    assert client.get("/nothing-here").status_code == 404


def test_token_guards_everything_but_health(bundles: dict[str, Path]) -> None:
    with stub_client(create_app(bundles["logreg"], token=TOKEN)) as c:
        assert c.get("/health").status_code == 200
        body = {"rows": [GOOD_ROW]}
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
            r = c.post("/predict", json=body, headers=headers)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            assert r.json()["field"] == "Authorization"
        assert c.get("/metadata").status_code == 401
        assert c.get("/metrics").status_code == 401
        auth = {"authorization": f"Bearer {TOKEN}"}
        assert c.post("/predict", json=body, headers=auth).status_code == 200
        assert c.get("/metadata", headers=auth).status_code == 200


# -- health, metadata, metrics, prediction log -------------------------------------------------


def test_health_and_metadata(client: TestClient, bundles: dict[str, Path]) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["backend"] == "onnx"
    assert health["model_version"] == "logreg-1"
    manifest = json.loads((bundles["logreg"] / "manifest.json").read_text())
    assert client.get("/metadata").json() == manifest


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_every_request(bundles: dict[str, Path]) -> None:
    with stub_client(create_app(bundles["logreg"])) as c:
        for _ in range(7):
            assert c.post("/predict", json={"rows": [GOOD_ROW, GOOD_ROW]}).status_code == 200
        for _ in range(3):
            assert c.post("/predict", json={"rows": []}).status_code == 422
        c.post("/predict", content=b"nope", headers={"content-type": "application/json"})
        c.get("/nothing-here")
        text = c.get("/metrics").text
    assert _metric(text, 'workbench_http_requests_total{path="/predict",status="200"}') == 7
    assert _metric(text, 'workbench_http_requests_total{path="/predict",status="422"}') == 3
    assert _metric(text, 'workbench_http_requests_total{path="/predict",status="400"}') == 1
    assert _metric(text, 'workbench_http_requests_total{path="other",status="404"}') == 1
    assert _metric(text, 'workbench_http_request_errors_total{path="/predict",kind="client"}') == 4
    count = 'workbench_http_request_duration_seconds_count{path="/predict"}'
    assert _metric(text, count) == 11
    inf = 'workbench_http_request_duration_seconds_bucket{path="/predict",le="+Inf"}'
    assert _metric(text, inf) == 11
    assert _metric(text, "workbench_predicted_rows_total") == 14
    assert 'workbench_model_info{model_version="logreg-1",backend="onnx"} 1' in text
    assert "# TYPE workbench_http_request_duration_seconds histogram" in text


def test_prediction_log_records_every_prediction(bundles: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "logs" / "predictions.jsonl"
    ids = []
    with stub_client(create_app(bundles["logreg"], log_path=log)) as c:
        for i in range(25):
            rows = [[float(i), *GOOD_ROW[1:]]]
            r = c.post("/predict", json={"rows": rows}, headers={"x-request-id": f"req-{i}"})
            ids.append(r.json()["request_id"])
        c.post("/predict", json={"rows": []})  # refused: not a prediction
    # leaving the client ran the lifespan shutdown, which flushes and closes the log
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["request_id"] for e in lines] == ids == [f"req-{i}" for i in range(25)]
    first = lines[0]
    assert set(first) == {"ts", "request_id", "model_version", "latency_ms", "inputs", "outputs"}
    assert first["model_version"] == "logreg-1" and first["latency_ms"] > 0
    assert first["inputs"] == [[0.0, *GOOD_ROW[1:]]]
    assert first["outputs"]["labels"][0] in LABELS and len(first["outputs"]["probabilities"]) == 1
    assert first["ts"].endswith("+00:00")


def test_prediction_log_never_blocks_and_counts_what_it_drops(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "p.jsonl", max_queued_rows=5)
    release = threading.Event()
    writes: list[bytes] = []

    def slow_write(fd: int, data: memoryview) -> int:  # a disk that hangs
        release.wait(10)
        writes.append(bytes(data))
        return len(data)

    log._os_write = slow_write  # type: ignore[method-assign]
    t0 = time.perf_counter()
    accepted = [log.put(time.time(), f"r{i}", "v", 1.0, [[1]], {"values": [1]}) for i in range(50)]
    assert time.perf_counter() - t0 < 0.5
    assert not all(accepted) and log.dropped == accepted.count(False)
    release.set()
    log.close()
    assert sum(chunk.count(b"\n") for chunk in writes) == accepted.count(True) == log.written


# -- a real server -----------------------------------------------------------------------------


def test_real_uvicorn_server_answers_like_the_pipeline(
    bundles: dict[str, Path], fitted: dict[str, Any], cancer: Any, tmp_path: Path
) -> None:
    _, X_test, _, _ = cancer
    log = tmp_path / "p.jsonl"
    with background_server(bundles["rf"], token=TOKEN, log_path=log) as url:
        assert url.startswith("http://127.0.0.1:")
        auth = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, headers=auth, timeout=10) as http:
            answers = [
                http.post("/predict", json={"records": [rec]}).json()
                for rec in X_test.iloc[:30].to_dict(orient="records")
            ]
            bad = http.post("/predict", json={"rows": [["x"] * 30]})
            metrics = http.get("/metrics").text
    proba = np.array([a["probabilities"][0] for a in answers])
    np.testing.assert_allclose(proba, fitted["rf"].predict_proba(X_test.iloc[:30]), atol=1e-5)
    assert bad.status_code == 422
    assert _metric(metrics, 'workbench_http_requests_total{path="/predict",status="200"}') == 30
    assert len(log.read_text().splitlines()) == 30  # flushed when the server shut down


def test_server_refuses_to_start_on_a_tampered_model(
    fitted: dict[str, Any], cancer: Any, tmp_path: Path
) -> None:
    X_train, X_test, _, _ = cancer
    out = tmp_path / "b"
    export_bundle(fitted["logreg"], out=out, mode="image", X_ref=X_train, X_test=X_test)
    (out / "model.onnx").write_bytes(b"\x08\x07")
    started = []
    with pytest.raises(ModelError, match=r"model\.onnx has sha256"):
        run_server(out, port=0, on_ready=started.append)
    assert not started, "no port may open for a tampered model"
    with pytest.raises(ModelError), background_server(out):
        pass


def test_bad_options_are_config_errors(bundles: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a bundle"):
        create_app(tmp_path)
    with pytest.raises(ConfigError, match="backend 'gpu'"):
        create_app(bundles["logreg"], backend="gpu")
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        run_server(bundles["logreg"], workers=0)


# -- signatures with text: one numeric matrix and one object matrix ---------------------------


def test_a_mixed_signature_builds_two_matrices_and_checks_ranges_by_feature() -> None:
    from workbench.serving._validate import ClientError, Signature

    # Text in the middle: numeric matrix column k is not signature index k.
    sig = Signature(
        [
            {"name": "a", "kind": "number", "min": 0.0, "max": 1.0, "allow_nan": False},
            {"name": "b", "kind": "string", "allow_nan": True},
            {"name": "c", "kind": "integer", "min": 0.0, "max": 10.0, "allow_nan": True},
        ]
    )
    batch, _, flags = sig.parse(json.dumps({"rows": [[0.5, None, 3], [0.2, "x", None]]}).encode())
    assert batch.matrix is None and batch.numbers.dtype == np.float64
    np.testing.assert_array_equal(batch.numbers, [[0.5, 3.0], [0.2, np.nan]])
    assert batch.texts.tolist() == [[None], ["x"]]  # the skops path sees the gap as None
    assert batch.texts_for_onnx().tolist() == [[""], ["x"]]  # ONNX strings: "" for a gap
    assert batch.texts.tolist() == [[None], ["x"]]  # ... in a copy
    assert batch.column(2, "c").tolist()[0] == 3.0 and flags == []
    for n_rows in (1, 9):  # in the type loop (small batches) and in numpy (larger ones)
        body = {"rows": [[0.5, "x", 3]] * (n_rows - 1) + [[0.5, "x", 25]]}
        _, _, flags = sig.parse(json.dumps(body).encode())
        assert flags == [(n_rows - 1, 2, 25.0)]
        body = {"rows": [[0.5, "x", 3]] * (n_rows - 1) + [[1e300, "x", 3]]}
        with pytest.raises(ClientError, match="outside the float32 range") as e:
            sig.parse(json.dumps(body).encode())
        assert e.value.field == f"rows[{n_rows - 1}][0] (a)"
    with pytest.raises(ClientError, match="had no missing values") as e:
        sig.parse(json.dumps({"rows": [[None, "x", 3]]}).encode())
    assert e.value.field == "rows[0][0] (a)"
    for bad, field in (([0.5, 3, 3], "rows[0][1] (b)"), ([0.5, "x", "3"], "rows[0][2] (c)")):
        with pytest.raises(ClientError) as e:
            sig.parse(json.dumps({"rows": [bad]}).encode())
        assert e.value.status == 422 and e.value.field == field
