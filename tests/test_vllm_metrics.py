"""Speculative-decoding and throughput figures read from vLLM replicas, and the price built on them."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engines.prom_text import VLLMSnapshot
from engines.vllm import PoolStats, VLLMEngine
from policies.vllm import VLLMSettings
from tests.fake_vllm import FakeVLLM
from tests.servers import Process, free_port, start_gateway

pytestmark = pytest.mark.timeout(90)


def test_snapshot_reads_new_and_old_metric_names() -> None:
    new = VLLMSnapshot.from_text(
        'vllm:num_requests_running{model_name="m",engine="0"} 2\n'
        'vllm:num_requests_running{model_name="m",engine="1"} 3\n'
        'vllm:kv_cache_usage_perc{model_name="m"} 0.5\n'
        'vllm:spec_decode_num_accepted_tokens_total{model_name="m"} 7\n'
    )
    assert (new.running, new.kv_cache_usage, new.spec_accepted_tokens, new.waiting) == (5.0, 0.5, 7.0, None)
    old = VLLMSnapshot.from_text('vllm:gpu_cache_usage_perc{model_name="m"} 0.25\n')
    assert old.kv_cache_usage == 0.25


def test_engine_measures_throughput_and_acceptance() -> None:
    async def main() -> PoolStats:
        fakes = [await FakeVLLM("a").start(), await FakeVLLM("b").start()]
        fakes[0].set(tokens_per_s=400, running=2, spec_drafts=100, spec_draft_tokens=400, spec_accepted_tokens=300)
        fakes[1].set(tokens_per_s=200, running=1, spec_drafts=100, spec_draft_tokens=400, spec_accepted_tokens=100)
        settings = VLLMSettings.model_validate(
            {
                "replicas": [f.url for f in fakes],
                "balancing": {"health_interval_s": 5, "metrics_interval_s": 0.1},
                "pricing": {"gpu_hourly_usd": 3.6, "tokens_per_s": 100, "min_busy_s": 1.0},
            }
        )
        engine = VLLMEngine("m", settings)
        await engine.start()
        try:
            assert engine.stats().busy_tokens_per_s is None  # not enough busy time seen yet
            await asyncio.sleep(0.9)  # two replicas x 0.9 s of busy intervals > min_busy_s
            return engine.stats()
        finally:
            await engine.aclose()
            for fake in fakes:
                await fake.stop()

    stats = asyncio.run(main())
    assert stats.spec_acceptance_rate == pytest.approx(400 / 800)
    assert stats.spec_mean_acceptance_length == pytest.approx(1 + 400 / 200)
    assert stats.tokens_per_s == pytest.approx(600, rel=0.15)
    # Busy throughput is per replica: (400 + 200) tokens for every second each replica spent decoding.
    assert stats.busy_tokens_per_s == pytest.approx(300, rel=0.15)
    assert {r.tokens_per_s is not None for r in stats.replicas} == {True}


GATEWAY_POLICY = """
version: 1
name: vllm-metrics
tiers:
  self_hosted:
    engine: vllm
    model: fake-7b
    upstream_model: fake-model
    max_output_tokens: 8
    vllm:
      replicas: "{replicas}"
      balancing: {{health_interval_s: 0.2, metrics_interval_s: 0.2}}
      pricing: {{gpu_hourly_usd: 3.6, tokens_per_s: 100, input_price_ratio: 0.25, min_busy_s: 0.8}}
  frontier:
    engine: litellm
    model: frontier-standin
    litellm_model: openai/gpt-4o
    api_key_env: SWITCHYARD_TEST_UNSET_KEY
    prices: {{input_per_mtok: 2.5, output_per_mtok: 10}}
routing:
  classifier: rules
