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
from router.accounting import prompt_token_bound, worst_case
from router.billing import Meter
from router.body import read_json
from router.books import Outcome, RequestBooks, abandoned
from router.cache import audit
from router.cache.responses import cache_control
from router.cascade import Stage
from router.conversations import HEADER as CONVERSATION_HEADER
from router.conversations import conversation_id, step
from router.errors import APIError
from router.gateway import Gateway
from router.overhead import track as track_compute
from router.planning import plan
from router.schemas import ChatRequest, parse_chat_request
from router.streaming import GuardedStream, serve_hit, stream_completion
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


async def chat_completions(request: Request) -> Response:
    return await serve_chat(request)


async def serve_chat(request: Request, payload: dict[str, Any] | None = None, door: str = "chat", keep_text: bool = True) -> Response:
    """The whole pipeline for one chat request: the body read from `request`, or `payload` that a
    front door (router/doors/) translated into chat's wire format; `door` goes into the ledger row;
    `keep_text` False keeps the prompt and answer out of the ledger whatever the policy says.
    Returns chat's JSON answer or its SSE stream; raises APIError for what is not answered."""
    gateway: Gateway = request.app.state.gateway
    request_id = os.urandom(16).hex()  # a uuid4's randomness without building the UUID object
    books = RequestBooks(request_id=request_id, started=time.perf_counter(), door=door, payload=payload, keep_text=keep_text)
    track_compute()  # the classifier's and embedder's time this request waits for, priced into its row
    request.state.request_id = request_id
    request.state.headers = books.out
    gateway.active += 1
    handed_off = False
    try:
        response = await _chat(request, gateway, books)
        if isinstance(response, GuardedStream):
            # The stream still uses this gateway's engine after this returns: it says when it is done.
            response.after = gateway.done
            handed_off = True
        return response
    except BaseException as exc:
        if not isinstance(exc, APIError) or exc.status == 401:
            # An unauthenticated caller gets no ledger row: else anyone could fill the ledger for free.
            await books.close(gateway, None)
            raise
        status = "rejected" if exc.status < 500 else "error"
        tier = books.decision.tier if books.decision and exc.status >= 500 else None
        with contextlib.suppress(APIError):
            await books.close(gateway, Outcome(status, exc.status, tier, error=exc.message))
        raise
    finally:
        if not handed_off:
            gateway.done()


async def _chat(request: Request, gateway: Gateway, books: RequestBooks) -> Response:
    identity = books.identity = await gateway.tenancy.identify(request.headers.get("authorization"))
    books.tenant, books.team, books.key_id = identity.tenant, identity.team, identity.key_id
    await gateway.tenancy.admit_request(identity)  # before any work: a key over its limit costs no lookup or routing
    body = books.payload if books.payload is not None else await read_json(request, gateway.policy.limits.max_request_bytes)
    chat = books.chat = parse_chat_request(body)
    validate_limits(gateway, chat)
    # Before the cache: a cached step of an agent's conversation is a step of it too.
    books.conversation = conversation_id(chat, books.tenant, request.headers.get(CONVERSATION_HEADER))
    books.step = step(chat)
    prompt_bound = prompt_token_bound(chat)
    if gateway.cache.enabled:
        control = books.control = cache_control(request.headers, gateway.policy.cache, chat)
        books.cache, books.bypass = ("miss" if control.lookup else "bypass"), control.bypass
        if control.lookup:
            hit = await gateway.cache.lookup(books.tenant, chat, books.embedding(gateway), request_id=books.request_id)
            if hit is not None:
                await gateway.tenancy.admit_tokens(identity, 0)
                return audit.after_hit(gateway, books, hit, await serve_hit(gateway, books, hit))  # maybe re-asked once sent
    route = await plan(gateway, chat, identity, books.conversation)
    books.remembering = route.remembering
    decision = books.decision = route.decision
    books.headers()
    output_bound = chat.output_limit() or gateway.policy.tiers[decision.tier].max_output_tokens
    await gateway.tenancy.admit_tokens(identity, prompt_bound + output_bound)
    # A cascade may pay for every stage: it reserves the sum of their worst cases.
    books.reserved = sum(worst_case(gateway, chat, d, prompt_bound) for d in route.stages)
    await gateway.tenancy.reserve(identity, books.request_id, books.reserved)
    books.holding = True
    overhead = time.perf_counter() - books.started
    books.overhead_ms = round(overhead * 1000, 3)
    books.headers()
    gateway.metrics.overhead.labels("true" if chat.model == "auto" else "false").observe(overhead)

    if chat.stream:
        return await stream_completion(request, gateway, books)
    if route.cascaded:
        return await cascade_completion(request, gateway, books, list(route.stages))

    async def attempt(tier: str, engine: Engine) -> dict[str, Any]:
        served = gateway.policy.tiers[tier]
        ask = engine.complete(engine_request(gateway, chat, tier, books.tenant, decision))
        return await timed(served, ask, served.timeouts.total_s, Meter(gateway, books))

    try:
        tier, payload = await cancellable(request, with_fallbacks(gateway, decision, attempt, books.tenant))
    except ClientDisconnected:
        return await abandoned(gateway, books)
    return await _answer(gateway, books, tier, payload)


