"""The sandbox's trusted launcher, run by ``runner.py`` as ``python -I -S -B launcher.py SPEC``.

Standard library only: it runs outside the package's import path. As root it joins the run's cgroup,
unshares namespaces, builds the run's own root folder (``mount_view``), forks the supervisor as PID 1
of the new PID namespace, and that forks the program's process (limits, uid, exec of the wrapper).
Everything it learns goes to the evaluator as JSON lines on ``info_fd``, which the program never holds.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves our own folder out

from mount_view import build_root, libc, mount  # noqa: E402

_CLONE_NEWNS, _CLONE_NEWCGROUP, _CLONE_NEWUTS, _CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_REC, _MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
_PR_SET_NO_NEW_PRIVS = 38
_SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
# Inside the run's own root (see mount_view.py); without one the host folders in the spec are used.
VIEW_WORK, VIEW_PROGRAM = "/home/sandbox", "/codehotfix/program.py"
# The program's process sees the nonce pipe as fd 3 and the result pipe as fd 4 (see WRAPPER).
_NONCE_FD, _RESULT_FD = 3, 4

# Runs in the program's interpreter before the program. It reads the run's nonce from fd 3 and
# closes it, so the nonce is in no file, argument or variable the program can list; runs the program
# as __main__; and only when the program's last statement has completed writes "completed <nonce>"
# to fd 4. A program that ends early (os._exit, sys.exit, exec, a signal) never writes it, and one
# that prints or writes a fake verdict does not know the nonce. Its limit: the program runs in this
# same interpreter, so code written to attack this harness (reading this frame or /proc/self/mem)
# can find the nonce and forge a pass; it cannot escape the sandbox by doing so.
WRAPPER = r"""
def _codehotfix_run():
    import os, sys
    nonce = os.read(3, 64)
    os.close(3)
    os.set_inheritable(4, False)
    path = sys.argv[1]
    sys.argv = sys.argv[1:]
    main = sys.modules["__main__"].__dict__
    del main["_codehotfix_run"]
    main["__file__"] = path
    try:
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec")
        exec(code, main)
    except SystemExit:
        raise
    except BaseException as e:
        if isinstance(e, MemoryError):
            os.write(4, b"memory-error " + nonce + b"\n")
        tb = e.__traceback__.tb_next if e.__traceback__ else None  # the program's frames only
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        sys.exit(1)
    os.write(4, b"completed " + nonce + b"\n")
_codehotfix_run()
"""
# Without a network namespace (weak isolation only): a best-effort block, bypassed by importing _socket.
_NO_NETWORK_PRELUDE = """\
import socket as _s
def _blocked(*a, **k):
    raise OSError("network access is disabled in the codehotfix sandbox")
class _NoSocket(_s.socket):
    def __init__(self, *a, **k):
        _blocked()
_s.socket = _NoSocket
for _n in ("create_connection", "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
           "gethostbyaddr", "socketpair", "fromfd"):
    setattr(_s, _n, _blocked)
del _s, _blocked, _NoSocket, _n
"""


def _report(fd: int, obj: dict) -> None:
    os.write(fd, (json.dumps(obj) + "\n").encode())


def _high_fd(fd: int) -> int:
    """Moves an inherited fd above the numbers the program's process uses (3, 4) and closes on exec."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return new


