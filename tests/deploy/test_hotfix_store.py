"""HotfixStore: versions, canaries and evals kept per entry, enable/disable/rollback history, and
the file lock between two store objects (as between the CLI and a running server)."""

import json
import shutil
import threading

import pytest

from codehotfix.cli import main
from codehotfix.data.cases import read_cases
from codehotfix.deploy.store import HotfixStore, StoreError, UnknownHotfix


@pytest.fixture()
def store(tmp_path):
    return HotfixStore(tmp_path / "reg", create=True)


def test_add_keeps_versions_canaries_and_evals(store, zero_hotfix, tmp_path):
    source = tmp_path / "fix-src"
    shutil.copytree(zero_hotfix, source)
    (source / "hotfix.json").write_text(json.dumps({"base_model": "tiny", "canaries": "cases.jsonl"}))
    result = tmp_path / "eval.json"
    result.write_text(json.dumps({"summary": {"margin_mean": 1.5}}))
    first = store.add(source, name="fix", canary_count=1, evals=[result])  # canaries: hotfix.json's pointer
    second = store.add(source, name="fix")
    assert first.manifest["base_model"] == "tiny" and first.info["base_model"] == "tiny"
    assert (first.version, second.version) == ("v1", "v2") and store.versions("fix") == ["v1", "v2"]
    assert (first.path / "adapter_model.safetensors").read_bytes() == (zero_hotfix / "adapter_model.safetensors").read_bytes()
    assert [c.id for c in first.canaries()] == ["yaml/0"]  # the first canary_count cases of cases.jsonl
    assert len(second.canaries()) == 2
    assert first.evals() == {"eval": {"summary": {"margin_mean": 1.5}}} and second.evals() == {}
    assert store.entry("fix").version == "v2"  # latest by default
    assert [r["version"] for r in store.listing()] == ["v1", "v2"]
    with pytest.raises(StoreError, match="already has version 'v1'"):
        store.add(source, name="fix", version="v1")


def test_add_rejects_bad_input_naming_what_is_wrong(store, zero_hotfix, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="missing adapter_config.json, adapter_model.safetensors"):
        store.add(tmp_path / "empty")
    with pytest.raises(StoreError, match="name 'bad.name' is not valid"):
        store.add(zero_hotfix, name="bad.name")
    manifest = json.loads((zero_hotfix / "hotfix.json").read_text()) if (zero_hotfix / "hotfix.json").exists() else None
    assert manifest is None  # the zero hotfix has no hotfix.json, so nothing points at its canaries
    with pytest.raises(StoreError, match="no canary cases"):
        store.add(zero_hotfix, name="fix")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "prefix": "", "buggy": "a = 1"}\n')
    with pytest.raises(Exception, match="bad.jsonl:1: missing required field"):
        store.add(zero_hotfix, name="fix", canaries=bad)
    with pytest.raises(UnknownHotfix, match="no hotfix 'nope'"):
        store.entry("nope")
    assert store.names() == []  # nothing half-added


def test_enable_disable_and_rollback_walk_back_through_history(store, zero_hotfix):
    for name in ("a", "b"):
        store.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")
    store.add(zero_hotfix, name="a", canaries=zero_hotfix / "cases.jsonl")  # a v2
    store.enable("a", "v1")
    store.enable("b")
    store.enable("a")  # v2 replaces v1
    assert store.enabled() == {"a": "v2", "b": "v1"}
    store.disable("b")
    assert store.enabled() == {"a": "v2"}
    assert store.rollback()["undoes"] == 4 and store.enabled() == {"a": "v2", "b": "v1"}
    store.rollback()
    assert store.enabled() == {"a": "v1", "b": "v1"}
    store.rollback()
    store.rollback()
    assert store.enabled() == {}
    with pytest.raises(StoreError, match="nothing to roll back"):
        store.rollback()
    history = store.history()
    assert [h["action"] for h in history] == ["enable"] * 3 + ["disable"] + ["rollback"] * 4
    assert [h["seq"] for h in history] == list(range(1, 9))
    with pytest.raises(StoreError, match="'b' is not enabled"):
        store.disable("b")


def test_rollback_by_name_leaves_other_hotfixes_alone(store, zero_hotfix):
    for name in ("a", "b"):
        store.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")
    store.add(zero_hotfix, name="a", canaries=zero_hotfix / "cases.jsonl")
    store.enable("a", "v1")
    store.enable("b")
    store.enable("a", "v2")
    store.rollback("a")
    assert store.enabled() == {"a": "v1", "b": "v1"}
    store.rollback("a")
    assert store.enabled() == {"b": "v1"}
    store.rollback()  # the latest change still in effect: enabling b
    assert store.enabled() == {}


