"""A kept answer, typed: what the response cache stores for one request and serves back on a hit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """The chat answer and what it cost when it was generated. Stored as JSON with the keys
    `response`, `tier`, `model`, `usage`, `cost_nanousd`: the format entries already in Redis and in
    peers' semantic streams have, so a gateway of either version reads the other's."""

    response: dict[str, Any]
    tier: str | None
    model: str | None
    usage: dict[str, Any]
    cost_nanousd: int

    @classmethod
    def from_wire(cls, entry: Mapping[str, Any]) -> CachedAnswer:
        usage = entry.get("usage")
        tier, model = entry.get("tier"), entry.get("model")
        return cls(
            response=dict(entry["response"]),
            tier=tier if isinstance(tier, str) else None,
            model=model if isinstance(model, str) else None,
            usage=usage if isinstance(usage, dict) else {},
            cost_nanousd=int(entry.get("cost_nanousd") or 0),
        )

    @classmethod
    def parse(cls, raw: bytes | str) -> CachedAnswer | None:
        """A kept answer read back from a store, or None where what is there is not one (bytes of another
        version or a foreign writer in the shared Redis): the caller treats that as a miss, since serving
        it would fail the request (a 500) or replay something no model said."""
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(entry, dict) or not isinstance(entry.get("response"), dict) or not _answer_shaped(entry):
            return None
        try:
            return cls.from_wire(entry)
        except (TypeError, ValueError, OverflowError):
            return None

    def to_wire(self) -> dict[str, Any]:
        return {"response": self.response, "tier": self.tier, "model": self.model, "usage": self.usage, "cost_nanousd": self.cost_nanousd}

    @property
    def choice(self) -> dict[str, Any]:
        return (self.response.get("choices") or [{}])[0]

    @property
    def text(self) -> str:
        content = (self.choice.get("message") or {}).get("content")
        return content if isinstance(content, str) else ""


def _answer_shaped(entry: Mapping[str, Any]) -> bool:
    """Whether an entry has the shapes serving and replaying it read (router/streaming.py's serve_hit and
    replay_deltas, the ledger row): a list of choice objects, a message object, tool calls with a function
    object, logprobs lists of objects, whole token counts."""
    choices = entry["response"].get("choices")
    if choices is not None and not (isinstance(choices, list) and all(isinstance(c, dict) for c in choices)):
        return False
    for choice in choices or []:
        message = choice.get("message")
        if message is not None and not isinstance(message, dict):
            return False
        if not isinstance(choice.get("finish_reason"), str | None):
            return False
        calls = (message or {}).get("tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(
                isinstance(c, dict) and isinstance(c.get("function") or {}, dict) for c in calls)):
            return False
        logprobs = choice.get("logprobs")
        if logprobs is not None and not (isinstance(logprobs, dict) and all(
                v is None or (isinstance(v, list) and all(isinstance(e, dict) for e in v)) for v in logprobs.values())):
            return False
    usage = entry.get("usage")
    if isinstance(usage, dict) and any(not _count(usage.get(name)) for name in ("prompt_tokens", "completion_tokens", "total_tokens")):
        return False
    cost = entry.get("cost_nanousd")
    return cost is None or _count(cost)


def _count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
