"""collect + analyze: malformed inputs fail naming the file and the field; the numbers are the paired
statistics of the same cases, checked against scipy directly."""

from __future__ import annotations

import json
import math

import pytest
from report_runs import AFTER, BEFORE, HE_BASE
from scipy.stats import binomtest, wilcoxon

from codehotfix.errors import DataError
from codehotfix.report import analyze, collect


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_paired_statistics_match_scipy(make_run):
    n = analyze(collect(make_run(parts=("rates",))))
    tests = n["rates"]["tests"]
    # Greedy buggy line: cases that were buggy and are not any more, and the reverse.
    lost = sum(b[0] == "buggy" and a[0] != "buggy" for b, a in zip(BEFORE, AFTER))
    gained = sum(a[0] == "buggy" and b[0] != "buggy" for b, a in zip(BEFORE, AFTER))
    assert (tests["greedy_buggy"]["lost"], tests["greedy_buggy"]["gained"]) == (lost, gained)
    assert tests["greedy_buggy"]["p_value"] == pytest.approx(binomtest(gained, lost + gained, 0.5).pvalue)
    # Sampled fixed rate per case: Wilcoxon signed-rank on the per-case rates.
    before = [s.count("fixed") / len(s) for _, s in BEFORE]
    after = [s.count("fixed") / len(s) for _, s in AFTER]
    assert tests["sampled_fixed"]["p_value"] == pytest.approx(wilcoxon(after, before).pvalue)
    low, high = tests["sampled_fixed"]["difference_ci95"]
    assert low <= sum(after) / 8 - sum(before) / 8 <= high
    # Per-group rows exist for both topics, and intervals bracket their rates.
    assert set(n["rates"]["groups"]) == {"t0", "t1"}
    ci = n["rates"]["intervals"]["greedy"]["buggy_before"]
    assert ci[0] < n["rates"]["comparison"]["greedy"]["buggy_before"] < ci[1]


def test_sampled_interval_when_every_case_has_the_same_rate(make_run):
    """Resampling cases whose rates are all 0 gives [0, 0]; the report uses Wilson over cases instead."""
    from codehotfix.evaluation.stats import wilson_interval

    run = make_run(parts=("rates",))
    _edit(run / "hotfix_eval.json", lambda d: [c.update(buggy_rate=0.0) for c in d["cases"]])
    n = analyze(collect(run))
    assert n["rates"]["intervals"]["sampled"]["buggy_after"] == pytest.approx(list(wilson_interval(0, 8)))
    assert n["rates"]["intervals"]["sampled"]["buggy_after"][1] > 0.2


def test_side_effect_numbers(make_run):
    n = analyze(collect(make_run(parts=("effects", "humaneval"))))
    assert n["locality"]["unchanged_ci95"][0] < 0.75 < n["locality"]["unchanged_ci95"][1]
    files = {f["id"]: f for f in n["perplexity"]["files"]}
    assert files["a.py"]["base"] == pytest.approx(math.exp(1.2))
    assert files["b.py"]["hotfixed"] == pytest.approx(math.exp(1.55))
    assert n["perplexity"]["note"] is not None  # the records (exp 1.4 pooled) do not give the file's 4.0
    assert n["humaneval"]["base"]["pass_at_k"]["pass@1"]["value"] == pytest.approx(sum(HE_BASE) / len(HE_BASE))
    assert n["time"]["phases"]["locality"] == 3.0 and n["time"]["phases"]["HumanEval base: generation"] == 12.5


@pytest.mark.parametrize("fname, edit, expected", [
    ("base_eval.json", lambda d: d["summary"]["greedy"].update(fixed_rate="x"),
     "base_eval.json: field 'summary.greedy.fixed_rate' must be a finite number"),
    ("hotfix_eval.json", lambda d: d["summary"]["sampled"].pop("n"),
     "hotfix_eval.json: missing field 'summary.sampled.n'"),
    ("hotfix_eval.json", lambda d: d["cases"][0].update(id="other"), "evaluate different cases"),
    ("hotfix_eval.json", lambda d: d["cases"][1].update(buggy_rate=1.5),
     "'cases[1].buggy_rate' must be a rate in [0, 1]"),
    ("perplexity.json", lambda d: d.update(relative_change=10.0), "perplexity.json: field 'relative_change' is 10.0"),
    ("locality.json", lambda d: d.update(kind="perplexity"), "locality.json: field 'kind' must be 'locality'"),
    ("locality.json", lambda d: d["records"][2].pop("kl"), "locality.json: missing field 'records[2].kl'"),
    ("variants.json", lambda d: d["kinds"]["rename"]["comparison"].pop("greedy"),
     "variants.json: missing field 'kinds.rename.comparison.greedy'"),
    ("execfix.json", lambda d: d["hotfixed"].update(pass_rate=None, greedy_pass_rate="high"),
     "execfix.json: field 'hotfixed.greedy_pass_rate' must be a finite number"),
    ("humaneval_hotfix.json", lambda d: d["tasks"].pop(), "cover different HumanEval problems"),
    ("hotfix/hotfix.json", lambda d: d.pop("steps"), "hotfix.json: missing field 'steps'"),
])
def test_malformed_inputs_name_the_file_and_field(make_run, fname, edit, expected):
    run = make_run()
    _edit(run / fname, edit)
    with pytest.raises(DataError) as e:
        analyze(collect(run))
    assert expected in str(e.value) and fname.split("/")[-1] in str(e.value)


def test_invalid_json_and_log_lines_name_the_line(make_run):
    run = make_run(parts=("rates", "train"))
    (run / "hotfix" / "train_log.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"loss": 0.5}\n')
    with pytest.raises(DataError, match=r"train_log.jsonl: missing field 'line 2.step'"):
        collect(run)
    (run / "hotfix" / "train_log.jsonl").write_text('{"step": 1}\n{"step": 2,\n')
    with pytest.raises(DataError, match=r"train_log.jsonl:2: invalid JSON"):
        collect(run)
    (run / "base_eval.json").write_text('{\n  "summary": oops\n}')
    with pytest.raises(DataError, match=r"base_eval.json:2: invalid JSON"):
        collect(run)


def test_missing_folder_and_generic_kind_files(make_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        collect(tmp_path / "nope")
    run = make_run(parts=("other",))
    (run / "notes.json").write_text('{"no": "kind"}')  # not a result: ignored
    report = collect(run)
    assert [k.kind for k in report.other] == ["pii"]
    assert {m.section for m in report.missing} >= {"fixed/buggy rates", "training", "locality"}
