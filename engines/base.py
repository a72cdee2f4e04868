"""The engine protocol every adapter implements.

Engines speak OpenAI's chat-completion shapes as plain dicts: `complete` returns a
`chat.completion` object and `stream` yields `chat.completion.chunk` objects, the last of which
carries `usage`. Every engine fills `usage`, counting tokens itself when its upstream does not.
Cancelling the task that awaits `complete` or iterates `stream` cancels the upstream work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class EngineError(Exception):
    """An upstream failure, carrying the HTTP status the gateway should answer with.

    `status` is 502 for upstream errors, 504 for timeouts, 429 when the upstream rate-limits,
    and the upstream's own 4xx when it rejected the request itself as invalid.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        code: str = "upstream_error",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after


@dataclass
class EngineRequest:
    """A chat request as the engine sees it: the model resolved, parameters validated."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    user: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # Who is asking, for engines that isolate tenants (vLLM's cache_salt); never sent upstream as is.
    tenant: str | None = None

    def sampling_params(self) -> dict[str, Any]:
        """The OpenAI parameters that are set, by their wire names."""
        params: dict[str, Any] = {}
        for key in (
            "max_tokens",
            "temperature",
            "top_p",
            "stop",
            "seed",
            "user",
            "tools",
            "tool_choice",
            "response_format",
        ):
            value = getattr(self, key)
            if value is not None:
                params[key] = value
        params.update(self.extra)
        return params


@runtime_checkable
class Engine(Protocol):
    # What a tier can serve (tools, structured output, images) is the policy's declaration alone
    # (Tier.capabilities, router/capabilities.py): an engine passes on what it is sent.
    kind: str

    async def start(self) -> None:
        """Load weights or open connection pools; called once before serving."""
        ...

    async def complete(self, request: EngineRequest) -> dict[str, Any]: ...

    def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]: ...

    async def health(self) -> bool: ...

    async def aclose(self) -> None: ...


def estimate_tokens(text: str) -> int:
    """A rough token count (~4 characters a token) for when nothing better is available."""
    return max(1, (len(text) + 3) // 4) if text else 0


def messages_text(messages: list[dict[str, Any]]) -> str:
    """All text content of a message list, including text parts of multi-part content."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    parts.append(part["text"])
    return "\n".join(parts)
