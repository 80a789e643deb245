"""Tests of codehotfix.data.miners on a git repository built by the test (tests/assets/gitrepo.py):
exactly which commits give cases and why the others do not; patches; resuming; the CLI; and the
shape of mined cases against the shared pysstubs_mined records."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from dataclasses import fields, replace
from pathlib import Path

import pytest

from codehotfix.data.cases import HotfixCase, read_cases
from codehotfix.data.miners import (
    MINERS,
    PATTERNS,
    MinerConfig,
    classify,
    mine_patch,
    mine_repos,
    parse_unified_diff,
    state_path,
    verify_case,
)
from codehotfix.data.miners import git as git_miner
from codehotfix.data.miners.langs import is_test_path, tokenize_line
from codehotfix.errors import CodehotfixError, ConfigError, DataError

_spec = importlib.util.spec_from_file_location("gitrepo", Path(__file__).parents[1] / "assets" / "gitrepo.py")
gitrepo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gitrepo)

PYSSTUBS = Path(__file__).resolve().parents[3] / "shared" / "data" / "pysstubs_mined" / "pysstubs_mined.jsonl"

# (commit subject, path, line, buggy, fixed, pattern, language, other files): everything mined.
EXPECTED = [
    ("Fix area exponent", "app/calc.py", 7, "    return math.pi * r ** 3", "    return math.pi * r ** 2",
     "changed numeral", "python", []),
    ("Fix clamp condition", "app/calc.py", 13, "    if x < lo and x > hi:", "    if x < lo:",
     "changed condition (removed clause)", "python", []),
    ("Fix total slice, with test", "app/util.py", 9, "    return sum(xs[2:])", "    return sum(xs)",
     "changed argument", "python", ["tests/test_util.py"]),
    ("Fix accent", "app/legacy.py", 3, "SIZE = 10", "SIZE = 12", "changed numeral", "python", []),
    ("Fix java loop bound", "src/Main.java", 8, "        for (int i = 0; i <= n; i++) {",
     "        for (int i = 0; i < n; i++) {", "changed operator", "java", []),
    ("Fix js logging", "web/app.js", 4, "  console.log(x);", "  console.error(x);",
     "changed function name", "javascript", []),
]  # fmt: skip

# Why each other commit gives no case (the merge commit is not even listed).
EXPECTED_SKIPS = {
    "Initial import": "root", "Refactor clamp": "message", "Fix comment typo": "comment",
    "Fix formatting": "whitespace", "Fix docstring": "docstring", "Fix import": "not-one-line",
    "Fix import alias": "import", "Fix quote style": "ast-identical", "Fix two files": "many-files",
    "Fix logo colours": "no-source-file", "Fix broken size": "encoding", "Fix py2 print": "syntax",
    "Fix test expectation": "no-source-file", "Fix greeting and signature": "not-one-line",
    "Fix java comment": "comment", "Fix js require": "import", 'Revert "Fix area exponent"': "revert",
    "Fix area exponent again": "duplicate", "Fix and move util": "not-modified",
}  # fmt: skip


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("hist") / "demo"
    return path, gitrepo.build_history(path)


@pytest.fixture(scope="module")
def mined(history):
    return mine_repos([history[0]], MinerConfig(), progress=False)


def _row(case: HotfixCase, shas: dict[str, str]) -> tuple:
    subject = {v: k for k, v in shas.items()}[case.source["commit"]]
    s = case.source
    return (subject, s["path"], s["line"], case.buggy, case.fixed, s["pattern"], case.language, s["other_files"])


def test_mines_exactly_the_single_line_fixes(history, mined):
    path, shas = history
    assert [_row(c, shas) for c in mined.cases] == EXPECTED
    counts = {}
    for reason in EXPECTED_SKIPS.values():
        counts[reason] = counts.get(reason, 0) + 1
    assert {
        k: v for k, v in mined.stats.items() if k not in ("commits", "resumed", "mined", "cases", "seconds")
    } == counts
    assert mined.stats["commits"] == len(shas) - 1 == len(EXPECTED) + len(EXPECTED_SKIPS)
    assert mined.stats["mined"] == mined.stats["cases"] == len(EXPECTED)


def test_case_fields_and_provenance(history, mined):
    path, shas = history
    for case in mined.cases:
        s = case.source
        assert case.id == f"demo@{s['commit']}:{s['path']}:{s['line']}"
        assert case.group == s["repo"] == "demo" and s["license"] == "MIT"
        parent_file = subprocess.run(["git", "-C", str(path), "show", f"{s['parent']}:{s['path']}"],
                                     capture_output=True, check=True).stdout  # fmt: skip
        encoding = "latin-1" if s["path"] == "app/legacy.py" else "utf-8"
        lines = parent_file.decode(encoding).split("\n")
        assert case.prefix == "".join(x + "\n" for x in lines[: s["line"] - 1])  # short files: all before
        assert lines[s["line"] - 1] == case.buggy
        assert s["parent"] == subprocess.run(["git", "-C", str(path), "rev-parse", f"{s['commit']}^"],
                                             capture_output=True, text=True).stdout.strip()  # fmt: skip
        assert s["message_first_line"] in shas and s["commit_date"].startswith("2024-01-")
        assert verify_case(path, case)
    legacy = next(c for c in mined.cases if c.source["path"] == "app/legacy.py")
    assert "Montréal" in legacy.prefix  # decoded by its PEP 263 coding line
    java = next(c for c in mined.cases if c.language == "java")
    assert java.suffix.startswith("            c += 1; // count it\n")
    util = next(c for c in mined.cases if c.source["path"] == "app/util.py")
    assert util.source["touches_tests"] and util.source["complete_statement"]


def test_verify_rejects_a_case_that_is_not_the_parent_file(history, mined):
    case = mined.cases[0]
    assert not verify_case(history[0], replace(case, buggy=case.buggy + " "))
    assert not verify_case(history[0], replace(case, prefix="x = 1\n" + case.prefix))
    assert not verify_case(history[0], replace(case, source={**case.source, "line": case.source["line"] + 1}))


def test_options_select_commits(history):
    path, shas = history
    java_only = mine_repos([path], MinerConfig(paths=("src/*",)), progress=False)
    assert [c.language for c in java_only.cases] == ["java"]
    feature_date = _git(path, "show", "-s", "--format=%cI", shas["Fix js logging"]).strip()
    late = mine_repos([path], MinerConfig(since=feature_date), progress=False)
    assert [c.source["message_first_line"] for c in late.cases] == ["Fix js logging"]
    short = mine_repos([path], MinerConfig(prefix_lines=2, suffix_lines=1, max_cases=2), progress=False)
    assert len(short.cases) == 2 and all(c.prefix.count("\n") == 2 for c in short.cases)
    assert short.cases[0].source["prefix_start_line"] == 5
    anything = mine_repos([path], MinerConfig(fix_pattern="", include_tests=True), progress=False)
    subjects = [c.source["message_first_line"] for c in anything.cases]
    assert "Refactor clamp" in subjects and "Fix test expectation" in subjects


def test_several_repositories_share_one_deduplicated_output(history, mined, tmp_path):
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(history[0]), str(clone))
    _git(clone, "remote", "set-url", "origin", "git@github.com:someone/demo-fork.git")
    both = mine_repos([history[0], clone], MinerConfig(), progress=False)
    assert both.cases == mined.cases  # every fix of the fork is the same fix: kept once, from the first
    assert both.stats["duplicate"] == 2 + len(EXPECTED) and both.stats["commits"] == 2 * mined.stats["commits"]
    (fork_case,) = mine_repos([clone], MinerConfig(paths=("*.java",)), progress=False).cases
    assert fork_case.group == "someone/demo-fork" and fork_case.id.startswith("someone/demo-fork@")


def test_resumes_after_an_interruption(history, mined, tmp_path, monkeypatch):
    out = tmp_path / "cases.jsonl"
    real = git_miner._mine_commit
    calls = {"n": 0}

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 12:
            on_disk = json.loads(state_path(out).read_text())
            assert len(next(iter(on_disk["repos"].values()))) == 10  # checkpoints at 5 and 10 commits
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(git_miner, "_mine_commit", flaky)
    with pytest.raises(KeyboardInterrupt):
        mine_repos([history[0]], MinerConfig(), out=out, progress=False, checkpoint=5)
    state = json.loads(state_path(out).read_text())
    assert len(next(iter(state["repos"].values()))) == 11  # saved on the way out, not only at checkpoints
    monkeypatch.setattr(git_miner, "_mine_commit", real)
    again = mine_repos([history[0]], MinerConfig(), out=out, progress=False)
    assert again.stats["resumed"] == 11 and again.cases == mined.cases == read_cases(out)
    noop = mine_repos([history[0]], MinerConfig(), out=out, progress=False)
    assert noop.stats["resumed"] == noop.stats["commits"] and noop.cases == mined.cases
    with pytest.raises(DataError, match="other options"):
        mine_repos([history[0]], MinerConfig(prefix_lines=3), out=out, progress=False)
    restarted = mine_repos([history[0]], MinerConfig(prefix_lines=3), out=out, restart=True, progress=False)
    assert len(restarted.cases) == len(mined.cases)


def test_refuses_to_overwrite_an_output_without_state(history, tmp_path):
    out = tmp_path / "cases.jsonl"
    out.write_text("")
    with pytest.raises(DataError, match="--restart"):
        mine_repos([history[0]], MinerConfig(), out=out, progress=False)


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not a git repository"):
        mine_repos([tmp_path], MinerConfig())
    with pytest.raises(DataError, match="no such folder"):
        mine_repos([tmp_path / "nope"], MinerConfig())
    with pytest.raises(ConfigError, match="ISO date"):
        MinerConfig(since="last tuesday")
    with pytest.raises(ConfigError, match="languages"):
        MinerConfig(languages=("cobol",))


def _git(path: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(path), *args], capture_output=True, check=True, text=True).stdout


def test_format_patch_gives_the_same_case_as_the_history(history, mined, tmp_path):
    path, shas = history
    patch = tmp_path / "fix.patch"
    patch.write_text(_git(path, "format-patch", "-1", "--stdout", shas["Fix java loop bound"]))
    result = mine_patch(patch, path, MinerConfig(), rev=shas["Fix java loop bound"] + "^")
    (from_history,) = [c for c in mined.cases if c.language == "java"]
    (from_patch,) = result.cases
    assert from_patch.source.pop("commit_date") is None  # a patch carries only the author's date
    assert from_patch == replace(
        from_history, source={k: v for k, v in from_history.source.items() if k != "commit_date"}
    )
    assert MINERS.get("patch") is mine_patch and MINERS.get("git") is mine_repos
    # A patch from a commit this clone does not have (a PR's) is checked against its parent only.
    patch.write_text(patch.read_text().replace(shas["Fix java loop bound"], "f" * 40, 1))
    (foreign,) = mine_patch(patch, path, MinerConfig(), rev=shas["Fix java loop bound"] + "^").cases
    assert foreign.source["commit"] == "f" * 40 and foreign.buggy == from_history.buggy


def test_plain_diff_against_head(history, tmp_path):
    path, _ = history
    diff = "--- a/app/calc.py\n+++ b/app/calc.py\n@@ -13,3 +13,3 @@ def clamp(x, lo, hi):\n" \
           "     if x < lo:\n-        return lo + 0\n+        return lo - 0\n     return min(hi,x)\n"  # fmt: skip
    patch = tmp_path / "pr.diff"
    patch.write_text(diff)
    (case,) = mine_patch(patch, path, MinerConfig()).cases
    head = _git(path, "rev-parse", "HEAD").strip()
    assert case.id == f"demo@{head}+patch:app/calc.py:14" and case.source["commit"] is None
    assert (case.buggy, case.fixed, case.source["pattern"]) == (
        "        return lo + 0",
        "        return lo - 0",
        "changed operator",
    )
    patch.write_text(diff.replace("if x < lo:", "if x > lo:"))
    with pytest.raises(DataError, match=r"app/calc.py:13 is '    if x < lo:'.*--rev"):
        mine_patch(patch, path, MinerConfig())
    patch.write_text(
        diff.replace("+        return lo - 0\n", "+        return lo - 0\n+        pass\n").replace("+13,3", "+13,4")
    )
    assert mine_patch(patch, path, MinerConfig()).stats["skipped"] == "not-one-line"
    with pytest.raises(DataError, match="not a revision"):
        mine_patch(patch, path, MinerConfig(), rev="no-such-branch")
    patch.write_text("this is not a diff\n")
    with pytest.raises(DataError, match="no file diff"):
        mine_patch(patch, path, MinerConfig())
    patch.write_text("--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-a = 1\n+a = 2\n")
    with pytest.raises(DataError, match="cut short"):
        mine_patch(patch, path, MinerConfig())


def test_parse_unified_diff_renames_binaries_and_new_files():
    text = (
        "diff --git a/old.py b/new.py\nsimilarity index 90%\nrename from old.py\nrename to new.py\n"
        "--- a/old.py\n+++ b/new.py\n@@ -1 +1 @@\n-x = 1\n\\ No newline at end of file\n+x = 2\n"
        "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n"
        "diff --git a/add.js b/add.js\nnew file mode 100644\n--- /dev/null\n+++ b/add.js\n@@ -0,0 +1 @@\n+let a;\n"
    )
    files, header = parse_unified_diff(text)
    assert [(f.old_path, f.new_path, f.status, f.binary) for f in files] == [
        ("old.py", "new.py", "R", False),
        ("logo.png", "logo.png", "M", True),
        (None, "add.js", "A", False),
    ]
    assert files[0].hunks[0].lines == ["-x = 1", "+x = 2"] and header == {}


@pytest.mark.parametrize(
    "buggy, fixed, language, label",
    [
        ("if a > 0:", "if a >= 0:", "python", "changed operator"),
        ("if a:", "if not a:", "python", "changed unary operator"),
        ("if a:", "if a and b:", "python", "changed condition (added clause)"),
        ("while a < len(xs):", "while a < len(ys) - 1:", "python", "changed condition"),
        ("x = f(a)", "x = g(a)", "python", "changed function name"),
        ("x = f(a)", "x = f(a, b=1)", "python", "added argument"),
        ("x = f(a, b)", "x = f(b, a)", "python", "swapped operands/arguments"),
        ("x = f(a + 1)", "x = f(a[1])", "python", "changed argument"),
        ("name = obj.name", "name = obj.name.lower()", "python", "added method call/attribute"),
        ("flag = True", "flag = False", "python", "changed boolean literal"),
        ("size = 'big'", "size = 'small'", "python", "changed string literal"),
        ("return a", "return b", "python", "changed identifier"),
        ("return a - b", "return b - a", "python", "swapped operands/arguments"),
        ("return x", "return x or []", "python", "changed return value"),
        ("elif x is None:", "elif x is not None:", "python", "changed operator"),
        ("elif x is None:", "elif x == 0:", "python", "changed condition"),
        ("    total = sum(values,", "    total = sum(values[1:],", "python", "changed argument"),
        ("if (i <= n) {", "if (i < n) {", "java", "changed operator"),
        ("if (ready) {", "if (ready && !done) {", "java", "changed condition (added clause)"),
        ("return count;", "return count + 1;", "java", "changed return value"),
        ("int size = 10;", "int size = 16;", "java", "changed numeral"),
        ("foo(a);", "foo(a, b);", "javascript", "added argument"),
        ("x = user;", "x = user.name;", "javascript", "added method call/attribute"),
        ("if (!ok) {", "if (ok) {", "javascript", "changed unary operator"),
        ("let x = a ? b : c;", "let x = a ? c : d;", "javascript", "other"),
    ],
)
def test_pattern_labels(buggy, fixed, language, label):
    assert classify(buggy, fixed, language) == label
    assert label in PATTERNS


def test_tokenizer_and_test_paths():
    assert [t.text for t in tokenize_line("x = a[1] # note", "python")] == ["x", "=", "a", "[", "1", "]"]
    assert [t.kind for t in tokenize_line("s = `a${b}` /* c */ >>>= 0x1F;", "javascript")] == [
        "name", "op", "string", "op", "number", "op"]  # fmt: skip
    paths = ("tests/a.py", "pkg/test_x.py", "src/FooTest.java", "web/a.spec.js", "src/latest.py")
    assert [is_test_path(p) for p in paths] == [True, True, True, True, False]


def test_cli_mine_writes_cases_and_exits_cleanly_on_errors(history, mined, tmp_path, capsys):
    from codehotfix.cli import main

    out = tmp_path / "cli.jsonl"
    main(["mine", str(history[0]), "--out", str(out), "--no-progress"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["cases"] == len(EXPECTED) and read_cases(out) == mined.cases
    for argv, message in [
        (["mine", str(tmp_path), "--out", str(out)], "not a git repository"),
        (["mine", str(history[0]), "--out", str(tmp_path / "b.jsonl"), "--since", "soon"], "ISO date"),
        (["mine", str(history[0]), "--out", str(out), "--patch", str(tmp_path / "none.diff")], "no such file"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1


def test_mined_cases_have_the_shape_of_pysstubs_records(mined, tmp_path):
    """The shared pysstubs_mined records and our cases load through load_cases into the same shape."""
    from codehotfix.data.loaders import LOADERS, load_cases

    if not PYSSTUBS.exists() or "pysstubs" not in LOADERS:
        pytest.skip(f"needs {PYSSTUBS} and the pysstubs loader")
    sample = tmp_path / "pysstubs_sample.jsonl"
    sample.write_text("".join(PYSSTUBS.read_text(encoding="utf-8").splitlines(keepends=True)[:40]))
    theirs = load_cases(sample, "pysstubs")
    out = tmp_path / "mined.jsonl"
    from codehotfix.data.cases import write_cases

    write_cases(out, mined.cases)
    ours = [c for c in load_cases(out, "jsonl") if c.language == "python"]
    id_shape = re.compile(r"^[^@\s]+@[0-9a-f]{40}:[^:]+\.py:\d+$")
    for case in theirs + ours:
        assert id_shape.match(case.id) and case.group == case.source["repo"]
        assert case.prefix.endswith("\n") and "\n" not in case.buggy + case.fixed
        assert case.source["pattern"] in PATTERNS
        assert case.id == f"{case.source['repo']}@{case.source['commit']}:{case.source['path']}:{case.source['line']}"
    for mine in ours:
        for theirs_case in theirs:
            assert [(f.name, type(getattr(mine, f.name))) for f in fields(HotfixCase)] == [
                (f.name, type(getattr(theirs_case, f.name))) for f in fields(HotfixCase)]  # fmt: skip
            assert set(theirs_case.source) <= set(mine.source)
            for key, value in theirs_case.source.items():
                assert isinstance(mine.source[key], type(value)) or mine.source[key] is None, key


def test_errors_derive_from_the_package_base():
    assert issubclass(DataError, CodehotfixError) and issubclass(ConfigError, CodehotfixError)
