"""bench/serve_swap_load.py with the tiny model: a live server under load takes a hotfix and gives it
back with no failed request, every response tagged with the versions that produced it, and the probe's
greedy completion changing at the enable and coming back at the rollback."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_swap_under_load_tiny(tmp_path):
    spec = importlib.util.spec_from_file_location("serve_swap_load", ROOT / "bench" / "serve_swap_load.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "swap.json"
    result = bench.main(["--model", "tiny", "--seconds", "9", "--clients", "2", "--threads", "1",
                         "--max-tokens", "8", "--startup-timeout", "120", "--request-timeout", "60", "--out", str(out)])
    assert json.loads(out.read_text())["requests"] == result["requests"] > 0
    assert result["errors"] == 0 and result["untagged_responses"] == 0 and result["mistagged_responses"] == 0
    assert result["enable"]["status"] == 200 and result["rollback"]["status"] == 200
    assert len(result["versions_seen"]) == 2  # the base alone, then base + hotfix
    assert result["tag_consistent"] and result["changed_at_enable"] and result["restored_at_rollback"]
