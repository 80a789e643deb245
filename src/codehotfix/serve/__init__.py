"""Serving a base model with its enabled hotfixes: an OpenAI-compatible HTTP server (``app``) over
an engine that swaps hotfixes between requests (``engine``), with Prometheus metrics (``metrics``).

Run: ``codehotfix serve --registry hotfixes/`` (docs/serving.md).
"""

from codehotfix.serve.app import ADMIN_TOKEN_ENV, create_app
from codehotfix.serve.engine import EngineConfig, Generation, HotfixEngine, RequestError

__all__ = ["create_app", "ADMIN_TOKEN_ENV", "HotfixEngine", "EngineConfig", "Generation", "RequestError"]
