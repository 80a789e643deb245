"""The line sampler: stops at the end of the first line, greedy equals transformers' generate,
sampling is seeded, and batching does not change greedy results."""

import pytest
import torch
from tiny_model import build_tiny_model

from codehotfix.evaluation.generation import _ends_line, encode_prompts, generate_completions, sample_lines

PROMPTS = ["import yaml\n\ndef load(path):\n    with open(path) as f:\n", "x = 1\n", "def add(a, b):\n"]


def test_ends_line_rule():
    assert _ends_line("\n", False) == (False, False)  # a leading blank line does not end the row
    assert _ends_line("x = 1", False) == (False, True)
    assert _ends_line("\n", True) == (True, True)
    assert _ends_line(")\n", False) == (True, True)
    assert _ends_line("\n    x", False) == (False, True)


def test_greedy_matches_transformers_generate(tiny_model, tiny_tokenizer):
    ids = encode_prompts(tiny_tokenizer, PROMPTS, 256)
    ours = sample_lines(tiny_model, tiny_tokenizer, ids, n=1, do_sample=False, top_p=1.0, temperature=1.0,
                        max_new_tokens=12, seed=0, first_line_only=False)
    for prompt_ids, got in zip(ids, ours):
        ref = tiny_model.generate(torch.tensor([prompt_ids]), max_new_tokens=12, do_sample=False,
                                  pad_token_id=tiny_tokenizer.pad_token_id)[0, len(prompt_ids):].tolist()
        eos = tiny_tokenizer.eos_token_id
        ref = ref[:ref.index(eos)] if eos in ref else ref
        assert got == ref


def test_completions_stop_after_the_first_line_and_are_seeded(tiny_model, tiny_tokenizer):
    kw = dict(samples=4, max_new_tokens=24, batch_size=2, progress=False)
    a = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, seed=3, **kw)
    b = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, seed=3, **kw)
    c = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, seed=4, **kw)
    assert [x.samples for x in a] == [x.samples for x in b]
    assert [x.samples for x in a] != [x.samples for x in c]
    for comp in a:
        assert len(comp.samples) == 4
        for text in comp.samples + [comp.greedy]:
            # After the first non-blank line's newline there is nothing but the rest of that token's
            # whitespace: generation stopped there.
            _, _, rest = text.lstrip().partition("\n")
            assert rest.strip() == ""


def test_greedy_does_not_depend_on_batching(tiny_model, tiny_tokenizer):
    one = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, samples=0, batch_size=1, progress=False)
    all_ = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, samples=0, batch_size=3, progress=False)
    assert [x.greedy for x in one] == [x.greedy for x in all_]


def test_stop_strings_end_rows_and_greedy_generator_matches(tiny_model, tiny_tokenizer):
    from codehotfix.evaluation.generation import make_generator

    ids = encode_prompts(tiny_tokenizer, PROMPTS, 256)
    free = sample_lines(tiny_model, tiny_tokenizer, ids, n=1, do_sample=False, top_p=1.0, temperature=1.0,
                        max_new_tokens=16, seed=0, first_line_only=False)
    texts = [tiny_tokenizer.decode(t) for t in free]
    stop = [texts[0][2:4]] if len(texts[0]) >= 4 else ["\n"]
    cut = sample_lines(tiny_model, tiny_tokenizer, ids, n=1, do_sample=False, top_p=1.0, temperature=1.0,
                       max_new_tokens=16, seed=0, first_line_only=False, stop=stop)
    first = tiny_tokenizer.decode(cut[0])
    assert stop[0] in first and len(cut[0]) <= len(free[0])
    gen = make_generator(tiny_model, tiny_tokenizer, batch_size=2)
    out = gen(PROMPTS, n=1, temperature=0.0, max_new_tokens=16, stop=[], seed=0)
    assert [o[0] for o in out] == [tiny_tokenizer.decode(t, skip_special_tokens=True) for t in free]
    sampled = gen(PROMPTS, n=3, temperature=0.8, max_new_tokens=8, stop=[], seed=0)
    assert [len(o) for o in sampled] == [3, 3, 3]


class _Recorder:
    """A logits processor that records what it sees and bans one token."""

    def __init__(self, banned):
        self.banned, self.calls = banned, []

    def __call__(self, input_ids, scores):
        self.calls.append((input_ids.clone(), scores.shape[0]))
        scores = scores.clone()
        scores[:, self.banned] = float("-inf")
        return scores


