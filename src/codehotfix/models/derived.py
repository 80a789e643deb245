"""Results computed from one base model's weights, kept beside its converted copy across runs.

What a run computes from the base model alone (no hotfix) comes out the same in the next run on the
same weights, machine and code: the kl_corpus reference (``training.retain.RetainReference``, tensors)
and the demo's target selection and base evaluation (``recipes.demo``, JSON results). Both live in the
copy's ``derived/`` folder (``models.loading.derived_folder``), so they go when the copy goes, and each
entry is filed under everything that sets its bits: ``machine_identity`` (dtype, device, CPU, threads,
library versions) and, for results that codehotfix's own code computes, ``code_digest``, so that a
result is never served to another version of the code that would compute it otherwise.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from codehotfix.files import atomic_path, read_json, write_json
from codehotfix.models.provenance import machine_info

__all__ = ["machine_identity", "code_digest", "ResultStore", "StoredResult"]

logger = logging.getLogger(__name__)

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the codehotfix package (this is models/derived.py)


def machine_identity(model: Any) -> dict[str, Any]:
    """What besides the weights and the inputs sets the bits of what ``model`` computes: its dtype and
    device, the CPU (bfloat16 kernels differ between CPUs, so near-ties flip), the GPU where it runs on
    one, torch's thread count (it splits the reductions) and the torch/transformers versions."""
    import torch
    import transformers

    param = next(model.parameters())
    machine = machine_info()
    return {"dtype": str(param.dtype), "device": param.device.type, "cpu": machine["cpu"],
            "threads": torch.get_num_threads(),
            "gpu": machine["cuda_device"] if param.device.type == "cuda" else None,
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the codehotfix package's Python sources (file names and bytes), read once a process.

    Any edit of the code, an upgrade or a local change alike, gives another digest: a stored result
    is reused only by the code that computed it. Docs, configs and tests are not part of it.
    """
    h = hashlib.sha256()
    for path in sorted(_PACKAGE_ROOT.rglob("*.py")):
        h.update(path.relative_to(_PACKAGE_ROOT).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass
class StoredResult:
    """One entry read from a ``ResultStore``: the result as it was computed, when, in how long."""

    key: str
    result: dict[str, Any]
    seconds: float
    created: str

    def provenance(self) -> dict[str, Any]:
        """What a run records of a result it read instead of computing."""
        return {"key": self.key, "computed_seconds": self.seconds, "computed_at": self.created}


class ResultStore:
    """JSON results (with files beside them) filed under the hash of their identity.

    Args:
        folder: the store's folder, inside one base model's ``derived/`` folder.

    An entry is ``<key>.json`` (format, identity, seconds, creation time, the result, its files' names)
    plus ``<key>.<name>`` for each file. The files are written before the JSON, each atomically, so an
    entry whose JSON exists is whole. An unreadable entry, or one whose identity differs from the one
    asked for (a hash collision, or a hand-edited file), is named in a warning and counts as absent:
    the caller computes the result again and the entry is rewritten.
    """

    FORMAT = 1

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def key(self, identity: Mapping[str, Any]) -> str:
        return hashlib.sha256(_canonical(identity).encode()).hexdigest()[:24]

    def get(self, identity: Mapping[str, Any], files: Mapping[str, Path] | None = None) -> StoredResult | None:
        """The entry for ``identity``, or None. Its files (those the computation wrote, a subset of
        ``files``' names) are copied to their paths in ``files`` (name → path)."""
        key = self.key(identity)
        path = self.folder / f"{key}.json"
        if not path.is_file():
            return None
        try:
            entry = read_json(path)
            ok = (isinstance(entry, dict) and entry.get("format") == self.FORMAT
                  and _canonical(entry.get("identity")) == _canonical(identity)
                  and isinstance(entry.get("result"), dict))
        except (OSError, ValueError) as e:
            logger.warning("%s: unreadable stored result (%s); computing it again", path, e)
            return None
        if not ok:
            logger.warning("%s: not the stored result asked for (format or identity differ); computing it again", path)
            return None
        wanted, held = dict(files or {}), list(entry.get("files") or [])
        if not set(held) <= set(wanted):
            logger.warning("%s: stored with files %s, asked for %s; computing it again", path, held, sorted(wanted))
            return None
        sources = {name: self.folder / f"{key}.{name}" for name in held}
        missing = [str(p) for p in sources.values() if not p.is_file()]
        if missing:
            logger.warning("%s: its file(s) %s are missing; computing it again", path, ", ".join(missing))
            return None
        for name, source in sources.items():
            with atomic_path(wanted[name]) as tmp:
                shutil.copyfile(source, tmp)
        return StoredResult(key=key, result=entry["result"], seconds=float(entry.get("seconds", 0.0)),
                            created=str(entry.get("created", "")))

    def put(self, identity: Mapping[str, Any], result: Mapping[str, Any], seconds: float,
            files: Mapping[str, Path] | None = None) -> Path:
        """Files ``result`` (and a copy of each of ``files``) under ``identity``; returns the JSON's path."""
        key = self.key(identity)
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, source in (files or {}).items():
            with atomic_path(self.folder / f"{key}.{name}") as tmp:
                shutil.copyfile(source, tmp)
        entry = {"format": self.FORMAT, "identity": json.loads(_canonical(identity)), "seconds": round(seconds, 2),
                 "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": sorted(files or {}), "result": dict(result)}
        return write_json(self.folder / f"{key}.json", entry)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
