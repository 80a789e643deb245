#!/usr/bin/env bash
# The README's set-up command on a fresh clone, timed (issue 17's "≤ 7 min from a fresh clone"): the
# command is read from README.md's first ```bash block, so this measures what the README says. Its
# install steps (the parts before `codehotfix demo`) run one by one and each is timed; then the demo
# runs with an empty model cache (CODEHOTFIX_CACHE in the new folder: the model is joined, checked and
# converted in its "load model" phase, and the kl_corpus reference store starts empty). pip's own
# cache is left as it is on this machine: say whether it was warm when you quote the result.
# Usage: bash bench/fresh_clone.sh OUT_DIR   (clones this checkout's HEAD; run it alone on the machine)
# OUT_DIR gets setup_timing.json and the demo's files as docs/results keeps them (evaluations gzipped).
set -euo pipefail
out=$(realpath -m "${1:?usage: bash bench/fresh_clone.sh OUT_DIR}")
[ -e "$out" ] && { echo "fresh_clone: $out exists; give a new folder" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
git clone -q "$src" "$work/repo"
cd "$work/repo"
command=$(awk '/^```bash$/ {inside = 1; next} inside && /^```$/ {exit} inside' README.md | head -1)
case "$command" in
    *"&& codehotfix demo") ;;
    *) echo "fresh_clone: README's first bash block does not end in 'codehotfix demo': $command" >&2; exit 1 ;;
esac
export CODEHOTFIX_CACHE="$work/cache"
now() { python3 -c 'import time; print(time.time())'; }
start=$(now)
stamps=()
# Each install step in this shell, so `. .venv/bin/activate` carries over to the next.
IFS=$'\n' read -r -d '' -a steps < <(printf '%s' "${command% && codehotfix demo}" | sed 's/ && /\n/g'; printf '\0')
for step in "${steps[@]}"; do
    echo "fresh_clone: $step" >&2
    eval "$step" >"$work/step.log" 2>&1 || { cat "$work/step.log" >&2; exit 1; }
    stamps+=("$(now)")
done
codehotfix demo --out "$work/demo" >"$work/console.log" 2>&1 || { tail -20 "$work/console.log" >&2; exit 1; }
end=$(now)
demo="$work/demo"
mkdir -p "$out"
python3 - "$out" "$demo" "$(git rev-parse --short HEAD)" "$command" "$start" "$end" "${steps[@]}" -- "${stamps[@]}" <<'PY'
import json, os, sys

out, demo, commit, command, start, end, *rest = sys.argv[1:]
cut = rest.index("--")
steps, stamps = rest[:cut], [float(s) for s in rest[cut + 1:]]
start, end = float(start), float(end)
marks = [start, *stamps]
record = {
    "what": "the README's set-up command on a fresh clone (bench/fresh_clone.sh): its install steps timed one by one, "
            "then codehotfix demo with an empty model cache",
    # the machine as the demo's evaluation recorded it (models.provenance.machine_info: CPU, bf16 flags, threads)
    "commit": commit, "command": command, "machine": json.load(open(os.path.join(demo, "base_eval.json"))).get("machine"),
    "cpu_count": os.cpu_count(), "start_unix": start, "installed_unix": marks[-1], "end_unix": end,
    "steps": [{"command": s, "seconds": round(b - a, 2)} for s, a, b in zip(steps, marks, marks[1:])],
    "install_seconds": round(marks[-1] - start, 2), "demo_seconds": round(end - marks[-1], 2),
    "total_seconds": round(end - start, 2),
}
with open(os.path.join(out, "setup_timing.json"), "w") as f:
    json.dump(record, f, indent=1)
print(json.dumps({k: record[k] for k in ("commit", "install_seconds", "demo_seconds", "total_seconds")}))
PY
cp "$demo"/{config.json,split.json,summary.json,summary.md} "$work/console.log" "$out/"
for f in base_eval hotfix_eval; do gzip -9 -n -c "$demo/$f.json" >"$out/$f.json.gz"; done
cp "$demo/hotfix/hotfix.json" "$out/hotfix_manifest.json"
(cd "$demo" && sha256sum hotfix/adapter_model.safetensors) >"$out/adapter.sha256"
rm -rf "$work"
