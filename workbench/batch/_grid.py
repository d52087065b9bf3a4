"""Grid files: datasets × model families × parameter lists, expanded into validated runs.

The format is documented, with comments, in ``templates/grid.yaml``. In short::

    name: iris-smoke                     # optional; defaults to the file name
    datasets: [iris, {name: data.csv, target: churned}]
    models: [logreg, rf]
    trials: [2, 5]                       # a value or a list of values
    seed: 42
    stages: [explore, search, evaluate]  # one list for every run (default: all stages)
    params:                              # extra notebook parameters, each a value or a list
      n_boot: 100
      cv_folds: [3, 5]

Every run gets a *stable key*: a hash of its normalized parameters (every parameter its stage
notebooks declare, defaults filled in, model aliases resolved) and its stages. Two runs with the
same key compute the same thing, whoever started them; ``workbench batch --resume`` relies on it.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._yaml import load_yaml
from ..exceptions import ConfigError, DatasetError, WorkbenchError

if TYPE_CHECKING:
    from ..runner import Runner, RunRequest
    from ..store import RunRecord

__all__ = ["Grid", "GridRun", "load_grid", "parse_grid", "run_key", "stable_key"]

#: A grid larger than this is almost certainly a mistake (a list where a value was meant).
MAX_RUNS = 500
_KEYS = ("name", "datasets", "models", "trials", "seed", "stages", "params")
_ALIASES = {"dataset": "datasets", "model": "models", "seeds": "seed"}
_DATASET_KEYS = ("name", "target")
# Set by the grid's own keys; a `params:` entry with these names would be ambiguous.
_TOP_LEVEL_PARAMS = {
    "dataset": "datasets",
    "target": "datasets",
    "model": "models",
    "trials": "trials",
    "seed": "seed",
}
_RESERVED = ("workspace", "run_id")  # the runner sets these for every stage


@dataclass(frozen=True)
class GridRun:
    """One run of a grid, validated.

    Attributes:
        index: Position in the grid, from 1.
        key: Stable key of the normalized parameters (see :func:`stable_key`).
        request: What the runner executes.
        params: The normalized parameters the key was computed from.
    """

    index: int
    key: str
    request: RunRequest
    params: dict[str, Any]

    def label(self, varying: Sequence[str] = ()) -> str:
        """A short human label: dataset, model and the parameters that vary in the grid."""
        parts = [_dataset_label(self.request.dataset), self.params.get("model", "")]
        parts += [f"{k}={self.params[k]}" for k in varying if k not in ("dataset", "model")]
        return " ".join(str(p) for p in parts if p != "")


@dataclass(frozen=True)
class Grid:
    """An expanded, validated grid.

    Attributes:
        name: The grid's name (``name:`` or the file name).
        spec: The grid as written, with every axis as a list (JSON-serializable).
        runs: The runs in expansion order (datasets, models, trials, seeds, params).
        varying: Parameter names whose value differs between runs.
        source: The grid file, when loaded from one.
    """

    name: str
    spec: dict[str, Any]
    runs: tuple[GridRun, ...]
    varying: tuple[str, ...] = ()
    source: str | None = None
    stage_count: int = field(default=0)


def load_grid(path: str | Path, *, runner: Runner) -> Grid:
    """Read, expand and validate a grid file; nothing runs and nothing is recorded.

    Args:
        path: The YAML grid file. Relative CSV paths in it are relative to the file.
        runner: Validates every run with :meth:`Runner.prepare` (parameters, datasets, models).

    Returns:
        The grid with every run validated.

    Raises:
        ConfigError: The file is missing or not YAML, the grid is malformed (unknown key, empty
            list, wrong type), two runs are identical, or runs are invalid (every problem is
            listed, with the runs it affects).

    Example::

        grid = load_grid("templates/grid.yaml", runner=Runner(ws, store))
        [r.key for r in grid.runs]
    """
    # Absolute: the batch records where its grid came from, and the grid's folder anchors the
    # relative paths inside it.
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise ConfigError(f"no grid file at {path}; templates/grid.yaml is an example")
    data = load_yaml(path, what="grid file", hint="templates/grid.yaml is an example")
    return parse_grid(data, runner=runner, base_dir=path.parent, name=path.stem, source=str(path))


def parse_grid(
    data: Any,
    *,
    runner: Runner,
    base_dir: Path | None = None,
    name: str = "grid",
    source: str | None = None,
) -> Grid:
    """Expand and validate a grid given as a mapping (what :func:`load_grid` reads from YAML).

    Args:
        data: The grid mapping.
        runner: Validates every run with :meth:`Runner.prepare`.
        base_dir: Folder that relative CSV paths are resolved against (default: the cwd).
        name: Name used when the grid has no ``name:``.
        source: Where the grid came from, for messages and the batch record.

    Returns:
        The expanded grid.

    Raises:
        ConfigError: See :func:`load_grid`.
    """
    where = source or "the grid"
    spec = _normalize_spec(data, where=where, base_dir=base_dir or Path.cwd())
    requests = _expand(spec)
    if len(requests) > MAX_RUNS:
        raise ConfigError(
            f"{where} expands to {len(requests)} runs, more than {MAX_RUNS}; split it into "
            "several grids (did a list slip in where one value was meant?)"
        )
    runs = _validate(requests, runner, where=where)
    varying = tuple(
        k for k in _ordered_names(runs) if len({_canon(r.params.get(k)) for r in runs}) > 1
    )
    return Grid(
        name=str(spec.get("name") or name),
        spec=spec,
        runs=tuple(runs),
        varying=varying,
        source=source,
        stage_count=sum(len(r.request.stages) for r in runs),
    )


# -- stable keys -----------------------------------------------------------------------------


def stable_key(stages: Sequence[str], params: Mapping[str, Any]) -> str:
    """The stable key of a run: a hash of its stages and normalized parameters.

    Parameters are normalized against the stage notebooks' ``parameters`` cells: every declared
    parameter is present (defaults filled in), undeclared names (e.g. what a notebook logs, such
    as ``best_params``) are ignored, and the model family alias is resolved. So a run given
    ``cv_folds=5`` explicitly and one relying on the default share a key.

    Args:
        stages: Stage names of the run, e.g. ``("explore", "search", "evaluate")``.
        params: Its parameters (as validated by :meth:`Runner.prepare` or recorded in the store).

    Returns:
        16 hex digits.

    Example::

        >>> stable_key(["search"], {"dataset": "iris", "model": "linear", "trials": 2}) == \\
        ...     stable_key(["search"], {"dataset": "iris", "model": "logreg", "trials": 2})
        True
    """
    return _hash({"stages": list(stages), "params": normalized_params(stages, params)})


def normalized_params(stages: Sequence[str], params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter the stages' notebooks declare, from ``params`` or the default."""
    from ..models import get_family

    out = {name: params.get(name, default) for name, default in _declared(tuple(stages)).items()}
    if isinstance(out.get("model"), str):
        # An unknown family keeps its name; validation reports it elsewhere.
        with contextlib.suppress(ConfigError):
            out["model"] = get_family(out["model"]).name
    if out.get("target") is None and "target" in out:
        out["target"] = ""  # the runner passes "" for "no target"
    return out


