"""The only place generated code runs: one program per subprocess, limited, isolated, reported as data.

Usage::

    from codehotfix.evaluation.sandbox import run_program, run_many
    result = run_program("assert 1 + 1 == 2", timeout_s=3, memory_mb=512)
    result.status            # SandboxStatus.PASSED
    results = run_many(programs, workers=4, timeout_s=3, memory_mb=512)   # one result per program

How one program runs. The evaluator starts a small trusted launcher (this file, run as
``python -I -S sandbox.py SPEC``) in a new session, so the launcher and everything below it share one
process group. The launcher, still privileged:

1. unshares new mount, PID, network, IPC and UTS namespaces (as root; otherwise it tries the same
   inside a new user namespace);
2. in the new mount namespace makes every mount read-only and ``nosuid`` and bind-mounts a fresh
   temporary working folder as the only writable place; an interpreter under a folder other users
   cannot enter (pyenv under /root) is bind-mounted back over a tmpfs that hides the rest of it;
3. forks a supervisor that is PID 1 of the new PID namespace and mounts a fresh ``/proc`` there;
4. the supervisor forks the program's process, which sets rlimits (CPU seconds, address space,
   processes, file size, open files, no core files), sets ``no_new_privs``, drops to an unprivileged
   uid (as root: a uid of its own per concurrent run, from ``UID_BASE``), changes to the working folder
   and execs ``python -I -S -B program.py`` with a scrubbed environment (PATH, HOME and TMPDIR only).

The evaluator waits at most ``timeout_s`` of wall time, then SIGKILLs the whole process group; when
the supervisor (PID 1) dies, the kernel kills everything left in the PID namespace, so programs that
called ``setsid`` or forked cannot outlive the run. The working folder is removed afterwards.

What each mechanism buys, as root on Linux (verified by tests/evaluation/test_sandbox.py):
    no network (empty network namespace: even 127.0.0.1 and DNS fail), no writes outside the working
    folder (read-only mounts; the program is not root), no signals to processes outside the run
    (PID namespace + different uid), fork bombs capped by RLIMIT_NPROC (per-run uid) and torn down
    with the namespace, memory capped by RLIMIT_AS (Python raises MemoryError, reported as KILLED).

Limits, plainly: this is a best-effort process sandbox, not a VM or container runtime. It shares
the host kernel (a kernel exploit escapes it), it can read every world-readable file, it does not
filter system calls (no seccomp) and has no cgroup limits, so CPU and disk bandwidth are shared.
The uids ``UID_BASE .. UID_BASE + UID_COUNT`` are shared by all evaluator processes on the machine
(RLIMIT_NPROC then counts their runs together). Without root it relies on an unprivileged user
namespace (the program keeps the evaluator's uid); without namespaces it degrades further:
``SandboxResult.isolation`` lists exactly what was in force; with no network namespace the network
is only disabled by patching ``socket`` in a prelude (a program importing ``_socket`` bypasses it);
with no mount namespace the program can write wherever its uid can (/tmp included); and as the
evaluator's own uid without a PID namespace it could signal the evaluator. Results are data (a
status and a message), never exceptions: a program cannot make the evaluator raise.
"""

from __future__ import annotations

import enum
import json
import os
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

__all__ = ["SandboxStatus", "SandboxResult", "run_program", "run_many", "UID_BASE", "UID_COUNT"]

