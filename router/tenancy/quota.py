"""Budgets and rate limits, enforced atomically: in-process by default, in Redis across replicas.

A request first *reserves* its worst-case cost (prompt tokens plus max_tokens at the tier's
prices) against every budget that covers it — its key's, its team's, its tenant's — all or
nothing. Afterwards it *settles* to the actual cost, or *releases* the reservation on error or
disconnect. A reservation that is never settled (a crashed replica) expires after `ttl_s` and is
released by the next reservation that runs, so nothing dangles. Spend already settled in a
period is seeded from the ledger the first time a budget window is touched, so budgets survive
restarts of the gateway and of Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Bucket:
    """One budget in one period window, e.g. team ml, monthly, 2026-11."""

    key: str
    name: str
    limit: int  # nano-dollars
    hard: bool
    expires_at: float  # unix time after which the window's counters can be dropped
    seed: Callable[[], int]  # the ledger's settled spend in this window


class QuotaStore(Protocol):
    async def reserve(self, reservation_id: str, buckets: list[Bucket], amount: int, ttl_s: float) -> Bucket | None:
        """Reserve `amount` on every bucket, or on none and return the hard bucket it would overrun."""
        ...

    async def settle(self, reservation_id: str, buckets: list[Bucket], actual: int) -> int:
        """Release the reservation and charge `actual`, capped at what was reserved while the
        reservation is still held (a lapsed one is charged as told); returns what was charged."""
        ...

    async def release(self, reservation_id: str, buckets: list[Bucket]) -> None: ...

    async def usage(self, bucket: Bucket) -> tuple[int, int]:
        """(settled spend, outstanding reservations) of a bucket."""
        ...

    async def hit_rate(self, key: str, amount: int, limit: int, window_s: int) -> int | None:
        """Add `amount` to a fixed window counter unless it would pass `limit`; None if added,
        else the seconds until the window resets."""
        ...

    async def add_rate(self, key: str, amount: int, window_s: int) -> None: ...

    async def dangling(self) -> int:
        """Reservations outstanding now (for tests and metrics)."""
        ...

    async def aclose(self) -> None: ...


class MemoryQuotaStore:
    """The embedded default. Everything runs on the event loop thread, so each call is atomic."""

    def __init__(self) -> None:
        self._buckets: dict[str, list[int]] = {}  # key -> [spent, reserved]
        self._reservations: dict[str, tuple[list[str], int, float]] = {}
        self._rates: dict[str, tuple[int, int]] = {}  # key -> (window start, count)

    async def _ensure(self, buckets: list[Bucket]) -> None:
        missing = [b for b in buckets if b.key not in self._buckets]
        if missing:
            loop = asyncio.get_running_loop()
            seeds = [await loop.run_in_executor(None, b.seed) for b in missing]
            for bucket, seed in zip(missing, seeds, strict=True):
                self._buckets.setdefault(bucket.key, [seed, 0])

    def _sweep(self) -> None:
        now = time.time()
        for rid in [r for r, (_, _, deadline) in self._reservations.items() if deadline < now]:
            keys, amount, _ = self._reservations.pop(rid)
            for key in keys:
                self._buckets[key][1] -= amount

    async def reserve(self, reservation_id: str, buckets: list[Bucket], amount: int, ttl_s: float) -> Bucket | None:
        await self._ensure(buckets)
        self._sweep()
        for bucket in buckets:
            spent, reserved = self._buckets[bucket.key]
            if bucket.hard and spent + reserved + amount > bucket.limit:
                return bucket
        for bucket in buckets:
            self._buckets[bucket.key][1] += amount
        self._reservations[reservation_id] = ([b.key for b in buckets], amount, time.time() + ttl_s)
        return None

    async def settle(self, reservation_id: str, buckets: list[Bucket], actual: int) -> int:
        await self._ensure(buckets)
        held = self._reservations.pop(reservation_id, None)
        if held is not None:
            for key in held[0]:
                self._buckets[key][1] -= held[1]
            actual = min(actual, held[1])
        for bucket in buckets:
            self._buckets[bucket.key][0] += actual
        return actual

    async def release(self, reservation_id: str, buckets: list[Bucket]) -> None:
        await self.settle(reservation_id, buckets, 0)

    async def usage(self, bucket: Bucket) -> tuple[int, int]:
        await self._ensure([bucket])
        spent, reserved = self._buckets[bucket.key]
        return spent, reserved

    async def hit_rate(self, key: str, amount: int, limit: int, window_s: int) -> int | None:
        now = int(time.time())
        start = now - now % window_s
        window, count = self._rates.get(key, (start, 0))
        if window != start:
            count = 0
        if count + amount > limit and count > 0:
            return start + window_s - now
        self._rates[key] = (start, count + amount)
        return None

    async def add_rate(self, key: str, amount: int, window_s: int) -> None:
        now = int(time.time())
        start = now - now % window_s
        window, count = self._rates.get(key, (start, 0))
        self._rates[key] = (start, (count if window == start else 0) + amount)

    async def dangling(self) -> int:
        self._sweep()
        return len(self._reservations)

    async def aclose(self) -> None:
        return None


# KEYS: bucket hashes. ARGV: reservation id, amount, now (ms), ttl (ms), then per bucket:
# limit, hard (1/0), expire-at (s), ledger seed. Returns 0, or the 1-based index of the overrun bucket.
_RESERVE = """
local rid, amount, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local expired = redis.call('ZRANGEBYSCORE', 'sy:resv:deadlines', '-inf', now)
for _, old in ipairs(expired) do
  local held = redis.call('HMGET', 'sy:resv:' .. old, 'amount', 'buckets')
  if held[1] then
    for key in string.gmatch(held[2], '[^\\n]+') do redis.call('HINCRBY', key, 'reserved', -tonumber(held[1])) end
  end
  redis.call('DEL', 'sy:resv:' .. old)
  redis.call('ZREM', 'sy:resv:deadlines', old)
