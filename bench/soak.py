"""Soak: steady load with injected upstream faults against a real gateway; does memory stay flat?

A gateway process serves two tiers from the faulty upstream (tests/faulty_upstream.py): `flaky`,
whose behaviour changes every second among success, 500s, 429s, malformed JSON, slow first
tokens, streams dying mid-way and hangs, and `steady`, its healthy fallback. Concurrent clients
send streamed and non-streamed requests (some leave streams early). Every few seconds the
gateway's RSS, open file descriptors and threads are sampled from /proc.

    python -m bench.soak --duration 600 --concurrency 8

It prints the samples, the answers by status, and whether RSS stayed flat after warm-up
(growth under --max-growth-mb between the first and the last third of the run).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.faulty_upstream import FaultyUpstream
from tests.servers import free_port, start_gateway

FAULTS = ["ok", "ok", "500", "429:0", "malformed", "slow:0.6", "die", "hang"]
POLICY = """
version: 1
name: soak
tiers:
  flaky:
    engine: openai
    model: flaky
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
    timeouts: {{connect_s: 1, read_s: 2, first_token_s: 0.4, total_s: 1.5}}
  steady:
    engine: openai
    model: steady
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 5, output_per_mtok: 10}}
    timeouts: {{connect_s: 1, read_s: 2, total_s: 3}}
fallbacks: {{flaky: [steady]}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
resilience:
  retry: {{attempts: 2, base_delay_s: 0.02, max_delay_s: 0.1, budget_s: 2}}
  breaker: {{failures: 5, cooldown_s: 2}}
"""


def sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(list(Path(f"/proc/{pid}/fd").iterdir())),
        "threads": int(fields["Threads"]),
    }


async def chaos(upstream: str, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set():
            await client.post(upstream + "/control", json={"model": "flaky", "script": [], "default": random.choice(FAULTS)})
            await asyncio.sleep(1.0)


async def worker(gateway: str, stop: asyncio.Event, statuses: Counter[str]) -> None:
    body = {"model": "flaky", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
    async with httpx.AsyncClient(timeout=15) as client:
        while not stop.is_set():
            stream = random.random() < 0.5
            try:
                if not stream:
                    response = await client.post(gateway + "/v1/chat/completions", json=body)
                    statuses[str(response.status_code)] += 1
                    continue
                async with client.stream("POST", gateway + "/v1/chat/completions", json={**body, "stream": True}) as response:
                    leave_early = random.random() < 0.1
                    text = ""
                    async for line in response.aiter_lines():
                        text += line
                        if leave_early:
                            break
                    kind = "left-early" if leave_early else ("stream-error-event" if '"error"' in text else "stream-ok")
                    statuses[f"{response.status_code} {kind}" if response.status_code == 200 else str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[f"client {type(exc).__name__}"] += 1


async def run(duration: float, concurrency: int, every: float, pid: int, gateway: str, upstream: str) -> list[dict[str, float]]:
    stop = asyncio.Event()
    statuses: Counter[str] = Counter()
    tasks = [asyncio.create_task(chaos(upstream, stop))]
    tasks += [asyncio.create_task(worker(gateway, stop, statuses)) for _ in range(concurrency)]
    samples = []
    started = time.monotonic()
    while time.monotonic() - started < duration:
        await asyncio.sleep(every)
        point = {"t": round(time.monotonic() - started, 1), **sample(pid), "answers": sum(statuses.values())}
        samples.append(point)
        print(f"t={point['t']:>6}s rss={point['rss_mb']:.1f}MB fds={point['fds']} threads={point['threads']} answers={point['answers']}",
              flush=True)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    print("answers by status:", dict(statuses.most_common()))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load (default 600)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--max-growth-mb", type=float, default=20.0)
    args = parser.parse_args()
    # The upstream's own complaints about clients (the gateway) hanging up on it are expected here.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    upstream = FaultyUpstream(free_port())
    work = Path(tempfile.mkdtemp(prefix="switchyard-soak-"))
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url))
    gateway = start_gateway(policy, work, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "SWITCHYARD_LOG_LEVEL": "warning"})
    try:
        samples = asyncio.run(run(args.duration, args.concurrency, args.every, gateway.proc.pid, gateway.url, upstream.url))
        healthy = httpx.get(gateway.url + "/healthz", timeout=5).status_code == 200
        calls = httpx.get(upstream.url + "/calls").json()
        seen = Counter(f"{c['mode']}{' stream' if c['stream'] else ''}" for c in calls if c["model"] == "flaky")
        print("calls to the flaky tier by injected mode:", dict(seen.most_common()))
    finally:
        gateway.stop()
        upstream.stop()
    third = max(1, len(samples) // 3)
    early = statistics.median(s["rss_mb"] for s in samples[third: 2 * third] or samples[:1])
    late = statistics.median(s["rss_mb"] for s in samples[-third:])
    fds = [s["fds"] for s in samples]
    flat = late - early < args.max_growth_mb
    print(f"RSS median middle third {early:.1f} MB, last third {late:.1f} MB: growth {late - early:+.1f} MB -> "
          f"{'FLAT' if flat else 'GROWING'} (limit {args.max_growth_mb} MB)")
    print(f"open fds: min {min(fds)}, max {max(fds)}, last {fds[-1]}; gateway healthy at the end: {healthy}")
    print(f"gateway log: {gateway.log}")


if __name__ == "__main__":
    main()
