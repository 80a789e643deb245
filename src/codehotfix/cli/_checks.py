"""Parameter checks shared by the commands, run by typer while it parses the command line.

They run before the command's body, so a bad value fails before any model loads: a float that is
NaN or infinite (``--temperature nan`` compares False with every bound), an output path that is a
folder where a file is wanted or lies under a file, and a text input that is not a regular UTF-8
file. Each check calls the same helper the API uses (``codehotfix.files``), so the CLI and a
notebook fail the same way.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional

import typer

from codehotfix.files import check_output, read_text, require_regular_file

__all__ = ["finite", "at_least", "output_file", "output_folder", "text_file", "input_file"]

IntCheck = Callable[[typer.Context, typer.CallbackParam, Optional[int]], Optional[int]]


def finite(ctx: typer.Context, param: typer.CallbackParam, value: Optional[float]) -> Optional[float]:
    """Rejects NaN and infinities: range checks such as ``temperature > 0`` let NaN through."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}", ctx=ctx, param=param)
    return value


def at_least(low: int) -> IntCheck:
    """A callback rejecting integers below ``low``; unlike typer's ``min=``, its message names the
    value given (``--limit -1`` sliced from the end and evaluated 3 of 4 cases)."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Optional[int]) -> Optional[int]:
        if value is not None and value < low:
            raise typer.BadParameter(f"must be >= {low}, got {value}", ctx=ctx, param=param)
        return value

    return check


def _option(param: typer.CallbackParam) -> str:
    if param.param_type_name == "argument":
        return (param.name or "").upper()
    return max(param.opts, key=len)


def output_file(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """An output file: not a folder, not a device, not under a file (``check_output``)."""
    return value if value is None else check_output(value, "file", _option(param))


def output_folder(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """An output folder: not a file, not under a file (``check_output``)."""
    return value if value is None else check_output(value, "folder", _option(param))


def text_file(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """A YAML/text input that must be a regular UTF-8 file (a FIFO would block its reader)."""
    if value is not None:
        read_text(value, _option(param))
    return value



def input_file(ctx: typer.Context, param: typer.CallbackParam, value: Optional[Path]) -> Optional[Path]:
    """An input that must be a regular file, checked without opening it (a FIFO would block)."""
    if value is not None:
        require_regular_file(value, _option(param))
    return value