end
for i, key in ipairs(KEYS) do
  local base = 4 + (i - 1) * 4
  redis.call('HSETNX', key, 'spent', ARGV[base + 4])
  redis.call('HSETNX', key, 'reserved', 0)
  if ARGV[base + 2] == '1' then
    local spent = tonumber(redis.call('HGET', key, 'spent'))
    local reserved = tonumber(redis.call('HGET', key, 'reserved'))
    if spent + reserved + amount > tonumber(ARGV[base + 1]) then return i end
  end
end
for i, key in ipairs(KEYS) do
  local base = 4 + (i - 1) * 4
  redis.call('HINCRBY', key, 'reserved', amount)
  redis.call('EXPIREAT', key, tonumber(ARGV[base + 3]))
end
redis.call('HSET', 'sy:resv:' .. rid, 'amount', amount, 'buckets', table.concat(KEYS, '\\n'))
redis.call('ZADD', 'sy:resv:deadlines', now + ttl, rid)
return 0
"""

# KEYS: bucket hashes. ARGV: reservation id, actual cost. Releases the reservation if it is
# still held (the sweep may have released it already) and charges the actual cost, capped at the
# reservation while it is held: no upstream's report pushes spend past what was reserved.
# Returns what was charged.
_SETTLE = """
local rid, actual = ARGV[1], tonumber(ARGV[2])
local held = redis.call('HMGET', 'sy:resv:' .. rid, 'amount', 'buckets')
if held[1] then
  for key in string.gmatch(held[2], '[^\\n]+') do redis.call('HINCRBY', key, 'reserved', -tonumber(held[1])) end
  redis.call('DEL', 'sy:resv:' .. rid)
  redis.call('ZREM', 'sy:resv:deadlines', rid)
  actual = math.min(actual, tonumber(held[1]))
end
if actual > 0 then
  for _, key in ipairs(KEYS) do redis.call('HINCRBY', key, 'spent', actual) end
end
return actual
"""

# KEYS[1]: the window counter. ARGV: amount, limit, window (s). Returns -1 if added, else its TTL.
_RATE = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if count > 0 and count + amount > limit then return redis.call('TTL', KEYS[1]) end
redis.call('INCRBY', KEYS[1], amount)
if count == 0 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
return -1
"""


class RedisQuotaStore:
    """Budgets and rate limits shared by every replica through one Redis, each step a Lua script."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.url = url
        self.client: Any = redis.from_url(url, decode_responses=True)
        self._reserve = self.client.register_script(_RESERVE)
        self._settle = self.client.register_script(_SETTLE)
        self._rate = self.client.register_script(_RATE)

    async def reserve(self, reservation_id: str, buckets: list[Bucket], amount: int, ttl_s: float) -> Bucket | None:
        loop = asyncio.get_running_loop()
        args: list[Any] = [reservation_id, amount, int(time.time() * 1000), int(ttl_s * 1000)]
        for bucket in buckets:
            # The seed is only read by HSETNX when the window is new to this Redis; compute it
            # only then, as it sums the ledger.
            exists = await self.client.hexists(bucket.key, "spent")
            seed = 0 if exists else await loop.run_in_executor(None, bucket.seed)
            args += [bucket.limit, 1 if bucket.hard else 0, int(bucket.expires_at), seed]
        result = int(await self._reserve(keys=[b.key for b in buckets], args=args))
        return buckets[result - 1] if result else None

    async def settle(self, reservation_id: str, buckets: list[Bucket], actual: int) -> int:
        return int(await self._settle(keys=[b.key for b in buckets], args=[reservation_id, actual]))

    async def release(self, reservation_id: str, buckets: list[Bucket]) -> None:
        await self.settle(reservation_id, buckets, 0)

    async def usage(self, bucket: Bucket) -> tuple[int, int]:
        spent, reserved = await self.client.hmget(bucket.key, "spent", "reserved")
        if spent is None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, bucket.seed), 0
        return int(spent), int(reserved or 0)

    async def hit_rate(self, key: str, amount: int, limit: int, window_s: int) -> int | None:
        now = int(time.time())
        window_key = f"sy:rate:{key}:{now - now % window_s}"
        result = int(await self._rate(keys=[window_key], args=[amount, limit, window_s]))
        return None if result < 0 else max(1, result)

    async def add_rate(self, key: str, amount: int, window_s: int) -> None:
        now = int(time.time())
        window_key = f"sy:rate:{key}:{now - now % window_s}"
        pipe = self.client.pipeline()
        pipe.incrby(window_key, amount)
        pipe.expire(window_key, window_s, nx=True)
        await pipe.execute()

    async def dangling(self) -> int:
        await self._reserve(keys=[], args=["sweep-only", 0, int(time.time() * 1000), 1])
        # The sweep-only call reserved nothing on no buckets; drop its own marker.
        await self._settle(keys=[], args=["sweep-only", 0])
        return int(await self.client.zcard("sy:resv:deadlines"))

    async def aclose(self) -> None:
        await self.client.aclose()
