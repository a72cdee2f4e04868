"""The policy schema: what operators write in YAML, validated by pydantic.

A tier's fields depend on its engine: `tiers` is a union of one settings class per registered engine
kind, told apart by `engine` (policies/tier.py has what every tier shares, engines/factory.py each
kind's own). Cross-references between sections (fallbacks naming tiers, thresholds naming tiers) and a
kind's required settings are checked in `policies.loader`, which reports each problem with its place
in the file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from engines.factory import kinds, tier_union
from policies.tier import (
    MILLION,
    BreakerSettings,
    Capabilities,
    Effort,
    EnabledWhen,
    Prices,
    Reasoning,
    Strict,
    Tier,
    Timeouts,
)

__all__ = ["MILLION", "Capabilities", "Effort", "EnabledWhen", "EngineKind", "Policy", "Prices", "Reasoning", "Tier", "Timeouts"]

EngineKind = Literal[tuple(kinds())]  # type: ignore[valid-type]  # the registered kinds (engines/factory.py)
# What a policy's `tiers` holds: the registered kinds' settings classes, by `engine`.
AnyTier = tier_union()


class RetrySettings(Strict):
    """Retries of one tier before falling back, for 429, 5xx, timeouts and connection errors only."""

    attempts: int = Field(default=2, ge=1, le=10, description="Calls to one tier per request, the first included.")
    base_delay_s: float = Field(default=0.05, ge=0, le=60)
    max_delay_s: float = Field(default=2.0, ge=0, le=600)
    max_retry_after_s: float = Field(
        default=5.0, ge=0, le=600, description="A longer Retry-After is not waited for: the request falls back instead."
    )
    budget_s: float = Field(default=10.0, gt=0, le=3600, description="Most time one request may spend waiting between attempts.")


class Resilience(Strict):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)


class Cascade(Strict):
    """Answer with the cheapest tier first; escalate while its confidence is below `min_confidence`.

    Applies to routed (model "auto"), non-streamed requests without tools; other requests route
    as usual. Confidence is exp(mean token log-probability) of the answer, which OpenAI-compatible
    upstreams report when asked (`logprobs`); a tier that reports none counts as not confident.
    """

    tiers: list[str] = Field(min_length=2, description="Cheapest first; the last tier's answer is final.")
    min_confidence: float = Field(ge=0, le=1)
    signal: Literal["logprob"] = "logprob"


class AgentLoops(Strict):
    """Conversations an agent sends again and again, tool results between turns (router/conversations.py)."""

    sticky: bool = Field(default=True, description="Keep a tool chain on the tier its conversation is on.")
    escalate_mid_chain: bool = Field(
        default=False, description="Mid-chain, a step routing scores harder may move to a dearer tier (never to a cheaper one).")


class Routing(Strict):
    cascade: Cascade | None = None
    agent: AgentLoops = Field(default_factory=AgentLoops)
    classifier: str = Field(
        default="default",
        description="'default' (bundled trained artifact), 'rules' (length rule), or an artifact path.",
    )
    quality_target: float | None = Field(default=None, ge=0, le=1)
    thresholds: dict[str, float] | None = None
    long_prompt_words: int = Field(default=400, ge=1)
    budget_downgrade_below: float | None = Field(
        default=None, ge=0, le=1, description="Route to the cheapest tier when a covering budget has less than this share left."
    )

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            for tier, threshold in value.items():
                if not 0.0 <= threshold <= 1.0:
                    raise ValueError(f"threshold for {tier!r} must be within [0, 1], got {threshold}")
        return value


class CacheSettings(Strict):
    """Response caches. Entries are scoped to the tenant unless `share_across_tenants` is set."""

    exact: bool = True
    # Off until its calibrated rule meets max_false_hit_rate on the held-out report half of
    # bench/data/semantic_eval.jsonl (router/cache/calibration.json; `serve` logs the figures).
    semantic: bool = False
    semantic_threshold: float = Field(default=0.93, ge=0.5, le=1.0,
                                      description="Cosine similarity a semantic candidate needs; the verifier then decides.")
    max_false_hit_rate: float = Field(default=0.01, gt=0, lt=1, description=(
        "Bound on the share of semantic hits that serve another prompt's answer; the verifier's rule is calibrated to it."))
    audit_rate: float = Field(default=0.0, ge=0, le=1, description=(
        "Share of semantic hits also re-asked of their tier after the answer is sent; a different answer evicts the entry "
        "and tightens its scope. The re-asks are the operator's spend (the ledger's overhead_spend), never a tenant's."))
    ttl_s: float = Field(default=3600, gt=0)
    max_entries: int = Field(default=10_000, ge=1)
    share_across_tenants: bool = False
    # Answers sampled hotter than this are meant to vary: such requests neither read nor fill the cache.
    max_temperature: float = Field(default=1.0, ge=0, le=2,
                                   description="Requests with a higher temperature are never cached (2 caches every temperature).")
    side_effect_tools: list[str] = Field(
        default_factory=list,
        description="Tools that act on the world (send, pay, write): a request offering any is never cached; '*' marks every tool.")


class Limits(Strict):
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(default=2048, ge=1)
    max_output_tokens: int = Field(default=32768, ge=1)


class Embeddings(Strict):
    """The embedding tier behind POST /v1/embeddings: the bundled all-MiniLM-L6-v2 (384 dimensions, reads at most
    256 word pieces of an input), run in-process on the CPU. Only that model ships, so it is the only one named."""

    enabled: bool = True
    model: Literal["all-MiniLM-L6-v2"] = Field(default="all-MiniLM-L6-v2", description="The name clients send as `model`.")
    aliases: list[str] = Field(default_factory=list, description="Other names that mean this model (e.g. a client's default).")
    backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        default="onnx-int8", description="onnx-int8 (fastest), onnx (float32) or torch (sentence-transformers, the reference)."
    )
    input_per_mtok: Decimal = Field(default=Decimal(0), ge=0, description="US dollars per million tokens embedded.")

    def cost(self, tokens: int) -> Decimal:
        return Decimal(tokens) * self.input_per_mtok / MILLION


class Accounting(Strict):
    """What the gateway's own work costs, so savings are reported net of it."""

    # Default: an AWS c7i.large (2 vCPU) on demand in us-east-1, $0.08925/h in 2026, is $0.045 per vCPU-hour.
    compute_usd_per_cpu_hour: Decimal = Field(default=Decimal("0.045"), ge=0, description=(
        "US dollars per CPU-hour of the gateway's classifier and embedding work, priced into each ledger row's overhead."))


class Policy(Strict):
    version: Literal[1] = 1
    name: str = "policy"
    tiers: dict[str, AnyTier] = Field(min_length=1)  # type: ignore[valid-type]
    routing: Routing = Field(default_factory=Routing)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    resilience: Resilience = Field(default_factory=Resilience)
    embeddings: Embeddings = Field(default_factory=Embeddings)
    accounting: Accounting = Field(default_factory=Accounting)
    store_prompts: bool = True

    def enabled_tiers(self) -> list[str]:
        return [name for name, tier in self.tiers.items() if tier.status()[0]]

    def by_cost(self, names: list[str] | None = None) -> list[str]:
        """Tier names from cheapest to dearest (ties keep the file's order)."""
        names = list(self.tiers) if names is None else names
        return sorted(names, key=lambda n: self.tiers[n].prices.blended)

    def resolve(self, model: str) -> str | None:
        """The tier a request's `model` pins: a tier name, a tier's model or one of its aliases."""
        if model in self.tiers:
            return model
        for name, tier in self.tiers.items():
            if model == tier.model or model in tier.aliases:
                return name
        return None
