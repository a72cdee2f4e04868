"""Calling the tiers: the decided tier, then its fallbacks, with retries, breakers, timeouts and
cancellation when the client goes away."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request

from engines.base import Engine, EngineError, EngineRequest
from policies.decide import Decision, reasoning_for
from policies.schema import Tier
from router.errors import APIError
from router.gateway import Gateway
from router.resilience import OPEN, retryable
from router.schemas import ChatRequest

if TYPE_CHECKING:
    from router.billing import Meter

log = logging.getLogger("switchyard")
T = TypeVar("T")


class ClientDisconnected(Exception):
    pass


def _reasoning(gateway: Gateway, tier: str, decision: Decision | None) -> dict[str, Any] | None:
    """The routed request's reasoning for the tier that serves it (a fallback or a kept agent tier: its own bounds)."""
    if decision is None or decision.pinned:
        return None
    return reasoning_for(gateway.policy.tiers[tier], decision.route_score)


def engine_request(
    gateway: Gateway, request: ChatRequest, tier: str, tenant: str | None = None, decision: Decision | None = None
) -> EngineRequest:
    """`decision`: the routing decision, whose reasoning effort (or thinking budget) the tier is sent."""
    extra: dict[str, Any] = {}
    max_tokens = request.output_limit() or gateway.policy.tiers[tier].max_output_tokens
    reasoning = _reasoning(gateway, tier, decision)
    if reasoning is not None:
        extra.update(reasoning["params"])
        if "thinking_tokens" in reasoning and max_tokens <= reasoning["thinking_tokens"]:
            # Anthropic counts thinking inside max_tokens and refuses a budget that does not fit.
            max_tokens = reasoning["thinking_tokens"] + gateway.policy.tiers[tier].max_output_tokens
    if request.presence_penalty is not None:
        extra["presence_penalty"] = request.presence_penalty
    if request.frequency_penalty is not None:
        extra["frequency_penalty"] = request.frequency_penalty
    if request.logprobs:
        extra["logprobs"] = True
        # llama.cpp's server reports log-probabilities only when top_logprobs is set too.
        extra["top_logprobs"] = request.top_logprobs or 1
    return EngineRequest(
        model=gateway.policy.tiers[tier].model,
        messages=[m.model_dump(exclude_none=True) for m in request.messages],
        max_tokens=max_tokens,
        temperature=request.temperature,
        top_p=request.top_p,
        stop=request.stop,  # type: ignore[arg-type]  # normalised to a list by the schema
        seed=request.seed,
        user=request.user,
        tools=request.tools,
        tool_choice=request.tool_choice,
        response_format=request.response_format,
        extra=extra,
        tenant=tenant,
    )


def upstream_error(exc: EngineError, passed_over: str = "") -> APIError:
    headers = {"retry-after": f"{exc.retry_after:g}"} if exc.retry_after is not None else None
    return APIError(exc.status, exc.message + passed_over, code=exc.code, headers=headers)


def _passed_over(gateway: Gateway, decision: Decision, plan: list[str]) -> str:
    """Words on the fallbacks left out of `plan` for lacking what the request needs, for the final error."""
    if decision.needs is None:
        return ""
    skipped = [t for t in gateway.plan(decision.tier) if t not in plan]
    if not skipped:
        return ""
    gaps = "; ".join(f"{t} lacks {', '.join(decision.needs.missing(gateway.policy.tiers[t]))}" for t in skipped)
    return f"; no other tier that can serve this request is left (fallbacks passed over: {gaps})"


