"""Select the lines of the held-out detection set (``heldout.jsonl``) from real installed code.

    python bench/privacy/build_heldout.py                  # (re)select; keeps the labels of lines still selected
    python bench/privacy/build_heldout.py --check          # exit 1 if the selection no longer matches the file

``labelled.jsonl`` was written by hand while the detector was developed, so its numbers are
development numbers. This set comes from code nobody looked at while writing the detector: the
sources of installed third-party packages and of the Python standard library (``SOURCES``). The
selection rule was fixed before the detector was run on any of it:

1. every ``.py`` file under ``SOURCES`` (sorted), decoded as UTF-8 (files that are not are skipped);
2. their lines, right-stripped, non-blank, at most 300 characters, deduplicated on the stripped text
   (the first occurrence in file order is kept, so a licence header counts once);
3. for each stratum in ``STRATA`` in order, ``random.Random(SEED)`` samples ``n`` of the lines its
   broad candidate regex matches and that no earlier stratum took (the regexes over-match on
   purpose: they find the lines where PII could be, not PII);
4. then ``RANDOM_LINES`` lines drawn uniformly from all remaining lines (almost all negatives: the
   false-positive rate on ordinary code);
5. then a second round (``ROUND2``), drawn by the same generator after step 4: more lines of the
   email and IPv4 strata. It was added after labelling the first 180 lines by hand found only 31
   with PII (and none with a key), and before the detector had been run on any of them; appending
   it keeps the first round's lines and labels as they were.

Each record is ``{"id": "<package>/<path in package>:<line>", "text", "expect", "note"}`` (the
standard library's package is ``stdlib``); ``note`` starts with the stratum. ``expect`` is written
by hand (the labelling rule is in docs/privacy.md, "Held-out detection"); a newly selected line
gets ``"expect": null`` and ``detection.py`` refuses to score a file with unlabelled lines. The
package versions the selection was drawn from go to ``heldout.manifest.json``: another version
selects other lines, and ``--check`` says so.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from codehotfix.files import atomic_write_text, write_json

HERE = Path(__file__).resolve().parent
SEED = 0
MAX_CHARS = 300
RANDOM_LINES = 40

# Third-party packages with mail, network, auth or author-header code; none is cited in
# labelled.jsonl or tests/privacy, and detect-secrets (the detector's own dependency) is left out.
PACKAGES = ("requests", "urllib3", "idna", "werkzeug", "h11", "httpx", "uvicorn", "starlette",
            "prometheus_client", "psutil", "dateutil", "pygments", "markdown", "mpmath", "networkx", "tqdm",
            "jinja2", "pyparsing")
# Standard-library modules and tests about mail, addresses, sockets, TLS, URLs and credentials.
STDLIB = ("email", "smtplib.py", "imaplib.py", "poplib.py", "ftplib.py", "ipaddress.py", "socket.py", "ssl.py",
          "urllib", "http", "mailbox.py", "netrc.py", "test/test_email", "test/test_ipaddress.py",
          "test/test_smtplib.py", "test/test_urlparse.py", "test/test_socket.py", "test/test_ssl.py",
          "test/test_imaplib.py", "test/test_hmac.py", "test/test_netrc.py", "test/test_httplib.py",
          "test/test_urllib2.py", "test/test_mailbox.py", "test/test_poplib.py", "test/test_ftplib.py")

ROUND2 = (("email", 40), ("ipv4", 25))  # (stratum, more lines)
STRATA = (  # (name, lines sampled, candidate regex)
    ("email", 40, re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("ipv4", 35, re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w])")),
    ("ipv6", 20, re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")),
    ("secret_assignment", 25, re.compile(
        r"(?i)(?:key|token|secret|passw\w*|pwd|auth\w*|credential)\w*['\"]?\s*[:=]\s*[rbuf]?['\"][^'\"]{8,}")),
    ("long_string", 20, re.compile(r"['\"][A-Za-z0-9+/=_-]{24,}['\"]")),
)


def sources(site: Path, stdlib: Path) -> list[tuple[str, Path, Path]]:
    """(package label, package root, file) for every selected ``.py`` file, in a fixed order."""
    out = []
    for pkg in PACKAGES:
        root = site / pkg
        if not root.is_dir():
            raise SystemExit(f"build_heldout: package folder {root} not found (is the venv complete?)")
        out += [(pkg, root, f) for f in sorted(root.rglob("*.py"))]
    for rel in STDLIB:
        p = stdlib / rel
        if not p.exists():
            raise SystemExit(f"build_heldout: standard-library path {p} not found")
        out += [("stdlib", stdlib, f) for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p])]
    return out


def candidate_lines(files: list[tuple[str, Path, Path]]) -> list[tuple[str, str]]:
    """(id, text) of every usable line, deduplicated on the stripped text."""
    seen: set[str] = set()
    out = []
    for pkg, root, f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        rel = f.relative_to(root).as_posix()
        for i, line in enumerate(text.splitlines(), 1):
            line = line.rstrip()
            key = line.strip()
            if not key or len(line) > MAX_CHARS or key in seen:
                continue
            seen.add(key)
            out.append((f"{pkg}/{rel}:{i}", line))
    return out


def select(lines: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(stratum, id, text) of the sample, strata in order, each in file order."""
    rng = random.Random(SEED)
    taken: set[str] = set()
    out = []
    for name, n, rx in STRATA:
        pool = [(i, t) for i, t in lines if i not in taken and rx.search(t)]
        picked = sorted(rng.sample(range(len(pool)), min(n, len(pool))))
        for k in picked:
            taken.add(pool[k][0])
            out.append((name, *pool[k]))
    pool = [(i, t) for i, t in lines if i not in taken]
    for k in sorted(rng.sample(range(len(pool)), RANDOM_LINES)):
        taken.add(pool[k][0])
        out.append(("random", *pool[k]))
    regex = {name: rx for name, _, rx in STRATA}
    for name, n in ROUND2:
        pool = [(i, t) for i, t in lines if i not in taken and regex[name].search(t)]
        for k in sorted(rng.sample(range(len(pool)), min(n, len(pool)))):
            taken.add(pool[k][0])
            out.append((f"{name} (round 2)", *pool[k]))
    return out


