"""Batched completion of code prefixes, stopping each sequence at the end of its first line, and
the one decoding loop every generator in codehotfix runs on (``decode_steps``).

Prompts are tokenized, cut from the left to a token budget, sorted by length and left-padded in
batches. Each batch is prefilled once; for k samples its key/value cache is copied k times (rather
than prefilling every prompt k times), and each row leaves the batch as soon as it has written one
non-blank line, so most completions cost a dozen tokens, not 64. Sampling uses transformers'
temperature and top-p logits warpers. Extra ``transformers`` logits processors (e.g. the online
hotfix guard, ``codehotfix.online.guard``) run on the raw scores before the warpers, for greedy and
sampled rows alike.

The server (``serve/decode.py``) decodes through the same ``decode_steps`` with its own step: per
request sampling settings, seeds, log-probs, stop strings and a callback per token for streaming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, Union

import torch
from torch import nn
from tqdm.auto import tqdm

from codehotfix.models.adapters import is_prompt_learning
from codehotfix.models.adapters.merge import merged_for_inference
from codehotfix.models.compat import cache_kwargs, cache_of
from codehotfix.models.loading import model_device

if TYPE_CHECKING:
    from transformers import LogitsProcessor, PreTrainedTokenizerBase
    from transformers.modeling_outputs import CausalLMOutputWithPast

__all__ = ["Completions", "generate_completions", "encode_prompts", "sample_lines", "make_generator", "left_pad",
           "decode_steps", "decode_prefilled", "prefill", "Prefilled", "concat_prefilled", "StopRule", "complete_batch", "special_token_ids", "start_token_id", "StepFn", "Generate", "first_line_ids"]

StepFn = Callable[[torch.Tensor, Union[torch.Tensor, None], torch.Tensor], tuple[torch.Tensor, list[int]]]
"""One decoding step (see ``decode_steps``): (active rows, their ids or None, logits) → (tokens, rows going on)."""

LogitsProcessorArg = Union["LogitsProcessor", Sequence[Union["LogitsProcessor", None]], None]
ProcessorFactory = Callable[[Sequence[str]], LogitsProcessorArg]


class Generate(Protocol):
    """What ``make_generator`` returns: n completions of each prompt (greedy at temperature 0)."""

    def __call__(self, prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int,
                 stop: Sequence[str], seed: int) -> list[list[str]]: ...


@dataclass
class Completions:
    """The completions of one prompt: ``greedy`` (or None) and ``samples`` (k strings)."""

    greedy: str | None = None
    samples: list[str] = field(default_factory=list)
    new_tokens: int = 0
    # The generated token ids behind ``greedy`` / ``samples`` (the hf generator fills them; other
    # backends may not), so a shorter completion can be cut from a longer one token for token.
    greedy_ids: list[int] | None = field(default=None, repr=False)
    sample_ids: list[list[int]] = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class StopRule:
    """When one prompt's rows end (besides end-of-text and stop strings): at the end of their first
    non-blank line (``first_line_only``), else after ``max_lines`` lines (None: no limit), and in any
    case after ``max_new_tokens`` tokens. ``sample_lines`` takes one per prompt, so prompts with
    different rules (the window and split events) decode in one batch."""

    max_new_tokens: int
    first_line_only: bool = True
    max_lines: int | None = None


def start_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """What an empty prompt becomes: the start (or end-of-text) token, so there is always something
    to condition on."""
    return tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[int, set[int]]:
    """(the id prompts are left-padded with, the ids that end a row: end-of-text and padding)."""
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return pad_id, {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}


def encode_prompts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
                   max_context_tokens: int | Sequence[int]) -> list[list[int]]:
    """Token ids of each prompt, keeping its last ``max_context_tokens`` (one number for all prompts, or
    one per prompt: the split event's, ``events.split_prompts``); an empty prompt becomes the start
    token (``start_token_id``)."""
    start = start_token_id(tokenizer)
    keeps = [max_context_tokens] * len(prompts) if isinstance(max_context_tokens, int) else max_context_tokens
    out = []
    for p, keep in zip(prompts, keeps, strict=True):
        ids = tokenizer(p, add_special_tokens=False)["input_ids"] if p else []
        out.append(ids[max(0, len(ids) - keep):] or [start])
    return out


def left_pad(rows: list[list[int]], pad_id: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of token ids left-padded to one width: (ids [B, W], attention mask [B, W])."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long, device=device)
    return ids, mask


def _prefill(model: nn.Module, ids: torch.Tensor,
             mask: torch.Tensor) -> tuple[nn.Module, CausalLMOutputWithPast, torch.Tensor, torch.Tensor]:
    """Runs the left-padded prompts once; returns (the module to decode with, its output, the attention
    mask so far, the position of each row's next token).

    A prompt-learning model (prefix / prompt tuning) is decoded through its base model with the
    virtual tokens put in front here: PEFT's own forward re-adds them on every call and drops
    position ids, so it cannot continue from a cache or ignore left padding. The real tokens get
    positions V, V+1, … after the V virtual ones, as in PEFT's forward (and so in training).
    """
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    if not is_prompt_learning(model):
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        return model, out, mask, mask.sum(-1)
    from peft import PeftType

    cfg, base, rows = model.active_peft_config, model.get_base_model(), ids.shape[0]
    v = cfg.num_virtual_tokens
    mask = torch.cat([torch.ones(rows, v, dtype=mask.dtype, device=mask.device), mask], -1)
    positions = positions + v
    if cfg.peft_type == PeftType.PREFIX_TUNING:  # learnt keys/values of every layer: a ready-made cache
        out = base(input_ids=ids, attention_mask=mask, position_ids=positions, **cache_kwargs(model.get_prompt(rows)),
                   use_cache=True, logits_to_keep=1)
    elif cfg.peft_type == PeftType.PROMPT_TUNING:  # learnt input embeddings at positions 0 … V-1
        embed = base.get_input_embeddings()(ids)
        embeds = torch.cat([model.get_prompt(rows).to(embed.dtype), embed], 1)
        virtual_pos = torch.arange(v, device=ids.device).expand(rows, v)
        out = base(inputs_embeds=embeds, attention_mask=mask, position_ids=torch.cat([virtual_pos, positions], -1),
                   use_cache=True, logits_to_keep=1)
    else:
        raise NotImplementedError(f"generation with the PEFT method {cfg.peft_type} is not supported")
    return base, out, mask, positions[:, -1] + 1


def _ends_line(piece: str, seen_content: bool) -> tuple[bool, bool]:
    """Returns (row is done, row has content) after the row emits token text ``piece``.

    A row is done at the first newline that follows some non-blank text; a newline before any
    content is a leading blank line and does not end it.
    """
    for ch in piece:
        if ch == "\n" and seen_content:
            return True, True
        if not ch.isspace():
            seen_content = True
    return False, seen_content


def first_line_ids(tokenizer: "PreTrainedTokenizerBase", ids: Sequence[int], max_new_tokens: int) -> list[int]:
    """The ids a first-line generation would have kept of the longer generation ``ids``: up to the
    token that ends the first non-blank line (``_ends_line``) and at most ``max_new_tokens``."""
    pieces = tokenizer.batch_decode([[t] for t in ids[:max_new_tokens]])
    seen = False
    for n, piece in enumerate(pieces, 1):
        done, seen = _ends_line(piece, seen)
        if done:
            return list(ids[:n])
    return list(ids[:max_new_tokens])


def _count_lines(piece: str, state: tuple[int, bool]) -> tuple[int, bool]:
    """(lines finished, has content) after a row emits ``piece``, starting from ``state``.

    Lines are counted from the first non-blank character on, as in ``_ends_line``: leading blank
    lines are formatting; every newline after them ends one line (blank ones included), so a
    multi-line budget (the ``window`` event's 5 lines) counts the lines a reader sees.
    """
    lines, seen = state
    for ch in piece:
        if ch == "\n" and seen:
            lines += 1
        elif not ch.isspace():
            seen = True
    return lines, seen


def _as_processor(logits_processor: LogitsProcessorArg) -> LogitsProcessor | None:
    """One callable from None, a processor, or a list of processors (applied in order)."""
    from transformers import LogitsProcessorList

    if logits_processor is None:
        return None
    if isinstance(logits_processor, (list, tuple)):
        procs = [p for p in logits_processor if p is not None]
        return LogitsProcessorList(procs) if procs else None
    return logits_processor


def sample_lines(model: nn.Module, tokenizer: PreTrainedTokenizerBase, prompt_ids: list[list[int]] | Prefilled, *,
                 n: int, do_sample: bool, top_p: float, temperature: float, max_new_tokens: int, seed: int,
                 first_line_only: bool = True, stop: Sequence[str] = (),
                 logits_processor: LogitsProcessorArg = None, max_lines: int | None = None,
                 on_finished: Callable[[int], None] | None = None,
                 rules: Sequence[StopRule] | None = None) -> list[list[int]]:
    """Generates ``n`` continuations of each prompt; returns the new token ids, prompt-major.

    Unlike ``model.generate`` with ``num_return_sequences``, the prompts are prefilled once and their
    key/value cache is copied n times, and a row leaves the batch as soon as it has finished its
    line (or, with ``stop``, once its text contains a stop string), so the cost follows the tokens
    actually needed rather than (rows × longest row).

    Args:
        prompt_ids: the prompts' token ids, or their ``Prefilled`` state (consumed) to decode from.
        logits_processor: None, a ``transformers`` logits processor, or a list of them. Each step it
            gets ``input_ids`` [active rows, seq] (each row's left-padded prompt followed by its
            generated tokens, prompt-major, only the rows still running, in order) and the raw
            next-token scores [active rows, vocab], before temperature/top-p or argmax. Rows leave as
            their line ends, so a processor must identify rows by their ids, not by position.
        max_lines: with ``first_line_only=False``, a row also ends once it has finished this many
            lines (counted as in ``_count_lines``); None: no line limit.
        on_finished: called with how many rows just ended, as they end (a progress bar's update);
            the rows still running when the token budget runs out are reported at the end.
        rules: one ``StopRule`` per prompt, in place of ``first_line_only``, ``max_lines`` and
            ``max_new_tokens`` (which then apply to no prompt).
    """
    from peft.helpers import DoraCaching

    pad_id, eos = special_token_ids(tokenizer)
    device = model_device(model)
    prompts = prompt_ids.rows if isinstance(prompt_ids, Prefilled) else len(prompt_ids)
    if rules is None:
        rules = [StopRule(max_new_tokens, first_line_only, max_lines)] * prompts
    elif len(rules) != prompts:
        raise ValueError(f"sample_lines: {len(rules)} stop rules for {prompts} prompts")
    max_new_tokens = max((r.max_new_tokens for r in rules), default=0)
    rows = _LineRows(tokenizer, eos, rules=[r for r in rules for _ in range(n)], do_sample=do_sample, top_p=top_p,
                     temperature=temperature, seed=seed, device=device, stop=stop,
                     process=_as_processor(logits_processor), on_finished=on_finished)
    # DoRA recomputes every adapted layer's weight norm at each forward; the weights do not change
    # within a call, so PEFT's cache keeps them for its duration (cleared by the next uncached call).
    with DoraCaching():
        if isinstance(prompt_ids, Prefilled):
            decode_prefilled(prompt_ids, rows.step, max_new_tokens=max_new_tokens, repeat=n,
                             keep_ids=rows.process is not None)
        else:
            decode_steps(model, prompt_ids, rows.step, pad_id=pad_id, max_new_tokens=max_new_tokens, repeat=n,
                         keep_ids=rows.process is not None)
    if on_finished is not None and rows.finished < len(rows.new_tokens):
        on_finished(len(rows.new_tokens) - rows.finished)
    return rows.new_tokens


class _LineRows:
    """The evaluation sampler's step (see ``decode_steps``): one temperature, top-p and generator for
    the whole batch; a row ends at end-of-text, by its ``StopRule`` (first line, lines, tokens) or at
    a stop string, and its token ids collect in ``new_tokens``."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, eos: set[int], *, rules: Sequence[StopRule],
                 do_sample: bool, top_p: float, temperature: float, seed: int, device: torch.device,
                 stop: Sequence[str], process: LogitsProcessor | None,
                 on_finished: Callable[[int], None] | None = None) -> None:
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

        self.tokenizer, self.eos, self.process, self.stop, self.rules = tokenizer, eos, process, stop, rules
        self.warp = (LogitsProcessorList([TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p)])
                     if do_sample else None)
        # The generator lives on the model's device (multinomial needs that); a CUDA generator draws
        # other numbers than a CPU one for the same seed, so samples are reproducible per device type.
        self.gen = torch.Generator(device=device).manual_seed(seed)
        rows = len(rules)
        self.new_tokens: list[list[int]] = [[] for _ in range(rows)]
        self.seen = [False] * rows
        self.lines = [(0, False)] * rows
        self.texts = [""] * rows if stop else None
        self.need_text = bool(stop) or any(r.first_line_only or r.max_lines for r in rules)
        self.on_finished, self.finished = on_finished, 0

    def step(self, active: torch.Tensor, seqs: torch.Tensor | None,
             logits: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """Chooses each active row's next token; returns (tokens [active], positions that go on)."""
        if self.process is not None:
            logits = self.process(seqs, logits)
        if self.warp is not None:
            probs = torch.softmax(self.warp(None, logits), -1)
            nxt = torch.multinomial(probs, 1, generator=self.gen).squeeze(-1)
        else:
            nxt = logits.argmax(-1)
        pieces = self.tokenizer.batch_decode(nxt.unsqueeze(-1)) if self.need_text else None
        keep = [j for j, (row, tok) in enumerate(zip(active.tolist(), nxt.tolist()))
                if self._goes_on(row, tok, pieces[j] if pieces is not None else "")]
        if len(keep) < len(active):
            self.finished += len(active) - len(keep)
            if self.on_finished is not None:
                self.on_finished(len(active) - len(keep))
        return nxt, keep

    def _goes_on(self, row: int, tok: int, piece: str) -> bool:
        """Adds ``tok`` (text ``piece``) to ``row``; returns whether the row continues."""
        if tok in self.eos:
            return False
        self.new_tokens[row].append(tok)
        rule = self.rules[row]
        if rule.first_line_only:
            done, self.seen[row] = _ends_line(piece, self.seen[row])
            if done:
                return False
        elif rule.max_lines:  # the first-line rule already ends the row
            self.lines[row] = _count_lines(piece, self.lines[row])
            if self.lines[row][0] >= rule.max_lines:
                return False
        if self.stop:
            self.texts[row] += piece
            if any(s in self.texts[row] for s in self.stop):
                return False
        # At its budget a row leaves now, rather than when the loop runs out: no step is decoded
        # for it (or, when every row is there, for none) that nobody reads.
        return len(self.new_tokens[row]) < rule.max_new_tokens


@dataclass
class Prefilled:
    """Prompts after their prefill, ready to decode (``decode_prefilled``).

    ``model`` is the module to decode with; ``cache`` the key/value cache of the R rows; ``logits``
    [R, vocab] float32 next-token scores; ``mask`` [R, W] the attention mask so far (zeros mark
    padding, which may sit anywhere, not only on the left); ``next_pos`` [R] each row's next position;
    ``ids`` [R, W] the tokens behind ``mask`` (what logits processors see).
    """

    model: nn.Module
    cache: object
    logits: torch.Tensor
    mask: torch.Tensor
    next_pos: torch.Tensor
    ids: torch.Tensor

    @property
    def rows(self) -> int:
        return self.logits.shape[0]


@torch.no_grad()
def prefill(model: nn.Module, prompt_ids: Sequence[Sequence[int]], pad_id: int) -> Prefilled:
    """Left-pads ``prompt_ids`` and runs them once (see ``_prefill``)."""
    ids, mask = left_pad([list(r) for r in prompt_ids], pad_id, model_device(model))
    module, out, mask, next_pos = _prefill(model, ids, mask)
    return Prefilled(module, cache_of(out), out.logits[:, -1].float(), mask, next_pos, ids)


def concat_prefilled(states: Sequence[Prefilled], pad_id: int) -> Prefilled | None:
    """The rows of ``states`` (prefilled by one model) as one state, in order, or None where their
    caches cannot be joined (``models.compat.concat_caches``: only plain full-attention caches).

    Each state's columns are right-padded to the widest one and masked, so every row decodes as it
    would in its own batch: its positions are its own and padding is never attended to. The evaluation
    prefills contexts in batches of similar length (less padding) and then decodes them together:
    on a CPU a decoding step costs a fixed ~60 ms for reading the weights plus ~2 ms per row
    (Qwen2.5-Coder-0.5B, bfloat16, 2 cores), so batches decoded one after another paid the fixed cost
    over and over in their tails, where a few long rows run on alone (docs/speed.md). The inputs are
    not changed: every call builds new tensors, so a caller may join the same states once per pass.
    """
    from codehotfix.models.compat import concat_caches

    width = max(s.mask.shape[1] for s in states)
    cache = concat_caches([s.cache for s in states], width)
    if cache is None:
        return None

    def right(t: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, width - t.shape[1]), value=value)

    return Prefilled(states[0].model, cache, torch.cat([s.logits for s in states]),
                     torch.cat([right(s.mask, 0) for s in states]), torch.cat([s.next_pos for s in states]),
                     torch.cat([right(s.ids, pad_id) for s in states]))


@torch.no_grad()
def decode_steps(model: nn.Module, prompt_ids: Sequence[Sequence[int]], step: StepFn, *, pad_id: int,
                 max_new_tokens: int, repeat: int = 1, keep_ids: bool = False) -> None:
    """The one decoding loop: prefill the left-padded prompts once, then one token per step for the
    rows still running, dropping finished rows from the batch and its key/value cache.

    What each row does with its logits (sampling, stop rules, log-probs, streaming) is ``step``'s
    business: the evaluation sampler (``sample_lines``) and the server (``serve.decode``) each pass
    their own, so both decode with the same cache handling and positions.

    Args:
        step: called once per step with (active [A] indices of the rows still running, among all
            ``len(prompt_ids) * repeat`` rows; ids [A, seq] each row's left-padded prompt and tokens
            so far, or None without ``keep_ids``; logits [A, vocab] raw next-token scores, float32).
            Returns (tokens [A] chosen for every active row, the positions in ``active`` of the rows
            that go on); the loop ends when none does or after ``max_new_tokens`` steps.
        repeat: rows per prompt (prompt-major): the prompt's cache is prefilled once and copied.
        keep_ids: track the ids for ``step`` (logits processors need them; costs a copy per step).
    """
    decode_prefilled(prefill(model, prompt_ids, pad_id), step, max_new_tokens=max_new_tokens, repeat=repeat,
                     keep_ids=keep_ids)


@torch.no_grad()
def decode_prefilled(state: Prefilled, step: StepFn, *, max_new_tokens: int, repeat: int = 1,
                     keep_ids: bool = False) -> None:
    """``decode_steps`` from prompts already prefilled (``state``, consumed: its cache grows and shrinks).

    The evaluation prefills each context once and decodes several continuations from copies of it
    (``evaluation.onepass``); everything else goes through ``decode_steps``."""
    model, cache, logits, mask, next_pos = state.model, state.cache, state.logits, state.mask, state.next_pos
    device = logits.device
    if repeat > 1:
        cache.batch_repeat_interleave(repeat)
        logits, mask, next_pos = (t.repeat_interleave(repeat, 0) for t in (logits, mask, next_pos))
    seqs = state.ids.repeat_interleave(repeat, 0) if keep_ids else None
    active = torch.arange(logits.shape[0], device=device)
    for _ in range(max_new_tokens):
        chosen, keep = step(active, seqs, logits)
        if not keep:
            break
        if len(keep) < len(active):
            sel = torch.tensor(keep, device=device)
            cache.batch_select_indices(sel)
            active, chosen, mask, next_pos = active[sel], chosen[sel], mask[sel], next_pos[sel]
            if seqs is not None:
                seqs = seqs[sel]
        if seqs is not None:
            seqs = torch.cat([seqs, chosen.unsqueeze(-1)], -1)
        mask = torch.cat([mask, torch.ones(len(active), 1, dtype=mask.dtype, device=device)], -1)
        out = model(input_ids=chosen.unsqueeze(-1), attention_mask=mask, position_ids=next_pos.unsqueeze(-1),
                    **cache_kwargs(cache), use_cache=True)
        cache, logits, next_pos = cache_of(out), out.logits[:, -1].float(), next_pos + 1


def generate_completions(model: nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], *,
                         samples: int = 10, greedy: bool = True, top_p: float = 0.95, temperature: float = 1.0,
                         max_new_tokens: int = 64, batch_size: int = 8, max_context_tokens: int | Sequence[int] = 256,
                         seed: int = 0, first_line_only: bool = True, progress: bool = True,
                         desc: str = "generating",
                         logits_processor_factory: ProcessorFactory | None = None,
                         max_lines: int | None = None) -> list[Completions]:
    """Completes every prompt; returns one ``Completions`` per prompt, in input order.

    Sampling is seeded per batch (``seed + batch index``) and prompts are batched by length, so the
    same prompts, settings and seed give the same completions.

    Args:
        max_context_tokens: each prompt keeps its last this-many tokens (one number, or one per prompt).
        logits_processor_factory: called once per batch with that batch's prompts; returns the
            logits processor(s) for its rows (see ``sample_lines``) or None for plain decoding.
        max_lines: more than one line per completion (the ``window`` event): each row ends after this
            many lines or ``max_new_tokens``; None keeps the first-line rule (``first_line_only``).
    """
    if max_lines is not None and max_lines > 1:
        first_line_only = False
    encoded = encode_prompts(tokenizer, prompts, max_context_tokens)
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results = [Completions() for _ in prompts]
    common = dict(top_p=top_p, temperature=temperature, max_new_tokens=max_new_tokens,
                  first_line_only=first_line_only, max_lines=max_lines)
    bar = tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not progress, dynamic_ncols=True)
    for b, start in enumerate(range(0, len(order), batch_size)):
        idx = order[start:start + batch_size]
        batch_ids = [encoded[i] for i in idx]
        procs = logits_processor_factory([prompts[i] for i in idx]) if logits_processor_factory else None
        done = complete_batch(model, tokenizer, lambda: batch_ids, greedy=greedy, samples=samples, seed=seed + b,
                              logits_processor=procs, **common)
        for i, comp in zip(idx, done):
            results[i] = comp
        bar.update(len(idx))
    bar.close()
    return results


