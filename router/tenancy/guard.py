"""The tenancy checks on the request path: who is calling, may they, and what may they spend."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

from router.errors import APIError
from router.tenancy.budgets import BudgetBook
from router.tenancy.keys import KeyInfo, KeyStore
from router.tenancy.quota import Bucket, MemoryQuotaStore, QuotaStore, RedisQuotaStore

log = logging.getLogger("switchyard")
OPEN_TENANT, OPEN_TEAM = "anonymous", "default"
RESERVATION_TTL_S = 900.0  # longer than any request may run: then a crashed replica's hold lapses


@dataclass
class Identity:
    tenant: str = OPEN_TENANT
    team: str = OPEN_TEAM
    key: KeyInfo | None = None
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key else None


def quota_store_from_env() -> QuotaStore:
    url = os.environ.get("SWITCHYARD_REDIS_URL")
    return RedisQuotaStore(url) if url else MemoryQuotaStore()


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Tenancy:
    def __init__(self, keys: KeyStore, budgets: BudgetBook, quota: QuotaStore) -> None:
        self.keys = keys
        self.budgets = budgets
        self.quota = quota

    def mode(self) -> str:
        store = "Redis" if isinstance(self.quota, RedisQuotaStore) else "in-process"
        if self.keys.any_keys():
            return f"API keys required; budgets and rate limits {store}"
        return f"OPEN MODE: no API key exists, every request is tenant {OPEN_TENANT!r}; budgets and rate limits {store}"

    async def identify(self, authorization: str | None) -> Identity:
        loop = asyncio.get_running_loop()
        any_keys = await loop.run_in_executor(None, self.keys.any_keys) if not self.keys.cached_any() else self.keys.any_keys()
        token = _bearer(authorization)
        if not any_keys:
            identity = Identity()
        else:
            if token is None:
                raise APIError(401, "missing API key: send 'Authorization: Bearer sk-sy-...'", code="invalid_api_key")
            hit, info = self.keys.peek(token)
            if not hit:
                info = await loop.run_in_executor(None, self.keys.authenticate, token)
            if info is None:
                raise APIError(401, "invalid or revoked API key", code="invalid_api_key")
            identity = Identity(info.tenant, info.team, info)
        covering = self.budgets.covering(identity.key_id, identity.team, identity.tenant) if self.budgets.cached() else (
            await loop.run_in_executor(None, self.budgets.covering, identity.key_id, identity.team, identity.tenant)
        )
        identity.buckets = self.budgets.buckets(covering)
        return identity

    async def admit(self, identity: Identity, tokens: int) -> None:
        """Rate limits: requests and tokens per minute, per key."""
        key = identity.key
        if key is None:
            return
        if key.rpm is not None:
            wait = await self.quota.hit_rate(f"{key.key_id}:rpm", 1, key.rpm, 60)
            if wait is not None:
                raise APIError(429, f"rate limit: {key.rpm} requests per minute for key {key.key_id}",
                               code="rate_limit_exceeded", headers={"retry-after": str(wait)})
        if key.tpm is not None:
            wait = await self.quota.hit_rate(f"{key.key_id}:tpm", tokens, key.tpm, 60)
            if wait is not None:
                raise APIError(429, f"rate limit: {key.tpm} tokens per minute for key {key.key_id}",
                               code="rate_limit_exceeded", headers={"retry-after": str(wait)})

    async def nearly_spent(self, identity: Identity, fraction: float) -> Bucket | None:
        for bucket in identity.buckets:
            spent, reserved = await self.quota.usage(bucket)
            if bucket.limit - spent - reserved < fraction * bucket.limit:
                return bucket
        return None

    async def reserve(self, identity: Identity, reservation_id: str, amount: int) -> None:
        if not identity.buckets:
            return
        over = await self.quota.reserve(reservation_id, identity.buckets, amount, RESERVATION_TTL_S)
        if over is not None:
            raise APIError(
                429,
                f"the {over.name} is exhausted: this request could cost up to ${amount / 1e9:.6f}",
                code="budget_exceeded",
                type_="budget_exceeded",
            )

    async def settle(self, identity: Identity, reservation_id: str, actual: int) -> None:
        if identity.buckets:
            await self.quota.settle(reservation_id, identity.buckets, actual)

    async def release(self, identity: Identity, reservation_id: str) -> None:
        if identity.buckets:
            await self.quota.release(reservation_id, identity.buckets)
