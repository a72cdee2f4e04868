"""The tenancy checks on the request path: who is calling, may they, and what may they spend."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from policies.settings import OpenMode, env_name
from policies.settings import current as current_settings
from router.errors import APIError
from router.tenancy import replicas
from router.tenancy.budgets import BudgetBook, usd
from router.tenancy.keys import KeyInfo, KeyStore
from router.tenancy.quota import Bucket, MemoryQuotaStore, QuotaStore, RedisQuotaStore

log = logging.getLogger("switchyard")
OPEN_TENANT, OPEN_TEAM = "anonymous", "default"
RESERVATION_TTL_S = 900.0  # longer than any request may run: then a crashed replica's hold lapses
OPEN_MODE_ENV = env_name("open_mode")
OVERRIDE_ENV = env_name("allow_unshared_quota")
_INVALID_KEY = "invalid or revoked API key"


@dataclass
class Identity:
    tenant: str = OPEN_TENANT
    team: str = OPEN_TEAM
    key: KeyInfo | None = None
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key else None


def quota_store(redis_url: str | None) -> QuotaStore:
    """Shared in Redis when there is one, else counted in this process's memory."""
    return RedisQuotaStore(redis_url) if redis_url else MemoryQuotaStore()


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized(message: str) -> APIError:
    return APIError(401, message, code="invalid_api_key")