# Each concurrent run as root gets its own uid, so RLIMIT_NPROC counts only that run's processes.
UID_BASE = 61000
UID_COUNT = 64
_TAIL_CHARS = 4000
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class SandboxStatus(str, enum.Enum):
    """How a program ended. KILLED covers the memory limit and fatal signals; ERROR means the sandbox
    itself failed (the program may not have run), which callers should treat as an invalid run."""

    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    KILLED = "killed"
    ERROR = "error"


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one program: status, one-line message, wall seconds, and what was isolated."""

    status: SandboxStatus
    message: str
    duration_s: float
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    isolation: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.status is SandboxStatus.PASSED


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
    max_open_files: int = 64,
    python: str | None = None,
) -> SandboxResult:
    """Runs one Python program in the sandbox described in the module docstring.

    Args:
        code: the program's source; it passes when it exits with status 0.
        timeout_s: wall-clock limit including interpreter start-up (~50 ms); the process group is
            killed when it runs out.
        memory_mb: address-space limit (RLIMIT_AS) of the program's processes.
        cpu_s: CPU-seconds limit (RLIMIT_CPU); defaults to ``timeout_s`` rounded up.
        max_processes: RLIMIT_NPROC, processes and threads of the run (as root: of its uid).
        max_file_mb: RLIMIT_FSIZE, the largest file (stdout and stderr included) it may write.
        max_open_files: RLIMIT_NOFILE.
        python: interpreter for the program; defaults to ``sys.executable`` (run with ``-I -S``, so
            only the standard library is importable).

    Returns:
        A SandboxResult; this function does not raise for anything the program does.
    """
    limits = {
        "cpu_s": max(1, int(-(-(cpu_s if cpu_s is not None else timeout_s) // 1))),
        "memory_bytes": int(memory_mb) << 20,
        "max_processes": int(max_processes),
        "file_bytes": int(max_file_mb) << 20,
        "open_files": int(max_open_files),
    }
    start = time.monotonic()
    uid = _UIDS.acquire() if os.geteuid() == 0 else None
    run_dir = None
    try:
        run_dir = Path(tempfile.mkdtemp(prefix="codehotfix-sandbox-"))
        return _run_in(run_dir, code, uid, limits, timeout_s, memory_mb, python or sys.executable, start)
    except Exception as e:  # an infrastructure failure is still reported as data
        message = f"sandbox error: {type(e).__name__}: {e}"
        return SandboxResult(SandboxStatus.ERROR, message, time.monotonic() - start)
    finally:
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
        **limits: keyword arguments of ``run_program`` (timeout_s, memory_mb, ...).

    Returns:
        One SandboxResult per program, in the order given.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(programs))) as pool:
        return list(pool.map(lambda code: run_program(code, **limits), programs))


def _run_in(run_dir, code, uid, limits, timeout_s, memory_mb, python, start) -> SandboxResult:
    # run_dir (root-owned, traversable) holds the program and the captured output; work/ is the only
    # folder the program may write to.
    work = run_dir / "work"
    work.mkdir(mode=0o700)
    program = run_dir / "program.py"
    program.write_text(code, encoding="utf-8")
    program.chmod(0o644)
    run_dir.chmod(0o711)
    if uid is not None:
        os.chown(work, uid, uid)
    spec = {
        "work": str(work), "program": str(program), "python": python, "uid": uid, "limits": limits,
        "prefix": os.path.dirname(os.path.dirname(os.path.realpath(python))),
        "nproc_base": 0 if uid is not None else _count_processes(os.getuid()),
    }
    info_r, info_w = os.pipe()
    with open(run_dir / "stdout", "wb") as out, open(run_dir / "stderr", "wb") as err:
        try:
            spec["info_fd"] = info_w
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(Path(__file__).resolve()), json.dumps(spec)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(info_w,),
                start_new_session=True, cwd=str(work), env={"PATH": _SAFE_PATH, "LANG": "C.UTF-8"},
            )
        finally:
            os.close(info_w)
        try:
            try:
                timed_out = not _wait_exited(proc.pid, timeout_s)
            finally:  # also on KeyboardInterrupt: nothing of the run may outlive it
                # The launcher is not reaped yet, so its process-group id cannot have been reused.
                _kill_group(proc.pid)
                proc.wait()
            messages = _read_messages(info_r)
            if uid is not None and not any("pid-namespace" in m.get("isolation", ()) for m in messages):
                _kill_uid(uid)  # without a PID namespace, processes that left the group are found by uid
        finally:
            os.close(info_r)
    duration = time.monotonic() - start
    stdout = _tail(run_dir / "stdout")
    stderr = _tail(run_dir / "stderr")
    return _classify(messages, timed_out, timeout_s, memory_mb, limits["cpu_s"], duration, stdout, stderr)


def _classify(messages, timed_out, timeout_s, memory_mb, cpu_s, duration, stdout, stderr) -> SandboxResult:
    isolation = tuple(next((m["isolation"] for m in messages if "isolation" in m), ()))
    end = next((m for m in messages if "exit" in m or "signal" in m), None)
    error = next((m["error"] for m in messages if "error" in m), None)

    def result(status, message, returncode=None):
        return SandboxResult(status, message, duration, returncode, stdout, stderr, isolation)

    if timed_out:
        return result(SandboxStatus.TIMED_OUT, f"wall-clock limit of {timeout_s:g} s exceeded")
    if error is not None:
        return result(SandboxStatus.ERROR, f"sandbox error: {error}")
    if end is None:
        detail = _last_line(stderr) or "no exit status reported"
        return result(SandboxStatus.ERROR, f"sandbox error: launcher ended early ({detail})")
    if "signal" in end:
        signum = end["signal"]
        if signum == signal.SIGXCPU or (signum == signal.SIGKILL and end.get("cpu_s", 0) >= cpu_s - 0.05):
            return result(SandboxStatus.TIMED_OUT, f"CPU time limit of {cpu_s} s exceeded", -signum)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        return result(SandboxStatus.KILLED, f"killed by signal {name}", -signum)
    code = end["exit"]
    if code == 0:
        return result(SandboxStatus.PASSED, "passed", 0)
    last = _last_line(stderr)
    if last.startswith("MemoryError"):
        return result(SandboxStatus.KILLED, f"memory limit of {memory_mb} MB exceeded ({last})", code)
    return result(SandboxStatus.FAILED, f"failed: {last}" if last else f"failed: exit status {code}", code)


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


def _kill_uid(uid: int) -> None:
    # Repeat: a process may fork between the scan and the kill; SIGKILLed processes cannot fork.
    for _ in range(50):
        pids = _pids_of_uid(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _read_messages(fd: int) -> list[dict]:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    messages = []
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    return messages


def _tail(path: Path) -> str:
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _TAIL_CHARS * 4))
        return f.read().decode("utf-8", "replace")[-_TAIL_CHARS:]


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return lines[-1][:500] if lines else ""


def _remove_tree(path: Path) -> None:
    def _retry(func, p, _exc):  # a program may have left folders it made unreadable
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=_retry)


# ---------------------------------------------------------------------------------------------
# The launcher: runs as ``python -I -S sandbox.py SPEC`` (standard library only, no package imports).

_CLONE_NEWNS, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND, _MS_REC = 32, 1024, 2048, 4096, 16384
_MS_PRIVATE, _MS_RELATIME, _MS_STRICTATIME = 1 << 18, 1 << 21, 1 << 24
_MOUNT_FLAGS = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV, "noexec": _MS_NOEXEC, "noatime": _MS_NOATIME,
                "nodiratime": _MS_NODIRATIME, "relatime": _MS_RELATIME, "strictatime": _MS_STRICTATIME}
_PR_SET_NO_NEW_PRIVS = 38
_NO_NETWORK_PRELUDE = """\
import socket as _s, sys as _sys
def _blocked(*a, **k):
    raise OSError("network access is disabled in the codehotfix sandbox")
