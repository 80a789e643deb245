"""Optional dependencies: the modules each ``pip install 'codehotfix[EXTRA]'`` brings, and one check.

The core install trains and evaluates; serving, reports, privacy scanning, the TRL baseline and
TensorBoard tracking need extras. A module that needs one calls ``require_extra`` where it is
entered (its package ``__init__`` or the function that first needs it), so a missing extra is one
actionable line instead of an ``ImportError`` from deep inside::

    from codehotfix.extras import require_extra
    require_extra("serve")          # raises MissingExtraError naming `pip install 'codehotfix[serve]'`
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Callable, Mapping

from codehotfix.errors import CodehotfixError

__all__ = ["EXTRAS", "MissingExtraError", "lazy_exports", "require_extra"]

# Import names per extra; pyproject.toml's [project.optional-dependencies] lists the same packages.
EXTRAS: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "prometheus_client", "httpx"),
    "report": ("matplotlib", "jinja2"),
    "privacy": ("detect_secrets",),
    "bench": ("trl",),
    "track": ("tensorboard",),
}


class MissingExtraError(CodehotfixError, ImportError):
    """An optional dependency is not installed; the message names the extra that installs it.

    Also an ``ImportError``, so code that already guards an import with ``except ImportError`` still works.
    """


def require_extra(extra: str, what: str | None = None) -> list[ModuleType]:
    """Imports every module of ``extra`` and returns them.

    Args:
        extra: a key of ``EXTRAS``.
        what: the feature that needs it, for the message (default: the extra's name).

    Raises:
        MissingExtraError: one line naming the missing module and ``pip install 'codehotfix[extra]'``.
        KeyError: an unknown extra (lists the valid ones).
    """
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; valid: {', '.join(EXTRAS)}")
    modules = []
    for name in EXTRAS[extra]:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            raise MissingExtraError(f"{what or extra} needs {name}, which is not installed: "
                                    f"pip install 'codehotfix[{extra}]'") from None
    return modules


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` (PEP 562) for ``package``: each name of ``exports`` is imported from
    its submodule (``exports[name]``) on first use, then kept as a plain attribute.

    So a package can offer names whose modules import torch (or an extra) while its torch-free
    submodules stay importable without it::

        _EXPORTS = {"evaluate_cases": "rates"}
        __all__ = list(_EXPORTS)
        __getattr__ = lazy_exports(__name__, _EXPORTS)
    """
    import sys

    def __getattr__(name: str) -> object:  # noqa: N807 -- the module hook's own name
        if name in exports:
            value = getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
            setattr(sys.modules[package], name, value)  # once loaded, a plain attribute
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
