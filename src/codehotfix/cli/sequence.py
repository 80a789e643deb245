"""``codehotfix sequence --out DIR``: N hotfixes one after another under each strategy (``sequence.run_sequence``).

    codehotfix sequence --out runs/seq --steps 10                           # the default pack's first 10 topics
    codehotfix sequence --out runs/seq --pack none --cases mined.jsonl --by source.repo --strategies stacked,continual
    codehotfix sequence --out runs/seq --cases mined.jsonl --by source.repo --group-size 10 --steps 50
                                                                        # 41 topics + 9 repositories, 10 fixes each
    codehotfix sequence --out runs/seq --steps 50 --measure-every 5 --humaneval 20 --allow-exec --locality 32
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import _options as opt
from codehotfix.cli import app
from codehotfix.cli._checks import at_least, finite, input_file


def _input_files(ctx: typer.Context, param: typer.CallbackParam, value: List[Path]) -> List[Path]:
    return [input_file(ctx, param, v) for v in value]


@app.command("sequence")
def sequence_cmd(
    out: Path = opt.out_folder(what="Per-step results, adapters, retention.json/.md; finished steps are reused."),
    cases: List[Path] = typer.Option([], "--cases", callback=_input_files, help="A cases file whose groups are "
                                     "hotfixes too, after the pack's topics (repeatable)."),
    fmt: str = opt.cases_format(),
    pack: str = typer.Option("default", "--pack", help="Built-in pack whose topics come first; 'none' for none."),
    by: str = typer.Option("group", "--by", help="With --cases: what one hotfix is: group, language or "
                           "source.<key> (source.repo for mined cases)."),
    topics: List[str] = typer.Option([], "--topic", help="Only these groups, in this order (repeatable)."),
    steps: Optional[int] = typer.Option(None, "--steps", callback=at_least(1), help="Hotfixes in the sequence "
                                        "(the first N groups; default: all)."),
    group_size: Optional[int] = typer.Option(None, "--group-size", callback=at_least(2),
                                             help="With --cases: keep at most N cases of each group (a seeded "
                                             "sample), so a mined repository costs what a pack topic costs."),
    test_fraction: float = typer.Option(0.4, "--test-fraction", callback=finite,
                                        help="Share of each group's contexts held out."),
    strategies: str = typer.Option("stacked,merged_svd,continual,retrained", "--strategies",
                                   help="Comma-separated: stacked, merged_cat, merged_svd, continual, retrained."),
    measure_every: int = typer.Option(1, "--measure-every", callback=at_least(1),
                                      help="Measure after every N steps (and after the last)."),
    replay: int = typer.Option(2, "--replay", callback=at_least(0),
                               help="Continual: training cases of each earlier hotfix replayed."),
    replay_budget: Optional[int] = typer.Option(None, "--replay-budget", callback=at_least(1),
                                                help="Continual: replay at most N earlier cases per step (a "
                                                "seeded sample), so a step costs the same at any N."),
    humaneval: int = typer.Option(0, "--humaneval", callback=at_least(0), help="HumanEval problems at the base "
                                  "and after the last step (0: skip; needs --allow-exec)."),
    allow_exec: bool = opt.allow_exec(),
    locality: int = typer.Option(0, "--locality", callback=at_least(0),
                                 help="Locality prompts after the last step (0: skip)."),
    every_step: bool = typer.Option(False, "--side-effects-every-step",
                                    help="Also measure HumanEval/locality at every measured step."),
    model: Optional[str] = opt.model(),
    config: Optional[Path] = opt.config(),
    restart: bool = typer.Option(False, "--restart", help="Delete this folder's sequence results and start over."),
    table_only: bool = typer.Option(False, "--table-only", help="Measure nothing: rebuild retention.json/.md/.png "
                                    "from the step files already in --out (missing steps: marked in progress)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
    device: str = opt.device(),
    threads: Optional[int] = opt.threads(),
    seed: int = opt.seed(),
    overrides: Optional[List[str]] = typer.Argument(None, help="Config overrides: key.path=value …"),
) -> None:
    """Apply hotfix after hotfix under each strategy; write the retention matrix (retention.json/.md)."""
    from codehotfix.config import load_config
    from codehotfix.data.loaders import load_cases
    from codehotfix.sequence import SequenceConfig, collect_groups, run_sequence

    opts = SequenceConfig(strategies=tuple(s.strip() for s in strategies.split(",") if s.strip()),
                          measure_every=measure_every, replay=replay,
                          replay_budget=replay_budget, humaneval=humaneval, allow_exec=allow_exec,
                          locality=locality, side_effects_every_step=every_step)
    cfg = load_config(config, overrides or [])
    groups = collect_groups(None if pack == "none" else pack, [load_cases(c, fmt) for c in cases], by=by,
                            names=topics or None, limit=steps, test_fraction=test_fraction, seed=seed,
                            group_size=group_size)
    table = run_sequence(groups, out, cfg=cfg, opts=opts, model=model, restart=restart, progress=progress,
                         device=device, threads=threads, table_only=table_only)
    last = {s: t["curve"][-1] for s, t in table["strategies"].items() if t["curve"]}
    print(json.dumps({"out": table["out"], "hotfixes": len(groups), "steps": table["steps"],
                      "last_step": last, "retention": [str(Path(table["out"]) / "retention.json"),
                                                       table["retention_md"]]}, indent=2))
