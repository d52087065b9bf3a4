"""Escaping for every page the workbench writes: HTML, Markdown, styled tables, plotly text.

Report pages show strings that come from data, files and the command line: column names, class
labels, category values, gate names, bundle paths, error messages quoting any of these. Each
such string must reach the page as text, never as markup. This module is the one place that
turns user text into page text:

* :func:`escape` for HTML text and attribute values (Jinja templates, HTML built in code), and
  for text inside plotly figures (labels, hover text, titles);
* :func:`md` (and :func:`md_code` for code style) for a user string placed inside Markdown
  the workbench writes (``summary_markdown()`` and the like);
* :func:`styled` instead of ``DataFrame.style``, which does not escape;
* :func:`content_security_policy` and :func:`script_hash` for the ``<meta>`` policy that
  stops any script the page did not put there itself (the second wall).

Example::

    from workbench.safehtml import escape, md, styled

    display(Markdown(f"Gate **{md(gate.label)}** failed"))
    display(styled(frame, precision=4, na_rep="—").hide(axis="index"))
    go.Bar(x=[escape(c) for c in columns], ...)

Only the standard library is imported here; pandas is imported inside :func:`styled`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import string
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = [
    "content_security_policy",
    "escape",
    "md",
    "md_code",
    "script_hash",
    "styled",
]

# Numeric character references for the quotes (as markupsafe, hence Jinja and pandas, write
# them): browsers decode both forms, but plotly's text renderer decodes only the numeric ones,
# so one escaping serves HTML and plotly labels alike.
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"})
# Every other ASCII punctuation character can start Markdown syntax somewhere (emphasis, code
# spans, links, tables, math, autolinks, headings, lists); CommonMark lets a backslash make
# any of them literal.
_MD_PUNCTUATION = frozenset(string.punctuation) - set("&<>\"'")
_MD = str.maketrans({c: "\\" + c for c in _MD_PUNCTUATION} | {c: e for c, e in _HTML.items()})


def escape(text: object) -> str:
    """``text`` as HTML text or a quoted attribute value: ``& < > " '`` become references.

    Also the escaping for text shown by plotly (tick labels, trace names, hover text, titles):
    plotly reads a subset of HTML in those (``<b>``, ``<br>``, ``<a href>``) and decodes
    entities, so an escaped label reads exactly as the user wrote it.

    Args:
        text: Any value; non-strings are converted with ``str()``.

    Returns:
        The escaped string.

    Example::

        >>> escape('<img src=x onerror="alert(1)">')
        '&lt;img src=x onerror=&#34;alert(1)&#34;&gt;'
    """
    return str(text).translate(_HTML)


def md(text: object) -> str:
    """``text`` made literal inside Markdown: HTML-escaped, Markdown syntax backslash-escaped.

    Use it for every user string interpolated into Markdown the workbench writes, so a feature
    named ``*x*``, ``a|b`` or ``[y](javascript:...)`` can neither run a script nor restructure
    the page. Line breaks become spaces: a user string cannot start a heading or a list.

    Not for the inside of a code span (Markdown shows escapes there verbatim); use
    :func:`md_code` for code-styled user text.

    Args:
        text: Any value; non-strings are converted with ``str()``.

    Returns:
        Markdown that renders as exactly ``text``.

    Example::

        >>> md("<b>*x*")
        '&lt;b&gt;\\\\*x\\\\*'
    """
    return " ".join(str(text).splitlines()).translate(_MD)


def md_code(text: object) -> str:
    """``text`` as a literal Markdown code span (not for table cells, where ``|`` splits).

    Inside a code span Markdown shows everything verbatim and the renderer escapes the HTML,
    so the text is only fenced with more backticks than it contains (padded with a space when
    it starts or ends with one). Raw ``<code>`` tags would not do: nbconvert's image embedding
    parses each inline tag on its own and empties them.

    Example::

        >>> md_code("run `1`")
        '`` run `1` ``'
    """
    text = " ".join(str(text).splitlines())
    if not text:
        return ""
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# -- tables ---------------------------------------------------------------------------------


def styled(frame: pd.DataFrame, **format_kwargs: Any) -> Styler:
    """``frame.style`` with every cell value, index and column label HTML-escaped.

    pandas' ``Styler`` writes values into its HTML as they are; this one escapes them (pandas'
    ``escape="html"``) in the cells, the index and column labels and their names. Later
    ``.format(...)`` / ``.format_index(...)`` calls on the result keep escaping. Values that are
    neither strings nor plain numbers or times (lists, dicts, other objects) are shown as their
    ``str()``, escaped too, since pandas escapes strings only.

    Args:
        frame: The table.
        **format_kwargs: Passed to ``Styler.format`` (``precision``, ``na_rep``,
            ``thousands``, ``formatter``, ``subset``, ...).

    Returns:
        A ``Styler``; chain ``.hide(axis="index")`` and the like as usual.

    Example::

        display(styled(comparison.gates_frame(), precision=4, na_rep="—"))
    """
    styler = _escaping_styler()(_as_text(frame))
    if format_kwargs:
        styler = styler.format(**format_kwargs)
    for axis in (0, 1):
        styler = styler.format_index(axis=axis).format_index_names(axis=axis)
    return styler


@functools.cache
def _escaping_styler() -> type:
    """The Styler subclass, built on first use so pandas is not imported with this module."""
    from pandas.io.formats.style import Styler

    class EscapingStyler(Styler):  # type: ignore[misc]
        """A Styler whose formatters always escape HTML (``escape=None`` means ``"html"``)."""

        def __init__(self, data: Any, *args: Any, **kwargs: Any) -> None:
            kwargs["escape"] = "html"
            super().__init__(data, *args, **kwargs)

        def format(self, *args: Any, **kwargs: Any) -> Any:
            return super().format(*args, **_escaping(kwargs))

        def format_index(self, *args: Any, **kwargs: Any) -> Any:
            return super().format_index(*args, **_escaping(kwargs))

        def format_index_names(self, *args: Any, **kwargs: Any) -> Any:
            return super().format_index_names(*args, **_escaping(kwargs))

    return EscapingStyler


def _escaping(kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs.get("escape") not in (None, "html"):
        raise ValueError(f"styled tables escape HTML; escape={kwargs['escape']!r} is not allowed")
    return {**kwargs, "escape": "html"}


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose object cells and labels are strings unless they are plain scalars.

    pandas escapes ``str`` values only: a list, dict or other object holding user strings
    would reach the page through ``str()`` unescaped, so it becomes that string first.
    """
    import pandas as pd
    from pandas.api.types import is_object_dtype, is_scalar

    def text(value: object) -> object:
        if isinstance(value, str) or (
            is_scalar(value) and not isinstance(value, bytes | bytearray)
        ):
            return value  # strings are escaped by pandas; numbers and times hold no markup
        return str(value)

    def labels(index: pd.Index) -> pd.Index:
        names = [text(n) for n in index.names]
        if isinstance(index, pd.MultiIndex):
            return pd.MultiIndex.from_tuples(
                [tuple(text(v) for v in t) for t in index], names=names
            )
        return (index.map(text) if is_object_dtype(index.dtype) else index).set_names(names)

    out = frame.copy()
    for i in range(out.shape[1]):
        if is_object_dtype(out.dtypes.iloc[i]):
            out.isetitem(i, out.iloc[:, i].map(text))
    out.index = labels(out.index)
    out.columns = labels(out.columns)
    return out


