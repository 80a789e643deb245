"""The command line: train and eval on the tiny model, and one-line errors with exit status 2."""

import json

import pytest

from codehotfix.cli import main
from codehotfix.data.cases import write_cases


def test_train_then_eval_with_the_adapter(tmp_path, tiny_model_dir, tiny_cases, capsys):
    cases = write_cases(tmp_path / "cases.jsonl", tiny_cases)
    main(["train", str(cases), "--out", str(tmp_path / "hf"), "--model", str(tiny_model_dir),
          "training.epochs=1", "training.batch_size=4"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["cases"] == 4 and printed["steps"] == 1
    main(["eval", str(cases), "--model", str(tiny_model_dir), "--adapter", str(tmp_path / "hf"), "-k", "2",
          "--max-new-tokens", "6", "--json", str(tmp_path / "eval.json")])
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["adapter"] == str(tmp_path / "hf") and result["summary"]["sampled"]["n"] == 8
    assert result["hotfix"]["kind"] == "trained" and result["hotfix"]["parts"][0]["adapter"] == str(tmp_path / "hf")


def test_errors_are_one_line_with_status_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prefix": "", "buggy": "x = 1"}\n')
    with pytest.raises(SystemExit) as e:
        main(["train", str(bad), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.jsonl:1: missing required field(s) 'fixed'" in err
    with pytest.raises(SystemExit) as e:
        main(["train", str(bad), "--out", str(tmp_path / "o"), "training.nope=1"])
    assert e.value.code == 2 and "training.nope: unknown key" in capsys.readouterr().err


def test_humaneval_needs_allow_exec_and_caches_generations(tmp_path, tiny_model_dir, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as e:
        main(["humaneval", "--model", str(tiny_model_dir), "--limit", "2", "--json", str(tmp_path / "he.json")])
    assert e.value.code == 2 and "allow" in capsys.readouterr().err.lower()
    assert not (tmp_path / "he.json").exists()

    args = ["humaneval", "--allow-exec", "--model", str(tiny_model_dir), "--limit", "2", "--max-new-tokens", "8"]
    main(args + ["--json", str(tmp_path / "he.json")])
    first = json.loads((tmp_path / "he.json").read_text())
    assert len(first["tasks"]) == 2 and first["pass_at_k"]["pass@1"] == 0.0  # a random model solves nothing
    assert first["generated_prompts"] == 2
    main(args + ["--json", str(tmp_path / "he2.json")])
    second = json.loads((tmp_path / "he2.json").read_text())
    assert second["generated_prompts"] == 0 and second["cached_prompts"] == 2
    assert [t["completions"] for t in second["tasks"]] == [t["completions"] for t in first["tasks"]]
