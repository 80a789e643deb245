"""The server's decoding step: many requests, each with its own sampling settings, in one
left-padded batch with a shared key/value cache.

The loop itself (prefill, one token per step, finished rows dropped from the batch and the cache) is
``evaluation.generation.decode_steps``, the one every generator in codehotfix runs on. The
evaluation sampler's step takes one temperature, top-p and seed per call; a server batch mixes
requests that differ in all of these, wants log-probabilities with their top alternatives,
presence/frequency penalties, stop strings and a callback per token for streaming, so each sequence
here is a ``Row`` carrying its own settings and random generator, and ``_RowStep`` is the step.

Per step, for the rows still running: raw logits [rows, vocab] → logit bias and presence/frequency
penalties (``PenaltyProcessor``, on each row's generated-token counts) → log-probabilities (what
``logprobs`` reports) → greedy argmax, or temperature + top-p + a draw from the row's own generator.
A row leaves at end-of-text, a stop string, its token budget or when its client went away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import torch
from torch import nn

from codehotfix.evaluation.generation import decode_steps, special_token_ids
from codehotfix.models.loading import model_device

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["Sampling", "Row", "TokenLogprob", "PenaltyProcessor", "decode"]


@dataclass(frozen=True)
class Sampling:
    """One request's generation settings (validated by the HTTP layer).

    Attributes:
        max_tokens: new tokens at most.
        temperature: 0 is greedy.
        top_p: nucleus sampling mass.
        stop: strings that end a completion (not included in it).
        seed: a row's generator seed (sample k of a request uses seed + k); None draws one.
        logprobs: None, or how many top alternatives to report per token (0: the chosen token only).
        presence_penalty: subtracted once from every token already generated (OpenAI's definition).
        frequency_penalty: subtracted once per earlier occurrence of a token.
        logit_bias: token id → value added to its logit.
    """

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: tuple[tuple[int, float], ...] = ()


@dataclass
class TokenLogprob:
    """A generated token's text and log-probability, and the top alternatives at its step."""

    token: str
    logprob: float
    top: list[tuple[str, float]]


@dataclass
class Row:
    """One sequence: a prompt's token ids, its settings, and what has been generated so far.

    ``on_token(row, text_delta, logprob)`` (optional) is called from the decoding thread whenever the
    row's visible text grows or the row finishes (``finish_reason`` set); ``cancelled()`` (optional)
    stops a row whose client has gone.
    """

    prompt_ids: list[int]
    sampling: Sampling
    index: int = 0  # which sample of its prompt (seeds sample k with seed + k)
    choice: int = 0  # its place among the request's choices (prompt i, sample k: i * n + k)
    on_token: Callable[["Row", str, list[TokenLogprob]], None] | None = None
    cancelled: Callable[[], bool] | None = None
    tokens: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    _sent: int = 0  # characters of ``text`` already passed to on_token
    _sent_logprobs: int = 0

    @property
    def visible(self) -> str:
        """The text so far, less a tail that could still turn into a stop string or is an incomplete
        UTF-8 character (the byte-level decoder shows those as U+FFFD until the next token)."""
        if self.finish_reason is not None:
            return self.text
        hold = len(self.text) - len(self.text.rstrip("\ufffd"))
        for s in self.sampling.stop:
            for k in range(min(len(s) - 1, len(self.text)), 0, -1):
                if self.text.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        return self.text[: len(self.text) - hold]


class PenaltyProcessor:
    """OpenAI's presence and frequency penalties and logit bias, per row, as a logits processor:
    ``logits[j] -= count[j] * frequency + (count[j] > 0) * presence; logits[j] += bias[j]``, where
    count[j] is how often token j occurs in the row's generated tokens (not its prompt).

    Args:
        rows: the rows of the batch, in their order at the start.
        vocab: logits width.
    """

    def __init__(self, rows: Sequence[Row], vocab: int, device: torch.device) -> None:
        self.counts = torch.zeros(len(rows), vocab, device=device)
        self.presence = torch.tensor([[r.sampling.presence_penalty] for r in rows], device=device)
        self.frequency = torch.tensor([[r.sampling.frequency_penalty] for r in rows], device=device)
        self.bias = torch.zeros(len(rows), vocab, device=device)
        for i, r in enumerate(rows):
            for tok, value in r.sampling.logit_bias:
                if 0 <= tok < vocab:
                    self.bias[i, tok] = value

    @staticmethod
    def needed(rows: Sequence[Row]) -> bool:
        return any(r.sampling.presence_penalty or r.sampling.frequency_penalty or r.sampling.logit_bias
                   for r in rows)

    def __call__(self, active: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``active``: [rows] indices into the starting rows; ``logits``: [rows, vocab] raw scores."""
        counts = self.counts[active]
        return (logits - counts * self.frequency[active] - (counts > 0).float() * self.presence[active]
                + self.bias[active])

    def update(self, active: torch.Tensor, chosen: torch.Tensor) -> None:
        self.counts[active, chosen] += 1


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """``probs`` [vocab] with everything outside the smallest set of mass >= top_p zeroed."""
    if top_p >= 1.0:
        return probs
    sorted_p, order = probs.sort(descending=True)
    outside = sorted_p.cumsum(-1) - sorted_p >= top_p  # the token that crosses top_p stays in
    sorted_p[outside] = 0.0
    return torch.zeros_like(probs).scatter(-1, order, sorted_p)


def _generator(row: Row, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    if row.sampling.seed is None:
        gen.seed()
    else:  # sample k gets seed + k: distinct samples, each reproducible whatever else is in the batch
        gen.manual_seed((row.sampling.seed + row.index) % 2**64)
    return gen


def decode(model: nn.Module, tokenizer: PreTrainedTokenizerBase, rows: Sequence[Row]) -> None:
    """Generates every row to its end, in one batch; fills in ``tokens``, ``text``, ``logprobs`` and
    ``finish_reason`` (``"stop"``: end-of-text or a stop string, ``"length"``: max_tokens) in place.
    """
    pad_id, eos = special_token_ids(tokenizer)
    step = _RowStep(rows, tokenizer, eos, model_device(model))
    decode_steps(model, [r.prompt_ids for r in rows], step, pad_id=pad_id,
                 max_new_tokens=max(r.sampling.max_tokens for r in rows))
    for r in rows:  # rows still running when the loop ended on max_tokens
        if r.finish_reason is None:
            _finish(r, "length")


class _RowStep:
    """``decode_steps``'s step for server rows: penalties, log-probs, each row's own sampling and
    generator, then ``_advance`` (stop strings, budget, streaming callback) per row."""

    def __init__(self, rows: Sequence[Row], tokenizer: PreTrainedTokenizerBase, eos: set[int],
                 device: torch.device) -> None:
        self.rows, self.tokenizer, self.eos = rows, tokenizer, eos
        self.gens = [_generator(r, device) for r in rows]
        self.device = device
        self.wants_penalties = PenaltyProcessor.needed(rows)
        self.penalties: PenaltyProcessor | None = None  # built at the first step, which knows the vocabulary

    def __call__(self, active: torch.Tensor, seqs: torch.Tensor | None,
                 logits: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        if self.wants_penalties and self.penalties is None:
            self.penalties = PenaltyProcessor(self.rows, logits.shape[-1], self.device)
        if self.penalties is not None:
            logits = self.penalties(active, logits)
        logp = torch.log_softmax(logits, -1)
        order = active.tolist()
        chosen = _choose(logits, [self.rows[i] for i in order], [self.gens[i] for i in order])
        if self.penalties is not None:
            self.penalties.update(active, chosen)
        keep = [j for j, (i, tok) in enumerate(zip(order, chosen.tolist()))
                if _advance(self.rows[i], tok, logp[j], self.tokenizer, self.eos)]
        return chosen, keep


def _choose(logits: torch.Tensor, rows: Sequence[Row], gens: Sequence[torch.Generator]) -> torch.Tensor:
    """The next token of each row: argmax for greedy rows, a draw from the row's generator otherwise."""
    chosen = logits.argmax(-1)
    for j, (r, gen) in enumerate(zip(rows, gens)):
        s = r.sampling
        if s.temperature > 0:
            probs = _top_p(torch.softmax(logits[j] / s.temperature, -1), s.top_p)
            chosen[j] = torch.multinomial(probs, 1, generator=gen)[0]
    return chosen


def _advance(row: Row, tok: int, logp: torch.Tensor, tokenizer: PreTrainedTokenizerBase, eos: set[int]) -> bool:
    """Adds ``tok`` to ``row``; returns whether the row goes on."""
    if row.cancelled is not None and row.cancelled():
        row.finish_reason = "cancelled"
        return False
    if tok in eos:
        _finish(row, "stop")
        return False
    row.tokens.append(tok)
    if row.sampling.logprobs is not None:
        k = row.sampling.logprobs
        top = []
        if k:
            values, idx = logp.topk(k)
            top = [(tokenizer.decode([t]), round(v, 6)) for t, v in zip(idx.tolist(), values.tolist())]
        row.logprobs.append(TokenLogprob(tokenizer.decode([tok]), round(logp[tok].item(), 6), top))
    # Decoding the whole row each step (not token by token) keeps multi-token characters whole.
    row.text = tokenizer.decode(row.tokens, skip_special_tokens=True)
    cut = min((row.text.find(s) for s in row.sampling.stop if s in row.text), default=-1)
    if cut >= 0:
        row.text = row.text[:cut]
        _finish(row, "stop")
        return False
    if len(row.tokens) >= row.sampling.max_tokens:
        _finish(row, "length")
        return False
    _emit(row)
    return True


def _finish(row: Row, reason: str) -> None:
    row.finish_reason = reason
    _emit(row)


def _emit(row: Row) -> None:
    if row.on_token is None:
        return
    visible = row.visible
    delta, lps = visible[row._sent:], row.logprobs[row._sent_logprobs:]
    if delta or lps or row.finish_reason is not None:
        row._sent, row._sent_logprobs = len(visible), len(row.logprobs)
        row.on_token(row, delta, lps)
