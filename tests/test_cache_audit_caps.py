"""The semantic cache's audits are shared out between tenants (router/cache/audit.py): one tenant's flood of
hits holds at most its share of the audit slots, so another tenant's hits are still re-asked (and their
false hits found and their scopes tightened).

Through the real app in process, as tests/test_cache_audit.py does: the tier is an OpenAI-protocol upstream
on 127.0.0.1 that answers the two misses and then never answers, so every audit it gets stays in flight and
holds its slot for the whole test; which hits were audited and which skipped is decided when each hit is
served, so nothing here waits on timing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from policies.loader import load_policy_text
from router.app import create_app
from router.cache.audit import MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_TENANT, Auditor
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


def test_one_tenants_flood_of_hits_leaves_audit_slots_for_another(tmp_path: Any, upstream: FaultyUpstream) -> None:
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
                hit = await ask(client, other, "What is the boiling point of water?", temperature=0)
                after_other = gateway.cache.auditor.stats()
                # Each audit is an upstream call once its hit's answer is out; they never come back.
                expected = 2 + MAX_IN_FLIGHT_PER_TENANT + 1
                seen: list[Any] = []
                for _ in range(500):
                    async with httpx.AsyncClient() as plain:
                        seen = [c for c in (await plain.get(upstream.url + "/calls")).json() if c["model"] == model]
                    if len(seen) >= expected:
                        break
                    await asyncio.sleep(0.02)
                return {"outcomes": outcomes, "after_flood": after_flood, "hit": hit.headers["x-switchyard-cache"],
                        "after_other": after_other, "calls": len(seen), "expected": expected}
        finally:
            await gateway.aclose()

    out = asyncio.run(main())
    assert out["outcomes"] == ["hit-semantic"] * flood and out["hit"] == "hit-semantic"
    flooded = out["after_flood"]
    # The flooding tenant holds its share of the slots and no more; the rest of its sampled hits were skipped
    # while slots were free: the slots left are the other tenants'.
    assert flooded["sampled"] == flood and flooded["in_flight"] == MAX_IN_FLIGHT_PER_TENANT < MAX_IN_FLIGHT
    assert flooded["skipped"] == flooded["skipped_tenant_share"] == flood - MAX_IN_FLIGHT_PER_TENANT
    # The other tenant's hit, after the flood, is audited: reserved, and re-asked of the tier.
    other_stats = out["after_other"]
    assert other_stats["sampled"] == flood + 1 and other_stats["skipped"] == flooded["skipped"]
    assert other_stats["in_flight"] == MAX_IN_FLIGHT_PER_TENANT + 1 and other_stats["in_flight_tenants"] == 2
    assert out["calls"] == out["expected"]


def test_the_global_bound_still_holds_and_a_tenant_slot_is_freed_when_its_audit_ends() -> None:
    """Shares are taken from the one global bound; a tenant with nothing in flight is forgotten (the table
    holds the tenants with an audit under way, not every tenant ever audited)."""
    auditor = Auditor(rate=1.0, bound=0.01)
    tenants = [f"t{i}" for i in range(MAX_IN_FLIGHT)]
    for tenant in tenants:
        assert not auditor.busy and not auditor.full_for(tenant)
        auditor.reserve(tenant)
    assert auditor.busy  # every slot taken, each tenant under its share: the global bound still decides
    for tenant in tenants[:MAX_IN_FLIGHT_PER_TENANT]:
        auditor.release(tenant)
    assert not auditor.busy and auditor.stats()["in_flight_tenants"] == MAX_IN_FLIGHT - MAX_IN_FLIGHT_PER_TENANT
    for _ in range(MAX_IN_FLIGHT_PER_TENANT - 1):
        auditor.reserve("t7")
    assert auditor.full_for("t7") and not auditor.full_for("t6") and not auditor.full_for("t0")
    for _ in range(MAX_IN_FLIGHT_PER_TENANT):
        auditor.release("t7")
    for tenant in tenants[MAX_IN_FLIGHT_PER_TENANT:-1]:
        auditor.release(tenant)
    assert auditor.stats()["in_flight"] == 0 and auditor.stats()["in_flight_tenants"] == 0


def test_the_per_tenant_share_is_validated() -> None:
    assert 1 <= MAX_IN_FLIGHT_PER_TENANT < MAX_IN_FLIGHT  # the default leaves other tenants slots
    assert Auditor(rate=0.5, bound=0.01, max_in_flight=4, per_tenant=4).per_tenant == 4  # one tenant may have them all
    for bad in ({"per_tenant": 0}, {"per_tenant": MAX_IN_FLIGHT + 1}, {"max_in_flight": 0, "per_tenant": 1}, {"per_tenant": -1}):
        with pytest.raises(ValueError):
            Auditor(rate=0.5, bound=0.01, **bad)