def _join_cgroup(spec: dict) -> None:
    # Before anything forks: every process of the run starts inside the run's cgroup.
    for procs in spec["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    _oom_score_adj("-1000")  # the OOM killer should choose the program, never its supervisor


def _oom_score_adj(value: str) -> None:
    try:  # needs CAP_SYS_RESOURCE, which a container may withhold; the program is larger anyway
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(value)
    except OSError:
        pass


def _enter_namespaces(spec: dict) -> list[str]:
    """Unshares namespaces and builds the run's own root; returns what is in force."""
    lib = libc()
    isolation: list[str] = []
    outer_uid, outer_gid = os.getuid(), os.getgid()
    wanted = _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET | _CLONE_NEWIPC | _CLONE_NEWUTS | _CLONE_NEWCGROUP
    for flags, name in ((wanted, None), (wanted | _CLONE_NEWUSER, "user-namespace")):
        if lib.unshare(flags) == 0:
            isolation += ["mount-namespace", "pid-namespace", "network-namespace", "ipc-namespace",
                          "cgroup-namespace"] + ([name] if name else [])
            if name:  # without a mapping, files made in the new namespace would have no owner
                for path, text in (("setgroups", "deny"), ("uid_map", f"0 {outer_uid} 1"),
                                   ("gid_map", f"0 {outer_gid} 1")):
                    with open(f"/proc/self/{path}", "w") as f:
                        f.write(text)
            break
    else:
        return isolation
    lib.sethostname(b"sandbox", 7)
    mount(None, "/", None, _MS_REC | _MS_PRIVATE)  # nothing propagates back to the host
    try:
        with open(spec["program"], "rb") as f:
            source = f.read()
        isolation += build_root(spec["run_dir"], spec["uid"], spec["prefix"], spec["limits"]["disk_bytes"],
                                source, VIEW_WORK, VIEW_PROGRAM)
    except OSError as e:
        if spec["uid"] is not None:
            raise  # as root a partial view would be weaker than promised: refuse instead
        isolation.append(f"no-mount-view ({e})")
    return isolation


def _weaknesses(isolation: list[str], spec: dict) -> list[str]:
    missing = [n for n in ("mount-view", "pid-namespace", "network-namespace") if n not in isolation]
    if spec["uid"] is None:
        missing.append("per-run uid (not root: the program runs as the evaluator's uid)")
    return missing


def _exec_program(spec: dict, isolation: list[str]) -> None:
    """In the program's process: fds, limits, privileges, then exec. Never returns."""
    fd = spec["info_fd"]
    try:
        _oom_score_adj("0")
        os.dup2(spec["nonce_fd"], _NONCE_FD)
        os.dup2(spec["result_fd"], _RESULT_FD)
        lim = spec["limits"]
        for res, value in ((resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1)),
                           (resource.RLIMIT_AS, (lim["address_bytes"],) * 2),
                           (resource.RLIMIT_NPROC, (spec["nproc_base"] + lim["nproc"],) * 2),
                           (resource.RLIMIT_FSIZE, (lim["file_bytes"],) * 2),
                           (resource.RLIMIT_NOFILE, (lim["open_files"],) * 2),
                           (resource.RLIMIT_CORE, (0, 0))):
            resource.setrlimit(res, value)
        libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        view = "mount-view" in isolation
        work, program = (VIEW_WORK, VIEW_PROGRAM) if view else (spec["work"], spec["program"])
        if spec["uid"] is not None:
            if not view:  # an allowed weak run as root: the host folder, opened to this run's uid
                os.chmod(spec["run_dir"], 0o711)
                os.chmod(program, 0o644)
                os.chown(work, spec["uid"], spec["uid"])
            os.setgroups([])
            os.setgid(spec["uid"])
            os.setuid(spec["uid"])
        os.chdir(work)
        os.umask(0o077)
        wrapper = WRAPPER if "network-namespace" in isolation else _NO_NETWORK_PRELUDE + WRAPPER
        python = spec["python"]
        env = {"PATH": _SAFE_PATH, "HOME": work, "TMPDIR": "/tmp" if view else work, "LANG": "C.UTF-8"}
        os.execve(python, [python, "-I", "-S", "-B", "-c", wrapper, program], env)
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


def main(argv: list[str]) -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # held until PID 1 exists (see below)
    spec = json.loads(argv[1])
    for key in ("info_fd", "nonce_fd", "result_fd"):
        spec[key] = _high_fd(spec[key])
    fd = spec["info_fd"]
    try:
        _join_cgroup(spec)
        isolation = _enter_namespaces(spec)
    except OSError as e:
        _report(fd, {"error": f"could not set up the sandbox: {e}"})
        return 1
    if spec["uid"] is not None:
        isolation.append(f"uid={spec['uid']}")
    isolation += ["rlimits", "new-session", "no-new-privs"] + spec["cgroup_isolation"]
    if "network-namespace" not in isolation:
        isolation.append("socket-disabled-in-prelude")
    weak = _weaknesses(isolation, spec)
    if weak and not spec["allow_weak"]:
        _report(fd, {"refused": weak, "isolation": isolation})
        return 1
    _report(fd, {"isolation": isolation + [f"weak: missing {', '.join(weak)}"] * bool(weak)})
    if "pid-namespace" not in isolation:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        return _supervise(spec, isolation)
    init = os.fork()
    if init == 0:  # PID 1 of the new namespace: when it exits, the kernel kills the rest
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        try:
            mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        except OSError:
            pass
        os._exit(_supervise(spec, isolation))
    # The evaluator's SIGTERM (timeout) ends the run: killing PID 1 takes the namespace with it, and
    # this process, not the host's init, then reaps PID 1, so no zombie of the run outlives it.
    # Safe against pid reuse: only this process reaps ``init``, and it has not yet.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(init, signal.SIGKILL))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    _, status = os.waitpid(init, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
