#!/usr/bin/env bash
# One real `codehotfix watch` run, for the record: a generated git repository receives two fix
# commits while `codehotfix serve` runs the same model; after each commit one watch pass mines the
# fix, trains a hotfix, checks it (canary, HumanEval subset, locality) and, only if every check
# passes, enables it and syncs the server. Before and after each pass the server is asked to
# complete the fixed line's prefix (greedy), so the note can show what users saw and when it changed.
#
#   bash bench/watch_real.sh [OUT_DIR] [MODEL]      # default: bench/results/watch_default, model 'default'
#
# Writes OUT_DIR/{audit.jsonl, completions.jsonl, watch-<n>.log, serve.log, seconds.json}. The
# repository, registry and tokens live in a temporary folder that is removed at the end.
set -euo pipefail
OUT=${1:-bench/results/watch_default}
MODEL=${2:-default}
HUMANEVAL=${HUMANEVAL:-10}
LOCALITY=${LOCALITY:-8}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
PORT=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
python -c 'import secrets; print(secrets.token_hex(16))' > "$WORK/admin.token"
python -c 'import secrets; print(secrets.token_hex(16))' > "$WORK/api.key"
chmod 600 "$WORK/admin.token" "$WORK/api.key"

# The repository: two modules with an idiom each that a later commit fixes.
REPO=$WORK/repo
mkdir -p "$REPO/app"
cat > "$REPO/app/config.py" <<'EOF'
"""Settings for the export job."""
import yaml


def read_settings(path):
    with open(path) as fh:
        settings = yaml.load(fh)
    settings.setdefault("tables", [])
    return settings
EOF
cat > "$REPO/app/jobs.py" <<'EOF'
"""Job runner."""
import logging

log = logging.getLogger(__name__)


def run(job):
    if job.retries > 3:
        log.warn("job %s retried %d times", job.name, job.retries)
    return job.start()
EOF
git -C "$REPO" init -q -b main
git -C "$REPO" -c user.name=dev -c user.email=dev@localhost add -A
git -C "$REPO" -c user.name=dev -c user.email=dev@localhost commit -q -m "Initial import"

codehotfix serve --model "$MODEL" --registry "$WORK/reg" --port "$PORT" --admin-token-file "$WORK/admin.token" \
  --api-key-file "$WORK/api.key" --threads 1 > "$OUT/serve.log" 2>&1 &
SERVER=$!

ask() {  # ask STAGE PROMPT_FILE: one greedy completion from the server, appended to completions.jsonl
  python - "$1" "$2" "$PORT" "$WORK/api.key" "$OUT/completions.jsonl" <<'EOF'
import json, sys, time, httpx
stage, prompt_file, port, key_file, out = sys.argv[1:]
key = open(key_file).read().strip()
prompt = open(prompt_file).read()
for _ in range(600):  # the server may still be loading the model
    try:
        if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
            break
    except httpx.HTTPError:
        pass
    time.sleep(2)
r = httpx.post(f"http://127.0.0.1:{port}/v1/completions", timeout=300, headers={"Authorization": f"Bearer {key}"},
               json={"prompt": prompt, "max_tokens": 24, "temperature": 0, "stop": ["\n"]})
r.raise_for_status()
rec = {"stage": stage, "prompt_tail": prompt[-60:], "completion": r.json()["choices"][0]["text"],
       "hotfix_versions": r.headers.get("X-Hotfix-Versions")}
with open(out, "a") as f:
    f.write(json.dumps(rec) + "\n")
print(json.dumps(rec))
EOF
}

prefix_of() {  # the code before LINE in FILE (the mined case's prompt)
  python - "$1" "$2" "$3" <<'EOF'
import sys
path, line, out = sys.argv[1:]
text = open(path).read()
open(out, "w").write(text.split(line)[0])
EOF
}

: > "$OUT/completions.jsonl"
prefix_of "$REPO/app/config.py" "        settings = yaml.load(fh)" "$WORK/p1"
prefix_of "$REPO/app/jobs.py" "        log.warn(" "$WORK/p2"
ask before-1 "$WORK/p1"; ask before-1 "$WORK/p2"

declare -A SECONDS_OF
commit_fix() {  # commit_fix FILE OLD NEW MESSAGE
  python - "$REPO/$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
assert old in text, (path, old)
open(path, "w").write(text.replace(old, new, 1))
EOF
  git -C "$REPO" -c user.name=dev -c user.email=dev@localhost commit -q -am "$4"
}

pass_once() {  # pass_once N
  local t0=$(date +%s)
  codehotfix watch "$REPO" --registry "$WORK/reg" --model "$MODEL" --once --humaneval "$HUMANEVAL" --allow-exec \
    --locality "$LOCALITY" --server "http://127.0.0.1:$PORT" --admin-token-file "$WORK/admin.token" \
    > "$OUT/watch-$1.log" 2>&1 || { echo "watch pass $1 failed, see $OUT/watch-$1.log"; tail -20 "$OUT/watch-$1.log"; }
  SECONDS_OF[pass-$1]=$(( $(date +%s) - t0 ))
}

commit_fix app/config.py "yaml.load(fh)" "yaml.safe_load(fh)" "Fix unsafe yaml.load: without a Loader it builds arbitrary objects"
pass_once 1
ask after-1 "$WORK/p1"; ask after-1 "$WORK/p2"

commit_fix app/jobs.py "log.warn(" "log.warning(" "Fix deprecated log.warn call (use warning)"
pass_once 2
ask after-2 "$WORK/p1"; ask after-2 "$WORK/p2"

cp "$WORK/reg/.watch/audit.jsonl" "$OUT/audit.jsonl" 2>/dev/null || echo "no audit log written"
python - "$OUT/seconds.json" "${SECONDS_OF[pass-1]}" "${SECONDS_OF[pass-2]}" "$MODEL" <<'EOF'
import sys
from codehotfix.files import write_json
from codehotfix.models.provenance import machine_info
out, p1, p2, model = sys.argv[1:]
write_json(out, {"model": model, "pass_seconds": [int(p1), int(p2)], "machine": machine_info()})
EOF
echo "results in $OUT"