def run_key(run: RunRecord) -> str | None:
    """The stable key of a recorded run, or None if its stages are unknown here."""
    from ..context import STAGES

    if not run.stage_names or any(s not in STAGES for s in run.stage_names):
        return None
    return stable_key(run.stage_names, run.params)


@functools.cache
def _declared(stages: tuple[str, ...]) -> dict[str, Any]:
    """Declared parameter names of the stages' notebooks with their default values."""
    from ..context import STAGES
    from ..params import notebook_parameters, notebooks_dir

    found: dict[str, Any] = {}
    for stage in stages:
        if stage not in STAGES:
            continue
        for name, spec in notebook_parameters(notebooks_dir() / STAGES[stage]).items():
            if name not in _RESERVED:
                found.setdefault(name, _literal(spec.default))
    return found


def _literal(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, SyntaxError):
        return source


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _hash(obj: Any) -> str:
    return hashlib.sha256(_canon(obj).encode()).hexdigest()[:16]


# -- reading and normalizing -----------------------------------------------------------------


def _normalize_spec(data: Any, *, where: str, base_dir: Path) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where} must be a mapping with keys {', '.join(_KEYS)}; "
            f"got {type(data).__name__}; see templates/grid.yaml"
        )
    data = {_ALIASES.get(str(k), str(k)): v for k, v in data.items()}
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        named = ", ".join(repr(k) + _did_you_mean(k, _KEYS) for k in unknown)
        raise ConfigError(f"{where}: unknown key(s) {named}; accepted keys: {', '.join(_KEYS)}")
    for required in ("datasets", "models"):
        if required not in data:
            raise ConfigError(f"{where}: {required!r} is missing; e.g. {required}: [iris]")
    spec: dict[str, Any] = {}
    if data.get("name") is not None:
        if not isinstance(data["name"], str) or not data["name"].strip():
            raise ConfigError(f"{where}: 'name' must be a non-empty text, got {data['name']!r}")
        spec["name"] = data["name"].strip()
    spec["datasets"] = [
        _dataset_entry(d, where=where, base_dir=base_dir)
        for d in _as_list(data["datasets"], "datasets", where)
    ]
    spec["models"] = _typed_list(data["models"], "models", where, str)
    spec["trials"] = _typed_list(data.get("trials", 20), "trials", where, int)
    spec["seed"] = _typed_list(data.get("seed", 42), "seed", where, int)
    from ..context import STAGES

    stages = data.get("stages", list(STAGES))
    spec["stages"] = _typed_list(stages, "stages", where, str)
    spec["params"] = _params(data.get("params") or {}, where)
    return spec


def _as_list(value: Any, key: str, where: str) -> list[Any]:
    values = list(value) if isinstance(value, list | tuple) else [value]
    if not values:
        raise ConfigError(f"{where}: {key!r} is an empty list; give at least one value")
    return values


