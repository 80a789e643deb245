"""Request bodies of the HTTP server: OpenAI's completion and chat fields, and the admin bodies.

Every numeric field is bounded, so a value no generator can take (``seed: 2**70``) is a 422 naming
the field rather than a 500. Unknown fields are a 422 too (``extra="forbid"``): a client that sends a
field this server would ignore (``logprobs`` on an old server, a typo such as ``max_token``) learns
it from the answer instead of getting silently different output. OpenAI fields that are understood
but not implemented (``echo``, ``suffix``, ``best_of`` ≠ n, ``tools``, a JSON ``response_format``)
are accepted by the schema and refused by ``unsupported`` with a 400 that names them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from codehotfix.deploy.store import NAME_RULE, StoreError, check_name
from codehotfix.serve.decode import Sampling

__all__ = ["CompletionRequest", "ChatRequest", "ChatMessage", "LoadRequest", "EnableRequest", "RollbackRequest",
           "MAX_PROMPT_CHARS", "MAX_SEED", "MAX_TOP_LOGPROBS", "unsupported", "sampling_of"]

MAX_PROMPT_CHARS = 65536
# torch.manual_seed takes at most 64 bits; 2**63 - 1 also fits every client's signed int64.
MAX_SEED = 2**63 - 1
# OpenAI's own limit for chat top_logprobs; each alternative costs a decode per token.
MAX_TOP_LOGPROBS = 20
# Above any server's --max-new-tokens; the engine refuses what its own limit does not allow.
_MAX_TOKENS = 1 << 20
_Text = Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]
_Stop = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_Short = Annotated[str, StringConstraints(max_length=256)]


def _valid_name(value: str) -> str:
    try:  # the registry's own rule, so the CLI and the server accept the same names
        return check_name(value)
    except StoreError as e:
        raise ValueError(f"use {NAME_RULE}") from e


Name = Annotated[str, AfterValidator(_valid_name)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Optional[_Short] = None
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=8)
    stop: Optional[Union[_Stop, Annotated[list[_Stop], Field(max_length=4)]]] = None
    seed: Optional[int] = Field(None, ge=0, le=MAX_SEED)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    logit_bias: Optional[Annotated[dict[Annotated[str, StringConstraints(pattern=r"^\d{1,9}$")],
                                        Annotated[float, Field(ge=-100.0, le=100.0)]],
                                   Field(max_length=300)]] = None
    user: Optional[_Short] = None


class CompletionRequest(_Common):
    """POST /v1/completions. ``logprobs``: how many top alternatives per token (0: the chosen one)."""

    prompt: Union[_Text, Annotated[list[_Text], Field(min_length=1, max_length=16)]]
    max_tokens: int = Field(16, ge=1, le=_MAX_TOKENS)
    logprobs: Optional[int] = Field(None, ge=0, le=5)
    echo: bool = False
    best_of: Optional[int] = Field(None, ge=1, le=8)
    suffix: Optional[_Text] = None


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: _Text


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: Union[_Text, Annotated[list[_TextPart], Field(max_length=64)]]
    name: Optional[_Short] = None

    def text(self) -> dict[str, str]:
        """{"role", "content"} for a chat template (parts joined; "developer" is OpenAI's new "system")."""
        content = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": "system" if self.role == "developer" else self.role, "content": content}


class ChatRequest(_Common):
    """POST /v1/chat/completions. Without ``max_completion_tokens``/``max_tokens`` a completion may use
    the server's limit (as OpenAI's chat endpoint has no default); ``max_completion_tokens`` wins."""

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=64)]
    max_tokens: Optional[int] = Field(None, ge=1, le=_MAX_TOKENS)
    max_completion_tokens: Optional[int] = Field(None, ge=1, le=_MAX_TOKENS)
    logprobs: bool = False
    top_logprobs: Optional[int] = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    response_format: Optional[dict[str, Any]] = None
    tools: Optional[list[dict[str, Any]]] = None
    tool_choice: Optional[Union[str, dict[str, Any]]] = None
    parallel_tool_calls: Optional[bool] = None


def unsupported(req: Union[CompletionRequest, ChatRequest]) -> str | None:
    """The message of a 400 for an OpenAI field this server understands but does not implement, or None."""
    if isinstance(req, CompletionRequest):
        if req.echo:
            return "echo: true is not supported (the prompt is not returned); send echo: false"
        if req.suffix is not None:
            return "suffix is not supported (no fill-in-the-middle); leave it out"
        if req.best_of is not None and req.best_of != req.n:
            return f"best_of {req.best_of} is not supported (only best_of = n = {req.n}); leave it out"
        return None
    if req.tools or req.tool_choice not in (None, "none"):
        return "tools / tool_choice are not supported (no function calling); leave them out"
    if req.response_format is not None and req.response_format != {"type": "text"}:
        return "response_format is not supported (no JSON mode); leave it out or send {\"type\": \"text\"}"
    if req.top_logprobs is not None and not req.logprobs:
        return "top_logprobs needs logprobs: true"
    return None


def sampling_of(req: Union[CompletionRequest, ChatRequest]) -> Sampling:
    """The decoder's settings for a request (``max_tokens`` 0: as many as fit, for chat)."""
    if isinstance(req, CompletionRequest):
        max_tokens, logprobs = req.max_tokens, req.logprobs
    else:
        max_tokens = req.max_completion_tokens or req.max_tokens or 0
        logprobs = (req.top_logprobs or 0) if req.logprobs else None
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    return Sampling(max_tokens=max_tokens, temperature=req.temperature, top_p=req.top_p, stop=stop, seed=req.seed,
                    logprobs=logprobs, presence_penalty=req.presence_penalty,
                    frequency_penalty=req.frequency_penalty,
                    logit_bias=tuple((int(k), v) for k, v in (req.logit_bias or {}).items()))


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    name: Optional[Name] = None
    version: Optional[Name] = None
    canaries: Optional[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = None
    force: bool = False


class EnableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Optional[Name] = None


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Optional[Name] = None
