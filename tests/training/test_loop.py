"""The training loop: it moves probability from the buggy line to the fixed line, KL is zero with the
adapter disabled, the same seed gives the same adapter, and an interrupted run resumes."""

import json

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.models.adapters import build_adapter
from codehotfix.objectives import build_objectives
from codehotfix.scoring import collate, encode_case, line_logprobs, reference_context_logprobs, score_batch
from codehotfix.training.loop import train_adapter

def relabel_checkpoint(folder, cfg, cases):
    """Rewrites the fingerprint in a checkpoint's state.json as the run of ``cfg`` on ``cases``'s."""
    from codehotfix.training.checkpoint import STATE_FILE, fingerprint

    state = json.loads((folder / STATE_FILE).read_text())
    state["fingerprint"] = fingerprint(cfg, cases)
    (folder / STATE_FILE).write_text(json.dumps(state))


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


def test_kl_suffix_keeps_what_follows_the_fixed_line_closer_to_the_base(tiny_model, tiny_tokenizer, tiny_cases):
    """Training on the fixed line moves the model's distributions after it; kl_suffix, zero at the
    start, holds them nearer the base model's, with the base's top-k taken from the adapter-off model."""
    import copy
    from dataclasses import replace

    from codehotfix.objectives.retain import topk_kl
    from codehotfix.training.reference import CaseReference

    cases = [replace(c, suffix="    return value\n\nprint(total)\n") for c in tiny_cases]
    batch = collate([encode_case(tiny_tokenizer, c, 64, suffix_tokens=6) for c in cases], tiny_tokenizer.pad_token_id)
    drift = {}
    for objectives in ("[{name: fixed_ce}]", "[{name: fixed_ce}, {name: kl_suffix, weight: 5.0, params: {suffix_tokens: 6}}]"):
        cfg = load_config(overrides=FAST + [f"objectives={objectives}"])
        model = build_adapter(copy.deepcopy(tiny_model), cfg.adapter)
        reference = CaseReference(model)
        ref_logp, ref_index = reference.suffix(batch, 8)
        assert ref_logp.shape == (int(batch.suffix_mask.sum()), 8) and reference.suffix(batch, 8)[0] is not ref_logp
        result = train_adapter(model, tiny_tokenizer, cases, cfg, progress=False)
        with torch.no_grad():
            after = score_batch(model, batch, with_suffix=True).suffix_logprobs
            # The cached reference is the base model's: the same after training, read from the cache.
            assert torch.equal(CaseReference(model).suffix(batch, 8)[1], ref_index)
        drift[objectives] = topk_kl(after, ref_logp, ref_index).mean().item()
        if "kl_suffix" in objectives:
            assert result.history[0]["kl_suffix"] == 0.0 and result.history[-1]["kl_suffix"] > 0.0
    plain, held = drift.values()
    assert plain > 1e-3 and held < 0.75 * plain, drift  # seeded: 0.0024 against 0.0012 here


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
    # The checkpoint belongs to a different config (2 epochs), so relabel it as the 3-epoch run's.
    relabel_checkpoint(ckpt, cfg, tiny_cases)
    resumed = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    result = train_adapter(resumed, tiny_tokenizer, tiny_cases, cfg, checkpoint_dir=ckpt, progress=False)
    assert result.resumed_from_epoch == 2 and result.steps == 6 and len(result.history) == 6
    want = {k: v for k, v in full.named_parameters() if v.requires_grad}
    for k, v in resumed.named_parameters():
        if v.requires_grad:
            assert torch.allclose(v, want[k], atol=1e-6), k


