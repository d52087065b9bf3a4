"""The stub as a good HTTP citizen (issue 15, item 2): Host allow-list, JSON content type,
request ids, repeated keys, out-of-range flags and /openapi.json from the signature."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from stub_harness import export_mixed_bundle, export_numeric_bundle, good_row, mixed_frame

from workbench.bundle import export_bundle
from workbench.serving import background_server, create_app, limits

with warnings.catch_warnings():  # starlette deprecates its httpx-based TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LOOPBACK = "http://127.0.0.1"


@pytest.fixture(scope="module")
def numeric(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_numeric_bundle(tmp_path_factory.mktemp("http") / "numeric")


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_mixed_bundle(tmp_path_factory.mktemp("http") / "mixed")


@pytest.fixture(scope="module")
def client(numeric: Path) -> Any:
    with TestClient(create_app(numeric), base_url=LOOPBACK) as c:
        yield c


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- Host allow-list (DNS rebinding) -------------------------------------------------------------


def test_default_hosts_are_the_loopback_names_with_the_serving_port(numeric: Path) -> None:
    """Before: ``Host: evil.example`` got 200."""
    body = {"rows": [good_row(numeric)]}
    with background_server(numeric) as url, httpx.Client(timeout=10) as http:
        port = int(url.rsplit(":", 1)[1])
        ok = [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LOCALHOST:{port}"]
        for host in ok:
            r = http.post(url + "/predict", json=body, headers={"host": host})
            assert r.status_code == 200, (host, r.text)
        refused = ["evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "localhost"]
        for host in refused:
            r = http.post(url + "/predict", json=body, headers={"host": host})
            assert r.status_code == 400 and r.json()["field"] == "Host", (host, r.text)
            assert f"localhost:{port}" in r.json()["expected"]
            assert http.get(url + "/metadata", headers={"host": host}).status_code == 400
            assert http.get(url + "/health", headers={"host": host}).status_code == 200
        metrics = http.get(url + "/metrics").text
    assert _metric(metrics, 'workbench_requests_refused_total{reason="host"}') == 8
    assert _metric(metrics, 'workbench_http_requests_total{path="/predict",status="200"}') == 4


def test_allowed_hosts_are_configurable(numeric: Path) -> None:
    body = {"rows": [good_row(numeric)]}
    app = create_app(numeric, limits=limits(allowed_hosts=("model.internal", "api.test:8443")))
    with TestClient(app, base_url="http://model.internal:9000") as c:
        assert c.post("/predict", json=body).status_code == 200
        assert c.post("/predict", json=body, headers={"host": "api.test:8443"}).status_code == 200
        assert c.post("/predict", json=body, headers={"host": "api.test:8444"}).status_code == 400
        assert c.post("/predict", json=body, headers={"host": "127.0.0.1"}).status_code == 400
    with TestClient(create_app(numeric, limits=limits(allowed_hosts=("*",)))) as c:
        assert c.post("/predict", json=body, headers={"host": "anything"}).status_code == 200


# -- Content-Type --------------------------------------------------------------------------------


def test_predict_needs_json_content_type(numeric: Path, tmp_path: Path) -> None:
    """Before: a page on another origin posted 50 no-cors text/plain requests, all logged."""
    log = tmp_path / "p.jsonl"
    raw = json.dumps({"rows": [good_row(numeric)]})
    with TestClient(create_app(numeric, log_path=log), base_url=LOOPBACK) as c:
        for _ in range(50):  # what a no-cors fetch from another origin can send
            r = c.post("/predict", content=raw, headers={"content-type": "text/plain"})
            assert r.status_code == 415 and r.json()["field"] == "Content-Type"
        for ctype in (None, "application/x-www-form-urlencoded", "multipart/form-data",
                      "application/json; charset=latin-1", "application/jsonx"):  # fmt: skip
            headers = {} if ctype is None else {"content-type": ctype}
            r = c.post("/predict", content=raw, headers=headers)
            assert r.status_code == 415, (ctype, r.text)
        for ctype in ("application/json", "Application/JSON", "application/json; charset=utf-8",
                      'application/json;charset="UTF-8"'):  # fmt: skip
            r = c.post("/predict", content=raw, headers={"content-type": ctype})
            assert r.status_code == 200, (ctype, r.text)
        metrics = c.get("/metrics").text
    assert len(log.read_text().splitlines()) == 4
    assert _metric(metrics, 'workbench_requests_refused_total{reason="content_type"}') == 55
    assert _metric(metrics, "workbench_predicted_rows_total") == 4


# -- X-Request-Id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, words",
    [
        ("", "is empty"),
        ("x" * 129, "longer than 128"),
        ("tab\there", "control character"),
        ("é", "not ASCII"),
    ],
    ids=["empty", "129-chars", "control", "non-ascii"],
)
def test_a_bad_request_id_is_refused_not_replaced(
    value: str, words: str, numeric: Path, tmp_path: Path
) -> None:
    """Before: an empty X-Request-Id was accepted (and monitor then crashed on repeats)."""
    log = tmp_path / "p.jsonl"
    with TestClient(create_app(numeric, log_path=log), base_url=LOOPBACK) as c:
        r = c.post(
            "/predict",
            content=json.dumps({"rows": [good_row(numeric)]}),
            headers=[("content-type", "application/json"), ("x-request-id", value.encode())],
        )
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "X-Request-Id" and words in r.json()["detail"]
    assert log.read_text() == ""


def test_request_ids_good_repeated_and_absent(client: TestClient, numeric: Path) -> None:
    body = {"rows": [good_row(numeric)]}
    for rid in ("req-1", "order 42/7:b", "x" * 128):
        r = client.post("/predict", json=body, headers={"x-request-id": rid})
        assert r.status_code == 200 and r.json()["request_id"] == rid == r.headers["x-request-id"]
    generated = client.post("/predict", json=body).json()["request_id"]
    assert len(generated) == 24 and int(generated, 16) >= 0
    r = client.post("/predict", json=body, headers=[("x-request-id", "a"), ("x-request-id", "b")])
    assert r.status_code == 400 and "more than one X-Request-Id" in r.json()["detail"]


# -- repeated JSON keys --------------------------------------------------------------------------


def test_repeated_keys_are_refused(client: TestClient, numeric: Path, mixed: Path) -> None:
    row = json.dumps(good_row(numeric))
    names = [
        f["name"]
        for f in json.loads((numeric / "manifest.json").read_text())["signature"]["features"]
    ]
    record = dict(zip(names, good_row(numeric), strict=True))
    rec = json.dumps(record)[:-1] + f', "{names[0]}": 1.0}}'  # first feature twice
    cases = [
        f'{{"rows": [{row}], "rows": [{row}]}}',
        f'{{"rows": [{row}], "rows": "x"}}',  # the last copy would have been a 422
        f'{{"records": [{rec}]}}',
    ]
    for raw in cases:
        r = client.post("/predict", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400, (raw[:60], r.text)
        assert "repeats the key" in r.json()["detail"]
    # colons inside string values are not keys: no false alarm
    with TestClient(create_app(mixed), base_url=LOOPBACK) as c:
        records = [{"age": 40, "income": 51.5, "city": 'a:b "c": d'}, {"age": 41, "income": None,
                   "city": "rome"}]  # fmt: skip
        assert c.post("/predict", json={"records": records}).status_code == 200
        assert c.post("/predict", json={"rows": [[40, 51.5, "x:y"]]}).status_code == 200


# -- out of range: flagged, answered, counted ----------------------------------------------------


def test_far_out_of_range_values_are_flagged_and_counted(client: TestClient, numeric: Path) -> None:
    features = json.loads((numeric / "manifest.json").read_text())["signature"]["features"]
    lo, hi = features[0]["min"], features[0]["max"]
    span = hi - lo
    row = good_row(numeric)
    inside = client.post("/predict", json={"rows": [[hi + 0.9 * span, *row[1:]]]})
    assert inside.status_code == 200 and "out_of_range" not in inside.json()
    far = client.post(
        "/predict", json={"rows": [row, [hi + 1.5 * span, *row[1:]], [lo - 5 * span, *row[1:]]]}
    )
    assert far.status_code == 200
    flagged = far.json()["out_of_range"]
    assert flagged["count"] == 2
    assert [c["row"] for c in flagged["cells"]] == [1, 2]
    assert flagged["cells"][0] == {
        "row": 1,
        "feature": features[0]["name"],
        "value": hi + 1.5 * span,
        "training_min": lo,
        "training_max": hi,
    }
    assert len(far.json()["probabilities"]) == 3  # answered, not refused
    metrics = client.get("/metrics").text
    assert _metric(metrics, "workbench_out_of_range_requests_total") >= 1
    name = features[0]["name"]
    assert _metric(metrics, f'workbench_out_of_range_values_total{{feature="{name}"}}') >= 2


def test_mixed_features_are_flagged_too(mixed: Path) -> None:
    with TestClient(create_app(mixed), base_url=LOOPBACK) as c:
        r = c.post(
            "/predict", json={"rows": [[40, 51.5, "oslo"], [40, None, "x"], [999, 1e6, "y"]]}
        )
    assert r.status_code == 200, r.text
    cells = r.json()["out_of_range"]["cells"]
    assert [(c["row"], c["feature"]) for c in cells] == [(2, "age"), (2, "income")]


# -- /openapi.json -------------------------------------------------------------------------------


def test_openapi_describes_the_signature_and_the_answers(numeric: Path, mixed: Path) -> None:
    with TestClient(create_app(mixed), base_url=LOOPBACK) as c:
        doc = c.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    record = schemas["RecordsRequest"]["properties"]["records"]["items"]
    assert record["required"] == ["age", "income", "city"]
    assert record["additionalProperties"] is False
    age, income, city = (record["properties"][n] for n in ("age", "income", "city"))
    assert age["type"] == "integer" and age["maximum"] == 2**53 - 1
    assert age["x-training-min"] == 18 and age["x-training-max"] <= 89
    assert income["type"] == ["number", "null"] and "x-flagged-outside" in income
    assert city["type"] == "string" and city["x-categories"] == ["lima", "oslo", "rome"]
    rows = schemas["RowsRequest"]["properties"]["rows"]["items"]
    assert rows["minItems"] == rows["maxItems"] == 3
    assert [s["title"] for s in rows["prefixItems"]] == ["age", "income", "city"]
    answer = schemas["PredictResponse"]
    assert {"labels", "probabilities", "classes"} <= set(answer["required"])
    predict = doc["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422"} <= set(predict["responses"])
    assert "security" not in predict
    # a regression bundle answers values; with a token the routes say so
    X, _ = mixed_frame()
    Xn = X[["age"]].astype(float)
    reg = make_pipeline(StandardScaler(), Ridge()).fit(Xn, Xn["age"] * 2)
    out = export_bundle(reg, out=numeric.parent / "reg", mode="image", X_ref=Xn, X_test=Xn[:20])
    app = create_app(out.bundle_dir, token="t0k", limits=limits(max_rps=100))
    with TestClient(app, base_url=LOOPBACK) as c:
        assert c.get("/openapi.json").status_code == 401
        doc = c.get("/openapi.json", headers={"authorization": "Bearer t0k"}).json()
    answer = doc["components"]["schemas"]["PredictResponse"]
    assert "values" in answer["required"] and "labels" not in answer["properties"]
    predict = doc["paths"]["/predict"]["post"]
    assert predict["security"] == [{"bearer": []}] and {"401", "429"} <= set(predict["responses"])
    assert "security" not in doc["paths"]["/health"]["get"]
