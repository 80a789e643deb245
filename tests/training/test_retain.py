"""Retain corpus: the built-in corpus, user corpora (JSONL and folders) with clear errors, seeded
sampling, and kl_corpus being exactly zero for a fresh adapter and positive once it has trained."""

import json

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.errors import DataError
from codehotfix.models.adapters import build_adapter
from codehotfix.objectives import OBJECTIVES
from codehotfix.scoring import Scores, base_model_view
from codehotfix.training.loop import train_adapter
from codehotfix.training.retain import RetainReference, RetainSampler, load_retain_corpus, retain_logprobs


def test_builtin_corpus_is_cpython_stdlib_snippets_of_20_to_60_lines():
    snippets = load_retain_corpus()
    assert 100 <= len(snippets) <= 140
    assert len({s.id for s in snippets}) == len(snippets)
    assert all(20 <= len(s.text.splitlines()) <= 60 for s in snippets)
    assert all(s.id.startswith("cpython3.11/") for s in snippets)
    assert sum(len(s.text.encode()) for s in snippets) < 200_000


def test_user_corpus_jsonl_and_folder(tmp_path):
    path = tmp_path / "retain.jsonl"
    path.write_text(json.dumps({"id": "a", "text": "x = 1\n"}) + "\n\n" + json.dumps({"id": "b", "text": "y = 2\n"}) + "\n")
    assert [s.id for s in load_retain_corpus(path)] == ["a", "b"]
    folder = tmp_path / "src"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (folder / "notes.bin").write_bytes(b"\x00\x01")
    (folder / "empty.py").write_text("\n")
    assert [s.id for s in load_retain_corpus(folder)] == ["pkg/mod.py"]


@pytest.mark.parametrize("lines, message", [
    (['{"id": "a", "text": "x"}', "{not json"], r"retain.jsonl:2: not valid JSON"),
    (['{"id": "a"}'], r"retain.jsonl:1: field 'text' must be a non-empty string"),
    (['{"id": "a", "text": "x", "lang": "py"}'], r"retain.jsonl:1: unknown field\(s\) \['lang'\]"),
    (['{"id": "a", "text": "x"}', '{"id": "a", "text": "y"}'], r"retain.jsonl:2: field 'id': duplicate id 'a'"),
])
def test_bad_corpus_names_file_line_and_field(tmp_path, lines, message):
    path = tmp_path / "retain.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message):
        load_retain_corpus(path)


def test_missing_or_empty_corpus(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_retain_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="no snippets"):
        load_retain_corpus(tmp_path / "empty.jsonl")


def test_sampler_is_seeded_and_truncates(tiny_tokenizer):
    snippets = load_retain_corpus()[:20]
    a, b = RetainSampler(snippets, tiny_tokenizer, 3, 16, seed=0), RetainSampler(snippets, tiny_tokenizer, 3, 16, seed=0)
    seq_a = [a.next_batch().snippet_ids for _ in range(4)]
    assert seq_a == [b.next_batch().snippet_ids for _ in range(4)]
    other = RetainSampler(snippets, tiny_tokenizer, 3, 16, seed=1)
    assert seq_a != [other.next_batch().snippet_ids for _ in range(4)]
    batch = a.next_batch()
    assert batch.ids.shape == (3, 16) and batch.mask.all()  # stdlib snippets are longer than 16 tokens


def test_kl_corpus_is_zero_for_a_fresh_adapter_and_grows_with_training(tiny_model, tiny_tokenizer, tiny_cases):
    cfg = load_config(overrides=["training.lr=0.01", "training.epochs=4", "training.warmup_steps=0",
                                 "objectives=[{name: fixed_ce}, {name: kl_corpus, params: {max_tokens: 32}}]"])
    model = build_adapter(tiny_model, cfg.adapter)
    sampler = RetainSampler(load_retain_corpus(), tiny_tokenizer, 2, 32, seed=0)
    ref = RetainReference(top_k=8)
    batch = sampler.next_batch()

    def kl():
        with torch.no_grad():
            with base_model_view(model) as base:
                values, index = ref.get(base, batch)
            s = Scores(torch.zeros(1, 1), torch.ones(1, 1, dtype=torch.bool), torch.zeros(1, 1),
                       torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool),
                       retain_logprobs=retain_logprobs(model, batch), retain_mask=batch.mask.bool(),
                       ref_retain_logp=values, ref_retain_index=index)
            return OBJECTIVES.get("kl_corpus")(top_k=8)(s).loss.item()

    assert kl() == 0.0  # LoRA's B starts at zero: the adapted model is the base
    result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    assert result.history[0]["kl_corpus"] == 0.0
    assert kl() > 0.0 and all(h["kl_corpus"] >= 0.0 for h in result.history)


def test_resumed_run_draws_the_same_retain_batches(tmp_path, tiny_tokenizer, tiny_cases):
    from tiny_model import build_tiny_model

    from codehotfix.training.checkpoint import fingerprint

    over = ["training.lr=0.01", "training.batch_size=2", "training.warmup_steps=0",
            "objectives=[{name: fixed_ce}, {name: kl_corpus, params: {max_tokens: 16}}]"]
    cfg = load_config(overrides=over + ["training.epochs=2"])
    full = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    want = train_adapter(full, tiny_tokenizer, tiny_cases, cfg, progress=False).history
    # Train one epoch with checkpoints, relabel the checkpoint as the 2-epoch run's, and resume.
    ckpt, one = tmp_path / "ckpt", load_config(overrides=over + ["training.epochs=1"])
    train_adapter(build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter), tiny_tokenizer, tiny_cases, one,
                  checkpoint_dir=ckpt, progress=False)
    state = json.loads((ckpt / "state.json").read_text())
    assert state["retain_rng"] is not None
    state["fingerprint"] = fingerprint(cfg, tiny_cases)
    (ckpt / "state.json").write_text(json.dumps(state))
    got = train_adapter(build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter), tiny_tokenizer, tiny_cases,
                        cfg, checkpoint_dir=ckpt, progress=False).history
    assert [h["kl_corpus"] for h in got] == pytest.approx([h["kl_corpus"] for h in want], abs=1e-6)


