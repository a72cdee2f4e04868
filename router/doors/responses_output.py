"""The pipeline's chat answers in the Responses API's wire format: a `response` object, or the SSE
events that the openai SDK's `responses.stream()` accumulates (created, in_progress, output items
with their content parts and deltas, then completed, incomplete or failed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import orjson

from router.doors.sse import ChatEvents

# Chat's finish reasons that leave a response short of what the model meant to say.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def usage_object(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": prompt + completion}


def skeleton(response_id: str, body: dict[str, Any], model: str, created_at: int) -> dict[str, Any]:
    """A response's fields other than its output and outcome, echoing what the request asked for."""
    text = body.get("text") if isinstance(body.get("text"), dict) else {}
    return {"id": response_id, "object": "response", "created_at": created_at, "status": "in_progress", "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": model, "output": [], "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"), "reasoning": None,
            # True only where the door kept it (router/doors/stored_responses.py), whatever the client asked.
            "store": body.get("store") is True, "temperature": body.get("temperature"), "text": {"format": {"type": "text"}, **text},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [], "top_p": body.get("top_p"),
            "truncation": "disabled", "usage": None, "user": body.get("user"), "metadata": body.get("metadata") or {}}


def _finish(response: dict[str, Any], finish_reason: str | None) -> None:
    reason = _INCOMPLETE.get(finish_reason or "")
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _function_call(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name, "arguments": arguments}


