"""Reading a client's JSON body: size, time, nesting depth and a client that leaves, each a clean 4xx."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from router import server_limits
from router.errors import APIError

# Deeper JSON is refused at parse time (400 json_too_deep). orjson reads up to 1024 levels but writes
# only 254, so a body between the two parsed fine and then failed where the gateway wrote it (its
# ledger row, an upstream call): a 500 with the row lost. No OpenAI request needs more than a few levels;
# 64 leaves room for deep tool schemas.
MAX_JSON_DEPTH = 64


async def read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"the request body is {declared} bytes; the limit is {limit}", code="request_too_large")
    chunks: list[bytes] = []
    size = 0
    timeout = server_limits.current.body_timeout_s
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise APIError(413, f"the request body exceeds the limit of {limit} bytes", code="request_too_large")
                chunks.append(chunk)
    except TimeoutError:
        raise APIError(408, f"the request body did not arrive within {timeout:g} s", code="request_timeout") from None
    except ClientDisconnect:
        # Nobody is left to answer; the status is what the ledger and the logs record.
        raise APIError(499, "the client disconnected before sending the whole request body", code="client_disconnected") from None
    body = b"".join(chunks)
    if not body:
        raise APIError(400, "the request body is empty; send a JSON object", code="invalid_json")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise _too_deep() from None
        raise APIError(400, f"the request body is not valid JSON (or not UTF-8): {exc}", code="invalid_json") from None
    # Fewer brackets in all than the limit cannot nest past it (counted in C); otherwise walk the value.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and depth(value) > MAX_JSON_DEPTH:
        raise _too_deep()
    return value


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest


def _too_deep() -> APIError:
    return APIError(400, f"the request body nests JSON more than {MAX_JSON_DEPTH} levels deep", code="json_too_deep")
