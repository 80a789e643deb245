"""bench/hotfix_cost.py: its pieces (censoring, ratios and their bounds, the token counter that sees
every batch) on hand-made inputs and the tiny model, and the whole script end to end with --tiny
(three seeds, all three systems). No timings are asserted: only structure and counts."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
import torch

# bench/ lives next to src/, not inside the package; make `import bench` work under plain `pytest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import hotfix_cost  # noqa: E402
from bench.common import PassCounter, parse_targets, spread  # noqa: E402
from codehotfix.errors import CodehotfixError  # noqa: E402

TARGET = parse_targets(["prefers_fixed>=0.9"])


def _epochs(*values):
    return [{"epoch": i + 1, "prefers_fixed": v, "reached": v >= 0.9} for i, v in enumerate(values)]


def test_a_capped_run_is_censored_while_improving_and_plateaued_when_flat():
    assert hotfix_cost.run_status(_epochs(0.5, 0.95), TARGET, patience=2) == "reached"
    assert hotfix_cost.run_status(_epochs(0.5, 0.6, 0.7, 0.8), TARGET, patience=2) == "censored"
    assert hotfix_cost.run_status(_epochs(0.5, 0.8, 0.8, 0.7), TARGET, patience=2) == "plateaued"
    assert hotfix_cost.run_status(_epochs(0.5, 0.6), TARGET, patience=2) == "censored"  # too short to tell


def _row(system, seed, reached, t, train_s, epoch_s=1.0, flops=10.0):
    return {"system": system, "seed": seed, "reached": reached, "time_to_effect_s": t if reached else None,
            "train_s": train_s, "epoch_s": epoch_s, "model_flops_to_effect": flops, "peak_rss_mb": 100.0,
            "status": "reached" if reached else "censored"}


def test_ratios_say_when_they_are_bounds_and_the_summary_spreads_over_seeds():
    ref = _row("codehotfix", 0, True, 10.0, 10.0)
    assert hotfix_cost.ratio(_row("x", 0, True, 20.0, 20.0), ref) == (2.0, "exact")
    assert hotfix_cost.ratio(_row("x", 0, False, None, 30.0), ref) == (3.0, "lower")
    assert hotfix_cost.ratio(_row("x", 0, True, 5.0, 5.0), _row("codehotfix", 0, False, None, 50.0)) == (0.1, "upper")
    assert hotfix_cost.ratio(_row("x", 0, False, None, 5.0), _row("codehotfix", 0, False, None, 5.0)) == (None, "none")
    rows = [_row("codehotfix", s, True, 10.0, 10.0, epoch_s=2.0) for s in (0, 1, 2)]
    rows += [_row("paper_recipe", 0, True, 20.0, 20.0, epoch_s=4.0), _row("paper_recipe", 1, True, 40.0, 40.0),
             _row("paper_recipe", 2, False, None, 80.0, epoch_s=8.0)]
    paper = hotfix_cost.summarize(rows, ["codehotfix", "paper_recipe"])[1]
    assert paper["time_ratio"]["median"] == 4.0 and (paper["time_ratio"]["min"], paper["time_ratio"]["max"]) == (2.0, 8.0)
    assert paper["time_ratio"]["bound"] == "lower"  # seed 2 never reached the target
    assert paper["statuses"] == {"reached": 2, "censored": 1, "plateaued": 0}
    assert paper["epoch_ratio"] == spread([2.0, 0.5, 4.0])


def test_system_order_is_shuffled_per_seed_and_reproducible():
    orders = {seed: random.Random(seed).sample(hotfix_cost.SYSTEMS, 3) for seed in (0, 1, 2)}
    assert len({tuple(o) for o in orders.values()}) > 1


def test_pass_counter_sees_case_and_kl_corpus_batches(tiny_model, tiny_tokenizer, tiny_cases):
    """Trainable tokens are exactly the case batches' without kl_corpus, and more with it (its
    retain batches); reference passes (adapter off, no gradients) are counted apart; a paused
    counter counts nothing."""
    from codehotfix.config import load_config
    from codehotfix.models.adapters import build_adapter
    from codehotfix.training.loop import train_adapter
    from tiny_model import build_tiny_model

    counts = {}
    for name, objectives in [("cases", "[{name: fixed_ce}, {name: kl_context}]"),
                             ("retain", "[{name: fixed_ce}, {name: kl_context}, {name: kl_corpus}]")]:
        cfg = load_config(overrides=["training.epochs=1", "training.batch_size=2", f"objectives={objectives}"])
        model = build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter)
        counter = PassCounter().attach(model)
        result = train_adapter(model, tiny_tokenizer, tiny_cases, cfg, progress=False)
        with counter.paused():
            model(torch.tensor([[1, 2, 3]]))
        counter.detach()
        counts[name] = (counter.tokens, result.tokens)
    cases, case_tokens = counts["cases"]
    assert cases.train_real == case_tokens and cases.ref_real > 0  # kl_context's reference pass
    retain, case_tokens = counts["retain"]
    assert retain.train_real > case_tokens and retain.ref_real > cases.ref_real
    assert retain.train_padded >= retain.train_real


def test_tiny_end_to_end_three_seeds(tmp_path):
    out = tmp_path / "hotfix_cost.json"
    # One thread: on a shared 2-core machine OpenMP threads spinning against other work slow it 10×.
    payload = hotfix_cost.main(["--tiny", "--threads", "1", "--out", str(out), "--seeds", "0,1,2", "--max-epochs", "2"])
    assert out.is_file() and out.with_suffix(".md").is_file()
    assert payload["seeds"] == [0, 1, 2] and len(payload["systems"]) == 9
    for seed in (0, 1, 2):
        want = list(hotfix_cost.SYSTEMS)
        random.Random(seed).shuffle(want)
        assert payload["orders"][str(seed)] == want
        assert [r["system"] for r in payload["systems"] if r["seed"] == seed] == want
    for row in payload["systems"]:
        assert row["status"] in ("reached", "censored", "plateaued") and 1 <= row["epochs_run"] <= 2
        assert row["train_tokens_real"] > 0 and row["ref_tokens_real"] > 0 and row["epoch_s"] is not None
        assert row["model_flops_to_effect"] > 0
    reached = {r["system"] for r in payload["systems"] if r["status"] == "reached"}
    assert "codehotfix" in reached  # the tiny target is met within 2 epochs; the time ratios are then defined
    paper = next(r for r in payload["systems"] if r["system"] == "paper_recipe")
    assert paper["train_tokens_padded"] % 512 == 0  # every snippet padded to 512
    summary = {s["system"]: s for s in payload["summary"]}
    assert set(summary) == set(hotfix_cost.SYSTEMS)
    assert summary["codehotfix"]["epoch_ratio"]["median"] == pytest.approx(1.0)
    assert summary["trl_dpo"]["epoch_ratio"]["n"] == 3
    assert "Ratios to codehotfix over seeds" in out.with_suffix(".md").read_text()


def test_rows_are_kept_per_seed_and_system_and_a_later_run_adds_to_them(tmp_path, monkeypatch):
    """--seeds 0 then --seeds 0,1: the second run measures only seed 1 and tables both; a run under
    other settings stops naming the kept row's file; --force starts over."""
    out = tmp_path / "cost.json"
    common = ["--tiny", "--threads", "1", "--out", str(out), "--systems", "codehotfix", "--max-epochs", "1"]
    first = hotfix_cost.main([*common, "--seeds", "0"])
    kept = hotfix_cost.runs_dir(out) / "seed0-codehotfix.json"
    assert kept.is_file() and first["seeds"] == [0]

    measured = []
    real = hotfix_cost.measure_system
    monkeypatch.setattr(hotfix_cost, "measure_system",
                        lambda name, run, seed, *a: measured.append((seed, name)) or real(name, run, seed, *a))
    second = hotfix_cost.main([*common, "--seeds", "0,1"])
    assert measured == [(1, "codehotfix")]
    assert second["seeds"] == [0, 1] and [r["seed"] for r in second["systems"]] == [0, 1]
    assert second["systems"][0] == json.loads(json.dumps(first["systems"][0]))  # the kept row, as measured

    with pytest.raises(CodehotfixError, match=r"seed0-codehotfix\.json: measured with other settings \(max_epochs"):
        hotfix_cost.main([*common[:-1], "2", "--seeds", "0"])
    measured.clear()
    hotfix_cost.main([*common, "--seeds", "1", "--force"])
    assert measured == [(1, "codehotfix")] and not kept.exists()


