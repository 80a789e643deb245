"""The serving engine: one base model, the registry's enabled hotfixes on it, and hot swaps.

Requests generate under a shared lock; a swap (enable, disable, rollback) takes it exclusively, so a
request runs entirely before or entirely after a swap and never sees a half-applied set of adapters.
Each result carries the hotfix versions it was generated with, read under the same lock.

A swap reads the new adapter's files and canary cases *before* taking the lock (the slow, disk-bound
part) while requests keep flowing; under the lock it attaches the weights, activates the new set and
runs the canary of every hotfix whose version changed (its cases must move when it joins the set
being served, compared with that set without it). A failed canary puts the previous set back
and raises ``CanaryFailed``: requests only ever see the old set or the new, checked one. Only then is
the registry updated, so the registry and the served model agree. Switched-off adapters stay attached
(up to ``keep_inactive``) so rolling back to them needs no disk read.

Run: ``codehotfix serve --registry hotfixes/`` (see docs/serving.md).
"""

from __future__ import annotations

import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from codehotfix.data.cases import HotfixCase
from codehotfix.deploy.activation import MODES, activate, adapter_key, attach, detach, read_adapter
from codehotfix.deploy.canary import CanaryConfig, CanaryFailed, CanaryResult, margins, run_canary
from codehotfix.deploy.store import HotfixStore, StoreError, confined_path
from codehotfix.errors import CodehotfixError, ConfigError
from codehotfix.evaluation.generation import start_token_id
from codehotfix.models.loading import LoadedModel
from codehotfix.serve.decode import Row, Sampling, TokenLogprob, decode

__all__ = ["EngineConfig", "HotfixEngine", "Generation", "RequestError", "SwapLock"]


