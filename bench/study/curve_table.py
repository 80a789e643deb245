"""The learning curve's table: greedy hotfix rates by split, training size and seed, vs the base model.

    python -m bench.study.learning_curve --table-only      # or, from Python:
    write_curve_table(Path("bench/results/curve_pysstubs"))  # → curve.json, curve.md in that folder

``learning_curve.py`` writes one study folder per (split, size, seed), ``<split>-n<size|all>-s<seed>``,
each with one cell. Every folder of a split evaluates the same test cases, so per (split, size) the
seeds are repeated hotfixes of the same cases and can be paired with the one base evaluation:

* per seed: the hotfix's greedy rate with a Wilson 95% interval and McNemar's exact test on the
  per-case outcomes vs the base (``stats.mcnemar_exact``; gained and lost cases);
* pooled over the k seeds: per case, the number of seeds where the case has the outcome (0..k)
  against k × the base outcome (0 or k), tested with the sign-flip permutation test on those
  per-case differences (``stats.sign_flip_test``: exact up to 16 changed cases, 20,000 seeded
  Monte-Carlo sign patterns above). One family for Holm's adjustment: every pooled test of the table;
  "not significant" where the adjusted p >= 0.05;
* grouped vs within at each size: each case's change (hotfix − base, averaged over seeds) on each
  split, and an unpaired two-sample permutation test (scipy.stats.permutation_test, 9,999 seeded
  resamples) of the difference of the mean changes (within − grouped); its own Holm family.
* Δ mean (mean hotfix rate over seeds − base rate) with a 95% percentile bootstrap interval over the
  test cases of the per-case changes (``stats.bootstrap_mean_ci``, 10,000 seeded resamples).

Outcomes per completion event (``codehotfix.evaluation.events.METRICS``): line and split — exact
fixed, exact buggy, fixed and valid (split also: toward fix / toward bug, which line the completion
continues at the point where the lines part); window — contains the fixed / buggy line (a window is
judged by what it contains, so it has no exact label). A per-case outcome comes from the record's
``events`` block; the line event falls back to ``greedy_label`` (results written before events
existed, and cell records that keep labels only). Where no per-case outcome is recorded, the row
holds the summary's counts (rates and intervals, no paired test).
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import permutation_test

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as bench/study/…: make ``bench.common`` importable
    sys.path.insert(0, str(REPO))

from codehotfix.evaluation import stats  # noqa: E402
from codehotfix.evaluation.events import METRICS  # noqa: E402
from codehotfix.files import atomic_write_text, read_json, write_json  # noqa: E402
from codehotfix.study.table import mean_sd  # noqa: E402

__all__ = ["OUTCOMES", "FOLDER", "write_curve_table", "curve_table", "curve_markdown"]

ALPHA = 0.05
PERMUTATIONS = 9_999
SPLITS = ("grouped", "within")  # the pair the between-splits test compares (within − grouped)
FOLDER = re.compile(r"^(?P<split>[a-z_]+)-n(?P<size>\d+|all)-s(?P<seed>\d+)$")

# Event → the greedy outcomes the curve reports, and how each reads in the markdown.
OUTCOMES: dict[str, tuple[str, ...]] = {
    "line": ("fixed", "buggy", "fixed_valid"),
    "split": ("fixed", "buggy", "toward_fixed", "toward_buggy", "fixed_valid"),
    "window": ("contains_fixed", "contains_buggy"),
}
LABELS = {"fixed": "exact fixed", "buggy": "exact buggy", "fixed_valid": "fixed and valid",
          "toward_fixed": "toward fix", "toward_buggy": "toward bug", "contains_fixed": "contains fixed",
          "contains_buggy": "contains buggy"}


# --------------------------------------------------------------------------- reading the folders

def _size_key(size: str) -> tuple[int, int]:
    return (1, 0) if size == "all" else (0, int(size))


def _split_key(split: str) -> tuple[int, str]:
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), split)


def _read_folder(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A finished curve folder as {split, size, seed, study, cell, base}, or (None, why it is skipped)."""
    m = FOLDER.match(path.name)
    cells = sorted((path / "cells").glob("*.json"))
    if not cells:
        return None, "no finished cell"
    if len(cells) > 1:
        raise ValueError(f"{path}: {len(cells)} cells; a learning-curve folder holds one (method, loss, seed)")
    cell = read_json(cells[0])
    if cell["seed"] != int(m["seed"]):
        raise ValueError(f"{path}: its cell has seed {cell['seed']}, the folder name says {m['seed']}")
    base_path = path / cell["base_eval"]
    if not base_path.exists() or not (path / "study.json").exists():
        return None, f"missing {'study.json' if base_path.exists() else cell['base_eval']}"
    return {"folder": path.name, "split": m["split"], "size": m["size"], "seed": int(m["seed"]),
            "study": read_json(path / "study.json"), "cell": cell, "base": read_json(base_path)}, None


