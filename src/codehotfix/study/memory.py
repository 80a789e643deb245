"""Peak memory of a study cell: the process's resident set size, sampled in a background thread.

``resource.getrusage`` only gives the peak since the process started, which after the first cell
says nothing about later ones; so a daemon thread reads ``/proc/self/statm`` every ``interval``
seconds while the cell runs and keeps the maximum. Short spikes between two samples can be missed
(at 0.1 s, rarely by much: allocations of a training step last longer than that). Where
``/proc`` is missing (macOS) the lifetime peak from ``getrusage`` is reported instead, and
``method`` says which one a number is. On CUDA the allocator's own peak is recorded as well.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from typing import Any

import torch

__all__ = ["PeakMemory", "rss_mb"]

_STATM = "/proc/self/statm"


def rss_mb() -> float | None:
    """This process's current resident memory in MiB (None without ``/proc``)."""
    try:
        with open(_STATM, encoding="ascii") as f:
            resident_pages = int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _lifetime_peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class PeakMemory:
    """Context manager: ``with PeakMemory() as mem: …`` then ``mem.result()``.

    Args:
        interval: seconds between samples.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.start_mb: float | None = None
        self.peak_mb: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        value = rss_mb()
        if value is not None and (self.peak_mb is None or value > self.peak_mb):
            self.peak_mb = value

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self.start_mb = rss_mb()
        self._sample()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread = threading.Thread(target=self._watch, name="codehotfix-peak-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def result(self) -> dict[str, Any]:
        """{"peak_rss_mb", "start_rss_mb", "method", "interval_s", "cuda_peak_mb"} (MiB, 1 decimal)."""
        sampled = self.peak_mb is not None
        peak = self.peak_mb if sampled else _lifetime_peak_mb()
        out = {"peak_rss_mb": round(peak, 1),
               "start_rss_mb": round(self.start_mb, 1) if self.start_mb is not None else None,
               "method": "sampled /proc/self/statm" if sampled else "getrusage lifetime peak",
               "interval_s": self.interval, "cuda_peak_mb": None}
        if torch.cuda.is_available():
            out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        return out
