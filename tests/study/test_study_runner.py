"""The study runner on the tiny model: a grid end to end, resuming after a crash without redoing
finished cells, the base model pristine between cells, the best-seeds pass, the 'seen' split."""

import json
import sys
import types

import pytest
import torch

from codehotfix.cli import main
from codehotfix.data.cases import HotfixCase, write_cases
from codehotfix.errors import CodehotfixError, DataError
from codehotfix.models.adapters import ADAPTERS
from codehotfix.models.loading import LoadedModel
from codehotfix.study import load_study, prepare_data, run_study, runner, weights_signature

QUICK = {"training": {"epochs": 1, "batch_size": 4, "max_context_tokens": 32},
         "eval": {"samples": 2, "max_new_tokens": 6, "max_context_tokens": 32}}
LEARN = {"name": "learn", "objectives": [{"name": "fixed_ce"}]}
UNLEARN = {"name": "learn_unlearn", "objectives": [{"name": "fixed_ce"}, {"name": "unlikelihood", "weight": 0.3}]}


def _cases():
    ops = ["+", "-", "*", "//", "%", "**", "&", "|", "^"]
    return [HotfixCase(id=f"c{i}", prefix=f"def f{i}(x, y):\n", buggy=f"    return x {ops[i]} y",
                       fixed=f"    return y {ops[i]} x", group=f"g{i % 3}") for i in range(9)]


def _study(tmp_path, methods=({"name": "lora", "overrides": {"adapter": {"r": 2}}},), losses=(LEARN, UNLEARN),
           **extra):
    cases = write_cases(tmp_path / "cases.jsonl", _cases())
    spec = {"name": "tiny", "dataset": {"path": str(cases), "split": "grouped", "test_fraction": 0.34},
            "overrides": QUICK, "methods": list(methods), "losses": list(losses), "seeds": [0], **extra}
    path = tmp_path / "study.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    return path


@pytest.fixture()
def loaded(tiny_model, tiny_tokenizer):
    return LoadedModel(tiny_model, tiny_tokenizer, "tiny", "tiny-checksum", "")


def _counting_train(monkeypatch, fail_on=None):
    calls = []
    real = runner.train_adapter

    def wrapped(model, tokenizer, cases, cfg, **kw):
        calls.append(cfg)
        if len(calls) == fail_on:
            raise RuntimeError("interrupted inside the cell")
        return real(model, tokenizer, cases, cfg, **kw)

    monkeypatch.setattr(runner, "train_adapter", wrapped)
    return calls


