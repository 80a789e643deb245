"""codehotfix.runtime: the allocator setting the CLI's batch commands apply, and where it is left off."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from codehotfix import cli, runtime


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_applies_on_glibc():
    # In a child process: the setting cannot be undone, and the test session keeps glibc's default.
    code = "from codehotfix import runtime; print(runtime.keep_freed_memory(), runtime.keep_freed_memory())"
    env = {k: v for k, v in os.environ.items() if k != "CODEHOTFIX_DEFAULT_MALLOC"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.split() == ["True", "True"]  # applied, and idempotent


def test_the_environment_opts_out(monkeypatch):
    monkeypatch.setenv("CODEHOTFIX_DEFAULT_MALLOC", "1")
    assert runtime.keep_freed_memory() is False


@pytest.mark.parametrize("argv, applied", [(["demo", "--help"], True), (["-q", "train", "--help"], True),
                                            (["serve", "--help"], False), (["--debug", "watch", "--help"], False)])
def test_the_cli_keeps_freed_memory_for_batch_commands_only(monkeypatch, argv, applied):
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(True) or True)
    cli.main(argv)  # --help: prints the command's help and returns
    assert bool(calls) is applied


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_release_freed_memory_returns_what_keep_freed_memory_holds():
    # A child process, as above. With keep_freed_memory on, 400 MB written and freed stay resident;
    # release_freed_memory gives them back (the resident set read from /proc, in MB).
    code = """if True:
        import os
        from codehotfix import runtime

        def rss():
            return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20

        runtime.keep_freed_memory()
        start = rss()
        blocks = [b"x" * (4 << 20) for _ in range(100)]
        held = rss()
        del blocks
        kept = rss()
        print(start, held, kept, runtime.release_freed_memory(), rss())
    """
    env = {k: v for k, v in os.environ.items() if k != "CODEHOTFIX_DEFAULT_MALLOC"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    start, held, kept, released, after = out.split()
    start, held, kept, after = int(start), int(held), int(kept), int(after)
    assert held - start >= 380 and kept - start >= 380  # freed, but kept by malloc
    assert released == "True" and after - start < 50  # handed back to the kernel
