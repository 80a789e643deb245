"""Fixed/buggy rates of a model on hotfix cases, the likelihood margin, and before/after changes.

The top-level record and summary fields are the ``line`` event's; the ``split`` and ``window``
events (``events.py``, chosen by ``EvalConfig.events``) add an ``events`` section to each record and
to the summary, holding every event's judged completions and rates (the line event's too, with
validity). Before/after statistics on all of them: ``codehotfix.evaluation.compare``.

For each case: one greedy and k sampled completions of the prefix (``generation.py``), each
classified fixed/buggy/other (``classify.py``), and the margin log p(fixed line | prefix) − log
p(buggy line | prefix), summed over each line's tokens including its newline. Rates are pooled over
all completions; relative changes are (after − before) / before, as the paper reports them.

Hotfixes that need no training plug in here too: ``prompt_transform`` rewrites each prefix before
generation and scoring (the online prompt hotfix), ``logits_processor_factory`` constrains decoding
(the guard); see ``codehotfix.online``.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections import Counter, defaultdict
from typing import Any, Callable, Sequence

from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.evaluation.classify import LABELS, classify, first_line
from codehotfix.evaluation.backends import HFBackend, cut_first_line, hf_complete
from codehotfix.evaluation.events import (WINDOW_LINES, judge_line, judge_split, judge_window,
                                          metric_values, parse_events, split_point, split_prompts,
                                          window_tokens)
from codehotfix.evaluation.generation import Completions, first_line_ids
from codehotfix.evaluation.onepass import evaluate_one_pass
from codehotfix.evaluation.validity import ValidityCheck
from codehotfix.models.adapters import is_prompt_learning
from codehotfix.models.adapters.merge import merged_for_inference
from codehotfix.scoring import encode_case, line_logprobs, within_line_limit

# line_logprobs lives in codehotfix.scoring; it stays importable from here, where the margins use it.
__all__ = ["evaluate_cases", "line_logprobs", "summarize", "summarize_events", "compare"]


def _rates(labels: Sequence[str]) -> dict[str, float]:
    counts = Counter(labels)
    n = len(labels)
    return {f"{k}_rate": (counts[k] / n if n else 0.0) for k in LABELS} | {"n": n}


def summarize(records: Sequence[dict]) -> dict[str, Any]:
    """Aggregate rates over per-case records (see ``evaluate_cases``), overall and per group."""

    def block(rs: Sequence[dict]) -> dict[str, Any]:
        greedy = [r["greedy_label"] for r in rs if r.get("greedy_label")]
        sampled = [lab for r in rs for lab in r.get("sample_labels", [])]
        margins = [r["margin"] for r in rs]
        return {
            "cases": len(rs),
            "greedy": _rates(greedy),
            "sampled": _rates(sampled),
            "margin_mean": statistics.fmean(margins) if margins else None,
            "margin_median": statistics.median(margins) if margins else None,
            "prefers_fixed": (sum(m > 0 for m in margins) / len(margins)) if margins else None,
        }

    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r.get("group") or "(none)"].append(r)
    out = {**block(records), "by_group": {g: block(rs) for g, rs in sorted(groups.items())}}
    if any("events" in r for r in records):
        out["events"] = summarize_events(records)
    return out


def _metric_rates(values: dict[str, list[bool]]) -> dict[str, dict[str, Any]]:
    return {m: {"rate": (sum(v) / len(v)) if v else None, "count": sum(v), "n": len(v)} for m, v in values.items()}


def summarize_events(records: Sequence[dict]) -> dict[str, Any]:
    """Per event, greedy and pooled sampled rates of each of its metrics (``events.METRICS``):
    ``{"split": {"greedy": {"toward_fixed": {"rate", "count", "n"}, …}, "sampled": {…}}, …}``; ``n``
    counts the completions where the metric is defined (validity can be undefined for a case)."""
    names = [e for e in ("line", "split", "window") if any(e in r.get("events", {}) for r in records)]
    out: dict[str, Any] = {}
    for event in names:
        judged = [r["events"][event] for r in records if event in r.get("events", {})]
        greedy = [j["greedy"] for j in judged if j.get("greedy") is not None]
        sampled = [s for j in judged for s in j.get("samples", [])]
        out[event] = {"greedy": _metric_rates(metric_values(event, greedy)),
                      "sampled": _metric_rates(metric_values(event, sampled))}
    return out


def evaluate_cases(model: Any, tokenizer: Any, cases: Sequence[HotfixCase], cfg: EvalConfig | None = None,
                   *, progress: bool = True, prompt_transform: Callable[[str], str] | None = None,
                   logits_processor_factory: Callable[[Sequence[str]], Any] | None = None,
                   backend: Any = None, one_pass: bool | None = None) -> dict[str, Any]:
    """Generates, classifies and scores every case.

    Args:
        prompt_transform: rewrites each case's prefix before generation and before the margin is
            scored (so the margin is log p(line | rewritten prefix)); must keep the prefix ending where
            the line starts. Records then say whether their prompt changed (``prompt_changed``).
        logits_processor_factory: per generation batch, prompts → logits processor(s) or None (see
            ``generation.generate_completions``). Margins are the model's own likelihoods, unaffected.
        backend: a generation backend (``codehotfix.evaluation.backends``) to generate with; None
            generates with ``model`` here (the "hf" backend). Margins are always scored with ``model``.
        one_pass: score and complete each context from one pass over it (``onepass.py``; same
            records, less time). None: wherever it applies (the "hf" backend on this model, no logits
            processors, no prompt-learning adapter); False: separate passes (the benchmark's baseline).

    Returns:
        {"summary": summarize(...), "cases": [per-case records], "seconds": …, "config": …}; a record
        holds id, group, greedy text/label, sample labels and first lines, rates and the margin (the
        line event), plus ``validity_check`` and ``events`` (every event of ``cfg.events``; see
        ``_run_events`` and docs/evaluation.md); ``left_out`` lists the cases with a line over
        ``LINE_TOKEN_LIMIT`` tokens (id and token counts), which have no record.

    Raises:
        DataError: every case has a line over the limit.
    """
    cfg = cfg or EvalConfig()
    t0 = time.time()
    # A case with a line over scoring.encoding.LINE_TOKEN_LIMIT tokens is left out (named in a warning,
    # listed under "left_out"), as training leaves it out: scoring its margin would need activations
    # and logits for thousands of line tokens in every row of its batch. The rule depends only on the
    # tokenizer, so a base and a hotfix evaluation leave out the same cases and stay paired.
    fitting, left_out = within_line_limit([encode_case(tokenizer, c, cfg.max_context_tokens) for c in cases],
                                          "evaluation")
    if left_out:
        kept = {e.case_id for e in fitting}
        cases = [c for c in cases if c.id in kept]
    scored = list(cases)
    if prompt_transform is not None:
        scored = [dataclasses.replace(c, prefix=prompt_transform(c.prefix)) for c in cases]

    def complete(prompts: list[str], desc: str, **limits: Any) -> list[Completions]:
        if backend is not None:
            return backend.complete(prompts, cfg, progress=progress, desc=desc,
                                    logits_processor_factory=logits_processor_factory, **limits)
        return hf_complete(model, tokenizer, prompts, cfg, progress=progress, desc=desc,
                           logits_processor_factory=logits_processor_factory, **limits)

    wanted = parse_events(cfg.events)
    # One pass over each context serves the margins and every event (onepass.py) unless something
    # needs the prompts re-encoded on their own: another backend, logits processors, virtual tokens.
    applies = ((backend is None or (isinstance(backend, HFBackend) and backend.model is model))
               and logits_processor_factory is None and not is_prompt_learning(model))
    if one_pass and not applies:
        raise ValueError("evaluate_cases: one_pass needs the hf backend on this model, no logits processors "
                         "and no prompt-learning adapter")
    one_pass = applies if one_pass is None else one_pass
    with merged_for_inference(model):  # a LoRA hotfix decodes as fast as the base (bit-exact restore)
        window, split = None, None
        # Where each split prompt cuts its line (and whether the cut is token-aligned), for both paths.
        cuts = ([split_point(tokenizer, s.prefix, c.buggy, c.fixed) for c, s in zip(cases, scored)]
                if "split" in wanted else None)
        if one_pass:
            res = evaluate_one_pass(model, tokenizer, scored, cfg, window="window" in wanted,
                                    split_cuts=[cut for cut, _ in cuts] if cuts is not None else None,
                                    window_lines=WINDOW_LINES, window_max_tokens=window_tokens(cfg.max_new_tokens),
                                    progress=progress)
            window = res.completions if "window" in wanted else None
            first = res.completions if window is None else None
            split, margins = res.split, res.margins
        elif "window" in wanted:
            # The line and window events share their prompt: one generation serves both (see _first_lines).
            window = complete([s.prefix for s in scored], "eval: line + window events", max_lines=WINDOW_LINES,
                              max_new_tokens=window_tokens(cfg.max_new_tokens))
        else:
            first = complete([c.prefix for c in scored], "eval: generating")
        completions = first if window is None else [_first_lines(w, tokenizer, cfg.max_new_tokens) for w in window]
        events = _run_events(tokenizer, cases, scored, completions, wanted, complete, cfg.max_new_tokens,
                             cfg.max_context_tokens, window=window, split=split, cuts=cuts)
        t_gen = time.time() - t0
        if not one_pass:
            margins = line_logprobs(model, tokenizer, scored, max_context_tokens=cfg.max_context_tokens,
                                    batch_size=cfg.batch_size)
    records = []
    for case, prompted, comp, (lp_fixed, lp_buggy), judged in zip(cases, scored, completions, margins, events):
        labels = [classify(s, case) for s in comp.samples]
        extra = {"prompt_changed": prompted.prefix != case.prefix} if prompt_transform is not None else {}
        records.append({
            "id": case.id,
            "group": case.group,
            **extra,
            "greedy": first_line(comp.greedy) if comp.greedy is not None else None,
            "greedy_label": classify(comp.greedy, case) if comp.greedy is not None else None,
            "sample_labels": labels,
            "samples": [first_line(s) for s in comp.samples],
            "fixed_rate": labels.count("fixed") / len(labels) if labels else None,
            "buggy_rate": labels.count("buggy") / len(labels) if labels else None,
            "logp_fixed": round(lp_fixed, 4),
            "logp_buggy": round(lp_buggy, 4),
            "margin": round(lp_fixed - lp_buggy, 4),
            "new_tokens": comp.new_tokens,
            **judged,
        })
    seconds = time.time() - t0
    return {"summary": summarize(records), "cases": records, "seconds": round(seconds, 2),
            "generation_seconds": round(t_gen, 2), "config": cfg.__dict__.copy(), "left_out": left_out}


def _first_lines(window: Completions, tokenizer: Any, max_new_tokens: int) -> Completions:
    """Line-event completions cut from window-event ones.

    Both events complete the same prompt and the line event stops at the end of the first line (or
    after ``max_new_tokens``), so the greedy line completion is the greedy window completion stopped
    earlier, and each sampled window's first line is a sample of the line event. One generation then
    serves both events, which saves a third of an evaluation's decoding. With token ids (the hf
    generator) the cut is made token for token as the line generation stops; text-only completions
    are cut at the first line's newline.
    """
    def cut(text: str, ids: list[int] | None) -> tuple[str, list[int] | None]:
        if ids is None:
            return cut_first_line(text), None
        line = first_line_ids(tokenizer, ids, max_new_tokens)
        return tokenizer.decode(line, skip_special_tokens=True), line

    greedy, greedy_ids = cut(window.greedy, window.greedy_ids) if window.greedy is not None else (None, None)
    samples = [cut(s, i) for s, i in zip(window.samples, window.sample_ids or [None] * len(window.samples))]
    # the cut ids go along, so the line event knows which first lines ran out of budget (_judge_all)
    return Completions(greedy=greedy, samples=[t for t, _ in samples], new_tokens=window.new_tokens,
                       greedy_ids=greedy_ids, sample_ids=[i for _, i in samples] if window.sample_ids else [])


def _judge_all(comp: Completions, judge: Callable[[str], dict], budget: int) -> dict[str, Any]:
    """The judged greedy and sampled completions of one prompt. Where the generator gave token ids,
    each also says whether it used its whole token budget (``hit_budget``): it had not ended its line
    (or window) before its last allowed token, so it was almost surely cut off mid-way. A hotfix that
    makes the model loop (``x(x(x(…``) shows here, and in the evaluation's time, before any label."""
    def one(text: str, ids: list[int] | None) -> dict[str, Any]:
        judged = judge(text)
        if ids is not None:
            judged["hit_budget"] = len(ids) >= budget
        return judged

    sample_ids = comp.sample_ids or [None] * len(comp.samples)
    return {"greedy": one(comp.greedy, comp.greedy_ids) if comp.greedy is not None else None,
            "samples": [one(s, i) for s, i in zip(comp.samples, sample_ids)], "new_tokens": comp.new_tokens}


def _run_events(tokenizer: Any, cases: Sequence[HotfixCase], scored: Sequence[HotfixCase],
                line_completions: Sequence[Completions], events: Sequence[str],
                complete: Callable[..., list[Completions]], max_new_tokens: int, max_context_tokens: int,
                window: Sequence[Completions] | None = None, split: Sequence[Completions] | None = None,
                cuts: Sequence[tuple[int, bool]] | None = None) -> list[dict[str, Any]]:
    """Per case, ``{"validity_check": …, "events": {event: judged completions}}`` for ``events``.

    ``line`` reuses the line completions; ``split`` completes each (transformed) prefix plus the
    lines' shared start cut at ``split_point``, keeping the context's left cut (``split_prompts``, the
    rule the one pass follows too); ``window`` completes each prefix for up to
    ``WINDOW_LINES`` lines / ``window_tokens(max_new_tokens)`` tokens (``window``: those completions,
    already generated; ``split``: the split completions, already generated; ``cuts``: each case's
    ``split_point``, given whenever ``split`` is among ``events``). Cases are judged with their
    original lines.
    """
    checks = [ValidityCheck.for_case(c) for c in cases]
    out = [{"validity_check": chk.method,
            "events": {"line": _judge_all(comp, lambda t, c=case, k=chk: judge_line(c, t, k), max_new_tokens)}}
           for case, chk, comp in zip(cases, checks, line_completions)]
    if "split" in events:
        if split is not None:
            comps = split
        else:
            prompts, keep = split_prompts(tokenizer, scored, [cut for cut, _ in cuts], max_context_tokens)
            comps = complete(prompts, "eval: split event", max_context_tokens=keep)
        for rec, case, chk, (cut, aligned), comp in zip(out, cases, checks, cuts, comps):
            rec["events"]["split"] = {"cut": cut, "token_aligned": aligned, "prompt_tail": case.fixed[:cut],
                                      **_judge_all(comp, lambda t, c=case, k=chk, n=cut: judge_split(c, n, t, k),
                                                  max_new_tokens)}
    if "window" in events:
        comps = window if window is not None else complete([s.prefix for s in scored], "eval: window event", max_lines=WINDOW_LINES,
                         max_new_tokens=window_tokens(max_new_tokens))
        for rec, case, comp in zip(out, cases, comps):
            rec["events"]["window"] = _judge_all(comp, lambda t, c=case: judge_window(c, t),
                                                 window_tokens(max_new_tokens))
    return out


def _relative(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return round(100.0 * (after - before) / before, 2)


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Before/after table of two summaries: absolute rates and relative changes in percent
    (None where the base rate is 0 and a relative change is undefined)."""
    out: dict[str, Any] = {}
    for mode in ("greedy", "sampled"):
        b, a = before[mode], after[mode]
        out[mode] = {
            "fixed_before": b["fixed_rate"], "fixed_after": a["fixed_rate"],
            "fixed_change_pct": _relative(b["fixed_rate"], a["fixed_rate"]),
            "buggy_before": b["buggy_rate"], "buggy_after": a["buggy_rate"],
            "buggy_change_pct": _relative(b["buggy_rate"], a["buggy_rate"]),
        }
    out["margin_before"], out["margin_after"] = before["margin_mean"], after["margin_mean"]
    return out
