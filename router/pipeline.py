"""The chat-completion pipeline: validate, decide, call the engine (with fallbacks), respond."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engines.base import Engine, EngineError, EngineRequest, estimate_tokens, messages_text
from policies.decide import Decision
from policies.schema import Tier
from router import cascade
from router.cache.responses import CacheControl, Hit, cache_control
from router.errors import APIError
from router.gateway import Gateway, routing_text
from router.ledger.store import LedgerRow, LedgerUnavailable, to_nanousd
from router.resilience import OPEN, retryable
from router.schemas import ChatRequest, parse_chat_request
from router.tenancy.guard import Identity

log = logging.getLogger("switchyard")
T = TypeVar("T")
PARAMS = {"max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "user", "stream", "tools", "tool_choice"}


class ClientDisconnected(Exception):
    pass


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"the request body is {declared} bytes; the limit is {limit}", code="request_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"the request body exceeds the limit of {limit} bytes", code="request_too_large")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise APIError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise APIError(400, f"the request body is not valid JSON (or not UTF-8): {exc}", code="invalid_json") from None


def validate_limits(gateway: Gateway, request: ChatRequest) -> None:
    limits = gateway.policy.limits
    if len(request.messages) > limits.max_messages:
        raise APIError(
            400, f"{len(request.messages)} messages; the limit is {limits.max_messages}", code="too_many_messages", param="messages"
        )
    limit = request.output_limit()
    if limit is not None and limit > limits.max_output_tokens:
        raise APIError(400, f"max_tokens {limit} exceeds the limit of {limits.max_output_tokens}", code="invalid_value", param="max_tokens")


def engine_request(gateway: Gateway, request: ChatRequest, tier: str, tenant: str | None = None) -> EngineRequest:
    extra: dict[str, Any] = {}
    if request.presence_penalty is not None:
        extra["presence_penalty"] = request.presence_penalty
    if request.frequency_penalty is not None:
        extra["frequency_penalty"] = request.frequency_penalty
    return EngineRequest(
        model=gateway.policy.tiers[tier].model,
        messages=[m.model_dump(exclude_none=True) for m in request.messages],
        max_tokens=request.output_limit() or gateway.policy.tiers[tier].max_output_tokens,
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


def decision_headers(headers: dict[str, str], decision: Decision) -> None:
    headers["x-switchyard-tier"] = decision.tier
    headers["x-switchyard-model"] = decision.model
    headers["x-switchyard-route-score"] = f"{decision.route_score:.4f}"
    headers["x-switchyard-cache"] = "off"


def money(value: Decimal) -> str:
    return f"{value:.8f}"


def upstream_error(exc: EngineError) -> APIError:
    headers = {"retry-after": f"{exc.retry_after:g}"} if exc.retry_after is not None else None
    return APIError(exc.status, exc.message, code=exc.code, headers=headers)


async def _until_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def cancellable(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, cancelling it if the client goes away first (its upstream call stops too)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    raise ClientDisconnected


async def with_fallbacks(
    gateway: Gateway, decision: Decision, call: Callable[[str, Engine], Awaitable[T]]
) -> tuple[str, T]:
    """Call the decided tier, retrying retryable failures with backoff, then each fallback in turn.

    A tier whose circuit breaker is open is skipped without a call. Waits between attempts honour
    the upstream's Retry-After and, all together, stay within the policy's retry budget.
    """
    plan = gateway.plan(decision.tier)
    guard = gateway.guard
    retry = guard.retry
    deadline = time.monotonic() + retry.budget_s
    last: EngineError | None = None
    for i, tier in enumerate(plan):
        breaker = guard.breaker(tier, gateway.policy.tiers[tier].breaker)
        for attempt in range(retry.attempts):
            permit = breaker.admit()
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
                breaker.failure(permit, exc.retry_after)
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
        raise upstream_error(last)
    wait = min(guard.breaker(tier).retry_in() for tier in plan)
    raise APIError(
        503,
        f"no tier can answer now: the circuit breaker of {', '.join(plan)} is open after repeated upstream failures",
        code="upstream_unavailable",
        headers={"retry-after": str(max(1, math.ceil(wait)))},
    )


async def timed(tier: Tier, work: Awaitable[T], limit: float | None) -> T:
    """`work` (one upstream call of `tier`) given up after `limit` seconds, as a retryable 504."""
    if limit is None:
        return await work
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            return await work
    except TimeoutError:
        if not scope.expired():
            raise
        raise EngineError(f"tier {tier.model} gave no answer within {limit:g}s", status=504, code="upstream_timeout") from None


def first_token_limit(tier: Tier) -> float | None:
    limits = [t for t in (tier.timeouts.first_token_s, tier.timeouts.total_s) if t is not None]
    return min(limits) if limits else None


def prompt_token_bound(chat: ChatRequest) -> int:
    """An upper bound on the prompt's tokens: byte-level tokenizers never make more tokens than
    UTF-8 bytes, plus each message's chat-template overhead."""
    size = 0
    for message in chat.messages:
        content = message.content
        if isinstance(content, str):
            size += len(content.encode("utf-8"))
        elif content is not None:
            size += len(orjson.dumps(content))
        if message.tool_calls:
            size += len(orjson.dumps(message.tool_calls))
    if chat.tools:
        size += len(orjson.dumps(chat.tools))
    return size + 8 * len(chat.messages) + 16


