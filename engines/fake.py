"""An in-process engine that answers instantly and deterministically, for tests and benchmarks.

It needs no model, no server and no network: a policy tier with `engine: fake` answers with the
words of the last user message ("echo: ..."), cut at `max_tokens` words (finish reason
`length`), counts one token per word, and honours a forced tool choice with a call whose
arguments are `{}`. A message containing `FAKE-ENGINE-FAIL` makes it fail as an upstream would
(502), so error paths can be exercised without a faulty server. It passes the same contract
suite as the real engines (tests/test_engine_contract.py). Never a default tier: a policy names
it on purpose.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from engines.base import EngineError, EngineRequest, messages_text

FAIL_MARKER = "FAKE-ENGINE-FAIL"


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return messages_text([message])
    return ""


def _forced_tool(request: EngineRequest) -> str | None:
    """The function a request's tool_choice forces, if any ("required" forces the first tool)."""
    tools = request.tools or []
    if not tools:
        return None
    choice = request.tool_choice
    if isinstance(choice, dict):
        return str((choice.get("function") or {}).get("name") or "") or None
    if choice == "required":
        return str((tools[0].get("function") or {}).get("name") or "") or None
    return None


class FakeEngine:
    kind = "fake"

    def __init__(self, model: str, *, context_window: int = 8192, default_max_tokens: int = 256) -> None:
        self.model = model
        self.context_window = context_window
        self.default_max_tokens = default_max_tokens
        self.started = False
        self.calls = 0

    async def start(self) -> None:
        self.started = True

    async def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        text = messages_text(request.messages)
        if FAIL_MARKER in text:
            raise EngineError("the fake engine was asked to fail", status=502)
        prompt_tokens = len(text.split()) + 3 * len(request.messages)
        if prompt_tokens >= self.context_window:
            raise EngineError(
                f"This model's maximum context length is {self.context_window} tokens; the messages use {prompt_tokens}.",
                status=400,
                code="context_length_exceeded",
            )
        limit = request.max_tokens or self.default_max_tokens
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()), "model": self.model}

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}

        tool = _forced_tool(request)
        if tool is not None:
            call = {"index": 0, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": {"name": tool, "arguments": "{}"}}
            yield chunk({"role": "assistant", "content": None, "tool_calls": [call]})
            yield chunk({}, "tool_calls")
            completion = 1
        else:
            words = ["echo:", *_last_user_text(request.messages).split()]
            completion = min(len(words), limit)
            yield chunk({"role": "assistant", "content": ""})
            for i, word in enumerate(words[:completion]):
                await asyncio.sleep(0)  # a cancellation point between tokens, as a real engine has
                yield chunk({"content": word if i == 0 else " " + word})
            yield chunk({}, "length" if completion < len(words) else "stop")
        yield {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion},
        }

    async def complete(self, request: EngineRequest) -> dict[str, Any]:
        content: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        finish_reason = "stop"
        usage: dict[str, int] = {}
        async for item in self.stream(request):
            if item.get("usage"):
                usage = item["usage"]
                continue
            choice = item["choices"][0]
            content.append(choice["delta"].get("content") or "")
            tool_calls.extend({k: v for k, v in call.items() if k != "index"} for call in choice["delta"].get("tool_calls") or [])
            finish_reason = choice["finish_reason"] or finish_reason
        message: dict[str, Any] = {"role": "assistant", "content": "".join(content) if not tool_calls else None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
            "usage": usage,
        }

    async def health(self) -> bool:
        return self.started

    async def aclose(self) -> None:
        self.started = False
