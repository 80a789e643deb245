"""Process-wide settings for the batch jobs codehotfix runs (torch-free, so the CLI can apply them
before it imports anything heavy)."""

from __future__ import annotations

import os

__all__ = ["keep_freed_memory", "release_freed_memory"]

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
    for days and would keep their peak); library users may call it themselves. A batch job that runs
    for hours through phases of different shapes (``codehotfix sequence``) calls
    ``release_freed_memory`` between phases. Does nothing (and returns False) off glibc or when
    ``CODEHOTFIX_DEFAULT_MALLOC`` is set; idempotent.
    """
    if os.environ.get("CODEHOTFIX_DEFAULT_MALLOC"):
        return False
    import ctypes

    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    # -1 turns trimming off (mallopt(3)): freed memory at the heap's top is never returned.
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, -1))


def release_freed_memory() -> bool:
    """Hands the memory malloc holds freed back to the kernel (glibc's ``malloc_trim(0)``).

    Why: with ``keep_freed_memory`` nothing freed is ever returned, and a job whose phases allocate
    differently (training, then evaluating 200 contexts, then merging 50 adapters into one) leaves
    its heap fragmented at the sum of what the phases held, not the peak of one. Seen in a
    ``codehotfix sequence`` run of 50 hotfixes on the default model (bfloat16, 24 GiB machine): the
    process grew to 24 GB resident and the kernel killed it while merging 50 adapters by SVD; in the
    next run, calling ``malloc_trim(0)`` from a debugger took it from 9.5 to 3.4 GB resident. Call it
    between phases, never inside a training loop (that would undo what ``keep_freed_memory`` saves).
    Returns False off glibc; True when memory was returned.
    """
    import ctypes

    trim = _glibc("malloc_trim", [ctypes.c_size_t])
    return trim is not None and bool(trim(0))


def _glibc(name: str, argtypes: list):
    """glibc's function ``name`` (returning int), or None off glibc (macOS, musl, Windows)."""
    import ctypes
    import ctypes.util

    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function