def test_logits_processors_see_each_running_row_and_act_before_sampling(tiny_model, tiny_tokenizer):
    ids = encode_prompts(tiny_tokenizer, PROMPTS, 256)
    kw = dict(top_p=1.0, temperature=1.0, max_new_tokens=12, seed=0)
    for do_sample, n in ((False, 1), (True, 3)):
        free = sample_lines(tiny_model, tiny_tokenizer, ids, n=n, do_sample=do_sample, **kw)
        banned = max({t for row in free for t in row}, key=lambda t: sum(row.count(t) for row in free))
        rec = _Recorder(banned)
        outs = sample_lines(tiny_model, tiny_tokenizer, ids, n=n, do_sample=do_sample, logits_processor=[rec], **kw)
        assert all(banned not in row for row in outs)
        pad = tiny_tokenizer.pad_token_id
        for step, (seen, rows) in enumerate(rec.calls):
            assert seen.shape[0] == rows
            for row in seen.tolist():
                while row and row[0] == pad:
                    row = row[1:]
                # Each row is some prompt followed by exactly the tokens that row went on to generate.
                owners = [r for r in range(len(outs)) if row[:len(ids[r // n])] == ids[r // n]
                          and outs[r][:step] == row[len(ids[r // n]):]]
                assert owners and len(row) == len(ids[owners[0] // n]) + step
        # Rows leave as their line ends: later calls see fewer rows.
        assert rec.calls[0][1] == len(PROMPTS) * n and rec.calls[-1][1] <= rec.calls[0][1]


def test_a_processor_that_changes_nothing_changes_no_output(tiny_model, tiny_tokenizer):
    kw = dict(samples=3, max_new_tokens=12, batch_size=2, progress=False, seed=5)
    plain = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, **kw)
    seen = []
    same = generate_completions(tiny_model, tiny_tokenizer, PROMPTS, **kw,
                                logits_processor_factory=lambda p: seen.append(list(p)) or (lambda i, s: s))
    assert [(c.greedy, c.samples) for c in plain] == [(c.greedy, c.samples) for c in same]
    assert sorted(p for batch in seen for p in batch) == sorted(PROMPTS) and len(seen) == 2


@pytest.mark.parametrize("method", ["lora", "dora", "prefix_tuning", "prompt_tuning"])
def test_greedy_with_an_adapter_matches_its_full_forward(method, tiny_tokenizer):
    """Decoding from a cache with left-padded prompts gives, for every PEFT method (the virtual
    tokens of prefix/prompt tuning included), the tokens that re-running the PEFT forward on the
    whole sequence picks, which is what training scores."""
    from codehotfix.models.adapters import build_adapter
    from codehotfix.models.adapters.config import AdapterConfig

    model = build_adapter(build_tiny_model(len(tiny_tokenizer)), AdapterConfig(method=method, num_virtual_tokens=4))
    torch.manual_seed(1)
    with torch.no_grad():  # a random, far-from-identity adapter, so that a wrong path shows
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    model.eval()
    ids = encode_prompts(tiny_tokenizer, PROMPTS, 256)  # three lengths: two rows are left-padded
    ours = sample_lines(model, tiny_tokenizer, ids, n=2, do_sample=False, top_p=1.0, temperature=1.0,
                        max_new_tokens=10, seed=0, first_line_only=False)
    eos = tiny_tokenizer.eos_token_id
    for i, prompt_ids in enumerate(ids):
        seq = list(prompt_ids)
        with torch.no_grad():
            for _ in range(10):
                x = torch.tensor([seq])
                seq.append(int(model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0, -1].argmax()))
        ref = seq[len(prompt_ids):]
        ref = ref[:ref.index(eos)] if eos in ref else ref
        assert ours[2 * i] == ours[2 * i + 1] == ref


def test_max_lines_ends_a_row_after_that_many_lines(tiny_model, tiny_tokenizer):
    from codehotfix.evaluation.generation import _count_lines

    assert _count_lines("\n\nx\n", (0, False)) == (1, True)  # leading blank lines do not count
    assert _count_lines("\n\n", (1, True)) == (3, True)  # blank lines after content do
    x, newline = tiny_tokenizer("x")["input_ids"][0], tiny_tokenizer("\n")["input_ids"][0]

    def x_then_newline(input_ids, scores):  # writes "x\nx\nx\n…"
        out = torch.full_like(scores, float("-inf"))
        for row, ids in enumerate(input_ids.tolist()):
            out[row, newline if ids[-1] == x else x] = 0.0
        return out

    out = generate_completions(tiny_model, tiny_tokenizer, ["a = 1\n"], samples=0, max_new_tokens=40,
                               progress=False, max_lines=3, logits_processor_factory=lambda p: x_then_newline)
    assert out[0].greedy == "x\nx\nx\n" and out[0].new_tokens == 6
    one = generate_completions(tiny_model, tiny_tokenizer, ["a = 1\n"], samples=0, max_new_tokens=40,
                               progress=False, logits_processor_factory=lambda p: x_then_newline)
    assert one[0].greedy == "x\n"
