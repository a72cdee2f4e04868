"""Reading the pipeline's chat stream back, for doors that answer in another wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson


class ChatEvents:
    """The pipeline's chat SSE (`data: {chunk}` ... `data: [DONE]`, or `data: {"error": ...}` after a
    failure mid-way) as parsed events, None for [DONE]. `aclose()` closes the pipeline's stream even
    if nothing was read yet: that is what settles the request when the client leaves early."""

    def __init__(self, inner: AsyncIterator[Any]) -> None:
        self._inner = inner
        self._events = self._read()

    def __aiter__(self) -> AsyncIterator[dict[str, Any] | None]:
        return self._events

    async def _read(self) -> AsyncIterator[dict[str, Any] | None]:
        buffer = b""
        async for raw in self._inner:
            buffer += raw if isinstance(raw, bytes) else str(raw).encode()
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                data = b"\n".join(line[5:].strip() for line in block.split(b"\n") if line.startswith(b"data:"))
                if data:
                    yield None if data == b"[DONE]" else orjson.loads(data)

    async def aclose(self) -> None:
        await self._events.aclose()
        aclose = getattr(self._inner, "aclose", None)
        if aclose is not None:
            await aclose()
