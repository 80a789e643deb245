"""The package's shape in two numbers issue 16 asks for: the longest functions, and how many
parameters and return values of public functions are typed ``Any`` (the module boundaries).

    python bench/code_shape.py [src/codehotfix] [--top 8]

A boundary is a public module-level function, or a public method (or ``__init__``) of a public
module-level class; each parameter or return annotation that mentions ``Any`` counts once, so
``dict[str, Any]`` counts (a JSON payload) as does a bare ``Any`` (a model, a tokenizer). The
JSON-only count leaves out annotations whose only ``Any`` is the value type of a ``dict`` or
``Mapping`` keyed by ``str``. Prints a small JSON report; reads source only (nothing is imported).
"""

from __future__ import annotations

import argparse
import ast
import json
from collections import Counter
from pathlib import Path

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _mentions_any(node: ast.expr | None) -> bool:
    return node is not None and any(
        (isinstance(n, ast.Name) and n.id == "Any") or (isinstance(n, ast.Attribute) and n.attr == "Any")
        or (isinstance(n, ast.Constant) and isinstance(n.value, str) and "Any" in n.value)
        for n in ast.walk(node))


def _only_json_any(node: ast.expr) -> bool:
    """True when every ``Any`` in ``node`` is the value of a ``dict[str, Any]``/``Mapping[str, Any]``."""
    text = ast.unparse(node)
    for payload in ("dict[str, Any]", "Mapping[str, Any]"):
        text = text.replace(payload, "")
    return "Any" not in text


def _boundaries(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    out: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
    for node in tree.body:
        if isinstance(node, _FUNCS) and not node.name.startswith("_"):
            out.append(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            out += [m for m in node.body if isinstance(m, _FUNCS) and (not m.name.startswith("_") or m.name == "__init__")]
    return out


def _annotations(f: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr | None]:
    a = f.args
    params = a.posonlyargs + a.args + a.kwonlyargs + [p for p in (a.vararg, a.kwarg) if p is not None]
    return [p.annotation for p in params] + [f.returns]


def measure(root: Path, top: int = 8) -> dict[str, object]:
    """Longest functions and boundary ``Any`` counts (total, and not counting JSON payloads) per package."""
    lengths: list[tuple[int, str]] = []
    total: Counter[str] = Counter()
    non_json: Counter[str] = Counter()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(root)
        package = rel.parts[0] if len(rel.parts) > 1 else "(top level)"
        lengths += [(n.end_lineno - n.lineno + 1, f"{rel}:{n.name}") for n in ast.walk(tree) if isinstance(n, _FUNCS)]
        for f in _boundaries(tree):
            for ann in _annotations(f):
                if _mentions_any(ann):
                    total[package] += 1
                    non_json[package] += not _only_json_any(ann)
    lengths.sort(reverse=True)
    return {"longest_functions": [{"lines": n, "function": name} for n, name in lengths[:top]],
            "boundary_any": sum(total.values()), "boundary_any_not_json": sum(non_json.values()),
            "by_package": {p: {"any": total[p], "not_json": non_json[p]} for p in sorted(total)}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default="src/codehotfix")
    ap.add_argument("--top", type=int, default=8, help="How many of the longest functions to list.")
    args = ap.parse_args(argv)
    print(json.dumps(measure(Path(args.root), args.top), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
