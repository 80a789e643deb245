"""The demo recipe on the tiny model: every step writes its file, held-out contexts are never trained
on, and a second run with the same folder reuses the finished steps."""

import json

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
    # Every topic keeps contexts that only the evaluation sees (3 of 8 with the default fraction).
    for topic in ("yaml_safe_load", "pandas_concat"):
        assert sum(i.startswith(topic + "/") for i in split["test"]) == 3
    assert summary["train_cases"] == 10 and summary["test_cases"] == 6
    assert set(summary["by_topic"]) == {"yaml_safe_load", "pandas_concat"}
    md = (out / "summary.md").read_text()
    assert "| sampled |" in md
    # Every completion event gets its before/after table, each row with a test and a verdict.
    assert list(summary["events"]["events"]) == ["line", "split", "window"]
    assert all(f"### Event: {e}" in md for e in ("line", "split", "window")) and "Holm p" in md

    stamp = (out / "hotfix" / "adapter_model.safetensors").stat().st_mtime_ns
    logs = []
    again = run_demo(opts, log=logs.append)
    assert any("reusing" in line for line in logs)
    assert (out / "hotfix" / "adapter_model.safetensors").stat().st_mtime_ns == stamp
    assert again["comparison"] == summary["comparison"]
