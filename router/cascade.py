"""Cascade routing: the cheapest tier answers first and the answer stands if the tier was confident.

Confidence is exp(mean token log-probability) of the answer (the geometric-mean probability of
its tokens). Upstreams report log-probabilities when asked (`logprobs: true`, OpenAI's shape:
`choices[0].logprobs.content[i].logprob`); an answer without them counts as not confident, so the
cascade escalates rather than trusting a signal it does not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from router.gateway import Gateway
from router.schemas import ChatRequest


@dataclass(slots=True)
class Stage:
    """One tier asked in a cascade: its answer's usage, or the error that ended it; a judged stage
    (every stage but the last) carries its answer's confidence and whether it stood."""

    tier: str
    usage: dict[str, Any] | None = None
    error: str | None = None
    judged: bool = False
    confidence: float | None = None
    accepted: bool = False

    def as_row(self) -> dict[str, Any]:
        """The stage as a ledger row's `decision.cascade` keeps it (the format rows already hold)."""
        if self.error is not None:
            return {"tier": self.tier, "error": self.error}
        row: dict[str, Any] = {"tier": self.tier, "usage": self.usage}
        if self.judged:
            row["confidence"], row["accepted"] = self.confidence, self.accepted
        return row

    def label(self) -> str:
        """`tier:confidence` (or `:error`, `:n/a`), as the cascade's header and decision reason show it."""
        if self.error is not None:
            return f"{self.tier}:error"
        return f"{self.tier}:{'n/a' if self.confidence is None else format(self.confidence, '.3f')}"


def stages(gateway: Gateway, chat: ChatRequest) -> list[str] | None:
    """The enabled cascade tiers for this request, cheapest first, or None when it is not cascaded.

    Streams are not cascaded: judging an answer needs all of it before the client sees any.
    """
    cascade = gateway.policy.routing.cascade
    if cascade is None or chat.model != "auto" or chat.stream or chat.tools:
        return None
    names = [name for name in cascade.tiers if name in gateway.engines]
    return names if len(names) >= 2 else None


def confidence(payload: dict[str, Any]) -> float | None:
    choices = payload.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return None
    logprobs = choices[0].get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list) or not content:
        return None
    values = [t.get("logprob") for t in content if isinstance(t, dict)]
    values = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not values:
        return None
    return math.exp(sum(values) / len(values))


def strip_logprobs(payload: dict[str, Any]) -> None:
    """The client did not ask for log-probabilities; the gateway did, for itself."""
    for choice in payload.get("choices") or []:
        if isinstance(choice, dict) and "logprobs" in choice:
            choice["logprobs"] = None
