"""``codehotfix serve``: the OpenAI-compatible server with hot-swappable hotfixes (docs/serving.md)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Optional

import typer

from codehotfix.cli import _options as opt
from codehotfix.cli import app


def read_secret_file(path: Path, option: str) -> str:
    """A token or key kept in a file (stripped).

    Raises:
        CodehotfixError: an unreadable or empty file, naming the option.
    """
    from codehotfix.errors import CodehotfixError

    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise CodehotfixError(f"{option} {path}: cannot read it ({e.__class__.__name__})") from None
    if not secret:
        raise CodehotfixError(f"{option} {path}: the file is empty")
    if os.stat(path).st_mode & 0o077:
        warnings.warn(f"{option} {path} is readable by other users; chmod 600 it", stacklevel=2)
    return secret


def read_admin_token(path: Optional[Path], flag: Optional[str]) -> Optional[str]:
    """The admin token: from ``path``, else the ``--admin-token`` flag (warns), else
    $CODEHOTFIX_ADMIN_TOKEN, else None (admin disabled).

    Raises:
        CodehotfixError: an unreadable or empty token file, naming it.
    """
    from codehotfix.serve.app import ADMIN_TOKEN_ENV

    if path is not None:
        return read_secret_file(path, "--admin-token-file")
    if flag is not None:
        warnings.warn(f"--admin-token puts the token in the command line, visible to every local user in `ps`; "
                      f"use --admin-token-file or ${ADMIN_TOKEN_ENV} (the flag is for tests)", stacklevel=2)
        return flag
    return os.environ.get(ADMIN_TOKEN_ENV) or None


@app.command("serve")
def serve_cmd(
    model: Optional[str] = opt.model(),
    registry: Path = opt.registry(),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", "-p", help="Port."),
    admin_token_file: Optional[Path] = typer.Option(None, "--admin-token-file", help="File holding the bearer "
                                                    "token for /admin (default: $CODEHOTFIX_ADMIN_TOKEN; "
                                                    "neither: admin disabled)."),
    admin_token: Optional[str] = typer.Option(None, "--admin-token", help="For tests only: the token is visible "
                                              "to every local user in `ps`; use the file or the variable."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="File holding the bearer key "
                                                "for /v1 (default: $CODEHOTFIX_API_KEY; neither: inference "
                                                "open to anyone who reaches the port, with a warning)."),
    max_batch_rows: int = typer.Option(16, "--max-batch-rows", help="Rows (prompts x n) decoded together."),
    batch_window_ms: float = typer.Option(5.0, "--batch-window-ms", help="How long an idle server waits for "
                                          "more requests to batch with the first."),
    mode: str = typer.Option("stack", "--mode", help="How enabled hotfixes combine: stack, merge_cat, merge_svd, …"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Largest max_tokens a request may ask for."),
    max_prompt_tokens: int = typer.Option(4096, "--max-prompt-tokens", help="Longest prompt accepted (tokens)."),
    max_concurrent: int = typer.Option(1, "--max-concurrent", help="Generations running at once."),
    max_body_bytes: int = typer.Option(1 << 20, "--max-body-bytes", help="Request body limit (413 above)."),
    canary: bool = opt.canary(),
    served_model_name: Optional[str] = typer.Option(None, "--served-model-name", help="Model id clients send."),
    dtype: str = typer.Option("auto", help="Model dtype."),
    threads: Optional[int] = opt.threads(),
    device: str = opt.device(),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    skip_canary: bool = opt.deprecated("--skip-canary", "--no-canary", default=False),
) -> None:
    """Serve the base model with the registry's enabled hotfixes (the registry is created if missing);
    swap them live via /admin."""
    import uvicorn

    from codehotfix.serve.app import build_app
    from codehotfix.serve.engine import EngineConfig

    token = read_admin_token(admin_token_file, admin_token)
    key = read_secret_file(api_key_file, "--api-key-file") if api_key_file is not None else None
    cfg = EngineConfig(mode=mode, max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens,
                       max_concurrent=max_concurrent, skip_canary=skip_canary or not canary)
    server = build_app(model, str(registry), cfg=cfg, admin_token=token, api_key=key,
                       max_batch_rows=max_batch_rows, batch_window_s=batch_window_ms / 1000, dtype=dtype, threads=threads,
                       device=device, max_body_bytes=max_body_bytes, served_model_name=served_model_name)
    engine = server.state.engine
    print(f"codehotfix: serving {engine.model_id} with {engine.hotfix_versions or 'no hotfixes'} on "
          f"http://{host}:{port} (admin {'on' if server.state.admin_enabled else 'off'}, "
          f"API key {'required' if server.state.api_key_set else 'NOT SET: inference is open'})", flush=True)
    uvicorn.run(server, host=host, port=port, log_level=log_level)
