"""The architecture as a test: imports go down the floors, never into another package's privates.

Floors, lowest first (each may import only from its own floor and those below):

0. ``dse.core``: the kernel (errors, registry, config, layers, measurement protocol, record, files);
1. ``search_spaces``: the DLAS layers, hardware (layer 6) included;
2. ``objectives``: build, accuracy, latency, and the composition root of a trial;
3. ``dse``: the application (study, lifecycle, cache, worker, analysis, CLIs);
4. ``bench``: benchmarks, which may use everything.

A module whose name starts with ``_`` is private to the package that holds it. Every import
counts: module level, inside functions (lazy) and under ``TYPE_CHECKING``. Module cycles are
refused too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS: tuple[tuple[str, int], ...] = (
    ("dse.core", 0),
    ("search_spaces", 1),
    ("objectives", 2),
    ("dse", 3),
    ("bench", 4),
)
PACKAGES = ("dse", "search_spaces", "objectives", "bench")


def floor_of(module: str) -> int | None:
    """The floor of ``module``: the longest matching prefix wins (``dse.core`` before ``dse``)."""
    best: tuple[int, int] | None = None
    for prefix, floor in FLOORS:
        matches = module == prefix or module.startswith(prefix + ".")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), floor)
    return None if best is None else best[1]


def modules(root: Path) -> dict[str, Path]:
    """Every module of the checked packages under ``root``, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import of ours in ``path``, wherever it stands."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield node.lineno, submodule if submodule in known else source


def private_owner(imported: str) -> str | None:
    """The package a private module belongs to (``a.b`` for ``a.b._c.d``), or None if public."""
    parts = imported.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and part != "__init__":
            return ".".join(parts[:i])
    return None


def violations(root: Path) -> list[str]:
    """Every upward import, private import from outside its package, and module cycle."""
    known = modules(root)
    graph: dict[str, set[str]] = {name: set() for name in known}
    found = []
    for module, path in known.items():
        here = floor_of(module)
        for line, imported in imports(module, path, known):
            if floor_of(imported) is None or imported == module:
                continue
            where = f"{path.relative_to(root)}:{line}: {module} imports {imported}"
            if here is not None and floor_of(imported) > here:  # type: ignore[operator]
                found.append(f"{where} (up from floor {here} to floor {floor_of(imported)})")
            owner = private_owner(imported)
            if owner is not None and not (module == owner or module.startswith(owner + ".")):
                found.append(f"{where} (private to {owner})")
            if imported in known:
                graph[module].add(imported)
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_the_tree_imports_only_downwards() -> None:
    assert violations(ROOT) == []


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


CLEAN = {
    "dse/__init__.py": "",
    "dse/core/__init__.py": "",
    "dse/core/errors.py": "",
    "search_spaces/__init__.py": "from dse.core import errors\n",
    "search_spaces/_space.py": "",
    "objectives/__init__.py": "from search_spaces import SearchSpace\n",
    "dse/study.py": "from objectives import evaluate\n",
    "objectives/evaluate.py": "",
    "bench/__init__.py": "",
}


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ({"dse/core/errors.py": "def f():\n    from search_spaces import x\n"}, "up from floor 0 to floor 1"),
        (
            {"search_spaces/_space.py": "if TYPE_CHECKING:\n    from objectives.evaluate import E\n"},
            "up from floor 1 to floor 2",
        ),
        ({"objectives/evaluate.py": "import dse.study\n"}, "up from floor 2 to floor 3"),
        ({"dse/study.py": "from search_spaces._space import S\n"}, "private to search_spaces"),
        ({"dse/study.py": "from search_spaces import _space\n"}, "private to search_spaces"),
        ({"dse/core/a.py": "from dse.core import b\n", "dse/core/b.py": "from dse.core import a\n"}, "import cycle"),
    ],
)
def test_planted_violations_are_found(tmp_path: Path, planted: dict[str, str], expected: str) -> None:
    _plant(tmp_path, CLEAN)
    assert violations(tmp_path) == []
    _plant(tmp_path, planted)
    found = violations(tmp_path)
    assert any(expected in line for line in found), found
