"""build_report and ``codehotfix report``: one self-contained HTML page, Markdown with the same numbers,
missing parts named with the command that makes them, and the overwrite rule."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image
from report_runs import AFTER, BEFORE, HE_BASE, HE_HOT
from scipy.stats import binomtest

from codehotfix.cli import main
from codehotfix.errors import CodehotfixError
from codehotfix.report import build_report


def _rate(labels, which, sampled):
    flat = [s for _, ss in labels for s in ss] if sampled else [g for g, _ in labels]
    return flat.count(which) / len(flat)


def _signed_pct(x):
    return f"{x:+.1f}%".replace("-", "\u2212")


def test_full_report_is_self_contained_and_states_the_numbers(make_run):
    run = make_run()
    paths = build_report(run)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    numbers = json.loads(paths.json.read_text())

    # One file: every src/href is a data: URI or an in-page anchor, and every image decodes.
    refs = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("data:", "#")) for r in refs)
    images = [r for r in refs if r.startswith("data:image/png;base64,")]
    assert len(images) >= 6  # rates overall, per group, HumanEval, locality, perplexity, training, time
    for uri in images:
        Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).verify()

    # Headline: sampled fixed/buggy before→after and relative change, computed here from the inputs.
    fb, fa = _rate(BEFORE, "fixed", True), _rate(AFTER, "fixed", True)
    bb, ba = _rate(BEFORE, "buggy", True), _rate(AFTER, "buggy", True)
    sampled = (f"Sampled fixed rate {_signed_pct(100 * (fa - fb) / fb)} ({fb:.3f}→{fa:.3f}), "
               f"buggy {_signed_pct(100 * (ba - bb) / bb)} ({bb:.3f}→{ba:.3f})")
    # Greedy fixed rate before is 0: the relative change is undefined and says so.
    greedy = f"Greedy fixed rate n/a (base rate 0) (0.000→{_rate(AFTER, 'fixed', False):.3f})"
    # HumanEval: McNemar exact = two-sided binomial test on the discordant pairs.
    lost = sum(b and not a for b, a in zip(HE_BASE, HE_HOT))
    gained = sum(a and not b for b, a in zip(HE_BASE, HE_HOT))
    p = binomtest(gained, lost + gained, 0.5).pvalue
    pb, pa = sum(HE_BASE) / len(HE_BASE), sum(HE_HOT) / len(HE_HOT)
    he = f"HumanEval pass@1 {pb:.3f}→{pa:.3f}"
    he_test = f"{lost} problems lost, {gained} gained; McNemar exact p={p:.2f}"
    verdict = "not significant at 0.05" if p >= 0.05 else "significant at 0.05"
    for text in (sampled, greedy, he, he_test, verdict, "+108.42%", "\u221250.47%"):
        assert text in html, text
        assert text in md, text
    assert numbers["humaneval"]["paired"]["p_value"] == pytest.approx(p)
    assert numbers["rates"]["comparison"]["sampled"]["fixed_after"] == pytest.approx(fa)

    # Side effects and the generic 'kind' file are shown with their numbers.
    for text in ("75.0% of 4 unrelated prompts unchanged", "Perplexity on retain-mini: 4.000→4.400 (+10.0%",
                 "rename", "Executed fixes: greedy pass rate 0.300→0.700", "pii (pii_leak.json)",
                 "leaked_after", "detail.secrets"):
        assert text in html and text in md, text
    assert "Missing" not in html and numbers["missing"] == []


def test_missing_parts_say_what_is_missing_and_which_command_makes_it(make_run):
    run = make_run("only-humaneval", parts=("humaneval",))
    paths = build_report(run)
    html, md = paths.html.read_text(), paths.markdown.read_text()
    for text in ("Missing fixed/buggy rates: base_eval.json, hotfix_eval.json", "codehotfix demo --out RUN_DIR",
                 "Missing training: hotfix/hotfix.json", "Missing locality: locality.json",
                 "Missing perplexity", "Missing variants", "Missing execfix"):
        assert text in html and text in md, text
    # The HumanEval part is still there, and no rates figure was drawn from nothing.
    assert "HumanEval pass@1" in html and "Fixed/buggy rates, overall" not in html


def test_summary_json_alone_gives_rates_but_no_paired_tests(make_run, tmp_path):
    from codehotfix.evaluation.rates import compare

    run = make_run("summary-only", parts=())
    full = make_run("full", parts=("rates",))
    base, hot = (json.loads((full / f).read_text())["summary"] for f in ("base_eval.json", "hotfix_eval.json"))
    (run / "summary.json").write_text(json.dumps({
        "comparison": compare(base, hot),
        "by_topic": {g: {"before": base["by_group"][g], "after": hot["by_group"][g]} for g in base["by_group"]},
        "seconds": {"base eval": 1.0, "training": 2.0, "total": 3.5}}))
    numbers = json.loads(build_report(run).json.read_text())
    assert numbers["rates"]["comparison"]["sampled"]["buggy_before"] == pytest.approx(base["sampled"]["buggy_rate"])
    assert numbers["rates"]["comparison"]["sampled"]["n_before"] == base["sampled"]["n"]
    assert numbers["rates"]["tests"] == {}
    assert "No paired tests" in (run / "report.md").read_text()
    assert numbers["time"]["phases"] == {"base eval": 1.0, "training": 2.0}


def test_regenerating_own_report_is_fine_another_runs_needs_force(make_run, tmp_path):
    a, b = make_run("a", parts=("humaneval",)), make_run("b", parts=("humaneval",))
    out = tmp_path / "out"
    build_report(a, out)
    build_report(a, out)  # same run, same place: allowed
    with pytest.raises(CodehotfixError, match="--force"):
        build_report(b, out)
    assert json.loads((out / "report.json").read_text())["run_dir"] == str(a.resolve())
    build_report(b, out, force=True)
    assert json.loads((out / "report.json").read_text())["run_dir"] == str(b.resolve())
    # A report.html nobody can attribute (no report.json) is a user file too.
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "report.html").write_text("mine")
    with pytest.raises(CodehotfixError, match="not written by codehotfix report"):
        build_report(a, tmp_path / "c")
    assert (tmp_path / "c" / "report.html").read_text() == "mine"


def test_cli_writes_the_report_and_errors_name_the_file(make_run, capsys):
    run = make_run("cli", parts=("rates", "humaneval"))
    main(["report", str(run)])
    printed = json.loads(capsys.readouterr().out)
    assert printed["html"] == str(run / "report.html") and (run / "report.html").is_file()
    assert any(v.startswith("HumanEval pass@1") for v in printed["verdict"])
    assert "training" in printed["missing"]

    (run / "locality.json").write_text('{"kind": "locality", "prompts": 3, "unchanged_fraction": 2.0}')
    with pytest.raises(SystemExit) as e:
        main(["report", str(run)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err
    assert "locality.json" in err and "unchanged_fraction" in err


def test_rates_section_has_a_table_per_event(make_run):
    run = make_run(parts=("rates",))
    paths = build_report(run)
    md = paths.markdown.read_text()
    numbers = json.loads(paths.json.read_text())
    events = numbers["rates"]["events"]
    # Records written before the events existed: only the line event, read from greedy/sample labels.
    assert list(events["events"]) == ["line"] and events["cases"] == 8
    rows = {(r["mode"], r["metric"]): r for r in events["events"]["line"]["rows"]}
    # Greedy fixed 0/8 → 6/8: 6 gained, 0 lost, McNemar p = 2 × 0.5^6.
    assert rows[("greedy", "fixed")]["p"] == pytest.approx(binomtest(6, 6).pvalue)
    assert rows[("greedy", "fixed")]["detail"] == "6 gained, 0 lost"
    assert all(r["p_holm"] >= r["p"] for r in rows.values())
    assert "Event 'line'" in md and "Holm p" in md and "not significant" in md
    # Each event is named above its own table, not below it (where it read as the next table's title).
    header = "| metric | mode | before (95% CI) |"
    assert md.index("Event 'line'") < md.index(header)
    assert md.count(header) == md.count("Event '")


def test_split_event_verdicts_lead_the_headlines():
    from codehotfix.evaluation.tasks.rates import RatesTask

    def row(metric, mode, before, after, detail, p, holm, verdict):
        return {"metric": metric, "mode": mode, "cases": 12, "before": before, "after": after, "detail": detail,
                "p": p, "p_holm": holm, "verdict": verdict}

    events = {"cases": 12, "alpha": 0.05, "events": {
        "line": {"rows": [row("fixed", "greedy", 0.0, 0.083, "1 gained, 0 lost", 1.0, 1.0, "not significant")]},
        "split": {"rows": [row("fixed", "greedy", 0.25, 0.5, "4 gained, 1 lost", 0.375, 1.0, "not significant"),
                           row("other", "greedy", 0.5, 0.5, "1 gained, 1 lost", 1.0, 1.0, "not significant"),
                           row("toward_fixed", "greedy", 0.583, 0.833, "3 gained, 0 lost", 0.25, 1.0,
                               "not significant"),
                           row("fixed", "sampled", 0.1, 0.4, "8 cases changed", 0.03, 0.4, "not significant")]}}}
    lines = RatesTask().headlines({"events": events, "headlines": ["rates"], "tests": {}})
    # Only the split event's greedy fixed / toward-fixed / buggy rows, before the whole-line rates.
    assert len(lines) == 3 and lines[-1] == "rates"
    assert lines[0].startswith("Split event, greedy, exactly the fixed line: 0.250→0.500 on 12 cases (4 gained, 1 lost")
    assert "toward the fixed line: 0.583→0.833" in lines[1] and lines[1].endswith("not significant")
    assert RatesTask().headlines({"events": {"events": {"line": events["events"]["line"]}},
                                  "headlines": ["rates"], "tests": {}}) == ["rates"]