def partial_usage(chat: ChatRequest, pieces: list[str]) -> dict[str, int]:
    """Usage of a stream that ended before its usage chunk: the prompt estimated, one token a piece."""
    prompt = estimate_tokens(messages_text([m.model_dump(exclude_none=True) for m in chat.messages]))
    return {"prompt_tokens": prompt, "completion_tokens": len(pieces), "total_tokens": prompt + len(pieces)}


def worst_case(gateway: Gateway, chat: ChatRequest, decision: Decision, prompt_bound: int) -> int:
    """What this request could cost at most, on whichever tier of its plan ends up answering."""
    worst = Decimal(0)
    for name in gateway.plan(decision.tier):
        tier = gateway.policy.tiers[name]
        worst = max(worst, tier.cost(prompt_bound, chat.output_limit() or tier.max_output_tokens))
    return to_nanousd(worst)


@dataclass
class Call:
    """One chat request on its way through the gateway."""

    request_id: str
    started: float
    headers: dict[str, str]
    tenant: str = "anonymous"
    team: str = "default"
    key_id: str | None = None
    chat: ChatRequest | None = None
    decision: Decision | None = None
    overhead_ms: float | None = None
    identity: Identity | None = None
    reserved: int = 0
    holding: bool = False  # a budget reservation is held until settled or released
    cache: str = "off"  # off, bypass, miss, hit-exact, hit-semantic
    cascade: list[dict[str, Any]] | None = None  # the cascade's stages so far, when the request is cascaded
    control: CacheControl | None = None
    _embedding: Any = None
    _embedded: bool = False

    def embedding(self, gateway: Gateway) -> Callable[[], Awaitable[Any]]:
        """The request's embedding, computed at most once, when first needed."""

        async def get() -> Any:
            if not self._embedded:
                self._embedded = True
                assert self.chat is not None
                self._embedding = await gateway.embed(routing_text(self.chat.messages))
            return self._embedding

        return get

    async def settle(self, gateway: Gateway, actual: int) -> None:
        if self.holding and self.identity is not None:
            self.holding = False
            await gateway.tenancy.settle(self.identity, self.request_id, actual)

    async def release(self, gateway: Gateway) -> None:
        if self.holding and self.identity is not None:
            self.holding = False
            await gateway.tenancy.release(self.identity, self.request_id)


