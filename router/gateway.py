"""The gateway's state: the policy, one engine per enabled tier, the classifier and metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from classifiers.base import Prediction
from engines.base import Engine
from policies.decide import Decision, NoTierAvailable, decide, pinned
from policies.schema import Policy
from router.errors import APIError
from router.metrics import Metrics
from router.schemas import ChatRequest
from router.tiers import build_engine, load_classifier

log = logging.getLogger("switchyard")


def routing_text(messages: list[Any]) -> str:
    """What the classifier reads: the last user turn (system prompts describe the app, not the task)."""
    for message in reversed(messages):
        if message.role == "user":
            content = message.content
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(p["text"] for p in content if isinstance(p.get("text"), str))
    return ""


class Gateway:
    def __init__(self, policy: Policy, source: str = "<default>") -> None:
        self.policy = policy
        self.source = source
        self.metrics = Metrics()
        self.status = {name: tier.status() for name, tier in policy.tiers.items()}
        self.engines: dict[str, Engine] = {}
        self.classifier, self.classifier_note = load_classifier(
            policy.routing.classifier, policy.routing.long_prompt_words
        )
        self.ready = False
        self.started_at = 0.0
        for name, (enabled, _) in self.status.items():
            self.metrics.tier_up.labels(name).set(1 if enabled else 0)

    def banner(self) -> list[str]:
        lines = [f"policy {self.policy.name!r} from {self.source}"]
        for name in self.policy.by_cost():
            enabled, why = self.status[name]
            tier = self.policy.tiers[name]
            lines.append(f"  tier {name:<12} {'ENABLED ' if enabled else 'disabled'} {tier.model}: {why}")
        lines.append(f"  routing: {self.classifier_note}")
        return lines

    async def start(self) -> None:
        for name, (enabled, _) in self.status.items():
            if not enabled:
                continue
            engine = build_engine(self.policy.tiers[name])
            await engine.start()
            self.engines[name] = engine
        self.ready = True

    async def aclose(self) -> None:
        self.ready = False
        for engine in self.engines.values():
            await engine.aclose()
        self.engines.clear()

    def enabled(self) -> list[str]:
        return [name for name in self.policy.tiers if name in self.engines]

    async def predict(self, text: str) -> Prediction:
        if getattr(self.classifier, "cheap", False):
            return self.classifier.predict([text])[0]
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, self.classifier.predict, [text])
        return result[0]

    async def decide(self, request: ChatRequest) -> Decision:
        if request.model != "auto":
            tier = self.policy.resolve(request.model)
            if tier is None:
                raise APIError(
                    404,
                    f"the model {request.model!r} does not exist; "
                    f"use 'auto', a tier ({', '.join(self.policy.tiers)}) or a model from /v1/models",
                    code="model_not_found",
                    param="model",
                )
            if tier not in self.engines:
                raise APIError(
                    400,
                    f"tier {tier!r} ({self.policy.tiers[tier].model}) is disabled: {self.status[tier][1]}",
                    code="model_unavailable",
                    param="model",
                )
            if request.tools and not self.engines[tier].supports_tools:
                raise APIError(400, f"tier {tier!r} cannot call tools", code="tools_unsupported", param="tools")
            return pinned(self.policy, tier, f"pinned by the request's model {request.model!r}")
        enabled = self.enabled()
        if request.tools:
            enabled = [t for t in enabled if self.engines[t].supports_tools]
            if not enabled:
                raise APIError(400, "no enabled tier supports tools", code="tools_unsupported", param="tools")
        prediction = await self.predict(routing_text(request.messages))
        try:
            decision = decide(self.policy, prediction, enabled, self.classifier.name)
        except NoTierAvailable as exc:
            raise APIError(503, str(exc), code="no_tier_available") from None
        self.metrics.decisions.labels(decision.tier).inc()
        return decision

    def plan(self, first: str) -> list[str]:
        """The tier to call and, after it, the enabled fallbacks the policy lists for it."""
        order = [first]
        for name in self.policy.fallbacks.get(first, []):
            if name in self.engines and name not in order:
                order.append(name)
        return order
