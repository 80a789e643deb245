"""The ``rates`` task: how often the model writes each case's fixed line, buggy line or something else,
judged on the three completion events line / split / window (``evaluation/rates.py``, ``events.py``,
docs/evaluation.md). Generation: the paper's settings — ``GenerationConfig``'s defaults, which are the
``eval:`` block's — since these are the numbers compared with the paper.

Each result holds one model; the report pairs ``base_eval.json`` with ``hotfix_eval.json`` (or reads
the demo's ``summary.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from codehotfix.config import EvalConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.errors import DataError
from codehotfix.evaluation import stats
from codehotfix.evaluation.rates import evaluate_cases
from codehotfix.evaluation.tasks.base import GenerationConfig, Task, TaskResult
from codehotfix.evaluation.tasks.fields import Missing, RunFolder, check_field, check_rate, load_json
from codehotfix.evaluation.tasks.sections import (PAPER, Section, Table, fmt_change, fmt_ci, fmt_rate,
                                                  relative_change, signed, verdict, wilson)

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

__all__ = ["RatesTaskConfig", "RatesTask", "RatesData", "CasePair", "EVENT_HELP", "EVENT_COLUMNS", "event_cells"]

COMMAND = ("codehotfix run CASES --out RUN_DIR, or codehotfix demo --out RUN_DIR (or codehotfix eval CASES --json "
           "RUN_DIR/base_eval.json, then again with --adapter HOTFIX --json RUN_DIR/hotfix_eval.json)")


@dataclass
class RatesTaskConfig:
    """A rates run: ``generation`` and ``events`` are the ``eval:`` block's (``eval_config()``)."""

    generation: GenerationConfig = field(default_factory=GenerationConfig)
    events: list[str] = field(default_factory=lambda: list(EvalConfig().events))
    cases: str | None = None
    fmt: str = "auto"
    limit: int | None = None

    def eval_config(self) -> EvalConfig:
        return self.generation.eval_config(self.events)

    @classmethod
    def of(cls, cfg: EvalConfig) -> RatesTaskConfig:
        return cls(generation=GenerationConfig.of(cfg), events=list(cfg.events))


@dataclass(frozen=True)
class CasePair:
    """One evaluation case before and after the hotfix (greedy labels, sampled rates, margins)."""

    id: str
    group: str
    greedy_before: str | None
    greedy_after: str | None
    fixed_before: float | None
    fixed_after: float | None
    buggy_before: float | None
    buggy_after: float | None
    margin_before: float
    margin_after: float


@dataclass
class RatesData:
    """Fixed/buggy rates before and after, overall and per group (topic or pattern).

    ``before``/``after`` are ``evaluation.rates.summarize`` blocks without ``by_group``; ``groups``
    maps each group to its (before, after) blocks; ``pairs`` holds per-case records when the run has
    base_eval.json and hotfix_eval.json (summary.json alone has none, so no paired tests).
    ``results`` holds the two eval files' contents (for the per-event tables of
    ``evaluation.compare``); ``events`` is that table as the demo stored it in summary.json.
    """

    sources: list[str]
    before: dict[str, Any]
    after: dict[str, Any]
    groups: dict[str, tuple[dict[str, Any], dict[str, Any]]]
    pairs: list[CasePair] | None
    results: tuple[dict[str, Any], dict[str, Any]] | None = None
    events: dict[str, Any] | None = None


def _rates_block(block: Any, path: Path, where: str) -> dict[str, Any]:
    """Validates one ``summarize`` block (greedy/sampled rates with n, margin_mean)."""
    if not isinstance(block, dict):
        raise DataError(f"{path}: field '{where}' must be an object")
    for mode in ("greedy", "sampled"):
        m = check_field(block, mode, path, where, dict)
        for key in ("fixed_rate", "buggy_rate"):
            check_rate(m, key, path, f"{where}.{mode}")
        check_field(m, "n", path, f"{where}.{mode}", int)
    check_field(block, "margin_mean", path, where, optional=True)
    return {k: v for k, v in block.items() if k != "by_group"}


