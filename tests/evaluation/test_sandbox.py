"""The sandbox against ordinary and hostile programs: each is contained, reported, and the evaluator
keeps going. Limits are small so the whole file takes seconds."""

from __future__ import annotations

import os
import socket
import time
import uuid

import pytest

from codehotfix.evaluation.sandbox import SandboxStatus, run_many, run_program

# Generous wall time for programs that should finish (the CI machine may be busy); short for loops.
OK = dict(timeout_s=20, memory_mb=256)
SHORT = dict(timeout_s=1.5, memory_mb=256)
AS_ROOT = os.geteuid() == 0

INFINITE_LOOP = "while True:\n    pass\n"
FORK_BOMB = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
MEMORY_HOG = "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 24))\n"
KILL_PARENT = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(0.2)\n"


def _write_to(path: str) -> str:
    return f"with open({path!r}, 'w') as f:\n    f.write('pwned')\n"


PRINT_PID_NS = "import os\nprint(os.readlink('/proc/self/ns/pid'), flush=True)\n"


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


def _assert_nothing_left(result) -> None:
    if "pid-namespace" not in result.isolation:
        return
    pid_ns = result.stdout.splitlines()[0]
    assert pid_ns.startswith("pid:[") and pid_ns != os.readlink("/proc/self/ns/pid")
    deadline = time.monotonic() + 5  # the kernel tears the namespace down right after the run
    while _processes_in(pid_ns) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_in(pid_ns) == []


def test_correct_program_passes_and_output_is_captured():
    r = run_program("print('hello')\nassert sum(range(4)) == 6\n", **OK)
    assert r.status is SandboxStatus.PASSED and r.passed
    assert r.stdout == "hello\n"
    assert r.returncode == 0 and r.duration_s > 0


def test_raising_program_fails_with_the_exception_line():
    r = run_program("def f():\n    return 1 / 0\nf()\n", **OK)
    assert r.status is SandboxStatus.FAILED
    assert "ZeroDivisionError" in r.message
    assert r.returncode == 1


def test_infinite_loop_times_out():
    start = time.monotonic()
    r = run_program(INFINITE_LOOP, **SHORT)
    assert r.status is SandboxStatus.TIMED_OUT
    assert time.monotonic() - start < 10


def test_fork_bomb_is_contained_and_the_evaluator_continues():
    r = run_program(PRINT_PID_NS + FORK_BOMB, timeout_s=1.5, memory_mb=256, max_processes=16)
    assert r.status in (SandboxStatus.TIMED_OUT, SandboxStatus.FAILED, SandboxStatus.KILLED)
    _assert_nothing_left(r)
    assert run_program("print('still fine')", **OK).passed


def test_escaped_child_does_not_outlive_the_run():
    code = PRINT_PID_NS + "import time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
    r = run_program(code, **OK)
    assert r.passed, r.message
    _assert_nothing_left(r)


def test_memory_hog_is_stopped_with_a_memory_message():
    r = run_program(MEMORY_HOG, timeout_s=20, memory_mb=200)
    assert r.status is SandboxStatus.KILLED
    assert "memory" in r.message.lower()


@pytest.mark.parametrize("folder", ["/tmp", "/root", "/dev/shm", os.path.dirname(os.path.abspath(__file__))])
def test_writes_outside_the_working_folder_fail(folder):
    if not os.path.isdir(folder):
        pytest.skip(f"{folder} does not exist here")
    path = os.path.join(folder, f"codehotfix_evil_{uuid.uuid4().hex}")
    try:
        r = run_program(_write_to(path), **OK)
        assert r.status is SandboxStatus.FAILED
        assert not os.path.exists(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_working_folder_is_writable_private_and_removed():
    code = ("import os, tempfile\nopen('out.txt', 'w').write('ok')\n"
            "tempfile.NamedTemporaryFile(delete=False).write(b'x')\nprint(os.getcwd())\n")
    r = run_program(code, **OK)
    assert r.passed, r.message
    work = r.stdout.strip()
    assert work and not os.path.exists(work)


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("CODEHOTFIX_TEST_SECRET", "hunter2")
    code = "import os\nassert 'CODEHOTFIX_TEST_SECRET' not in os.environ, sorted(os.environ)\n"
    r = run_program(code, **OK)
    assert r.passed, r.message


@pytest.fixture
def listening_port():
    # A server the test process can reach; the sandboxed program must not reach it.
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    yield server.getsockname()[1]
    server.close()


def test_network_connect_to_localhost_fails(listening_port):
    socket.create_connection(("127.0.0.1", listening_port), timeout=2).close()  # reachable from here
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {listening_port}), timeout=2)\n"
    r = run_program(code, **OK)
    assert r.status is SandboxStatus.FAILED
    assert "Error" in r.message


def test_dns_lookup_fails():
    r = run_program("import socket\nprint(socket.getaddrinfo('example.com', 443))\n", **OK)
    assert r.status is SandboxStatus.FAILED


def test_killing_the_parent_is_contained_and_reported():
    r = run_program(KILL_PARENT, **OK)
    # We are the evaluator: still alive, and the program's outcome is reported as data.
    assert r.status in set(SandboxStatus) - {SandboxStatus.ERROR}
    for code in ("import os, signal\nos.kill(-1, signal.SIGKILL)\n",
                 "import os, signal\nos.killpg(os.getpgid(0), signal.SIGKILL)\n"):
        assert run_program(code, **OK).status is not SandboxStatus.ERROR
    assert run_program("print(1)", **OK).passed


@pytest.mark.skipif(not AS_ROOT, reason="the full isolation is available as root")
def test_isolation_in_force_as_root():
    r = run_program("print(1)", **OK)
    for mechanism in ("pid-namespace", "network-namespace", "read-only-filesystem", "rlimits"):
        assert mechanism in r.isolation
    assert any(m.startswith("uid=") for m in r.isolation)


def test_run_many_mixes_hostile_programs_and_keeps_order(listening_port):
    evil = f"/tmp/codehotfix_evil_{uuid.uuid4().hex}"
    batch = [
        ("print('a')", {SandboxStatus.PASSED}),
        ("raise ValueError('boom')", {SandboxStatus.FAILED}),
        (INFINITE_LOOP, {SandboxStatus.TIMED_OUT}),
        (FORK_BOMB, {SandboxStatus.TIMED_OUT, SandboxStatus.FAILED, SandboxStatus.KILLED}),
        (MEMORY_HOG, {SandboxStatus.KILLED}),
        (_write_to(evil), {SandboxStatus.FAILED}),
        (f"import socket\nsocket.create_connection(('127.0.0.1', {listening_port}), timeout=2)\n",
         {SandboxStatus.FAILED}),
        (KILL_PARENT, set(SandboxStatus) - {SandboxStatus.ERROR}),
        ("print('z')", {SandboxStatus.PASSED}),
    ]
    results = run_many([code for code, _ in batch], workers=2, timeout_s=3, memory_mb=200, max_processes=16)
    assert len(results) == len(batch)
    for (code, expected), r in zip(batch, results):
        assert r.status in expected, (code, r)
    assert not os.path.exists(evil)
    assert run_many([], workers=2) == []
