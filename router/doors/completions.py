"""OpenAI's legacy completions (`POST /v1/completions`): the prompt becomes one user message for the one
pipeline, and its chat answer (JSON or SSE) a `text_completion`.

The prompt goes through the tier's chat template like any user message, so a model answers it rather
than continuing it raw; what cannot be honoured that way (echo, suffix, several prompts, logprobs in the
legacy format, best_of) is a 400, never silently ignored."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from router.body import read_json
from router.doors.sse import ChatEvents
from router.errors import APIError
from router.gateway import Gateway
from router.pipeline import serve_chat

# Passed to chat as they are: chat validates them (ranges, types) and its errors name them the same.
_PASSED = ("model", "max_tokens", "temperature", "top_p", "stop", "seed", "user", "presence_penalty", "frequency_penalty",
           "stream_options")
_PROMPT_PARAM = (re.compile(r"(^|')messages(?:\.\d+(?:\.content)?)?"), r"\1prompt")


def _bad(message: str, param: str | None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


def _prompt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        raise _bad(f"'prompt' has {len(value)} prompts; this gateway answers one prompt a request", "prompt", "unsupported_value")
    if isinstance(value, list) and value and all(isinstance(v, int | list) and not isinstance(v, bool) for v in value):
        raise _bad("'prompt' as token ids is not supported: tiers use different tokenizers; send text", "prompt", "unsupported_value")
    raise _bad("'prompt' must be a string or a list of one string", "prompt")


def chat_payload(body: Any) -> dict[str, Any]:
    """A completions request as a chat-completions payload; a 400 for what this door cannot honour."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", None, "invalid_request")
    if "prompt" not in body:
        raise _bad("'prompt' is required", "prompt", "missing_required_parameter")
    if body.get("echo"):
        raise _bad("echo is not supported: the prompt goes through a chat template, so there is no raw text to echo",
                   "echo", "unsupported_parameter")
    if body.get("suffix") is not None:
        raise _bad("suffix (fill-in-the-middle) is not supported", "suffix", "unsupported_parameter")
    if body.get("logprobs") is not None:
        raise _bad("logprobs is not supported by the completions door; use /v1/chat/completions with logprobs",
                   "logprobs", "unsupported_parameter")
    for key in ("n", "best_of"):
        if body.get(key) not in (None, 1):
            raise _bad(f"'{key}' must be 1: this gateway answers with one completion", key, "unsupported_value")
    if body.get("logit_bias"):
        raise _bad("logit_bias is not supported: token ids differ between tiers", "logit_bias", "unsupported_parameter")
    payload: dict[str, Any] = {key: body[key] for key in _PASSED if body.get(key) is not None}
    payload["messages"] = [{"role": "user", "content": _prompt(body["prompt"])}]
    if "max_tokens" not in payload:
        payload["max_tokens"] = 16  # the legacy API's default; chat's would be the tier's whole output limit
    if body.get("stream") is not None:
        if not isinstance(body["stream"], bool):
            raise _bad("'stream' must be a boolean", "stream")
        payload["stream"] = body["stream"]
    return payload


def completion_object(completion_id: str, chat: dict[str, Any]) -> dict[str, Any]:
    choice = (chat.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content")
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": chat.get("created"),
        "model": chat.get("model"),
        "choices": [{"text": text if isinstance(text, str) else "", "index": 0, "finish_reason": choice.get("finish_reason"),
                     "logprobs": None}],
        "usage": chat.get("usage"),
        **({"system_fingerprint": chat["system_fingerprint"]} if chat.get("system_fingerprint") else {}),
    }


def _chunk(completion_id: str, chunk: dict[str, Any]) -> dict[str, Any] | None:
    """A chat chunk as a text_completion chunk; None for one that carries nothing for this API."""
    choices = []
    for choice in chunk.get("choices") or []:
        text = (choice.get("delta") or {}).get("content")
        if not text and choice.get("finish_reason") is None:
            continue  # the role-only first delta, tool deltas
        choices.append({"text": text or "", "index": 0, "finish_reason": choice.get("finish_reason"), "logprobs": None})
    if not choices and not chunk.get("usage"):
        return None
    out = {"id": completion_id, "object": "text_completion", "created": chunk.get("created"), "model": chunk.get("model"),
           "choices": choices}
    if chunk.get("usage"):
        out["usage"] = chunk["usage"]
    return out


async def translate_stream(inner: AsyncIterator[bytes], completion_id: str) -> AsyncIterator[bytes]:
    """The pipeline's chat SSE as text_completion events; errors and [DONE] pass as they are."""
    async with aclosing(ChatEvents(inner)) as events:
        async for event in events:
            if event is None:
                yield b"data: [DONE]\n\n"
            elif "error" in event:
                yield b"data: " + orjson.dumps(event) + b"\n\n"
            else:
                translated = _chunk(completion_id, event)
                if translated is not None:
                    yield b"data: " + orjson.dumps(translated) + b"\n\n"


async def create_completion(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    # Unauthenticated callers get the same 401 as at chat, before anything is said about their body.
    await gateway.tenancy.authenticate(request.headers.get("authorization"))
    payload = chat_payload(await read_json(request, gateway.policy.limits.max_request_bytes))
    try:
        answer = await serve_chat(request, payload, door="completions")
    except APIError as exc:
        pattern, name = _PROMPT_PARAM
        exc.message = pattern.sub(name, exc.message)
        exc.param = pattern.sub(name, exc.param) if exc.param else exc.param
        raise
    if answer.status_code != 200:
        return answer  # the client left before the answer (499): nobody to translate it for
    completion_id = f"cmpl-{getattr(request.state, 'request_id', '')}"
    if payload.get("stream"):
        answer.body_iterator = translate_stream(answer.body_iterator, completion_id)  # type: ignore[attr-defined]
        return answer
    headers = {k: v for k, v in answer.headers.items() if k.startswith("x-switchyard-") or k == "retry-after"}
    completion = completion_object(completion_id, orjson.loads(answer.body))  # type: ignore[attr-defined]
    return Response(orjson.dumps(completion), media_type="application/json", headers=headers)
