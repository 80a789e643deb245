"""The only place generated code runs: one program per run, limited, isolated, reported as data.

Usage::

    from codehotfix.evaluation.sandbox import run_program, run_many
    result = run_program("assert 1 + 1 == 2", timeout_s=3, memory_mb=512)
    result.status            # SandboxStatus.PASSED
    results = run_many(programs, workers=4, timeout_s=3, memory_mb=512)   # one result per program

Modules: ``runner`` (the evaluator's side), ``cgroups`` (the run's cgroup), ``launcher`` and
``mount_view`` (the trusted launcher, run as its own process), ``result`` (status and verdict).

How one program runs, as root on Linux. The evaluator makes a host folder of the run (mode 0700) and
a cgroup leaf of the run (v2: memory.max, memory.swap.max=0, pids.max; else v1 memory
limit_in_bytes (+ memsw) and pids.max), then starts the launcher (``python -I -S launcher.py SPEC``) in
a new session. The launcher joins the cgroup, then:

1. unshares new mount, PID, network, IPC, UTS and cgroup namespaces;
2. builds the run's own root and ``pivot_root``s into it (``mount_view``): read-only binds of /usr,
   /bin, /lib*, /etc and the interpreter's prefix, a minimal /dev, the program's source read-only, and
   one size-limited tmpfs holding the empty working folder (``/home/sandbox``), /tmp, /var/tmp, /run
   and /dev/shm. No other host path exists there: no home folders, no host sockets, no other run;
3. forks a supervisor that is PID 1 of the new PID namespace and mounts a fresh /proc;
4. the supervisor forks the program's process, which sets rlimits (CPU seconds, file size, open
   files, no core files; address space and processes as backstops), ``no_new_privs``, drops to an
   unprivileged uid of its own (one per concurrent run, from ``UID_BASE``) and execs ``python -I -S
   -B -c WRAPPER program.py`` with a scrubbed environment (PATH, HOME, TMPDIR, LANG).

The verdict. PASSED needs exit status 0 *and* the completion sentinel: the wrapper (``launcher.WRAPPER``)
reads a random per-run nonce from an inherited pipe and closes it before the program runs, and writes
``completed <nonce>`` to a second pipe only after the program's last statement has completed. So a
program that stops early (``os._exit(0)``, ``sys.exit(0)``, ``exec``, a signal) or prints a fake
verdict is FAILED. Kills are classified from the kernel: the wait status of the program's process
(signal, CPU-limit signal), the run cgroup's OOM-kill counter; MemoryError only when the wrapper, not
the program's output, saw it. Threat model, honestly: the program runs in the same interpreter as the
wrapper, so code written to attack this harness can read the nonce from the wrapper's frame or memory
and forge a PASSED; it gains a wrong verdict, not a way out of the sandbox.

The evaluator waits at most ``timeout_s``, SIGKILLs the launcher's process group, then kills every
process in the run's cgroup and waits until it is empty before ``run_program`` returns; the cgroup
and the host folder are then removed (never following links).

What holds as root with cgroups (verified by tests/evaluation/test_sandbox.py): no network (empty
network namespace: 127.0.0.1, DNS, abstract and filesystem Unix sockets of the host unreachable); no
host files visible outside the read-only system folders; no writes outside the run's private tmpfs;
runs cannot see each other; no signals to processes outside the run; memory, processes and threads
of the whole run bounded by its cgroup; disk use bounded by the tmpfs (whose pages also count as
the run's memory); nothing of the run outlives ``run_program``.

Limits, plainly: this is a process sandbox, not a VM. It shares the host kernel (a kernel exploit
escapes it), filters no system calls (no seccomp), can read every world-readable file under /usr,
/etc and the interpreter's prefix, and shares CPU and disk bandwidth (no cpu or io cgroup limits).
The uids ``UID_BASE .. UID_BASE + UID_COUNT`` are shared by all evaluator processes on the machine.
Without cgroups (no controllers available), ``isolation`` says ``no-cgroup``: memory is then limited
per process (RLIMIT_AS = memory_mb each, so N processes may use N times that), processes by
RLIMIT_NPROC of the run's uid, disk still by the tmpfs, and leftover processes are found by uid.
The run's cgroup also carries the launcher and PID 1 (``runner.SUPERVISOR_MB`` is added for them), and
``memory_peak_mb`` reports the cgroup's peak. The OOM-kill counter is per run, so a run in which the
kernel killed any process for memory is KILLED even if its main process then exited 0.

Without root or without namespaces the isolation is weak: without root the program keeps the
evaluator's uid and has no cgroup (a user namespace still gives it the private view where the kernel
allows one); without namespaces it sees the host's files, e.g. ~/.ssh, and as root an interpreter
under a private home cannot even be started by the run's uid. Such runs are refused with status
ERROR unless the caller passes ``allow_weak_isolation=True`` (CLI: ``--allow-weak-isolation``), and
then ``isolation`` names what is missing (with no network namespace the network is only blocked by
patching ``socket``). Results are data (a status and a message), never exceptions: a program cannot
make the evaluator raise.
"""

from codehotfix.evaluation.sandbox.result import SandboxResult, SandboxStatus
from codehotfix.evaluation.sandbox.runner import UID_BASE, UID_COUNT, run_many, run_program

__all__ = ["SandboxStatus", "SandboxResult", "run_program", "run_many", "UID_BASE", "UID_COUNT"]
