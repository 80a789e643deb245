"""The store of results computed from one base model (models.derived): an entry comes back only for
the identity it was filed under and with the files it was stored with; anything wrong with it is
named in a warning and counts as absent, so the caller computes the result again."""

import json
import logging

import pytest

from codehotfix.models import derived
from codehotfix.models.derived import ResultStore

IDENTITY = {"step": "base eval", "model": "abc", "cpu": "AMD EPYC", "eval": {"max_new_tokens": 64}}


def test_an_entry_comes_back_with_its_files_for_its_identity_only(tmp_path):
    store = ResultStore(tmp_path / "store")
    states = tmp_path / "states.bin"
    states.write_bytes(b"\x00\x01states")
    store.put(IDENTITY, {"cases": [1, 2]}, seconds=41.234, files={"states": states})
    target = tmp_path / "run" / "states.bin"
    target.parent.mkdir()
    found = store.get(dict(reversed(list(IDENTITY.items()))), files={"states": target})  # key order is not identity
    assert found.result == {"cases": [1, 2]} and found.seconds == 41.23
    assert found.provenance() == {"key": found.key, "computed_seconds": 41.23, "computed_at": found.created}
    assert target.read_bytes() == b"\x00\x01states"
    assert store.get({**IDENTITY, "cpu": "Intel Xeon"}) is None
    assert store.get({**IDENTITY, "eval": {"max_new_tokens": 65}}) is None
    # an entry stored without files serves a caller that names some: the computation wrote none
    store.put({**IDENTITY, "step": "select"}, {"targets": []}, seconds=1.0)
    assert store.get({**IDENTITY, "step": "select"}, files={"states": tmp_path / "none.bin"}).result == {"targets": []}
    assert not (tmp_path / "none.bin").exists()


@pytest.mark.parametrize("damage,said", [
    (lambda path, key: path.write_text("{not json"), "unreadable stored result"),
    (lambda path, key: path.write_text(json.dumps({**json.loads(path.read_text()), "identity": {"step": "other"}})),
     "format or identity differ"),
    (lambda path, key: (path.parent / f"{key}.states").unlink(), "are missing"),
])
def test_a_damaged_entry_is_named_and_counts_as_absent(tmp_path, caplog, damage, said):
    store = ResultStore(tmp_path)
    states = tmp_path / "states.bin"
    states.write_bytes(b"s")
    path = store.put(IDENTITY, {"x": 1}, seconds=1.0, files={"states": states})
    damage(path, store.key(IDENTITY))
    with caplog.at_level(logging.WARNING, logger="codehotfix.models.derived"):
        assert store.get(IDENTITY, files={"states": tmp_path / "out.bin"}) is None
    assert said in caplog.text and str(path) in caplog.text
    assert not (tmp_path / "out.bin").exists()


def test_an_entry_with_files_the_caller_does_not_take_is_not_served(tmp_path, caplog):
    store = ResultStore(tmp_path)
    states = tmp_path / "states.bin"
    states.write_bytes(b"s")
    store.put(IDENTITY, {"x": 1}, seconds=1.0, files={"states": states})
    with caplog.at_level(logging.WARNING, logger="codehotfix.models.derived"):
        assert store.get(IDENTITY) is None
    assert "stored with files ['states']" in caplog.text


def test_the_code_digest_changes_with_any_source_file(tmp_path, monkeypatch):
    package = tmp_path / "codehotfix"
    (package / "evaluation").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "evaluation" / "onepass.py").write_text("STEPS = 1\n")
    (package / "README.md").write_text("docs are not code")
    monkeypatch.setattr(derived, "_PACKAGE_ROOT", package)
    derived.code_digest.cache_clear()
    try:
        first = derived.code_digest()
        (package / "README.md").write_text("edited docs")
        derived.code_digest.cache_clear()
        assert derived.code_digest() == first
        (package / "evaluation" / "onepass.py").write_text("STEPS = 2\n")
        derived.code_digest.cache_clear()
        assert derived.code_digest() != first
    finally:
        monkeypatch.undo()
        derived.code_digest.cache_clear()


def test_machine_identity_names_what_sets_a_results_bits(tiny_model_dir):
    import torch

    from codehotfix.models.loading import load_model

    loaded = load_model(str(tiny_model_dir), dtype="float32", device="cpu")
    identity = derived.machine_identity(loaded.model)
    assert identity["dtype"] == "torch.float32" and identity["device"] == "cpu" and identity["gpu"] is None
    assert identity["threads"] == torch.get_num_threads() and identity["versions"]["torch"] == torch.__version__
    assert identity["cpu"]
