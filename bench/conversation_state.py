"""What keeping agent-loop state in the ledger's database costs an agent's step (router/conversations.py).

A step that looks like an agent's (tools, or an assistant turn or tool result in it) asks for its
conversation's last tier and writes its own before the engine is called. Three cases, each timed
over many distinct conversations on a freshly migrated database:

- "next step, same replica": the replica planned the step before, so the read is answered from memory;
- "first step here": another replica (or this one before a restart) planned it: one indexed read;
- "write": the upsert every tracked step makes, one commit (SQLite: fsync'd, synchronous=FULL).

One-shot chats (no tools, no earlier turns) do none of this.

Reproduce:
    .venv/bin/python bench/conversation_state.py                      # SQLite in a temp directory
    .venv/bin/python bench/conversation_state.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import create_engine, text

from router.conversations import Conversations, State
from router.ledger import Ledger


async def timed(label: str, n: int, call: Callable[[int], Awaitable[object]]) -> None:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    print(f"  {label:<28} p50 {statistics.median(samples):7.3f} ms   p95 {samples[int(n * 0.95) - 1]:7.3f} ms   (n={n})")


async def run(url: str, n: int) -> None:
    ledger = Ledger(url)
    ledger.migrate()
    here, there = Conversations(ledger.engine), Conversations(ledger.engine)  # two replicas' stores on one database
    try:
        await timed("write", n, lambda i: here.remember("bench", f"c{i}", State("strong", 0, True)))
        await timed("next step, same replica", n, lambda i: here.last("bench", f"c{i}", 1))
        await timed("first step here (read)", n, lambda i: there.last("bench", f"c{i}", 1))
        errors = sum(sample.value for metric in here.errors.collect() for sample in metric.samples if sample.name.endswith("_total"))
        print(f"  state errors counted: {errors:g}")
    finally:
        here.close()
        there.close()
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a Postgres URL (the tables go in a schema made for the run and dropped after)")
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    if args.postgres:
        print(f"Postgres {args.postgres.split('@')[-1]} (a throwaway schema):")
        schema = f"sy_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.postgres)
        with admin.begin() as connection:
            connection.execute(text(f"create schema {schema}"))
        try:
            asyncio.run(run(args.postgres + f"?options=-csearch_path%3D{schema}", args.n))
        finally:
            with admin.begin() as connection:
                connection.execute(text(f"drop schema {schema} cascade"))
            admin.dispose()
        return
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite (temp file, WAL, synchronous=FULL):")
        asyncio.run(run(f"sqlite:///{folder}/bench.db", args.n))


if __name__ == "__main__":
    main()
