"""Answers delivered as streams, and answers served from the cache (replayed as streams when the
client streams). Either way the request's books (router/books.py) are closed once, however the
stream ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from engines.base import Engine, EngineError
from engines.deltas import StreamedAnswer
from router.accounting import money, partial_usage
from router.billing import Meter
from router.books import Outcome, RequestBooks, abandoned
from router.cache.entries import CachedAnswer
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

# How long a client's departure waits for the upstream stream to close before the books close anyway.
UPSTREAM_CLOSE_S = 2.0


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text) or [text]


async def serve_hit(gateway: Gateway, books: RequestBooks, hit: Hit) -> Response:
    """Answer from the cache: at $0, recorded with what it saved, as a stream if the client streams."""
    chat = books.chat
    assert chat is not None
    entry = books.hit = CachedAnswer.from_wire(hit.entry)
    books.cache = f"hit-{hit.kind}"
    if hit.kind == "semantic":
        books.similarity = hit.similarity
    tier = entry.tier if entry.tier in gateway.policy.tiers else None
    response, choice, text = dict(entry.response), entry.choice, entry.text
    await books.close(gateway, Outcome(tier=tier, usage=entry.usage, text=text, cached=entry))
    headers = books.headers()
    response["id"] = f"chatcmpl-{books.request_id}"
    response["created"] = int(time.time())
    if not chat.stream:
        return Response(orjson.dumps(response), media_type="application/json", headers=headers)
    message = choice.get("message") or {}
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    base = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"], "model": entry.model}
    finish_reason = choice.get("finish_reason") or "stop"

    async def replay() -> AsyncIterator[bytes]:
        for delta, logprobs in replay_deltas(message, text, choice.get("logprobs")):
            yield _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": logprobs}]})
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason, "logprobs": None}]})
        if include_usage:
            yield _sse({**base, "choices": [], "usage": entry.usage,
                        "switchyard": {"request_id": books.request_id, "tier": entry.tier, "cost_usd": money(Decimal(0)),
                                       "cache": books.cache}})
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


class EndedByDoor(Exception):
    """Thrown into a streamed answer's body by GuardedStream.end: the door serving the request ended the
    answer on purpose. The body records it and sets `usage` to what it charged."""

    def __init__(self, text: str) -> None:
        super().__init__("the door ended the answer")
        self.text = text
        self.usage: dict[str, Any] = {}


class GuardedStream(StreamingResponse):
    """A streamed answer whose request is settled and recorded however the response ends, even when
    the client left before its body began (then the body never runs, and would hold its budget)."""

    def __init__(self, content: AsyncGenerator[bytes, None], on_unsent: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        # The pipeline's own body, which end() reaches whatever a door wraps body_iterator in (not `body`:
        # a Response's rendered bytes go by that name).
        self.source = content
        self.on_unsent = on_unsent
        self.after: Callable[[], None] | None = None

    async def end(self, text: str) -> dict[str, Any]:
        """The door serving this stream ends the answer here, on purpose (the Messages door at a stop sequence
        it applies itself), while it holds the chunk the body last gave it. The upstream is closed and the
        request recorded as answered (ok, 200) with `text`, the answer's text as the client gets it, charged
        what was generated (the usage the upstream reported, else the estimate), which is returned for the
        door to tell the client; it is not cached, being the answer to this request's own ending, not to
        every request of its cache key. The body sends nothing more: the door ends the client's stream.
        A client that leaves instead closes the stream, and is recorded as a cancellation.

        Raises APIError when the ledger cannot take the row (the door tells the client, as the body would)."""
        ended = EndedByDoor(text)
        try:
            await self.source.athrow(ended)
        except StopAsyncIteration:
            pass
        except EndedByDoor as exc:
            if exc is not ended:
                raise
            # The body had not begun: it never will, and the unsent path records the request. (A body already
            # over recorded its own ending, and athrow returns.)
        return ended.usage

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


async def stream_completion(request: Request, gateway: Gateway, books: RequestBooks) -> Response:
    chat, decision = books.chat, books.decision
    assert chat is not None and decision is not None
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    loop = asyncio.get_running_loop()

    async def open_stream(tier: str, engine: Engine) -> tuple[AsyncIterator[dict[str, Any]], dict[str, Any], float]:
        # Pull the first chunk before answering, so a failing upstream still gets a proper
        # status code and the fallback tiers a chance (retries stop at the first byte sent).
        served = gateway.policy.tiers[tier]
        opened = loop.time()
        stream = engine.stream(engine_request(gateway, chat, tier, books.tenant, books.decision))
        try:
            first = await timed(served, stream.__anext__(), first_token_limit(served), Meter(gateway, books))
        except StopAsyncIteration:
            raise EngineError("upstream closed the stream without sending anything") from None
        except BaseException:
            await stream.aclose()
            raise
        return stream, first, opened

    try:
        # Retries and fallbacks can take a while: a client that leaves meanwhile cancels them.
        tier, (stream, first, opened) = await cancellable(request, with_fallbacks(gateway, decision, open_stream, books.tenant))
    except ClientDisconnected:
        return await abandoned(gateway, books)

    def unsent_usage() -> dict[str, Any]:
        # The upstream saw the prompt and sent its first chunk: a request that ends before its body runs is charged both.
        return first.get("usage") or partial_usage(chat, _fragments(first))

    try:
        await books.remembered()  # before the first byte: the next step may start as soon as this one's answer does
    except BaseException:
        # Cancelled meanwhile (the request's task, its client gone): the upstream stream already opened is not
        # left open, and what it generated is charged here; the pipeline's close after this records nothing.
        await _settle_unsent(gateway, books, stream, tier, unsent_usage())
        raise
    served = gateway.policy.tiers[tier]
    total_s = served.timeouts.total_s
    deadline = opened + total_s if total_s is not None else None
    books.answer_from(tier, served.model)
    # A stream's headers leave before its tokens are counted: the cost arrives in the usage chunk.
    books.deferred = True
    headers = books.headers()
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

    async def body() -> AsyncGenerator[bytes, None]:
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
                gateway.guard.breaker(tier).failure(None, exc.retry_after, blame(exc, books.tenant))
            log.warning("stream from tier %s failed mid-way: %s", tier, exc.message, extra={"request_id": books.request_id})
            yield _sse(upstream_error(exc).body())
        except (asyncio.CancelledError, GeneratorExit):
            # The client left: stop the upstream, and still charge and record what was generated. Shielded:
            # the cancel scope that ended the stream cancels every await here, and the books must close.
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(UPSTREAM_CLOSE_S):
                    await stream.aclose()
                with contextlib.suppress(APIError):
                    await books.close(gateway, Outcome("cancelled", 499, tier, usage or partial_usage(chat, answer.fragments),
                                                       error="client disconnected", text="".join(pieces)))
            raise
        except EndedByDoor as ended:
            # The answer the client gets is whole, ending where the door ended it: answered, and kept for no one
            # (answer=None). Shielded as a client's leaving is: the books must close.
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(UPSTREAM_CLOSE_S):
                    try:
                        await stream.aclose()
                    except Exception:  # an engine's close failing must not cost the answer its row
                        log.exception("closing tier %s's stream after the door ended it failed", tier)
                ended.usage = dict(usage or partial_usage(chat, answer.fragments))
                await books.close(gateway, Outcome("ok", 200, tier, ended.usage, text=ended.text))
            return
        except Exception as exc:  # noqa: BLE001 - a malformed chunk must end the stream cleanly, not kill it
            status, error = "error", f"invalid stream from tier {tier}: {exc!r}"
            log.warning("stream from tier %s broke mid-way: %r", tier, exc, extra={"request_id": books.request_id})
            yield _sse(APIError(502, f"the upstream of tier {tier} sent an invalid stream", code="upstream_error").body())
        finally:
            await stream.aclose()
        kept: dict[str, Any] | None = None
        if status == "ok":
            # Kept as the non-streamed answer would be: tool calls, refusal, logprobs and how it ended included.
            choice: dict[str, Any] = {"index": 0, "message": answer.message(), "finish_reason": answer.finish_reason or "stop"}
            if (logprobs := answer.choice_logprobs()) is not None:
                choice["logprobs"] = logprobs
            kept = {"id": f"chatcmpl-{books.request_id}", "object": "chat.completion", "created": int(time.time()),
                    "model": served.model, "usage": usage, "choices": [choice]}
        try:
            # The row is committed before the stream ends, or the client learns it was not.
            cost = await books.close(gateway, Outcome(status, 200 if status == "ok" else 502, tier,
                                                      usage or partial_usage(chat, answer.fragments), error=error,
                                                      text="".join(pieces), answer=kept))
        except APIError as exc:
            yield _sse(exc.body())
            return
        if status == "ok" and include_usage and usage_chunk is not None:
            usage_chunk["model"] = served.model
            usage_chunk["switchyard"] = {"request_id": books.request_id, "tier": tier, "cost_usd": money(cost)}
            yield _sse(usage_chunk)
        yield b"data: [DONE]\n\n"

    async def unsent() -> None:
        if not books.closed:
            await _settle_unsent(gateway, books, stream, tier, unsent_usage())

    return GuardedStream(body(), unsent, media_type="text/event-stream", headers=headers)


def _fragments(chunk: dict[str, Any]) -> list[str]:
    """The text pieces (content, refusal, tool-call arguments) of one upstream chunk, for counting tokens; none
    of a malformed one (the stream's body reports it as the upstream's error, if it runs)."""
    answer = StreamedAnswer()
    try:
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                answer.add(choice)
    except Exception:  # noqa: BLE001 - a count for the books must never fail the request
        return []
    return answer.fragments


async def _settle_unsent(gateway: Gateway, books: RequestBooks, stream: AsyncIterator[dict[str, Any]], tier: str,
                         usage: dict[str, Any]) -> None:
    """The client left after the upstream began answering and before any of the answer was sent: stop the
    upstream and record the request as cancelled, charged `usage` (the prompt and the chunk already read).
    Shielded: the cancel scope that ended the request cancels every await here, and the books must close."""
    with anyio.CancelScope(shield=True):
        try:
            with anyio.move_on_after(UPSTREAM_CLOSE_S):
                await stream.aclose()
        except Exception as exc:  # noqa: BLE001 - a failing close must not keep the books open
            log.warning("closing an unsent upstream stream failed: %r", exc, extra={"request_id": books.request_id})
        with contextlib.suppress(APIError):
            await books.close(gateway, Outcome("cancelled", 499, tier, usage, error="client disconnected before the stream began"))
