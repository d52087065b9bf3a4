"""Files and folders the workbench writes: the one place that decides whether a folder the user
named may be written, and swaps new content in without losing the old on failure.

Bottom layer: imports only :mod:`workbench.exceptions` and the standard library.

Every command that writes into a user-given folder (``workbench export --out``, ``workbench
inventory export-edge --out``) goes through :func:`write_output_dir`::

    with write_output_dir(out, kind=BUNDLE_KIND, overwrite=True, workspace_root=ws.root) as tmp:
        (tmp / "manifest.json").write_text(...)   # build the whole folder in ``tmp``
    # here ``out`` holds the new folder; on an exception it still holds the old one

The rules (:func:`check_output_dir`): ``/``, the home folder, the workspace and any folder that
holds one of them are never written, whatever ``overwrite`` says; an existing non-empty folder
is replaced only with ``overwrite`` and only when it is a folder the workbench wrote of the
same kind (its marker file is JSON whose ``format`` is the kind's format).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .exceptions import ConfigError

__all__ = ["FolderKind", "check_output_dir", "replace_dir", "write_output_dir"]


@dataclass(frozen=True)
class FolderKind:
    """A kind of folder the workbench writes, recognised by a JSON marker file.

    Attributes:
        name: What it is called in messages (``"bundle"``).
        marker: The file that identifies it (``"manifest.json"``).
        format: The ``format`` field that file must hold (``"workbench-bundle/1"``).
    """

    name: str
    marker: str
    format: str

    @property
    def a_name(self) -> str:
        """The name with its article: "a bundle", "an edge package"."""
        return f"{'an' if self.name[:1] in 'aeiou' else 'a'} {self.name}"


def check_output_dir(
    out: str | os.PathLike[str],
    *,
    kind: FolderKind,
    overwrite: bool,
    workspace_root: str | os.PathLike[str] | None = None,
) -> Path:
    """Check that ``out`` may be written as a folder of ``kind``; return its resolved path.

    The path is resolved with symlinks followed, so a link to ``/`` is ``/``. Nothing is
    deleted; the only write is an empty probe folder, made and removed at once beside ``out``,
    so a place that cannot be written (``/proc``, a read-only mount) is refused up front.

    Args:
        out: The folder the user named.
        kind: What will be written there; an existing folder is replaced only if it is one.
        overwrite: Whether the user allowed replacing an existing non-empty folder.
        workspace_root: The workspace the command works in; it and every folder holding it
            are refused, as are ``/`` and the home folder (and folders holding it).

    Returns:
        The resolved path of ``out``.

    Raises:
        ConfigError: ``out`` is protected, is a file, cannot be written, or exists non-empty
            and is not replaceable (no ``overwrite``, or not a folder of ``kind``).

    Example:
        >>> check_output_dir("/", kind=FolderKind("bundle", "manifest.json", "x/1"),
        ...                  overwrite=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        workbench.exceptions.ConfigError: refusing to write the bundle into /: ...
    """
    target = Path(os.path.realpath(out))
    _refuse_protected(target, kind, workspace_root)
    if target.exists():
        if not target.is_dir():
            raise ConfigError(
                f"refusing to write the {kind.name} into {target}: it is a file, not a folder; "
                "give a new or empty folder as --out"
            )
        try:
            empty = next(target.iterdir(), None) is None
        except OSError as e:
            raise ConfigError(
                f"cannot read the output folder {target} ({e.strerror or e}); give a folder you "
                "can read and write as --out"
            ) from e
        if not empty and not overwrite:
            raise ConfigError(
                f"{target} exists and is not empty; pass --overwrite (overwrite=True) to "
                f"replace the {kind.name} there, or another --out"
            )
        why = None if empty else _not_of_kind(target, kind)
        if why is not None:
            raise ConfigError(
                f"refusing to overwrite {target}: it is not {kind.a_name} this workbench wrote "
                f"({why}); --overwrite replaces only such a folder, so nothing was deleted. "
                "Give a new or empty folder as --out, or move the files away first"
            )
    _check_writable(target, kind)
    return target


@contextlib.contextmanager
def write_output_dir(
    out: str | os.PathLike[str],
    *,
    kind: FolderKind,
    overwrite: bool,
    workspace_root: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """Build a folder of ``kind`` in a temporary sibling of ``out``, then swap it in.

    Checks ``out`` with :func:`check_output_dir` (before building, and again just before the
    swap, in case the folder changed meanwhile), yields the empty temporary folder to write
    into, and on success replaces ``out`` with it (:func:`replace_dir`). If the block raises,
    the temporary folder is removed and ``out`` is left exactly as it was.

    Args:
        out: The folder the user named.
        kind: What is written; see :func:`check_output_dir`.
        overwrite: Whether an existing non-empty folder of ``kind`` may be replaced.
        workspace_root: The workspace, which is never written over.

    Yields:
        The temporary folder to fill (readable by everyone once swapped in).

    Raises:
        ConfigError: ``out`` may not be written (see :func:`check_output_dir`), or the
            temporary folder cannot be created or swapped in.
    """
    target = check_output_dir(out, kind=kind, overwrite=overwrite, workspace_root=workspace_root)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    except OSError as e:
        raise ConfigError(
            f"cannot create the {kind.name} folder {target} ({e.strerror or e}); give a folder "
            "you can write as --out"
        ) from e
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp made it private; what the workbench exports is meant to share
        check_output_dir(target, kind=kind, overwrite=overwrite, workspace_root=workspace_root)
        try:
            replace_dir(tmp, target)
        except OSError as e:
            raise ConfigError(
                f"could not move the new {kind.name} into {target} ({e.strerror or e}); the "
                "folder was left as it was"
            ) from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(tmp: Path, out: Path) -> None:
    """Put the fully written folder ``tmp`` at ``out``, replacing what is there.

    ``tmp`` must be a sibling of ``out`` (same file system, so renames are atomic). An existing
    ``out`` is renamed aside first, ``tmp`` renamed into place, and only then the old folder
    deleted; if the second rename fails the old folder is renamed back. At every moment ``out``
    is the complete old folder, absent for an instant, or the complete new one. The caller
    decides whether ``out`` may be replaced (:func:`check_output_dir`).

    Raises:
        OSError: A rename failed; ``out`` is as it was and ``tmp`` is left for the caller.
    """
    if not os.path.lexists(out):
        os.rename(tmp, out)
        return
    # A fresh empty directory reserves a unique name; renaming a folder onto it is atomic.
    old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
    try:
        os.replace(out, old)
    except BaseException:
        old.rmdir()
        raise
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- helpers -------------------------------------------------------------------------------------


def _refuse_protected(
    target: Path, kind: FolderKind, workspace_root: str | os.PathLike[str] | None
) -> None:
    """ConfigError when ``target`` is ``/``, the home folder, the workspace, or holds one."""
    protected: list[tuple[Path, str]] = [(Path(target.anchor or "/"), "the file system root")]
    with contextlib.suppress(RuntimeError, KeyError):  # no home folder known: nothing to guard
        protected.append((Path(os.path.realpath(Path.home())), "your home folder"))
    if workspace_root is not None:
        protected.append((Path(os.path.realpath(workspace_root)), "the workspace"))
    for root, what in protected:
        if root.is_relative_to(target):
            where = f"it is {what}" if root == target else f"it holds {what} {root}"
            raise ConfigError(
                f"refusing to write the {kind.name} into {target}: {where}, which is never "
                f"replaced (--overwrite or not). Give a new or empty folder of its own as --out"
            )


def _check_writable(target: Path, kind: FolderKind) -> None:
    """ConfigError unless a folder can be made where ``target``'s temporary sibling goes."""
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    why = None
    if not parent.is_dir():
        why = f"{parent} is not a folder"
    else:
        # Permission bits do not tell (root passes os.access on /proc): try it.
        try:
            os.rmdir(tempfile.mkdtemp(dir=parent, prefix=".workbench-probe-"))
        except OSError as e:
            why = f"nothing can be created in {parent}: {e.strerror or e}"
    if why is not None:
        raise ConfigError(
            f"cannot create the {kind.name} folder {target} ({why}); give a folder you can "
            "write as --out"
        )


def _not_of_kind(folder: Path, kind: FolderKind) -> str | None:
    """Why ``folder`` is not a folder of ``kind``, or ``None`` when it is one."""
    marker = folder / kind.marker
    if marker.is_symlink() or not marker.is_file():
        return f"it has no {kind.marker}"
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return f"its {kind.marker} is not readable JSON"
    found = data.get("format") if isinstance(data, dict) else None
    if found != kind.format:
        return f"its {kind.marker} has format {found!r}, not {kind.format!r}"
    return None
