"""Registry compaction: the enabled hotfixes merged into one adapter, verified before the switch.

After many hotfixes a server stacks many adapters; every forward pass pays for each. Compaction
builds one adapter from the enabled ones with the registry's own merge (``activation.activate`` in a
``merge_<combination>`` mode: PEFT's ``add_weighted_adapter``; ``cat`` is the exact sum of the
hotfixes at rank Σ rᵢ, ``svd`` an approximation at a lower rank) and switches to it only when

1. the canaries of *every* constituent still pass with the compacted adapter alone (against the
   base, as ``run_canary`` checks a single hotfix), and
2. the side-effect gate passes: on locality prompts, the compacted adapter leaves unrelated
   completions unchanged (against the base) significantly less often than the set it replaces does
   (McNemar's exact test on the per-prompt outcomes; ``side_effect_gate``).

The compacted adapter is stored as an ordinary registry entry (default name ``compacted``) whose
entry.json and hotfix.json name its constituents (``compacted_from``: name → version) and whose
canaries are all theirs; the switch is one history record (action ``compact``), so ``hotfix
rollback`` undoes it as a whole. ``compact(drop=NAME)`` is the rollback of one constituent: it
rebuilds the compacted adapter from the others (always from the original adapters, never from a
previous compaction) and switches to that (to the one remaining hotfix, or to none, when fewer than
two are left). A server applies the result on ``POST /admin/sync`` (running its own canaries).

Run: ``codehotfix hotfix compact --registry hotfixes/ --model M [--drop NAME] [--combination cat]``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.deploy.activation import activate, adapter_key, attach, detach, read_adapter
from codehotfix.scoring import adapters_disabled
from codehotfix.deploy.canary import CanaryConfig, margins, run_canary
from codehotfix.deploy.store import COMPACTED_FROM, HotfixEntry, HotfixStore, StoreError, check_name
from codehotfix.errors import ConfigError
from codehotfix.evaluation import stats
from codehotfix.evaluation.locality import CodePrompt
from codehotfix.files import write_json
from codehotfix.models.loading import LoadedModel

__all__ = ["CompactionConfig", "compact", "constituents_of", "side_effect_gate", "COMPACTED_FROM"]


@dataclass
class CompactionConfig:
    """How the enabled hotfixes are compacted and checked.

    Attributes:
        name: registry name of the compacted adapter.
        combination: ``add_weighted_adapter`` combination: cat (exact sum) or svd (lower rank).
        locality_prompts: built-in locality prompts of the side-effect gate (0: no gate).
        alpha: significance level of the gate's test.
        canary: the canary thresholds every constituent must meet.
    """

    name: str = "compacted"
    combination: str = "cat"
    locality_prompts: int = 16
    alpha: float = 0.05
    canary: CanaryConfig = field(default_factory=CanaryConfig)

    def __post_init__(self) -> None:
        check_name(self.name, "compaction name")
        if self.combination not in ("cat", "svd", "linear"):
            raise ConfigError(f"combination {self.combination!r}: use cat (exact sum), svd or linear")
        if self.locality_prompts < 0 or not 0 < self.alpha < 1:
            raise ConfigError("locality_prompts must be >= 0 and alpha in (0, 1)")


def constituents_of(store: HotfixStore, enabled: dict[str, str], name: str) -> dict[str, str]:
    """The original hotfixes behind an enabled set: a compacted entry stands for its constituents."""
    out: dict[str, str] = {}
    for n, v in enabled.items():
        if n == name:
            out.update(store.entry(n, v).manifest.get(COMPACTED_FROM) or {})
        else:
            out[n] = v
    return out


def _unchanged(loaded: LoadedModel, prompts: Sequence[CodePrompt]) -> tuple[list[bool], float]:
    from codehotfix.evaluation.locality import run_locality

    result = run_locality(loaded.model, loaded.tokenizer, prompts, progress=False)
    return [bool(r["unchanged"]) for r in result["records"]], float(result["mean_kl"])


def side_effect_gate(loaded: LoadedModel, reference: Sequence[str], candidate: Sequence[str], *,
                     reference_mode: str = "stack", candidate_mode: str = "stack", prompts: int = 16,
                     alpha: float = 0.05) -> dict[str, Any]:
    """Does ``candidate`` (adapter keys on ``loaded.model``) change unrelated completions more than
    ``reference`` does? Both are measured against the base on the first ``prompts`` built-in locality
    prompts; the gate fails when the candidate leaves significantly fewer prompts unchanged
    (McNemar's exact test, two-sided p < ``alpha``, fewer unchanged). An empty ``reference`` is the
    base itself: every prompt unchanged.

    Returns:
        {"passed", "prompts", "reference_unchanged", "candidate_unchanged", "lost", "gained", "p",
        "reference_kl", "candidate_kl"}.
    """
    from codehotfix.evaluation.locality import load_prompts

    items = load_prompts(None, limit=prompts)
    if reference:
        activate(loaded.model, list(reference), reference_mode)
        ref, ref_kl = _unchanged(loaded, items)
    else:
        ref, ref_kl = [True] * len(items), 0.0
    activate(loaded.model, list(candidate), candidate_mode)
    cand, cand_kl = _unchanged(loaded, items)
    test = stats.mcnemar_exact(ref, cand)
    worse = test.p_value < alpha and sum(cand) < sum(ref)
    return {"passed": not worse, "prompts": len(items), "reference_unchanged": sum(ref) / len(ref),
            "candidate_unchanged": sum(cand) / len(cand), "lost": test.lost, "gained": test.gained,
            "p": test.p_value, "reference_kl": round(ref_kl, 6), "candidate_kl": round(cand_kl, 6)}


def _save_merged(model: Any, key: str, out: Path, manifest: dict[str, Any]) -> Path:
    """Writes the merged adapter ``key`` as a hotfix folder (PEFT files + hotfix.json)."""
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, selected_adapters=[key], save_embedding_layers=False)  # no hub lookup (adapters/base.py)
        saved = Path(tmp) / key if (Path(tmp) / key).is_dir() else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            shutil.copy2(saved / f, out / f)
    write_json(out / "hotfix.json", manifest)
    return out


def _canaries(store: HotfixStore, parts: dict[str, str]) -> dict[str, list[HotfixCase]]:
    return {n: store.entry(n, v).canaries() for n, v in parts.items()}


def _check_canaries(loaded: LoadedModel, canaries: dict[str, list[HotfixCase]], keys: list[str], mode: str,
                    cfg: CanaryConfig) -> dict[str, Any]:
    """Each constituent's canary with ``keys`` active (``mode``), against the base."""
    results = {}
    for n, cases in canaries.items():
        with adapters_disabled(loaded.model):
            base = margins(loaded.model, loaded.tokenizer, cases, cfg)
        activate(loaded.model, keys, mode)
        results[n] = run_canary(loaded.model, loaded.tokenizer, cases, cfg, base_margins=base).to_dict()
    return results


def _attach_all(loaded: LoadedModel, store: HotfixStore, parts: dict[str, str]) -> list[str]:
    keys = []
    for n, v in parts.items():
        entry = store.entry(n, v)
        weights = read_adapter(entry.path, adapter_key(n, v), expected_sha256=entry.info.get("adapter_sha256"))
        loaded.model = attach(loaded.model, weights)
        keys.append(weights.key)
    return keys


def _detach_all(loaded: LoadedModel) -> None:
    for key in list(getattr(loaded.model, "peft_config", {})):
        loaded.model = detach(loaded.model, key)


def compact(loaded: LoadedModel, store: HotfixStore, cfg: CompactionConfig | None = None, *,
            drop: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Merges the enabled hotfixes (without ``drop``) into one adapter, verifies it, and switches.

    Args:
        loaded: the base model (bare; adapters are attached here and taken off again).
        store: the registry.
        cfg: name, combination and checks.
        drop: a constituent to leave out (the rollback of one hotfix of a compaction).
        dry_run: build and verify, but neither store the result nor switch.

    Returns:
        {"passed", "switched", "enabled_before", "enabled_after", "constituents", "canary": {name: …},
        "side_effects": {…} or None, "entry": {"name", "version"} or None, "reasons": [...], "seconds"}.

    Raises:
        StoreError: ``drop`` is not a constituent, nothing is enabled, or the registry changed meanwhile.
    """
    cfg = cfg or CompactionConfig()
    t0 = time.time()
    before = store.enabled()
    parts = constituents_of(store, before, cfg.name)
    if drop is not None:
        if drop not in parts:
            raise StoreError(f"hotfix {drop!r} is not enabled or compacted; constituents: {', '.join(parts) or '(none)'}")
        parts.pop(drop)
    elif len(parts) < 2:
        raise StoreError(f"{len(parts)} hotfix(es) enabled: nothing to compact")
    try:
        served = _attach_all(loaded, store, before)
        keys = _attach_all(loaded, store, parts)
        result = _verify(loaded, store, cfg, served, keys, parts)
        merged = len(parts) >= 2
        result["enabled_after"] = dict(parts) if not merged else {}
        if merged and result["passed"] and not dry_run:
            activate(loaded.model, keys, f"merge_{cfg.combination}")
            entry = _store_merged(loaded, store, cfg, parts)
            result["entry"] = {"name": entry.name, "version": entry.version}
            result["enabled_after"] = {entry.name: entry.version}
    finally:
        _detach_all(loaded)
    result.update(enabled_before=before, constituents=parts, seconds=round(time.time() - t0, 2))
    if result["passed"] and not dry_run:
        _switch(store, before, result["enabled_after"], parts, drop)
        result["switched"] = True
        if result["entry"]:
            store.record_eval(result["entry"]["name"], result["entry"]["version"], "compaction",
                              {k: v for k, v in result.items() if k != "entry"})
    return result


def _verify(loaded: LoadedModel, store: HotfixStore, cfg: CompactionConfig, served: list[str], keys: list[str],
            parts: dict[str, str]) -> dict[str, Any]:
    """Every constituent's canary on the target adapter, then the side-effect gate against the set
    served now. With no constituent left (the last one dropped) there is nothing to check."""
    mode = f"merge_{cfg.combination}" if len(keys) >= 2 else "stack"
    out: dict[str, Any] = {"passed": True, "switched": False, "entry": None, "canary": {}, "side_effects": None,
                           "reasons": []}
    if not keys:
        return out
    out["canary"] = _check_canaries(loaded, _canaries(store, parts), keys, mode, cfg.canary)
    out["reasons"] += [f"canary of {n} fails" for n, r in out["canary"].items() if not r["passed"]]
    if cfg.locality_prompts:
        gate = side_effect_gate(loaded, served, keys, candidate_mode=mode, prompts=cfg.locality_prompts,
                                alpha=cfg.alpha)
        out["side_effects"] = gate
        if not gate["passed"]:
            out["reasons"].append(f"side-effect gate: unrelated completions changed more than now (p={gate['p']:.3g})")
    out["passed"] = not out["reasons"]
    return out


def _switch(store: HotfixStore, before: dict[str, str], after: dict[str, str], parts: dict[str, str],
            drop: str | None) -> None:
    """One history record (action ``compact``), unless the enabled set moved meanwhile."""
    with store.locked():
        if store.enabled() != before:
            raise StoreError("the enabled set changed while compacting; run compact again")
        note = f"{'compacted' if len(parts) >= 2 else 'uncompacted'} " + (
            ", ".join(f"{n} {v}" for n, v in parts.items()) or "(none)")
        store.set_enabled(after, action="compact", note=note + (f"; dropped {drop}" if drop else ""))


def _store_merged(loaded: LoadedModel, store: HotfixStore, cfg: CompactionConfig, parts: dict[str, str]) -> HotfixEntry:
    """The active merged adapter as a new version of ``cfg.name``, with every constituent's canaries."""
    key = next(k for k in loaded.model.peft_config if k.startswith("merged@"))
    union = [c for cases in _canaries(store, parts).values() for c in cases]
    manifest = {"format": "codehotfix-hotfix/1", "base_model": loaded.model_id,
                "base_model_checksum": loaded.checksum, COMPACTED_FROM: parts, "combination": cfg.combination,
                "config": asdict(cfg)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = _save_merged(loaded.model, key, Path(tmp) / cfg.name, manifest)
        return store.add(folder, name=cfg.name, canaries=union, canary_count=len(union))