class _NoSocket(_s.socket):
    def __init__(self, *a, **k):
        _blocked()
_s.socket = _NoSocket
for _n in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
           "gethostbyaddr", "socketpair", "fromfd"):
    setattr(_s, _n, _blocked)
_sys.argv = _sys.argv[1:]  # ["-c", "program.py"] -> ["program.py"], as if run directly
_p = _sys.argv[0]
_g = {"__name__": "__main__", "__file__": _p, "__builtins__": __builtins__}
del _s, _sys, _blocked, _NoSocket, _n
exec(compile(open(_p, encoding="utf-8").read(), _p, "exec"), _g)
"""


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _mount(libc, ctypes, source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else str(s).encode()  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def _blocking_dir(path: str) -> Path | None:
    """The first folder on ``path`` that other users cannot traverse (e.g. /root), if any."""
    current = Path("/")
    for part in Path(path).parts[1:]:
        current = current / part
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _expose_interpreter(libc, ctypes, prefix: str, staging: Path) -> str | None:
    """Makes ``prefix`` reachable at its own path for an unprivileged uid.

    An interpreter installed under a private home (pyenv under /root) cannot be run by another uid.
    Inside the private mount namespace, a tmpfs is laid over the blocking folder, hiding the rest of
    it, and the interpreter's folder is bind-mounted back at the same path (its RUNPATH is absolute).
    """
    blocking = _blocking_dir(prefix)
    if blocking is None or blocking == Path(prefix):
        return None
    staging.mkdir(mode=0o755)
    _mount(libc, ctypes, prefix, staging, None, _MS_BIND | _MS_REC)
    _mount(libc, ctypes, "tmpfs", blocking, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=755,size=64k")
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    _mount(libc, ctypes, staging, prefix, None, _MS_BIND | _MS_REC)
    return f"interpreter-exposed ({prefix}; rest of {blocking} hidden)"


def _enter_namespaces(spec: dict) -> list[str]:
    """Unshares namespaces and makes every mount but ``work`` read-only; returns what is in force."""
    ctypes, libc = _libc()
    isolation = []
    wanted = _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS
    for flags, name in ((wanted, None), (wanted | _CLONE_NEWUSER, "user-namespace")):
        if libc.unshare(flags) == 0:
            isolation += ["mount-namespace", "pid-namespace", "network-namespace", "ipc-namespace"]
            isolation += [name] if name else []
            break
    else:
        return isolation
    _mount(libc, ctypes, None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing propagates to the host
    if spec["uid"] is not None:
        staging = Path(spec["program"]).parent / "interpreter"
        exposed = _expose_interpreter(libc, ctypes, spec["prefix"], staging)
        isolation += [exposed] if exposed else []
    work = spec["work"]
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        mounts = [line.split() for line in f]
    still_writable = []
    for fields in mounts:
        target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        flags = sum(_MOUNT_FLAGS.get(opt, 0) for opt in fields[5].split(","))
        try:
            _mount(libc, ctypes, None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | flags)
        except OSError:
            if target == "/":
                raise
            if "ro" not in fields[5].split(","):
                still_writable.append(target)
    _mount(libc, ctypes, work, work, None, _MS_BIND)
    _mount(libc, ctypes, None, work, None, _MS_REMOUNT | _MS_BIND | _MS_NOSUID | _MS_NODEV)
    exceptions = f" (still writable: {', '.join(still_writable)})" if still_writable else ""
    isolation.append("read-only-filesystem" + exceptions)
    return isolation


def _report(fd: int, obj: dict) -> None:
    os.write(fd, (json.dumps(obj) + "\n").encode())


def _exec_program(spec: dict, isolation: list[str]) -> None:
    """In the program's process: limits, privileges, then exec. Never returns."""
    fd = spec["info_fd"]
    try:
        lim = spec["limits"]
        for res, value in ((resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1)),
                           (resource.RLIMIT_AS, (lim["memory_bytes"],) * 2),
                           (resource.RLIMIT_NPROC, (spec["nproc_base"] + lim["max_processes"],) * 2),
                           (resource.RLIMIT_FSIZE, (lim["file_bytes"],) * 2),
                           (resource.RLIMIT_NOFILE, (lim["open_files"],) * 2),
                           (resource.RLIMIT_CORE, (0, 0))):
            resource.setrlimit(res, value)
        ctypes, libc = _libc()
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if spec["uid"] is not None:
            os.setgroups([])
            os.setgid(spec["uid"])
            os.setuid(spec["uid"])
        os.chdir(spec["work"])
        os.umask(0o077)
        python, program = spec["python"], spec["program"]
        argv = [python, "-I", "-S", "-B", program]
        if "network-namespace" not in isolation:
            argv = [python, "-I", "-S", "-B", "-c", _NO_NETWORK_PRELUDE, program]
        env = {"PATH": _SAFE_PATH, "HOME": spec["work"], "TMPDIR": spec["work"], "LANG": "C.UTF-8"}
        os.set_inheritable(fd, False)  # closed by a successful exec, still open to report a failed one
        os.execve(python, argv, env)
    except BaseException as e:
        _report(fd, {"error": f"could not start the program: {type(e).__name__}: {e}"})
    os._exit(127)


