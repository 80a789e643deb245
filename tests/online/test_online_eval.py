"""`codehotfix eval --online / --guard`: the online hotfixes are evaluated like any hotfix and the
results JSON says which kind was evaluated, so they can be tabulated beside trained hotfixes."""

import json

import pytest

from codehotfix.cli import main
from codehotfix.data.cases import HotfixCase, write_cases

FAST = ["-k", "2", "--max-new-tokens", "6"]


@pytest.fixture()
def files(tmp_path, tiny_cases):
    unrelated = [HotfixCase(id="u/0", prefix="import os\n\nprint(os.getcwd())\n", buggy="os.getcwdu()",
                            fixed="os.getcwd()")]
    return (write_cases(tmp_path / "cases.jsonl", tiny_cases), write_cases(tmp_path / "fixes.jsonl", tiny_cases),
            write_cases(tmp_path / "unrelated.jsonl", unrelated))


def _eval(tmp_path, capsys, name, args):
    main(["eval", *args, *FAST, "--json", str(tmp_path / name)])
    printed = json.loads(capsys.readouterr().out)
    return printed, json.loads((tmp_path / name).read_text())


def test_eval_records_the_hotfix_kind_for_none_online_and_guard(tmp_path, tiny_model_dir, files, capsys):
    cases, fixes, unrelated = files
    model = ["--model", str(tiny_model_dir), str(cases)]
    _, base = _eval(tmp_path, capsys, "base.json", model)
    assert base["hotfix"] == {"kind": "none", "parts": []}

    printed, online = _eval(tmp_path, capsys, "online.json", model + ["--online", str(fixes),
                                                                     "--online-template", "warning"])
    [part] = online["hotfix"]["parts"]
    assert printed["hotfix"] == online["hotfix"]["kind"] == "online"
    assert part["template"] == "warning" and part["source"] == str(fixes) and part["prompts_changed"] == 4
    assert part["match"] == {"mode": "context", "tail_lines": 4, "threshold": 0.8, "max_matches": 1,
                             "min_name_len": 3, "force": "heading"} and len(part["cases_checksum"]) == 64
    assert all(r["prompt_changed"] for r in online["cases"])
    # The margin is scored on the hotfixed prompt, so it moves even on a random model.
    assert [r["margin"] for r in online["cases"]] != [r["margin"] for r in base["cases"]]

    _, guard = _eval(tmp_path, capsys, "guard.json", model + ["--guard", str(fixes)])
    [part] = guard["hotfix"]["parts"]
    assert guard["hotfix"]["kind"] == "guard" and part["prompts_matched"] == 4
    assert all(r["guard_matched"] for r in guard["cases"]) and part["stats"]["calls"] > 0
    # The guard never changes the model's own likelihoods; a random model rarely heads for a buggy line.
    assert [r["margin"] for r in guard["cases"]] == [r["margin"] for r in base["cases"]]
    assert guard["summary"]["greedy"]["buggy_rate"] == 0.0

    # Fixes that match none of the prompts leave every completion and margin as it was.
    _, both = _eval(tmp_path, capsys, "both.json", model + ["--online", str(unrelated), "--guard", str(unrelated)])
    assert both["hotfix"]["kind"] == "online+guard"
    assert [p["kind"] for p in both["hotfix"]["parts"]] == ["online", "guard"]
    assert [p.get("prompts_changed", p.get("prompts_matched")) for p in both["hotfix"]["parts"]] == [0, 0]
    keys = ("greedy", "samples", "margin")
    assert [[r[k] for k in keys] for r in both["cases"]] == [[r[k] for k in keys] for r in base["cases"]]


def test_bad_fixes_file_and_template_fail_before_the_model_loads(tmp_path, files, capsys):
    cases, fixes, _ = files
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prefix": "", "buggy": "x = 1"}\n')
    for args, message in ((["--guard", str(bad)], "bad.jsonl:1: missing required field(s) 'fixed'"),
                          (["--online", str(fixes), "--online-template", "loud"], "unknown template 'loud'"),
                          (["--online", str(fixes), "--match-threshold", "2"], "match.threshold")):
        with pytest.raises(SystemExit) as e:
            main(["eval", str(cases), "--model", "/nonexistent-model-folder", *args,
                  "--json", str(tmp_path / "x.json")])
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_api_takes_hotfix_objects(tmp_path, tiny_model_dir, tiny_cases):
    from codehotfix import api
    from codehotfix.config import EvalConfig
    from codehotfix.online import PromptHotfix

    loaded = api.load_hotfixed(str(tiny_model_dir), dtype="float32")
    result = api.evaluate(tiny_cases, loaded=loaded, eval_config=EvalConfig(samples=0, max_new_tokens=4),
                          online=PromptHotfix(tiny_cases[:1]), adapter=None, progress=False)
    assert result["hotfix"]["kind"] == "online" and result["hotfix"]["parts"][0]["source"] is None
    assert [r["prompt_changed"] for r in result["cases"]] == [True, False, False, False]
