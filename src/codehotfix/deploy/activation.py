"""Put the enabled hotfixes on a loaded base model: one adapter, several stacked, or one merged.

PEFT keeps several LoRA adapters on the same layers by name. *Stacked*, every enabled adapter is
active and each layer adds all their low-rank updates (ΔW = Σ Bᵢ Aᵢ · scaleᵢ) — exactly the sum of
the hotfixes. *Merged* builds one new adapter with ``add_weighted_adapter``: ``cat`` concatenates the
factors (the same sum, rank Σ rᵢ), ``svd`` re-factorises the sum at a lower rank (an approximation),
``linear`` averages the factors (cross terms: a rough approximation). ``measure_retention`` checks,
per hotfix, how much of its canary effect survives in each mode (bench/stacking.py reports it).

Loading is split in two so a server can read adapter files from disk while requests keep running
(``read_adapter``) and only touch the model inside its swap lock (``attach`` / ``activate``); both
are ``codehotfix.models.adapters.loading``'s one loading path, restricted to LoRA here.
"""

from __future__ import annotations

import hashlib
import statistics
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.deploy.canary import CanaryConfig, margins
from codehotfix.errors import AdapterLoadError

if TYPE_CHECKING:  # models.adapters imports torch; the registry commands import deploy without it
    from torch import nn
    from transformers import PreTrainedTokenizerBase

    from codehotfix.models.adapters.loading import HotfixWeights

__all__ = ["AdapterLoadError", "MODES", "adapter_key", "read_adapter", "attach", "detach",
           "activate", "measure_retention"]

MODES = ("stack", "merge_cat", "merge_svd", "merge_linear")
_MERGED_PREFIX = "merged@"


def __getattr__(name: str) -> type:
    """``AdapterWeights``, the old name of ``models.adapters.loading.HotfixWeights``, for one release."""
    if name == "AdapterWeights":
        from codehotfix.models.adapters.loading import HotfixWeights

        warnings.warn("codehotfix.deploy.activation.AdapterWeights is now "
                      "codehotfix.models.adapters.loading.HotfixWeights", DeprecationWarning, stacklevel=2)
        return HotfixWeights
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def adapter_key(name: str, version: str) -> str:
    """The PEFT adapter name of a registry entry (no dots: torch module keys forbid them)."""
    return f"{name}@{version}"


def read_adapter(path: str | Path, key: str, *, expected_sha256: str | None = None,
                 base_checksum: str | None = None) -> HotfixWeights:
    """Reads a hotfix folder into memory (``read_hotfix``: checksum and base verified), checking it
    is a LoRA adapter: only those can be stacked or merged.

    Raises:
        AdapterLoadError: not LoRA, or the weights file does not match ``expected_sha256``.
    """
    if not (Path(path) / "adapter_config.json").is_file():  # before reading a full fine-tune's weights
        raise AdapterLoadError(f"{path}: no adapter_config.json; only LoRA hotfixes can be stacked or merged")
    from codehotfix.models.adapters.loading import read_hotfix

    weights = read_hotfix(path, key, expected_sha256=expected_sha256, base_checksum=base_checksum)
    peft_type = getattr(weights.config, "peft_type", None)
    if str(peft_type or "").upper().split(".")[-1] != "LORA":
        raise AdapterLoadError(f"{weights.path}/adapter_config.json: peft_type {peft_type!r}; only LoRA hotfixes "
                               "can be stacked or merged")
    return weights


def attach(model: nn.Module, adapter: HotfixWeights) -> nn.Module:
    """Adds ``adapter`` to ``model`` (inactive unless the model had no adapter yet) and returns the
    PEFT model (a new wrapper the first time); see ``attach_hotfix``.

    Raises:
        AdapterLoadError: when some of its LoRA weights match no parameter of the model, or the model
            lacks parameters the adapter needs (a hotfix for another architecture).
    """
    from codehotfix.models.adapters.loading import attach_hotfix

    return attach_hotfix(model, adapter)


def detach(model: nn.Module, key: str) -> nn.Module:
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


def activate(model: nn.Module, keys: Sequence[str], mode: str = "stack") -> list[str]:
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


def measure_retention(model: nn.Module, tokenizer: PreTrainedTokenizerBase, hotfixes: Mapping[str, Sequence[HotfixCase]],
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
