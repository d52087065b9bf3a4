"""Strict request validation against a bundle's input signature.

Copied into every bundle: imports nothing from the workbench. Every client mistake becomes a
:class:`ClientError` carrying its HTTP status, the offending field and what would be accepted,
so the stub never answers a bad request with a 5xx.

Accepted bodies (JSON): ``{"rows": [[v1, v2, ...], ...]}`` with values in signature order, or
``{"records": [{"feature": value, ...}, ...]}``. ``null`` stands for a missing value and is
accepted only for features that had missing values in the training data. An object that repeats
a key is refused (400): parsers disagree on which copy wins, so the stub would be guessing.

Numeric values far outside the training range are answered, not refused, and flagged: "far"
means more than one training range (``max - min``) below ``min`` or above ``max``; for a
feature that was constant in training, more than ``max(|value|, 1)`` away from it.
"""

from __future__ import annotations

import json
import operator
from typing import Any

import numpy as np
import orjson

from ._model import Batch, Layout

__all__ = ["ClientError", "Signature", "far_range"]

# Values beyond float32 would turn into inf on the ONNX path: reject them as out of range.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Integers beyond 2^53 - 1 are not held exactly by a JSON parser's double (nor by this one for
# integers beyond 64 bits): an integer feature accepts only the exactly representable ones.
MAX_SAFE_INTEGER = 2**53 - 1
_EXPECTED_KIND = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "boolean": "true or false",
}


