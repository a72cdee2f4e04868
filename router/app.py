"""The FastAPI application: OpenAI-compatible routes plus Switchyard's own."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from router.admin import router as admin_router
from router.console import router as console_router
from router.doors.completions import create_completion
from router.doors.count_tokens import count_tokens
from router.doors.embeddings import create_embeddings
from router.doors.messages import create_message
from router.doors.models import list_models, retrieve_model
from router.doors.responses import create_response, retrieve_response
from router.errors import APIError, error_response, install_handlers, log
from router.gateway import Gateway
from router.pipeline import chat_completions, read_json, validate_limits
from router.planning import plan
from router.reload import PolicyReloader
from router.schemas import ChatRequest, parse_chat_request

_CHAT_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": ChatRequest.model_json_schema()}}}}


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json", headers=headers)


async def route(request: Request) -> Response:
    """The routing decision for a chat request body, without generating anything."""
    gateway: Gateway = request.app.state.gateway
    identity = await gateway.tenancy.identify(request.headers.get("authorization"))
    await gateway.tenancy.admit(identity, 0)  # free of charge, not of limits: each call runs the classifier
    chat = parse_chat_request(await read_json(request, gateway.policy.limits.max_request_bytes))
    validate_limits(gateway, chat)
    started = time.perf_counter()
    route = await plan(gateway, chat, identity)  # as chat and every door would decide it
    decision = route.decision
    return _json(
        {
            "tier": decision.tier,
            "cascade": [stage.tier for stage in route.stages] if route.cascaded else None,
            "downgraded_by": route.downgraded,
            "model": decision.model,
            "pinned": chat.model != "auto",
            "route_score": decision.route_score,
            "threshold": decision.threshold,
            "predicted_quality": decision.predicted,
            "classifier": decision.classifier,
            "reasoning": decision.reasoning,
            "reason": decision.reason,
            "policy": gateway.policy.name,
            "decision_ms": round((time.perf_counter() - started) * 1000, 3),
        }
    )


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    score: float = Field(ge=0, le=1, description="1 = the answer was good, 0 = it was bad.")
    comment: str | None = Field(default=None, max_length=4000)


async def post_feedback(request: Request) -> Response:
    """A user's verdict on one of its tenant's answers, kept with its ledger row and exported with the
    traffic. One verdict per request: a later one replaces it (people change their minds; rows do not pile up)."""
    gateway: Gateway = request.app.state.gateway
    identity = await gateway.tenancy.authenticate(request.headers.get("authorization"))
    payload = await read_json(request, 64 * 1024)
    try:
        feedback = Feedback.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise APIError(400, f"invalid value for '{param}': {first['msg']}", param=param, code="invalid_value") from None
    cache = gateway.cache
    bad = cache.semantic and feedback.score < 0.5
    # A semantic hit this replica served to this tenant is undone from its own records first: the entry that gave
    # the bad answer is evicted and its scope tightened even if the ledger then fails.
    undone = bad and cache.undo_served(feedback.request_id, feedback.score, identity.tenant)
    loop = asyncio.get_running_loop()
    try:
        target = await loop.run_in_executor(
            None, gateway.ledger.add_feedback, feedback.request_id, feedback.score, feedback.comment, identity.tenant
        )
    except SQLAlchemyError as exc:  # the database, not the client: a retryable 503 in the API's shape
        log.error("ledger write of feedback failed: %s", exc)
        raise APIError(503, "the gateway could not record this feedback; retry later", code="ledger_unavailable") from None
    if target is None:  # another tenant's request is not found either: its existence is not theirs to learn
        raise APIError(404, f"no request {feedback.request_id!r} in the ledger", code="request_not_found", param="request_id")
    if bad and not undone and target.cache == "hit-semantic":
        # Only a semantic hit has an entry to undo, on the replica that served it: a verdict on any other request
        # must not reach the shared stream (forward_verdict also sends one at most once, and only while it can act).
        cache.forward_verdict(feedback.request_id, feedback.score, hit_at=target.created_at.timestamp())
    return _json({"ok": True, "request_id": feedback.request_id})


async def healthz(request: Request) -> Response:
    return _json({"status": "ok"})


async def readyz(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    tiers = {name: await engine.health() for name, engine in gateway.engines.items()}
    ready = gateway.ready and bool(tiers) and any(tiers.values())
    return _json({"ready": ready, "tiers": tiers}, status=200 if ready else 503)


async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    gateway.refresh_engine_stats()
    return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4")


class HotPath:
    """ASGI entry: chat completions go straight to the pipeline, everything else to FastAPI.

    FastAPI's middleware stack costs a few hundred microseconds a request on this hardware
    (bench/gateway_overhead.py); the chat route handles its own errors, so it skips that stack.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.routes = {"/v1/chat/completions": chat_completions}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        handler = self.routes.get(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "POST" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except APIError as exc:
            response = error_response(exc, getattr(request.state, "headers", None))
        except Exception:  # noqa: BLE001 - the last line of defence: log it, answer 500
            request_id = getattr(request.state, "request_id", None)
            log.exception("unhandled error", extra={"request_id": request_id})
            error = APIError(500, f"internal error (request id {request_id}); the gateway logged the details", code="internal_error")
            response = error_response(error, getattr(request.state, "headers", None))
        await response(scope, receive, send)


def create_app(gateway: Gateway) -> HotPath:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # app.state, not a closure over create_app's argument: a closure would keep the startup gateway
        # (and its cache and index) alive for the life of the process after a reload replaced it.
        await app.state.gateway.start()
        await app.state.reloader.start()
        # What startup built (modules, the policy, the classifier's arrays, pydantic's schemas: ~140k
        # objects) lives as long as the process: the collector need not traverse it again. Without this,
        # every full collection walked all of it, a pause of tens of ms for whichever request it hit.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.reloader.aclose()
            # After a policy reload the gateway in service is a successor of the one started here.
            await app.state.gateway.aclose()

    app = FastAPI(title="Switchyard", version="0.1.0", lifespan=lifespan)
    app.state.gateway = gateway
    source = Path(gateway.source)
    app.state.reloader = PolicyReloader(app.state, source if source.is_file() else None, gateway.settings.policy_poll_s)
    gateway.started_at = time.time()
    install_handlers(app)
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"], openapi_extra=_CHAT_BODY)
    app.add_api_route("/v1/route", route, methods=["POST"], openapi_extra=_CHAT_BODY)
    app.add_api_route("/v1/responses", create_response, methods=["POST"])
    app.add_api_route("/v1/responses/{response_id}", retrieve_response, methods=["GET"])
    app.add_api_route("/v1/messages", create_message, methods=["POST"])
    app.add_api_route("/v1/messages/count_tokens", count_tokens, methods=["POST"])
    app.add_api_route("/v1/models", list_models, methods=["GET"])
    app.add_api_route("/v1/models/{model_id:path}", retrieve_model, methods=["GET"])
    app.add_api_route("/v1/completions", create_completion, methods=["POST"])
    app.add_api_route("/v1/embeddings", create_embeddings, methods=["POST"])
    app.add_api_route("/v1/feedback", post_feedback, methods=["POST"], openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": Feedback.model_json_schema()}}}})
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/readyz", readyz, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
    app.include_router(admin_router)
    app.include_router(console_router)
    return HotPath(app)
