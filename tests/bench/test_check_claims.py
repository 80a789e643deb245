"""Every measured number in the docs is recomputed from its committed raw file (bench/check_claims.py):
green on the repository, red when a quoted number, a quote or a raw file is changed by hand, and
red when a doc reports a measurement-looking number no claim covers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# bench/ lives next to src/, not inside the package; make `import bench` work under plain `pytest`.
sys.path.insert(0, str(ROOT))

from bench.check_claims import check, lookup, main, parse_number, quote_regex, uncovered  # noqa: E402
from bench.claims import CLAIMS, COVERED_DOCS, EXEMPT_DOCS, NOT_MEASURED  # noqa: E402


def _copy_docs(dst: Path) -> Path:
    shutil.copy(ROOT / "README.md", dst / "README.md")
    shutil.copytree(ROOT / "docs", dst / "docs")
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_every_registered_claim_matches_its_raw_file():
    problems = check(CLAIMS)
    assert problems == [], "\n".join(map(str, problems))


def test_no_measurement_looking_number_is_unregistered():
    problems = uncovered(CLAIMS, NOT_MEASURED, COVERED_DOCS)
    assert problems == [], "\n".join(map(str, problems))


def test_every_doc_is_covered_or_exempt_with_a_reason():
    docs = {"README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))}
    assert docs == set(COVERED_DOCS) | (set(EXEMPT_DOCS) & docs)
    assert all(len(reason) > 20 for reason in EXEMPT_DOCS.values())
    # Every doc that quotes a measurement has claims; those without any measured number have none.
    assert {c.doc for c in CLAIMS} <= set(COVERED_DOCS)


def test_main_is_green_on_the_repository(capsys):
    assert main([]) == 0
    assert "all match" in capsys.readouterr().err


def test_a_number_changed_by_hand_fails_naming_doc_claim_and_both_values(tmp_path, capsys):
    docs = _copy_docs(tmp_path)
    _edit(docs / "README.md", "13 problems lost, 10 gained, McNemar exact p = 0.68",
          "13 problems lost, 10 gained, McNemar exact p = 0.05")
    problems = check(CLAIMS, docs_root=docs, fresh=False)
    assert [(p.doc, p.claim) for p in problems] == [("README.md", "demo-humaneval")]
    assert "quoted 0.05, recomputed 0.677639" in problems[0].message
    assert main(["--docs-root", str(docs)]) == 1
    out = capsys.readouterr().out
    assert "README.md: claim 'demo-humaneval': quoted 0.05, recomputed 0.677639" in out


@pytest.mark.parametrize("doc, old, new, claim", [
    ("docs/study.md", "| 5.96 ± 2.59 |", "| 5.96 ± 2.49 |", "pysstubs-row-lora-preference"),
    ("docs/side-effects.md", "Wilcoxon p = 0.52", "Wilcoxon p = 0.05", "se-perplexity"),
    ("docs/speed.md", "| 83 s | 1.00× |", "| 38 s | 1.00× |", "cost-codehotfix"),
    ("docs/privacy.md", "| 46.9% (95% CI 35.2–58.9%)", "| 49.6% (95% CI 35.2–58.9%)",
     "privacy-targeted, greedy (64 occurrences)"),
    ("docs/serving.md", "| 8 | 32 | 0 | 6.5 |", "| 8 | 32 | 0 | 6.6 |", "serve-load-tiny"),
    ("docs/serving.md", "Levels 1 and 2 stopped", "Levels 1 and 4 stopped", "serve-load-default-short"),
    ("docs/evaluation.md", "went 0.333 → 0.800", "went 0.333 → 0.810", "eval-split-demo"),
])
def test_each_kind_of_source_catches_a_changed_number(tmp_path, doc, old, new, claim):
    docs = _copy_docs(tmp_path)
    _edit(docs / doc, old, new)
    assert [(p.doc, p.claim) for p in check(CLAIMS, docs_root=docs, fresh=False)] == [(doc, claim)]


def test_a_rounding_within_the_quoted_digits_passes_and_one_beyond_fails(tmp_path):
    docs = _copy_docs(tmp_path)
    _edit(docs / "README.md", "HumanEval greedy pass@1 0.445 (95% CI", "HumanEval greedy pass@1 0.45 (95% CI")
    assert check(CLAIMS, docs_root=docs, fresh=False) == []  # 0.4451 rounds to 0.45 at two digits
    _edit(docs / "README.md", "HumanEval greedy pass@1 0.45 (95% CI", "HumanEval greedy pass@1 0.446 (95% CI")
    assert [p.claim for p in check(CLAIMS, docs_root=docs, fresh=False)] == ["demo-humaneval"]


def test_a_removed_quote_fails(tmp_path):
    docs = _copy_docs(tmp_path)
    _edit(docs / "docs/humaneval.md", "| base | 0.445 | 73/164 |", "| base | 0.445 | 73 of 164 |")
    problems = check(CLAIMS, docs_root=docs, fresh=False)
    assert [(p.doc, p.claim) for p in problems] == [("docs/humaneval.md", "he-base-row")]
    assert "quote no longer found" in problems[0].message


def test_an_unregistered_measurement_fails(tmp_path):
    docs = _copy_docs(tmp_path)
    _edit(docs / "docs/default-pack.md", "Twelve topics came out as targets;",
          "Twelve topics came out as targets (41.7% of the cases);")
    problems = uncovered(CLAIMS, NOT_MEASURED, COVERED_DOCS, docs_root=docs)
    assert [(p.doc, p.claim) for p in problems] == [("docs/default-pack.md", "(unregistered)")]
    assert "'41.7%'" in problems[0].message


def test_a_changed_raw_file_fails(tmp_path):
    root = tmp_path / "root"
    for part in ("docs/results", "bench/results", "configs", "src/codehotfix/data/packs"):
        shutil.copytree(ROOT / part, root / part)
    report = root / "docs/results/demo-report.json"
    data = json.loads(report.read_text(encoding="utf-8"))
    data["humaneval"]["paired"]["lost"] = 21
    report.write_text(json.dumps(data), encoding="utf-8")
    claims = {p.claim for p in check(CLAIMS, root=root)}
    assert {"demo-humaneval", "he-paired", "se-humaneval", "report-example-humaneval"} <= claims
    (root / "bench/results/hotfix_cost.json").unlink()
    missing = [p for p in check(CLAIMS, root=root) if p.claim == "cost-codehotfix"]
    assert missing and "cannot recompute" in missing[0].message


def test_numbers_parse_with_the_docs_rounding():
    assert parse_number("0.445") == (0.445, pytest.approx(0.0005))
    assert parse_number("−4.67") == (-4.67, pytest.approx(0.005))
    assert parse_number("4,399,104") == (4399104.0, 0.5)
    assert parse_number("2.4e-07") == (2.4e-07, pytest.approx(0.05e-07))
    assert parse_number("5e-4") == (5e-4, pytest.approx(0.5e-4))


def test_quotes_cross_line_breaks_and_escape_markdown():
    rx = quote_regex("| base | {n} ({x}) | p = {n} |")
    assert rx.search("| base |\n  0.445 (73) | p = 0.68 |").groups() == ("0.445", "0.68")
    assert rx.search("| base | 0.445 73 | p = 0.68 |") is None


def test_every_claim_recomputes_without_torch():
    # The checker must run where only numpy/scipy are installed: a claim whose recompute imports torch
    # (through a package __init__ or config → models) fails there. A finder first on sys.meta_path makes
    # `import torch` fail as on such a machine (None in sys.modules would not: scipy probes that entry).
    code = ("import runpy, sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(\"No module named 'torch'\", name=name)\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "sys.argv = ['check_claims.py']\n"
            "runpy.run_path('bench/check_claims.py', run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "all match" in out.stdout + out.stderr


def test_two_runs_on_different_prompts_are_refused_naming_both_files(tmp_path, monkeypatch):
    from bench import check_claims

    monkeypatch.setattr(check_claims, "ROOT_OF", [tmp_path])

    def write(name, records):
        (tmp_path / name).write_text(json.dumps({"records": records}), encoding="utf-8")

    write("a.json", [{"id": "p1", "unchanged": True, "kl": 0.1}, {"id": "p2", "unchanged": False, "kl": 0.3}])
    write("b.json", [{"id": "p2", "unchanged": True, "kl": 0.2}, {"id": "p1", "unchanged": True, "kl": 0.0}])
    write("c.json", [{"id": "p1", "unchanged": True, "kl": 0.1}, {"id": "p3", "unchanged": True, "kl": 0.1}])
    # paired by id, not by position: p2 goes from kept (b) to changed (a), p1 stays kept
    n, kept, _, _, mean_kl, gained, lost, p, _ = check_claims.locality_runs(tmp_path / "a.json", "b.json")
    assert (n, kept, gained, lost, p) == (2, 1, 0, 1, 1.0)
    assert mean_kl == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"a\.json and c\.json hold different prompts"):
        check_claims.locality_runs(tmp_path / "a.json", "c.json")


def test_two_sequence_steps_are_paired_by_item_against_a_base_that_holds_more(tmp_path, monkeypatch):
    from bench import check_claims

    monkeypatch.setattr(check_claims, "ROOT_OF", [tmp_path])

    def case(cid, label, valid=True):
        return {"id": cid, "events": {"split": {"greedy": {"label": label, "valid": valid}}}}

    def write(name, cases, passed=None, unchanged=None):
        doc = {"eval": {"cases": cases}}
        if passed is not None:
            doc["humaneval"] = {"passed": passed}
        if unchanged is not None:
            doc["locality"] = {"records": [{"id": k, "unchanged": v, "kl": 0.0} for k, v in unchanged.items()]}
        (tmp_path / name).write_text(json.dumps(doc), encoding="utf-8")

    # the base holds a context (c3) the step does not measure: it is left out, not counted
    write("base.json", [case("c1", "buggy"), case("c2", "fixed"), case("c3", "fixed")], passed={"t1": True, "t2": True})
    write("step.json", [case("c2", "other", valid=False), case("c1", "fixed")], passed={"t2": False, "t1": True},
          unchanged={"p1": True, "p2": False})
    write("other.json", [case("c1", "fixed"), case("c9", "fixed")], unchanged={"p2": True, "p1": True})
    # c1 gained (buggy → fixed), c2 lost (fixed → other): paired by id, not by position
    assert check_claims.step_versus(tmp_path / "step.json", "base.json", "split", "label=fixed") == (2, 1, 1, 1, 1, 1.0)
    assert check_claims.step_versus(tmp_path / "step.json", "base.json", "split", "valid")[3:5] == (0, 1)
    assert check_claims.step_versus(tmp_path / "step.json", "base.json", "humaneval")[:5] == (2, 1, 2, 0, 1)
    # locality against another strategy's step; and a step that lacks one of src's items is an error
    with pytest.raises(ValueError, match=r"step\.json and other\.json hold different items"):
        check_claims.step_versus(tmp_path / "step.json", "other.json", "split", "label=fixed")
    write("other.json", [case("c1", "fixed"), case("c2", "fixed")], unchanged={"p2": True, "p1": True})
    assert check_claims.step_versus(tmp_path / "step.json", "other.json", "locality")[:5] == (2, 1, 2, 0, 1)
    # only the contexts of some of the step's hotfixes (1-based, inclusive): here the second one
    doc = json.loads((tmp_path / "step.json").read_text())
    doc["hotfixes"] = ["g1", "g2"]
    doc["eval"]["cases"] = [dict(c, group="g1" if c["id"] == "c1" else "g2") for c in doc["eval"]["cases"]]
    (tmp_path / "step2.json").write_text(json.dumps(doc), encoding="utf-8")  # files are read once: new names
    base = json.loads((tmp_path / "base.json").read_text())
    base["eval"]["cases"] = [dict(c, group={"c1": "g1", "c2": "g2", "c3": "g3"}[c["id"]]) for c in base["eval"]["cases"]]
    (tmp_path / "base2.json").write_text(json.dumps(base), encoding="utf-8")
    assert check_claims.step_versus(tmp_path / "step2.json", "base2.json", "split", "label=fixed", 2, 2)[:5] == (1, 0, 1, 0, 1)
    # a later step (more hotfixes) against an earlier one: the earlier step's items only
    assert check_claims.step_versus(tmp_path / "base.json", "step.json", "split", "label=fixed")[:5] == (2, 1, 1, 1, 1)


def test_a_list_item_is_picked_by_one_or_several_fields():
    rows = {"systems": [{"seed": 0, "system": "a", "s": 1.5}, {"seed": 1, "system": "a", "s": 2.5},
                        {"seed": 1, "system": "b", "s": 3.5}]}
    assert lookup(rows, "systems[system=b].s") == 3.5
    assert lookup(rows, "systems[seed=1,system=a].s") == 2.5
    assert lookup(rows, "systems[seed=0,system=a].s*2") == 3.0
    with pytest.raises(StopIteration):
        lookup(rows, "systems[seed=0,system=b].s")


def test_window_shapes_tell_a_repeating_loop_from_a_long_varied_completion(tmp_path):
    from bench.check_claims import demo_window_shapes

    loop = "x = 1\n" + "asyncio.run(" * 20  # 240 characters, its tail one 12-character unit
    prose = "return web.json_response(out)\n```\n\nThis code defines a server that handles the calls " * 2
    short_loop = "ab" * 10  # repeats, but shorter than the 96 characters judged
    cases = [{"id": str(i), "events": {"window": {"greedy": {"text": t, "hit_budget": hit}}}}
             for i, (t, hit) in enumerate([(loop, True), (prose, True), (short_loop, False), ("pass\n", False)])]
    (tmp_path / "hotfix_eval.json").write_text(json.dumps({"cases": cases}), encoding="utf-8")
    # 4 windows, 2 at their budget, 1 of those a repeating loop, 1 holding a code fence
    assert demo_window_shapes(tmp_path, "hotfix_eval.json") == (4.0, 2.0, 1.0, 1.0)


def test_a_text_outcome_pairs_two_hotfixes_on_what_their_windows_hold(tmp_path, monkeypatch):
    """``text_has:``: a window holding a code fence, paired case by case between two demo folders."""
    import gzip

    from bench import check_claims
    from bench.check_claims import demo_versus

    def write(folder: str, texts: list[str]) -> None:
        (tmp_path / folder).mkdir()
        cases = [{"id": str(i), "events": {"window": {"greedy": {"text": t}}}} for i, t in enumerate(texts)]
        with gzip.open(tmp_path / folder / "hotfix_eval.json.gz", "wt") as f:
            json.dump({"cases": cases}, f)

    fence, code = "x = 1\n```\n\nThis code sets x.", "x = 1\ny = 2\n"
    write("before", [code, code, fence, code])
    write("after", [fence, fence, fence, code])
    monkeypatch.setattr(check_claims, "ROOT_OF", [tmp_path])  # where `other` is found
    # (cases, rate after, rate before, gained, lost, McNemar exact p): 2 windows gained a fence, none lost one
    assert demo_versus(tmp_path / "after", "before", "window", "text_has:```") == (4, 0.75, 0.25, 2, 0, 0.5)


def test_humaneval_speed_pairs_each_round_and_counts_stable_completions(tmp_path):
    import gzip

    from bench.check_claims import humaneval_speed

    def write(name: str, seconds: float, completions: list[str]) -> None:
        tasks = [{"task_id": f"HumanEval/{i}", "completions": [c]} for i, c in enumerate(completions)]
        with gzip.open(tmp_path / f"{name}.json.gz", "wt") as f:
            json.dump({"generation_s": seconds, "tasks": tasks}, f)

    for r, (base_s, hot_s) in enumerate([(10.0, 12.0), (10.0, 15.0), (8.0, 10.0)], start=1):
        write(f"base-{r}", base_s, ["ab", "cde"])
        write(f"hotfix-{r}", hot_s, ["a", "xyz" if r == 1 else "xy"])  # problem 1 differs between rounds
    got = humaneval_speed(tmp_path)
    # 3 rounds; ratios 1.2, 1.5, 1.25; median seconds 10 and 12; round 1 wrote 5 and 4 characters;
    # the base's completions are the same in every round (2), the hotfix's in one problem only
    assert got == pytest.approx((3, 1.25, 1.2, 1.5, 10.0, 12.0, 5, 4, 2, 1))


def test_eval_time_pairs_each_round_counts_tokens_loops_and_stable_rounds(tmp_path):
    import gzip

    from bench.check_claims import eval_time, humaneval_longest

    def case(cid: str, text: str, tokens: int, budget: bool) -> dict:
        greedy = {"text": text, "hit_budget": budget}
        return {"id": cid, "events": {"line": {"greedy": greedy, "new_tokens": tokens},
                                      "split": {"greedy": greedy, "new_tokens": 2},
                                      "window": {"greedy": greedy, "new_tokens": tokens}}}

    def write(name: str, seconds: float, cases: list[dict]) -> None:
        with gzip.open(tmp_path / f"{name}.json.gz", "wt") as f:
            json.dump({"seconds": seconds, "cases": cases}, f)

    for r, (base_s, hot_s) in enumerate([(10.0, 13.0), (8.0, 12.0), (10.0, 11.0)], start=1):
        write(f"base-{r}", base_s, [case("a", "x = 1", 5, False), case("b", "y = 2", 7, False)])
        looped = "f(f(f(" if r < 3 else "f(f("  # round 3 wrote another text: two stable rounds of three
        write(f"kl-{r}", hot_s, [case("a", "x = 2", 6, False), case("b", looped, 128, True)])
    # 3 rounds; ratios 1.3, 1.5, 1.1; median seconds 10 and 12; split + window tokens of round 1: base
    # 2 + 5 + 2 + 7 = 16, kl 2 + 6 + 2 + 128 = 138; 1 window at its budget; stable rounds 3 and 2
    assert eval_time(tmp_path, "kl") == pytest.approx((3, 1.3, 1.1, 1.5, 10.0, 12.0, 16, 138, 1, 3, 2))
    with gzip.open(tmp_path / "he.json.gz", "wt") as f:
        json.dump({"tasks": [{"task_id": "HumanEval/0", "completions": ["ab", "abcd"]},
                             {"task_id": "HumanEval/1", "completions": ["abc"]}]}, f)
    assert humaneval_longest(tmp_path / "he.json.gz") == 4.0
    assert humaneval_longest(tmp_path / "he.json.gz", "HumanEval/1") == 3.0
