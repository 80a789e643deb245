"""The HTTP server: OpenAI-compatible completions over a ``HotfixEngine``, plus admin and metrics.

Endpoints:
    POST /v1/completions, /v1/chat/completions   OpenAI request/response shapes (no streaming), plus
                                                 ``hotfix_versions`` in the body and the
                                                 ``X-Hotfix-Versions`` header: what produced it.
    GET  /v1/models, /health, /metrics           model list, liveness + served versions, Prometheus text.
    /admin/...                                   list, load, enable, disable, rollback, sync; bearer token.

Bad requests get a 4xx with an OpenAI-style ``{"error": {"message", "type", "code"}}`` body whose
message names the field: 401 (no token), 403 (wrong token, or admin disabled), 404 (unknown model
or hotfix), 409 (canary refused, nothing to roll back), 413 (body over the size limit), 422 (a
field out of range). Endpoints are plain functions, so FastAPI runs them in its thread pool and a
generation never blocks the event loop (health and metrics stay responsive during a swap).

Run: ``codehotfix serve --registry hotfixes/ --admin-token …`` (see docs/serving.md).
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from typing import Annotated, Any, Literal, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from codehotfix.deploy.activation import AdapterLoadError
from codehotfix.deploy.canary import CanaryFailed
from codehotfix.deploy.store import NAME_RULE, StoreError, UnknownHotfix, check_name
from codehotfix.errors import CodehotfixError, DataError
from codehotfix.serve.engine import Generation, HotfixEngine, RequestError
from codehotfix.serve.metrics import ServeMetrics

__all__ = ["create_app", "build_app", "ADMIN_TOKEN_ENV", "MAX_BODY_BYTES", "MAX_PROMPT_CHARS"]

ADMIN_TOKEN_ENV = "CODEHOTFIX_ADMIN_TOKEN"
MAX_BODY_BYTES = 1 << 20
MAX_PROMPT_CHARS = 65536
_Text = Annotated[str, StringConstraints(max_length=MAX_PROMPT_CHARS)]
_Stop = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _valid_name(value: str) -> str:
    try:  # the registry's own rule, so the CLI and the server accept the same names
        return check_name(value)
    except StoreError as e:
        raise ValueError(f"use {NAME_RULE}") from e


_Name = Annotated[str, AfterValidator(_valid_name)]
# torch.manual_seed takes at most 64 bits; 2**63 - 1 also fits every client's signed int64.
MAX_SEED = 2**63 - 1


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Optional[Annotated[str, StringConstraints(max_length=256)]] = None
    max_tokens: int = Field(16, ge=1, le=4096)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=8)
    stop: Optional[Union[_Stop, Annotated[list[_Stop], Field(max_length=4)]]] = None
    seed: Optional[int] = Field(None, ge=0, le=MAX_SEED)
    stream: bool = False
    user: Optional[Annotated[str, StringConstraints(max_length=256)]] = None


class CompletionRequest(_Sampling):
    prompt: Union[_Text, Annotated[list[_Text], Field(min_length=1, max_length=16)]]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: _Text


class ChatRequest(_Sampling):
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=64)]


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    name: Optional[_Name] = None
    version: Optional[_Name] = None
    canaries: Optional[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = None
    force: bool = False


class EnableRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Optional[_Name] = None


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Optional[_Name] = None


def _error(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status, **extra}}, status_code=status)


class _BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, declared or streamed, before parsing."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _error(413, f"request body is {int(declared)} bytes; the limit is {self.limit}")(scope, receive, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI re-raises HTTPException from body reading as is
                raise HTTPException(413, f"request body exceeds the limit of {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def _versions_header(versions: dict[str, str]) -> str:
    return ",".join(f"{n}={v}" for n, v in sorted(versions.items())) or "none"


def create_app(engine: HotfixEngine, *, admin_token: str | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               served_model_name: str | None = None) -> FastAPI:
    """Builds the FastAPI app serving ``engine``.

    Args:
        engine: a started engine.
        admin_token: bearer token for /admin (default: $CODEHOTFIX_ADMIN_TOKEN); without one the
            admin endpoints answer 403.
        max_body_bytes: request body size limit (413 above it).
        served_model_name: the id clients put in ``model`` (default: the engine's model id).
    """
    token = admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
    name = served_model_name or engine.model_id
    metrics = ServeMetrics()
    metrics.set_active(engine.hotfix_versions)
    started = time.time()
    app = FastAPI(title="codehotfix", version="1", docs_url=None, redoc_url=None)
    app.state.engine, app.state.metrics, app.state.admin_enabled = engine, metrics, bool(token)
    app.add_middleware(_BodyLimit, limit=max_body_bytes)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Any) -> Response:
        t0 = time.perf_counter()
        metrics.in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            metrics.in_flight.dec()
        route = request.scope.get("route")
        metrics.observe(getattr(route, "path", "other"), response.status_code, time.perf_counter() - t0)
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return _error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(CodehotfixError)
    async def _ours(request: Request, exc: CodehotfixError) -> JSONResponse:
        if isinstance(exc, CanaryFailed):
            return _error(409, str(exc), "canary_failed", canary=exc.result.to_dict())
        if isinstance(exc, RequestError):
            return _error(exc.status, str(exc))
        if isinstance(exc, UnknownHotfix):
            return _error(404, str(exc), "not_found")
        if isinstance(exc, (AdapterLoadError, DataError)):
            return _error(422, str(exc))
        if isinstance(exc, StoreError):
            return _error(409, str(exc), "conflict")
        return _error(400, str(exc))

    bearer = HTTPBearer(auto_error=False)

    def admin(creds: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        if not token:
            raise HTTPException(403, f"admin API disabled: start the server with --admin-token or ${ADMIN_TOKEN_ENV}")
        if creds is None:
            raise HTTPException(401, "admin endpoints need 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(403, "invalid admin token")

    def check_request(req: _Sampling) -> None:
        if req.stream:
            raise RequestError("stream=true is not supported by this server; send stream=false", 400)
        if req.model is not None and req.model != name:
            raise RequestError(f"model {req.model!r} is not served here; available: {name!r}", 404)

    def usage(gen: Generation) -> dict[str, int]:
        metrics.tokens.labels("prompt").inc(gen.prompt_tokens)
        metrics.tokens.labels("completion").inc(gen.completion_tokens)
        return {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                "total_tokens": gen.prompt_tokens + gen.completion_tokens}

    def sampling(req: _Sampling) -> dict[str, Any]:
        stop = [req.stop] if isinstance(req.stop, str) else (req.stop or [])
        return {"max_tokens": req.max_tokens, "temperature": req.temperature, "top_p": req.top_p, "n": req.n,
                "stop": stop, "seed": req.seed}

    def reply(body: dict[str, Any], gen: Generation) -> JSONResponse:
        return JSONResponse(body, headers={"X-Hotfix-Versions": _versions_header(gen.hotfix_versions)})

    @app.post("/v1/completions")
    def completions(req: CompletionRequest) -> JSONResponse:
        check_request(req)
        prompts = [req.prompt] if isinstance(req.prompt, str) else req.prompt
        gen = engine.generate(prompts, **sampling(req))
        choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": r}
                   for i, (t, r) in enumerate(zip(gen.texts, gen.finish_reasons))]
        return reply({"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                      "model": name, "choices": choices, "usage": usage(gen),
                      "hotfix_versions": gen.hotfix_versions}, gen)

    @app.post("/v1/chat/completions")
    def chat(req: ChatRequest) -> JSONResponse:
        check_request(req)
        prompt = engine.chat_prompt([m.model_dump() for m in req.messages])
        gen = engine.generate([prompt], **sampling(req))
        choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": r}
                   for i, (t, r) in enumerate(zip(gen.texts, gen.finish_reasons))]
        return reply({"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                      "created": int(time.time()), "model": name, "choices": choices, "usage": usage(gen),
                      "hotfix_versions": gen.hotfix_versions}, gen)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": int(started),
                                            "owned_by": "codehotfix", "hotfix_versions": engine.hotfix_versions}]}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "hotfix_versions": engine.hotfix_versions,
                "uptime_seconds": round(time.time() - started, 1)}

    @app.get("/metrics")
    def prometheus() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    def swap(action: str, fn: Any, *args: Any) -> dict[str, Any]:
        try:
            result = fn(*args)
        except CanaryFailed:
            metrics.swaps.labels(action, "canary_failed").inc()
            raise
        except Exception:
            metrics.swaps.labels(action, "error").inc()
            raise
        metrics.swaps.labels(action, "ok").inc()
        metrics.swap_pause.observe(result["pause_seconds"])
        metrics.set_active(engine.hotfix_versions)
        return result

    @app.get("/admin/hotfixes", dependencies=[Depends(admin)])
    def list_hotfixes() -> dict[str, Any]:
        return {"served": engine.status(), "hotfixes": engine.store.listing()}

    @app.get("/admin/history", dependencies=[Depends(admin)])
    def history() -> dict[str, Any]:
        return {"history": engine.store.history()}

    @app.post("/admin/hotfixes", dependencies=[Depends(admin)], status_code=201)
    def load(req: LoadRequest) -> dict[str, Any]:
        return engine.load(req.path, name=req.name, version=req.version, canaries=req.canaries, force=req.force)

    @app.post("/admin/hotfixes/{hotfix}/enable", dependencies=[Depends(admin)])
    def enable(hotfix: _Name, req: Optional[EnableRequest] = None) -> dict[str, Any]:
        return swap("enable", engine.enable, hotfix, req.version if req else None)

    @app.post("/admin/hotfixes/{hotfix}/disable", dependencies=[Depends(admin)])
    def disable(hotfix: _Name) -> dict[str, Any]:
        return swap("disable", engine.disable, hotfix)

    @app.post("/admin/rollback", dependencies=[Depends(admin)])
    def rollback(req: Optional[RollbackRequest] = None) -> dict[str, Any]:
        return swap("rollback", engine.rollback, req.name if req else None)

    @app.post("/admin/sync", dependencies=[Depends(admin)])
    def sync() -> dict[str, Any]:
        return swap("sync", engine.sync)

    return app


def build_app(model: str | None, registry: str, *, cfg: Any = None, admin_token: str | None = None,
              dtype: str = "auto", threads: int | None = None, max_body_bytes: int = MAX_BODY_BYTES,
              served_model_name: str | None = None) -> FastAPI:
    """Loads the model, opens (or creates) the registry, applies its enabled hotfixes and returns the app.

    Raises:
        CanaryFailed: an enabled hotfix shows no effect on this base (disable it or pass skip_canary).
    """
    from codehotfix.deploy.store import HotfixStore
    from codehotfix.models.loading import load_model

    store = HotfixStore(registry, create=True)
    engine = HotfixEngine(load_model(model, dtype=dtype, threads=threads), store, cfg)
    engine.start()
    return create_app(engine, admin_token=admin_token, max_body_bytes=max_body_bytes,
                      served_model_name=served_model_name)
