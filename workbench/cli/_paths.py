"""Click parameter types for every path the CLI receives: each one reaches the command absolute.

Notebooks execute in their own folders (``runs/<run_id>/``, ``comparisons/<id>/``, ...), and
what a command records (dataset, gates file, prediction log, bundle) is read again later from
elsewhere. A path relative to the user's folder means something else by then, so the CLI makes
every path absolute while parsing, before anything is recorded or any kernel starts.

Only ``click`` is imported at module level, so ``workbench --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

__all__ = ["AbsolutePath", "DatasetRef", "ModelUri"]


def _absolute(value: str | os.PathLike[str]) -> str:
    # `~` too: a quoted "~/ws" or WORKBENCH_HOME=~/ws reaches us unexpanded.
    return str(Path(value).expanduser().resolve())


class AbsolutePath(click.Path):
    """``click.Path`` whose value is absolute (``~`` expanded, relative to the current folder).

    Takes the arguments of ``click.Path`` except ``resolve_path``; ``exists`` checks and error
    messages name the absolute path, so the user sees which folder was looked in.
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | os.PathLike) and os.fspath(value) != "-":
            value = _absolute(value)
        return super().convert(value, param, ctx)


class DatasetRef(click.ParamType):
    """A builtin dataset name (kept) or a CSV path (made absolute; it must exist).

    The rule telling the two apart is :func:`workbench.datasets.resolve_dataset_ref`.
    """

    name = "dataset"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..datasets import resolve_dataset_ref
        from ..exceptions import DatasetError

        try:
            return resolve_dataset_ref(str(value))
        except DatasetError as e:
            self.fail(str(e), param, ctx)


class ModelUri(click.ParamType):
    """Where model files are: an ``http(s)://`` or ``file://`` URL (kept) or a folder (made
    absolute). Any other scheme is kept too, for the stub's own check to refuse with its list."""

    name = "uri"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        # A one-letter "scheme" is a Windows drive letter, as the stub reads it (_file_location).
        if len(urlsplit(text).scheme) > 1:
            return text
        return _absolute(text)