def response_object(response_id: str, body: dict[str, Any], completion: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` as a `response`."""
    response = skeleton(response_id, body, str(completion.get("model") or body.get("model")),
                        int(completion.get("created") or time.time()))
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    _finish(response, choice.get("finish_reason"))
    item_status = "incomplete" if response["status"] == "incomplete" else "completed"
    text, refusal, calls = message.get("content"), message.get("refusal"), message.get("tool_calls") or []
    output: list[dict[str, Any]] = []
    if text or refusal or not calls:
        content = [] if refusal and not text else [_text_part(text if isinstance(text, str) else "")]
        if refusal:
            content.append({"type": "refusal", "refusal": refusal})
        output.append({"id": f"msg_{response_id[5:]}", "type": "message", "role": "assistant", "status": item_status,
                       "content": content})
    for i, call in enumerate(calls):
        function = call.get("function") or {}
        output.append(_function_call(f"fc_{response_id[5:]}_{i}", call.get("id") or f"call_{response_id[5:]}_{i}",
                                     function.get("name") or "", function.get("arguments") or "", "completed"))
    response["output"] = output
    response["usage"] = usage_object(completion.get("usage"))
    return response


class StreamTranslator:
    """Chat completion chunks in, Responses events out; one output item open at a time, as OpenAI streams them."""

    def __init__(self, response_id: str, body: dict[str, Any], model: str) -> None:
        self.response = skeleton(response_id, body, model, int(time.time()))
        self.key = response_id[5:]
        self.sequence = 0
        self.items: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the output item receiving deltas
        self.calls: dict[int, dict[str, Any]] = {}  # chat's tool-call index -> its output item
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.extra: dict[str, Any] | None = None
        self.ended = False
        self.final: dict[str, Any] | None = None  # the response as it ended, completed or incomplete

    def event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    def snapshot(self) -> dict[str, Any]:
        return {**self.response, "output": [dict(item) for item in self.items]}

    def start(self) -> list[bytes]:
        return [self.event("response.created", response=self.snapshot()), self.event("response.in_progress", response=self.snapshot())]

    def _add(self, item: dict[str, Any]) -> list[bytes]:
        events = self._close()
        self.items.append(item)
        self.open = item
        events.append(self.event("response.output_item.added", output_index=len(self.items) - 1, item=dict(item)))
        return events

    def _open_message(self) -> list[bytes]:
        item = {"id": f"msg_{self.key}" + (f"_{len(self.items)}" if self.items else ""), "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        events = self._add(item)
        events.append(self.event("response.content_part.added", item_id=item["id"], output_index=len(self.items) - 1,
                                 content_index=0, part=_text_part("")))
        item["content"] = [_text_part("")]
        return events

    def _close(self, status: str = "completed") -> list[bytes]:
        item, self.open = self.open, None
        if item is None:
            return []
        index = self.items.index(item)
        item["status"] = status
        events = []
        if item["type"] == "message":
            part = item["content"][0]
            events.append(self.event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                                     text=part["text"], logprobs=[]))
            events.append(self.event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                                     part=dict(part)))
        else:
            events.append(self.event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                     name=item["name"], arguments=item["arguments"]))
        events.append(self.event("response.output_item.done", output_index=index, item=dict(item)))
        return events

    def chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        if chunk.get("error") is not None and not chunk.get("choices"):
            return self.fail(chunk["error"])
        events: list[bytes] = []
        if chunk.get("usage"):
            self.usage, self.extra = chunk["usage"], chunk.get("switchyard")
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                if self.open is None or self.open["type"] != "message":
                    events += self._open_message()
                assert self.open is not None
                self.open["content"][0]["text"] += content
                events.append(self.event("response.output_text.delta", item_id=self.open["id"], output_index=len(self.items) - 1,
                                         content_index=0, delta=content, logprobs=[]))
            for call in delta.get("tool_calls") or []:
                events += self._tool_call_delta(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return events

    def _tool_call_delta(self, call: dict[str, Any]) -> list[bytes]:
        events: list[bytes] = []
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self.calls.get(index)
        if item is None:
            item = self.calls[index] = _function_call(f"fc_{self.key}_{index}", call.get("id") or f"call_{self.key}_{index}",
                                                      function.get("name") or "", "", "in_progress")
            events += self._add(item)
        elif function.get("name"):
            item["name"] += function["name"]
        if function.get("arguments"):
            item["arguments"] += function["arguments"]
            events.append(self.event("response.function_call_arguments.delta", item_id=item["id"],
                                     output_index=self.items.index(item), delta=function["arguments"]))
        return events

    def finish(self) -> list[bytes]:
        if self.ended:
            return []
        self.ended = True
        _finish(self.response, self.finish_reason)
        incomplete = self.response["status"] == "incomplete"
        events = [] if self.items else self._open_message()
        events += self._close("incomplete" if incomplete else "completed")
        final = self.snapshot()
        final["usage"] = usage_object(self.usage)
        if self.extra:
            final["switchyard"] = self.extra
        self.final = final
        events.append(self.event("response.incomplete" if incomplete else "response.completed", response=final))
        return events

    def fail(self, error: Any) -> list[bytes]:
        if self.ended:
            return []
        self.ended = True
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or "the upstream failed mid-answer")
        events = [self.event("error", code=error.get("code"), message=message, param=error.get("param"))]
        self.response["status"] = "failed"
        self.response["error"] = {"code": "server_error", "message": message}
        events.append(self.event("response.failed", response=self.snapshot()))
        return events


async def translate_stream(inner: AsyncIterator[bytes], response_id: str, body: dict[str, Any], model: str,
                           on_done: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> AsyncIterator[bytes]:
    """The pipeline's chat SSE stream as Responses events. `on_done` gets the final response of one that
    completed (or is incomplete) before the client sees it end, so a follow-up sent at once can name it."""
    translator = StreamTranslator(response_id, body, model)
    async with aclosing(ChatEvents(inner)) as chunks:
        for event in translator.start():
            yield event
        async for chunk in chunks:
            events = translator.finish() if chunk is None else translator.chunk(chunk)
            if chunk is None and events and on_done is not None and translator.final is not None:
                await on_done(translator.final)
            for event in events:
                yield event
        events = translator.finish()
        if events and on_done is not None and translator.final is not None:
            await on_done(translator.final)
        for event in events:
            yield event
