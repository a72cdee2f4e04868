"""The chat-completion request as the gateway accepts it (OpenAI's wire format)."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.errors import APIError
from router.structured import check_response_format, check_tools

# OpenAI's content part types; "text" and "refusal" parts carry their text under the type's name.
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _parts(cls, value: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        if isinstance(value, list):
            for i, part in enumerate(value):
                kind = part.get("type")
                # Not a set lookup of an object or a list: that raised TypeError, which pydantic passes on (a 500).
                if not isinstance(kind, str) or kind not in PART_TYPES:
                    raise ValueError(f"part {i} has type {kind!r}; expected one of {', '.join(sorted(PART_TYPES))}")
                if kind in ("text", "refusal") and not isinstance(part.get(kind), str):
                    raise ValueError(f"part {i} of type {kind!r} needs a string {kind!r}")
                if kind == "file" and not isinstance((part.get("file") or {}).get("file_data"), str):
                    # A file id names a provider's upload, which no budget can bound: send its content.
                    raise ValueError(f"part {i}: send a file as 'file_data'; file ids are not supported")
        return value

    @field_validator("tool_calls")
    @classmethod
    def _calls(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        # Checked here, not left to the engine: an engine that trips on a malformed call in the history
        # reads as the tier failing (a 502, a retry, a breaker count) for what is the client's mistake.
        for i, call in enumerate(value or []):
            function = call.get("function")
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise ValueError(f"call {i} needs a 'function' object with a string 'name'")
            if not isinstance(function.get("arguments"), str | dict | None):
                raise ValueError(f"call {i}: 'function.arguments' must be a JSON string")
        return value


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatRequest(BaseModel):
    # Unknown OpenAI parameters are accepted and ignored, as OpenAI-compatible servers do.
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    user: str | None = Field(default=None, max_length=256)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        # No model is named with control characters, and the ledger row of a request naming one must be
        # writable: PostgreSQL's text columns refuse NUL, which once lost the row of such a 404.
        if any(c < " " or c == "\x7f" for c in value):
            raise ValueError("a model name cannot contain control characters")
        return value

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return stops

    @cached_property
    def plain_messages(self) -> list[dict[str, Any]]:
        """The messages as plain dicts, dumped once: the ledger row and the cache keys both read them.
        Engines get their own copy (engine_request), since an adapter may change what it is given."""
        return [m.model_dump(exclude_none=True) for m in self.messages]

    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


def _describe(exc: ValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"invalid value for '{param}': {first['msg']}{suffix}", param


TOOL_CHOICES = ("none", "auto", "required")


def check_tool_choice(choice: str | dict[str, Any] | None, tools: list[dict[str, Any]] | None) -> None:
    """A tool_choice every tier can honour: one of TOOL_CHOICES, or a function among `tools`. Checked before
    routing, so a choice naming no offered tool is not sent (and paid for) upstream, nor refused by one
    tier after routing and served by another."""
    if choice is None or choice in ("none", "auto"):
        return
    if isinstance(choice, str) and choice not in TOOL_CHOICES:
        raise APIError(400, f"'tool_choice' must be one of {', '.join(TOOL_CHOICES)} or a function", param="tool_choice",
                       code="invalid_value")
    if not tools:
        raise APIError(400, "'tool_choice' asks for a tool call, but the request offers no 'tools'", param="tool_choice",
                       code="invalid_value")
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if choice.get("type") != "function" or not isinstance(name, str):
            raise APIError(400, "'tool_choice' must be {'type': 'function', 'function': {'name': ...}}", param="tool_choice",
                           code="invalid_value")
        offered = {(tool.get("function") or {}).get("name") for tool in tools}
        if name not in offered:
            raise APIError(400, f"'tool_choice' names {name[:64]!r}, which is not among the tools", param="tool_choice",
                           code="invalid_value")


def parse_chat_request(payload: Any) -> ChatRequest:
    if not isinstance(payload, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_request")
    try:
        chat = ChatRequest.model_validate(payload)
    except ValidationError as exc:
        message, param = _describe(exc)
        raise APIError(400, message, param=param, code="invalid_value") from None
    check_response_format(chat.response_format)
    check_tools(chat.tools)
    check_tool_choice(chat.tool_choice, chat.tools)
    return chat