class RequestError(CodehotfixError):
    """A request the engine cannot serve as asked (the server answers with ``status``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class EngineConfig:
    """How the engine serves and swaps.

    Attributes:
        mode: how several enabled hotfixes combine: "stack" (all adapters active; their exact sum) or
            "merge_<combination>" (one adapter built by PEFT's add_weighted_adapter, e.g. merge_cat).
        max_new_tokens: the largest ``max_tokens`` a request may ask for.
        max_prompt_tokens: the longest prompt accepted, in tokens.
        max_concurrent: generations running on the model at once (1 on a CPU: more only contend).
        keep_inactive: switched-off adapters kept attached for instant rollback.
        skip_canary: enable without the canary check (warns; for adapters with no measurable effect).
        canary: the canary thresholds.
    """

    mode: str = "stack"
    max_new_tokens: int = 256
    max_prompt_tokens: int = 4096
    max_concurrent: int = 1
    keep_inactive: int = 4
    skip_canary: bool = False
    canary: CanaryConfig = field(default_factory=CanaryConfig)

    def __post_init__(self) -> None:
        errors = []
        if self.mode not in MODES and not self.mode.startswith("merge_"):
            errors.append(f"serve.mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name in ("max_new_tokens", "max_prompt_tokens", "max_concurrent"):
            if getattr(self, name) < 1:
                errors.append(f"serve.{name} must be >= 1, got {getattr(self, name)}")
        if self.keep_inactive < 0:
            errors.append(f"serve.keep_inactive must be >= 0, got {self.keep_inactive}")
        if errors:
            raise ConfigError("; ".join(errors))


class SwapLock:
    """A readers-writer lock that prefers writers: once a swap waits, new requests queue behind it,
    so a swap under constant load waits for the requests in flight only.

    Args:
        max_readers: how many readers (generations) may hold it together.
    """

    def __init__(self, max_readers: int = 1) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self.max_readers = max_readers

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting or self._readers >= self.max_readers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass
class Generation:
    """Completions of one request: ``texts[i]`` for prompt i // n, sample i % n; ``logprobs[i]`` its
    tokens' log-probabilities (empty unless asked for)."""

    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    completion_tokens: int
    hotfix_versions: dict[str, str]
    seconds: float
    logprobs: list[list[TokenLogprob]] = field(default_factory=list)

    @classmethod
    def of(cls, rows: Sequence[Row], versions: dict[str, str], seconds: float) -> "Generation":
        prompts = {id(r.prompt_ids): len(r.prompt_ids) for r in rows}  # n samples share one prompt list
        return cls([r.text for r in rows], [r.finish_reason or "stop" for r in rows], sum(prompts.values()),
                   sum(len(r.tokens) for r in rows), versions, round(seconds, 4), [r.logprobs for r in rows])


class HotfixEngine:
    """Owns the model and tokenizer, generates, and swaps hotfixes from a ``HotfixStore``.

    Args:
        loaded: the base model (``codehotfix.models.loading.load_model``).
        store: the registry whose enabled set is served.
        cfg: engine settings.
    """

    def __init__(self, loaded: LoadedModel, store: HotfixStore, cfg: EngineConfig | None = None) -> None:
        self.cfg = cfg or EngineConfig()
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.model_id = loaded.model_id
        self.checksum = loaded.checksum
        self.store = store
        self._active: dict[str, str] = {}
        self._attached: list[str] = []  # adapter keys on the model, least recently active first
        self._lock = SwapLock(self.cfg.max_concurrent)
        self._admin = threading.Lock()
        # Positions the model can attend over; None for a model that does not say (no check then).
        self.context_tokens: int | None = getattr(self.model.config, "max_position_embeddings", None)
        if self.cfg.skip_canary:
            warnings.warn("canary checks are off: a hotfix whose adapter has no effect will be served silently",
                          stacklevel=2)

    # ---- serving -----------------------------------------------------------------------------

    @property
    def hotfix_versions(self) -> dict[str, str]:
        return dict(self._active)

    def status(self) -> dict[str, Any]:
        return {"model": self.model_id, "model_checksum": self.checksum, "hotfix_versions": self.hotfix_versions,
                "mode": self.cfg.mode, "attached": list(self._attached), "registry": str(self.store.root)}

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> str:
        """The prompt text of a chat, through the tokenizer's chat template."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise RequestError(f"model {self.model_id!r} has no chat template; use /v1/completions", 400)
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def _encode(self, prompts: Sequence[str]) -> list[list[int]]:
        start = start_token_id(self.tokenizer)
        rows = []
        for i, p in enumerate(prompts):
            ids = self.tokenizer(p, add_special_tokens=False)["input_ids"] if p else []
            if len(ids) > self.cfg.max_prompt_tokens:
                raise RequestError(f"prompt[{i}] is {len(ids)} tokens; this server accepts at most "
                                   f"{self.cfg.max_prompt_tokens}", 400)
            rows.append(ids or [start])
        return rows

    def _check_context(self, rows: Sequence[Sequence[int]], max_tokens: int) -> None:
        """A prompt plus its completion must fit the model's positions: past them a model either fails
        or silently produces noise, and a client should learn that from a 400, not from the text."""
        if self.context_tokens is None:
            return
        for i, r in enumerate(rows):
            if len(r) + max_tokens > self.context_tokens:
                raise RequestError(f"prompt[{i}] is {len(r)} tokens and max_tokens is {max_tokens}: "
                                   f"{len(r) + max_tokens} > the model's context of {self.context_tokens} "
                                   "tokens; shorten the prompt or lower max_tokens", 400)

    def rows(self, prompts: Sequence[str], sampling: Sampling, n: int = 1, *,
             on_token: Callable[..., None] | None = None, cancelled: Callable[[], bool] | None = None) -> list[Row]:
        """The rows to decode for a request: each prompt ``n`` times, prompt-major. Checks the limits
        here, in the request's thread, so a bad request fails alone and never inside a batch.

        ``sampling.max_tokens`` 0 means "as many as fit": the server's limit, cut to the context left
        after the longest prompt (OpenAI's chat endpoint has no default limit).

        Raises:
            RequestError: max_tokens above the server's limit, a prompt too long for it or the model.
        """
        encoded = self._encode(prompts)
        if sampling.max_tokens == 0:
            room = (self.context_tokens - max(map(len, encoded))) if self.context_tokens else self.cfg.max_new_tokens
            if room < 1:
                self._check_context(encoded, 1)
            sampling = replace(sampling, max_tokens=min(self.cfg.max_new_tokens, room))
        if sampling.max_tokens > self.cfg.max_new_tokens:
            raise RequestError(f"max_tokens {sampling.max_tokens} is above this server's limit "
                               f"{self.cfg.max_new_tokens}", 400)
        self._check_context(encoded, sampling.max_tokens)
        vocab = getattr(self.model.config, "vocab_size", None)
        bad = [t for t, _ in sampling.logit_bias if vocab is not None and t >= vocab]
        if bad:
            raise RequestError(f"logit_bias: token id {bad[0]} is not in the vocabulary (0 to {vocab - 1})", 400)
        return [Row(ids, sampling, index=k, choice=i * n + k, on_token=on_token, cancelled=cancelled)
                for i, ids in enumerate(encoded) for k in range(n)]

    def run(self, rows: Sequence[Row], started: Callable[[dict[str, str]], object] | None = None) -> dict[str, str]:
        """Decodes ``rows`` (of one or many requests) as one batch under the shared lock; returns the
        hotfix versions that produced them, read under the same lock (and passes them to ``started``
        before the first token)."""
        with self._lock.reading():
            versions = dict(self._active)
            if started is not None:
                started(versions)
            decode(self.model, self.tokenizer, rows)
        return versions

    def generate(self, prompts: Sequence[str], *, max_tokens: int = 16, temperature: float = 1.0,
                 top_p: float = 1.0, n: int = 1, stop: Sequence[str] = (), seed: int | None = None,
                 logprobs: int | None = None, presence_penalty: float = 0.0, frequency_penalty: float = 0.0,
                 logit_bias: Sequence[tuple[int, float]] = ()) -> Generation:
        """Completes each prompt ``n`` times (greedy when ``temperature`` is 0), on its own (the
        server batches requests through ``serve.batching.Batcher`` instead).

        Args:
            logprobs, presence_penalty, frequency_penalty, logit_bias: as in ``decode.Sampling``.

        Raises:
            RequestError: ``max_tokens`` above the server's limit, or a prompt that is too long.
        """
        sampling = Sampling(max_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=tuple(stop),
                            seed=seed, logprobs=logprobs, presence_penalty=presence_penalty,
                            frequency_penalty=frequency_penalty, logit_bias=tuple(logit_bias))
        rows = self.rows(prompts, sampling, n)
        t0 = time.time()
        versions = self.run(rows)
        return Generation.of(rows, versions, time.time() - t0)

    # ---- swaps -------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Applies the registry's enabled set (with canaries); call once before serving."""
        return self._switch(lambda: (self.store.enabled(), lambda: None), "start")

    def load(self, path: str | Path, *, name: str | None = None, version: str | None = None,
             canaries: str | Path | None = None, force: bool = False) -> dict[str, Any]:
        """Adds a hotfix folder to the registry (not enabled yet); returns the entry's summary.

        ``canaries`` (relative to ``path``, or absolute) must lie inside the hotfix folder: this is
        reached over HTTP, and a free path would let a request read any file the server can.
        """
        if canaries is not None:
            try:
                canaries = confined_path(path, canaries, "canaries")
            except StoreError as e:
                raise RequestError(str(e), 400) from None
        return self.store.add(path, name=name, version=version, canaries=canaries, force=force).summary()

    def enable(self, name: str, version: str | None = None) -> dict[str, Any]:
        """Serves ``name`` at ``version`` (latest when None) after its canary passes."""
        def plan() -> tuple[dict[str, str], Callable[[], object]]:
            v = self.store.entry(name, version).version
            return {**self.store.enabled(), name: v}, lambda: self.store.enable(name, v)
        return self._switch(plan, "enable")

    def disable(self, name: str) -> dict[str, Any]:
        def plan() -> tuple[dict[str, str], Callable[[], object]]:
            target = self.store.enabled()
            if name not in target:
                raise StoreError(f"hotfix {name!r} is not enabled; enabled: {', '.join(target) or '(none)'}")
            target.pop(name)
            return target, lambda: self.store.disable(name)
        return self._switch(plan, "disable")

    def rollback(self, name: str | None = None) -> dict[str, Any]:
        """Restores the state before the latest change (of ``name``, if given)."""
        def plan() -> tuple[dict[str, str], Callable[[], object]]:
            target, _ = self.store.plan_rollback(name)
            return target, lambda: self.store.rollback(name)
        return self._switch(plan, "rollback")

    def sync(self) -> dict[str, Any]:
        """Serves whatever the registry file says is enabled now (after CLI edits)."""
        return self._switch(lambda: (self.store.enabled(), lambda: None), "sync")

    def _switch(self, plan: Callable[[], tuple[dict[str, str], Callable[[], object]]], action: str) -> dict[str, Any]:
        with self._admin, self.store.locked():
            target, commit = plan()
            entries = {n: self.store.entry(n, v) for n, v in target.items()}
            keys = [adapter_key(n, v) for n, v in target.items()]
            changed = [n for n, v in target.items() if self._active.get(n) != v]
            # Disk reads happen here, outside the model lock, while requests keep running.
            pending = [read_adapter(e.path, adapter_key(n, e.version), expected_sha256=e.info.get("adapter_sha256"),
                                    base_checksum=self.checksum)
                       for n, e in entries.items() if adapter_key(n, e.version) not in self._attached]
            canaries = {n: entries[n].canaries() for n in changed}
            previous = [adapter_key(n, v) for n, v in self._active.items()]
            results: dict[str, CanaryResult] = {}
            with self._lock.writing():
                t0 = time.time()
                for weights in pending:
                    self.model = attach(self.model, weights)
                    self._attached.append(weights.key)
                if not self.cfg.skip_canary:
                    results = self._canaries(target, changed, canaries)
                activate(self.model, keys, self.cfg.mode)
                failed = sorted(n for n, r in results.items() if not r.passed)
                if failed:
                    activate(self.model, previous, self.cfg.mode)
                    for weights in pending:  # an adapter that failed its canary is of no further use
                        if weights.key not in previous:
                            self.model = detach(self.model, weights.key)
                            self._attached.remove(weights.key)
                else:
                    before = dict(self._active)
                    self._active = dict(target)
                    try:
                        record = commit()
                    except BaseException:
                        activate(self.model, previous, self.cfg.mode)
                        self._active = before
                        raise
                    self._touch(keys)
                pause = round(time.time() - t0, 4)
            for n, r in results.items():
                self.store.record_eval(n, target[n], f"canary-{self.checksum[:12]}",
                                       {**r.to_dict(), "model": self.model_id, "model_checksum": self.checksum,
                                        "action": action, "mode": self.cfg.mode, "hotfix_versions": target})
            if failed:
                first = results[failed[0]]
                raise CanaryFailed(
                    f"refused: canary of {', '.join(f'{n} {target[n]}' for n in failed)} "
                    f"{'; '.join(first.reasons)}; still serving {self._active or 'the base model'}", first)
            return {"action": action, "hotfix_versions": self.hotfix_versions, "pause_seconds": pause,
                    "canary": {n: r.to_dict() for n, r in results.items()},
                    "history": record if isinstance(record, dict) else None}

    def _canaries(self, target: dict[str, str], changed: Sequence[str],
                  canaries: dict[str, list[HotfixCase]]) -> dict[str, CanaryResult]:
        """Canary of each changed hotfix: its cases scored with the target set, against the target set
        without it (the base, when it is the only one). Comparing against the base instead would let
        an adapter that does nothing pass on the back of another enabled hotfix with similar cases.
        Called under the write lock."""
        reference = {}
        for n in changed:
            activate(self.model, [adapter_key(m, v) for m, v in target.items() if m != n], "stack")
            reference[n] = margins(self.model, self.tokenizer, canaries[n], self.cfg.canary)
        activate(self.model, [adapter_key(m, v) for m, v in target.items()], self.cfg.mode)
        return {n: run_canary(self.model, self.tokenizer, canaries[n], self.cfg.canary, base_margins=reference[n])
                for n in changed}

    def _touch(self, active_keys: Sequence[str]) -> None:
        """Marks ``active_keys`` most recently used and drops the oldest inactive adapters beyond
        ``keep_inactive`` (called under the write lock)."""
        self._attached = [k for k in self._attached if k not in active_keys] + [k for k in active_keys]
        inactive = [k for k in self._attached if k not in active_keys]
        for k in inactive[: max(0, len(inactive) - self.cfg.keep_inactive)]:
            self.model = detach(self.model, k)
            self._attached.remove(k)

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.cfg)
