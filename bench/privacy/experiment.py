"""The privacy-hotfix experiment: memorise a corpus with personal data, hotfix the leak, measure.

    python bench/privacy/experiment.py [--out runs/privacy] [--model default]     # the real run
    python bench/privacy/experiment.py --tiny --out /tmp/privacy-tiny               # proves the pipeline
    python bench/privacy/experiment.py --out runs/privacy --holdout-projects 2      # held-out projects

Stages (each writes its output into ``--out`` and is skipped when that output exists, so an
interrupted run resumes):

  1. corpus/            synthetic projects with planted PII (``privacy.corpus``) + secrets.jsonl
  2. memorised/         the base model after a short LoRA fine-tune on the corpus files (plain
                        causal-LM loss, merged): it plays pre-training, so the leak is real
  3. leak_base.json     targeted greedy leak of the base model before memorising (expected ~0)
  4. leak_before.json   targeted + untargeted leak of the memorised model
  5. humaneval_before.json  HumanEval greedy pass@1 of the memorised model
  6. cases.jsonl        ``pii cases`` on the corpus: each PII line → line with <EMAIL>/<IP_ADDRESS>/<KEY>
  7. hotfix/            the default codehotfix recipe trained on those cases, on the memorised model
  8. leak_after.json, humaneval_after.json, locality.json   the same measurements with the hotfix
  9. summary            privacy_experiment.json + .md (``--results``, default bench/results/ for the
                        real run, the run folder for --tiny): relative reductions next to the
                        paper's −99.30% email leakage, HumanEval change (McNemar), locality.

Sizes for a 2-core CPU (real run, Qwen2.5-Coder-0.5B): 8 projects = 48 files, 808 lines, 128 PII
occurrences of 80 distinct values, 120 cases; memorise ≤ 8 epochs of 12 steps (batch 4, lr 2e-3,
LoRA r 16 on every linear layer), stopping once the epoch loss < 0.05; targeted leak: 128
occurrences × (1 greedy + 10 samples, top-p 0.95, ≤ 64 tokens); untargeted: 1,000 samples, top-k 20,
64 tokens, from 6 generic file openings; hotfix: default config (4 epochs, batch 8 = 60 steps);
HumanEval: all 164 problems greedy (``--humaneval-limit`` to cut); locality: 100 built-in prompts.

Held-out projects (``--holdout-projects K``): the corpus is memorised whole, as above, but the
hotfix cases come only from the first n − K projects (sorted by name); the last K are never in a
case, and a case that holds one of their values stops the run. Leakage is then compared per
occurrence, before and after, separately on the trained projects' and on the held-out projects'
occurrences (``privacy.leak.paired_targeted``: McNemar exact on greedy and any-leak, Wilcoxon on
the sampled fraction). Stages 1–5 are shared with the plain run in the same ``--out``; stages 6–8
get a ``-holdout<K>`` suffix (``cases-holdout2.jsonl``, ``hotfix-holdout2/`` …) and the summary
goes to ``privacy_experiment_holdout.json``/``.md``, so a plain run and a held-out run coexist.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from codehotfix.files import atomic_write_text, read_json, write_json

PAPER_EMAIL_REDUCTION = 0.9930  # Zhou Yang & David Lo, hotfixing paper (later version): email leakage −99.30%
TINY_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]


def stage(path: Path, label: str, fn: Callable[[], Any], times: dict) -> Any:
    """Runs ``fn`` unless ``path`` exists; JSON results are written to ``path`` and returned."""
    if path.exists():
        print(f"[privacy] {label}: reusing {path}", flush=True)
        return read_json(path) if path.suffix == ".json" else path
    print(f"[privacy] {label} …", flush=True)
    t0 = time.time()
    out = fn()
    times[label] = round(time.time() - t0, 1)
    if isinstance(out, dict):
        write_json(path, out)
    return out


def settings(tiny: bool, args: argparse.Namespace) -> dict[str, Any]:
    """Every size of the run in one place (tiny: seconds on the random test model)."""
    from codehotfix.privacy.corpus import CorpusConfig
    from codehotfix.privacy.leak import TargetedConfig, UntargetedConfig
    from codehotfix.privacy.memorise import MemoriseConfig

    if tiny:
        return {"corpus": CorpusConfig(seed=args.seed, projects=2),
                "memorise": MemoriseConfig(epochs=30, lr=3e-2, r=8, alpha=16, batch_size=4, max_tokens=256,
                                           stop_loss=0.05, seed=args.seed, target_modules=TINY_TARGETS),
                "targeted": TargetedConfig(samples=2, max_new_tokens=24, seed=args.seed),
                "untargeted": UntargetedConfig(samples=20, top_k=20, max_new_tokens=24, batch_size=10, seed=args.seed),
                "overrides": ["training.epochs=2", "training.batch_size=8"],
                "humaneval": {"limit": 2, "max_new_tokens": 16}, "locality": {"limit": 4, "max_new_tokens": 8}}
    return {"corpus": CorpusConfig(seed=args.seed, projects=args.projects),
            "memorise": MemoriseConfig(epochs=args.memorise_epochs, seed=args.seed),
            "targeted": TargetedConfig(seed=args.seed),
            "untargeted": UntargetedConfig(samples=args.samples, top_k=20, seed=args.seed),
            "overrides": list(args.overrides),
            "humaneval": {"limit": args.humaneval_limit, "max_new_tokens": 384},
            "locality": {"limit": args.locality_limit, "max_new_tokens": 48}}


def tiny_base(folder: Path, texts: list[str]) -> str:
    """A random 2-layer Qwen2 with a BPE tokenizer trained on the corpus (as in tests/conftest.py)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    import torch

    if (folder / "config.json").exists():
        return str(folder)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=1024, tie_word_embeddings=False,
                                         bos_token_id=0, eos_token_id=0, pad_token_id=0))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def humaneval(loaded: Any, adapter: Path | None, opts: dict) -> dict:
    from codehotfix.evaluation.generation import make_generator
    from codehotfix.evaluation.humaneval import HumanEvalConfig, run_humaneval
    from codehotfix.files import sha256_file

    cfg = HumanEvalConfig(limit=opts["limit"], max_new_tokens=opts["max_new_tokens"], allow_exec=True)
    adapter_sum = sha256_file(adapter / "adapter_model.safetensors") if adapter else None
    result = run_humaneval(make_generator(loaded.model, loaded.tokenizer), cfg, model_checksum=loaded.checksum,
                           adapter_checksum=adapter_sum)
    return {"adapter": str(adapter) if adapter else None, **result.to_dict()}


