#!/bin/bash
# HumanEval generation time of the base model and a hotfix: the first 40 problems, greedy, batches of 16,
# three rounds in alternating order (base first in rounds 1 and 3), each run with an empty HumanEval
# generation cache (XDG_CACHE_HOME in a new folder; the model stays in CODEHOTFIX_CACHE), alone on the machine.
# Usage: bash run.sh ADAPTER_DIR OUT_DIR   (then gzip the JSON files; check_claims.humaneval_speed reads them)
set -e
A=${1:?adapter folder}; OUT=${2:?output folder}; mkdir -p "$OUT"
export CODEHOTFIX_CACHE=${CODEHOTFIX_CACHE:-$HOME/.cache/codehotfix}
run() {  # NAME [--adapter DIR]
  name=$1; shift
  x=$(mktemp -d)
  XDG_CACHE_HOME=$x codehotfix humaneval --limit 40 --batch-size 16 --allow-exec --threads 2 "$@" \
      --json "$OUT/$name.json" > "$OUT/$name.out" 2> "$OUT/$name.log"
  rm -rf "$x"
}
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then run "base-$r"; run "hotfix-$r" --adapter "$A"; else run "hotfix-$r" --adapter "$A"; run "base-$r"; fi
done
