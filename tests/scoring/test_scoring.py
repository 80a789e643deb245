"""Token masks of fixed/buggy lines, and shared-prefix scoring equal to a plain forward pass."""

import importlib
import sys

import pytest
import torch

import codehotfix.scoring as scoring
from codehotfix.data.cases import HotfixCase
from codehotfix.scoring import collate, encode_case, score_batch


def _case(prefix, buggy, fixed, cid="c"):
    return HotfixCase(id=cid, prefix=prefix, buggy=buggy, fixed=fixed)


def test_encode_case_truncates_context_from_the_left_and_finds_divergence(tiny_tokenizer):
    case = _case("a = 1\nb = 2\nc = 3\n", "print(a)", "print(b)")
    full = encode_case(tiny_tokenizer, case, 10_000)
    cut = encode_case(tiny_tokenizer, case, 3)
    assert cut.context == full.context[-3:]
    # Both lines end with the newline token(s), and share their tokens before `diverge`.
    assert tiny_tokenizer.decode(full.fixed) == "print(b)\n"
    assert full.fixed[:full.diverge] == full.buggy[:full.diverge]
    assert full.fixed[full.diverge] != full.buggy[full.diverge]


def test_empty_prefix_starts_from_the_eos_token(tiny_tokenizer):
    enc = encode_case(tiny_tokenizer, _case("", "x = 1", "x = 2"), 16)
    assert enc.context == [tiny_tokenizer.eos_token_id]


def test_collate_masks_and_layout(tiny_tokenizer):
    cases = [_case("x = 1\n", "print(x)", "print(x + 1)", "a"),
             _case("import os\nimport sys\n", "sys.exit(1)", "sys.exit(0)", "b")]
    enc = [encode_case(tiny_tokenizer, c, 64) for c in cases]
    batch = collate(enc, tiny_tokenizer.pad_token_id, kl_positions=2)
    # Contexts are left-padded so they all end in the last column.
    for i, e in enumerate(enc):
        assert batch.ctx_ids[i, -len(e.context):].tolist() == e.context
        assert batch.ctx_mask[i].sum() == len(e.context)
    # Row 2i is the fixed line, 2i+1 the buggy line; masks cover exactly their tokens.
    for i, e in enumerate(enc):
        assert batch.fixed_tgt[i, :len(e.fixed)].tolist() == e.fixed
        assert batch.fixed_mask[i].sum() == len(e.fixed)
        assert batch.buggy_tgt[i, :len(e.buggy)].tolist() == e.buggy
        assert batch.buggy_mask[i].sum() == len(e.buggy)
        div = batch.buggy_div_mask[i]
        assert not div[:e.diverge].any() and div[e.diverge:len(e.buggy)].all() and not div[len(e.buggy):].any()
    assert batch.kl_mask.shape == (2, 2)
    assert batch.num_tokens() == sum(len(e.context) + len(e.fixed) + len(e.buggy) for e in enc)


def test_shared_prefix_scores_equal_a_full_forward(tiny_model, tiny_tokenizer):
    cases = [_case("import yaml\n\ndef load(path):\n    with open(path) as f:\n", "        return yaml.load(f)",
                   "        return yaml.safe_load(f)", "a"),
             _case("x = 1\n", "print(x)", "print(x + 1)", "b")]
    enc = [encode_case(tiny_tokenizer, c, 256) for c in cases]
    with torch.no_grad():
        scores = score_batch(tiny_model, collate(enc, tiny_tokenizer.pad_token_id))
        for i, e in enumerate(enc):
            for line, got in ((e.fixed, scores.fixed_logp[i]), (e.buggy, scores.buggy_logp[i])):
                logp = torch.log_softmax(tiny_model(torch.tensor([e.context + line])).logits[0].float(), -1)
                c = len(e.context)
                want = torch.tensor([logp[c - 1 + j, t].item() for j, t in enumerate(line)])
                assert torch.allclose(got[:len(line)], want, atol=1e-4)
                assert (got[len(line):] == 0).all()


def _full_forward_logp(model, ids):
    """Log-probs of every next token in one plain, unpadded forward of ``model`` (PEFT or not)."""
    logits = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits
    logp = torch.log_softmax(logits[0, -len(ids):].float(), -1)
    return [logp[j, t].item() for j, t in zip(range(len(ids) - 1), ids[1:])], logp


