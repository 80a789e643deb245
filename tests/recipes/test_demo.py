"""The demo recipe on the tiny model: every step writes its file, held-out contexts are never trained
on, the target topics are chosen from training contexts only, and a second run with the same folder
reuses the finished steps."""

import json

import pytest

from codehotfix.data.packs import TopicSelectionConfig, load_pack
from codehotfix.recipes import demo
from codehotfix.recipes.demo import DemoOptions, run_demo

QUICK = ["training.epochs=1", "training.batch_size=8", "eval.samples=2", "eval.max_new_tokens=6"]


def test_demo_runs_and_resumes(tmp_path, tiny_model_dir):
    out = tmp_path / "run"
    opts = DemoOptions(out=out, model=str(tiny_model_dir), topics=["yaml_safe_load", "pandas_concat"],
                       overrides=QUICK)
    summary = run_demo(opts, log=lambda _: None)
    for name in ("split.json", "config.json", "base_eval.json", "hotfix/hotfix.json",
                 "hotfix/adapter_model.safetensors", "hotfix_eval.json", "summary.json", "summary.md"):
        assert (out / name).exists(), name
    split = json.loads((out / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    # Topics given: no selection pass, so training computes its own kl_context reference.
    assert not (out / demo.STATES_FILE).exists()
    assert json.loads((out / "hotfix" / "hotfix.json").read_text())["reference_from_states"] == 0
    # Every topic keeps contexts that only the evaluation sees (5 of 10 with the default fraction).
    for topic in ("yaml_safe_load", "pandas_concat"):
        assert sum(i.startswith(topic + "/") for i in split["test"]) == 5
    assert summary["train_cases"] == 10 and summary["test_cases"] == 10
    assert split["selection"] == {"select": "given", "targets": ["pandas_concat", "yaml_safe_load"]}
    assert set(summary["by_topic"]) == {"yaml_safe_load", "pandas_concat"}
    md = (out / "summary.md").read_text()
    assert "| sampled |" in md
    # Every event the demo recipe judges (all three) gets its before/after table, each row with a
    # test and a verdict.
    assert list(summary["events"]["events"]) == ["line", "split", "window"]
    assert all(f"### Event: {e}" in md for e in ("line", "split", "window")) and "Holm p" in md
    # The tiny model is the user's own folder: no store, every retain snippet computed (and said so).
    ref = summary["retain_reference"]
    assert ref["store"] is None and ref["from_store"] == 0 and ref["computed"] > 0
    assert f"kl_corpus reference: {ref['computed']} snippet(s) computed in this run (no store" in md

    stamp = (out / "hotfix" / "adapter_model.safetensors").stat().st_mtime_ns
    logs = []
    again = run_demo(opts, log=logs.append)
    assert any("reusing" in line for line in logs)
    assert (out / "hotfix" / "adapter_model.safetensors").stat().st_mtime_ns == stamp
    assert again["comparison"] == summary["comparison"]

    # The same folder under another recipe or model is refused before any step, naming what differs:
    # its steps would otherwise be reused and reported under the new settings.
    from dataclasses import replace

    from codehotfix.errors import CodehotfixError

    held = (out / "config.json").read_bytes()
    with pytest.raises(CodehotfixError, match=r"training\.lr: 0\.001 → 0\.002"):
        run_demo(replace(opts, overrides=[*QUICK, "training.lr=2e-3"]), log=lambda _: None)
    with pytest.raises(CodehotfixError, match=r"demo\.model: .* → 'other/model'"):
        run_demo(replace(opts, model="other/model"), log=lambda _: None)
    assert (out / "config.json").read_bytes() == held  # the kept record is not overwritten
    assert (out / "hotfix" / "adapter_model.safetensors").stat().st_mtime_ns == stamp
    # where and how fast it runs is not the run's identity
    run_demo(replace(opts, threads=1), log=lambda _: None)


def test_demo_selects_targets_from_training_contexts_only(tmp_path, tiny_model_dir, monkeypatch):
    topics = ("yaml_safe_load", "is_none")
    monkeypatch.setattr(demo, "load_pack", lambda name: [c for c in load_pack(name) if c.group in topics])
    seen = []
    real_select_topics = demo.select_topics

    def spy(train, results, cfg=None):
        seen.append(set(results))
        return real_select_topics(train, results, cfg)

    monkeypatch.setattr(demo, "select_topics", spy)
    out = tmp_path / "run"
    # margins under 1000 nats count as wrong: every topic becomes a target, whatever the tiny model says
    opts = DemoOptions(out=out, model=str(tiny_model_dir), overrides=QUICK,
                       selection=TopicSelectionConfig(margin_below=1000.0))
    summary = run_demo(opts, log=lambda _: None)
    split = json.loads((out / "split.json").read_text())
    assert seen == [set(split["all_train"])]
    assert not set(split["all_test"]) & seen[0]
    sel = split["selection"]
    assert sel["select"] == "margin" and sel["targets"] == sorted(topics)
    assert set(sel["inputs"]) == set(split["all_train"]) and len(split["all_test"]) == 10
    assert all(isinstance(v["margin"], float) for v in sel["inputs"].values())
    assert summary["test_cases"] == 10 and set(summary["by_topic"]) == set(topics)
    # The selection pass kept the chosen training contexts' base states; training took its kl_context
    # reference from them (and would again after an interruption: they are in the run folder).
    from safetensors.torch import load_file

    states = load_file(str(out / demo.STATES_FILE))
    assert set(states) == set(split["train"])
    assert json.loads((out / "hotfix" / "hotfix.json").read_text())["reference_from_states"] == len(split["train"])
    # a strict rule that no topic meets stops before training, naming the rule and the file
    again = DemoOptions(out=tmp_path / "none", model=str(tiny_model_dir), overrides=QUICK,
                        selection=TopicSelectionConfig(margin_below=-1000.0))
    with pytest.raises(ValueError, match="no target topic"):
        run_demo(again, log=lambda _: None)


def test_full_selection_uses_greedy_and_samples_of_training_contexts(tiny_model_dir, tmp_path):
    from codehotfix.config import load_config
    from codehotfix.data.packs import split_pack
    from codehotfix.models.loading import load_model

    cfg = load_config(None, QUICK)
    cases = [c for c in load_pack("default") if c.group == "bare_except"]
    train, test = split_pack(cases, test_fraction=0.4, seed=0)
    loaded = load_model(str(tiny_model_dir), dtype="float32", device="cpu")
    states = tmp_path / demo.STATES_FILE
    selection = demo._select(DemoOptions(select="full"), cfg, loaded, train, states)
    assert selection["select"] == "full" and set(selection["inputs"]) == {c.id for c in train}
    assert not states.exists()  # the full evaluation keeps no context states: training computes its reference
    assert all(v["greedy_label"] is not None and v["buggy_rate"] is not None for v in selection["inputs"].values())


def test_demo_rejects_an_unknown_selection_mode(tmp_path):
    with pytest.raises(ValueError, match="select"):
        run_demo(DemoOptions(out=tmp_path, select="oracle"), log=lambda _: None)


def test_demo_summary_says_how_much_of_the_kl_corpus_reference_came_from_the_store():
    summary = {"model": "m", "train_cases": 1, "test_cases": 1, "topics": ["t"], "seed": 0, "eval_samples": 0,
               "comparison": {"greedy": {"fixed_before": 0.0, "fixed_after": 1.0, "fixed_change_pct": None,
                                         "buggy_before": 1.0, "buggy_after": 0.0, "buggy_change_pct": -100.0},
                              "margin_before": -1.0, "margin_after": 1.0},
               "by_topic": {}, "seconds": {"training": 1.0},
               "retain_reference": {"from_store": 28, "computed": 2, "store": "/cache/derived/retain.safetensors"}}
    md = demo.summary_markdown(summary)
    assert "kl_corpus reference: 28 snippet(s) read from the model's store, 2 computed in this run." in md
    assert "kl_corpus reference" not in demo.summary_markdown({**summary, "retain_reference": {}})  # older runs


def test_a_second_demo_reads_the_base_models_results_from_the_models_store(tmp_path, tiny_model_dir, monkeypatch):
    import shutil
    from dataclasses import replace

    from codehotfix import api

    # A converted copy in the cache is marked by codehotfix-model.json: only such a copy has a store.
    converted = tmp_path / "gguf-0123-float32"
    shutil.copytree(tiny_model_dir, converted)
    (converted / "codehotfix-model.json").write_text(json.dumps({"sha256": "0" * 64, "dtype": "float32"}))
    topics = ("yaml_safe_load", "is_none")
    monkeypatch.setattr(demo, "load_pack", lambda name: [c for c in load_pack(name) if c.group in topics])
    base_evals, selections = [], []
    real_evaluate, real_select = api.evaluate, demo._select

    def count_evaluate(cases, **kw):
        base_evals.append(kw.get("adapter") is None)
        return real_evaluate(cases, **kw)

    def count_select(*args):
        selections.append(1)
        return real_select(*args)

    monkeypatch.setattr(api, "evaluate", count_evaluate)
    monkeypatch.setattr(demo, "_select", count_select)
    opts = DemoOptions(out=tmp_path / "a", model=str(converted), overrides=QUICK,
                       selection=TopicSelectionConfig(margin_below=1000.0))
    first = run_demo(opts, log=lambda _: None)
    assert first["base_store"] == {"store": str(converted / "derived" / demo.BASE_STORE), "select": None,
                                   "base eval": None}
    assert (selections, base_evals) == ([1], [True, False])

    logs = []
    second = run_demo(replace(opts, out=tmp_path / "b"), log=logs.append)
    assert (selections, base_evals) == ([1], [True, False, False])  # only the hotfix was evaluated
    for step in ("select", "base eval"):
        info = second["base_store"][step]
        assert info["computed_seconds"] >= 0 and info["computed_at"] and info["key"]
        assert any(f"{step}: read from the model's store ({info['key']}" in line for line in logs)
    a, b = (tmp_path / "a", tmp_path / "b")

    def without(record, *keys):
        return {k: v for k, v in record.items() if k not in keys}

    base_a, base_b = (json.loads((d / "base_eval.json").read_text()) for d in (a, b))
    assert without(base_b, "_seconds", "from_store") == without(base_a, "_seconds")
    split_a, split_b = (json.loads((d / "split.json").read_text()) for d in (a, b))
    assert without(split_b["selection"], "from_store") == split_a["selection"]
    assert (b / demo.STATES_FILE).read_bytes() == (a / demo.STATES_FILE).read_bytes()
    # read or computed, the same base results, so training takes the same reference: the same adapter
    assert (b / "hotfix" / "adapter_model.safetensors").read_bytes() == \
        (a / "hotfix" / "adapter_model.safetensors").read_bytes()
    assert second["comparison"] == first["comparison"]
    assert "Read from the model's store" in (b / "summary.md").read_text()
    assert "Read from the model's store" not in (a / "summary.md").read_text()

    # --recompute-base computes them again (and gets the same); other evaluation settings are another entry
    third = run_demo(replace(opts, out=tmp_path / "c", reuse_base=False), log=lambda _: None)
    assert (selections, base_evals[3:]) == ([1, 1], [True, False])
    assert third["base_store"]["select"] is None and third["base_store"]["base eval"] is None
    assert json.loads((tmp_path / "c" / "base_eval.json").read_text())["cases"] == base_a["cases"]
    run_demo(replace(opts, out=tmp_path / "d", overrides=[*QUICK, "eval.max_new_tokens=5"]), log=lambda _: None)
    assert (selections, base_evals[5:]) == ([1, 1, 1], [True, False])

    # the user's own folder keeps no store: both steps are computed, nothing is written into it
    own = run_demo(replace(opts, out=tmp_path / "e", model=str(tiny_model_dir)), log=lambda _: None)
    assert own["base_store"] == {"store": None, "select": None, "base eval": None}
    assert not (tiny_model_dir / "derived").exists()


def test_a_store_that_cannot_be_written_costs_a_warning_not_the_result(tmp_path, caplog):
    import logging

    from codehotfix.models.derived import ResultStore

    class Full(ResultStore):
        def put(self, *args, **kwargs):
            raise OSError(28, "No space left on device")

    store = demo._BaseStore(Full(tmp_path / "store"), {"model": "m"}, read=True)
    with caplog.at_level(logging.WARNING, logger="codehotfix.recipes.demo"):
        assert store.result("base eval", {"cases": "c"}, lambda: {"cases": [1]}, None, log=lambda _: None) == \
            {"cases": [1]}
    assert "could not keep the base model's base eval there" in caplog.text and "No space left" in caplog.text