def test_two_store_objects_do_not_lose_updates(tmp_path, zero_hotfix):
    root = tmp_path / "reg"
    setup = HotfixStore(root, create=True)
    for name in ("a", "b"):
        setup.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")

    def toggle(name):
        own = HotfixStore(root)  # its own lock file descriptor, like a second process
        for _ in range(10):
            own.enable(name)
            own.disable(name)

    threads = [threading.Thread(target=toggle, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    history = HotfixStore(root).history()
    assert len(history) == 40 and [h["seq"] for h in history] == list(range(1, 41))
    for h in history:  # every record saw the state the previous one left
        assert h["before"] == (history[h["seq"] - 2]["after"] if h["seq"] > 1 else {})


def test_cli_add_list_show_enable_rollback(tmp_path, zero_hotfix, capsys):
    reg = str(tmp_path / "reg")
    main(["hotfix", "add", str(zero_hotfix), "--registry", reg, "--name", "fix",
          "--canaries", str(zero_hotfix / "cases.jsonl")])
    assert json.loads(capsys.readouterr().out)["version"] == "v1"
    with pytest.raises(SystemExit) as e:
        main(["hotfix", "enable", "fix", "--registry", reg])
    assert e.value.code == 2 and "--model" in capsys.readouterr().err
    main(["hotfix", "enable", "fix", "--registry", reg, "--no-canary"])
    assert json.loads(capsys.readouterr().out)["enabled"] == {"fix": "v1"}
    main(["hotfix", "list", "--registry", reg])
    listing = json.loads(capsys.readouterr().out)
    assert listing["enabled"] == {"fix": "v1"} and listing["hotfixes"][0]["enabled"] is True
    main(["hotfix", "show", "fix", "--registry", reg])
    shown = json.loads(capsys.readouterr().out)
    assert shown["canary_ids"] == [c.id for c in read_cases(zero_hotfix / "cases.jsonl")]
    main(["hotfix", "rollback", "--registry", reg])
    assert json.loads(capsys.readouterr().out)["enabled"] == {}
    with pytest.raises(SystemExit) as e:
        main(["hotfix", "disable", "fix", "--registry", reg])
    assert e.value.code == 2 and "not enabled" in capsys.readouterr().err


def _compact_without_a_model(store, zero_hotfix, tmp_path, parts):
    """What ``compaction.compact`` leaves behind (an entry whose hotfix.json names its constituents,
    switched to in one ``compact`` record), with the zero adapter standing in for the merged one:
    the registry's side needs no model."""
    merged = tmp_path / "merged"
    shutil.copytree(zero_hotfix, merged, dirs_exist_ok=True)  # called again, it stores the next version
    (merged / "hotfix.json").write_text(json.dumps({"format": "codehotfix-hotfix/1", "compacted_from": parts}))
    entry = store.add(merged, name="compacted", canaries=zero_hotfix / "cases.jsonl")
    store.set_enabled({entry.name: entry.version}, action="compact")
    return entry


def test_rollback_of_a_compacted_constituent_is_refused_naming_compact_drop(store, zero_hotfix, tmp_path, capsys):
    for name in ("a", "b"):
        store.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")
        store.enable(name)
    _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    seq = store.state()["seq"]
    # Undone by name, a would come back beside the adapter that already holds it: served twice.
    with pytest.raises(StoreError, match=r"'a'.*compacted v1.*codehotfix hotfix compact --drop a"):
        store.plan_rollback("a")
    with pytest.raises(StoreError, match="compact --drop a"):
        store.rollback("a")
    assert store.enabled() == {"compacted": "v1"} and store.state()["seq"] == seq  # nothing recorded
    with pytest.raises(SystemExit) as e:
        main(["hotfix", "rollback", "b", "--registry", str(store.root)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "compact --drop b" in err and "Traceback" not in err
    # Undoing the compaction as a whole still works: back to the two separate hotfixes.
    assert store.rollback()["undoes"] == seq and store.enabled() == {"a": "v1", "b": "v1"}
    store.rollback("a")  # no compacted adapter holds it now: an ordinary rollback by name
    assert store.enabled() == {"b": "v1"}


def test_rollback_by_name_beside_a_compaction_still_works_when_nothing_is_served_twice(store, zero_hotfix, tmp_path):
    for name in ("a", "b", "c"):
        store.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")
    store.add(zero_hotfix, name="a", canaries=zero_hotfix / "cases.jsonl")  # a v2
    store.enable("a", "v1")
    store.enable("b")
    _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    store.enable("c")
    store.rollback("c")  # c is no constituent
    assert store.enabled() == {"compacted": "v1"}
    store.enable("a", "v2")  # a newer a, served on its own beside the compaction
    store.rollback("a")  # takes a v2 off again and enables nothing: no refusal
    assert store.enabled() == {"compacted": "v1"}


def _add_and_enable(store, zero_hotfix, *names):
    for name in names:
        store.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")
        store.enable(name)


def test_rollback_of_a_compacted_entry_by_name_brings_back_its_constituents(store, zero_hotfix, tmp_path, capsys):
    _add_and_enable(store, zero_hotfix, "a", "b")
    _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    seq = store.state()["seq"]
    planned, undoes = store.plan_rollback("compacted")  # what the server's admin rollback switches to
    main(["hotfix", "rollback", "compacted", "--registry", str(store.root)])
    out = json.loads(capsys.readouterr().out)
    assert out["enabled"] == planned == {"a": "v1", "b": "v1"}  # not {}: the constituents are served again
    assert out["history"]["undoes"] == undoes == seq and out["history"]["name"] == "compacted"
    store.rollback()  # the compaction is undone, so the latest change in effect is enabling b
    assert store.enabled() == {"a": "v1"}


def test_rollback_of_a_compacted_entry_keeps_changes_made_after_the_compaction(store, zero_hotfix, tmp_path):
    _add_and_enable(store, zero_hotfix, "a", "b")
    compaction = _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    _add_and_enable(store, zero_hotfix, "c")  # served beside the compaction
    record = store.rollback(compaction.name)
    assert store.enabled() == {"a": "v1", "b": "v1", "c": "v1"}
    assert store.history()[record["undoes"] - 1]["action"] == "compact"
    store.rollback()  # enabling c is now the latest change in effect; the compaction is not undone twice
    assert store.enabled() == {"a": "v1", "b": "v1"}


def test_rollback_of_a_recompacted_entry_walks_back_one_compaction_at_a_time(store, zero_hotfix, tmp_path):
    _add_and_enable(store, zero_hotfix, "a", "b")
    _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    _add_and_enable(store, zero_hotfix, "c")
    second = _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1", "c": "v1"})
    assert second.version == "v2" and store.enabled() == {"compacted": "v2"}
    store.rollback("compacted")
    assert store.enabled() == {"compacted": "v1", "c": "v1"}  # a and b stay inside compacted v1, once
    store.rollback("compacted")
    assert store.enabled() == {"a": "v1", "b": "v1", "c": "v1"}


def test_rollback_of_a_compacted_entry_refuses_when_a_constituent_changed_since(store, zero_hotfix, tmp_path):
    _add_and_enable(store, zero_hotfix, "a", "b")
    _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    store.add(zero_hotfix, name="a", canaries=zero_hotfix / "cases.jsonl")
    store.enable("a", "v2")  # enabled after the compaction: undoing it would overwrite a v2 with a v1
    seq = store.state()["seq"]
    with pytest.raises(StoreError, match=r"'a' changed since.*v2 now.*codehotfix hotfix rollback a"):
        store.plan_rollback("compacted")
    with pytest.raises(StoreError, match="changed since"):
        store.rollback("compacted")
    assert store.enabled() == {"compacted": "v1", "a": "v2"} and store.state()["seq"] == seq
    store.rollback("a")  # what the message says to do first
    store.rollback("compacted")
    assert store.enabled() == {"a": "v1", "b": "v1"}


def test_rollback_of_an_uncompaction_refuses_to_serve_a_hotfix_twice(store, zero_hotfix, tmp_path):
    _add_and_enable(store, zero_hotfix, "a", "b")
    _compact_without_a_model(store, zero_hotfix, tmp_path, {"a": "v1", "b": "v1"})
    store.set_enabled({"b": "v1"}, action="compact", note="uncompacted b v1; dropped a")  # compact --drop a
    store.enable("a")  # a again, on its own
    seq = store.state()["seq"]
    # Undoing the drop brings back compacted v1, which holds a: beside a itself, a would be served twice.
    with pytest.raises(StoreError, match=r"serve hotfix 'a' twice.*a v1 on its own.*compacted v1.*disable a"):
        store.rollback("compacted")
    assert store.enabled() == {"a": "v1", "b": "v1"} and store.state()["seq"] == seq
    store.disable("a")
    store.rollback("compacted")  # undoes the drop as a whole: compacted v1 back, b (inside it) not twice
    assert store.enabled() == {"compacted": "v1"}
