"""bench/serve_load.py in --tiny mode with few requests: it runs end to end against a live server,
and with 4 clients the server decodes requests together (a server metric, not a timing)."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_serve_load_tiny_batches_four_clients(tmp_path):
    spec = importlib.util.spec_from_file_location("serve_load", ROOT / "bench" / "serve_load.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = bench.parse(["--tiny", "--clients", "1,4", "--requests", "12", "--max-tokens", "8", "--threads", "1",
                        "--batch-window-ms", "20", "--max-seconds", "120", "--out-dir", str(tmp_path)])
    result = bench.run(args)
    one, four = result["levels"]
    assert one["errors"] == 0 and four["errors"] == 0 and one["ok"] == four["ok"] == 12
    assert one["multi_request_batches"] == 0  # one client never has two requests waiting
    assert four["multi_request_batches"] > 0 and four["mean_requests_per_batch"] > 1
    assert json.loads((tmp_path / "serve_load_tiny.json").read_text())["levels"][1]["clients"] == 4
    assert "| 4 | 12 | 0 |" in (tmp_path / "serve_load_tiny.md").read_text()
