"""A study's rows against its reference row, paired case by case: does a cheaper recipe keep the effect?

    python -m bench.study.compare_cells bench/results/study_demo_recipe --reference lora/demo

A study's own table (results.md) compares every cell with the base model. A recipe change is
decided the other way: against the recipe it would replace, on the same test cases and seeds. For
each row (method/loss) other than the reference, and each greedy outcome of ``OUTCOMES``:

* the pairs: (seed, test case) where both the row and the reference have a cell at that seed and
  both define the outcome (validity can be undefined);
* each side's rate over those pairs, with its Wilson 95% interval, and the base model's rate on the
  same cases (each case counted once per seed, like the rows);
* McNemar's exact test on the pairs (``stats.mcnemar_exact``: "gained" = the row has the outcome
  where the reference does not), and Holm's adjustment over every test of the table (one family);
  "lower" / "higher" where the adjusted p < 0.05, else "not significantly different";
* with ``outcomes`` other than the default (``--outcomes split:toward_fixed,window:hit_budget``), the
  table judges those instead, e.g. whether a recipe loops (the window event's ``hit_budget``);
* every row, the reference included, against the base model, seed by seed (``against_base``: McNemar's
  exact test on the test cases of that seed, Holm over that list as a family of its own, so the
  reference comparison's Holm family stays what it was): whether a recipe moves an outcome the base
  model has at all, e.g. loops where the base never does;
* the cost: each seed's training seconds (the cell record's ``train.seconds``), the row's / the
  reference's per seed, with the median and the range over seeds; trainable parameters.

Cells are taken from ``cells/`` when they belong to the study's current base evaluation (the
``base_eval`` that ``study.json`` names), so cells of an earlier data or model setting in the same
folder are left out. Writes ``compare.json`` and ``compare.md`` into the study folder.
Training seconds are one run per cell on the machine each cell records: a ratio read from them is
as fair as the cells' conditions were (alone on the machine or not).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[2]
for path in (REPO, REPO / "bench" / "study"):  # run as a module or a file: the siblings import either way
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from curve_table import _greedy_outcome, _p  # noqa: E402
from codehotfix.evaluation import stats  # noqa: E402
from codehotfix.evaluation.events import METRICS  # noqa: E402
from codehotfix.files import atomic_write_text, read_json, write_json  # noqa: E402

__all__ = ["OUTCOMES", "compare_cells", "compare_markdown", "parse_outcomes", "write_compare"]

ALPHA = 0.05
# (event, outcome): the effect the demo reports (split event) and whether what is written parses.
OUTCOMES: tuple[tuple[str, str], ...] = (("split", "fixed"), ("split", "toward_fixed"), ("split", "fixed_valid"),
                                         ("split", "valid"), ("line", "fixed"), ("line", "valid"))
LABELS = {"fixed": "exact fixed", "toward_fixed": "toward fix", "fixed_valid": "fixed and valid", "valid": "parses",
          "hit_budget": "used its whole budget"}


def _cells(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The study's base evaluation and its cells (those evaluated against that base)."""
    study = read_json(folder / "study.json")
    base_name = study["base_eval"]
    cells = [read_json(p) for p in sorted((folder / "cells").glob("*.json"))]
    return read_json(folder / base_name), [c for c in cells if c.get("base_eval") == base_name]


def _row_key(cell: dict[str, Any]) -> str:
    return f"{cell['method']}/{cell['loss']}"


def _rate(hits: int, n: int) -> dict[str, Any]:
    return {"count": hits, "n": n, "rate": hits / n if n else None, "ci": list(stats.wilson_interval(hits, n))}


def _pairs(base: dict[str, Any], ref: dict[int, dict], row: dict[int, dict], event: str, outcome: str
           ) -> list[tuple[bool, bool, bool]]:
    """(base, reference, row) outcomes per (seed, case) where all three are defined."""
    base_out = {c["id"]: _greedy_outcome(c, event, outcome) for c in base["cases"]}
    out = []
    for seed in sorted(set(ref) & set(row)):
        r = {c["id"]: _greedy_outcome(c, event, outcome) for c in ref[seed]["cases"]}
        for case in row[seed]["cases"]:
            b, x, y = base_out.get(case["id"]), r.get(case["id"]), _greedy_outcome(case, event, outcome)
            if None not in (b, x, y):
                out.append((b, x, y))
    return out


