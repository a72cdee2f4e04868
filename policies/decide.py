"""The decision function: from a classifier's prediction to a tier, with its reason.

Two forms, as the policy says:
- `quality_target`: the cheapest enabled tier whose predicted quality meets the target; when none
  does, the tier with the highest predicted quality (the cheaper one on a tie).
- `thresholds`: tiers from cheapest to dearest; the request goes to the dearest tier whose
  threshold its route score reaches (tiers without a threshold are only ever the base).
A tier's predicted quality is the classifier's prediction for the tier's `quality_model` (or its
model name) when the classifier knows it, else the tier's `quality_prior` discounted by the
request's difficulty: q = prior ** (1 + 2 * difficulty).

A tier that declares ``reasoning`` also gets an effort from the same prediction (harder -> more):
the route score's place in [0, 1] picks one of the tier's ``efforts`` (equal bands, easiest first)
or a thinking budget interpolated in its ``thinking_tokens`` bounds (:func:`reasoning_for`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from classifiers.base import Prediction
from policies.schema import Policy, Tier

DEFAULT_QUALITY_TARGET = 0.6


class NoTierAvailable(Exception):
    pass


class Requirements(Protocol):
    """What a request needs of the tier that answers it (router/capabilities.py `Needs`)."""

    def missing(self, tier: Tier) -> list[str]: ...


@dataclass(frozen=True)
class Decision:
    tier: str
    model: str
    route_score: float
    threshold: float | None
    reason: str
    predicted: dict[str, float] = field(default_factory=dict)
    classifier: str = ""
    pinned: bool = False
    reasoning: dict[str, Any] | None = None  # what the chosen tier is asked to think: reasoning_for()
    # What the request needs of any tier that answers it: a fallback lacking it is skipped (router/upstream.py).
    needs: Requirements | None = field(default=None, compare=False, repr=False)


def predicted_quality(policy: Policy, prediction: Prediction, tier_name: str) -> float:
    tier = policy.tiers[tier_name]
    for label in (tier.quality_model, tier.model):
        if label and label in prediction.quality:
            return float(prediction.quality[label])
    return tier.quality_prior ** (1.0 + 2.0 * prediction.difficulty)


THINKING_STEP = 64  # budgets are rounded to this many tokens: stable values across near-equal scores


def reasoning_for(tier: Tier, route_score: float) -> dict[str, Any] | None:
    """The reasoning a tier is asked for at this route score, as engine parameters plus what was chosen.

    Returns ``{"effort": ..., "params": {"reasoning_effort": ...}}`` (OpenAI style) or
    ``{"thinking_tokens": n, "params": {"thinking": {"type": "enabled", "budget_tokens": n}}}``
    (Anthropic style), or None for a tier without ``reasoning``.
    """
    r = tier.reasoning
    if r is None:
        return None
    x = min(1.0, max(0.0, float(route_score)))
    if r.style == "openai":
        efforts = r.efforts or []
        effort = efforts[min(len(efforts) - 1, int(x * len(efforts)))]
        return {"effort": effort, "params": {"reasoning_effort": effort}}
    low, high = r.thinking_tokens or (1024, 1024)
    budget = int(round((low + x * (high - low)) / THINKING_STEP) * THINKING_STEP)
    budget = min(high, max(low, budget))
    return {"thinking_tokens": budget, "params": {"thinking": {"type": "enabled", "budget_tokens": budget}}}


def describe_reasoning(reasoning: dict[str, Any] | None) -> str:
    if reasoning is None:
        return ""
    if "effort" in reasoning:
        return f"; reasoning effort {reasoning['effort']}"
    return f"; thinking budget {reasoning['thinking_tokens']} tokens"


def pinned(policy: Policy, tier_name: str, reason: str) -> Decision:
    return Decision(
        tier=tier_name,
        model=policy.tiers[tier_name].model,
        route_score=0.0,
        threshold=None,
        reason=reason,
        pinned=True,
    )


def decide(policy: Policy, prediction: Prediction, enabled: list[str], classifier: str = "") -> Decision:
    candidates = policy.by_cost([t for t in policy.tiers if t in enabled])
    if not candidates:
        raise NoTierAvailable("no tier of the policy is enabled")
    predicted = {t: round(predicted_quality(policy, prediction, t), 6) for t in candidates}
    score = float(prediction.difficulty)
    thresholds = policy.routing.thresholds
    if thresholds is not None:
        chosen, used = candidates[0], None
        for tier in candidates:
            limit = thresholds.get(tier)
            if limit is not None and score >= limit:
                chosen, used = tier, limit
        if used is None:
            reachable = [thresholds[t] for t in candidates[1:] if t in thresholds]
            used = min(reachable) if reachable else None
            reason = (
                f"route score {score:.3f} is below every escalation threshold; cheapest tier {chosen}"
                if reachable
                else f"no enabled tier above {chosen} has a threshold; cheapest tier {chosen}"
            )
        else:
            reason = f"route score {score:.3f} >= {chosen} threshold {used:.3f}"
    else:
        target = policy.routing.quality_target
        target = DEFAULT_QUALITY_TARGET if target is None else target
        used = target
        meeting = [t for t in candidates if predicted[t] >= target]
        if meeting:
            chosen = meeting[0]
            reason = f"cheapest enabled tier predicted to meet quality {target:.2f}: {chosen} ({predicted[chosen]:.3f})"
        else:
            best = max(predicted[t] for t in candidates)
            chosen = next(t for t in candidates if predicted[t] == best)
            reason = f"no enabled tier meets quality {target:.2f}; best predicted is {chosen} ({best:.3f})"
    reasoning = reasoning_for(policy.tiers[chosen], score)
    return Decision(
        tier=chosen,
        model=policy.tiers[chosen].model,
        route_score=score,
        threshold=used,
        reason=reason + describe_reasoning(reasoning),
        predicted=predicted,
        classifier=classifier,
        reasoning=reasoning,
    )
