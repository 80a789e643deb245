"""Builds the two side-effect corpora that ship with codehotfix, once, from CPython 3.11 sources.

    python bench/build_corpora.py            # writes src/codehotfix/data/corpora/{locality,heldout_code}.jsonl
    python bench/build_corpora.py --check    # rebuilds in memory and fails if the files differ

Source: the standard library of the running CPython 3.11 interpreter (``sysconfig`` stdlib path),
Python Software Foundation License Version 2 (PSF-2.0); every record's ``source`` names the module,
line range, Python version and licence. Only the 20 modules in ``MODULES`` are used, so these
corpora stay disjoint from the retain corpus (which draws on other modules).

- ``locality.jsonl`` (64 records ``{id, prompt, source}``): ``cut_prompts`` cuts each function at
  its middle body statement; per module 3 or 4 prompts of 6–25 lines, evenly spaced through the file.
- ``heldout_code.jsonl`` (40 records ``{id, text, source}``): per module 2 whole functions of 12–40
  lines (dedented, decorators kept), evenly spaced, none of them used for a locality prompt.

Everything is deterministic: the same interpreter version gives byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import sys
import sysconfig
import textwrap
from pathlib import Path

from codehotfix.evaluation.locality import cut_prompts
from codehotfix.files import atomic_write_text

MODULES = (
    "collections/__init__.py", "functools.py", "dataclasses.py", "enum.py", "pathlib.py", "tokenize.py",
    "ast.py", "inspect.py", "typing.py", "random.py", "datetime.py", "shutil.py", "tempfile.py",
    "zipfile.py", "gzip.py", "base64.py", "ipaddress.py", "uuid.py", "logging/__init__.py", "http/client.py",
)
LOCALITY_PROMPTS = 64
SNIPPETS_PER_MODULE = 2
PROMPT_LINES = 25
MIN_PROMPT_LINES = 6  # shorter prompts say too little to judge a completion by
SNIPPET_LINES = (12, 40)
LICENSE = "PSF-2.0"
OUT = Path(__file__).resolve().parents[1] / "src" / "codehotfix" / "data" / "corpora"


def _evenly(items: list, k: int) -> list:
    """``k`` items spread evenly from first to last (all of them when there are no more than k)."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)] if k > 1 else [items[0]]


def _source(module: str, lines: list[int]) -> dict:
    return {"module": f"Lib/{module}", "lines": lines, "python": platform.python_version(), "license": LICENSE}


def build(stdlib: Path) -> tuple[list[dict], list[dict]]:
    prompts, snippets = [], []
    extra = LOCALITY_PROMPTS - 3 * len(MODULES)  # the first `extra` modules give 4 prompts, the rest 3
    for m, module in enumerate(MODULES):
        text = (stdlib / module).read_text(encoding="utf-8")
        candidates = [p for p in cut_prompts(text, path=f"Lib/{module}", max_lines=PROMPT_LINES)
                      if p.prompt.count("\n") >= MIN_PROMPT_LINES]
        cut = _evenly(candidates, 4 if m < extra else 3)
        used = {p.source["function"] + ":" + str(p.source["lines"][1] + 1) for p in cut}
        for p in cut:
            src = _source(module, p.source["lines"]) | {"function": p.source["function"],
                                                         "reference_next_line": p.source["reference_next_line"]}
            prompts.append({"id": f"{module}:{p.source['lines'][1] + 1}", "prompt": p.prompt, "source": src})
        lines = text.split("\n")
        funcs = []
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                size = node.end_lineno - first + 1
                body_lines = {node.body[len(node.body) // 2].lineno} if node.body else set()
                taken = any(f"{node.name}:{b}" in used for b in body_lines)
                if SNIPPET_LINES[0] <= size <= SNIPPET_LINES[1] and not taken:
                    funcs.append((first, node))
        for first, node in _evenly(sorted(funcs, key=lambda f: f[0]), SNIPPETS_PER_MODULE):
            body = textwrap.dedent("\n".join(lines[first - 1:node.end_lineno])) + "\n"
            snippets.append({"id": f"{module}:{node.name}:{first}", "text": body,
                             "source": _source(module, [first, node.end_lineno]) | {"function": node.name}})
    return prompts, snippets


def _jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the shipped files differ from a rebuild")
    args = parser.parse_args()
    if sys.version_info[:2] != (3, 11):
        raise SystemExit(f"build_corpora needs CPython 3.11 (the corpora cite its sources); this is {platform.python_version()}")
    prompts, snippets = build(Path(sysconfig.get_paths()["stdlib"]))
    files = {"locality.jsonl": _jsonl(prompts), "heldout_code.jsonl": _jsonl(snippets)}
    for name, text in files.items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                raise SystemExit(f"{path}: differs from a rebuild with Python {platform.python_version()}")
        else:
            atomic_write_text(path, text)
            path.chmod(0o644)  # package data: readable by whoever installs it
        print(f"{path}: {text.count(chr(10))} records, {len(text.encode()) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
