"""Put the enabled hotfixes on a loaded base model: one adapter, several stacked, or one merged.

PEFT keeps several LoRA adapters on the same layers by name. *Stacked*, every enabled adapter is
active and each layer adds all their low-rank updates (ΔW = Σ Bᵢ Aᵢ · scaleᵢ) — exactly the sum of
the hotfixes. *Merged* builds one new adapter with ``add_weighted_adapter``: ``cat`` concatenates the
factors (the same sum, rank Σ rᵢ), ``svd`` re-factorises the sum at a lower rank (an approximation),
``linear`` averages the factors (cross terms: a rough approximation). ``measure_retention`` checks,
per hotfix, how much of its canary effect survives in each mode (bench/stacking.py reports it).

Loading is split in two so a server can read adapter files from disk while requests keep running
(``read_adapter``) and only touch the model inside its swap lock (``attach`` / ``activate``).
"""

from __future__ import annotations

import copy
import hashlib
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.deploy.canary import CanaryConfig, margins
from codehotfix.errors import CodehotfixError
from codehotfix.files import sha256_file

__all__ = ["AdapterWeights", "AdapterLoadError", "MODES", "adapter_key", "read_adapter", "attach", "detach",
           "activate", "measure_retention"]

MODES = ("stack", "merge_cat", "merge_svd", "merge_linear")
_MERGED_PREFIX = "merged@"


class AdapterLoadError(CodehotfixError):
    """An adapter folder cannot be put on the model (not LoRA, wrong checksum, weights that match nothing)."""


@dataclass
class AdapterWeights:
    """An adapter read from disk, not yet on any model.

    Attributes:
        key: the PEFT adapter name it will get ("<name>@<version>").
        config: its peft LoraConfig.
        state_dict: its tensors (CPU), as saved by PEFT.
        path: the folder it came from.
    """

    key: str
    config: Any
    state_dict: dict[str, Any]
    path: Path


def adapter_key(name: str, version: str) -> str:
    """The PEFT adapter name of a registry entry (no dots: torch module keys forbid them)."""
    return f"{name}@{version}"


def read_adapter(path: str | Path, key: str, *, expected_sha256: str | None = None) -> AdapterWeights:
    """Reads an adapter folder (config + safetensors) into memory, checking it is a LoRA adapter.

    Raises:
        AdapterLoadError: not LoRA, or the weights file does not match ``expected_sha256``.
    """
    from peft import PeftConfig
    from peft.utils import load_peft_weights

    path = Path(path)
    if expected_sha256 and sha256_file(path / "adapter_model.safetensors") != expected_sha256:
        raise AdapterLoadError(f"{path}/adapter_model.safetensors: checksum differs from the registry's record; "
                               "the stored copy was modified")
    config = PeftConfig.from_pretrained(str(path))
    if str(getattr(config, "peft_type", "")).upper().split(".")[-1] != "LORA":
        raise AdapterLoadError(f"{path}/adapter_config.json: peft_type {config.peft_type!r}; only LoRA hotfixes "
                               "can be stacked or merged")
    config = copy.deepcopy(config)
    config.inference_mode = True
    return AdapterWeights(key, config, load_peft_weights(str(path), device="cpu"), path)


def attach(model: Any, adapter: AdapterWeights) -> Any:
    """Adds ``adapter`` to ``model`` (inactive unless the model had no adapter yet) and returns the
    PEFT model (a new wrapper the first time).

    Raises:
        AdapterLoadError: when some of its LoRA weights match no parameter of the model, or the model
            lacks parameters the adapter needs (a hotfix for another architecture).
    """
    from peft import PeftModel, set_peft_model_state_dict

    if isinstance(model, PeftModel):
        if adapter.key in model.peft_config:
            return model
        model.add_adapter(adapter.key, copy.deepcopy(adapter.config))
    else:
        model = PeftModel(model, copy.deepcopy(adapter.config), adapter_name=adapter.key)
    result = set_peft_model_state_dict(model, adapter.state_dict, adapter_name=adapter.key)
    missing = [k for k in result.missing_keys if "lora_" in k and adapter.key in k]
    unexpected = [k for k in result.unexpected_keys if "lora_" in k]
    if missing or unexpected:
        detach(model, adapter.key)  # the model's layers are restored in place; the caller keeps its reference
        bad = (missing or unexpected)[:3]
        raise AdapterLoadError(f"{adapter.path}: {len(missing)} adapter weights missing and {len(unexpected)} "
                               f"matching no layer (e.g. {bad}); was it trained on another architecture?")
    model.eval()
    return model


def detach(model: Any, key: str) -> Any:
    """Removes adapter ``key`` from a PEFT model and returns the model to use from then on: the
    plain base model (LoRA layers taken out) when it was the last adapter, since a PEFT model left
    without adapters still points at the deleted one and fails on its next forward pass."""
    config = getattr(model, "peft_config", {})
    if key not in config:
        return model
    if len(config) == 1:
        return model.unload()
    model.delete_adapter(key)
    return model


