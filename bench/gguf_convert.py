"""The model's first conversion (GGUF → safetensors): transformers reading the file three times, as
it does by itself, against one reader shared by the three (``models.loading._gguf_read_once``).

    python -m bench.gguf_convert [--repeats 2] [--force]     # the embedded default model
    python -m bench.gguf_convert --tiny --force               # the script works (a tiny random model)

The first ``codehotfix demo`` on a machine joins the default model's parts and converts the GGUF
file once (its "load model" phase, about 45 s of the fresh-clone set-up). transformers opens the file
for the config, for the tokenizer and for the weights, and each ``gguf.GGUFReader`` parses all of
the file's metadata again (for the default model, a 151,936-token vocabulary and its merges).

This converts the same file ``--repeats`` times each way, in alternating order, into fresh folders,
counts how many readers each conversion built, and checks that both ways write the same files
(sha256 of every file but the marker, which records the time taken). The ratio is the median of the
per-repeat ratios with its min–max. Run it alone: the two cores are the measurement.

``--tiny`` writes a GGUF file of the tiny random Qwen2 (float32 tensors; a quantized file of that
size would not exercise anything more) and converts that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (add_run_options, build_tiny_model, format_spread, output_for, print_table,  # noqa: E402
                          spread, write_results)
from codehotfix.files import sha256_file  # noqa: E402
from codehotfix.models import loading  # noqa: E402

WAYS = ("three readers", "one reader")


def write_tiny_gguf(folder: Path, dest: Path) -> Path:
    """The model and tokenizer saved in ``folder`` (``bench.common.build_tiny_model``) written as a
    GGUF file that transformers reads back to the same weights and token ids (float32 tensors)."""
    import gguf
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    model = Qwen2ForCausalLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer, cfg = AutoTokenizer.from_pretrained(folder), model.config
    writer = gguf.GGUFWriter(str(dest), "qwen2")
    writer.add_name("tiny")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_freq_base(float(getattr(cfg, "rope_theta", None) or cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    backend = tokenizer.backend_tokenizer
    vocab = backend.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    special = set(tokenizer.all_special_tokens)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    merges = json.loads(backend.to_str())["model"]["merges"]
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    for add in (writer.add_eos_token_id, writer.add_bos_token_id, writer.add_pad_token_id):
        add(tokenizer.eos_token_id)
    # Hugging Face names → GGUF names (llama.cpp's convention for qwen2).
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}
    block = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for name, tensor in model.state_dict().items():
        if name in top:
            gguf_name = top[name]
        else:  # model.layers.<i>.<module>.<weight|bias>
            _, _, layer, *rest = name.split(".")
            gguf_name = f"blk.{layer}.{block['.'.join(rest[:-1])]}.{rest[-1]}"
        writer.add_tensor(gguf_name, tensor.float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return dest


@contextlib.contextmanager
def counting_readers() -> Iterator[list[int]]:
    """Counts the ``gguf.GGUFReader`` objects built (each one parses the file's metadata)."""
    import gguf

    original, built = gguf.GGUFReader, [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        built[0] += 1
        return original(*args, **kwargs)

    gguf.GGUFReader = counted
    try:
        yield built
    finally:
        gguf.GGUFReader = original


def convert(gguf_path: Path, dest: Path, dtype: torch.dtype, shared: bool) -> tuple[float, int]:
    """Seconds of one conversion and the readers it built; ``shared`` False turns the sharing off."""
    share = loading._gguf_read_once
    if not shared:
        loading._gguf_read_once = contextlib.nullcontext  # what transformers does by itself
    try:
        # Outermost, so it counts the readers actually built: the sharing wraps the constructor inside it.
        with counting_readers() as built:
            t0 = time.perf_counter()
            loading._convert_gguf(gguf_path, "bench", dest, dtype)
            seconds = time.perf_counter() - t0
    finally:
        loading._gguf_read_once = share
    return seconds, built[0]


def file_digests(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())
            if p.is_file() and p.name != loading._MARKER}  # the marker records the time taken


def measure(gguf_path: Path, work: Path, dtype: torch.dtype, repeats: int) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {w: [] for w in WAYS}
    readers: dict[str, list[int]] = {w: [] for w in WAYS}
    digests: dict[str, dict[str, str]] = {}
    for r in range(repeats):
        for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
            dest = work / f"{way.replace(' ', '-')}-{r}"
            s, n = convert(gguf_path, dest, dtype, shared=way == "one reader")
            seconds[way].append(round(s, 3))
            readers[way].append(n)
            written = file_digests(dest)
            if digests.setdefault(way, written) != written:
                raise RuntimeError(f"{way}: repeat {r} wrote other files than repeat 0")
    ratios = [a / b for a, b in zip(seconds["three readers"], seconds["one reader"])]
    return {"seconds": seconds, "readers": readers, "speedup": spread(ratios),
            "same_files": digests["three readers"] == digests["one reader"], "files": digests["one reader"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="bfloat16", help="the dtype the model is converted to (the demo's on this CPU)")
    ap.add_argument("--repeats", type=int, default=2)
    add_run_options(ap)
    args = ap.parse_args(argv)
    out = output_for("gguf_convert", args)
    loading.set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        work = Path(tmp)
        if args.tiny:
            gguf_path, source = write_tiny_gguf(build_tiny_model(work / "tiny"), work / "tiny.gguf"), "tiny"
        else:
            from codehotfix.models.default import join_default_gguf

            gguf_path, source = work / "default.gguf", "default"
            join_default_gguf(gguf_path)
        result = measure(gguf_path, work, getattr(torch, args.dtype), args.repeats)
    med = {w: spread(v)["median"] for w, v in result["seconds"].items()}
    md = print_table("GGUF conversion: transformers' three readers against one shared reader",
                     ["model", "dtype", "three readers (s, median)", "one reader (s, median)",
                      "speed-up (median, min–max)", "readers built", "same files"],
                     [[source, args.dtype, med["three readers"], med["one reader"], format_spread(result["speedup"]),
                       f"{result['readers']['three readers'][0]} → {result['readers']['one reader'][0]}",
                       result["same_files"]]])
    payload = {"command": "python -m bench.gguf_convert " + " ".join(argv if argv is not None else sys.argv[1:]),
               "model": source, "dtype": args.dtype, "repeats": args.repeats, **result}
    write_results(out, payload, md)
    return payload


if __name__ == "__main__":
    main()
