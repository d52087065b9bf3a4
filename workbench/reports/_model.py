"""What the index page is made of: links and tables (compose layer, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..pages import relative_href

__all__ = ["IndexLink", "IndexSection", "link_to", "relative_href"]


@dataclass(frozen=True)
class IndexLink:
    """A link on the index page.

    Attributes:
        label: The visible text.
        href: A relative URL from ``reports/`` (e.g. ``"abc/evaluate.html"``), so the folder
            still works when moved; absolute URLs and schemes such as ``javascript:`` are refused.
        tooltip: Optional hover text.
    """

    label: str
    href: str
    tooltip: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.href)
        if parts.scheme or parts.netloc or self.href.startswith(("/", "\\")):
            raise ValueError(
                f"index link href {self.href!r} must be relative to the reports folder, "
                "e.g. 'comparisons/abc.html'"
            )


@dataclass(frozen=True)
class IndexSection:
    """An extra table on the index page (comparisons, releases, batches, ...).

    Attributes:
        title: The section heading.
        columns: Column headings.
        rows: One tuple of cells per row; a cell is text or an :class:`IndexLink`.
        note: Optional text under the heading.

    Example::

        IndexSection(
            "Comparisons",
            columns=("candidate", "baseline", "decision", "report"),
            rows=(("run-b", "run-a", "promote", IndexLink("open", "cmp/1.html")),),
        )
    """

    title: str
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str | IndexLink, ...], ...] = ()
    note: str = ""


def link_to(
    reports_dir: Path, path: str | Path | None, label: str, tooltip: str = ""
) -> IndexLink | str:
    """A link from the index to the page at ``path``, or ``"—"`` when there is none yet."""
    if not path or not Path(path).is_file():
        return "—"
    return IndexLink(label, relative_href(path, reports_dir), tooltip=tooltip)
