"""Gateway overhead: the latency Switchyard adds over calling an upstream directly.

Starts a fast local OpenAI-compatible upstream (bench/fast_upstream.py), the gateway in front of
it, and (if installed) LiteLLM's proxy in front of the same upstream, then drives each with wrk
at several concurrencies. "routing off" pins the tier by model name; "routing on" sends
model=auto through the policy's classifier and decision function. Every gateway request's ledger
row (SQLite) is durable before it is answered: "journal" is the default (the row appended to a
local journal, committed to the database in the background), "fsync" is
SWITCHYARD_LEDGER_SYNC=full (the answer waits for the commit and its fsync).

"switchyard default" is what a user gets: the default classifier routing model=auto between two
tiers, the response caches as the default policy has them (cache section left out), an API key
with a budget (every request reserves and settles) and the ledger; "default, semantic on" the
same with `cache.semantic: true`. Their requests are distinct real questions (MMLU prompts from
../shared/data, each with one of a few framings, never repeated within a gateway), so every one
is a cache miss and pays the whole lookup; the share that hit anyway is read back from the ledger
and printed.

Columns: p50/p99/max of wrk's end-to-end latency (max: the slowest answer of a cell's runs, an upper
bound on any stall a request saw, queueing on the machine's cores included); "added p50": over the
direct upstream at the same concurrency; "pre-engine p50/p99" (default configurations): the
gateway's own work before the engine call (auth, both cache lookups, routing, budget reservation) as
each request measured it, read from the ledger's overhead_ms.

Reproduce (needs Debian's wrk: apt-get install wrk; LiteLLM's proxy in its own venv, so its pins
don't touch the project's: python3 -m venv .bench-litellm && .bench-litellm/bin/pip install 'litellm[proxy]'):
    .venv/bin/python bench/gateway_overhead.py
"""

from __future__ import annotations

import argparse
import atexit
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
from typing import Any

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


DEFAULT_POLICY = """
version: 1
name: bench-default
tiers:
  small:
    engine: openai
    model: fast
    base_url: {upstream}/v1
    prices: {{input_per_mtok: 0.15, output_per_mtok: 0.6}}
  large:
    engine: openai
    model: fast-large
    upstream_model: fast
    base_url: {upstream}/v1
    prices: {{input_per_mtok: 2.5, output_per_mtok: 10}}
routing:
  classifier: default
  thresholds: {{large: 0.569}}
{cache}"""
FRAMINGS = ("{q}", "Answer with the letter only.\n\n{q}", "Explain your choice in one sentence.\n\n{q}")


def distinct_prompts_script(work: Path) -> Path:
    """A wrk script sending a different real question each request, from the offset given after --."""
    rows = [r for r in (ROOT.parent / "shared/data/routing/mmlu-train.jsonl").read_text().split("\n") if r.strip()]
    questions = [json.loads(r)["messages"][-1]["content"] for r in rows]
    bodies = [
        json.dumps({"model": "auto", "messages": [{"role": "user", "content": f.format(q=q)}], "max_tokens": 16})
        for f in FRAMINGS
        for q in questions
    ]
    script = work / "distinct.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_BEARER")\n'
        "local bodies = {\n" + "".join(f"[==[{b}]==],\n" for b in bodies) + "}\n"
        "local i = 0\nlocal offset = 0\n"
        "init = function(args) offset = tonumber(args[1]) or 0 end\n"
        "request = function()\n  i = i + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[((offset + i - 1) % #bodies) + 1])\nend\n"
    )
    return script


def cache_counts(database_url: str) -> dict[str, int]:
    import sqlite3

    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return dict(db.execute("SELECT cache, count(*) FROM requests GROUP BY cache").fetchall())


