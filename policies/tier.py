"""What every tier of a policy has, whatever engine serves it, and the parts its fields are made of.

Each engine kind subclasses `Tier` with the fields only it takes and registers the subclass with its
builder (engines/factory.py); a policy's `tiers` is the union of the registered subclasses, told apart
by `engine` (policies/schema.py). This module imports nothing of the engines, so the registry can
import it.
"""

from __future__ import annotations

import functools
import os
import re
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

MILLION = Decimal(1_000_000)
# A problem a tier's own fields have: where in the tier (relative to it) and what, for the loader.
TierProblem = tuple[tuple[str | int, ...], str]


class Strict(BaseModel):
    # YAML's .inf and .nan are floats: an infinite TTL or timeout passed every `gt=0` and then broke
    # the code that turns it into milliseconds (int(inf) raises), so no policy number may be either.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Prices(Strict):
    """US dollars per million tokens."""

    input_per_mtok: Decimal = Field(default=Decimal(0), ge=0)
    output_per_mtok: Decimal = Field(default=Decimal(0), ge=0)
    cached_input_per_mtok: Decimal | None = Field(
        default=None, ge=0, description="Input the provider's prompt cache served (a repeated prefix); unset: no discount."
    )

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


class BreakerSettings(Strict):
    """A circuit breaker per tier: consecutive failures open it, a single probe after the cool-down closes it."""

    failures: int = Field(default=5, ge=1, le=1000)
    cooldown_s: float = Field(default=10.0, gt=0, le=3600)


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
    """A tier's fields that mean the same for every engine kind.

    `Tier(...)` and `Tier.model_validate(...)` build the registered kind that `engine` names, so code
    holding a tier's settings need not know the kinds; the kinds' own fields live on their subclasses.
    """

    engine: str
    model: str = Field(min_length=1, description="Model name clients see and may pin.")
    aliases: list[str] = Field(default_factory=list)
    prices: Prices = Field(default_factory=Prices)
    context_window: int = Field(default=8192, ge=128)
    max_output_tokens: int = Field(default=1024, ge=1)
    quality_prior: float = Field(default=0.5, ge=0, le=1)
    quality_model: str | None = Field(default=None, description="The classifier's label for this tier's model, if it has one.")
    enabled: bool = True
    enabled_when: EnabledWhen = Field(default_factory=EnabledWhen)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    breaker: BreakerSettings | None = Field(
        default=None, description="This tier's circuit breaker settings, when not the policy's resilience.breaker."
    )
    capabilities: Capabilities | None = Field(default=None, description="What the model can serve; unset: the engine's defaults.")
    reasoning: Reasoning | None = Field(default=None, description="Reasoning effort or thinking budget, chosen per request by difficulty.")

    # Whether the kind's engine can read images at all: a tier declaring images on one that cannot is linted.
    reads_images: ClassVar[bool] = True

    def __new__(cls, *args: Any, **data: Any) -> Any:
        if cls is Tier and "engine" in data:
            return tier_adapter().validate_python(data)
        return super().__new__(cls)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if cls is Tier:
            return tier_adapter().validate_python(obj, **kwargs)
        return super().model_validate(obj, **kwargs)

    def capabilities_or_default(self) -> Capabilities:
        return self.capabilities or Capabilities()

    def context_tokens(self) -> int:
        """The context window requests must fit."""
        return self.context_window

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (Decimal(prompt_tokens) * self.prices.input_per_mtok + Decimal(completion_tokens) * self.prices.output_per_mtok) / MILLION

    def key_variable(self) -> str | None:
        """The environment variable holding the tier's API key; None for a kind that takes none."""
        return None

    def api_key(self) -> str | None:
        name = self.key_variable()
        return os.environ.get(name) if name else None

    def problems(self) -> list[TierProblem]:
        """What the loader refuses in this tier's own fields beyond their types (a kind's required settings)."""
        return []

    def urls(self) -> list[tuple[str, str]]:
        """(field, URL) of every upstream the tier calls, for preflight's checks."""
        return []

    def readiness(self) -> tuple[bool, str]:
        """Whether the kind has what it needs to start, and what it will serve from, in words."""
        return True, f"{self.engine} engine"

    def status(self) -> tuple[bool, str]:
        """Whether the tier is enabled, and why, in words for the start-up banner."""
        if not self.enabled:
            return False, "disabled in the policy"
        unmet = self.enabled_when.unmet()
        if unmet:
            return False, f"waiting for {', '.join(unmet)} to be set"
        key = self.key_variable()
        if key and not os.environ.get(key):
            return False, f"no key: {key} is not set"
        return self.readiness()


class KeyedTier(Tier):
    """A tier whose upstream takes an API key."""

    api_key_env: str | None = Field(default=None, description="Environment variable holding the key.")

    def key_variable(self) -> str | None:
        return self.api_key_env


def http_problem(field: str, url: str | None) -> list[TierProblem]:
    if url and not re.match(r"^https?://", url):
        return [((field,), f"{url!r} is not an http(s) URL")]
    return []


@functools.cache
def tier_adapter() -> TypeAdapter[Any]:
    from engines.factory import tier_union

    return TypeAdapter(tier_union())
