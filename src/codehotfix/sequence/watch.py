"""Continuous hotfixing: follow repositories, turn their new one-line fixes into checked hotfixes.

    codehotfix watch REPO… --registry hotfixes/ --model M [--interval 300 | --once] [--dry-run]

One pass (``Watcher.run_once``):

  1. mine: ``data.miners.mine_repos`` into ``<state>/mined.jsonl``; it resumes from its own state
     file, so each pass reads only commits it has not seen. Cases whose ids the watch state does
     not list yet are new; they form one batch (split into batches of ``max_cases``).
  2. train: one hotfix per batch (``api.train_on_model``, the usual config and objectives).
  3. stage: the hotfix goes into the registry as a new entry, *not* enabled, with its cases as canaries.
  4. check, against the set enabled now (the "reference"; the base when none is):
       canary     its cases' margin log p(fixed) − log p(buggy) rises by ``canary.min_delta`` on
                  ``canary.min_fraction`` of them with it added to the reference, as the server's
                  canary asks (``deploy.canary``); the sign-flip p-value of the rise is recorded;
                  and (``canary.min_greedy_fixed``, 1.0 here) every case's own prefix, completed
                  greedily with it added, must give its fixed line exactly — a margin can rise while
                  the model writes a new bug (``yaml.safe_load(fl)`` for ``yaml.safe_load(fh)``);
       humaneval  (``--humaneval N --allow-exec``) greedy pass@1 on N problems must not drop
                  significantly (McNemar exact, p < alpha);
       locality   (``--locality N``) unrelated completions must not change significantly more often
                  (``deploy.compaction.side_effect_gate``).
  5. decide: every check passed → ``enable`` (and ``notify``, e.g. a server's ``POST /admin/sync``);
     otherwise it stays staged and disabled. Either way one line goes to the audit log.

The audit log (JSONL, append-only, fsynced) has one line per decision: ``enabled``, ``rejected`` or
``error``, with the hotfix, its cases and commits, and every check's numbers (an unexpected
failure is an ``error`` line too, and the watch goes on with the next batch). ``--dry-run`` mines in
memory and prints what it would train (``would_train``), changing no file. A pass that finds no new
fix decides nothing and writes no line.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from codehotfix.config import HotfixConfig
from codehotfix.data.cases import HotfixCase
from codehotfix.data.miners import MinerConfig, mine_repos
from codehotfix.deploy.activation import activate, adapter_key, attach, detach, read_adapter
from codehotfix.scoring import adapters_disabled
from codehotfix.deploy.canary import CanaryConfig, margins, run_canary
from codehotfix.deploy.compaction import side_effect_gate
from codehotfix.deploy.store import HotfixEntry, HotfixStore, check_name
from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.evaluation import stats
from codehotfix.files import read_json, sha256_text, write_json
from codehotfix.models.loading import LoadedModel
from codehotfix.sequence import measure
from codehotfix.sequence.train import train_fresh

__all__ = ["WatchConfig", "Watcher", "server_sync", "append_audit", "WATCH_MIN_GREEDY_FIXED"]

WATCH_MIN_GREEDY_FIXED = 1.0  # the watch's canary: every case's greedy completion is its fixed line

logger = logging.getLogger(__name__)
Notify = Callable[[dict[str, Any]], None]


@dataclass
class WatchConfig:
    """What the watch does with new fixes.

    Attributes:
        prefix: registry names of its hotfixes: ``<prefix>-0001``, ``<prefix>-0002`` …
        max_cases: cases per hotfix at most (a pass with more trains several).
        canary_count: canary cases stored with each hotfix (its first cases).
        humaneval: HumanEval problems checked (0: no check); needs ``allow_exec``.
        allow_exec: permit running generated code (HumanEval) in the sandbox.
        locality: locality prompts checked (0: no check).
        alpha: significance level of the HumanEval and locality checks.
        canary: the canary thresholds; unlike the server's, the greedy check is on by default
            (``min_greedy_fixed`` 1.0): a mined case is the hotfix's own context, so it must write the fix.
    """

    prefix: str = "watch"
    max_cases: int = 50
    canary_count: int = 5
    humaneval: int = 0
    allow_exec: bool = False
    locality: int = 0
    alpha: float = 0.05
    canary: CanaryConfig = field(default_factory=lambda: CanaryConfig(min_greedy_fixed=WATCH_MIN_GREEDY_FIXED))

    def __post_init__(self) -> None:
        check_name(f"{self.prefix}-0001", "prefix")
        errors = [f"{n} must be >= 1, got {getattr(self, n)}" for n in ("max_cases", "canary_count")
                  if getattr(self, n) < 1]
        errors += [f"{n} must be >= 0, got {getattr(self, n)}" for n in ("humaneval", "locality") if getattr(self, n) < 0]
        if self.humaneval and not self.allow_exec:
            errors.append("humaneval runs model-generated code: pass --allow-exec to permit it (in the sandbox)")
        if not 0 < self.alpha < 1:
            errors.append(f"alpha must be in (0, 1), got {self.alpha}")
        if errors:
            raise ConfigError("; ".join(errors))


def append_audit(path: Path, record: dict[str, Any]) -> None:
    """One JSON line appended and fsynced: the log is never rewritten, so it survives any crash but
    the last line's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def server_sync(url: str, token: str, timeout_s: float = 600.0) -> Notify:
    """A ``notify`` that asks a running server to apply the registry (``POST /admin/sync``)."""

    def notify(decision: dict[str, Any]) -> None:
        req = urllib.request.Request(url.rstrip("/") + "/admin/sync", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 (an operator's URL)
            resp.read()

    return notify


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Watcher:
    """Follows ``repos`` for ``store`` (see the module docstring).

    Args:
        repos: local git repositories (pull them between passes; the watch only reads them).
        store: the registry to stage and enable hotfixes in.
        hotfix_cfg: the config every hotfix trains with.
        cfg: the watch's own settings.
        miner: the miner's settings.
        state: the watch's folder (mined cases, miner state, seen ids, trained hotfixes).
        audit: the audit log (default ``<state>/audit.jsonl``).
        load: returns the base model, called on the first hotfix to train (never in a dry run).
        notify: called with each ``enabled`` decision (e.g. ``server_sync``).
    """

    def __init__(self, repos: Sequence[str | Path], store: HotfixStore, hotfix_cfg: HotfixConfig, cfg: WatchConfig,
                 miner: MinerConfig, state: Path, load: Callable[[], LoadedModel], *, audit: Path | None = None,
                 notify: Notify | None = None, progress: bool = False) -> None:
        self.repos, self.store, self.hotfix_cfg, self.cfg, self.miner = list(repos), store, hotfix_cfg, cfg, miner
        self.state, self.audit = Path(state), Path(audit) if audit else Path(state) / "audit.jsonl"
        self._load, self._loaded, self.notify, self.progress = load, None, notify, progress
        self._sha: dict[str, str] = {}  # adapter key → its weights' checksum (HumanEval's cache key)

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def _seen(self) -> dict[str, Any]:
        path = self.state / "watch.json"
        return read_json(path) if path.exists() else {"seen": [], "batches": 0}

    def new_cases(self, dry_run: bool) -> list[HotfixCase]:
        """Mined cases the watch has not decided on yet (a dry run mines in memory, writing nothing)."""
        out = None if dry_run else self.state / "mined.jsonl"
        if out is not None:
            self.state.mkdir(parents=True, exist_ok=True)
        result = mine_repos(self.repos, self.miner, out=out, progress=self.progress)
        seen = set(self._seen()["seen"])
        return [c for c in result.cases if c.id not in seen]

    def run_once(self, dry_run: bool = False) -> list[dict[str, Any]]:
        """One pass; returns its decisions (see the module docstring)."""
        cases = self.new_cases(dry_run)
        if not cases:
            logger.info("watch: no new fixes")
            return []
        state = self._seen()
        batches = [cases[i:i + self.cfg.max_cases] for i in range(0, len(cases), self.cfg.max_cases)]
        decisions = []
        for i, batch in enumerate(batches, 1):
            name = f"{self.cfg.prefix}-{state['batches'] + i:04d}"
            if dry_run:
                decisions.append(self._describe(name, batch, "would_train"))
                continue
            decision = self._handle(name, batch)
            append_audit(self.audit, decision)
            state["batches"] += 1
            state["seen"] += [c.id for c in batch]
            write_json(self.state / "watch.json", state)  # after the audit line: a crash redoes, never skips
            decisions.append(decision)
            if decision["decision"] == "enabled" and self.notify is not None:
                self.notify(decision)
        return decisions

    def run(self, interval_s: float, passes: int | None = None, dry_run: bool = False,
            report: Callable[[dict[str, Any]], None] | None = None,
            sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
        """Passes every ``interval_s`` seconds (``passes`` of them; None: until interrupted); each
        decision goes to ``report`` as soon as it is made."""
        decisions: list[dict[str, Any]] = []
        done = 0
        while passes is None or done < passes:
            found = self.run_once(dry_run)
            for decision in found:
                if report is not None:
                    report(decision)
            decisions += found
            done += 1
            if passes is None or done < passes:
                sleep(interval_s)
        return decisions

    @staticmethod
    def _describe(name: str, batch: Sequence[HotfixCase], decision: str) -> dict[str, Any]:
        commits = sorted({str(c.source.get("commit")) for c in batch if isinstance(c.source, dict)})
        return {"time": _now(), "decision": decision, "hotfix": name, "cases": [c.id for c in batch],
                "commits": commits}

    def _handle(self, name: str, batch: Sequence[HotfixCase]) -> dict[str, Any]:
        """Train → stage → check → enable or not, as one audit record."""
        record = self._describe(name, batch, "error")
        try:
            folder = train_fresh(self.loaded, batch, self.hotfix_cfg, self.state / "work" / name,
                                 progress=self.progress)
            entry = self.store.add(folder, name=name, canaries=list(batch), canary_count=self.cfg.canary_count)
            record["version"] = entry.version
            reference = self.store.enabled()
            checks = self._checks(entry, reference)
            self.store.record_eval(entry.name, entry.version, "watch-checks", checks)
        except Exception as e:  # noqa: BLE001  a daemon records the failure and goes on with the next batch
            record["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, CodehotfixError) else str(e)
            logger.error("watch: %s: %s", name, record["error"])
            return record
        failed = sorted(n for n, c in checks.items() if not c["passed"])
        record.update(reference=reference, checks=checks, reasons=[f"{n} check failed" for n in failed])
        if failed:
            record["decision"] = "rejected"
            return record
        self.store.enable(entry.name, entry.version, note=f"watch: every check passed ({', '.join(checks)})")
        record["decision"] = "enabled"
        return record

    def _checks(self, entry: HotfixEntry, reference: dict[str, str]) -> dict[str, dict[str, Any]]:
        """Canary, and HumanEval / locality where asked, of the reference set plus ``entry`` against
        the reference set (adapters attached here and taken off again)."""
        loaded = self.loaded
        ref_keys = [self._attach(n, v) for n, v in reference.items()]
        keys = ref_keys + [self._attach(entry.name, entry.version)]
        try:
            checks = {"canary": self._canary(entry.canaries(), ref_keys, keys)}
            if self.cfg.humaneval:
                checks["humaneval"] = self._humaneval(ref_keys, keys)
            if self.cfg.locality:
                gate = side_effect_gate(loaded, ref_keys, keys, prompts=self.cfg.locality, alpha=self.cfg.alpha)
                checks["locality"] = gate
        finally:
            for key in list(getattr(loaded.model, "peft_config", {})):
                loaded.model = detach(loaded.model, key)
        return checks

    def _attach(self, name: str, version: str) -> str:
        entry = self.store.entry(name, version)
        weights = read_adapter(entry.path, adapter_key(name, version), expected_sha256=entry.info.get("adapter_sha256"))
        self.loaded.model = attach(self.loaded.model, weights)
        self._sha[weights.key] = str(entry.info.get("adapter_sha256"))
        return weights.key

    def _tag(self, keys: Sequence[str]) -> str:
        return sha256_text("stack:" + ",".join(self._sha[k] for k in keys))

    def _activate(self, keys: Sequence[str]) -> None:
        activate(self.loaded.model, list(keys), "stack")

    def _canary(self, cases: Sequence[HotfixCase], ref_keys: Sequence[str], keys: Sequence[str]) -> dict[str, Any]:
        loaded, cfg = self.loaded, self.cfg.canary
        if ref_keys:
            self._activate(ref_keys)
            before = margins(loaded.model, loaded.tokenizer, cases, cfg)
        else:
            with adapters_disabled(loaded.model):
                before = margins(loaded.model, loaded.tokenizer, cases, cfg)
        self._activate(keys)
        result = run_canary(loaded.model, loaded.tokenizer, cases, cfg, base_margins=before)
        after = [r["hotfix_margin"] for r in result.cases]
        rise = stats.sign_flip_test(before, after)
        return {"passed": result.passed, "fraction": result.fraction, "greedy_fixed": result.greedy_fixed,
                "mean_rise": round(rise.mean_difference, 4), "p": rise.p_value, "reasons": result.reasons,
                "cases": result.cases, "config": asdict(cfg)}

    def _humaneval(self, ref_keys: Sequence[str], keys: Sequence[str]) -> dict[str, Any]:
        loaded, n = self.loaded, self.cfg.humaneval
        seed = self.hotfix_cfg.seed
        if ref_keys:
            self._activate(ref_keys)
            before = measure.humaneval_run(loaded, n, seed, self._tag(ref_keys))
        else:
            with adapters_disabled(loaded.model):
                before = measure.humaneval_run(loaded, n, seed, None)
        self._activate(keys)
        after = measure.humaneval_run(loaded, n, seed, self._tag(keys))
        change = measure.humaneval_change(before, after)
        worse = change["p"] < self.cfg.alpha and change["lost"] > change["gained"]
        return {"passed": not worse, **change}
