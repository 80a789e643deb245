#!/bin/bash
# The demo's evaluation time: the base model and each given hotfix on the demo's 120 held-out contexts
# (the demo's own eval settings: greedy, line + split + window events, batches of 32), three rounds,
# the order rotated each round, one `codehotfix eval` process per evaluation, alone on the machine.
# Usage: bash run.sh DEMO_RUN_DIR OUT_DIR NAME=ADAPTER_DIR [NAME=ADAPTER_DIR ...]
#   DEMO_RUN_DIR: a finished demo run (its split.json names the held-out contexts)
# Then gzip the JSON files; check_claims.eval_time reads them.
set -e
RUN=${1:?demo run folder}; OUT=${2:?output folder}; shift 2
[ -e "$OUT" ] && { echo "run.sh: $OUT exists; give a new folder" >&2; exit 2; }
mkdir -p "$OUT"
python - "$RUN/split.json" "$OUT/held_out.jsonl" <<'PY'
import json, sys
from codehotfix.data.cases import write_cases
from codehotfix.data.packs import load_pack
split = json.load(open(sys.argv[1]))
by_id = {c.id: c for c in load_pack(split["pack"])}
write_cases(sys.argv[2], [by_id[i] for i in split["test"]])
PY
names=(base); dirs=("")
for a in "$@"; do names+=("${a%%=*}"); dirs+=("${a#*=}"); done
n=${#names[@]}
for r in 1 2 3; do
  for j in $(seq 0 $((n - 1))); do
    i=$(( (j + r - 1) % n ))
    args=(); [ -n "${dirs[$i]}" ] && args=(--adapter "${dirs[$i]}")
    codehotfix eval "$OUT/held_out.jsonl" -k 0 --batch-size 32 --threads 2 "${args[@]}" \
        --json "$OUT/${names[$i]}-$r.json" > "$OUT/${names[$i]}-$r.out" 2> "$OUT/${names[$i]}-$r.log"
  done
done
