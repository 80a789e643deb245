"""The seen split's cells broken down by what kind of new context each test item is.

A "seen bug" test item is a variant of a training case (``study.data.variant_items``). The variants
do not test the same thing: a reformat variant keeps the judged buggy and fixed lines character for
character, so it asks whether the trained line survives a new context, while a rename may change the
line itself and a wrap re-indents it. Pooled, the easy items can carry the whole effect (the first
seen_bug run: 10 of 24 test items were reformat variants with the trained line, and they supplied 9
of its 13 fixed samples). So every cell is also reported on each subset:

  kind          rename / reformat / wrap (``source["variant"]["kind"]``)
  line          "same": the judged buggy and fixed lines are exactly the training case's; "differs"
  judged_line   the same after removing whitespace (``normalize_line``), as the judge compares
                completions: a wrap variant only re-indents the line, so to the judge it is the same

On each subset the cell is paired with the base model on the same items by
``codehotfix.evaluation.compare.compare`` — greedy rates with Wilson 95% intervals and McNemar's
exact test, sampled per-case rates with bootstrap intervals and the sign-flip permutation test, the
margin, Holm's adjustment within the subset's table — so a subset's numbers are computed exactly as
the whole test set's are.

    from codehotfix.study.breakdown import breakdown, breakdown_markdown
    result = breakdown(cell_records, base_eval["cases"], study_json["data"]["split"]["test_items"])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from codehotfix.evaluation import stats
from codehotfix.evaluation.compare import compare

__all__ = ["AXES", "subsets", "breakdown", "breakdown_markdown"]

# Axis name → the subset an item falls in, and how the axis reads in the table.
AXES: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "kind": (lambda item: item["kind"], "variant kind"),
    "line": (lambda item: "same" if item["same_line"] else "differs", "judged lines exactly as trained"),
    "judged_line": (lambda item: "same" if item["same_judged_line"] else "differs",
                    "judged lines as trained, whitespace ignored"),
}


def subsets(items: dict[str, dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """(axis, value, sorted test ids) for the whole set ("all") and every value each axis takes."""
    out = [("all", "all", sorted(items))]
    for axis, (value_of, _) in AXES.items():
        values: dict[str, list[str]] = {}
        for case_id in sorted(items):
            values.setdefault(value_of(items[case_id]), []).append(case_id)
        out += [(axis, value, ids) for value, ids in sorted(values.items())]
    return out


def _cell(record: dict[str, Any], base: dict[str, dict[str, Any]],
          parts: Sequence[tuple[str, str, list[str]]]) -> dict[str, Any]:
    cases = {c["id"]: c for c in record.get("cases") or []}
    out = []
    for axis, value, ids in parts:
        missing = [i for i in ids if i not in cases or i not in base]
        if missing:
            raise ValueError(f"cell {record['cell_id']}: test item {missing[0]} has no per-case result in the "
                             f"{'cell' if missing[0] not in cases else 'base evaluation'} (field 'cases[].id')")
        table = compare({"cases": [base[i] for i in ids]}, {"cases": [cases[i] for i in ids]})
        out.append({"axis": axis, "value": value, "n": len(ids), "events": table["events"]})
    return {"cell_id": record["cell_id"], "method": record["method"], "loss": record["loss"],
            "seed": record["seed"], "subsets": out}


def breakdown(records: Sequence[dict[str, Any]], base_cases: Sequence[dict[str, Any]],
              items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Every cell on every subset of the test items, paired with the base model (see the module docstring).

    Args:
        records: cell records (``runner``), each with its per-case results under ``cases``.
        base_cases: the base model's per-case results on the same test items.
        items: per test id, ``{"kind", "same_line", "same_judged_line", …}`` (``variant_items``).

    Returns:
        ``{"axes": {axis: description}, "counts": [{"axis", "value", "n"}], "cells": [{"cell_id",
        "method", "loss", "seed", "subsets": [{"axis", "value", "n", "events"}]}]}``; ``events`` is
        ``compare``'s per-event tables on that subset. Cells sorted by method, loss, seed.

    Raises:
        ValueError: a test item lacks a per-case result in a cell or in the base evaluation.
    """
    parts = subsets(items)
    base = {c["id"]: c for c in base_cases}
    ordered = sorted(records, key=lambda r: (r["method"], r["loss"], r["seed"]))
    return {"axes": {"all": "every test item", **{axis: text for axis, (_, text) in AXES.items()}},
            "counts": [{"axis": a, "value": v, "n": len(ids)} for a, v, ids in parts],
            "cells": [_cell(r, base, parts) for r in ordered]}


def _row(subset: dict[str, Any], metric: str, mode: str) -> dict[str, Any] | None:
    rows = subset["events"].get("line", {}).get("rows", [])
    return next((r for r in rows if r["metric"] == metric and r["mode"] == mode), None)


def _greedy(row: dict[str, Any] | None) -> str:
    if row is None:
        return "n/a"
    n = row["cases"]
    low, high = row["after_ci"]
    return (f"{round(row['before'] * n)}/{n} → {round(row['after'] * n)}/{n} [{low:.2f}, {high:.2f}], "
            f"{stats.format_p(row['p'])}")


def _sampled(row: dict[str, Any] | None) -> str:
    if row is None:
        return "n/a"
    low, high = row["after_ci"]
    return f"{row['before']:.3f} → {row['after']:.3f} [{low:.2f}, {high:.2f}], {stats.format_p(row['p'])}"


def _margin(row: dict[str, Any] | None) -> str:
    if row is None:
        return "n/a"
    return f"{row['change']:+.2f} ({stats.format_p(row['p'])})".replace("-", "−")


def breakdown_markdown(result: dict[str, Any]) -> str:
    """``breakdown``'s tables as a Markdown section: one row per cell and subset."""
    counts = "; ".join(f"{c['axis']} {c['value']}: {c['n']}" for c in result["counts"] if c["axis"] != "all")
    lines = ["## The seen split by subset", "",
             "Each cell on each subset of the test items, paired with the base model on the same items. "
             "Greedy: base → hotfix counts, the hotfix's Wilson 95% interval, McNemar's exact p. Sampled: "
             "base → hotfix mean per-case rate, the hotfix's bootstrap 95% interval, the sign-flip "
             "permutation p. Δ margin: mean change in nats, sign-flip p. p unadjusted (results.json holds "
             "Holm's adjustment within each subset's table).", "",
             "Subsets — kind: the variant; line same: the judged buggy and fixed lines are exactly the "
             "training case's (a reformat always, a rename that left the line alone); judged_line same: "
             "equal once whitespace is removed, as completions are judged (adds the wrap variants, which "
             "only re-indent the line).", "",
             f"Test items per subset: {counts}.", "",
             "| cell | subset | n | greedy fixed | greedy buggy | sampled fixed | sampled buggy | Δ margin (p) |",
             "|---|---|---|---|---|---|---|---|"]
    for cell in result["cells"]:
        name = f"{cell['method']} / {cell['loss']} / s{cell['seed']}"
        for subset in cell["subsets"]:
            label = "all" if subset["axis"] == "all" else f"{subset['axis']}: {subset['value']}"
            cells = [name, label, str(subset["n"]), _greedy(_row(subset, "fixed", "greedy")),
                     _greedy(_row(subset, "buggy", "greedy")), _sampled(_row(subset, "fixed", "sampled")),
                     _sampled(_row(subset, "buggy", "sampled")), _margin(_row(subset, "margin", "likelihood"))]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