# ---------------------------------------------------------------- the reference kept across runs


def _reference(model, batch, ref):
    with torch.no_grad():
        return ref.get(model, batch)  # the model is the base here (no adapter)


def test_a_snippets_reference_does_not_depend_on_the_snippets_drawn_beside_it(tiny_model, tiny_tokenizer):
    from codehotfix.training.retain import RetainSnippet

    # Snippets of different lengths, so a batch pads the shorter ones: each entry is still computed alone.
    snippets = [RetainSnippet(f"s{n}", "x = compute(value)\n" * n) for n in (1, 2, 3, 5)]
    sampler = RetainSampler(snippets, tiny_tokenizer, 3, 400, seed=0)
    batch = sampler.next_batch()
    assert not batch.mask.all()  # the test needs padding in the batch
    values, index = _reference(tiny_model, batch, RetainReference(top_k=8))
    padded = retain_logprobs(tiny_model, batch).topk(8, dim=-1)
    for r, sid in enumerate(batch.snippet_ids):
        alone = RetainSampler([s for s in snippets if s.id == sid], tiny_tokenizer, 1, 400, seed=0).next_batch()
        v1, i1 = _reference(tiny_model, alone, RetainReference(top_k=8))
        n = int(batch.mask[r].sum())
        assert torch.equal(values[r, :n], v1[0]) and torch.equal(index[r, :n], i1[0])
        assert torch.allclose(values[r, :n], padded.values[r, :n], atol=1e-5)  # and it is the same reference
        assert (values[r, n:] == -1e4).all()  # padding positions carry no mass


def test_the_store_serves_a_second_run_without_running_the_base_model(tmp_path, tiny_model, tiny_tokenizer):
    sampler = RetainSampler(load_retain_corpus()[:10], tiny_tokenizer, 2, 24, seed=0)
    batches = [sampler.next_batch() for _ in range(3)]
    first = RetainReference(top_k=8, store=tmp_path)
    want = [_reference(tiny_model, b, first) for b in batches]
    assert first.path is not None and not first.path.exists()  # nothing written before save()
    assert first.save() == first.computed > 0 and first.path.is_file()
    assert first.save() == 0  # nothing new

    calls = []
    hook = tiny_model.register_forward_hook(lambda *a: calls.append(1))
    second = RetainReference(top_k=8, store=tmp_path)
    got = [_reference(tiny_model, b, second) for b in batches]
    hook.remove()
    assert calls == [] and second.computed == 0 and second.from_store == first.computed
    for (v, i), (v2, i2) in zip(want, got):
        assert torch.equal(v, v2) and torch.equal(i, i2)
    # Another top_k (or dtype, machine, versions) is another file; the first is left as it was.
    other = RetainReference(top_k=4, store=tmp_path)
    _reference(tiny_model, batches[0], other)
    assert other.path != first.path and other.computed == 2 and other.from_store == 0


def test_the_store_keys_entries_by_tokens_and_survives_a_broken_file(tmp_path, tiny_model, tiny_tokenizer, caplog):
    from codehotfix.training.retain import RetainSnippet

    def batch_of(text):
        return RetainSampler([RetainSnippet("same-id", text)], tiny_tokenizer, 1, 24, seed=0).next_batch()

    ref = RetainReference(top_k=8, store=tmp_path)
    _reference(tiny_model, batch_of("def f(x):\n    return x + 1\n"), ref)
    ref.save()
    edited = RetainReference(top_k=8, store=tmp_path)
    _reference(tiny_model, batch_of("def f(x):\n    return x - 1\n"), edited)  # same id, other text
    assert edited.computed == 1 and edited.from_store == 0
    assert edited.save() == 1

    edited.path.write_bytes(b"not a safetensors file")
    broken = RetainReference(top_k=8, store=tmp_path)
    with caplog.at_level("WARNING"):
        _reference(tiny_model, batch_of("def f(x):\n    return x + 1\n"), broken)
    assert broken.computed == 1 and "unreadable kl_corpus reference store" in caplog.text
    assert broken.save() == 1  # rewritten whole, readable again
    again = RetainReference(top_k=8, store=tmp_path)
    _reference(tiny_model, batch_of("def f(x):\n    return x + 1\n"), again)
    assert again.from_store == 1 and again.computed == 0


def test_training_twice_on_one_store_gives_the_same_adapter(tmp_path, tiny_tokenizer, tiny_cases):
    from tiny_model import build_tiny_model

    cfg = load_config(overrides=["training.lr=0.01", "training.batch_size=2", "training.warmup_steps=0",
                                 "objectives=[{name: fixed_ce}, {name: kl_corpus, params: {max_tokens: 24}}]"])
    torch.manual_seed(0)
    base = build_tiny_model(len(tiny_tokenizer))
    results, weights = [], []
    for _ in range(2):
        model = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
        model.base_model.model.load_state_dict(base.state_dict(), strict=False)
        results.append(train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False, retain_store=tmp_path))
        weights.append({k: v.clone() for k, v in model.named_parameters() if v.requires_grad})
    first, second = results
    assert first.retain_reference["computed"] > 0 and first.retain_reference["from_store"] == 0
    assert second.retain_reference == {"from_store": first.retain_reference["computed"], "computed": 0,
                                       "store": first.retain_reference["store"]}
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