async def _until_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def cancellable(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client goes away first (its upstream call stops too).

    `work` runs in the calling task; one watcher task cancels that task on a disconnect. (A task
    for the work too, and asyncio.wait over both, cost more than the rest of routing here.)"""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _until_disconnect(request)
        gone = True
        current.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        current.uncancel()
        raise ClientDisconnected from None
    finally:
        watcher.cancel()


def blame(exc: EngineError, tenant: str | None) -> str | None:
    """Whose request a failure may be down to, for the breaker: nobody's when the upstream could
    not be reached at all."""
    return None if exc.code == "upstream_unavailable" else tenant


async def with_fallbacks(
    gateway: Gateway, decision: Decision, call: Callable[[str, Engine], Awaitable[T]], tenant: str | None = None
) -> tuple[str, T]:
    """Call the decided tier, retrying retryable failures with backoff, then each fallback in turn.

    A tier whose circuit breaker is open is skipped without a call. Waits between attempts honour
    the upstream's Retry-After and, all together, stay within the policy's retry budget. A request
    the engine rejects as invalid (4xx) is the client's error: no retry, no fallback, no breaker count.
    A fallback lacking what the request needs (the decision's `needs`) is never called: when no
    capable one is left, the failure says which were passed over and why, rather than answer wrong.
    """
    plan = gateway.plan(decision.tier, decision.needs)
    guard = gateway.guard
    retry = guard.retry
    deadline = time.monotonic() + retry.budget_s
    last: EngineError | None = None
    for i, tier in enumerate(plan):
        breaker = guard.breaker(tier, gateway.policy.tiers[tier].breaker)
        for attempt in range(retry.attempts):
            permit = breaker.admit(tenant)
            if permit is None:
                gateway.metrics.circuit_skips.labels(tier).inc()
                break
            try:
                try:
                    result = await call(tier, gateway.engines[tier])
                except EngineError:
                    raise
                except Exception as bad:
                    # An engine that broke on what its upstream sent (a malformed chunk) is that upstream failing.
                    log.exception("tier %s failed unexpectedly", tier)
                    raise EngineError(f"tier {tier} failed: {bad!r}", code="upstream_error") from bad
            except EngineError as exc:
                if not retryable(exc.status):
                    breaker.success(permit)  # the upstream answered; it judged the request, not itself
                    # A routed request that outgrew a tier's context may still fit a larger one.
                    if exc.code == "context_length_exceeded" and not decision.pinned and i < len(plan) - 1:
                        last = exc
                        break
                    raise upstream_error(exc) from None
                breaker.failure(permit, exc.retry_after, blame(exc, tenant))
                last = exc
                wait = guard.delay(attempt + 1, exc.retry_after)
                if attempt + 1 >= retry.attempts or wait > retry.max_retry_after_s or time.monotonic() + wait > deadline:
                    break
                log.warning("tier %s failed (%s); retry %d in %.2fs", tier, exc.message, attempt + 1, wait)
                gateway.metrics.retries.labels(tier).inc()
                await asyncio.sleep(wait)
            except BaseException:
                breaker.abandon(permit)
                raise
            else:
                breaker.success(permit)
                return tier, result
        if i < len(plan) - 1:
            why = last.message if last is not None and breaker.state != OPEN else "circuit open"
            log.warning("tier %s failed (%s); falling back to %s", tier, why, plan[i + 1])
            gateway.metrics.fallbacks.labels(tier, plan[i + 1]).inc()
    if last is not None:
        raise upstream_error(last, _passed_over(gateway, decision, plan))
    wait = min(guard.breaker(tier).retry_in() for tier in plan)
    raise APIError(
        503,
        f"no tier can answer now: the circuit breaker of {', '.join(plan)} is open after repeated upstream failures",
        code="upstream_unavailable",
        headers={"retry-after": str(max(1, math.ceil(wait)))},
    )


async def timed(tier: Tier, work: Awaitable[T], limit: float | None, meter: Meter | None = None) -> T:
    """`work` (one upstream call of `tier`) given up after `limit` seconds, as a retryable 504.

    A `meter` records an attempt that failed after its upstream generated tokens (router/billing.py),
    so that the request pays for it even when a retry or a fallback answers."""
    scope = asyncio.timeout(limit)
    try:
        try:
            async with scope:
                return await work
        except TimeoutError:
            if not scope.expired():
                raise
            raise EngineError(f"tier {tier.model} gave no answer within {limit:g}s", status=504, code="upstream_timeout") from None
    except EngineError as exc:
        if meter is not None:
            meter.failed(tier, exc)
        raise


def first_token_limit(tier: Tier) -> float | None:
    limits = [t for t in (tier.timeouts.first_token_s, tier.timeouts.total_s) if t is not None]
    return min(limits) if limits else None