def manifest(site: Path, stdlib: Path, n_files: int, n_lines: int) -> dict:
    versions = {}
    for pkg in PACKAGES:
        dist = {"dateutil": "python-dateutil", "prometheus_client": "prometheus-client"}.get(pkg, pkg)
        versions[pkg] = metadata.version(dist)
    return {"seed": SEED, "max_chars": MAX_CHARS, "random_lines": RANDOM_LINES,
            "round2": [{"name": n, "lines": k} for n, k in ROUND2],
            "strata": [{"name": n, "lines": k, "regex": rx.pattern} for n, k, rx in STRATA],
            "packages": versions, "python": sys.version.split()[0], "stdlib": list(STDLIB),
            "site_packages": str(site), "stdlib_dir": str(stdlib), "files": n_files, "usable_lines": n_lines}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site-packages", default=sysconfig.get_paths()["purelib"])
    ap.add_argument("--stdlib", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--out", default=str(HERE / "heldout.jsonl"))
    ap.add_argument("--check", action="store_true", help="Only compare the selection with --out.")
    args = ap.parse_args(argv)
    site, stdlib, out = Path(args.site_packages), Path(args.stdlib), Path(args.out)
    files = sources(site, stdlib)
    lines = candidate_lines(files)
    chosen = select(lines)
    old = {}
    if out.exists():
        for n, line in enumerate(out.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                rec = json.loads(line)
                old[rec["id"]] = rec
    if args.check:
        same = [(i, t) for _, i, t in chosen] == [(r["id"], r["text"]) for r in old.values()]
        print(f"{out}: {'matches' if same else 'does NOT match'} the selection rule on this machine "
              f"({len(chosen)} lines selected, {len(old)} in the file)")
        return 0 if same else 1
    records = []
    for stratum, i, text in chosen:
        prev = old.get(i)
        if prev is not None and prev["text"] == text:
            records.append(prev)
        else:
            records.append({"id": i, "text": text, "expect": None, "note": stratum})
    atomic_write_text(out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    write_json(out.with_suffix(".manifest.json"), manifest(site, stdlib, len(files), len(lines)))
    unlabelled = sum(r["expect"] is None for r in records)
    print(f"wrote {out}: {len(records)} lines from {len(files)} files ({len(lines)} usable lines), "
          f"{unlabelled} unlabelled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
