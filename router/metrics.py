"""Prometheus metrics, one registry per app so several gateways can live in one process (tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "switchyard_requests_total",
            "Chat requests answered, by tier, model, outcome and cache status.",
            ["tier", "model", "status", "cache"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "switchyard_request_latency_seconds",
            "Time from request received to response finished, by tier.",
            ["tier", "stream"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.overhead = Histogram(
            "switchyard_overhead_seconds",
            "Time the gateway itself spent before calling the engine (validation, routing).",
            ["routed"],
            buckets=OVERHEAD_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "switchyard_tokens_total",
            "Tokens processed, by tier and kind (prompt or completion).",
            ["tier", "kind"],
            registry=self.registry,
        )
        self.cost = Counter(
            "switchyard_cost_usd_total",
            "Spend in US dollars at the policy's prices, by tier.",
            ["tier"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "switchyard_route_decisions_total",
            "Routing decisions for model=auto, by chosen tier.",
            ["tier"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "switchyard_fallbacks_total",
            "Requests moved to another tier after an upstream failure.",
            ["from_tier", "to_tier"],
            registry=self.registry,
        )
        self.tier_up = Gauge(
            "switchyard_tier_enabled",
            "1 when the tier is enabled by the policy and its configuration.",
            ["tier"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
