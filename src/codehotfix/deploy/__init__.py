"""Deploying hotfixes: a versioned registry, activation on a base model, canaries, vLLM export.

- ``store``: ``HotfixStore``, the registry folder (versions, enabled set, history, rollback).
- ``history``: history.jsonl, the registry's append-only log of changes.
- ``rollback``: what a rollback restores, planned from the history (also a compaction's, by name).
- ``activation``: put enabled hotfixes on a model, stacked or merged; measure effect retention.
- ``canary``: refuse a hotfix whose own cases do not move when it is switched on.
- ``vllm``: check and export a hotfix for vLLM's multi-LoRA serving.
"""

from codehotfix.deploy.activation import (MODES, AdapterLoadError, activate, adapter_key, attach, detach,
                                          measure_retention, read_adapter)
from codehotfix.deploy.canary import CanaryConfig, CanaryFailed, CanaryResult, run_canary
from codehotfix.deploy.store import HotfixEntry, HotfixStore, StoreError
from codehotfix.deploy.vllm import VllmCompatError, check_vllm, export_vllm

__all__ = ["HotfixStore", "HotfixEntry", "StoreError", "CanaryConfig", "CanaryResult", "CanaryFailed",
           "run_canary", "MODES", "AdapterLoadError", "adapter_key", "read_adapter", "attach", "detach",
           "activate", "measure_retention", "check_vllm", "export_vllm", "VllmCompatError"]
