"""The classification rule: first non-blank line, whitespace outside strings ignored."""

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.classify import classify, first_line

CASE = HotfixCase(id="c", prefix="with open(p) as f:\n", buggy="    data = yaml.load(f)", fixed="    data = yaml.safe_load(f)")


@pytest.mark.parametrize("completion,label", [
    ("    data = yaml.safe_load(f)\n    return data", "fixed"),
    ("data=yaml.safe_load( f )", "fixed"),  # indentation and spaces don't matter
    ("\n\n    data = yaml.load(f)\n", "buggy"),  # leading blank lines are skipped
    ("    data = yaml.safe_load(f) or {}\n", "other"),  # more on the same line is another line
    ("    data = json.load(f)\n    yaml.safe_load(f)", "other"),  # only the first line counts
    ("", "other"),
    ("   \n  ", "other"),
])
def test_classify(completion, label):
    assert classify(completion, CASE) == label


def test_whitespace_inside_strings_counts():
    case = HotfixCase(id="s", prefix="", buggy="    return ''.join(xs)", fixed="    return ' '.join(xs)")
    assert classify("return ' '.join(xs)", case) == "fixed"
    assert classify("return ''.join(xs)", case) == "buggy"


def test_first_line():
    assert first_line("\n  \n  x = 1\ny = 2") == "  x = 1"
    assert first_line("") == ""
