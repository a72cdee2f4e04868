"""Reliability figures for the README: what hostile or careless clients and lying upstreams can do.

Each scenario runs real gateway processes on 127.0.0.1 (the default policy, as `make run` serves
it, with its HTTP tiers pointed at tests/faulty_upstream.py standing in for paid providers) and is
bounded in count and time:

  fuzz       malformed and hostile requests (random JSON of every type and depth, content parts,
             response formats, JSON schemas, tools, headers); counts answers by status class.
             Target: 0 answers 5xx.
  overspend  a hard budget, an upstream that reports 100x the tokens it used; spend until refused.
             Target: spend <= budget + one request's worst case.
  restarts   concurrent clients while the gateway is killed with SIGKILL and restarted; every
             request answered 200 must have exactly one ledger row. Target: 0 lost, 0 doubled.
  memory     the largest request a client may send (limits.max_request_bytes), repeatedly and
             concurrently; the gateway's RSS before and after. Bounded and stated.

    python -m bench.reliability all            # or one scenario; --seed, --requests, --cycles
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.faulty_upstream import FaultyUpstream
from tests.hostile import hostile_body
from tests.servers import ROOT, Process, free_port, start_gateway

DEFAULT_POLICY = ROOT / "policies" / "default.yaml"
HELLO = {"model": "self_hosted", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 6}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def gateway_env(work: Path, upstream: FaultyUpstream, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The default policy with its two HTTP tiers enabled against the local stand-in provider."""
    return {
        "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db",
        "SWITCHYARD_SELF_HOSTED_URL": upstream.url + "/v1",
        "SWITCHYARD_FRONTIER_API_BASE": upstream.url + "/v1",
        "OPENAI_API_KEY": "sk-local-standin",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        **(extra or {}),
    }


def create_key(env: dict[str, str], *args: str) -> dict[str, Any]:
    import subprocess

    out = subprocess.run([sys.executable, "-m", "router.cli", "keys", "create", *args, "--json"], env={**os.environ, **env},
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout)


# ---------------------------------------------------------------- fuzz


def fuzz(requests: int, seed: int, limit_s: float) -> dict[str, Any]:
    rng = random.Random(seed)
    upstream = FaultyUpstream(free_port())
    work = Path(tempfile.mkdtemp(prefix="sy-fuzz-"))
    gw = start_gateway(DEFAULT_POLICY, work, env=gateway_env(work, upstream))
    classes: Counter[str] = Counter()
    fives: list[str] = []
    started = time.monotonic()
    try:
        with httpx.Client(timeout=30) as client:
            for i in range(requests):
                if time.monotonic() - started > limit_s:
                    break
                content, headers = hostile_body(rng, "schema" if i % 4 == 0 else None)  # a quarter aimed at the grammar compiler
                try:
                    answer = client.post(gw.url + "/v1/chat/completions", content=content, headers=headers)
                except httpx.HTTPError as exc:
                    classes["transport error"] += 1
                    fives.append(f"transport: {exc!r}")
                    continue
                classes[f"{answer.status_code // 100}xx"] += 1
                if answer.status_code >= 500:
                    fives.append(f"{answer.status_code} {content[:120]!r} -> {answer.text[:160]}")
        tracebacks = gw.output().count("Traceback")
    finally:
        gw.stop()
        upstream.stop()
    sent = sum(classes.values())
    return {"requests": sent, "by_class": dict(classes), "client_caused_5xx": len(fives), "examples_5xx": fives[:5],
            "tracebacks_in_log": tracebacks, "seconds": round(time.monotonic() - started, 1)}


# ---------------------------------------------------------------- overspend


def ledger_spend(work: Path, tenant: str) -> tuple[int, int]:
    """(charged, claimed by upstreams beyond the reservations) in nano-dollars."""
    with sqlite3.connect(work / "ledger.db") as db:
        row = db.execute("select coalesce(sum(cost_nanousd), 0), coalesce(sum(excess_nanousd), 0) from requests where tenant = ?",
                         (tenant,)).fetchone()
    return int(row[0]), int(row[1])


def overspend(requests: int, budget_usd: float) -> dict[str, Any]:
    upstream = FaultyUpstream(free_port())
    work = Path(tempfile.mkdtemp(prefix="sy-overspend-"))
    env = gateway_env(work, upstream)
    key = create_key(env, "--tenant", "liar-victim", "--team", "t", "--budget-usd", str(budget_usd), "--period", "total")
    gw = start_gateway(DEFAULT_POLICY, work, env=env)
    # The stand-in provider claims 100x what it generated: 1,100 prompt and 600 completion tokens.
    httpx.post(upstream.url + "/control", json={"model": "self-hosted", "script": [], "default": "ok",
                                                  "usage": {"prompt_tokens": 1100, "completion_tokens": 600}}).raise_for_status()
    statuses: Counter[int] = Counter()
    worst = None
    try:
        with httpx.Client(timeout=30, headers={"authorization": f"Bearer {key['key']}"}) as client:
            for i in range(requests):
                # Distinct prompts: a cache hit costs nothing and would hide the upstream's lie.
                body = {**HELLO, "messages": [{"role": "user", "content": f"Say hello to number {i}."}]}
                answer = client.post(gw.url + "/v1/chat/completions", json=body)
                statuses[answer.status_code] += 1
                if answer.status_code == 429:
                    # The refusal states the request's worst case: what its reservation would have held.
                    found = re.search(r"up to \$([0-9.]+)", answer.json()["error"]["message"])
                    worst = float(found.group(1)) if found else None
                    break
        time.sleep(0.3)
    finally:
        gw.stop()
        upstream.stop()
    charged, excess = ledger_spend(work, "liar-victim")
    spent = charged / 1e9
    return {"budget_usd": budget_usd, "spent_usd": round(spent, 8), "over_budget_usd": round(max(0.0, spent - budget_usd), 8),
            "claimed_past_reservations_usd": round(excess / 1e9, 8),
            "one_request_worst_case_usd": worst, "statuses": dict(statuses)}


