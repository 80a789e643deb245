"""Builds the built-in retain corpus ``src/codehotfix/data/corpora/retain.jsonl`` (run once; committed).

The corpus is ordinary, well-written Python that a hotfix must leave alone: whole top-level functions
and classes (or methods of long classes) of 20-60 lines from CPython 3.11 standard-library modules.
Only the modules in ``MODULES`` are used; another part of the project evaluates on a disjoint set of
stdlib modules, so nothing here may overlap with it. Snippets are taken in source order, spread
evenly over each module, at most ``PER_MODULE`` per module, ~120 in all, < 200 KB.

Licence: the snippets are CPython source, Copyright (c) Python Software Foundation, distributed
under the PSF License Agreement (PSF-2.0, https://docs.python.org/3/license.html); each record's
``source`` names its file, lines, Python version and licence.

Run (needs CPython 3.11, whose stdlib sources it reads):
    python bench/build_retain_corpus.py [--out PATH] [--force]
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import platform
import sys
from pathlib import Path

MODULES = ("textwrap", "difflib", "json.encoder", "csv", "configparser", "argparse", "string", "fractions",
           "statistics", "heapq", "bisect", "shlex", "glob", "fnmatch", "calendar", "pprint")
MIN_LINES, MAX_LINES = 20, 60
PER_MODULE = 12
TARGET = 120
MAX_BYTES = 200_000
OUT = Path(__file__).resolve().parents[1] / "src" / "codehotfix" / "data" / "corpora" / "retain.jsonl"


def _candidates(tree: ast.Module) -> list[tuple[int, int]]:
    """(first, last) line ranges of 20-60 lines: whole functions and classes, methods of longer
    classes, and runs of consecutive short functions (so modules of small helpers count too)."""
    out = []

    def scan(body: list[ast.stmt]) -> None:
        run: list[ast.AST] = []
        for node in body + [None]:
            is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            span = _span(node) if is_def else 0
            if is_def and span < MIN_LINES:
                run.append(node)
                if _start(node) and node.end_lineno - _start(run[0]) + 1 >= MIN_LINES:
                    if node.end_lineno - _start(run[0]) + 1 <= MAX_LINES:
                        out.append((_start(run[0]), node.end_lineno))
                    run = []
                continue
            run = []
            if is_def and span <= MAX_LINES:
                out.append((_start(node), node.end_lineno))
            elif isinstance(node, ast.ClassDef):
                scan(node.body)

    scan(tree.body)
    return sorted(out)


def _start(node: ast.AST) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _span(node: ast.AST) -> int:
    return node.end_lineno - _start(node) + 1


def _spread(items: list, k: int) -> list:
    """``k`` items spread evenly over ``items`` (source order kept)."""
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)] if k > 1 else items[:1]


def build() -> list[dict]:
    records = []
    for name in MODULES:
        path = Path(importlib.util.find_spec(name).origin)
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for start, end in _spread(_candidates(ast.parse("".join(lines))), PER_MODULE):
            body = lines[start - 1:end]
            indent = min(len(l) - len(l.lstrip()) for l in body if l.strip())
            text = "".join(l[indent:] if l.strip() else "\n" for l in body)  # methods dedented to column 0
            records.append({
                "id": f"cpython{sys.version_info.major}.{sys.version_info.minor}/{name}:{start}-{end}",
                "text": text,
                "source": {"module": name, "file": f"Lib/{name.replace('.', '/')}.py", "lines": [start, end],
                           "python": platform.python_version(), "licence": "PSF-2.0"},
            })
    # Trim evenly to the target count, then to the size budget.
    records = _spread(records, TARGET)
    while sum(len(json.dumps(r)) + 1 for r in records) > MAX_BYTES:
        records = _spread(records, len(records) - 1)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--force", action="store_true", help="replace an existing corpus")
    args = parser.parse_args()
    if platform.python_implementation() != "CPython" or sys.version_info[:2] != (3, 11):
        sys.exit(f"needs CPython 3.11 (its stdlib sources are the corpus); this is {platform.python_implementation()} "
                 f"{platform.python_version()}")
    if args.out.exists() and not args.force:
        sys.exit(f"{args.out} exists; pass --force to rebuild it")
    records = build()
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    modules = sorted({r["source"]["module"] for r in records})
    print(json.dumps({"out": str(args.out), "snippets": len(records), "bytes": len(text.encode()),
                      "modules": modules}))


if __name__ == "__main__":
    main()
