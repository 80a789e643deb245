"""``run_sequence`` end to end on the tiny model: every step file and the matrix, adapters shared
between strategies, merged_cat equal to stacked, a bare base afterwards, and resuming without
loading the model."""

import json

import pytest

from codehotfix.config import load_config
from codehotfix.data.cases import HotfixCase
from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.files import read_json
from codehotfix.sequence import SequenceConfig, groups_from_cases, run_sequence
from codehotfix.sequence import runner as runner_mod

# One epoch, greedy only, short completions: the mechanics, in seconds.
FAST = ["training.epochs=1", "training.batch_size=4", "eval.samples=0", "eval.max_new_tokens=6"]
_LINES = [("yaml.load(f)", "yaml.safe_load(f)"), ("logger.warn('x')", "logger.warning('x')"),
          ("if v == None:", "if v is None:")]


@pytest.fixture()
def groups():
    cases = [HotfixCase(id=f"g{g}/{i}", prefix=f"def f{i}(v):\n", buggy=f"    {b}", fixed=f"    {f}", group=f"g{g}")
             for g, (b, f) in enumerate(_LINES) for i in range(3)]
    return groups_from_cases(cases, test_fraction=0.34, seed=0)


def test_a_sequence_writes_every_step_and_the_matrix_then_resumes(tmp_path, tiny_model_dir, groups, monkeypatch):
    cfg = load_config(None, FAST)
    # Steps 2 and 3 measured (step 1 only trained): 8 measurements instead of 12, the same code paths.
    opts = SequenceConfig(strategies=("stacked", "merged_cat", "continual", "retrained"), replay=1, measure_every=2)
    out = tmp_path / "seq"
    # Stopped during the third measurement (as a session's end stops a long run): the table of the
    # two steps measured so far is on disk, marked in progress.
    measure_step, calls = runner_mod._measure_step, []

    def stop_at_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return measure_step(*args)

    monkeypatch.setattr(runner_mod, "_measure_step", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        run_sequence(groups, out, cfg=cfg, opts=opts, model=str(tiny_model_dir), progress=False, threads=1)
    partial = read_json(out / "retention.json")
    assert partial["complete"] is False and "In progress" in (out / "retention.md").read_text()
    assert [c["step"] for c in partial["strategies"]["merged_cat"]["curve"]] == [2]
    # --table-only rebuilds the table from the step files there, measuring nothing (no model load).
    (out / "retention.json").unlink()
    load_model_real = runner_mod.load_model
    monkeypatch.setattr(runner_mod, "load_model", lambda *a, **k: pytest.fail("--table-only loaded the model"))
    tabled = run_sequence(groups, out, cfg=cfg, opts=opts, model=str(tiny_model_dir), progress=False, table_only=True)
    assert tabled["steps"] == {"ran": 0, "reused": 2, "missing": 6} and tabled["complete"] is False
    assert read_json(out / "retention.json")["strategies"] == partial["strategies"]
    with pytest.raises(CodehotfixError, match="no base.json"):
        run_sequence(groups, tmp_path / "empty", cfg=cfg, opts=opts, model=str(tiny_model_dir), table_only=True)
    monkeypatch.setattr(runner_mod, "load_model", load_model_real)
    monkeypatch.setattr(runner_mod, "_measure_step", measure_step)
    # Freed memory goes back to the kernel between phases (a real 50-step run outgrew 24 GiB without):
    # after each training, each merge or stack applied, and each measured step.
    release, released = runner_mod.runtime.release_freed_memory, []
    monkeypatch.setattr(runner_mod.runtime, "release_freed_memory", lambda: released.append(1) or release())
    table = run_sequence(groups, out, cfg=cfg, opts=opts, model=str(tiny_model_dir), progress=False, threads=1)
    assert table["steps"] == {"ran": 6, "reused": 2, "missing": 0} and table["complete"] is True
    assert len(released) >= 2 * table["steps"]["ran"]
    assert "In progress" not in (out / "retention.md").read_text()
    for strategy in opts.strategies:
        t = table["strategies"][strategy]
        assert t["steps"] == [2, 3] and not (out / strategy / "step-001.json").exists()
        assert [[v is None for v in row] for row in t["matrix"]] == [[False, False, True], [False, False, False]]
        step3 = read_json(out / strategy / "step-003.json")
        assert sorted(r["id"] for r in step3["eval"]["cases"]) == sorted(c.id for g in groups for c in g.test)
        assert all("split" in r["events"] for r in step3["eval"]["cases"])
        assert step3["comparison"]["rows"] and step3["overall"]["n"] == len(groups)
        assert step3["machine"]["torch_threads"] >= 1 and "cpu_flags" in step3["machine"]
    # Adapters are shared where strategies coincide; continual and retrained train what they should.
    assert read_json(out / "continual" / "step-002.json")["adapters"] == ["adapters/continual/002-g1"]
    assert not (out / "adapters" / "continual" / "001-g0").exists()  # step 1 of continual is single/001
    assert read_json(out / "stacked" / "step-003.json")["adapters"] == [
        "adapters/single/001-g0", "adapters/single/002-g1", "adapters/single/003-g2"]
    cont = read_json(out / "adapters" / "continual" / "003-g2" / "hotfix.json")
    assert cont["continued_from"].endswith("continual/002-g1")
    assert read_json(out / "adapters" / "continual" / "002-g1" / "hotfix.json")["continued_from"].endswith("single/001-g0")
    assert cont["cases"] == len(groups[2].train) + 2  # one replayed case from each earlier hotfix
    retrained = read_json(out / "adapters" / "retrained" / "003-g2" / "hotfix.json")
    assert sorted(retrained["case_ids"]) == sorted(c.id for g in groups for c in g.train)
    # cat is the exact sum of the adapters: the same margins as stacking them, up to float rounding.
    # Relative: the random tiny model gives margins up to ~20 nats, where float32 summation order
    # alone moved one by 5e-3 on one machine (2.6e-4 relative); a wrong merge moves them by whole nats.
    stacked = {r["id"]: r["margin"] for r in read_json(out / "stacked" / "step-003.json")["eval"]["cases"]}
    merged = {r["id"]: r["margin"] for r in read_json(out / "merged_cat" / "step-003.json")["eval"]["cases"]}
    assert stacked.keys() == merged.keys()
    assert all(abs(stacked[k] - merged[k]) <= 1e-3 * max(1.0, abs(stacked[k])) for k in stacked), (stacked, merged)
    assert "## retrained" in (out / "retention.md").read_text()
    assert (out / "retention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the curves, beside the table

    def no_loading(*a, **k):
        raise AssertionError("a finished sequence must not load the model again")

    monkeypatch.setattr(runner_mod, "load_model", no_loading)
    again = run_sequence(groups, out, cfg=cfg, opts=opts, model=str(tiny_model_dir), progress=False)
    assert again["steps"] == {"ran": 0, "reused": 8, "missing": 0}
    assert json.loads((out / "retention.json").read_text())["strategies"]["stacked"]["matrix"] == \
        table["strategies"]["stacked"]["matrix"]
    with pytest.raises(CodehotfixError, match="--restart"):
        run_sequence(groups, out, cfg=load_config(None, FAST + ["training.lr=0.01"]), opts=opts,
                     model=str(tiny_model_dir), progress=False)


def test_applied_leaves_the_bare_base_behind(tiny_loaded, trained_hotfixes):
    import torch

    before = {k: v.clone() for k, v in tiny_loaded.model.state_dict().items()}
    with runner_mod.applied(tiny_loaded, [trained_hotfixes["a"], trained_hotfixes["b"]], "merge_svd") as model:
        assert len(model.peft_config) == 3  # two hotfixes and their merge
    assert not hasattr(tiny_loaded.model, "peft_config")
    after = tiny_loaded.model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_only_lora_sequences_and_measured_steps(groups, tmp_path):
    with pytest.raises(ConfigError, match="lora"):
        run_sequence(groups, tmp_path, cfg=load_config(None, ["adapter.method=ia3"]))
    with pytest.raises(ConfigError, match="allow-exec"):
        SequenceConfig(humaneval=2)
    with pytest.raises(ConfigError, match="bogus"):
        SequenceConfig(strategies=("stacked", "bogus"))
    opts = SequenceConfig(measure_every=5)
    assert [k for k in range(1, 13) if opts.measured(k, 12)] == [5, 10, 12]


def _many_groups(n: int, per: int = 6):
    cases = [HotfixCase(id=f"h{g:02d}/{i}", prefix=f"def f{i}(v):\n", buggy=f"    x = {g}", fixed=f"    x = {g + 1}",
                        group=f"h{g:02d}") for g in range(n) for i in range(per)]
    return groups_from_cases(cases, test_fraction=0.34, seed=0)


def test_a_replay_budget_caps_continual_replay_without_changing_smaller_draws(tmp_path):
    groups = _many_groups(8)
    cfg = load_config(None, [])

    def replay(step, **kw):
        run = runner_mod._Run(groups, tmp_path, cfg, SequenceConfig(replay=2, **kw), None, None, 1, False)
        return [c.id for c in run.replay(step)]

    uncapped = replay(8)
    assert len(uncapped) == 14 and len({i.split("/")[0] for i in uncapped}) == 7  # 2 from each of 7 earlier
    capped = replay(8, replay_budget=5)
    # A seeded sample of the uncapped draw, kept in draw order, the same every time.
    assert len(capped) == 5 and capped == replay(8, replay_budget=5)
    assert capped == [i for i in uncapped if i in capped] and len(set(capped)) == 5
    assert replay(3, replay_budget=5) == replay(3)  # 4 drawn ≤ 5: nothing to cut
    assert replay(1, replay_budget=5) == []


def test_replay_budget_is_checked_and_fingerprinted_only_when_set():
    with pytest.raises(ConfigError, match="replay_budget must be >= 1"):
        SequenceConfig(replay_budget=0)
    groups, cfg = _many_groups(2), load_config(None, [])
    plain = runner_mod._fingerprint(groups, cfg, SequenceConfig(), None)
    # Unset, the fingerprint is the one runs had before the option existed, so they still resume.
    assert plain == runner_mod._fingerprint(groups, cfg, SequenceConfig(replay_budget=None), None)
    assert plain != runner_mod._fingerprint(groups, cfg, SequenceConfig(replay_budget=4), None)


def test_the_committed_n6_run_still_has_its_fingerprint():
    """bench/results/sequence_default_n6 was run before replay_budget and training.pack existed: the
    same command, with training.pack=false (it trained padded), must still find its ledger (a changed
    fingerprint would refuse to resume or reuse its step files); with packing, the default now, it is
    another recipe and must not."""
    from pathlib import Path

    from codehotfix.sequence import collect_groups

    ledger = Path(__file__).resolve().parents[2] / "bench/results/sequence_default_n6/sequence.json"
    groups = collect_groups("default", [], by="group", names=None, limit=6, test_fraction=0.4, seed=0)
    opts = SequenceConfig(strategies=("stacked", "merged_svd", "continual", "retrained"), measure_every=3, replay=2,
                          humaneval=10, allow_exec=True, locality=16)
    fingerprint = runner_mod._fingerprint(groups, load_config(None, ["eval.samples=0", "training.pack=false"]), opts, None)
    assert fingerprint == read_json(ledger)["fingerprint"]
    packed = runner_mod._fingerprint(groups, load_config(None, ["eval.samples=0"]), opts, None)
    assert packed != fingerprint
