"""Study specs: YAML → cells, errors that name file, line and field, stable cell ids, shipped configs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codehotfix.errors import ConfigError
from codehotfix.study import cell_id, load_study, resolve_cells

REPO = Path(__file__).resolve().parents[2]

GRID = """\
# test study
name: grid
dataset:
  path: cases.jsonl
  split: random
overrides:
  training: {epochs: 2, lr: 0.002}
  eval.samples: 3
methods:
  - name: lora
  - name: lora_r4
    overrides: {adapter: {method: lora, r: 4}, training.lr: 0.01}
losses:
  - name: learn
    objectives: [{name: fixed_ce}]
  - name: learn_unlearn
    objectives:
      - {name: fixed_ce, weight: 1.0}
      - {name: unlikelihood, weight: 0.3}
seeds: [0, 7]
best_seeds: {top_k: 2, metric: margin, seeds: [1]}
"""


def _write(tmp_path, text, name="study.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_resolves_every_cell_with_its_settings(tmp_path):
    spec = load_study(_write(tmp_path, GRID))
    cells = resolve_cells(spec)
    assert [(c.method, c.loss, c.seed) for c in cells] == [
        (m, loss, s) for m in ("lora", "lora_r4") for loss in ("learn", "learn_unlearn") for s in (0, 7)]
    by = {(c.method, c.loss, c.seed): c.config for c in cells}
    plain, r4 = by[("lora", "learn", 0)], by[("lora_r4", "learn_unlearn", 7)]
    assert plain.adapter.method == "lora" and plain.adapter.r == 8  # default r, method from the name
    assert plain.training.lr == 0.002 and plain.training.epochs == 2 and plain.eval.samples == 3
    assert r4.adapter.r == 4 and r4.training.lr == 0.01 and r4.training.epochs == 2 and r4.seed == 7
    assert [(o.name, o.weight) for o in r4.objectives] == [("fixed_ce", 1.0), ("unlikelihood", 0.3)]
    assert [o.name for o in plain.objectives] == ["fixed_ce"]
    assert spec.best_seeds.metric == "margin" and spec.best_seeds.seeds == [1]
    only = resolve_cells(spec, seeds=[1], only=[("lora_r4", "learn")])
    assert [(c.method, c.loss, c.seed) for c in only] == [("lora_r4", "learn", 1)]


def test_cli_style_overrides_reach_spec_and_hotfix_config(tmp_path):
    spec = load_study(_write(tmp_path, GRID), ["dataset.test_cases=5", "overrides.training.epochs=1", "seeds=[3]",
                                               "model=some/model"])
    assert spec.dataset.test_cases == 5 and spec.seeds == [3] and spec.model == "some/model"
    assert {c.config.training.epochs for c in resolve_cells(spec)} == {1}
    assert spec.name == "grid"
    unnamed = load_study(_write(tmp_path, GRID.replace("name: grid\n", ""), "My Study.yaml"))
    assert unnamed.name == "my_study"


@pytest.mark.parametrize("old,new,expected", [
    ("  - name: lora_r4\n", "  - name: lora_r4\n    overides: {}\n", "study.yaml:12: methods[1].overides: unknown key"),
    ("training.lr: 0.01", "training.lr: -1.0", "study.yaml:12: methods[1].overrides.training.lr must be > 0"),
    ("training.lr: 0.01", "eval: {samples: 1}", "study.yaml:12: methods[1].overrides.eval: not allowed"),
    ("training.lr: 0.01", "training.dtype: float32", "study.yaml:12: methods[1].overrides.training.dtype: not allowed"),
    ("  - name: lora\n", "  - name: nosuch\n",
     "study.yaml:10: methods[0].name: unknown adapter method 'nosuch'; valid:"),
    ("{name: unlikelihood, weight: 0.3}", "{name: unlearn_it}",
     "study.yaml:19: losses[1].objectives[1]: objective 'unlearn_it'"),
    ("{name: unlikelihood, weight: 0.3}", "{name: unlikelihood, weight: -1}",
     "study.yaml:19: losses[1].objectives[1]: objective 'unlikelihood': weight must be >= 0"),
    ("  - name: learn_unlearn\n", "  - name: learn\n", "study.yaml:16: losses[1].name: 'learn' is used twice"),
    ("metric: margin", "metric: luck", "study.yaml:21: best_seeds.metric: 'luck' is not one of score"),
    ("seeds: [1]}", "seeds: [0]}", "study.yaml:21: best_seeds.seeds: [0] already in seeds"),
    ("split: random", "split: sideways", "study.yaml:5: dataset.split: 'sideways' is not one of grouped"),
    ("  eval.samples: 3", "  seed: 3", "study.yaml:8: overrides.seed: not allowed"),
    ("  eval.samples: 3", "  eval.samples: many", "study.yaml:8: overrides.eval.samples: expected int"),
])
def test_errors_name_file_line_and_field(tmp_path, old, new, expected):
    assert old in GRID
    path = _write(tmp_path, GRID.replace(old, new))
    with pytest.raises(ConfigError) as e:
        resolve_cells(load_study(path))
    assert expected.replace("study.yaml", str(path)) in str(e.value)


def test_every_problem_is_reported_at_once(tmp_path):
    bad = GRID.replace("  - name: lora\n", "  - name: nosuch\n").replace("metric: margin", "metric: luck")
    with pytest.raises(ConfigError) as e:
        load_study(_write(tmp_path, bad.replace("split: random", "split: up")))
    assert "best_seeds.metric" in str(e.value) and "dataset.split" in str(e.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="no such study config"):
        load_study(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study(_write(tmp_path, "methods: [\n"))
    with pytest.raises(ConfigError, match=r"dataset.path: required.*\n.*methods: at least one"):
        load_study(_write(tmp_path, "losses: [{name: a, objectives: [{name: fixed_ce}]}]\n"))


def test_cell_ids_are_readable_deterministic_and_sensitive(tmp_path):
    path = _write(tmp_path, GRID)
    ids = [c.id for c in resolve_cells(load_study(path), data_key="k")]
    assert ids == [c.id for c in resolve_cells(load_study(path), data_key="k")]
    assert len(set(ids)) == len(ids)
    assert ids[0].startswith("lora--learn--s0--") and len(ids[0].rsplit("--", 1)[1]) == 10
    # Any change of data or settings makes new ids; an untouched cell keeps its id.
    assert not set(ids) & {c.id for c in resolve_cells(load_study(path), data_key="other")}
    changed = {c.id for c in resolve_cells(load_study(path, ["methods.1.overrides.adapter.r=2"]), data_key="k")}
    assert set(ids[:4]) <= changed and not set(ids[4:]) & changed
    # Same ids in a fresh interpreter with another hash seed (nothing depends on hash() or set order).
    code = ("import json,sys; from codehotfix.study import load_study, resolve_cells; "
            "print(json.dumps([c.id for c in resolve_cells(load_study(sys.argv[1]), data_key='k')]))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert json.loads(out.stdout) == ids


def test_cell_id_covers_the_whole_config(tmp_path):
    cell = resolve_cells(load_study(_write(tmp_path, GRID)))[0]
    same = cell_id(cell.method, cell.loss, cell.seed, cell.config)
    cell.config.training.warmup_steps += 1
    assert cell_id(cell.method, cell.loss, cell.seed, cell.config) != same


# What each shipped study is for: the two method grids (issue 3: LoRA, IA3, prefix tuning — and DoRA
# where time allowed — × learn, learn+unlearn, learn+unlearn+retain, a preference loss; a second seed for
# the best three) and the seen-bug comparison of the default recipe with the paper's loss.
SHIPPED = {
    "pysstubs": ({"lora", "dora", "ia3", "prefix_tuning"}, {"learn", "learn_unlearn", "learn_unlearn_retain", "preference"}),
    "manysstubs4j": ({"lora", "ia3", "prefix_tuning"}, {"learn", "learn_unlearn", "learn_unlearn_retain", "preference"}),
    "seen_bug": ({"lora"}, {"learn_unlearn_retain", "paper"}),
}
MIXES = {"learn": {"fixed_ce"}, "learn_unlearn": {"fixed_ce", "unlikelihood"},
         "learn_unlearn_retain": {"fixed_ce", "unlikelihood", "kl_context", "kl_corpus"},
         "preference": {"dpo"}, "paper": {"penalize", "kl_context"}}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_study_configs(name):
    """The shipped grids hold the methods and loss mixes they are for, the retain mix is the default
    recipe's terms, and every cell resolves."""
    from codehotfix.config import HotfixConfig

    path = REPO / "configs" / "study" / f"{name}.yaml"
    text = path.read_text()
    assert text.startswith("#") and f"codehotfix study configs/study/{name}.yaml" in text
    spec = load_study(path)
    methods, losses = SHIPPED[name]
    assert {m.name for m in spec.methods} == methods
    mixes = {loss.name: {o.name for o in loss.objectives} for loss in spec.losses}
    assert mixes == {loss: MIXES[loss] for loss in losses}
    assert MIXES["learn_unlearn_retain"] == {o.name for o in HotfixConfig().objectives}
    if len(methods) > 1:
        assert spec.best_seeds.top_k == 3 and len(spec.best_seeds.seeds) >= 1
    assert spec.dataset.path.startswith("../shared/data/")
    cells = resolve_cells(spec)
    assert len(cells) == len(methods) * len(losses) * len(spec.seeds)
    assert {c.config.eval.samples for c in cells} == {spec.overrides["eval"]["samples"]}


