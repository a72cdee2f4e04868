"""Anthropic's token counting (`POST /v1/messages/count_tokens`): how many input tokens a Messages
request would use on the tier it would go to. Free, like Anthropic's: no ledger row, no budget hold.

The in-process llama.cpp tier counts with its own tokenizer, on the prompt exactly as it would be
sent (chat template, tool history, tools described in the system message). Other tiers' tokenizers
live at their providers, so the count there is an estimate: ~4 characters a token of the messages'
text and the tools' JSON, plus 8 a message for the chat template's markers (router/capabilities.py).
The `x-switchyard-token-count` header says which (`tokenizer` or `estimate`)."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from engines.base import EngineError
from router.body import read_json
from router.capabilities import estimate_prompt_tokens
from router.doors.messages import _error, _with_api_key, chat_messages, chat_tool_choice, chat_tools, in_door_terms
from router.errors import APIError
from router.gateway import Gateway
from router.schemas import parse_chat_request

log = logging.getLogger("switchyard")


async def count_tokens(request: Request) -> Response:
    try:
        return await _count(_with_api_key(request))
    except APIError as exc:
        return _error(exc, request)
    except Exception:  # the last line of defence: log it, answer 500 in this door's shape
        log.exception("unhandled error in count_tokens")
        return _error(APIError(500, "internal error; the gateway logged the details"), request)


async def _count(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    identity = await gateway.tenancy.authenticate(request.headers.get("authorization"))
    # Free of charge, not of limits: each count routes (the classifier) and tokenizes on the engine's thread.
    await gateway.tenancy.admit(identity, 0)
    body = await read_json(request, gateway.policy.limits.max_request_bytes)
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_request")
    for key in ("model", "messages"):
        if key not in body:
            raise APIError(400, f"{key}: field required", code="invalid_request")
    payload: dict[str, Any] = {"model": body["model"], "messages": chat_messages(body["messages"], body.get("system"))}
    for key, value in (("tools", chat_tools(body.get("tools"))), ("tool_choice", chat_tool_choice(body.get("tool_choice")))):
        if value is not None:
            payload[key] = value
    try:
        chat = parse_chat_request(payload)
        # The tier the request would be answered by: pinned, or what routing picks for it now.
        decision = await gateway.decide(chat)
        engine = gateway.engines[decision.tier]
        messages = chat.plain_messages
        counter = getattr(engine, "count_prompt_tokens", None)
        if counter is not None:
            tokens, how = await counter(messages, chat.tools, chat.tool_choice), "tokenizer"
        else:
            tokens, how = estimate_prompt_tokens(messages, chat.tools), "estimate"
    except EngineError as exc:
        # The tokenizer refuses what the engine would refuse (a part it cannot read, a 400), in this door's shape.
        raise in_door_terms(APIError(exc.status, exc.message, code=exc.code)) from None
    except APIError as exc:
        raise in_door_terms(exc) from None
    headers = {"x-switchyard-tier": decision.tier, "x-switchyard-model": decision.model, "x-switchyard-token-count": how}
    return Response(orjson.dumps({"input_tokens": tokens}), media_type="application/json", headers=headers)
