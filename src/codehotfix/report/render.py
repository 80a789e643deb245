"""Turn the report's numbers into sections, then into one self-contained HTML page and Markdown.

Both formats render the same ``Section`` list (verdict sentences, tables, figure names, missing
inputs), so a number in report.md is exactly the number in report.html. HTML goes through a jinja2
template with autoescaping (file names and case ids are user data); figures are data: URIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import jinja2

from codehotfix.evaluation.compare import format_change
from codehotfix.report.analysis import PAPER
from codehotfix.report.plots import Plot

__all__ = ["Table", "Section", "build_sections", "render_html", "render_markdown"]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Section:
    """One part of the report: blocks in reading order — ``("p", sentence)``, ``("table", Table)``,
    ``("plot", figure name)`` — and ``missing``: absent inputs, as sentences saying how to make them."""

    id: str
    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, table: Table) -> None:
        self.blocks.append(("table", table))

    def plot(self, name: str) -> None:
        self.blocks.append(("plot", name))


def _r(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _chg(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:+.{digits}f}%".replace("-", "\u2212")


def _ci(ci: Sequence[float] | None, digits: int = 3) -> str:
    return "n/a" if not ci else f"{ci[0]:.{digits}f}–{ci[1]:.{digits}f}"


# Which section each Missing entry of collect.py belongs to.
_MISSING_SECTION = {"fixed/buggy rates": "rates", "HumanEval (base)": "humaneval", "HumanEval (hotfix)": "humaneval",
                    "training": "train", "training curves": "train", "locality": "locality",
                    "perplexity": "perplexity", "variants": "variants", "execfix": "execfix"}


def _rates(n: dict[str, Any]) -> Section:
    s = Section("rates", "Hotfix cases: fixed and buggy rates")
    r = n["rates"]
    if not r:
        return s
    s.p(f"From {', '.join(r['sources'])}: {r['cases']} cases, each completed greedily and sampled. "
        "Rate = share of completions whose first line is the fixed (or buggy) line. "
        f"For reference, the paper reports fixed {PAPER['fixed_change_pct']:+.2f}% and buggy "
        f"{_chg(PAPER['buggy_change_pct'], 2)} ({PAPER['source']}).")
    rows = []
    for mode in ("greedy", "sampled"):
        c, ci = r["comparison"][mode], r["intervals"][mode]
        rows.append([mode, str(c["n_before"]), _r(c["fixed_before"]), _r(c["fixed_after"]), _chg(c["fixed_change_pct"]),
                     _r(c["buggy_before"]), _r(c["buggy_after"]), _chg(c["buggy_change_pct"]),
                     f"{_ci(ci['fixed_before'])} → {_ci(ci['fixed_after'])}",
                     f"{_ci(ci['buggy_before'])} → {_ci(ci['buggy_after'])}"])
    s.table(Table(["mode", "completions", "fixed before", "fixed after", "change", "buggy before",
                   "buggy after", "change", "fixed 95% CI", "buggy 95% CI"], rows,
                  f"Intervals: greedy {r['intervals']['greedy']['method']}; sampled "
                  f"{r['intervals']['sampled']['method']}."))
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
            [[g, str(v["cases"]), _r(v["sampled_fixed_before"]), _r(v["sampled_fixed_after"]),
              _r(v["sampled_buggy_before"]), _r(v["sampled_buggy_after"]), _r(v["margin_before"], 1),
              _r(v["margin_after"], 1)] for g, v in sorted(r["groups"].items())],
            "Per topic/pattern, sampled rates and mean margin (nats)."))
        s.plot("rates_by_group")
    return s


_EVENT_HELP = {"line": "prompt = the prefix; the first line written is judged",
               "split": "prompt = the prefix plus the start the buggy and fixed lines share (cut at a token "
                        "boundary); the completed line is judged, and which line it continues toward",
               "window": "prompt = the prefix; up to 5 lines written, judged by whether they contain the fixed "
                         "or buggy line (and the case's patterns)"}


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def _event_tables(s: Section, events: dict[str, Any] | None) -> None:
    """One table per completion event (``evaluation.compare``): every rate with its interval and test."""
    if not events or not events.get("events"):
        return
    s.p(f"Completion events (docs/evaluation.md), paired on {events['cases']} cases: every rate with its 95% "
        "interval (greedy: Wilson; sampled: bootstrap over cases) and a paired test (greedy: McNemar exact; "
        "sampled: sign-flip permutation on per-case rates); p is Holm-adjusted within each event's table, and "
        f"a change is 'not significant' where the adjusted p ≥ {events['alpha']:g}.")
    for event, table in events["events"].items():
        rows = [[r["metric"].replace("_", " "), r["mode"], f"{_r(r['before'])} [{_ci(r['before_ci'], 2)}]",
                 f"{_r(r['after'])} [{_ci(r['after_ci'], 2)}]",
                 format_change(r).replace("-", "\u2212"), f"{r['test']}, {r['detail']}",
                 _p(r["p"]), _p(r["p_holm"]), r["verdict"]] for r in table["rows"]]
        s.table(Table(["metric", "mode", "before (95% CI)", "after (95% CI)", "change", "test", "p", "Holm p",
                       "verdict"], rows, f"Event '{event}': {_EVENT_HELP.get(event, '')}."))


def _humaneval(n: dict[str, Any]) -> Section:
    s = Section("humaneval", "HumanEval (general coding ability)")
    h = n["humaneval"]
    if not h:
        return s
    rows = []
    for name in ("base", "hotfixed"):
        side = h.get(name)
        if side:
            for k, v in side["pass_at_k"].items():
                rows.append([name, side["file"], k, _r(v["value"]), _ci(v["ci95"]), str(side["problems"]),
                             "/".join(map(str, side["samples_per_problem"]))])
    s.table(Table(["model", "file", "metric", "value", "95% CI", "problems", "samples/problem"], rows))
    if h.get("headline"):
        s.p(h["headline"] + ".")
    s.plot("humaneval")
    return s


def _locality(n: dict[str, Any]) -> Section:
    s = Section("locality", "Locality (unrelated prompts)")
    loc = n["locality"]
    if loc:
        s.p(loc["headline"] + ".")
        s.table(Table(["prompts", "unchanged", "95% CI", "mean KL", "median KL", "95th pct KL", "max KL"],
                      [[str(loc["prompts"]), _r(loc["unchanged_fraction"]), _ci(loc["unchanged_ci95"]),
                        f"{loc['mean_kl']:.4g}", *(("n/a" if loc[k] is None else f"{loc[k]:.4g}")
                                                   for k in ("median_kl", "p95_kl", "max_kl"))]],
                      "KL(base ‖ hotfixed) of next-token distributions, nats."))
        s.plot("locality")
    return s


def _perplexity(n: dict[str, Any], limit: int = 25) -> Section:
    s = Section("perplexity", "Perplexity (held-out code)")
    p = n["perplexity"]
    if p:
        s.p(p["headline"] + ".")
        if p["note"]:
            s.p("Note: " + p["note"] + ".")
        s.table(Table(["corpus", "tokens", "base", "hotfixed", "relative change", "95% CI"],
                      [[str(p["corpus"]), str(p["tokens"]), _r(p["base"]), _r(p["hotfixed"]),
                        _chg(100 * p["relative_change"]),
                        f"{_chg(100 * p['ci95'][0])} to {_chg(100 * p['ci95'][1])}" if p["ci95"] else "n/a"]]))
        files = sorted(p["files"], key=lambda f: -f["tokens"])[:limit]
        if files:
            s.table(Table(["file", "tokens", "base", "hotfixed"],
                          [[f["id"], str(f["tokens"]), _r(f["base"]), _r(f["hotfixed"])] for f in files],
                          f"Per file (largest {len(files)} of {len(p['files'])})."))
        s.plot("perplexity")
    return s


def _variants(n: dict[str, Any]) -> Section:
    s = Section("variants", "Variants of the hotfix cases (generalisation)")
    v = n["variants"]
    if v:
        rows = [[name, str(k["n"]), str(k["skipped"]) if k["skipped"] is not None else "",
                 *(f"{_r(k[f'{m}_{lab}_before'])} → {_r(k[f'{m}_{lab}_after'])} ({_chg(k[f'{m}_{lab}_change_pct'])})"
                   for m in ("greedy", "sampled") for lab in ("fixed", "buggy"))]
                for name, k in v["kinds"].items()]
        s.table(Table(["variant", "cases", "skipped", "greedy fixed", "greedy buggy", "sampled fixed",
                       "sampled buggy"], rows, f"{v['skipped']} variants could not be made."))
    return s


def _execfix(n: dict[str, Any]) -> Section:
    s = Section("execfix", "Executed fixes (do the completions run?)")
    e = n["execfix"]
    if e:
        if e.get("headline"):
            s.p(e["headline"] + ".")
        keys = ["pass_rate", "greedy_pass_rate", "string_fixed_rate"]
        s.table(Table(["model", *keys], [[side, *(_r(e[side].get(k)) for k in keys)]
                                         for side in ("base", "hotfixed")], f"{e['cases']} cases."))
        if e.get("reference"):
            s.table(Table(list(e["reference"]), [[_fmt(x) for x in e["reference"].values()]],
                          "Reference: the cases' own fixed and buggy lines."))
        if e.get("mcnemar"):
            s.table(Table(list(e["mcnemar"]), [[_fmt(x) for x in e["mcnemar"].values()]], "McNemar (greedy)."))
    return s


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _train(n: dict[str, Any]) -> Section:
    s = Section("train", "Training")
    t = n["train"]
    if not t:
        return s
    s.p(t["headline"] + ".")
    cfg = (n.get("run") or {}).get("config") or {}
    if cfg:
        objectives = " + ".join(f"{o.get('weight', 1)}·{o.get('name')}" for o in cfg.get("objectives", []))
        a, tr = cfg.get("adapter", {}), cfg.get("training", {})
        adapter = " ".join([str(a.get("method") or "")]
                           + [f"{k}={a[k]}" for k in ("r", "alpha") if a.get(k) is not None])
        values = (tr.get("epochs"), tr.get("lr"), tr.get("batch_size"), cfg.get("seed"))
        s.table(Table(["objective", "adapter", "epochs", "lr", "batch", "seed"],
              [[objectives, adapter, *("" if v is None else str(v) for v in values)]]))
    if t["first_last"]:
        s.table(Table(["quantity", "first step", "last step"],
                      [[k, _fmt(a), _fmt(b)] for k, (a, b) in t["first_last"].items()],
                      f"{t['logged_steps']} logged steps."))
    s.plot("train")
    return s


def _time(n: dict[str, Any]) -> Section:
    s = Section("time", "Time")
    phases = n["time"]["phases"]
    if phases:
        s.table(Table(["phase", "seconds"], [[k, f"{v:.1f}"] for k, v in phases.items()]
                      + [["total of the phases", f"{n['time']['total']:.1f}"]]))
        s.plot("time")
    else:
        s.missing.append("No timings found (summary.json 'seconds', or 'seconds' in the result files).")
    return s


def _other(n: dict[str, Any]) -> list[Section]:
    return [Section(f"other-{i}", f"{o['kind']} ({o['file']})",
                    [("table", Table(["field", "value"], [[k, _fmt(v)] for k, v in o["fields"].items()]))])
            for i, o in enumerate(n["other"])]


def _inputs(n: dict[str, Any]) -> Section:
    s = Section("inputs", "Run and inputs")
    run = {k: v for k, v in (n.get("run") or {}).items() if k not in ("config", "versions", "topics")}
    if run:
        s.table(Table(["field", "value"], [[k, _fmt(v)] for k, v in run.items()]))
    s.table(Table(["file", "sha256"], [[f, h[:16]] for f, h in n["inputs"].items()], f"Run folder: {n['run_dir']}"))
    return s


def build_sections(numbers: dict[str, Any]) -> list[Section]:
    """The report's sections in reading order, each with its missing-input sentences attached."""
    sections = [_rates(numbers), _humaneval(numbers), _locality(numbers), _perplexity(numbers),
                _variants(numbers), _execfix(numbers), _train(numbers), _time(numbers), *_other(numbers),
                _inputs(numbers)]
    by_id = {s.id: s for s in sections}
    for m in numbers["missing"]:
        section = by_id[_MISSING_SECTION[m["section"]]]
        section.missing.append(f"Missing {m['section']}: {', '.join(m['files'])} not found in the run folder. "
                               f"Produce it with: {m['command']}")
    return sections


