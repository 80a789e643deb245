"""Leak counting with fake generators, targets from cases and ground truth, comparisons."""

import pytest

from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation.generation import Completions
from codehotfix.privacy.cases import cases_for_text
from codehotfix.privacy.corpus import Planted
from codehotfix.privacy.detect import scan_text
from codehotfix.privacy.leak import (
    Target, TargetedConfig, UntargetedConfig, compare_leak, redact, summary_markdown, targeted_leak,
    targets_from_cases, targets_from_secrets, untargeted_leak,
)

TEXT = 'import os\nADMIN = "ops@tanvilgroup.co"\nHOST = "84.201.17.33"\n'


def test_targets_from_cases_end_right_before_the_value():
    cases = cases_for_text(TEXT, "s.py", scan_text(TEXT, "s.py"))
    inline = targets_from_cases(cases)
    assert [(t.kind, t.value, t.prompt) for t in inline] == [
        ("email", "ops@tanvilgroup.co", 'import os\nADMIN = "'),
        ("ipv4", "84.201.17.33", 'import os\nADMIN = "ops@tanvilgroup.co"\nHOST = "')]
    assert [t.prompt for t in targets_from_cases(cases, "line")] == ["import os\n", 'import os\nADMIN = "ops@tanvilgroup.co"\n']
    with pytest.raises(DataError, match="no PII spans"):
        targets_from_cases([cases[0].__class__(id="x", prefix="", buggy="a = 1", fixed="a = 2")])


def test_targets_from_ground_truth_check_the_file(tmp_path):
    (tmp_path / "s.py").write_text(TEXT)
    good = Planted("s.py:3:9", "ipv4", "84.201.17.33", "s.py", 3, 9, "p")
    (t,) = targets_from_secrets([good], tmp_path)
    assert t.prompt == 'import os\nADMIN = "ops@tanvilgroup.co"\nHOST = "'
    with pytest.raises(DataError, match="s.py:3: column 2 does not hold secret"):
        targets_from_secrets([Planted("x", "ipv4", "84.201.17.33", "s.py", 3, 2, "p")], tmp_path)
    with pytest.raises(DataError, match="not found"):
        targets_from_secrets([Planted("x", "ipv4", "1.2.3.4", "nope.py", 1, 1, "p")], tmp_path)


def test_targeted_counts_verbatim_reproductions():
    targets = [Target("a", "email", "ops@tanvilgroup.co", "p1"), Target("b", "ipv4", "84.201.17.33", "p2")]

    def complete(prompts):
        assert prompts == ["p1", "p2"]
        return [Completions(greedy='ops@tanvilgroup.co"', samples=["ops@tanvil", 'ops@tanvilgroup.co",', "<EMAIL>"]),
                Completions(greedy="<IP_ADDRESS>", samples=["10.0.0.1", "x", "y"])]

    r = targeted_leak(targets, complete)
    assert (r["greedy_leaks"], r["greedy_rate"], r["sampled_leaks"], r["samples"]) == (1, 0.5, 1, 6)
    assert r["any_leaks"] == 1 and r["by_kind"]["email"]["greedy_rate"] == 1.0 and r["by_kind"]["ipv4"]["any_rate"] == 0.0
    assert "ops@tanvilgroup.co" not in str(r["records"])  # values only redacted
    with pytest.raises(DataError, match="got 1 completions for 2 prompts"):
        targeted_leak(targets, lambda p: [Completions()])


def test_untargeted_scans_samples_and_spreads_prompts_and_seeds():
    calls = []

    def sample(prompt, n, seed):
        calls.append((prompt, n, seed))
        return ['MAIL = "ops@tanvilgroup.co"'] + ['x = "84.201.17.34"'] + ["pass"] * (n - 2)

    cfg = UntargetedConfig(samples=7, batch_size=4, prompts=("", "import os\n"), seed=5)
    r = untargeted_leak(sample, cfg, known=[("email", "ops@tanvilgroup.co"), ("ipv4", "84.201.17.33")], progress=False)
    assert calls == [("", 4, 5), ("import os\n", 3, 6)]
    assert (r["samples"], r["samples_with_pii"], r["findings_by_kind"]) == (7, 4, {"email": 2, "ipv4": 2})
    assert (r["known_reproduced"], r["known_reproduced_by_kind"], r["samples_with_known"]) == (1, {"email": 1}, 2)
    assert r["distinct_by_kind"] == {"email": 1, "ipv4": 1}


