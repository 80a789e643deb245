"""Registry compaction on the tiny model: enabled hotfixes merged into one verified adapter, the
switch as one history record, and the rollback of one constituent rebuilding without it."""

import json

import pytest

from codehotfix.deploy.activation import activate, adapter_key, attach, read_adapter
from codehotfix.deploy.canary import CanaryConfig, margins
from codehotfix.deploy.compaction import COMPACTED_FROM, CompactionConfig, compact, side_effect_gate
from codehotfix.deploy.store import HotfixStore, StoreError

# The deploy tests' threshold: on the random tiny model, stacking a with b shrinks one of b's two
# cases to ~0 (tests/serve/test_serve_app.py); half the cases at 0.5 nats still tells a hotfix from none.
CANARY = CanaryConfig(min_delta=0.5, min_fraction=0.5)


@pytest.fixture()
def store(tmp_path, trained_hotfixes):
    store = HotfixStore(tmp_path / "reg", create=True)
    for name in ("a", "b"):
        store.add(trained_hotfixes[name], name=name)
        store.enable(name)
    return store


def test_compaction_switches_to_one_verified_adapter_and_a_drop_rebuilds_without_it(store, tiny_loaded):
    cfg = CompactionConfig(locality_prompts=4, canary=CANARY)
    result = compact(tiny_loaded, store, cfg)
    assert result["passed"] and result["switched"], result["reasons"]
    assert store.enabled() == {"compacted": "v1"}
    assert set(result["canary"]) == {"a", "b"} and all(r["passed"] for r in result["canary"].values())
    assert result["side_effects"]["passed"] and result["side_effects"]["prompts"] == 4
    entry = store.entry("compacted")
    assert entry.manifest[COMPACTED_FROM] == {"a": "v1", "b": "v1"}
    assert {c.id for c in entry.canaries()} == {"yaml/0", "warn/0", "none/0", "range/0"}
    assert store.history()[-1]["action"] == "compact" and "compaction" in entry.evals()
    assert not hasattr(tiny_loaded.model, "peft_config")  # every adapter taken off again

    # cat is the exact sum: the compacted adapter scores like the two stacked.
    model = tiny_loaded.model
    for name, version in (("a", "v1"), ("b", "v1"), ("compacted", "v1")):
        model = attach(model, read_adapter(store.entry(name, version).path, adapter_key(name, version)))
    cases = entry.canaries()
    activate(model, ["a@v1", "b@v1"], "stack")
    stacked = margins(model, tiny_loaded.tokenizer, cases, CANARY)
    activate(model, ["compacted@v1"], "stack")
    compacted = margins(model, tiny_loaded.tokenizer, cases, CANARY)
    assert all(abs(x - y) < 1e-3 for x, y in zip(stacked, compacted))
    tiny_loaded.model = model.unload()

    dropped = compact(tiny_loaded, store, cfg, drop="a")
    assert dropped["switched"] and store.enabled() == {"b": "v1"}  # one left: no merge needed
    assert set(dropped["canary"]) == {"b"}
    store.rollback()  # undoes the drop as a whole
    assert store.enabled() == {"compacted": "v1"}
    with pytest.raises(StoreError, match="not enabled or compacted"):
        compact(tiny_loaded, store, cfg, drop="zzz")
    store.set_enabled({"a": "v1"})
    with pytest.raises(StoreError, match="nothing to compact"):
        compact(tiny_loaded, store, cfg)


def test_a_failing_canary_stops_the_switch(store, tiny_loaded):
    result = compact(tiny_loaded, store, CompactionConfig(locality_prompts=0, canary=CanaryConfig(min_delta=1e6)))
    assert not result["passed"] and not result["switched"] and result["entry"] is None
    assert result["reasons"] == ["canary of a fails", "canary of b fails"]
    assert store.enabled() == {"a": "v1", "b": "v1"} and store.versions("compacted") == []


def test_the_side_effect_gate_fails_a_candidate_that_changes_more_prompts(tiny_loaded, trained_hotfixes):
    model = attach(tiny_loaded.model, read_adapter(trained_hotfixes["a"], "a"))
    tiny_loaded.model = model
    same = side_effect_gate(tiny_loaded, ["a"], ["a"], prompts=6)
    assert same["passed"] and same["lost"] == 0 and same["gained"] == 0
    vs_base = side_effect_gate(tiny_loaded, [], ["a"], prompts=6)
    assert vs_base["reference_unchanged"] == 1.0
    # Significant only when the candidate leaves >= 6 fewer prompts unchanged (McNemar exact, 6 of 6: p=0.031).
    assert vs_base["passed"] == (vs_base["lost"] < 6)
    tiny_loaded.model = model.unload()


def test_the_cli_dry_run_verifies_without_storing_or_switching(store, tiny_model_dir, capsys):
    from codehotfix.cli import main

    main(["hotfix", "compact", "--registry", str(store.root), "--model", str(tiny_model_dir), "--locality", "2",
          "--dry-run", "--threads", "1"])
    result = json.loads(capsys.readouterr().out)
    assert result["switched"] is False and result["constituents"] == {"a": "v1", "b": "v1"}
    assert set(result["canary"]) == {"a", "b"} and result["side_effects"]["prompts"] == 2
    assert store.enabled() == {"a": "v1", "b": "v1"} and store.versions("compacted") == []