_HTML = jinja2.Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>codehotfix report — {{ title }}</title>
<style>
 body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a202c; margin: 0;
        background: #f7f8fa; }
 main { max-width: 1060px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
 h1 { font-size: 26px; margin: 8px 0 4px; }
 h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; }
 .meta { color: #4a5568; font-size: 13px; }
 nav { font-size: 13px; margin: 12px 0; } nav a { margin-right: 12px; color: #2b6cb0; text-decoration: none; }
 .verdict { background: #ebf4ff; border-left: 4px solid #2b6cb0; padding: 8px 16px; margin: 16px 0; }
 .verdict li { margin: 4px 0; }
 .missing { background: #fffaf0; border-left: 4px solid #dd6b20; padding: 6px 12px; margin: 8px 0; font-size: 14px; }
 table { border-collapse: collapse; margin: 12px 0; font-size: 13px; font-variant-numeric: tabular-nums; }
 th, td { border: 1px solid #e2e8f0; padding: 4px 8px; text-align: left; vertical-align: top; }
 th { background: #f1f5f9; } tr:nth-child(even) td { background: #fafbfc; }
 caption { caption-side: bottom; text-align: left; color: #4a5568; font-size: 12px; padding-top: 4px; }
 figure { margin: 12px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #edf2f7; }
 figcaption { color: #4a5568; font-size: 12px; }
 code { font-size: 13px; background: #f1f5f9; padding: 1px 4px; }
</style></head>
<body><main>
<h1>codehotfix report</h1>
<div class="meta">{{ title }} · generated {{ created }}</div>
<nav>{% for s in sections %}<a href="#{{ s.id }}">{{ s.title }}</a>{% endfor %}</nav>
<section class="verdict" id="verdict"><h2 style="border:0;margin-top:8px">Verdict</h2>
{% if headlines %}<ul>{% for h in headlines %}<li>{{ h }}</li>{% endfor %}</ul>
{% else %}<p>No results found to judge the hotfix by; see the missing inputs below.</p>{% endif %}
<p class="meta">Significance level {{ alpha }}; paper for reference: fixed {{ paper_fixed }},
buggy {{ paper_buggy }} ({{ paper_source }}).</p>
</section>
{% for s in sections %}<section id="{{ s.id }}"><h2>{{ s.title }}</h2>
{% for m in s.missing %}<div class="missing">{{ m }}</div>{% endfor %}
{% for kind, b in s.blocks %}{% if kind == "p" %}<p>{{ b }}</p>
{% elif kind == "table" %}<table>{% if b.caption %}<caption>{{ b.caption }}</caption>{% endif %}
<thead><tr>{% for h in b.header %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in b.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% elif b in plots %}<figure><img src="{{ plots[b].uri }}" alt="{{ plots[b].alt }}">
<figcaption>{{ plots[b].title }}</figcaption></figure>
{% endif %}{% endfor %}
</section>
{% endfor %}
</main></body></html>
""", autoescape=True)


def render_html(numbers: dict[str, Any], sections: list[Section], plots: dict[str, Plot], *, title: str,
                created: str) -> str:
    """One HTML page; figures inline as data: URIs, so the file stands alone."""
    return _HTML.render(title=title, created=created, sections=sections, plots=plots, headlines=numbers["headlines"],
                        alpha=numbers["alpha"], paper_fixed=f"{PAPER['fixed_change_pct']:+.2f}%",
                        paper_buggy=_chg(PAPER["buggy_change_pct"], 2), paper_source=PAPER["source"])


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(numbers: dict[str, Any], sections: list[Section], *, title: str, created: str) -> str:
    """The same sections as Markdown (tables and sentences; the figures are in report.html)."""
    lines = [f"# codehotfix report — {title}", "", f"Generated {created}. Figures: report.html.", "",
             "## Verdict", ""]
    lines += [f"- {h}" for h in numbers["headlines"]] or ["No results found to judge the hotfix by."]
    lines += ["", f"Significance level {numbers['alpha']}; paper for reference: "
                  f"fixed {PAPER['fixed_change_pct']:+.2f}%, "
                  f"buggy {_chg(PAPER['buggy_change_pct'], 2)} ({PAPER['source']}).", ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        lines += [f"> {m}\n" for m in s.missing]
        for kind, b in s.blocks:
            if kind == "p":
                lines += [b, ""]
            elif kind == "table":
                lines.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
                lines.append("|" + "---|" * len(b.header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                lines += ([f"\n{b.caption}"] if b.caption else []) + [""]
    return "\n".join(lines).rstrip() + "\n"
