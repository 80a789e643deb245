"""Runs a learning curve (issue 13, item 5): one study folder per (split, size, seed).

    python -m bench.study.learning_curve                      # the pysstubs curve, resumable
    python -m bench.study.learning_curve --config configs/study/curve_manysstubs4j.yaml --sizes 32,128,512
    python -m bench.study.learning_curve --sizes 32,128 --seeds 0,1,2 --splits grouped,within
    python -m bench.study.learning_curve --table-only         # tables what is finished

Every cell is the curve config (``--config``, default ``configs/study/curve_pysstubs.yaml``) with
``dataset.split``, ``dataset.train_cases``, ``seeds=[s]`` and ``dataset.train_sample_seed=s`` set,
written to ``OUT/<split>-n<size>-s<seed>/`` (``nall`` for all training cases); ``OUT`` defaults to
``bench/results/<the config's name>`` (``curve_pysstubs``, ``curve_manysstubs4j``). The model loads
once. The test sample does not depend on the size or the seed, so the first folder's base evaluation
is copied into the others of its split and reused (``run_study`` recomputes it if the fingerprint
differs, so a copy can never be stale). Folders are run smallest size first, grouped and within
interleaved, so a run cut short still leaves comparable pairs. The table (``curve_table.py``) goes
to ``OUT/curve.{json,md}``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs/study/curve_pysstubs.yaml"
RESULTS = REPO / "bench/results"  # OUT defaults to RESULTS/<the config's name>


def folder_name(split: str, size: int | None, seed: int) -> str:
    return f"{split}-n{'all' if size is None else size}-s{seed}"


def plan(splits: list[str], sizes: list[int | None], seeds: list[int], all_seeds: list[int]) -> list[tuple]:
    """(split, size, seed) in run order: by size (all last), then seed, then split."""
    order = []
    for size in sizes:
        for seed in (all_seeds if size is None else seeds):
            for split in splits:
                order.append((split, size, seed))
    return order


def _seed_base_eval(out: Path, split: str, target: Path) -> None:
    """Copies a finished base evaluation of the same split into an empty target folder (with the
    source's study.json, which run_study rewrites, so the folder counts as a study folder)."""
    if target.exists() and any(target.iterdir()):
        return
    for source in sorted(out.glob(f"{split}-n*")):
        bases = sorted(source.glob("base_eval-*.json"))
        if bases and (source / "study.json").exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / "study.json", target / "study.json")
            for b in bases:
                shutil.copy2(b, target / b.name)
            return


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(CONFIG), help="a learning-curve study config (default: pysstubs)")
    ap.add_argument("--out", default=None, help="default: bench/results/<the config's name>")
    ap.add_argument("--splits", default="grouped,within")
    ap.add_argument("--sizes", default="32,128,all",
                    help="training cases per size (e.g. 32,128,512); 'all' = the whole training side")
    ap.add_argument("--seeds", default="0,1,2", help="seeds at the sizes below 'all'")
    ap.add_argument("--all-seeds", default="0", help="seeds at size 'all'")
    ap.add_argument("--table-only", action="store_true")
    ap.add_argument("overrides", nargs="*", help="study overrides key.path=value for every folder")
    args = ap.parse_args(argv)
    if str(REPO / "bench/study") not in sys.path:
        sys.path.insert(0, str(REPO / "bench/study"))
    from curve_table import write_curve_table  # noqa: E402  (bench/study is not a package)
    from codehotfix.study import load_study

    out = Path(args.out) if args.out else RESULTS / load_study(args.config, args.overrides).name
    if not args.table_only:
        from codehotfix.study import run_study
        from codehotfix.models.loading import load_model

        splits = args.splits.split(",")
        sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
        order = plan(splits, sizes, [int(s) for s in args.seeds.split(",")],
                     [int(s) for s in args.all_seeds.split(",")])
        loaded = None
        for i, (split, size, seed) in enumerate(order, 1):
            name = folder_name(split, size, seed)
            spec = load_study(args.config, [*args.overrides, f"dataset.split={split}",
                                            f"dataset.train_cases={'null' if size is None else size}",
                                            f"seeds=[{seed}]", f"dataset.train_sample_seed={seed}"])
            if loaded is None:
                from codehotfix.study.spec import resolve_cells
                tc = resolve_cells(spec)[0].config.training
                loaded = load_model(spec.model, dtype=tc.dtype, threads=tc.threads)
            print(f"[curve] {i}/{len(order)} {name}", file=sys.stderr, flush=True)
            _seed_base_eval(out, split, out / name)
            run_study(spec, out / name, loaded=loaded)
            write_curve_table(out)
    table = write_curve_table(out)
    print(table["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