def finish(
    gateway: Gateway,
    call: Call,
    tier: str | None,
    usage: dict[str, Any],
    *,
    status: str = "ok",
    http_status: int = 200,
    error: str | None = None,
    response_text: str | None = None,
    cached_cost: int | None = None,
    prior: list[tuple[str, dict[str, Any]]] | None = None,
) -> tuple[Decimal, LedgerRow]:
    """Price the request, count it in the metrics and log line, and build its ledger row.

    `prior` are earlier calls of the same request (cascade stages that did not answer): each is
    priced at its own tier and added, so the one row carries everything the request cost.
    """
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    latency_ms = (time.perf_counter() - call.started) * 1000
    chat, decision = call.chat, call.decision
    cost = saved = Decimal(0)
    model = None
    if tier is not None:
        served = gateway.policy.tiers[tier]
        model = served.model
        # A cache hit costs nothing; what it saved is counted like any other saving.
        cost = Decimal(0) if cached_cost is not None else served.cost(prompt, completion)
        saved = max(Decimal(0), gateway.policy.tiers[gateway.dearest].cost(prompt, completion) - cost)
        metrics = gateway.metrics
        metrics.requests.labels(tier, model, status, call.cache).inc()
        if cached_cost is not None:
            metrics.cache_saved.labels(tier).inc(cached_cost / 1e9)
        metrics.latency.labels(tier, "true" if chat and chat.stream else "false").observe(latency_ms / 1000)
        metrics.tokens.labels(tier, "prompt").inc(prompt)
        metrics.tokens.labels(tier, "completion").inc(completion)
        metrics.cost.labels(tier).inc(float(cost))
    for stage, stage_usage in prior or []:
        stage_prompt, stage_completion = int(stage_usage.get("prompt_tokens") or 0), int(stage_usage.get("completion_tokens") or 0)
        stage_cost = gateway.policy.tiers[stage].cost(stage_prompt, stage_completion)
        cost += stage_cost
        saved = max(Decimal(0), saved - stage_cost)  # against sending the answer's tokens to the dearest tier
        prompt, completion = prompt + stage_prompt, completion + stage_completion
        gateway.metrics.tokens.labels(stage, "prompt").inc(stage_prompt)
        gateway.metrics.tokens.labels(stage, "completion").inc(stage_completion)
        gateway.metrics.cost.labels(stage).inc(float(stage_cost))
    if log.isEnabledFor(logging.INFO):
        log.info(
            "chat completion",
            extra={"request_id": call.request_id, "tenant": call.tenant, "tier": tier, "status": status, "http_status": http_status,
                   "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": str(cost), "latency_ms": round(latency_ms, 2)},
        )
    store = gateway.policy.store_prompts
    row = LedgerRow(
        request_id=call.request_id,
        tenant=call.tenant,
        team=call.team,
        key_id=call.key_id,
        status=status,
        http_status=http_status,
        requested_model=chat.model if chat else None,
        tier=tier,
        model=model,
        routed=bool(decision and not decision.pinned),
        route_score=decision.route_score if decision else None,
        decision=(
            {"tier": decision.tier, "predicted": decision.predicted, "threshold": decision.threshold,
             "reason": decision.reason, "classifier": decision.classifier,
             **({"cascade": call.cascade} if call.cascade is not None else {})}
            if decision else None
        ),
        fallback_from=decision.tier if decision and tier and tier != decision.tier else None,
        messages=[m.model_dump(exclude_none=True) for m in chat.messages] if chat and store else None,
        response=response_text if store else None,
        params=chat.model_dump(include=PARAMS, exclude_none=True) if chat else None,
        stream=bool(chat and chat.stream),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_nanousd=to_nanousd(cost),
        saved_nanousd=to_nanousd(saved),
        latency_ms=round(latency_ms, 3),
        overhead_ms=call.overhead_ms,
        cache=call.cache,
        error=error,
    )
    return cost, row


async def commit(gateway: Gateway, row: LedgerRow) -> None:
    try:
        await gateway.ledger.record(row)
    except LedgerUnavailable as exc:
        log.error("ledger write failed: %s", exc, extra={"request_id": row.request_id})
        message = "the gateway could not record this request, so it is not answered; retry later"
        raise APIError(503, message, code="ledger_unavailable") from None


