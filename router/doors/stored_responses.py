"""Responses kept in the ledger's database, so a follow-up's `previous_response_id` continues the
conversation and GET /v1/responses/{id} returns an answer again.

Kept only when the policy stores prompts (`store_prompts`) and the client did not send `store: false`;
a response is the tenant's own: another tenant's id is answered as not found, like an unknown one.
Kept for :data:`KEEP` and at most :data:`MAX_PER_TENANT` a tenant (its oldest go first), swept after a
save at most every :data:`SWEEP_S` per process: each row holds its whole conversation, so a follow-up
chain grows the table by the square of its length."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from router.errors import APIError
from router.gateway import Gateway
from router.ledger.retention import trim_per_tenant
from router.ledger.tables import stored_responses

log = logging.getLogger("switchyard")

KEEP = timedelta(days=30)  # as OpenAI keeps stored responses
MAX_PER_TENANT = 10_000
SWEEP_S = 600.0
_swept_at: dict[str, float] = {}  # database URL -> when this process last swept it


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
        url = gateway.ledger.url
        if time.monotonic() - _swept_at.get(url, float("-inf")) > SWEEP_S:
            # Its own transaction, after the row is in: a large sweep must not hold up or fail the save.
            _swept_at[url] = time.monotonic()
            try:
                with gateway.ledger.engine.begin() as connection:
                    sweep(connection, row["created_at"])
            except Exception as exc:  # noqa: BLE001 - the next sweep retries; the response itself was kept
                log.warning("sweeping stored responses failed: %s", exc)

    await asyncio.get_running_loop().run_in_executor(None, write)


def sweep(connection: Connection, now: datetime, keep: timedelta = KEEP, per_tenant: int = MAX_PER_TENANT) -> None:
    """Forget responses older than ``keep`` and each tenant's oldest past ``per_tenant``."""
    connection.execute(delete(stored_responses).where(stored_responses.c.created_at < now - keep))
    trim_per_tenant(connection, stored_responses, stored_responses.c.created_at, per_tenant)


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
