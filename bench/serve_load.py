"""Throughput and latency of `codehotfix serve` as concurrent clients grow (dynamic batching at work).

Starts the server as its own process on 127.0.0.1 (a free port, an API key), then for each client
count (default 1, 2, 4, 8) runs that many client threads sending greedy completions back to back
until ``--requests`` have been answered or ``--max-seconds`` have passed, and reports requests/s,
p50/p95 latency, errors and what the batcher did over that level (batches, mean and largest number
of requests decoded together, read from the server's /health). Writes
bench/results/serve_load_<name>.json and a markdown table next to it. Every request and every level
is bounded; nothing leaves the machine. (The live-swap-under-load check is bench/serve_swap_load.py.)

Run:
    python bench/serve_load.py --tiny                                  # the tests' tiny random model
    python bench/serve_load.py --model default --threads 2 --requests 16 --max-tokens 16
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from codehotfix.files import atomic_write_text, write_json
from codehotfix.models.provenance import machine_info

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["import yaml\n\ndef load(path):\n    with open(path) as f:\n", "def add(a, b):\n",
           "import logging\nlogger = logging.getLogger(__name__)\n", "class Config:\n    def __init__(self):\n"]


def tiny_model(work: Path) -> str:
    """The tiny random model of tests/tiny_model.py, saved to ``work``."""
    spec = importlib.util.spec_from_file_location("tiny_model", ROOT / "tests" / "tiny_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tok = module.build_tokenizer()
    path = work / "tiny-model"
    module.build_tiny_model(len(tok)).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))], 4)


def start_server(args: argparse.Namespace, model: str, work: Path, key: str) -> tuple[subprocess.Popen, str]:
    port = args.port or free_port()
    cmd = [sys.executable, "-c", "from codehotfix.cli import main; main()", "serve", "--model", model,
           "--registry", str(work / "registry"), "--host", "127.0.0.1", "--port", str(port),
           "--max-new-tokens", str(max(64, args.max_tokens)), "--dtype", args.dtype,
           "--max-batch-rows", str(args.max_batch_rows), "--batch-window-ms", str(args.batch_window_ms)]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    server = subprocess.Popen(cmd, env={**os.environ, "CODEHOTFIX_API_KEY": key}, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + args.startup_timeout
    while True:
        if server.poll() is not None:
            raise SystemExit(f"server exited with status {server.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            server.kill()
            raise SystemExit(f"server not up after {args.startup_timeout} s")
        time.sleep(0.5)


def level(base: str, key: str, clients: int, args: argparse.Namespace) -> dict:
    """One client count: ``args.requests`` requests (or ``args.max_seconds``), back to back per client."""
    before = httpx.get(f"{base}/health", timeout=10).json()["batching"]
    latencies: list[float] = []
    errors: list[str] = []
    lock, sent = threading.Lock(), [0]
    deadline = time.perf_counter() + args.max_seconds
    headers = {"Authorization": f"Bearer {key}"}

    def client(i: int) -> None:
        with httpx.Client(timeout=args.request_timeout, headers=headers) as http:
            while time.perf_counter() < deadline:
                with lock:
                    if sent[0] >= args.requests:
                        return
                    n = sent[0]
                    sent[0] += 1
                body = {"prompt": PROMPTS[n % len(PROMPTS)], "max_tokens": args.max_tokens, "temperature": 0}
                t0 = time.perf_counter()
                try:
                    r = http.post(f"{base}/v1/completions", json=body)
                    ok = r.status_code == 200
                    detail = r.text[:200]
                except httpx.HTTPError as e:
                    ok, detail = False, repr(e)
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors.append(detail)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = httpx.get(f"{base}/health", timeout=10).json()["batching"]
    batches = after["batches"] - before["batches"]
    return {"clients": clients, "requests": len(latencies) + len(errors), "ok": len(latencies),
            "errors": len(errors), "error_examples": errors[:3], "seconds": round(wall, 3),
            "requests_per_second": round(len(latencies) / wall, 3) if wall else None,
            "p50_seconds": percentile(latencies, 50), "p95_seconds": percentile(latencies, 95),
            "batches": batches,
            "mean_requests_per_batch": round((after["requests"] - before["requests"]) / batches, 3) if batches else None,
            "multi_request_batches": after["multi_request_batches"] - before["multi_request_batches"],
            "max_requests_per_batch_so_far": after["max_requests"]}


def table(result: dict) -> str:
    rows = ["| clients | requests | errors | req/s | p50 (s) | p95 (s) | batches | mean req/batch | batches > 1 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in result["levels"]:
        rows.append(f"| {r['clients']} | {r['requests']} | {r['errors']} | {r['requests_per_second']} | "
                    f"{r['p50_seconds']} | {r['p95_seconds']} | {r['batches']} | {r['mean_requests_per_batch']} | "
                    f"{r['multi_request_batches']} |")
    c = result["config"]
    head = (f"`codehotfix serve` load: model {c['model']}, {c['max_tokens']}-token greedy completions, "
            f"{c['requests']} requests per level (at most {c['max_seconds']} s), batch window "
            f"{c['batch_window_ms']} ms, at most {c['max_batch_rows']} rows per batch, server threads "
            f"{c['threads'] or 'all'}.\n\n")
    return head + "\n".join(rows) + "\n"


def run(args: argparse.Namespace) -> dict:
    """Runs every level against a fresh server; writes and returns the result."""
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    model = tiny_model(work) if args.tiny else args.model
    key = secrets.token_hex(16)
    server, base = start_server(args, model, work, key)
    try:
        levels = [level(base, key, c, args) for c in args.clients]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    config["model"] = "tiny" if args.tiny else args.model
    # The CPU and its bf16/AMX flags: latencies are only comparable on the same kind of machine.
    result = {"config": config, "levels": levels, "machine": machine_info()}
    name = args.name or ("tiny" if args.tiny else re.sub(r"[^A-Za-z0-9_.-]+", "-", args.model).strip("-."))
    out = Path(args.out_dir) / f"serve_load_{name}"
    write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), table(result))
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="serve the tests' tiny random model")
    p.add_argument("--model", default="default", help="model to serve without --tiny (hub id, folder, 'default')")
    p.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8],
                   help="client counts, comma-separated")
    p.add_argument("--requests", type=int, default=48, help="requests per client count")
    p.add_argument("--max-seconds", type=float, default=60.0, help="time bound per client count")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--max-batch-rows", type=int, default=16)
    p.add_argument("--batch-window-ms", type=float, default=5.0)
    p.add_argument("--threads", type=int, help="server torch threads")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--startup-timeout", type=float, default=600.0)
    p.add_argument("--request-timeout", type=float, default=120.0)
    p.add_argument("--name", help="results name (default: tiny or model)")
    p.add_argument("--out-dir", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    if args.requests < 1 or args.max_seconds <= 0 or not args.clients or min(args.clients) < 1:
        p.error("--requests, --max-seconds and every --clients value must be positive")
    return args


def main() -> None:
    result = run(parse())
    print(table(result))


if __name__ == "__main__":
    main()
