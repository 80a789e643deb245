"""Resume checkpoints without pickle (issue 14): a planted pickle never runs, a bad checkpoint is a
clear error that suggests --restart, --restart discards it unread, and a resumed run reports the
tokens and seconds of all its segments."""

import hashlib
import json
import os

import pytest
import torch

from codehotfix.config import load_config
from codehotfix.models.adapters import build_adapter
from codehotfix.training.checkpoint import STATE_FILE, CheckpointError, fingerprint
from codehotfix.training.loop import train_adapter

ONE_STEP = ["training.lr=0.01", "training.epochs=1", "training.batch_size=4", "training.warmup_steps=0"]


class _Payload:
    """Unpickling this runs ``os.system("touch <marker>")``: the attack issue 14 found."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _plant_pickle(path, marker):
    torch.save({"fingerprint": "x", "epoch": 1, "payload": _Payload(marker)}, path)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def checkpoint(tmp_path, tiny_tokenizer, tiny_cases):
    """A real one-epoch checkpoint folder, and the config of the run it belongs to."""
    from tiny_model import build_tiny_model

    cfg, folder = load_config(overrides=ONE_STEP), tmp_path / "ckpt"
    train_adapter(build_adapter(build_tiny_model(len(tiny_tokenizer)), cfg.adapter), tiny_tokenizer, tiny_cases, cfg,
                  checkpoint_dir=folder, progress=False)
    return folder, cfg


def _resume(folder, cfg, tokenizer, cases, **kwargs):
    from tiny_model import build_tiny_model

    model = build_adapter(build_tiny_model(len(tokenizer)), cfg.adapter)
    return train_adapter(model, tokenizer, cases, cfg, checkpoint_dir=folder, progress=False, **kwargs)


def _tensor_file(folder):
    return folder / json.loads((folder / STATE_FILE).read_text())["tensors"]


def test_checkpoint_is_json_and_safetensors_only(checkpoint):
    folder, cfg = checkpoint
    assert {p.name for p in folder.iterdir()} == {STATE_FILE, "state-e1.safetensors"}
    state = json.loads((folder / STATE_FILE).read_text())
    assert state["epoch"] == 1 and state["step"] == 1 and state["tokens"] > 0 and len(state["history"]) == 1


def _plant_old(folder, marker):
    _plant_pickle(folder / "state.pt", marker)


def _plant_json(folder, marker):
    _plant_pickle(folder / STATE_FILE, marker)


def _plant_tensors(folder, marker):
    _plant_pickle(_tensor_file(folder), marker)


def _plant_tensors_matching_sha(folder, marker):
    # The attacker can also rewrite state.json so the sha256 matches: safetensors still never unpickles.
    _plant_pickle(_tensor_file(folder), marker)
    state = json.loads((folder / STATE_FILE).read_text())
    state["tensors_sha256"] = _sha(_tensor_file(folder))
    (folder / STATE_FILE).write_text(json.dumps(state))


@pytest.mark.parametrize("plant, bad_file", [(_plant_old, "state.pt"), (_plant_json, STATE_FILE),
                                             (_plant_tensors, "state-e1.safetensors"),
                                             (_plant_tensors_matching_sha, "state-e1.safetensors")])
def test_planted_pickle_never_runs(plant, bad_file, checkpoint, tmp_path, tiny_tokenizer, tiny_cases):
    """Choice: a planted file is an error naming it (training does not start over silently over a
    file someone put there); --restart then removes it unread and trains from the start."""
    folder, cfg = checkpoint
    marker = tmp_path / "pwned"
    plant(folder, marker)
    with pytest.raises(CheckpointError, match=rf"{bad_file}.*--restart") as err:
        _resume(folder, cfg, tiny_tokenizer, tiny_cases)
    assert "\n" not in str(err.value)
    assert not marker.exists()
    result = _resume(folder, cfg, tiny_tokenizer, tiny_cases, restart=True)
    assert not marker.exists() and result.resumed_from_epoch == 0 and result.steps == 1
    assert not (folder / "state.pt").exists() and json.loads((folder / STATE_FILE).read_text())["epoch"] == 1


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_state(**fields):
    def edit(folder):
        state = json.loads((folder / STATE_FILE).read_text())
        (folder / STATE_FILE).write_text(json.dumps({**state, **fields}))
    return edit


@pytest.mark.parametrize("damage, message", [
    (lambda f: _truncate(f / STATE_FILE), "state.json: unreadable checkpoint, corrupt or truncated"),
    (lambda f: _truncate(_tensor_file(f)), "state-e1.safetensors: missing, or its sha256 does not match"),
    (lambda f: _tensor_file(f).unlink(), "state-e1.safetensors: missing"),
    (lambda f: (f / STATE_FILE).write_text('{"hello": 1}'), "state.json: not a codehotfix checkpoint"),
    (_edit_state(fingerprint="0" * 64), "state.json: checkpoint of a run with another config or cases"),
    (_edit_state(tensors="../../elsewhere/state-e1.safetensors"), "state.json: field 'tensors'"),
    (_edit_state(history="oops"), "state.json: malformed"),
])
def test_corrupt_truncated_or_foreign_checkpoint_is_a_clear_error(damage, message, checkpoint, tiny_tokenizer,
                                                                  tiny_cases):
    folder, cfg = checkpoint
    damage(folder)
    with pytest.raises(CheckpointError, match=message) as err:
        _resume(folder, cfg, tiny_tokenizer, tiny_cases)
    assert "--restart" in str(err.value) and "\n" not in str(err.value)


def test_checkpoint_of_another_model_is_a_clear_error(checkpoint, tiny_tokenizer, tiny_cases):
    folder, _ = checkpoint
    other = load_config(overrides=ONE_STEP + ["adapter.r=4"])
    state = json.loads((folder / STATE_FILE).read_text())
    (folder / STATE_FILE).write_text(json.dumps({**state, "fingerprint": fingerprint(other, tiny_cases)}))
    with pytest.raises(CheckpointError, match="state.json: malformed, or does not fit this model"):
        _resume(folder, other, tiny_tokenizer, tiny_cases)


def test_cli_reports_a_planted_checkpoint_in_one_line_and_restart_trains(tmp_path, tiny_model_dir, tiny_cases,
                                                                         capsys):
    from codehotfix.cli import main
    from codehotfix.data.cases import write_cases

    cases, out, marker = write_cases(tmp_path / "c.jsonl", tiny_cases), tmp_path / "out", tmp_path / "pwned"
    (out / ".checkpoint").mkdir(parents=True)
    _plant_pickle(out / ".checkpoint" / "state.pt", marker)
    argv = ["train", str(cases), "--out", str(out), "--model", str(tiny_model_dir), *ONE_STEP]
    with pytest.raises(SystemExit) as code:
        main(argv)
    err = capsys.readouterr().err  # transformers' loading bars come first
    message = err.strip().splitlines()[-1]
    assert code.value.code == 2 and "Traceback" not in err and message.startswith("codehotfix: error: ")
    assert "state.pt" in message and "--restart" in message
    main(argv + ["--restart"])
    assert not marker.exists() and (out / "hotfix.json").exists() and not (out / ".checkpoint").exists()


def _api_run(tmp_path, name, model_dir, cases, overrides):
    from codehotfix import api

    out = tmp_path / name
    return out, api.train(cases, out, model=str(model_dir), overrides=overrides, progress=False)


THREE_EPOCHS = ["training.lr=0.01", "training.epochs=3", "training.batch_size=2"]
TIME_DEPENDENT = ("created", "train_seconds", "wall_seconds")  # hotfix.json fields that are timings


def test_identical_runs_write_identical_folders_and_resume_sums_every_segment(tmp_path, tiny_model_dir,
                                                                             tiny_cases, monkeypatch):
    """Two identical runs: byte-identical files, except hotfix.json's timings (``TIME_DEPENDENT``).
    An interrupted and resumed run: the same adapter, and tokens/seconds of both segments."""
    import codehotfix.training.loop as loop

    a, manifest_a = _api_run(tmp_path, "a", tiny_model_dir, tiny_cases, THREE_EPOCHS)
    b, _ = _api_run(tmp_path, "b", tiny_model_dir, tiny_cases, THREE_EPOCHS)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "adapter_config.json" in names
    for name in names:
        if name != "hotfix.json":
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    strip = lambda folder: {k: v for k, v in json.loads((folder / "hotfix.json").read_text()).items()  # noqa: E731
                            if k not in TIME_DEPENDENT}
    assert strip(a) == strip(b)

    real, calls = loop.make_batches, {"n": 0}

    def stop_in_third_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "make_batches", stop_in_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        _api_run(tmp_path, "c", tiny_model_dir, tiny_cases, THREE_EPOCHS)
    monkeypatch.setattr(loop, "make_batches", real)
    state_file = tmp_path / "c" / ".checkpoint" / STATE_FILE
    state = json.loads(state_file.read_text())
    assert state["epoch"] == 2 and 0 < state["tokens"] < manifest_a["tokens"]
    state_file.write_text(json.dumps({**state, "seconds": 1000.0}))  # stands for a long first segment
    c, manifest_c = _api_run(tmp_path, "c", tiny_model_dir, tiny_cases, THREE_EPOCHS)
    assert manifest_c["resumed_from_epoch"] == 2 and manifest_c["steps"] == manifest_a["steps"]
    assert manifest_c["tokens"] == manifest_a["tokens"] and manifest_c["train_seconds"] >= 1000.0
    assert (c / "adapter_model.safetensors").read_bytes() == (a / "adapter_model.safetensors").read_bytes()
    assert (c / "train_log.jsonl").read_bytes() == (a / "train_log.jsonl").read_bytes()


def test_fingerprint_of_a_padded_run_is_the_one_checkpoints_had_before_packing_existed(tiny_cases):
    """A checkpoint written before ``training.pack`` existed fingerprinted the config without it; a
    padded run (``training.pack=false``) must find it, and a packed run (another recipe) must not."""
    from dataclasses import asdict

    from codehotfix.files import sha256_text

    padded = load_config(overrides=[*ONE_STEP, "training.pack=false"])
    old_cfg = asdict(padded)
    del old_cfg["training"]["pack"]
    before = sha256_text(json.dumps({"cfg": old_cfg, "cases": [c.to_dict() for c in tiny_cases]}, sort_keys=True,
                                    default=str))
    assert fingerprint(padded, tiny_cases) == before
    assert fingerprint(load_config(overrides=ONE_STEP), tiny_cases) != before
