"""Notebook parameters: read the ``parameters`` cell and check values before a kernel starts."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .exceptions import ConfigError, ParameterError
from .project import bundled_notebooks

__all__ = [
    "RESERVED",
    "ParamSpec",
    "check_params",
    "notebook_parameters",
    "notebooks_dir",
    "parse_assignment",
]

# Set by the runner for every stage; a user value would point the notebook at another run.
RESERVED = ("workspace", "run_id")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type_name: str  # as papermill infers it from the default: int, float, str, bool, None, ...
    default: str
    help: str


def notebooks_dir() -> Path:
    """The bundled notebooks, package data (``WORKBENCH_NOTEBOOKS`` overrides).

    A project's own stage notebooks come from its settings instead
    (:func:`workbench.plugins.stage_table`).

    Raises:
        ConfigError: the folder has no notebooks (see :func:`workbench.project.package_data`).
    """
    return bundled_notebooks()


def notebook_parameters(path: Path) -> dict[str, ParamSpec]:
    """Parameters declared in the notebook's ``parameters``-tagged cell."""
    import nbformat
    from papermill.translators import papermill_translators

    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read notebook {path}: {e}") from e
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise ConfigError(
            f"notebook {path.name} has no cell tagged 'parameters'; tag the cell that holds "
            "the defaults (View > Cell Toolbar > Tags in Jupyter)"
        )
    # papermill.inspect_notebook refuses a notebook without kernel metadata (one written by a
    # script or another editor); stages always run on the python3 kernel, so read it as such.
    meta = nb.metadata
    kernel = meta.get("kernelspec", {}).get("name") or "python3"
    language = meta.get("kernelspec", {}).get("language") or "python"
    try:
        found = papermill_translators.find_translator(kernel, language).inspect(tagged[0])
    except Exception as e:  # papermill's own errors: unknown kernel, a language it cannot read
        raise ConfigError(
            f"cannot read the parameters cell of {path.name} (kernel {kernel!r}, language "
            f"{language!r}): {e}; stage notebooks are Python notebooks"
        ) from e
    return {
        p.name: ParamSpec(p.name, _type_name(p._asdict()), str(p.default), p.help or "")
        for p in found
    }


def _type_name(p: dict[str, Any]) -> str:
    """papermill reads types from annotations only; fall back to the default's literal type."""
    declared = str(p["inferred_type_name"])
    if declared != "None":
        return declared
    try:
        default = ast.literal_eval(str(p["default"]))
    except (ValueError, SyntaxError):
        return "None"
    return "None" if default is None else type(default).__name__


def parse_assignment(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` with VALUE read as JSON when it parses (numbers, true/false, null, lists)."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise ParameterError(f"parameter {text!r} is not NAME=VALUE (e.g. -p trials=20)")
    return name, _literal(raw)


def _literal(raw: str) -> Any:
    lowered = raw.strip()
    if lowered in ("True", "False", "None"):  # Python spellings, as papermill's CLI accepts
        return {"True": True, "False": False, "None": None}[lowered]
    try:
        return json.loads(lowered)
    except ValueError:
        return raw


def check_params(
    values: Mapping[str, Any], specs: Mapping[str, ParamSpec], *, where: Iterable[str]
) -> dict[str, Any]:
    """Validate names and types; returns values coerced where lossless (int → float, x → str).

    Raises:
        ParameterError: unknown or reserved name (lists valid names), or a value of the wrong type.
    """
    valid = sorted(n for n in specs if n not in RESERVED)
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name in RESERVED:
            raise ParameterError(f"parameter {name!r} is set by the runner; use --workspace")
        if name not in specs:
            raise ParameterError(
                f"unknown parameter {name!r} for notebooks {', '.join(where)}; "
                f"valid names: {', '.join(valid)}"
            )
        out[name] = _coerce(name, value, specs[name])
    return out


def _coerce(name: str, value: Any, spec: ParamSpec) -> Any:
    t = spec.type_name
    if value is None or t in ("None", "NoneType", "Any"):
        return value
    ok: bool
    if t == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif t == "bool":
        ok = isinstance(value, bool)
    elif t == "str":
        ok = not isinstance(value, list | dict)
        value = str(value) if ok else value
    elif t in ("list", "dict"):
        ok = isinstance(value, list if t == "list" else dict)
    else:
        ok = True  # an annotation papermill cannot judge; the notebook will
    if not ok:
        raise ParameterError(
            f"parameter {name!r} expects {t} (default {spec.default}), got {value!r} "
            f"of type {type(value).__name__}"
        )
    return value
