"""The package's layers hold: nothing imports upward, no module imports itself back through a
cycle, SQL stays in the store, and the stub copied into bundles imports nothing of ours.

Layers, bottom to top (README "Architecture")::

    base          exceptions, config, files, provenance, html escaping; serving/ (the stub)
    store         every record family, SQL, migrations
    core          datasets, models, parameters, statistics, profile, gates, model files,
                  traffic, notebook execution and HTML pages
    services      runs, search, evaluate, compare, registry, export/bundle, release, A/B,
                  monitor, retrain, inventory, batch
    presentation  figures, widgets, progress bars
    compose       demo, notebook helpers, the report index
    cli           the command line
    api           ``workbench/__init__``: re-exports; nothing inside imports it

Every import counts: at module level, inside functions, under ``TYPE_CHECKING``. A module in a
layer may import modules of its own layer or below. Every module must be placed in a layer
below (an unplaced module fails), so a new module is a decision, not an accident.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "workbench"

#: Layer of each module, by dotted name or ``prefix.*`` for a whole package.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "exceptions",
            "config",
            "_files",
            "_yaml",
            "provenance",
            "project",
            "safehtml",
            "units",
            "serving",
            "serving.*",
        ),
    ),
    ("store", ("store", "store.*")),
    (
        "core",
        (
            "datasets",
            "tableread",
            "models",
            "params",
            "preflight",
            "plugins",
            "stats",
            "stats.*",
            "profile",
            "gates",
            "modelio",
            "onnxgraph",
            "traffic",
            "traffic.*",
            "explore",
            "plots",
            "pages",
            "execute",
        ),
    ),
    (
        "services",
        (
            "context",
            "runner",
            "search",
            "evaluate",
            "latency",
            "compare",
            "compare.*",
            "registry",
            "pareto",
            "export",
            "bundle",
            "loadtest",
            "release",
            "release.*",
            "abtest",
            "abtest.*",
            "monitor",
            "monitor.*",
            "retrain",
            "retrain.*",
            "inventory",
            "edge",
            "batch",
            "batch.*",
            "views",
            "headers",
            "labruns",
        ),
    ),
    ("presentation", ("figures", "figures.*", "widgets", "progress")),
    ("compose", ("demo", "demo.*", "notebook", "reports", "reports.*")),
    ("cli", ("cli", "cli.*")),
    ("api", ("",)),
)
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def _modules() -> dict[str, Path]:
    """Dotted names (without the leading ``workbench.``; ``""`` for the package) -> files."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if "migrations" in parts:
            continue  # Alembic revisions run inside the store's migration, not imported
        if parts[0] == "templates":
            continue  # examples copied into a user's project (example_plugin.py), not imported
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def layer_of(module: str) -> str | None:
    best: tuple[int, str] | None = None
    for name, patterns in LAYERS:
        for pattern in patterns:
            if pattern.endswith(".*"):
                hit = module.startswith(pattern[:-1])
                weight = len(pattern) - 1
            else:
                hit = module == pattern
                weight = len(pattern) + 1  # an exact name beats a package pattern
            if hit and (best is None or weight > best[0]):
                best = (weight, name)
    return best[1] if best else None


def _package_of(module: str, path: Path) -> list[str]:
    parts = module.split(".") if module else []
    return parts if path.name == "__init__.py" else parts[:-1]


def imports_of(module: str) -> Iterator[tuple[str, int, str]]:
    """``(imported workbench module, line, what the source says)`` for every import."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _package_of(module, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "workbench" or alias.name.startswith("workbench."):
                    yield (
                        _known(alias.name.removeprefix("workbench").lstrip(".")),
                        node.lineno,
                        (f"import {alias.name}"),
                    )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif node.module and (
                node.module == "workbench" or node.module.startswith("workbench.")
            ):
                target = node.module.removeprefix("workbench").lstrip(".")
            else:
                continue
            source = f"from {'.' * node.level}{node.module or ''} import ..."
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                # `from pkg import mod` depends on the submodule; `from pkg import name` on pkg.
                yield (sub if sub in MODULES else _known(target)), node.lineno, source


def _known(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _edges() -> dict[str, set[str]]:
    return {m: {dep for dep, _, _ in imports_of(m) if dep != m} for m in MODULES}


def _show(module: str) -> str:
    return f"workbench.{module}" if module else "workbench"


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(_show(m) for m in MODULES if layer_of(m) is None)
    assert not unplaced, (
        f"modules in no layer: {', '.join(unplaced)}; add each to LAYERS in "
        "tests/test_layers.py (and to the README's architecture table)"
    )


def test_nothing_imports_upward() -> None:
    upward = []
    for module in MODULES:
        here = layer_of(module)
        for dep, line, source in imports_of(module):
            there = layer_of(dep)
            if here and there and RANK[there] > RANK[here]:
                upward.append(
                    f"{_show(module)} ({here}) imports {_show(dep)} ({there}) at "
                    f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: {source}"
                )
    assert not upward, "upward imports:\n  " + "\n  ".join(sorted(set(upward)))


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components: any component of two or more is a cycle."""
    edges = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    described = []
    for component in cycles:
        pairs = [f"{_show(a)} -> {_show(b)}" for a in component for b in edges[a] if b in component]
        described.append("; ".join(pairs))
    assert not cycles, "import cycles:\n  " + "\n  ".join(described)


def test_sql_only_in_the_store() -> None:
    offenders = []
    for module, path in MODULES.items():
        if module == "store" or module.startswith("store."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in names):
                offenders.append(f"{_show(module)}:{node.lineno}")
            if any(n.endswith("store.schema") or n.endswith("store._base") for n in names):
                offenders.append(f"{_show(module)}:{node.lineno} (store internals)")
        for dep, line, _ in imports_of(module):
            if (dep.startswith("store.") and dep.split(".")[1].startswith("_")) or dep == (
                "store.schema"
            ):
                offenders.append(f"{_show(module)}:{line} imports {_show(dep)}")
    assert not offenders, "SQL or store internals outside workbench/store/: " + ", ".join(
        sorted(set(offenders))
    )


def test_no_private_store_calls_outside_the_store() -> None:
    """``store._write`` and friends are the store's own business (its families share them)."""
    offenders = []
    for module, path in MODULES.items():
        if module == "store" or module.startswith("store."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id == "store"
            ):
                offenders.append(f"{_show(module)}:{node.lineno} store.{node.attr}")
    assert not offenders, "private store calls: " + ", ".join(offenders)


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if m.startswith("serving.") and m != "serving")
)
def test_the_stub_imports_nothing_of_the_workbench(module: str) -> None:
    deps = sorted({d for d, _, _ in imports_of(module) if not d.startswith("serving")})
    assert not deps, f"{_show(module)} is copied into bundles but imports {deps}"


def test_this_checker_sees_imports_inside_functions_and_type_checking() -> None:
    """The checker itself: a module whose only import of the store is inside a function."""
    deps = {d for d, _, _ in imports_of("cli")} if "cli" in MODULES else set()
    assert deps, "the CLI imports what it delegates to inside its commands"
    assert layer_of("store._runs") == "store" and layer_of("serving._model") == "base"
    assert layer_of("") == "api"
