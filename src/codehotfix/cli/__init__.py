"""The ``codehotfix`` command: a thin typer app; each subcommand module registers itself here.

Every command calls one function of ``codehotfix.api`` (or a stage's public function) and prints a
short JSON or table summary. Errors raised on purpose (CodehotfixError, KeyError from registries)
exit with status 2 and one line; ``--debug`` shows the full traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

app = typer.Typer(
    name="codehotfix",
    help="Hotfix code language models: learn the fixed code, unlearn the buggy code, retain the rest.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


def _set_log_level(verbose: int, quiet: bool) -> None:
    """Progress goes to stderr through the ``codehotfix`` logger: INFO by default, -v DEBUG, -q WARNING."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("codehotfix")
    if not any(getattr(h, "_codehotfix_cli", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("codehotfix: %(message)s"))
        handler._codehotfix_cli = True  # type: ignore[attr-defined]  # one handler however often main() runs
        root.addHandler(handler)
    root.setLevel(level)


def _print_version(value: bool) -> None:
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        print(f"codehotfix {version('codehotfix')}")
    except PackageNotFoundError:
        print("codehotfix (not installed: running from a source tree)")
    raise typer.Exit(0)


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
from codehotfix.cli import serve  # noqa: E402,F401
from codehotfix.cli import study  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``codehotfix`` script."""
    from codehotfix.errors import CodehotfixError

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app(args=argv, standalone_mode=False)
    except (CodehotfixError, KeyError, FileNotFoundError) as e:
        if _state["debug"] or "--debug" in (argv or sys.argv):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"codehotfix: error: {msg}", file=sys.stderr)
        raise SystemExit(2) from None
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except Exception as e:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            raise SystemExit(e.exit_code) from None
        if isinstance(e, click.exceptions.Abort):
            raise SystemExit(130) from None
        raise