def test_seen_bug_config_has_room_for_its_subsets():
    """seen_bug.yaml is sized for the breakdown by variant kind and line (docs/study.md section 3):
    at least 64 test items, every variant kind, two seeds of both loss mixes."""
    spec = load_study(REPO / "configs" / "study" / "seen_bug.yaml")
    ds = spec.dataset
    assert ds.split == "seen" and set(ds.variants) == {"rename", "reformat", "wrap"}
    assert ds.test_cases >= 64 and ds.train_cases >= 32 and spec.seeds == [0, 1]
    assert [(c.loss, c.seed) for c in resolve_cells(spec)] == [
        (loss, seed) for loss in ("learn_unlearn_retain", "paper") for seed in (0, 1)]


def test_the_demo_recipe_study_compares_the_demo_recipe_with_its_cheaper_variants():
    """configs/study/demo_recipe.yaml: the reference row is the demo's own recipe (configs/demo.yaml's
    schedule and the default mix), the other rows change one thing each, and the size gives the
    demo's 15 steps of one epoch."""
    from codehotfix.config import HotfixConfig, load_config

    path = REPO / "configs" / "study" / "demo_recipe.yaml"
    assert "codehotfix study configs/study/demo_recipe.yaml" in path.read_text()
    spec = load_study(path)
    cells = {(c.method, c.loss, c.seed): c.config for c in resolve_cells(spec)}
    demo = load_config(REPO / "configs" / "demo.yaml")
    ref = cells[("lora", "demo", 0)]
    assert (ref.training.epochs, ref.training.lr) == (demo.training.epochs, demo.training.lr) == (1, 0.001)
    assert [o.name for o in ref.objectives] == [o.name for o in HotfixConfig().objectives]
    assert spec.dataset.train_cases // ref.training.batch_size == 15 and spec.dataset.split == "seen"
    top8 = cells[("lora_top8", "demo", 0)]
    assert top8.adapter.layers == [-8, -7, -6, -5, -4, -3, -2, -1] and ref.adapter.layers is None
    assert top8.training == ref.training and top8.objectives == ref.objectives
    no_corpus = cells[("lora", "demo_no_corpus", 0)]
    assert [o.name for o in no_corpus.objectives] == [o.name for o in ref.objectives if o.name != "kl_corpus"]
    assert len(cells) == 8 and spec.dataset.path.startswith("../shared/data/")


