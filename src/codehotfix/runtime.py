"""Process-wide settings for the batch jobs codehotfix runs (torch-free, so the CLI can apply them
before it imports anything heavy)."""

from __future__ import annotations

import os

__all__ = ["KEEP_FREED_MEMORY_ENV", "keep_freed_memory", "keep_freed_memory_if_asked"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4

# Opt-in: the CLI's batch commands apply keep_freed_memory only when this is set (to anything).
KEEP_FREED_MEMORY_ENV = "CODEHOTFIX_KEEP_FREED_MEMORY"


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory for reuse instead of returning it to the kernel.

    What it buys: every training step and scoring batch allocates tensors of hundreds of MB (logits
    over a 152k vocabulary in float32) and frees them. By default glibc serves each allocation above
    32 MB with a fresh ``mmap`` and unmaps it when freed, so the next step faults in and zeroes every
    page again. With mmap off and no trimming, the heap keeps the pages. Measured on the default
    model, bfloat16, 2-core AVX512-BF16 CPU (docs/speed.md): a demo training step 22.4-23.3 s →
    19.3-21.3 s, the demo 627 → 526 s.

    What it risks, and why it is opt-in: all of those tensors then live on one heap, and batches of
    changing shapes fragment it. The training of a 64-step study cell (512 Java fixes, 128-token
    contexts) grew from 9 to 12.6 GB at its 24th step and was killed for memory (24 GB) during its
    28th, twice; with glibc's default the 512-fix cells peak at 10-13 GB, evaluation included
    (bench/results/malloc_rss/). A ``malloc_trim`` after every step bounded it (about 2 GB between
    steps) but lost the gain (steps 2-14: 263 s against 178 s kept). So use it for short runs on
    machines with memory to spare: the CLI applies it when
    ``CODEHOTFIX_KEEP_FREED_MEMORY`` is set (``keep_freed_memory_if_asked``).

    Process-wide and irreversible for the process; call it before torch is imported (applied after,
    it saved about half as much). Returns False off glibc (macOS, musl, Windows); idempotent.
    """
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


def keep_freed_memory_if_asked() -> bool:
    """``keep_freed_memory()`` when ``CODEHOTFIX_KEEP_FREED_MEMORY`` is set; else nothing (False)."""
    return bool(os.environ.get(KEEP_FREED_MEMORY_ENV)) and keep_freed_memory()
