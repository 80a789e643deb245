"""The hotfix model card: front matter the hub reads, what it was trained on, and efficacy either
measured (from report.json) or plainly marked as not measured; the base model named absolutely."""

import json
import os

import yaml

from codehotfix.api import train
from codehotfix.data.cases import write_cases
from codehotfix.deploy.card import DEFAULT_HUB_ID, base_model_reference, render_card
from codehotfix.evaluation.compare import compare


def _front_matter(text):
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_train_writes_a_card_and_names_a_local_base_absolutely(tmp_path, tiny_model_dir, tiny_cases, monkeypatch):
    cases = write_cases(tmp_path / "cases.jsonl", tiny_cases)
    # Given as a relative path, the way `--model ./tiny` is typed.
    monkeypatch.chdir(tiny_model_dir.parent)
    rel = os.path.join(".", tiny_model_dir.name)
    manifest = train(cases, tmp_path / "hf", model=rel, overrides=["training.epochs=1", "training.batch_size=4"],
                     progress=False)
    absolute = str(tiny_model_dir.resolve())
    adapter_cfg = json.loads((tmp_path / "hf" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == absolute
    assert manifest["base_model"] == absolute and manifest["base_model_ref"] == absolute
    card = (tmp_path / "hf" / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["base_model"] == absolute and meta["library_name"] == "peft" and meta["license"] == "apache-2.0"
    assert meta["tags"] == ["codehotfix", "hotfix", "lora", "code"]
    assert manifest["cases_checksum"] in card and "Cases: 4" in card
    assert manifest["base_model_checksum"] in card  # a local base is identified by its weights too
    assert "`fixed_ce`" in card and "`kl_context`" in card
    assert "## Efficacy\n\nNot measured" in card and "## Side effects\n\nNot measured" in card


def _numbers():
    comparison = {m: {"fixed_before": 0.1, "fixed_after": 0.5, "buggy_before": 0.4, "buggy_after": 0.0}
                  for m in ("greedy", "sampled")}
    comparison.update(margin_before=-1.5, margin_after=2.25)
    intervals = {m: {k: [0.01, 0.9] for k in comparison["greedy"]} for m in ("greedy", "sampled")}
    return {"rates": {"cases": 12, "comparison": comparison, "intervals": intervals,
                      "tests": {"greedy_fixed": {"sentence": "greedy fixed line: 5 cases gained, 0 lost"}}},
            "humaneval": {"headline": "HumanEval pass@1 0.400→0.380 (−2.0 points)"},
            "locality": {"headline": "Locality: 95.0% of 64 unrelated prompts unchanged"},
            "perplexity": None}


def test_card_after_a_run_shows_efficacy_with_intervals_and_side_effects():
    manifest = {"base_model": "default", "base_model_checksum": "abc123", "cases": 40, "cases_checksum": "c0ffee",
                "config": {"adapter": {"method": "dora", "r": 8, "alpha": 16},
                           "objectives": [{"name": "fixed_ce", "weight": 1.0}]},
                "final_losses": {"loss": 0.5}}
    card = render_card(manifest, _numbers())
    meta = _front_matter(card)
    assert meta["base_model"] == DEFAULT_HUB_ID and "lora" in meta["tags"]  # DoRA is a LoRA variant
    assert "Held-out cases: 12" in card and "| greedy | 0.100 [0.010, 0.900] | 0.500 [0.010, 0.900] |" in card
    assert "-1.50 → 2.25" in card and "5 cases gained" in card
    assert "- HumanEval pass@1 0.400→0.380" in card and "- Locality: 95.0%" in card
    assert "Not measured" not in card and "abc123" in card


def _manifest():
    return {"base_model": "default", "base_model_checksum": "abc123", "cases": 40, "cases_checksum": "c0ffee",
            "config": {"adapter": {"method": "lora", "r": 8, "alpha": 16}}}


def _eval(after, events=("line", "split", "window")):
    """Ten greedy-only eval records (no samples, so the event tables hold greedy rows and the margin only).
    Before, every case writes the buggy line; after, nine take the fixed line at the split, three write it
    as the whole line, and two windows contain it."""
    records = []
    for i in range(10):
        fixed = after and i < 9
        line = {"label": "fixed" if after and i < 3 else "other" if after else "buggy", "valid": True}
        split = {"label": "fixed" if fixed else "buggy", "toward": "fixed" if fixed else "buggy", "valid": True}
        window = {"label": "other", "contains_fixed": after and i < 2, "contains_buggy": not (after and i == 9)}
        judged = {"line": line, "split": split, "window": window}
        records.append({"id": f"c{i}", "margin": 2.0 if after else -1.0,
                        "events": {e: {"greedy": judged[e], "samples": []} for e in events}})
    return {"cases": records}


def test_card_shows_every_evaluated_event_split_first_with_the_reports_numbers():
    numbers = _numbers()
    numbers["rates"]["events"] = compare(_eval(False), _eval(True))
    card = render_card(_manifest(), numbers)
    assert "| greedy | 0.100 [0.010, 0.900] |" in card  # the line table above stays as it was
    events = card.split("### Completion events")[1]
    assert events.index("Event `split`") < events.index("Event `line`") < events.index("Event `window`")
    # Split: 0/10 → 9/10 exact fixed, McNemar p = 2·0.5^9 ≈ 0.0039; Holm over its 7 greedy rows, five of
    # them at 0.0039: 7 × 0.0039 ≈ 0.027, significant.
    assert ("| fixed | greedy | 0.000 [0.00–0.28] | 0.900 [0.60–0.98] | +90.0 pts | McNemar exact, 9 gained, "
            "0 lost | 0.0039 | 0.027 | significant increase |") in events
    assert ("| toward fixed | greedy | 0.000 [0.00–0.28] | 0.900 [0.60–0.98] | +90.0 pts | McNemar exact, "
            "9 gained, 0 lost | 0.0039 | 0.027 | significant increase |") in events
    assert ("| buggy | greedy | 1.000 [0.72–1.00] | 0.100 [0.02–0.40] | −90.0 pts | McNemar exact, 0 gained, "
            "9 lost | 0.0039 | 0.027 | significant decrease |") in events
    assert "| fixed valid | greedy | 0.000 [0.00–0.28] | 0.900 [0.60–0.98] |" in events
    # Window: 2 gained (p = 0.5), Holm-adjusted over its 5 rows to 1: not significant.
    assert ("| contains fixed | greedy | 0.000 [0.00–0.28] | 0.200 [0.06–0.51] | +20.0 pts | McNemar exact, "
            "2 gained, 0 lost | 0.50 | 1.00 | not significant |") in events
    assert "| contains buggy | greedy | 1.000 [0.72–1.00] | 0.900 [0.60–0.98] |" in events
    # Line: 3 gained; the margin row (mode "likelihood") stays in report.md with the sampled rows.
    assert ("| fixed | greedy | 0.000 [0.00–0.28] | 0.300 [0.11–0.60] | +30.0 pts | McNemar exact, 3 gained, "
            "0 lost | 0.25 | 0.75 | not significant |") in events
    assert "| margin |" not in events and "| sampled |" not in events
    assert card.index("### Completion events") < card.index("## Side effects")


def test_card_without_split_or_window_renders_as_before():
    before = render_card(_manifest(), _numbers())
    numbers = _numbers()
    numbers["rates"]["events"] = compare(_eval(False, ("line",)), _eval(True, ("line",)))
    assert render_card(_manifest(), numbers) == before
    assert "Completion events" not in before and "Event `" not in before


def test_base_model_reference():
    assert base_model_reference(None) == base_model_reference("default") == DEFAULT_HUB_ID
    assert base_model_reference("Qwen/Qwen2.5-Coder-1.5B") == "Qwen/Qwen2.5-Coder-1.5B"
