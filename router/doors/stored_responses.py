"""Responses kept in the ledger's database, so a follow-up's `previous_response_id` continues the
conversation and GET /v1/responses/{id} returns an answer again.

Kept only when the policy stores prompts (`store_prompts`) and the client did not send `store: false`;
a response is the tenant's own: another tenant's id is answered as not found, like an unknown one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select

from router.errors import APIError
from router.gateway import Gateway
from router.ledger.tables import stored_responses


def not_found(response_id: str, why: str = "") -> APIError:
    return APIError(400, f"previous response {response_id!r} not found{why}", code="previous_response_not_found",
                    param="previous_response_id")


def keeps(gateway: Gateway, body: dict[str, Any]) -> bool:
    return gateway.policy.store_prompts and body.get("store") is not False


async def save(gateway: Gateway, response_id: str, tenant: str, history: list[dict[str, Any]], response: dict[str, Any]) -> None:
    row = {"response_id": response_id, "tenant": tenant, "created_at": datetime.now(UTC), "history": history, "response": response}

    def write() -> None:
        with gateway.ledger.engine.begin() as connection:
            connection.execute(insert(stored_responses).values(**row))

    await asyncio.get_running_loop().run_in_executor(None, write)


async def load(gateway: Gateway, response_id: str, tenant: str) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """The stored conversation and response object, or None when this tenant has no such response, or
    when the policy now keeps no prompts (what was kept while it did is not handed out again)."""
    if not gateway.policy.store_prompts or "\x00" in response_id:
        # No id holds a NUL, and PostgreSQL refuses one in a query's text (a 500 once): not found, like any unknown id.
        return None

    def read() -> Any:
        query = select(stored_responses.c.history, stored_responses.c.response).where(
            stored_responses.c.response_id == response_id, stored_responses.c.tenant == tenant)
        with gateway.ledger.engine.connect() as connection:
            return connection.execute(query).first()

    row = await asyncio.get_running_loop().run_in_executor(None, read)
    return None if row is None else (list(row.history), dict(row.response))