def ledger_overheads(database_url: str, since: float, until: float) -> list[float]:
    """The gateway's own pre-engine overhead (ms) of the rows a run wrote: what it did before calling
    the engine (auth, cache lookups, routing, budget), as each request measured it."""
    import sqlite3
    from datetime import UTC, datetime

    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT created_at, overhead_ms FROM requests WHERE overhead_ms IS NOT NULL").fetchall()
    out = []
    for created, overhead in rows:
        at = datetime.fromisoformat(str(created))
        stamp = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
        if since <= stamp <= until:
            out.append(float(overhead))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Result:
    target: str
    concurrency: int
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int
    max_ms: float = float("nan")  # the slowest answer of the cell's runs: an upper bound on any stall
    pre_p50_ms: float = float("nan")  # pre-engine overhead from the ledger (default configurations)
    pre_p99_ms: float = float("nan")


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    url: str, model: str, concurrency: int, duration: int, work: Path, distinct: tuple[Path, int, str] | None = None
) -> tuple[float, float, float, int, float]:
    """One wrk run; `distinct` (script, offset, bearer key) sends distinct prompts instead of one body."""
    script = work / f"post-{model}.lua"
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16})
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {BENCH_KEY}"\n'
    )
    extra: list[str] = []
    env = None
    if distinct is not None:
        script, offset, bearer = distinct[0], distinct[1], distinct[2]
        extra = ["--", str(offset)]
        env = {**os.environ, "BENCH_BEARER": bearer}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{duration}s", "--latency", "-s", str(script), url + "/v1/chat/completions", *extra],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    slowest = _ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    # Requests wrk gave up on (no answer within its 2 s) are errors too: they are missing from its latencies.
    errors += int(m.group(1)) if (m := re.search(r"Socket errors:.*timeout (\d+)", out)) else 0
    if distinct is not None:
        sent = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        DISTINCT_SENT[script] = DISTINCT_SENT.get(script, 0) + sent + concurrency  # in-flight ones at the end too
    return p50, p99, rps, errors, slowest


