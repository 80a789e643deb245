"""bench/eval_throughput.py: the plain generate loop stops where codehotfix's sampler does (first
line or end-of-text), and the whole script runs end to end with --tiny, each comparison repeated
with its speed-up's spread. No timings are asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

# bench/ lives next to src/, not inside the package; make `import bench` work under plain `pytest`.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import eval_throughput  # noqa: E402


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_first_line_stop_ends_each_row_at_its_own_first_line(tiny_tokenizer):
    eos = tiny_tokenizer.eos_token_id
    rows = [_ids(tiny_tokenizer, "\n  x = 1\ny = 2\n"), _ids(tiny_tokenizer, "print(value)") + [eos, eos]]
    width = max(map(len, rows))
    rows = [r + [eos] * (width - len(r)) for r in rows]
    stop, done_at = eval_throughput.FirstLineStop(tiny_tokenizer), [None, None]
    for n in range(1, width + 1):
        done = stop(torch.tensor([r[:n] for r in rows]), None)
        for i in (0, 1):
            if done[i] and done_at[i] is None:
                done_at[i] = n
    # row 0: the leading newline is formatting; the line ends at the newline after "x = 1"
    assert tiny_tokenizer.decode(rows[0][:done_at[0]]) == "\n  x = 1\n"
    assert done_at[1] is None  # no newline: generate's own end-of-text rule ends it
    assert eval_throughput.line_tokens(tiny_tokenizer, rows[0], {eos}) == done_at[0]
    assert eval_throughput.line_tokens(tiny_tokenizer, rows[1], {eos}) == len(_ids(tiny_tokenizer, "print(value)"))


def test_repeats_alternate_the_order():
    calls = []
    ours, theirs = eval_throughput.repeated(lambda: calls.append("a") or 1.0, lambda: calls.append("b") or 2.0, 3)
    assert calls == ["a", "b", "b", "a", "a", "b"] and ours == [1.0] * 3 and theirs == [2.0] * 3


def test_tiny_end_to_end(tmp_path):
    out = tmp_path / "eval_throughput.json"
    # One thread: on a shared 2-core machine OpenMP threads spinning against other work slow it 10×.
    result = eval_throughput.main(["--tiny", "--threads", "1", "--out", str(out), "--humaneval", "2", "--limit", "3",
                                   "--samples", "3"])
    assert out.is_file() and out.with_suffix(".md").is_file()
    cases = result["cases"]
    assert cases["repeats"] == 2 and len(cases["naive"]["seconds_per_repeat"]) == 2
    assert cases["speedup_generation_spread"]["n"] == 2
    assert cases["speedup_generation_spread"]["min"] <= cases["speedup_generation"] <= cases["speedup_generation_spread"]["max"]
    # both sides stop at the end of the first line: neither runs the whole 64-token budget per row
    assert cases["naive"]["tokens"] < 3 * (1 + 3) * cases["max_new_tokens"]
    assert result["humaneval_generation"]["speedup_spread"]["n"] == 2
    assert result["execution"]["same_pass_fail"] == 2 and result["execution"]["speedup_spread"]["n"] == 2
