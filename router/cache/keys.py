"""Cache fingerprints. Two requests share an exact entry only when everything that shapes the
answer is equal: the cache scope (the tenant, unless the policy shares across tenants), the
requested model or tier, every message including the system prompt, tools, and sampling
parameters. The semantic scope is the same minus the last user message, which is matched by
meaning instead."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from router.schemas import ChatRequest

# Everything in a request that changes the answer (or what comes back with it, like logprobs).
SHAPING = ("tools", "tool_choice", "response_format", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
           "logprobs", "top_logprobs")


def _digest(obj: Any) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
