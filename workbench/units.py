"""Numbers as a reviewer reads them: units from the quantity's name, sensible digits, ✓/✗.

Base layer (pure formatting, pandas imported only by :func:`readable`). A quantity's unit comes
from its name's suffix (``_ms``, ``_bytes``, ``_rows_per_s``, ``_s``); a value with a
confidence interval gets as many decimals as the interval's width supports (two significant
digits of the width), any other float three significant digits; booleans become ✓ / ✗.

Example::

    >>> format_value("single_p50_ms", 1.8102200000029711)
    '1.81 ms'
    >>> format_value("model_size_bytes", 3915557.0)
    '3.92 MB'
    >>> format_value("roc_auc", 0.99601, ci_width=0.0123)
    '0.996'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["check_mark", "format_value", "outcome_mark", "quantity_frame", "readable"]

_SIZES = ((1e9, "GB"), (1e6, "MB"), (1e3, "KB"))
#: Words of a check's outcome (gate statuses, release check results) and their marks.
_OUTCOMES = {
    "passed": "✓",
    "pass": "✓",
    "failed": "✗",
    "fail": "✗",
    "skipped": "—",
    "triggered": "⚠",
    "not triggered": "✓",
}
#: Columns that hold such a word.
_OUTCOME_COLUMNS = ("status", "result", "outcome")
#: Columns whose numbers have no unit, whatever quantity the row is about.
_DIMENSIONLESS = ("ratio", "p_value", "p", "psi", "statistic", "relative", "n", "count")


def check_mark(passed: bool | None, threshold: str = "") -> str:
    """``✓`` / ``✗`` (``—`` when unknown), with the threshold it was checked against."""
    mark = "—" if passed is None else ("✓" if passed else "✗")
    return f"{mark} {threshold}".strip()


def outcome_mark(word: str) -> str:
    """``passed`` → ``✓ passed``, ``FAIL`` → ``✗ FAIL``; other words are left as they are."""
    mark = _OUTCOMES.get(word.strip().lower())
    return f"{mark} {word}" if mark else word


def _digits(value: float, sig: int = 3) -> str:
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def format_value(name: str, value: Any, *, ci_width: float | None = None) -> str:
    """``value`` of the quantity ``name`` as text, with its unit.

    Args:
        name: The quantity's name; its suffix gives the unit.
        value: A number, a boolean or anything else (shown as ``str``); ``None``/NaN: ``—``.
        ci_width: The width of the value's confidence interval: decimals follow it.
    """
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalars: np.bool_ is no bool, np.int64 no int
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return check_mark(value)
    if not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if name.endswith("_bytes"):
        for size, unit in _SIZES:
            if abs(v) >= size:
                return f"{_digits(v / size)} {unit}"
        return f"{v:,.0f} B"
    if name.endswith("_per_s"):
        return f"{v:,.0f} rows/s" if abs(v) >= 100 else f"{_digits(v)} rows/s"
    if name.endswith("_ms"):
        return f"{_digits(v)} ms"
    if name.endswith("_s"):
        return f"{_digits(v)} s"
    if isinstance(value, int) or (v.is_integer() and abs(v) >= 1000):
        return f"{v:,.0f}"
    if ci_width is not None and ci_width > 0 and math.isfinite(ci_width):
        decimals = max(0, 1 - math.floor(math.log10(ci_width)))
        return f"{v:,.{decimals}f}"
    return _digits(v)


def quantity_frame(values: Mapping[str, Any], *, label: str = "quantity") -> pd.DataFrame:
    """A ``{name: value}`` mapping as a two-column table of formatted values (not a dict)."""
    import pandas as pd

    rows = [(name.replace("_", " "), format_value(name, v)) for name, v in values.items()]
    return pd.DataFrame(rows, columns=[label, "value"])


def readable(frame: pd.DataFrame, *, name_column: str | None = "metric") -> pd.DataFrame:
    """A copy of ``frame`` with every number and boolean formatted for reading.

    The quantity of a row is ``frame[name_column]`` when that column exists, else the row's
    index label; a column named with a unit (``latency_ms``) or without one (``ratio``,
    ``p_value``) keeps its own. Columns ``ci_low``/``ci_high`` (or ``delta_ci_*``) set the
    decimals of the row's values. A ``status``/``result``/``outcome`` column's words get their
    mark (``✓ passed``, ``✗ failed``, ``— skipped``).
    """
    out = frame.copy().astype(object)
    names = frame[name_column] if name_column and name_column in frame.columns else None
    for i, (label, row) in enumerate(frame.iterrows()):
        row_name = str(names.iloc[i]) if names is not None else str(label)
        width = None
        lo = row.get("ci_low", row.get("delta_ci_low"))
        hi = row.get("ci_high", row.get("delta_ci_high"))
        try:
            width = abs(float(hi) - float(lo)) or None
        except (TypeError, ValueError):
            width = None
        if width is not None and not math.isfinite(width):
            width = None
        for col in frame.columns:
            value = row[col]
            if hasattr(value, "item") and not isinstance(value, (str, bytes)):
                value = value.item()
            if isinstance(value, str) and str(col) in _OUTCOME_COLUMNS:
                out.iat[i, frame.columns.get_loc(col)] = outcome_mark(value)
                continue
            if not isinstance(value, (bool, int, float)) or col == name_column:
                continue
            # A ratio or a p-value has no unit, whatever the row measures.
            own = _has_unit(str(col)) or str(col) in _DIMENSIONLESS
            name = str(col) if own else row_name
            out.iat[i, frame.columns.get_loc(col)] = format_value(name, value, ci_width=width)
    return out


def _has_unit(name: str) -> bool:
    return name.endswith(("_ms", "_bytes", "_per_s", "_s"))
