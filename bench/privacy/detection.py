"""Detection precision and recall on a hand-labelled set of code lines with PII and tricky look-alikes.

    python bench/privacy/detection.py [--labelled bench/privacy/labelled.jsonl] [--out bench/results/privacy_detection.json]
    python bench/privacy/detection.py --labelled bench/privacy/heldout.jsonl --out bench/results/privacy_detection_heldout.json

Each record of ``labelled.jsonl`` is ``{"id", "text", "expect": [{"kind", "value"}], "note"}``; an
empty ``expect`` marks a negative (version strings, git remotes, example.com, decorators, UUIDs,
hashes, placeholders, loopback …). A finding is a true positive when its (kind, value) is expected
on that line, otherwise a false positive of the kind it claims; an expected item not found is a
false negative. For comparison the same set is scored with naive patterns (no filters) for
emails/IPs and detect-secrets' stock ``scan_line`` (all plugins, default filters) for keys.

``labelled.jsonl`` is the set the detector was developed on; ``heldout.jsonl`` (``build_heldout.py``)
is real installed code it never saw. Precision and recall come with 95% Wilson intervals
(``stats.wilson_interval``): over findings for precision, over expected values for recall.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from codehotfix.evaluation.stats import wilson_interval
from codehotfix.data.cases import iter_jsonl
from codehotfix.errors import DataError
from codehotfix.files import write_json
from codehotfix.privacy.detect import KINDS, DetectConfig, scan_line

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def ours(text: str) -> list[tuple[str, str]]:
    return [(kind, hit.value) for kind, hit in scan_line(text, DetectConfig())]


def naive(text: str) -> list[tuple[str, str]]:
    """What a first attempt would do: plain patterns, and detect-secrets as shipped for keys."""
    from detect_secrets.core.scan import scan_line as ds_scan_line
    from detect_secrets.settings import default_settings

    out = [("email", m) for m in re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", text)]
    out += [("ipv4", m) for m in re.findall(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", text)]
    for tok in re.findall(r"[0-9A-Fa-f:]*:[0-9A-Fa-f:]+", text):
        try:
            ipaddress.IPv6Address(tok)
            out.append(("ipv6", tok))
        except ValueError:
            pass
    with default_settings():
        out += [("key", s.secret_value) for s in ds_scan_line(text) if s.type != "Public IP (ipv4)"]
    return out


def score(records: list[dict], detect) -> dict:
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    errors = []
    for r in records:
        expected = {(e["kind"], e["value"]) for e in r["expect"]}
        found = set(detect(r["text"]))
        for kind, value in sorted(found):  # sorted: the errors list is the same on every run
            if (kind, value) in expected:
                tp[kind] += 1
            else:
                fp[kind] += 1
                errors.append({"id": r["id"], "type": "false_positive", "kind": kind, "value": value, "note": r["note"]})
        for kind, value in sorted(expected - found):
            fn[kind] += 1
            errors.append({"id": r["id"], "type": "false_negative", "kind": kind, "value": value, "note": r["note"]})
    per_kind = {k: _rates(tp[k], fp[k], fn[k]) for k in KINDS}
    negatives = [r for r in records if not r["expect"]]
    clean = sum(1 for r in negatives if not detect(r["text"]))
    return {"per_kind": per_kind, "overall": _rates(sum(tp.values()), sum(fp.values()), sum(fn.values())),
            "negatives_clean": clean, "negatives": len(negatives), "errors": errors}


def _rates(tp: int, fp: int, fn: int) -> dict:
    """Precision and recall with their Wilson intervals; None where nothing was found or expected."""
    def rate(k: int, n: int) -> tuple[float | None, list[float] | None]:
        return (k / n, list(wilson_interval(k, n))) if n else (None, None)

    p, p_ci = rate(tp, tp + fp)
    r, r_ci = rate(tp, tp + fn)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "precision_ci95": p_ci, "recall": r, "recall_ci95": r_ci}


def read_labelled(path: str | Path) -> list[dict]:
    """The labelled records, checked: every line a JSON object with an id, a text and a labelled
    ``expect`` list of {kind, value} (``null`` = not labelled yet: ``build_heldout.py`` output)."""
    records = []
    try:
        lines = list(iter_jsonl(path))  # the project's JSONL reader: errors name the file and line
    except DataError as e:
        raise SystemExit(str(e)) from None
    for where, r in lines:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not isinstance(r.get("text"), str):
            raise SystemExit(f"{where}: expected an object with string fields 'id' and 'text'")
        if r.get("expect") is None:
            raise SystemExit(f"{where}: {r['id']} is not labelled yet ('expect' is null)")
        bad = [e for e in r["expect"] if not isinstance(e, dict) or e.get("kind") not in KINDS
               or not isinstance(e.get("value"), str)]
        if bad:
            raise SystemExit(f"{where}: field 'expect': {bad[0]!r} is not {{kind: one of {', '.join(KINDS)}, value}}")
        r.setdefault("note", "")
        records.append(r)
    return records


def _fmt(x, ci=None) -> str:
    if x is None:
        return "n/a"
    return f"{x:.3f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", default=str(HERE / "labelled.jsonl"))
    ap.add_argument("--out", default=str(HERE.parent / "results" / "privacy_detection.json"))
    args = ap.parse_args(argv)
    records = read_labelled(args.labelled)
    positives = sum(1 for r in records if r["expect"])
    labelled = Path(args.labelled).resolve()
    # Recorded relative to the checkout, so the result file does not depend on where it lives.
    name = str(labelled.relative_to(ROOT)) if labelled.is_relative_to(ROOT) else str(labelled)
    result = {"labelled": name, "records": len(records), "positives": positives,
              "negatives": len(records) - positives,
              "positives_by_kind": {k: sum(1 for r in records for e in r["expect"] if e["kind"] == k) for k in KINDS},
              "codehotfix": score(records, ours), "naive_baseline": score(records, naive)}
    write_json(args.out, result)
    print(f"{len(records)} labelled lines: {positives} positives, {len(records) - positives} negatives")
    print("| kind | positives | precision | recall | naive precision | naive recall |")
    print("|---|---|---|---|---|---|")
    for k in KINDS:
        o, n = result["codehotfix"]["per_kind"][k], result["naive_baseline"]["per_kind"][k]
        print(f"| {k} | {result['positives_by_kind'][k]} | {_fmt(o['precision'], o['precision_ci95'])} | "
              f"{_fmt(o['recall'], o['recall_ci95'])} | "
              f"{_fmt(n['precision'])} | {_fmt(n['recall'])} |")
    o, n = result["codehotfix"]["overall"], result["naive_baseline"]["overall"]
    print(f"| all | {positives} | {_fmt(o['precision'], o['precision_ci95'])} | {_fmt(o['recall'], o['recall_ci95'])} | "
          f"{_fmt(n['precision'])} | {_fmt(n['recall'])} |")
    print(f"negatives with no finding: {result['codehotfix']['negatives_clean']}/{result['codehotfix']['negatives']} "
          f"(naive: {result['naive_baseline']['negatives_clean']})")
    for e in result["codehotfix"]["errors"]:
        print(f"  {e['type']}: {e['id']} {e['kind']} {e['value']!r} ({e['note']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
