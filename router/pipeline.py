"""The chat-completion pipeline: validate, decide, call the engine (with fallbacks), respond."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from engines.base import Engine
from policies.decide import Decision
from router import cascade
from router.accounting import Call, abandoned, commit, completed_stages, finish, money, prompt_token_bound, worst_case
from router.billing import Meter
from router.body import read_json
from router.cache.responses import cache_control
from router.conversations import HEADER as CONVERSATION_HEADER
from router.conversations import conversation_id, step
from router.errors import APIError
from router.gateway import Gateway
from router.planning import plan
from router.schemas import ChatRequest, parse_chat_request
from router.streaming import GuardedStream, remember, serve_hit, stream_completion
from router.upstream import ClientDisconnected, cancellable, engine_request, timed, with_fallbacks

log = logging.getLogger("switchyard")


def validate_limits(gateway: Gateway, request: ChatRequest) -> None:
    limits = gateway.policy.limits
    if len(request.messages) > limits.max_messages:
        raise APIError(
            400, f"{len(request.messages)} messages; the limit is {limits.max_messages}", code="too_many_messages", param="messages"
        )
    limit = request.output_limit()
    if limit is not None and limit > limits.max_output_tokens:
        raise APIError(400, f"max_tokens {limit} exceeds the limit of {limits.max_output_tokens}", code="invalid_value", param="max_tokens")


def decision_headers(headers: dict[str, str], decision: Decision) -> None:
    headers["x-switchyard-tier"] = decision.tier
    headers["x-switchyard-model"] = decision.model
    headers["x-switchyard-route-score"] = f"{decision.route_score:.4f}"
    headers["x-switchyard-cache"] = "off"


async def chat_completions(request: Request) -> Response:
    return await serve_chat(request)


async def serve_chat(request: Request, payload: dict[str, Any] | None = None, door: str = "chat", keep_text: bool = True) -> Response:
    """The whole pipeline for one chat request: the body read from `request`, or `payload` that a
    front door (router/doors/) translated into chat's wire format; `door` goes into the ledger row;
    `keep_text` False keeps the prompt and answer out of the ledger whatever the policy says.
    Returns chat's JSON answer or its SSE stream; raises APIError for what is not answered."""
    gateway: Gateway = request.app.state.gateway
    request_id = os.urandom(16).hex()  # a uuid4's randomness without building the UUID object
    call = Call(request_id=request_id, started=time.perf_counter(), headers={"x-switchyard-request-id": request_id}, door=door,
                payload=payload, keep_text=keep_text)
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
        if not isinstance(exc, APIError) or exc.status == 401:
            # An unauthenticated caller gets no ledger row: else anyone could fill the ledger for free.
            await call.release(gateway)
            raise
        status = "rejected" if exc.status < 500 else "error"
        tier = call.decision.tier if call.decision and exc.status >= 500 else None
        cost = 0
        try:
            _, row = finish(gateway, call, tier, {}, status=status, http_status=exc.status, error=exc.message)
            cost = row.cost_nanousd
        finally:
            # A request that was not answered gives its hold back, unless attempts of it cost what
            # their providers bill (router/billing.py): that is spent, like any answer's cost.
            await (call.settle(gateway, cost) if cost else call.release(gateway))
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
    body = call.payload if call.payload is not None else await read_json(request, gateway.policy.limits.max_request_bytes)
    chat = call.chat = parse_chat_request(body)
    validate_limits(gateway, chat)
    # Before the cache: a cached step of an agent's conversation is a step of it too.
    call.conversation = conversation_id(chat, call.tenant, request.headers.get(CONVERSATION_HEADER))
    call.step = step(chat)
    prompt_bound = prompt_token_bound(chat)
    if gateway.cache.enabled:
        control = call.control = cache_control(request.headers, gateway.policy.cache, chat)
        call.cache = "miss" if control.lookup else "bypass"
        if control.bypass:
            headers["x-switchyard-cache-bypass"] = control.bypass
        if control.lookup:
            hit = await gateway.cache.lookup(call.tenant, chat, call.embedding(gateway), request_id=call.request_id)
            if hit is not None:
                await gateway.tenancy.admit(identity, 0)
                return await serve_hit(gateway, call, hit)
    route = await plan(gateway, chat, identity, call.conversation)
    decision = call.decision = route.decision
    decision_headers(headers, decision)
    headers["x-switchyard-cache"] = call.cache
    await gateway.tenancy.admit(identity, prompt_bound + (chat.output_limit() or gateway.policy.tiers[decision.tier].max_output_tokens))
    # A cascade may pay for every stage: it reserves the sum of their worst cases.
    call.reserved = sum(worst_case(gateway, chat, d, prompt_bound) for d in route.stages)
    await gateway.tenancy.reserve(identity, call.request_id, call.reserved)
    call.holding = True
    overhead = time.perf_counter() - call.started
    call.overhead_ms = round(overhead * 1000, 3)
    headers["x-switchyard-overhead-ms"] = f"{overhead * 1000:.3f}"
    gateway.metrics.overhead.labels("true" if chat.model == "auto" else "false").observe(overhead)

    if chat.stream:
        return await stream_completion(request, gateway, call)
    if route.cascaded:
        return await cascade_completion(request, gateway, call, list(route.stages))

    async def attempt(tier: str, engine: Engine) -> dict[str, Any]:
        served = gateway.policy.tiers[tier]
        ask = engine.complete(engine_request(gateway, chat, tier, call.tenant, decision))
        return await timed(served, ask, served.timeouts.total_s, Meter(gateway, call))

    try:
        tier, payload = await cancellable(request, with_fallbacks(gateway, decision, attempt, call.tenant))
    except ClientDisconnected:
        return await abandoned(gateway, call)
    choices = payload.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    cost, row = finish(gateway, call, tier, payload["usage"], response_text=text if isinstance(text, str) else None)
    await call.settle(gateway, row.cost_nanousd)
    await commit(gateway, row)
    served = gateway.policy.tiers[tier]
    payload["model"] = served.model
    await remember(gateway, call, tier, payload, row.cost_nanousd)
    payload.setdefault("id", f"chatcmpl-{call.request_id}")
    if tier != decision.tier:
        headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
        headers["x-switchyard-fallback-from"] = decision.tier
    headers["x-switchyard-cost-usd"] = money(cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


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
                    ask.extra.update(logprobs=True, top_logprobs=ask.extra.get("top_logprobs", 1))
                return await timed(served, engine.complete(ask), served.timeouts.total_s, Meter(gateway, call))

            try:
                tier, payload = await with_fallbacks(gateway, stage, attempt, call.tenant)
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
    if not chat.logprobs:
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
    await remember(gateway, call, tier, payload, row.cost_nanousd)
    payload.setdefault("id", f"chatcmpl-{call.request_id}")
    headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
    headers["x-switchyard-cascade"] = ",".join(steps)
    headers["x-switchyard-cost-usd"] = money(cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)
