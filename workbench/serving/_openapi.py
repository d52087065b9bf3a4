"""The stub's OpenAPI 3.1 document, generated from a bundle's manifest.

Copied into every bundle: imports nothing from the workbench.

The document states exactly what the stub accepts, so clients and fuzzers (schemathesis in the
test suite) can hold it to it: per feature its JSON type, ``null`` where training had missing
values, and the bounds the stub enforces (``minimum``/``maximum``: the float32 range for
numbers, the exactly representable integers, ±(2^53 - 1), for integers). Training ranges are
not limits: they are given as ``x-training-min``/``x-training-max`` and ``x-flagged-outside``
(the "far" bounds beyond which a value is answered but flagged in ``out_of_range``). String
features list their training ``x-categories``; unseen categories are accepted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validate import MAX_SAFE_INTEGER, far_range

__all__ = ["openapi_document"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_ERROR = {"$ref": "#/components/schemas/Error"}


def _feature_schema(feature: dict[str, Any]) -> dict[str, Any]:
    kind = feature["kind"]
    schema: dict[str, Any]
    if kind == "number":
        schema = {"type": "number", "minimum": -_FLOAT32_MAX, "maximum": _FLOAT32_MAX}
    elif kind == "integer":
        schema = {"type": "integer", "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER}
    elif kind == "boolean":
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string"}
        if feature.get("categories"):
            schema["x-categories"] = list(feature["categories"])
    if kind in ("number", "integer") and feature.get("min") is not None:
        schema["x-training-min"] = feature["min"]
        schema["x-training-max"] = feature["max"]
        far = far_range(feature)
        if far is not None:
            schema["x-flagged-outside"] = list(far)
    if feature.get("allow_nan"):
        schema["type"] = [schema["type"], "null"]
    schema["title"] = feature["name"]
    return schema


def _request_schemas(features: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(features)
    values = [_feature_schema(f) for f in features]
    rows = {
        "type": "object",
        "required": ["rows"],
        "additionalProperties": False,
        "properties": {
            "rows": {
                "type": "array",
                "minItems": 1,
                "description": f"rows of {n} values in signature order",
                "items": {
                    "type": "array",
                    "minItems": n,
                    "maxItems": n,
                    "prefixItems": values,
                    "items": False,
                },
            }
        },
    }
    records = {
        "type": "object",
        "required": ["records"],
        "additionalProperties": False,
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": [f["name"] for f in features],
                    "additionalProperties": False,
                    "properties": {f["name"]: s for f, s in zip(features, values, strict=True)},
                },
            }
        },
    }
    return {
        "RowsRequest": rows,
        "RecordsRequest": records,
        "PredictRequest": {
            "oneOf": [
                {"$ref": "#/components/schemas/RowsRequest"},
                {"$ref": "#/components/schemas/RecordsRequest"},
            ]
        },
    }


def _response_schema(manifest: dict[str, Any]) -> dict[str, Any]:
    output = manifest["output"]
    common = {
        "model_version": {"type": "string"},
        "request_id": {"type": "string"},
        "out_of_range": {"$ref": "#/components/schemas/OutOfRange"},
    }
    # null per row: the model's output was not finite (NaN/inf) for that row's values
    if manifest["task"] == "regression":
        values = {"type": "array", "items": {"type": ["number", "null"]}}
        properties = {**common, "values": values}
    else:
        classes = list(output.get("classes") or [])
        k = len(classes)
        row = {"type": "array", "minItems": k, "maxItems": k, "items": {"type": "number"}}
        probabilities = (
            {"type": "array", "items": {"oneOf": [row, {"type": "null"}]}}
            if output.get("probabilities")
            else {"type": "null"}
        )
        properties = {
            **common,
            "labels": {"type": "array", "items": {"enum": [*classes, None]}},
            "probabilities": probabilities,
            "classes": {"type": "array", "const": classes},
        }
    required = [k for k in properties if k != "out_of_range"]
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
    }


def _components(manifest: dict[str, Any], token: bool) -> dict[str, Any]:
    features = manifest["signature"]["features"]
    schemas = {
        **_request_schemas(features),
        "PredictResponse": _response_schema(manifest),
        "OutOfRange": {
            "type": "object",
            "description": "values far outside the training range (answered, not refused); "
            "at most 20 cells are listed, count has them all",
            "required": ["count", "cells"],
            "properties": {
                "count": {"type": "integer", "minimum": 1},
                "cells": {
                    "type": "array",
                    "maxItems": 20,
                    "items": {
                        "type": "object",
                        "required": ["row", "feature", "value", "training_min", "training_max"],
                        "properties": {
                            "row": {"type": "integer", "minimum": 0},
                            "feature": {"type": "string"},
                            "value": {"type": "number"},
                            "training_min": {"type": "number"},
                            "training_max": {"type": "number"},
                        },
                    },
                },
            },
        },
        "Error": {
            "type": "object",
            "required": ["detail", "field", "expected"],
            "properties": {
                "detail": {"type": "string"},
                "field": {"type": "string"},
                "expected": {"type": "string"},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "model_version", "backend", "task", "uptime_s"],
            "properties": {
                "status": {"enum": ["ok", "degraded"]},
                "model_version": {"type": "string"},
                "backend": {"type": "string"},
                "task": {"type": "string"},
                "uptime_s": {"type": "number"},
                "prediction_log": {"type": "object"},
            },
        },
    }
    components: dict[str, Any] = {"schemas": schemas}
    if token:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return components


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "not JSON, a key repeated in an object, a Host or X-Request-Id that is refused",
        401: "missing or wrong bearer token",
        408: "the request head or body arrived too slowly (connection closed)",
        413: "the body is larger than the stub accepts",
        415: "Content-Type is not application/json",
        422: "the body breaks the input schema (field and expected form given)",
        429: "over the request rate limit (see Retry-After)",
        431: "the request line and headers are too large (connection closed)",
        503: "too many open connections (connection closed)",
    }
    return {
        str(s): {"description": reasons[s], "content": {"application/json": {"schema": _ERROR}}}
        for s in statuses
    }


def openapi_document(
    manifest: dict[str, Any], *, token: bool, max_body_bytes: int, rate_limited: bool
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a stub serving ``manifest`` with these options."""
    guarded = (401,) if token else ()
    limited = (429,) if rate_limited else ()
    protocol = (408, 431, 503)
    secured: dict[str, Any] = {"security": [{"bearer": []}]} if token else {}
    json_200 = {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}}
    predict = {
        "summary": "Predict",
        "description": (
            f"Body: JSON, at most {max_body_bytes} bytes. Values in rows follow the signature "
            "order; null only where the feature had missing values in training."
        ),
        "operationId": "predict",
        "parameters": [
            {
                "name": "X-Request-Id",
                "in": "header",
                "required": False,
                "description": "your id for this request, logged and echoed; 1-128 printable "
                "ASCII characters. Refused (400) otherwise; generated when absent.",
                "schema": {
                    "type": "string",
                    "pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]{0,126}[\\x21-\\x7e])?$",
                },
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}
            },
        },
        "responses": {
            "200": {
                "description": "the model's answer, one entry per row",
                "headers": {"X-Request-Id": {"schema": {"type": "string"}}},
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PredictResponse"}}
                },
            },
            **_errors(400, *guarded, 413, 415, 422, *limited, *protocol),
        },
        **secured,
    }

    def get(summary: str, ok: dict[str, Any], *, rate: bool = True) -> dict[str, Any]:
        statuses = (400, *guarded, *(limited if rate else ()), *protocol)
        op = {"summary": summary, "responses": {**ok, **_errors(*statuses)}, **secured}
        return {"get": op}

    health_ok = {
        "200": {
            "description": "serving; status is degraded while the prediction log cannot write",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}},
        }
    }
    metrics_ok = {
        "200": {
            "description": "Prometheus text format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    }
    health = {
        "get": {
            "summary": "Liveness and prediction-log state (no token, any Host, no rate limit)",
            "responses": {**health_ok, **_errors(*protocol)},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"workbench stub {manifest['model_version']}",
            "version": str(manifest["model_version"]),
            "description": f"{manifest['task']} model, {len(manifest['signature']['features'])}"
            " input features. Requests must carry a Host the stub allows (default: loopback "
            "names with its port; /health excepted).",
        },
        "paths": {
            "/predict": {"post": predict},
            "/health": health,
            "/metadata": get("The bundle's manifest.json", json_200),
            "/metrics": get("Prometheus metrics (no rate limit)", metrics_ok, rate=False),
            "/openapi.json": get("This document", json_200),
        },
        "components": _components(manifest, token),
    }
