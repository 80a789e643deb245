"""Property-based tests: whatever bytes a cases file or a config holds, loading either returns
cases/a config or raises ``CodehotfixError`` — never another exception (a traceback for the user).

The inputs are random bytes, truncated valid files, valid files with flipped bytes, valid files in
the wrong encoding, and gzip of garbage (or of a truncated valid file), fed to every registered
loader through ``LOADERS`` and ``load_cases``, and to ``load_config`` (YAML file + overrides).
Run: ``pytest -q tests/test_fuzz_inputs.py`` (a few seconds; max_examples is modest on purpose).
"""

from __future__ import annotations

import gzip
import itertools
import json
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codehotfix.config import HotfixConfig, load_config
from codehotfix.data.cases import HotfixCase
from codehotfix.data.loaders import LOADERS, load_cases
from codehotfix.errors import CodehotfixError

ASSETS = Path(__file__).parent / "assets" / "data"
_JSONL_SEED = "".join(json.dumps(r) + "\n" for r in (
    {"id": "a", "prefix": "def f(x):\n", "buggy": "    return x == None", "fixed": "    return x is None"},
    {"id": "b", "prefix": "", "buggy": "import yaml; yaml.load(s)", "fixed": "import yaml; yaml.safe_load(s)",
     "suffix": "", "language": "python", "group": "g", "source": {"k": 1}},
)).encode()
# Each loader, the file name it reads (the suffix matters: .gz is decompressed) and a valid file.
SEEDS = {
    "jsonl": ("cases.jsonl", _JSONL_SEED),
    "pysstubs": ("pysstubs.jsonl", (ASSETS / "pysstubs_small.jsonl").read_bytes()),
    "manysstubs4j": ("manysstubs4j.jsonl", (ASSETS / "manysstubs4j_small.jsonl").read_bytes()),
    "humanevalfix": ("humanevalpack.jsonl", (ASSETS / "humanevalpack_small.jsonl").read_bytes()),
    "jesse_csv": ("sstubs.csv", (ASSETS / "sstub_input_small.csv").read_bytes()),
    "sstubs_json": ("sstubs.json", (ASSETS / "sstubs_small.json").read_bytes()),
}
YAML_SEED = (Path(__file__).parent.parent / "configs" / "default.yaml").read_bytes()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)
_counter = itertools.count()


def test_every_registered_loader_has_a_seed():
    assert set(LOADERS.names()) == set(SEEDS)


def _flip(data: bytes, positions: list[int], masks: list[int]) -> bytes:
    out = bytearray(data)
    for pos, mask in zip(positions, masks):
        if out:
            out[pos % len(out)] ^= mask
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> tuple[bytes, bool]:
    """(file bytes, gzip them?) from one of the kinds of damage a real file suffers."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped", "encoding", "gz_garbage", "gz_truncated",
                                 "spliced"]))
    if kind == "random":
        return draw(st.binary(max_size=600)), draw(st.booleans())
    if kind == "truncated":
        return seed[: draw(st.integers(0, len(seed)))], False
    if kind == "flipped":
        n = draw(st.integers(1, 8))
        return _flip(seed, draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n)),
                     draw(st.lists(st.integers(1, 255), min_size=n, max_size=n))), False
    if kind == "encoding":
        text = seed.decode("utf-8") + draw(st.sampled_from(["", "# é ü ß €\n", "\x00\n"]))
        return text.encode(draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "cp1252"])), errors="replace"), False
    if kind == "gz_garbage":
        return gzip.compress(draw(st.binary(max_size=300))), True
    if kind == "gz_truncated":
        packed = gzip.compress(seed)
        return packed[: draw(st.integers(0, len(packed) - 1))], True
    # spliced: a valid file with random bytes inserted somewhere
    at = draw(st.integers(0, len(seed)))
    return seed[:at] + draw(st.binary(min_size=1, max_size=40)) + seed[at:], False


def _write(tmp: Path, name: str, data: bytes, gz: bool) -> Path:
    folder = tmp / str(next(_counter))
    folder.mkdir()
    path = folder / (name + ".gz" if gz else name)
    path.write_bytes(data)
    return path


def _load_or_codehotfix_error(call, *args) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LeftOutWarning for records that cannot become cases
        try:
            result = call(*args)
        except CodehotfixError:
            return
    assert isinstance(result, list) and all(isinstance(c, HotfixCase) for c in result)


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_loader_returns_cases_or_raises_codehotfix_error(fmt, tmp_path_factory):
    name, seed = SEEDS[fmt]
    tmp = tmp_path_factory.mktemp(f"fuzz-{fmt}")

    @FUZZ
    @given(mutated(seed))
    def check(sample: tuple[bytes, bool]) -> None:
        data, gz = sample
        # gz "files" of a non-gz kind are gzipped here, so every kind also reaches the gzip path.
        path = _write(tmp, name, gzip.compress(data) if gz and not data.startswith(b"\x1f\x8b") else data, gz)
        if fmt in ("jesse_csv", "sstubs_json") and gz:
            path = path.rename(path.with_suffix(""))  # these formats are not read compressed
        _load_or_codehotfix_error(LOADERS.get(fmt), path)
        _load_or_codehotfix_error(load_cases, path, fmt)
        _load_or_codehotfix_error(load_cases, path, "auto")

    check()


def _config_or_config_error(path: Path | None, overrides: list[str]) -> None:
    try:
        cfg = load_config(path, overrides)
    except CodehotfixError:
        return
    assert isinstance(cfg, HotfixConfig)


_KEYS = ["seed", "training.lr", "training.epochs", "training.batch_size", "training.dtype", "eval.top_p",
         "eval.temperature", "eval.samples", "eval.backend", "adapter.r", "adapter.layers", "objectives",
         "objectives.0.weight", "objectives.1.params", "objectives.0", "training", "nope.x", "", "a.b.c.d"]
_VALUES = st.one_of(
    st.sampled_from([".inf", "-.inf", ".nan", "nan", "1e999", "-1", "0", "[", "{a: [", "*x", "&a [*a]", "!!python/none",
                     "2024-13-45", "9" * 5000, "[" * 200, "'", "yes", "~", "{1: 2}", "[1, 2]", "- a\n- b", "\t"]),
    st.text(max_size=30),
)


def test_config_file_returns_config_or_raises_config_error(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-config")

    @FUZZ
    @given(mutated(YAML_SEED))
    def check(sample: tuple[bytes, bool]) -> None:
        data, gz = sample
        _config_or_config_error(_write(tmp, "config.yaml", data, False), [])

    check()


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(_KEYS), _VALUES), max_size=4), st.booleans())
def test_overrides_return_config_or_raise_config_error(pairs, with_sep):
    _config_or_config_error(None, [f"{k}={v}" if with_sep else f"{k}{v}" for k, v in pairs])
