"""One cgroup leaf per run: the memory and process limits of the whole run, its OOM kills, and a way
to kill every process of the run and wait until they are gone.

cgroup v2 is used where a folder with the memory and pids controllers delegated to its children is
found (the evaluator's own cgroup or its parent); otherwise cgroup v1 (memory and pids hierarchies,
each under the evaluator's own cgroup there). Needs root. ``create`` returns None when neither works;
the caller then falls back to per-process rlimits and says so in ``SandboxResult.isolation``.
"""

from __future__ import annotations

import functools
import itertools
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunCgroup", "create"]

_COUNTER = itertools.count()


@dataclass(frozen=True)
class _Layout:
    version: int
    parents: tuple[Path, ...]  # where run leaves are made: v2 one folder; v1 one per controller
    controllers: tuple[str, ...]


@dataclass
class RunCgroup:
    """The cgroup folders of one run (v2: one; v1: one per controller)."""

    version: int
    dirs: dict[str, Path]  # controller ("memory", "pids", or "unified") -> folder

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def describe(self, memory_bytes: int, max_tasks: int) -> list[str]:
        mb = memory_bytes >> 20
        if self.version == 2:
            return [f"cgroup-v2 (memory.max={mb} MB, memory.swap.max=0, pids.max={max_tasks}, per run)"]
        out = []
        if "memory" in self.dirs:
            swap = ", memsw" if (self.dirs["memory"] / "memory.memsw.limit_in_bytes").exists() else ""
            out.append(f"cgroup-v1 memory (limit {mb} MB{swap}, per run)")
        if "pids" in self.dirs:
            out.append(f"cgroup-v1 pids (pids.max={max_tasks}, per run)")
        return out

    def pids(self) -> set[int]:
        found = set()
        for path in self.procs_files:
            try:
                with open(path, encoding="ascii") as f:
                    found.update(int(line) for line in f if line.strip())
            except OSError:
                continue
        return found

    def kill_all(self, timeout_s: float = 10.0) -> bool:
        """SIGKILLs every process of the run until none is left; False if some outlived the timeout."""
        kill_file = self.dirs.get("unified", Path("/nonexistent")) / "cgroup.kill"
        if kill_file.exists():  # v2 (Linux 5.14+): one write kills them all, forks included
            _write(kill_file, "1")
        deadline = time.monotonic() + timeout_s
        delay = 0.001
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:  # repeat: a process may fork between the read and the kill
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    def memory_report(self) -> tuple[int, int | None]:
        """(OOM kills in the run, peak memory in bytes or None), read from the kernel's counters."""
        folder = self.dirs.get("unified") or self.dirs.get("memory")
        if folder is None:
            return 0, None
        name, peak = ("memory.events", "memory.peak") if self.version == 2 else \
                     ("memory.oom_control", "memory.max_usage_in_bytes")
        kills = 0
        try:
            for line in (folder / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    kills = int(value)
        except OSError:
            pass
        try:
            peak_bytes = int((folder / peak).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            peak_bytes = None
        return kills, peak_bytes

    def remove(self) -> None:
        for _ in range(100):
            for folder in list(self.dirs.values()):
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:  # EBUSY while a process is still exiting
                    self.kill_all(timeout_s=0.1)
                    continue
            if not any(d.exists() for d in self.dirs.values()):
                return
            time.sleep(0.01)


def create(memory_bytes: int, max_tasks: int) -> RunCgroup | None:
    """A new leaf with ``memory_bytes`` (no swap) and ``max_tasks`` (processes and threads), or None
    when the machine offers no usable cgroup (not root, no controllers)."""
    layout = _layout()
    if layout is None:
        return None
    name = f"codehotfix-{os.getpid()}-{next(_COUNTER)}-{secrets.token_hex(3)}"
    if layout.version == 2:
        group = RunCgroup(2, {"unified": layout.parents[0] / name})
        settings = {"unified": [("memory.max", memory_bytes), ("memory.swap.max", 0), ("pids.max", max_tasks)]}
    else:
        group = RunCgroup(1, {c: p / name for c, p in zip(layout.controllers, layout.parents)})
        # memsw (memory + swap) exists only with swap accounting; it must be set after the plain limit.
        settings = {"memory": [("memory.limit_in_bytes", memory_bytes), ("memory.memsw.limit_in_bytes", memory_bytes)],
                    "pids": [("pids.max", max_tasks)]}
    required = {"memory.max", "memory.limit_in_bytes", "pids.max"}
    try:
        for controller, folder in group.dirs.items():
            folder.mkdir(mode=0o700)
            for key, value in settings[controller]:
                if key in required or (folder / key).exists():
                    _write(folder / key, str(value))
    except OSError:
        group.remove()
        return None
    return group


def _write(path: Path, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


def _own_cgroups() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    own = {}
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                own[c] = path
    return own


def _cgroup_mounts() -> dict[str, Path]:
    """controller (or "" for the v2 mount) -> its mount point."""
    mounts = {}
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _, options = right.split()[:3]
            point = Path(left.split()[4])
            if fstype == "cgroup2":
                mounts.setdefault("", point)
            elif fstype == "cgroup":
                for opt in options.split(","):
                    mounts.setdefault(opt, point)
    return mounts


def _inside(mount: Path, path: str) -> Path:
    candidate = mount / path.lstrip("/")
    return candidate if candidate.is_dir() else mount  # a cgroup namespace hides the outer path


@functools.lru_cache(maxsize=1)
def _layout() -> _Layout | None:
    if os.geteuid() != 0:
        return None
    try:
        own, mounts = _own_cgroups(), _cgroup_mounts()
    except (OSError, ValueError):
        return None
    if "" in mounts and "" in own:
        mine = _inside(mounts[""], own[""])
        for parent in (mine, mine.parent):
            try:
                delegated = (parent / "cgroup.subtree_control").read_text().split()
            except OSError:
                continue
            if {"memory", "pids"} <= set(delegated):
                return _Layout(2, (parent,), ("memory", "pids"))
    found = [(c, _inside(mounts[c], own.get(c, "/"))) for c in ("memory", "pids") if c in mounts]
    if not found:
        return None
    return _Layout(1, tuple(p for _, p in found), tuple(c for c, _ in found))
