"""How a run ended, as data: the status, a one-line message and what was isolated.

The verdict comes only from things the program cannot forge: the kernel's wait status of the
program's process (exit code or signal, reported by the run's PID 1), the run cgroup's OOM-kill
counter, the wall clock, and the completion sentinel the harness wrapper writes with the run's nonce
after the program's last statement. The program's output is shown in the message, never trusted.
"""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass, field

__all__ = ["SandboxStatus", "SandboxResult", "Outcome", "classify"]


class SandboxStatus(str, enum.Enum):
    """How a program ended. KILLED covers the memory limit and fatal signals; ERROR means the sandbox
    itself failed or refused to run (the program may not have run): callers should treat it as an
    invalid run."""

    PASSED = "passed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    KILLED = "killed"
    ERROR = "error"


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one program: status, one-line message, wall seconds, what was isolated, and
    the run's peak memory (from its cgroup; None without one)."""

    status: SandboxStatus
    message: str
    duration_s: float
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    isolation: tuple[str, ...] = field(default_factory=tuple)
    memory_peak_mb: float | None = None

    @property
    def passed(self) -> bool:
        return self.status is SandboxStatus.PASSED


@dataclass
class Outcome:
    """What the evaluator observed of one run, before it is classified."""

    messages: list[dict]  # JSON lines from the launcher (isolation, exit/signal, error, refused)
    sentinel: bytes  # what arrived on the result pipe
    nonce: str
    timed_out: bool
    oom_kills: int
    peak_bytes: int | None
    timeout_s: float
    memory_mb: int
    cpu_s: int
    duration_s: float
    stdout: str
    stderr: str


def classify(o: Outcome) -> SandboxResult:
    isolation = tuple(next((m["isolation"] for m in o.messages if "isolation" in m), ()))
    end = next((m for m in o.messages if "exit" in m or "signal" in m), None)
    error = next((m["error"] for m in o.messages if "error" in m), None)
    refused = next((m["refused"] for m in o.messages if "refused" in m), None)
    peak = None if o.peak_bytes is None else round(o.peak_bytes / 2**20, 1)

    def result(status, message, returncode=None):
        return SandboxResult(status, message, o.duration_s, returncode, o.stdout, o.stderr, isolation, peak)

    if refused is not None:
        return result(SandboxStatus.ERROR, "sandbox refused to run: weak isolation (missing "
                      f"{'; '.join(refused)}); pass allow_weak_isolation=True to run anyway")
    if o.timed_out:
        return result(SandboxStatus.TIMED_OUT, f"wall-clock limit of {o.timeout_s:g} s exceeded")
    if error is not None:
        return result(SandboxStatus.ERROR, f"sandbox error: {error}")
    if end is None:
        return result(SandboxStatus.ERROR, "sandbox error: launcher ended early "
                      f"({_last_line(o.stderr) or 'no exit status reported'})")
    if o.oom_kills:  # the kernel's counter for this run's cgroup, whatever the program printed
        return result(SandboxStatus.KILLED, f"memory limit of {o.memory_mb} MB exceeded (the kernel killed "
                      f"{o.oom_kills} process(es) of the run)", -end.get("signal", 0) or end.get("exit"))
    if "signal" in end:
        signum = end["signal"]
        if signum == signal.SIGXCPU or (signum == signal.SIGKILL and end.get("cpu_s", 0) >= o.cpu_s - 0.05):
            return result(SandboxStatus.TIMED_OUT, f"CPU time limit of {o.cpu_s} s exceeded", -signum)
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = str(signum)
        return result(SandboxStatus.KILLED, f"killed by signal {name}", -signum)
    code = end["exit"]
    completed = f"completed {o.nonce}\n".encode() in o.sentinel
    if code == 0 and completed:
        return result(SandboxStatus.PASSED, "passed", 0)
    if f"memory-error {o.nonce}\n".encode() in o.sentinel:
        # The interpreter raised MemoryError out of the program: the address-space limit (RLIMIT_AS).
        return result(SandboxStatus.KILLED, f"memory limit of {o.memory_mb} MB exceeded (MemoryError)", code)
    if code == 0:
        return result(SandboxStatus.FAILED, "failed: the program ended before its last statement completed "
                      "(exit status 0 without the harness's completion sentinel)", code)
    last = _last_line(o.stderr)
    return result(SandboxStatus.FAILED, f"failed: {last}" if last else f"failed: exit status {code}", code)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