SNIPPET_CASES = [
    HotfixCase(id="a", prefix="import yaml\n\ndef load(path):\n    with open(path) as f:\n",
               buggy="        return yaml.load(f)", fixed="        return yaml.safe_load(f)",
               suffix="\n\ndef add(a, b):\n    return a + b\n"),
    HotfixCase(id="b", prefix="x = 1\n", buggy="print(x)", fixed="print(x + 1)", suffix="value = None\n"),
]


def _check_scores_against_full_forward(model, tokenizer, with_context):
    enc = [encode_case(tokenizer, c, 256, suffix_tokens=5) for c in SNIPPET_CASES]
    batch = collate(enc, tokenizer.pad_token_id, kl_positions=3)
    with torch.no_grad():
        scores = score_batch(model, batch, with_snippet=True, with_context=with_context, with_suffix=True)
        # The full distributions after the fixed line, case after case (kl_suffix's input).
        dists = scores.suffix_logprobs.split(batch.suffix_mask.sum(-1).tolist())
        for i, e in enumerate(enc):
            c, f = len(e.context), len(e.fixed)
            want, logp = _full_forward_logp(model, e.context + e.fixed + e.suffix)
            # Context tokens (right-aligned in the left-padded layout), fixed line, then suffix.
            ctx_got = scores.ctx_token_logp[i][scores.ctx_token_mask[i]]
            assert torch.allclose(ctx_got, torch.tensor(want[:c - 1]), atol=1e-4)
            assert torch.allclose(scores.fixed_logp[i, :f], torch.tensor(want[c - 1:c - 1 + f]), atol=1e-4)
            assert torch.allclose(scores.suffix_logp[i][scores.suffix_mask[i]], torch.tensor(want[c - 1 + f:]), atol=1e-4)
            assert (scores.fixed_logp[i, f:] == 0).all() and int(scores.suffix_mask[i].sum()) == len(e.suffix)
            assert torch.allclose(dists[i], logp[c - 1 + f:c - 1 + f + len(e.suffix)], atol=1e-4)
            want_b, _ = _full_forward_logp(model, e.context + e.buggy)
            assert torch.allclose(scores.buggy_logp[i, :len(e.buggy)], torch.tensor(want_b[c - 1:]), atol=1e-4)
            if with_context:
                k = int(batch.kl_mask[i].sum())
                got = scores.ctx_logprobs[i, batch.kl_mask.shape[1] - k:]
                assert torch.allclose(got, logp[c - 1 - k:c - 1], atol=1e-4)


def test_snippet_scores_equal_a_full_forward(tiny_model, tiny_tokenizer):
    _check_scores_against_full_forward(tiny_model, tiny_tokenizer, with_context=True)


def test_suffix_is_scored_only_when_asked(tiny_model, tiny_tokenizer):
    plain = [encode_case(tiny_tokenizer, c, 256) for c in SNIPPET_CASES]
    assert all(e.suffix == [] for e in plain)
    batch = collate(plain, tiny_tokenizer.pad_token_id)
    assert batch.suffix_mask is None  # the default path is unchanged
    with torch.no_grad():  # nothing after the line to compare: no distributions, and no error
        assert score_batch(tiny_model, batch, with_suffix=True).suffix_logprobs is None
    cut = encode_case(tiny_tokenizer, SNIPPET_CASES[0], 256, suffix_tokens=3)
    assert len(cut.suffix) == 3


def test_prompt_learning_scores_equal_a_full_forward_of_the_peft_model(tiny_tokenizer):
    """Prefix/prompt tuning go through the PEFT forward: the scores equal an unpadded PEFT forward,
    and differ from the base model's (the virtual tokens are really there)."""
    from tiny_model import build_tiny_model

    from codehotfix.models.adapters import AdapterConfig, build_adapter
    from codehotfix.scoring import reference_line_logprobs

    for method in ("prefix_tuning", "prompt_tuning"):
        base = build_tiny_model(len(tiny_tokenizer))
        model = build_adapter(base, AdapterConfig(method=method, num_virtual_tokens=4))
        _check_scores_against_full_forward(model, tiny_tokenizer, with_context=True)
        enc = [encode_case(tiny_tokenizer, c, 256) for c in SNIPPET_CASES]
        batch = collate(enc, tiny_tokenizer.pad_token_id)
        with torch.no_grad():
            adapted = score_batch(model, batch).fixed_logp
            ref_fixed, _ = reference_line_logprobs(model, batch)
            with model.disable_adapter():
                plain = score_batch(model, batch).fixed_logp
                c, f = len(enc[0].context), len(enc[0].fixed)
                want, _ = _full_forward_logp(base, enc[0].context + enc[0].fixed)
        assert torch.allclose(ref_fixed[0, :f], torch.tensor(want[c - 1:]), atol=1e-4)
        assert torch.allclose(plain, ref_fixed, atol=1e-5)
        assert not torch.allclose(adapted, ref_fixed, atol=1e-3), method


