"""No module of the toolkit imports one that imports it back, directly or
through others: read from the source by AST (imports inside functions count:
a lazy import hides a cycle from Python, not from the reader)."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

SRC = ROOT / "src"


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted name -> file, for every module and package under ``src/parity``."""
    out = {}
    for path in sorted((src / "parity").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The toolkit's modules that ``name`` imports, anywhere in it. ``from P
    import X`` is P.X when that is a module, else P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in out if m in known and m != name}


def graph(src: Path = SRC) -> dict[str, set[str]]:
    known = modules(src)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_module_imports_one_that_imports_it_back():
    edges = graph()
    # a package's __init__ is imported with each of its modules: an edge to it is no cycle of its own making
    edges = {m: {t for t in targets if t not in _ancestors(m)} for m, targets in edges.items()}
    assert cycles(edges) == []


def test_the_check_finds_a_cycle_through_a_lazy_import_and_a_relative_one(tmp_path):
    pkg = tmp_path / "parity" / "app"
    pkg.mkdir(parents=True)
    (tmp_path / "parity" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from parity.app import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import g\n")
    (pkg / "c.py").write_text("import parity.app.a\n")
    (pkg / "d.py").write_text("from parity.app.a import thing\n")
    edges = graph(tmp_path)
    assert edges["parity.app.d"] == {"parity.app.a"}
    assert cycles(edges) == [["parity.app.a", "parity.app.b", "parity.app.c"]]


def test_the_packages_of_app_import_one_way():
    """Between app/'s capabilities the data flows one way (local -> checks ->
    deploy -> rehearsal; operations and benchmarks read the others): no
    package imports one that imports it back, through any of their modules."""

    def package(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 3 and parts[:2] == ["parity", "app"] else None

    between: dict[str, set[str]] = {}
    for module, targets in graph().items():
        if package(module):
            between.setdefault(package(module), set()).update(
                package(t) for t in targets if package(t) and package(t) != package(module)
            )
    assert cycles(between) == []
