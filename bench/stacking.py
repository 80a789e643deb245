"""Stacked vs merged hotfixes: how much of each hotfix's canary effect survives when several are on.

For each hotfix: the rise of its cases' margin log p(fixed) − log p(buggy) over the base with it
alone, then with all hotfixes combined each way (stacked adapters; PEFT add_weighted_adapter cat,
svd, linear), as retention = combined rise / alone rise, and whether its canary still passes.
Writes bench/results/stacking.json and prints a table.

Run:
    python bench/stacking.py --model tiny                      # two tiny hotfixes trained here
    python bench/stacking.py --model default --hotfix hotfixes/a=a_cases.jsonl --hotfix hotfixes/b=b_cases.jsonl
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tiny(work: Path, steps: int) -> tuple[str, list[tuple[str, str]]]:
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("deploy_fixtures", ROOT / "tests" / "deploy" / "conftest.py")
    deploy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deploy)
    import tiny_model  # tests/tiny_model.py: the tiny model and tokenizer

    model_dir = work / "tiny-model"
    tok = tiny_model.build_tokenizer()
    tiny_model.build_tiny_model(len(tok)).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    pairs = []
    for name, cases in (("a", deploy._CASES[:2]), ("b", deploy._CASES[2:])):
        out = deploy.train_tiny_hotfix(model_dir, cases, work / name, steps=steps)
        pairs.append((str(out), str(out / "cases.jsonl")))
    return str(model_dir), pairs


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="tiny")
    p.add_argument("--hotfix", action="append", default=[], help="DIR=CASES (repeat; at least two)")
    p.add_argument("--modes", default="stack,merge_cat,merge_svd,merge_linear")
    p.add_argument("--limit", type=int, default=20, help="cases per hotfix scored")
    p.add_argument("--dtype", help='default "auto"; float32 for the tiny model, whose stack-equals-cat check '
                   "is to float32 rounding (bfloat16 alone moves margins by more)")
    p.add_argument("--threads", type=int)
    p.add_argument("--tiny-steps", type=int, default=40)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "stacking.json"))
    args = p.parse_args(argv)

    from codehotfix.data.cases import read_cases
    from codehotfix.deploy.activation import attach, measure_retention, read_adapter
    from codehotfix.files import write_json
    from codehotfix.models.loading import load_model

    model = args.model
    pairs = [tuple(h.split("=", 1)) for h in args.hotfix]
    if model == "tiny" and not pairs:
        model, pairs = _tiny(Path(tempfile.mkdtemp(prefix="stacking-")), args.tiny_steps)
    if len(pairs) < 2 or any(len(pr) != 2 for pr in pairs):
        p.error("give at least two --hotfix DIR=CASES")
    t0 = time.time()
    dtype = args.dtype or ("float32" if args.model == "tiny" else "auto")
    loaded = load_model(model, dtype=dtype, threads=args.threads)
    hotfixes, net = {}, loaded.model
    for i, (folder, cases) in enumerate(pairs):
        key = f"{Path(folder).name}-{i}"
        net = attach(net, read_adapter(folder, key))
        hotfixes[key] = read_cases(cases)[: args.limit]
    result = measure_retention(net, loaded.tokenizer, hotfixes, args.modes.split(","))
    result.update(model=args.model, model_checksum=loaded.checksum, hotfixes_in=[list(pr) for pr in pairs],
                  seconds=round(time.time() - t0, 1))
    write_json(args.out, result)
    print(f"{'hotfix':<24}" + "".join(f"{m:>14}" for m in ["alone"] + list(result["modes"])))
    for key, row in result["hotfixes"].items():
        cells = [f"{row['alone']['mean_delta']:+.2f}"]
        for m in result["modes"]:
            r = row.get(m)
            cells.append("n/a" if r is None else f"{r['retention']:.2f}{'' if r['canary_pass'] else '!'}")
        print(f"{key:<24}" + "".join(f"{c:>14}" for c in cells))
    print("alone: mean margin rise (nats); others: retention (! = canary fails); best:", result["best"])
    for m, s in result["modes"].items():
        if "error" in s:
            print(f"{m}: {s['error']}")
    print(f"results: {args.out}")
    return result


if __name__ == "__main__":
    main()
