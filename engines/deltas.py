"""A streamed answer put back together: the message a non-streamed request would have got.

OpenAI streams a tool call as `delta.tool_calls` entries keyed by `index`: the first carries the
call's id, type and name, the rest pieces of its arguments to be concatenated. Engines that build
their answer from a stream and the cache (which keeps streamed answers for later, streamed or not)
both need the merged message, with the finish reason the stream ended with, its refusal (streamed as `delta.refusal`) and its
log-probabilities (each chunk's `logprobs.content` / `logprobs.refusal` entries, concatenated).
"""

from __future__ import annotations

from typing import Any


class StreamedAnswer:
    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.argument_pieces: list[str] = []
        self.refusal_pieces: list[str] = []
        # None until a chunk carries logprobs: an answer streamed without them is kept without them.
        self.logprobs: dict[str, list[dict[str, Any]]] | None = None

    def add(self, choice: dict[str, Any]) -> None:
        """One chunk's choice: its delta's content and tool calls, and its finish reason if any."""
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            self.pieces.append(content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self.refusal_pieces.append(refusal)
        logprobs = choice.get("logprobs")
        if isinstance(logprobs, dict):
            kept = self.logprobs if self.logprobs is not None else {"content": [], "refusal": []}
            self.logprobs = kept
            for name in ("content", "refusal"):
                kept[name].extend(e for e in logprobs.get(name) or [] if isinstance(e, dict))
        for part in delta.get("tool_calls") or []:
            if not isinstance(part, dict):
                continue
            index = part.get("index") if isinstance(part.get("index"), int) else len(self.calls)
            call = self.calls.setdefault(index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
            if part.get("id"):
                call["id"] = part["id"]
            if part.get("type"):
                call["type"] = part["type"]
            function = part.get("function") or {}
            name = function.get("name")
            if isinstance(name, str) and name != call["function"]["name"]:
                # Pieces of a name are joined; a server that repeats the whole name each time is not doubled.
                call["function"]["name"] += name
            if isinstance(function.get("arguments"), str) and function["arguments"]:
                call["function"]["arguments"] += function["arguments"]
                self.argument_pieces.append(function["arguments"])
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]

    @property
    def fragments(self) -> list[str]:
        """Every piece of text the stream carried (content and arguments), for counting tokens."""
        return [*self.pieces, *self.refusal_pieces, *self.argument_pieces]

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [self.calls[i] for i in sorted(self.calls)]

    def message(self) -> dict[str, Any]:
        """The assistant message as OpenAI returns it: content null when the answer is only tool calls."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text if self.pieces or not self.calls else None}
        if self.refusal_pieces:
            message["refusal"] = "".join(self.refusal_pieces)
            if not self.pieces:
                message["content"] = None
        if self.calls:
            message["tool_calls"] = self.tool_calls
        return message

    def choice_logprobs(self) -> dict[str, Any] | None:
        """The choice's `logprobs` as a non-streamed answer carries them, or None when none came."""
        if self.logprobs is None:
            return None
        return {"content": self.logprobs["content"] or None, "refusal": self.logprobs["refusal"] or None}
