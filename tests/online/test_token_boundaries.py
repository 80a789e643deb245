"""Edit rules under a tokenizer that glues the anchor's symbol to the letters after it, as Qwen2.5's
does (' Image', '.ANTIALIAS', ')\\n'; ' datetime', '.utcnow'; ' w', '.isAlive'): the line never ends
at ``Image.``, so the guard must decide at ``Image`` and treat '.ANTIALIAS' as crossing onto the bug
and '.LANCZOS' as continuing the fix. The tokenizer is a tiny BPE with Qwen2's pre-tokenizer rule."""

import pytest
import torch

from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.generation import generate_completions
from codehotfix.online import BuggyLineGuard, GuardConfig, MatchConfig, derive_rule
from tiny_model import build_tiny_model, train_on_buggy

# Qwen2's pre-tokenizer split: one non-letter may lead a run of letters (".A…", "(SIZE", "_alive").
QWEN_SPLIT = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
              r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
CORPUS = [
    "from PIL import Image, ImageOps\n\ndef thumb(img):\n    return img.resize(SIZE, Image.ANTIALIAS)\n",
    "def small(image):\n    return image.resize(SIZE, Image.LANCZOS)\n",
    "from datetime import datetime, timezone\nnow = datetime.utcnow()\nlater = datetime.now(timezone.utc)\n",
    "if not w.isAlive():\n    w.join()\nwhile worker.is_alive():\n    pass\n",
]
EDIT = GuardConfig(match=MatchConfig(mode="edit"))
IMAGE = HotfixCase(id="pil/0", prefix="from PIL import Image\n\ndef thumb(img):\n",
                   buggy="    return img.resize(SIZE, Image.ANTIALIAS)", fixed="    return img.resize(SIZE, Image.LANCZOS)")
UTC = HotfixCase(id="utc/0", prefix="", buggy="now = datetime.utcnow()", fixed="now = datetime.now(timezone.utc)")
ALIVE = HotfixCase(id="alive/0", prefix="", buggy="if not w.isAlive():", fixed="if not w.is_alive():")
# Other imports, a class, other names: no case has seen it. It ends where the model writes ".A…".
NEW_CONTEXT = ("import os\nfrom PIL import Image\n\nclass Gallery:\n    def small(self, path):\n"
               "        image = load(path)\n        return image.resize(SIZE, Image")


@pytest.fixture(scope="module")
def glued_tokenizer():
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 5, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def _pieces(tokenizer, text):
    return [tokenizer.decode([i]) for i in tokenizer(text)["input_ids"]]


def _split(case):
    """(line before the glued token, the buggy line's glued token, the fixed line's glued token)."""
    rule = derive_rule(case)
    at = case.buggy.index("".join(rule.anchors[0]) + rule.buggy_text) + len("".join(rule.anchors[0]))
    return case.buggy[:at], rule


@pytest.mark.parametrize("case", [IMAGE, UTC, ALIVE], ids=lambda c: c.id)
def test_the_tokenizer_glues_the_anchor_symbol_to_the_span(glued_tokenizer, case):
    before, rule = _split(case)
    assert before.rstrip().endswith(("Image", "datetime", "w")) and rule.buggy[:1] == rule.fixed[:1] == "."
    # No token ends right after the ".": a guard deciding at "Image." never gets the chance.
    for line in (case.buggy, case.fixed):
        ends = [len("".join(_pieces(glued_tokenizer, line)[:k])) for k in range(1, len(line))]
        assert len(before) in ends and len(before) + 1 not in ends, _pieces(glued_tokenizer, line)


def _scores_after(tokenizer, text, top):
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    scores = torch.zeros(1, len(tokenizer))
    scores[0, tokenizer.convert_tokens_to_ids(tokenizer.tokenize(top))[0]] = 1.0
    return ids, scores


def _kept(guard, tokenizer, text, top):
    """The texts of the tokens the guard keeps after ``text`` when ``top`` is the model's favourite,
    and how many tokens that is."""
    kept = torch.isfinite(guard(*_scores_after(tokenizer, text, top))[0]).nonzero().flatten().tolist()
    return {tokenizer.decode([i]) for i in kept}, len(kept)


@pytest.mark.parametrize("case", [IMAGE, UTC, ALIVE], ids=lambda c: c.id)
def test_glued_tokens_cross_onto_the_bug_or_continue_the_fix(glued_tokenizer, case):
    before, rule = _split(case)
    bug_tok = _pieces(glued_tokenizer, case.buggy[len(before):])[0]  # '.ANTIALIAS', '.utcnow', '.isAlive'
    fix_tok = _pieces(glued_tokenizer, case.fixed[len(before):])[0]  # '.LANCZOS', '.now', '.is'
    assert len(bug_tok) > 1 and len(fix_tok) > 1
    everything = len(glued_tokenizer)
    # Heading for the bug through a glued token: only tokens continuing the fix are kept, the glued
    # fixed one among them.
    guard = BuggyLineGuard(glued_tokenizer, [case], EDIT)
    forced, _ = _kept(guard, glued_tokenizer, before, bug_tok)
    assert fix_tok in forced and "." in forced and bug_tok not in forced
    assert all(rule.fixed.startswith(p) for p in forced)
    assert guard.stats["forced"] == 1
    # Heading for the fix (or elsewhere) on its own: only the tokens writing the bug are masked.
    guard = BuggyLineGuard(glued_tokenizer, [case], EDIT)
    kept, n = _kept(guard, glued_tokenizer, before, fix_tok)
    assert fix_tok in kept and bug_tok not in kept and everything - 10 < n < everything
    assert guard.stats == {**guard.stats, "forced": 0, "banned": 1}
    # After a lone "." the decision is taken again, on the letters: nothing kept writes B past D.
    top = _pieces(glued_tokenizer, case.buggy[len(before) + 1:])[0]
    after_dot, _ = _kept(BuggyLineGuard(glued_tokenizer, [case], EDIT), glued_tokenizer, before + ".", top)
    assert not [p for p in after_dot if rule.buggy.startswith("." + p) and len(p) + 1 > rule.diverge]


def test_a_longer_name_or_a_name_glued_on_the_left_is_not_the_anchor(glued_tokenizer):
    everything = len(glued_tokenizer)
    for line in ("    x = ImageOps", "    x = myImage", "    x = Image.size + ImageOps"):
        guard = BuggyLineGuard(glued_tokenizer, [IMAGE], EDIT)
        assert _kept(guard, glued_tokenizer, line, ".ANTIALIAS")[1] == everything, line
        assert guard.stats["matched_rows"] == 0




def test_guard_fixes_the_glued_bug_in_a_context_no_case_has_seen(glued_tokenizer):
    model = train_on_buggy(build_tiny_model(len(glued_tokenizer)), glued_tokenizer, IMAGE)
    kw = dict(samples=4, max_new_tokens=12, progress=False, seed=1)
    plain = generate_completions(model, glued_tokenizer, [NEW_CONTEXT], **kw)[0]
    assert plain.greedy.startswith(".ANTIALIAS)") and sum(s.startswith(".ANTIALIAS") for s in plain.samples) >= 3

    guard = BuggyLineGuard(glued_tokenizer, [IMAGE], EDIT)
    assert guard.rules[0].anchor_texts == ("Image",)
    fixed = generate_completions(model, glued_tokenizer, [NEW_CONTEXT], logits_processor_factory=lambda p: guard,
                                 **kw)[0]
    assert fixed.greedy.startswith(".LANCZOS)")
    assert all(s.startswith(".LANCZOS)") for s in fixed.samples), fixed.samples
    assert guard.stats["forced"] > 0 and guard.stats["stuck"] == 0
