"""Generation backends for ``codehotfix eval``: "hf" (transformers, any device) and "vllm" (at scale).

    codehotfix eval CASES --json OUT                      # hf: the model codehotfix loaded, batched here
    codehotfix eval CASES --json OUT --backend vllm       # vLLM engine on the same weights (+ LoRA)

Both turn prompts into the same ``Completions`` (one greedy line, k sampled lines per prompt), from the
same token ids (the prefix's last ``max_context_tokens`` tokens, or a number per prompt: the split
event's, ``events.split_prompts``), so the classification and rates
downstream do not know which backend ran. Margins (log p(fixed) − log p(buggy)) are always scored by
the transformers model, which vLLM does not expose.

vLLM is an optional import: it is not a dependency (it needs a CUDA machine and pins its own torch).
Selecting it without vLLM installed raises a ``ConfigError`` before any model loads. The vLLM backend
differs from "hf" in three documented ways (docs/scale-out.md): it samples from its own RNG (same
settings, other draws), it cannot run codehotfix's logits processors (the decoding guard), and it
generates up to ``max_new_tokens`` before the first line is cut out (a "\\n" stop string would end a
completion at a leading blank line, which "hf" skips).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable, Sequence

from codehotfix.config import EvalConfig
from codehotfix.errors import ConfigError
from codehotfix.evaluation.generation import Completions, encode_prompts, generate_completions
from codehotfix.models.vllm import check_vllm
from codehotfix.registry import Registry

__all__ = ["BACKENDS", "HFBackend", "VLLMBackend", "build_backend", "require_backend", "cut_first_line",
           "cut_lines"]

# name -> factory(loaded: LoadedModel, adapter: path | None, **options) -> backend with ``complete``
BACKENDS: Registry[Callable[..., Any]] = Registry("generation backend")

_VLLM_MISSING = ("eval.backend 'vllm' needs the vllm package, which is not installed: run `pip install vllm` "
                 "on a machine with a CUDA GPU (vLLM does not run on a CPU-only install), or use --backend hf")


def require_backend(name: str) -> None:
    """Checks that backend ``name`` exists and can be imported, before any model loads.

    Raises:
        KeyError: unknown name (lists the valid ones). ConfigError: "vllm" without vLLM installed.
    """
    BACKENDS.get(name)
    if name == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ConfigError(_VLLM_MISSING)


def build_backend(name: str, loaded: Any, adapter: str | Path | None = None, **options: Any) -> Any:
    """The backend ``name`` for a loaded model (and the hotfix adapter folder it carries, if any)."""
    require_backend(name)
    return BACKENDS.get(name)(loaded, adapter, **options)


def cut_first_line(text: str) -> str:
    """``text`` up to and including the newline that ends its first non-blank line (whole text if none):
    the same stopping rule as ``generation.sample_lines(first_line_only=True)``."""
    seen = False
    for i, ch in enumerate(text):
        if ch == "\n" and seen:
            return text[:i + 1]
        if not ch.isspace():
            seen = True
    return text


def cut_lines(text: str, max_lines: int) -> str:
    """``text`` up to and including its ``max_lines``-th newline after the first non-blank character:
    the multi-line stopping rule of ``generation.sample_lines(max_lines=...)``."""
    lines, seen = 0, False
    for i, ch in enumerate(text):
        if ch == "\n" and seen:
            lines += 1
            if lines >= max_lines:
                return text[:i + 1]
        elif not ch.isspace():
            seen = True
    return text


@BACKENDS.register("hf")
class HFBackend:
    """Today's generation: ``generate_completions`` on the transformers model codehotfix loaded."""

    def __init__(self, loaded: Any, adapter: str | Path | None = None) -> None:
        self.model, self.tokenizer = loaded.model, loaded.tokenizer

    def complete(self, prompts: Sequence[str], cfg: EvalConfig, *, progress: bool = True,
                 desc: str = "generating", logits_processor_factory: Any = None, max_lines: int | None = None,
                 max_new_tokens: int | None = None,
                 max_context_tokens: Sequence[int] | None = None) -> list[Completions]:
        return hf_complete(self.model, self.tokenizer, prompts, cfg, progress=progress, desc=desc,
                           logits_processor_factory=logits_processor_factory, max_lines=max_lines,
                           max_new_tokens=max_new_tokens, max_context_tokens=max_context_tokens)


def hf_complete(model: Any, tokenizer: Any, prompts: Sequence[str], cfg: EvalConfig, *, progress: bool = True,
                desc: str = "generating", logits_processor_factory: Any = None, max_lines: int | None = None,
                max_new_tokens: int | None = None,
                max_context_tokens: Sequence[int] | None = None) -> list[Completions]:
    """``generate_completions`` with an evaluation config's settings (``max_new_tokens``: the config's
    when None; ``max_context_tokens``: tokens kept per prompt, the config's for each when None): what
    the "hf" backend, ``evaluate_cases`` and the one pass's leftover split prompts run."""
    return generate_completions(
        model, tokenizer, prompts, samples=cfg.samples, greedy=cfg.greedy, top_p=cfg.top_p,
        temperature=cfg.temperature, max_new_tokens=max_new_tokens or cfg.max_new_tokens,
        batch_size=cfg.batch_size, seed=cfg.seed, progress=progress,
        max_context_tokens=cfg.max_context_tokens if max_context_tokens is None else max_context_tokens,
        desc=desc, logits_processor_factory=logits_processor_factory, max_lines=max_lines)


