"""The chat-completion pipeline: validate, decide, call the engine (with fallbacks), respond."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engines.base import Engine, EngineError, EngineRequest
from policies.decide import Decision
from router.errors import APIError
from router.gateway import Gateway
from router.schemas import ChatRequest, parse_chat_request

log = logging.getLogger("switchyard")
T = TypeVar("T")
RETRYABLE = {429, 500, 502, 503, 504}


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


def engine_request(gateway: Gateway, request: ChatRequest, tier: str) -> EngineRequest:
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
    plan = gateway.plan(decision.tier)
    for i, tier in enumerate(plan):
        try:
            return tier, await call(tier, gateway.engines[tier])
        except EngineError as exc:
            # A routed request that outgrew a tier's context may still fit a larger one.
            outgrew = exc.code == "context_length_exceeded" and not decision.pinned
            if (exc.status not in RETRYABLE and not outgrew) or i == len(plan) - 1:
                raise upstream_error(exc) from None
            log.warning("tier %s failed (%s); falling back to %s", tier, exc.message, plan[i + 1])
            gateway.metrics.fallbacks.labels(tier, plan[i + 1]).inc()
    raise AssertionError("unreachable: the plan is never empty")


def record(gateway: Gateway, tier: str, usage: dict[str, Any], started: float, stream: bool, status: str = "ok") -> Decimal:
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cost = gateway.policy.tiers[tier].cost(prompt, completion)
    metrics = gateway.metrics
    metrics.requests.labels(tier, gateway.policy.tiers[tier].model, status, "off").inc()
    metrics.latency.labels(tier, "true" if stream else "false").observe(time.perf_counter() - started)
    metrics.tokens.labels(tier, "prompt").inc(prompt)
    metrics.tokens.labels(tier, "completion").inc(completion)
    metrics.cost.labels(tier).inc(float(cost))
    return cost


async def chat_completions(request: Request) -> Response:
    started = time.perf_counter()
    gateway: Gateway = request.app.state.gateway
    request_id = uuid.uuid4().hex
    headers = {"x-switchyard-request-id": request_id}
    request.state.request_id = request_id
    request.state.headers = headers

    chat = parse_chat_request(await read_json(request, gateway.policy.limits.max_request_bytes))
    validate_limits(gateway, chat)
    decision = await gateway.decide(chat)
    decision_headers(headers, decision)
    overhead = time.perf_counter() - started
    headers["x-switchyard-overhead-ms"] = f"{overhead * 1000:.3f}"
    gateway.metrics.overhead.labels("true" if chat.model == "auto" else "false").observe(overhead)

    if chat.stream:
        return await stream_completion(request, gateway, chat, decision, headers, started)

    async def call(tier: str, engine: Engine) -> dict[str, Any]:
        return await engine.complete(engine_request(gateway, chat, tier))

    try:
        tier, payload = await cancellable(request, with_fallbacks(gateway, decision, call))
    except ClientDisconnected:
        log.info("client went away; upstream call cancelled", extra={"request_id": request_id})
        return Response(status_code=499)
    cost = record(gateway, tier, payload["usage"], started, stream=False)
    served = gateway.policy.tiers[tier]
    payload["model"] = served.model
    payload.setdefault("id", f"chatcmpl-{request_id}")
    if tier != decision.tier:
        headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
        headers["x-switchyard-fallback-from"] = decision.tier
    headers["x-switchyard-cost-usd"] = money(cost)
    return Response(orjson.dumps(payload), media_type="application/json", headers=headers)


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def stream_completion(
    request: Request,
    gateway: Gateway,
    chat: ChatRequest,
    decision: Decision,
    headers: dict[str, str],
    started: float,
) -> Response:
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)

    async def open_stream(tier: str, engine: Engine) -> tuple[AsyncIterator[dict[str, Any]], dict[str, Any]]:
        # Pull the first chunk before answering, so a failing upstream still gets a proper
        # status code and the fallback tiers a chance.
        stream = engine.stream(engine_request(gateway, chat, tier))
        try:
            first = await stream.__anext__()
        except StopAsyncIteration:
            raise EngineError("upstream closed the stream without sending anything") from None
        except BaseException:
            await stream.aclose()
            raise
        return stream, first

    tier, (stream, first) = await with_fallbacks(gateway, decision, open_stream)
    served = gateway.policy.tiers[tier]
    if tier != decision.tier:
        headers["x-switchyard-tier"], headers["x-switchyard-model"] = tier, served.model
        headers["x-switchyard-fallback-from"] = decision.tier
    # A stream's headers leave before its tokens are counted: the cost arrives in the usage chunk.
    headers["x-switchyard-cost-usd"] = "deferred"
    headers["cache-control"] = "no-cache"
    request_id = headers["x-switchyard-request-id"]

    async def body() -> AsyncIterator[bytes]:
        status = "ok"
        usage: dict[str, Any] = {}
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                if chunk.get("usage"):
                    usage = chunk["usage"]
                    if include_usage:
                        cost = served.cost(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
                        chunk["model"] = served.model
                        chunk["switchyard"] = {"request_id": request_id, "tier": tier, "cost_usd": money(cost)}
                        yield _sse(chunk)
                elif chunk.get("choices"):
                    chunk["model"] = served.model
                    yield _sse(chunk)
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            pass
        except EngineError as exc:
            status = "error"
            log.warning("stream from tier %s failed mid-way: %s", tier, exc.message, extra={"request_id": request_id})
            yield _sse(upstream_error(exc).body())
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        finally:
            await stream.aclose()
            record(gateway, tier, usage, started, stream=True, status=status)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)
