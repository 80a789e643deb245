"""The training loop: it moves probability from the buggy line to the fixed line, KL is zero with the
adapter disabled, the same seed gives the same adapter, and an interrupted run resumes."""

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.evaluation.rates import line_logprobs
from codehotfix.models.adapters import build_adapter
from codehotfix.objectives import build_objectives
from codehotfix.training.batching import collate, encode_case, reference_context_logprobs, score_batch
from codehotfix.training.loop import train_adapter

FAST = ["training.lr=0.01", "training.epochs=15", "training.batch_size=4", "training.warmup_steps=0"]


def test_training_raises_fixed_and_lowers_buggy(tiny_model, tiny_tokenizer, tiny_cases):
    cfg = load_config(overrides=FAST)
    model = build_adapter(tiny_model, cfg.adapter)
    before = line_logprobs(model, tiny_tokenizer, tiny_cases)
    result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    after = line_logprobs(model, tiny_tokenizer, tiny_cases)
    assert result.steps == 15 and result.history[-1]["loss"] < result.history[0]["loss"]
    for (f0, b0), (f1, b1) in zip(before, after):
        assert f1 > f0 + 1.0  # log p(fixed) rises
        assert (f1 - b1) > (f0 - b0) + 1.0  # and the margin over the buggy line widens


def test_kl_is_zero_before_training_and_reference_ignores_the_adapter(tiny_model, tiny_tokenizer, tiny_cases):
    cfg = load_config(overrides=FAST)
    model = build_adapter(tiny_model, cfg.adapter)
    kl = build_objectives(cfg.objectives)
    batch = collate([encode_case(tiny_tokenizer, c, 64) for c in tiny_cases], tiny_tokenizer.pad_token_id, 8)
    with torch.no_grad():
        # A fresh LoRA adapter is the identity (B = 0): the KL term is exactly zero.
        ref = reference_context_logprobs(model, batch)
        scores = score_batch(model, batch, with_context=True, reference=ref)
        assert kl(scores).metrics["kl"] == 0.0
    train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    with torch.no_grad():
        # After training, the reference (adapter disabled) is still the untouched base model…
        assert torch.equal(reference_context_logprobs(model, batch), ref)
        # …while the adapted model has moved away from it.
        scores = score_batch(model, batch, with_context=True, reference=ref)
        assert kl(scores).metrics["kl"] > 0.0


def test_same_seed_same_adapter_other_seed_differs(tiny_tokenizer, tiny_cases):
    from tiny_model import build_tiny_model

    def run(seed):
        from codehotfix.api import seed_everything

        cfg = load_config(overrides=FAST[:1] + ["training.epochs=2", f"seed={seed}"])
        base = build_tiny_model(len(tiny_tokenizer))
        seed_everything(cfg.seed)  # as api.train does: the seed also fixes the adapter's initialisation
        model = build_adapter(base, cfg.adapter)
        train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
        return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_interrupted_run_resumes_from_the_last_epoch(tmp_path, tiny_tokenizer, tiny_cases):
    from tiny_model import build_tiny_model

    cfg = load_config(overrides=FAST[:1] + ["training.epochs=3", "training.batch_size=2"])
    full = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    train_adapter(full, tiny_tokenizer, tiny_cases, cfg, progress=False)

    # Simulate an interruption after epoch 2: train 2 epochs with checkpoints, then resume to 3.
    ckpt = tmp_path / "ckpt"
    part = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    two = load_config(overrides=FAST[:1] + ["training.epochs=3", "training.batch_size=2"])
    two.training.epochs = 2
    train_adapter(part, tiny_tokenizer, tiny_cases, two, checkpoint_dir=ckpt, progress=False)
    # The checkpoint belongs to a different config (2 epochs), so rewrite it as the 3-epoch run's.
    import codehotfix.training.loop as loop

    state = torch.load(ckpt / "state.pt", weights_only=False)
    state["fingerprint"] = loop._fingerprint(cfg, tiny_cases)
    torch.save(state, ckpt / "state.pt")
    resumed = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    result = train_adapter(resumed, tiny_tokenizer, tiny_cases, cfg, checkpoint_dir=ckpt, progress=False)
    assert result.resumed_from_epoch == 2
    want = {k: v for k, v in full.named_parameters() if v.requires_grad}
    for k, v in resumed.named_parameters():
        if v.requires_grad:
            assert torch.allclose(v, want[k], atol=1e-6), k


@pytest.mark.parametrize("objectives, term", [
    ("[{name: snippet_ce, params: {suffix_tokens: 8}}]", "snippet_ce"),
    ("[{name: fixed_ce}, {name: npo}]", "npo"),
    ("[{name: dpo}, {name: kl_context}]", "dpo"),
    ("[{name: simpo}]", "simpo"),
    ("[{name: fixed_ce}, {name: orpo, weight: 0.1}]", "orpo"),
    ("[{name: penalize}]", "penalize"),
    ("[{name: gradient_ascent, weight: 0.1}, {name: kl_context}]", "gradient_ascent"),
])
def test_every_objective_trains_through_the_loop(objectives, term, tiny_model, tiny_tokenizer, tiny_cases):
    """Each objective, picked by name in the config, runs in the one loop and its own term falls."""
    from dataclasses import replace

    cases = [replace(c, suffix="    return value\n\nprint(total)\n") for c in tiny_cases]
    cfg = load_config(overrides=FAST[:1] + ["training.epochs=4", "training.batch_size=4", "training.warmup_steps=0",
                                            f"objectives={objectives}"])
    model = build_adapter(tiny_model, cfg.adapter)
    result = train_adapter(model, tiny_tokenizer, cases, cfg, progress=False)
    losses = [h[f"loss/{term}"] for h in result.history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