DISTINCT_SENT: dict[Path, int] = {}  # per gateway's script copy: how far into the prompts its runs got


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
        return Process(
            [exe, "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
            port,
            "/health/liveliness",
            work / "litellm.log",
        )
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
    parser.add_argument(
        "--only-default", action="store_true", help="measure the default configurations, the minimal one and the direct upstream only"
    )
    parser.add_argument("--no-semantic", action="store_true", help="leave out the 'default, semantic on' gateway")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]  # the machine's other work skews wall-clock figures: printed with them
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    levels = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started: list[Process] = []

    def spawn(*spec: Any, **kwargs: Any) -> Process:
        started.append(proc := Process(*spec, **kwargs))
        return proc

    # Whatever fails while setting up (or measuring), no server outlives the script.
    atexit.register(lambda: [proc.stop() for proc in started])
    upstream_port = free_port()
    upstream = spawn(
        [sys.executable, str(ROOT / "bench/fast_upstream.py"), "--port", str(upstream_port)],
        upstream_port,
        "/v1/models",
        work / "upstream.log",
        env=env,
    )
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(upstream=upstream.url, classifier=args.classifier))
    gateways = {}
    for sync in ("journal", "full"):
        port = free_port()
        genv = {**env, "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger-{sync}.db", "SWITCHYARD_LEDGER_SYNC": sync}
        gateways[sync] = spawn(
            [sys.executable, "-m", "router.cli", "serve", "--policy", str(policy), "--port", str(port), "--log-level", "warning"],
            port,
            "/readyz",
            work / f"gateway-{sync}.log",
            env=genv,
        )
    defaults: dict[str, tuple[Process, Path, str]] = {}
    base_script = distinct_prompts_script(work)
    configurations = [("switchyard default", ""), ("default, semantic on", "cache: {semantic: true}\n")]
    for name, cache in configurations[: 1 if args.no_semantic else 2]:
        tag = "semantic" if cache else "default"
        dpolicy = work / f"policy-{tag}.yaml"
        dpolicy.write_text(DEFAULT_POLICY.format(upstream=upstream.url, cache=cache))
        denv = {**env, "SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger-{tag}.db"}
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "router.cli",
                "keys",
                "create",
                "--tenant",
                "bench",
                "--team",
                "bench",
                "--budget-usd",
                "1000000",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=denv,
            cwd=ROOT,
        )
        bearer = json.loads(created.stdout)["key"]
        port = free_port()
        proc = spawn(
            [sys.executable, "-m", "router.cli", "serve", "--policy", str(dpolicy), "--port", str(port), "--log-level", "warning"],
            port,
            "/readyz",
            work / f"gateway-{tag}.log",
            env=denv,
        )
        proc.database_url = denv["SWITCHYARD_DATABASE_URL"]
        script = work / f"distinct-{tag}.lua"  # a copy per gateway: each counts its own way into the prompts
        shutil.copyfile(base_script, script)
        defaults[name] = (proc, script, bearer)
        gateways[tag] = proc
    gateway = gateways["journal"]
    routing_note = httpx.post(gateway.url + "/v1/route", json={"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}).json()
    ask = {"model": "auto", "messages": [{"role": "user", "content": PROMPT}]}
    default_classifiers = {
        name: httpx.post(proc.url + "/v1/route", headers={"authorization": f"Bearer {bearer}"}, json=ask).json().get("classifier")
        for name, (proc, _, bearer) in defaults.items()
    }
    proxy = None if args.no_litellm else start_litellm_proxy(upstream.url, work)
    # The minimal configuration (routing, caches and budgets off) runs beside the defaults, so their ratio is of one run.
    targets = [
        ("direct upstream", upstream.url, "fast"),
        ("switchyard off, journal", gateway.url, "fast"),
        *((name, proc.url, "auto") for name, (proc, _, _) in defaults.items()),
    ]
    if not args.only_default:
        targets += [
            ("switchyard on, journal", gateway.url, "auto"),
            ("switchyard off, fsync", gateways["full"].url, "fast"),
            ("switchyard on, fsync", gateways["full"].url, "auto"),
        ]
    if proxy is not None and not args.only_default:
        targets.append(("litellm proxy", proxy.url, "fast"))
    results: list[Result] = []
    hits: dict[str, dict[str, int]] = {}
    windows: dict[tuple[str, int], tuple[float, float]] = {}

    def distinct(name: str) -> tuple[Path, int, str] | None:
        if name not in defaults:
            return None
        _, script, bearer = defaults[name]
        return script, DISTINCT_SENT.get(script, 0), bearer

    try:
        for name, url, model in targets:
            run_wrk(url, model, 8, 2, work, distinct(name))  # warm-up: connections, caches, JIT-free but lazy imports
            for c in levels:
                since = time.time()
                runs = [run_wrk(url, model, c, args.duration, work, distinct(name)) for _ in range(args.repeats)]
                results.append(
                    Result(
                        name,
                        c,
                        statistics.median(r[0] for r in runs),
                        statistics.median(r[1] for r in runs),
                        statistics.median(r[2] for r in runs),
                        sum(r[3] for r in runs),
                        max(r[4] for r in runs),
                    )
                )
                windows[(name, c)] = (since, time.time())
        for name, (proc, _, _) in defaults.items():
            assert proc.database_url is not None
            time.sleep(0.5)  # the journal reaches the database in 50 ms batches
            hits[name] = cache_counts(proc.database_url)
            for r in results:
                if r.target == name:
                    pre = ledger_overheads(proc.database_url, *windows[(name, r.concurrency)])
                    r.pre_p50_ms, r.pre_p99_ms = percentile(pre, 0.5), percentile(pre, 0.99)
    finally:
        for proc in (proxy, *gateways.values(), upstream):
            if proc is not None:
                proc.stop()
    direct = {r.concurrency: r for r in results if r.target == "direct upstream"}
    print(
        f"\nGateway overhead, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, wrk -t1, "
        f"{args.duration}s x {args.repeats} runs per cell (medians); "
        f"load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"routing on uses classifier: {routing_note['classifier']}")
    for name, classifier in default_classifiers.items():
        print(f"{name} routes with classifier: {classifier}")
    for name, counts in hits.items():
        print(f"{name}: ledger rows by cache outcome {counts} (distinct prompts: hits here are near-duplicate questions)")
    print("pre-engine p50/p99: the gateway's own work before the engine call, from the ledger's overhead_ms (default configurations)")
    print(
        f"{'target':<28}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}{'added p50 ms':>14}"
        f"{'pre-engine p50/p99':>20}{'errors':>8}"
    )
    for r in results:
        added = r.p50_ms - direct[r.concurrency].p50_ms
        pre = f"{r.pre_p50_ms:.3f}/{r.pre_p99_ms:.3f}" if r.pre_p50_ms == r.pre_p50_ms else "-"
        print(
            f"{r.target:<28}{r.concurrency:>5}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.max_ms:>9.1f}{r.rps:>9.0f}{added:>14.3f}"
            f"{pre:>20}{r.errors:>8}"
        )
    minimal = {r.concurrency: r for r in results if r.target == "switchyard off, journal"}
    for r in results:
        if r.target in defaults and r.concurrency in minimal:
            base = minimal[r.concurrency]
            print(
                f"{r.target} vs minimal at concurrency {r.concurrency}: p50 x{r.p50_ms / base.p50_ms:.1f}, "
                f"p99 x{r.p99_ms / base.p99_ms:.1f}, req/s x{r.rps / base.rps:.2f}"
            )
    if proxy is not None and not args.only_default:
        for c in levels:
            ours = next(r for r in results if r.target == "switchyard off, journal" and r.concurrency == c)
            theirs = next(r for r in results if r.target == "litellm proxy" and r.concurrency == c)
            print(f"concurrency {c}: switchyard/litellm-proxy req/s ratio {ours.rps / theirs.rps:.2f}")
    print(
        f"\nreproduce: .venv/bin/python bench/gateway_overhead.py --duration {args.duration} --repeats {args.repeats} "
        f"--concurrency {args.concurrency}{' --only-default' if args.only_default else ''}{' --no-semantic' if args.no_semantic else ''}"
    )


if __name__ == "__main__":
    main()
