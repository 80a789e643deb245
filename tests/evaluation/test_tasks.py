"""The evaluation tasks behind one interface: the registry, one home for each default, a task run on
the tiny model giving the module's own result, and a result that renders its report section."""

import dataclasses

import pytest

from codehotfix.config import EvalConfig
from codehotfix.errors import ConfigError
from codehotfix.evaluation.humaneval import HumanEvalConfig
from codehotfix.evaluation.tasks import (TASKS, GenerationConfig, HumanEvalTaskConfig, LocalityTaskConfig,
                                         RatesTaskConfig, in_report_order)


def test_every_task_is_registered_and_a_miss_names_them():
    assert set(TASKS) == {"rates", "humaneval", "locality", "perplexity", "variants", "execfix"}
    assert [t.name for t in in_report_order()][:2] == ["rates", "humaneval"]
    with pytest.raises(KeyError, match="valid: execfix, humaneval"):
        TASKS.get("mmlu")


def test_generation_defaults_are_the_eval_blocks():
    g = GenerationConfig()
    for f in dataclasses.fields(GenerationConfig):
        assert getattr(g, f.name) == getattr(EvalConfig(), f.name), f.name
    cfg = EvalConfig(samples=3, max_new_tokens=9, events=["line"])
    assert RatesTaskConfig.of(cfg).eval_config() == cfg


def test_humaneval_defaults_live_in_one_place():
    generation = HumanEvalTaskConfig(allow_exec=True).generation
    assert (generation.max_new_tokens, generation.batch_size) == (HumanEvalConfig.max_new_tokens,
                                                                   HumanEvalConfig.batch_size) == (384, 8)
    assert generation.samples == 1 and generation.temperature == 0.0
    # A flag left unset keeps the task's default; one that is set replaces it.
    assert generation.with_given(max_new_tokens=None, batch_size=2).batch_size == 2
    assert generation.with_given(max_new_tokens=None).max_new_tokens == 384
    with pytest.raises(ConfigError, match="allow_exec"):
        HumanEvalTaskConfig()


def test_bad_generation_settings_fail_with_the_field():
    with pytest.raises(ConfigError, match="generation.max_new_tokens must be >= 1"):
        GenerationConfig(max_new_tokens=0)
    with pytest.raises(ConfigError, match="locality.compare_lines"):
        LocalityTaskConfig(compare_lines=0)


def test_locality_task_gives_the_modules_result_and_its_section(tiny_model, tiny_tokenizer):
    from tiny_model import lora

    from codehotfix.evaluation.locality import load_prompts, run_locality

    model = lora(tiny_model, perturb=True)
    cfg = LocalityTaskConfig(limit=3)
    cfg.generation = cfg.generation.with_given(max_new_tokens=4)
    result = TASKS.get("locality").run(model, tiny_tokenizer, cfg, progress=False)
    direct = run_locality(model, tiny_tokenizer, load_prompts(limit=3), max_new_tokens=4, progress=False)
    for key in ("prompts", "unchanged_fraction", "mean_kl", "records"):
        assert result.to_json()[key] == direct[key], key
    assert result.to_json()["prompts_source"] == "builtin:locality"
    assert set(result.summary()) == {"prompts", "unchanged_fraction", "unchanged_fraction_full", "mean_kl",
                                     "seconds"}
    section = result.section()
    assert section.id == "locality" and section.blocks[0][1].startswith("Locality: ")
    assert f"of 3 unrelated prompts" in section.blocks[0][1]
