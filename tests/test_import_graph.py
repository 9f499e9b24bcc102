"""The package's import graph: no cycle, and the engine imports nothing above it.

Built from the source (``ast``), so it sees every import that can run: module-level ones and
function-local (lazy) ones alike, since a lazy import closes a cycle as surely when its
function runs. Only imports under ``if TYPE_CHECKING:`` are left out (they never run).
``from a.b import c`` is an edge to the module ``a.b.c`` when there is one, else to ``a.b``
(a name its ``__init__`` defines). The implicit run of a parent package's ``__init__`` when a
submodule is imported is not an edge: a package that gathers its submodules and a submodule that
names a sibling are Python's normal shape, not a cycle anyone can break.
"""

from __future__ import annotations

import ast
from pathlib import Path

import checkly_gate

PACKAGE = Path(checkly_gate.__file__).parent
ROOT = "checkly_gate"
# The engine and what it stands on: nothing here may reach a command or the CLI.
ENGINE = ("checkly_gate.gate", "checkly_gate.finish", "checkly_gate.context")
ABOVE = ("checkly_gate.commands", "checkly_gate.cli")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules ``tree`` may import at run time (see the module docstring)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                names.add(submodule if submodule in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in names if name in modules and name not in (module, ROOT)}


def graph() -> dict[str, set[str]]:
    """Each module of the package -> the package's modules it imports."""
    modules = _modules()
    return {
        name: _imports(
            ast.parse(path.read_text(encoding="utf-8")),
            name,
            path.name == "__init__.py",
            set(modules),
        )
        for name, path in modules.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                strongconnect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            strongconnect(node)
    return found


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_sees_the_package() -> None:
    # The check below means something only if the graph holds the edges it is about.
    edges = graph()
    assert "checkly_gate.gate" in edges["checkly_gate.commands.wait"]
    assert "checkly_gate.commands.wait" in edges["checkly_gate.cli"]  # a lazy import counts
    assert "checkly_gate.simulator.server" in edges["checkly_gate.simulator"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere_in_the_package() -> None:
    assert cycles(graph()) == []


def test_the_engine_imports_nothing_above_it() -> None:
    edges = graph()
    for module in ENGINE:
        above = {m for m in reachable(edges, module) if m.startswith(ABOVE)}
        assert above == set(), f"{module} reaches {sorted(above)}"
