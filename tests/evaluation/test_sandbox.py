"""The sandbox against ordinary and hostile programs: each is contained, reported, and the evaluator
keeps going. Limits are small so the whole file takes tens of seconds.

The hostile suite is one table (``HOSTILE``): each kind is a program, the statuses it may be
reported with, and a check of an observable on the host side (a host file unchanged, a socket that
received nothing, a secret absent from what the run could output, no process of the run left when
``run_program`` returns, the run's peak memory within its limit).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from codehotfix.evaluation.sandbox import SandboxResult, SandboxStatus, run_many, run_program
from codehotfix.evaluation.sandbox import runner

S = SandboxStatus
# Generous wall time for programs that should finish (the CI machine may be busy); short for loops.
OK = dict(timeout_s=20, memory_mb=256)
SHORT = dict(timeout_s=1.5, memory_mb=256)
AS_ROOT = os.geteuid() == 0
NOT_PASSED = {S.FAILED, S.TIMED_OUT, S.KILLED}
ANY_BUT_ERROR = set(S) - {S.ERROR}
# Every hostile program starts by printing its PID namespace (to stderr, which floods of stdout leave
# alone), so the test can look for leftovers.
PID_NS_LINE = "import os as _o, sys as _s\nprint(_o.readlink('/proc/self/ns/pid'), file=_s.stderr, flush=True)\n"

INFINITE_LOOP = "while True:\n    pass\n"
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
MEMORY_HOG = "chunks = []\nwhile True:\n    chunks.append(b'x' * (1 << 24))\n"


def _write_to(path: str) -> str:
    return f"with open({path!r}, 'w') as f:\n    f.write('pwned')\n"


# ---------------------------------------------------------------------------------------------
# The host the hostile programs attack: files, sockets and an environment secret, made reachable by
# permissions (mode 0777 folder, 0666 file, 0777 socket), so only the sandbox stands in the way.


@dataclass
class Host:
    folder: Path
    victim: Path
    secret: str
    unix: socket.socket
    abstract: socket.socket
    abstract_name: str
    tcp: socket.socket
    udp: socket.socket
    env_secret: str
    planted: list[str] = field(default_factory=list)

    def received(self) -> list[str]:
        """Whatever reached the host's listeners since the last call (must stay empty)."""
        got = []
        for name, listener in (("unix", self.unix), ("abstract", self.abstract), ("tcp", self.tcp)):
            try:
                conn, _ = listener.accept()
            except (BlockingIOError, socket.timeout):
                continue
            conn.settimeout(0.2)
            try:
                got.append(f"{name}: {conn.recv(100)!r}")
            except OSError:
                got.append(f"{name}: connection")
            conn.close()
        try:
            got.append(f"udp: {self.udp.recv(100)!r}")
        except (BlockingIOError, socket.timeout):
            pass
        return got


@pytest.fixture(scope="module")
def host():
    folder = Path(f"/tmp/codehotfix-hostile-{uuid.uuid4().hex}")
    folder.mkdir()
    folder.chmod(0o777)
    victim = folder / "victim"
    victim.write_text("original")
    victim.chmod(0o666)
    secret = f"secret-{uuid.uuid4().hex}"
    (folder / "secret").write_text(secret)
    (folder / "secret").chmod(0o644)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(folder / "sock"))
    os.chmod(folder / "sock", 0o777)
    abstract_name = f"codehotfix-{uuid.uuid4().hex}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    for s in (unix, abstract, tcp):
        s.listen(8)
    for s in (unix, abstract, tcp, udp):
        s.setblocking(False)
    env_secret = f"env-{uuid.uuid4().hex}"
    os.environ["CODEHOTFIX_TEST_SECRET"] = env_secret
    h = Host(folder, victim, secret, unix, abstract, abstract_name, tcp, udp, env_secret)
    yield h
    os.environ.pop("CODEHOTFIX_TEST_SECRET", None)
    for s in (unix, abstract, tcp, udp):
        s.close()
    for p in h.planted:
        if os.path.lexists(p):
            os.unlink(p)
    for p in sorted(folder.rglob("*"), reverse=True):
        p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
    folder.rmdir()


