"""The report index: ``reports/index.html``, a reviewer's start page for every record.

Compose layer: reads every record from the store and links the pages the services wrote
(:mod:`workbench.pages`). See :mod:`workbench.reports._index`.
"""

from __future__ import annotations

from ._batch import batch_page_path, publish_batch, write_batch_page
from ._index import (
    HEADLINE_METRICS,
    HEADLINE_STAGE,
    SECTION_PROVIDERS,
    IndexLink,
    IndexSection,
    build_index,
    default_sections,
    rebuild_reports,
)

__all__ = [
    "HEADLINE_METRICS",
    "HEADLINE_STAGE",
    "SECTION_PROVIDERS",
    "IndexLink",
    "IndexSection",
    "batch_page_path",
    "build_index",
    "default_sections",
    "publish_batch",
    "rebuild_reports",
    "write_batch_page",
]
