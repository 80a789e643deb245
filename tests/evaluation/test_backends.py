"""Generation backends: the registry, the clear error when vLLM is missing, the "hf" backend giving
today's completions, and the vLLM code path against a fake ``vllm`` module (vLLM needs CUDA)."""

import sys
import types

import pytest

from codehotfix.cli import main
from codehotfix.config import EvalConfig, load_config
from codehotfix.errors import ConfigError
from codehotfix.evaluation import backends
from codehotfix.evaluation.backends import BACKENDS, build_backend, cut_first_line, require_backend
from codehotfix.evaluation.generation import encode_prompts, generate_completions
from codehotfix.models.adapters import build_adapter
from codehotfix.models.loading import LoadedModel


@pytest.fixture()
def no_vllm(monkeypatch):
    real = backends.importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: None if name == "vllm" else real(name))
    monkeypatch.delitem(sys.modules, "vllm", raising=False)


def test_registry_names_and_config_validation():
    assert BACKENDS.names() == ["hf", "vllm"]
    with pytest.raises(KeyError, match="valid: hf, vllm"):
        require_backend("tgi")
    with pytest.raises(ConfigError, match="eval.backend must be one of hf, vllm, got 'tgi'"):
        load_config(overrides=["eval.backend=tgi"])
    assert load_config(overrides=["eval.backend=vllm"]).eval.backend == "vllm"


def test_config_accepts_exactly_the_registered_backends():
    # config keeps its own list of names (importing the registry would close an import circle)
    from codehotfix.config import EVAL_BACKENDS

    assert sorted(EVAL_BACKENDS) == BACKENDS.names()


def test_vllm_without_the_package_says_how_to_install(no_vllm):
    with pytest.raises(ConfigError, match=r"pip install vllm.*CUDA GPU"):
        require_backend("vllm")


def test_cli_rejects_vllm_before_loading_a_model(no_vllm, tmp_path, tiny_cases, capsys):
    from codehotfix.data.cases import write_cases

    write_cases(tmp_path / "c.jsonl", tiny_cases)
    with pytest.raises(SystemExit) as exc:  # the model path does not exist: loading it would fail otherwise
        main(["eval", str(tmp_path / "c.jsonl"), "--json", str(tmp_path / "o.json"), "--backend", "vllm",
              "--model", str(tmp_path / "no-such-model")])
    assert exc.value.code == 2
    assert "pip install vllm" in capsys.readouterr().err and not (tmp_path / "o.json").exists()


def test_hf_backend_gives_todays_completions(tiny_model, tiny_tokenizer, tiny_cases):
    loaded = LoadedModel(tiny_model, tiny_tokenizer, "tiny", "sum", "tiny")
    cfg = EvalConfig(samples=2, max_new_tokens=6, batch_size=2, seed=3)
    prompts = [c.prefix for c in tiny_cases]
    got = build_backend("hf", loaded).complete(prompts, cfg, progress=False)
    expect = generate_completions(tiny_model, tiny_tokenizer, prompts, samples=2, max_new_tokens=6, batch_size=2,
                                  seed=3, progress=False)
    assert got == expect


def test_cut_first_line_follows_the_hf_stopping_rule():
    assert cut_first_line("\n  \n    return x\nmore") == "\n  \n    return x\n"
    assert cut_first_line("no newline") == "no newline"
    assert cut_first_line("\n\n") == "\n\n"


class _Recorder:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


@pytest.fixture()
def fake_vllm(monkeypatch, tiny_cases):
    """A ``vllm`` module whose LLM returns, per request, the case's fixed line (greedy) and, for samples,
    the buggy line after a leading blank line plus text past the line end."""
    calls = {"llm": [], "generate": [], "lora": []}
    by_len = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["llm"].append(kwargs)

        def generate(self, prompts, params, lora_request=None, use_tqdm=True):
            calls["generate"].append((prompts, params, lora_request))
            outs = []
            for p in prompts:
                case = by_len[tuple(p["prompt_token_ids"])]
                if params.kwargs["temperature"] == 0.0:
                    comps = [types.SimpleNamespace(text=case.fixed + "\nx = 1\n", token_ids=[1, 2, 3])]
                else:
                    comps = [types.SimpleNamespace(text="\n" + case.buggy + "\n", token_ids=[4, 5])] * params.kwargs["n"]
                outs.append(types.SimpleNamespace(outputs=comps))
            return outs

    class LoRARequest:
        def __init__(self, *args):
            calls["lora"].append(args)
            self.args = args

    vllm = types.ModuleType("vllm")
    vllm.LLM, vllm.SamplingParams = LLM, _Recorder
    lora, request = types.ModuleType("vllm.lora"), types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    for name, mod in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, mod)
    real = backends.importlib.util.find_spec
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: object() if name == "vllm" else real(name))
    return calls, by_len


