"""The console on a million-row ledger: how long each of its JSON endpoints takes.

Builds a ledger of N rows (default 1,000,000: 90 days, 200 tenants, 20 teams, 2,000 keys, three
tiers with the bundled policy's prices, a fifth of answers from the cache, a tenth cascaded) with
the gateway's own migrations, on SQLite (default) or on PostgreSQL (--postgres URL, a database the
bench may fill; it creates and drops its own schema), starts the real gateway on it (the bundled
policy), signs in to the console, and asks each endpoint several times: median and worst, in
milliseconds. The rows go in through the database's trigger that keeps the hourly and daily rollups
(migration 0007), as the gateway's own writes do; the endpoints read those rollups, and the request
rows only at a period's ragged edges and for the request list (keyset paging).

Reproduce:
    .venv/bin/python bench/console.py                # 1M rows on SQLite (~2 min to build on this machine)
    .venv/bin/python bench/console.py --rows 100000 --repeat 5
    .venv/bin/python bench/console.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.ledger import Ledger  # noqa: E402
from router.ledger.store import MIGRATIONS  # noqa: E402
from tests.servers import start_gateway  # noqa: E402

ADMIN_KEY = "sy-bench-console"
TIERS = [("local", 0.0, 0.0), ("self_hosted", 0.15, 0.6), ("frontier", 2.5, 10.0)]  # name, $/Mtok in, out


COLUMNS = (
    "request_id",
    "created_at",
    "tenant",
    "team",
    "key_id",
    "requested_model",
    "tier",
    "model",
    "routed",
    "route_score",
    "decision",
    "fallback_from",
    "stream",
    "prompt_tokens",
    "completion_tokens",
    "cost_nanousd",
    "saved_nanousd",
    "latency_ms",
    "overhead_ms",
    "cache",
    "status",
    "http_status",
    "excess_nanousd",
    "door",
    "cascade_nanousd",
    "overhead_nanousd",
)


def generate(rows: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    tenants = [f"tenant-{i:03d}" for i in range(200)]
    teams = [f"team-{i:02d}" for i in range(20)]
    keys = [f"key{i:05d}" for i in range(2000)]
    dearest_in, dearest_out = TIERS[-1][1], TIERS[-1][2]
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
        cascade = int(prompt * 150 + 20 * 600) if not hit and name != "local" and rng.random() < 0.1 else 0  # a local first stage
        dearest = int(prompt * dearest_in * 1000 + completion * dearest_out * 1000)
        key = rng.randrange(len(keys))
        status = "ok" if rng.random() < 0.98 else "error"
        at = now - timedelta(seconds=rng.randrange(90 * 86400))
        decision = f'{{"tier": "{chosen}", "reason": "route score {score:.3f}", "predicted": {{}}, "threshold": 0.549}}'
        yield (
            f"{i:032x}",
            at,
            tenants[key % 200],
            teams[key % 20],
            keys[key],
            "auto",
            name,
            name + "-model",
            True,
            score,
            decision,
            fallback,
            False,
            prompt,
            completion,
            cost + cascade,
            max(0, dearest - cost - cascade),
            rng.uniform(50, 3000),
            rng.uniform(0.2, 2),
            "hit" if hit else "miss",
            status,
            200 if status == "ok" else 502,
            0,
            "chat",
            cascade,
            rng.randrange(5_000, 40_000),
        )  # 0.4-3.2 ms of one CPU at $0.045/h, in nano-dollars


def build(url: str, rows: int) -> None:
    """The rows go in with the rollups' trigger off; then migration 0007's own backfill sums them in one
    pass and the trigger is put back: a million inserts through the trigger took over 20 minutes on this
    loaded machine. The backfill and the trigger give the same sums (tests/test_console_rollups.py)."""
    ledger = Ledger(url)
    ledger.migrate()
    sqlite = url.startswith("sqlite")
    with ledger.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER requests_rollup" + ("" if sqlite else " ON requests"))
    if sqlite:
        db = sqlite3.connect(url.split("///", 1)[-1])
        db.execute("pragma journal_mode=wal")
        db.execute("pragma synchronous=off")
        sql = f"insert into requests ({', '.join(COLUMNS)}) values ({', '.join('?' * len(COLUMNS))})"
        batch: list[tuple[Any, ...]] = []
        for row in generate(rows):
            batch.append((*row[:1], row[1].strftime("%Y-%m-%d %H:%M:%S.000000"), *row[2:]))
            if len(batch) == 50_000:
                db.executemany(sql, batch)
                batch.clear()
        db.executemany(sql, batch)
        db.commit()
        db.close()
        finish(ledger)
        return
    from sqlalchemy import create_engine

    engine = create_engine(url)
    raw: Any = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY requests ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in generate(rows):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    finish(ledger)


def finish(ledger: Ledger) -> None:
    spec = importlib.util.spec_from_file_location("rollups", MIGRATIONS / "versions" / "0007_overheads_rollups.py")
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    dialect = ledger.engine.dialect.name
    with ledger.engine.begin() as connection:
        if dialect != "sqlite":
            connection.exec_driver_sql("DROP FUNCTION requests_rollup()")
        for statement in [*migration._backfill(dialect), *migration._statements(dialect), "ANALYZE"]:
            connection.exec_driver_sql(statement.replace("%", "%%") if dialect != "sqlite" else statement)
    ledger.close()


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
    parser.add_argument("--postgres", metavar="URL", help="Build the ledger in a fresh schema of this PostgreSQL database.")
    parser.add_argument("--sqlite", metavar="PATH", type=Path, help="Keep the SQLite ledger here, and reuse it if it is there already.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="switchyard-console-bench-") as tmp, ledger_url(Path(tmp), args.postgres, args.sqlite) as url:
        work = Path(tmp)
        started = time.perf_counter()
        if args.sqlite is not None and args.sqlite.exists():
            print(f"reusing {args.sqlite}")
        else:
            build(url, args.rows)
            print(f"built {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN_KEY, "SWITCHYARD_POLICY_POLL_S": "0"}
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
                endpoints = [*ENDPOINTS, ("requests, page after a cursor", "/console/api/requests?" + urlencode({"before": first}))]
                print(f"\n{'endpoint':<36} {'median ms':>10} {'worst ms':>10}")
                worst = 0.0
                for name, path in endpoints:
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        answer = client.get(path)
                        times.append((time.perf_counter() - t0) * 1000)
                        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                    worst = max(worst, max(times))
                    print(f"{name:<36} {statistics.median(times):>10.0f} {max(times):>10.0f}")
        finally:
            gateway.stop()
    kind = "PostgreSQL" if args.postgres else "SQLite"
    again = f" --postgres {args.postgres}" if args.postgres else ""
    print(
        f"\nslowest answer {worst:.0f} ms; {args.rows:,}-row {kind} ledger, {os.cpu_count()} cores; "
        f"reproduce: .venv/bin/python bench/console.py --rows {args.rows}{again}"
    )


@contextlib.contextmanager
def ledger_url(work: Path, postgres: str | None, sqlite: Path | None) -> Iterator[str]:
    """A SQLite file (in `work` unless named), or a fresh schema of the PostgreSQL database (dropped afterwards)."""
    if postgres is None:
        yield f"sqlite:///{(sqlite or work / 'ledger.db').resolve()}"
        return
    from sqlalchemy import create_engine, text

    schema = f"sy_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(postgres)
    with engine.begin() as connection:
        connection.execute(text(f"create schema {schema}"))
    try:
        yield postgres + f"{'&' if '?' in postgres else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"drop schema {schema} cascade"))
        engine.dispose()


if __name__ == "__main__":
    main()
