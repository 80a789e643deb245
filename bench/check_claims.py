"""Every measured number in README.md and docs/*.md, recomputed from the committed raw file it came from.

    python bench/check_claims.py                       # the repository's docs against its results
    python bench/check_claims.py --docs-root /tmp/copy # docs elsewhere (tests alter a copy), results here

The claims live in ``bench/claims.py``: one ``Claim`` per quoted passage, naming the doc file, the
exact quoted text with ``{n}`` where each checked number stands, the raw file (under
``bench/results/`` or ``docs/results/``, gzip allowed), a recompute function of ``COMPUTE`` and its
arguments. The checker finds every occurrence of the quote in the doc, recomputes the numbers from
the raw file and fails — exit status 1, one line per problem naming the doc, the claim, the quoted
and the recomputed value — when a number drifts by more than the doc's own rounding (half a unit of
its last digit: ``0.445`` allows ±0.0005, ``+111.1%`` ±0.05, ``13`` none) or when a registered
quote is no longer in the doc.

A second check, ``uncovered``, lists the measurement-looking passages of the docs — ``p = 0.68``,
``57.8%`` — that no claim covers and that are not on the short list of non-measurements
(``NOT_MEASURED`` in ``bench/claims.py``: the paper's reported figures, config thresholds). A
number a doc reports as measured must be registered, or it goes from the doc.

Pure Python (json, gzip, scipy for the paired tests through ``codehotfix.evaluation.stats``,
loaded on its own so that torch is not imported; the learning-curve claims go through
``bench/study/curve_table.py``, whose imports are torch-free too); no model. A test runs the whole
check with torch made unimportable.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import math
import re
import statistics
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Claim", "Problem", "COMPUTE", "check", "uncovered", "main"]


@dataclass(frozen=True)
class Claim:
    """One quoted passage of a doc and where its numbers come from.

    Args:
        name: unique id, used in failure messages.
        doc: the doc file, relative to the docs root (``README.md``, ``docs/study.md``).
        quote: the exact text as it stands in the doc; ``{n}`` marks a checked number, ``{x}`` a
            number that is not checked here (another claim does), ``{…}`` any text within the line.
            Runs of whitespace match any whitespace, so a quote may cross a line break.
        source: the raw file, relative to the repository root (a folder for study grids).
        compute: a key of ``COMPUTE``.
        args: its positional arguments after the loaded source.
        tol: the allowed difference per number; ``None``: half a unit of the quoted last digit.
    """

    name: str
    doc: str
    quote: str
    source: str
    compute: str
    args: tuple = ()
    tol: float | None = None


@dataclass(frozen=True)
class Problem:
    doc: str
    claim: str
    message: str

    def __str__(self) -> str:
        return f"{self.doc}: claim {self.claim!r}: {self.message}"


# ---------------------------------------------------------------- numbers in text

_NUM = r"[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][+\-−]?\d+)?"


@lru_cache(maxsize=None)
def quote_regex(quote: str) -> re.Pattern:
    """The quote as a regex: literal text, ``{n}`` a captured number, ``{x}`` any number, ``{…}`` any
    text on the line, whitespace runs as ``\\s+``."""
    parts = re.split(r"(\{n\}|\{x\}|\{…\}|\s+)", quote)
    out = []
    for part in parts:
        if part == "{n}":
            out.append(f"({_NUM})")
        elif part == "{x}":
            out.append(f"(?:{_NUM})")
        elif part == "{…}":
            out.append(r"[^\n]*?")
        elif part and part.isspace():
            out.append(r"\s+")
        elif part:
            out.append(re.escape(part))
    return re.compile("".join(out))


def parse_number(text: str) -> tuple[float, float]:
    """(value, half a unit of its last digit) of a quoted number: ``−4.67`` → (−4.67, 0.005)."""
    t = text.replace("−", "-").replace(",", "")
    mantissa, _, exponent = t.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10.0 ** (int(exponent.replace("+", "")) if exponent else 0)
    return float(t), 0.5 * 10.0 ** (-decimals) * scale


# ---------------------------------------------------------------- raw files

@lru_cache(maxsize=None)
def load(path: Path) -> Any:
    """A JSON file (gzip allowed: ``.gz``), a JSON Lines file (``.jsonl``: the list of its records,
    e.g. an audit log) or a YAML config (``.yaml``)."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if path.suffix == ".yaml":
        import yaml

        return yaml.safe_load(path.read_text(encoding="utf-8"))
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def lookup(data: Any, path: str) -> Any:
    """``a.b.0.c`` through dicts and lists; ``systems[system=codehotfix]`` picks a list item by a
    field (``[seed=0,system=codehotfix]`` by several); a trailing ``*100`` or ``*1e-6`` scales the number."""
    path, _, factor = path.partition("*")
    for key in re.findall(r"[^.\[\]]+(?:\[[^\]]*\])?", path):
        name, _, selector = key.partition("[")
        if name == "__len__":  # how many items a list or object holds
            data = len(data)
            continue
        if name:
            data = data[int(name)] if isinstance(data, list) else data[name]
        if selector:  # one or more field=value conditions, comma-separated: [seed=0,system=codehotfix]
            conditions = [c.partition("=")[::2] for c in selector.rstrip("]").split(",")]
            data = next(item for item in data if all(str(item.get(f)) == w for f, w in conditions))
    return float(data) * float(factor) if factor else data