def holdout_split(projects: list[str], k: int) -> tuple[list[str], list[str]]:
    """(trained, held out): the first n − k and the last k of the projects sorted by name.

    Raises:
        ConfigError: ``k`` outside [0, n − 1] (at least one project must train the hotfix).
    """
    from codehotfix.errors import ConfigError

    names = sorted(projects)
    if not 0 <= k < len(names):
        raise ConfigError(f"--holdout-projects: must be in [0, {len(names) - 1}] for {len(names)} projects, got {k}")
    return names[:len(names) - k], names[len(names) - k:]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from codehotfix.api import train_on_model
    from codehotfix.config import load_config
    from codehotfix.data.cases import read_cases, write_cases
    from codehotfix.models.loading import load_model
    from codehotfix.privacy.cases import build_cases
    from codehotfix.privacy.corpus import write_corpus
    from codehotfix.api import leak as run_leak
    from codehotfix.errors import DataError
    from codehotfix.privacy.corpus import read_secrets
    from codehotfix.privacy.leak import LeakRun, TargetedConfig, load_targets
    from codehotfix.privacy.memorise import corpus_loss, memorise, save_model

    s = settings(args.tiny, args)
    k = args.holdout_projects
    holdout_split([str(i) for i in range(s["corpus"].projects)], k)  # a bad K fails before anything is written
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sfx = f"-holdout{k}" if k else ""  # the stages that depend on which projects train the hotfix
    times: dict[str, float] = {}
    t_all = time.time()

    corpus = stage(out / "corpus" / "corpus.json", "corpus", lambda: write_corpus(out / "corpus", s["corpus"]), times)
    files = out / "corpus" / "files"
    texts = [p.read_text() for p in sorted(files.rglob("*")) if p.is_file()]
    base_spec = tiny_base(out / "tiny-base", texts) if args.tiny else args.model
    threads = args.threads

    def do_memorise() -> Path:
        loaded = load_model(base_spec, threads=threads)
        before = corpus_loss(loaded.model, loaded.tokenizer, texts, max_tokens=s["memorise"].max_tokens)
        model, history = memorise(loaded.model, loaded.tokenizer, texts, s["memorise"])
        after = corpus_loss(model, loaded.tokenizer, texts, max_tokens=s["memorise"].max_tokens)
        return save_model(model, loaded.tokenizer, out / "memorised", meta={
            "base": base_spec, "base_checksum": loaded.checksum, "config": asdict(s["memorise"]),
            "corpus_loss_before": before, "corpus_loss_after": after, "history": history})

    memorised_dir = stage(out / "memorised", "memorise", do_memorise, times)
    mem_meta = read_json(out / "memorised" / "memorised.json")
    targets = load_targets(secrets=out / "corpus" / "secrets.jsonl")
    planted = read_secrets(out / "corpus" / "secrets.jsonl")
    trained, held_out = holdout_split(list({p.project for p in planted}), k)

    stage(out / "leak_base.json", "base leak (greedy, targeted only)", lambda: run_leak(
        LeakRun(targets, TargetedConfig(samples=0, max_new_tokens=s["targeted"].max_new_tokens), None),
        model=base_spec, threads=threads), times)

    loaded = load_model(str(memorised_dir), threads=threads)
    before = stage(out / "leak_before.json", "leak before", lambda: run_leak(
        LeakRun(targets, s["targeted"], s["untargeted"]), loaded=loaded), times)
    if (before["targeted"]["greedy_rate"] or 0) < 0.5:
        print(f"[privacy] warning: the memorised model leaks only {before['targeted']['greedy_rate']} of targets "
              "greedily; memorise longer (--memorise-epochs) for a stronger baseline", flush=True)
    he_before = stage(out / "humaneval_before.json", "HumanEval before",
                      lambda: humaneval(loaded, None, s["humaneval"]), times)

    def do_cases() -> Path:
        cases, stats = build_cases([files / p for p in trained], relative_to=files)
        hidden = {p.value for p in planted if p.project in held_out}
        for c in cases:  # only if two projects shared a value: then "held out" would be a lie
            text = c.prefix + c.buggy + c.fixed + c.suffix
            if any(v in text for v in hidden):
                raise DataError(f"case {c.id} ({c.source['path']}) holds a value of a held-out project")
        write_json(out / f"cases_stats{sfx}.json", {**stats, "trained_projects": trained,
                                                    "held_out_projects": held_out})
        return write_cases(out / f"cases{sfx}.jsonl", cases)

    cases = read_cases(stage(out / f"cases{sfx}.jsonl", "pii cases", do_cases, times))
    hotfix_dir = out / f"hotfix{sfx}"
    cfg = load_config(None, s["overrides"])
    if (hotfix_dir / "hotfix.json").exists():
        from codehotfix.models.adapters import load_hotfix

        print(f"[privacy] hotfix: reusing {hotfix_dir}", flush=True)
        loaded.model = load_hotfix(loaded.model, hotfix_dir, base_checksum=loaded.checksum)
        manifest = read_json(hotfix_dir / "hotfix.json")
    else:
        print(f"[privacy] hotfix training on {len(cases)} cases …", flush=True)
        loaded.model, manifest = train_on_model(loaded, cases, cfg, hotfix_dir)
        times["hotfix"] = manifest["wall_seconds"]
    loaded.model.eval()

    after = stage(out / f"leak_after{sfx}.json", "leak after", lambda: run_leak(
        LeakRun(targets, s["targeted"], s["untargeted"]), loaded=loaded, adapter=hotfix_dir), times)
    he_after = stage(out / f"humaneval_after{sfx}.json", "HumanEval after",
                     lambda: humaneval(loaded, hotfix_dir, s["humaneval"]), times)

    def do_locality() -> dict:
        from codehotfix.evaluation.locality import load_prompts, run_locality

        return run_locality(loaded.model, loaded.tokenizer, load_prompts(limit=s["locality"]["limit"]),
                            max_new_tokens=s["locality"]["max_new_tokens"])

    locality = stage(out / f"locality{sfx}.json", "locality", do_locality, times)
    base_leak = read_json(out / "leak_base.json")
    summary = summarise(corpus, mem_meta, base_leak, before, after, he_before, he_after, locality, manifest,
                        len(cases), s, args)
    summary["holdout"] = holdout_summary(planted, trained, held_out, before["targeted"], after["targeted"])
    summary["seconds"] = {**times, "total_this_run": round(time.time() - t_all, 1)}
    results = Path(args.results) if args.results else (out if args.tiny else Path("bench/results"))
    name = "privacy_experiment_holdout" if k else "privacy_experiment"
    write_json(results / f"{name}.json", summary)
    atomic_write_text(results / f"{name}.md", markdown(summary))
    print(markdown(summary))
    return summary


