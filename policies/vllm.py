"""Settings of a self-hosted vLLM tier: replicas, launch (speculative decoding), balancing, pricing.

A vLLM tier names its replicas one by one, because prefix-affinity balancing only pays when the
gateway, not a load balancer in front of it, chooses the replica: the KV cache that a shared
system prompt warmed lives on one replica. Pricing turns what the GPUs cost an hour and how many
tokens a replica decodes a second into dollars per million tokens, so the router and spend reports
compare the tier with API tiers on the same scale.
"""

from __future__ import annotations

import hashlib
import os
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from policies.schema import Policy

SECONDS_PER_HOUR = Decimal(3600)
MILLION = Decimal(1_000_000)
PRICE_QUANTUM = Decimal("0.000001")
# These methods read their proposals from a separate set of weights; the others need none.
DRAFT_WEIGHTS = ("eagle", "eagle3", "draft_model")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpeculativeConfig(_Strict):
    """vLLM's `--speculative-config`, restricted to the methods this project renders and checks."""

    method: Literal["ngram", "eagle", "eagle3", "draft_model", "mtp"]
    num_speculative_tokens: int = Field(ge=1, le=32)
    model: str | None = Field(default=None, description="Draft or EAGLE head weights (HF id or path).")
    prompt_lookup_min: int | None = Field(default=None, ge=1)
    prompt_lookup_max: int | None = Field(default=None, ge=1)
    draft_tensor_parallel_size: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _method_fields(self) -> SpeculativeConfig:
        if self.method in DRAFT_WEIGHTS and not self.model:
            raise ValueError(f"method {self.method!r} needs `model` (the draft or EAGLE weights)")
        if self.method == "ngram":
            if self.model:
                raise ValueError("method 'ngram' proposes from the prompt itself and takes no `model`")
            if self.prompt_lookup_min and self.prompt_lookup_max and self.prompt_lookup_min > self.prompt_lookup_max:
                raise ValueError("prompt_lookup_min must not exceed prompt_lookup_max")
        elif self.prompt_lookup_min is not None or self.prompt_lookup_max is not None:
            raise ValueError("prompt_lookup_min/max apply to method 'ngram' only")
        return self

    def as_vllm(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Launch(_Strict):
    """How the replicas are started; rendered into `vllm serve` arguments and the manifests."""

    model: str | None = Field(default=None, description="What vLLM loads (default: the tier's upstream_model or model).")
    image: str = "vllm/vllm-openai:v0.11.0"
    port: int = Field(default=8000, ge=1, le=65535)
    tensor_parallel_size: int = Field(default=1, ge=1, le=64, description="GPUs per replica.")
    gpu_memory_utilization: float = Field(default=0.90, ge=0.1, le=0.99)
    max_model_len: int | None = Field(default=None, ge=128, description="Default: the tier's context_window.")
    prefix_caching: bool = True
    speculative: SpeculativeConfig | None = None
    extra_args: list[str] = Field(default_factory=list)
    deploy_replicas: int = Field(default=2, ge=1, le=64, description="Replicas in the rendered manifests.")


class Balancing(_Strict):
    affinity: Literal["conversation", "system", "off"] = Field(
        default="conversation",
        description="conversation: system prompt + first user turn; system: system prompt only; off: least loaded.",
    )
    prefix_chars: int = Field(default=4096, ge=16, le=1_000_000, description="Characters of the prefix that are hashed.")
    max_waiting: int = Field(default=0, ge=0, description="Spill when the preferred replica queues more than this.")
    max_running: int | None = Field(default=None, ge=1, description="Spill when it runs this many requests at once.")
    max_kv_cache_usage: float = Field(default=0.95, gt=0, le=1, description="Spill when its KV cache is this full.")
    health_interval_s: float = Field(default=2.0, ge=0.05, le=60)
    metrics_interval_s: float = Field(default=2.0, ge=0.05, le=60)
    probe_timeout_s: float = Field(default=1.0, gt=0, le=30)


class Pricing(_Strict):
    """A self-hosted tier's price: GPU-hours divided by the tokens they decode."""

    gpu_hourly_usd: Decimal = Field(gt=0, description="US dollars per GPU-hour.")
    tokens_per_s: float = Field(gt=0, description="Decode tokens/s of one replica, assumed until measured.")
    input_price_ratio: Decimal = Field(
        default=Decimal("0.25"), ge=0, le=1, description="Input price as a share of output price (prefill is batched)."
    )
    measured: bool = Field(default=True, description="Re-price from the decode throughput measured on the replicas.")
    min_busy_s: float = Field(default=60.0, ge=0, description="Busy seconds measured before measurement replaces the assumption.")
    window_s: float = Field(default=900.0, ge=1, description="How far back the measured throughput looks.")

    def per_mtok(self, gpus: int, tokens_per_s: float | None = None) -> tuple[Decimal, Decimal]:
        """(input, output) US dollars per million tokens at `tokens_per_s` (default: the assumed figure)."""
        rate = Decimal(str(tokens_per_s if tokens_per_s is not None else self.tokens_per_s))
        if rate <= 0:
            raise ValueError("throughput must be positive to price a tier")
        output = (self.gpu_hourly_usd * gpus * MILLION / (SECONDS_PER_HOUR * rate)).quantize(PRICE_QUANTUM)
        return (output * self.input_price_ratio).quantize(PRICE_QUANTUM), output


class CacheSalt(_Strict):
    """Tenants whose requests must not reuse KV cache warmed by anyone else (vLLM's `cache_salt`)."""

    tenants: list[str] = Field(default_factory=list)
    all_tenants: bool = False
    secret_env: str | None = Field(default=None, description="Environment variable mixed into salts so they cannot be guessed.")

    def salt(self, tenant: str | None) -> str | None:
        if tenant is None or not (self.all_tenants or tenant in self.tenants):
            return None
        secret = os.environ.get(self.secret_env, "") if self.secret_env else ""
        return hashlib.sha256(f"{secret}\0{tenant}".encode()).hexdigest()[:32]


class VLLMSettings(_Strict):
    replicas: list[str] | None = Field(
        default=None, description="Replica base URLs (server root or .../v1); a comma-separated string also works."
    )
    launch: Launch = Field(default_factory=Launch)
    balancing: Balancing = Field(default_factory=Balancing)
    pricing: Pricing | None = None
    cache_salt: CacheSalt = Field(default_factory=CacheSalt)

    @field_validator("replicas", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # `${VAR}` interpolation yields strings, so deployments pass the list as "url1,url2".
        if isinstance(value, str):
            return [part for part in re.split(r"[,\s]+", value) if part]
        return value

    @property
    def gpus_per_replica(self) -> int:
        return self.launch.tensor_parallel_size


def replica_root(url: str) -> str:
    """A replica's server root (where /health and /metrics live), from either spelling of its URL."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def reprice(policy: Policy, measured_tokens_per_s: dict[str, float | None]) -> Policy:
    """The policy with each measured vLLM tier priced from its measured decode throughput.

    Tiers without pricing, with `measured: false` or without a measurement keep their price. The
    result is a new policy (policies are frozen); the same policy comes back when nothing changed.
    """
    tiers = dict(policy.tiers)
    changed = False
    for name, tokens_per_s in measured_tokens_per_s.items():
        tier = tiers.get(name)
        settings: VLLMSettings | None = getattr(tier, "vllm", None)  # only vLLM tiers have GPU pricing
        if tier is None or settings is None or settings.pricing is None or not settings.pricing.measured:
            continue
        if not tokens_per_s or tokens_per_s <= 0:
            continue
        inp, out = settings.pricing.per_mtok(settings.gpus_per_replica, tokens_per_s)
        if (inp, out) == (tier.prices.input_per_mtok, tier.prices.output_per_mtok):
            continue
        tiers[name] = tier.model_copy(update={"prices": type(tier.prices)(input_per_mtok=inp, output_per_mtok=out)})
        changed = True
    return policy.model_copy(update={"tiers": tiers}) if changed else policy