def test_an_older_result_without_rows_is_not_overwritten(tmp_path):
    out = tmp_path / "cost.json"
    out.write_text("{}")
    with pytest.raises(CodehotfixError, match="already holds results"):
        hotfix_cost.main(["--tiny", "--out", str(out), "--systems", "codehotfix"])
    assert out.read_text() == "{}"


def test_a_kept_codehotfix_row_of_another_recipe_is_refused_naming_file_and_key(tmp_path):
    """The shipped defaults can change between sessions with no argument changing (training.pack did):
    a kept codehotfix row must have run the recipe this invocation would run, seed and cap included."""
    import argparse
    from dataclasses import asdict

    args = argparse.Namespace(overrides=[], max_epochs=5)
    same = {"system": "codehotfix", "seed": 1, "config": {"hotfix": asdict(hotfix_cost.codehotfix_config(args, 1))}}
    other = {"system": "trl_dpo", "seed": 1, "config": {"trl_dpo": {"beta": 0.1}}}  # the baselines carry their own
    hotfix_cost.check_recipe(tmp_path, {(1, "codehotfix"): same, (1, "trl_dpo"): other}, args)

    older = json.loads(json.dumps(same))
    del older["config"]["hotfix"]["training"]["pack"]  # a row from before the option existed
    older["config"]["hotfix"]["training"]["lr"] = 1e-3
    with pytest.raises(CodehotfixError) as err:
        hotfix_cost.check_recipe(tmp_path, {(1, "codehotfix"): older}, args)
    assert str(tmp_path / "seed1-codehotfix.json") in str(err.value)
    assert "training.lr: 0.001 → 0.0005; training.pack: 'absent' → True" in str(err.value)
    with pytest.raises(CodehotfixError, match=r"\(seed: 1 → 2\)"):  # the same row under another seed's recipe
        hotfix_cost.check_recipe(tmp_path, {(2, "codehotfix"): same}, args)
