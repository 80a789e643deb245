"""Aggregation and before/after comparison of rates."""

import pytest
import torch

from codehotfix.evaluation.classify import first_line
from codehotfix.evaluation.rates import compare, summarize


def _rec(group, greedy, samples, margin):
    return {"group": group, "greedy_label": greedy, "sample_labels": samples, "margin": margin}


def test_summarize_pools_samples_and_groups():
    recs = [_rec("a", "buggy", ["buggy", "buggy", "fixed", "other"], -2.0),
            _rec("b", "fixed", ["fixed", "fixed", "fixed", "other"], 3.0)]
    s = summarize(recs)
    assert s["greedy"] == {"fixed_rate": 0.5, "buggy_rate": 0.5, "other_rate": 0.0, "n": 2}
    assert s["sampled"]["fixed_rate"] == 0.5 and s["sampled"]["buggy_rate"] == 0.25 and s["sampled"]["n"] == 8
    assert s["margin_mean"] == 0.5 and s["prefers_fixed"] == 0.5
    assert s["by_group"]["a"]["sampled"]["buggy_rate"] == 0.5


def test_compare_relative_changes_and_undefined_base():
    before = summarize([_rec("a", "buggy", ["buggy", "buggy", "fixed", "other"], -1.0)])
    after = summarize([_rec("a", "fixed", ["fixed", "fixed", "buggy", "other"], 2.0)])
    c = compare(before, after)
    assert c["sampled"]["fixed_change_pct"] == pytest.approx(100.0)
    assert c["sampled"]["buggy_change_pct"] == pytest.approx(-50.0)
    # Greedy fixed rate goes 0 → 1: a relative change is undefined, reported as None.
    assert c["greedy"]["fixed_change_pct"] is None
    assert (c["margin_before"], c["margin_after"]) == (-1.0, 2.0)


def test_prompt_transform_rewrites_generation_and_scoring_prompts(tiny_model, tiny_tokenizer, tiny_cases):
    import dataclasses

    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.generation import generate_completions
    from codehotfix.evaluation.rates import evaluate_cases, line_logprobs

    def transform(prefix):  # a comment above the yaml case's line only
        return prefix + "        # use safe_load\n" if "yaml" in prefix else prefix

    cfg = EvalConfig(samples=2, max_new_tokens=8)
    out = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, cfg, progress=False, prompt_transform=transform)
    assert [r["prompt_changed"] for r in out["cases"]] == [c.id == "yaml/0" for c in tiny_cases]
    rewritten = [dataclasses.replace(c, prefix=transform(c.prefix)) for c in tiny_cases]
    expected = line_logprobs(tiny_model, tiny_tokenizer, rewritten)
    assert [r["logp_fixed"] for r in out["cases"]] == [pytest.approx(f, abs=1e-3) for f, _ in expected]
    greedy = generate_completions(tiny_model, tiny_tokenizer, [c.prefix for c in rewritten], samples=0,
                                  max_new_tokens=8, progress=False)
    assert [r["greedy"] for r in out["cases"]] == [first_line(g.greedy) for g in greedy]
    plain = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    assert "prompt_changed" not in plain["cases"][0]
    assert plain["cases"][0]["logp_fixed"] != out["cases"][0]["logp_fixed"]
    assert [r["logp_fixed"] for r in plain["cases"][1:]] == [r["logp_fixed"] for r in out["cases"][1:]]


def test_logits_processor_factory_reaches_generation(tiny_model, tiny_tokenizer, tiny_cases):
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.rates import evaluate_cases

    newline = tiny_tokenizer("\n")["input_ids"][0]

    def only_newline(input_ids, scores):  # every completion becomes an empty line
        out = torch.full_like(scores, float("-inf"))
        out[:, newline] = 0.0
        return out

    out = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, EvalConfig(samples=2, max_new_tokens=4),
                         progress=False, logits_processor_factory=lambda prompts: only_newline)
    assert all(r["greedy"] == "" and r["samples"] == ["", ""] for r in out["cases"])
    assert out["summary"]["sampled"]["other_rate"] == 1.0


