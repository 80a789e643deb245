"""Turn the report's numbers into sections, then into one self-contained HTML page and Markdown.

Both formats render the same ``Section`` list (verdict sentences, tables, figure names, missing
inputs), so a number in report.md is exactly the number in report.html. HTML goes through a jinja2
template with autoescaping (file names and case ids are user data); figures are data: URIs.
"""

from __future__ import annotations

from typing import Any

import jinja2

from codehotfix.evaluation.tasks import in_report_order
from codehotfix.evaluation.tasks.sections import PAPER, Section, Table
from codehotfix.evaluation.tasks.sections import fmt_change as _chg
from codehotfix.evaluation.tasks.sections import fmt_value as _fmt
from codehotfix.report.plots import Plot

__all__ = ["Table", "Section", "build_sections", "render_html", "render_markdown"]

# Which section the Missing entries of the training part belong to (tasks name their own).
_TRAIN_MISSING = ("training", "training curves")


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
    tasks = in_report_order()
    sections = [*(task.section(numbers.get(task.name)) for task in tasks), _train(numbers), _time(numbers),
                *_other(numbers), _inputs(numbers)]
    by_id = {s.id: s for s in sections}
    owner = {name: task.name for task in tasks for name in task.missing_names}
    owner.update({name: "train" for name in _TRAIN_MISSING})
    for m in numbers["missing"]:
        section = by_id[owner[m["section"]]]
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
