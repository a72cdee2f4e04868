"""Engine kinds: the single place that maps a tier's settings to an adapter.

Each kind registers one builder (`@register("kind")`); `build_engine` looks the tier's `engine`
up and nothing else in the gateway knows the kinds. Builders import their adapter when called,
because litellm and llama.cpp are slow to import and a policy may use neither. Every kind
registered here passes the same contract suite (tests/test_engine_contract.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from engines.base import Engine

if TYPE_CHECKING:
    from policies.schema import Tier

Builder = Callable[["Tier"], Engine]
_BUILDERS: dict[str, Builder] = {}


def register(kind: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        if kind in _BUILDERS:
            raise ValueError(f"engine kind {kind!r} is registered twice")
        _BUILDERS[kind] = builder
        return builder

    return add


def kinds() -> list[str]:
    return sorted(_BUILDERS)


def build_engine(tier: Tier) -> Engine:
    builder = _BUILDERS.get(tier.engine)
    if builder is None:  # the schema's EngineKind and this registry disagree: a bug, not a user error
        raise KeyError(f"no engine registered for kind {tier.engine!r}; registered: {', '.join(kinds())}")
    return builder(tier)


@register("llamacpp")
def _llamacpp(tier: Tier) -> Engine:
    from engines.llamacpp import LlamaCppEngine

    assert tier.model_path is not None  # the loader's cross-checks guarantee it
    return LlamaCppEngine(
        tier.model,
        tier.model_path,
        n_ctx=tier.n_ctx,
        n_threads=tier.n_threads,
        default_max_tokens=tier.max_output_tokens,
    )


@register("openai")
def _openai(tier: Tier) -> Engine:
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


@register("vllm")
def _vllm(tier: Tier) -> Engine:
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


@register("litellm")
def _litellm(tier: Tier) -> Engine:
    from engines.litellm_engine import LiteLLMEngine

    assert tier.litellm_model
    return LiteLLMEngine(
        tier.model,
        tier.litellm_model,
        api_base=tier.base_url or None,
        api_key=tier.api_key(),
        timeout=tier.timeouts.read_s,
    )


@register("fake")
def _fake(tier: Tier) -> Engine:
    from engines.fake import FakeEngine

    return FakeEngine(tier.model, context_window=tier.context_window, default_max_tokens=tier.max_output_tokens)