def holdout_summary(planted: list, trained: list[str], held_out: list[str], before: dict, after: dict
                    ) -> dict[str, Any]:
    """Paired targeted leakage on all occurrences and, with held-out projects, on each group."""
    from codehotfix.privacy.leak import paired_targeted

    out: dict[str, Any] = {"projects": len(trained) + len(held_out), "held_out_count": len(held_out),
                           "trained_projects": trained, "held_out_projects": held_out,
                           "order": "projects sorted by name; the last K are held out",
                           "all": paired_targeted(before, after)}
    if held_out:
        out["trained"] = paired_targeted(before, after, [p.id for p in planted if p.project in trained])
        out["held_out"] = paired_targeted(before, after, [p.id for p in planted if p.project in held_out])
    return out


def summarise(corpus, mem_meta, base_leak, before, after, he_before, he_after, locality, manifest, n_cases,
              s, args) -> dict[str, Any]:
    from codehotfix.evaluation.stats import mcnemar_exact
    from codehotfix.privacy.leak import compare_leak

    passed = lambda he: [t["statuses"][0] == "passed" for t in he["tasks"]]  # noqa: E731
    mc = mcnemar_exact(passed(he_before), passed(he_after))
    strip = lambda r: {k: v for k, v in r.items() if k not in ("records",)}  # noqa: E731
    return {
        "tiny": args.tiny, "seed": args.seed, "model": mem_meta["base"],
        "corpus": corpus, "memorise": {k: mem_meta[k] for k in ("config", "corpus_loss_before", "corpus_loss_after",
                                                                 "history")},
        "cases": n_cases, "hotfix": {k: manifest.get(k) for k in ("steps", "train_seconds", "final_losses",
                                                                  "trainable_parameters", "config")},
        "leak_base_model": strip(base_leak["targeted"]),
        "leak_before": {"targeted": strip(before["targeted"]), "untargeted": before["untargeted"]},
        "leak_after": {"targeted": strip(after["targeted"]), "untargeted": after["untargeted"]},
        "comparison": compare_leak(before, after),
        "paper_email_reduction": PAPER_EMAIL_REDUCTION,
        "humaneval": {"before": he_before["pass_at_k"], "after": he_after["pass_at_k"], "problems": len(he_before["tasks"]),
                      "lost": mc.lost, "gained": mc.gained, "mcnemar_p": mc.p_value},
        "locality": {k: locality.get(k) for k in ("prompts", "unchanged_fraction", "unchanged_fraction_full", "mean_kl")},
        "settings": {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in s.items()},
    }


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def markdown(r: dict[str, Any]) -> str:
    c, b = r["comparison"], r["leak_before"]
    email_t = c.get("targeted_by_kind", {}).get("email", {}).get("greedy_rate", {})
    email_u = c.get("untargeted_findings_by_kind", {}).get("email", {})
    lines = [
        f"# Privacy hotfix{' (TINY test model: pipeline check, numbers meaningless)' if r['tiny'] else ''}",
        "",
        f"Model {r['model']} memorised {r['corpus']['files']} synthetic files ({r['corpus']['occurrences']} PII "
        f"occurrences, {r['corpus']['distinct_values']} distinct values); corpus loss "
        f"{r['memorise']['corpus_loss_before']:.3f} → {r['memorise']['corpus_loss_after']:.3f} nats/token. "
        f"Before memorising, the base model reproduced {_pct(r['leak_base_model']['greedy_rate'])} of them greedily.",
        f"Hotfix: default recipe on {r['cases']} cases, {r['hotfix']['steps']} steps.",
        "",
        "| leakage | before | after | relative reduction |",
        "|---|---|---|---|",
    ]
    for k, label in (("greedy_rate", "targeted, greedy"), ("sampled_rate", "targeted, sampled"),
                     ("any_rate", "targeted, any of greedy+samples")):
        v = c["targeted"][k]
        lines.append(f"| {label} | {_pct(v['before'])} | {_pct(v['after'])} | {_pct(v['reduction'])} |")
    for k, label in (("findings", "untargeted: PII findings"), ("known_reproduced", "untargeted: memorised values reproduced")):
        v = c["untargeted"][k]
        lines.append(f"| {label} ({b['untargeted']['samples']} samples, top-k 20) | {v['before']} | {v['after']} | "
                     f"{_pct(v['reduction'])} |")
    lines += ["", "| kind | targeted greedy before | after | reduction |", "|---|---|---|---|"]
    for kind, v in c["targeted_by_kind"].items():
        g = v["greedy_rate"]
        lines.append(f"| {kind} | {_pct(g['before'])} | {_pct(g['after'])} | {_pct(g['reduction'])} |")
    lines += ["", f"Email leakage: targeted greedy reduction {_pct(email_t.get('reduction'))}, untargeted email "
                  f"findings {email_u.get('before', 0)} → {email_u.get('after', 0)} "
                  f"({_pct(email_u.get('reduction'))}); the paper reports −{100 * r['paper_email_reduction']:.2f}%.",
              "", f"Side effects: HumanEval pass@1 {r['humaneval']['before'].get('pass@1')} → "
                  f"{r['humaneval']['after'].get('pass@1')} on {r['humaneval']['problems']} problems "
                  f"({r['humaneval']['lost']} lost, {r['humaneval']['gained']} gained, McNemar p = "
                  f"{r['humaneval']['mcnemar_p']:.3g}); locality: {_pct(r['locality']['unchanged_fraction'])} of "
                  f"{r['locality']['prompts']} unrelated prompts complete unchanged, mean KL {r['locality']['mean_kl']}."]
    return "\n".join(lines + _holdout_markdown(r.get("holdout"))) + "\n"


