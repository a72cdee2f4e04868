"""OpenAI-compatible HTTP engine (vLLM, llama-server, `llama_cpp.server`, any such server).

The hot path uses aiohttp with one pooled session per engine: measured on this project's 2-core
machine against a local upstream, an httpx AsyncClient request cost ~1.7 ms of CPU and an aiohttp
one ~0.3 ms, and this call sits on every request the gateway forwards (bench/gateway_overhead.py).
Streaming always asks the upstream for usage (`stream_options.include_usage`); when an upstream
ignores that, tokens are counted from the stream so the final chunk still carries usage.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from engines.base import EngineError, EngineRequest, estimate_tokens, messages_text


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _upstream_message(body: bytes, reason: str) -> str:
    try:
        payload = orjson.loads(body)
        error = payload.get("error") if isinstance(payload, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(payload, dict) and payload.get("detail"):
            return str(payload["detail"])
    except orjson.JSONDecodeError:
        pass
    return body[:200].decode("utf-8", "replace") or reason


def _status_error(status: int, headers: Any, body: bytes, reason: str, base_url: str) -> EngineError:
    message = f"upstream {base_url} answered {status}: {_upstream_message(body, reason)}"
    if status == 429:
        return EngineError(message, status=429, code="upstream_rate_limited", retry_after=_retry_after(headers))
    if status in (400, 404, 413, 422):
        # The upstream judged the request itself; pass its verdict on as a client error.
        return EngineError(message, status=413 if status == 413 else 400, code="upstream_rejected")
    return EngineError(message, status=502, code="upstream_error")


def _usage_estimate(request: EngineRequest, completion: int) -> dict[str, int]:
    prompt = estimate_tokens(messages_text(request.messages))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class OpenAIHTTPEngine:
    kind = "openai"

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
        self.extra_body = extra_body or {}
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, headers=self._headers)
        return self._session

    async def start(self) -> None:
        _ = self.session

    def _body(self, request: EngineRequest, stream: bool) -> bytes:
        # Every message carries "content" (null as ""): servers' chat templates read it unguarded, and
        # an assistant turn that only called tools has none once the gateway drops nulls.
        messages = [m if "content" in m else {**m, "content": ""} for m in request.messages]
        body: dict[str, Any] = {"model": self.upstream_model, "messages": messages}
        body.update(self.extra_body)
        body.update(request.sampling_params())
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        try:
            return orjson.dumps(body)
        except orjson.JSONEncodeError as exc:
            # What a client sent cannot be forwarded (nested too deep, say): its error, not the upstream's.
            raise EngineError(f"the request cannot be sent upstream: {exc}", status=400, code="invalid_request") from None

    def _failure(self, exc: BaseException) -> EngineError:
        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return EngineError(f"upstream {self.base_url} timed out", status=504, code="upstream_timeout")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return EngineError(f"upstream {self.base_url} unreachable: {exc}", code="upstream_unavailable")
        return EngineError(f"upstream {self.base_url} failed: {exc!r}", code="upstream_unavailable")

    async def complete(self, request: EngineRequest) -> dict[str, Any]:
        url = self.base_url + "/chat/completions"
        try:
            async with self.session.post(url, data=self._body(request, False)) as response:
                body = await response.read()
                if response.status != 200:
                    raise _status_error(response.status, response.headers, body, response.reason or "", self.base_url)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._failure(exc) from exc
        try:
            payload = orjson.loads(body)
            choices = payload["choices"]
            if not isinstance(choices, list) or not choices:
                raise ValueError("no choices")
        except (ValueError, KeyError, TypeError) as exc:
            raise EngineError(f"upstream {self.base_url} sent an invalid completion: {exc}") from exc
        if not payload.get("usage"):
            text = (choices[0].get("message") or {}).get("content") or ""
            payload["usage"] = _usage_estimate(request, estimate_tokens(text))
        return payload

    async def stream(self, request: EngineRequest) -> AsyncIterator[dict[str, Any]]:
        url = self.base_url + "/chat/completions"
        usage: dict[str, Any] | None = None
        pieces = 0
        last_id, created = None, None
        try:
            async with self.session.post(url, data=self._body(request, True)) as response:
                if response.status != 200:
                    body = await response.read()
                    raise _status_error(response.status, response.headers, body, response.reason or "", self.base_url)
                async for raw in response.content:
                    line = raw.strip()
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    try:
                        chunk = orjson.loads(data)
                    except orjson.JSONDecodeError as exc:
                        raise EngineError(f"upstream {self.base_url} sent invalid JSON in its stream") from exc
                    if not isinstance(chunk, dict):
                        raise EngineError(f"upstream {self.base_url} sent an invalid stream chunk")
                    if "error" in chunk:
                        raise EngineError(f"upstream {self.base_url} failed mid-stream: {chunk['error']}")
                    last_id, created = chunk.get("id"), chunk.get("created")
                    if chunk.get("usage"):
                        usage = chunk.pop("usage")
                    choices = chunk.get("choices") or []
                    if not choices:
                        continue
                    for choice in choices:
                        if (choice.get("delta") or {}).get("content"):
                            pieces += 1
                    yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._failure(exc) from exc
        yield {
            "id": last_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": [],
            "usage": usage or _usage_estimate(request, pieces),
        }

    async def health(self) -> bool:
        try:
            async with self.session.get(self.base_url + "/models", timeout=aiohttp.ClientTimeout(total=2.0)) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
