"""What failed upstream calls cost.

A provider bills the tokens it generated whether or not the gateway delivered them: an attempt the
gateway timed out (the upstream went on and finished), or whose answer broke off mid-body, is billed
even when a retry or a fallback answers in the end. Such an attempt reported no usage, so the
gateway meters an estimate, flagged as one in the ledger row (`decision.usage_estimated`), and
settles it against the request's budgets like any other cost.

Failures before the upstream could generate anything (refused connections, HTTP errors, breaker
skips) cost nothing and are not metered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from engines.base import EngineError, estimate_tokens, messages_text

if TYPE_CHECKING:
    from policies.schema import Tier
    from router.books import RequestBooks
    from router.gateway import Gateway

log = logging.getLogger("switchyard")
ESTIMATED = "estimated"  # a usage dict's key, present when the gateway estimated its counts; its value says how


def generated(exc: BaseException) -> bool:
    """Whether an attempt that failed with `exc` had its upstream generate tokens (and so bill them)."""
    if not isinstance(exc, EngineError):
        return False
    cause = exc.__cause__
    if exc.code == "upstream_timeout":
        # The request was sent and the upstream was working on it; a connect timeout sent nothing.
        return not isinstance(cause, aiohttp.ConnectionTimeoutError)
    # A 200 whose body broke off mid-way: the answer was generated and on its way.
    return isinstance(cause, aiohttp.ClientPayloadError)


def estimate(prompt_text: str, completion: int, why: str) -> dict[str, Any]:
    prompt = estimate_tokens(prompt_text)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion, ESTIMATED: why}


def attempts(billed: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Billed attempts as the ledger row keeps them: their tokens are in the row's totals, not in its answer."""
    return [{"tier": tier, "prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
             ESTIMATED: usage.get(ESTIMATED)} for tier, usage in billed]


class Meter:
    """Records the failed attempts of one request that its providers bill, on its books' `billed`."""

    __slots__ = ("call", "gateway")

    def __init__(self, gateway: Gateway, call: RequestBooks) -> None:
        self.gateway = gateway
        self.call = call

    def failed(self, tier: Tier, exc: BaseException) -> None:
        chat = self.call.chat
        if chat is None or not generated(exc):
            return
        tiers = self.gateway.policy.tiers
        name = next((n for n, t in tiers.items() if t is tier), None) or next((n for n, t in tiers.items() if t == tier), None)
        if name is None:  # the policy was reloaded without this tier mid-request: nothing left to price it by
            log.warning("a failed attempt on a removed tier (model %s) is not billed", tier.model,
                        extra={"request_id": self.call.request_id})
            return
        if chat.stream:
            # A stream that failed before its first chunk was closed at once: the upstream stopped there.
            completion, how = 0, "no completion tokens"
        else:
            # The upstream may well have finished: bill the most it could have generated.
            completion = chat.output_limit() or tier.max_output_tokens
            how = f"completion at its limit of {completion}"
        why = f"{exc.code} on tier {name}: prompt estimated from its text, {how}"  # type: ignore[attr-defined]
        self.call.billed.append((name, estimate(messages_text(chat.plain_messages), completion, why)))
