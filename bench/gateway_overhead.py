"""Gateway overhead: the latency Switchyard adds over calling an upstream directly.

Starts a fast local OpenAI-compatible upstream (bench/fast_upstream.py), the gateway in front of
it, and (if installed) LiteLLM's proxy in front of the same upstream, then drives each with wrk
at several concurrencies. "routing off" pins the tier by model name; "routing on" sends
model=auto through the policy's classifier and decision function. Every gateway request's ledger
row (SQLite) is durable before it is answered: "journal" is the default (the row appended to a
local journal, committed to the database in the background), "fsync" is
SWITCHYARD_LEDGER_SYNC=full (the answer waits for the commit and its fsync).

Reproduce (needs Debian's wrk: apt-get install wrk; LiteLLM's proxy in its own venv, so its pins
don't touch the project's: python3 -m venv .bench-litellm && .bench-litellm/bin/pip install 'litellm[proxy]'):
    .venv/bin/python bench/gateway_overhead.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import Process, free_port  # noqa: E402

# Both gateways see the same bearer key: LiteLLM's proxy refuses to start without a master key.
BENCH_KEY = "sk-bench-0123456789abcdef0123456789abcdef"
PROMPT = "Summarise the plot of a short story about a lighthouse keeper who finds a message in a bottle."

POLICY = """
version: 1
name: bench
tiers:
  fast:
    engine: openai
    model: fast
    base_url: {upstream}/v1
    prices: {{input_per_mtok: 0.1, output_per_mtok: 0.4}}
routing:
  classifier: {classifier}
  thresholds: {{fast: 0.0}}
# wrk repeats one body: with caching on every request after the first would be a cache hit.
cache: {{exact: false, semantic: false}}
"""


@dataclass
class Result:
    target: str
    concurrency: int
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, model: str, concurrency: int, duration: int, work: Path) -> tuple[float, float, float, int]:
    script = work / f"post-{model}.lua"
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16})
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {BENCH_KEY}"\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url + "/v1/chat/completions"],
        capture_output=True, text=True, check=True,
    ).stdout
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return p50, p99, rps, errors


def start_litellm_proxy(upstream: str, work: Path) -> Process | None:
    exe = next((str(p) for p in (ROOT / ".bench-litellm/bin/litellm",) if p.exists()), None)
    if exe is None:
        print("LiteLLM proxy not found at .bench-litellm/bin/litellm; skipping it")
        return None
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: fast\n    litellm_params:\n      model: openai/fast\n"
        f"      api_base: {upstream}/v1\n      api_key: sk-bench\n"
        "litellm_settings:\n  telemetry: false\n  turn_off_message_logging: true\n"
        f"general_settings:\n  master_key: {BENCH_KEY}\n"
    )
    port = free_port()
    try:
        return Process([exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                       port, "/health/liveliness", work / "litellm.log")
    except RuntimeError as exc:
        print(f"LiteLLM proxy did not start: {str(exc)[:500]}")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--repeats", type=int, default=3, help="runs per cell; the median is reported")
    parser.add_argument("--classifier", default="default", help="the policy's routing classifier for 'routing on'")
    parser.add_argument("--no-litellm", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    upstream_port = free_port()
    upstream = Process([sys.executable, str(ROOT / "bench/fast_upstream.py"), "--port", str(upstream_port)],
                       upstream_port, "/v1/models", work / "upstream.log", env=env)
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url, classifier=args.classifier))
    gateways = {}
    for sync in ("journal", "full"):
        port = free_port()
        genv = {**env, "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger-{sync}.db", "SWITCHYARD_LEDGER_SYNC": sync}
        gateways[sync] = Process([sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(port),
                                  "--log-level", "warning"], port, "/readyz", work / f"gateway-{sync}.log", env=genv)
    gateway = gateways["journal"]
    routing_note = httpx.post(gateway.url + "/v1/route", json={"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}).json()
    proxy = None if args.no_litellm else start_litellm_proxy(upstream.url, work)
    targets = [("direct upstream", upstream.url, "fast"),
               ("switchyard off, journal", gateway.url, "fast"),
               ("switchyard on, journal", gateway.url, "auto"),
               ("switchyard off, fsync", gateways["full"].url, "fast"),
               ("switchyard on, fsync", gateways["full"].url, "auto")]
    if proxy is not None:
        targets.append(("litellm proxy", proxy.url, "fast"))
    results: list[Result] = []
    try:
        for name, url, model in targets:
            run_wrk(url, model, 8, 2, work)  # warm-up: connections, caches, JIT-free but lazy imports
            for c in levels:
                runs = [run_wrk(url, model, c, args.duration, work) for _ in range(args.repeats)]
                results.append(Result(name, c, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                                      statistics.median(r[2] for r in runs), sum(r[3] for r in runs)))
    finally:
        for proc in (proxy, *gateways.values(), upstream):
            if proc is not None:
                proc.stop()
    direct = {r.concurrency: r for r in results if r.target == "direct upstream"}
    print(f"\nGateway overhead, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, wrk -t1, "
          f"{args.duration}s x {args.repeats} runs per cell (medians)")
    print(f"routing on uses classifier: {routing_note['classifier']}")
    print(f"{'target':<28}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'added p50 ms':>14}{'errors':>8}")
    for r in results:
        added = r.p50_ms - direct[r.concurrency].p50_ms
        print(f"{r.target:<28}{r.concurrency:>5}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.rps:>9.0f}{added:>14.3f}{r.errors:>8}")
    if proxy is not None:
        for c in levels:
            ours = next(r for r in results if r.target == "switchyard off, journal" and r.concurrency == c)
            theirs = next(r for r in results if r.target == "litellm proxy" and r.concurrency == c)
            print(f"concurrency {c}: switchyard/litellm-proxy req/s ratio {ours.rps / theirs.rps:.2f}")
    print(f"\nreproduce: .venv/bin/python bench/gateway_overhead.py --duration {args.duration} --repeats {args.repeats}")


if __name__ == "__main__":
    main()
