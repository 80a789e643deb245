"""OpenAI response bodies and server-sent-event chunks built from decoded rows."""

from __future__ import annotations

import json
from typing import Any, Sequence

from codehotfix.serve.decode import TokenLogprob

__all__ = ["completion_logprobs", "chat_logprobs", "completion_choice", "chat_choice", "sse", "SSE_DONE",
           "usage_of"]

SSE_DONE = "data: [DONE]\n\n"


def sse(obj: dict[str, Any]) -> str:
    return f"data: {json.dumps(obj)}\n\n"


def completion_logprobs(lps: Sequence[TokenLogprob], offset: int = 0) -> dict[str, Any]:
    """The legacy completions shape: parallel lists, ``top_logprobs`` a {token: logprob} per token."""
    offsets, at = [], offset
    for lp in lps:
        offsets.append(at)
        at += len(lp.token)
    return {"tokens": [lp.token for lp in lps], "token_logprobs": [lp.logprob for lp in lps],
            "top_logprobs": [dict(lp.top) for lp in lps], "text_offset": offsets}


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def chat_logprobs(lps: Sequence[TokenLogprob]) -> dict[str, Any]:
    """The chat shape: one entry per token with its ``top_logprobs`` alternatives."""
    return {"content": [{**_entry(lp.token, lp.logprob), "top_logprobs": [_entry(t, v) for t, v in lp.top]}
                        for lp in lps]}


def completion_choice(index: int, text: str, finish: str | None, lps: Sequence[TokenLogprob] | None,
                      offset: int = 0) -> dict[str, Any]:
    return {"index": index, "text": text, "finish_reason": finish,
            "logprobs": completion_logprobs(lps, offset) if lps is not None else None}


def chat_choice(index: int, text: str, finish: str | None, lps: Sequence[TokenLogprob] | None,
                delta: bool = False, first: bool = False) -> dict[str, Any]:
    if delta:
        message: dict[str, Any] = {"role": "assistant", "content": text} if first else (
            {"content": text} if text else {})
        key = "delta"
    else:
        message, key = {"role": "assistant", "content": text}, "message"
    return {"index": index, key: message, "finish_reason": finish,
            "logprobs": chat_logprobs(lps) if lps is not None else None}


def usage_of(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
