"""`codehotfix run` / `api.run` end to end on the tiny model: the files the report reads, the model
card, resuming (finished phases are not redone, the model is not even loaded), and refusing a
folder that holds another run."""

import json

import pytest

import codehotfix.api as api
from codehotfix.api import RunOptions, run
from codehotfix.cli import main
from codehotfix.data.cases import write_cases
from codehotfix.errors import CodehotfixError, ConfigError

FAST = ["training.epochs=1", "training.batch_size=4", "eval.samples=2", "eval.max_new_tokens=6"]


@pytest.fixture()
def cases_file(tmp_path, tiny_cases):
    return write_cases(tmp_path / "cases.jsonl", tiny_cases)


def test_run_writes_every_file_the_report_reads_then_resumes(tmp_path, tiny_model_dir, cases_file, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # HumanEval's generation cache
    out = tmp_path / "run"
    opts = RunOptions(humaneval=1, allow_exec=True, locality=True, perplexity=True, side_effect_limit=2)
    first = run(cases_file, out, model=str(tiny_model_dir), overrides=FAST, options=opts, progress=False)
    assert set(first["phases"].values()) == {"ran"}
    for name in ("split.json", "base_eval.json", "hotfix_eval.json", "humaneval_base.json", "humaneval_hotfix.json",
                 "locality.json", "perplexity.json", "report.html", "report.md", "report.json", "run.json",
                 "hotfix/hotfix.json", "hotfix/train_log.jsonl", "hotfix/adapter_model.safetensors", "hotfix/README.md"):
        assert (out / name).is_file(), name
    numbers = json.loads((out / "report.json").read_text())
    # Every part the run measured is in the report; nothing it measured is reported missing.
    assert numbers["rates"]["paired"] and numbers["humaneval"]["paired"]["problems"] == 1
    assert numbers["locality"]["prompts"] == 2 and numbers["perplexity"]["base"] > 0
    assert not [m for m in numbers["missing"] if m["section"] in ("training", "locality", "perplexity")]
    split = json.loads((out / "split.json").read_text())
    assert len(split["test"]) == 1 and len(split["train"]) == 3 and not set(split["test"]) & set(split["train"])
    card = (out / "hotfix" / "README.md").read_text()
    assert "Efficacy" in card and "Not measured" not in card and "HumanEval pass@1" in card
    # The run judges every event by default; the card shows each, split first (deploy/test_card.py checks the rows).
    assert card.index("Event `split`") < card.index("Event `line`") < card.index("Event `window`")

    def no_loading(*a, **k):
        raise AssertionError("a finished run must not load the model again")

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*_*.json")}
    monkeypatch.setattr(api, "load_model", no_loading)
    again = run(cases_file, out, model=str(tiny_model_dir), overrides=FAST, options=opts, progress=False)
    assert set(again["phases"].values()) == {"reused"}
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*_*.json")} == stamps


def test_an_interrupted_phase_is_redone_and_only_it(tmp_path, tiny_model_dir, cases_file):
    out = tmp_path / "run"
    run(cases_file, out, model=str(tiny_model_dir), overrides=FAST, progress=False,
        options=RunOptions(report=False, report_to="tensorboard"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    assert {"train/loss", "eval/base_eval/greedy/fixed_rate", "eval/hotfix_eval/sampled/buggy_rate"} <= set(
        acc.Tags()["scalars"])
    trained = (out / "hotfix" / "adapter_model.safetensors").read_bytes()
    (out / "hotfix_eval.json").unlink()
    result = run(cases_file, out, model=str(tiny_model_dir), overrides=FAST, options=RunOptions(report=False),
                 progress=False)
    assert result["phases"] == {"split": "reused", "base_eval": "reused", "train": "reused", "hotfix_eval": "ran"}
    assert (out / "hotfix" / "adapter_model.safetensors").read_bytes() == trained
    # A side effect asked for later runs on the reused hotfix without redoing anything else.
    more = run(cases_file, out, model=str(tiny_model_dir), overrides=FAST, progress=False,
               options=RunOptions(report=False, locality=True, side_effect_limit=2))
    assert more["phases"]["locality"] == "ran" and more["phases"]["train"] == "reused"


def test_another_run_in_the_folder_is_refused_unless_restart(tmp_path, tiny_model_dir, cases_file):
    out = tmp_path / "run"
    run(cases_file, out, model=str(tiny_model_dir), overrides=FAST, options=RunOptions(report=False), progress=False)
    with pytest.raises(CodehotfixError, match="--restart"):
        run(cases_file, out, model=str(tiny_model_dir), overrides=FAST + ["training.lr=0.01"],
            options=RunOptions(report=False), progress=False)
    redone = run(cases_file, out, model=str(tiny_model_dir), overrides=FAST + ["training.lr=0.01"],
                 options=RunOptions(report=False), restart=True, progress=False)
    assert set(redone["phases"].values()) == {"ran"}
    foreign = tmp_path / "demo"
    foreign.mkdir()
    (foreign / "base_eval.json").write_text("{}")
    with pytest.raises(CodehotfixError, match="not written by `codehotfix run`"):
        run(cases_file, foreign, model=str(tiny_model_dir), overrides=FAST, progress=False)


def test_humaneval_without_allow_exec_fails_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="--allow-exec"):
        RunOptions(humaneval=3)


def test_cli_run_prints_the_summary_and_resumes(tmp_path, tiny_model_dir, cases_file, capsys):
    out = tmp_path / "run"
    args = ["run", str(cases_file), "--out", str(out), "--model", str(tiny_model_dir), *FAST]
    main(args)
    printed = json.loads(capsys.readouterr().out)
    assert printed["report"] == str(out / "report.html") and (out / "report.html").is_file()
    assert printed["phases"]["train"] == "ran" and printed["headlines"]
    main(args)
    assert set(json.loads(capsys.readouterr().out)["phases"].values()) == {"reused"}
    with pytest.raises(SystemExit) as e:
        main(args[:-1] + ["eval.max_new_tokens=7"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.count("\n") == 0 and "--restart" in err


def test_cli_run_passes_allow_weak_isolation_to_the_sandbox_call(tmp_path, tiny_model_dir, cases_file, monkeypatch):
    import codehotfix.evaluation.humaneval as he

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # HumanEval's generation cache
    seen = []
    real = he.run_many

    def recording(programs, **kwargs):
        seen.append(kwargs.get("allow_weak_isolation"))
        return real(programs, **kwargs)

    monkeypatch.setattr(he, "run_many", recording)
    args = ["run", str(cases_file), "--model", str(tiny_model_dir), "--humaneval", "1", "--allow-exec",
            "--no-report", *FAST]
    main(args[:1] + ["--out", str(tmp_path / "weak"), "--allow-weak-isolation"] + args[1:])
    assert seen == [True, True]  # base and hotfixed HumanEval phases
    seen.clear()
    main(args[:1] + ["--out", str(tmp_path / "full")] + args[1:])
    assert seen == [False, False]
