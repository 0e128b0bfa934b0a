"""The layers hold: no import cycle between packages, and the core imports no adapter.

Every import counts, at the top of a module, inside a function or under TYPE_CHECKING: an
import made late to dodge a cycle is still a cycle in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "headroom"

#: The adapters: they parse input, call a use case or the core, and present its result.
ADAPTERS = {"cli", "web"}
#: What only the adapters (and the use cases themselves) may import.
ABOVE_THE_CORE = ADAPTERS | {"usecases"}


def _package(module: str) -> str:
    """``headroom.plays.queue`` -> ``plays``; a top-level module is a package of its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _edges() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the modules importing it (migrations left out: they are
    history, each frozen as it was written)."""
    edges: dict[str, dict[str, list[str]]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue
        me = ".".join(rel.parts)
        if rel.name == "__init__":
            me = me.removesuffix(".__init__")
        mine = _package(me)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("headroom.") and _package(name) != mine:
                    edges.setdefault(mine, {}).setdefault(_package(name), []).append(me)
    return edges


def _cycles(edges: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_between_packages() -> None:
    edges = _edges()
    described = [
        {a: {b: sorted(set(edges[a][b])) for b in group if b in edges.get(a, {})} for a in group}
        for group in _cycles(edges)
    ]
    assert described == []


def test_the_core_imports_no_adapter_and_no_use_case() -> None:
    edges = _edges()
    wrong = {
        (package, above, module)
        for package, imported in edges.items()
        if package not in ABOVE_THE_CORE
        for above in imported
        if above in ABOVE_THE_CORE
        for module in imported[above]
    }
    assert wrong == set()


def test_the_finder_sees_a_cycle_when_there_is_one() -> None:
    looped = {"a": {"b": ["headroom.a.x"]}, "b": {"c": ["headroom.b.y"]}, "c": {"a": ["z"]}}
    assert _cycles(looped) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": ["headroom.a.x"]}}) == []


def test_no_test_module_imports_another() -> None:
    """What several test modules share lives in a conftest (fixtures) or a helper module
    (functions, constants): importing a test module runs its module-level code again and can
    collect its tests twice."""
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if any(n.split(".")[-1].startswith("test_") for n in names):
                    wrong.append(f"{path.relative_to(tests)}: from {node.module} import ...")
    assert wrong == []
