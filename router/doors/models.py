"""`GET /v1/models` and `GET /v1/models/{model_id}`: what a client may name as `model`, from one list,
so a retrieved model is exactly the object the list shows for that id."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from router.errors import APIError, scrub
from router.gateway import Gateway

EMBEDDING_TIER = "embeddings"  # the embedding tier's name in /v1/models and in ledger rows


def model_objects(gateway: Gateway) -> list[dict[str, Any]]:
    created = int(gateway.started_at)
    data = [{"id": "auto", "object": "model", "created": created, "owned_by": "switchyard", "switchyard": {"routed": True}}]
    for name in gateway.policy.by_cost():
        tier = gateway.policy.tiers[name]
        enabled, why = gateway.status[name]
        # The banner's reason names where an upstream is (base URLs may hold credentials): not for clients.
        info = {"tier": name, "model": tier.model, "enabled": enabled, "status": scrub(why), "engine": tier.engine}
        for ident in dict.fromkeys([name, tier.model, *tier.aliases]):
            data.append({"id": ident, "object": "model", "created": created, "owned_by": "switchyard", "switchyard": info})
    embeddings = gateway.policy.embeddings
    if embeddings.enabled:
        info = {"tier": EMBEDDING_TIER, "model": embeddings.model, "enabled": True, "status": f"in-process, {embeddings.backend}",
                "engine": "embedder", "endpoint": "/v1/embeddings"}
        for ident in dict.fromkeys([embeddings.model, *embeddings.aliases]):
            data.append({"id": ident, "object": "model", "created": created, "owned_by": "switchyard", "switchyard": info})
    return data


async def list_models(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    await gateway.tenancy.authenticate(request.headers.get("authorization"))
    return Response(orjson.dumps({"object": "list", "data": model_objects(gateway)}), media_type="application/json")


async def retrieve_model(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    await gateway.tenancy.authenticate(request.headers.get("authorization"))
    model_id = request.path_params["model_id"]
    for model in model_objects(gateway):
        if model["id"] == model_id:
            return Response(orjson.dumps(model), media_type="application/json")
    raise APIError(404, f"the model {model_id!r} does not exist; GET /v1/models lists the models", code="model_not_found",
                   param="model")