def _processes_in(pid_ns: str) -> list[int]:
    """Processes of the run's PID namespace still alive (exact even when other evaluators run)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/pid") == pid_ns:
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def _assert_nothing_left(r: SandboxResult) -> None:
    """No process of the run exists any more, checked right when run_program has returned."""
    if "pid-namespace" not in r.isolation:
        return
    pid_ns = r.stderr.splitlines()[0] if r.stderr else ""
    assert pid_ns.startswith("pid:[") and pid_ns != os.readlink("/proc/self/ns/pid"), r
    assert _processes_in(pid_ns) == []


def _memory_bounded(r: SandboxResult, memory_mb: int) -> None:
    if r.memory_peak_mb is None:
        pytest.skip("no memory cgroup here: memory is limited per process only (see isolation)")
    assert r.memory_peak_mb <= memory_mb + runner.SUPERVISOR_MB, r.memory_peak_mb


# ---------------------------------------------------------------------------------------------
# The table. ``code`` gets the Host; ``check`` gets the Host and the result.


@dataclass(frozen=True)
class Kind:
    name: str
    code: Callable[[Host], str]
    expect: set
    check: Callable[[Host, SandboxResult], None] = lambda h, r: None
    limits: dict = field(default_factory=lambda: dict(OK))


def _not_in_output(*needles):
    def check(h, r):
        for needle in needles:
            value = getattr(h, needle)
            assert value not in r.stdout and value not in r.stderr, needle
    return check


def _host_file_absent(path_of):
    def check(h, r):
        path = path_of(h)
        h.planted.append(path)
        assert not os.path.lexists(path), path
    return check


def _memory_killed(r: SandboxResult, memory_mb: int) -> None:
    assert "memory" in r.message, r.message
    _memory_bounded(r, memory_mb)


def _victim_unchanged(h, r):
    assert h.victim.read_text() == "original"
    assert stat.S_IMODE(h.victim.stat().st_mode) == 0o666


def _written_within(limit_mb):
    def check(h, r):
        written = [int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("written ")]
        assert written and written[-1] <= limit_mb << 20, r.stdout[-300:]
    return check


HOME = os.path.expanduser("~")


def _home_hidden(h, r):
    # Only the way to the interpreter (pyenv under /root) may appear; nothing else of the home.
    shown = set(eval(r.stdout.splitlines()[0]))
    prefix = os.path.realpath(sys.executable)
    allowed = {prefix[len(HOME) + 1:].split("/")[0]} if prefix.startswith(HOME + "/") else set()
    assert shown <= allowed, (shown, allowed)
    if not set(os.listdir(HOME)) - allowed:
        pytest.skip("the evaluator's home holds nothing else to hide")


def _empty_listings(h, r):
    for line in r.stdout.splitlines():
        folder, _, names = line.partition(": ")
        assert names == "[]", line


DISK = dict(timeout_s=20, memory_mb=256, max_disk_mb=32)
WRITE_MB = ("import os\nn = 0\ntry:\n    for i in range(100):\n        with open(f'{folder}/f{{i}}', 'wb') as f:\n"
            "            f.write(b'x' * (15 << 20))\n        n += 15 << 20\nfinally:\n    print('written', n)\n")

HOSTILE = [
    # Time and processes.
    Kind("infinite loop", lambda h: INFINITE_LOOP, {S.TIMED_OUT}, limits=dict(SHORT)),
    Kind("CPU burn under a CPU-seconds limit", lambda h: INFINITE_LOOP, {S.TIMED_OUT},
         limits=dict(timeout_s=20, memory_mb=256, cpu_s=1)),
    Kind("ignores SIGTERM and sleeps", lambda h: "import signal, time\nsignal.signal(signal.SIGTERM, "
         "signal.SIG_IGN)\ntime.sleep(60)\n", {S.TIMED_OUT}, limits=dict(SHORT)),
    Kind("stops itself (SIGSTOP)", lambda h: "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)\n",
         {S.TIMED_OUT}, limits=dict(SHORT)),
    Kind("fork bomb", lambda h: FORK_BOMB, NOT_PASSED, limits=dict(SHORT, max_processes=16)),
    Kind("thread bomb", lambda h: "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, "
         "args=(60,), daemon=True).start()\n", NOT_PASSED, limits=dict(SHORT, max_processes=16)),
    Kind("daemon escapes with setsid and double fork", lambda h: "import os, signal, time\nif os.fork() == 0:\n"
         "    os.setsid()\n    if os.fork() == 0:\n        signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
         "        time.sleep(60)\n    os._exit(0)\n", {S.PASSED}),
    Kind("zombie factory", lambda h: "import os\nfor _ in range(10):\n    if os.fork() == 0:\n        os._exit(0)\n",
         {S.PASSED}),
    Kind("deep recursion in several processes", lambda h: "import os, sys\nsys.setrecursionlimit(10**7)\n"
         "def f(n):\n    return f(n + 1) + 1\nfor _ in range(3):\n    if os.fork() == 0:\n        break\nf(0)\n",
         {S.KILLED, S.FAILED}),
    # Memory and disk.
    Kind("memory hog", lambda h: MEMORY_HOG, {S.KILLED}, lambda h, r: _memory_killed(r, 256)),
    Kind("memory split over 4 processes (each under the limit)", lambda h: "import os, time\npids = []\n"
         "for _ in range(4):\n    pid = os.fork()\n    if pid == 0:\n        block = b'x' * (120 << 20)\n"
         "        time.sleep(3)\n        os._exit(0)\n    pids.append(pid)\n"
         "for pid in pids:\n    assert os.waitpid(pid, 0)[1] == 0\n", {S.KILLED},
         lambda h, r: _memory_killed(r, 256)),
    Kind("disk: many 15 MB files", lambda h: WRITE_MB.format(folder="."), {S.FAILED}, _written_within(32),
         limits=dict(DISK)),
    Kind("disk: spread over /tmp, /var/tmp, /dev/shm, /run", lambda h: "import os\nn = 0\ntry:\n"
         "    for d in ('/tmp', '/var/tmp', '/dev/shm', '/run', '.'):\n        with open(d + '/f', 'wb') as f:\n"
         "            f.write(b'x' * (12 << 20))\n        n += 12 << 20\nfinally:\n    print('written', n)\n",
         {S.FAILED}, _written_within(32), limits=dict(DISK)),
    Kind("one file over the file-size limit", lambda h: "open('big', 'wb').write(b'x' * (20 << 20))\n",
         {S.FAILED}, limits=dict(OK, max_file_mb=16)),
    Kind("inode bomb", lambda h: "for i in range(100000):\n    open(f'f{i}', 'w').close()\n", {S.FAILED}),
    Kind("stdout flood", lambda h: "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
         NOT_PASSED, limits=dict(OK, max_file_mb=4)),
    # Files of the host.
    Kind("writes the host's /tmp", lambda h: _write_to(f"/tmp/codehotfix_evil_{h.secret}"), {S.PASSED, S.FAILED},
         _host_file_absent(lambda h: f"/tmp/codehotfix_evil_{h.secret}")),
    Kind("writes /root", lambda h: _write_to(f"/root/codehotfix_evil_{h.secret}"), {S.FAILED},
         _host_file_absent(lambda h: f"/root/codehotfix_evil_{h.secret}")),
    Kind("writes /etc", lambda h: _write_to(f"/etc/codehotfix_evil_{h.secret}"), {S.FAILED},
         _host_file_absent(lambda h: f"/etc/codehotfix_evil_{h.secret}")),
    Kind("writes the test folder", lambda h: _write_to(f"{Path(__file__).parent}/evil_{h.secret}"), {S.FAILED},
         _host_file_absent(lambda h: f"{Path(__file__).parent}/evil_{h.secret}")),
    Kind("overwrites a 0666 host file", lambda h: _write_to(str(h.victim)), {S.FAILED}, _victim_unchanged),
    Kind("reads a 0644 host secret", lambda h: f"print(open({str(h.folder / 'secret')!r}).read())\n", {S.FAILED},
         _not_in_output("secret")),
    Kind("lists the evaluator's home", lambda h: f"import os\nhome = {HOME!r}\n"
         "print(sorted(os.listdir(home)) if os.path.isdir(home) else [])\n", {S.PASSED}, _home_hidden),
    Kind("host runtime folders (/tmp, /run, /var/tmp, /dev/shm, /var/run)", lambda h: "import os\n"
         "for d in ('/tmp', '/run', '/var/tmp', '/dev/shm', '/var/run'):\n"
         "    print(d + ': ' + str(os.listdir(d) if os.path.isdir(d) else []))\n", {S.PASSED}, _empty_listings),
    Kind("plants a symlink for the cleanup", lambda h: f"import os\nos.symlink({str(h.victim)!r}, 'link')\n"
         f"os.mkdir('locked')\nos.symlink({str(h.victim)!r}, 'locked/link')\nos.chmod('locked', 0)\n",
         {S.PASSED}, _victim_unchanged),
    Kind("devices beyond the minimal /dev", lambda h: "import os\nprint(sorted(os.listdir('/dev')))\n"
         "for d in ('/dev/kmsg', '/dev/vda', '/dev/mem', '/dev/fuse'):\n    assert not os.path.exists(d), d\n"
         "open('/dev/kmsg', 'w')\n", {S.FAILED},
         lambda h, r: assert_true(set(eval(r.stdout.splitlines()[0])) <= {"null", "zero", "full", "random",
                                  "urandom", "fd", "stdin", "stdout", "stderr", "shm"}, r.stdout)),
    # Network and sockets.
    Kind("a 0777 Unix socket of the host", lambda h: "import socket\ns = socket.socket(socket.AF_UNIX)\n"
         f"s.connect({str(h.folder / 'sock')!r})\ns.sendall(b'pwned')\n", {S.FAILED},
         lambda h, r: assert_true(h.received() == [], h.received())),
    Kind("an abstract Unix socket of the host", lambda h: "import socket\ns = socket.socket(socket.AF_UNIX)\n"
         f"s.connect('\\0{h.abstract_name}')\ns.sendall(b'pwned')\n", {S.FAILED},
         lambda h, r: assert_true(h.received() == [], "received")),
    Kind("TCP to 127.0.0.1", lambda h: "import socket\n"
         f"socket.create_connection(('127.0.0.1', {h.tcp.getsockname()[1]}), timeout=2).sendall(b'pwned')\n",
         {S.FAILED}, lambda h, r: assert_true(h.received() == [], "received")),
    Kind("UDP to 127.0.0.1", lambda h: "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         f"s.sendto(b'pwned', ('127.0.0.1', {h.udp.getsockname()[1]}))\n", {S.FAILED},
         lambda h, r: assert_true(h.received() == [], "received")),
    Kind("DNS lookup", lambda h: "import socket\nprint(socket.getaddrinfo('example.com', 443))\n", {S.FAILED}),
    Kind("raw _socket (bypasses any socket patch)", lambda h: "import _socket\ns = _socket.socket()\n"
         f"s.connect(('127.0.0.1', {h.tcp.getsockname()[1]}))\n", {S.FAILED},
         lambda h, r: assert_true(h.received() == [], "received")),
    # The evaluator and privileges.
    Kind("reads the evaluator's environment (own and /proc/*/environ)", lambda h: "import os\n"
         "print(dict(os.environ))\nfor p in os.listdir('/proc'):\n    try:\n"
         "        print(open(f'/proc/{p}/environ', 'rb').read())\n    except OSError:\n        pass\n",
         {S.PASSED}, _not_in_output("env_secret")),
    Kind("signals the evaluator by pid", lambda h: f"import os, signal\nos.kill({os.getpid()}, signal.SIGKILL)\n",
         {S.FAILED}),
    Kind("kills its parent (PID 1)", lambda h: "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
         ANY_BUT_ERROR),
    Kind("kill(-1)", lambda h: "import os, signal\nos.kill(-1, signal.SIGKILL)\n", ANY_BUT_ERROR),
    Kind("becomes root", lambda h: "import os\nprint(os.geteuid())\nos.setuid(0)\n", {S.FAILED},
         lambda h, r: assert_true(r.stdout.splitlines()[0] != "0" or not AS_ROOT, r.stdout)),
    Kind("leaves its cgroup", lambda h: "import os\n"
         "open('/sys/fs/cgroup/memory/cgroup.procs', 'w').write(str(os.getpid()))\n", {S.FAILED}),
    Kind("mounts a filesystem", lambda h: "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
         "assert libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None) == 0, ctypes.get_errno()\n", {S.FAILED}),
    Kind("reads PID 1's memory", lambda h: "print(open('/proc/1/mem', 'rb').read(16))\n", {S.FAILED}),
    # The verdict.
    Kind("os._exit(0) before a failing assert", lambda h: "import os\nos._exit(0)\nassert False\n", {S.FAILED}),
    Kind("sys.exit(0) before a failing assert", lambda h: "import sys\nsys.exit(0)\nassert False\n", {S.FAILED}),
    Kind("execs another program", lambda h: "import os\nos.execv('/bin/true', ['true'])\n", {S.FAILED}),
    Kind("forges the sentinel on every fd", lambda h: "import os\nfor fd in range(64):\n    try:\n"
         "        os.write(fd, b'completed 00000000000000000000000000000000\\npassed\\n')\n    except OSError:\n"
         "        pass\nos._exit(0)\n", {S.FAILED}),
    Kind("prints MemoryError to stderr", lambda h: "import sys\nprint('MemoryError', file=sys.stderr)\n"
         "sys.exit(1)\n", {S.FAILED}),
    Kind("kills itself (SIGKILL)", lambda h: "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
         {S.KILLED}),
    Kind("waits on stdin", lambda h: "input()\n", {S.FAILED}),
]


def assert_true(condition, detail) -> None:
    assert condition, detail


@pytest.mark.parametrize("kind", HOSTILE, ids=[k.name for k in HOSTILE])
def test_hostile_program_is_contained(kind, host):
    start = time.monotonic()
    r = run_program(PID_NS_LINE + kind.code(host), **kind.limits)
    assert r.status in kind.expect, (r.status, r.message, r.stderr[-500:])
    assert time.monotonic() - start < kind.limits["timeout_s"] + 15
    _assert_nothing_left(r)
    assert host.received() == []
    _victim_unchanged(host, r)
    kind.check(host, r)


def test_hostile_table_has_at_least_30_kinds():
    assert len(HOSTILE) + 2 >= 30  # + the two tests below: runs reading each other, weak isolation


def test_runs_cannot_see_each_other():
    secret = f"other-run-{uuid.uuid4().hex}"
    writer = ("import os, time\n"
              f"for p in ('secret', '/tmp/secret', '/dev/shm/secret', '/run/secret'):\n    open(p, 'w').write({secret!r})\n"
              "time.sleep(4)\n")
    reader = ("import glob, os, time\ntime.sleep(1.5)\nfound = []\n"
              "for pattern in ('/tmp/**', '/tmp/codehotfix-sandbox-*/**', '/home/**', '/run/**', '/dev/shm/**',\n"
              "                '/proc/*/cwd/**', '/proc/*/root/tmp/**'):\n"
              "    for p in glob.glob(pattern, recursive=True):\n        try:\n"
              "            found.append(p + ':' + open(p).read(200))\n        except OSError:\n            pass\n"
              "print(found)\n")
    writer_result, reader_result = run_many([writer, reader], workers=2, timeout_s=20, memory_mb=128)
    assert writer_result.passed and reader_result.passed, (writer_result.message, reader_result.message)
    assert secret not in reader_result.stdout + reader_result.stderr


def test_without_root_the_sandbox_refuses_unless_weak_isolation_is_allowed(monkeypatch):
    monkeypatch.setattr(runner.os, "geteuid", lambda: 1000)
    r = run_program("print('ran')", **OK)
    assert r.status is S.ERROR and "allow_weak_isolation" in r.message and "ran" not in r.stdout


def test_cleanup_never_follows_a_planted_symlink():
    # A link in a folder the remover may read but not write: unlinking it fails, and the old retry
    # then chmod-ed the link, i.e. its target. Root ignores permissions, so as root a child process
    # of an unprivileged uid does the removal, as the evaluator would without root.
    base = Path(tempfile.mkdtemp(prefix="codehotfix-cleanup-"))
    base.chmod(0o755)
    victim, run = base / "victim", base / "run"
    victim.write_text("x")
    victim.chmod(0o644)
    (run / "locked").mkdir(parents=True)
    (run / "locked" / "link").symlink_to(victim)
    (run / "link").symlink_to(victim)
    try:
        if AS_ROOT:
            for p in (base, victim, run, run / "locked", run / "locked" / "link", run / "link"):
                os.chown(p, 65534, 65534, follow_symlinks=False)
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports through its exit status
                try:
                    os.setgid(65534)
                    os.setuid(65534)
                    (run / "locked").chmod(0o555)
                    runner._remove_tree(run)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
        else:
            (run / "locked").chmod(0o555)
            runner._remove_tree(run)
        assert stat.S_IMODE(victim.stat().st_mode) == 0o644 and victim.read_text() == "x"
        assert not run.exists()
    finally:
        if (run / "locked").exists():
            (run / "locked").chmod(0o700)
        shutil.rmtree(base)


# ---------------------------------------------------------------------------------------------
# Ordinary programs.


def test_correct_program_passes_and_output_is_captured():
    r = run_program("print('hello')\nassert sum(range(4)) == 6\n", **OK)
    assert r.status is S.PASSED and r.passed, r.message
    assert r.stdout == "hello\n"
    assert r.returncode == 0 and r.duration_s > 0


def test_raising_program_fails_with_the_exception_line():
    r = run_program("def f():\n    return 1 / 0\nf()\n", **OK)
    assert r.status is S.FAILED
    assert "ZeroDivisionError" in r.message
    assert r.returncode == 1


def test_syntax_error_fails():
    r = run_program("def f(:\n", **OK)
    assert r.status is S.FAILED and "SyntaxError" in r.message


def test_infinite_loop_times_out():
    start = time.monotonic()
    r = run_program(INFINITE_LOOP, **SHORT)
    assert r.status is S.TIMED_OUT
    assert time.monotonic() - start < 10


def test_program_runs_as_main_with_a_private_writable_folder():
    code = ("import os, tempfile\nassert __name__ == '__main__'\nopen('out.txt', 'w').write('ok')\n"
            "tempfile.NamedTemporaryFile(delete=False).write(b'x')\nprint(os.getcwd())\n")
    r = run_program(code, **OK)
    assert r.passed, r.message


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("CODEHOTFIX_TEST_SECRET", "hunter2")
    code = "import os\nassert 'CODEHOTFIX_TEST_SECRET' not in os.environ, sorted(os.environ)\n"
    r = run_program(code, **OK)
    assert r.passed, r.message


@pytest.mark.skipif(not AS_ROOT, reason="the full isolation is available as root")
def test_isolation_in_force_as_root():
    r = run_program("print(1)", **OK)
    for mechanism in ("pid-namespace", "network-namespace", "mount-view", "rlimits"):
        assert mechanism in r.isolation
    assert any(m.startswith("uid=") for m in r.isolation)
    assert not any(m.startswith("weak") for m in r.isolation)


def test_run_many_mixes_hostile_programs_and_keeps_order():
    batch = [
        ("print('a')", {S.PASSED}),
        ("raise ValueError('boom')", {S.FAILED}),
        (INFINITE_LOOP, {S.TIMED_OUT}),
        (FORK_BOMB, NOT_PASSED),
        (MEMORY_HOG, {S.KILLED}),
        ("import os\nos._exit(0)\nassert False\n", {S.FAILED}),
        ("print('z')", {S.PASSED}),
    ]
    results = run_many([code for code, _ in batch], workers=2, timeout_s=3, memory_mb=200, max_processes=16)
    assert len(results) == len(batch)
    for (code, expected), r in zip(batch, results):
        assert r.status in expected, (code, r)
    assert run_many([], workers=2) == []
