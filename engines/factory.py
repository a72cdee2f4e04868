"""Engine kinds: the single place that maps a tier's settings to an adapter.

Each kind registers, in one `@register(...)`, the settings class of its policy tiers (a `Tier`
subclass with only that kind's fields, `engine` its tag), the builder of its adapter, and the Python
packages the adapter imports when its tier starts. The policy schema's union of tier kinds, the
loader's per-kind checks and preflight's package checks all come from here, so adding a kind is one
entry in this module. Builders import their adapter when called, because litellm and llama.cpp are
slow to import and a policy may use neither. Every kind registered here passes the same contract
suite (tests/test_engine_contract.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import Field, model_validator

from engines.base import Engine
from policies.tier import KeyedTier, Prices, Tier, TierProblem, http_problem
from policies.vllm import VLLMSettings

Builder = Callable[[Any], Engine]
# What a kind checks of this machine before `serve` (a model file that is not there): (field, problem).
MachineCheck = Callable[[Any], list[tuple[str, str]]]


@dataclass(frozen=True)
class Kind:
    name: str
    config: type[Tier]
    build: Builder
    packages: tuple[str, ...]  # imported when a tier of this kind starts; preflight checks they are installed
    check: MachineCheck | None = None


_KINDS: dict[str, Kind] = {}


def register(
    kind: str, config: type[Tier], packages: tuple[str, ...] = (), check: MachineCheck | None = None
) -> Callable[[Builder], Builder]:
    tag = get_args(config.model_fields["engine"].annotation)
    if tag != (kind,):  # the tag the union tells kinds apart by must be the name they are registered under
        raise ValueError(f"{config.__name__}.engine must be Literal[{kind!r}], not {tag}")

    def add(builder: Builder) -> Builder:
        if kind in _KINDS:
            raise ValueError(f"engine kind {kind!r} is registered twice")
        _KINDS[kind] = Kind(kind, config, builder, packages, check)
        return builder

    return add


def kinds() -> list[str]:
    return sorted(_KINDS)


def kind(name: str) -> Kind:
    found = _KINDS.get(name)
    if found is None:  # the schema admits only registered kinds: a bug, not a user error
        raise KeyError(f"no engine registered for kind {name!r}; registered: {', '.join(kinds())}")
    return found


def tier_union() -> Any:
    """The policy's tier type: one settings class per registered kind, told apart by `engine`."""
    configs = tuple(k.config for k in _KINDS.values())
    return Annotated[Union[configs], Field(discriminator="engine")]  # noqa: UP007  # a runtime tuple of classes


def fields_of(name: str) -> set[str]:
    return set(kind(name).config.model_fields)


def build_engine(tier: Tier) -> Engine:
    return kind(tier.engine).build(tier)


# --- llamacpp: a GGUF model in-process ---------------------------------------------------------------


class LlamaCppTier(Tier):
    engine: Literal["llamacpp"]
    model_path: str | None = Field(default=None, description="A GGUF path or a Python package shipping one.")
    n_ctx: int = Field(default=2048, ge=128)
    n_threads: int | None = Field(default=None, ge=1)

    reads_images: ClassVar[bool] = False

    def context_tokens(self) -> int:
        # The model has only the n_ctx it was loaded with; a declared context_window may narrow it.
        return min(self.n_ctx, self.context_window) if "context_window" in self.model_fields_set else self.n_ctx

    def problems(self) -> list[TierProblem]:
        return [] if self.model_path else [(("engine",), "a llamacpp tier needs model_path (a GGUF file or a package)")]

    def readiness(self) -> tuple[bool, str]:
        return True, f"in-process llama.cpp on {self.model_path}"


def _gguf(tier: LlamaCppTier) -> list[tuple[str, str]]:
    from policies.preflight import gguf_problem

    problem = gguf_problem(tier.model_path) if tier.model_path else None
    return [("model_path", problem)] if problem else []


@register("llamacpp", LlamaCppTier, packages=("llama_cpp",), check=_gguf)
def _llamacpp(tier: LlamaCppTier) -> Engine:
    from engines.llamacpp import LlamaCppEngine

    assert tier.model_path is not None  # the loader's checks guarantee it
    return LlamaCppEngine(
        tier.model,
        tier.model_path,
        n_ctx=tier.n_ctx,
        n_threads=tier.n_threads,
        default_max_tokens=tier.max_output_tokens,
    )


# --- openai: any server speaking OpenAI's chat completions -------------------------------------------


class OpenAITier(KeyedTier):
    engine: Literal["openai"]
    base_url: str | None = Field(default=None, description="The server's base URL, ending in /v1.")
    upstream_model: str | None = Field(default=None, description="The model name the server knows, when not `model`.")

    def problems(self) -> list[TierProblem]:
        if self.base_url is None:
            return [(("engine",), "an openai tier needs base_url (it may be ${VAR})")]
        return http_problem("base_url", self.base_url)

    def urls(self) -> list[tuple[str, str]]:
        return [("base_url", self.base_url)] if self.base_url else []

    def readiness(self) -> tuple[bool, str]:
        if not self.base_url:
            return False, "no base_url configured"
        return True, f"OpenAI-compatible server at {self.base_url}"


@register("openai", OpenAITier, packages=("aiohttp",))
def _openai(tier: OpenAITier) -> Engine:
    from engines.openai_http import OpenAIHTTPEngine

    assert tier.base_url
    return OpenAIHTTPEngine(
        tier.model,
        tier.base_url,
        api_key=tier.api_key(),
        upstream_model=tier.upstream_model or None,
        connect_timeout=tier.timeouts.connect_s,
        read_timeout=tier.timeouts.read_s,
    )


# --- vllm: replicas with prefix affinity, priced by their GPUs -----------------------------------------


class VLLMTier(KeyedTier):
    engine: Literal["vllm"]
    upstream_model: str | None = Field(default=None, description="The model name the replicas serve, when not `model`.")
    vllm: VLLMSettings | None = Field(default=None, description="Replicas, launch arguments, balancing, GPU pricing (policies/vllm.py).")

    @model_validator(mode="after")
    def _gpu_priced(self) -> VLLMTier:
        # A tier priced by its GPUs carries that price, so routing and spend compare it with API tiers.
        if self.vllm is not None and self.vllm.pricing is not None and "prices" not in self.model_fields_set:
            inp, out = self.vllm.pricing.per_mtok(self.vllm.gpus_per_replica)
            object.__setattr__(self, "prices", Prices(input_per_mtok=inp, output_per_mtok=out))
        return self

    def problems(self) -> list[TierProblem]:
        if self.vllm is None or self.vllm.replicas is None:
            return [(("vllm",), "a vllm tier needs vllm.replicas (a list of URLs, or ${VAR} with url1,url2)")]
        found: list[TierProblem] = []
        for i, url in enumerate(self.vllm.replicas):
            found += [(("vllm", "replicas", i), message) for _, message in http_problem("", url)]
        if self.vllm.pricing is not None and "prices" in self.model_fields_set:
            found.append((("prices",), "give prices or vllm.pricing (GPU-hour pricing), not both"))
        return found

    def urls(self) -> list[tuple[str, str]]:
        return [(f"vllm.replicas[{i}]", url) for i, url in enumerate((self.vllm.replicas or []) if self.vllm else [])]

    def readiness(self) -> tuple[bool, str]:
        if not (self.vllm and self.vllm.replicas):
            return False, "no vllm replicas configured"
        return True, f"vLLM, {len(self.vllm.replicas)} replica(s) with prefix affinity"


@register("vllm", VLLMTier, packages=("aiohttp",))
def _vllm(tier: VLLMTier) -> Engine:
    from engines.vllm import VLLMEngine

    assert tier.vllm is not None and tier.vllm.replicas
    return VLLMEngine(
        tier.model,
        tier.vllm,
        api_key=tier.api_key(),
        upstream_model=tier.upstream_model or None,
        connect_timeout=tier.timeouts.connect_s,
        read_timeout=tier.timeouts.read_s,
    )


# --- litellm: frontier providers through litellm -------------------------------------------------------


class LiteLLMTier(KeyedTier):
    engine: Literal["litellm"]
    litellm_model: str | None = Field(default=None, description='The provider model string, e.g. "openai/gpt-4o".')
    base_url: str | None = Field(default=None, description="The provider's api_base, when not its default.")

    def problems(self) -> list[TierProblem]:
        if not self.litellm_model:
            return [(("engine",), "a litellm tier needs litellm_model, e.g. openai/gpt-4o")]
        return http_problem("base_url", self.base_url)

    def urls(self) -> list[tuple[str, str]]:
        return [("base_url", self.base_url)] if self.base_url else []

    def readiness(self) -> tuple[bool, str]:
        return True, f"litellm provider model {self.litellm_model}"


@register("litellm", LiteLLMTier, packages=("litellm",))
def _litellm(tier: LiteLLMTier) -> Engine:
    from engines.litellm_engine import LiteLLMEngine

    assert tier.litellm_model
    return LiteLLMEngine(
        tier.model,
        tier.litellm_model,
        api_base=tier.base_url or None,
        api_key=tier.api_key(),
        timeout=tier.timeouts.read_s,
    )


# --- fake: in-process, deterministic, for tests and benchmarks -----------------------------------------


class FakeTier(Tier):
    engine: Literal["fake"]

    def readiness(self) -> tuple[bool, str]:
        return True, "in-process fake engine (deterministic echo; tests and benchmarks)"


@register("fake", FakeTier)
def _fake(tier: FakeTier) -> Engine:
    from engines.fake import FakeEngine

    return FakeEngine(tier.model, context_window=tier.context_window, default_max_tokens=tier.max_output_tokens)