def test_two_cell_grid_via_cli_writes_cells_and_table(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    argv = ["study", str(_study(tmp_path)), "--out", str(out), f"model={tiny_model_dir}"]
    main(argv)
    printed = json.loads(capsys.readouterr().out)
    assert printed["cells_done"] == 2 and printed["complete"] and printed["pending"] == 0
    cell_files = sorted((out / "cells").glob("*.json"))
    assert [p.name.split("--")[:3] for p in cell_files] == [["lora", "learn", "s0"], ["lora", "learn_unlearn", "s0"]]
    study = json.loads((out / "study.json").read_text())
    train_ids, test_ids = study["data"]["train_ids"], study["data"]["test_ids"]
    assert len(train_ids) == 6 and len(test_ids) == 3
    assert not set(study["data"]["train_groups"]) & set(study["data"]["test_groups"])  # grouped: no group on both
    record = json.loads(cell_files[1].read_text())
    assert record["train"]["steps"] == 2 and record["trainable_parameters"] > 0  # 6 cases, batch 4, 1 epoch
    assert [o["name"] for o in record["config"]["objectives"]] == ["fixed_ce", "unlikelihood"]
    assert record["memory"]["peak_rss_mb"] >= record["memory"]["start_rss_mb"] > 0
    assert record["summary"]["sampled"]["n"] == 3 * 2 and len(record["cases"]) == 3
    assert "samples" not in record["cases"][0] and "greedy" not in record["cases"][0]  # no code kept
    # Where the cell ran: the CPU's bf16 flags and the weights' dtype, in the cell and in study.json.
    assert set(record["machine"]["cpu_flags"]) == {"avx512f", "avx512_bf16", "amx_tile", "amx_bf16"}
    assert record["machine"]["model_dtype"] == study["machine"]["model_dtype"] and record["machine"]["model_dtype"]
    assert not (out / "work").exists()
    table = json.loads((out / "results.json").read_text())
    assert [r["rank"] for r in table["rows"]] == [1, 2]
    assert {(r["method"], r["loss"]) for r in table["rows"]} == {("lora", "learn"), ("lora", "learn_unlearn")}
    assert table["rows"][0]["score"]["mean"] >= table["rows"][1]["score"]["mean"]
    md = (out / "results.md").read_text()
    assert "| – | base model |" in md and "+108.42%" in md and "−50.47%" in md
    assert sum(line.startswith("| **1** | **") for line in md.splitlines()) == 1  # best row in bold
    # A second run finds every cell done and trains nothing.
    stamps = [p.stat().st_mtime_ns for p in cell_files]
    main(argv)
    assert json.loads(capsys.readouterr().out)["cells_done"] == 2
    assert [p.stat().st_mtime_ns for p in cell_files] == stamps


def test_interrupted_study_resumes_without_redoing_finished_cells(tmp_path, loaded, monkeypatch):
    spec, out = load_study(_study(tmp_path)), tmp_path / "out"
    before = weights_signature(loaded.model)
    calls = _counting_train(monkeypatch, fail_on=2)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_study(spec, out, loaded=loaded, progress=False, log=lambda _: None)
    assert len(calls) == 2
    done = list((out / "cells").glob("*.json"))
    assert [p.name.split("--")[1] for p in done] == ["learn"]
    assert weights_signature(loaded.model) == before and not hasattr(loaded.model, "peft_config")
    stamp = done[0].stat().st_mtime_ns

    calls = _counting_train(monkeypatch)
    result = run_study(spec, out, loaded=loaded, progress=False, log=lambda _: None)
    assert len(calls) == 1 and [o.name for o in calls[0].objectives] == ["fixed_ce", "unlikelihood"]
    assert done[0].stat().st_mtime_ns == stamp
    assert result["complete"] and result["cells_done"] == 2 and len(list(out.glob("base_eval-*.json"))) == 1


def _prefix(model, cfg):
    from peft import PrefixTuningConfig, get_peft_model

    return get_peft_model(model, PrefixTuningConfig(num_virtual_tokens=2, task_type="CAUSAL_LM"))


def _in_place(model, cfg):
    """A 'method' that trains the base weights themselves (like full fine-tuning)."""
    model.requires_grad_(True)
    return model


def _leaky(model, cfg):
    """A broken method: it changes a base weight and does not say so."""
    from peft import LoraConfig, get_peft_model

    with torch.no_grad():
        model.lm_head.weight[0, 0] += 1.0
    return get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))


def test_base_model_is_pristine_between_cells(tmp_path, loaded, monkeypatch, tiny_tokenizer):
    monkeypatch.setitem(ADAPTERS._items, "test_prefix", _prefix)
    monkeypatch.setitem(ADAPTERS._items, "test_in_place", _in_place)
    probe = tiny_tokenizer("def f(x, y):\n    return x", return_tensors="pt")

    def base_logits():
        with torch.no_grad():
            return loaded.model(**probe).logits.clone()

    reference, names = base_logits(), [n for n, _ in loaded.model.named_parameters()]
    seen = []
    real_remove = runner.remove_adapter

    def checked_remove(model, snapshot=None):
        base = real_remove(model, snapshot)
        loaded.model = base
        seen.append((torch.equal(base_logits(), reference), [n for n, _ in base.named_parameters()] == names))
        return base

    monkeypatch.setattr(runner, "remove_adapter", checked_remove)
    spec = load_study(_study(tmp_path, methods=[{"name": "lora"}, {"name": "test_prefix"}, {"name": "test_in_place"}],
                             losses=[LEARN]))
    result = run_study(spec, tmp_path / "out", loaded=loaded, progress=False, log=lambda _: None)
    assert seen == [(True, True)] * 3
    # The methods did train (their hotfixed scores differ from the base's) and all three are in the table.
    margins = {r["method"]: r["margin"]["mean"] for r in result["rows"]}
    base_margin = json.loads(next((tmp_path / "out").glob("base_eval-*.json")).read_text())["summary"]["margin_mean"]
    assert set(margins) == {"lora", "test_prefix", "test_in_place"}
    assert all(m != base_margin for m in margins.values())


