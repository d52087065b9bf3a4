"""The one way the workbench reads a YAML file a user hands it (gates, grids).

YAML is small to write and can be enormous to read: a 1 KB file of nested aliases ("billion
laughs") expands to billions of nodes, a file nested 100,000 levels deep exhausts Python's
recursion, a 34 MB file of two million gates is parsed to the end before anything looks at it.
:func:`load_yaml` refuses each of these before the document is built:

- the file is read only up to :data:`MAX_BYTES` (a larger file is refused by its size, unread);
- it must be UTF-8 (a byte-order mark is dropped);
- collections nest at most :data:`MAX_DEPTH` levels;
- the document, with every alias expanded, holds at most :data:`MAX_NODES` nodes (aliases are
  fine, an alias that multiplies the document is not); an alias inside the collection it names
  (a recursive structure) is refused;
- a key appears at most once per mapping (PyYAML would keep the last silently);
- plain data only (a ``SafeLoader``: no Python objects).

Every refusal is an error of the caller's class (a :class:`~workbench.exceptions.WorkbenchError`)
naming the file, the line where it applies, the limit and what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .exceptions import ConfigError, WorkbenchError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml", "parse_yaml", "read_user_text"]

#: Largest file read (bytes). Gates and grids written by hand are a few KB.
MAX_BYTES = 1 << 20
#: Deepest nesting of collections; gates and grids need 4.
MAX_DEPTH = 64
#: Most nodes in a document with its aliases expanded.
MAX_NODES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A limit was hit while composing; ``load_yaml`` turns it into the caller's error."""

    def __init__(self, message: str, mark: Any = None) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else None


def read_user_text(
    path: str | Path,
    *,
    what: str,
    error: type[WorkbenchError] = ConfigError,
    hint: str = "",
    max_bytes: int = MAX_BYTES,
) -> str:
    """The UTF-8 text of a settings file a user gave, refused unread when it is too large.

    Args:
        path: The file.
        what: What the file is, for messages (``"gates file"``).
        error: The error class raised.
        hint: Appended to the message when the file cannot be read.
        max_bytes: Size limit.

    Raises:
        WorkbenchError: (of class ``error``) unreadable, larger than ``max_bytes``, not UTF-8.
    """
    path = Path(path)
    tail = f"; {hint}" if hint else ""
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # never more than the limit, whatever the file's size
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror or e}{tail}") from e
    if len(data) > max_bytes:
        raise error(
            f"{what} {path} is larger than {max_bytes:,} bytes; it was not read (a {what} "
            "written by hand is a few KB: split it or remove what is not needed)"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(
            f"{what} {path} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "save it as UTF-8"
        ) from e
    return text.removeprefix("\ufeff")


def load_yaml(
    path: str | Path,
    *,
    what: str,
    error: type[WorkbenchError] = ConfigError,
    hint: str = "",
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Any:
    """Read a YAML file within the limits of this module (see its docstring).

    Args:
        path: The file.
        what: What the file is, for messages (``"gates file"``, ``"grid file"``).
        error: The error class raised (e.g. ``GateError``).
        hint: Appended to the message when the file cannot be read.
        max_bytes: Size limit of the file.
        max_depth: Nesting limit.
        max_nodes: Node limit with aliases expanded.

    Returns:
        The document as plain Python data (dict, list, str, int, float, bool, None, dates).

    Raises:
        WorkbenchError: (of class ``error``) unreadable, too large, not UTF-8, not YAML, too
            deep, too many nodes, a recursive alias or a repeated key.

    Example::

        doc = load_yaml("gates.yaml", what="gates file", error=GateError)
    """
    path = Path(path)
    text = read_user_text(path, what=what, error=error, hint=hint, max_bytes=max_bytes)
    return parse_yaml(text, source=str(path), error=error, max_depth=max_depth, max_nodes=max_nodes)


def parse_yaml(
    text: str,
    *,
    source: str,
    error: type[WorkbenchError] = ConfigError,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
) -> Any:
    """Parse YAML text within the depth and node limits; ``source`` names it in messages.

    Raises:
        WorkbenchError: (of class ``error``) not YAML, too deep, too many nodes, a recursive
            alias or a repeated key.
    """
    import yaml

    name = Path(source).name or source
    loader = _loader_class()(text)
    loader.limits = (max_depth, max_nodes)
    try:
        return loader.get_single_data()
    except _Refused as e:
        where = f"{source}, line {e.line}" if e.line is not None else source
        raise error(f"{where}: {e}") from None
    except yaml.YAMLError as e:
        raise error(f"{name} is not valid YAML: {e}".replace("<unicode string>", name)) from e
    except RecursionError:  # a guard above should stop first; never a traceback regardless
        raise error(f"{source}: nested too deeply (more than {max_depth} levels)") from None
    finally:
        loader.dispose()


_LOADER: type | None = None


def _loader_class() -> type:
    """The SafeLoader subclass that counts, built once (PyYAML is imported lazily)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml
    from yaml.events import AliasEvent
    from yaml.nodes import MappingNode, SequenceNode

    class LimitedLoader(yaml.SafeLoader):
        limits: tuple[int, int] = (MAX_DEPTH, MAX_NODES)

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._sizes: dict[int, int] = {}  # id(node) -> nodes under it, aliases expanded

        def compose_node(self, parent: Any, index: Any) -> Any:
            max_depth, max_nodes = self.limits
            if self.check_event(AliasEvent):
                event = self.peek_event()
                node = super().compose_node(parent, index)
                if id(node) not in self._sizes:
                    raise _Refused(
                        f"alias *{event.anchor} refers to the collection it is inside (a "
                        "recursive structure); write the values out instead",
                        event.start_mark,
                    )
                return node
            event = self.peek_event()
            self._depth += 1
            try:
                if self._depth > max_depth:
                    raise _Refused(
                        f"nested more than {max_depth} levels deep; a settings file needs a few",
                        event.start_mark,
                    )
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            size = 1
            if isinstance(node, SequenceNode):
                size += sum(self._sizes[id(child)] for child in node.value)
            elif isinstance(node, MappingNode):
                size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
            self._sizes[id(node)] = size
            if size > max_nodes:
                raise _Refused(
                    f"holds more than {max_nodes:,} values once its aliases are expanded "
                    f"(this collection alone: {size:,}); aliases may reuse a value, not "
                    "multiply the document",
                    event.start_mark,
                )
            return node

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue  # `<<: *base` merges; keys it brings may be overridden
                key = self.construct_object(key_node, deep=deep)
                try:
                    repeated = key in seen
                except TypeError:
                    continue  # an unhashable key; the base class reports it
                if repeated:
                    raise _Refused(
                        f"key {key!r} appears twice in one mapping; write it once, merging the "
                        "two (YAML would silently keep the last)",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    _LOADER = LimitedLoader
    return _LOADER
