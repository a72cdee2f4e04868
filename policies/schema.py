"""The policy schema: what operators write in YAML, validated by pydantic.

Cross-references between sections (fallbacks naming tiers, thresholds naming tiers) are checked
in `policies.loader`, which reports each problem with its place in the file.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policies.vllm import VLLMSettings

# "fake": engines/fake.py, the in-process deterministic engine for tests and benchmarks.
EngineKind = Literal["llamacpp", "openai", "litellm", "vllm", "fake"]
MILLION = Decimal(1_000_000)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(Strict):
    """US dollars per million tokens."""

    input_per_mtok: Decimal = Field(default=Decimal(0), ge=0)
    output_per_mtok: Decimal = Field(default=Decimal(0), ge=0)
    cached_input_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="Input the provider's prompt cache served (a repeated prefix); unset: no discount.")

    @property
    def blended(self) -> Decimal:
        # A 1:3 input:output mix, the usual way price lists are compared.
        return (self.input_per_mtok + 3 * self.output_per_mtok) / 4


class EnabledWhen(Strict):
    """The tier is enabled only when every listed environment variable is set and non-empty."""

    env: list[str] = Field(default_factory=list)

    def unmet(self) -> list[str]:
        return [name for name in self.env if not os.environ.get(name)]


class Timeouts(Strict):
    connect_s: float = Field(default=5.0, gt=0)
    read_s: float = Field(default=120.0, gt=0)
    # Unset means bounded by read_s alone (the behaviour before these existed).
    first_token_s: float | None = Field(
        default=None, gt=0, description="Longest wait for a stream's first chunk; a non-streamed call is bounded by total_s."
    )
    total_s: float | None = Field(default=None, gt=0, description="Longest one upstream call may take, streamed or not.")


class RetrySettings(Strict):
    """Retries of one tier before falling back, for 429, 5xx, timeouts and connection errors only."""

    attempts: int = Field(default=2, ge=1, le=10, description="Calls to one tier per request, the first included.")
    base_delay_s: float = Field(default=0.05, ge=0, le=60)
    max_delay_s: float = Field(default=2.0, ge=0, le=600)
    max_retry_after_s: float = Field(
        default=5.0, ge=0, le=600, description="A longer Retry-After is not waited for: the request falls back instead."
    )
    budget_s: float = Field(default=10.0, gt=0, le=3600, description="Most time one request may spend waiting between attempts.")


class BreakerSettings(Strict):
    """A circuit breaker per tier: consecutive failures open it, a single probe after the cool-down closes it."""

    failures: int = Field(default=5, ge=1, le=1000)
    cooldown_s: float = Field(default=10.0, gt=0, le=3600)


class Resilience(Strict):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)


class Capabilities(Strict):
    """What a tier's model can serve; routing sends a request only to tiers that have what it needs
    (router/capabilities.py). Unset fields take the engine's default: tools and json_schema yes (llama.cpp
    through grammars, the others by passing them on), images no: declare `images: true` for a vision model."""

    tools: bool = True
    json_schema: bool = Field(default=True, description="Structured output: response_format json_schema / json_object.")
    images: bool = False


Effort = Literal["minimal", "low", "medium", "high"]


class Reasoning(Strict):
    """How much a tier may think, bounded by the policy; the decision picks within the bounds by difficulty.

    ``efforts`` (easiest first) are sent as OpenAI's ``reasoning_effort``; ``thinking_tokens``
    [min, max] as Anthropic's ``thinking.budget_tokens`` (through litellm), whichever ``style`` says.
    """

    style: Literal["openai", "anthropic"] = "openai"
    efforts: list[Effort] | None = Field(default=None, min_length=1)
    thinking_tokens: tuple[int, int] | None = Field(default=None, description="[min, max] thinking budget (Anthropic: min 1024).")

    @model_validator(mode="after")
    def _bounded(self) -> Reasoning:
        if self.style == "openai" and not self.efforts:
            raise ValueError("reasoning with style openai needs efforts, e.g. [low, medium, high]")
        if self.style == "anthropic":
            if self.thinking_tokens is None:
                raise ValueError("reasoning with style anthropic needs thinking_tokens: [min, max]")
            low, high = self.thinking_tokens
            if not 1024 <= low <= high:
                raise ValueError("thinking_tokens must be [min, max] with 1024 <= min <= max")
        return self


class Tier(Strict):
    engine: EngineKind
    model: str = Field(min_length=1, description="Model name clients see and may pin.")
    aliases: list[str] = Field(default_factory=list)
    # llamacpp: a GGUF path or a Python package shipping one.
    model_path: str | None = None
    n_ctx: int = Field(default=2048, ge=128)
    n_threads: int | None = Field(default=None, ge=1)
    # openai: the server's base URL (ending in /v1); litellm: optional api_base.
    base_url: str | None = None
    upstream_model: str | None = None
    # litellm: the provider model string, e.g. "openai/gpt-4o" or "anthropic/claude-3-5-sonnet".
    litellm_model: str | None = None
    api_key_env: str | None = Field(default=None, description="Environment variable holding the key.")
    prices: Prices = Field(default_factory=Prices)
    context_window: int = Field(default=8192, ge=128)
    max_output_tokens: int = Field(default=1024, ge=1)
    quality_prior: float = Field(default=0.5, ge=0, le=1)
    quality_model: str | None = Field(
        default=None, description="The classifier's label for this tier's model, if it has one."
    )
    enabled: bool = True
    enabled_when: EnabledWhen = Field(default_factory=EnabledWhen)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    breaker: BreakerSettings | None = Field(
        default=None, description="This tier's circuit breaker settings, when not the policy's resilience.breaker."
    )
    # vllm: replicas, launch arguments, balancing, GPU pricing (policies/vllm.py).
    vllm: VLLMSettings | None = None
    capabilities: Capabilities | None = Field(default=None, description="What the model can serve; unset: the engine's defaults.")
    reasoning: Reasoning | None = Field(default=None, description="Reasoning effort or thinking budget, chosen per request by difficulty.")

    @model_validator(mode="after")
    def _gpu_priced(self) -> Tier:
        # A vLLM tier priced by its GPUs carries that price, so routing and spend compare it with API tiers.
        if self.vllm is not None and self.vllm.pricing is not None and "prices" not in self.model_fields_set:
            inp, out = self.vllm.pricing.per_mtok(self.vllm.gpus_per_replica)
            object.__setattr__(self, "prices", Prices(input_per_mtok=inp, output_per_mtok=out))
        return self

    def capabilities_or_default(self) -> Capabilities:
        return self.capabilities or Capabilities()

    def context_tokens(self) -> int:
        """The context window requests must fit: an in-process llama.cpp model has only the n_ctx it was loaded with."""
        if self.engine == "llamacpp":
            return min(self.n_ctx, self.context_window) if "context_window" in self.model_fields_set else self.n_ctx
        return self.context_window

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            Decimal(prompt_tokens) * self.prices.input_per_mtok
            + Decimal(completion_tokens) * self.prices.output_per_mtok
        ) / MILLION

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def status(self) -> tuple[bool, str]:
        """Whether the tier is enabled, and why, in words for the start-up banner."""
        if not self.enabled:
            return False, "disabled in the policy"
        unmet = self.enabled_when.unmet()
        if unmet:
            return False, f"waiting for {', '.join(unmet)} to be set"
        if self.api_key_env and not os.environ.get(self.api_key_env):
            return False, f"no key: {self.api_key_env} is not set"
        if self.engine == "openai" and not self.base_url:
            return False, "no base_url configured"
        if self.engine == "vllm" and not (self.vllm and self.vllm.replicas):
            return False, "no vllm replicas configured"
        if self.engine == "llamacpp":
            return True, f"in-process llama.cpp on {self.model_path}"
        if self.engine == "openai":
            return True, f"OpenAI-compatible server at {self.base_url}"
        if self.engine == "vllm" and self.vllm and self.vllm.replicas:
            return True, f"vLLM, {len(self.vllm.replicas)} replica(s) with prefix affinity"
        if self.engine == "fake":
            return True, "in-process fake engine (deterministic echo; tests and benchmarks)"
        return True, f"litellm provider model {self.litellm_model}"


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


class Policy(Strict):
    version: Literal[1] = 1
    name: str = "policy"
    tiers: dict[str, Tier] = Field(min_length=1)
    routing: Routing = Field(default_factory=Routing)
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    resilience: Resilience = Field(default_factory=Resilience)
    embeddings: Embeddings = Field(default_factory=Embeddings)
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
