"""codehotfix.runtime: the allocator setting, opt-in for the CLI's batch commands, never for serve/watch."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from codehotfix import cli, runtime


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_applies_on_glibc():
    # In a child process: the setting cannot be undone, and the test session must keep glibc's default.
    code = "from codehotfix import runtime; print(runtime.keep_freed_memory(), runtime.keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]  # applied, and idempotent


def test_it_is_applied_only_when_the_environment_asks(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(True) or True)
    monkeypatch.delenv(runtime.KEEP_FREED_MEMORY_ENV, raising=False)
    assert runtime.keep_freed_memory_if_asked() is False and not calls
    monkeypatch.setenv(runtime.KEEP_FREED_MEMORY_ENV, "1")
    assert runtime.keep_freed_memory_if_asked() is True and calls == [True]


@pytest.mark.parametrize("argv, asked, applied", [
    (["demo", "--help"], True, True), (["-q", "train", "--help"], True, True),
    (["demo", "--help"], False, False),  # the default: glibc's own behaviour
    (["serve", "--help"], True, False), (["--debug", "watch", "--help"], True, False)])
def test_the_cli_keeps_freed_memory_for_batch_commands_when_asked(monkeypatch, argv, asked, applied):
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(True) or True)
    if asked:
        monkeypatch.setenv(runtime.KEEP_FREED_MEMORY_ENV, "1")
    else:
        monkeypatch.delenv(runtime.KEEP_FREED_MEMORY_ENV, raising=False)
    cli.main(argv)  # --help: prints the command's help and returns
    assert bool(calls) is applied
