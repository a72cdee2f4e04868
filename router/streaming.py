"""Answers delivered as streams, answers served from the cache (replayed as streams when the client
streams), and answers kept in the cache for later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engines.base import Engine, EngineError
from engines.deltas import StreamedAnswer
from router.accounting import Call, abandoned, commit, finish, money, partial_usage
from router.billing import Meter
from router.cache.responses import Hit
from router.errors import APIError
from router.gateway import Gateway
from router.resilience import retryable
from router.upstream import (
    ClientDisconnected,
    blame,
    cancellable,
    engine_request,
    first_token_limit,
    timed,
    upstream_error,
    with_fallbacks,
)

log = logging.getLogger("switchyard")


# How an answer may have ended to be kept: whole, cut at max_tokens, calling tools, or withheld by the
# provider's filter all replay as they ended; an error or an unknown ending is asked again.
KEPT_ENDINGS = frozenset({"stop", "length", "tool_calls", "content_filter"})


async def remember(gateway: Gateway, call: Call, tier: str, payload: dict[str, Any], cost_nanousd: int) -> None:
    """Keep an answer for later identical or equivalent requests; a cache failure never fails a request."""
    if call.control is None or not call.control.store or not gateway.cache.enabled or call.chat is None:
        return
    if (payload.get("choices") or [{}])[0].get("finish_reason") not in KEPT_ENDINGS:
        return
    entry = {"response": payload, "tier": tier, "model": payload.get("model"), "usage": payload.get("usage") or {},
             "cost_nanousd": cost_nanousd}
    try:
        await gateway.cache.store(call.tenant, call.chat, call.control, entry, call.embedding(gateway),
                                  store_prompts=gateway.policy.store_prompts)
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
    choice = (response.get("choices") or [{}])[0]
    message = choice.get("message") or {}
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
    finish_reason = choice.get("finish_reason") or "stop"

    async def replay() -> AsyncIterator[bytes]:
        for delta, logprobs in replay_deltas(message, text, choice.get("logprobs")):
            yield _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": logprobs}]})
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason, "logprobs": None}]})
        if include_usage:
            yield _sse({**base, "choices": [], "usage": usage,
                        "switchyard": {"request_id": call.request_id, "tier": entry.get("tier"), "cost_usd": money(Decimal(0)),
                                       "cache": call.cache}})
        yield b"data: [DONE]\n\n"

    headers["cache-control"] = "no-cache"
    return StreamingResponse(replay(), media_type="text/event-stream", headers=headers)


def replay_deltas(message: dict[str, Any], text: str,
                  logprobs: dict[str, Any] | None = None) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """A kept answer's message as stream deltas, each with the logprobs its chunk carries: its text
    (token by token when it was kept with logprobs that spell it, else word by word with the
    logprobs on the first piece), its refusal likewise, then each tool call as OpenAI streams one
    (id, type and name first, then its arguments)."""
    deltas: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    has_logprobs = isinstance(logprobs, dict)
    for field in ("content", "refusal"):
        value = text if field == "content" else message.get("refusal")
        if field == "content" and not (text or (not message.get("tool_calls") and not message.get("refusal"))):
            continue
        if field == "refusal" and not (isinstance(value, str) and value):
            continue
        entries = (logprobs or {}).get(field) or [] if has_logprobs else []
        tokens = [e.get("token") for e in entries]
        if entries and all(isinstance(t, str) for t in tokens) and "".join(tokens) == value:
            deltas.extend(({field: t}, {"content": None, "refusal": None, field: [e]}) for t, e in zip(tokens, entries, strict=True))
            continue
        for i, piece in enumerate(_words(value)):
            carried = {"content": None, "refusal": None, field: entries or None} if has_logprobs and i == 0 else None
            deltas.append(({field: piece}, carried))
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        deltas.append(({"tool_calls": [{"index": index, "id": call.get("id"), "type": call.get("type", "function"),
                                        "function": {"name": function.get("name", ""), "arguments": ""}}]}, None))
        if function.get("arguments"):
            deltas.append(({"tool_calls": [{"index": index, "function": {"arguments": function["arguments"]}}]}, None))
    if deltas:
        # An answer kept with logprobs says so even when it has no text to carry them (only tool calls).
        empty = {"content": None, "refusal": None} if has_logprobs and all(lp is None for _, lp in deltas) else None
        deltas[0] = ({"role": "assistant", **deltas[0][0]}, deltas[0][1] or empty)
    return deltas


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
        stream = engine.stream(engine_request(gateway, chat, tier, call.tenant, call.decision))
        try:
            first = await timed(served, stream.__anext__(), first_token_limit(served), Meter(gateway, call))
        except StopAsyncIteration:
            raise EngineError("upstream closed the stream without sending anything") from None
        except BaseException:
            await stream.aclose()
            raise
        return stream, first, opened

    try:
        # Retries and fallbacks can take a while: a client that leaves meanwhile cancels them.
        tier, (stream, first, opened) = await cancellable(request, with_fallbacks(gateway, decision, open_stream, call.tenant))
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
        answer = StreamedAnswer()
        pieces = answer.pieces
        try:
            chunk: dict[str, Any] | None = first
            while chunk is not None:
                if chunk.get("usage"):
                    # Usage goes out at the end, if asked for; a choice in the same chunk goes out now.
                    usage, usage_chunk = chunk.pop("usage"), {**chunk, "choices": []}
                    usage_chunk["usage"] = usage
                if chunk.get("choices"):
                    chunk["model"] = served.model
                    answer.add(chunk["choices"][0])
                    yield _sse(chunk)
                chunk = await next_chunk()
        except StopAsyncIteration:
            pass
        except EngineError as exc:
            # Bytes already went out: no retry, no fallback; the client gets an error event, then [DONE].
            status, error = "error", exc.message
            if retryable(exc.status):
                gateway.guard.breaker(tier).failure(None, exc.retry_after, blame(exc, call.tenant))
            log.warning("stream from tier %s failed mid-way: %s", tier, exc.message, extra={"request_id": call.request_id})
            yield _sse(upstream_error(exc).body())
        except (asyncio.CancelledError, GeneratorExit):
            # The client left: stop the upstream, and still charge and record what was generated.
            await stream.aclose()
            _, row = finish(gateway, call, tier, usage or partial_usage(chat, answer.fragments), status="cancelled", http_status=499,
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
        cost, row = finish(gateway, call, tier, usage or partial_usage(chat, answer.fragments), status=status,
                           http_status=200 if status == "ok" else 502, error=error, response_text="".join(pieces))
        await call.settle(gateway, row.cost_nanousd)
        try:
            # The row is committed before the stream ends, or the client learns it was not.
            await commit(gateway, row)
        except APIError as exc:
            yield _sse(exc.body())
            return
        if status == "ok":
            # Kept as the non-streamed answer would be: tool calls, refusal, logprobs and how it ended included.
            kept: dict[str, Any] = {"index": 0, "message": answer.message(), "finish_reason": answer.finish_reason or "stop"}
            if (logprobs := answer.choice_logprobs()) is not None:
                kept["logprobs"] = logprobs
            response = {"id": f"chatcmpl-{call.request_id}", "object": "chat.completion", "created": int(time.time()),
                        "model": served.model, "usage": usage, "choices": [kept]}
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
