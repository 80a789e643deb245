"""Serving a base model with its enabled hotfixes: an OpenAI-compatible HTTP server (``app``) over
an engine that swaps hotfixes between requests (``engine``), requests of all clients decoded together
(``batching``, ``decode``), and Prometheus metrics (``metrics``).

Run: ``codehotfix serve --registry hotfixes/`` (docs/serving.md).
"""

from codehotfix.extras import require_extra

require_extra("serve", "the server (codehotfix.serve)")  # one clear line instead of a fastapi ImportError

from codehotfix.serve.app import ADMIN_TOKEN_ENV, API_KEY_ENV, create_app  # noqa: E402
from codehotfix.serve.batching import Batcher  # noqa: E402
from codehotfix.serve.decode import Sampling  # noqa: E402
from codehotfix.serve.engine import EngineConfig, Generation, HotfixEngine, RequestError  # noqa: E402

__all__ = ["create_app", "ADMIN_TOKEN_ENV", "API_KEY_ENV", "HotfixEngine", "EngineConfig", "Generation",
           "RequestError", "Batcher", "Sampling"]
