"""The console on a million-row ledger: how long each of its JSON endpoints takes.

Builds a SQLite ledger of N rows (default 1,000,000: 90 days, 200 tenants, 20 teams, 2,000 keys,
three tiers with the bundled policy's prices, a fifth of answers from the cache) with the
gateway's own migrations, starts the real gateway on it (the bundled policy), signs in to the
console, and asks each endpoint several times: median and worst, in milliseconds. The endpoints
aggregate in SQL (one scan of the period's rows each) and page the request list by keyset.

Reproduce:
    .venv/bin/python bench/console.py                # 1M rows (~1 min to build on this machine)
    .venv/bin/python bench/console.py --rows 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.ledger import Ledger  # noqa: E402
from tests.servers import start_gateway  # noqa: E402

ADMIN_KEY = "sy-bench-console"
TIERS = [("local", 0.0, 0.0), ("self_hosted", 0.15, 0.6), ("frontier", 2.5, 10.0)]  # name, $/Mtok in, out


def build(path: Path, rows: int, seed: int = 7) -> None:
    url = f"sqlite:///{path}"
    ledger = Ledger(url)
    ledger.migrate()
    ledger.close()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    tenants = [f"tenant-{i:03d}" for i in range(200)]
    teams = [f"team-{i:02d}" for i in range(20)]
    keys = [f"key{i:05d}" for i in range(2000)]
    dearest_in, dearest_out = TIERS[-1][1], TIERS[-1][2]
    connection = sqlite3.connect(path)
    connection.execute("pragma journal_mode=wal")
    connection.execute("pragma synchronous=off")
    columns = ("request_id, created_at, tenant, team, key_id, requested_model, tier, model, routed, route_score, decision, fallback_from, "
               "stream, prompt_tokens, completion_tokens, cost_nanousd, saved_nanousd, latency_ms, overhead_ms, cache, status, "
               "http_status, excess_nanousd, door")
    sql = f"insert into requests ({columns}) values ({', '.join('?' * 24)})"
    batch = []
    by_name = {t[0]: t for t in TIERS}
    for i in range(rows):
        # The route score decides the tier as the bundled policy's thresholds do; 1% of the
        # self-hosted tier's requests fall back to the frontier.
        score = min(1.0, max(0.0, rng.gauss(0.5, 0.12)))
        chosen = "local" if score < 0.549 else "self_hosted" if score < 0.6 else "frontier"
        fallback = chosen if chosen == "self_hosted" and rng.random() < 0.01 else None
        name, p_in, p_out = by_name["frontier" if fallback else chosen]
        prompt, completion = rng.randint(20, 2000), rng.randint(5, 600)
        hit = rng.random() < 0.2
        cost = 0 if hit else int(prompt * p_in * 1000 + completion * p_out * 1000)
        dearest = int(prompt * dearest_in * 1000 + completion * dearest_out * 1000)
        key = rng.randrange(len(keys))
        status = "ok" if rng.random() < 0.98 else "error"
        at = now - timedelta(seconds=rng.randrange(90 * 86400))
        decision = f'{{"tier": "{chosen}", "reason": "route score {score:.3f}", "predicted": {{}}, "threshold": 0.549}}'
        batch.append((f"{i:032x}", at.strftime("%Y-%m-%d %H:%M:%S.000000"), tenants[key % 200], teams[key % 20], keys[key],
                      "auto", name, name + "-model", 1, score, decision, fallback, 0, prompt, completion, cost, max(0, dearest - cost),
                      rng.uniform(50, 3000), rng.uniform(0.2, 2), "hit" if hit else "miss", status, 200 if status == "ok" else 502,
                      0, "chat"))
        if len(batch) == 50_000:
            connection.executemany(sql, batch)
            batch.clear()
    if batch:
        connection.executemany(sql, batch)
    connection.commit()
    connection.execute("analyze")
    connection.close()


ENDPOINTS = [
    ("overview, all time", "/console/api/overview"),
    ("overview, 7 days", "/console/api/overview?since=7d"),
    ("overview vs a named tier, 30 days", "/console/api/overview?since=30d&against=self_hosted"),
    ("trend per day, all time", "/console/api/trend?bucket=day"),
    ("trend per hour, 7 days", "/console/api/trend?bucket=hour&since=7d"),
    ("groups by team", "/console/api/groups?by=team"),
    ("groups by key, page 10", "/console/api/groups?by=key&page=10"),
    ("groups by tenant, one team", "/console/api/groups?by=tenant&team=team-03"),
    ("requests, newest 50", "/console/api/requests"),
    ("requests of one tenant", "/console/api/requests?tenant=tenant-042"),
    ("routing (scores, fallbacks)", "/console/api/routing"),
    ("budgets (burn-down)", "/console/api/budgets"),
    ("CSV export, 30 days", "/console/api/export.csv?since=30d"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="switchyard-console-bench-") as tmp:
        work = Path(tmp)
        db = work / "ledger.db"
        started = time.perf_counter()
        build(db, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - started:.0f} s ({db.stat().st_size / 2**20:.0f} MiB)")
        env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{db}", "SWITCHYARD_ADMIN_KEY": ADMIN_KEY, "SWITCHYARD_POLICY_POLL_S": "0"}
        policy = work / "policy.yaml"  # a copy: the console can reload the file it was given
        shutil.copy(ROOT / "policies" / "default.yaml", policy)
        gateway = start_gateway(policy, work, env=env)
        try:
            with httpx.Client(base_url=gateway.url, timeout=600) as client:
                client.post("/console/login", data={"key": ADMIN_KEY})
                token = client.get("/console/overview").text.split('name="csrf-token" content="')[1].split('"')[0]
                budget = {"scope": "team", "scope_id": "team-03", "tenant": "tenant-003", "period": "monthly", "usd": 50}
                assert client.put("/console/api/budgets", json=budget, headers={"X-CSRF-Token": token}).status_code == 200
                first = client.get("/console/api/requests").json()["next"]
                endpoints = [*ENDPOINTS, ("requests, page after a cursor", f"/console/api/requests?before={first}")]
                print(f"\n{'endpoint':<36} {'median ms':>10} {'worst ms':>10}")
                for name, path in endpoints:
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        answer = client.get(path)
                        times.append((time.perf_counter() - t0) * 1000)
                        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                    print(f"{name:<36} {statistics.median(times):>10.0f} {max(times):>10.0f}")
        finally:
            gateway.stop()
    print(f"\n{args.rows:,}-row SQLite ledger, {os.cpu_count()} cores; reproduce: .venv/bin/python bench/console.py --rows {args.rows}")


if __name__ == "__main__":
    main()