def test_a_method_that_changes_the_base_is_caught(tmp_path, loaded, monkeypatch):
    monkeypatch.setitem(ADAPTERS._items, "test_leaky", _leaky)
    spec = load_study(_study(tmp_path, methods=[{"name": "test_leaky"}], losses=[LEARN]))
    with pytest.raises(CodehotfixError, match="base model's weights changed"):
        run_study(spec, tmp_path / "out", loaded=loaded, progress=False, log=lambda _: None)


def test_best_seeds_pass_and_cell_limit(tmp_path, loaded):
    spec = load_study(_study(tmp_path, best_seeds={"top_k": 1, "metric": "margin", "seeds": [1]}))
    out, quiet = tmp_path / "out", {"loaded": loaded, "progress": False, "log": lambda _: None}
    partial = run_study(spec, out, limit_cells=1, **quiet)
    assert not partial["complete"] and partial["cells_done"] == 1 and len(partial["pending"]) == 2
    assert "best-seeds pass" in partial["pending"][-1]
    assert "Pending cells (2)" in (out / "results.md").read_text()
    result = run_study(spec, out, **quiet)
    assert result["complete"] and result["cells_done"] == 3
    first_pass = [json.loads(p.read_text()) for p in (out / "cells").glob("*--s0--*.json")]
    assert len(first_pass) == 2
    best_first_pass = max(first_pass, key=lambda r: r["summary"]["margin_mean"])
    rows = {(r["method"], r["loss"]): r for r in result["rows"]}
    best_first_pass = (best_first_pass["method"], best_first_pass["loss"])
    chosen = rows[best_first_pass]
    assert chosen["seeds"] == [0, 1] and chosen["margin"]["n"] == 2 and chosen["margin"]["sd"] is not None
    assert all(r["seeds"] == [0] for k, r in rows.items() if k != best_first_pass)


def test_seen_split_tests_new_contexts_of_the_trained_cases(tmp_path, monkeypatch):
    made = {}

    def fake_make_variants(cases, kinds=("rename", "reformat", "wrap"), seed=0):
        made["kinds"], made["ids"] = kinds, [c.id for c in cases]
        return [HotfixCase(id=f"{c.id}~{k}", prefix=f"# {k}\n" + c.prefix, buggy=c.buggy, fixed=c.fixed,
                           group=c.group, source={"variant": {"kind": k, "of": c.id}}) for c in cases for k in kinds]

    fake = types.ModuleType("codehotfix.evaluation.variants")
    fake.make_variants = fake_make_variants
    monkeypatch.setitem(sys.modules, "codehotfix.evaluation.variants", fake)
    spec = load_study(_study(tmp_path), ["dataset.split=seen", "dataset.train_cases=4", "dataset.test_cases=5",
                                         "dataset.variants=[rename, wrap]"])
    data = prepare_data(spec.dataset)
    train_ids = [c.id for c in data.train]
    assert len(train_ids) == 4 and made["ids"] == train_ids and made["kinds"] == ("rename", "wrap")
    assert len(data.test) == 5 and all(c.id.split("~")[0] in train_ids for c in data.test)
    assert data.summary["split"]["variants_made"] == 8
    # Each test item records its kind and that its judged lines are the trained ones (the fake keeps them).
    items = data.summary["split"]["test_items"]
    assert sorted(items) == sorted(c.id for c in data.test)
    assert all(v["kind"] == i.split("~")[1] and v["of"] == i.split("~")[0] and v["same_line"] for i, v in items.items())
    lines = data.summary["split"]["test_lines"]
    assert sum(n["same_line"] for n in lines.values()) == 5 and set(lines) <= {"rename", "wrap"}
    assert data.summary == prepare_data(spec.dataset).summary  # deterministic


