"""Validity of a completed line, with the fixed line as the control."""

from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.validity import ValidityCheck, bracket_state, python_line_parses


def test_python_whole_file_check():
    case = HotfixCase(id="y", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
                      buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)",
                      suffix="\nprint(load('a'))\n")
    check = ValidityCheck.for_case(case)
    assert check.method == "file"
    assert check.valid("        return yaml.safe_load(f)") is True
    assert check.valid("        return yaml.safe_load(f") is False
    assert check.valid("    return f.read()") is False  # the with block is left empty


def test_truncated_window_falls_back_to_the_line_alone():
    # An indented prefix cut out of a file: no line parses in it, the fixed one included.
    case = HotfixCase(id="w", prefix="        if ready:\n", buggy="            return x == None",
                      fixed="            return x is None", suffix="        else:\n")
    check = ValidityCheck.for_case(case)
    assert check.method == "line"
    assert check.valid("            return x is None") is True
    assert check.valid("            return (x is None") is False
    assert python_line_parses("    elif x:") and python_line_parses("except ValueError as e:")


def test_java_brackets_like_the_fixed_line():
    case = HotfixCase(id="j", prefix="class A {\n  void f() {\n", buggy="    int x = g(b);", fixed="    int x = g(a);",
                      suffix="  }\n", language="java")
    check = ValidityCheck.for_case(case)
    assert check.method == "brackets"
    assert check.valid("    int y = h(c); // done)") is True  # the bracket in the comment does not count
    assert check.valid("    int x = g(a;") is False
    assert check.valid('    String s = "a;') is False  # a string left open
    assert check.valid("    if (x) {") is False  # leaves one more brace open than the fixed line


def test_bracket_state():
    assert bracket_state("f(a[1], '(')", "python") == ((), 0)
    assert bracket_state("})(", "java") == (("(",), 2)
    assert bracket_state("(]", "java") is None


def test_undefined_when_the_fixed_line_fails_every_check():
    # The bracket check compares with the fixed line itself, so only a line it cannot scan (a string
    # left open, a closer of the wrong kind) leaves validity undefined.
    case = HotfixCase(id="u", prefix="", buggy="x = (1]", fixed="x = [1)", language="python")
    check = ValidityCheck.for_case(case)
    assert check.method is None and check.valid("x = 1") is None
