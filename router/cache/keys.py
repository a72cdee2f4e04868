"""Cache fingerprints. Two requests share an exact entry only when everything that shapes the
answer is equal: the cache scope (the tenant, unless the policy shares across tenants), the
requested model or tier, every message including the system prompt, tools, and sampling
parameters, and what serves that model or tier (:class:`Serving`: a reloaded policy that points a
tier at another model or endpoint must not be answered from what the old one said). The semantic
scope is the same minus the last user message, which is matched by meaning instead."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import orjson

from router.schemas import ChatRequest

if TYPE_CHECKING:
    from policies.schema import Policy

# Everything in a request that changes the answer (or what comes back with it, like logprobs).
SHAPING = ("tools", "tool_choice", "response_format", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
           "logprobs", "top_logprobs")


# A tier's settings that shape what it answers, an allow-list: which engine, which model (the name it answers as,
# the name its server knows, the file or provider model it loads), where an API tier's server is, the output limit,
# context window (which prompts it takes), reasoning and capabilities. Anything else (prices, timeouts, breaker, key
# variable, aliases, priors, enablement, and a vLLM tier's replicas, balancing, pricing and placement) is operations:
# a reload or scale-out that changes only that keeps every kept answer. A field a kind lacks is simply absent.
_ANSWERING = ("engine", "model", "upstream_model", "model_path", "n_ctx", "litellm_model", "base_url", "max_output_tokens",
              "context_window", "reasoning", "capabilities")
# Of a vLLM tier's launch settings, those that only place or size the replicas. Everything else in `launch` goes
# into the fingerprint: the image, extra_args (a chat template, generation defaults, quantization, a revision, a
# reasoning parser), speculative decoding and the model change what the replicas answer.
_LAUNCH_OPERATIONS = ("port", "deploy_replicas", "gpu_memory_utilization", "prefix_caching", "tensor_parallel_size")

# What routing reads to send `auto` to a tier, beyond what the tier answers (a changed price or prior moves requests
# to another tier; a context window decides which tiers a long prompt fits). Not aliases: routing never reads them.
_ROUTING = ("prices", "quality_prior", "quality_model", "enabled", "enabled_when", "context_window")


def _answering(tier: dict[str, Any]) -> dict[str, Any]:
    """A dumped tier's answer-shaping settings."""
    shaped = {k: tier[k] for k in _ANSWERING if k in tier}
    vllm = tier.get("vllm")
    if vllm is not None:
        # Of vLLM's settings only how the replicas are launched (not their list, balancing or pricing), less placement.
        launch = {k: v for k, v in (vllm.get("launch") or {}).items() if k not in _LAUNCH_OPERATIONS}
        launch["max_model_len"] = launch.get("max_model_len") or tier.get("context_window")
        shaped["vllm"] = launch
    return shaped


def _digest(obj: Any) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Serving:
    """Fingerprints of what answers each requested model under one policy, for the cache scope.

    A pinned model (a tier's name, model or alias) is answered by its tier or, when that fails, by the
    tier's fallbacks: its fingerprint is theirs, so changing another tier leaves its entries hitting.
    ``auto`` may be routed to any tier: its fingerprint is every tier's, with what routing reads of each, and
    the routing's (a changed threshold or price moves requests to another tier). Only answer-shaping settings
    count (:data:`_ANSWERING`), so an operations-only reload or a scale-out keeps the cache. Built once per
    policy: a reload builds a new one."""

    def __init__(self, policy: Policy) -> None:
        dumped = {name: tier.model_dump(mode="json") for name, tier in policy.tiers.items()}
        answering = {name: _digest(_answering(tier)) for name, tier in dumped.items()}
        by_tier = {
            name: _digest({"tier": name, "serves": answering[name],
                           "fallbacks": [[f, answering.get(f)] for f in policy.fallbacks.get(name, [])]})
            for name in policy.tiers
        }
        # As Policy.resolve finds a pinned tier: a tier's name first, then the first tier with that model or alias.
        self._pinned: dict[str, str] = {}
        for name, tier in policy.tiers.items():
            for model in (tier.model, *tier.aliases):
                self._pinned.setdefault(model, by_tier[name])
        self._pinned.update(by_tier)
        routed = {name: {"serves": answering[name], **{k: tier[k] for k in _ROUTING if k in tier}} for name, tier in dumped.items()}
        self._auto = _digest({"tiers": routed, "routing": policy.routing.model_dump(mode="json"), "fallbacks": policy.fallbacks})

    def fingerprint(self, model: str) -> str:
        if model == "auto":
            return self._auto
        return self._pinned.get(model, "unknown")  # no tier: the request is refused, nothing is kept under it


def _shape(chat: ChatRequest) -> dict[str, Any]:
    shape = {name: getattr(chat, name) for name in SHAPING if getattr(chat, name) is not None}
    shape["max_tokens"] = chat.output_limit()
    return shape


def exact_key(scope: str, chat: ChatRequest) -> str:
    messages = chat.plain_messages
    return "x:" + _digest({"scope": scope, "model": chat.model, "messages": messages, **_shape(chat)})


def semantic_scope(scope: str, chat: ChatRequest) -> str | None:
    """The context a semantic match must share, or None when the request is not cacheable by
    meaning (its last message is not a plain-text user turn)."""
    last = chat.messages[-1]
    if last.role != "user" or not isinstance(last.content, str):
        return None
    context = chat.plain_messages[:-1]
    return "s:" + _digest({"scope": scope, "model": chat.model, "context": context, **_shape(chat)})
