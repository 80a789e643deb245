"""A model's shape without its weights, and a random model of that shape: how a timing benchmark
reaches a machine the weights cannot reach.

    python -m bench.shape_model export --out .gpu/shape [--model default]   # here: config + tokenizer, ~12 MB
    python -m bench.shape_model materialize .gpu/shape /tmp/shape-model       # there: random weights, seeded

The device machine (bench/device_check.sh) takes at most 64 MiB of files and reaches no network,
so the default model's weights (a 400 MB GGUF, 2.4 GB converted) cannot travel there. What a step
or a decode costs depends on the shapes (layers, widths, vocabulary, sequence lengths), not on the
weights' values, so a random model with the real config and tokenizer times the same work; the
tokenizer keeps the real sequence lengths. What it cannot measure is anything the weights decide:
whether a hotfix takes effect, or when a completion stops (a random model rarely writes a newline,
so decodes run to their token budget).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Sequence

from codehotfix.errors import CodehotfixError
from codehotfix.files import atomic_folder

# Every file a folder needs to load as a model except the weights (absent ones are skipped: not every
# model has a chat template or a generation config).
SHAPE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "chat_template.jinja", "vocab.json", "merges.txt")
REQUIRED = ("config.json", "tokenizer_config.json")
MARKER = "shape.json"


def export_shape(source: Path, out: Path, *, origin: dict | None = None) -> Path:
    """Copies ``source``'s config and tokenizer files (not its weights) into ``out``, with ``shape.json``
    saying where they came from.

    Raises:
        CodehotfixError: ``source`` lacks a required file, or ``out`` exists (nothing is overwritten).
    """
    missing = [f for f in REQUIRED if not (source / f).is_file()]
    if missing:
        raise CodehotfixError(f"{source}: not a model folder (no {', '.join(missing)})")
    if out.exists():
        raise CodehotfixError(f"{out} exists; remove it or choose another --out")
    with atomic_folder(out) as tmp:
        copied = [f for f in SHAPE_FILES if (source / f).is_file()]
        for name in copied:
            shutil.copy2(source / name, tmp / name)
        (tmp / MARKER).write_text(json.dumps({"source": str(source), "files": copied, **(origin or {}),
                                              "weights": "none: bench.shape_model materialize draws them"},
                                             indent=2) + "\n", encoding="utf-8")
    return out


def materialize(shape: Path, out: Path, *, dtype: str = "bfloat16", seed: int = 0) -> Path:
    """A model folder with ``shape``'s config and tokenizer and random weights (seeded, in ``dtype``).

    Raises:
        CodehotfixError: ``shape`` was not written by ``export_shape``, or ``out`` exists.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    if not (shape / MARKER).is_file():
        raise CodehotfixError(f"{shape}: no {MARKER}; write it with `python -m bench.shape_model export`")
    if out.exists():
        raise CodehotfixError(f"{out} exists; remove it or choose another folder")
    config = AutoConfig.from_pretrained(shape)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        for name in json.loads((shape / MARKER).read_text(encoding="utf-8"))["files"]:
            if name != "config.json":  # save_pretrained wrote it, with the dtype
                shutil.copy2(shape / name, tmp / name)
    return out


def main(argv: Sequence[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="config + tokenizer of a model, without weights")
    ex.add_argument("--model", default="default", help="'default' (the embedded model) or a model folder")
    ex.add_argument("--out", type=Path, required=True)
    ma = sub.add_parser("materialize", help="a random model of an exported shape")
    ma.add_argument("shape", type=Path)
    ma.add_argument("out", type=Path)
    ma.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    ma.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.command == "materialize":
        path = materialize(args.shape, args.out, dtype=args.dtype, seed=args.seed)
    else:
        import torch

        from codehotfix.models.loading import model_folder

        folder, checksum = model_folder(args.model, torch.float32)
        if folder is None:
            raise CodehotfixError(f"--model {args.model!r}: give 'default' or a local model folder")
        path = export_shape(folder, args.out, origin={"model": args.model, "model_checksum": checksum})
    print(f"[shape_model] wrote {path}")
    return path


if __name__ == "__main__":
    try:
        main()
    except CodehotfixError as e:
        sys.exit(f"shape_model: {e}")
