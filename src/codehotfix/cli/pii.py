"""``codehotfix pii scan | cases | leak | corpus``: the privacy-hotfix workflow (docs/privacy.md).

    codehotfix pii scan PATH… [--json OUT]              # PII/secrets by kind, with locations
    codehotfix pii cases PATH… --out CASES               # one hotfix case per PII line (placeholder fix)
    codehotfix pii leak --secrets TRUTH | --cases CASES --json OUT [--model M] [--adapter DIR]
                        [--samples/-k N] [--untargeted-samples N]
    codehotfix pii corpus --out DIR [--seed 0]           # synthetic corpus with planted PII + ground truth

Printed output never shows a PII value in full (only redacted); ``scan --json`` holds the values,
since fixing a file needs them. ``leak`` writes a redacted .md summary beside its --json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import app
from codehotfix.cli import _options as opt
from codehotfix.cli._checks import at_least

pii_app = typer.Typer(help="Find PII in code, build privacy hotfix cases, measure leakage.", no_args_is_help=True,
                      **opt.SUBAPP)
app.add_typer(pii_app, name="pii")


def _detect_config(no_private: bool, kinds: Optional[List[str]]):
    from codehotfix.privacy.detect import KINDS, DetectConfig

    return DetectConfig(kinds=tuple(kinds or KINDS), include_private=not no_private)


@pii_app.command("scan")
def scan_cmd(
    paths: List[Path] = typer.Argument(..., help="Files, folders (recursive) or .jsonl data sets."),
    json_out: Optional[Path] = opt.json_out(required=False),
    fields: Optional[List[str]] = typer.Option(None, "--field", help="JSONL: string fields to scan (default all)."),
    kinds: Optional[List[str]] = typer.Option(None, "--kind", help="Only these kinds: email, ipv4, ipv6, key."),
    no_private: bool = typer.Option(False, "--no-private", help="Ignore private/internal IP ranges."),
    show: int = typer.Option(20, callback=at_least(0), help="Locations to print (redacted)."),
) -> None:
    """Scan code for emails, IP addresses and keys; print counts by kind and locations (--json: every
    finding, with its value)."""
    from codehotfix.files import write_json
    from codehotfix.privacy.leak import redact
    from codehotfix.privacy.scan import scan_paths

    result = scan_paths(paths, _detect_config(no_private, kinds), fields=fields)
    if json_out:
        write_json(json_out, result.to_dict())
    print(json.dumps({"files": result.files, "findings": len(result.findings), "counts": result.counts(),
                      "skipped": len(result.skipped),
                      "locations": [f"{f.location} {f.kind} {redact(f.value)}" for f in result.findings[:show]],
                      "json": str(json_out) if json_out else None}, indent=2))


@pii_app.command("cases")
def cases_cmd(
    paths: List[Path] = typer.Argument(..., help="Source files or folders (a project checkout)."),
    out: Path = opt.out_cases(),
    prefix_lines: int = typer.Option(40, help="Lines kept before each PII line."),
    relative_to: Optional[Path] = typer.Option(None, help="Record paths relative to this folder."),
    kinds: Optional[List[str]] = typer.Option(None, "--kind", help="Only these kinds."),
    no_private: bool = typer.Option(False, "--no-private", help="Ignore private/internal IP ranges."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out file."),
) -> None:
    """Turn every PII occurrence into a hotfix case (buggy: the line; fixed: the line with a placeholder)."""
    from codehotfix.data.cases import write_cases
    from codehotfix.errors import CodehotfixError
    from codehotfix.privacy.cases import CaseBuildConfig, build_cases

    if out.exists() and not force:
        raise CodehotfixError(f"{out}: already exists; choose another file or pass --force")
    cases, stats = build_cases(paths, CaseBuildConfig(prefix_lines=prefix_lines), _detect_config(no_private, kinds),
                               relative_to=relative_to)
    write_cases(out, cases)
    kinds_count: dict[str, int] = {}
    for c in cases:
        for k in c.source["kinds"]:
            kinds_count[k] = kinds_count.get(k, 0) + 1
    print(json.dumps({"out": str(out), "cases": len(cases), "values_by_kind": dict(sorted(kinds_count.items())),
                      "files": stats["files"], "files_with_pii": stats["files_with_pii"],
                      "skipped": len(stats["skipped"])}, indent=2))


@pii_app.command("leak")
def leak_cmd(
    ctx: typer.Context,
    json_out: Path = opt.json_out(),
    secrets: Optional[Path] = typer.Option(None, "--secrets", help="Ground-truth JSONL (from `pii corpus`)."),
    root: Optional[Path] = typer.Option(None, help="Folder the --secrets paths are relative to (default: files/ beside it)."),
    cases: Optional[Path] = typer.Option(None, "--cases", help="Cases JSONL from `pii cases`."),
    model: Optional[str] = opt.model(),
    adapter: Optional[Path] = opt.adapter(),
    context: str = typer.Option("inline", help="Targeted prompt ends 'inline' (right before the value) or before its 'line'."),
    samples: int = opt.samples(),
    untargeted_samples: int = typer.Option(1000, "--untargeted-samples", callback=at_least(1),
                                           help="Untargeted: samples generated from scratch (paper: 1000)."),
    top_k: int = typer.Option(20, "--top-k", help="Untargeted: top-k sampling (paper: 20)."),
    max_new_tokens: int = typer.Option(64, help="Tokens per completion/sample."),
    batch_size: int = typer.Option(8, help="Targeted prompts per batch (untargeted: 25 samples per call)."),
    targeted: bool = typer.Option(True, "--targeted/--no-targeted", help="Measure targeted leakage "
                                  "(prompts that end right before a known value)."),
    untargeted: bool = typer.Option(True, "--untargeted/--no-untargeted", help="Measure untargeted leakage "
                                    "(samples from scratch, scanned for PII)."),
    seed: int = opt.seed(),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
) -> None:
    """Measure PII leakage: targeted (--samples per known occurrence) and untargeted (--untargeted-samples
    top-k samples); a redacted .md summary goes beside --json."""
    from codehotfix.api import leak
    from codehotfix.privacy.leak import LeakRun, TargetedConfig, UntargetedConfig, load_targets

    if untargeted and ctx.get_parameter_source("samples").name == "COMMANDLINE":
        # --samples meant the untargeted count before it became the shared --samples/-k: say so once.
        opt.warn("pii leak --samples/-k now sets the targeted samples per occurrence; the untargeted "
                 "sample count, --samples before, is --untargeted-samples")
    targeted_cfg = None if not targeted else TargetedConfig(context=context, samples=samples,
                                                            max_new_tokens=max_new_tokens,
                                                            batch_size=batch_size, seed=seed)
    untargeted_cfg = None if not untargeted else UntargetedConfig(samples=untargeted_samples, top_k=top_k,
                                                             max_new_tokens=max_new_tokens, seed=seed)
    targets = load_targets(secrets=secrets, root=root, cases=cases, context=context)
    result = leak(LeakRun(targets, targeted_cfg, untargeted_cfg), model=model, adapter=adapter,
                      json_out=json_out, threads=threads, device=device)
    t, u = result.get("targeted"), result.get("untargeted")
    print(json.dumps({
        "targets": len(targets),
        "targeted": {k2: t[k2] for k2 in ("greedy_rate", "sampled_rate", "any_rate")} if t else None,
        "untargeted": {k2: u[k2] for k2 in ("samples", "samples_with_pii", "findings_by_kind", "known_reproduced")}
        if u else None,
        "seconds": result["seconds"], "json": str(json_out)}, indent=2))


@pii_app.command("corpus")
def corpus_cmd(
    out: Path = opt.out_folder(what="files/, secrets.jsonl and corpus.json go here."),
    seed: int = opt.seed(),
    projects: int = typer.Option(8, help="Synthetic projects (6 files each)."),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder."),
) -> None:
    """Write a synthetic corpus of code files with planted (fake) personal data and its ground truth."""
    from codehotfix.privacy.corpus import CorpusConfig, write_corpus

    print(json.dumps(write_corpus(out, CorpusConfig(seed=seed, projects=projects), force=force), indent=2))
