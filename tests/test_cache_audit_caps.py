"""The semantic cache's audits are shared out between tenants (router/cache/audit.py): a tenant alone may use
every audit slot (nothing is kept idle), but a tenant sampled recently is owed its share of them, so that its
hits are still re-asked (and their false hits found and their scopes tightened) while another tenant floods.

Through the real app in process, as tests/test_cache_audit.py does: the tier is an OpenAI-protocol upstream
on 127.0.0.1 that answers the two misses and then never answers, so every audit it gets stays in flight and
holds its slot for the whole test; which hits were audited and which skipped is decided when each hit is
served, so nothing here waits on timing."""

from __future__ import annotations

import asyncio
import heapq
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from policies.loader import load_policy_text
from router.app import create_app
from router.cache.audit import MAX_IN_FLIGHT, Auditor
from router.cli import app as cli
from router.ledger import Ledger
from tests.faulty_upstream import FaultyUpstream
from tests.test_cache_audit import BagGateway, ask


def create_key(url: str, tenant: str) -> str:
    made = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", tenant, "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert made.exit_code == 0, made.output
    return str(json.loads(made.output)["key"])


def test_one_tenants_flood_of_hits_leaves_the_next_free_audit_slot_for_another(tmp_path: Any, upstream: FaultyUpstream) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    flooding, other = create_key(url, "flooding"), create_key(url, "other")
    model = f"audit-caps-{tmp_path.name}"
    httpx.post(upstream.url + "/control", json={"model": model, "script": ["ok", "ok"], "default": "hang"}).raise_for_status()
    text = f"""
version: 1
name: audit-caps
tiers:
  local:
    engine: openai
    model: local
    upstream_model: {model}
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
    timeouts: {{connect_s: 5, read_s: 300, total_s: 300}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: true, audit_rate: 1.0}}
"""
    flood = 2 * MAX_IN_FLIGHT  # more hits than there are slots in all

    async def main() -> dict[str, Any]:
        gateway = BagGateway(load_policy_text(text), ledger=Ledger(url))
        await gateway.start()
        try:
            transport = httpx.ASGITransport(app=create_app(gateway))
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                # Each tenant's miss (the cache is per tenant), answered before any audit asks anything.
                await ask(client, flooding, "how do i reverse a list in Python", temperature=0)
                await ask(client, other, "what is the boiling point of water", temperature=0)
                outcomes = []
                for _ in range(flood):
                    reply = await ask(client, flooding, "How do I reverse a list in Python?", temperature=0)
                    outcomes.append(reply.headers["x-switchyard-cache"])
                after_flood = gateway.cache.auditor.stats()
                refused = await ask(client, other, "What is the boiling point of water?", temperature=0)
                after_refused = gateway.cache.auditor.stats()

                # Each audit is an upstream call once its hit's answer is out; they never come back.
                async def audits_sent(expected: int) -> int:
                    seen: list[Any] = []
                    for _ in range(500):
                        async with httpx.AsyncClient() as plain:
                            seen = [c for c in (await plain.get(upstream.url + "/calls")).json() if c["model"] == model]
                        if len(seen) >= expected:
                            break
                        await asyncio.sleep(0.02)
                    return len(seen)

                sent_by_flood = await audits_sent(2 + MAX_IN_FLIGHT)
                # One of the flood's audits ends (cancelled, as a closing cache cancels them): its slot frees.
                auditor = gateway.cache.auditor
                next(iter(auditor._tasks)).cancel()
                for _ in range(1000):  # the cancelled call unwinds (its connection closes) in a few turns of the loop
                    if auditor.stats()["in_flight"] < MAX_IN_FLIGHT:
                        break
                    await asyncio.sleep(0.01)
                again = await ask(client, flooding, "How do I reverse a list in Python?", temperature=0)
                after_again = auditor.stats()
                hit = await ask(client, other, "What is the boiling point of water?", temperature=0)
                after_other = auditor.stats()
                return {"outcomes": [*outcomes, again.headers["x-switchyard-cache"]], "after_flood": after_flood,
                        "after_refused": after_refused, "after_again": after_again, "hit": hit.headers["x-switchyard-cache"],
                        "refused": refused.headers["x-switchyard-cache"], "after_other": after_other,
                        "sent_by_flood": sent_by_flood, "calls": await audits_sent(2 + MAX_IN_FLIGHT + 1)}
        finally:
            await gateway.aclose()

    out = asyncio.run(main())
    assert out["outcomes"] == ["hit-semantic"] * (flood + 1) and out["hit"] == out["refused"] == "hit-semantic"
    flooded = out["after_flood"]
    # Alone, the flooding tenant may use every slot (none is kept idle); the rest of its hits found none free.
    assert flooded["sampled"] == flood and flooded["in_flight"] == MAX_IN_FLIGHT
    assert flooded["skipped"] == flood - MAX_IN_FLIGHT and flooded["skipped_tenant_share"] == 0
    assert out["sent_by_flood"] == 2 + MAX_IN_FLIGHT
    # The other tenant's hit finds every slot taken: skipped, and the tenant now waits for the next free one.
    refused = out["after_refused"]
    assert refused["skipped"] == flooded["skipped"] + 1 and refused["owed"] == MAX_IN_FLIGHT // 2
    # A slot frees: the flood's next hit may not take it (it holds more than its share) ...
    again = out["after_again"]
    assert again["in_flight"] == MAX_IN_FLIGHT - 1 and again["skipped_tenant_share"] == 1
    # ... and the other tenant's next hit gets it: reserved, and re-asked of the tier.
    other_stats = out["after_other"]
    assert other_stats["sampled"] == flood + 3 and other_stats["skipped"] == again["skipped"]
    assert other_stats["in_flight"] == MAX_IN_FLIGHT and other_stats["in_flight_tenants"] == 2
    assert other_stats["owed"] == MAX_IN_FLIGHT // 2 - 1
    assert out["calls"] == 2 + MAX_IN_FLIGHT + 1


