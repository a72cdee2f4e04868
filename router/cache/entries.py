"""A kept answer, typed: what the response cache stores for one request and serves back on a hit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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

    def to_wire(self) -> dict[str, Any]:
        return {"response": self.response, "tier": self.tier, "model": self.model, "usage": self.usage, "cost_nanousd": self.cost_nanousd}

    @property
    def choice(self) -> dict[str, Any]:
        return (self.response.get("choices") or [{}])[0]

    @property
    def text(self) -> str:
        content = (self.choice.get("message") or {}).get("content")
        return content if isinstance(content, str) else ""
