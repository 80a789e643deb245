"""One context pass per case (evaluation/onepass.py) gives what separate passes give: the same
greedy line, window and split completions, the same margins, and the same evaluation records."""

import dataclasses

import pytest
import torch
from tiny_model import build_tiny_model

from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.backends import HFBackend
from codehotfix.evaluation.events import split_point, split_prompts
from codehotfix.evaluation.generation import complete_batch, encode_prompts, generate_completions
from codehotfix.evaluation import onepass, rates
from codehotfix.evaluation.onepass import evaluate_one_pass
from codehotfix.evaluation.rates import evaluate_cases
from codehotfix.scoring import encode_case, line_logprobs


@pytest.fixture()
def cases(tiny_cases):
    # An empty prefix: its split prompt (the line's start alone) cannot extend the context's start
    # token, so it takes the separate route; mixed with the shared ones in one batch.
    return tiny_cases + [HotfixCase(id="empty/0", prefix="", buggy="x = compute(a, b)", fixed="x = compute(b, a)",
                                    group="empty")]


@pytest.fixture()
def long_cases(cases):
    # With a 12-token budget every prefix but one is cut on the left; "warn/long" (48 tokens) by far.
    # The unindented "warn" lines keep their context's last newline a token of its own, so their split
    # prompts can extend the context's tokens; the indented ones and the empty prefix cannot.
    head = "import yaml\n\ndef load(path):\n    with open(path) as f:\n        return yaml.safe_load(f)\n\n"
    warn = next(c for c in cases if c.id == "warn/0")
    return cases + [dataclasses.replace(warn, id="warn/long", prefix=head + warn.prefix)]


def _separate(model, tok, cases, cfg, cuts, window):
    kw = dict(samples=cfg.samples, greedy=cfg.greedy, top_p=cfg.top_p, temperature=cfg.temperature,
              batch_size=cfg.batch_size, max_context_tokens=cfg.max_context_tokens, seed=cfg.seed, progress=False)
    first = generate_completions(model, tok, [c.prefix for c in cases], max_new_tokens=2 * cfg.max_new_tokens
                                 if window else cfg.max_new_tokens, max_lines=5 if window else None, **kw)
    split = generate_completions(model, tok, [c.prefix + c.fixed[:k] for c, k in zip(cases, cuts)],
                                 max_new_tokens=cfg.max_new_tokens, **kw)
    return first, split, line_logprobs(model, tok, cases, max_context_tokens=cfg.max_context_tokens,
                                       batch_size=cfg.batch_size)


@pytest.mark.parametrize("window", [False, True])
def test_one_pass_equals_separate_passes(tiny_model, tiny_tokenizer, cases, window):
    torch.set_num_threads(1)
    cfg = EvalConfig(samples=0, max_new_tokens=10, batch_size=3)
    cuts = [split_point(tiny_tokenizer, c.prefix, c.buggy, c.fixed)[0] for c in cases]
    got = evaluate_one_pass(tiny_model, tiny_tokenizer, cases, cfg, window=window, split_cuts=cuts,
                            window_max_tokens=2 * cfg.max_new_tokens, progress=False)
    first, split, margins = _separate(tiny_model, tiny_tokenizer, cases, cfg, cuts, window)
    assert [c.greedy_ids for c in got.completions] == [c.greedy_ids for c in first]
    assert [c.greedy for c in got.split] == [c.greedy for c in split]
    assert got.margins == margins  # the same batches as line_logprobs: the same numbers
    # Both routes ran: split prompts that extend their context's tokens fed only the line's start,
    # the others (the empty prefix; an indented line whose newline the tokenizer glues to its
    # indentation) were completed on their own, and all agree with separate passes.
    assert 0 < got.split_shared < len(cases)
    assert any(k > 0 for k in cuts)