def test_records_keep_every_events_judgements_but_no_generated_text(tmp_path, loaded):
    """Cell and base records hold each case's judged line/split/window outcomes (so every event can be
    paired against the base), and none of the generated code."""
    spec = load_study(_study(tmp_path, losses=[LEARN]), ["overrides.eval.events=[line, split, window]"])
    out = tmp_path / "out"
    run_study(spec, out, loaded=loaded, progress=False, log=lambda _: None)
    records = [json.loads(p.read_text()) for p in [*out.glob("base_eval-*.json"), *(out / "cells").glob("*.json")]]
    assert len(records) == 2
    for record in records:
        for case in record["cases"]:
            events = case["events"]
            assert set(events) == {"line", "split", "window"}
            assert events["line"]["greedy"]["label"] in ("fixed", "buggy", "other")
            assert events["split"]["greedy"]["toward"] is not None or "toward" in events["split"]["greedy"]
            assert "contains_fixed" in events["window"]["greedy"]
            assert "text" not in json.dumps(case)


def test_train_sample_seed_changes_only_the_training_sample(tmp_path):
    """A learning curve's seeds each train on their own sample while the test sample (and so the base
    evaluation) stays put; without the field the training sample follows sample_seed as before."""
    path = _study(tmp_path)
    base = prepare_data(load_study(path, ["dataset.train_cases=2"]).dataset)
    same = prepare_data(load_study(path, ["dataset.train_cases=2", "dataset.train_sample_seed=0"]).dataset)
    assert [c.id for c in same.train] == [c.id for c in base.train]
    drawn = [prepare_data(load_study(path, ["dataset.train_cases=2", f"dataset.train_sample_seed={s}"]).dataset)
             for s in range(1, 6)]
    assert all([c.id for c in d.test] == [c.id for c in base.test] for d in drawn)
    assert any([c.id for c in d.train] != [c.id for c in base.train] for d in drawn)
    assert drawn[0].summary["train_sample_seed"] == 1 and base.summary["train_sample_seed"] == 0


def test_seen_study_breaks_every_cell_down_by_kind_and_line(tmp_path, loaded):
    """A seen-split study on the tiny model with the real variants: results.json and results.md hold
    every cell on every subset, and the subsets add up to the test split recorded in study.json."""
    spec = load_study(_study(tmp_path, losses=[LEARN]), ["dataset.split=seen", "dataset.train_cases=4",
                                                          "dataset.test_cases=9", "seeds=[0, 1]"])
    out = tmp_path / "out"
    run_study(spec, out, loaded=loaded, progress=False, log=lambda _: None)
    study = json.loads((out / "study.json").read_text())
    items = study["data"]["split"]["test_items"]
    assert len(items) == 9 and set(items) == set(study["data"]["test_ids"])
    table = json.loads((out / "results.json").read_text())
    split = table["breakdown"]
    assert [c["seed"] for c in split["cells"]] == [0, 1]
    counts = {(c["axis"], c["value"]): c["n"] for c in split["counts"]}
    kinds = {v: n for (a, v), n in counts.items() if a == "kind"}
    assert kinds == study["data"]["split"]["test_kinds"] and sum(kinds.values()) == 9
    assert counts.get(("line", "same"), 0) == sum(v["same_line"] for v in items.values())
    assert counts.get(("line", "same"), 0) == sum(k["same_line"] for k in study["data"]["split"]["test_lines"].values())
    record = json.loads(next((out / "cells").glob("*--s0--*.json")).read_text())
    whole = next(s for s in split["cells"][0]["subsets"] if s["axis"] == "all")
    fixed = next(r for r in whole["events"]["line"]["rows"] if (r["metric"], r["mode"]) == ("fixed", "greedy"))
    assert fixed["after"] == record["summary"]["greedy"]["fixed_rate"]  # the same cases, judged the same
    md = (out / "results.md").read_text()
    assert "## The seen split by subset" in md
    assert sum(line.startswith("| lora / learn / s1 | kind: ") for line in md.splitlines()) == len(kinds)
    assert "keep the judged lines exactly as trained" in md


