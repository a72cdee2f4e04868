"""The pipeline's chat answers in Anthropic's Messages wire format: a `message` object, or the SSE
events that the anthropic SDK's `messages.stream()` accumulates (message_start, ping, content blocks
with their deltas, message_delta with the stop reason and usage, message_stop; `error` on a failure)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson

from router.doors.sse import ChatEvents

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                 "content_filter": "refusal"}
# Anthropic's error type for each status it documents; other 4xx are the client's request, other 5xx ours.
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error",
                529: "overloaded_error"}


def error_type(status: int) -> str:
    return _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type(status), "message": message}}


def stop_reason(finish_reason: str | None, choice: dict[str, Any], stops: list[str]) -> tuple[str, str | None]:
    """Anthropic's stop_reason and stop_sequence for a chat choice. Chat says "stop" both for the end of
    a turn and for a stop sequence; only an engine that names the sequence (vLLM's `stop_reason`) tells them apart."""
    matched = choice.get("stop_reason")
    if finish_reason == "stop" and isinstance(matched, str) and matched in stops:
        return "stop_sequence", matched
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn"), None


def usage_object(usage: dict[str, Any] | None) -> dict[str, int]:
    usage = usage or {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = min(prompt, int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0))
    # Anthropic counts cache reads apart from input_tokens; chat's prompt_tokens include them.
    return {"input_tokens": prompt - cached, "output_tokens": completion, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached}


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's `input` is; anything else is no input."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def message_object(message_id: str, model: str, completion: dict[str, Any], stops: list[str]) -> dict[str, Any]:
    """A `chat.completion` as a Messages `message`: its text block, then one tool_use block per tool call."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text, calls = message.get("content"), message.get("tool_calls") or []
    content: list[dict[str, Any]] = []
    if (isinstance(text, str) and text) or not calls:
        content.append({"type": "text", "text": text if isinstance(text, str) else ""})
    for i, call in enumerate(calls):
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or f"toolu_{message_id[4:]}_{i}",
                        "name": function.get("name") or "", "input": tool_input(function.get("arguments"))})
    reason, sequence = stop_reason(choice.get("finish_reason"), choice, stops)
    return {"id": message_id, "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": reason, "stop_sequence": sequence, "usage": usage_object(completion.get("usage"))}


def sse(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


class StreamTranslator:
    """Chat completion chunks in, Messages events out. One content block is open at a time: text, or
    a tool call (keyed by its chat `index`), as Anthropic streams them."""

    def __init__(self, message_id: str, model: str, stops: list[str]) -> None:
        self.message_id, self.model, self.stops = message_id, model, stops
        self.blocks = 0  # blocks started so far; the open one, if any, is blocks - 1
        self.open: str | None = None  # "text" or "tool:<chat index>"
        self.finish_reason: str | None = None
        self.last_choice: dict[str, Any] = {}
        self.usage: dict[str, Any] | None = None

    def start(self) -> bytes:
        message = {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "stop_sequence": None, "usage": usage_object(None)}
        # The prompt's token count comes with the last chunk: message_delta carries it (the SDK keeps the later value).
        return sse("message_start", {"message": message}) + sse("ping", {})

    def _begin(self, key: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self.open = key
        self.blocks += 1
        return out + sse("content_block_start", {"index": self.blocks - 1, "content_block": block})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        self.open = None
        return sse("content_block_stop", {"index": self.blocks - 1})

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        choices = chunk.get("choices") or []
        if not choices:
            return b""
        choice = choices[0]
        delta = choice.get("delta") or {}
        out = b""
        text = delta.get("content")
        if isinstance(text, str) and text:
            if self.open != "text":
                out += self._begin("text", {"type": "text", "text": ""})
            out += sse("content_block_delta", {"index": self.blocks - 1, "delta": {"type": "text_delta", "text": text}})
        for position, call in enumerate(delta.get("tool_calls") or []):
            key = f"tool:{call.get('index', position)}"
            function = call.get("function") or {}
            if self.open != key:
                block = {"type": "tool_use", "id": call.get("id") or f"toolu_{self.message_id[4:]}_{self.blocks}",
                         "name": function.get("name") or "", "input": {}}
                out += self._begin(key, block)
            arguments = function.get("arguments")
            if isinstance(arguments, str) and arguments:
                out += sse("content_block_delta", {"index": self.blocks - 1,
                                                   "delta": {"type": "input_json_delta", "partial_json": arguments}})
        if choice.get("finish_reason"):
            self.finish_reason, self.last_choice = choice["finish_reason"], choice
        return out

    def finish(self) -> bytes:
        out = b""
        if self.blocks == 0:
            # A message always has a block (the non-streamed answer has an empty text block too).
            out += self._begin("text", {"type": "text", "text": ""})
        out += self._close()
        reason, sequence = stop_reason(self.finish_reason, self.last_choice, self.stops)
        usage = usage_object(self.usage)
        out += sse("message_delta", {"delta": {"stop_reason": reason, "stop_sequence": sequence}, "usage": usage})
        return out + sse("message_stop", {})


async def translate_stream(chunks: AsyncIterator[bytes], message_id: str, model: str, stops: list[str]) -> AsyncIterator[bytes]:
    """The pipeline's chat SSE (`data: {chunk}` ... `data: [DONE]`, or a `data: {"error": ...}` event
    after a failure mid-way) as Messages events."""
    translator = StreamTranslator(message_id, model, stops)
    ended = False
    async with aclosing(ChatEvents(chunks)) as events:
        yield translator.start()
        # Read to the end even after [DONE] or an error: the pipeline records the request's row last.
        async for chunk in events:
            if ended:
                continue
            if chunk is None:
                ended = True
                yield translator.finish()
            elif "error" in chunk:
                ended = True
                error = chunk["error"] if isinstance(chunk["error"], dict) else {}
                status = 529 if error.get("type") == "overloaded_error" else 500
                yield sse("error", {"error": {"type": error_type(status), "message": str(error.get("message") or "upstream error")}})
            elif out := translator.chunk(chunk):
                yield out
    if not ended:  # the pipeline ends every answer with [DONE] or an error: a stream that just stops was cut short
        yield sse("error", {"error": {"type": "api_error", "message": "the answer's stream ended early"}})