class Tenancy:
    """Who is calling. Open mode (callers without a key served as tenant `anonymous`, outside every
    budget) is either chosen explicitly (SWITCHYARD_OPEN_MODE=on) or the state of a fresh install on
    which no key was ever created; revoking keys never returns a deployment to it, and a revoked key
    is refused even in open mode."""

    def __init__(self, keys: KeyStore, budgets: BudgetBook, quota: QuotaStore, open_mode: OpenMode | None = None,
                 allow_unshared_quota: bool | None = None) -> None:
        self.keys = keys
        self.budgets = budgets
        self.quota = quota
        if open_mode is None or allow_unshared_quota is None:
            settings = current_settings()
            open_mode = open_mode or settings.open_mode
            allow_unshared_quota = settings.allow_unshared_quota if allow_unshared_quota is None else allow_unshared_quota
        self.open_mode: OpenMode = open_mode
        self.allow_unshared_quota = allow_unshared_quota
        self._lease: replicas.LedgerLease | None = None

    def _open(self, any_keys: bool) -> bool:
        return self.open_mode == "on" or (self.open_mode == "auto" and not any_keys)

    def mode(self) -> str:
        store = "Redis" if isinstance(self.quota, RedisQuotaStore) else "in-process"
        if self.open_mode == "on":
            return (f"OPEN MODE ({OPEN_MODE_ENV}=on): requests without a key are tenant {OPEN_TENANT!r}, outside every "
                    f"budget; live keys still get their tenant and budgets, revoked keys are refused; budgets and rate limits {store}")
        if self._open(self.keys.any_keys()):
            return (f"OPEN MODE: no API key was ever created, every request is tenant {OPEN_TENANT!r}; creating a key "
                    f"requires keys from then on (set {OPEN_MODE_ENV}=off to require them now); budgets and rate limits {store}")
        return f"API keys required; budgets and rate limits {store}"

    async def start(self) -> None:
        """Log the access mode, and take the ledger's lease when budgets are counted in this process."""
        loop = asyncio.get_running_loop()
        mode = await loop.run_in_executor(None, self.mode)
        (log.warning if "OPEN MODE" in mode else log.info)("tenancy: %s", mode)
        if isinstance(self.quota, MemoryQuotaStore):
            await loop.run_in_executor(None, self._take_lease)
        legacy = await loop.run_in_executor(None, self.budgets.legacy_team_budgets)
        for budget in legacy:
            log.warning("budget %s applies to team %r of every tenant (set before team budgets were per tenant); replace it "
                        "with `switchyard budgets set --team %s --tenant ...`", budget.budget_id, budget.scope_id, budget.scope_id)

    def _take_lease(self) -> None:
        lease = replicas.LedgerLease(self.budgets.engine)
        held = lease.acquire()
        if held is not False:
            self._lease = lease
            return
        what = ("another gateway is running on this ledger with budgets and rate limits counted in its own memory: "
                "two such replicas would each enforce the whole budget")
        if not self.allow_unshared_quota:
            message = (f"refusing to start: {what}. Share them with SWITCHYARD_REDIS_URL (every replica), or stop the "
                       f"other gateway; {OVERRIDE_ENV}=1 starts anyway")
            log.critical(message)
            raise RuntimeError(message)
        log.warning("WARNING: %s, and %s=1 says to start anyway: replicas each enforce the whole budget "
                    "(set SWITCHYARD_REDIS_URL to share them)", what, OVERRIDE_ENV)

    async def aclose(self) -> None:
        await self.quota.aclose()
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    async def authenticate(self, authorization: str | None) -> Identity:
        """The caller's tenant, team and key, or a 401; budgets are not looked up."""
        loop = asyncio.get_running_loop()
        any_keys = self.keys.any_keys() if self.keys.cached_any() else await loop.run_in_executor(None, self.keys.any_keys)
        is_open = self._open(any_keys)
        token = _bearer(authorization)
        if token is None or not any_keys:
            # No key was ever created (or none offered): nothing to check a secret against.
            if is_open:
                return Identity()
            raise _unauthorized("missing API key: send 'Authorization: Bearer sk-sy-...'" if token is None else _INVALID_KEY)
        hit, state, info = self.keys.peek(token)
        if not hit:
            state, info = await loop.run_in_executor(None, self.keys.lookup, token)
        if state == "live" and info is not None:
            return Identity(info.tenant, info.team, info)
        if state == "unknown" and is_open:
            return Identity()  # explicit open mode: a secret that was never a key is no key at all
        raise _unauthorized(_INVALID_KEY)

    async def identify(self, authorization: str | None) -> Identity:
        identity = await self.authenticate(authorization)
        loop = asyncio.get_running_loop()
        covering = self.budgets.covering(identity.key_id, identity.team, identity.tenant) if self.budgets.cached() else (
            await loop.run_in_executor(None, self.budgets.covering, identity.key_id, identity.team, identity.tenant)
        )
        identity.buckets = self.budgets.buckets(covering)
        return identity

    async def admit(self, identity: Identity, tokens: int) -> None:
        """Rate limits: requests and tokens per minute, per key."""
        await self.admit_request(identity)
        await self.admit_tokens(identity, tokens)

    async def admit_request(self, identity: Identity) -> None:
        """The requests-per-minute half of :meth:`admit`, for a caller that checks it before any work (the
        chat pipeline: a key over its limit gets no cache lookup and no routing) and counts tokens later."""
        key = identity.key
        if key is not None and key.rpm is not None:
            wait = await self.quota.hit_rate(f"{key.key_id}:rpm", 1, key.rpm, 60)
            if wait is not None:
                raise APIError(429, f"rate limit: {key.rpm} requests per minute for key {key.key_id}",
                               code="rate_limit_exceeded", headers={"retry-after": str(wait)})

    async def admit_tokens(self, identity: Identity, tokens: int) -> None:
        """The tokens-per-minute half of :meth:`admit`."""
        key = identity.key
        if key is None:
            return
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
                f"the {over.name} is exhausted: this request could cost up to {usd(amount)}",
                code="budget_exceeded",
                type_="budget_exceeded",
                # A retry cannot succeed until the period ends or the budget is raised: tell SDKs not to.
                headers={"x-should-retry": "false"},
            )

    async def settle(self, identity: Identity, reservation_id: str, actual: int) -> None:
        """Charge what the request cost, never more than it reserved (the stores cap it too)."""
        if identity.buckets:
            await self.quota.settle(reservation_id, identity.buckets, max(0, actual))

    async def release(self, identity: Identity, reservation_id: str) -> None:
        if identity.buckets:
            await self.quota.release(reservation_id, identity.buckets)
