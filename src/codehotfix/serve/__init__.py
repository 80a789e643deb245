"""Serving a base model with its enabled hotfixes: an OpenAI-compatible HTTP server (``app``) over
an engine that swaps hotfixes between requests (``engine``), with Prometheus metrics (``metrics``).

Run: ``codehotfix serve --registry hotfixes/`` (docs/serving.md).
"""

from codehotfix.extras import require_extra

require_extra("serve", "the server (codehotfix.serve)")  # one clear line instead of a fastapi ImportError

from codehotfix.serve.app import ADMIN_TOKEN_ENV, create_app  # noqa: E402
from codehotfix.serve.engine import EngineConfig, Generation, HotfixEngine, RequestError  # noqa: E402

__all__ = ["create_app", "ADMIN_TOKEN_ENV", "HotfixEngine", "EngineConfig", "Generation", "RequestError"]