async def chat_completions(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    request_id = uuid.uuid4().hex
    call = Call(request_id=request_id, started=time.perf_counter(), headers={"x-switchyard-request-id": request_id})
    request.state.request_id = request_id
    request.state.headers = call.headers
    gateway.active += 1
    handed_off = False
    try:
        response = await _chat(request, gateway, call)
        if isinstance(response, GuardedStream):
            # The stream still uses this gateway's engine after this returns: it says when it is done.
            response.after = gateway.done
            handed_off = True
        return response
    except BaseException as exc:
        # Whatever stopped the request before it was answered, its budget hold goes back.
        await call.release(gateway)
        if not isinstance(exc, APIError):
            raise
        status = "rejected" if exc.status < 500 else "error"
        tier = call.decision.tier if call.decision and exc.status >= 500 else None
        _, row = finish(gateway, call, tier, {}, status=status, http_status=exc.status, error=exc.message)
        with contextlib.suppress(APIError):
            await commit(gateway, row)
        raise
    finally:
        if not handed_off:
            gateway.done()


async def _chat(request: Request, gateway: Gateway, call: Call) -> Response:
    headers = call.headers
    identity = call.identity = await gateway.tenancy.identify(request.headers.get("authorization"))
    call.tenant, call.team, call.key_id = identity.tenant, identity.team, identity.key_id
    chat = call.chat = parse_chat_request(await read_json(request, gateway.policy.limits.max_request_bytes))
    validate_limits(gateway, chat)
    prompt_bound = prompt_token_bound(chat)
    control = call.control = cache_control(request.headers, gateway.policy.cache)
    if gateway.cache.enabled:
        call.cache = "miss" if control.lookup else "bypass"
        if control.lookup:
            hit = await gateway.cache.lookup(call.tenant, chat, call.embedding(gateway))
            if hit is not None:
                await gateway.tenancy.admit(identity, 0)
                return await serve_hit(gateway, call, hit)
    downgrade = None
    fraction = gateway.policy.routing.budget_downgrade_below
    if fraction is not None and identity.buckets and chat.model == "auto":
        nearly = await gateway.tenancy.nearly_spent(identity, fraction)
        downgrade = nearly.name if nearly else None
    plan = cascade.stages(gateway, chat) if downgrade is None else None
    if plan is not None:
        first = gateway.policy.tiers[plan[0]]
        decision = call.decision = Decision(plan[0], first.model, 0.0, None, f"cascade over {', '.join(plan)}")
        gateway.metrics.decisions.labels(plan[0]).inc()
    else:
        decision = call.decision = await gateway.decide(chat, cheapest_only=downgrade)
    decision_headers(headers, decision)
    headers["x-switchyard-cache"] = call.cache
    await gateway.tenancy.admit(identity, prompt_bound + (chat.output_limit() or gateway.policy.tiers[decision.tier].max_output_tokens))
    # A cascade may pay for every stage: it reserves the sum of their worst cases.
    stage_decisions = [Decision(t, gateway.policy.tiers[t].model, 0.0, None, "cascade stage") for t in plan] if plan else [decision]
    call.reserved = sum(worst_case(gateway, chat, d, prompt_bound) for d in stage_decisions)
    await gateway.tenancy.reserve(identity, call.request_id, call.reserved)
    call.holding = True
    overhead = time.perf_counter() - call.started
    call.overhead_ms = round(overhead * 1000, 3)
    headers["x-switchyard-overhead-ms"] = f"{overhead * 1000:.3f}"
    gateway.metrics.overhead.labels("true" if chat.model == "auto" else "false").observe(overhead)

    if chat.stream:
        return await stream_completion(request, gateway, call)
    if plan is not None:
        return await cascade_completion(request, gateway, call, stage_decisions)

    async def attempt(tier: str, engine: Engine) -> dict[str, Any]:
        served = gateway.policy.tiers[tier]
        return await timed(served, engine.complete(engine_request(gateway, chat, tier, call.tenant)), served.timeouts.total_s)

    try:
        tier, payload = await cancellable(request, with_fallbacks(gateway, decision, attempt))
    except ClientDisconnected:
        return await abandoned(gateway, call)
    choices = payload.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    cost, row = finish(gateway, call, tier, payload["usage"], response_text=text if isinstance(text, str) else None)
    await call.settle(gateway, row.cost_nanousd)
    await commit(gateway, row)
    served = gateway.policy.tiers[tier]
    payload["model"] = served.model
    if choices[0].get("finish_reason") in ("stop", "length", "tool_calls"):
        await remember(gateway, call, tier, payload, row.cost_nanousd)
    payload.setdefault("id", f"chatcmpl-{call.request_id}")
    if tier != decision.tier:
        headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
        headers["x-switchyard-fallback-from"] = decision.tier
    headers["x-switchyard-cost-usd"] = money(cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


async def abandoned(gateway: Gateway, call: Call) -> Response:
    """The client left while the upstream call (or its retries) was under way; that call was cancelled."""
    chat, decision = call.chat, call.decision
    assert chat is not None and decision is not None
    log.info("client went away; upstream call cancelled", extra={"request_id": call.request_id})
    # The upstream saw the prompt before it was cancelled: charge that, estimated.
    usage = {"prompt_tokens": estimate_tokens(messages_text(engine_request(gateway, chat, decision.tier).messages))}
    _, row = finish(gateway, call, decision.tier, usage, status="cancelled", http_status=499, error="client disconnected",
                    prior=completed_stages(call))
    await call.settle(gateway, row.cost_nanousd)
    await commit(gateway, row)
    return Response(status_code=499)


def completed_stages(call: Call, final: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Cascade stages that answered, except the final answer's own (finish prices that one)."""
    return [(s["tier"], s["usage"]) for s in call.cascade or [] if "usage" in s and s is not final]


async def cascade_completion(request: Request, gateway: Gateway, call: Call, stages: list[Decision]) -> Response:
    """Ask each stage in turn, cheapest first; stop at the first confident answer (or the last stage's)."""
    chat, headers = call.chat, call.headers
    settings = gateway.policy.routing.cascade
    assert chat is not None and settings is not None
    record: list[dict[str, Any]] = []
    call.cascade = record

    async def run() -> tuple[str, dict[str, Any], dict[str, Any]]:
        best: tuple[str, dict[str, Any], dict[str, Any]] | None = None
        for i, stage in enumerate(stages):
            judged = i < len(stages) - 1

            async def attempt(tier: str, engine: Engine, judged: bool = judged) -> dict[str, Any]:
                served = gateway.policy.tiers[tier]
                ask = engine_request(gateway, chat, tier, call.tenant)
                if judged:
                    # llama.cpp's server reports log-probabilities only when top_logprobs is set too.
                    ask.extra.update(logprobs=True, top_logprobs=1)
                return await timed(served, engine.complete(ask), served.timeouts.total_s)

            try:
                tier, payload = await with_fallbacks(gateway, stage, attempt)
            except APIError as exc:
                record.append({"tier": stage.tier, "error": exc.message})
                if judged or best is None:
                    if judged:
                        continue
                    raise
                break  # the escalation failed: the cheaper answer is better than none
            entry: dict[str, Any] = {"tier": tier, "usage": payload["usage"]}
            record.append(entry)
            best = (tier, payload, entry)
            if judged:
                entry["confidence"] = score = cascade.confidence(payload)
                entry["accepted"] = score is not None and score >= settings.min_confidence
                if entry["accepted"]:
                    break
        assert best is not None
        return best

    try:
        tier, payload, final = await cancellable(request, run())
    except ClientDisconnected:
        return await abandoned(gateway, call)
    cascade.strip_logprobs(payload)
    served = gateway.policy.tiers[tier]
    steps = [f"{s['tier']}:{'error' if 'error' in s else ('n/a' if s.get('confidence') is None else format(s['confidence'], '.3f'))}"
             for s in record]
    assert call.decision is not None
    call.decision = dataclasses.replace(call.decision, tier=tier, model=served.model,
                                        reason=f"cascade {' > '.join(steps)} (min confidence {settings.min_confidence})")
    choices = payload.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    cost, row = finish(gateway, call, tier, payload["usage"], response_text=text if isinstance(text, str) else None,
                       prior=completed_stages(call, final))
    await call.settle(gateway, row.cost_nanousd)
    await commit(gateway, row)
    payload["model"] = served.model
    if choices[0].get("finish_reason") in ("stop", "length", "tool_calls"):
        await remember(gateway, call, tier, payload, row.cost_nanousd)
    payload.setdefault("id", f"chatcmpl-{call.request_id}")
    headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
    headers["x-switchyard-cascade"] = ",".join(steps)
    headers["x-switchyard-cost-usd"] = money(cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


async def remember(gateway: Gateway, call: Call, tier: str, payload: dict[str, Any], cost_nanousd: int) -> None:
    """Keep an answer for later identical or equivalent requests; a cache failure never fails a request."""
    if call.control is None or not call.control.store or not gateway.cache.enabled or call.chat is None:
        return
    entry = {"response": payload, "tier": tier, "model": payload.get("model"), "usage": payload.get("usage") or {},
             "cost_nanousd": cost_nanousd}
    try:
        await gateway.cache.store(call.tenant, call.chat, call.control, entry, call.embedding(gateway))
    except Exception as exc:  # noqa: BLE001
        log.warning("cache store failed: %s", exc, extra={"request_id": call.request_id})


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [text]


async def serve_hit(gateway: Gateway, call: Call, hit: Hit) -> Response:
    """Answer from the cache: at $0, recorded with what it saved, as a stream if the client streams."""
    chat, headers, entry = call.chat, call.headers, hit.entry
    assert chat is not None
    call.cache = f"hit-{hit.kind}"
    tier = entry.get("tier") if entry.get("tier") in gateway.policy.tiers else None
    response = dict(entry["response"])
    message = (response.get("choices") or [{}])[0].get("message") or {}
    text = message.get("content") if isinstance(message.get("content"), str) else ""
    usage = entry.get("usage") or {}
    _, row = finish(gateway, call, tier, usage, response_text=text, cached_cost=int(entry.get("cost_nanousd") or 0))
    await commit(gateway, row)
    headers.update({"x-switchyard-tier": str(entry.get("tier")), "x-switchyard-model": str(entry.get("model")),
                    "x-switchyard-route-score": "0.0000", "x-switchyard-cache": call.cache, "x-switchyard-cost-usd": money(Decimal(0)),
                    "x-switchyard-overhead-ms": f"{(time.perf_counter() - call.started) * 1000:.3f}"})
    if hit.kind == "semantic":
        headers["x-switchyard-cache-similarity"] = f"{hit.similarity:.4f}"
    response["id"] = f"chatcmpl-{call.request_id}"
    response["created"] = int(time.time())
    if not chat.stream:
        return Response(orjson.dumps(response), media_type="application/json", headers=headers)
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    base = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"], "model": entry.get("model")}
    finish_reason = (response.get("choices") or [{}])[0].get("finish_reason") or "stop"

    async def replay() -> AsyncIterator[bytes]:
        for i, piece in enumerate(_words(text)):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            yield _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]})
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason, "logprobs": None}]})
        if include_usage:
            yield _sse({**base, "choices": [], "usage": usage,
                        "switchyard": {"request_id": call.request_id, "tier": entry.get("tier"), "cost_usd": money(Decimal(0)),
                                       "cache": call.cache}})
        yield b"data: [DONE]\n\n"

    headers["cache-control"] = "no-cache"
    return StreamingResponse(replay(), media_type="text/event-stream", headers=headers)


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class GuardedStream(StreamingResponse):
    """A streamed answer whose request is settled and recorded however the response ends, even when
    the client left before its body began (then the body never runs, and would hold its budget)."""

    def __init__(self, content: AsyncIterator[bytes], on_unsent: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.on_unsent = on_unsent
        self.after: Callable[[], None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A body left suspended at a yield settles now, not whenever the garbage collector runs.
            aclose = getattr(self.body_iterator, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
                await self.on_unsent()
            except Exception:  # settling must not mask how the response ended
                log.exception("settling an unsent stream failed")
            finally:
                if self.after is not None:
                    self.after()


async def stream_completion(request: Request, gateway: Gateway, call: Call) -> Response:
    chat, decision, headers = call.chat, call.decision, call.headers
    assert chat is not None and decision is not None
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    loop = asyncio.get_running_loop()

    async def open_stream(tier: str, engine: Engine) -> tuple[AsyncIterator[dict[str, Any]], dict[str, Any], float]:
        # Pull the first chunk before answering, so a failing upstream still gets a proper
        # status code and the fallback tiers a chance (retries stop at the first byte sent).
        served = gateway.policy.tiers[tier]
        opened = loop.time()
        stream = engine.stream(engine_request(gateway, chat, tier, call.tenant))
        try:
            first = await timed(served, stream.__anext__(), first_token_limit(served))
        except StopAsyncIteration:
            raise EngineError("upstream closed the stream without sending anything") from None
        except BaseException:
            await stream.aclose()
            raise
        return stream, first, opened

    try:
        # Retries and fallbacks can take a while: a client that leaves meanwhile cancels them.
        tier, (stream, first, opened) = await cancellable(request, with_fallbacks(gateway, decision, open_stream))
    except ClientDisconnected:
        return await abandoned(gateway, call)
    served = gateway.policy.tiers[tier]
    total_s = served.timeouts.total_s
    deadline = opened + total_s if total_s is not None else None
    if tier != decision.tier:
        headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
        headers["x-switchyard-fallback-from"] = decision.tier
    # A stream's headers leave before its tokens are counted: the cost arrives in the usage chunk.
    headers["x-switchyard-cost-usd"] = "deferred"
    headers["cache-control"] = "no-cache"

    async def next_chunk() -> dict[str, Any]:
        if deadline is None:
            return await stream.__anext__()
        scope = asyncio.timeout_at(deadline)
        try:
            async with scope:
                return await stream.__anext__()
        except TimeoutError:
            if not scope.expired():
                raise
            raise EngineError(f"tier {tier} did not finish its answer within {total_s:g}s", status=504, code="upstream_timeout") from None

    async def body() -> AsyncIterator[bytes]:
        status, error = "ok", None
        usage: dict[str, Any] = {}
        usage_chunk: dict[str, Any] | None = None
        pieces: list[str] = []
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                if chunk.get("usage"):
                    usage, usage_chunk = chunk["usage"], chunk
                elif chunk.get("choices"):
                    chunk["model"] = served.model
                    content = (chunk["choices"][0].get("delta") or {}).get("content")
                    if isinstance(content, str):
                        pieces.append(content)
                    yield _sse(chunk)
                chunk = await next_chunk()
        except StopAsyncIteration:
            pass
        except EngineError as exc:
            # Bytes already went out: no retry, no fallback; the client gets an error event, then [DONE].
            status, error = "error", exc.message
            if retryable(exc.status):
                gateway.guard.breaker(tier).failure(None, exc.retry_after)
            log.warning("stream from tier %s failed mid-way: %s", tier, exc.message, extra={"request_id": call.request_id})
            yield _sse(upstream_error(exc).body())
        except (asyncio.CancelledError, GeneratorExit):
            # The client left: stop the upstream, and still charge and record what was generated.
            await stream.aclose()
            _, row = finish(gateway, call, tier, usage or partial_usage(chat, pieces), status="cancelled", http_status=499,
                            error="client disconnected", response_text="".join(pieces))
            await call.settle(gateway, row.cost_nanousd)
            with contextlib.suppress(APIError):
                await commit(gateway, row)
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed chunk must end the stream cleanly, not kill it
            status, error = "error", f"invalid stream from tier {tier}: {exc!r}"
            log.warning("stream from tier %s broke mid-way: %r", tier, exc, extra={"request_id": call.request_id})
            yield _sse(APIError(502, f"the upstream of tier {tier} sent an invalid stream", code="upstream_error").body())
        finally:
            await stream.aclose()
        cost, row = finish(gateway, call, tier, usage or partial_usage(chat, pieces), status=status,
                           http_status=200 if status == "ok" else 502, error=error, response_text="".join(pieces))
        await call.settle(gateway, row.cost_nanousd)
        try:
            # The row is committed before the stream ends, or the client learns it was not.
            await commit(gateway, row)
        except APIError as exc:
            yield _sse(exc.body())
            return
        if status == "ok":
            text = "".join(pieces)
            response = {"id": f"chatcmpl-{call.request_id}", "object": "chat.completion", "created": int(time.time()),
                        "model": served.model, "usage": usage,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
            await remember(gateway, call, tier, response, row.cost_nanousd)
        if status == "ok" and include_usage and usage_chunk is not None:
            usage_chunk["model"] = served.model
            usage_chunk["switchyard"] = {"request_id": call.request_id, "tier": tier, "cost_usd": money(cost)}
            yield _sse(usage_chunk)
        yield b"data: [DONE]\n\n"

    async def unsent() -> None:
        if not call.holding:
            return
        # The upstream saw the prompt and began answering before the client left: charge the prompt.
        await stream.aclose()
        _, row = finish(gateway, call, tier, partial_usage(chat, []), status="cancelled", http_status=499,
                        error="client disconnected before the stream began")
        await call.settle(gateway, row.cost_nanousd)
        with contextlib.suppress(APIError):
            await commit(gateway, row)

    return GuardedStream(body(), unsent, media_type="text/event-stream", headers=headers)
