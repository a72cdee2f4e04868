"""Where a request goes: the one place that decides, for chat, every front door and /v1/route.

A plan is the tier that answers first and, for a cascade, the cheaper-first stages after it; or
the cheapest tier when a covering budget is nearly spent and the policy downgrades rather than
refuses; or what the classifier and the policy's thresholds pick (or the pinned model).
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.decide import Decision
from router import cascade
from router.capabilities import needs
from router.gateway import Gateway
from router.schemas import ChatRequest
from router.tenancy.guard import Identity


@dataclass(frozen=True)
class Plan:
    decision: Decision  # the tier asked first
    stages: tuple[Decision, ...]  # every tier the request may be answered by in turn (a cascade), else (decision,)
    downgraded: str | None = None  # the budget that is nearly spent, when the plan is a downgrade

    @property
    def cascaded(self) -> bool:
        return len(self.stages) > 1


async def plan(gateway: Gateway, chat: ChatRequest, identity: Identity) -> Plan:
    downgrade = None
    fraction = gateway.policy.routing.budget_downgrade_below
    if fraction is not None and identity.buckets and chat.model == "auto":
        nearly = await gateway.tenancy.nearly_spent(identity, fraction)
        downgrade = nearly.name if nearly else None
    tiers = cascade.stages(gateway, chat) if downgrade is None else None
    if tiers is not None:
        # A stage that cannot serve the request is left out; fewer than two stages is no cascade.
        need = needs(chat)
        tiers = [t for t in tiers if not need.missing(gateway.policy.tiers[t])]
        tiers = tiers if len(tiers) >= 2 else None
    if tiers is not None:
        stages = tuple(Decision(t, gateway.policy.tiers[t].model, 0.0, None, "cascade stage") for t in tiers)
        first = Decision(tiers[0], stages[0].model, 0.0, None, f"cascade over {', '.join(tiers)}")
        gateway.metrics.decisions.labels(tiers[0]).inc()
        return Plan(first, stages)
    decision = await gateway.decide(chat, cheapest_only=downgrade)
    return Plan(decision, (decision,), downgrade)