"""


@pytest.fixture(scope="module")
def vllm_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, list[Process]]]:
    work = tmp_path_factory.mktemp("vllm-gateway")
    replicas: list[Process] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            args = [sys.executable, "-m", "tests.fake_vllm", "--port", str(port), "--name", name, "--tokens-per-s", "400", "--running", "1"]
            replicas.append(Process(args, port, "/health", work / f"fake-{name}.log"))
        httpx.post(replicas[0].url + "/control", json={"spec_drafts": 250, "spec_draft_tokens": 1000, "spec_accepted_tokens": 700})
        httpx.post(replicas[1].url + "/control", json={"spec_drafts": 250, "spec_draft_tokens": 1000, "spec_accepted_tokens": 300})
        policy = work / "policy.yaml"
        policy.write_text(GATEWAY_POLICY.format(replicas=",".join(r.url for r in replicas)))
        env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db"}
        gateway = start_gateway(policy, work, env=env)
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    yield gateway, replicas
    gateway.stop()
    for replica in replicas:
        replica.stop()


def scrape(gateway: Process) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(gateway.url + "/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples
    }


def test_gateway_exposes_acceptance_throughput_and_measured_price(vllm_gateway: tuple[Process, list[Process]]) -> None:
    gateway, replicas = vllm_gateway
    tier = (("tier", "self_hosted"),)
    first = scrape(gateway)
    # Before enough busy time is measured, the assumed 100 tokens/s prices the tier: $3.6/h / 0.36M = $10.
    assert first[("switchyard_tier_price_usd_per_mtok", (("kind", "output"), *tier))] == pytest.approx(10.0)
    assert first[("switchyard_tier_price_usd_per_mtok", (("kind", "output"), ("tier", "frontier")))] == pytest.approx(10.0)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        metrics = scrape(gateway)
        if ("switchyard_vllm_busy_tokens_per_second", tier) in metrics:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the gateway never reported a measured throughput")
    assert metrics[("switchyard_vllm_spec_decode_acceptance_rate", tier)] == pytest.approx(0.5)
    assert metrics[("switchyard_vllm_spec_decode_mean_acceptance_length", tier)] == pytest.approx(3.0)
    assert metrics[("switchyard_vllm_tokens_per_second", tier)] == pytest.approx(800, rel=0.15)
    assert metrics[("switchyard_vllm_busy_tokens_per_second", tier)] == pytest.approx(400, rel=0.15)
    for replica in replicas:
        labels = (("replica", replica.url), *tier)
        assert metrics[("switchyard_vllm_replica_up", labels)] == 1.0
        assert metrics[("switchyard_vllm_replica_tokens_per_second", labels)] == pytest.approx(400, rel=0.15)
    # Measured 400 tokens/s per replica: $3.6/h / 1.44M tokens = $2.5 per million output tokens.
    output_price = metrics[("switchyard_tier_price_usd_per_mtok", (("kind", "output"), *tier))]
    assert output_price == pytest.approx(2.5, rel=0.15)

    response = httpx.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "fake-7b", "messages": [{"role": "user", "content": "hello " * 40}], "max_tokens": 8},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    cost = Decimal(response.headers["x-switchyard-cost-usd"])
    measured = (Decimal(usage["prompt_tokens"]) * Decimal("0.625") + Decimal(usage["completion_tokens"]) * Decimal("2.5")) / 1_000_000
    assumed = (Decimal(usage["prompt_tokens"]) * Decimal("2.5") + Decimal(usage["completion_tokens"]) * Decimal("10")) / 1_000_000
    assert abs(cost - measured) / measured < Decimal("0.15"), (cost, measured, assumed)


def test_gateway_marks_a_dead_replica_down(vllm_gateway: tuple[Process, list[Process]], tmp_path: Path) -> None:
    gateway, replicas = vllm_gateway
    victim = replicas[1]
    victim.stop()
    labels = (("replica", victim.url), ("tier", "self_hosted"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and scrape(gateway)[("switchyard_vllm_replica_up", labels)] != 0.0:
        time.sleep(0.2)
    assert scrape(gateway)[("switchyard_vllm_replica_up", labels)] == 0.0
    for i in range(6):
        response = httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "fake-7b", "messages": [{"role": "user", "content": f"conversation {i}"}], "max_tokens": 2},
            timeout=10,
        )
        assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"].startswith("from-a")
