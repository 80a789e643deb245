"""The server's decoder and batcher on the tiny model: greedy output equals transformers' generate,
a batch gives each request what it would get alone, penalties follow OpenAI's formula, stop strings
are held back from streams, and waiting requests are decoded together."""

import threading

import pytest
import torch

from codehotfix.deploy.store import HotfixStore
from codehotfix.serve.batching import Batcher
from codehotfix.serve.decode import PenaltyProcessor, Row, Sampling, decode
from codehotfix.serve.engine import EngineConfig, HotfixEngine, RequestError

PROMPTS = ["def add(a, b):\n", "import yaml\n\ndef load(path):\n    with open(path) as f:\n", "x"]


@pytest.fixture()
def engine(tmp_path, tiny_loaded):
    return HotfixEngine(tiny_loaded, HotfixStore(tmp_path / "reg", create=True), EngineConfig(max_new_tokens=32))


def test_greedy_equals_transformers_generate_and_batching_changes_nothing(engine):
    tok, model = engine.tokenizer, engine.model
    alone = []
    for p in PROMPTS:
        ids = torch.tensor([tok(p, add_special_tokens=False)["input_ids"]])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                             pad_token_id=tok.pad_token_id)
        alone.append(tok.decode([t for t in out[0, ids.shape[1]:].tolist() if t != tok.eos_token_id],
                                skip_special_tokens=True))
    together = engine.generate(PROMPTS, max_tokens=12, temperature=0)
    assert together.texts == alone
    assert together.completion_tokens > 0 and together.prompt_tokens == sum(
        len(tok(p, add_special_tokens=False)["input_ids"]) for p in PROMPTS)


def test_a_seed_reproduces_samples_whatever_shares_the_batch(engine):
    s = Sampling(max_tokens=10, temperature=1.0, seed=7)
    alone = engine.rows([PROMPTS[0]], s, n=2)
    engine.run(alone)
    mixed = engine.rows([PROMPTS[0]], s, n=2) + engine.rows([PROMPTS[1]], Sampling(max_tokens=5, temperature=0.5))
    engine.run(mixed)
    assert [r.text for r in alone] == [r.text for r in mixed[:2]]
    assert alone[0].text != alone[1].text  # sample k uses seed + k


def test_logprobs_and_top_alternatives(engine):
    gen = engine.generate([PROMPTS[0]], max_tokens=6, temperature=0, logprobs=3)
    lps = gen.logprobs[0]
    assert len(lps) == gen.completion_tokens
    for lp in lps:  # greedy: the chosen token is the most likely one
        assert len(lp.top) == 3 and lp.top[0] == (lp.token, lp.logprob) and lp.logprob <= 0
        assert lp.top[0][1] >= lp.top[1][1] >= lp.top[2][1]


def test_penalties_follow_openais_formula():
    rows = [Row([1], Sampling(presence_penalty=0.5, frequency_penalty=0.25, logit_bias=((3, 2.0),))),
            Row([1], Sampling())]
    proc = PenaltyProcessor(rows, vocab=4, device=torch.device("cpu"))
    active = torch.tensor([0, 1])
    for tok in (2, 2, 1):
        proc.update(active, torch.tensor([tok, tok]))
    out = proc(active, torch.zeros(2, 4))
    # token 2 twice: -(2 * 0.25 + 0.5); token 1 once: -(0.25 + 0.5); token 3: +2 bias
    assert out[0].tolist() == pytest.approx([0.0, -0.75, -1.0, 2.0])
    assert out[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert proc(torch.tensor([1]), torch.ones(1, 4)).tolist() == [[1.0, 1.0, 1.0, 1.0]]  # rows by index


def _greedy_tokens(engine, **settings):
    rows = engine.rows([PROMPTS[0]], Sampling(max_tokens=12, temperature=0, **settings))
    engine.run(rows)
    return rows[0].tokens


def test_logit_bias_and_frequency_penalty_change_greedy_output(engine):
    assert _greedy_tokens(engine, logit_bias=((5, 100.0),)) == [5] * 12
    with pytest.raises(RequestError, match="logit_bias: token id 99999 is not in the vocabulary"):
        _greedy_tokens(engine, logit_bias=((99999, 1.0),))
    plain, penalised = _greedy_tokens(engine), _greedy_tokens(engine, frequency_penalty=2.0)
    first_repeat = next(k for k, t in enumerate(plain) if t in plain[:k])
    # Until plain greedy repeats a token, the penalty lowers only tokens argmax does not pick.
    assert penalised[:first_repeat] == plain[:first_repeat] and penalised != plain


def test_stop_strings_end_the_text_and_are_held_back_from_streams(engine):
    greedy = engine.generate([PROMPTS[1]], max_tokens=16, temperature=0).texts[0]
    assert len(greedy) > 3
    stop = greedy[2:4]
    seen = []
    rows = engine.rows([PROMPTS[1]], Sampling(max_tokens=16, temperature=0, stop=(stop,)),
                       on_token=lambda row, delta, lps: seen.append((delta, row.finish_reason)))
    engine.run(rows)
    assert rows[0].text == greedy[: greedy.find(stop)] and rows[0].finish_reason == "stop"
    assert "".join(d for d, _ in seen) == rows[0].text and seen[-1][1] == "stop"
    held = Row([1], Sampling(stop=("abc",)), text="xx ab")
    assert held.visible == "xx "


def test_waiting_requests_are_decoded_together():
    release, calls = threading.Event(), []

    def run(rows, started=None):
        calls.append(len(rows))
        if len(calls) == 1:
            release.wait(5)  # the first batch is busy while three more requests queue up
        return {"h": "v1"}

    batcher = Batcher(run, max_rows=16, window_s=0.0)
    try:
        first = batcher.submit([Row([1], Sampling())])
        while not calls:
            pass
        rest = [batcher.submit([Row([1], Sampling()), Row([2], Sampling())]) for _ in range(3)]
        release.set()
        assert all(t.wait(5) == {"h": "v1"} for t in [first, *rest])
        assert calls == [1, 6]
        assert batcher.stats.max_requests == 3 and batcher.stats.multi_request_batches == 1
    finally:
        batcher.close()


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on():
    def run(rows, started=None):
        if rows[0].prompt_ids == [0]:
            raise RuntimeError("boom")
        return {}

    batcher = Batcher(run)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            batcher.submit([Row([0], Sampling())]).wait(5)
        assert batcher.submit([Row([1], Sampling())]).wait(5) == {}
    finally:
        batcher.close()


def test_decode_respects_each_rows_own_budget(engine):
    rows = [Row(engine.tokenizer(PROMPTS[0])["input_ids"], Sampling(max_tokens=n, temperature=0)) for n in (1, 4)]
    decode(engine.model, engine.tokenizer, rows)
    assert [len(r.tokens) <= n for r, n in zip(rows, (1, 4))] == [True, True]
    assert rows[0].finish_reason in ("length", "stop")