def _supervise(spec: dict, isolation: list[str]) -> int:
    """Forks the program, reaps every child until it ends, reports how it ended."""
    child = os.fork()
    if child == 0:
        _exec_program(spec, isolation)
    while True:
        try:
            pid, status, usage = os.wait4(-1, 0)
        except ChildProcessError:
            return 1
        if pid == child:
            break
    cpu = usage.ru_utime + usage.ru_stime
    if os.WIFSIGNALED(status):
        _report(spec["info_fd"], {"signal": os.WTERMSIG(status), "cpu_s": cpu})
    else:
        _report(spec["info_fd"], {"exit": os.waitstatus_to_exitcode(status), "cpu_s": cpu})
    return 0


def _launcher_main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    fd = spec["info_fd"]
    try:
        isolation = _enter_namespaces(spec)
    except OSError as e:
        _report(fd, {"error": f"could not set up namespaces: {e}"})
        return 1
    if spec["uid"] is not None:
        isolation.append(f"uid={spec['uid']}")
    isolation += ["rlimits", "new-session", "no-new-privs"]
    if "network-namespace" not in isolation:
        isolation.append("socket-disabled-in-prelude")
    _report(fd, {"isolation": isolation})
    if "pid-namespace" not in isolation:
        return _supervise(spec, isolation)
    init = os.fork()
    if init == 0:  # PID 1 of the new namespace: when it exits, the kernel kills the rest
        try:
            ctypes, libc = _libc()
            _mount(libc, ctypes, "proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        except OSError:
            pass
        os._exit(_supervise(spec, isolation))
    _, status = os.waitpid(init, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(_launcher_main(sys.argv))