def test_vllm_path_with_a_fake_module(fake_vllm, tiny_model, tiny_tokenizer, tiny_cases, tmp_path):
    from codehotfix.api import evaluate

    calls, by_len = fake_vllm
    adapter = tmp_path / "hotfix"
    build_adapter(tiny_model, load_config().adapter).save_pretrained(adapter)
    loaded = LoadedModel(tiny_model, tiny_tokenizer, "tiny", "sum", str(tmp_path / "weights"))
    # The fake answers the line prompts only (it looks them up); the split and window prompts are
    # the hf path's business here (test_rates), so this test asks for the line event alone.
    cfg = EvalConfig(samples=3, top_p=0.9, temperature=0.7, max_new_tokens=20, max_context_tokens=16,
                     backend="vllm", events=["line"])
    ids = encode_prompts(tiny_tokenizer, [c.prefix for c in tiny_cases], 16)
    by_len.update({tuple(i): c for i, c in zip(ids, tiny_cases)})

    result = evaluate(tiny_cases, loaded=loaded, adapter=adapter, eval_config=cfg, progress=False)

    (llm_kwargs,) = calls["llm"]
    assert llm_kwargs["model"] == str(tmp_path / "weights") and llm_kwargs["enable_lora"] is True
    assert llm_kwargs["max_lora_rank"] == 8  # the smallest vLLM choice that fits r=8
    assert calls["lora"] == [("hotfix", 1, str(adapter.resolve()))]
    (greedy_prompts, greedy, lora_g), (_, sampled, lora_s) = calls["generate"]
    assert greedy_prompts == [{"prompt_token_ids": i} for i in ids]  # same truncation as the hf backend
    assert greedy.kwargs == {"n": 1, "temperature": 0.0, "max_tokens": 20, "seed": 0}
    assert sampled.kwargs == {"n": 3, "temperature": 0.7, "top_p": 0.9, "max_tokens": 20, "seed": 0}
    assert lora_g is lora_s and lora_g.args[0] == "hotfix"
    assert result["config"]["backend"] == "vllm"
    for rec, case in zip(result["cases"], tiny_cases):
        assert rec["greedy_label"] == "fixed" and rec["greedy"] == case.fixed
        assert rec["sample_labels"] == ["buggy"] * 3
        assert rec["new_tokens"] == 3 + 3 * 2
        assert isinstance(rec["margin"], float)  # margins still come from the transformers model
    assert result["summary"]["greedy"]["fixed_rate"] == 1.0 and result["summary"]["sampled"]["buggy_rate"] == 1.0


def test_vllm_keeps_the_tokens_asked_per_prompt(fake_vllm, tiny_model, tiny_tokenizer, tiny_cases, tmp_path):
    # The split event asks each prompt to keep its own number of tokens (events.split_prompts).
    calls, by_len = fake_vllm
    prompts, keep = [c.prefix for c in tiny_cases], [5, 7, 100, 1]
    ids = encode_prompts(tiny_tokenizer, prompts, keep)
    assert [len(i) for i in ids] == [5, 7, len(tiny_tokenizer(prompts[2])["input_ids"]), 1]
    by_len.update({tuple(i): c for i, c in zip(ids, tiny_cases)})
    backend = build_backend("vllm", LoadedModel(tiny_model, tiny_tokenizer, "tiny", "sum", str(tmp_path)))
    backend.complete(prompts, EvalConfig(samples=0), progress=False, max_context_tokens=keep)
    ((sent, _, _),) = calls["generate"]
    assert sent == [{"prompt_token_ids": i} for i in ids]


def test_vllm_refuses_the_guard(fake_vllm, tiny_model, tiny_tokenizer, tiny_cases, tmp_path):
    backend = build_backend("vllm", LoadedModel(tiny_model, tiny_tokenizer, "tiny", "sum", str(tmp_path)))
    with pytest.raises(ConfigError, match="logits processors"):
        backend.complete(["x = 1\n"], EvalConfig(), logits_processor_factory=lambda prompts: None)


def test_cut_lines_follows_the_multi_line_rule():
    from codehotfix.evaluation.backends import cut_lines

    assert cut_lines("\n a\n\nb\nc\n", 3) == "\n a\n\nb\n"
    assert cut_lines("a\nb", 5) == "a\nb"