def _cost(ref: dict[int, dict], row: dict[int, dict]) -> dict[str, Any]:
    seeds = sorted(set(ref) & set(row))
    ratios = [row[s]["train"]["seconds"] / ref[s]["train"]["seconds"] for s in seeds]
    return {"seeds": seeds,
            "train_seconds": {str(s): row[s]["train"]["seconds"] for s in seeds},
            "reference_train_seconds": {str(s): ref[s]["train"]["seconds"] for s in seeds},
            "ratio": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)} if ratios else None,
            "trainable_parameters": row[seeds[0]]["trainable_parameters"] if seeds else None,
            "machines": sorted({(row[s].get("machine") or {}).get("cpu", "unknown") for s in seeds})}


def parse_outcomes(text: str) -> tuple[tuple[str, str], ...]:
    """``"split:toward_fixed,window:hit_budget"`` → ((event, outcome), …), each checked against ``METRICS``.

    Raises:
        ValueError: naming the item that is not ``event:outcome`` or not a known outcome of that event.
    """
    out = []
    for item in (t.strip() for t in text.split(",")):
        event, sep, outcome = item.partition(":")
        if not sep or event not in METRICS or outcome not in METRICS[event]:
            known = "; ".join(f"{e}: {', '.join(m)}" for e, m in METRICS.items())
            raise ValueError(f"--outcomes: {item!r} is not event:outcome (known: {known})")
        out.append((event, outcome))
    return tuple(out)


def _adjust(tests: list[dict[str, Any]], against: str) -> list[dict[str, Any]]:
    """Holm's adjustment over ``tests`` (one family) and each test's verdict: the candidate's count
    "higher" / "lower" than the ``against`` side's where the adjusted p < ALPHA. Sets them in place."""
    for t, p_holm in zip(tests, stats.holm([t["p"] for t in tests])):
        diff = t["candidate"]["count"] - t[against]["count"]
        t["p_holm"] = p_holm
        t["verdict"] = ("not significantly different" if p_holm >= ALPHA or diff == 0
                        else "higher" if diff > 0 else "lower")
    return tests


