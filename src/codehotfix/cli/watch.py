"""``codehotfix watch REPO… --registry R``: new one-line fixes → checked hotfixes (``sequence.watch``).

    codehotfix watch ~/src/app --registry hotfixes/ --model M --once            # one pass
    codehotfix watch ~/src/app --registry hotfixes/ --model M --interval 600    # poll (git pull elsewhere)
    codehotfix watch ~/src/app --registry hotfixes/ --dry-run                   # what it would train
    codehotfix watch ~/src/app -r hotfixes/ -m M --server http://host:8000 --admin-token-file tok

Every decision (enabled, rejected, error) is one line of the audit log (default
<registry>/.watch/audit.jsonl); each pass prints its decisions as JSON lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from codehotfix.cli import _options as opt
from codehotfix.cli import app
from codehotfix.cli._checks import at_least, finite, input_file


@app.command("watch")
def watch_cmd(
    repos: List[Path] = typer.Argument(..., help="Local git repositories to follow."),
    registry: Path = opt.registry(),
    model: Optional[str] = opt.model(),
    config: Optional[Path] = opt.config(),
    interval: float = typer.Option(300.0, "--interval", callback=finite, help="Seconds between passes."),
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be trained; change nothing."),
    state: Optional[Path] = typer.Option(None, "--state", help="The watch's folder (default: <registry>/.watch)."),
    audit: Optional[Path] = typer.Option(None, "--audit", help="Audit log, JSONL (default: <state>/audit.jsonl)."),
    prefix: str = typer.Option("watch", "--prefix", help="Registry names: <prefix>-0001, <prefix>-0002 …"),
    max_cases: int = typer.Option(50, "--max-cases", callback=at_least(1), help="Cases per hotfix at most."),
    since: Optional[str] = typer.Option(None, "--since", help="Only commits committed on or after this ISO date."),
    paths: List[str] = typer.Option([], "--paths", help="Glob the fixed file must match (repeatable)."),
    humaneval: int = typer.Option(0, "--humaneval", callback=at_least(0),
                                  help="HumanEval problems checked per hotfix (0: no check; needs --allow-exec)."),
    allow_exec: bool = opt.allow_exec(),
    locality: int = typer.Option(0, "--locality", callback=at_least(0),
                                 help="Locality prompts checked per hotfix (0: no check)."),
    canary_min_delta: float = typer.Option(1.0, "--canary-min-delta", callback=finite,
                                           help="Canary: nats the margin must rise per case."),
    canary_min_greedy_fixed: float = typer.Option(1.0, "--canary-min-greedy-fixed", callback=finite,
                                                  help="Canary: share of cases whose greedy completion (hotfix "
                                                       "on) must be exactly the fixed line (0: no generation)."),
    server: Optional[str] = typer.Option(None, "--server", help="A running server to sync after each enable."),
    admin_token_file: Optional[Path] = typer.Option(None, "--admin-token-file", callback=input_file,
                                                    help="With --server: file holding its admin token."),
    device: str = opt.device(),
    threads: Optional[int] = opt.threads(),
    overrides: List[str] = typer.Option([], "--set", help="Config override key.path=value (repeatable; the "
                                        "repositories take the positional arguments)."),
) -> None:
    """Follow REPOS: mine new fixes, train a hotfix per batch, check it, stage it, enable it if every check passes."""
    from codehotfix.config import load_config
    from codehotfix.data.miners import MinerConfig
    from codehotfix.deploy.canary import CanaryConfig
    from codehotfix.deploy.store import HotfixStore
    from codehotfix.errors import ConfigError
    from codehotfix.models.loading import load_model
    from codehotfix.sequence.watch import Watcher, WatchConfig, server_sync

    if server and admin_token_file is None:
        raise ConfigError("--server needs --admin-token-file (the server's admin token)")
    cfg = load_config(config, overrides)
    watch_cfg = WatchConfig(prefix=prefix, max_cases=max_cases, humaneval=humaneval, allow_exec=allow_exec,
                            locality=locality, canary=CanaryConfig(min_delta=canary_min_delta,
                                                                min_greedy_fixed=canary_min_greedy_fixed))
    store = HotfixStore(registry, create=not dry_run)
    tc = cfg.training
    notify = server_sync(server, admin_token_file.read_text().strip()) if server else None
    watcher = Watcher(repos, store, cfg, watch_cfg, MinerConfig(since=since, paths=tuple(paths)),
                      state or Path(registry) / ".watch",
                      lambda: load_model(model, dtype=tc.dtype, threads=threads or tc.threads, device=device),
                      audit=audit, notify=notify)
    watcher.run(interval, passes=1 if once or dry_run else None, dry_run=dry_run,
                report=lambda decision: print(json.dumps(decision, default=str), flush=True))
