"""Fault tolerance around engine calls: a circuit breaker per tier, retries with backoff, timeouts.

A breaker is closed (calls pass), open (calls skip the tier, so fallbacks answer at once instead of
waiting on a dead upstream) or half-open (one probe call is let through after the cool-down; its
success closes the breaker, its failure opens it again). An upstream's `Retry-After` opens the
breaker for that long too, so no request of this gateway calls it before it asked to be called.

Only failures that say nothing about the request itself count: 429, 5xx, timeouts and connection
errors. A 4xx means the upstream is alive and judged the request, which closes the breaker.

One tenant cannot open a breaker for everyone: an upstream may fail (500, a timeout) on what one
tenant's requests contain, so while several tenants use a tier, failures open its breaker only
once they come from at least two of them. Failures nobody's request can cause (connection
refused, an upstream's own Retry-After) and a tier only one tenant uses keep the plain rule.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from policies.schema import BreakerSettings, Resilience, RetrySettings

log = logging.getLogger("switchyard")

RETRYABLE = frozenset({429, 500, 502, 503, 504})
ACTIVE_S = 60.0  # a tenant that called a tier this recently counts among its users
CLOSED, HALF_OPEN, OPEN = 0, 1, 2
STATE_NAMES = {CLOSED: "closed", HALF_OPEN: "half-open", OPEN: "open"}


def retryable(status: int) -> bool:
    return status in RETRYABLE


@dataclass(frozen=True)
class Permit:
    """Leave to call a tier once; a probe permit is the single call a half-open breaker lets through."""

    probe: bool


class Breaker:
    """One tier's circuit breaker. Every method runs on the event loop thread, so none needs a lock."""

    def __init__(
        self,
        tier: str,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[str, int], None] | None = None,
    ) -> None:
        self.tier = tier
        self.settings = settings
        self.clock = clock
        self.on_change = on_change
        self.state = CLOSED
        self.consecutive = 0
        self.open_until = 0.0
        self.probing = False
        self.failing: set[str] = set()  # tenants whose calls failed since the last success
        self._users: dict[str, float] = {}  # tenant -> when it last called the tier

    def _set(self, state: int) -> None:
        if state != self.state:
            log.warning("circuit breaker of tier %s: %s -> %s", self.tier, STATE_NAMES[self.state], STATE_NAMES[state])
            self.state = state
        if self.on_change is not None:
            self.on_change(self.tier, state)

    def admit(self, tenant: str | None = None) -> Permit | None:
        """A permit to call the tier now, or None when the breaker says skip it."""
        if tenant is not None:
            now = self.clock()
            if tenant not in self._users and len(self._users) >= 1024:
                self._users = {t: at for t, at in self._users.items() if now - at < ACTIVE_S}
            self._users[tenant] = now
        if self.state == CLOSED:
            return Permit(probe=False)
        if self.state == OPEN:
            if self.clock() < self.open_until:
                return None
            self._set(HALF_OPEN)
        if self.probing:
            return None
        self.probing = True
        return Permit(probe=True)

    def retry_in(self) -> float:
        """Seconds until the breaker will let a probe through (0 when it would now)."""
        if self.state == OPEN:
            return max(0.0, self.open_until - self.clock())
        return 0.0

    def success(self, permit: Permit | None = None) -> None:
        self.consecutive = 0
        self.failing.clear()
        if permit is not None and permit.probe:
            self.probing = False
        if self.state != CLOSED:
            self._set(CLOSED)

    def _quorum(self, tenant: str | None) -> bool:
        """Whether the failures so far can be the upstream's rather than one tenant's requests'."""
        if tenant is None:
            return True
        self.failing.add(tenant)
        now = self.clock()
        users = sum(1 for at in self._users.values() if now - at < ACTIVE_S)
        return len(self.failing) >= min(2, max(1, users))

    def failure(self, permit: Permit | None = None, retry_after: float | None = None, tenant: str | None = None) -> None:
        """A failed call; `tenant` is whose request it was, None when no request could cause it."""
        self.consecutive += 1
        probe = permit is not None and permit.probe
        if probe:
            self.probing = False
        hold = 0.0
        quorum = self._quorum(tenant)
        if quorum and (probe or self.state == HALF_OPEN or self.consecutive >= self.settings.failures):
            hold = self.settings.cooldown_s
        if retry_after is not None and retry_after > 0:
            # The upstream said when to come back: no call of ours reaches it before then.
            hold = max(hold, retry_after)
        if hold > 0:
            self.open_until = max(self.open_until, self.clock() + hold)
            self._set(OPEN)

    def abandon(self, permit: Permit) -> None:
        """The call ended with no verdict on the upstream (the client left): free the probe slot."""
        if permit.probe:
            self.probing = False


class Guard:
    """The gateway's breakers and retry settings; rebuilt settings keep the breakers' state."""

    def __init__(self, settings: Resilience, on_change: Callable[[str, int], None] | None = None) -> None:
        self.settings = settings
        self.on_change = on_change
        self.breakers: dict[str, Breaker] = {}

    @property
    def retry(self) -> RetrySettings:
        return self.settings.retry

    def breaker(self, tier: str, settings: BreakerSettings | None = None) -> Breaker:
        breaker = self.breakers.get(tier)
        if breaker is None:
            breaker = self.breakers[tier] = Breaker(tier, settings or self.settings.breaker, on_change=self.on_change)
            if self.on_change is not None:
                self.on_change(tier, CLOSED)
        return breaker

    def reconfigure(self, settings: Resilience, keep: dict[str, BreakerSettings | None]) -> None:
        """New settings; tiers outside `keep` (removed or changed upstreams) start over closed."""
        self.settings = settings
        for tier in list(self.breakers):
            if tier not in keep:
                del self.breakers[tier]
            else:
                self.breakers[tier].settings = keep[tier] or settings.breaker

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """How long to wait before retry number `attempt` (1 = the first retry)."""
        retry = self.settings.retry
        if retry_after is not None:
            # Never earlier than asked; a little later, so that clients told the same time spread out.
            return retry_after * (1 + 0.1 * random.random())
        backoff = min(retry.max_delay_s, retry.base_delay_s * 2 ** (attempt - 1))
        return backoff * (0.5 + 0.5 * random.random())
