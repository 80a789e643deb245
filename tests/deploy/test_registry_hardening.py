"""Issue 14 regressions for the registry: a small registry.json with the history compacted into
history.jsonl, stale temporaries cleaned, corrupt files reported in one line, one name rule, and
canary paths confined to the hotfix folder."""

import json
import os
import shutil

import pytest

from codehotfix.cli import main
from codehotfix.deploy.store import (HISTORY_FILE, RECENT_RECORDS, STATE_FILE, HotfixStore, StoreError,
                                     check_name, confined_path)


@pytest.fixture()
def store(tmp_path, zero_hotfix):
    store = HotfixStore(tmp_path / "reg", create=True)
    for name in ("a", "b"):
        store.add(zero_hotfix, name=name, canaries=zero_hotfix / "cases.jsonl")
    return store


def test_registry_json_stays_small_and_the_log_keeps_everything(store):
    for _ in range(15):
        store.enable("a")
        store.disable("a")
    store.enable("b")  # seq 31: older than every record registry.json keeps once 20 more follow
    for _ in range(10):
        store.enable("a")
        store.disable("a")
    state = json.loads((store.root / STATE_FILE).read_text())
    assert len(state["history"]) == RECENT_RECORDS and state["seq"] == 51
    lines = (store.root / HISTORY_FILE).read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, 52))
    assert [h["seq"] for h in store.history()] == list(range(1, 52))
    assert store.rollback("b")["undoes"] == 31 and store.enabled() == {}  # found in the log, not registry.json


def test_an_old_registry_json_migrates_and_a_kill_between_the_writes_loses_nothing(store):
    store.enable("a")
    store.disable("a")
    state = json.loads((store.root / STATE_FILE).read_text())
    (store.root / HISTORY_FILE).unlink()  # as an old registry.json (whole history inside) or a kill
    (store.root / STATE_FILE).write_text(json.dumps({k: v for k, v in state.items() if k != "seq"}))
    assert [h["seq"] for h in store.history()] == [1, 2]
    store.enable("b")
    assert [json.loads(x)["seq"] for x in (store.root / HISTORY_FILE).read_text().splitlines()] == [1, 2, 3]
    with open(store.root / HISTORY_FILE, "a") as f:
        f.write('{"seq": 4, "bef')  # an append cut short by kill -9
    assert [h["seq"] for h in store.history()] == [1, 2, 3]
    store.disable("b")
    assert [h["seq"] for h in HotfixStore(store.root).history()] == [1, 2, 3, 4]


def test_stale_temporaries_of_a_killed_writer_are_removed_on_open(store):
    stale = store.root / f".{STATE_FILE}.k9x2.tmp"
    stale.write_text("{")
    half_added = store.root / "a" / ".v2.abc123"
    half_added.mkdir()
    (half_added / "adapter_model.safetensors").write_bytes(b"x")
    HotfixStore(store.root)
    assert not stale.exists() and not half_added.exists()
    assert store.versions("a") == ["v1"]


@pytest.mark.parametrize("content, why", [
    (b'{"format": "codehotfix-registry/1", "enabled": {', "invalid JSON at line 1"),
    (b'{"format": "codehotfix-registry/1", "enabled": {"a": "v\xff"}}', "not UTF-8"),
    (b'{"format": "codehotfix-registry/1", "enabled": ["a"], "history": []}', '"enabled" must map'),
    (b'{"format": "codehotfix-registry/1", "enabled": {"../x": "v1"}, "history": []}', '"enabled" must map'),
    (b'{"format": "codehotfix-registry/1", "enabled": {}, "history": [{"seq": "1"}]}', '"history" must be'),
])
def test_a_corrupt_registry_json_is_one_line_naming_the_file(store, capsys, content, why):
    (store.root / STATE_FILE).write_bytes(content)
    with pytest.raises(StoreError, match=why) as e:
        store.enabled()
    assert str(store.root / STATE_FILE) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SystemExit) as exit_:
        main(["hotfix", "list", "--registry", str(store.root)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and STATE_FILE in err and "Traceback" not in err


def test_a_path_as_hotfix_name_is_refused_by_the_cli_and_the_registry(store, tmp_path, capsys):
    # A registry-shaped folder outside the registry: before, `enable ../other/yaml` found it and
    # wrote that name into registry.json, and the server then refused to start.
    outside = tmp_path / "other" / "yaml"
    shutil.copytree(store.root / "a", outside)
    with pytest.raises(SystemExit) as e:
        main(["hotfix", "enable", "../other/yaml", "--registry", str(store.root), "--no-canary"])
    assert e.value.code == 2 and "name '../other/yaml' is not valid" in capsys.readouterr().err
    assert store.enabled() == {} and not (store.root / STATE_FILE).exists()
    for bad in ("../other/yaml", "a.b", "", "-x", "x" * 65):
        with pytest.raises(StoreError, match="is not valid"):
            check_name(bad)
    with pytest.raises(StoreError, match="version '../v1' is not valid"):
        store.entry("a", "../v1")


def test_canary_paths_stay_inside_the_hotfix_folder_and_do_not_reveal_files(store, tmp_path, zero_hotfix):
    src = tmp_path / "src"
    shutil.copytree(zero_hotfix, src)
    os.symlink("/etc/hostname", src / "escape.jsonl")
    for rel in ("/etc", "../zero/cases.jsonl", "escape.jsonl"):
        with pytest.raises(StoreError, match="must be a file inside the hotfix folder"):
            confined_path(src, rel, "canaries")
    (src / "hotfix.json").write_text(json.dumps({"canaries": "../../../etc/passwd"}))
    with pytest.raises(StoreError, match="hotfix.json canaries"):
        store.add(src, name="c")
    (src / "folder.jsonl").mkdir()
    messages = []
    for rel in ("missing.jsonl", "folder.jsonl"):
        with pytest.raises(StoreError) as e:
            store.add(src, name="c", canaries=src / rel)
        messages.append(str(e.value).replace(rel, "X"))
    assert messages[0] == messages[1] and "no readable cases file" in messages[0]
