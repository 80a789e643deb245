"""Builds the small git repository the miner tests mine: a known mix of fix commits, refactors,
comment/whitespace/docstring/import edits, a revert, a merge, a rename, a binary file and
non-UTF-8 files, each commit made with fixed names and dates so every run builds the same history.

``build_history(path)`` returns {commit subject: sha}.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CALC = '''"""Calculator helpers."""
import math


def area(r):
    """Area of a circle."""
    return math.pi * r ** 3


# clamp keeps x in [lo, hi]
def clamp(x, lo, hi):
    if x < lo and x > hi:
        return lo
    return min(x, hi)
'''

UTIL = """NAME = 'util'


def greet(name):
    return "Hello, " + name


def total(xs):
    return sum(xs[1:])
"""

JAVA = """package demo;

import java.util.List;

public class Main {
    static int count(int n) {
        int c = 0;
        for (int i = 0; i <= n; i++) {
            c += 1; // count it
        }
        return c;
    }
}
"""

JS = """const fs = require('fs');

function report(x) {
  console.log(x);
  return x;
}

module.exports = { report };
"""

LATIN1 = "# -*- coding: latin-1 -*-\nCITY = 'Montr\xe9al'\nSIZE = 10\n"
BROKEN = "CITY = 'Montr\xe9al'\nSIZE = 10\n"  # latin-1 bytes without a coding line: not UTF-8
PY2 = 'print "hello"\nx = 1\n'
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tick = 0
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        self.tick += 1
        date = f"2024-01-{1 + self.tick // 24:02d}T{self.tick % 24:02d}:00:00+00:00"
        env = dict(os.environ, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="T",
                   GIT_COMMITTER_EMAIL="t@example.com", GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date,
                   GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")  # fmt: skip
        out = subprocess.run(["git", "-C", str(self.path), *args], env=env, capture_output=True, check=True)
        return out.stdout.decode().strip()

    def write(self, rel: str, content: str | bytes, encoding: str = "utf-8") -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))

    def edit(self, rel: str, old: str, new: str, encoding: str = "utf-8") -> None:
        text = (self.path / rel).read_bytes().decode(encoding)
        assert text.count(old) == 1, (rel, old)
        self.write(rel, text.replace(old, new), encoding)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def build_history(path: Path) -> dict[str, str]:
    """Builds the repository; returns each commit's subject mapped to its sha."""
    r = Repo(path)
    shas = {}
    r.write("app/calc.py", CALC)
    r.write("app/util.py", UTIL)
    r.write("app/legacy.py", LATIN1, "latin-1")
    r.write("app/broken.py", BROKEN, "latin-1")
    r.write("app/old.py", PY2)
    r.write("src/Main.java", JAVA)
    r.write("web/app.js", JS)
    r.write("tests/test_calc.py", "from app.calc import area\n\n\ndef test_area():\n    assert area(1) > 3\n")
    r.write("logo.png", PNG)
    r.write("README.md", "# demo\n")
    r.write("LICENSE", "MIT License\n\nPermission is hereby granted, free of charge, to any person\n")
    steps = [
        ("Initial import", []),
        ("Fix area exponent", [("app/calc.py", "r ** 3", "r ** 2")]),
        ("Refactor clamp", [("app/calc.py", "return min(x, hi)", "return min(hi, x)")]),
        ("Fix comment typo", [("app/calc.py", "# clamp keeps", "# clamp holds")]),
        ("Fix formatting", [("app/calc.py", "return min(hi, x)", "return min(hi,x)")]),
        ("Fix docstring", [("app/calc.py", "Area of a circle.", "Area of a disc.")]),
        ("Fix import", [("app/calc.py", "import math", "import math as m\nmath = m")]),
        ("Fix import alias", [("app/calc.py", "import math as m", "import math as mm")]),
        ("Fix quote style", [("app/util.py", "NAME = 'util'", 'NAME = "util"')]),
        ("Fix clamp condition", [("app/calc.py", "if x < lo and x > hi:", "if x < lo:")]),
        (
            "Fix two files",
            [("app/calc.py", "return lo", "return lo + 0"), ("app/util.py", "sum(xs[1:])", "sum(xs[2:])")],
        ),
        (
            "Fix total slice, with test",
            [("app/util.py", "sum(xs[2:])", "sum(xs)"), ("tests/test_util.py", None, "def test_total():\n    pass\n")],
        ),
        ("Fix logo colours", [("logo.png", None, PNG[::-1])]),
        ("Fix accent", [("app/legacy.py", "SIZE = 10", "SIZE = 12")]),
        ("Fix broken size", [("app/broken.py", "SIZE = 10", "SIZE = 11")]),
        ("Fix py2 print", [("app/old.py", 'print "hello"', 'print "hi"')]),
        ("Fix test expectation", [("tests/test_calc.py", "area(1) > 3", "area(1) > 3.1")]),
        ("Fix greeting and signature", [("app/util.py", '"Hello, " + name', '"Hello, " + name + "!"\n    # done')]),
        ("Fix java loop bound", [("src/Main.java", "i <= n", "i < n")]),
        ("Fix java comment", [("src/Main.java", "// count it", "// count one")]),
        ("Fix js require", [("web/app.js", "require('fs')", "require('node:fs')")]),
        ('Revert "Fix area exponent"', [("app/calc.py", "r ** 2", "r ** 3")]),
        ("Fix area exponent again", [("app/calc.py", "r ** 3", "r ** 2")]),
        ("Fix and move util", [("app/util.py", "sum(xs)", "sum(xs, 0)")]),
    ]
    for message, edits in steps:
        for rel, old, new in edits:
            if old is None:
                r.write(rel, new)
            else:
                r.edit(rel, old, new, "latin-1" if rel in ("app/legacy.py", "app/broken.py") else "utf-8")
        if message == "Fix and move util":
            r.git("mv", "app/util.py", "app/helpers.py")
        shas[message] = r.commit(message)
    # A branch with a fix, merged back after main moved on: the fix is mined once, the merge never.
    r.git("checkout", "-q", "-b", "feature", shas["Fix js require"])
    r.edit("web/app.js", "console.log(x);", "console.error(x);")
    shas["Fix js logging"] = r.commit("Fix js logging")
    r.git("checkout", "-q", "main")
    r.git("merge", "-q", "--no-ff", "-m", "Merge branch 'feature' (fix logging)", "feature")
    shas["Merge branch 'feature' (fix logging)"] = r.git("rev-parse", "HEAD")
    return shas