def test_the_old_training_names_still_work_and_say_where_they_moved(monkeypatch):
    monkeypatch.delitem(sys.modules, "codehotfix.training.batching", raising=False)
    with pytest.deprecated_call(match="import from codehotfix.scoring"):
        old = importlib.import_module("codehotfix.training.batching")
    assert old.score_batch is scoring.score_batch and old.Scores is scoring.Scores
    import codehotfix.training as training

    with pytest.deprecated_call(match="import it from codehotfix.scoring"):
        assert training.collate is scoring.collate
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        training.nothing  # noqa: B018


def test_the_head_scores_long_inputs_in_slices_without_gradients_and_whole_with_them(monkeypatch):
    """Without gradients the output head runs HEAD_ROWS rows at a time (bounded memory for a line of
    thousands of tokens) and gives the log-probs of one product; with gradients it is one product."""
    from codehotfix.scoring import forward

    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50, bias=False)
    hidden, targets = torch.randn(23, 16), torch.randint(0, 50, (23,))
    whole = forward._token_logp(head(hidden), targets)
    calls = []
    head.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    monkeypatch.setattr(forward, "HEAD_ROWS", 5)
    with torch.no_grad():
        sliced = forward._head_logp(head, hidden, targets)
    assert calls == [5, 5, 5, 5, 3]
    torch.testing.assert_close(sliced, whole)
    calls.clear()
    forward._head_logp(head, hidden, targets).sum().backward()
    assert calls == [23] and head.weight.grad is not None


def test_line_groups_cover_every_row_once_and_cut_where_padding_costs_more_than_a_call():
    from codehotfix.scoring.forward import line_groups

    lengths = [5, 30, 6, 7, 31, 12]
    groups = line_groups(lengths, call_tokens=32)
    assert sorted(r for g in groups for r in g) == list(range(len(lengths)))
    # The short lines and the long ones are scored apart: 4 x 12 + 2 x 31 + 2 calls of 32 < 6 x 31 + 1 call.
    assert groups == [[0, 2, 3, 5], [1, 4]]
    assert line_groups(lengths, call_tokens=1000) == [list(range(6))]  # a call dearer than any padding
    assert line_groups([7, 7, 7]) == [[0, 1, 2]]  # equal lines: no padding to save
    assert line_groups([7, 7, 7], max_rows=2) == [[0], [1, 2]]  # groups are bounded (memory, batch size)
    assert all(len(g) <= 2 for g in line_groups(lengths, call_tokens=1000, max_rows=2))


def test_lines_scored_in_length_groups_equal_one_padded_pass(tiny_model, tiny_tokenizer):
    """Without gradients the lines run in groups of similar length on copies of the context cache;
    with them (training) in one padded pass. Both give the same log-probs."""
    from codehotfix.scoring.forward import line_groups

    long_line = "    result = compute(alpha, beta, gamma, delta, epsilon, zeta, eta, theta, iota, kappa)"
    cases = [_case("def f(a):\n", "    return a", "    return a + 1", "a"),
             _case("x = 1\n", "print(x)", "print(x + 1)", "b"),
             _case("import math\n\ndef g(alpha, beta):\n", long_line, long_line.replace("kappa", "lam"), "c"),
             _case("y = 2\n", "y += 1", "y -= 1", "d")]
    enc = [encode_case(tiny_tokenizer, c, 256) for c in cases]
    batch = collate(enc, tiny_tokenizer.pad_token_id)
    assert len(line_groups(batch.cont_mask.sum(-1).tolist())) > 1  # the grouped path is the one taken
    with torch.no_grad():
        grouped = score_batch(tiny_model, batch)
    padded = score_batch(tiny_model, batch)  # gradients on: one pass
    assert torch.allclose(grouped.fixed_logp, padded.fixed_logp.detach(), atol=1e-5)
    assert torch.allclose(grouped.buggy_logp, padded.buggy_logp.detach(), atol=1e-5)
