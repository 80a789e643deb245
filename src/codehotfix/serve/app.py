"""The HTTP server: OpenAI-compatible completions over a ``HotfixEngine``, plus admin and metrics.

Endpoints:
    POST /v1/completions, /v1/chat/completions   OpenAI request/response shapes, streamed as server-sent
                                                 events with ``stream: true``; plus ``hotfix_versions``
                                                 in the body and the ``X-Hotfix-Versions`` header:
                                                 what produced it. Needs the API key when one is set.
    GET  /v1/models                              the model list (API key too).
    GET  /health, /metrics                       liveness + served versions + batching, Prometheus text.
    /admin/...                                   list, load, enable, disable, rollback, sync; admin token.

Requests from all clients go through one ``Batcher``: they are decoded together in left-padded
batches (serve/batching.py). Bad requests get a 4xx with an OpenAI-style
``{"error": {"message", "type", "code"}}`` body whose message names the field: 400 (a server limit,
an unsupported OpenAI field), 401 (no or wrong API key; no admin token), 403 (wrong admin token, or
admin disabled), 404 (unknown model or hotfix), 409 (canary refused, nothing to roll back), 413 (body
over the size limit), 422 (a field out of range or unknown). Endpoints are plain functions, so
FastAPI runs them in its thread pool and waiting for a batch never blocks the event loop.

Run: ``CODEHOTFIX_API_KEY=… codehotfix serve --registry hotfixes/ --admin-token-file FILE`` (docs/serving.md).
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import threading
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, Optional, Union

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codehotfix.deploy.activation import AdapterLoadError
from codehotfix.deploy.canary import CanaryFailed
from codehotfix.deploy.store import StoreError, UnknownHotfix
from codehotfix.errors import CodehotfixError, DataError
from codehotfix.serve.batching import Batcher
from codehotfix.serve.decode import Row
from codehotfix.serve.engine import EngineConfig, Generation, HotfixEngine, RequestError
from codehotfix.serve.metrics import ServeMetrics
from codehotfix.serve.responses import SSE_DONE, chat_choice, completion_choice, sse, usage_of
from codehotfix.serve.schemas import (MAX_PROMPT_CHARS, ChatRequest, CompletionRequest, EnableRequest, LoadRequest,
                                      Name, RollbackRequest, sampling_of, unsupported)

__all__ = ["create_app", "build_app", "ADMIN_TOKEN_ENV", "API_KEY_ENV", "MAX_BODY_BYTES", "MAX_PROMPT_CHARS"]

ADMIN_TOKEN_ENV = "CODEHOTFIX_ADMIN_TOKEN"
API_KEY_ENV = "CODEHOTFIX_API_KEY"
MAX_BODY_BYTES = 1 << 20
# How long a request waits for its batch; far above any generation the server's limits allow.
_WAIT_S = 3600.0
log = logging.getLogger("codehotfix.serve")


def _error(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status, **extra}}, status_code=status)


class _BodyLimit:
    """ASGI middleware: 413 for a body over ``limit`` bytes, declared or streamed, before parsing."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await _error(413, f"request body is {int(declared)} bytes; the limit is {self.limit}")(scope, receive, send)
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:  # FastAPI re-raises HTTPException from body reading as is
                raise HTTPException(413, f"request body exceeds the limit of {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def _versions_header(versions: dict[str, str]) -> str:
    return ",".join(f"{n}={v}" for n, v in sorted(versions.items())) or "none"


def _bearer_check(secret: Optional[str], label: str, wrong_status: int) -> Callable[..., None]:
    """A dependency that demands ``Authorization: Bearer <secret>`` (compared in constant time)."""

    def check(creds: Optional[HTTPAuthorizationCredentials] = Depends(HTTPBearer(auto_error=False))) -> None:
        if creds is None:
            raise HTTPException(401, f"this endpoint needs the {label}: send 'Authorization: Bearer <{label}>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(creds.credentials.encode(), (secret or "").encode()):
            raise HTTPException(wrong_status, f"invalid {label}", headers={"WWW-Authenticate": "Bearer"})

    return check


@dataclass
class _Served:
    """What the route groups share."""

    engine: HotfixEngine
    batcher: Batcher
    metrics: ServeMetrics
    name: str
    started: float


def create_app(engine: HotfixEngine, *, admin_token: str | None = None, api_key: str | None = None,
               max_body_bytes: int = MAX_BODY_BYTES, served_model_name: str | None = None,
               max_batch_rows: int = 16, batch_window_s: float = 0.005) -> FastAPI:
    """Builds the FastAPI app serving ``engine``.

    Args:
        engine: a started engine.
        admin_token: bearer token for /admin (default: $CODEHOTFIX_ADMIN_TOKEN); without one the
            admin endpoints answer 403.
        api_key: bearer key for /v1 (default: $CODEHOTFIX_API_KEY); without one inference is open
            to anyone who can reach the port, and a warning is logged.
        max_body_bytes: request body size limit (413 above it).
        served_model_name: the id clients put in ``model`` (default: the engine's model id).
        max_batch_rows: rows (prompts × n) decoded together at most.
        batch_window_s: how long an idle batcher waits for more requests after the first.
    """
    token = admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    if not key:
        log.warning("no API key (%s): /v1 inference is open to anyone who can reach this port", API_KEY_ENV)
    metrics = ServeMetrics()
    metrics.set_active(engine.hotfix_versions)
    batcher = Batcher(engine.run, max_rows=max_batch_rows, window_s=batch_window_s, observe=metrics.observe_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        batcher.close()

    app = FastAPI(title="codehotfix", version="1", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.engine, app.state.metrics, app.state.batcher = engine, metrics, batcher
    app.state.admin_enabled, app.state.api_key_set = bool(token), bool(key)
    served = _Served(engine, batcher, metrics, served_model_name or engine.model_id, time.time())
    _install_middleware(app, metrics, max_body_bytes)
    _install_errors(app)
    inference = [Depends(_bearer_check(key, "API key", 401))] if key else []
    _inference_routes(app, served, inference)
    _info_routes(app, served, inference)
    _admin_routes(app, served, token)
    return app


def _install_middleware(app: FastAPI, metrics: ServeMetrics, max_body_bytes: int) -> None:
    app.add_middleware(_BodyLimit, limit=max_body_bytes)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        t0 = time.perf_counter()
        metrics.in_flight.inc()
        try:
            response = await call_next(request)
        finally:
            metrics.in_flight.dec()
        route = request.scope.get("route")
        metrics.observe(getattr(route, "path", "other"), response.status_code, time.perf_counter() - t0)
        return response


def _install_errors(app: FastAPI) -> None:
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


def _inference_routes(app: FastAPI, s: _Served, auth: list[Any]) -> None:
    def rows_for(req: Union[CompletionRequest, ChatRequest], prompts: list[str], **callbacks: Any) -> list[Row]:
        if (problem := unsupported(req)) is not None:
            raise RequestError(problem, 400)
        if req.model is not None and req.model != s.name:
            raise RequestError(f"model {req.model!r} is not served here; available: {s.name!r}", 404)
        return s.engine.rows(prompts, sampling_of(req), req.n, **callbacks)

    def respond(req: Union[CompletionRequest, ChatRequest], prompts: list[str], chat: bool) -> Response:
        if req.stream:
            return _stream(s, req, prompts, chat, rows_for)
        rows = rows_for(req, prompts)
        ticket = s.batcher.submit(rows)
        gen = Generation.of(rows, ticket.wait(_WAIT_S), ticket.seconds)
        s.metrics.count_tokens(gen.prompt_tokens, gen.completion_tokens)
        want = req.logprobs is not None and req.logprobs is not False
        if chat:
            choices = [chat_choice(i, t, r, gen.logprobs[i] if want else None)
                       for i, (t, r) in enumerate(zip(gen.texts, gen.finish_reasons))]
        else:
            choices = [completion_choice(i, t, r, gen.logprobs[i] if want else None)
                       for i, (t, r) in enumerate(zip(gen.texts, gen.finish_reasons))]
        body = {"id": f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}",
                "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
                "model": s.name, "choices": choices, "usage": usage_of(gen.prompt_tokens, gen.completion_tokens),
                "hotfix_versions": gen.hotfix_versions}
        return JSONResponse(body, headers={"X-Hotfix-Versions": _versions_header(gen.hotfix_versions)})

    @app.post("/v1/completions", dependencies=auth)
    def completions(req: CompletionRequest) -> Response:
        return respond(req, [req.prompt] if isinstance(req.prompt, str) else list(req.prompt), chat=False)

    @app.post("/v1/chat/completions", dependencies=auth)
    def chat(req: ChatRequest) -> Response:
        return respond(req, [s.engine.chat_prompt([m.text() for m in req.messages])], chat=True)


def _stream(s: _Served, req: Union[CompletionRequest, ChatRequest], prompts: list[str], chat: bool,
            rows_for: Callable[..., list[Row]]) -> StreamingResponse:
    """Server-sent events: the batch's rows call back per token into a queue this response drains.

    The response starts (headers, with the versions) only once the request's batch holds the
    engine's lock, so the ``X-Hotfix-Versions`` header is exact for streams too. A client that goes
    away stops its rows at the next token.
    """
    events: queue.Queue[tuple[Row | None, str, list]] = queue.Queue()
    gone = threading.Event()
    rows = rows_for(req, prompts, on_token=lambda row, delta, lps: events.put((row, delta, lps)),
                    cancelled=gone.is_set)
    ticket = s.batcher.submit(rows, on_done=lambda t: events.put((None, "", [])))
    if not ticket.started.wait(_WAIT_S) or (ticket.error is not None and ticket.done.is_set()):
        ticket.wait(0)  # raises the batch's error as a normal (non-stream) error answer
    ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
    head = {"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()), "model": s.name, "hotfix_versions": ticket.versions}
    want = req.logprobs is not None and req.logprobs is not False
    include_usage = bool(req.stream_options and req.stream_options.include_usage)

    def chunks() -> Iterator[str]:
        try:
            if chat:
                for r in rows:
                    yield sse({**head, "choices": [chat_choice(r.choice, "", None, [] if want else None, True, True)]})
            offsets = [0] * len(rows)
            while (item := events.get(timeout=_WAIT_S))[0] is not None:
                row, delta, lps = item
                lps = lps if want else None
                choice = (chat_choice(row.choice, delta, row.finish_reason, lps, delta=True) if chat else
                          completion_choice(row.choice, delta, row.finish_reason, lps, offsets[row.choice]))
                offsets[row.choice] += len(delta)
                yield sse({**head, "choices": [choice]})
            if ticket.error is not None:
                yield sse({"error": {"message": str(ticket.error), "type": "server_error", "code": 500}})
            else:
                gen = Generation.of(rows, ticket.versions, ticket.seconds)
                s.metrics.count_tokens(gen.prompt_tokens, gen.completion_tokens)
                if include_usage:
                    yield sse({**head, "choices": [], "usage": usage_of(gen.prompt_tokens, gen.completion_tokens)})
            yield SSE_DONE
        finally:
            gone.set()

    return StreamingResponse(chunks(), media_type="text/event-stream",
                             headers={"X-Hotfix-Versions": _versions_header(ticket.versions),
                                      "Cache-Control": "no-cache"})


def _info_routes(app: FastAPI, s: _Served, auth: list[Any]) -> None:
    @app.get("/v1/models", dependencies=auth)
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": s.name, "object": "model", "created": int(s.started),
                                            "owned_by": "codehotfix", "hotfix_versions": s.engine.hotfix_versions}]}

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": s.name, "hotfix_versions": s.engine.hotfix_versions,
                "uptime_seconds": round(time.time() - s.started, 1), "batching": s.batcher.stats.to_dict()}

    @app.get("/metrics")
    def prometheus() -> Response:
        body, content_type = s.metrics.render()
        return Response(body, media_type=content_type)