def _case_records(data: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(check_field(data, "cases", path, "", list)):
        where = f"cases[{i}]"
        cid = check_field(rec, "id", path, where, str)
        if cid in out:
            raise DataError(f"{path}: field '{where}.id': duplicate case id {cid!r}")
        check_field(rec, "greedy_label", path, where, str, optional=True)
        check_rate(rec, "fixed_rate", path, where, optional=True)
        check_rate(rec, "buggy_rate", path, where, optional=True)
        check_field(rec, "margin", path, where)
        out[cid] = rec
    return out


def _from_eval_files(base_path: Path, hot_path: Path) -> RatesData:
    base, hot = load_json(base_path), load_json(hot_path)
    before = _rates_block(check_field(base, "summary", base_path, "", dict), base_path, "summary")
    after = _rates_block(check_field(hot, "summary", hot_path, "", dict), hot_path, "summary")
    groups_b = check_field(base["summary"], "by_group", base_path, "summary", dict, optional=True) or {}
    groups_a = check_field(hot["summary"], "by_group", hot_path, "summary", dict, optional=True) or {}
    groups = {g: (_rates_block(groups_b[g], base_path, f"summary.by_group.{g}"),
                  _rates_block(groups_a[g], hot_path, f"summary.by_group.{g}"))
              for g in groups_b if g in groups_a}
    rb, ra = _case_records(base, base_path), _case_records(hot, hot_path)
    if set(rb) != set(ra):
        only_b, only_a = sorted(set(rb) - set(ra)), sorted(set(ra) - set(rb))
        raise DataError(f"{base_path} and {hot_path} evaluate different cases (field 'cases[].id'): "
                        f"{len(only_b)} only before {only_b[:3]}, {len(only_a)} only after {only_a[:3]}")
    pairs = [CasePair(cid, str(rb[cid].get("group") or "(none)"), rb[cid].get("greedy_label"),
                      ra[cid].get("greedy_label"), rb[cid].get("fixed_rate"), ra[cid].get("fixed_rate"),
                      rb[cid].get("buggy_rate"), ra[cid].get("buggy_rate"), rb[cid]["margin"], ra[cid]["margin"])
             for cid in rb]
    return RatesData([base_path.name, hot_path.name], before, after, groups, pairs, (base, hot))


def _from_summary(summary: dict[str, Any], path: Path) -> RatesData:
    """summary.json holds the overall rates only as a comparison; sizes come from the per-topic blocks."""
    comp = check_field(summary, "comparison", path, "", dict)
    by_topic = check_field(summary, "by_topic", path, "", dict)
    groups = {g: (_rates_block(check_field(t, "before", path, f"by_topic.{g}", dict), path, f"by_topic.{g}.before"),
                  _rates_block(check_field(t, "after", path, f"by_topic.{g}", dict), path, f"by_topic.{g}.after"))
              for g, t in by_topic.items()}
    blocks = []
    for i, side in enumerate(("before", "after")):
        block: dict[str, Any] = {"cases": sum(b[i].get("cases", 0) for b in groups.values())}
        for mode in ("greedy", "sampled"):
            m = check_field(comp, mode, path, "comparison", dict)
            block[mode] = {"fixed_rate": check_rate(m, f"fixed_{side}", path, f"comparison.{mode}"),
                           "buggy_rate": check_rate(m, f"buggy_{side}", path, f"comparison.{mode}"),
                           "n": sum(b[i][mode]["n"] for b in groups.values())}
        block["margin_mean"] = check_field(comp, f"margin_{side}", path, "comparison", optional=True)
        blocks.append(block)
    events = check_field(summary, "events", path, "", dict, optional=True)
    return RatesData([path.name], blocks[0], blocks[1], groups, None, events=events)


def _intervals(rates: RatesData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("greedy", "sampled"):
        block: dict[str, Any] = {}
        for side, summary in (("before", rates.before), ("after", rates.after)):
            m = summary[mode]
            for label in ("fixed", "buggy"):
                key = f"{label}_{side}"
                per_case = [getattr(p, key) for p in rates.pairs or [] if getattr(p, key) is not None]
                if mode == "sampled" and per_case:
                    low, high = stats.bootstrap_mean_ci(per_case)
                    if low == high:  # every case had the same rate: resampling cannot show uncertainty
                        low, high = stats.wilson_interval(round(sum(per_case)), len(per_case))
                    block[key] = [low, high]
                    block["method"] = ("percentile bootstrap over cases (Wilson over cases where every case "
                                       "had the same rate)")
                else:
                    block[key] = wilson(m[f"{label}_rate"], m["n"])
                    block.setdefault("method", "Wilson" if mode == "greedy" else
                                     "Wilson over completions (no per-case records: too narrow)")
        out[mode] = block
    return out


def _paired_tests(rates: RatesData) -> dict[str, Any]:
    """McNemar on greedy fixed/buggy outcomes, Wilcoxon + bootstrap on per-case sampled rates."""
    pairs = rates.pairs or []
    tests: dict[str, Any] = {}
    greedy = [p for p in pairs if p.greedy_before is not None and p.greedy_after is not None]
    for label in ("fixed", "buggy"):
        if greedy:
            r = stats.mcnemar_exact([p.greedy_before == label for p in greedy],
                                    [p.greedy_after == label for p in greedy])
            diff = (r.gained - r.lost) / r.n
            tests[f"greedy_{label}"] = {"test": "McNemar exact", "cases": r.n, "gained": r.gained, "lost": r.lost,
                                        "difference": diff, "p_value": r.p_value,
                                        "sentence": f"greedy {label} line: {r.gained} cases gained, {r.lost} lost; "
                                                    f"McNemar {stats.format_p(r.p_value)}, {verdict(r.p_value)}"}
        sampled = [p for p in pairs if getattr(p, f"{label}_before") is not None
                   and getattr(p, f"{label}_after") is not None]
        if sampled:
            b = [getattr(p, f"{label}_before") for p in sampled]
            a = [getattr(p, f"{label}_after") for p in sampled]
            w = stats.wilcoxon_paired(b, a)
            ci = stats.paired_bootstrap_ci(b, a)
            tests[f"sampled_{label}"] = {
                "test": "Wilcoxon signed-rank", "cases": len(sampled), "changed_cases": w.n_nonzero,
                "difference": w.mean_difference, "difference_ci95": list(ci), "p_value": w.p_value,
                "sentence": f"sampled {label} rate per case: mean change {signed(100 * w.mean_difference)} points "
                            f"(95% CI {signed(100 * ci[0])} to {signed(100 * ci[1])}); "
                            f"Wilcoxon {stats.format_p(w.p_value)}, "
                            f"{verdict(w.p_value)}"}
    return tests


def _pct(x: float | None) -> str:
    return "n/a (base rate 0)" if x is None else f"{signed(x)}%"


def _comparison(rates: RatesData) -> dict[str, Any]:
    comparison: dict[str, Any] = {}
    for mode in ("greedy", "sampled"):
        b, a = rates.before[mode], rates.after[mode]
        comparison[mode] = {"n_before": b["n"], "n_after": a["n"]}
        for label in ("fixed", "buggy"):
            before, after = b[f"{label}_rate"], a[f"{label}_rate"]
            comparison[mode].update({f"{label}_before": before, f"{label}_after": after,
                                     f"{label}_change_pct": relative_change(before, after)})
    comparison["margin_before"] = rates.before.get("margin_mean")
    comparison["margin_after"] = rates.after.get("margin_mean")
    return comparison


def _groups(rates: RatesData) -> dict[str, Any]:
    groups = {}
    for g, (b, a) in rates.groups.items():
        groups[g] = {"cases": b.get("cases"), "margin_before": b.get("margin_mean"),
                     "margin_after": a.get("margin_mean")}
        for mode in ("greedy", "sampled"):
            for label in ("fixed", "buggy"):
                groups[g][f"{mode}_{label}_before"] = b[mode][f"{label}_rate"]
                groups[g][f"{mode}_{label}_after"] = a[mode][f"{label}_rate"]
    return groups


EVENT_HELP = {"line": "prompt = the prefix; the first line written is judged",
              "split": "prompt = the prefix plus the start the buggy and fixed lines share (cut at a token "
                       "boundary); the completed line is judged, and which line it continues toward",
              "window": "prompt = the prefix; up to 5 lines written, judged by whether they contain the fixed "
                        "or buggy line (and the case's patterns)"}


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def _split_headlines(events: dict[str, Any] | None) -> list[str]:
    """The split event's greedy verdicts, first in the report: that is where a completion takes the fixed or
    the buggy line, so it shows an effect the whole-line rates can hide (docs/evaluation.md)."""
    table = ((events or {}).get("events") or {}).get("split")
    if not table:
        return []
    out = []
    for r in table["rows"]:
        if r["mode"] != "greedy" or r["metric"] not in ("toward_fixed", "fixed", "buggy"):
            continue
        name = {"toward_fixed": "toward the fixed line", "fixed": "exactly the fixed line",
                "buggy": "exactly the buggy line"}[r["metric"]]
        out.append(f"Split event, greedy, {name}: {r['before']:.3f}→{r['after']:.3f} on {r['cases']} cases "
                   f"({r['detail']}; McNemar p={_p(r['p'])}, Holm p={_p(r['p_holm'])}): {r['verdict']}")
    return out


# The columns of an event table and one row's cells, shared with the model card (deploy/card.py), which
# shows the greedy rows: the card and the report then print the same numbers the same way.
EVENT_COLUMNS = ["metric", "mode", "before (95% CI)", "after (95% CI)", "change", "test", "p", "Holm p", "verdict"]


def event_cells(r: dict[str, Any]) -> list[str]:
    """One row of an ``evaluation.compare`` event table as text, in ``EVENT_COLUMNS`` order."""
    from codehotfix.evaluation.compare import format_change

    return [r["metric"].replace("_", " "), r["mode"], f"{fmt_rate(r['before'])} [{fmt_ci(r['before_ci'], 2)}]",
            f"{fmt_rate(r['after'])} [{fmt_ci(r['after_ci'], 2)}]", format_change(r).replace("-", "\u2212"),
            f"{r['test']}, {r['detail']}", _p(r["p"]), _p(r["p_holm"]), r["verdict"]]


def _event_tables(s: Section, events: dict[str, Any] | None) -> None:
    """One table per completion event (``evaluation.compare``): every rate with its interval and test."""
    if not events or not events.get("events"):
        return
    s.p(f"Completion events (docs/evaluation.md), paired on {events['cases']} cases: every rate with its 95% "
        "interval (greedy: Wilson; sampled: bootstrap over cases) and a paired test (greedy: McNemar exact; "
        "sampled: sign-flip permutation on per-case rates); p is Holm-adjusted within each event's table, and "
        f"a change is 'not significant' where the adjusted p ≥ {events['alpha']:g}.")
    for event, table in events["events"].items():
        # The event's name goes above its table: as a caption below it, it read as the next table's heading.
        s.p(f"Event '{event}': {EVENT_HELP.get(event, '')}.")
        s.table(Table(list(EVENT_COLUMNS), [event_cells(r) for r in table["rows"]]))


class RatesTask(Task[RatesTaskConfig]):
    name = "rates"
    title = "Hotfix cases: fixed and buggy rates"
    config_type = RatesTaskConfig
    missing_names = ("fixed/buggy rates",)
    files = ("base_eval.json", "hotfix_eval.json", "summary.json")
    # Its phases are among those the demo's summary.json times itself (its "seconds").
    timed_by_summary = True

    def inputs(self, cfg: RatesTaskConfig) -> list[HotfixCase]:
        from codehotfix.data.loaders import load_cases

        cases = load_cases(cfg.cases, cfg.fmt)
        return cases[:cfg.limit] if cfg.limit is not None else cases

    def run(self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: RatesTaskConfig,
            inputs: object = None, *, progress: bool = True,
            prompt_transform: Callable[[str], str] | None = None,
            logits_processor_factory: Callable[[Sequence[str]], Any] | None = None,
            backend: object = None) -> TaskResult:
        """``prompt_transform``, ``logits_processor_factory`` and ``backend``: see ``evaluate_cases``."""
        cases = inputs if inputs is not None else self.inputs(cfg)
        return TaskResult(self, evaluate_cases(model, tokenizer, cases, cfg.eval_config(), progress=progress,
                                               prompt_transform=prompt_transform,
                                               logits_processor_factory=logits_processor_factory, backend=backend))

    def summary(self, data: dict[str, Any]) -> dict[str, Any]:
        s = data["summary"]
        return {"cases": s["cases"], "greedy": s["greedy"], "sampled": s["sampled"], "margin_mean": s["margin_mean"],
                "events": {e: {m: v["rate"] for m, v in b["greedy"].items()} for e, b in s.get("events", {}).items()},
                "seconds": data["seconds"]}

    def collect(self, folder: RunFolder) -> RatesData | None:
        base_path, hot_path = folder.path / "base_eval.json", folder.path / "hotfix_eval.json"
        summary_path = folder.path / "summary.json"
        if base_path.is_file() and hot_path.is_file():
            rates = _from_eval_files(base_path, hot_path)
            for p in (base_path, hot_path):
                folder.record(p)
            return rates
        if summary_path.is_file():
            summary = load_json(summary_path)
            if "comparison" in summary or "by_topic" in summary:
                folder.record(summary_path)
                return _from_summary(summary, summary_path)
        absent = tuple(p.name for p in (base_path, hot_path) if not p.is_file())
        folder.missing.append(Missing("fixed/buggy rates", absent + ("(or summary.json)",), COMMAND))
        return None

    def from_result(self, data: dict[str, Any]) -> RatesData:
        """A single result shown as its own before and after: its rates, no change."""
        block = _rates_block(data["summary"], Path("result"), "summary")
        return RatesData(["result"], block, block, {}, None)

    def analyze(self, rates: object | None) -> dict[str, Any] | None:
        if not isinstance(rates, RatesData):
            return None
        from codehotfix.evaluation.compare import compare

        comparison = _comparison(rates)
        headlines = []
        for mode in ("sampled", "greedy"):
            c = comparison[mode]
            headlines.append(f"{mode.capitalize()} fixed rate {_pct(c['fixed_change_pct'])} "
                             f"({c['fixed_before']:.3f}→{c['fixed_after']:.3f}), buggy {_pct(c['buggy_change_pct'])} "
                             f"({c['buggy_before']:.3f}→{c['buggy_after']:.3f}) on {rates.before['cases']} cases")
        # Per event, every metric before/after with its interval, paired test and Holm-adjusted p; from
        # the eval files when present, else as summary.json stored it.
        events = compare(*rates.results) if rates.results else rates.events
        return {"sources": rates.sources, "cases": rates.before.get("cases"), "comparison": comparison,
                "intervals": _intervals(rates), "tests": _paired_tests(rates), "groups": _groups(rates),
                "headlines": headlines, "paired": rates.pairs is not None, "events": events}

    def headlines(self, numbers: dict[str, Any] | None) -> list[str]:
        if not numbers:
            return []
        return (_split_headlines(numbers.get("events")) + list(numbers["headlines"])
                + [t["sentence"] for t in numbers["tests"].values()])

    def times(self, rates: object | None) -> dict[str, float]:
        times: dict[str, float] = {}
        if isinstance(rates, RatesData) and rates.results:
            for data, label in zip(rates.results, ("base eval", "hotfix eval")):
                s = data.get("seconds")
                if isinstance(s, (int, float)):
                    times[label] = float(s)
        return times

    def section(self, r: dict[str, Any] | None) -> Section:
        s = Section("rates", self.title)
        if not r:
            return s
        s.p(f"From {', '.join(r['sources'])}: {r['cases']} cases, each completed greedily and sampled. "
            "Rate = share of completions whose first line is the fixed (or buggy) line. "
            f"For reference, the paper reports fixed {PAPER['fixed_change_pct']:+.2f}% and buggy "
            f"{fmt_change(PAPER['buggy_change_pct'], 2)} ({PAPER['source']}).")
        rows = []
        for mode in ("greedy", "sampled"):
            c, ci = r["comparison"][mode], r["intervals"][mode]
            rows.append([mode, str(c["n_before"]), fmt_rate(c["fixed_before"]), fmt_rate(c["fixed_after"]),
                         fmt_change(c["fixed_change_pct"]), fmt_rate(c["buggy_before"]), fmt_rate(c["buggy_after"]),
                         fmt_change(c["buggy_change_pct"]),
                         f"{fmt_ci(ci['fixed_before'])} → {fmt_ci(ci['fixed_after'])}",
                         f"{fmt_ci(ci['buggy_before'])} → {fmt_ci(ci['buggy_after'])}"])
        s.table(Table(["mode", "completions", "fixed before", "fixed after", "change", "buggy before",
                       "buggy after", "change", "fixed 95% CI", "buggy 95% CI"], rows,
                      f"Intervals: greedy {r['intervals']['greedy']['method']}; sampled "
                      f"{r['intervals']['sampled']['method']}."))
        self._rest(s, r)
        return s

    @staticmethod
    def _rest(s: Section, r: dict[str, Any]) -> None:
        c = r["comparison"]
        if c["margin_before"] is not None and c["margin_after"] is not None:
            s.p(f"Mean log-likelihood margin log p(fixed) − log p(buggy): {c['margin_before']:.2f} → "
                f"{c['margin_after']:.2f} nats.")
        if r["tests"]:
            s.table(Table(["outcome", "test", "cases", "result"],
                          [[k.replace("_", " "), t["test"], str(t["cases"]), t["sentence"]]
                           for k, t in r["tests"].items()], "Paired tests on the same cases, before vs after."))
        else:
            s.p("No paired tests: they need per-case records (base_eval.json and hotfix_eval.json); "
                "summary.json holds only aggregate rates.")
        _event_tables(s, r.get("events"))
        s.plot("rates_overall")
        if r["groups"]:
            s.table(Table(
                ["topic / pattern", "cases", "fixed before", "fixed after", "buggy before", "buggy after",
                 "margin before", "margin after"],
                [[g, str(v["cases"]), fmt_rate(v["sampled_fixed_before"]), fmt_rate(v["sampled_fixed_after"]),
                  fmt_rate(v["sampled_buggy_before"]), fmt_rate(v["sampled_buggy_after"]),
                  fmt_rate(v["margin_before"], 1), fmt_rate(v["margin_after"], 1)]
                 for g, v in sorted(r["groups"].items())],
                "Per topic/pattern, sampled rates and mean margin (nats)."))
            s.plot("rates_by_group")
