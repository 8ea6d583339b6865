"""The package's layering, read from the source with `ast`: nothing the toolbox is built on imports it back.

Every import counts, including those inside functions (they run, later); only ``if TYPE_CHECKING:`` blocks are
left out, since they never run. Importing ``a.b.c`` also runs ``a/b/__init__.py``, so a subpackage's
``__init__`` is an edge too, except from modules inside that package (and the root ``armorer_ray/__init__.py``
never is): Python has run those before the importing module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import armorer_ray

ROOT = Path(armorer_ray.__file__).parent
PACKAGE = "armorer_ray"
TOOLBOX = "armorer_ray.toolbox"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _import_nodes_of(other)
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    yield from _import_nodes(node)


def _targets(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    named: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        named.add(base)
        named.update(f"{base}.{alias.name}" for alias in node.names)
    edges: set[str] = set()
    for name in named:
        parts = name.split(".")
        # The module itself and every subpackage __init__ on the way to it, except the packages the importing
        # module is inside (Python ran their __init__ before it, so importing them again runs nothing).
        for end in range(2, len(parts) + 1):
            candidate = ".".join(parts[:end])
            if candidate in MODULES and not module.startswith(candidate + "."):
                edges.add(candidate)
    edges.discard(module)
    return edges


GRAPH = {module: _targets(module, path) for module, path in MODULES.items()}


def _below(start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for target in GRAPH[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    seen.discard(start)
    return seen


def _cycle_through(module: str) -> list[str] | None:
    """A path ``module -> ... -> module``, or None."""
    stack: list[tuple[str, list[str]]] = [(module, [module])]
    seen: set[str] = set()
    while stack:
        current, path = stack.pop()
        for target in sorted(GRAPH[current]):
            if target == module:
                return [*path, module]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_graph_sees_function_level_imports() -> None:
    # A guard on the analysis itself: Toolbox.stream imports the stream iterator inside the method.
    assert "armorer_ray.streams.calls" in GRAPH[TOOLBOX]
    assert "armorer_ray.pipeline" in GRAPH["armorer_ray.tools"]  # Tool.execute, inside the method


def test_nothing_the_toolbox_is_built_on_imports_it() -> None:
    below = _below(TOOLBOX)
    assert {"armorer_ray.pipeline", "armorer_ray.tools", "armorer_ray.options", "armorer_ray.context"} <= below
    offenders = sorted(module for module in below if TOOLBOX in GRAPH[module])
    assert offenders == [], f"modules below toolbox.py import it: {offenders}"


def test_the_core_has_no_import_cycle() -> None:
    cycles = {module: path for module in sorted(_below(TOOLBOX) | {TOOLBOX})
              if (path := _cycle_through(module)) is not None}
    assert cycles == {}, "import cycles: " + "; ".join(" -> ".join(path) for path in cycles.values())


def test_the_versioned_registry_modules_have_no_import_cycle() -> None:
    # registry.py builds a VersionedToolbox inside a method; versioned.py must then not import registry.py back
    # (it names Registry for type checking only).
    modules = ["armorer_ray.versions", "armorer_ray.migrations", "armorer_ray.negotiation", "armorer_ray.registry",
               "armorer_ray.versioned"]
    assert "armorer_ray.versioned" in GRAPH["armorer_ray.registry"]
    cycles = {module: path for module in modules if (path := _cycle_through(module)) is not None}
    assert cycles == {}, "import cycles: " + "; ".join(" -> ".join(path) for path in cycles.values())


# Cycles tolerated while someone splits them (registry <-> versioned was the last; issue 18 split it). Keep it empty.
KNOWN_CYCLES: set[frozenset[str]] = set()


def _cycles() -> list[set[str]]:
    """The package's import cycles: its strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(GRAPH[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return found


def test_the_package_has_no_import_cycle() -> None:
    unexpected = [sorted(cycle) for cycle in _cycles() if frozenset(cycle) not in KNOWN_CYCLES]
    assert unexpected == [], f"import cycles: {unexpected}"


def test_the_cycle_finder_finds_cycles() -> None:
    # A guard on the analysis: a made-up edge back from the toolbox's base closes a cycle through the core.
    GRAPH["armorer_ray.tools"].add(TOOLBOX)
    try:
        assert any({TOOLBOX, "armorer_ray.tools"} <= cycle for cycle in _cycles())
    finally:
        GRAPH["armorer_ray.tools"].discard(TOOLBOX)


def test_nothing_in_the_package_imports_the_cli() -> None:
    # The CLI registers commands from elsewhere (serve), so anything importing it back closes a cycle.
    importers = sorted(module for module, targets in GRAPH.items() if "armorer_ray.cli" in targets)
    assert importers == [], f"modules importing armorer_ray.cli: {importers}"


def test_the_workflow_spec_stands_on_its_errors_alone() -> None:
    # spec is the vocabulary graph, export and expansion are built from; it must not reach any of them.
    workflow_imports = {target for target in _below("armorer_ray.workflow.spec")
                        if target.startswith("armorer_ray.workflow")}
    assert workflow_imports <= {"armorer_ray.workflow.errors"}, workflow_imports
