"""Prometheus metrics, one registry per app so several gateways can live in one process (tests).

Per-tenant/team series have a bounded number of label sets: the first ``SWITCHYARD_METRICS_MAX_TEAMS``
(tenant, team) pairs the gateway sees (default 50) keep their own labels for the life of the process;
every later pair is counted under tenant="other", team="other". First-come rather than "top N by
activity": a counter that changed labels when a tenant's rank changed would break rate() and
increase() in Prometheus. So each team series has at most (MAX_TEAMS + 1) x tiers x statuses children.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from policies.settings import current as current_settings
from policies.settings import env_name

if TYPE_CHECKING:
    from engines.vllm import PoolStats
    from policies.schema import Policy

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
MAX_TEAMS_ENV = env_name("metrics_max_teams")
OTHER = "other"


class TeamLabels:
    """Gives the first `cap` (tenant, team) pairs their own labels and folds the rest into 'other'."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._kept: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, tenant: str, team: str) -> tuple[str, str]:
        pair = (tenant, team)
        if pair in self._kept:
            return pair
        with self._lock:
            if len(self._kept) < self.cap and pair != (OTHER, OTHER):
                self._kept.add(pair)
                return pair
        return (OTHER, OTHER)

    @property
    def kept(self) -> int:
        return len(self._kept)