def _against_base(base: dict[str, Any], by_row: dict[str, dict[int, dict]],
                  outcomes: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every row's cells against the base model, one McNemar test per (row, seed, outcome); Holm over the list."""
    base_out = {(event, outcome): {c["id"]: _greedy_outcome(c, event, outcome) for c in base["cases"]}
                for event, outcome in outcomes}
    tests: list[dict[str, Any]] = []
    for key in sorted(by_row):
        for seed, cell in sorted(by_row[key].items()):
            for event, outcome in outcomes:
                pairs = [(base_out[event, outcome].get(c["id"]), _greedy_outcome(c, event, outcome))
                         for c in cell["cases"]]
                pairs = [p for p in pairs if None not in p]
                if not pairs:
                    continue
                b, y = [p[0] for p in pairs], [p[1] for p in pairs]
                test = stats.mcnemar_exact(b, y)
                tests.append({"row": key, "seed": seed, "event": event, "outcome": outcome, "pairs": len(pairs),
                              "base": _rate(sum(b), len(b)), "candidate": _rate(sum(y), len(y)),
                              "gained": test.gained, "lost": test.lost, "p": test.p_value})
    return _adjust(tests, against="base")


def compare_cells(folder: Path, reference: str,
                  outcomes: Sequence[tuple[str, str]] = OUTCOMES) -> dict[str, Any]:
    """The comparison table of ``folder``'s rows against the row ``reference`` ("method/loss"), on the
    greedy ``outcomes`` ((event, outcome) pairs of ``METRICS``), plus every row against the base model.

    Raises:
        ValueError: the study has no cell of the reference row.
    """
    folder = Path(folder)
    base, cells = _cells(folder)
    by_row: dict[str, dict[int, dict]] = {}
    for cell in cells:
        by_row.setdefault(_row_key(cell), {})[cell["seed"]] = cell
    if reference not in by_row:
        raise ValueError(f"{folder}: no cell of the reference row {reference!r}; rows: {', '.join(sorted(by_row))}")
    ref = by_row[reference]
    costs = {key: _cost(ref, by_row[key]) for key in sorted(by_row) if key != reference}
    rows: list[dict[str, Any]] = []
    for key, cost in costs.items():
        row = by_row[key]
        for event, outcome in outcomes:
            pairs = _pairs(base, ref, row, event, outcome)
            if not pairs:
                continue
            b, x, y = ([p[i] for p in pairs] for i in range(3))
            test = stats.mcnemar_exact(x, y)
            rows.append({"row": key, "event": event, "outcome": outcome, "seeds": cost["seeds"], "pairs": len(pairs),
                         "base": _rate(sum(b), len(b)), "reference": _rate(sum(x), len(x)), "candidate": _rate(sum(y), len(y)),
                         "gained": test.gained, "lost": test.lost, "p": test.p_value})
    _adjust(rows, against="reference")
    return {"folder": str(folder), "reference": reference, "outcomes": [list(o) for o in outcomes],
            "reference_seeds": sorted(ref), "rows": rows, "costs": costs, "alpha": ALPHA,
            "holm_family": "every test of this table",
            "against_base": _against_base(base, by_row, outcomes),
            "against_base_holm_family": "every test of against_base (each row and seed against the base model)"}


def _fmt_rate(r: dict[str, Any]) -> str:
    return f"{r['count']}/{r['n']} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]"


def compare_markdown(table: dict[str, Any]) -> str:
    ref = table["reference"]
    lines = [f"# {Path(table['folder']).name}: every row against `{ref}`", "",
             "Greedy outcomes, paired on the same (seed, test case). Rates with Wilson 95% intervals; McNemar's "
             "exact p (gained = the row has the outcome where the reference does not), Holm's adjustment over every "
             f"test of this table. Reference seeds: {', '.join(map(str, table['reference_seeds']))}.", "",
             "| row | seeds | event | outcome | base | reference | row | gained / lost | p | p (Holm) | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table["rows"]:
        lines.append(f"| {r['row']} | {','.join(map(str, r['seeds']))} | {r['event']} | {LABELS.get(r['outcome'], r['outcome'])} | "
                     f"{_fmt_rate(r['base'])} | {_fmt_rate(r['reference'])} | {_fmt_rate(r['candidate'])} | "
                     f"{r['gained']} / {r['lost']} | {_p(r['p'])} | {_p(r['p_holm'])} | "
                     f"{r['verdict']} |")
    lines += ["", "Every row against the base model, seed by seed (McNemar's exact p on that seed's test cases; Holm "
              "over this list as its own family; gained = the row has the outcome where the base model does not):", "",
              "| row | seed | event | outcome | base | row | gained / lost | p | p (Holm) | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for t in table["against_base"]:
        lines.append(f"| {t['row']} | {t['seed']} | {t['event']} | {LABELS.get(t['outcome'], t['outcome'])} | "
                     f"{_fmt_rate(t['base'])} | {_fmt_rate(t['candidate'])} | {t['gained']} / {t['lost']} | "
                     f"{_p(t['p'])} | {_p(t['p_holm'])} | {t['verdict']} |")
    lines += ["", "Training cost against the reference, per seed (one run per cell; see each cell's machine):", "",
              "| row | seeds | training s (row) | training s (reference) | row / reference, median (min–max) | "
              "trainable parameters | machine |", "|---|---|---|---|---|---|---|"]
    for key, c in table["costs"].items():
        if not c["seeds"]:
            lines.append(f"| {key} | – | no seed in common with the reference | | | | |")
            continue
        ratio = c["ratio"]
        lines.append(f"| {key} | {','.join(map(str, c['seeds']))} | "
                     f"{', '.join(f'{v:.0f}' for v in c['train_seconds'].values())} | "
                     f"{', '.join(f'{v:.0f}' for v in c['reference_train_seconds'].values())} | "
                     f"{ratio['median']:.2f} ({ratio['min']:.2f}–{ratio['max']:.2f}) | {c['trainable_parameters']:,} | "
                     f"{', '.join(c['machines'])} |")
    return "\n".join(lines) + "\n"


def write_compare(folder: Path, reference: str, outcomes: Sequence[tuple[str, str]] = OUTCOMES) -> dict[str, Any]:
    """Writes ``compare.json`` and ``compare.md`` into ``folder`` (atomically); returns the table plus ``markdown``."""
    table = compare_cells(folder, reference, outcomes)
    markdown = compare_markdown(table)
    write_json(Path(folder) / "compare.json", table)
    atomic_write_text(Path(folder) / "compare.md", markdown)
    return {**table, "markdown": markdown}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=Path, help="a study folder (study.json, cells/, base_eval-*.json)")
    p.add_argument("--reference", required=True, help="the reference row, method/loss (e.g. lora/demo)")
    p.add_argument("--outcomes", default=None,
                   help="greedy outcomes to compare, event:outcome,… (default: "
                        + ",".join(f"{e}:{o}" for e, o in OUTCOMES) + ")")
    args = p.parse_args(argv)
    try:
        outcomes = parse_outcomes(args.outcomes) if args.outcomes else OUTCOMES
        table = write_compare(args.folder, args.reference, outcomes)
    except (OSError, ValueError, KeyError) as e:
        print(f"compare_cells: error: {e}", file=sys.stderr)
        return 2
    print(table["markdown"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
