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


# A tier's settings that never change what it answers: what it costs, how long it may take, when its
# breaker opens, where its key is read from, which other names pin it, when it is enabled, how the router
# rates it. Everything else (engine, model, upstream model, base URL, replicas, model file, context, output
# limit, reasoning, capabilities) is in the tier's fingerprint.
_NOT_ANSWERING = frozenset({"prices", "timeouts", "breaker", "api_key_env", "aliases", "enabled", "enabled_when",
                            "quality_prior", "quality_model"})

# Of those, what routing never reads either (prices, priors and enablement steer `auto` to a tier).
_NOT_ROUTING = frozenset({"timeouts", "breaker", "api_key_env"})


def _digest(obj: Any) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Serving:
    """Fingerprints of what answers each requested model under one policy, for the cache scope.

    A pinned model (a tier's name, model or alias) is answered by its tier or, when that fails, by the
    tier's fallbacks: its fingerprint is theirs, so changing another tier leaves its entries hitting.
    ``auto`` may be routed to any tier: its fingerprint is every tier's and the routing's (a changed
    threshold or price moves requests to another tier). Built once per policy: a reload builds a new one."""

    def __init__(self, policy: Policy) -> None:
        dumped = {name: tier.model_dump(mode="json") for name, tier in policy.tiers.items()}
        answering = {name: _digest({k: v for k, v in tier.items() if k not in _NOT_ANSWERING}) for name, tier in dumped.items()}
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
        routed = {name: {k: v for k, v in tier.items() if k not in _NOT_ROUTING} for name, tier in dumped.items()}
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
