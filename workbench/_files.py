"""Files, folders and ids: one helper per job.

* :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json`: a reader
  never sees half a file (a unique temporary file in the same folder, then a rename);
* :func:`sha256_file`: the hash every recorded file carries;
* :func:`new_id` and :func:`child_path`: sortable unique ids, and the one check that an id (or
  any recorded name) can name a file without leaving its folder;
* :func:`write_output_dir`: the one place that decides whether a folder the user named may be
  written, and swaps new content in without losing the old on failure.

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
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .exceptions import ConfigError

__all__ = [
    "FolderKind",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_name",
    "check_output_dir",
    "child_path",
    "new_id",
    "replace_dir",
    "sha256_file",
    "write_output_dir",
]

#: A name that can be a file name on every platform and never leaves its folder: ids, stage
#: names, aliases. Longer than any id the workbench makes, shorter than any path limit.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


# -- ids ------------------------------------------------------------------------------------------


def new_id(prefix: str = "") -> str:
    """A sortable, unique id: ``<prefix>YYYYMMDD-HHMMSS-xxxxxx`` (UTC time, 3 random bytes).

    Example:
        >>> new_id("cmp-")  # doctest: +SKIP
        'cmp-20261201-004512-3c5b1c'
    """
    return f"{prefix}{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def check_name(value: str, *, what: str) -> str:
    """Return ``value`` if it can name a file or folder: letters, digits, ``.``, ``_``, ``-``,
    not starting with a dot, at most 128 characters.

    Raises:
        ConfigError: it cannot (empty, a separator, ``..``, too long), naming ``what`` it is.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        shown = value if len(str(value)) <= 60 else f"{str(value)[:57]}..."
        raise ConfigError(
            f"{what} {shown!r} cannot name a file; use letters, digits, '.', '_' and '-' "
            "(at most 128, not starting with '.'), as the ids the workbench makes do"
        )
    return value


def child_path(folder: Path, name: str, *, what: str, suffix: str = "") -> Path:
    """``folder / (name + suffix)`` after :func:`check_name`: never outside ``folder``."""
    return Path(folder) / f"{check_name(name, what=what)}{suffix}"


# -- files ----------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a unique temporary file in the same folder and a
    rename: readers see the old file or the new one, never half; parents are created.

    ``mode`` defaults to world-readable: records, reports and bundles are meant to be shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1) -> Path:
    """:func:`atomic_write_text` of ``obj`` as JSON (dates and paths as strings)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=str))


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