def test_events_are_recorded_and_summarised(tiny_model, tiny_tokenizer, tiny_cases):
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.compare import compare
    from codehotfix.evaluation.events import WINDOW_LINES
    from codehotfix.evaluation.rates import evaluate_cases

    out = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, EvalConfig(samples=2, max_new_tokens=8),
                         progress=False)
    rec = out["cases"][0]
    assert set(rec["events"]) == {"line", "split", "window"} and rec["validity_check"] == "file"
    # The line event judges the same completions as the legacy fields.
    assert rec["events"]["line"]["greedy"]["label"] == rec["greedy_label"]
    assert [s["label"] for s in rec["events"]["line"]["samples"]] == rec["sample_labels"]
    split = rec["events"]["split"]
    assert split["prompt_tail"] == "        return yaml." and split["token_aligned"]
    assert all(s["text"].startswith("        return yaml.") for s in split["samples"])
    assert all(s["text"].count("\n") <= WINDOW_LINES for s in rec["events"]["window"]["samples"])
    summary = out["summary"]["events"]
    assert summary["split"]["sampled"]["toward_fixed"]["n"] == 2 * len(tiny_cases)
    assert set(summary["window"]["greedy"]) >= {"contains_fixed", "pattern_buggy"}
    assert summary["window"]["greedy"]["pattern_buggy"] == {"rate": None, "count": 0, "n": 0}  # no patterns
    # Compared with itself, nothing changes and nothing is significant.
    table = compare(out, out)
    assert set(table["events"]) == {"line", "split", "window"}
    assert all(r["p"] == 1.0 and r["verdict"] == "not significant" for e in table["events"].values()
               for r in e["rows"])
    only_line = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases[:1],
                               EvalConfig(samples=1, max_new_tokens=4, events=["line"]), progress=False)
    assert set(only_line["cases"][0]["events"]) == {"line"}


def test_line_event_is_cut_from_the_window_generation(tiny_tokenizer):
    from codehotfix.evaluation.generation import Completions
    from codehotfix.evaluation.backends import cut_first_line as _cut_first_line
    from codehotfix.evaluation.rates import _first_lines

    assert _cut_first_line("\n\n    x = 1\n    y = 2\n") == "\n\n    x = 1\n"
    assert _cut_first_line("  x = 1") == "  x = 1"  # never finished: all of it
    text_only = _first_lines(Completions(greedy="a(1)\nb\n", samples=["\nc\nd", "e"], new_tokens=9), tiny_tokenizer, 8)
    assert (text_only.greedy, text_only.samples, text_only.new_tokens) == ("a(1)\n", ["\nc\n", "e"], 9)
    ids = tiny_tokenizer("x = 1\ny = 2\n", add_special_tokens=False)["input_ids"]
    with_ids = _first_lines(Completions(greedy="x = 1\ny = 2\n", greedy_ids=ids), tiny_tokenizer, 64)
    assert with_ids.greedy.startswith("x = 1\n") and "y" not in with_ids.greedy
    capped = _first_lines(Completions(greedy="x = 1\ny = 2\n", greedy_ids=ids), tiny_tokenizer, 2)
    assert capped.greedy == tiny_tokenizer.decode(ids[:2])  # the line budget still applies
    # the cut token ids go along (the line event's hit_budget counts them); text-only has none
    assert tiny_tokenizer.decode(with_ids.greedy_ids) == with_ids.greedy and len(with_ids.greedy_ids) < len(ids)
    assert capped.greedy_ids == ids[:2] and text_only.greedy_ids is None and text_only.sample_ids == []


