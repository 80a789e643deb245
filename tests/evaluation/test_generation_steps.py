"""The one decoding loop (``decode_steps``): finished rows leave without disturbing the others, the
ids it hands a step are the prompt plus the tokens chosen so far, and the evaluation sampler and the
server decode the same greedy tokens through it."""

import torch

from codehotfix.evaluation.generation import decode_steps, encode_prompts, sample_lines
from codehotfix.serve.decode import Row, Sampling, decode

PROMPTS = ["def add(a, b):\n", "import yaml\n\ndef load(path):\n", "class Config:\n"]


def test_finished_rows_leave_without_changing_the_others(tiny_model, tiny_tokenizer):
    ids = encode_prompts(tiny_tokenizer, PROMPTS, 64)
    budget = [2, 5, 3]  # steps each row runs
    seen: dict[int, list[torch.Tensor]] = {0: [], 1: [], 2: []}

    def step(active, seqs, logits):
        for j, row in enumerate(active.tolist()):
            seen[row].append(logits[j])
        return logits.argmax(-1), [j for j, row in enumerate(active.tolist()) if len(seen[row]) < budget[row]]

    decode_steps(tiny_model, ids, step, pad_id=tiny_tokenizer.pad_token_id, max_new_tokens=10)
    assert [len(seen[r]) for r in range(3)] == budget

    alone: list[torch.Tensor] = []

    def step_alone(active, seqs, logits):
        alone.append(logits[0])
        return logits.argmax(-1), [0] if len(alone) < budget[1] else []

    decode_steps(tiny_model, [ids[1]], step_alone, pad_id=tiny_tokenizer.pad_token_id, max_new_tokens=10)
    assert len(alone) == budget[1]
    for a, b in zip(alone, seen[1]):  # the middle row kept its own cache after its neighbours left
        assert torch.allclose(a, b, atol=1e-4)


def test_the_step_sees_each_row_prompt_and_chosen_tokens(tiny_model, tiny_tokenizer):
    ids = encode_prompts(tiny_tokenizer, PROMPTS[:2], 64)
    chosen: list[list[int]] = []
    widths = []

    def step(active, seqs, logits):
        assert seqs.shape[0] == len(active) == 4  # 2 prompts x repeat 2, prompt-major
        widths.append(seqs.shape[1])
        if chosen:
            assert seqs[:, -1].tolist() == chosen[-1]
        tokens = torch.arange(len(active)) + 5
        chosen.append(tokens.tolist())
        return tokens, list(range(len(active)))

    decode_steps(tiny_model, ids, step, pad_id=tiny_tokenizer.pad_token_id, max_new_tokens=3, repeat=2,
                 keep_ids=True)
    width = max(map(len, ids))
    assert widths == [width, width + 1, width + 2]


def test_server_rows_and_the_evaluation_sampler_decode_the_same_greedy_tokens(tiny_model, tiny_tokenizer):
    ids = encode_prompts(tiny_tokenizer, PROMPTS, 256)
    expected = sample_lines(tiny_model, tiny_tokenizer, ids, n=1, do_sample=False, top_p=1.0, temperature=1.0,
                            max_new_tokens=9, seed=0, first_line_only=False)
    rows = [Row(list(r), Sampling(max_tokens=9, temperature=0.0)) for r in ids]
    decode(tiny_model, tiny_tokenizer, rows)
    assert [r.tokens for r in rows] == expected
    assert any(expected)


def test_prompts_prefilled_apart_decode_together_as_they_would_alone(tiny_model, tiny_tokenizer):
    """``concat_prefilled``: two batches prefilled at different widths, joined, decode every row to the
    same greedy tokens as each batch on its own, and joining leaves the states reusable."""
    from codehotfix.evaluation.generation import concat_prefilled, prefill

    torch.set_num_threads(1)
    pad = tiny_tokenizer.pad_token_id
    first = encode_prompts(tiny_tokenizer, PROMPTS[:2], 64)
    second = encode_prompts(tiny_tokenizer, ["x = 1\n", "import os\nimport sys\n\n\ndef main(argv):\n"], 64)
    kw = dict(n=1, do_sample=False, top_p=1.0, temperature=1.0, max_new_tokens=12, seed=0, first_line_only=False)
    alone = (sample_lines(tiny_model, tiny_tokenizer, first, **kw)
             + sample_lines(tiny_model, tiny_tokenizer, second, **kw))
    states = [prefill(tiny_model, first, pad), prefill(tiny_model, second, pad)]
    assert states[0].mask.shape[1] != states[1].mask.shape[1]
    finished: list[int] = []
    for _ in range(2):  # the second join starts from the same, untouched states
        joined = concat_prefilled(states, pad)
        assert joined.rows == 4
        got = sample_lines(tiny_model, tiny_tokenizer, joined, on_finished=finished.append, **kw)
        assert got == alone
    assert sum(finished) == 8  # every row reported once per decode, also those that ran out of budget


def test_prompts_with_their_own_stop_rules_decode_in_one_batch(tiny_model, tiny_tokenizer):
    """``StopRule`` per prompt: a first-line prompt, a 3-line window and a 4-token budget decode in one
    batch to the tokens each gets alone under its rule, and no row runs past its own budget."""
    from codehotfix.evaluation.generation import StopRule

    torch.set_num_threads(1)
    ids = encode_prompts(tiny_tokenizer, PROMPTS, 64)
    rules = [StopRule(12), StopRule(20, first_line_only=False, max_lines=3), StopRule(4, first_line_only=False)]
    kw = dict(n=1, do_sample=False, top_p=1.0, temperature=1.0, seed=0)
    together = sample_lines(tiny_model, tiny_tokenizer, ids, max_new_tokens=99, rules=rules, **kw)
    for prompt, rule, got in zip(ids, rules, together):
        (alone,) = sample_lines(tiny_model, tiny_tokenizer, [prompt], max_new_tokens=rule.max_new_tokens,
                                first_line_only=rule.first_line_only, max_lines=rule.max_lines, **kw)
        assert got == alone and len(got) <= rule.max_new_tokens
    assert len(together[2]) == 4  # the random model writes no end-of-text that early: the budget ends it
    import pytest

    with pytest.raises(ValueError, match="2 stop rules for 3 prompts"):
        sample_lines(tiny_model, tiny_tokenizer, ids, max_new_tokens=4, rules=rules[:2], **kw)
