"""Reading data files into a DataFrame: text tables (encoding and delimiter given or sniffed)
and Parquet. What each choice was is returned beside the frame, so the run records it.

The rules (which encodings are tried, which delimiters sniffed, decimal commas) are documented
in :mod:`workbench.datasets`, which calls :func:`read_text` and :func:`read_parquet`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path
from typing import Any

import pandas as pd

from .exceptions import DatasetError

__all__ = ["PARQUET_SUFFIXES", "TAB_SUFFIXES", "delimiter_name", "read_parquet", "read_text"]

PARQUET_SUFFIXES = {".parquet", ".pq"}
TAB_SUFFIXES = {".tsv", ".tab"}
_DELIMITERS = (",", "\t", ";", "|")
_SNIFF_LINES = 20
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+(,\d+)?$")


def read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401  (pandas' Parquet engine; named in the error if missing)
    except ImportError as e:
        raise DatasetError(
            f"reading {path.name} needs pyarrow, which is not installed: pip install pyarrow"
        ) from e
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ... for a bad file
        raise DatasetError(
            f"dataset file {str(path)!r} is not a readable Parquet file: {_first_line(e)}"
        ) from e
    if frame.shape[1] == 0:
        raise DatasetError(f"dataset file {str(path)!r} has no columns")
    return frame.reset_index(drop=True)


def read_text(
    path: Path, *, sep: str | None, encoding: str | None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"dataset file {str(path)!r} cannot be read: {e.strerror or e}") from e
    text, encoding_used = _decode(raw, path, encoding)
    if not text.strip():
        raise DatasetError(f"dataset file {str(path)!r} is empty; it needs a header and rows")
    if sep is not None:
        delimiter, sep_from = _check_sep(sep), "given"
    elif path.suffix.lower() in TAB_SUFFIXES:
        delimiter, sep_from = "\t", "file suffix"
    else:
        delimiter, sep_from = _sniff_delimiter(text), "sniffed"
    _check_unique_header(path, text, delimiter)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter)
    except pd.errors.EmptyDataError as e:
        raise DatasetError(
            f"dataset file {str(path)!r} is empty; it needs a header and rows"
        ) from e
    except pd.errors.ParserError as e:
        raise DatasetError(
            f"dataset file {str(path)!r} is not a readable {delimiter_name(delimiter)}-separated "
            f"table: {_first_line(e)}; give the delimiter with --sep if it is another one"
        ) from e
    read: dict[str, Any] = {
        "format": "text",
        "sep": delimiter,
        "sep_from": sep_from,
        "encoding": encoding_used,
        "encoding_from": "given" if encoding else "sniffed",
    }
    if delimiter == ";":
        converted = _decimal_commas(frame)
        if converted:
            read["decimal_comma"] = converted
    return frame, read


def _decode(raw: bytes, path: Path, encoding: str | None) -> tuple[str, str]:
    """The file's text and the encoding used (the given one, else the first that fits)."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as e:
            raise DatasetError(
                f"unknown encoding {encoding!r}; give a Python codec name such as utf-8, "
                "cp1252, latin-1 or utf-16"
            ) from e
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise DatasetError(
                f"dataset file {str(path)!r} is not valid {encoding} (byte {e.start}: "
                f"{raw[e.start : e.start + 4]!r}); give its encoding with --encoding, or leave "
                "it out to have it sniffed"
            ) from e
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        # cp1252 leaves five bytes undefined, so a file failing it is tried as Latin-1.
        candidates = ("utf-8-sig", "cp1252", "latin-1")
    for name in candidates:
        try:
            return raw.decode(name), "utf-8" if name == "utf-8-sig" else name
        except UnicodeDecodeError:
            continue
    raise DatasetError(  # only a UTF-16 BOM followed by broken text gets here
        f"dataset file {str(path)!r} is not readable as {', '.join(candidates)}; give its "
        "encoding with --encoding"
    )


def _check_sep(sep: str) -> str:
    named = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    value = named.get(sep.lower(), sep)
    if len(value) != 1 or value in "\"'\r\n":
        raise DatasetError(
            f"delimiter {sep!r} is not usable; give one character such as , ; | or \\t "
            "(or the words tab, comma, semicolon, pipe)"
        )
    return value


def _sniff_delimiter(text: str) -> str:
    """The candidate that splits the first lines into one same number (> 1) of fields."""
    lines = [line for line in text.splitlines()[: _SNIFF_LINES * 2] if line.strip()]
    sample = lines[:_SNIFF_LINES]
    best, best_fields = ",", 1
    for delimiter in _DELIMITERS:
        try:
            counts = {len(row) for row in csv.reader(sample, delimiter=delimiter)}
        except csv.Error:
            continue
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = delimiter, n
    if best_fields == 1:  # ragged lines: let the csv module guess, else the default comma
        try:
            return csv.Sniffer().sniff("\n".join(sample), delimiters="".join(_DELIMITERS)).delimiter
        except csv.Error:
            return ","
    return best


def delimiter_name(delimiter: str) -> str:
    """``comma``, ``semicolon``, ``tab``, ``pipe``, else the character quoted."""
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(
        delimiter, repr(delimiter)
    )


def _decimal_commas(frame: pd.DataFrame) -> list[str]:
    """Turn text columns written with decimal commas into numbers; return their names."""
    converted = []
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            continue
        present = col.dropna()
        if not len(present) or not all(isinstance(v, str) for v in present):
            continue
        values = present.str.strip()
        if values.str.contains(",").any() and values.str.fullmatch(_DECIMAL_COMMA).all():
            frame[c] = pd.to_numeric(col.str.strip().str.replace(",", ".", regex=False))
            converted.append(str(c))
    return converted


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _check_unique_header(path: Path, text: str, delimiter: str) -> None:
    """Refuse repeated column names: pandas renames the second ``a`` to ``a.1``, so a model
    would silently train on a column the file does not name."""
    names = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(
            f"dataset file {str(path)!r} repeats column name(s) "
            f"{', '.join(map(repr, repeated))} in its header; column names must be unique — "
            "rename or drop the repeated columns"
        )
