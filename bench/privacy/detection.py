"""Detection precision and recall on a hand-labelled set of code lines with PII and tricky look-alikes.

    python bench/privacy/detection.py [--labelled bench/privacy/labelled.jsonl] [--out bench/results/privacy_detection.json]

Each record of ``labelled.jsonl`` is ``{"id", "text", "expect": [{"kind", "value"}], "note"}``; an
empty ``expect`` marks a negative (version strings, git remotes, example.com, decorators, UUIDs,
hashes, placeholders, loopback …). A finding is a true positive when its (kind, value) is expected
on that line, otherwise a false positive of the kind it claims; an expected item not found is a
false negative. For comparison the same set is scored with naive patterns (no filters) for
emails/IPs and detect-secrets' stock ``scan_line`` (all plugins, default filters) for keys.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from codehotfix.files import write_json
from codehotfix.privacy.detect import KINDS, DetectConfig, scan_line

HERE = Path(__file__).resolve().parent


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
        for kind, value in found:
            if (kind, value) in expected:
                tp[kind] += 1
            else:
                fp[kind] += 1
                errors.append({"id": r["id"], "type": "false_positive", "kind": kind, "value": value, "note": r["note"]})
        for kind, value in expected - found:
            fn[kind] += 1
            errors.append({"id": r["id"], "type": "false_negative", "kind": kind, "value": value, "note": r["note"]})
    per_kind = {}
    for k in KINDS:
        p = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else None
        rec = tp[k] / (tp[k] + fn[k]) if tp[k] + fn[k] else None
        per_kind[k] = {"tp": tp[k], "fp": fp[k], "fn": fn[k], "precision": p, "recall": rec}
    T, F, N = sum(tp.values()), sum(fp.values()), sum(fn.values())
    negatives = [r for r in records if not r["expect"]]
    clean = sum(1 for r in negatives if not detect(r["text"]))
    return {"per_kind": per_kind, "overall": {"tp": T, "fp": F, "fn": N, "precision": T / (T + F) if T + F else None,
                                               "recall": T / (T + N) if T + N else None},
            "negatives_clean": clean, "negatives": len(negatives), "errors": errors}


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", default=str(HERE / "labelled.jsonl"))
    ap.add_argument("--out", default=str(HERE.parent / "results" / "privacy_detection.json"))
    args = ap.parse_args(argv)
    records = [json.loads(line) for line in Path(args.labelled).read_text().splitlines() if line.strip()]
    positives = sum(1 for r in records if r["expect"])
    result = {"labelled": args.labelled, "records": len(records), "positives": positives,
              "negatives": len(records) - positives,
              "positives_by_kind": {k: sum(1 for r in records for e in r["expect"] if e["kind"] == k) for k in KINDS},
              "codehotfix": score(records, ours), "naive_baseline": score(records, naive)}
    write_json(args.out, result)
    print(f"{len(records)} labelled lines: {positives} positives, {len(records) - positives} negatives")
    print("| kind | positives | precision | recall | naive precision | naive recall |")
    print("|---|---|---|---|---|---|")
    for k in KINDS:
        o, n = result["codehotfix"]["per_kind"][k], result["naive_baseline"]["per_kind"][k]
        print(f"| {k} | {result['positives_by_kind'][k]} | {_fmt(o['precision'])} | {_fmt(o['recall'])} | "
              f"{_fmt(n['precision'])} | {_fmt(n['recall'])} |")
    o, n = result["codehotfix"]["overall"], result["naive_baseline"]["overall"]
    print(f"| all | {positives} | {_fmt(o['precision'])} | {_fmt(o['recall'])} | {_fmt(n['precision'])} | {_fmt(n['recall'])} |")
    print(f"negatives with no finding: {result['codehotfix']['negatives_clean']}/{result['codehotfix']['negatives']} "
          f"(naive: {result['naive_baseline']['negatives_clean']})")
    for e in result["codehotfix"]["errors"]:
        print(f"  {e['type']}: {e['id']} {e['kind']} {e['value']!r} ({e['note']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
