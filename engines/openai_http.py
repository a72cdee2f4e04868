"""OpenAI-compatible HTTP engine (vLLM, llama-server, `llama_cpp.server`, any such server).

One pooled `httpx.AsyncClient` per engine. Streaming always asks the upstream for usage
(`stream_options.include_usage`); when an upstream ignores that, tokens are counted from the
stream so the final chunk still carries usage.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from engines.base import EngineError, EngineRequest, estimate_tokens, messages_text


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _upstream_message(response: httpx.Response, body: bytes) -> str:
    try:
        payload = json.loads(body)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(payload, dict) and payload.get("detail"):
            return str(payload["detail"])
    except ValueError:
        pass
    return body[:200].decode("utf-8", "replace") or response.reason_phrase


def _status_error(response: httpx.Response, body: bytes, base_url: str) -> EngineError:
    message = f"upstream {base_url} answered {response.status_code}: {_upstream_message(response, body)}"
    status = response.status_code
    if status == 429:
        return EngineError(message, status=429, code="upstream_rate_limited", retry_after=_retry_after(response))
    if status in (400, 404, 413, 422):
        # The upstream judged the request itself; pass its verdict on as a client error.
        return EngineError(message, status=400 if status != 413 else 413, code="upstream_rejected")
    return EngineError(message, status=502, code="upstream_error")


class OpenAIHTTPEngine:
    kind = "openai"
    supports_tools = True

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        upstream_model: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        max_connections: int = 256,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.upstream_model = upstream_model or model
        self.api_key = api_key
        self.extra_body = extra_body or {}
        self._timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self._timeout, limits=self._limits, headers=headers
            )
        return self._client

    async def start(self) -> None:
        _ = self.client

    def _body(self, request: EngineRequest, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.upstream_model, "messages": request.messages}
        body.update(self.extra_body)
        body.update(request.sampling_params())
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    async def complete(self, request: EngineRequest) -> dict[str, Any]:
        try:
            response = await self.client.post("/chat/completions", json=self._body(request, False))
        except httpx.TimeoutException as exc:
            raise EngineError(f"upstream {self.base_url} timed out", status=504, code="upstream_timeout") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"upstream {self.base_url} unreachable: {exc!r}", code="upstream_unavailable") from exc
        if response.status_code != 200:
            raise _status_error(response, response.content, self.base_url)
        try:
            payload = response.json()
            choices = payload["choices"]
            if not isinstance(choices, list) or not choices:
                raise ValueError("no choices")
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"upstream {self.base_url} sent an invalid completion: {exc}") from exc
        if not payload.get("usage"):
            prompt = estimate_tokens(messages_text(request.messages))
            text = (choices[0].get("message") or {}).get("content") or ""
            completion = estimate_tokens(text)
            payload["usage"] = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return payload

    async def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]:
        body = self._body(request, True)
        usage: dict[str, Any] | None = None
        pieces = 0
        last_id, created = None, None
        try:
            async with self.client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code != 200:
                    raise _status_error(response, await response.aread(), self.base_url)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise EngineError(f"upstream {self.base_url} sent invalid JSON in its stream") from exc
                    if not isinstance(chunk, dict):
                        raise EngineError(f"upstream {self.base_url} sent an invalid stream chunk")
                    if "error" in chunk:
                        raise EngineError(f"upstream {self.base_url} failed mid-stream: {chunk['error']}")
                    last_id, created = chunk.get("id"), chunk.get("created")
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                        if not chunk.get("choices"):
                            continue
                        chunk = {k: v for k, v in chunk.items() if k != "usage"}
                    for choice in chunk.get("choices") or []:
                        if (choice.get("delta") or {}).get("content"):
                            pieces += 1
                    yield chunk
        except httpx.TimeoutException as exc:
            raise EngineError(f"upstream {self.base_url} timed out", status=504, code="upstream_timeout") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"upstream {self.base_url} failed: {exc!r}", code="upstream_unavailable") from exc
        if usage is None:
            prompt = estimate_tokens(messages_text(request.messages))
            usage = {"prompt_tokens": prompt, "completion_tokens": pieces, "total_tokens": prompt + pieces}
        yield {
            "id": last_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }

    async def health(self) -> bool:
        try:
            response = await self.client.get("/models", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
