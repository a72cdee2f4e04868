"""litellm engine for frontier providers: any litellm model string, keys from the environment.

litellm is imported on first use: it takes seconds to import and only matters when a provider
tier is enabled.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from engines.base import EngineError, EngineRequest, estimate_tokens, messages_text


def _to_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump(exclude_none=False) if dump else dict(obj)


def _map_error(exc: Exception, model: str) -> EngineError:
    status = getattr(exc, "status_code", None)
    message = f"provider call for {model} failed: {getattr(exc, 'message', None) or exc}"
    name = type(exc).__name__
    if status == 429 or name == "RateLimitError":
        return EngineError(message, status=429, code="upstream_rate_limited")
    if name in ("Timeout", "APITimeoutError") or status == 408:
        return EngineError(message, status=504, code="upstream_timeout")
    if name in ("ContextWindowExceededError", "BadRequestError") or status == 400:
        return EngineError(message, status=400, code="upstream_rejected")
    return EngineError(message, status=502, code="upstream_error")


class LiteLLMEngine:
    kind = "litellm"

    def __init__(
        self,
        model: str,
        litellm_model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.model = model
        self.litellm_model = litellm_model
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self._litellm: Any = None

    async def start(self) -> None:
        if self._litellm is None:
            # litellm otherwise fetches its price map from the internet at import time.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.telemetry = False
            litellm.suppress_debug_info = True
            self._litellm = litellm

    def _kwargs(self, request: EngineRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.litellm_model,
            "messages": request.messages,
            "timeout": self.timeout,
            "num_retries": 0,
        }
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_key:
            kwargs["api_key"] = self.api_key
        kwargs.update(request.sampling_params())
        return kwargs

    async def complete(self, request: EngineRequest) -> dict[str, Any]:
        await self.start()
        try:
            response = await self._litellm.acompletion(**self._kwargs(request))
        except Exception as exc:
            raise _map_error(exc, self.litellm_model) from exc
        payload = _to_dict(response)
        if not payload.get("usage"):
            prompt = estimate_tokens(messages_text(request.messages))
            text = (payload["choices"][0].get("message") or {}).get("content") or ""
            completion = estimate_tokens(text)
            payload["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return payload

    async def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]:
        await self.start()
        kwargs = self._kwargs(request)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        usage: dict[str, Any] | None = None
        pieces = 0
        last_id, created = None, None
        try:
            response = await self._litellm.acompletion(**kwargs)
            async for raw in response:
                chunk = _to_dict(raw)
                last_id, created = chunk.get("id"), chunk.get("created")
                chunk_usage = chunk.pop("usage", None)
                if chunk_usage:
                    usage = _to_dict(chunk_usage)
                choices = chunk.get("choices") or []
                if not choices:
                    continue
                for choice in choices:
                    if (choice.get("delta") or {}).get("content"):
                        pieces += 1
                yield chunk
        except EngineError:
            raise
        except Exception as exc:
            raise _map_error(exc, self.litellm_model) from exc
        if usage is None:
            prompt = estimate_tokens(messages_text(request.messages))
            usage = {"prompt_tokens": prompt, "completion_tokens": pieces, "total_tokens": prompt + pieces}
        yield {
            "id": last_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": [],
            "usage": {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in usage},
        }

    async def health(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None
