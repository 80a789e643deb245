"""Prometheus metrics of one server, in their own ``CollectorRegistry`` (so several apps in one
process, as in the tests, do not collide in the global registry)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics"]

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServeMetrics:
    """Requests, latency, tokens, in-flight requests, batch sizes, swaps and the active hotfix versions."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("codehotfix_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("codehotfix_request_seconds", "HTTP request latency by route", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("codehotfix_requests_in_flight", "HTTP requests being handled", registry=r)
        self.tokens = Counter("codehotfix_tokens", "Tokens processed, by kind (prompt, completion)", ["kind"],
                              registry=r)
        self.swaps = Counter("codehotfix_swaps", "Hotfix swaps by action and outcome", ["action", "outcome"],
                             registry=r)
        self.swap_pause = Histogram("codehotfix_swap_pause_seconds",
                                    "Time requests were held while a swap applied adapters and ran canaries",
                                    buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_requests = Histogram("codehotfix_batch_requests", "Requests decoded together per batch",
                                        buckets=(1, 2, 3, 4, 6, 8, 12, 16), registry=r)
        self.batch_rows = Histogram("codehotfix_batch_rows", "Rows (prompts x n) decoded together per batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.active = Gauge("codehotfix_hotfix_active", "1 for each hotfix version being served",
                            ["name", "version"], registry=r)

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, requests: int, rows: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_rows.observe(rows)

    def count_tokens(self, prompt: int, completion: int) -> None:
        self.tokens.labels("prompt").inc(prompt)
        self.tokens.labels("completion").inc(completion)

    def set_active(self, versions: dict[str, str]) -> None:
        self.active.clear()
        for name, version in versions.items():
            self.active.labels(name, version).set(1)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
