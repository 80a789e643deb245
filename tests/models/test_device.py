"""Device plumbing, tested without a GPU.

The bug a GPU user would hit is a tensor created without ``device=`` (so on the default device, the
CPU) meeting the model's tensors on ``cuda``. We reproduce exactly that class of bug on a CPU-only
machine by swapping the roles: the model and its inputs stay on the CPU and the *default* device
becomes ``meta`` (``with torch.device("meta")``). A factory call that forgets ``device=`` now makes a
meta tensor; combining it with a CPU tensor raises "Tensor on device meta is not on the expected
device cpu", and reading it (``.tolist()``, ``float()``) raises too, as CUDA raises for cuda vs cpu.
Every code path is then run under that default device and must give the same numbers as without it.
(A CPU generator handed to ``multinomial`` on CUDA is not caught this way; the code builds it on the
model's device.)
"""

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.errors import ModelError
from codehotfix.models.adapters import build_adapter
from codehotfix.models.loading import load_model, model_device, resolve_device, resolve_dtype
from codehotfix.scoring import (collate, encode_case, reference_context_logprobs, reference_line_logprobs,
                                score_batch)

META = torch.device("meta")


def _batch(tokenizer, cases, kl=4, suffix=0):
    return collate([encode_case(tokenizer, c, 64, suffix) for c in cases], tokenizer.pad_token_id, kl)


def test_the_trick_catches_a_tensor_made_without_device():
    mask = torch.ones(2, 3, dtype=torch.long)
    with torch.device(META):
        with pytest.raises(RuntimeError, match="device"):
            mask.sum(-1, keepdim=True) + torch.arange(4)  # the pre-fix line of score_batch
        assert (mask.sum(-1, keepdim=True) + torch.arange(4, device=mask.device)).device.type == "cpu"


def test_resolve_device_and_dtype():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ModelError, match="device 'tpu0'"):
        resolve_device("tpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            resolve_device("cuda:1")
    assert resolve_dtype("auto", "meta") == torch.float32
    assert resolve_dtype("float32", "cpu") == torch.float32


def test_load_model_records_and_uses_its_device(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir), dtype="float32", threads=1, device=torch.device("cpu"))
    assert loaded.device == "cpu" and model_device(loaded.model) == torch.device("cpu")


def test_batch_to_moves_every_tensor(tiny_tokenizer, tiny_cases):
    batch = _batch(tiny_tokenizer, tiny_cases)
    assert batch.to("cpu") is batch
    moved = batch.to(META)
    tensors = {k: v for k, v in vars(moved).items() if isinstance(v, torch.Tensor)}
    # Every tensor field moves, whatever fields the batch grows (the masks of the unlearn spans among them).
    assert set(tensors) == {k for k, v in vars(batch).items() if isinstance(v, torch.Tensor)}
    assert {"ctx_ids", "cont_ids", "buggy_div_mask", "buggy_diff_mask"} <= set(tensors)
    assert all(t.device == META for t in tensors.values())
    assert moved.case_ids == batch.case_ids and moved.fixed_mask.shape == batch.fixed_mask.shape


@pytest.mark.parametrize("method", ["lora", "prefix_tuning"])
def test_scoring_makes_no_tensor_off_the_model_device(method, tiny_model, tiny_tokenizer, tiny_cases,
                                                      monkeypatch):
    cfg = load_config(overrides=[f"adapter.method={method}", "adapter.num_virtual_tokens=2"])
    model = build_adapter(tiny_model, cfg.adapter)
    if method == "prefix_tuning":
        # PEFT's prompt-learning forward builds its prefix mask on the host and then moves it
        # (torch.ones(...).to(device)): right on CUDA, but not copyable from meta. Run PEFT's own
        # forward with the host as default device; our code around it stays under the meta default.
        peft_forward = type(model).forward

        def host_forward(self, *args, **kwargs):
            with torch.device("cpu"):
                return peft_forward(self, *args, **kwargs)

        monkeypatch.setattr(type(model), "forward", host_forward)
    batch = _batch(tiny_tokenizer, tiny_cases)
    expect = score_batch(model, batch, with_context=True, with_snippet=True)
    with torch.device(META):
        got = score_batch(model, batch, with_context=True, with_snippet=True)
        ref_ctx = reference_context_logprobs(model, batch)
        ref_lines = reference_line_logprobs(model, batch)
    for name in ("fixed_logp", "buggy_logp", "ctx_token_logp", "ctx_logprobs"):
        torch.testing.assert_close(getattr(got, name), getattr(expect, name))
    assert ref_ctx.device.type == "cpu" and ref_lines[0].device.type == "cpu"


def test_evaluation_paths_make_no_tensor_off_the_model_device(tiny_model, tiny_tokenizer, tiny_cases):
    from codehotfix.evaluation.generation import encode_prompts, sample_lines
    from codehotfix.evaluation.locality import CodePrompt, run_locality
    from codehotfix.evaluation.perplexity import CorpusText, run_perplexity
    from codehotfix.scoring import line_logprobs

    model = build_adapter(tiny_model, load_config().adapter)
    prompts = encode_prompts(tiny_tokenizer, [c.prefix for c in tiny_cases], 64)

    def run():
        return (line_logprobs(model, tiny_tokenizer, tiny_cases, batch_size=2),
                sample_lines(model, tiny_tokenizer, prompts, n=3, do_sample=True, top_p=0.9, temperature=1.0,
                             max_new_tokens=6, seed=1),
                sample_lines(model, tiny_tokenizer, prompts, n=1, do_sample=False, top_p=1.0, temperature=1.0,
                             max_new_tokens=6, seed=0, first_line_only=False, stop=["\n"]),
                run_locality(model, tiny_tokenizer, [CodePrompt(f"p{i}", c.prefix) for i, c in enumerate(tiny_cases)],
                             max_new_tokens=4, progress=False)["records"],
                run_perplexity(model, tiny_tokenizer, [CorpusText(c.id, c.prefix + c.fixed) for c in tiny_cases],
                               n_resamples=100, progress=False)["records"])

    expect = run()
    with torch.device(META):
        got = run()
    assert got[:3] == expect[:3]
    assert [r["base"] for r in got[3]] == [r["base"] for r in expect[3]]
    assert [r["base_nll"] for r in got[4]] == [r["base_nll"] for r in expect[4]]


def test_training_step_makes_no_tensor_off_the_model_device(tiny_model, tiny_tokenizer, tiny_cases, monkeypatch):
    from codehotfix.training import loop

    from codehotfix.objectives.base import ObjectiveConfig

    cfg = load_config(overrides=["training.epochs=1", "training.batch_size=2", "training.warmup_steps=0"])
    # Every kind of reference the loop caches: context distributions, base line log-probs, retain corpus.
    cfg.objectives = [ObjectiveConfig("fixed_ce", 1.0), ObjectiveConfig("npo", 0.3),
                      ObjectiveConfig("kl_context", 1.0), ObjectiveConfig("kl_corpus", 0.5)]
    model = build_adapter(tiny_model, cfg.adapter)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)

    class HostAdamW(torch.optim.AdamW):
        """torch's AdamW keeps its step counter on the default device; that is torch's business."""

        def step(self, closure=None):
            with torch.device("cpu"):
                return super().step(closure)

    monkeypatch.setattr(loop.torch.optim, "AdamW", HostAdamW)
    with torch.device(META):
        result = loop.train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(h["loss"])) for h in result.history)