def _merged_key(keys: Sequence[str], combination: str) -> str:
    digest = hashlib.sha256("\n".join([combination, *keys]).encode()).hexdigest()[:12]
    return f"{_MERGED_PREFIX}{digest}"


def activate(model: Any, keys: Sequence[str], mode: str = "stack") -> list[str]:
    """Makes exactly ``keys`` take part in the forward pass; returns the active PEFT adapter names.

    Args:
        model: a PEFT model with every key attached (a plain model is fine when ``keys`` is empty).
        keys: adapter names; empty switches every adapter off (the base model).
        mode: "stack" or "merge_<combination>" (``add_weighted_adapter``'s cat, svd, linear, …).
    """
    if not hasattr(model, "base_model") or not hasattr(model, "peft_config"):
        if keys:
            raise AdapterLoadError("activate: the model has no adapters attached")
        return []
    tuner = model.base_model
    stale = [k for k in model.peft_config if k.startswith(_MERGED_PREFIX)]
    if not keys:
        tuner.disable_adapter_layers()
        active: list[str] = []
    elif mode == "stack" or len(keys) == 1:
        tuner.enable_adapter_layers()
        tuner.set_adapter(list(keys), inference_mode=True)
        active = list(keys)
    elif mode.startswith("merge_"):
        merged = _merged_key(keys, mode)
        if merged not in model.peft_config:
            tuner.add_weighted_adapter(list(keys), [1.0] * len(keys), merged, combination_type=mode[len("merge_"):])
        tuner.enable_adapter_layers()
        tuner.set_adapter([merged], inference_mode=True)
        active = [merged]
    else:
        raise ValueError(f"unknown activation mode {mode!r}; valid: {', '.join(MODES)} (or merge_<peft combination>)")
    with warnings.catch_warnings():  # PEFT warns when the deleted merged adapter was the active one
        warnings.simplefilter("ignore", UserWarning)
        for k in stale:
            if k not in active:
                detach(model, k)  # never the last adapter: the ones it merged are still there
    return active


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else 0.0


def measure_retention(model: Any, tokenizer: Any, hotfixes: Mapping[str, Sequence[HotfixCase]],
                      modes: Sequence[str] = MODES, cfg: CanaryConfig | None = None) -> dict[str, Any]:
    """Per hotfix: its canary effect alone, and how much of it each way of combining them all keeps.

    Args:
        model: a PEFT model with every key of ``hotfixes`` attached.
        hotfixes: adapter key → that hotfix's cases.
        modes: combinations to compare (see ``activate``).
        cfg: canary thresholds (a hotfix "keeps its effect" when its canary still passes).

    Returns:
        {"hotfixes": {key: {"alone": {...}, mode: {...}}}, "modes": {mode: summary}, "best": mode};
        each block has mean_delta (margin rise over the base, nats), retention (mean_delta / alone's)
        and canary_pass. A mode PEFT cannot build for these adapters is reported with its error.
    """
    from codehotfix.scoring import adapters_disabled  # lazy: the registry commands import deploy without torch

    cfg = cfg or CanaryConfig()
    keys = list(hotfixes)
    with adapters_disabled(model):
        base = {k: margins(model, tokenizer, hotfixes[k], cfg) for k in keys}

    def block(key: str, alone_mean: float | None) -> dict[str, Any]:
        deltas = [h - b for h, b in zip(margins(model, tokenizer, hotfixes[key], cfg), base[key])]
        passed = sum(d >= cfg.min_delta for d in deltas) / len(deltas)
        mean = _mean(deltas)
        out = {"mean_delta": round(mean, 4), "deltas": [round(d, 4) for d in deltas],
               "canary_pass": passed >= cfg.min_fraction}
        if alone_mean is not None:
            out["retention"] = round(mean / alone_mean, 4) if alone_mean else None
        return out

    result: dict[str, Any] = {"hotfixes": {k: {} for k in keys}, "modes": {}}
    for k in keys:
        activate(model, [k])
        result["hotfixes"][k]["alone"] = block(k, None)
    for mode in modes:
        try:
            activate(model, keys, mode)
        except Exception as e:  # PEFT refuses some combinations (e.g. linear with unequal ranks): report it
            result["modes"][mode] = {"error": f"{type(e).__name__}: {e}"}
            continue
        for k in keys:
            result["hotfixes"][k][mode] = block(k, result["hotfixes"][k]["alone"]["mean_delta"])
        rows = [result["hotfixes"][k][mode] for k in keys]
        retained = [r["retention"] for r in rows if r.get("retention") is not None]
        result["modes"][mode] = {"min_retention": min(retained) if retained else None,
                                 "mean_retention": round(_mean(retained), 4) if retained else None,
                                 "all_canaries_pass": all(r["canary_pass"] for r in rows)}
    activate(model, [])
    ok = {m: s for m, s in result["modes"].items() if "error" not in s and s["min_retention"] is not None}
    result["best"] = max(ok, key=lambda m: (ok[m]["all_canaries_pass"], ok[m]["min_retention"])) if ok else None
    return result