def test_the_global_bound_still_holds_and_a_tenant_slot_is_freed_when_its_audit_ends() -> None:
    """Shares are taken from the one global bound; a tenant with nothing in flight is forgotten (the table
    holds the tenants with an audit under way, not every tenant ever audited)."""
    auditor = Auditor(rate=1.0, bound=0.01)
    half = MAX_IN_FLIGHT // 2
    tenants = [f"t{i}" for i in range(MAX_IN_FLIGHT)]
    for tenant in tenants:
        assert not auditor.busy and not auditor.full_for(tenant)
        auditor.reserve(tenant)
    assert auditor.busy  # every slot taken, each tenant within its share: the global bound still decides
    for tenant in tenants[:half]:
        auditor.release(tenant)
    assert not auditor.busy and auditor.stats()["in_flight_tenants"] == MAX_IN_FLIGHT - half
    for _ in range(half - 1):
        auditor.reserve("t7")
    # t0..t3, sampled recently and holding nothing, never asked for more than they got: nothing is held back for
    # them, so t7 (above its share) takes the last free slot (work-conserving; a review found slots owed to every
    # recently sampled tenant sat idle for a minute and cut a busy tenant's audits 8-fold).
    assert auditor.owed("t7") == 0 and auditor.stats()["owed"] == 0 and not auditor.full_for("t7")
    assert auditor.admit("t7") is None and auditor.busy
    # t0 is refused once (every slot busy): from then on it is owed its share, which t7 may not take.
    assert auditor.admit("t0") == "busy" and auditor.owed("t7") == auditor.share("t0") == 1
    auditor.release("t7")
    assert auditor.full_for("t7") and auditor.full_for("t6") and not auditor.full_for("t0")
    assert auditor.admit("t7") == "share" and auditor.admit("t0") is None and auditor.busy
    assert auditor.admit("t1") == "busy"
    auditor.release("t0")
    for _ in range(half):
        auditor.release("t7")
    for tenant in tenants[half:-1]:
        auditor.release(tenant)
    assert auditor.stats()["in_flight"] == 0 and auditor.stats()["in_flight_tenants"] == 0


def test_the_bound_is_validated() -> None:
    assert Auditor(rate=0.5, bound=0.01, max_in_flight=4).max_in_flight == 4
    for bad in (0, -1):
        with pytest.raises(ValueError):
            Auditor(rate=0.5, bound=0.01, max_in_flight=bad)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_tenant_under_its_share_is_not_skipped_while_another_floods() -> None:
    """An event simulation on an injected clock (no sleeping, nothing timed): one tenant's hits come every 10 ms,
    another's every 300 ms, and each audit holds its slot for 1 s. The quiet tenant needs about 3.3 slots, under its
    share of 4, so (after its first hit makes it known) none of its sampled hits may be skipped for the flood's.
    Before, a slot was kept for it only after it had been refused one, and 71% of its hits were skipped."""
    clock = Clock()
    auditor = Auditor(rate=1.0, bound=0.05, clock=clock)
    events: list[tuple[float, int, str, str]] = []
    seq = 0

    def push(at: float, kind: str, tenant: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, tenant))

    push(1000.0, "hit", "flood")
    push(1000.15, "hit", "quiet")
    quiet_sampled = quiet_skipped = flood_held = 0
    while events:
        at, _, kind, tenant = heapq.heappop(events)
        if at > 1120.0:
            break
        clock.now = at
        if kind == "done":
            auditor.release(tenant)
            continue
        admitted = auditor.admit(tenant) is None
        if admitted:
            push(at + 1.0, "done", tenant)
        if tenant == "quiet":
            quiet_sampled += 1
            quiet_skipped += not admitted
            assert auditor._by_tenant.get("quiet", 0) <= auditor.share("quiet")
            push(at + 0.3, "hit", "quiet")
        else:
            flood_held = max(flood_held, auditor._by_tenant.get("flood", 0))
            push(at + 0.01, "hit", "flood")
    assert quiet_sampled == 400
    # Only its first hit, before it was known, found the flood holding every slot.
    assert quiet_skipped <= 4, f"{quiet_skipped} of the quiet tenant's {quiet_sampled} sampled hits skipped"
    assert flood_held == MAX_IN_FLIGHT  # alone at first, the flood used every slot


def test_tenants_with_one_audit_each_hold_back_no_slot_from_a_busy_tenant() -> None:
    """Seven tenants each have one sampled hit, audited at once; then one tenant has 100 sampled hits a second,
    each audit holding its slot 1 s. Nobody else wants a slot, so the busy tenant may use all eight (found by a
    review: slots owed to every recently sampled tenant sat idle and cut its audits 8-fold). Injected clock."""
    clock = Clock()
    auditor = Auditor(rate=1.0, bound=0.05, clock=clock)
    for i in range(7):
        assert auditor.admit(f"once-{i}") is None
        auditor.release(f"once-{i}")
    in_flight: list[float] = []
    admitted = 0
    for step in range(3000):
        clock.now = 1001.0 + step * 0.01
        for done in [d for d in in_flight if d <= clock.now]:
            in_flight.remove(done)
            auditor.release("busy")
        if auditor.admit("busy") is None:
            admitted += 1
            in_flight.append(clock.now + 1.0)
    assert admitted >= 230, admitted  # ~8 slots for 30 s of 1 s audits: 240 with no other tenant at all
    assert auditor.counts["skipped_tenant_share"] == 0