@BACKENDS.register("vllm")
class VLLMBackend:
    """A ``vllm.LLM`` on the base weights, with the hotfix adapter as a ``LoRARequest``.

    Args:
        loaded: the loaded base (its ``path`` is the weights folder vLLM reads, its tokenizer encodes the
            prompts exactly as the "hf" backend does).
        adapter: a hotfix folder (PEFT LoRA), checked against vLLM's LoRA rules first.
        gpu_memory_utilization: vLLM's share of GPU memory; the transformers model that scores the
            margins lives on the same GPU, so this stays below vLLM's default 0.9.
        engine_options: more ``vllm.LLM`` keyword arguments (e.g. tensor_parallel_size).

    Raises:
        ConfigError: an adapter vLLM cannot load (every problem listed).
    """

    def __init__(self, loaded: Any, adapter: str | Path | None = None, *, gpu_memory_utilization: float = 0.5,
                 **engine_options: Any) -> None:
        from vllm import LLM

        self.tokenizer = loaded.tokenizer
        self.lora = None
        options: dict[str, Any] = {"gpu_memory_utilization": gpu_memory_utilization, **engine_options}
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            rank = self._check_adapter(Path(adapter), getattr(loaded.model.config, "model_type", None))
            options.update(enable_lora=True, max_lora_rank=rank)
            self.lora = LoRARequest("hotfix", 1, str(Path(adapter).resolve()))
        self.llm = LLM(model=str(loaded.path), tokenizer=str(loaded.path), **options)

    @staticmethod
    def _check_adapter(adapter: Path, model_type: str | None) -> int:
        report = check_vllm(adapter, model_type=model_type)
        if not report["compatible"]:
            raise ConfigError(f"{adapter}: vLLM cannot load this adapter: " + "; ".join(report["problems"]))
        return int(report["max_lora_rank"])

    def _params(self, cfg: EvalConfig, n: int, greedy: bool, max_new_tokens: int | None = None) -> Any:
        from vllm import SamplingParams

        # No stop string: "\n" would end a completion at a leading blank line; the line is cut after.
        tokens = max_new_tokens or cfg.max_new_tokens
        if greedy:
            return SamplingParams(n=1, temperature=0.0, max_tokens=tokens, seed=cfg.seed)
        return SamplingParams(n=n, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=tokens, seed=cfg.seed)

    def _run(self, token_prompts: list[dict], params: Any, progress: bool,
             max_lines: int | None = None) -> list[list[tuple[str, int]]]:
        outs = self.llm.generate(token_prompts, params, lora_request=self.lora, use_tqdm=progress)
        cut = cut_first_line if not max_lines or max_lines <= 1 else (lambda t: cut_lines(t, max_lines))
        return [[(cut(o.text), len(o.token_ids)) for o in req.outputs] for req in outs]

    def complete(self, prompts: Sequence[str], cfg: EvalConfig, *, progress: bool = True,
                 desc: str = "generating", logits_processor_factory: Any = None, max_lines: int | None = None,
                 max_new_tokens: int | None = None,
                 max_context_tokens: Sequence[int] | None = None) -> list[Completions]:
        """Greedy and k sampled first lines per prompt, as ``Completions`` (``new_tokens``: tokens vLLM
        generated, including any past the first line; ``max_context_tokens``: tokens kept per prompt,
        the config's for each when None)."""
        if logits_processor_factory is not None:
            raise ConfigError("eval.backend 'vllm' cannot run codehotfix's logits processors (the decoding "
                              "guard); use --backend hf with --guard")
        keep = cfg.max_context_tokens if max_context_tokens is None else max_context_tokens
        token_prompts = [{"prompt_token_ids": ids} for ids in encode_prompts(self.tokenizer, prompts, keep)]
        results = [Completions() for _ in prompts]
        if cfg.greedy:
            greedy = self._params(cfg, 1, True, max_new_tokens)
            for res, outs in zip(results, self._run(token_prompts, greedy, progress, max_lines)):
                res.greedy, res.new_tokens = outs[0][0], res.new_tokens + outs[0][1]
        if cfg.samples:
            sampled = self._params(cfg, cfg.samples, False, max_new_tokens)
            for res, outs in zip(results, self._run(token_prompts, sampled, progress, max_lines)):
                res.samples = [text for text, _ in outs]
                res.new_tokens += sum(n for _, n in outs)
        return results

