"""One engine for one policy tier: the single place that maps a tier's settings to an adapter.

Engines are imported when their tier needs them: litellm and llama.cpp are slow to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engines.base import Engine

if TYPE_CHECKING:
    from policies.schema import Tier


def build_engine(tier: Tier) -> Engine:
    if tier.engine == "llamacpp":
        from engines.llamacpp import LlamaCppEngine

        assert tier.model_path is not None  # the loader's cross-checks guarantee it
        return LlamaCppEngine(
            tier.model,
            tier.model_path,
            n_ctx=tier.n_ctx,
            n_threads=tier.n_threads,
            default_max_tokens=tier.max_output_tokens,
        )
    if tier.engine == "openai":
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
    if tier.engine == "vllm":
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
    from engines.litellm_engine import LiteLLMEngine

    assert tier.litellm_model
    return LiteLLMEngine(
        tier.model,
        tier.litellm_model,
        api_base=tier.base_url or None,
        api_key=tier.api_key(),
        timeout=tier.timeouts.read_s,
    )