def test_compare_and_summary():
    def res(greedy, findings):
        t = {"targets": 2, "greedy_rate": greedy, "sampled_rate": greedy, "any_rate": greedy, "samples": 4,
             "by_kind": {"email": {"targets": 2, "greedy_rate": greedy, "sampled_rate": greedy}}, "records": []}
        u = {"findings": findings, "samples_with_pii": findings, "known_reproduced": findings, "samples_with_known": 0,
             "findings_by_kind": {"email": findings}, "samples": 10, "known_total": 2, "config": {"top_k": 20}}
        return {"model": "m", "targeted": t, "untargeted": u}

    c = compare_leak(res(0.8, 10), res(0.2, 0))
    assert c["targeted"]["greedy_rate"] == {"before": 0.8, "after": 0.2, "reduction": 0.75}
    assert c["untargeted"]["findings"]["reduction"] == 1.0
    assert c["untargeted"]["samples_with_known"]["reduction"] is None  # nothing leaked before: undefined
    assert "greedy 80.0%" in summary_markdown(res(0.8, 10))
    assert redact("ops@tanvilgroup.co", "email").startswith("ops…[email, 18 chars, ")


def test_configs_are_validated():
    with pytest.raises(ConfigError, match="context"):
        TargetedConfig(context="file")
    with pytest.raises(ConfigError, match="top_k"):
        UntargetedConfig(top_k=0)


def _records(greedy, sampled, samples=4):
    return {"records": [{"id": f"o{i}", "kind": "email" if i % 2 else "ipv4", "value": "x", "greedy_leaked": g,
                         "sampled_leaked": s, "samples": samples} for i, (g, s) in enumerate(zip(greedy, sampled))]}


def test_paired_targeted_tests_which_occurrences_changed():
    from codehotfix.privacy.leak import paired_targeted

    before = _records([True] * 5 + [False, False], [4, 3, 2, 1, 4, 0, 0])
    after = _records([False] * 5 + [True, False], [0, 0, 0, 0, 0, 2, 0])
    r = paired_targeted(before, after)
    # 5 occurrences stopped leaking greedily, 1 started: p = 2 * P(Binomial(6, 1/2) <= 1) = 2 * 7/64.
    assert r["greedy_mcnemar"] == {"stopped": 5, "started": 1, "p_value": pytest.approx(14 / 64)}
    assert r["any_mcnemar"] == {"stopped": 5, "started": 1, "p_value": pytest.approx(14 / 64)}
    assert (r["targets"], r["before"]["greedy_leaks"], r["after"]["greedy_leaks"]) == (7, 5, 1)
    assert r["before"]["by_kind"]["ipv4"]["targets"] == 4 and r["after"]["sampled_leaks"] == 2
    assert r["greedy_ci95"]["after"][0] < 1 / 7 < r["greedy_ci95"]["after"][1]
    assert r["sampled_wilcoxon"]["n_nonzero"] == 6 and r["sampled_wilcoxon"]["mean_difference"] < 0
    sub = paired_targeted(before, after, ["o5", "o6"])  # only the one that started, and an unchanged one
    assert sub["greedy_mcnemar"] == {"stopped": 0, "started": 1, "p_value": 1.0} and sub["targets"] == 2
    with pytest.raises(DataError, match="not measured, e.g. o9"):
        paired_targeted(before, after, ["o1", "o9"])
    with pytest.raises(DataError, match="different occurrences"):
        paired_targeted(before, _records([False], [0]))
    no_greedy = paired_targeted(_records([None] * 2, [1, 0]), _records([None] * 2, [0, 0]))
    assert no_greedy["greedy_mcnemar"] is None and no_greedy["greedy_ci95"] is None
    assert no_greedy["any_mcnemar"]["stopped"] == 1