def complete_batch(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
                   source: Callable[[], list[list[int]] | Prefilled], *, greedy: bool, samples: int, seed: int,
                   logits_processor: LogitsProcessorArg = None, **common: object) -> list[Completions]:
    """One batch's ``Completions``: the greedy row and ``samples`` sampled rows of every prompt.

    ``source()`` gives the prompts to decode from, as token ids or a fresh ``Prefilled`` state (it is
    called once per decoding pass, since a pass consumes its state). ``common``: ``sample_lines``'s
    top_p, temperature, max_new_tokens, first_line_only and max_lines.
    """
    results: list[Completions] | None = None
    if greedy:
        outs = sample_lines(model, tokenizer, source(), n=1, do_sample=False, seed=seed,
                            logits_processor=logits_processor, **common)
        results = [Completions(greedy=tokenizer.decode(t, skip_special_tokens=True), greedy_ids=t, new_tokens=len(t))
                   for t in outs]
    if samples:
        outs = sample_lines(model, tokenizer, source(), n=samples, do_sample=True, seed=seed,
                            logits_processor=logits_processor, **common)
        results = results or [Completions() for _ in range(len(outs) // samples)]
        for j, comp in enumerate(results):
            mine = outs[j * samples:(j + 1) * samples]
            comp.samples = [tokenizer.decode(t, skip_special_tokens=True) for t in mine]
            comp.sample_ids = mine
            comp.new_tokens += sum(len(t) for t in mine)
    return results or []


def make_generator(model: nn.Module, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 8,
                   max_context_tokens: int = 2048) -> Generate:
    """A ``generate(prompts, *, n, temperature, max_new_tokens, stop, seed)`` callable over this model
    for whole-function benchmarks (HumanEval): n completions per prompt, greedy when temperature is 0,
    each row stopping at the first stop string."""

    def generate(prompts: Sequence[str], *, n: int, temperature: float, max_new_tokens: int,
                 stop: Sequence[str], seed: int) -> list[list[str]]:
        encoded = encode_prompts(tokenizer, prompts, max_context_tokens)
        out: list[list[str]] = []
        with merged_for_inference(model):  # a LoRA hotfix decodes as fast as the base
            for b, start in enumerate(range(0, len(prompts), batch_size)):
                toks = sample_lines(model, tokenizer, encoded[start:start + batch_size], n=n,
                                    do_sample=temperature > 0, top_p=1.0, temperature=max(temperature, 1e-5),
                                    max_new_tokens=max_new_tokens, seed=seed + b, first_line_only=False, stop=stop)
                texts = [tokenizer.decode(t, skip_special_tokens=True) for t in toks]
                out += [texts[i * n:(i + 1) * n] for i in range(len(texts) // n)]
        return out

    return generate