def test_bad_data_and_foreign_folders_fail_before_the_model_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    spec = load_study(_study(tmp_path), ["dataset.path=" + str(tmp_path / "missing.jsonl")])
    with pytest.raises(DataError, match="missing.jsonl: no such file"):
        run_study(spec, tmp_path / "out", progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(CodehotfixError, match="not a study folder"):
        run_study(load_study(_study(tmp_path)), foreign, progress=False)


def test_shipped_grid_runs_with_every_method_on_the_tiny_model(tmp_path, loaded):
    """configs/study/pysstubs.yaml as shipped (methods, losses, best-seeds rule), on the tiny model and
    small cases: every registered method trains, evaluates and leaves the base as it found it."""
    from pathlib import Path

    cases = write_cases(tmp_path / "cases.jsonl", _cases())
    repo = Path(__file__).resolve().parents[2]
    spec = load_study(repo / "configs" / "study" / "pysstubs.yaml", [
        f"dataset.path={cases}", "dataset.loader=jsonl", f"config={repo / 'configs' / 'default.yaml'}",
        "overrides.training.epochs=1", "overrides.training.max_context_tokens=32", "overrides.eval.samples=1",
        "overrides.eval.max_new_tokens=4", "overrides.eval.max_context_tokens=32", "best_seeds.seeds=[1]"])
    spec.losses = [loss for loss in spec.losses if loss.name in ("learn_unlearn_retain", "preference")]
    before = weights_signature(loaded.model)
    result = run_study(spec, tmp_path / "out", loaded=loaded, progress=False, log=lambda _: None)
    assert result["complete"] and result["cells_done"] == 4 * 2 + 3
    assert {r["method"] for r in result["rows"]} == {"lora", "dora", "ia3", "prefix_tuning"}
    assert sum(len(r["seeds"]) == 2 for r in result["rows"]) == 3
    params = {r["method"]: r["trainable_parameters"]["mean"] for r in result["rows"]}
    assert params["ia3"] < params["lora"] < params["dora"]  # IA3 scales vectors; DoRA adds magnitudes
    assert weights_signature(loaded.model) == before


def test_cli_reports_a_bad_study_in_one_line_with_status_2(tmp_path, capsys):
    path = _study(tmp_path, methods=[{"name": "lora", "overrides": {"training": {"lr": -1}}}])
    with pytest.raises(SystemExit) as e:
        main(["study", str(path), "--out", str(tmp_path / "out")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}:1: methods[0].overrides.training.lr must be > 0" in err and not (tmp_path / "out").exists()


def test_a_cell_interrupted_mid_training_resumes_from_its_last_epoch(tmp_path, loaded, monkeypatch):
    import codehotfix.training.loop as loop

    epochs = {"n": 0}
    real = loop.make_batches

    def stop_in_second_epoch(*args, **kwargs):
        epochs["n"] += 1
        if epochs["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "make_batches", stop_in_second_epoch)
    spec = load_study(_study(tmp_path, losses=[LEARN]), ["overrides.training.epochs=2"])
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, out, loaded=loaded, progress=False, log=lambda _: None)
    assert list((out / "work").glob("*/checkpoint/state.json"))  # epoch 1 was saved
    monkeypatch.setattr(loop, "make_batches", real)
    result = run_study(spec, out, loaded=loaded, progress=False, log=lambda _: None)
    record = json.loads(next((out / "cells").glob("*.json")).read_text())
    assert result["complete"] and record["train"]["resumed_from_epoch"] == 1 and record["train"]["steps"] == 4
    assert not (out / "work").exists()


def test_cells_run_seed_by_seed_so_a_stopped_study_compares_at_equal_seeds(tmp_path, loaded):
    spec = load_study(_study(tmp_path, seeds=[0, 1]))
    out, quiet = tmp_path / "out", {"loaded": loaded, "progress": False, "log": lambda _: None}
    # Listed loss by loss (learn s0, learn s1, learn_unlearn s0, …), run seed by seed.
    partial = run_study(spec, out, limit_cells=2, **quiet)
    done = sorted((r["loss"], r["seeds"]) for r in partial["rows"])
    assert done == [("learn", [0]), ("learn_unlearn", [0])] and len(partial["pending"]) == 2
