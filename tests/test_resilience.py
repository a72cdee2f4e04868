"""The circuit breaker's state machine and the retry delays, on a fake clock; the guarded stream response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from policies.schema import BreakerSettings, Resilience, RetrySettings
from router.resilience import CLOSED, HALF_OPEN, OPEN, Breaker, Guard
from router.streaming import GuardedStream


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(failures: int = 3, cooldown: float = 10.0) -> tuple[Breaker, Clock, list[int]]:
    clock, changes = Clock(), []
    breaker = Breaker("t", BreakerSettings(failures=failures, cooldown_s=cooldown), clock=clock,
                      on_change=lambda _tier, state: changes.append(state))
    return breaker, clock, changes


def test_opens_after_consecutive_failures_only() -> None:
    breaker, _, _ = make(failures=3)
    for _ in range(2):
        breaker.failure(breaker.admit())
    breaker.success(breaker.admit())  # a success in between resets the count
    for _ in range(2):
        breaker.failure(breaker.admit())
    assert breaker.state == CLOSED
    breaker.failure(breaker.admit())
    assert breaker.state == OPEN and breaker.admit() is None


def test_half_open_lets_exactly_one_probe_through() -> None:
    breaker, clock, changes = make(failures=1, cooldown=10)
    breaker.failure(breaker.admit())
    clock.now += 9.9
    assert breaker.admit() is None and breaker.retry_in() == pytest.approx(0.1)
    clock.now += 0.2
    probe = breaker.admit()
    assert probe is not None and probe.probe and breaker.state == HALF_OPEN
    assert breaker.admit() is None  # a second caller waits for the probe's verdict
    breaker.failure(probe)
    assert breaker.state == OPEN and breaker.admit() is None
    clock.now += 10.1
    probe = breaker.admit()
    assert probe is not None
    breaker.abandon(probe)  # the client left: the next caller probes instead
    probe = breaker.admit()
    assert probe is not None and probe.probe
    breaker.success(probe)
    assert breaker.state == CLOSED and not breaker.admit().probe  # type: ignore[union-attr]
    assert changes[-1] == CLOSED and OPEN in changes and HALF_OPEN in changes


def test_retry_after_holds_the_tier_for_that_long() -> None:
    breaker, clock, _ = make(failures=100, cooldown=1)
    breaker.failure(breaker.admit(), retry_after=30)
    assert breaker.state == OPEN and breaker.retry_in() == pytest.approx(30)
    clock.now += 29
    assert breaker.admit() is None
    clock.now += 1.5
    assert breaker.admit() is not None


def test_delays_back_off_with_jitter_and_honour_retry_after() -> None:
    guard = Guard(Resilience(retry=RetrySettings(base_delay_s=0.1, max_delay_s=0.5)))
    for attempt, cap in ((1, 0.1), (2, 0.2), (3, 0.4), (6, 0.5)):
        delays = [guard.delay(attempt, None) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays) and len(set(delays)) > 1
    assert all(2.0 <= guard.delay(1, 2.0) <= 2.2 for _ in range(100))


def test_reconfigure_keeps_state_of_unchanged_tiers() -> None:
    guard = Guard(Resilience())
    kept, dropped = guard.breaker("a"), guard.breaker("b")
    kept.state = dropped.state = OPEN
    guard.reconfigure(Resilience(breaker=BreakerSettings(failures=2)), {"a": None})
    assert guard.breaker("a") is kept and kept.settings.failures == 2
    assert guard.breaker("b") is not dropped and guard.breaker("b").state == CLOSED


def test_guarded_stream_settles_when_the_body_never_starts() -> None:
    started, unsent = [], []

    async def body() -> AsyncIterator[bytes]:
        started.append(True)
        yield b"data: x\n\n"

    async def on_unsent() -> None:
        unsent.append(True)

    async def receive() -> dict:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        raise OSError("client gone")  # what an ASGI 2.4 server raises once the client has left

    async def run() -> None:
        response = GuardedStream(body(), on_unsent, media_type="text/event-stream")
        with pytest.raises(Exception):  # noqa: B017 - starlette's ClientDisconnect
            await response({"type": "http", "asgi": {"spec_version": "2.4"}}, receive, send)

    asyncio.run(run())
    assert unsent == [True] and started == []


def test_one_tenant_cannot_open_a_breaker_others_use() -> None:
    breaker, clock, _ = make(failures=3)
    breaker.success(breaker.admit("b"))
    for _ in range(5):
        breaker.failure(breaker.admit("a"), tenant="a")
    assert breaker.state == CLOSED  # only tenant a's requests failed while b used the tier too
    breaker.failure(breaker.admit("b"), tenant="b")
    assert breaker.state == OPEN  # two tenants failing: the upstream's fault
    # Alone on a tier, a tenant's failures count as before; so do failures nobody caused.
    alone, clock, _ = make(failures=3)
    for _ in range(3):
        alone.failure(alone.admit("a"), tenant="a")
    assert alone.state == OPEN
    down, _, _ = make(failures=2)
    down.success(down.admit("b"))
    down.failure(down.admit("a"), tenant=None)
    down.failure(down.admit("a"), tenant=None)
    assert down.state == OPEN
    # Users long gone no longer count.
    stale, clock, _ = make(failures=2)
    stale.success(stale.admit("b"))
    clock.now += 120
    stale.failure(stale.admit("a"), tenant="a")
    stale.failure(stale.admit("a"), tenant="a")
    assert stale.state == OPEN