def _greedy_outcome(record: dict[str, Any], event: str, metric: str) -> bool | None:
    """One case's greedy outcome, None where it is not recorded or not defined (validity can be).
    Mirrors ``compare``: the line event of a record without ``events`` is read from ``greedy_label``."""
    block = (record.get("events") or {}).get(event)
    if block is None and event == "line" and "greedy_label" in record:
        block = {"greedy": {"label": record["greedy_label"]} if record["greedy_label"] is not None else None}
    judged = block.get("greedy") if block else None
    if judged is None:
        return None
    try:
        value = METRICS[event][metric](judged)
    except KeyError:  # a record without this field (e.g. labels only: no validity)
        return None
    return None if value is None else bool(value)


def _summary_count(evaluation: dict[str, Any], event: str, metric: str) -> tuple[int, int] | None:
    """(count, n) of a greedy outcome from an evaluation's summary, None where it is not there."""
    entry = (((evaluation["summary"].get("events") or {}).get(event) or {}).get("greedy") or {}).get(metric)
    if not entry or not entry.get("n"):
        return None
    return int(entry["count"]), int(entry["n"])


# --------------------------------------------------------------------------- one row

def _rate(count: int, n: int) -> dict[str, Any]:
    return {"count": count, "n": n, "rate": count / n, "ci": list(stats.wilson_interval(count, n))}


def _per_case_row(event: str, metric: str, base: dict[str, Any], cells: Sequence[dict[str, Any]]) -> dict | None:
    """The row from per-case outcomes, paired on the cases where the base and every seed define it."""
    base_out = {c["id"]: _greedy_outcome(c, event, metric) for c in base["cases"]}
    seed_out = [{c["id"]: _greedy_outcome(c, event, metric) for c in cell["cases"]} for cell in cells]
    ids = [i for i, v in base_out.items() if v is not None and all(s.get(i) is not None for s in seed_out)]
    if not ids:
        return None
    n, k = len(ids), len(cells)
    b = [base_out[i] for i in ids]
    seeds = []
    for cell, out in zip(cells, seed_out):
        a = [out[i] for i in ids]
        test = stats.mcnemar_exact(b, a)
        seeds.append({"seed": cell["seed"], **_rate(sum(a), n), "gained": test.gained, "lost": test.lost,
                      "p": test.p_value})
    counts = [sum(out[i] for out in seed_out) for i in ids]  # seeds where the case has the outcome, 0..k
    pooled = stats.sign_flip_test([k * x for x in b], counts)
    changes = [c / k - x for c, x in zip(counts, b)]  # per case, hotfix − base averaged over seeds
    return {"per_case": True, "base": _rate(sum(b), n), "seeds": seeds, "case_changes": changes,
            "pooled": {"test": "sign-flip permutation" + (" (exact)" if pooled.n_nonzero <= 16 else " (Monte-Carlo)"),
                       "changed_cases": pooled.n_nonzero, "sum_difference": pooled.statistic,
                       "p": pooled.p_value,
                       # over test cases (the seeds are averaged per case first): how far Δ mean can be
                       # trusted with 48 cases, beside the test of whether it is 0
                       "change_ci": list(stats.bootstrap_mean_ci(changes))}}


def _summary_row(event: str, metric: str, base: dict[str, Any], cells: Sequence[dict[str, Any]]) -> dict | None:
    """The row from the summaries' counts: rates and intervals only (no per-case outcomes to pair)."""
    base_count = _summary_count(base, event, metric)
    seed_counts = [_summary_count(cell, event, metric) for cell in cells]
    if base_count is None or any(s is None for s in seed_counts):
        return None
    return {"per_case": False, "base": _rate(*base_count),
            "seeds": [{"seed": cell["seed"], **_rate(*s)} for cell, s in zip(cells, seed_counts)], "pooled": None}


