"""The report index: ``reports/index.html``, a reviewer's start page for every record.

Compose layer: reads every record from the store and links the pages the services wrote
(:mod:`workbench.pages`). See :mod:`workbench.reports._index`.
"""

from __future__ import annotations

from ._batch import batch_page_path, batch_sections, write_batch_page
from ._index import (
    HEADLINE_METRICS,
    HEADLINE_STAGE,
    build_index,
    publish_batch,
)
from ._model import IndexLink, IndexSection, link_to
from ._rebuild import RebuiltPages, rebuild_reports
from ._sections import (
    abtest_sections,
    comparison_sections,
    default_sections,
    inventory_sections,
    monitor_sections,
    release_sections,
)

__all__ = [
    "HEADLINE_METRICS",
    "HEADLINE_STAGE",
    "IndexLink",
    "IndexSection",
    "RebuiltPages",
    "abtest_sections",
    "batch_page_path",
    "batch_sections",
    "build_index",
    "comparison_sections",
    "default_sections",
    "inventory_sections",
    "link_to",
    "monitor_sections",
    "publish_batch",
    "rebuild_reports",
    "release_sections",
    "write_batch_page",
]
