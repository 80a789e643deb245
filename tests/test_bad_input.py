"""Bad input to every command: each kind exits with status 2 and one line on stderr that names the
file, line or option, with no traceback, and before any model loads.

The table below is issue 14's list and more: usage errors per command, bad files per format, bad
values per numeric flag, bad overrides and configs, bad output paths and non-regular files. Every
row runs ``codehotfix.cli.main(argv)`` in-process with the model loaders replaced by one that fails
loudly, so a row that only fails after loading a model fails here. ``{d}`` in an argument is the
folder of fixture files built by ``files``.

Run: ``pytest -q tests/test_bad_input.py`` (seconds; nothing loads a model).
"""

from __future__ import annotations

import gzip
import json
import os
import traceback
from pathlib import Path

import pytest

from codehotfix.cli import main

OK_CASE = {"id": "a", "prefix": "def f(x):\n", "buggy": "    return x == None", "fixed": "    return x is None"}
CSV_HEADER = "id,condition,bug,fix,post_conditional\n"


def _jsonl(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# name -> bytes (or str) of each fixture file.
FILES: dict[str, bytes | str] = {
    "ok.jsonl": _jsonl(OK_CASE),
    "afile": "just a file\n",
    "badutf.jsonl": _jsonl(OK_CASE) + '{"id": "b", "prefix": "", "buggy": "x = \xff", "fixed": "x = 2"}\n',
    "notjson.jsonl": _jsonl(OK_CASE) + "{'id': 'b'}\n",
    "nofixed.jsonl": '{"id": "a", "prefix": "", "buggy": "x = 1"}\n',
    "same.jsonl": '{"id": "a", "prefix": "", "buggy": "x = 1", "fixed": "x = 1"}\n',
    "dup.jsonl": _jsonl(OK_CASE, OK_CASE),
    "empty.jsonl": "",
    "deep.jsonl": "[" * 100_000 + "\n",
    "bigint.jsonl": "1" * 5000 + "\n",
    "unknown.jsonl": _jsonl({**OK_CASE, "colour": "red"}),
    "suffixtype.jsonl": _jsonl({**OK_CASE, "suffix": 5}),
    "array.jsonl": "[1, 2]\n",
    "bad.jsonl.gz": "this is not gzip\n",
    "trunc.jsonl.gz": gzip.compress(_jsonl(OK_CASE).encode() * 50)[:40],
    "badutf.csv": CSV_HEADER + '1,"int x;\n","a = 1;","a = 2;",""\n2,"","b \xff= 1;","b = 2;",""\n',
    "nocols.csv": "id,bug\n1,x\n",
    "short.csv": CSV_HEADER + "1,a\n",
    "extra.csv": CSV_HEADER + '1,"",a,b,"",surplus\n',
    "badutf.json": '[\n  {"projectName": "p",\n   "sourceBeforeFix": "a \xff", "sourceAfterFix": "b"}\n]\n',
    "object.json": '{"projectName": "p"}',
    "syntax.json": '[\n  {"projectName": "p",,}\n]\n',
    "pysstubs_bad.jsonl": _jsonl({"id": "x", "prefix": ""}),
    "manysstubs4j_trunc.jsonl.gz": gzip.compress((Path(__file__).parent / "assets" / "data" /
                                                  "manysstubs4j_small.jsonl").read_bytes())[:200],
    "humanevalpack_bad.jsonl": _jsonl({"task_id": 3, "prompt": "", "buggy_solution": "", "canonical_solution": "",
                                       "entry_point": "f", "test": ""}),
    "syntax.yaml": "training:\n  lr: [1, 2\n",
    "badutf.yaml": "training:\n  epochs: 2\n  dtype: \xff\n",
    "list.yaml": "- 1\n- 2\n",
    "inf.yaml": "training:\n  lr: .inf\n",
    "date.yaml": "training:\n  lr: 2024-13-45\n",
    "badutf_study.yaml": "name: x\n\xff: 1\n",
    "badutf_corpus.jsonl": '{"id": "a", "text": "x = 1"}\n{"id": "b", "text": "y = \xff"}\n',
    "long.jsonl": _jsonl({**OK_CASE, "prefix": "#" * 300 + "\n"}),
}
# Bytes written as latin-1 so "\xff" above is the single invalid byte 0xff.


@pytest.fixture()
def files(tmp_path, monkeypatch):
    """The fixture files, a FIFO, a folder; cwd is the temp folder (default outputs land there)."""
    for name, content in FILES.items():
        data = content if isinstance(content, bytes) else content.encode("latin-1")
        (tmp_path / name).write_bytes(data)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    """Every model loader fails loudly: input errors must be found before a model loads."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded: the input should have been rejected before")

    import codehotfix.api
    import codehotfix.models.loading
    import codehotfix.study.runner

    # load_hotfixed stays: its checks (the adapter folder) must run before its load_model call.
    for module, name in ((codehotfix.api, "load_model"), (codehotfix.models.loading, "load_model"),
                         (codehotfix.study.runner, "load_model")):
        monkeypatch.setattr(module, name, refuse)


_J = "--json {d}/out.json"
# (id, argv, fragments the one-line message must contain). Rows are grouped by kind.
CASES: list[tuple[str, str, list[str]]] = [
    # -- usage errors: no arguments, unknown commands and options, missing ones, bad types
    ("no-args", "", ["missing command; one of: train, eval"]),
    ("unknown-command", "bogus", ["No such command 'bogus'"]),
    ("unknown-root-option", "--nope", ["No such option: --nope"]),
    ("pii-no-subcommand", "pii", ["codehotfix pii: missing command; one of: scan"]),
    ("hotfix-no-subcommand", "hotfix", ["codehotfix hotfix: missing command"]),
    ("pii-unknown-subcommand", "pii bogus", ["No such command 'bogus'"]),
    ("hotfix-unknown-subcommand", "hotfix bogus", ["No such command 'bogus'"]),
    ("train-no-args", "train", ["codehotfix train: Missing argument"]),
    ("train-missing-out", "train {d}/ok.jsonl", ["Missing option '--out'"]),
    ("train-unknown-option", "train {d}/ok.jsonl --out {d}/o --nope", ["No such option: --nope"]),
    ("train-option-without-value", "train {d}/ok.jsonl --out", ["'--out' requires an argument"]),
    ("eval-no-args", "eval", ["codehotfix eval: Missing argument"]),
    ("eval-missing-json", "eval {d}/ok.jsonl", ["Missing option '--json'"]),
    ("eval-k-abc", "eval {d}/ok.jsonl " + _J + " -k abc", ["'--samples' / '-k'", "integer"]),
    ("eval-top-p-abc", "eval {d}/ok.jsonl " + _J + " --top-p abc", ["'--top-p'"]),
    ("eval-limit-abc", "eval {d}/ok.jsonl " + _J + " --limit abc", ["'--limit'"]),
    ("eval-unknown-option", "eval {d}/ok.jsonl " + _J + " --bogus", ["No such option: --bogus"]),
    ("demo-unknown-option", "demo --nope", ["No such option: --nope"]),
    ("demo-topic-without-value", "demo --topic", ["'--topic' requires an argument"]),
    ("humaneval-missing-json", "humaneval --allow-exec", ["Missing option '--json'"]),
    ("humaneval-samples-abc", "humaneval " + _J + " --samples x", ["'--samples' / '-k'"]),
    ("mine-no-args", "mine", ["codehotfix mine: Missing argument"]),
    ("mine-missing-out", "mine {d}", ["Missing option '--out'"]),
    ("mine-max-abc", "mine {d} --out {d}/m.jsonl --max abc", ["'--max'"]),
    ("locality-missing-json", "locality", ["codehotfix locality: Missing option '--json'"]),
    ("perplexity-missing-json", "perplexity", ["codehotfix perplexity: Missing option '--json'"]),
    ("variants-no-args", "variants", ["codehotfix variants: Missing argument"]),
    ("execfix-no-args", "execfix", ["codehotfix execfix: Missing argument"]),
    ("report-no-args", "report", ["codehotfix report: Missing argument"]),
    ("study-no-args", "study", ["codehotfix study: Missing argument"]),
    ("pii-scan-no-args", "pii scan", ["codehotfix pii scan: Missing argument"]),
    ("pii-cases-missing-out", "pii cases {d}", ["Missing option '--out'"]),
    ("pii-leak-missing-json", "pii leak", ["Missing option '--json'"]),
    ("pii-corpus-missing-out", "pii corpus", ["Missing option '--out'"]),
    ("hotfix-show-no-args", "hotfix show", ["codehotfix hotfix show: Missing argument"]),
    ("serve-port-abc", "serve --port abc", ["'--port' / '-p'"]),
    ("serve-unknown-option", "serve --nope", ["No such option: --nope"]),
    # -- bad values per numeric flag (range, NaN/inf), named with the value and the allowed range
    ("eval-limit-negative", "eval {d}/ok.jsonl " + _J + " --limit -1", ["'--limit'", "must be >= 1, got -1"]),
    ("eval-limit-zero", "eval {d}/ok.jsonl " + _J + " --limit 0", ["'--limit'", "must be >= 1, got 0"]),
    ("eval-max-context-zero", "eval {d}/ok.jsonl " + _J + " --max-context-tokens 0",
     ["'--max-context-tokens'", "must be >= 1, got 0"]),
    ("eval-temperature-nan", "eval {d}/ok.jsonl " + _J + " --temperature nan",
     ["'--temperature'", "finite number, got nan"]),
    ("eval-temperature-inf", "eval {d}/ok.jsonl " + _J + " --temperature inf", ["'--temperature'", "got inf"]),
    ("eval-top-p-nan", "eval {d}/ok.jsonl " + _J + " --top-p nan", ["'--top-p'", "got nan"]),
    ("eval-match-threshold-nan", "eval {d}/ok.jsonl " + _J + " --match-threshold nan",
     ["'--match-threshold'", "got nan"]),
    ("eval-samples-negative", "eval {d}/ok.jsonl " + _J + " -k -1", ["'--samples'", "must be >= 0, got -1"]),
    ("eval-batch-size-zero", "eval {d}/ok.jsonl " + _J + " --batch-size 0", ["'--batch-size'", ">= 1, got 0"]),
    ("eval-max-new-tokens-zero", "eval {d}/ok.jsonl " + _J + " --max-new-tokens 0", ["'--max-new-tokens'"]),
    ("eval-threads-zero", "eval {d}/ok.jsonl " + _J + " --threads 0", ["'--threads'", ">= 1, got 0"]),
    ("eval-match-lines-zero", "eval {d}/ok.jsonl " + _J + " --match-lines 0", ["'--match-lines'"]),
    ("eval-temperature-zero", "eval {d}/ok.jsonl " + _J + " --temperature 0", ["eval.temperature must be > 0"]),
    ("eval-top-p-above-one", "eval {d}/ok.jsonl " + _J + " --top-p 1.5", ["eval.top_p must be in (0, 1]"]),
    ("eval-backend-unknown", "eval {d}/ok.jsonl " + _J + " --backend nope", ["eval.backend must be one of", "hf"]),
    ("eval-format-unknown", "eval {d}/ok.jsonl " + _J + " --format nope", ["nope", "jsonl"]),
    ("humaneval-limit-zero", "humaneval --allow-exec " + _J + " --limit 0", ["'--limit'", "got 0"]),
    ("humaneval-temperature-nan", "humaneval --allow-exec " + _J + " --temperature nan", ["'--temperature'"]),
    ("humaneval-threads-zero", "humaneval --allow-exec " + _J + " --threads 0", ["'--threads'"]),
    ("humaneval-without-allow-exec", "humaneval " + _J, ["allow"]),
    ("locality-limit-negative", "locality " + _J + " --limit -1", ["'--limit'", "got -1"]),
    ("perplexity-limit-zero", "perplexity " + _J + " --limit 0", ["'--limit'", "got 0"]),
    ("variants-limit-negative", "variants {d}/ok.jsonl " + _J + " --limit -1", ["'--limit'", "got -1"]),
    ("variants-kind-unknown", "variants {d}/ok.jsonl " + _J + " --kind nope", ["nope", "rename"]),
    ("execfix-limit-zero", "execfix {d}/ok.jsonl --allow-exec " + _J + " --limit 0", ["'--limit'"]),
    ("execfix-timeout-nan", "execfix {d}/ok.jsonl --allow-exec " + _J + " --timeout nan", ["'--timeout'"]),
    ("execfix-workers-zero", "execfix {d}/ok.jsonl --allow-exec " + _J + " --workers 0", ["'--workers'"]),
    ("execfix-without-allow-exec", "execfix {d}/ok.jsonl " + _J, ["allow"]),
    ("study-limit-cells-negative", "study {d}/inf.yaml --limit-cells -1", ["'--limit-cells'", "got -1"]),
    ("mine-max-zero", "mine {d} --out {d}/m.jsonl --max 0", ["'--max'", "got 0"]),
    ("pii-scan-show-negative", "pii scan {d} --show -1", ["'--show'", "got -1"]),
    # -- bad overrides and config files, named with the key or the file and line
    ("override-lr-inf", "train {d}/ok.jsonl --out {d}/o training.lr=.inf", ["training.lr must be a finite number"]),
    ("override-lr-nan", "train {d}/ok.jsonl --out {d}/o training.lr=nan", ["training.lr", "got nan"]),
    ("override-lr-text", "train {d}/ok.jsonl --out {d}/o training.lr=abc", ["training.lr: expected a number"]),
    ("override-epochs-zero", "train {d}/ok.jsonl --out {d}/o training.epochs=0", ["training.epochs must be >= 1"]),
    ("override-unknown-key", "train {d}/ok.jsonl --out {d}/o training.nope=1", ["training.nope: unknown key"]),
    ("override-without-equals", "train {d}/ok.jsonl --out {d}/o training.lr", ["expected key.path=value"]),
    ("override-yaml-syntax", "train {d}/ok.jsonl --out {d}/o training.lr=[", ["override 'training.lr=['",
                                                                              "not valid YAML"]),
    ("override-yaml-bad-date", "train {d}/ok.jsonl --out {d}/o training.lr=2024-13-45", ["not valid YAML"]),
    ("override-lr-negative", "train {d}/ok.jsonl --out {d}/o training.lr=-1", ["training.lr must be > 0"]),
    ("override-top-p-nan", "train {d}/ok.jsonl --out {d}/o eval.top_p=.nan", ["eval.top_p", "finite"]),
    ("override-objective-param-inf", "train {d}/ok.jsonl --out {d}/o objectives.1.params.margin=.inf",
     ["objectives[1].params.margin must be a finite number"]),
    ("override-threads-zero", "train {d}/ok.jsonl --out {d}/o training.threads=0",
     ["training.threads must be >= 1 or null (every core), got 0"]),
    ("override-seed-negative", "train {d}/ok.jsonl --out {d}/o seed=-1", ["seed must be in [0, 2**32), got -1"]),
    ("override-not-a-section", "train {d}/ok.jsonl --out {d}/o seed.x=1", ["'seed' is not a section"]),
    ("config-missing", "train {d}/ok.jsonl --out {d}/o -c {d}/none.yaml", ["--config {d}/none.yaml: no such file"]),
    ("config-yaml-syntax", "train {d}/ok.jsonl --out {d}/o -c {d}/syntax.yaml", ["{d}/syntax.yaml:3: not valid YAML"]),
    ("config-invalid-utf8", "train {d}/ok.jsonl --out {d}/o -c {d}/badutf.yaml",
     ["--config {d}/badutf.yaml:3: not valid UTF-8"]),
    ("config-not-a-mapping", "train {d}/ok.jsonl --out {d}/o -c {d}/list.yaml", ["expected a mapping"]),
    ("config-fifo", "train {d}/ok.jsonl --out {d}/o -c {d}/fifo", ["--config {d}/fifo: is a named pipe"]),
    ("config-folder", "train {d}/ok.jsonl --out {d}/o -c {d}/adir", ["--config {d}/adir: is a folder"]),
    ("config-lr-inf", "train {d}/ok.jsonl --out {d}/o -c {d}/inf.yaml", ["{d}/inf.yaml", "training.lr", "finite"]),
    ("config-bad-date", "train {d}/ok.jsonl --out {d}/o -c {d}/date.yaml", ["{d}/date.yaml", "not valid YAML"]),
    ("demo-config-lr-inf", "demo --out {d}/demo -c {d}/inf.yaml", ["training.lr", "finite"]),
    ("demo-override-yaml-syntax", "demo --out {d}/demo training.lr=[", ["not valid YAML"]),
    ("study-config-invalid-utf8", "study {d}/badutf_study.yaml", ["CONFIG {d}/badutf_study.yaml:2: not valid UTF-8"]),
    ("study-config-fifo", "study {d}/fifo", ["CONFIG {d}/fifo: is a named pipe"]),
    # -- bad files per format (file:line and field named)
    ("cases-missing", "train {d}/none.jsonl --out {d}/o", ["{d}/none.jsonl: no such file"]),
    ("cases-folder", "train {d}/adir --out {d}/o", ["{d}/adir: is a folder"]),
    ("cases-fifo", "train {d}/fifo --out {d}/o", ["{d}/fifo: is a named pipe (FIFO)"]),
    ("cases-dev-zero", "train /dev/zero --out {d}/o", ["/dev/zero: is a character device"]),
    ("jsonl-invalid-utf8", "train {d}/badutf.jsonl --out {d}/o", ["{d}/badutf.jsonl:2: not valid UTF-8 (byte 0xff"]),
    ("jsonl-not-json", "train {d}/notjson.jsonl --out {d}/o", ["{d}/notjson.jsonl:2: not valid JSON"]),
    ("jsonl-missing-field", "train {d}/nofixed.jsonl --out {d}/o", ["{d}/nofixed.jsonl:1: missing required field(s) 'fixed'"]),
    ("jsonl-bug-equals-fix", "train {d}/same.jsonl --out {d}/o", ["{d}/same.jsonl:1:", "same line"]),
    ("jsonl-duplicate-id", "train {d}/dup.jsonl --out {d}/o", ["{d}/dup.jsonl:2: duplicate id 'a'"]),
    ("jsonl-empty", "train {d}/empty.jsonl --out {d}/o", ["{d}/empty.jsonl: contains no cases"]),
    ("jsonl-deep-nesting", "train {d}/deep.jsonl --out {d}/o", ["{d}/deep.jsonl:1: not valid JSON"]),
    ("jsonl-huge-integer", "train {d}/bigint.jsonl --out {d}/o", ["{d}/bigint.jsonl:1: not valid JSON"]),
    ("jsonl-unknown-field", "train {d}/unknown.jsonl --out {d}/o", ["{d}/unknown.jsonl:1: unknown field(s) 'colour'"]),
    ("jsonl-suffix-not-string", "train {d}/suffixtype.jsonl --out {d}/o",
     ["{d}/suffixtype.jsonl:1: field 'suffix' must be a string, got int"]),
    ("jsonl-not-object", "train {d}/array.jsonl --out {d}/o", ["{d}/array.jsonl:1: expected a JSON object"]),
    ("gz-not-gzip", "train {d}/bad.jsonl.gz --out {d}/o", ["{d}/bad.jsonl.gz:1: the compressed file is not valid gzip"]),
    ("gz-truncated", "train {d}/trunc.jsonl.gz --out {d}/o", ["{d}/trunc.jsonl.gz:", "is truncated"]),
    ("csv-invalid-utf8", "train {d}/badutf.csv --out {d}/o", ["{d}/badutf.csv:4: not valid UTF-8 (byte 0xff"]),
    ("csv-missing-columns", "train {d}/nocols.csv --out {d}/o", ["{d}/nocols.csv: missing required column(s)"]),
    ("csv-short-row", "train {d}/short.csv --out {d}/o", ["{d}/short.csv:2: row is missing column(s)"]),
    ("csv-extra-field", "train {d}/extra.csv --out {d}/o", ["{d}/extra.csv:2: row has 6 fields but the header has 5"]),
    ("sstubs-json-invalid-utf8", "train {d}/badutf.json --out {d}/o", ["{d}/badutf.json:3: not valid UTF-8 (byte 0xff"]),
    ("sstubs-json-not-array", "train {d}/object.json --out {d}/o", ["{d}/object.json: expected a JSON array"]),
    ("sstubs-json-syntax", "train {d}/syntax.json --out {d}/o", ["{d}/syntax.json:2: not valid JSON"]),
    ("pysstubs-missing-field", "train {d}/pysstubs_bad.jsonl --out {d}/o",
     ["{d}/pysstubs_bad.jsonl:1: missing required field(s) 'buggy_line'"]),
    ("manysstubs4j-gz-truncated", "train {d}/manysstubs4j_trunc.jsonl.gz --out {d}/o", ["is truncated"]),
    ("humanevalfix-field-type", "train {d}/humanevalpack_bad.jsonl --out {d}/o",
     ["{d}/humanevalpack_bad.jsonl:1: field 'task_id' must be a string, got int"]),
    ("format-mismatch", "train {d}/ok.jsonl --format jesse_csv --out {d}/o", ["{d}/ok.jsonl: missing required column"]),
    ("eval-online-fifo", "eval {d}/ok.jsonl " + _J + " --online {d}/fifo", ["{d}/fifo: is a named pipe"]),
    ("eval-guard-invalid-utf8", "eval {d}/ok.jsonl " + _J + " --guard {d}/badutf.jsonl", ["{d}/badutf.jsonl:2"]),
    ("eval-adapter-not-a-hotfix", "eval {d}/ok.jsonl " + _J + " --adapter {d}/adir",
     ["{d}/adir: not a hotfix folder"]),
    ("mine-patch-fifo", "mine {d} --out {d}/m.jsonl --patch {d}/fifo", ["--patch {d}/fifo: is a named pipe"]),
    ("eval-cases-dev-zero", "eval /dev/zero " + _J, ["/dev/zero: is a character device"]),
    ("locality-prompts-fifo", "locality " + _J + " --prompts {d}/fifo", ["{d}/fifo: is a named pipe"]),
    ("perplexity-corpus-invalid-utf8", "perplexity " + _J + " --corpus {d}/badutf_corpus.jsonl",
     ["{d}/badutf_corpus.jsonl:2: not valid UTF-8"]),
    ("variants-cases-invalid-utf8", "variants {d}/badutf.jsonl " + _J, ["{d}/badutf.jsonl:2: not valid UTF-8"]),
    ("execfix-cases-dev-zero", "execfix /dev/zero --allow-exec " + _J, ["/dev/zero: is a character device"]),
    ("pii-leak-cases-fifo", "pii leak " + _J + " --cases {d}/fifo", ["{d}/fifo: is a named pipe"]),
    # -- bad output paths: checked while parsing, before anything loads or trains
    ("train-out-is-file", "train {d}/ok.jsonl --out {d}/afile", ["--out {d}/afile: is a file"]),
    ("train-out-under-file", "train {d}/ok.jsonl --out {d}/afile/sub",
     ["--out {d}/afile/sub: cannot be created: {d}/afile is a file"]),
    ("eval-json-is-folder", "eval {d}/ok.jsonl --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("eval-json-under-file", "eval {d}/ok.jsonl --json {d}/afile/r.json", ["{d}/afile is a file, not a folder"]),
    ("eval-json-is-device", "eval {d}/ok.jsonl --json /dev/null", ["--json /dev/null: exists and is not a regular file"]),
    ("locality-json-is-folder", "locality --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("perplexity-json-under-file", "perplexity --json {d}/afile/p.json", ["{d}/afile is a file"]),
    ("variants-json-is-folder", "variants {d}/ok.jsonl --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("execfix-json-is-folder", "execfix {d}/ok.jsonl --allow-exec --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("humaneval-json-is-folder", "humaneval --allow-exec --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("mine-out-is-folder", "mine {d} --out {d}/adir", ["--out {d}/adir: is a folder"]),
    ("pii-scan-json-is-folder", "pii scan {d}/ok.jsonl --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("pii-cases-out-under-file", "pii cases {d}/ok.jsonl --out {d}/afile/c.jsonl", ["{d}/afile is a file"]),
    ("pii-leak-json-is-folder", "pii leak --cases {d}/ok.jsonl --json {d}/adir", ["--json {d}/adir: is a folder"]),
    ("pii-corpus-out-is-file", "pii corpus --out {d}/afile", ["--out {d}/afile: is a file"]),
    ("demo-out-is-file", "demo --out {d}/afile", ["--out {d}/afile: is a file"]),
    ("report-out-is-file", "report {d}/adir --out {d}/afile", ["--out {d}/afile: is a file"]),
    ("study-out-is-file", "study {d}/inf.yaml --out {d}/afile", ["--out {d}/afile: is a file"]),
    ("report-run-dir-missing", "report {d}/none", ["{d}/none"]),
    ("sequence-replay-budget-zero", "sequence --out {d}/seq --replay-budget 0", ["--replay-budget", "must be >= 1, got 0"]),
]


def run_cli(argv: list[str], capsys) -> tuple[str, int | None, str, str]:
    """Runs the command; returns (outcome, status, stdout, stderr) with outcome one of
    "clear" (status 2, one line, no traceback), "traceback", "accepted" or "unclear"."""
    try:
        main(argv)
        status = 0
    except SystemExit as e:
        status = e.code
    except BaseException:  # an exception escaping main is a traceback for the user
        out, err = capsys.readouterr()
        return "traceback", None, out, err + traceback.format_exc()
    out, err = capsys.readouterr()
    if status == 0:
        return "accepted", status, out, err
    lines = err.strip().splitlines()
    clear = (status == 2 and len(lines) == 1 and lines[0].startswith("codehotfix: error: ")
             and "Traceback" not in out + err)
    return ("clear" if clear else "unclear"), status, out, err


@pytest.mark.parametrize("argv, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line_with_status_2(argv, fragments, files, capsys):
    args = [a.replace("{d}", str(files)) for a in argv.split()]
    outcome, status, out, err = run_cli(args, capsys)
    assert outcome == "clear", f"{outcome.upper()}: status {status}\nstdout: {out[-2000:]}\nstderr: {err[-3000:]}"
    for fragment in fragments:
        assert fragment.replace("{d}", str(files)) in err, err


def test_over_long_line_is_refused_with_file_and_line(files, capsys, monkeypatch):
    # A 300-byte line against a 100-byte cap stands in for a multi-GB line with no newline.
    monkeypatch.setattr("codehotfix.files.MAX_LINE_BYTES", 100)
    outcome, status, out, err = run_cli(["train", str(files / "long.jsonl"), "--out", str(files / "o")], capsys)
    assert outcome == "clear", err
    assert f"{files}/long.jsonl:1: line longer than 100 bytes" in err


def test_kinds_cover_every_command():
    commands = {c[1].split()[0] if c[1] else "" for c in CASES}
    assert {"train", "eval", "demo", "humaneval", "mine", "locality", "perplexity", "variants", "execfix",
            "report", "study", "pii", "hotfix", "serve"} <= commands
    assert len(CASES) + 1 >= 80


def test_version_prints_and_exits_0(capsys):
    outcome, status, out, _ = run_cli(["--version"], capsys)
    assert outcome == "accepted" and out.startswith("codehotfix ")


def test_debug_shows_the_traceback(files):
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "train", str(files / "none.jsonl"), "--out", str(files / "o")])


def test_api_checks_outputs_and_limit_before_loading(files):
    # The same checks without the CLI: a notebook gets them too, before any model loads.
    from codehotfix.api import evaluate, train
    from codehotfix.errors import ConfigError, PathError

    with pytest.raises(PathError, match="afile is a file"):
        train(files / "ok.jsonl", files / "afile" / "sub")
    with pytest.raises(PathError, match="is a folder"):
        evaluate(files / "ok.jsonl", json_out=files / "adir")
    for bad in (-1, 0):
        with pytest.raises(ConfigError, match=f"limit must be >= 1 .*got {bad}"):
            evaluate(files / "ok.jsonl", limit=bad)