def _typed_list(value: Any, key: str, where: str, kind: type) -> list[Any]:
    values = _as_list(value, key, where)
    for v in values:
        # bool is an int in Python; `trials: true` is still a mistake.
        if not isinstance(v, kind) or isinstance(v, bool):
            raise ConfigError(
                f"{where}: {key!r} expects {kind.__name__} values, got {v!r} ({type(v).__name__})"
            )
    if len({_canon(v) for v in values}) != len(values):
        raise ConfigError(f"{where}: {key!r} lists a value twice: {values}")
    return values


def _dataset_entry(entry: Any, *, where: str, base_dir: Path) -> dict[str, Any]:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where}: a dataset is a name or {{name: file.csv, target: column}}, got {entry!r}"
        )
    unknown = [k for k in entry if k not in _DATASET_KEYS]
    if unknown:
        raise ConfigError(
            f"{where}: dataset entry {dict(entry)!r} has unknown key(s) "
            f"{', '.join(map(repr, unknown))}; accepted: {', '.join(_DATASET_KEYS)}"
        )
    name, target = entry.get("name"), entry.get("target")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: dataset entry {dict(entry)!r} needs a 'name'")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"{where}: dataset {name!r}: 'target' must be a column name")
    from ..datasets import resolve_dataset_ref

    try:
        # A CSV next to the grid file works wherever `workbench batch` is started from; a name
        # that is not a path stays as it is (the runner's check names the builtins).
        resolved = resolve_dataset_ref(name.strip(), base=base_dir)
    except DatasetError as e:
        raise ConfigError(f"{where}: {e}") from e
    return {"name": resolved, "target": target or None}


def _params(value: Any, where: str) -> dict[str, list[Any]]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{where}: 'params' must map parameter names to a value or a list of values, "
            f"e.g. params: {{n_boot: [200, 1000]}}; got {value!r}"
        )
    out: dict[str, list[Any]] = {}
    for name, values in value.items():
        name = str(name)
        if not name.isidentifier():
            raise ConfigError(f"{where}: parameter name {name!r} is not an identifier")
        if name in _TOP_LEVEL_PARAMS:
            axis = _TOP_LEVEL_PARAMS[name]
            raise ConfigError(
                f"{where}: parameter {name!r} belongs at the top level of the grid "
                f"({axis}: [...]), not under params"
            )
        out[name] = _as_list(values, f"params.{name}", where)
        if len({_canon(v) for v in out[name]}) != len(out[name]):
            raise ConfigError(f"{where}: 'params.{name}' lists a value twice: {out[name]}")
    return out


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- expansion and validation ----------------------------------------------------------------


def _expand(spec: dict[str, Any]) -> list[RunRequest]:
    from ..runner import RunRequest

    names = list(spec["params"])
    combos = list(itertools.product(*(spec["params"][n] for n in names))) if names else [()]
    return [
        RunRequest(
            dataset=ds["name"],
            target=ds["target"],
            model=model,
            trials=trials,
            seed=seed,
            params=dict(zip(names, combo, strict=True)),
            stages=tuple(spec["stages"]),
        )
        for ds, model, trials, seed, combo in itertools.product(
            spec["datasets"], spec["models"], spec["trials"], spec["seed"], combos
        )
    ]


def _validate(requests: list[RunRequest], runner: Runner, *, where: str) -> list[GridRun]:
    """Prepare every run; report all problems at once, grouped by message."""
    runs: list[GridRun] = []
    problems: dict[str, list[int]] = {}
    first_of_key: dict[str, int] = {}
    for i, req in enumerate(requests, start=1):
        try:
            stages, params = runner.prepare(req)
        except WorkbenchError as e:
            problems.setdefault(str(e), []).append(i)
            continue
        names = [name for name, _ in stages]
        normalized = normalized_params(names, params)
        key = stable_key(names, params)
        if key in first_of_key:
            problems.setdefault(
                f"same parameters as run {first_of_key[key]} once defaults are filled in and "
                "model aliases resolved; remove the duplicate value from the grid",
                [],
            ).append(i)
            continue
        first_of_key[key] = i
        runs.append(GridRun(index=i, key=key, request=req, params=normalized))
    if problems:
        lines = [f"  - {msg} (run{_plural(ids)} {_ranges(ids)})" for msg, ids in problems.items()]
        bad = sum(len(ids) for ids in problems.values())
        raise ConfigError(
            f"{where}: {bad} of {len(requests)} runs are invalid; nothing was started:\n"
            + "\n".join(lines[:20])
            + (f"\n  ... and {len(lines) - 20} more problems" if len(lines) > 20 else "")
        )
    return runs


def _plural(ids: list[int]) -> str:
    return "s" if len(ids) > 1 else ""


def _ranges(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:8]))
    return shown + (f", ... ({len(ids)} runs)" if len(ids) > 8 else "")


def _ordered_names(runs: Sequence[GridRun]) -> list[str]:
    names: list[str] = []
    for r in runs:
        names += [k for k in r.params if k not in names]
    return names


def _dataset_label(name: str) -> str:
    return Path(name).name if "/" in name else name
