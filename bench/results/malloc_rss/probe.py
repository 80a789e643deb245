"""Ad-hoc: RSS per training step of the Java 512 grouped cell under three malloc modes.
usage: python rss_probe.py MODE STEPS OUT   (MODE: default | kept | kept_trim)"""
import sys, os, time, json, ctypes
mode, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if mode != "default":
    from codehotfix.runtime import keep_freed_memory
    assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
import torch
from codehotfix.training import loop

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

log = []
import threading
peak = [0.0]
def sampler():
    while True:
        peak[0] = max(peak[0], rss_mb()); time.sleep(0.2)
threading.Thread(target=sampler, daemon=True).start()
real_step = loop._Trainer.step if hasattr(loop, "_Trainer") else None
orig = torch.optim.AdamW.step
t0 = time.time()
def step(self, *a, **k):
    r = orig(self, *a, **k)
    if mode == "kept_trim":
        libc.malloc_trim(0)
    log.append({"step": len(log) + 1, "t": round(time.time() - t0, 2), "rss_mb": round(rss_mb()), "peak_in_step_mb": round(peak[0])})
    peak[0] = 0.0
    print("[probe]", log[-1], flush=True)
    json.dump({"mode": mode, "steps": log}, open(out, "w"))
    if len(log) >= steps:
        os._exit(0)
    return r
torch.optim.AdamW.step = step
sys.argv = ["learning_curve", "--config", "configs/study/curve_manysstubs4j.yaml", "--sizes", "512", "--seeds", "2",
            "--splits", "grouped", "--out", f"/tmp/j/probe-{mode}"]
sys.path.insert(0, "/work/main")
import shutil, glob
dst = f"/tmp/j/probe-{mode}/grouped-n512-s2"
os.makedirs(dst, exist_ok=True)
for f in glob.glob("/work/main/bench/results/curve_manysstubs4j/grouped-n512-s0/base_eval-*.json"):
    shutil.copy(f, dst)
shutil.copy("/work/main/bench/results/curve_manysstubs4j/grouped-n512-s0/study.json", dst)
from bench.study import learning_curve
learning_curve.main(sys.argv[1:])
