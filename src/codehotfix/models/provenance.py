"""What a result was computed with: seeds, library versions, the machine, and the cases' checksum.

These sit below training, evaluation, study and privacy (which all stamp or seed their results), so
none of them has to import ``codehotfix.api`` for them; ``api`` re-exports them unchanged.
"""

from __future__ import annotations

import json
import platform
import random
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from codehotfix.data.cases import HotfixCase
from codehotfix.files import sha256_text

__all__ = ["seed_everything", "cases_checksum", "library_versions", "machine_info"]


def seed_everything(seed: int) -> None:
    """Seeds Python's, numpy's and torch's generators (the adapter's initialisation draws from torch's)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cases_checksum(cases: Sequence[HotfixCase]) -> str:
    """sha256 of the cases' JSON, key-sorted: the same cases give the same checksum on any machine."""
    return sha256_text(json.dumps([c.to_dict() for c in cases], sort_keys=True))


# CPU features that decide how fast (and through which kernels) bf16 runs on a CPU: without
# avx512_bf16/amx_bf16 torch emulates bf16 matmuls in fp32, so timings and even greedy ties can differ.
_CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def machine_info(model: torch.nn.Module | None = None,
                 cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, object]:
    """What the numbers were computed on: CPU model and its bf16/AMX flags (from ``cpuinfo``; all false
    where the file is absent, e.g. macOS), torch's thread count and default dtype, and the dtype of
    ``model``'s weights."""
    flags: set[str] = set()
    cpu = platform.processor() or None
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags" and not flags:
                flags = set(value.split())
            elif key.strip() == "model name" and value.strip():
                cpu = value.strip()
    except OSError:
        pass
    dtype = None
    if model is not None:
        dtype = str(next((p.dtype for p in model.parameters()), getattr(model, "dtype", None)))
    return {"cpu": cpu, "machine": platform.machine(), "cpu_flags": {f: f in flags for f in _CPU_FLAGS},
            "torch_threads": torch.get_num_threads(), "torch_default_dtype": str(torch.get_default_dtype()),
            "model_dtype": dtype,
            "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def library_versions() -> dict[str, str]:
    """Versions of codehotfix, Python, torch, transformers and peft (the "versions" block of results)."""
    from importlib.metadata import PackageNotFoundError, version

    import peft
    import transformers

    try:
        own = version("codehotfix")
    except PackageNotFoundError:
        own = "unknown"
    return {"codehotfix": own, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__}
