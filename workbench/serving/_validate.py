"""Strict request validation against a bundle's input signature.

Copied into every bundle: imports nothing from the workbench. Every client mistake becomes a
:class:`ClientError` carrying its HTTP status, the offending field and what would be accepted,
so the stub never answers a bad request with a 5xx.

Accepted bodies (JSON): ``{"rows": [[v1, v2, ...], ...]}`` with values in signature order, or
``{"records": [{"feature": value, ...}, ...]}``. ``null`` stands for a missing value and is
accepted only for features that had missing values in the training data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ._model import Batch

__all__ = ["ClientError", "Signature"]

# Values beyond float32 would turn into inf on the ONNX path: reject them as out of range.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_EXPECTED_KIND = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "boolean": "true or false",
}


class ClientError(Exception):
    """A request the stub refuses: status, field, message and the accepted form."""

    def __init__(self, status: int, field: str, message: str, expected: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.expected = expected

    def body(self) -> bytes:
        """JSON body of the error response."""
        return orjson.dumps(
            {"detail": self.message, "field": self.field, "expected": self.expected}
        )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"a string ({value[:30]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Signature:
    """The input signature of a bundle (``manifest["signature"]["features"]``), compiled."""

    def __init__(self, features: list[dict[str, Any]]) -> None:
        self.features = features
        self.names = [f["name"] for f in features]
        self.n = len(features)
        self.kinds = [f["kind"] for f in features]
        self.allow_nan = [bool(f.get("allow_nan")) for f in features]
        self.numeric_only = all(k in ("number", "integer") for k in self.kinds)
        self._index = {name: i for i, name in enumerate(self.names)}
        self._integer_idx = [i for i, k in enumerate(self.kinds) if k == "integer"]
        self._nan_ok = np.array(self.allow_nan, dtype=bool)
        shown = ", ".join(self.names[:5]) + (", ..." if self.n > 5 else "")
        self._row_shape = f"a list of {self.n} values in signature order ({shown})"

    # -- entry point -------------------------------------------------------------------------

    def parse(self, raw: bytes) -> tuple[Batch, list[list[Any]]]:
        """Validate a request body; return the batch and its rows (in signature order).

        Raises:
            ClientError: 400 for a body that is not JSON, 422 for one that breaks the schema.
        """
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ClientError(
                400,
                "body",
                f"the body is not valid JSON ({e}); NaN and Infinity are not JSON: send null "
                "for a missing value",
                'a JSON object {"rows": [[...]]} or {"records": [{...}]}',
            ) from None
        if type(body) is not dict or len(body) != 1 or not ("rows" in body or "records" in body):
            raise self._bad_body(body)
        if "rows" in body:
            rows = body["rows"]
            self._check_rows(rows)
            return self._batch(rows, "rows"), rows
        rows = self._records_to_rows(body["records"])
        return self._batch(rows, "records"), rows

    # -- body shape --------------------------------------------------------------------------

    def _bad_body(self, body: Any) -> ClientError:
        expected = 'an object with exactly one key, "rows" or "records"'
        if type(body) is not dict:
            return ClientError(422, "body", f"the body is {_type_name(body)}", expected)
        extra = sorted(k for k in body if k not in ("rows", "records"))
        if extra:
            return ClientError(422, extra[0], f"unknown top-level field {extra[0]!r}", expected)
        if not body:
            return ClientError(422, "body", "the body has neither rows nor records", expected)
        return ClientError(422, "body", "send rows or records, not both", expected)

    def _check_list(self, value: Any, field: str, item: str) -> None:
        expected = f"a non-empty list of {item}"
        if type(value) is not list:
            raise ClientError(422, field, f"{field} is {_type_name(value)}", expected)
        if not value:
            raise ClientError(422, field, f"{field} is empty; send at least one row", expected)

    def _check_rows(self, rows: Any) -> None:
        self._check_list(rows, "rows", f"rows, each {self._row_shape}")
        n = self.n
        for i, row in enumerate(rows):
            if type(row) is not list:
                field = f"rows[{i}]"
                raise ClientError(422, field, f"{field} is {_type_name(row)}", self._row_shape)
            if len(row) != n:
                field = f"rows[{i}]"
                raise ClientError(
                    422, field, f"{field} has {len(row)} values; expected {n}", self._row_shape
                )
            self._check_values(row, "rows", i)

    def _records_to_rows(self, records: Any) -> list[list[Any]]:
        self._check_list(records, "records", "objects mapping feature name to value")
        names = self.names
        rows = []
        for i, rec in enumerate(records):
            field = f"records[{i}]"
            if type(rec) is not dict:
                expected = "an object mapping feature name to value"
                raise ClientError(422, field, f"{field} is {_type_name(rec)}", expected)
            try:
                row = [rec[name] for name in names]
            except KeyError:
                missing = [n for n in names if n not in rec]
                raise ClientError(
                    422,
                    f"{field}.{missing[0]}",
                    f"{field} is missing feature(s) {_listing(missing)}",
                    f"every feature of the signature ({self.n} names, see GET /metadata)",
                ) from None
            if len(rec) != self.n:
                unknown = [k for k in rec if k not in self._index]
                raise ClientError(
                    422,
                    f"{field}.{unknown[0]}",
                    f"{field} has unknown feature(s) {_listing(unknown)}",
                    f"only the signature's feature names ({_listing(names)})",
                )
            self._check_values(row, "records", i)
            rows.append(row)
        return rows

    # -- values ------------------------------------------------------------------------------

    def _check_values(self, row: list[Any], source: str, i: int) -> None:
        if self.numeric_only:
            # Hot path: exact type checks (bool is a subclass of int but is not a number here).
            for j, v in enumerate(row):
                t = type(v)
                if t is not float and t is not int:
                    self._check_value(v, source, i, j)
            for j in self._integer_idx:
                v = row[j]
                if type(v) is float and not v.is_integer():
                    self._refuse(source, i, j, v, "a number with a fraction")
            return
        for j, v in enumerate(row):
            self._check_value(v, source, i, j)

    def _check_value(self, v: Any, source: str, i: int, j: int) -> None:
        kind = self.kinds[j]
        if v is None:
            if self.allow_nan[j]:
                return
            raise ClientError(
                422,
                self._field(source, i, j),
                f"{self._field(source, i, j)} is null, but feature {self.names[j]!r} had no "
                "missing values in training",
                _EXPECTED_KIND[kind],
            )
        t = type(v)
        ok = (
            (kind in ("number", "integer") and (t is int or t is float))
            or (kind == "string" and t is str)
            or (kind == "boolean" and t is bool)
        )
        if not ok:
            self._refuse(source, i, j, v, _type_name(v))
        if kind == "integer" and t is float and not v.is_integer():
            self._refuse(source, i, j, v, "a number with a fraction")

    def _refuse(self, source: str, i: int, j: int, v: Any, got: str) -> None:
        field = self._field(source, i, j)
        raise ClientError(
            422,
            field,
            f"{field} is {got}; feature {self.names[j]!r} expects {_EXPECTED_KIND[self.kinds[j]]}",
            _EXPECTED_KIND[self.kinds[j]],
        )

    def _field(self, source: str, i: int, j: int) -> str:
        if source == "rows":
            return f"rows[{i}][{j}] ({self.names[j]})"
        return f"records[{i}].{self.names[j]}"

    # -- arrays ------------------------------------------------------------------------------

    def _batch(self, rows: list[list[Any]], source: str) -> Batch:
        if self.numeric_only:
            m = np.array(rows, dtype=np.float64)  # null -> nan; types were checked above
            # One reduction catches both nan (max is nan) and values beyond float32.
            if not np.abs(m).max() <= _FLOAT32_MAX:
                self._check_bad(m, ~(np.abs(m) <= _FLOAT32_MAX), source)
            return Batch(len(rows), matrix=m)
        columns = {}
        for j, (name, kind) in enumerate(zip(self.names, self.kinds, strict=True)):
            values = [row[j] for row in rows]
            if kind in ("number", "integer"):
                col = np.array(values, dtype=np.float64)
                big = np.abs(col) > _FLOAT32_MAX
                if big.any():
                    i = int(np.argmax(big))
                    self._refuse(source, i, j, values[i], "outside the float32 range")
                columns[name] = col
            else:
                columns[name] = np.array(values, dtype=object)
        return Batch(len(rows), columns=columns)

    def _check_bad(self, m: np.ndarray, bad: np.ndarray, source: str) -> None:
        nan = np.isnan(m)
        refused = (nan & ~self._nan_ok) | (bad & ~nan)
        if refused.any():
            i, j = (int(k) for k in np.argwhere(refused)[0])
            if np.isnan(m[i, j]):
                self._check_value(None, source, i, j)  # raises: null not allowed here
            self._refuse(source, i, j, float(m[i, j]), "outside the float32 range")


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
