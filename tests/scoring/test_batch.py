"""Where the buggy line's own tokens are: ``EncodedCase.converge`` and ``Batch.buggy_diff_mask``, on a
tokenization written out by hand and on the tiny BPE tokenizer."""

import pytest

from codehotfix.data.cases import HotfixCase
from codehotfix.scoring import collate, encode_case


class PieceTokenizer:
    """Longest-match over a fixed list of pieces, so every line's tokens are known in advance."""

    PIECES = ["<s>", "x", " =", " f", " g", "(", "a", ")", ",", " b", "\n", "p"]
    bos_token_id, eos_token_id, pad_token_id = 0, 0, 0

    def __call__(self, text, add_special_tokens=False):
        ids, i = [], 0
        while i < len(text):
            piece = max((p for p in self.PIECES if text.startswith(p, i)), key=len)
            ids.append(self.PIECES.index(piece))
            i += len(piece)
        return {"input_ids": ids}

    def pieces(self, ids):
        return [self.PIECES[i] for i in ids]


def _encode(tok, buggy, fixed, cid="c"):
    return encode_case(tok, HotfixCase(id=cid, prefix="p\n", buggy=buggy, fixed=fixed), 64)


def test_differing_mask_covers_only_the_tokens_the_buggy_line_has_of_its_own():
    tok = PieceTokenizer()
    e = _encode(tok, "x = f(a)", "x = g(a)")
    assert tok.pieces(e.buggy) == ["x", " =", " f", "(", "a", ")", "\n"]
    assert (e.diverge, e.converge) == (2, 3)
    batch = collate([e], tok.pad_token_id)
    assert batch.buggy_diff_mask[0].tolist() == [False, False, True, False, False, False, False]
    # to_end's mask goes on over the shared "(a)\n"
    assert batch.buggy_div_mask[0].tolist() == [False, False, True, True, True, True, True]


@pytest.mark.parametrize("buggy,fixed,own", [
    ("x = f(a)", "x = f(a, b)", [")"]),        # cut short: the token where it ends early
    ("x = f(a, b)", "x = f(a)", [",", " b"]),  # an insertion: just the inserted tokens
    ("x = f(a)", "x = f(a)", ["\n"]),          # identical lines: never an empty span
])
def test_the_span_is_never_empty_and_never_reaches_into_the_shared_start(buggy, fixed, own):
    tok = PieceTokenizer()
    e = _encode(tok, buggy, fixed)
    assert tok.pieces(e.buggy[e.diverge:e.converge]) == own


def test_masks_keep_the_batch_layout_under_padding(tiny_tokenizer):
    cases = [HotfixCase(id="a", prefix="import yaml\n", buggy="settings = yaml.load(fh)",
                        fixed="settings = yaml.safe_load(fh)"),
             HotfixCase(id="b", prefix="x = 1\n", buggy="print(x)", fixed="print(x + 1)")]
    enc = [encode_case(tiny_tokenizer, c, 64) for c in cases]
    batch = collate(enc, tiny_tokenizer.pad_token_id)
    assert batch.buggy_diff_mask.shape == batch.buggy_div_mask.shape == batch.buggy_mask.shape
    for i, e in enumerate(enc):
        row = batch.buggy_diff_mask[i]
        assert row.tolist() == [e.diverge <= j < e.converge for j in range(row.shape[0])]
        assert not (row & ~batch.buggy_div_mask[i]).any()  # a part of to_end's span
        # what the span leaves out at the end is exactly the tail both lines share
        tail = e.buggy[e.converge:]
        assert e.fixed[len(e.fixed) - len(tail):] == tail
    yaml_ = enc[0]
    assert tiny_tokenizer.decode(yaml_.buggy[yaml_.diverge:yaml_.converge]) == "load"
    assert tiny_tokenizer.decode(yaml_.buggy[yaml_.converge:]) == "(fh)\n"
    assert batch.to("cpu").buggy_diff_mask is batch.buggy_diff_mask
