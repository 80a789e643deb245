"""Execution-grounded fix rate: programs really run in the sandbox; the reference fixed line passes
and the buggy one fails; a LoRA trained to write the fixed line passes where the base fails."""

import json

import pytest
import torch

from codehotfix.cli import main
from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase, write_cases
from codehotfix.errors import ConfigError, DataError
from codehotfix.evaluation.execfix import ExecFixConfig, fix_program, run_execfix

CASE = HotfixCase(
    id="inc/0",
    prefix="def add_one(xs):\n    out = []\n    for x in xs:\n",
    buggy="        out.append(x - 1)",
    fixed="        out.append(x + 1)",
    suffix="    return out\n",
    source={"test": "def check(f):\n    assert f([1, 2]) == [2, 3]\n    assert f([]) == []\n", "entry_point": "add_one"})

EXEC = ExecFixConfig(allow_exec=True, timeout_s=10, workers=2)
GREEDY = EvalConfig(samples=0, max_new_tokens=32)


def _teach_fixed_line(model, tokenizer, case, steps=80):
    """A LoRA trained (plain cross-entropy) until the model writes the case's fixed line."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                  "up_proj", "down_proj", "gate_proj"]))
    # Prefix and line tokenized apart, as the generator sees them (the prompt ends at its newline).
    prefix = tokenizer(case.prefix, add_special_tokens=False)["input_ids"]
    line = tokenizer(case.fixed + "\n", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prefix + line])
    labels = torch.tensor([[-100] * len(prefix) + line])
    opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    torch.manual_seed(0)
    peft_model.train()
    for _ in range(steps):
        loss = peft_model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return peft_model.eval()


def test_program_appends_the_check_call_only_when_missing():
    program = fix_program(CASE, CASE.fixed)
    assert program.startswith(CASE.prefix + CASE.fixed + "\n" + CASE.suffix) and program.rstrip().endswith("check(add_one)")
    with_call = HotfixCase(**{**CASE.to_dict(), "source": {**CASE.source, "test": CASE.source["test"] + "check(add_one)\n"}})
    assert fix_program(with_call, CASE.fixed).count("check(add_one)") == 1


def test_reference_lines_and_base_only(tiny_model, tiny_tokenizer):
    result = run_execfix(tiny_model, tiny_tokenizer, [CASE], EvalConfig(samples=2, max_new_tokens=8), EXEC,
                         progress=False)
    assert result["reference"] == {"fixed_pass_rate": 1.0, "buggy_pass_rate": 0.0}
    rec = result["records"][0]
    assert rec["fixed_passed"] and not rec["buggy_passed"] and "hotfixed" not in rec
    assert result["hotfixed"] is None and result["mcnemar"] is None
    assert result["base"]["completions"] == 3 and 0.0 <= result["base"]["pass_rate"] <= 1.0
    assert result["base"]["greedy_pass_rate"] == float(rec["base"]["greedy_passed"])


def test_hotfix_that_writes_the_fixed_line_passes_and_mcnemar_counts_it(tiny_model, tiny_tokenizer):
    model = _teach_fixed_line(tiny_model, tiny_tokenizer, CASE)
    result = run_execfix(model, tiny_tokenizer, [CASE], GREEDY, EXEC, progress=False)
    rec = result["records"][0]
    assert rec["hotfixed"]["greedy"].strip() == CASE.fixed.strip() and rec["hotfixed"]["greedy_passed"]
    assert result["hotfixed"]["greedy_pass_rate"] == 1.0 and result["hotfixed"]["greedy_string_fixed_rate"] == 1.0
    assert not rec["base"]["greedy_passed"] and rec["base"]["greedy_status"] in ("failed", "timed_out", "killed")
    assert result["mcnemar"]["gained"] == 1 and result["mcnemar"]["lost"] == 0


def test_needs_allow_exec_and_cases_with_tests(tiny_model, tiny_tokenizer):
    with pytest.raises(ConfigError, match="allow_exec"):
        ExecFixConfig()
    untested = HotfixCase(id="u", prefix="x = 1\n", buggy="y = x", fixed="y = -x")
    with pytest.raises(DataError, match="none of the 1 cases carries tests"):
        run_execfix(tiny_model, tiny_tokenizer, [untested], GREEDY, EXEC, progress=False)


def test_cli_execfix(tmp_path, tiny_model_dir, capsys):
    cases = write_cases(tmp_path / "cases.jsonl", [CASE])
    out = tmp_path / "execfix.json"
    with pytest.raises(SystemExit) as e:
        main(["execfix", str(cases), "--model", str(tiny_model_dir), "--json", str(out)])
    assert e.value.code == 2 and "allow_exec" in capsys.readouterr().err and not out.exists()
    main(["execfix", str(cases), "--allow-exec", "--model", str(tiny_model_dir), "-k", "1", "--max-new-tokens", "6",
          "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["kind"] == "execfix" and data["cases"] == 1 and data["hotfixed"] is None
    assert data["reference"]["fixed_pass_rate"] == 1.0 and data["reference"]["buggy_pass_rate"] == 0.0
    assert {"pass_rate", "greedy_pass_rate", "string_fixed_rate"} <= set(data["base"])
