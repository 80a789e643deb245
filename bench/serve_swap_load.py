"""Load test of `codehotfix serve` on loopback: a hotfix is enabled and rolled back under load.

Starts the server as its own process, runs N client threads that send greedy completions for T
seconds (half of them a hotfix case's prompt, the "probe"), enables the hotfix at --enable-at·T and
rolls it back at --rollback-at·T through the admin API, then reports: requests, errors, latency
p50/p95/p99/max, the versions every response was tagged with, whether any response lacks a tag or
carries one its timing rules out, and whether the probe's greedy completion changed at the enable
and came back at the rollback. Writes bench/results/serve_swap_load.json and prints a summary.

Run:
    python bench/serve_swap_load.py --model tiny --seconds 30            # tiny random model + a tiny hotfix it trains
    python bench/serve_swap_load.py --model default --hotfix hotfixes/my-fix --cases my_cases.jsonl \
        --clients 4 --seconds 120 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_setup(work: Path, hotfix: str | None, cases: str | None, steps: int) -> tuple[str, str, str]:
    """The tiny model of tests/tiny_model.py saved to ``work``, and (unless given) a hotfix trained on it."""
    sys.path.insert(0, str(ROOT / "tests"))
    fixtures = _load("tiny_fixtures", ROOT / "tests" / "tiny_model.py")
    deploy = _load("deploy_fixtures", ROOT / "tests" / "deploy" / "conftest.py")
    model_dir = work / "tiny-model"
    tok = fixtures.build_tokenizer()
    fixtures.build_tiny_model(len(tok)).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    if hotfix is None:
        out = deploy.train_tiny_hotfix(model_dir, deploy._CASES[:2], work / "tiny-hotfix", steps=steps)
        hotfix, cases = str(out), str(out / "cases.jsonl")
    return str(model_dir), hotfix, cases


# One port picker and one percentile for both load benchmarks (bench/serve_load.py owns them).
_shared = _load("serve_load", ROOT / "bench" / "serve_load.py")
free_port, percentile = _shared.free_port, _shared.percentile


def run(args: argparse.Namespace) -> dict:
    from codehotfix.data.cases import read_cases
    from codehotfix.deploy.store import HotfixStore

    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    model, hotfix, cases_path = args.model, args.hotfix, args.cases
    if model == "tiny":
        model, hotfix, cases_path = tiny_setup(work, hotfix, cases_path, args.tiny_steps)
    if not hotfix or not cases_path:
        raise SystemExit("--hotfix and --cases are required unless --model tiny")
    cases = read_cases(cases_path)
    store = HotfixStore(args.registry or work / "registry", create=True)
    entry = store.add(hotfix, name=args.name, canaries=cases_path, force=True)
    if store.enabled().get(args.name):
        store.disable(args.name)

    port, token = args.port or free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-c", "from codehotfix.cli import main; main()", "serve", "--model", model,
           "--registry", str(store.root), "--port", str(port), "--max-new-tokens", str(max(64, args.max_tokens)),
           "--dtype", args.dtype] + (["--threads", str(args.threads)] if args.threads else [])
    server = subprocess.Popen(cmd, env={**os.environ, "CODEHOTFIX_ADMIN_TOKEN": token})
    base = f"http://127.0.0.1:{port}"
    try:
        t_boot = time.time()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"server exited with status {server.returncode}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() - t_boot > args.startup_timeout:
                raise SystemExit("server did not start in time")
            time.sleep(0.5)
        startup = round(time.time() - t_boot, 1)
        return {**measure(args, base, token, cases, entry.version), "startup_seconds": startup,
                "model": args.model, "hotfix": hotfix, "cases": cases_path}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def measure(args: argparse.Namespace, base: str, token: str, cases: list, version: str) -> dict:
    probe = cases[0].prefix
    prompts = [c.prefix for c in cases[1:]] + ["def add(a, b):\n", "import os\n"]
    records: list[dict] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    deadline = t0 + args.seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=base, timeout=args.request_timeout) as http:
            k = 0
            while time.monotonic() < deadline:
                is_probe = k % 2 == 0
                prompt = probe if is_probe else prompts[(k // 2 + i) % len(prompts)]
                k += 1
                sent = time.monotonic() - t0
                rec = {"client": i, "probe": is_probe, "sent": round(sent, 4)}
                try:
                    r = http.post("/v1/completions", json={"prompt": prompt, "max_tokens": args.max_tokens,
                                                           "temperature": 0})
                    rec["status"] = r.status_code
                    body = r.json()
                    if r.status_code == 200:
                        rec["versions"] = body.get("hotfix_versions")
                        rec["header"] = r.headers.get("X-Hotfix-Versions")
                        rec["text"] = body["choices"][0]["text"]
                    else:
                        rec["error"] = body.get("error", {}).get("message")
                except Exception as e:  # a failed request is a result here, not a crash
                    rec["status"], rec["error"] = None, f"{type(e).__name__}: {e}"
                rec["done"] = round(time.monotonic() - t0, 4)
                with lock:
                    records.append(rec)

    def admin(path: str, at: float, out: dict) -> None:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        out["start"] = round(time.monotonic() - t0, 4)
        r = httpx.post(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=600)
        out["end"] = round(time.monotonic() - t0, 4)
        out["status"], out["body"] = r.status_code, r.json()

    enable, rollback = {}, {}
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    threads += [threading.Thread(target=admin, args=(f"/admin/hotfixes/{args.name}/enable",
                                                     args.enable_at * args.seconds, enable)),
                threading.Thread(target=admin, args=("/admin/rollback", args.rollback_at * args.seconds, rollback))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return analyse(records, enable, rollback, args, {args.name: version})


def analyse(records: list[dict], enable: dict, rollback: dict, args: argparse.Namespace,
            hotfixed: dict[str, str]) -> dict:
    ok = [r for r in records if r.get("status") == 200]
    errors = [r for r in records if r.get("status") != 200]
    latency = [r["done"] - r["sent"] for r in ok]
    tag = lambda r: json.dumps(r.get("versions"), sort_keys=True)  # noqa: E731
    seen: dict[str, int] = {}
    for r in ok:
        seen[tag(r)] = seen.get(tag(r), 0) + 1
    untagged = [r for r in ok if r.get("versions") is None or r.get("header") is None]
    # Timing rules: a request sent after the enable call returned (and before rollback began) must be
    # tagged with the hotfix; one finished before the enable call began must not be.
    expect_on = [r for r in ok if enable.get("end") and r["sent"] > enable["end"]
                 and (not rollback.get("start") or r["done"] < rollback["start"])]
    expect_off = [r for r in ok if (enable.get("start") and r["done"] < enable["start"])
                  or (rollback.get("end") and r["sent"] > rollback["end"])]
    mistagged = sum(r["versions"] != hotfixed for r in expect_on) + sum(r["versions"] != {} for r in expect_off)
    probe_texts: dict[str, set[str]] = {}
    for r in ok:
        if r["probe"]:
            probe_texts.setdefault(tag(r), set()).add(r["text"])
    before = sorted({r["text"] for r in ok if r["probe"] and enable.get("start") and r["done"] < enable["start"]})
    during = sorted({r["text"] for r in ok if r["probe"] and r["versions"] == hotfixed})
    after = sorted({r["text"] for r in ok if r["probe"] and rollback.get("end") and r["sent"] > rollback["end"]})
    span = max((r["done"] for r in records), default=0.0)
    return {
        "config": {k: v for k, v in vars(args).items()},
        "requests": len(records),
        "ok": len(ok),
        "errors": len(errors),
        "error_examples": [r.get("error") for r in errors[:5]],
        "throughput_rps": round(len(ok) / span, 2) if span else None,
        "latency_seconds": {"p50": percentile(latency, 50), "p95": percentile(latency, 95),
                            "p99": percentile(latency, 99), "max": round(max(latency), 4) if latency else None,
                            "mean": round(statistics.fmean(latency), 4) if latency else None},
        "versions_seen": seen,
        "untagged_responses": len(untagged),
        "mistagged_responses": mistagged,
        "tag_consistent": all(len(texts) == 1 for texts in probe_texts.values()),
        "probe_completions": {"before_enable": before, "with_hotfix": during, "after_rollback": after},
        "changed_at_enable": bool(before and during) and before != during,
        "restored_at_rollback": bool(before and after) and before == after,
        "enable": {k: enable.get(k) for k in ("start", "end", "status")}
                  | {"pause_seconds": (enable.get("body") or {}).get("pause_seconds"),
                     "canary_passed": ((enable.get("body") or {}).get("canary") or {}).get(args.name, {}).get("passed")},
        "rollback": {k: rollback.get(k) for k in ("start", "end", "status")}
                    | {"pause_seconds": (rollback.get("body") or {}).get("pause_seconds")},
    }


def summary(result: dict) -> str:
    lat = result["latency_seconds"]
    return "\n".join([
        f"requests {result['requests']}  errors {result['errors']}  throughput {result['throughput_rps']} req/s",
        f"latency p50 {lat['p50']} s  p95 {lat['p95']} s  p99 {lat['p99']} s  max {lat['max']} s",
        f"versions seen {result['versions_seen']}  untagged {result['untagged_responses']}  "
        f"mistagged {result['mistagged_responses']}  tag-consistent {result['tag_consistent']}",
        f"enable: HTTP {result['enable']['status']} at {result['enable']['start']} s, pause "
        f"{result['enable']['pause_seconds']} s, canary passed {result['enable']['canary_passed']}; rollback: HTTP "
        f"{result['rollback']['status']} at {result['rollback']['start']} s, pause {result['rollback']['pause_seconds']} s",
        f"probe completion changed at enable: {result['changed_at_enable']}; restored at rollback: "
        f"{result['restored_at_rollback']}",
        f"  before: {result['probe_completions']['before_enable']}",
        f"  hotfix: {result['probe_completions']['with_hotfix']}",
    ])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="tiny", help="'tiny' (test-fixture model), 'default', a folder or hub id")
    p.add_argument("--hotfix", help="hotfix folder to enable mid-way (tiny: trained if omitted)")
    p.add_argument("--cases", help="cases file: canaries, and the first case's prefix is the probe prompt")
    p.add_argument("--name", default="hotfix", help="registry name of the hotfix")
    p.add_argument("--registry", help="registry folder (default: a temporary one)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--enable-at", type=float, default=1 / 3, help="fraction of --seconds")
    p.add_argument("--rollback-at", type=float, default=2 / 3, help="fraction of --seconds")
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--threads", type=int, help="server torch threads")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--tiny-steps", type=int, default=80, help="training steps of the tiny hotfix")
    p.add_argument("--startup-timeout", type=float, default=900.0)
    p.add_argument("--request-timeout", type=float, default=300.0)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve_swap_load.json"))
    args = p.parse_args(argv)
    if not (0 < args.enable_at < args.rollback_at < 1) or args.clients < 1 or args.seconds <= 0:
        p.error("need 0 < --enable-at < --rollback-at < 1, --clients >= 1 and --seconds > 0")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    result = run(args)
    from codehotfix.files import write_json

    write_json(args.out, result)
    print(summary(result))
    print(f"results: {args.out}")
    return result


if __name__ == "__main__":
    main()
