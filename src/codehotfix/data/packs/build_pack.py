"""Builds a pack's JSONL file from its hand-written sources, one text file per topic.

    python -m codehotfix.data.packs.build_pack            # rewrites default.jsonl from sources/default/
    python -m codehotfix.data.packs.build_pack --check    # exits 1 if default.jsonl is out of date

The contexts are written by hand (by the codehotfix authors, released under the package's licence);
this script only turns a readable source into the JSONL schema of ``codehotfix.data.cases``, so
that nobody edits escaped JSON strings. A topic file looks like::

    # topic: yaml_safe_load
    # kind: outdated_api
    # why: PyYAML 6 made Loader a required argument of yaml.load, …

    === a context (the text after === is an optional comment)
    import yaml
    def read(path):
        with open(path) as fh:
    -|        return yaml.load(fh)
    +|        return yaml.safe_load(fh)
    === why: a sentence that replaces the topic's "why" for this context only
    …

Inside a context, ``-|`` marks the buggy line and ``+|`` the fixed line (two adjacent lines, the
marker replaced by nothing); the lines before them are the prefix and the lines after them the
suffix. Leading and trailing blank lines of a context are dropped. Ids are ``<topic>/<n>`` in file
order, so appending a context never renumbers the others.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["parse_topic", "build_pack"]

_HERE = Path(__file__).parent
_HEADER_KEYS = ("topic", "kind", "why")


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def _case(topic: str, header: dict[str, str], n: int, lines: list[str], comment: str, where: str) -> dict[str, Any]:
    lines = _strip_blank(lines)
    buggy_at = [i for i, line in enumerate(lines) if line.startswith("-|")]
    fixed_at = [i for i, line in enumerate(lines) if line.startswith("+|")]
    if len(buggy_at) != 1 or fixed_at != [buggy_at[0] + 1]:
        raise ValueError(f"{where}: a context needs exactly one '-|' line directly followed by one '+|' line")
    i = buggy_at[0]
    prefix = "".join(line + "\n" for line in lines[:i])
    suffix = "".join(line + "\n" for line in lines[i + 2:])
    buggy, fixed = lines[i][2:], lines[i + 1][2:]
    why = comment[len("why:"):].strip() if comment.startswith("why:") else header["why"]
    for name, line in (("buggy", buggy), ("fixed", fixed)):
        try:
            ast.parse(prefix + line + "\n" + suffix)
        except SyntaxError as e:
            raise ValueError(f"{where}: the {name} variant does not parse: {e.msg} (line {e.lineno})") from None
    if buggy.strip() == fixed.strip():
        raise ValueError(f"{where}: the buggy and the fixed line are the same")
    return {"id": f"{topic}/{n}", "prefix": prefix, "buggy": buggy, "fixed": fixed, "suffix": suffix,
            "language": "python", "group": topic, "source": {"topic": topic, "kind": header["kind"], "why": why}}


def parse_topic(path: Path) -> list[dict[str, Any]]:
    """The cases of one topic file, as JSON-ready dicts in file order.

    Raises:
        ValueError: a missing header key, a context without one buggy/fixed pair, or a variant that
            does not parse as Python (the message names the file and the context's line).
    """
    text = path.read_text(encoding="utf-8")
    header: dict[str, str] = {}
    blocks: list[tuple[int, str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("==="):
            blocks.append((number, line[3:].strip(), []))
        elif blocks:
            blocks[-1][2].append(line)
        elif line.startswith("# ") and ":" in line:
            key, value = line[2:].split(":", 1)
            header[key.strip()] = value.strip()
    missing = [k for k in _HEADER_KEYS if not header.get(k)]
    if missing:
        raise ValueError(f"{path}: header lacks {', '.join(missing)}")
    if header["topic"] != path.stem:
        raise ValueError(f"{path}: topic {header['topic']!r} differs from the file name")
    return [_case(header["topic"], header, n, lines, comment, f"{path}:{number}")
            for n, (number, comment, lines) in enumerate(blocks)]


def build_pack(name: str = "default") -> str:
    """The JSONL text of pack ``name`` built from ``sources/<name>/*.txt`` (topics sorted by the
    ``order`` file if present, else by name)."""
    folder = _HERE / "sources" / name
    order_file = folder / "order.txt"
    stems = (order_file.read_text().split() if order_file.exists()
             else sorted(p.stem for p in folder.glob("*.txt")))
    listed = set(stems)
    unlisted = sorted(p.stem for p in folder.glob("*.txt") if p.name != "order.txt" and p.stem not in listed)
    if unlisted:
        raise ValueError(f"{order_file}: topics missing from the order: {', '.join(unlisted)}")
    rows = [case for stem in stems for case in parse_topic(folder / f"{stem}.txt")]
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", default="default")
    parser.add_argument("--check", action="store_true", help="only check that the JSONL file is up to date")
    args = parser.parse_args(argv)
    text = build_pack(args.pack)
    target = _HERE / f"{args.pack}.jsonl"
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        print(f"{target}: {'up to date' if current == text else 'OUT OF DATE'}")
        return 0 if current == text else 1
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}: {text.count(chr(10))} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