def test_greedy_completions_are_the_same_joined_or_batch_by_batch(tiny_model, tiny_tokenizer, cases, monkeypatch):
    """Greedy completions of several context batches are decoded as one batch (``concat_prefilled``);
    where caches cannot be joined (another cache kind) each batch decodes on its own. Same tokens
    either way."""
    torch.set_num_threads(1)
    cfg = EvalConfig(samples=0, max_new_tokens=10, batch_size=2)
    cuts = [split_point(tiny_tokenizer, c.prefix, c.buggy, c.fixed)[0] for c in cases]
    joins = []
    real = onepass.concat_prefilled
    monkeypatch.setattr(onepass, "concat_prefilled", lambda states, pad: joins.append(len(states)) or real(states, pad))
    joined = evaluate_one_pass(tiny_model, tiny_tokenizer, cases, cfg, window=True, split_cuts=cuts,
                               window_max_tokens=20, progress=False)
    # 5 cases in context batches of at most 2: one decode joins the window prompts of every batch and
    # the split prompts of those that share the pass.
    assert len(joins) == 1 and joins[0] > 3
    monkeypatch.setattr(onepass, "concat_prefilled", lambda states, pad: None)
    apart = evaluate_one_pass(tiny_model, tiny_tokenizer, cases, cfg, window=True, split_cuts=cuts,
                              window_max_tokens=20, progress=False)
    assert [c.greedy_ids for c in joined.completions] == [c.greedy_ids for c in apart.completions]
    assert [c.greedy_ids for c in joined.split] == [c.greedy_ids for c in apart.split]
    assert joined.margins == apart.margins  # the same context passes and line scoring


def test_split_prompts_of_long_contexts_share_the_pass(tiny_model, tiny_tokenizer, long_cases):
    """A split prompt keeps its context's left cut (``events.split_prompts``), so a context longer than
    ``max_context_tokens`` shares the pass too and is completed from its context's window plus the
    shared start's tokens, by both routes alike."""
    torch.set_num_threads(1)
    cfg = EvalConfig(samples=0, max_new_tokens=10, batch_size=3, max_context_tokens=12)
    cuts = [split_point(tiny_tokenizer, c.prefix, c.buggy, c.fixed)[0] for c in long_cases]
    got = evaluate_one_pass(tiny_model, tiny_tokenizer, long_cases, cfg, window=False, split_cuts=cuts,
                            progress=False)
    warn = [i for i, c in enumerate(long_cases) if c.id.startswith("warn/")]
    prefix_ids = {i: tiny_tokenizer(long_cases[i].prefix)["input_ids"] for i in warn}
    assert all(len(prefix_ids[i]) > cfg.max_context_tokens for i in warn)
    # (a) Both warn prompts share the pass; cut to the budget on their own (the old rule) neither would.
    assert got.split_shared == len(warn) == 2
    prompts, keep = split_prompts(tiny_tokenizer, long_cases, cuts, cfg.max_context_tokens)
    for i in warn:
        context = encode_case(tiny_tokenizer, long_cases[i], cfg.max_context_tokens).context
        assert encode_prompts(tiny_tokenizer, [prompts[i]], cfg.max_context_tokens)[0][:len(context)] != context
        # (c) The prompt is the context's window, then the shared start's tokens ("logger", ".").
        start = tiny_tokenizer(prompts[i])["input_ids"][len(prefix_ids[i]):]
        assert tiny_tokenizer.decode(start) == long_cases[i].fixed[:cuts[i]] == "logger."
        expect = context + start
        assert encode_prompts(tiny_tokenizer, [prompts[i]], [keep[i]]) == [expect]
        # (b) Decoding those tokens on their own gives the one pass's greedy split completion.
        (alone,) = complete_batch(tiny_model, tiny_tokenizer, lambda: [expect], greedy=True, samples=0, seed=0,
                                  top_p=cfg.top_p, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                                  first_line_only=True, max_lines=None)
        assert alone.greedy_ids == got.split[i].greedy_ids
    # (b) The separate path (rates._run_events, other backends) completes the same tokens: every split
    # completion, shared or not, equals it.
    separate = generate_completions(tiny_model, tiny_tokenizer, prompts, samples=0, max_new_tokens=cfg.max_new_tokens,
                                    batch_size=cfg.batch_size, max_context_tokens=keep, progress=False)
    assert [c.greedy_ids for c in got.split] == [c.greedy_ids for c in separate]