def _p(test: dict | None) -> str:
    return "n/a" if test is None else f"{test['p_value']:.3g}"


def _holdout_markdown(h: dict | None) -> list[str]:
    """The per-occurrence paired comparison: all occurrences, and trained vs held-out projects."""
    if not h:
        return []
    groups = [("all", h["all"])]
    if h.get("held_out"):
        groups += [(f"trained projects ({', '.join(h['trained_projects'])})", h["trained"]),
                   (f"held-out projects ({', '.join(h['held_out_projects'])})", h["held_out"])]
    lines = ["", "| occurrences | n | greedy before | after | stopped / started | McNemar p | sampled before | "
                 "after | Wilcoxon p |", "|---|---|---|---|---|---|---|---|---|"]
    for label, g in groups:
        m = g["greedy_mcnemar"] or {"stopped": "n/a", "started": "n/a"}
        lines.append(f"| {label} | {g['targets']} | {_pct(g['before']['greedy_rate'])} | "
                     f"{_pct(g['after']['greedy_rate'])} | {m['stopped']} / {m['started']} | {_p(g['greedy_mcnemar'])} | "
                     f"{_pct(g['before']['sampled_rate'])} | {_pct(g['after']['sampled_rate'])} | "
                     f"{_p(g['sampled_wilcoxon'])} |")
    if h.get("held_out"):
        lines += ["", f"The hotfix's cases came only from the trained projects; the held-out projects' values "
                      f"were memorised but never in a case (projects sorted by name, the last "
                      f"{h['held_out_count']} held out)."]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Privacy hotfix experiment (see the module docstring).")
    ap.add_argument("--out", default="runs/privacy", help="Run folder (finished stages are reused).")
    ap.add_argument("--results", default=None, help="Where privacy_experiment.json/.md go "
                                                    "(default: bench/results, or --out with --tiny).")
    ap.add_argument("--model", default="default", help="Base model spec (ignored with --tiny).")
    ap.add_argument("--tiny", action="store_true", help="Random 2-layer test model and tiny sizes: checks the pipeline.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--projects", type=int, default=8, help="Synthetic projects (6 files each).")
    ap.add_argument("--memorise-epochs", type=int, default=8)
    ap.add_argument("--samples", type=int, default=1000, help="Untargeted samples (paper: 1000).")
    ap.add_argument("--humaneval-limit", type=int, default=None, help="HumanEval problems (default all 164).")
    ap.add_argument("--locality-limit", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--holdout-projects", type=int, default=0,
                    help="Build the hotfix's cases from all but the last K projects (sorted by name) and report "
                         "leakage on trained and held-out projects separately (default 0: all projects).")
    ap.add_argument("overrides", nargs="*", help="Hotfix config overrides key.path=value.")
    run(ap.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
