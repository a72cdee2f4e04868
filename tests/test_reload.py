"""Policy hot reload in a real gateway: by the admin API and by watching the file; bad policies refused."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.ledger import Ledger
from tests.faulty_upstream import PIECES, FaultyUpstream
from tests.servers import Process, free_port, start_gateway

pytestmark = pytest.mark.slow

ADMIN = "admin-reload-test"
MESSAGES = [{"role": "user", "content": "hi"}]


def tier(name: str, upstream: str, price: int = 1) -> str:
    return f"""
  {name}:
    engine: openai
    model: {name}
    upstream_model: {name}
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: {price}, output_per_mtok: {price}}}
    timeouts: {{connect_s: 1, read_s: 5, total_s: 10}}"""


def policy(name: str, tiers: str) -> str:
    return f"version: 1\nname: {name}\ntiers:{tiers}\nrouting: {{classifier: rules}}\ncache: {{exact: false, semantic: false}}\n"


@pytest.fixture(params=["0.2"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Process, FaultyUpstream, Path]]:
    upstream = FaultyUpstream(free_port())
    path = tmp_path / "policy.yaml"
    path.write_text(policy("first", tier("one", upstream.url) + tier("slow", upstream.url)))
    env = {
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db",
        "SWITCHYARD_ADMIN_KEY": ADMIN,
        "SWITCHYARD_POLICY_POLL_S": request.param,
    }
    gw = start_gateway(path, tmp_path, env=env)
    gw.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield gw, upstream, path
    gw.stop()
    upstream.stop()


def reload(gw: Process) -> httpx.Response:
    return httpx.post(gw.url + "/admin/policy/reload", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)


def ask(gw: Process, model: str) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", json={"model": model, "messages": MESSAGES}, timeout=30)


def models(gw: Process) -> set[str]:
    return {m["id"] for m in httpx.get(gw.url + "/v1/models").json()["data"]}


@pytest.mark.parametrize("setup", ["0"], indirect=True)  # the file watch off: only the admin API reloads
def test_admin_reload_applies_a_valid_policy_and_refuses_an_invalid_one(setup: tuple[Process, FaultyUpstream, Path]) -> None:
    gw, upstream, path = setup
    assert ask(gw, "one").status_code == 200 and "two" not in models(gw)
    assert httpx.post(gw.url + "/admin/policy/reload").status_code == 401  # the admin key guards it
    path.write_text(policy("second", tier("two", upstream.url, price=7) + tier("slow", upstream.url)))
    response = reload(gw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reloaded"] and body["policy"] == "second" and body["added"] == ["two"] and body["removed"] == ["one"]
    assert "two" in models(gw) and "one" not in models(gw)
    answered = ask(gw, "two")
    assert answered.status_code == 200 and answered.headers["x-switchyard-tier"] == "two"
    assert float(answered.headers["x-switchyard-cost-usd"]) == pytest.approx((11 + len(PIECES)) * 7 / 1e6)
    assert ask(gw, "one").status_code == 404

    # An invalid file: refused with the issue's place, and "second" stays in force.
    path.write_text(policy("third", tier("three", upstream.url)).replace("max_output_tokens: 16", "max_output_tokens: 16\n    colour: red"))
    response = reload(gw)
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "invalid_policy" and body["reloaded"] is False
    (issue,) = body["issues"]
    assert issue["path"] == ["tiers", "three", "colour"] and issue["line"] == 10 and "unknown field" in issue["message"]
    assert ask(gw, "two").status_code == 200 and "three" not in models(gw)
    path.write_text("tiers: [not, a, mapping")
    assert reload(gw).status_code == 400
    assert ask(gw, "two").status_code == 200


def test_file_watch_reloads_and_in_flight_requests_finish_on_their_policy(setup: tuple[Process, FaultyUpstream, Path]) -> None:
    gw, upstream, path = setup
    httpx.post(upstream.url + "/control", json={"model": "slow", "script": [], "default": "slowchunks:0.3"}).raise_for_status()
    body = {"model": "slow", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", gw.url + "/v1/chat/completions", json=body, timeout=30) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        first = next(lines)
        # The policy changes under the open stream: its tier goes away.
        path.write_text(policy("watched", tier("one", upstream.url)))
        deadline = time.monotonic() + 10
        while "slow" in models(gw) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "slow" not in models(gw)
        rest = [line for line in (first, *lines) if line]
    events = [json.loads(line[6:]) for line in rest if line.startswith("data: {")]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices")) == "".join(PIECES)
    assert events[-1]["usage"]["completion_tokens"] == len(PIECES) and rest[-1] == "data: [DONE]"
    ledger = Ledger(gw.database_url)
    (row,) = [r for r in ledger.rows() if r["tier"] == "slow"]
    ledger.close()
    assert row["status"] == "ok" and row["cost_nanousd"] == (11 + len(PIECES)) * 1000  # priced by the policy it started on
    deadline = time.monotonic() + 5
    while "closing the engine of retired tier slow" not in gw.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "closing the engine of retired tier slow" in gw.output()
    # A broken file seen by the watch is logged and changes nothing.
    path.write_text(policy("broken", "\n  nope: {engine: teleport, model: x}"))
    deadline = time.monotonic() + 5
    while "policy reload refused" not in gw.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "policy reload refused" in gw.output()
    assert ask(gw, "one").status_code == 200 and "nope" not in models(gw)


GPU_TIER = """
  gpu:
    engine: vllm
    model: gpu-7b
    upstream_model: fake-model
    max_output_tokens: 8
    vllm:
      replicas: ["{replica}"]
      balancing: {{health_interval_s: 0.2, metrics_interval_s: 0.2}}
      pricing: {{gpu_hourly_usd: 3.6, tokens_per_s: 100, input_price_ratio: 0.25, min_busy_s: 0.4}}"""
FLAKY_TIER = """
  flaky:
    engine: openai
    model: flaky
    upstream_model: flaky
    base_url: {upstream}/v1
    breaker: {{failures: 1, cooldown_s: 600}}"""


def prices(gw: Process) -> dict[str, float]:
    """Each tier's output price as /metrics reports it (the price routing and spend use)."""
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    return {
        s.labels["tier"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "switchyard_tier_price_usd_per_mtok" and s.labels["kind"] == "output"
    }


def test_a_reload_keeps_measured_prices_and_open_breakers(tmp_path: Path) -> None:
    upstream = FaultyUpstream(free_port())
    port = free_port()
    replica = Process(
        [sys.executable, "-m", "tests.fake_vllm", "--port", str(port), "--name", "a", "--tokens-per-s", "400", "--running", "1"],
        port,
        "/health",
        tmp_path / "fake-vllm.log",
    )
    path = tmp_path / "policy.yaml"
    tiers = GPU_TIER.format(replica=replica.url) + FLAKY_TIER.format(upstream=upstream.url)
    path.write_text(policy("first", tiers) + "resilience: {retry: {attempts: 1}}\n")
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db", "SWITCHYARD_ADMIN_KEY": ADMIN, "SWITCHYARD_POLICY_POLL_S": "0"}
    gw = start_gateway(path, tmp_path, env=env)
    try:
        # The assumed 100 tokens/s prices output at $3.6/h / 0.36M = $10; the replica's measured 400, at $2.5.
        deadline = time.monotonic() + 30
        while prices(gw)["gpu"] == pytest.approx(10.0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert prices(gw)["gpu"] == pytest.approx(2.5, rel=0.15)
        httpx.post(upstream.url + "/control", json={"model": "flaky", "default": "500"})
        assert ask(gw, "flaky").status_code == 502
        assert ask(gw, "flaky").status_code == 503  # the breaker opened; the upstream is not called
        calls = len(httpx.get(upstream.url + "/calls").json())

        path.write_text(policy("second", tiers + "\n  extra: {engine: fake, model: extra}") + "resilience: {retry: {attempts: 1}}\n")
        response = reload(gw)
        assert response.status_code == 200, response.text
        # The vLLM tier is as the file declared it: neither its engine (and its measurements) nor its breaker is replaced.
        assert response.json()["changed"] == [] and response.json()["added"] == ["extra"]
        assert prices(gw)["gpu"] == pytest.approx(2.5, rel=0.15)  # priced from what was measured, from the first request
        assert ask(gw, "flaky").status_code == 503
        assert len(httpx.get(upstream.url + "/calls").json()) == calls
        answered = httpx.post(gw.url + "/v1/chat/completions", json={"model": "gpu-7b", "messages": MESSAGES, "max_tokens": 8}, timeout=30)
        assert answered.status_code == 200, answered.text
        usage = answered.json()["usage"]
        expected = (usage["prompt_tokens"] * 0.625 + usage["completion_tokens"] * 2.5) / 1e6
        assert float(answered.headers["x-switchyard-cost-usd"]) == pytest.approx(expected, rel=0.15)
    finally:
        gw.stop()
        replica.stop()
        upstream.stop()


FROZEN_POLICY = """version: 1
name: {name}
tiers:
  local:
    engine: fake
    model: local-fake
routing: {{classifier: rules}}
cache: {{exact: true, semantic: true, ttl_s: {ttl}}}
"""


def test_a_replaced_cache_is_freed_although_startup_froze_it(tmp_path: Path) -> None:
    """The app freezes what startup built (gc.freeze), and the cache sits in a reference cycle with its
    gateway: without a collection at retirement, every reload kept the old cache and its index for the
    life of the process (found by a review)."""
    import asyncio
    import gc
    import weakref

    from policies.loader import load_policy
    from router.app import create_app
    from router.gateway import Gateway

    path = tmp_path / "policy.yaml"
    path.write_text(FROZEN_POLICY.format(name="first", ttl=60))

    async def main() -> bool:
        gateway = Gateway(load_policy(path), source=str(path), ledger=Ledger(f"sqlite:///{tmp_path / 'l.db'}"))
        app = create_app(gateway).app
        async with app.router.lifespan_context(app):
            old_cache = weakref.ref(gateway.cache)
            del gateway
            path.write_text(FROZEN_POLICY.format(name="second", ttl=120))  # a changed cache section: a new ResponseCache
            assert (await app.state.reloader.reload()).ok
            for _ in range(200):
                await asyncio.sleep(0.02)
                if not app.state.reloader._draining and not app.state.reloader._closers:
                    break
            return old_cache() is None

    try:
        assert asyncio.run(main()), "the startup ResponseCache outlived its reload"
    finally:
        gc.unfreeze()
