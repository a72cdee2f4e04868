"""Build the engine for each enabled tier of a policy, and the routing classifier it names."""

from __future__ import annotations

import logging
from pathlib import Path

from classifiers.base import Classifier
from classifiers.rules import LengthRuleClassifier
from engines.base import Engine
from engines.litellm_engine import LiteLLMEngine
from engines.llamacpp import LlamaCppEngine
from engines.openai_http import OpenAIHTTPEngine
from engines.vllm import VLLMEngine
from policies.schema import Tier

log = logging.getLogger("switchyard")


def build_engine(tier: Tier) -> Engine:
    if tier.engine == "llamacpp":
        assert tier.model_path is not None  # the loader's cross-checks guarantee it
        return LlamaCppEngine(
            tier.model,
            tier.model_path,
            n_ctx=tier.n_ctx,
            n_threads=tier.n_threads,
            default_max_tokens=tier.max_output_tokens,
        )
    if tier.engine == "openai":
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
        assert tier.vllm is not None and tier.vllm.replicas
        return VLLMEngine(
            tier.model,
            tier.vllm,
            api_key=tier.api_key(),
            upstream_model=tier.upstream_model or None,
            connect_timeout=tier.timeouts.connect_s,
            read_timeout=tier.timeouts.read_s,
        )
    assert tier.litellm_model
    return LiteLLMEngine(
        tier.model,
        tier.litellm_model,
        api_base=tier.base_url or None,
        api_key=tier.api_key(),
        timeout=tier.timeouts.read_s,
    )


def load_classifier(spec: str, long_prompt_words: int) -> tuple[Classifier, str]:
    """The classifier a policy names, and a sentence on what was loaded and why."""
    rules = LengthRuleClassifier(long_prompt_words)
    if spec == "rules":
        return rules, "length rule (policy asks for rules)"
    try:
        from classifiers import trained
    except ImportError as exc:
        return rules, f"length rule (trained classifier unavailable: {exc})"
    try:
        if spec == "default":
            classifier = trained.load_artifact(trained.DEFAULT_ARTIFACT)
        else:
            classifier = trained.load_artifact(Path(spec))
    except Exception as exc:  # noqa: BLE001 - any load failure falls back, loudly
        log.warning("classifier %s did not load, using the length rule: %s", spec, exc)
        return rules, f"length rule (artifact {spec!r} did not load: {exc})"
    return classifier, f"trained classifier {classifier.name} from {spec}"