async def _answer(gateway: Gateway, books: RequestBooks, tier: str, payload: dict[str, Any], final: Stage | None = None) -> Response:
    """A whole answer: the books closed on it (and it kept in the cache), then sent as JSON."""
    served = gateway.policy.tiers[tier]
    books.answer_from(tier, served.model)
    payload["model"] = served.model
    choices = payload.get("choices") or [{}]
    text = (choices[0].get("message") or {}).get("content")
    await books.close(gateway, Outcome(tier=tier, usage=payload["usage"], text=text if isinstance(text, str) else None,
                                       answer=payload, final=final))
    payload.setdefault("id", f"chatcmpl-{books.request_id}")
    return Response(orjson.dumps(payload), media_type="application/json", headers=books.headers())


async def cascade_completion(request: Request, gateway: Gateway, books: RequestBooks, stages: list[Decision]) -> Response:
    """Ask each stage in turn, cheapest first; stop at the first confident answer (or the last stage's)."""
    chat = books.chat
    settings = gateway.policy.routing.cascade
    assert chat is not None and settings is not None
    record: list[Stage] = []
    books.stages = record

    async def run() -> tuple[str, dict[str, Any], Stage]:
        best: tuple[str, dict[str, Any], Stage] | None = None
        for i, stage in enumerate(stages):
            judged = i < len(stages) - 1

            async def attempt(tier: str, engine: Engine, judged: bool = judged) -> dict[str, Any]:
                served = gateway.policy.tiers[tier]
                ask = engine_request(gateway, chat, tier, books.tenant)
                if judged:
                    # llama.cpp's server reports log-probabilities only when top_logprobs is set too.
                    ask.extra.update(logprobs=True, top_logprobs=ask.extra.get("top_logprobs", 1))
                return await timed(served, engine.complete(ask), served.timeouts.total_s, Meter(gateway, books))

            try:
                tier, payload = await with_fallbacks(gateway, stage, attempt, books.tenant)
            except APIError as exc:
                record.append(Stage(stage.tier, error=exc.message))
                if judged or best is None:
                    if judged:
                        continue
                    raise
                break  # the escalation failed: the cheaper answer is better than none
            entry = Stage(tier, usage=payload["usage"], judged=judged)
            record.append(entry)
            best = (tier, payload, entry)
            if judged:
                entry.confidence = score = cascade.confidence(payload)
                entry.accepted = score is not None and score >= settings.min_confidence
                if entry.accepted:
                    break
        assert best is not None
        return best

    try:
        tier, payload, final = await cancellable(request, run())
    except ClientDisconnected:
        return await abandoned(gateway, books)
    if not chat.logprobs:
        cascade.strip_logprobs(payload)
    served = gateway.policy.tiers[tier]
    steps = " > ".join(stage.label() for stage in record)
    assert books.decision is not None
    books.decision = dataclasses.replace(books.decision, tier=tier, model=served.model,
                                         reason=f"cascade {steps} (min confidence {settings.min_confidence})")
    return await _answer(gateway, books, tier, payload, final)