def _admin_routes(app: FastAPI, s: _Served, token: str | None) -> None:
    engine, metrics = s.engine, s.metrics
    check = _bearer_check(token, "admin token", 403)

    def admin(creds: Optional[HTTPAuthorizationCredentials] = Depends(HTTPBearer(auto_error=False))) -> None:
        if not token:
            raise HTTPException(403, f"admin API disabled: start the server with --admin-token-file or ${ADMIN_TOKEN_ENV}")
        check(creds)

    def swap(action: str, fn: Callable[..., dict[str, Any]], *args: str | None) -> dict[str, Any]:
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
    def enable(hotfix: Name, req: Optional[EnableRequest] = None) -> dict[str, Any]:
        return swap("enable", engine.enable, hotfix, req.version if req else None)

    @app.post("/admin/hotfixes/{hotfix}/disable", dependencies=[Depends(admin)])
    def disable(hotfix: Name) -> dict[str, Any]:
        return swap("disable", engine.disable, hotfix)

    @app.post("/admin/rollback", dependencies=[Depends(admin)])
    def rollback(req: Optional[RollbackRequest] = None) -> dict[str, Any]:
        return swap("rollback", engine.rollback, req.name if req else None)

    @app.post("/admin/sync", dependencies=[Depends(admin)])
    def sync() -> dict[str, Any]:
        return swap("sync", engine.sync)


def build_app(model: str | None, registry: str, *, cfg: EngineConfig | None = None, admin_token: str | None = None,
              api_key: str | None = None, dtype: str = "auto", threads: int | None = None, device: str | None = "auto",
              max_body_bytes: int = MAX_BODY_BYTES, served_model_name: str | None = None,
              max_batch_rows: int = 16, batch_window_s: float = 0.005) -> FastAPI:
    """Loads the model, opens (or creates) the registry, applies its enabled hotfixes and returns the app.

    Raises:
        CanaryFailed: an enabled hotfix shows no effect on this base (disable it or pass skip_canary).
    """
    from codehotfix.deploy.store import HotfixStore
    from codehotfix.models.loading import load_model

    store = HotfixStore(registry, create=True)
    engine = HotfixEngine(load_model(model, dtype=dtype, threads=threads, device=device), store, cfg)
    engine.start()
    return create_app(engine, admin_token=admin_token, api_key=api_key, max_body_bytes=max_body_bytes,
                      served_model_name=served_model_name, max_batch_rows=max_batch_rows,
                      batch_window_s=batch_window_s)
