"""When each file of a `codehotfix sequence` folder was written: the run's cost per training and per
measured step, read from modification times, since the adapters themselves are not committed.

    python -m bench.sequence_timeline bench/results/sequence_n50      # adds to timeline.json there

Keys: ``ledger`` (sequence.json), ``base`` (base.json), ``single``/``continual``/``retrained``
(adapter folder k: its hotfix.json, written last), ``step_<k>`` (per strategy, its step file).
Entries already in timeline.json are kept as they are: the ledger is rewritten each time the run
resumes, and a resumed run's times are new entries, not corrections of the first ones. Times are
UTC epoch seconds on the run's disk, so they are only meaningful on the machine that ran it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Sequence

from codehotfix.files import read_json, write_json

NAME = "timeline.json"


def read_times(folder: Path) -> dict[str, Any]:
    """The modification times of the sequence in ``folder`` (see the module doc for the keys)."""
    out: dict[str, Any] = {}
    for key, name in (("ledger", "sequence.json"), ("base", "base.json")):
        if (folder / name).exists():
            out[key] = round((folder / name).stat().st_mtime, 1)
    for kind in ("single", "continual", "retrained"):
        for manifest in sorted((folder / "adapters" / kind).glob("*/hotfix.json")):
            step = int(re.match(r"\d+", manifest.parent.name).group())
            out.setdefault(kind, {})[str(step)] = round(manifest.stat().st_mtime, 1)
    for step_file in sorted(folder.glob("*/step-*.json")):
        step = int(step_file.stem.split("-")[1])
        out.setdefault(f"step_{step}", {})[step_file.parent.name] = round(step_file.stat().st_mtime, 1)
    return out


def merge(held: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``held`` with what ``new`` adds; a value ``held`` has is never replaced."""
    out = dict(held)
    for key, value in new.items():
        if isinstance(value, dict):
            out[key] = {**value, **held.get(key, {})}
        else:
            out.setdefault(key, value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a codehotfix sequence --out folder")
    args = parser.parse_args(argv)
    path = args.folder / NAME
    held = read_json(path) if path.exists() else {}
    doc = merge(held, read_times(args.folder))
    doc["about"] = held.get("about", "when each file or adapter folder of this run was written: modification "
                            "times on the run's disk, UTC epoch seconds (the adapter folders are not committed)")
    write_json(path, doc)
    print(f"{path}: {sum(len(v) if isinstance(v, dict) else 1 for k, v in doc.items() if k != 'about')} times")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
