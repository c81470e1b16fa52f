"""The package's layout holds: no import cycle between modules or between packages, the layers import only
downwards, and the top level stays small. Imports are read from the source (every import the code runs,
those inside functions included; those only for type checkers left out)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "promptbias"
MAX_TOP_LEVEL_MODULES = 8
# package -> the packages it must never import (the layers: lm at the bottom, study above probes and metrics)
FORBIDDEN = {
    "lm": {"probes", "study", "metrics", "report", "data", "suites", "bench", "cli"},
    "data": {"suites", "lm", "probes", "study", "metrics", "report", "bench", "cli"},
    "suites": {"lm", "probes", "study", "metrics", "report", "bench", "cli"},
    "probes": {"study", "report", "bench", "cli"},  # a probe may score itself with the metrics (dev scores)
    "metrics": {"lm", "probes", "study", "report", "bench", "cli"},
    "report": {"lm", "study", "bench", "cli"},
    "study": {"bench", "cli"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name | ast.Attribute) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(tree: ast.AST, package: str, modules: set[str]) -> set[str]:
    """The modules ``tree`` imports when it runs: ``from a import b`` is a.b when that is a module, else a."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports at run time."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = runtime_imports(ast.parse(path.read_text(encoding="utf-8")), package, set(files))
        graph[name] = {target for target in imported if target in files and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
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

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def layer(module: str) -> str:
    """The first-level package (or top-level module) a module belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    layers: dict[str, set[str]] = {}
    for source, targets in graph.items():
        edges = layers.setdefault(layer(source), set())
        edges.update(layer(target) for target in targets if layer(target) != layer(source))
    return layers


def test_the_cycle_finder_finds_a_cycle_and_the_reader_skips_type_checking_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x.y\n"
        "def f():\n    from x import z, w\n    from . import v\n"
    )
    imports = runtime_imports(ast.parse(source), "pkg", {"x", "x.z", "pkg.v"})
    assert imports == {"typing", "x", "x.z", "pkg.v"}


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(import_graph()) == []


def test_no_package_imports_itself_through_others() -> None:
    assert cycles(layer_graph(import_graph())) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_lies_below_it(package: str) -> None:
    reaches = layer_graph(import_graph()).get(package, set())
    assert not reaches & FORBIDDEN[package], f"{package} imports {sorted(reaches & FORBIDDEN[package])}"


def test_the_top_level_holds_only_what_every_layer_shares() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules
