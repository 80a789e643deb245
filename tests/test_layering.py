"""The package's layers (docs/architecture.md): a module imports only from lower layers or from its
own package, and no modules import each other, directly or around a circle.

Imports are read with ``ast`` from the source of the ``codehotfix`` that Python finds, so the same test
checks another checkout: ``PYTHONPATH=/other/src python -m pytest tests/test_layering.py``. Every
import counts, also one inside a function (a lazy import is still a dependency: it only moves the
failure to run time) and one under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import codehotfix

# Bottom to top. A module may import its own top-level package (``codehotfix.<part>``) and the parts of
# lower layers; parts that share a layer are independent of each other (training and evaluation both
# build on scoring, neither on the other). "__init__" is codehotfix/__init__.py, the public face.
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("files", "registry", "extras", "runtime"),
    ("tracking",),
    ("data",),
    ("models",),
    ("scoring",),
    ("objectives",),
    ("config",),
    ("training", "evaluation", "online"),
    ("privacy", "deploy", "report"),
    ("api",),
    ("study", "recipes", "serve", "sequence"),
    ("cli",),
    ("__init__",),
]

# (importing module, imported module) -> why this upward import is allowed for now. An entry that no
# import needs any more fails the test, so the list cannot go stale.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

# Package -> why its submodules may import the package's __init__ back (an import circle that the
# layering does not forbid, since it stays inside one top-level package).
ALLOWED_PACKAGE_CIRCLES: dict[str, str] = {
    "codehotfix.cli":
        "typer's `app` lives in cli/__init__.py, which imports every command module at its end so that each "
        "registers its commands on `app`; moving `app` to its own module (cli/app.py) would end the circle.",
}


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` (both module names)."""

    source: str
    target: str
    path: Path
    line: int
    lazy: bool  # inside a function, class or ``if`` block rather than at the module's top level

    def where(self) -> str:
        return f"{self.path}:{self.line}" + (" (inside a function or block)" if self.lazy else "")


def find_modules(package_dir: Path) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package __init__) for every .py file under ``package_dir``."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _resolve(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """The module ``name`` loads: itself, or its longest prefix that is a module (``a.b.func`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
                    modules: dict[str, tuple[Path, bool]]) -> list[str]:
    """Dotted names an import statement loads; ``from pkg import sub`` names the submodule when there is one."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: climb from this module's package
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def find_imports(package_dir: Path) -> list[Import]:
    """Every import of one of the package's own modules by another, top-level or not."""
    modules = find_modules(package_dir)
    found = []
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported_names(node, module, is_package, modules):
                target = _resolve(name, modules) if name.split(".")[0] == package_dir.name else None
                if target is not None and target != module:
                    shown = path.relative_to(package_dir.parent)
                    found.append(Import(module, target, shown, node.lineno, id(node) not in top_level))
    return list(dict.fromkeys(found))  # `from a import x, y` is one edge, not two


def part_of(module: str) -> str:
    """The top-level part a module belongs to: ``codehotfix.training.loop`` -> ``training``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_index(layers: list[tuple[str, ...]]) -> dict[str, int]:
    return {part: i for i, layer in enumerate(layers) for part in layer}


def unplaced_parts(modules: list[str], layers: list[tuple[str, ...]]) -> list[str]:
    """Top-level parts of the package that no layer lists."""
    return sorted({part_of(m) for m in modules} - set(layer_index(layers)))


def layer_violations(imports: list[Import], layers: list[tuple[str, ...]],
                     allowed: dict[tuple[str, str], str]) -> list[Import]:
    """Imports of a part in a higher layer, or of another part in the same layer, not in ``allowed``."""
    index = layer_index(layers)
    bad = []
    for imp in imports:
        src, dst = part_of(imp.source), part_of(imp.target)
        if src != dst and index[src] <= index[dst] and (imp.source, imp.target) not in allowed:
            bad.append(imp)
    return bad


def import_cycles(imports: list[Import], package_circles: dict[str, str]) -> list[list[str]]:
    """One circle per strongly connected group of modules, as [a, b, …, a]; a submodule's import of a
    package listed in ``package_circles`` is left out."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.target in package_circles and imp.source.startswith(imp.target + "."):
            continue
        graph.setdefault(imp.source, set()).add(imp.target)
        graph.setdefault(imp.target, set())
    cycles = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            cycles.append(_circle_through(sorted(group)[0], graph, set(group)))
    return sorted(cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit on long import chains)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def _circle_through(start: str, graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest circle start -> … -> start inside ``group`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node] & group):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1] + [start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected group but on no circle")


def _describe(imp: Import, layers: list[tuple[str, ...]]) -> str:
    index = layer_index(layers)
    src, dst = part_of(imp.source), part_of(imp.target)
    how = "in the same layer as" if index[src] == index[dst] else f"in layer {index[dst]}, above"
    return f"  {imp.where()}: {imp.source} imports {imp.target} — {dst} is {how} {src} (layer {index[src]})"


PACKAGE_DIR = Path(codehotfix.__file__).parent
IMPORTS = find_imports(PACKAGE_DIR)


def test_every_part_of_the_package_has_a_layer():
    missing = unplaced_parts(list(find_modules(PACKAGE_DIR)), LAYERS)
    assert not missing, f"add {missing} to LAYERS in tests/test_layering.py and to docs/architecture.md"


def test_no_module_imports_a_higher_layer_or_a_peer():
    bad = layer_violations(IMPORTS, LAYERS, ALLOWED_UPWARD)
    assert not bad, (f"{len(bad)} import(s) break the layering (docs/architecture.md); move the code down, or "
                     "pass it in from above:\n" + "\n".join(_describe(i, LAYERS) for i in bad))


def test_allowed_exceptions_are_still_needed():
    edges = {(i.source, i.target) for i in IMPORTS}
    stale = [edge for edge in ALLOWED_UPWARD if edge not in edges]
    stale += [pkg for pkg in ALLOWED_PACKAGE_CIRCLES
              if not any(i.target == pkg and i.source.startswith(pkg + ".") for i in IMPORTS)]
    assert not stale, f"no import needs these exceptions any more; delete them from tests/test_layering.py: {stale}"


def test_no_import_circles():
    cycles = import_cycles(IMPORTS, ALLOWED_PACKAGE_CIRCLES)
    assert not cycles, (f"{len(cycles)} import circle(s); break each by moving the shared code into a "
                        "lower module:\n" + "\n".join("  " + " -> ".join(c) for c in cycles))


# The checker itself, on a made-up package: it must see what the tests above rely on it to see.

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pkg"


def test_checker_finds_upward_peer_and_lazy_imports(tmp_path):
    package = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg.high.mod import g\n",            # lazy, upward
        "pkg/high/__init__.py": "from . import mod\n",                           # own package: fine
        "pkg/high/mod.py": "import pkg.low\nfrom pkg import side\ng = 1\n",        # downward, then a peer
        "pkg/side.py": "",
    })
    layers = [("low",), ("high", "side"), ("__init__",)]
    imports = find_imports(package)
    bad = {(i.source, i.target, i.lazy) for i in layer_violations(imports, layers, {})}
    assert bad == {("pkg.low", "pkg.high.mod", True), ("pkg.high.mod", "pkg.side", False)}
    assert not layer_violations(imports, layers, {("pkg.low", "pkg.high.mod"): "why", ("pkg.high.mod", "pkg.side"): ""})
    assert unplaced_parts(list(find_modules(package)), [("low",)]) == ["__init__", "high", "side"]


def test_checker_finds_circles_also_through_lazy_imports(tmp_path):
    package = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import x\n",
        "pkg/b.py": "x = 1\ndef f():\n    from pkg import c\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from pkg.a import x\n",
        "pkg/cmd/__init__.py": "app = 1\nfrom pkg.cmd import one\n",
        "pkg/cmd/one.py": "from pkg.cmd import app\n",
    })
    imports = find_imports(package)
    assert import_cycles(imports, {}) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"], ["pkg.cmd", "pkg.cmd.one", "pkg.cmd"]]
    assert import_cycles(imports, {"pkg.cmd": "registration"}) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_message_names_the_file_line_and_layers(tmp_path):
    package = _write(tmp_path, {"pkg/__init__.py": "", "pkg/low.py": "\nimport pkg.high\n", "pkg/high.py": ""})
    layers = [("low",), ("high",), ("__init__",)]
    (bad,) = layer_violations(find_imports(package), layers, {})
    text = _describe(bad, layers)
    assert "low.py:2" in text and "pkg.low imports pkg.high" in text and "in layer 1, above low (layer 0)" in text