# -- Content-Security-Policy ----------------------------------------------------------------


def script_hash(source: str) -> str:
    """The CSP source expression allowing one inline ``<script>`` whose text is ``source``.

    Args:
        source: The exact text between ``<script>`` and ``</script>``.

    Returns:
        ``'sha256-<base64>'``, quotes included.
    """
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(
    script_hashes: Iterable[str] = (), *, loader: bool = False, style_files: bool = False
) -> str:
    """The policy of a report page: nothing loads or runs except the page's own scripts.

    Scripts run only when their hash is listed (no ``'unsafe-inline'``, no ``'unsafe-eval'``,
    which plotly does not need for the figures the workbench draws); inline styles are allowed
    (plotly sets them); images only as ``data:`` URIs (embedded Markdown images); nothing from
    a network. Put it in ``<meta http-equiv="Content-Security-Policy">``, before any script,
    attribute-escaped.

    Args:
        script_hashes: :func:`script_hash` of each inline script the page's code wrote.
        loader: One of those scripts loads the shared plotly.js (``reports/_static/``): add
            ``'strict-dynamic'``, which trusts the scripts a trusted script inserts and still
            refuses every ``<script src>`` written into the page. (On ``file://`` Chromium
            cannot check an ``integrity`` hash, which needs CORS, and ``'self'`` would allow
            any local file.)
        style_files: The page links the shared stylesheet: allow local stylesheets
            (``'self'``; inline styles are allowed anyway, so nothing is lost).

    Returns:
        The policy text.

    Example::

        >>> content_security_policy(["'sha256-AAAA'"]).split("; ")[:2]
        ["default-src 'none'", "script-src 'sha256-AAAA'"]
    """
    hashes = list(dict.fromkeys(script_hashes))  # dedupe, keep order
    if loader and hashes:
        hashes.append("'strict-dynamic'")
    scripts = " ".join(hashes) if hashes else "'none'"
    styles = "'self' 'unsafe-inline'" if style_files else "'unsafe-inline'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {scripts}",
            f"style-src {styles}",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )
