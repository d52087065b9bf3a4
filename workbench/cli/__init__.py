"""The ``workbench`` command line: it parses and delegates, one module per area.

``_common`` holds the group and the options every command shares (defined once); each area
module (``_runs``, ``_models``, ``_release``, ``_abtest``, ``_monitor``, ``_batch``) adds its
commands to the group when imported. Heavy imports stay inside the commands, so ``workbench
--help`` answers at once.
"""

from __future__ import annotations

from . import _abtest, _batch, _models, _monitor, _release, _runs  # noqa: F401  (registration)
from ._common import Group, UserError, cli

__all__ = ["Group", "UserError", "cli", "main"]


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="workbench")


if __name__ == "__main__":
    main()
