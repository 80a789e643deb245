"""Process-wide settings for the batch jobs codehotfix runs (torch-free, so the CLI can apply them
before it imports anything heavy)."""

from __future__ import annotations

import os

__all__ = ["keep_freed_memory"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory for reuse instead of returning it to the kernel.

    Why: every training step and scoring batch allocates tensors of hundreds of MB (logits over a
    152k vocabulary in float32) and frees them. By default glibc serves each allocation above 32 MB
    with a fresh ``mmap`` and unmaps it when freed, so the next step faults in and zeroes every page
    again: on the 2-core reference CPU a quarter of the process's CPU time went to the kernel. With
    mmap off and no trimming, the heap keeps the pages and the next step reuses them. Measured on the
    default model, bfloat16, 2-core AVX512-BF16 CPU: ``python -m bench.profile_step`` (2 runs each,
    bench/results/profile_step_malloc_{default,kept}_{1,2}.json) a training step 22.4-23.3 s →
    19.3-21.3 s; the demo (docs/speed.md) 627 → 526 s, the same adapter bytes and records. Applied
    after torch is imported it saved about half as much, so the CLI applies it first. The resident
    set stays near its peak instead of shrinking between steps (+0.5-1 GB there).

    Process-wide, so the CLI calls it for its batch commands (not for ``serve``/``watch``, which run
    for days and would keep their peak); library users may call it themselves. Does nothing (and
    returns False) off glibc or when ``CODEHOTFIX_DEFAULT_MALLOC`` is set; idempotent.
    """
    if os.environ.get("CODEHOTFIX_DEFAULT_MALLOC"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # -1 turns trimming off (mallopt(3)): freed memory at the heap's top is never returned.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))