def _row(split: str, size: str, event: str, metric: str, base: dict[str, Any],
         cells: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    row = _per_case_row(event, metric, base, cells) or _summary_row(event, metric, base, cells)
    if row is None:
        return None
    rates = mean_sd([s["rate"] for s in row["seeds"]])
    return {"split": split, "size": size, "event": event, "outcome": metric, "n": row["base"]["n"],
            "seeds_done": [s["seed"] for s in row["seeds"]], **row,
            "mean_rate": rates["mean"], "sd_rate": rates["sd"], "mean_change": rates["mean"] - row["base"]["rate"]}


def _verdict(p_holm: float, change: float) -> str:
    if p_holm >= ALPHA:
        return "not significant"
    return "significant " + ("increase" if change > 0 else "decrease")


# --------------------------------------------------------------------------- grouped vs within

def _difference_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(y, axis=axis) - np.mean(x, axis=axis)


def _between_splits(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size and outcome with per-case rows on both splits: within − grouped mean per-case change."""
    by_key = {(r["split"], r["size"], r["event"], r["outcome"]): r for r in rows if r["per_case"]}
    out = []
    for (split, size, event, metric), grouped in by_key.items():
        within = by_key.get((SPLITS[1], size, event, metric))
        if split != SPLITS[0] or within is None:
            continue
        x, y = np.asarray(grouped["case_changes"], dtype=float), np.asarray(within["case_changes"], dtype=float)
        res = permutation_test((x, y), _difference_of_means, permutation_type="independent", vectorized=True,
                               n_resamples=PERMUTATIONS, alternative="two-sided", random_state=0)
        out.append({"size": size, "event": event, "outcome": metric,
                    "grouped": {"n": len(x), "seeds": grouped["seeds_done"], "mean_change": float(x.mean())},
                    "within": {"n": len(y), "seeds": within["seeds_done"], "mean_change": float(y.mean())},
                    "difference": float(y.mean() - x.mean()),
                    "test": f"two-sample permutation, difference of means ({PERMUTATIONS} resamples, seed 0)",
                    "p": float(res.pvalue)})
    for r, p_holm in zip(out, stats.holm([r["p"] for r in out])):
        r["p_holm"] = p_holm
        r["verdict"] = ("not significant" if p_holm >= ALPHA else
                        f"significant: within {'>' if r['difference'] > 0 else '<'} grouped")
    return out


# --------------------------------------------------------------------------- the table

def _training(f: dict[str, Any]) -> dict[str, Any]:
    cell, data = f["cell"], f["study"]["data"]
    return {"folder": f["folder"], "split": f["split"], "size": f["size"], "seed": f["seed"],
            "cell_id": cell["cell_id"], "train_cases": data.get("train_cases"),
            "train_sample_seed": data.get("train_sample_seed"), "test_cases": data.get("test_cases"),
            "steps": cell["train"]["steps"], "epochs": cell["train"]["epochs"], "tokens": cell["train"]["tokens"],
            "train_seconds": cell["train"]["seconds"], "eval_seconds": cell["eval_seconds"],
            "wall_seconds": cell.get("wall_seconds"), "peak_rss_mb": (cell.get("memory") or {}).get("peak_rss_mb"),
            "threads": cell["config"]["training"].get("threads"), "dtype": cell["config"]["training"].get("dtype"),
            "created": cell.get("created"), "versions": cell.get("versions"),
            "machine": cell.get("machine")}  # absent in cells written before the runner recorded it


def curve_table(out: Path) -> dict[str, Any]:
    """The curve's table from the folders under ``out`` (see the module docstring); writes nothing.

    Raises:
        ValueError: a folder holds several cells, or a cell of another seed than its name says, or the
            folders of one (split, size) have different base evaluations (their seeds would not be
            paired on the same cases).
    """
    folders, skipped = [], []
    paths = sorted(Path(out).iterdir()) if Path(out).is_dir() else []
    for path in (p for p in paths if p.is_dir() and FOLDER.match(p.name)):
        folder, why = _read_folder(path)
        if folder is None:
            skipped.append({"folder": path.name, "reason": why})
        else:
            folders.append(folder)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in sorted(folders, key=lambda f: (_split_key(f["split"]), _size_key(f["size"]), f["seed"])):
        groups.setdefault((f["split"], f["size"]), []).append(f)

    rows, bases = [], {}
    for (split, size), members in groups.items():
        prints = sorted({f["base"]["fingerprint"] for f in members})
        if len(prints) > 1:
            raise ValueError(f"{out}: the {split} n{size} folders have different base evaluations {prints}; "
                             "their seeds must be evaluated on the same test cases with the same settings")
        base = members[0]["base"]
        bases.setdefault(split, {"split": split, "fingerprint": base["fingerprint"], "cases": len(base["cases"]),
                                 "seconds": base.get("seconds"), "eval": base.get("config")})
        for event, metrics in OUTCOMES.items():
            for metric in metrics:
                row = _row(split, size, event, metric, base, [f["cell"] for f in members])
                if row is not None:
                    rows.append(row)
    tested = [r for r in rows if r["pooled"]]
    for r, p_holm in zip(tested, stats.holm([r["pooled"]["p"] for r in tested])):
        r["pooled"]["p_holm"], r["pooled"]["verdict"] = p_holm, _verdict(p_holm, r["mean_change"])
    return {
        "format": "codehotfix-curve/1",
        "out": str(out),
        "alpha": ALPHA,
        "outcomes": {event: list(metrics) for event, metrics in OUTCOMES.items()},
        "tests": {"per_seed": "McNemar exact on per-case greedy outcomes vs the base (unadjusted p)",
                  "pooled": "sign-flip permutation on per case (seeds with the outcome) − k × base outcome; "
                            "exact up to 16 changed cases, else 20,000 seeded Monte-Carlo patterns; Holm over "
                            "every pooled test of the table",
                  "between_splits": f"two-sample permutation test (scipy.stats.permutation_test, {PERMUTATIONS} "
                                    "resamples, random_state 0) of mean per-case change, within − grouped; "
                                    "Holm over these tests"},
        "splits": sorted({f["split"] for f in folders}, key=_split_key),
        "sizes": sorted({f["size"] for f in folders}, key=_size_key),
        "rows": rows,
        "between_splits": _between_splits(rows),
        "training": [_training(f) for members in groups.values() for f in members],
        "base_evals": list(bases.values()),
        "skipped": skipped,
    }


# --------------------------------------------------------------------------- markdown

def _p(p: float) -> str:
    return stats.format_p(p).removeprefix("p=").removeprefix("p")  # "0.62", "<0.001"


def _ci(ci: Sequence[float]) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def _outcome_key(row: dict[str, Any]) -> tuple[int, int]:
    return list(OUTCOMES).index(row["event"]), OUTCOMES[row["event"]].index(row["outcome"])


def _change(row: dict[str, Any]) -> str:
    ci = (row["pooled"] or {}).get("change_ci")
    return _signed(row["mean_change"]) + (f" [{_signed(ci[0])}, {_signed(ci[1])}]" if ci else "")


def _seed_cell(s: dict[str, Any]) -> str:
    text = f"s{s['seed']}: {s['rate']:.3f} {_ci(s['ci'])}"
    return text + (f" +{s['gained']}/−{s['lost']} {stats.format_p(s['p'])}" if "gained" in s else "")


def _rows_markdown(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["| outcome | split | size | n | base [95% CI] | per seed: rate [95% CI] gained/lost McNemar p | "
             "mean | Δ mean [95% CI] | pooled p | Holm p | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(rows, key=lambda r: (_outcome_key(r), _split_key(r["split"]), _size_key(r["size"])))
    for r in order:
        pooled = r["pooled"]
        tail = ([_p(pooled["p"]), _p(pooled["p_holm"]), pooled["verdict"]] if pooled
                else ["–", "–", "no per-case outcomes recorded"])
        lines.append("| " + " | ".join([LABELS[r["outcome"]], r["split"], r["size"], str(r["n"]),
                                         f"{r['base']['rate']:.3f} {_ci(r['base']['ci'])}",
                                         "<br>".join(_seed_cell(s) for s in r["seeds"]),
                                         f"{r['mean_rate']:.3f}", _change(r), *tail]) + " |")
    return lines


def curve_markdown(table: dict[str, Any]) -> str:
    """``curve_table``'s result as a short report: what the splits and tests are, then the tables."""
    seeds = sorted({t["seed"] for t in table["training"]})
    lines = [f"# Learning curve `{Path(table['out']).name}` — greedy hotfix outcomes by training size", "",
             "Splits: **grouped** — whole repositories on one side, so the test bugs come from projects the "
             "hotfix never saw; **within** — every repository on both sides, so test bugs are new but their "
             "projects are shared. Extra transfer on within over grouped comes from the project, not the bug "
             "pattern.", "",
             f"Sizes (training fixes): {', '.join(table['sizes']) or 'none yet'}; seeds done: "
             f"{', '.join(map(str, seeds)) or 'none'} (seed s draws its own training sample and trains with "
             "seed s). Every folder of a split is tested on the same cases against one base evaluation. "
             "Greedy decoding only.", "",
             "Tests: per seed, McNemar's exact test on the per-case outcomes vs the base (+gained/−lost cases, "
             "p unadjusted). Pooled: per case, the number of seeds with the outcome against k × the base "
             "outcome, sign-flip permutation test (exact up to 16 changed cases); Holm's adjustment over every "
             f"pooled test in this report, 'not significant' where the Holm p ≥ {table['alpha']:g}. Intervals "
             "are Wilson 95% for rates; Δ mean = mean hotfix rate over seeds − base rate, its interval a "
             "percentile bootstrap over the test cases.", "",
             "Outcomes: line and split events — the completed line is exactly the fixed / buggy line, or fixed "
             "and still parses in its file (fixed and valid); split — which line the completion continues "
             "where the two lines part (toward fix / toward bug); window — the 5-line window contains the "
             "fixed / buggy line."]
    for event in OUTCOMES:
        rows = [r for r in table["rows"] if r["event"] == event]
        if rows:
            lines += ["", f"## Event: {event}", "", *_rows_markdown(rows)]
    if table["between_splits"]:
        lines += ["", "## Grouped vs within", "",
                  "Per case, the change hotfix − base averaged over the split's seeds; the mean over cases on "
                  "each split and an unpaired two-sample permutation test of within − grouped "
                  f"({PERMUTATIONS} resamples); Holm over the rows of this table.", "",
                  "| size | event | outcome | grouped Δ (n) | within Δ (n) | within − grouped | p | Holm p "
                  "| verdict |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(table["between_splits"], key=lambda r: (_size_key(r["size"]), _outcome_key(r))):
            lines.append(f"| {r['size']} | {r['event']} | {LABELS[r['outcome']]} | "
                         f"{_signed(r['grouped']['mean_change'])} ({r['grouped']['n']}) | "
                         f"{_signed(r['within']['mean_change'])} ({r['within']['n']}) | {_signed(r['difference'])} | "
                         f"{_p(r['p'])} | {_p(r['p_holm'])} | {r['verdict']} |")
    if table["training"]:
        lines += ["", "## Training", "",
                  "| folder | train cases | steps | train s | eval s | wall s | peak RSS MB |",
                  "|---|---|---|---|---|---|---|"]
        for t in table["training"]:
            rss = "–" if t["peak_rss_mb"] is None else f"{t['peak_rss_mb']:.0f}"
            wall = "–" if t["wall_seconds"] is None else f"{t['wall_seconds']:.0f}"
            lines.append(f"| {t['folder']} | {t['train_cases']} | {t['steps']} | {t['train_seconds']:.0f} | "
                         f"{t['eval_seconds']:.0f} | {wall} | {rss} |")
        lines += ["", "Base evaluations: " + "; ".join(
            f"{b['split']} {b['cases']} cases, {b['seconds']} s" for b in table["base_evals"]) + "."]
    m = table["machine"]
    flags = ", ".join(f for f, on in (m.get("cpu_flags") or {}).items() if on) or "no bf16/AMX flags"
    lines += ["", f"Table written on {m['cpu']} ({m['cpu_count']} CPUs; {flags}), "
                  f"git {m.get('git_commit') or 'unknown'}."]
    if table["skipped"]:
        lines += ["", "Skipped folders: " + "; ".join(f"{s['folder']} ({s['reason']})" for s in table["skipped"])]
    return "\n".join(lines) + "\n"


def write_curve_table(out: Path) -> dict[str, Any]:
    """Writes ``out/curve.json`` and ``out/curve.md`` atomically; returns the table plus ``markdown``."""
    from bench.common import environment  # imports torch; the table itself (and check_claims) does not need it

    out = Path(out)
    # Where the table was written (learning_curve.py writes it after every folder, on the machine that
    # ran it); each cell's own machine is in its "training" row.
    table = {**curve_table(out), "machine": environment()}
    markdown = curve_markdown(table)
    write_json(out / "curve.json", table)
    atomic_write_text(out / "curve.md", markdown)
    return {**table, "markdown": markdown}
