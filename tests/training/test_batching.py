"""Token masks of fixed/buggy lines, and shared-prefix scoring equal to a plain forward pass."""

import torch

from codehotfix.data.cases import HotfixCase
from codehotfix.training.batching import collate, encode_case, score_batch


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
