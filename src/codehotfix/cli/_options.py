"""The shared flag vocabulary: one definition (names, help, default) per flag that several commands take.

Every command builds these options through the functions below, so a flag cannot drift apart between
commands; ``tests/test_cli_flags.py`` walks the whole command tree and checks it. The rules:

- ``--out/-o`` is where a command writes its product: a folder, except for ``mine`` and ``pii cases``,
  whose one product is a cases JSONL file (that file). ``--json`` is always a JSON results file.
- ``--samples/-k`` is sampled completions per prompt; ``--pass-k`` the k of pass@k.
- A command that loads a model takes ``--model/-m``, ``--device`` and ``--threads``; one that applies
  a hotfix to it takes ``--adapter/-a``.
- Booleans are flags (``--force``, ``--canary/--no-canary``), never ``--force <bool>``.
- ``--registry/-r`` reads $CODEHOTFIX_REGISTRY.

A renamed flag keeps its old name for one release as a hidden option built by ``deprecated``: using it
prints one line naming the replacement (and raises a ``DeprecationWarning`` for code that watches).

    from codehotfix.cli import _options as opt
    def cmd(model: Optional[str] = opt.model(), samples: int = opt.samples(), …)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, NamedTuple, Optional, TypeVar

import typer

from codehotfix.cli._checks import at_least, output_file, output_folder, text_file

__all__ = ["Flag", "SHARED", "OUT_CASES_HELP", "SAMPLES_DEFAULT", "SUBAPP", "DEFAULT_EXCEPTIONS", "REGISTRY_ENV",
           "model", "adapter", "device", "threads", "seed", "limit", "samples", "pass_k", "json_out", "out_folder",
           "out_cases", "registry", "canary", "config", "cases_format", "allow_exec", "allow_weak_isolation",
           "report_to", "deprecated", "prefer", "warn", "warn_deprecated"]

T = TypeVar("T")

SAMPLES_DEFAULT = 10  # the paper's 10 sampled completions per prompt
REGISTRY_ENV = "CODEHOTFIX_REGISTRY"

# Commands whose shared flag has another default, and why (the flag-walk test allows only these).
DEFAULT_EXCEPTIONS = {
    ("humaneval", "--samples"): (1, "HumanEval decodes greedily by default (--temperature 0): one completion"),
}

# Settings of every sub-app (``typer.Typer(..., **SUBAPP)``): plain help, as the root app's.
SUBAPP: dict = {"rich_markup_mode": None}


class Flag(NamedTuple):
    """One shared flag: its long name, short name (or None), default and help."""

    name: str
    short: Optional[str]
    default: Any
    help: str


def _flags(*flags: Flag) -> dict:
    return {f.name: f for f in flags}


SHARED = _flags(
    Flag("--model", "-m", None, "Base model: 'default' (embedded Qwen2.5-Coder-0.5B-Instruct), a hub id, a local "
                                "folder or a .gguf file."),
    Flag("--adapter", "-a", None, "A hotfix folder to apply (without it: the base model alone)."),
    Flag("--device", None, "auto", "Where the model runs: auto (a CUDA GPU if any, else the CPU), cpu, cuda, cuda:N."),
    Flag("--threads", None, None, "Torch CPU threads (default: all cores)."),
    Flag("--seed", None, 0, "Random seed (sampling, bootstrap, synthetic data): the same seed gives the same result."),
    Flag("--limit", None, None, "Only the first N cases (prompts, texts or problems)."),
    Flag("--samples", "-k", SAMPLES_DEFAULT, "Sampled completions per prompt (paper: 10)."),
    Flag("--pass-k", None, None, "pass@k values to report (repeatable; each <= --samples; default 1)."),
    Flag("--json", None, None, "Where to write the full results (a JSON file)."),
    Flag("--out", "-o", None, "Output folder."),  # help: "Output folder. <what goes in it>"
    Flag("--registry", "-r", Path("hotfixes"), f"Hotfix registry folder (default: ${REGISTRY_ENV}, else ./hotfixes)."),
    Flag("--canary", None, True, "Run the hotfix's canary check before enabling it (--no-canary: enable without it)."),
    Flag("--config", "-c", None, "YAML config (see configs/)."),
    Flag("--format", None, "auto", "Cases format: auto, jsonl, pysstubs, manysstubs4j, humanevalfix, jesse_csv, "
                                   "sstubs_json."),
    Flag("--allow-exec", None, False, "Permit running model-generated code in the sandbox (required to run it)."),
    Flag("--report-to", None, "none", "Also log loss curves to: none, tensorboard (in the --out folder's "
                                      "tensorboard/; needs the 'track' extra)."),
    Flag("--allow-weak-isolation", None, False, "Run generated code even without root/namespaces (weak sandbox)."),
)
# The one exception to "--out is a folder": commands whose one product is a cases file.
OUT_CASES_HELP = "Output cases JSONL file (this command's one product)."


def _option(name: str, *, default: Any = None, required: bool = False, help_text: Optional[str] = None,
            **kwargs: Any) -> Any:
    flag = SHARED[name]
    names = [flag.name] + ([flag.short] if flag.short else [])
    value = ... if required else (flag.default if default is None else default)
    return typer.Option(value, *names, help=help_text or flag.help, **kwargs)


def model() -> Any:
    return _option("--model")


def adapter() -> Any:
    return _option("--adapter")


def device() -> Any:
    return _option("--device")


def threads() -> Any:
    return _option("--threads", callback=at_least(1))


def seed() -> Any:
    return _option("--seed")


def limit() -> Any:
    return _option("--limit", callback=at_least(1))


def samples(default: Optional[int] = None, low: int = 0) -> Any:
    """``--samples/-k``; a ``default`` other than the shared one must be listed in DEFAULT_EXCEPTIONS."""
    return _option("--samples", default=default, callback=at_least(low))


def pass_k() -> Any:
    return _option("--pass-k")


def json_out(required: bool = True) -> Any:
    return _option("--json", required=required, callback=output_file)


def out_folder(required: bool = True, what: str = "") -> Any:
    """``--out/-o`` as a folder; ``what`` says what goes in it."""
    return _option("--out", required=required, callback=output_folder,
                   help_text=SHARED["--out"].help + (f" {what}" if what else ""))


def out_cases() -> Any:
    """``--out/-o`` for the two commands whose product is one cases file (see the module docstring)."""
    return _option("--out", required=True, callback=output_file, help_text=OUT_CASES_HELP)


def registry() -> Any:
    return typer.Option(SHARED["--registry"].default, "--registry", "-r", envvar=REGISTRY_ENV,
                        help=SHARED["--registry"].help)


def canary() -> Any:
    return typer.Option(True, "--canary/--no-canary", help=SHARED["--canary"].help)


def config() -> Any:
    return _option("--config", callback=text_file)


def cases_format() -> Any:
    return _option("--format")


def allow_exec() -> Any:
    return _option("--allow-exec")


def report_to() -> Any:
    return _option("--report-to")


def allow_weak_isolation() -> Any:
    return _option("--allow-weak-isolation")


def warn(message: str) -> None:
    """One line on stderr, plus a DeprecationWarning for code that watches (hidden by default)."""
    typer.echo(f"codehotfix: warning: {message}", err=True)
    warnings.warn(message, DeprecationWarning, stacklevel=2)


def warn_deprecated(old: str, new: str) -> None:
    """The one-line warning of a deprecated flag, naming its replacement."""
    warn(f"{old} is deprecated and goes in the next release; use {new}")


def deprecated(old: str, new: str, default: Any = None) -> Any:
    """A hidden option keeping the old name ``old`` working for one release; warns when it is used.

    The command merges it into the new option with ``prefer(new_value, old_value)``.
    """

    def check(ctx: typer.Context, param: typer.CallbackParam, value: Any) -> Any:
        if value is not None and value != default and value != []:
            warn_deprecated(old, new)
        return value

    return typer.Option(default, old, hidden=True, callback=check, help=f"Deprecated: use {new}.")


def prefer(new: T, old: Optional[T], new_default: Any = None) -> T:
    """The new option's value, or the deprecated alias's when only the alias was given."""
    if old is None or old == []:
        return new
    return old if new == new_default else new