@pytest.mark.parametrize("objectives, term", [
    ("[{name: snippet_ce, params: {suffix_tokens: 8}}]", "snippet_ce"),
    ("[{name: fixed_ce}, {name: suffix_ce, params: {suffix_tokens: 8}}]", "suffix_ce"),
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


def test_infinite_lr_stops_at_the_first_step_and_writes_nothing(tmp_path, tiny_model_dir, tiny_cases):
    """Issue 14: training.lr=inf wrote an adapter of NaN/inf tensors with exit 0."""
    from codehotfix import api
    from codehotfix.models.adapters import NonFiniteError

    cfg = load_config(overrides=FAST[1:])
    cfg.training.lr = float("inf")  # set on the object: the config may (rightly) reject inf on load
    out = tmp_path / "hotfix"
    with pytest.raises(NonFiniteError, match=r"step 1 \(epoch 1\).*trainable weight.*NaN or infinite.*lr \(inf\)"):
        api.train(tiny_cases, out, model=str(tiny_model_dir), config=cfg, progress=False)
    assert not out.exists()


def test_nan_loss_term_is_named_and_nothing_is_checkpointed(tmp_path, tiny_model, tiny_tokenizer, tiny_cases,
                                                            monkeypatch):
    from codehotfix.models.adapters import NonFiniteError
    from codehotfix.objectives.base import LossOutput
    from codehotfix.objectives.learn import FixedLineCEObjective

    real = FixedLineCEObjective.__call__
    calls = {"n": 0}

    def nan_on_third_call(self, scores):
        calls["n"] += 1
        out = real(self, scores)
        return LossOutput(out.loss * float("nan"), out.metrics) if calls["n"] == 3 else out

    monkeypatch.setattr(FixedLineCEObjective, "__call__", nan_on_third_call)
    cfg = load_config(overrides=FAST[:1] + ["training.epochs=3", "training.batch_size=4",
                                            "objectives=[{name: fixed_ce}, {name: kl_context}]"])
    ckpt = tmp_path / "ckpt"
    with pytest.raises(NonFiniteError, match=r"step 3 \(epoch 3\).*loss term 'loss/fixed_ce' is nan"):
        train_adapter(build_adapter(tiny_model, cfg.adapter), tiny_tokenizer, tiny_cases, cfg,
                      checkpoint_dir=ckpt, progress=False)
    assert json.loads((ckpt / "state.json").read_text())["epoch"] == 2  # the last finite epoch, not step 3


def test_hooks_see_every_step_and_epoch_and_a_stop_equals_a_shorter_run(tiny_tokenizer, tiny_cases):
    """on_step_end gets step/epoch/metrics/model/batch after every step; an on_epoch_end hook that
    returns True ends the run after that epoch, with the same weights as a run of that many epochs."""
    from codehotfix.api import seed_everything
    from codehotfix.training.loop import TrainerCallback
    from tiny_model import build_tiny_model

    steps, epochs = [], []

    def on_step(event):
        steps.append((event.step, event.epoch, event.batch.size, {"loss", "grad_norm", "lr"} <= set(event.metrics)))
        assert event.model is model and event.model.training

    def on_epoch(event):
        epochs.append((event.epoch, event.step, event.metrics["loss"], event.seconds >= 0))
        return event.epoch == 2

    def trained(epochs_cfg):
        cfg = load_config(overrides=FAST[:1] + [f"training.epochs={epochs_cfg}", "training.batch_size=2"])
        seed_everything(cfg.seed)
        net = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
        return net, train_adapter(net, tiny_tokenizer, tiny_cases, cfg, progress=False)

    cfg = load_config(overrides=FAST[:1] + ["training.epochs=5", "training.batch_size=2"])
    seed_everything(cfg.seed)
    model = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
    result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False,
                           callbacks=[TrainerCallback(on_step, on_epoch)])
    assert [(s, e) for s, e, _, _ in steps] == [(1, 1), (2, 1), (3, 2), (4, 2)]  # 4 cases, batches of 2
    assert all(size == 2 and logged for _, _, size, logged in steps)
    assert [(e, s) for e, s, _, _ in epochs] == [(1, 2), (2, 4)] and all(ok for *_, ok in epochs)
    assert result.steps == 4 and result.epochs == 2 and len(result.history) == 4
    assert epochs[-1][2] == result.final_metrics["loss"]
    short, _ = trained(2)
    want = {k: v for k, v in short.named_parameters() if v.requires_grad}
    assert all(torch.equal(v, want[k]) for k, v in model.named_parameters() if v.requires_grad)


def test_trainer_runs_any_model_loss_and_batches():
    """The Trainer is not tied to hotfix cases: a least-squares fit through it converges, clipping
    off logs grad_norm 0, no schedule logs the optimiser's lr, and a failing check stops the run."""
    from codehotfix.objectives.base import LossOutput
    from codehotfix.training.loop import Trainer

    torch.manual_seed(0)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1, bias=False)

    def loss_of(net, rows):
        loss = ((net(x[rows]).squeeze(-1) - y[rows]) ** 2).mean()
        return LossOutput(loss, {"loss": loss.item()})

    seen = []
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_of, params=list(model.parameters()),
                      check=lambda m, step, epoch: seen.append((step, epoch)) or m)
    trainer.fit(lambda epoch: [list(range(i, i + 8)) for i in range(0, 32, 8)], epochs=30)
    assert trainer.metrics["loss"] < 1e-4 and trainer.metrics["grad_norm"] == 0.0 and trainer.metrics["lr"] == 0.1
    assert seen[:5] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 2)] and trainer.step == 120 and not model.training

    def fail_at_third(metrics, step, epoch):
        if step == 3:
            raise RuntimeError(f"stop at {step}")
        return metrics

    broken = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_of, params=list(model.parameters()),
                     check=fail_at_third)
    with pytest.raises(RuntimeError, match="stop at 3"):
        broken.fit(lambda epoch: [[0, 1], [2, 3]], epochs=3)


