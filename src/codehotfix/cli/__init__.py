"""The ``codehotfix`` command: a thin typer app; each subcommand module registers itself here.

Every command calls one function of ``codehotfix.api`` (or a stage's public function) and prints a
short JSON or table summary. Every error the user can cause exits with status 2 and one line on
stderr, ``codehotfix: error: …``: usage errors (a missing or unknown option or command, a bad
value), errors raised on purpose (CodehotfixError, KeyError from registries) and OS errors on
the files named. ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn, Optional, Sequence

import typer

# typer >= 0.2x vendors click as typer._click, whose exceptions are not click's; older typer (the
# pyproject allows >= 0.12) raises click's own. In non-standalone mode (needed to catch our own
# errors) typer re-raises them instead of printing them, so main() must handle both.
try:
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as _click_errors
ClickException, UsageError = _click_errors.ClickException, _click_errors.UsageError
# click < 8.2 shows the help and exits 0 instead of raising this.
NoArgsIsHelpError = getattr(_click_errors, "NoArgsIsHelpError", ())

app = typer.Typer(
    name="codehotfix",
    help="Hotfix code language models: learn the fixed code, unlearn the buggy code, retain the rest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: typer's rich help shows every flag as `--force <bool>` (even --help), which
    # reads as if it took a value. Sub-apps set it too (cli/_options.py: SUBAPP).
    rich_markup_mode=None,
)

_state = {"debug": False}
# The exit status of every error a user can cause (as argparse and click use for usage errors).
USAGE_STATUS = 2


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("codehotfix")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        print(f"codehotfix {_version()}")
        raise typer.Exit()


def _set_log_level(verbose: int, quiet: bool) -> None:
    """Progress goes to stderr through the ``codehotfix`` logger: INFO by default, -v DEBUG, -q WARNING."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("codehotfix")
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):  # one handler however often main() runs
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("codehotfix: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one at the first
    ``main()``: a caller that swaps stderr between calls (a test runner's capture, a notebook)
    would otherwise get writes to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ANN001  # StreamHandler.__init__ assigns it
        pass


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
          verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (debug)."),
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors on stderr."),
          version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                       callback=_print_version)) -> None:
    _state["debug"] = debug
    _set_log_level(verbose, quiet)


# Explicit imports: each module adds its commands to ``app``.
from codehotfix.cli import commands  # noqa: E402,F401
from codehotfix.cli import humaneval  # noqa: E402,F401
from codehotfix.cli import mine  # noqa: E402,F401
from codehotfix.cli import effects  # noqa: E402,F401
from codehotfix.cli import hotfixes  # noqa: E402,F401
from codehotfix.cli import pii  # noqa: E402,F401
from codehotfix.cli import report  # noqa: E402,F401
from codehotfix.cli import run  # noqa: E402,F401
from codehotfix.cli import sequence  # noqa: E402,F401
from codehotfix.cli import serve  # noqa: E402,F401
from codehotfix.cli import study  # noqa: E402,F401
from codehotfix.cli import watch  # noqa: E402,F401


def _fail(message: str) -> NoReturn:
    # One line whatever the message holds: scripts grep stderr, and a wrapped list reads as two errors.
    text = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"codehotfix: error: {text}", file=sys.stderr)
    raise SystemExit(USAGE_STATUS)


def _usage_message(e: UsageError) -> str:
    """One line for a usage error: the command, what is wrong, and where the help is."""
    ctx = e.ctx
    path = ctx.command_path if ctx is not None else "codehotfix"
    if NoArgsIsHelpError and isinstance(e, NoArgsIsHelpError) and ctx is not None:
        names = ctx.command.list_commands(ctx) if isinstance(ctx.command, typer.core.TyperGroup) else []
        what = f"missing command; one of: {', '.join(names)}" if names else "missing arguments"
    else:
        what = e.format_message()
    return f"{path}: {what} (see '{path} --help')"


# Commands that run for days: they keep glibc's default of returning freed memory to the kernel.
LONG_RUNNING = frozenset({"serve", "watch"})


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of the ``codehotfix`` script.

    Raises:
        SystemExit: 0 on success; 2 with one line on stderr for every error the user can cause.
    """
    from codehotfix.errors import CodehotfixError

    argv = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = False  # a previous in-process call's --debug must not leak into this one
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in LONG_RUNNING:
        from codehotfix import runtime  # torch-free: set before any command imports torch

        runtime.keep_freed_memory()
    try:
        status = app(args=argv, prog_name="codehotfix", standalone_mode=False)
    except (CodehotfixError, KeyError, OSError, UsageError, ClickException) as e:
        if _state["debug"] or "--debug" in argv:
            raise
        if isinstance(e, UsageError):
            _fail(_usage_message(e))
        if isinstance(e, ClickException):
            _fail(e.format_message())
        _fail(e.args[0] if isinstance(e, KeyError) and e.args else str(e))
    except typer.Exit as e:  # raised by a command itself
        raise SystemExit(e.exit_code) from None
    except typer.Abort:
        print("codehotfix: aborted", file=sys.stderr)
        raise SystemExit(130) from None
    # Without standalone mode typer returns the status of an Exit (e.g. 130 after Ctrl-C) instead.
    if isinstance(status, int) and not isinstance(status, bool) and status != 0:
        raise SystemExit(status)
