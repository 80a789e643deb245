"""``codehotfix serve``: the OpenAI-compatible server with hot-swappable hotfixes (docs/serving.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from codehotfix.cli import app


@app.command("serve")
def serve_cmd(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Base model: 'default', a hub id, a folder or a .gguf file."),
    registry: Path = typer.Option(Path("hotfixes"), "--registry", "-r", help="Hotfix registry folder (created if missing)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port."),
    admin_token: Optional[str] = typer.Option(None, "--admin-token", help="Bearer token for /admin "
                                              "(default: $CODEHOTFIX_ADMIN_TOKEN; none: admin disabled)."),
    mode: str = typer.Option("stack", "--mode", help="How enabled hotfixes combine: stack, merge_cat, merge_svd, …"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Largest max_tokens a request may ask for."),
    max_prompt_tokens: int = typer.Option(4096, "--max-prompt-tokens", help="Longest prompt accepted (tokens)."),
    max_concurrent: int = typer.Option(1, "--max-concurrent", help="Generations running at once."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="Request body limit (413 above)."),
    skip_canary: bool = typer.Option(False, "--skip-canary", help="Enable hotfixes without the canary check."),
    served_model_name: Optional[str] = typer.Option(None, "--served-model-name", help="Model id clients send."),
    dtype: str = typer.Option("auto", help="Model dtype."),
    threads: Optional[int] = typer.Option(None, help="Torch threads (default: all cores)."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the base model with the registry's enabled hotfixes; swap them live via /admin."""
    import uvicorn

    from codehotfix.serve.app import build_app
    from codehotfix.serve.engine import EngineConfig

    cfg = EngineConfig(mode=mode, max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens,
                       max_concurrent=max_concurrent, skip_canary=skip_canary)
    server = build_app(model, str(registry), cfg=cfg, admin_token=admin_token, dtype=dtype, threads=threads,
                       max_body_bytes=max_body_bytes, served_model_name=served_model_name)
    engine = server.state.engine
    print(f"codehotfix: serving {engine.model_id} with {engine.hotfix_versions or 'no hotfixes'} on "
          f"http://{host}:{port} (admin {'on' if server.state.admin_enabled else 'off'})", flush=True)
    uvicorn.run(server, host=host, port=port, log_level=log_level)