class Metrics:
    def __init__(self, max_teams: int | None = None) -> None:
        self.registry = CollectorRegistry()
        self.team_labels = TeamLabels(current_settings().metrics_max_teams if max_teams is None else max_teams)
        self.team_requests = Counter(
            "switchyard_team_requests_total",
            "Requests recorded in the ledger, by tenant, team, tier ('none' when no tier answered) and status. "
            f"Pairs past the first {MAX_TEAMS_ENV} are counted under tenant and team 'other'.",
            ["tenant", "team", "tier", "status"],
            registry=self.registry,
        )
        self.team_cost = Counter(
            "switchyard_team_cost_usd_total",
            "Spend charged to budgets in US dollars, by tenant, team and tier (cascade stages included in the answering tier's row).",
            ["tenant", "team", "tier"],
            registry=self.registry,
        )
        self._answered: dict[tuple[str, str, str, str, bool], tuple[Any, ...]] = {}
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
        self.cache_saved = Counter(
            "switchyard_cache_saved_usd_total",
            "What cache hits would have cost had the engine answered again, by the tier that first answered.",
            ["tier"],
            registry=self.registry,
        )
        self.over_reservation = Counter(
            "switchyard_cost_over_reservation_usd_total",
            "Cost upstreams reported beyond requests' reservations (their worst case), by tier: not charged to "
            "budgets, kept in the ledger's excess_nanousd for reconciliation. Non-zero means an upstream over-reports.",
            ["tier"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "switchyard_fallbacks_total",
            "Requests moved to another tier after an upstream failure.",
            ["from_tier", "to_tier"],
            registry=self.registry,
        )
        self.circuit_state = Gauge(
            "switchyard_circuit_state",
            "A tier's circuit breaker: 0 closed, 1 half-open (one probe allowed), 2 open (calls skip the tier).",
            ["tier"],
            registry=self.registry,
        )
        self.retries = Counter(
            "switchyard_upstream_retries_total",
            "Calls repeated on the same tier after a retryable failure (429, 5xx, timeout, connection error).",
            ["tier"],
            registry=self.registry,
        )
        self.circuit_skips = Counter(
            "switchyard_circuit_skips_total",
            "Calls not made because the tier's circuit breaker was open.",
            ["tier"],
            registry=self.registry,
        )
        self.tier_up = Gauge(
            "switchyard_tier_enabled",
            "1 when the tier is enabled by the policy and its configuration.",
            ["tier"],
            registry=self.registry,
        )
        # Self-hosted (vLLM) tiers: read from the replicas' own /metrics by the engine's scraper.
        self.tier_price = Gauge(
            "switchyard_tier_price_usd_per_mtok",
            "The price the gateway charges a tier at now, US dollars per million tokens, by kind (input or output).",
            ["tier", "kind"],
            registry=self.registry,
        )
        self.vllm_tokens_per_s = Gauge(
            "switchyard_vllm_tokens_per_second",
            "Decode tokens per second of a vLLM tier, all replicas together, over the latest scrape interval.",
            ["tier"],
            registry=self.registry,
        )
        self.vllm_busy_tokens_per_s = Gauge(
            "switchyard_vllm_busy_tokens_per_second",
            "Decode tokens per second of one replica while decoding, over the pricing window (what the price uses).",
            ["tier"],
            registry=self.registry,
        )
        self.vllm_acceptance = Gauge(
            "switchyard_vllm_spec_decode_acceptance_rate",
            "Accepted draft tokens / proposed draft tokens, all replicas of a tier together.",
            ["tier"],
            registry=self.registry,
        )
        self.vllm_acceptance_length = Gauge(
            "switchyard_vllm_spec_decode_mean_acceptance_length",
            "Tokens emitted per verification step (1 + accepted / drafts), all replicas of a tier together.",
            ["tier"],
            registry=self.registry,
        )
        self.vllm_replica_up = Gauge(
            "switchyard_vllm_replica_up", "1 when the replica answers /health.", ["tier", "replica"], registry=self.registry
        )
        self.vllm_replica_requests = Gauge(
            "switchyard_vllm_replica_requests",
            "Requests on a replica by state: running, waiting (its /metrics) and in_flight (from this gateway).",
            ["tier", "replica", "state"],
            registry=self.registry,
        )
        self.vllm_replica_kv_cache = Gauge(
            "switchyard_vllm_replica_kv_cache_usage", "KV-cache use of a replica, 0 to 1.", ["tier", "replica"], registry=self.registry
        )
        self.vllm_replica_tokens_per_s = Gauge(
            "switchyard_vllm_replica_tokens_per_second",
            "Decode tokens per second of a replica over the latest scrape interval.",
            ["tier", "replica"],
            registry=self.registry,
        )
        self.vllm_replica_served = Gauge(
            "switchyard_vllm_replica_routed",
            "Requests this gateway sent to a replica since it started, by why that replica was chosen.",
            ["tier", "replica", "reason"],
            registry=self.registry,
        )

    def answered(self, tier: str, model: str, status: str, cache: str, stream: bool, latency_s: float,
                 prompt: int, completion: int, cost_usd: float) -> None:
        """One request's counters. The labelled children are looked up once per label set and kept:
        prometheus_client's labels() takes a lock and builds a key on every call, on the hot path."""
        key = (tier, model, status, cache, stream)
        children = self._answered.get(key)
        if children is None:
            children = self._answered[key] = (
                self.requests.labels(tier, model, status, cache),
                self.latency.labels(tier, "true" if stream else "false"),
                self.tokens.labels(tier, "prompt"),
                self.tokens.labels(tier, "completion"),
                self.cost.labels(tier),
            )
        requests, latency, prompt_tokens, completion_tokens, spend = children
        requests.inc()
        latency.observe(latency_s)
        prompt_tokens.inc(prompt)
        completion_tokens.inc(completion)
        spend.inc(cost_usd)

    def recorded(self, tenant: str, team: str, tier: str | None, status: str, cost_usd: float) -> None:
        """One ledger row in the per-team series (called where every row is committed)."""
        tenant, team = self.team_labels(tenant, team)
        tier = tier or "none"
        self.team_requests.labels(tenant, team, tier, status).inc()
        if cost_usd > 0:
            self.team_cost.labels(tenant, team, tier).inc(cost_usd)

    def observe_prices(self, policy: Policy) -> None:
        for name, tier in policy.tiers.items():
            self.tier_price.labels(name, "input").set(float(tier.prices.input_per_mtok))
            self.tier_price.labels(name, "output").set(float(tier.prices.output_per_mtok))

    def observe_vllm(self, tier: str, stats: PoolStats) -> None:
        for gauge, value in (
            (self.vllm_tokens_per_s, stats.tokens_per_s),
            (self.vllm_busy_tokens_per_s, stats.busy_tokens_per_s),
            (self.vllm_acceptance, stats.spec_acceptance_rate),
            (self.vllm_acceptance_length, stats.spec_mean_acceptance_length),
        ):
            # A series the replicas do not publish (no speculative decoding) stays absent, not 0.
            if value is not None:
                gauge.labels(tier).set(value)
        for replica in stats.replicas:
            labels = (tier, replica.root)
            self.vllm_replica_up.labels(*labels).set(1 if replica.up else 0)
            self.vllm_replica_requests.labels(*labels, "running").set(replica.running)
            self.vllm_replica_requests.labels(*labels, "waiting").set(replica.waiting)
            self.vllm_replica_requests.labels(*labels, "in_flight").set(replica.in_flight)
            self.vllm_replica_kv_cache.labels(*labels).set(replica.kv_cache_usage)
            if replica.tokens_per_s is not None:
                self.vllm_replica_tokens_per_s.labels(*labels).set(replica.tokens_per_s)
            for reason, count in replica.served.items():
                self.vllm_replica_served.labels(*labels, reason).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