def test_hit_budget_marks_completions_cut_off_by_their_token_budget(tiny_model, tiny_tokenizer, tiny_cases):
    """A model stuck writing one token never ends its line: every completion of every event uses its
    whole budget. One that writes "x" then a newline ends each line (and the 5-line window) early."""
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.compare import compare
    from codehotfix.evaluation.rates import evaluate_cases

    x, newline = tiny_tokenizer("x")["input_ids"][0], tiny_tokenizer("\n")["input_ids"][0]

    def forcing(pick):
        def processor(input_ids, scores):
            out = torch.full_like(scores, float("-inf"))
            for row, last in enumerate(input_ids[:, -1].tolist()):
                out[row, pick(last)] = 0.0
            return out
        return processor

    cfg = EvalConfig(samples=2, max_new_tokens=6)
    looping = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, cfg, progress=False,
                             logits_processor_factory=lambda prompts: forcing(lambda last: x))
    ending = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, cfg, progress=False,
                            logits_processor_factory=lambda prompts: forcing(lambda last: newline if last == x else x))
    for out, expected in ((looping, True), (ending, False)):
        for rec in out["cases"]:
            for event in ("line", "split", "window"):
                block = rec["events"][event]
                assert [j["hit_budget"] for j in (block["greedy"], *block["samples"])] == [expected] * 3, event
    summary = looping["summary"]["events"]
    assert summary["window"]["greedy"]["hit_budget"] == {"rate": 1.0, "count": len(tiny_cases), "n": len(tiny_cases)}
    rows = {(r["metric"], r["mode"]): r for r in compare(ending, looping)["events"]["window"]["rows"]}
    assert (rows[("hit_budget", "greedy")]["before"], rows[("hit_budget", "greedy")]["after"]) == (0.0, 1.0)


def test_greedy_line_event_equals_a_separate_line_generation(tiny_model, tiny_tokenizer, tiny_cases):
    """The line event cut from the window generation judges the same greedy first lines as the
    line-only generation it replaces (greedy decoding does not depend on where a row stops)."""
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.rates import evaluate_cases

    both = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases,
                          EvalConfig(samples=0, max_new_tokens=8, events=["line", "window"]), progress=False)
    alone = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases,
                           EvalConfig(samples=0, max_new_tokens=8, events=["line"]), progress=False)
    assert [r["greedy"] for r in both["cases"]] == [r["greedy"] for r in alone["cases"]]
    assert [r["greedy_label"] for r in both["cases"]] == [r["greedy_label"] for r in alone["cases"]]
    # and the same first lines ran out of their budget
    assert ([r["events"]["line"]["greedy"]["hit_budget"] for r in both["cases"]]
            == [r["events"]["line"]["greedy"]["hit_budget"] for r in alone["cases"]])


def test_a_case_with_a_line_over_the_limit_is_left_out_of_evaluation_named_and_listed(
        tiny_model, tiny_tokenizer, tiny_cases, caplog, monkeypatch):
    """Scoring a generated 'line' of thousands of tokens would need activations and logits for all of
    them in every row of its batch: evaluation leaves the case out as training does, names it, lists
    it, and the other cases' records are the ones they get without it."""
    import logging

    from codehotfix.config import EvalConfig
    from codehotfix.data.cases import HotfixCase
    from codehotfix.errors import DataError
    from codehotfix.evaluation.rates import evaluate_cases
    from codehotfix.scoring import encoding

    monkeypatch.setattr(encoding, "LINE_TOKEN_LIMIT", 40)  # the tiny tokenizer's lines are short
    blob = HotfixCase(id="blob/0", prefix="TABLE = \\\n", buggy='    "' + "ab&" * 200 + '"',
                      fixed='    "' + "ab&" * 199 + 'c"', group="blob")
    cfg = EvalConfig(samples=0, max_new_tokens=6)
    with caplog.at_level(logging.WARNING, logger="codehotfix.scoring.encoding"):
        out = evaluate_cases(tiny_model, tiny_tokenizer, [tiny_cases[0], blob, *tiny_cases[1:]], cfg, progress=False)
    assert [r["id"] for r in out["cases"]] == [c.id for c in tiny_cases]
    assert [r["id"] for r in out["left_out"]] == ["blob/0"] and out["left_out"][0]["buggy_tokens"] > 40
    assert "evaluation leaves out 1 of" in caplog.text and "blob/0" in caplog.text
    clean = evaluate_cases(tiny_model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    assert clean["left_out"] == []
    strip = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in out["cases"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in clean["cases"]]
    with pytest.raises(DataError, match="evaluation: every case has a line over 40 tokens: blob/0"):
        evaluate_cases(tiny_model, tiny_tokenizer, [blob], cfg, progress=False)