class ClientError(Exception):
    """A request the stub refuses: status, field, message and the accepted form.

    ``reason`` names the refusal for ``/metrics`` (``workbench_requests_refused_total``) when it
    is one of the stub's guards rather than plain validation; ``headers`` go into the answer.
    """

    def __init__(
        self,
        status: int,
        field: str,
        message: str,
        expected: str,
        *,
        reason: str | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message
        self.expected = expected
        self.reason = reason
        self.headers = headers or []

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
        # Training ranges widened to "far" bounds (module docstring); -inf/inf when unknown.
        bounds = [far_range(f) if f["kind"] in ("number", "integer") else None for f in features]
        self.lo = np.array([b[0] if b else -np.inf for b in bounds], dtype=np.float64)
        self.hi = np.array([b[1] if b else np.inf for b in bounds], dtype=np.float64)
        # The usual case is proved in one test, "within the far range clipped to float32"; a
        # value failing it (null, too large, far) takes the slow path that tells them apart.
        # Small batches compare in the Python loop that checks types anyway (cheaper than
        # numpy calls on a 1-row array); larger ones test |m - center| <= radius in numpy.
        with np.errstate(over="ignore", invalid="ignore"):
            lo = np.maximum(self.lo, -_FLOAT32_MAX)
            hi = np.minimum(self.hi, _FLOAT32_MAX)
            self._center = (lo + hi) / 2
            self._radius = (hi - lo) / 2
        self._lo32, self._hi32 = lo.tolist(), hi.tolist()
        # Mixed signatures: one float64 matrix of the numeric features, one object matrix of
        # the others (``Batch``), each row's values picked by one itemgetter call.
        self.layout = layout = Layout(features)
        self._is_text = [k not in ("number", "integer") for k in self.kinds]
        self._numeric_idx = layout.numeric_idx
        self._take_numbers = _taker(layout.numeric_idx)
        self._take_texts = _taker(layout.text_idx)
        num = np.array(layout.numeric_idx, dtype=np.intp)
        self._num_center, self._num_radius = self._center[num], self._radius[num]

    # -- entry point -------------------------------------------------------------------------

    def parse(self, raw: bytes) -> tuple[Batch, list[list[Any]], list[tuple[int, int, float]]]:
        """Validate a request body; return the batch, its rows (in signature order) and the
        cells far outside the training range as ``(row, feature index, value)``.

        Raises:
            ClientError: 400 for a body that is not JSON or repeats a key in an object, 422 for
                one that breaks the schema.
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
        try:
            if (
                type(body) is not dict
                or len(body) != 1
                or not ("rows" in body or "records" in body)
            ):
                raise self._bad_body(body)
            if "rows" in body:
                rows = body["rows"]
                usual = self._check_rows(rows)
                keys = 1
                batch, flags = self._batch(rows, "rows", usual)
            else:
                rows, usual = self._records_to_rows(body["records"])
                keys = 1 + len(rows) * self.n
                batch, flags = self._batch(rows, "records", usual)
        except ClientError:
            _refuse_duplicate_keys(raw)  # a repeated key explains the error better, if any
            raise
        # Every key of the parsed objects has its ':' in the body, and a repeated key adds one
        # more: equal counts prove there is none (one C-speed count on the hot path). Colons
        # inside strings make the count higher; only then is the body parsed again to be sure.
        if raw.count(b":") != keys:
            _refuse_duplicate_keys(raw)
        return batch, rows, flags

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

    def _check_rows(self, rows: Any) -> bool:
        """Check shape and types; True when every value is also proved usual (small batch)."""
        self._check_list(rows, "rows", f"rows, each {self._row_shape}")
        n = self.n
        ranges = usual = len(rows) <= _SMALL_BATCH
        for i, row in enumerate(rows):
            if type(row) is not list:
                field = f"rows[{i}]"
                raise ClientError(422, field, f"{field} is {_type_name(row)}", self._row_shape)
            if len(row) != n:
                field = f"rows[{i}]"
                raise ClientError(
                    422, field, f"{field} has {len(row)} values; expected {n}", self._row_shape
                )
            if self._check_values(row, "rows", i, ranges):
                usual = False
        return usual

    def _records_to_rows(self, records: Any) -> tuple[list[list[Any]], bool]:
        self._check_list(records, "records", "objects mapping feature name to value")
        names = self.names
        rows = []
        ranges = usual = len(records) <= _SMALL_BATCH
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
            if self._check_values(row, "records", i, ranges):
                usual = False
            rows.append(row)
        return rows, usual

    # -- values ------------------------------------------------------------------------------

    def _check_values(self, row: list[Any], source: str, i: int, ranges: bool) -> bool:
        """Refuse a value of the wrong type; True when a value is unusual (null, or with
        ``ranges`` outside the far range or float32), i.e. the slow path must look."""
        unusual = False
        if self.numeric_only:
            # Hot path: exact type checks (bool is a subclass of int but is not a number here).
            lo, hi = self._lo32, self._hi32
            for j, v in enumerate(row):
                t = type(v)
                if t is not float and t is not int:
                    self._check_value(v, source, i, j)
                    unusual = True
                elif ranges and not lo[j] <= v <= hi[j]:
                    unusual = True
            for j in self._integer_idx:
                v = row[j]
                if v is not None:
                    self._check_integer(v, source, i, j)
            return unusual
        # Mixed signature: the same exact type checks per kind. Only a numeric value makes the
        # row unusual (null, or with ``ranges`` outside the far range); a null text value is
        # allowed or refused by _check_value and needs nothing more.
        lo, hi, is_text = self._lo32, self._hi32, self._is_text
        for j, v in enumerate(row):
            t = type(v)
            if t is str:
                if not is_text[j]:
                    self._check_value(v, source, i, j)  # raises: text for a number
            elif t is float or t is int:
                if is_text[j]:
                    self._check_value(v, source, i, j)  # raises: a number for text
                elif ranges and not lo[j] <= v <= hi[j]:
                    unusual = True
            else:  # null, a boolean, or a wrong type: the general check
                self._check_value(v, source, i, j)
                if not is_text[j]:
                    unusual = True
        for j in self._integer_idx:
            v = row[j]
            if v is not None:
                self._check_integer(v, source, i, j)
        return unusual

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
        if kind == "integer":
            self._check_integer(v, source, i, j)

    def _check_integer(self, v: float, source: str, i: int, j: int) -> None:
        if type(v) is float and not v.is_integer():
            self._refuse(source, i, j, v, "a number with a fraction")
        if abs(v) > MAX_SAFE_INTEGER:
            self._refuse(source, i, j, v, "beyond ±(2^53 - 1), the exactly representable integers")

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

    def _batch(
        self, rows: list[list[Any]], source: str, usual: bool
    ) -> tuple[Batch, list[tuple[int, int, float]]]:
        if self.numeric_only:
            m = np.array(rows, dtype=np.float64)  # null -> nan; types were checked above
            # usual: proved in the type loop. Else nan fails the comparison too, so one test
            # covers the common case of a larger batch.
            if usual or (np.abs(m - self._center) <= self._radius).all():
                return Batch(len(rows), matrix=m), _NONE
            return Batch(len(rows), matrix=m), self._check_matrix(m, source)
        # Values were type-checked above (numbers, str, bool or null), so each matrix is 2-D.
        numbers = np.array(list(map(self._take_numbers, rows)), dtype=np.float64)
        text_rows = list(map(self._take_texts, rows))
        texts = np.array(text_rows, dtype=object)
        gaps = any(None in r for r in text_rows)
        batch = Batch(len(rows), numbers=numbers, texts=texts, text_gaps=gaps, layout=self.layout)
        if usual or (np.abs(numbers - self._num_center) <= self._num_radius).all():
            return batch, _NONE
        return batch, self._check_matrix(numbers, source, self._numeric_idx)

    def _check_matrix(
        self, m: np.ndarray, source: str, columns: list[int] | None = None
    ) -> list[tuple[int, int, float]]:
        """Refuse a null or float32 overflow where it is not allowed; return the far cells.

        ``m`` holds every feature, or the features ``columns`` (signature indices) in order.
        """
        cols = np.arange(self.n) if columns is None else np.array(columns, dtype=np.intp)
        nan = np.isnan(m)
        with np.errstate(invalid="ignore"):
            big = ~(np.abs(m) <= _FLOAT32_MAX) & ~nan
            refused = (nan & ~self._nan_ok[cols]) | big
            if refused.any():
                i, k = (int(x) for x in np.argwhere(refused)[0])
                j = int(cols[k])
                if np.isnan(m[i, k]):
                    self._check_value(None, source, i, j)  # raises: null not allowed here
                self._refuse(source, i, j, float(m[i, k]), "outside the float32 range")
            far = (m < self.lo[cols]) | (m > self.hi[cols])
        return [(int(i), int(cols[k]), float(m[i, k])) for i, k in np.argwhere(far)]


_NONE: list[tuple[int, int, float]] = []  # shared "nothing flagged" (never mutated)
# Batches up to this many rows check ranges in the Python type loop, larger ones in numpy.
_SMALL_BATCH = 8


def far_range(feature: dict[str, Any]) -> tuple[float, float] | None:
    """The bounds beyond which a value of a numeric feature is flagged (module docstring)."""
    lo, hi = feature.get("min"), feature.get("max")
    if lo is None or hi is None:
        return None
    lo, hi = float(lo), float(hi)
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - span, hi + span


def _taker(indices: list[int]) -> Any:
    """A function returning a row's values at ``indices`` as a tuple (one C-level call)."""
    if len(indices) == 1:
        (j,) = indices
        return lambda row: (row[j],)
    if not indices:
        return lambda row: ()
    return operator.itemgetter(*indices)


def _zero(_text: str) -> int:
    return 0


def _refuse_duplicate_keys(raw: bytes) -> None:
    """Raise 400 when an object of the (already valid) JSON body repeats a key."""
    repeated: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> None:
        if not repeated and len({k for k, _ in pairs}) != len(pairs):
            seen: set[str] = set()
            repeated.extend(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return None  # values are not needed: keep memory flat

    try:  # numbers are not needed either; skipping them avoids int-size limits
        json.loads(raw, object_pairs_hook=pairs_hook, parse_int=_zero, parse_float=_zero,
                   parse_constant=_zero)  # fmt: skip
    except (ValueError, RecursionError):
        return  # orjson accepted it; nothing more to learn here
    if repeated:
        raise ClientError(
            400,
            "body",
            f"the body repeats the key {repeated[0][:60]!r} in one object; which copy counts "
            "differs between JSON parsers, so the stub does not guess",
            "each key at most once per JSON object",
            reason="duplicate_keys",
        )


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