def test_the_committed_demo_recipe_cells_keep_their_ids_when_trained_padded():
    """bench/results/study_demo_recipe ran before training.pack existed (its cells trained padded): with
    training.pack=false the same study resolves to the committed cells, so they are reused, not
    retrained; with packing, the default now, every cell is another recipe and gets a new id."""
    root = Path(__file__).resolve().parents[2]
    folder = root / "bench/results/study_demo_recipe"
    kept = {p.stem for p in (folder / "cells").glob("*.json")}
    data_key = json.loads((folder / "study.json").read_text())["data_key"]
    spec = root / "configs/study/demo_recipe.yaml"
    padded = {c.id for c in resolve_cells(load_study(spec, ["overrides.training.pack=false"]), data_key=data_key)}
    assert len(kept) == 8 and padded == kept
    assert not {c.id for c in resolve_cells(load_study(spec), data_key=data_key)} & kept


def test_the_looping_study_changes_one_thing_of_the_demo_recipe_per_row():
    """configs/study/looping.yaml: the reference row is the demo recipe's mix, each other loss changes one
    term (snippet loss, no unlearn term, the unlearn term's span) or adds one (suffix_ce, kl_suffix), the
    lora_half_lr method halves the rate;
    the override in its header runs the lora rows alone."""
    from codehotfix.config import load_config

    path = REPO / "configs" / "study" / "looping.yaml"
    spec = load_study(path)
    cells = {(c.method, c.loss, c.seed): c.config for c in resolve_cells(spec)}
    demo = load_config(REPO / "configs" / "demo.yaml")
    ref = cells[("lora", "demo", 0)]
    assert [(o.name, o.weight) for o in ref.objectives] == [(o.name, o.weight) for o in demo.objectives]
    assert (ref.training.epochs, ref.training.lr) == (demo.training.epochs, demo.training.lr)
    assert cells[("lora_half_lr", "demo", 0)].training.lr == ref.training.lr / 2
    names = {loss: [o.name for o in cells[("lora", loss, 0)].objectives] for loss in
             ("demo_snippet", "demo_no_unlikelihood", "demo_span_differing")}
    assert names["demo_snippet"][0] == "snippet_ce" and names["demo_snippet"][1:] == [o.name for o in ref.objectives][1:]
    assert names["demo_no_unlikelihood"] == [o.name for o in ref.objectives if o.name != "unlikelihood"]
    span = [o for o in cells[("lora", "demo_span_differing", 0)].objectives if o.name == "unlikelihood"][0]
    assert span.params == {"span": "differing"} and span.weight == 0.3
    # demo_suffix adds suffix_ce beside the demo's four terms, which keep their weights.
    added = [(o.name, o.weight, o.params) for o in cells[("lora", "demo_suffix", 0)].objectives]
    assert added[1] == ("suffix_ce", 1.0, {"suffix_tokens": 32})
    assert added[:1] + added[2:] == [(o.name, o.weight, o.params) for o in ref.objectives]
    # demo_kl_suffix and demo_kl_suffix8 add kl_suffix after them, over 32 and 8 positions.
    for loss, tokens in (("demo_kl_suffix", 32), ("demo_kl_suffix8", 8)):
        added = [(o.name, o.weight, o.params) for o in cells[("lora", loss, 0)].objectives]
        assert added[-1] == ("kl_suffix", 1.0, {"suffix_tokens": tokens})
        assert added[:-1] == [(o.name, o.weight, o.params) for o in ref.objectives]
    assert len(cells) == 28 and spec.dataset.train_cases // ref.training.batch_size == 15
    assert "methods=[{name: lora}]" in path.read_text()
    lora_only = resolve_cells(load_study(path, ["methods=[{name: lora}]"]))
    assert {c.method for c in lora_only} == {"lora"} and len(lora_only) == 14