# ---------------------------------------------------------------- restarts


def restarts(cycles: int, seconds: float) -> dict[str, Any]:
    upstream = FaultyUpstream(free_port())
    work = Path(tempfile.mkdtemp(prefix="sy-restarts-"))
    env = gateway_env(work, upstream)
    acked: list[str] = []
    lock = threading.Lock()
    port = free_port()

    def start() -> Process:
        args = [sys.executable, "-m", "router.cli", "serve", "--policy", str(DEFAULT_POLICY), "--port", str(port)]
        return Process(args, port, "/readyz", work / f"gateway-{time.monotonic_ns()}.log", env=env)

    def client(stop: threading.Event) -> None:
        with httpx.Client(timeout=5) as http:
            while not stop.is_set():
                try:
                    answer = http.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=HELLO)
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if answer.status_code == 200:
                    with lock:
                        acked.append(answer.headers["x-switchyard-request-id"])

    for _ in range(cycles):
        gw = start()
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(stop,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(seconds * (0.5 + random.random()))
        os.kill(gw.proc.pid, signal.SIGKILL)
        gw.proc.wait()
        stop.set()
        for thread in threads:
            thread.join()
    final = start()  # replays what the killed ones left in their journals
    time.sleep(1.0)
    final.stop()
    upstream.stop()
    with sqlite3.connect(work / "ledger.db") as db:
        rows = Counter(r[0] for r in db.execute("select request_id from requests"))
    lost = [rid for rid in acked if rid not in rows]
    doubled = [rid for rid, n in rows.items() if n > 1]
    return {"cycles": cycles, "answered_200": len(acked), "ledger_rows": sum(rows.values()), "lost": len(lost), "doubled": len(doubled)}


# ---------------------------------------------------------------- memory


def memory(repeats: int) -> dict[str, Any]:
    upstream = FaultyUpstream(free_port())
    work = Path(tempfile.mkdtemp(prefix="sy-memory-"))
    gw = start_gateway(DEFAULT_POLICY, work, env=gateway_env(work, upstream))
    limit = 4 * 1024 * 1024  # the default policy's limits.max_request_bytes
    rng = random.Random(7)
    statuses: Counter[int] = Counter()
    try:
        warm = httpx.post(gw.url + "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}],
                                                                  "max_tokens": 2}, timeout=60)
        statuses[warm.status_code] += 1
        before = rss_mb(gw.proc.pid)
        peak = before
        rounds: list[float] = []

        def big() -> bytes:
            words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta", "omega"]) for _ in range(limit // 6 - 100))
            body = json.dumps({"model": rng.choice(["auto", "self_hosted"]), "max_tokens": 4,
                               "messages": [{"role": "user", "content": "Summarise: " + words}]}).encode()
            return body[: limit] if len(body) <= limit else json.dumps({"model": "self_hosted", "max_tokens": 4, "messages": [
                {"role": "user", "content": "Summarise: " + words[: limit - 200]}]}).encode()

        with httpx.Client(timeout=120) as client:
            for _ in range(repeats):
                threads: list[threading.Thread] = []
                for _ in range(4):
                    body = big()

                    def send(body: bytes = body) -> None:
                        answer = client.post(gw.url + "/v1/chat/completions", content=body, headers={"content-type": "application/json"})
                        statuses[answer.status_code] += 1

                    threads.append(threading.Thread(target=send))
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                rounds.append(round(rss_mb(gw.proc.pid), 1))
                peak = max(peak, rounds[-1])
        after = rss_mb(gw.proc.pid)
    finally:
        gw.stop()
        upstream.stop()
    return {"request_bytes": limit, "requests": 4 * repeats, "concurrency": 4, "rss_before_mb": round(before, 1),
            "rss_peak_mb": round(peak, 1), "rss_after_mb": round(after, 1), "rss_after_each_round_mb": rounds,
            "statuses": dict(statuses)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["fuzz", "overspend", "restarts", "memory", "all"])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--limit-s", type=float, default=300)
    parser.add_argument("--rounds", type=int, default=12, help="memory: rounds of 4 concurrent largest requests")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "fuzz": lambda: fuzz(args.requests, args.seed, args.limit_s),
        "overspend": lambda: overspend(500, 0.01),
        "restarts": lambda: restarts(args.cycles, 3.0),
        "memory": lambda: memory(args.rounds),
    }
    for name, run in runs.items():
        if args.scenario in (name, "all"):
            print(name, json.dumps(run(), indent=2), flush=True)
    print(f"reproduce: python -m bench.reliability {args.scenario} --requests {args.requests} --seed {args.seed} "
          f"--cycles {args.cycles} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