@lru_cache(maxsize=None)
def _module(relpath: str):
    """A module of ``src/codehotfix`` loaded from its file under a private name: the packages'
    ``__init__`` files import torch (evaluation, online), these modules do not."""
    path = ROOT / "src" / "codehotfix" / relpath
    spec = importlib.util.spec_from_file_location("_codehotfix_" + relpath.replace("/", "_")[:-3], path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    if str(ROOT / "src") not in sys.path:
        sys.path.append(str(ROOT / "src"))  # for their own light imports (codehotfix.data.cases)
    spec.loader.exec_module(module)
    return module


def _stats():
    return _module("evaluation/stats.py")


# ---------------------------------------------------------------- recompute functions: results JSON
# Every function takes the raw file's path first and returns a number or a tuple of numbers, one
# per ``{n}`` of the quote.

def value(src: Path, *paths: str) -> tuple[float, ...]:
    """Recorded values as they stand in the file (``path*100`` for a percentage)."""
    data = load(src)
    return tuple(float(lookup(data, p)) for p in paths)


def value_over(src: Path, path: str, limit: float) -> float:
    """How far a recorded value lies above ``limit`` (negative: below it)."""
    return float(lookup(load(src), path)) - float(limit)


def ratio(src: Path, num: str, den: str, scale: float = 1.0) -> float:
    data = load(src)
    return float(lookup(data, num)) / float(lookup(data, den)) * scale


def difference(src: Path, a: str, b: str, scale: float = 1.0) -> float:
    """(a − b) · scale."""
    data = load(src)
    return (float(lookup(data, a)) - float(lookup(data, b))) * scale


def rel_change(src: Path, before: str, after: str) -> float:
    """(after − before) / before in percent."""
    data = load(src)
    b, a = float(lookup(data, before)), float(lookup(data, after))
    return 100.0 * (a - b) / b


def reduction(src: Path, before: str, after: str) -> float:
    """(before − after) / before in percent, the privacy tables' "reduction"."""
    data = load(src)
    b, a = float(lookup(data, before)), float(lookup(data, after))
    return 100.0 * (b - a) / b


def mcnemar(src: Path, gained: str, lost: str) -> float:
    """McNemar's exact p recomputed from recorded discordant counts (``stats.mcnemar_exact``)."""
    data = load(src)
    g, l = int(lookup(data, gained)), int(lookup(data, lost))
    return _stats().mcnemar_exact([True] * l + [False] * g, [False] * l + [True] * g).p_value


def mcnemar_detail(src: Path, row: str) -> tuple[float, float, float]:
    """A report row's "G gained, L lost" and McNemar exact p recomputed from them: (G, L, p)."""
    gained, lost = _gained_lost(lookup(load(src), row)["detail"])
    p = _stats().mcnemar_exact([True] * lost + [False] * gained, [False] * lost + [True] * gained).p_value
    return float(gained), float(lost), p


def mcnemar_detail_p(src: Path, row: str) -> float:
    """Only the recomputed McNemar p of a report row's "G gained, L lost"."""
    return mcnemar_detail(src, row)[2]


def _gained_lost(detail: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+) gained, (\d+) lost", detail.strip())
    if not m:
        raise ValueError(f"not a 'G gained, L lost' detail: {detail!r}")
    return int(m.group(1)), int(m.group(2))


def mcnemar_from_zero(src: Path, rate: str, n: str) -> float:
    """McNemar's exact p when no case succeeded before: every success after is a gained pair."""
    data = load(src)
    gained = round(float(lookup(data, rate)) * float(lookup(data, n)))
    return _stats().mcnemar_exact([False] * gained, [True] * gained).p_value


def wilson(src: Path, rate: str, n: str | int, scale: float = 1.0) -> tuple[float, float]:
    """The 95% Wilson interval of a recorded rate over ``n`` trials (a number or a path)."""
    data = load(src)
    n = int(float(lookup(data, n))) if isinstance(n, str) else n
    low, high = _stats().wilson_interval(round(float(lookup(data, rate)) * n), n)
    return low * scale, high * scale


def _demo_outcome(judged: dict | None, outcome: str) -> bool | None:
    """``field=value`` (e.g. ``label=fixed``, ``toward=buggy``: an unset field is not that value), a
    boolean ``field`` (``valid``, ``contains_fixed``: undefined, None, where the record leaves it
    unset), as the events' metrics define them, or ``text_has:STRING``; None without a completion."""
    if judged is None:
        return None
    if outcome.startswith("text_has:"):  # the text holds a string: "text_has:" plus three backticks is a code fence
        return outcome[len("text_has:"):] in judged["text"]
    if "&" in outcome:  # a conjunction (``label=fixed&valid``): undefined where any part is
        parts = [_demo_outcome(judged, part) for part in outcome.split("&")]
        return None if any(v is None for v in parts) else all(parts)
    field, _, want = outcome.partition("=")
    got = judged.get(field)
    if want:
        return got is not None and str(got) == want
    return None if got is None else bool(got)


def _paired(first: dict[str, Any], second: dict[str, Any], first_file: Any, second_file: Any,
            what: str) -> list[tuple[Any, Any]]:
    """The records of two files keyed by id, paired in ``first``'s order (a seeded bootstrap over them
    depends on it); files holding different ids are an error naming both."""
    if set(first) != set(second):
        raise ValueError(f"{first_file} and {second_file} hold different {what}")
    return [(first[i], second[i]) for i in first]


def _greedy_pairs(before_file: Path, after_file: Path, event: str, outcome: str) -> list[tuple[bool, bool]]:
    """(before, after) greedy ``outcome`` per case of two evaluation files of the same cases, over the
    cases where the outcome is defined in both."""
    before = {r["id"]: r for r in load(before_file)["cases"]}
    after = {r["id"]: r for r in load(after_file)["cases"]}
    pairs = []
    for b_rec, a_rec in _paired(before, after, before_file, after_file, "case ids"):
        b = _demo_outcome(b_rec["events"][event]["greedy"], outcome)
        a = _demo_outcome(a_rec["events"][event]["greedy"], outcome)
        if b is not None and a is not None:
            pairs.append((b, a))
    return pairs


def _greedy_row(pairs: Sequence[tuple[bool, bool]]) -> tuple[float, ...]:
    """(cases, before rate, Wilson low, high, after rate, Wilson low, high, gained, lost, McNemar exact
    p) of paired (before, after) greedy outcomes."""
    n, kb, ka = len(pairs), sum(b for b, _ in pairs), sum(a for _, a in pairs)
    st = _stats()
    test = st.mcnemar_exact([b for b, _ in pairs], [a for _, a in pairs])
    return (n, kb / n, *st.wilson_interval(kb, n), ka / n, *st.wilson_interval(ka, n), test.gained, test.lost,
            test.p_value)


def demo_greedy(folder: Path, event: str, outcome: str) -> tuple[float, ...]:
    """One greedy row of a demo run, recomputed from its per-case files (``base_eval.json.gz`` and
    ``hotfix_eval.json.gz`` in ``folder``), independently of ``codehotfix.evaluation.compare``:
    (cases, before rate, Wilson low, high, after rate, Wilson low, high, gained, lost, McNemar exact p),
    over the cases where the outcome is defined on both sides."""
    pairs = _greedy_pairs(folder / "base_eval.json.gz", folder / "hotfix_eval.json.gz", event, outcome)
    return _greedy_row(pairs)


def _budget_outcomes(path: Path, event: str) -> dict[str, bool]:
    """Per case id, whether the greedy ``event`` completion of an evaluation file used its whole token
    budget: its ``hit_budget`` where recorded, else (results from before the field) the event's
    ``new_tokens`` against the budget, which counts the greedy completion alone only when no samples
    were drawn (an error otherwise)."""
    data = load(path)
    # evaluation.events.window_tokens' rule, restated: importing it would import torch (package __init__)
    budget = data["config"]["max_new_tokens"] * (2 if event == "window" else 1)
    out = {}
    for rec in data["cases"]:
        block = rec["events"][event]
        if (block.get("greedy") or {}).get("hit_budget") is not None:
            out[rec["id"]] = bool(block["greedy"]["hit_budget"])
        elif data["config"].get("samples"):
            raise ValueError(f"{path}: {rec['id']} has samples and no hit_budget: new_tokens counts them too")
        else:
            out[rec["id"]] = block["new_tokens"] >= budget
    return out


def demo_budget(folder: Path, event: str) -> tuple[float, ...]:
    """``demo_greedy``'s row for "the greedy ``event`` completion used its whole token budget" (128
    tokens for a window, 64 for a line): (cases, before, Wilson low, high, after, low, high, gained,
    lost, McNemar exact p), from a demo run's ``base_eval.json.gz`` and ``hotfix_eval.json.gz``."""
    before = _budget_outcomes(folder / "base_eval.json.gz", event)
    after = _budget_outcomes(folder / "hotfix_eval.json.gz", event)
    pairs = _paired(before, after, folder / "base_eval.json.gz", folder / "hotfix_eval.json.gz", "case ids")
    return _greedy_row(pairs)


def demo_event_tokens(folder: Path, event: str, only_unbudgeted: bool = False) -> tuple[float, ...]:
    """Tokens the ``event`` completions wrote (each block's ``new_tokens``: the greedy one alone when no
    samples were drawn, as in the demo), base then hotfix, and their ratio; with
    ``only_unbudgeted``, over the cases whose hotfixed completion did not use its whole budget."""
    files = folder / "base_eval.json.gz", folder / "hotfix_eval.json.gz"
    keep = {i for i, hit in _budget_outcomes(files[1], event).items() if not (only_unbudgeted and hit)}
    sums = [sum(r["events"][event]["new_tokens"] for r in load(f)["cases"] if r["id"] in keep) for f in files]
    return (float(len(keep)), float(sums[0]), float(sums[1]), sums[1] / sums[0])


def demo_holm(folder: Path, event: str, outcome: str, *family: str) -> float:
    """Holm-adjusted McNemar p of ``outcome`` within ``family`` (every greedy metric of the event's
    table, ``outcome`` among them), as the demo's summary adjusts them."""
    ps = [demo_greedy(folder, event, o)[-1] for o in family]
    return _stats().holm(ps)[list(family).index(outcome)]


def _ends_repeating(text: str, span: int = 96, longest_unit: int = 48) -> bool:
    """The last ``span`` characters are one unit of at most ``longest_unit`` characters repeated
    (``asyncio.run(asyncio.run(…``): a degenerate loop, as opposed to a long but varied completion."""
    tail = text[-span:]
    return len(tail) == span and any(tail[k:] == tail[:-k] for k in range(1, longest_unit + 1))


def demo_window_shapes(folder: Path, file: str) -> tuple[float, ...]:
    """What a demo evaluation's greedy windows (``folder/file``) look like: (windows, windows that used
    their whole budget, of those the ones that end in a repeating unit (``_ends_repeating``), windows
    holding a Markdown code fence ```), from the per-case texts."""
    windows = [c["events"]["window"]["greedy"] for c in load(folder / file)["cases"]]
    texts = [(w["text"], bool(w.get("hit_budget"))) for w in windows]
    return (float(len(texts)), float(sum(hit for _, hit in texts)),
            float(sum(hit and _ends_repeating(t) for t, hit in texts)), float(sum("```" in t for t, _ in texts)))


def demo_greedy_pick(folder: Path, event: str, outcome: str, *which: int) -> tuple[float, ...]:
    """The ``which`` positions of ``demo_greedy`` (a quote that gives only some of its numbers)."""
    row = demo_greedy(folder, event, outcome)
    return tuple(row[i] for i in which)


def perplexity(src: Path, files: str, field: str) -> float | tuple[float, ...]:
    """From per-text perplexities ``[{tokens, base, hotfixed}]``: ``base`` / ``hotfixed``
    (token-weighted, exp of total NLL over tokens), ``change`` (hotfixed / base − 1, %), ``p``
    (Wilcoxon signed-rank on per-text NLL per token), ``texts``, ``tokens``."""
    rows = lookup(load(src), files)
    tokens = sum(r["tokens"] for r in rows)
    ppl = {k: math.exp(sum(r["tokens"] * math.log(r[k]) for r in rows) / tokens) for k in ("base", "hotfixed")}
    if field == "p":
        return _stats().wilcoxon_paired([math.log(r["base"]) for r in rows],
                                        [math.log(r["hotfixed"]) for r in rows]).p_value
    return {"base": ppl["base"], "hotfixed": ppl["hotfixed"], "change": 100 * (ppl["hotfixed"] / ppl["base"] - 1),
            "texts": float(len(rows)), "tokens": float(tokens)}[field]


def _ppl(records: list[dict], key: str) -> float:
    """Token-weighted perplexity of ``codehotfix perplexity`` records (``{key}_nll`` summed per text)."""
    return math.exp(sum(r[f"{key}_nll"] for r in records) / sum(r["tokens"] for r in records))


def perplexity_runs(src: Path, field: str, other: str | None = None) -> float:
    """A ``codehotfix perplexity`` JSON recomputed from its per-text NLLs: ``base``, ``hotfixed``,
    ``change`` (hotfixed / base − 1, %), its 95% interval ``ci_low`` / ``ci_high`` (%) or ``p``
    (Wilcoxon signed-rank on per-text NLL per token).
    With ``other`` (a second run on the same texts), ``change`` and ``p`` compare this run's hotfixed
    model with the other's instead of with the base model."""
    mine = load(src)["records"]
    theirs = mine
    if other:
        pairs = _paired({r["id"]: r for r in mine}, {r["id"]: r for r in load(ROOT_OF[0] / other)["records"]},
                        src, other, "texts")
        theirs = [t for _, t in pairs]
    key = "hotfixed" if other else "base"
    if field == "p":
        return _stats().wilcoxon_paired([t[f"{key}_nll"] / t["tokens"] for t in theirs],
                                        [r["hotfixed_nll"] / r["tokens"] for r in mine]).p_value
    if field in ("ci_low", "ci_high"):  # the task's own interval (paired bootstrap over texts, seed 0)
        ci = _stats().perplexity_change_ci([t[f"{key}_nll"] for t in theirs], [r["hotfixed_nll"] for r in mine],
                                           [r["tokens"] for r in mine])
        return 100 * ci[0 if field == "ci_low" else 1]
    return {"base": _ppl(mine, "base"), "hotfixed": _ppl(mine, "hotfixed"),
            "change": 100 * (_ppl(mine, "hotfixed") / _ppl(theirs, key) - 1)}[field]


def locality_runs(src: Path, other: str | None = None) -> tuple[float, ...]:
    """A ``codehotfix locality`` JSON recomputed from its per-prompt records: (prompts, first line
    unchanged, Wilson low, high, mean KL(base‖hotfixed)); with ``other`` (a second hotfix on the same
    prompts) also the prompts gained and lost going from ``other`` to this one (unchanged = kept),
    McNemar's exact p, and the Wilcoxon signed-rank p of the per-prompt KL."""
    mine = load(src)["records"]
    n, kept = len(mine), sum(bool(r["unchanged"]) for r in mine)
    row = (float(n), float(kept), *_stats().wilson_interval(kept, n), sum(r["kl"] for r in mine) / n)
    if other is None:
        return row
    theirs = [t for _, t in _paired({r["id"]: r for r in mine},
                                    {r["id"]: r for r in load(ROOT_OF[0] / other)["records"]}, src, other, "prompts")]
    test = _stats().mcnemar_exact([bool(t["unchanged"]) for t in theirs], [bool(r["unchanged"]) for r in mine])
    kl_p = _stats().wilcoxon_paired([t["kl"] for t in theirs], [r["kl"] for r in mine]).p_value
    return (*row, test.gained, test.lost, test.p_value, kl_p)


def has(src: Path, path: str, field: str, want: str) -> tuple[()]:
    """No number: the recorded list holds an item whose ``field`` is ``want`` (else the claim fails)."""
    if not any(str(item.get(field)) == want for item in lookup(load(src), path)):
        raise ValueError(f"no item with {field} = {want!r} in {path}")
    return ()


# The docs' online-hotfix reach was measured on pack v1 (22 topics × contexts 0–7); pack v2 kept those
# ids unchanged, so v1 is recovered from v2 by topic and context number.
PACK_V1_TOPICS = frozenset({
    "yaml_safe_load", "datetime_utcnow", "logger_warning", "collections_abc", "pandas_concat",
    "inspect_getfullargspec", "assert_equal", "numpy_builtin_types", "time_perf_counter", "base64_encodebytes",
    "thread_is_alive", "sys_maxsize", "pil_lanczos", "torch_load_weights_only", "tempfile_mkstemp",
    "subprocess_no_shell", "requests_timeout", "secrets_token", "password_pbkdf2", "is_none", "mutable_default",
    "range_off_by_one"})


def edit_rules(src: Path, below: int, field: str) -> float:
    """Edit rules (``codehotfix.online.edits.derive_rules``) from pack v1's cases whose context number
    (``topic/k``) is below ``below``: ``rules``, ``rejected`` or ``cases``."""
    from codehotfix.data.cases import read_cases

    cases = [c for c in read_cases(src)
             if c.group in PACK_V1_TOPICS and int(c.id.rsplit("/", 1)[1]) < below]
    rules = _module("online/edits.py").derive_rules(cases)
    return float({"rules": len(rules.rules), "rejected": len(rules.rejected), "cases": len(cases)}[field])


def items_below(src: Path, path: str, field: str, key: str, limit: str) -> tuple[float, ...]:
    """``field`` of every item of the recorded list ``path`` whose ``key`` is below the value at
    ``limit`` (serve_load's levels that stopped short of their request count: their clients)."""
    data = load(src)
    bound = float(lookup(data, limit))
    return tuple(float(item[field]) for item in lookup(data, path) if float(item[key]) < bound)


def count(src: Path, path: str) -> float:
    """The length of a recorded list."""
    return float(len(lookup(load(src), path)))


# ---------------------------------------------------------------- recompute functions: study grids (per case)
# ``src`` is the folder of one study (``bench/results/study_<name>``): base_eval-*.json and cells/*.json.

@lru_cache(maxsize=None)
def _study_files(folder: Path) -> tuple[dict, list[dict]]:
    base = load(next(folder.glob("base_eval-*.json")))
    cells = [load(p) for p in sorted((folder / "cells").glob("*.json"))]
    return base, cells


def _select(cells: list[dict], sel: str) -> list[dict]:
    """``method/loss`` (every seed) or ``method/loss/s1``."""
    method, loss, *seed = sel.split("/")
    out = [c for c in cells if c["method"] == method and c["loss"] == loss
           and (not seed or c["seed"] == int(seed[0][1:]))]
    if not out:
        raise KeyError(f"no cell {sel!r}")
    return sorted(out, key=lambda c: c["seed"])


def _metric(cases: list[dict], metric: str) -> float:
    """``sampled_fixed`` / ``greedy_buggy`` (rates), ``count:sampled_fixed``, ``margin`` (mean),
    ``n:sampled`` (completions), ``n:cases``."""
    if metric == "margin":
        return statistics.fmean(c["margin"] for c in cases)
    if metric == "n:sampled":
        return float(sum(len(c["sample_labels"]) for c in cases))
    if metric == "n:cases":
        return float(len(cases))
    counted = metric.startswith("count:")
    mode, label = metric.removeprefix("count:").split("_")
    if mode == "greedy":
        hits, n = sum(c["greedy_label"] == label for c in cases), len(cases)
    else:
        labels = [lab for c in cases for lab in c["sample_labels"]]
        hits, n = sum(lab == label for lab in labels), len(labels)
    return float(hits) if counted else hits / n


def _agg(xs: Sequence[float], how: str) -> float:
    if how == "mean":
        return statistics.fmean(xs)
    if how == "sd":
        return statistics.stdev(xs)
    if how == "median":
        return statistics.median(xs)
    return {"min": min, "max": max, "sum": math.fsum}[how](xs)


def study(folder: Path, sel: str, metric: str, how: str = "mean") -> float:
    """A metric of the base model (``sel`` = ``base``) or of a row's cells, recomputed from the
    per-case records (``train_s``, ``eval_s`` and ``params`` from the cell record), pooled over the
    row's seeds."""
    base, cells = _study_files(folder)
    if sel == "base":
        return _metric(base["cases"], metric)
    if metric in ("train_s", "eval_s", "params"):
        key = {"train_s": lambda c: c["train"]["seconds"], "eval_s": lambda c: c["eval_seconds"],
               "params": lambda c: c["trainable_parameters"]}[metric]
        return _agg([float(key(c)) for c in _select(cells, sel)], how)
    return _agg([_metric(c["cases"], metric) for c in _select(cells, sel)], how)


def study_change(folder: Path, sel: str, metric: str) -> float:
    """Relative change (%) of a rate from the base model to a row (seeds averaged)."""
    before, after = study(folder, "base", metric), study(folder, sel, metric)
    return 100.0 * (after - before) / before


def study_all(folder: Path, metric: str, how: str) -> float:
    """``how`` (min, max) of a per-case metric over every cell of the grid and the base model."""
    base, cells = _study_files(folder)
    return _agg([_metric(c["cases"], metric) for c in cells] + [_metric(base["cases"], metric)], how)


def study_cells(folder: Path) -> float:
    return float(len(_study_files(folder)[1]))


def study_cell_value(folder: Path, sel: str, path: str) -> float:
    """A recorded field of a row's first cell (its config, say)."""
    return float(lookup(_select(_study_files(folder)[1], sel)[0], path))


def study_ratio(folder: Path, num: str, den: str, metric: str, how: str) -> float:
    """``how`` over the rows both patterns have of metric(num) / metric(den); ``*`` in a pattern is
    the part that varies: ``dora/*`` over ``lora/*`` compares the methods loss by loss."""
    _, cells = _study_files(folder)
    rows = {f"{c['method']}/{c['loss']}" for c in cells}
    a, b = num.split("*"), den.split("*")
    keys = sorted({r[len(a[0]):len(r) - len(a[1])] for r in rows if r.startswith(a[0]) and r.endswith(a[1])}
                  & {r[len(b[0]):len(r) - len(b[1])] for r in rows if r.startswith(b[0]) and r.endswith(b[1])})
    return _agg([study(folder, num.replace("*", k), metric) / study(folder, den.replace("*", k), metric)
                 for k in keys], how)


def margin_test(folder: Path, sel: str, field: str) -> float:
    """The table's Δ margin: per-case margins averaged over the row's seeds vs the base model's;
    ``median`` change or the two-sided Wilcoxon ``p`` (as ``codehotfix.study.table.margin_test``)."""
    base, cells = _study_files(folder)
    before = {c["id"]: c["margin"] for c in base["cases"]}
    per_case: dict[str, list[float]] = {}
    for cell in _select(cells, sel):
        for case in cell["cases"]:
            per_case.setdefault(case["id"], []).append(case["margin"])
    ids = sorted(per_case)
    b, a = [before[i] for i in ids], [statistics.fmean(per_case[i]) for i in ids]
    if field == "median":
        return statistics.median(x - y for x, y in zip(a, b))
    return _stats().wilcoxon_paired(b, a).p_value


def paired_rate(folder: Path, sel: str, metric: str, field: str) -> float | tuple[float, float]:
    """Before/after on the same cases, base model vs one cell (``sel`` = ``base`` for the base's own
    interval). ``p``: greedy McNemar exact, sampled Wilcoxon signed-rank on per-case rates;
    ``ci``: greedy Wilson, sampled percentile bootstrap over cases (stats.bootstrap_mean_ci,
    seed 0); ``gained`` / ``lost`` (greedy)."""
    st = _stats()
    base, cells = _study_files(folder)
    mode, label = metric.split("_")
    if sel == "base":
        before = after = base["cases"]
    else:
        (cell,) = _select(cells, sel)
        by_id = {c["id"]: c for c in cell["cases"]}
        before = [c for c in base["cases"] if c["id"] in by_id]
        after = [by_id[c["id"]] for c in before]
    if mode == "greedy":
        b = [c["greedy_label"] == label for c in before]
        a = [c["greedy_label"] == label for c in after]
        if field == "ci":
            return st.wilson_interval(sum(a), len(a))
        res = st.mcnemar_exact(b, a)
        return {"p": res.p_value, "gained": float(res.gained), "lost": float(res.lost)}[field]
    rates = lambda cases: [sum(x == label for x in c["sample_labels"]) / len(c["sample_labels"]) for c in cases]
    if field == "ci":
        return st.bootstrap_mean_ci(rates(after))
    return st.wilcoxon_paired(rates(before), rates(after)).p_value


PHASES = ("load model", "split + select topics", "base eval", "training", "hotfix eval")


def demo_phases(src: Path) -> tuple[float, ...]:
    """A demo run's phase seconds from its ``summary.json`` and their sum (the demo's time, even for
    a run that resumed and whose ``total`` counts only the last start)."""
    sec = load(src)["seconds"]
    phases = [float(sec[p]) for p in PHASES]
    return (*phases, sum(phases))


def demo_phase_sum(src: Path) -> float:
    """The sum of a demo run's phases in seconds."""
    return demo_phases(src)[-1]


def demo_minutes(src: Path) -> float:
    """The sum of a demo run's phases in minutes."""
    return demo_phases(src)[-1] / 60


def demo_phase_over(src: Path, limit: float) -> float:
    """How many seconds a demo run's phases took beyond ``limit`` (negative: under it)."""
    return demo_phases(src)[-1] - float(limit)


def demo_phase_ratio(src: Path, other: str, phase: str) -> float:
    """``phase`` seconds (or "sum") of the demo run ``other`` over those of ``src`` (summary.json)."""
    pick = lambda f: demo_phases(f)[-1] if phase == "sum" else float(load(f)["seconds"][phase])  # noqa: E731
    return pick(ROOT_OF[0] / other) / pick(src)


def demo_phase_change(src: Path, other: str, phase: str) -> float:
    """|other / src − 1| in percent for one phase's seconds: how much a run moved against another."""
    return abs(demo_phase_ratio(src, other, phase) - 1) * 100


def demo_matching(src: Path, other: str, file: str, event: str) -> float:
    """How many cases of two demo runs (folders ``src`` and ``other``) hold equal ``event`` records in
    ``file`` (base_eval.json.gz or hotfix_eval.json.gz): the judged completions, without the token
    count (a line cut from a window generation counts the window's tokens)."""
    def records(folder: Path) -> dict[str, dict]:
        return {c["id"]: {k: v for k, v in c["events"][event].items() if k != "new_tokens"}
                for c in load(folder / file)["cases"]}

    return float(sum(a == b for a, b in _paired(records(src), records(ROOT_OF[0] / other), src, other,
                                                "case ids")))


def demo_records_same(src: Path, other: str, file: str) -> float:
    """How many cases of two demo runs hold the same whole per-case record in ``file`` (every
    completion, label, margin and token count): the evaluation computed, or read, the same."""
    def records(folder: Path) -> dict[str, dict]:
        return {c["id"]: c for c in load(folder / file)["cases"]}

    return float(sum(a == b for a, b in _paired(records(src), records(ROOT_OF[0] / other), src, other, "case ids")))


def demo_selection_same(src: Path, other: str) -> float:
    """How many training contexts two demo runs' target selections (split.json) gave the same record
    (the base model's margin), 0 unless both chose the same targets."""
    a, b = (load(folder / "split.json")["selection"] for folder in (src, ROOT_OF[0] / other))
    if a["targets"] != b["targets"]:
        return 0.0
    return float(sum(x == y for x, y in _paired(a["inputs"], b["inputs"], src, other, "training contexts")))


def demo_greedy_matching(src: Path, other: str, file: str, event: str, *fields: str) -> float:
    """How many cases of two demo runs keep the same greedy ``fields`` (e.g. ``label``, ``toward``:
    the same judgement; ``text``: the same completion) for ``event`` in ``file``."""
    def greedy(folder: Path) -> dict[str, tuple]:
        return {c["id"]: tuple(c["events"][event]["greedy"].get(f) for f in fields) for c in load(folder / file)["cases"]}

    return float(sum(a == b for a, b in _paired(greedy(src), greedy(ROOT_OF[0] / other), src, other, "case ids")))


def eval_profile_steps(src: Path, rows: str) -> float:
    """Decoding steps of a ``bench/profile_eval.py`` result in the bucket of ``rows`` still running
    (e.g. "1-8"); 0 where no step fell in it (the bucket is then not listed)."""
    return float(sum(b["steps"] for b in load(src)["decode"]["by_rows"] if b["rows"] == rows))


def step_matching(src: Path, other: str, field: str) -> float:
    """How many held-out contexts two sequence step files (``<strategy>/step-<k>.json``) give the
    same ``field`` (e.g. ``greedy``: the same greedy completion), paired by case id."""
    def by_id(path: Path) -> dict[str, Any]:
        return {c["id"]: c[field] for c in load(path)["eval"]["cases"]}

    return float(sum(a == b for a, b in _paired(by_id(src), by_id(ROOT_OF[0] / other), src, other, "case ids")))


def _step_outcomes(path: Path, what: str, outcome: str, groups: set[str] | None = None) -> dict[str, bool | None]:
    """Per case, problem or prompt of a sequence step file (or its base.json): ``what`` is an event of
    the held-out contexts (``split``: the greedy ``outcome``, as ``_demo_outcome`` reads it; only the
    cases of ``groups`` when given), ``humaneval`` (passed) or ``locality`` (first line unchanged)."""
    doc = load(path)
    if what == "humaneval":
        return {task: bool(ok) for task, ok in doc["humaneval"]["passed"].items()}
    if what == "locality":
        return {r["id"]: bool(r["unchanged"]) for r in doc["locality"]["records"]}
    return {c["id"]: _demo_outcome(c["events"][what]["greedy"], outcome) for c in doc["eval"]["cases"]
            if groups is None or c["group"] in groups}


def step_versus(src: Path, other: str, what: str, outcome: str = "", first: int = 1,
                last: int | None = None) -> tuple[float, ...]:
    """Two models on the same items, paired: a sequence step file ``src`` against ``other`` (another
    strategy's step file, an earlier step, or base.json): (items, how many src gets right, how many
    other does, gained, lost, McNemar exact p); gained and lost go from ``other`` to ``src``, over the items where the
    outcome is defined in both. Where one file holds every item of the other and more (base.json, or
    a later step's hotfixes 1..k), only the shared items count; otherwise different items are an error.
    ``first``/``last`` (1-based, inclusive): only the contexts of those hotfixes of ``src``'s sequence."""
    hotfixes = load(src).get("hotfixes")
    groups = None if hotfixes is None or (first == 1 and last is None) else set(hotfixes[first - 1:last])
    mine = _step_outcomes(src, what, outcome, groups)
    theirs = _step_outcomes(ROOT_OF[0] / other, what, outcome, groups)
    if set(mine) <= set(theirs):
        theirs = {i: v for i, v in theirs.items() if i in mine}
    elif set(theirs) <= set(mine):
        mine = {i: v for i, v in mine.items() if i in theirs}
    pairs = [(t, m) for m, t in _paired(mine, theirs, src, other, "items") if m is not None and t is not None]
    n = len(pairs)
    test = _stats().mcnemar_exact([t for t, _ in pairs], [m for _, m in pairs])
    return (n, sum(m for _, m in pairs), sum(t for t, _ in pairs), test.gained, test.lost, test.p_value)


def train_log_agree(src: Path, other: str, field: str = "loss") -> tuple[float, ...]:
    """Two trainings' ``train_log.jsonl`` step by step: (steps from the start whose logged ``field``
    is the same in both, steps of ``src``)."""
    def steps(path: Path) -> list[float]:
        return [json.loads(line)[field] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    mine, theirs = steps(src), steps(ROOT_OF[0] / other)
    same = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
    return float(same), float(len(mine))


def demo_versus(src: Path, other: str, event: str, outcome: str) -> tuple[float, ...]:
    """Two hotfixes judged on the same held-out contexts: the greedy ``outcome`` in
    ``hotfix_eval.json.gz`` of the demo folder ``src`` against that of the folder ``other``:
    (cases, rate of src, rate of other, gained, lost, McNemar exact p); gained and lost count the
    contexts going from ``other`` to ``src``, over those where the outcome is defined on both."""
    pairs = _greedy_pairs(ROOT_OF[0] / other / "hotfix_eval.json.gz", src / "hotfix_eval.json.gz", event, outcome)
    n = len(pairs)
    test = _stats().mcnemar_exact([b for b, _ in pairs], [a for _, a in pairs])
    return (n, sum(a for _, a in pairs) / n, sum(b for b, _ in pairs) / n, test.gained, test.lost, test.p_value)


def humaneval_versus(src: Path, other: str) -> tuple[float, ...]:
    """Greedy HumanEval of two runs (``humaneval_*.json[.gz]`` files) on the same problems, paired:
    (problems, pass@1 of src, pass@1 of other, gained, lost, McNemar exact p), gained and lost going
    from ``other`` to ``src``."""
    def passed(path: Path) -> dict[str, bool]:
        return {t["task_id"]: t["correct"] > 0 for t in load(path)["tasks"]}

    pairs = _paired(passed(src), passed(ROOT_OF[0] / other), src, other, "HumanEval problems")
    n = len(pairs)
    test = _stats().mcnemar_exact([t for _, t in pairs], [m for m, _ in pairs])
    return (n, sum(m for m, _ in pairs) / n, sum(t for _, t in pairs) / n, test.gained, test.lost, test.p_value)


def _timed_rounds(folder: Path, name: str, seconds: str) -> tuple[list[int], dict, tuple[float, ...]]:
    """Runs of the base model and ``name`` timed in rounds (``base-R.json.gz``, ``NAME-R.json.gz``, R = 1,
    2, …): (the rounds, the runs by (who, round), (rounds, median, min and max of the per-round ratio
    NAME / base of the field ``seconds``, median base seconds, median NAME seconds))."""
    rounds = sorted(int(p.name[len("base-"):-len(".json.gz")]) for p in folder.glob("base-*.json.gz"))
    runs = {(who, r): load(folder / f"{who}-{r}.json.gz") for who in ("base", name) for r in rounds}
    ratios = [runs[name, r][seconds] / runs["base", r][seconds] for r in rounds]
    median = statistics.median
    return rounds, runs, (float(len(rounds)), median(ratios), min(ratios), max(ratios),
                          median(runs["base", r][seconds] for r in rounds), median(runs[name, r][seconds] for r in rounds))


def humaneval_speed(folder: Path) -> tuple[float, ...]:
    """HumanEval generation timed for the base model and a hotfix in rounds (``base-R.json.gz`` and
    ``hotfix-R.json.gz``, R = 1, 2, …, the two in alternating order): (rounds, median, min and max of
    the per-round ratio hotfix / base generation seconds, median base seconds, median hotfix seconds,
    characters the base and the hotfix wrote in round 1, problems whose completion is the same in
    every round, base and hotfix each (two counts))."""
    rounds, runs, timing = _timed_rounds(folder, "hotfix", "generation_s")

    def chars(run: dict) -> float:
        return float(sum(len(c) for t in run["tasks"] for c in t["completions"]))

    def stable(who: str) -> float:
        texts = [{t["task_id"]: t["completions"] for t in runs[who, r]["tasks"]} for r in rounds]
        return float(sum(all(x[k] == texts[0][k] for x in texts) for k in texts[0]))

    return (*timing, chars(runs["base", rounds[0]]), chars(runs["hotfix", rounds[0]]), stable("base"), stable("hotfix"))


def eval_time(folder: Path, name: str) -> tuple[float, ...]:
    """The demo's evaluation timed for the base model and a hotfix ``name`` in rounds (``base-R.json.gz``
    and ``NAME-R.json.gz``, R = 1, 2, …, written by docs/results/demo-eval-time/run.sh): (rounds, median,
    min and max of the per-round ratio NAME / base seconds, median base seconds, median NAME seconds,
    tokens the base and NAME wrote (line + split + window completions, round 1), NAME's windows that
    used their whole budget (round 1), rounds whose completions are the same as round 1's, base and
    NAME each (two counts))."""
    rounds, runs, timing = _timed_rounds(folder, name, "seconds")

    def tokens(run: dict) -> float:
        return float(sum(c["events"][e]["new_tokens"] for c in run["cases"] for e in ("split", "window")))

    def texts(run: dict) -> list:
        return [(c["id"], *(c["events"][e]["greedy"].get("text") for e in ("line", "split", "window")))
                for c in run["cases"]]

    def stable(who: str) -> float:
        return float(sum(texts(runs[who, r]) == texts(runs[who, rounds[0]]) for r in rounds))

    first = runs[name, rounds[0]]
    return (*timing, tokens(runs["base", rounds[0]]), tokens(first),
            float(sum(c["events"]["window"]["greedy"]["hit_budget"] for c in first["cases"])),
            stable("base"), stable(name))


def humaneval_longest(src: Path, task: str | None = None) -> float:
    """The most characters any completion of a HumanEval run holds (of problem ``task`` only, if given)."""
    return float(max(len(c) for t in load(src)["tasks"] if task in (None, t["task_id"]) for c in t["completions"]))


def pack_suffix_lines(src: Path, pack: str, at_most: int) -> tuple[float, ...]:
    """How far a demo's training snippets go on after the fixed line: over the training contexts of
    ``src`` (a demo's split.json) in the pack file ``pack``: (contexts, those whose suffix holds at most
    ``at_most`` lines, those with no suffix, the median number of suffix lines)."""
    cases = {c["id"]: c for c in load(ROOT_OF[0] / pack)}
    lines = [len((cases[i].get("suffix") or "").splitlines()) for i in load(src)["train"]]
    return (float(len(lines)), float(sum(n <= at_most for n in lines)), float(sum(n == 0 for n in lines)),
            float(statistics.median(lines)))


def profile_seconds(src: Path, phase: str, *prefixes: str) -> float:
    """Sampled seconds of a phase (``bench/results/profile_demo_pyspy.json``) spent in the functions
    whose name starts with one of ``prefixes`` (self time)."""
    return float(sum(s for f, s in load(src)["phases"][phase]["self_seconds"].items() if f.startswith(prefixes)))


def profile_share(src: Path, phase: str, *prefixes: str) -> float:
    """``profile_seconds`` as a percent of the phase's sampled time."""
    return 100.0 * profile_seconds(src, phase, *prefixes) / load(src)["phases"][phase]["sampled_seconds"]


def eval_tokens(src: Path, event: str) -> float:
    """Greedy tokens an evaluation generated (``new_tokens`` summed over cases): ``event`` "line" for
    the line (or line + window) completions, "split" for the split completions."""
    cases = load(src)["cases"]
    if event == "line":
        return float(sum(c["new_tokens"] for c in cases))
    return float(sum(c["events"][event]["new_tokens"] for c in cases))


def eval_seconds_per_1k_tokens(src: Path) -> float:
    """An evaluation's generation seconds per thousand greedy tokens it wrote (line + split events):
    the per-token cost, apart from how long the completions ran."""
    data = load(src)
    tokens = sum(c["new_tokens"] + c["events"].get("split", {}).get("new_tokens", 0) for c in data["cases"])
    return float(data["generation_seconds"]) / tokens * 1000


def demo_phase_rel_change(src: Path, other: str, phase: str) -> float:
    """(other / src − 1) in percent, signed, for one phase's seconds (or "sum")."""
    return (demo_phase_ratio(src, other, phase) - 1) * 100


def console_time(src: Path, which: str) -> float:
    """Seconds of bash's ``time`` report (``real``, ``user`` or ``sys`` line, e.g. ``sys\t3m5.865s``)
    at the end of a committed console log."""
    import re

    m = re.search(rf"^{which}\s+(\d+)m([\d.]+)s\s*$", src.read_text(encoding="utf-8"), re.MULTILINE)
    if m is None:
        raise ValueError(f"{src}: no '{which}' line of a time report")
    return 60 * int(m.group(1)) + float(m.group(2))


def head_row(src: Path, dtype: str, rows: int, positions: int) -> tuple[float, ...]:
    """One row of bench/head_contiguous.json: median seconds as torch runs the head, median seconds
    with the slice copied first, and the speed-up's median, min and max over the repeats."""
    for r in load(src)["results"]:
        if (r["dtype"], r["rows"], r["positions"]) == (dtype, rows, positions):
            sp, med = r["speedup"], statistics.median
            return (med(r["seconds"]["strided"]), med(r["seconds"]["copied first"]), sp["median"], sp["min"], sp["max"])
    raise ValueError(f"{src}: no row for {dtype} {rows} × {positions}")


def console_seconds(src: Path, label: str, occurrence: int = 0) -> float:
    """Seconds a progress bar ``label`` showed when it reached 100% in a committed console log (its
    ``occurrence``-th finished bar: 0 the first, -1 the last)."""
    import re

    text = src.read_text(encoding="utf-8").replace("\r", "\n")
    pat = re.compile(re.escape(label) + r": 100%\|[^|]*\|[^\[]*\[(?:(\d+):)?(\d+):(\d+)<")
    hits = []
    for line in text.splitlines():
        m = pat.search(line)
        if m:
            h, mi, se = (int(g) if g else 0 for g in m.groups())
            hits.append(3600 * h + 60 * mi + se)
    # tqdm prints the finished bar twice (the last update and the close); count each bar once.
    bars = [t for i, t in enumerate(hits) if i == 0 or hits[i - 1] != t]
    return float(bars[occurrence])


# ---------------------------------------------------------------- combining

@lru_cache(maxsize=None)
@lru_cache(maxsize=None)
def _curve(folder: Path) -> dict:
    """The curve under ``folder`` recomputed once per check (its permutation tests take seconds and
    some thirty claims read it); the raw files do not change while a check runs."""
    from bench.study.curve_table import curve_table  # recomputed from the per-case cell and base files
    return curve_table(folder)


def curve(folder: Path, split: str, size: str, event: str, outcome: str, *paths: str) -> tuple[float, ...]:
    """Fields of one learning-curve row (``bench/study/curve_table.py``), recomputed from the per-case
    records of every folder under ``folder``; ``paths`` into the row, e.g. ``base.count``,
    ``seeds.0.rate``, ``pooled.p_holm``; ``between.p`` reads the grouped-vs-within row instead, and
    ``training.steps`` the training row of the (split, size)'s first seed (event and outcome unused)."""
    table = _curve(folder)
    if paths and paths[0].startswith("training."):  # the (split, size) folder of the first seed's run
        rows = [r for r in table["training"] if (r["split"], r["size"]) == (split, size)][:1]
        paths = tuple(p[len("training."):] for p in paths)
    elif paths and paths[0].startswith("between."):
        rows = [r for r in table["between_splits"] if (r["size"], r["event"], r["outcome"]) == (size, event, outcome)]
        paths = tuple(p[len("between."):] for p in paths)
    else:
        rows = [r for r in table["rows"]
                if (r["split"], r["size"], r["event"], r["outcome"]) == (split, size, event, outcome)]
    if len(rows) != 1:
        raise ValueError(f"curve {folder.name}: {len(rows)} rows for {split} {size} {event} {outcome}")
    return tuple(float(lookup(rows[0], p)) for p in paths)


@lru_cache(maxsize=None)
def _compare(folder: Path, reference: str, outcomes: str = "") -> dict:
    from bench.study.compare_cells import OUTCOMES, compare_cells, parse_outcomes  # recomputed from the per-case files
    return compare_cells(folder, reference, parse_outcomes(outcomes) if outcomes else OUTCOMES)


def study_compare(folder: Path, reference: str, row: str, event: str, outcome: str, *paths: str) -> tuple[float, ...]:
    """Fields of one row of a study's paired comparison with its reference row
    (``bench/study/compare_cells.py``), recomputed from the per-case records; ``paths`` into the row,
    e.g. ``candidate.count``, ``gained``, ``p_holm``; ``cost.ratio.median`` reads the row's training cost
    (event and outcome unused)."""
    return study_compare_on(folder, reference, "", row, event, outcome, *paths)


def study_compare_on(folder: Path, reference: str, outcomes: str, row: str, event: str, outcome: str,
                     *paths: str) -> tuple[float, ...]:
    """``study_compare`` of a table judged on other outcomes (``compare_cells --outcomes``, e.g.
    ``"split:toward_fixed,window:hit_budget"``; empty: the default ones): the Holm family is that table's."""
    table = _compare(folder, reference, outcomes)
    if paths and paths[0].startswith("cost."):
        return tuple(float(lookup(table["costs"][row], p[len("cost."):])) for p in paths)
    rows = [r for r in table["rows"] if (r["row"], r["event"], r["outcome"]) == (row, event, outcome)]
    if len(rows) != 1:
        raise ValueError(f"compare {folder.name}: {len(rows)} rows for {row} {event} {outcome}")
    return tuple(float(lookup(rows[0], p)) for p in paths)


@lru_cache(maxsize=None)
def _call(fname: str, src: Path, args: tuple) -> Any:
    """One recompute, cached: many claims quote the same number (raw files are read-only here)."""
    return COMPUTE[fname](src, *args)


def multi(_src: Path, *specs: tuple) -> tuple[float, ...]:
    """Several functions' results in the quote's order; each spec is ``(function, source, *args)``."""
    out: list[float] = []
    for fname, source, *args in specs:
        res = _call(fname, ROOT_OF[0] / source, tuple(args))
        out.extend(res if isinstance(res, (tuple, list)) else [res])
    return tuple(out)


def agg(_src: Path, how: str, *specs: tuple) -> float:
    """``how`` (min, max, sum) over the numbers of specs ``(function, source, *args)``."""
    return _agg(multi(_src, *specs), how)


def holm(_src: Path, which: int, *specs: tuple) -> float:
    """The Holm-adjusted p of the ``which``-th test of a family; each spec is
    ``(position, function, source, *args)``: the p at ``position`` of that function's numbers."""
    ps = []
    for pos, fname, source, *args in specs:
        res = _call(fname, ROOT_OF[0] / source, tuple(args))
        ps.append(float(res[pos] if isinstance(res, (tuple, list)) else res))
    return _stats().holm(ps)[which]


def pick(_src: Path, positions: tuple[int, ...], fname: str, source: str, *args) -> tuple[float, ...]:
    """The numbers at ``positions`` (in that order) of another function's result on ``source``."""
    res = _call(fname, ROOT_OF[0] / source, tuple(args))
    return tuple(float(res[i]) for i in positions)


def padding_share(src: Path) -> float:
    """The share of padding, in percent, in the case batches a ``bench.profile_step`` run recorded
    (its ``shapes``: real and padded case tokens of every timed step)."""
    shapes = load(src)["shapes"]
    return 100.0 * (1 - sum(s["case_tokens_real"] for s in shapes) / sum(s["case_tokens_padded"] for s in shapes))


def mean_saving(_src: Path, path: str, before: Sequence[str], after: Sequence[str]) -> float:
    """How much less, in percent, the mean of ``path`` over the ``after`` files is than over the
    ``before`` files (repeated runs of one benchmark, e.g. a step's mean seconds)."""
    mean = lambda files: statistics.mean(float(lookup(load(ROOT_OF[0] / f), path)) for f in files)  # noqa: E731
    return 100.0 * (1 - mean(after) / mean(before))


def file_ratio(src: Path, path: str, other: str, other_path: str) -> float:
    """One file's value over another file's: ``path`` in ``src`` / ``other_path`` in ``other``."""
    return float(lookup(load(src), path)) / float(lookup(load(ROOT_OF[0] / other), other_path))


def scaled(src: Path, factor: float, fname: str, *args) -> float:
    """Another function's single number times ``factor`` (e.g. 1e-3 for "141 k")."""
    res = COMPUTE[fname](src, *args)
    return float(res[0] if isinstance(res, (tuple, list)) else res) * factor


# The root the current check reads raw files from (``--root``); multi/agg resolve their sources there.
ROOT_OF = [ROOT]

COMPUTE: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (value, ratio, difference, demo_greedy_matching, demo_records_same, demo_selection_same, eval_profile_steps, demo_phase_over, padding_share, mean_saving, rel_change, reduction, mcnemar, mcnemar_from_zero, wilson,
                            perplexity, has, edit_rules, items_below, count, study, study_change, study_all,
                            study_cells, study_cell_value,
                            study_ratio, margin_test, paired_rate, multi, agg, scaled, demo_greedy,
                            demo_greedy_pick, demo_holm, demo_budget, demo_event_tokens, demo_phases, demo_minutes, demo_phase_ratio,
                            demo_phase_rel_change, eval_seconds_per_1k_tokens, head_row, console_time,
                            eval_tokens, console_seconds, demo_matching, demo_phase_change,
                            demo_phase_sum, mcnemar_detail, mcnemar_detail_p, curve, study_compare, study_compare_on, demo_window_shapes,
                            demo_versus, humaneval_versus, humaneval_speed, humaneval_longest, eval_time, pack_suffix_lines, profile_seconds, profile_share, perplexity_runs, locality_runs, holm, pick, file_ratio,
                            step_matching, step_versus, train_log_agree, value_over)
}


# ---------------------------------------------------------------- the checks

def _recompute(claim: Claim, root: Path) -> tuple[float, ...]:
    ROOT_OF[0] = root
    out = _call(claim.compute, root / claim.source, claim.args)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def check_claim(claim: Claim, text: str, root: Path) -> list[Problem]:
    """Problems of one claim against its doc's text (empty: every occurrence matches)."""
    matches = list(quote_regex(claim.quote).finditer(text))
    if not matches:
        return [Problem(claim.doc, claim.name, f"quote no longer found in the doc: {claim.quote!r}")]
    try:
        recomputed = _recompute(claim, root)
    except Exception as exc:  # noqa: BLE001 -- a broken raw file is a failed claim, reported by name
        return [Problem(claim.doc, claim.name, f"cannot recompute from {claim.source}: {exc!r}")]
    problems = []
    for m in matches:
        quoted = m.groups()
        if len(quoted) != len(recomputed):
            problems.append(Problem(claim.doc, claim.name, f"quote has {len(quoted)} numbers, "
                                    f"{claim.compute} gives {len(recomputed)}"))
            continue
        for q, r in zip(quoted, recomputed):
            number, half_unit = parse_number(q)
            tol = claim.tol if claim.tol is not None else half_unit
            if r is None or not math.isfinite(r) or abs(number - r) > tol * (1 + 1e-9) + 1e-12:
                problems.append(Problem(claim.doc, claim.name, f"quoted {q}, recomputed {_fmt(r)} from "
                                        f"{claim.source} (tolerance {_fmt(tol)})"))
    return problems


def _docs(docs_root: Path, claims: Sequence[Claim]) -> dict[str, str]:
    names = sorted({c.doc for c in claims})
    return {name: (docs_root / name).read_text(encoding="utf-8") if (docs_root / name).exists() else ""
            for name in names}


def check(claims: Sequence[Claim], docs_root: Path = ROOT, root: Path = ROOT, *, fresh: bool = True) -> list[Problem]:
    """Every problem of every claim; duplicate claim names are a problem too. ``fresh=False`` reuses
    the numbers recomputed by an earlier call (raw files unchanged since: tests that only edit docs)."""
    if fresh:
        for cached in (_call, load, _study_files):
            cached.cache_clear()
    seen, problems = set(), []
    texts = _docs(docs_root, claims)
    for claim in claims:
        if claim.name in seen:
            problems.append(Problem(claim.doc, claim.name, "duplicate claim name"))
        seen.add(claim.name)
        problems.extend(check_claim(claim, texts[claim.doc], root))
    return problems


# A measurement-looking passage: a p-value or a percentage (not the level of a "95% CI").
_MEASUREMENT = re.compile(rf"\bp\s*(?:=|<|≤)\s*{_NUM}|{_NUM}\s*%(?!\s*(?:CI|Wilson|interval|confidence))")


def _spans(text: str, patterns: Iterator[str]) -> list[tuple[int, int]]:
    return [m.span() for p in patterns for m in quote_regex(p).finditer(text)]


def uncovered(claims: Sequence[Claim], not_measured: dict[str, Sequence[str]], docs: Sequence[str],
              docs_root: Path = ROOT) -> list[Problem]:
    """p-values and percentages in ``docs`` that lie in no claim's quote and no ``not_measured`` quote."""
    problems = []
    for doc in docs:
        text = (docs_root / doc).read_text(encoding="utf-8")
        spans = _spans(text, (c.quote for c in claims if c.doc == doc))
        spans += _spans(text, iter(not_measured.get(doc, ())))
        for m in _MEASUREMENT.finditer(text):
            if not any(a <= m.start() and m.end() <= b for a, b in spans):
                line = text.count("\n", 0, m.start()) + 1
                problems.append(Problem(doc, "(unregistered)", f"line {line}: {m.group(0)!r} looks measured but no "
                                        "claim in bench/claims.py covers it"))
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs-root", type=Path, default=ROOT, help="where README.md and docs/ are read")
    parser.add_argument("--root", type=Path, default=ROOT, help="where the raw result files are read")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bench.claims import CLAIMS, COVERED_DOCS, NOT_MEASURED

    problems = check(CLAIMS, args.docs_root, args.root)
    problems += uncovered(CLAIMS, NOT_MEASURED, COVERED_DOCS, args.docs_root)
    for problem in problems:
        print(problem)
    docs = len({c.doc for c in CLAIMS})
    print(f"{len(CLAIMS)} claims in {docs} docs: " + ("all match" if not problems else f"{len(problems)} problems"),
          file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
