#!/usr/bin/env bash
# Does codehotfix install next to TRL and vLLM's Python dependencies without moving them?
#
#   bash bench/coexist.sh [WORK_DIR]      → bench/results/coexist.txt
#
# In a fresh venv: torch==2.13.0 (the CPU wheel), then TRL and the version-constraining pure-Python
# requirements of the current vLLM release, read from vLLM's own metadata (`pip install --dry-run
# --no-deps --report`; vLLM itself needs CUDA and pins a CUDA torch, so it is not installed). Then the
# codehotfix wheel is installed and the script checks that no package already there changed version,
# and that `codehotfix --version` runs.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work="${1:-$(mktemp -d)}"
out="$repo/bench/results/coexist.txt"
mkdir -p "$work"
# (pip's notes about this machine's missing local index folders are noise, not results)
exec > >(grep --line-buffered -v "^WARNING: Location" | tee "$out") 2>&1
echo "# bench/coexist.sh — $(date -u +%Y-%m-%dT%H:%MZ), python $(python3 -c 'import platform; print(platform.python_version())')"
rm -rf "$work/venv" && python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet torch==2.13.0

# vLLM's requirements on the packages it shares with codehotfix and TRL (the ones that constrain versions).
"$py" -m pip install --quiet --dry-run --no-deps --ignore-installed --report "$work/vllm.json" vllm
mapfile -t vllm_reqs < <("$py" - "$work/vllm.json" <<'PY'
import json, sys
from pip._vendor.packaging.requirements import Requirement  # pip is in every venv; packaging may not be

meta = json.load(open(sys.argv[1]))["install"][0]["metadata"]
print(f"# vllm {meta['version']}", file=sys.stderr)
wanted = {"transformers", "tokenizers", "huggingface-hub", "safetensors", "fastapi", "pydantic", "openai", "numpy",
          "prometheus-client", "pyyaml", "tqdm", "requests", "protobuf"}
for line in meta["requires_dist"]:
    req = Requirement(line)
    if req.name.lower().replace("_", "-") in wanted and (req.marker is None or req.marker.evaluate({"extra": ""})):
        print(str(req).split(";")[0])
PY
)
echo "vLLM's constraints installed: ${vllm_reqs[*]}"
"$py" -m pip install --quiet trl "${vllm_reqs[@]}"
"$py" -m pip freeze --all | sort >"$work/before.txt"
echo "before: $(grep -iE '^(torch|transformers|tokenizers|trl|accelerate|peft|fastapi|pydantic|openai|numpy)==' "$work/before.txt" | tr '\n' ' ')"

wheel=$(ls "$repo"/dist/codehotfix-*.whl 2>/dev/null | tail -1 || true)
if [ -z "$wheel" ]; then
    "$py" -m pip install --quiet build && "$py" -m build --wheel --outdir "$work/dist" "$repo" >/dev/null
    wheel=$(ls "$work"/dist/codehotfix-*.whl)
fi
"$py" -m pip install --quiet "$wheel"
"$py" -m pip freeze --all | sort >"$work/after.txt"
python3 - "$work/before.txt" "$work/after.txt" <<'PY'
import sys

def read(path):
    return dict(line.strip().split("==", 1) for line in open(path) if "==" in line)

before, after = read(sys.argv[1]), read(sys.argv[2])
changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
added = sorted(f"{k}=={v}" for k, v in after.items() if k not in before)
print(f"installing the codehotfix wheel added {len(added)} package(s): {' '.join(added)}")
if changed:
    sys.exit(f"FAIL: it changed {len(changed)} installed package(s): {changed}")
print(f"OK: none of the {len(before)} packages already installed changed version")
PY
"$work/venv/bin/codehotfix" --version
"$py" -m pip check && echo "pip check: no broken requirements"

# Installed is not enough: train and evaluate a tiny model with the transformers vLLM allows.
cd "$work"
"$py" - "$repo/tests" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from tiny_model import build_tiny_model, build_tokenizer
from codehotfix.data.cases import HotfixCase, write_cases

tok = build_tokenizer()
build_tiny_model(len(tok)).save_pretrained("tiny")
tok.save_pretrained("tiny")
write_cases("cases.jsonl", [HotfixCase(id=f"c{i}", prefix=f"def f{i}(x):\n", buggy="    if x == None:",
                                       fixed="    if x is None:", group=f"g{i}") for i in range(4)])
PY
"$work/venv/bin/codehotfix" -q run cases.jsonl --out smoke-run --model tiny --no-report --restart training.epochs=1 \
    eval.samples=2 eval.max_new_tokens=4 >smoke-run.json 2>smoke-run.log
"$py" -c "import json, transformers; r = json.load(open('smoke-run.json')); \
assert set(r['phases'].values()) == {'ran'}, r; print(f'codehotfix run on a tiny model with transformers {transformers.__version__}:', r['phases'])"
