#!/usr/bin/env bash
# The GPU check of issue 17 (item 5), prepared to run in one call of the device tool, in about 6 minutes:
#
#   here, once:  python -m bench.shape_model export --out .gpu/shape      # config + tokenizer, ~11 MB
#   device tool: run(command="bash bench/device_check.sh", carry=[".gpu"], timeout_s=560)
#   here, to check the script itself on the CPU (its test does this with PARTS=profile_step):
#                OUT=/tmp/dc DEVICE=cpu SIZE=small SHAPE=<an exported tiny shape> bash bench/device_check.sh
#
# What comes back (the tool returns at most 8 files): $OUT/parts.txt (each part's exit status and
# seconds) and $OUT/device_check.tar.gz (every part's JSON, markdown and console, and versions.txt).
# DEVICE is profile_step's device; hotfix_cost and eval_throughput take the first GPU where there is one.
#
# The device machine reaches no network and takes 64 MiB of files, so the default model's weights
# cannot go there: it runs the default model's shape with random weights (bench/shape_model.py says
# what that can and cannot time). It uses the machine's own torch, transformers and peft (their
# versions go into versions.txt); codehotfix comes from src/ on PYTHONPATH. TRL is not there, so
# hotfix_cost runs codehotfix against the paper recipe only. Each part has its own time limit, so one
# slow part still leaves the others' results in $OUT.
set -uo pipefail

OUT=${OUT:?set OUT to the folder for the results}
DEVICE=${DEVICE:-cuda}
SHAPE=${SHAPE:-.gpu/shape}
SIZE=${SIZE:-full}        # full: the sizes docs/speed.md reports; small: seconds, for the script's test
PARTS=${PARTS:-profile_step hotfix_cost eval_throughput}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

if [ "$SIZE" = small ]; then
    steps=(--steps 1 --no-eval); cost=(--train 8 --test 4 --max-epochs 1 --seeds 0)
    tput=(--limit 4 --repeats 1 --samples 2)
    limit_profile=300; limit_cost=300; limit_tput=300
else
    steps=(--steps 5); cost=(--train 36 --test 36 --max-epochs 2 --seeds 0,1,2); tput=(--limit 24 --repeats 3)
    limit_profile=150; limit_cost=200; limit_tput=120
fi
mkdir -p "$OUT"
tmp=$(mktemp -d)
work=$tmp/results model=$tmp/model
mkdir -p "$work"
: >"$OUT/parts.txt"
status=0

part() {  # part NAME LIMIT COMMAND…: one part under its own time limit, its console into NAME.log
    local name=$1 limit=$2; shift 2
    if [ "$name" != shape ] && [[ " $PARTS " != *" $name "* ]]; then return; fi
    local t0=$SECONDS rc=0
    timeout "$limit" "$@" >"$work/$name.log" 2>&1 || rc=$?
    echo "$name: rc=$rc, $((SECONDS - t0)) s" | tee -a "$OUT/parts.txt"
    [ "$rc" = 0 ] || status=1
}

{
    $PY -c 'import platform, torch, transformers, peft; print("python", platform.python_version());
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name() if torch.cuda.is_available() else None);
print("transformers", transformers.__version__, "peft", peft.__version__)'
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    git rev-parse HEAD 2>/dev/null || true
} >"$work/versions.txt" 2>&1

part shape 120 $PY -m bench.shape_model materialize "$SHAPE" "$model"
part profile_step "$limit_profile" $PY -m bench.profile_step --model "$model" --device "$DEVICE" "${steps[@]}" \
    --out "$work/profile_step.json" --force
part hotfix_cost "$limit_cost" $PY -m bench.hotfix_cost --model "$model" --systems codehotfix,paper_recipe \
    "${cost[@]}" --out "$work/hotfix_cost.json" --force
part eval_throughput "$limit_tput" $PY -m bench.eval_throughput --model "$model" --humaneval 0 "${tput[@]}" \
    --out "$work/eval_throughput.json" --force
tar -czf "$OUT/device_check.tar.gz" -C "$work" .
rm -rf "$tmp"
exit $status
