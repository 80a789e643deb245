"""A hotfix folder's Hugging Face model card (README.md): what it was trained on and what it did.

PEFT's ``save_pretrained`` leaves an empty template card; a hotfix is meant to be published, so
its card says what a reader needs before trusting it: the base model (hub id, or absolute path plus
the weights' sha256), the cases (count and checksum), the objectives, and the measured efficacy
with 95% intervals and side effects — or, after a plain ``train``, that efficacy was not measured.
Where the evaluation judged the split or window event too, the efficacy shows every event's greedy
rows as the report's event tables do (split first; intervals, gained/lost, McNemar and Holm p).

    write_card("hotfixes/my-fix", manifest)                    # after training: efficacy not measured
    write_card("runs/x/hotfix", manifest, numbers=report_json)  # after `codehotfix run`: filled in

``numbers`` is the dict ``codehotfix report`` writes as report.json, so the card shows the very
numbers (and intervals) of the report, computed once in ``report.analysis``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from codehotfix.evaluation.tasks.rates import EVENT_COLUMNS, EVENT_HELP, event_cells
from codehotfix.files import atomic_write_text

__all__ = ["CARD", "DEFAULT_HUB_ID", "base_model_reference", "render_card", "write_card"]

CARD = "README.md"
# What `--model default` is upstream (the embedded file is its Q4_K_M GGUF; see models/default.py).
DEFAULT_HUB_ID = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
TAGS = ("codehotfix", "hotfix", "code")


def base_model_reference(spec: str | None) -> str:
    """How a card and adapter_config.json name the base: a hub id, or an absolute local path.

    A relative path ("./tiny") names nothing once the folder is copied elsewhere, so local models are
    recorded absolute (their weights' checksum goes next to it in the card and the manifest).
    """
    if spec in (None, "", "default"):
        return DEFAULT_HUB_ID
    path = Path(spec)
    return str(path.resolve()) if path.exists() else spec


def _is_local(ref: str) -> bool:
    return Path(ref).is_absolute()


def _front_matter(manifest: Mapping[str, Any], license_id: str) -> str:
    ref = manifest.get("base_model_ref") or base_model_reference(manifest.get("base_model"))
    method = ((manifest.get("config") or {}).get("adapter") or {}).get("method", "lora")
    tags = [TAGS[0], TAGS[1], "lora" if method in ("lora", "dora", "qlora") else method, TAGS[2]]
    # The hub's model index only understands hub ids; a local base is kept as a string all the same
    # (JSON strings are valid YAML, so paths with ':' or spaces stay one scalar).
    lines = ["---", f"base_model: {json.dumps(ref)}", "library_name: peft", f"license: {license_id}", "tags:"]
    lines += [f"- {t}" for t in tags]
    return "\n".join(lines + ["---", ""])


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _interval(ci: Any) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "n/a"


def _efficacy(numbers: Mapping[str, Any] | None) -> list[str]:
    rates = (numbers or {}).get("rates")
    if not rates:
        return ["## Efficacy", "", "Not measured: this card was written after training only. "
                "`codehotfix run CASES --out RUN_DIR` measures the base and hotfixed model on held-out "
                "cases and fills this section in.", ""]
    comp, intervals = rates["comparison"], rates.get("intervals") or {}
    lines = ["## Efficacy", "", f"Held-out cases: {rates.get('cases')} (evaluated before and after; "
             "95% intervals in brackets).", "",
             "| completions | fixed before | fixed after | buggy before | buggy after |", "|---|---|---|---|---|"]
    for mode in ("greedy", "sampled"):
        c, ci = comp[mode], intervals.get(mode, {})
        cells = [f"{_fmt(c[f'{lab}_{side}'])} {_interval(ci.get(f'{lab}_{side}'))}"
                 for lab in ("fixed", "buggy") for side in ("before", "after")]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean margin log p(fixed) − log p(buggy): {_fmt(comp.get('margin_before'), 2)} → "
                  f"{_fmt(comp.get('margin_after'), 2)}.", ""]
    lines += [f"- {t['sentence']}" for t in (rates.get("tests") or {}).values()]
    return lines + [""] + _events(rates.get("events"))


def _events(events: Mapping[str, Any] | None) -> list[str]:
    """Per completion event, the greedy rows of the report's event tables (``evaluation.compare``), in the
    report's cells (``event_cells``): rates with 95% intervals, cases gained/lost, McNemar p and Holm p."""
    events = events or {}
    tables = events.get("events") or {}
    # The line event alone is the table and the tests above already; its own table comes in with the
    # other events, so that every evaluated event is shown the same way.
    if not set(tables) - {"line"}:
        return []
    lines = ["### Completion events", "",
             f"Greedy completions of {events['cases']} cases per completion event (docs/evaluation.md), as in "
             "report.md: each rate with its 95% Wilson interval, the cases gained and lost, McNemar's exact p and "
             "its Holm adjustment within the event's table (whose sampled rows and margin are in report.md); "
             f"'not significant' where the Holm p ≥ {events['alpha']:g}.", ""]
    # The split event first: its completion starts where the buggy and fixed lines part, so it is where
    # the bug is decided (the report's verdict leads with it too).
    for event in sorted(tables, key=lambda name: name != "split"):
        rows = [event_cells(r) for r in tables[event]["rows"] if r["mode"] == "greedy"]
        if not rows:
            continue
        lines += [f"Event `{event}`: {EVENT_HELP.get(event, '')}.", "",
                  "| " + " | ".join(EVENT_COLUMNS) + " |", "|" + "---|" * len(EVENT_COLUMNS)]
        lines += ["| " + " | ".join(cells) + " |" for cells in rows] + [""]
    return lines


def _side_effects(numbers: Mapping[str, Any] | None) -> list[str]:
    found = [numbers[k]["headline"] for k in ("humaneval", "locality", "perplexity", "execfix")
             if numbers and isinstance(numbers.get(k), Mapping) and numbers[k].get("headline")]
    if not found:
        return ["## Side effects", "", "Not measured (HumanEval, locality and perplexity: `codehotfix run "
                "--humaneval N --allow-exec --locality --perplexity`).", ""]
    return ["## Side effects", ""] + [f"- {h}" for h in found] + [""]


def render_card(manifest: Mapping[str, Any], numbers: Mapping[str, Any] | None = None, *,
                license_id: str = "apache-2.0") -> str:
    """The card's text from a hotfix manifest (hotfix.json) and, when known, report.json's numbers."""
    cfg = manifest.get("config") or {}
    adapter = cfg.get("adapter") or {}
    ref = manifest.get("base_model_ref") or base_model_reference(manifest.get("base_model"))
    base_line = f"`{ref}`"
    if _is_local(ref) or manifest.get("base_model") in (None, "default"):
        base_line += f" (weights sha256 `{manifest.get('base_model_checksum')}`)"
    objectives = ", ".join(f"`{o['name']}` (weight {o.get('weight', 1.0)})" for o in cfg.get("objectives") or [])
    losses = manifest.get("final_losses") or {}
    lines = [_front_matter(manifest, license_id), "# codehotfix hotfix", "",
             "A PEFT adapter trained by [codehotfix](https://pypi.org/project/codehotfix/) to make the base model "
             "write the fixed line of each training case instead of the buggy one, while keeping everything else.",
             "", "## Training", "",
             f"- Base model: {base_line}",
             f"- Cases: {manifest.get('cases')} (sha256 of the case list `{manifest.get('cases_checksum')}`)",
             f"- Objectives: {objectives or 'n/a'}",
             f"- Adapter: {adapter.get('method', 'n/a')}, r={adapter.get('r')}, alpha={adapter.get('alpha')}; "
             f"{manifest.get('trainable_parameters')} trainable parameters",
             # no creation time here: identical runs must write identical folders (it is in hotfix.json)
             f"- Steps: {manifest.get('steps')}, seed {manifest.get('seed')}",
             f"- Final loss: {_fmt(losses.get('loss'), 4) if isinstance(losses.get('loss'), (int, float)) else 'n/a'}",
             ""]
    lines += _efficacy(numbers) + _side_effects(numbers)
    lines += ["## Use", "", "```python", "from peft import PeftModel",
              "from transformers import AutoModelForCausalLM", "",
              f"base = AutoModelForCausalLM.from_pretrained({json.dumps(ref)})",
              "model = PeftModel.from_pretrained(base, \"path/to/this/folder\")", "```", "",
              "The full record is `hotfix.json` next to this card (config, versions, per-step log in "
              "`train_log.jsonl`).", ""]
    return "\n".join(lines)


def write_card(hotfix_dir: str | Path, manifest: Mapping[str, Any], numbers: Mapping[str, Any] | None = None, *,
               license_id: str = "apache-2.0") -> Path:
    """Writes ``hotfix_dir/README.md`` (atomically, replacing PEFT's template) and returns its path."""
    return atomic_write_text(Path(hotfix_dir) / CARD, render_card(manifest, numbers, license_id=license_id))
