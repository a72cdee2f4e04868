"""Where a request goes: the one place that decides, for chat, every front door and /v1/route.

A plan is the tier that answers first and, for a cascade, the cheaper-first stages after it; or
the cheapest tier when a covering budget is nearly spent and the policy downgrades rather than
refuses; or what the classifier and the policy's thresholds pick (or the pinned model).
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from policies.decide import Decision
from router import cascade
from router.capabilities import Needs, estimate_prompt_tokens, needs
from router.conversations import State, mid_chain, step, switch_loses, tracked
from router.gateway import Gateway
from router.schemas import ChatRequest
from router.tenancy.guard import Identity


@dataclass(frozen=True)
class Plan:
    decision: Decision  # the tier asked first
    stages: tuple[Decision, ...]  # every tier the request may be answered by in turn (a cascade), else (decision,)
    downgraded: str | None = None  # the budget that is nearly spent, when the plan is a downgrade
    # An agent step's tier on its way to the database, written while the engine works: the request's books
    # wait for it before any of the answer leaves (RequestBooks.remembered), so the next step finds it anywhere.
    remembering: asyncio.Task[None] | None = None

    @property
    def cascaded(self) -> bool:
        return len(self.stages) > 1


async def plan(gateway: Gateway, chat: ChatRequest, identity: Identity, conversation: str | None = None) -> Plan:
    """`conversation`: the request's conversation id (router/conversations.py), to keep an agent's tool chain on its tier."""
    downgrade = None
    fraction = gateway.policy.routing.budget_downgrade_below
    if fraction is not None and identity.buckets and chat.model == "auto":
        nearly = await gateway.tenancy.nearly_spent(identity, fraction)
        downgrade = nearly.name if nearly else None
    need = needs(chat)  # one pass over the prompt, for the cascade, the classifier's tiers and an agent's step
    tiers = cascade.stages(gateway, chat) if downgrade is None else None
    if tiers is not None:
        # A stage that cannot serve the request is left out; fewer than two stages is no cascade.
        tiers = [t for t in tiers if not need.missing(gateway.policy.tiers[t])]
        tiers = tiers if len(tiers) >= 2 else None
    if tiers is not None:
        stages = tuple(Decision(t, gateway.policy.tiers[t].model, 0.0, None, "cascade stage", needs=need) for t in tiers)
        first = Decision(tiers[0], stages[0].model, 0.0, None, f"cascade over {', '.join(tiers)}", needs=need)
        gateway.metrics.decisions.labels(tiers[0]).inc()
        return Plan(first, stages)
    decision = await gateway.decide(chat, cheapest_only=downgrade, need=need)
    remembering = None
    if conversation is not None and not decision.pinned and tracked(chat):
        here = step(chat)
        last = await gateway.conversations.last(identity.tenant, conversation, here)
        decision = _agent_step(gateway, chat, need, last.tier if last else None, decision, downgrade)
        # Not awaited here: the write (a database commit, ms) overlaps the engine call instead of preceding it.
        remembering = asyncio.get_running_loop().create_task(
            gateway.conversations.remember(identity.tenant, conversation, State(decision.tier, here, mid_chain(chat))))
    decision = dataclasses.replace(decision, needs=need)  # its fallbacks are held to what the request needs
    return Plan(decision, (decision,), downgrade, remembering)


def _agent_step(gateway: Gateway, chat: ChatRequest, need: Needs, prior: str | None, decision: Decision,
                downgrade: str | None) -> Decision:
    """A routed step of a conversation whose last step went to another tier: mid tool chain it stays there
    (a dearer tier only where the policy allows escalation; never a cheaper one), and at a new human turn
    it stays where moving to a cheaper tier would lose more to the provider's prompt cache than it saves.
    A budget downgrade is the tenant's limit, not routing's: it is not overruled."""
    policy = gateway.policy
    if (prior is None or prior == decision.tier or downgrade is not None or not policy.routing.agent.sticky
            or prior not in gateway.engines or need.missing(policy.tiers[prior])):
        return decision
    order = policy.by_cost()
    dearer = order.index(decision.tier) > order.index(prior)
    if mid_chain(chat):
        if dearer and policy.routing.agent.escalate_mid_chain:
            return dataclasses.replace(decision, reason=f"{decision.reason}; escalated mid tool chain from {prior}")
        why = f"tool chain in progress on {prior}: kept there (routing said {decision.tier})"
    elif not dearer and switch_loses(policy.tiers[prior], policy.tiers[decision.tier],
                                     estimate_prompt_tokens(chat.plain_messages, chat.tools),
                                     chat.output_limit() or policy.tiers[prior].max_output_tokens):
        why = f"kept on {prior}: its prompt cache makes this step cheaper there than on {decision.tier}"
    else:
        return decision
    return dataclasses.replace(decision, tier=prior, model=policy.tiers[prior].model, reason=why)
