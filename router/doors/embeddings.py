"""OpenAI's embeddings (`POST /v1/embeddings`) on the policy's embedding tier (policies/schema.py `embeddings`,
the bundled all-MiniLM-L6-v2 by default).

No chat model is involved, so this door does not go through the chat pipeline; it goes through the same
books: the caller's key (tenancy.identify: a 401 writes nothing), rate limits (requests per minute before the
body is read, tokens embedded per minute once they are counted), budgets (a hold of the price before,
settled after) and one ledger row, door "embeddings", all closed once by the request's books (router/books.py)."""

from __future__ import annotations

import base64
import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from starlette.requests import Request
from starlette.responses import Response

from router.body import read_json
from router.books import Outcome, RequestBooks
from router.doors import embedding_model
from router.doors.models import EMBEDDING_TIER
from router.errors import APIError
from router.gateway import Gateway
from router.ledger.store import to_nanousd

MAX_INPUTS = 2048  # OpenAI's limit on inputs per request
MAX_TOKENS = 300_000  # OpenAI's limit on tokens per request, summed over its inputs: bounds one request's CPU time
DIMENSIONS = 384


def _bad(message: str, param: str | None, code: str = "invalid_value") -> APIError:
    return APIError(400, message, param=param, code=code)


@dataclass(frozen=True)
class EmbeddingsRequest:
    texts: list[str]
    model: str
    encoding_format: str
    dimensions: int | None
    user: str | None


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _bad("'input' must be a non-empty string or a non-empty list of strings", "input")
    if not all(isinstance(v, str) for v in value):
        if all(isinstance(v, int | list) and not isinstance(v, bool) for v in value):
            raise _bad("'input' as token ids is not supported: send text", "input", "unsupported_value")
        raise _bad("'input' must be a string or a list of strings", "input")
    if len(value) > MAX_INPUTS:
        raise _bad(f"'input' has {len(value)} items; the limit is {MAX_INPUTS}", "input")
    for i, text in enumerate(value):
        if not text:
            raise _bad(f"'input[{i}]' is empty; every input needs text", f"input[{i}]")
    return value


def parse(body: Any, gateway: Gateway) -> EmbeddingsRequest:
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", None, "invalid_request")
    tier = gateway.policy.embeddings
    model = body.get("model")
    if model is None:
        raise _bad("'model' is required: 'auto' or an embedding model from /v1/models", "model", "missing_required_parameter")
    if not isinstance(model, str):
        raise _bad("'model' must be a string", "model")
    if not tier.enabled or (model != "auto" and model != tier.model and model not in tier.aliases):
        known = f"use 'auto' or {tier.model!r}" if tier.enabled else "this gateway's policy has no embedding model enabled"
        raise APIError(404, f"the embedding model {model[:256]!r} does not exist; {known}", code="model_not_found", param="model")
    if "input" not in body:
        raise _bad("'input' is required", "input", "missing_required_parameter")
    texts = _texts(body["input"])
    encoding = body.get("encoding_format")
    if encoding not in (None, "float", "base64"):
        raise _bad("'encoding_format' must be 'float' or 'base64'", "encoding_format")
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or dimensions != DIMENSIONS):
        raise _bad(f"'dimensions' must be {DIMENSIONS}: {tier.model} embeds in {DIMENSIONS} dimensions and cannot shorten them",
                   "dimensions", "unsupported_value")
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > 256):
        raise _bad("'user' must be a string of at most 256 characters", "user")
    return EmbeddingsRequest(texts, model, encoding or "float", dimensions, user)


def _vector(row: np.ndarray, encoding: str) -> Any:
    # base64 is the float32 little-endian bytes, as OpenAI sends them (and its SDK asks for by default).
    return base64.b64encode(row.astype("<f4").tobytes()).decode() if encoding == "base64" else row


async def create_embeddings(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    request_id = os.urandom(16).hex()
    call = RequestBooks(request_id=request_id, started=time.perf_counter(), door="embeddings")
    request.state.request_id, request.state.headers = request_id, call.out
    # An unauthenticated caller gets a 401 and no ledger row: else anyone could fill the ledger for free.
    identity = call.identity = await gateway.tenancy.identify(request.headers.get("authorization"))
    call.tenant, call.team, call.key_id = identity.tenant, identity.team, identity.key_id
    gateway.active += 1
    asked: EmbeddingsRequest | None = None
    try:
        # Before any work: counting tokens for tokens-per-minute reads up to the whole body (megabytes) on the
        # tokenizer, which a key over its requests per minute must not get to spend.
        await gateway.tenancy.admit_request(identity)
        body = await read_json(request, gateway.policy.limits.max_request_bytes)
        asked = parse(body, gateway)
        return await _answer(gateway, call, asked)
    except APIError as exc:
        with contextlib.suppress(APIError):
            await call.close(gateway, Outcome("rejected" if exc.status < 500 else "error", exc.status, error=exc.message,
                                              row={"requested_model": asked.model if asked else None}))
        raise
    except BaseException:
        await call.close(gateway, None)
        raise
    finally:
        gateway.done()


async def _answer(gateway: Gateway, call: RequestBooks, asked: EmbeddingsRequest) -> Response:
    assert call.identity is not None
    tier = gateway.policy.embeddings
    model = await embedding_model.embedder(tier.backend)
    tokens = await embedding_model.count_tokens(model, asked.texts)
    if tokens > MAX_TOKENS:
        raise _bad(f"the inputs have {tokens} tokens in all; the limit is {MAX_TOKENS} a request", "input")
    await gateway.tenancy.admit_tokens(call.identity, tokens)
    cost = to_nanousd(tier.cost(tokens))
    call.reserved = cost
    await gateway.tenancy.reserve(call.identity, call.request_id, cost)
    call.holding = True
    vectors = await embedding_model.embed(model, asked.texts)
    usage = {"prompt_tokens": tokens, "completion_tokens": 0}
    # The books price chat tiers; the embedding tier is priced here, and its row says which tier it was.
    params = {"inputs": len(asked.texts), "encoding_format": asked.encoding_format,
              **({"dimensions": asked.dimensions} if asked.dimensions else {}), **({"user": asked.user} if asked.user else {})}
    call.answer_from(EMBEDDING_TIER, tier.model)
    await call.close(gateway, Outcome(usage=usage, row={"tier": EMBEDDING_TIER, "model": tier.model, "requested_model": asked.model,
                                                        "routed": asked.model == "auto", "cost_nanousd": cost, "params": params}))
    assert call.row is not None
    gateway.metrics.answered(EMBEDDING_TIER, tier.model, "ok", "off", False, (call.row.latency_ms or 0) / 1000, tokens, 0, cost / 1e9)
    data = [{"object": "embedding", "index": i, "embedding": _vector(vector, asked.encoding_format)} for i, vector in enumerate(vectors)]
    answer = {"object": "list", "data": data, "model": tier.model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json", headers=call.headers())
