"""The matching rule shared by the prompt hotfix and the guard: own context matches, a lightly edited
context matches, other code does not, the threshold and the statement being started are honoured."""

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.errors import ConfigError, DataError
from codehotfix.online.matching import MatchConfig, code_tail, comment_prefix, match_cases, split_completion_point

CASE = HotfixCase(id="yaml/0", prefix="import yaml\n\n\ndef load(path):\n    with open(path) as f:\n",
                  buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)")
OTHER = HotfixCase(id="none/0", prefix="def check(value):\n    value = normalize(value)\n",
                   buggy="    if value == None:", fixed="    if value is None:")


def test_split_and_tail_skip_blank_and_comment_lines():
    assert split_completion_point("a\nb = ") == ("a\n", "b = ")
    assert split_completion_point("a\n") == ("a\n", "")
    text = "x = 1\n\n# a comment\ny = 2\n    // also a comment\n"
    assert code_tail(text, 2) == ["x = 1", "y = 2"]


def test_own_context_matches_with_score_one_and_other_code_does_not():
    [m] = match_cases(CASE.prefix, [CASE, OTHER])
    assert m.case is CASE and m.score == 1.0
    [m] = match_cases(OTHER.prefix, [CASE, OTHER])
    assert m.case is OTHER
    assert match_cases("import os\n\nprint(os.getcwd())\n", [CASE, OTHER]) == []


def test_reformatted_and_renamed_context_matches_below_one_and_threshold_decides():
    edited = "import yaml\n\ndef load(path):\n    with open(path)  as fh:\n"  # renamed, respaced
    [m] = match_cases(edited, [CASE])
    assert 0.8 <= m.score < 1.0
    assert match_cases(edited, [CASE], MatchConfig(threshold=min(1.0, m.score + 0.01))) == []


def test_a_steering_comment_above_the_completion_point_does_not_change_the_match():
    commented = CASE.prefix + "        # hotfix: write `x` here\n"
    [m] = match_cases(commented, [CASE])
    assert m.score == 1.0


def test_statement_being_started_must_agree_with_the_case():
    assert match_cases(CASE.prefix + "        return yaml.", [CASE])  # prefix of buggy and fixed
    assert match_cases(CASE.prefix + "        return yaml.safe", [CASE])  # prefix of fixed
    assert match_cases(CASE.prefix + "        print(", [CASE]) == []


def test_case_with_one_context_line_compares_one_line_and_empty_prefix_matches_file_start():
    short = HotfixCase(id="s", prefix="def check(value):\n", buggy="    if value == None:",
                       fixed="    if value is None:")
    assert match_cases("import os\nx = 3\n\ndef check(value):\n", [short])  # only the last line counts
    start = HotfixCase(id="f", prefix="", buggy="import imp", fixed="import importlib")
    assert match_cases("", [start]) and match_cases("x = 1\n", [start]) == []


def test_max_matches_and_best_first():
    near = HotfixCase(id="near", prefix="import yaml\n\n\ndef load(path):\n    with open(path) as fh:\n",
                      buggy="        return yaml.load(fh)", fixed="        return yaml.safe_load(fh)")
    found = match_cases(CASE.prefix, [near, CASE], MatchConfig(max_matches=2))
    assert [m.case.id for m in found] == ["yaml/0", "near"] and found[0].score > found[1].score
    assert len(match_cases(CASE.prefix, [near, CASE])) == 1


def test_default_pack_cases_match_only_themselves():
    from codehotfix.data.packs import load_pack

    cases = load_pack("default")
    for case in cases[::3]:
        found = match_cases(case.prefix, cases, MatchConfig(max_matches=5))
        assert [m.case.id for m in found] == [case.id]


def test_config_and_language_errors():
    with pytest.raises(ConfigError, match="match.threshold"):
        MatchConfig(threshold=1.5)
    with pytest.raises(ConfigError, match="match.tail_lines"):
        MatchConfig(tail_lines=0)
    assert comment_prefix("python") == "#" and comment_prefix("Java") == "//" and comment_prefix("sql") == "--"
    with pytest.raises(DataError, match="case 'x'.*'cobol'.*known:"):
        comment_prefix("cobol", "case 'x'")