def test_one_pass_samples_are_seeded_and_counted(tiny_model, tiny_tokenizer, cases):
    torch.set_num_threads(1)
    cfg = EvalConfig(samples=3, max_new_tokens=8, batch_size=2, seed=5)
    cuts = [split_point(tiny_tokenizer, c.prefix, c.buggy, c.fixed)[0] for c in cases]
    a = evaluate_one_pass(tiny_model, tiny_tokenizer, cases, cfg, window=False, split_cuts=cuts, progress=False)
    b = evaluate_one_pass(tiny_model, tiny_tokenizer, cases, cfg, window=False, split_cuts=cuts, progress=False)
    c = evaluate_one_pass(tiny_model, tiny_tokenizer, cases, dataclasses.replace(cfg, seed=6), window=False,
                          split_cuts=cuts, progress=False)
    assert [x.samples for x in a.completions + a.split] == [x.samples for x in b.completions + b.split]
    assert [x.samples for x in a.completions] != [x.samples for x in c.completions]
    assert all(len(x.samples) == 3 for x in a.completions + a.split)
    # The context's samples start from the same batches and seeds as generate_completions.
    kw = dict(samples=3, greedy=True, max_new_tokens=8, batch_size=2, seed=5, progress=False)
    ref = generate_completions(tiny_model, tiny_tokenizer, [x.prefix for x in cases], **kw)
    assert [x.samples for x in a.completions] == [x.samples for x in ref]


@pytest.mark.parametrize("max_context_tokens", [256, 12])
def test_evaluate_cases_records_do_not_depend_on_the_path(tiny_model, tiny_tokenizer, long_cases, monkeypatch,
                                                          max_context_tokens):
    """``evaluate_cases`` takes the one pass by default, also through the "hf" backend object the API
    builds; ``one_pass=False`` takes separate passes; a backend over another model cannot take it.
    Both give the same records, also where the contexts are cut to the token budget (12)."""
    torch.set_num_threads(1)
    cases = long_cases

    class Loaded:
        model, tokenizer = tiny_model, tiny_tokenizer

    cfg = EvalConfig(samples=0, max_new_tokens=10, batch_size=4, events=["line", "split", "window"],
                     max_context_tokens=max_context_tokens)
    calls = []
    real = onepass.evaluate_one_pass
    monkeypatch.setattr(onepass, "evaluate_one_pass", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(rates, "evaluate_one_pass", onepass.evaluate_one_pass)
    fast = evaluate_cases(tiny_model, tiny_tokenizer, cases, cfg, progress=False, backend=HFBackend(Loaded()))
    assert calls == [1]
    slow = evaluate_cases(tiny_model, tiny_tokenizer, cases, cfg, progress=False, one_pass=False)
    assert calls == [1]
    keep = ("greedy", "greedy_label", "events", "validity_check", "new_tokens")
    assert [{k: r[k] for k in keep} for r in fast["cases"]] == [{k: r[k] for k in keep} for r in slow["cases"]]
    assert [r["margin"] for r in fast["cases"]] == pytest.approx([r["margin"] for r in slow["cases"]], abs=1e-3)

    class Other:
        model, tokenizer = build_tiny_model(tiny_tokenizer.vocab_size, seed=1), tiny_tokenizer

    with pytest.raises(ValueError, match="one_pass"):
        evaluate_cases(tiny_model, tiny_tokenizer, cases, cfg, progress=False, backend=HFBackend(Other()),
                       one_pass=True)