def test_a_case_with_a_line_over_the_limit_is_left_out_named_and_recorded(tiny_tokenizer, tiny_cases, caplog,
                                                                          monkeypatch):
    """A generated 'line' of thousands of tokens would make its batch's logits tens of GB: training
    leaves it out, logs its id, records it in the result, and trains the same as without it."""
    import logging

    from codehotfix.data.cases import HotfixCase
    from codehotfix.errors import DataError
    from codehotfix.scoring import encoding
    from tiny_model import build_tiny_model

    monkeypatch.setattr(encoding, "LINE_TOKEN_LIMIT", 40)  # the tiny tokenizer's lines are short
    blob = HotfixCase(id="blob/0", prefix="TABLE = \\\n", buggy='    "' + "ab&" * 200 + '"',
                      fixed='    "' + "ab&" * 199 + 'c"', group="blob")
    cfg = load_config(overrides=["training.epochs=1", "training.batch_size=2", "objectives=[{name: fixed_ce}]"])

    def train(cases):
        torch.manual_seed(0)
        model = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
        return model, train_adapter(model, tiny_tokenizer, cases, cfg, progress=False)

    with caplog.at_level(logging.WARNING, logger="codehotfix.scoring.encoding"):
        with_blob, result = train([*tiny_cases, blob])
    assert [r["id"] for r in result.left_out] == ["blob/0"] and result.left_out[0]["buggy_tokens"] > 40
    assert "training leaves out 1 of 5 cases" in caplog.text and "blob/0" in caplog.text
    without, clean = train(tiny_cases)
    assert clean.left_out == [] and clean.steps == result.steps
    for (name, a), (_, b) in zip(with_blob.named_parameters(), without.named_parameters()):
        assert torch.equal(a, b), name
    with pytest.raises(DataError, match="training: every case has a line over 40 tokens: blob/0"):
        train([blob])


def test_reference_states_from_a_scoring_pass_train_the_same_adapter(tiny_tokenizer, tiny_cases):
    """The demo hands training the base model's context states from its selection pass
    (``line_logprobs_with_states``): the kl_context reference made from them is the one training
    computes itself, so the run's losses and adapter are the same (float32), and the manifest counts
    the cases it covered."""
    from tiny_model import build_tiny_model

    from codehotfix.api import seed_everything
    from codehotfix.scoring import line_logprobs_with_states

    torch.set_num_threads(1)
    cfg = load_config(overrides=FAST[:1] + ["training.epochs=2", "training.batch_size=2"])
    k = build_objectives(cfg.objectives).kl_positions()
    assert k > 0  # the default recipe compares context positions

    def run(with_states):
        base = build_tiny_model(len(tiny_tokenizer))
        states = None
        if with_states:
            margins, states = line_logprobs_with_states(base, tiny_tokenizer, tiny_cases, positions=k,
                                                        max_context_tokens=cfg.training.max_context_tokens,
                                                        batch_size=3)
            assert margins == line_logprobs(base, tiny_tokenizer, tiny_cases,
                                            max_context_tokens=cfg.training.max_context_tokens, batch_size=3)
            assert set(states) == {c.id for c in tiny_cases}
        seed_everything(cfg.seed)
        model = build_adapter(base, cfg.adapter)
        result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False, reference_states=states)
        weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        return result, weights

    plain, w_plain = run(False)
    primed, w_primed = run(True)
    assert plain.reference_from_states == 0 and primed.reference_from_states == len(tiny_cases)
    for a, b in zip(plain.history, primed.history):
        assert a["kl"] == pytest.approx(b["kl"], abs=1e-5) and a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    assert all(torch.allclose(w_plain[n], w_primed[n], atol=1e-5) for n in w_plain)


def test_reference_states_for_other_inputs_are_refused_by_case(tiny_model, tiny_tokenizer, tiny_cases):
    from codehotfix.scoring import line_logprobs_with_states

    cfg = load_config(overrides=FAST[:1] + ["training.epochs=1"])
    k = build_objectives(cfg.objectives).kl_positions()
    _, states = line_logprobs_with_states(tiny_model, tiny_tokenizer, tiny_cases, positions=2)  # not K: 2 positions
    states = {cid: h for cid, h in states.items() if cid == "yaml/0"}  # the other cases: computed in training
    model = build_adapter(tiny_model, cfg.adapter)
    with pytest.raises(ValueError, match=r"reference_states\['yaml/0'\].*expected \d+ positions"):
        train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False, reference_states=states)
    with pytest.raises(ValueError, match="carries an adapter"):
        line_logprobs_with_states(model, tiny_tokenizer, tiny_cases, positions=k)
