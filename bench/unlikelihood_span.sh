#!/usr/bin/env bash
# The two one-case hotfixes of the real watch run (docs/sequence.md, "One real run"), trained again
# with the default recipe under each unlikelihood span: "to_end" (every buggy token from the first
# difference to the end of the line, the default) and "differing" (only the tokens that differ, not
# the tail both lines share). Each hotfix is then asked for its own context's line, greedily (line and
# split events). Two cases: an anecdote that shows the mechanism, not a measurement of its size.
#
#   bash bench/unlikelihood_span.sh [OUT_DIR] [MODEL]   # default bench/results/unlikelihood_span, 'default'
set -euo pipefail
OUT=${1:-bench/results/unlikelihood_span}
MODEL=${2:-default}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The cases exactly as the watch mined them from bench/watch_real.sh's repository.
python - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
config = '"""Settings for the export job."""\nimport yaml\n\n\ndef read_settings(path):\n    with open(path) as fh:\n'
jobs = '"""Job runner."""\nimport logging\n\nlog = logging.getLogger(__name__)\n\n\ndef run(job):\n    if job.retries > 3:\n'
cases = {
    "yaml": {"id": "yaml", "prefix": config, "buggy": "        settings = yaml.load(fh)",
             "fixed": "        settings = yaml.safe_load(fh)",
             "suffix": '    settings.setdefault("tables", [])\n    return settings\n'},
    "warn": {"id": "warn", "prefix": jobs, "buggy": '        log.warn("job %s retried %d times", job.name, job.retries)',
             "fixed": '        log.warning("job %s retried %d times", job.name, job.retries)',
             "suffix": "    return job.start()\n"},
}
for name, case in cases.items():
    case.update(language="python", group=name)
    (work / f"{name}.jsonl").write_text(json.dumps(case) + "\n")
EOF

for span in to_end differing; do
  OBJ="objectives=[{name: fixed_ce, weight: 1.0}, {name: unlikelihood, weight: 0.3, params: {span: $span}}, {name: kl_context, weight: 1.0}, {name: kl_corpus, weight: 1.0}]"
  for case in yaml warn; do
    codehotfix train "$WORK/$case.jsonl" --model "$MODEL" --out "$WORK/hf-$span-$case" "$OBJ"
    codehotfix eval "$WORK/$case.jsonl" --model "$MODEL" --adapter "$WORK/hf-$span-$case" --json "$OUT/$span-$case.json" \
      --samples 0 --events line,split
  done
done
codehotfix eval "$WORK/yaml.jsonl" --model "$MODEL" --json "$OUT/base-yaml.json" --samples 0 --events line,split
codehotfix eval "$WORK/warn.jsonl" --model "$MODEL" --json "$OUT/base-warn.json" --samples 0 --events line,split
python - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = ["| hotfix | case | line event (greedy) | split event (greedy) | margin (nats) |", "|---|---|---|---|---|"]
for run in ("base", "to_end", "differing"):
    for case in ("yaml", "warn"):
        rec = json.loads((out / f"{run}-{case}.json").read_text())["cases"][0]
        ev = rec["events"]
        rows.append(f"| {run} | {case} | `{ev['line']['greedy']['text'].strip()}` ({ev['line']['greedy']['label']}) | "
                    f"`{ev['split']['greedy']['text'].strip()}` ({ev['split']['greedy']['label']}) | {rec['margin']:.2f} |")
(out / "summary.md").write_text("\n".join(rows) + "\n")
print("\n".join(rows))
EOF
