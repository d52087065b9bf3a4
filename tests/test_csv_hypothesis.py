"""Generated CSV files (encodings, separators, quoting, gaps, constant and repeated columns, huge
numbers, tiny files): each loads as a usable dataset or is refused with a WorkbenchError, before
any kernel starts. Bounded: a fixed number of examples, no deadline per example."""

from __future__ import annotations

import contextlib
import csv
import io
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.datasets import load_dataset
from workbench.exceptions import WorkbenchError
from workbench.preflight import check_run

NAMES = st.sampled_from(["a", "b", "c", "y", "a.1", "x y", "é", ""])
CELLS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(-1e6, 1e6).map(repr),
    st.floats(-1e6, 1e6).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "inf", "-inf", "1e400", "nan", "NA", "yes", "no", "0", "1", "é", '"']),
    st.text(alphabet="ab,;\t\"'\n xé", max_size=3),
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """A header with ``y`` somewhere, 0-30 rows, then encoded: (bytes, a description)."""
    # Mostly files that could load (commas, a target, numbers), some that cannot.
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=draw(st.integers(0, 3)) > 0))
    if draw(st.integers(0, 9)) > 0:
        names.insert(draw(st.integers(0, len(names))), "y")
    n_rows = draw(st.integers(0, 30))
    constant = draw(st.booleans())
    rows = []
    for i in range(n_rows):
        row = []
        for name in names:
            if name == "y":
                row.append(draw(st.sampled_from(["0", "1", "2", "", "x"])) if i < 1 else str(i % 2))
            elif constant and name == names[0]:
                row.append("7")
            else:
                row.append(draw(CELLS))
        rows.append(row)

    def quote(cell: str) -> str:
        needs = any(ch in cell for ch in (sep, '"', "\n")) or draw(st.booleans())
        return '"' + cell.replace('"', '""') + '"' if needs else cell

    text = "\n".join(sep.join(quote(c) for c in r) for r in [names, *rows])
    if draw(st.booleans()):
        text += "\n"
    if draw(st.integers(0, 4)) == 0 and rows:  # a ragged line: one cell missing or one too many
        text += sep.join(rows[0][:-1]) if draw(st.booleans()) else sep.join([*rows[0], "9"])
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return text.encode(encoding, errors="replace"), f"sep={sep!r} encoding={encoding}"


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_a_csv_loads_usably_or_is_refused_cleanly(folder: Path, case: tuple[bytes, str]) -> None:
    content, _ = case
    path = folder / "data.csv"
    path.write_bytes(content)
    try:
        ds = load_dataset(str(path), target="y")
    except WorkbenchError:
        return
    # Loaded: what the notebooks get is usable as it is.
    # Every column of the file, read with the delimiter and encoding the loader chose, has its
    # recorded treatment (kept, encoded, dropped with a reason, ...), under its own name.
    text = content.decode(ds.read["encoding"]).lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(text), delimiter=ds.read["sep"]))
    # (pandas names an empty header cell "Unnamed: <position>", as a user of pandas expects).
    named = [n or f"Unnamed: {i}" for i, n in enumerate(header)]
    assert [p["column"] for p in ds.prep] == [n for n in named if n != "y"]
    assert ds.X.columns.is_unique and len(ds.X) == len(ds.y) > 0
    for col in ds.X.columns:
        if pd.api.types.is_numeric_dtype(ds.X[col]):
            assert not ds.X[col].map(lambda v: isinstance(v, float) and math.isinf(v)).any()
    assert ds.y.notna().all()
    with contextlib.suppress(WorkbenchError):  # too few rows for the split: refused, fine
        check_run({"seed": 42, "cv_folds": 5, "n_boot": 1000}, ds)
