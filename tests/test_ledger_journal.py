"""The ledger's journal durability: answers wait for a local append, the database catches up, and
what a killed gateway left behind is replayed exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import orjson

from router.ledger import Ledger, LedgerRow
from router.ledger.journal import Journal, wait_for_live
from router.ledger.store import COLUMNS
from tests.servers import Process, free_port, start_gateway

ROOT = Path(__file__).resolve().parents[1]


def _row(i: int, cost: int = 1) -> LedgerRow:
    return LedgerRow(request_id=f"r{i:04d}", tenant="t", team="x", status="ok", http_status=200, cost_nanousd=cost)


def _line(row: LedgerRow) -> bytes:
    return orjson.dumps({name: getattr(row, name) for name in COLUMNS}) + b"\n"


def test_journaled_rows_reach_the_database_and_the_journal_goes(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/l.db")
    assert ledger.sync == "JOURNAL"  # the default
    ledger.start()
    journal_dir = ledger.journal_dir
    assert journal_dir is not None

    async def write() -> None:
        await asyncio.gather(*[ledger.record(_row(i, cost=i)) for i in range(300)])

    try:
        asyncio.run(write())
        assert len(list(journal_dir.iterdir())) == 1
        assert ledger.count() == 300  # count() waits for the journal to drain
        assert sum(r["cost_nanousd"] for r in ledger.rows()) == sum(range(300))
    finally:
        ledger.close()
    assert list(journal_dir.iterdir()) == []


def test_a_dead_gateways_journal_is_replayed_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    first = Ledger(url, sync="full")
    first.start()
    asyncio.run(first.record(_row(0, cost=5)))  # committed just before the crash, still in the journal
    first.close()
    journal_dir = first.journal_dir
    assert journal_dir is not None
    journal_dir.mkdir(parents=True, exist_ok=True)
    dead = journal_dir / "4242-deadbeef.journal"
    torn = _line(_row(9, cost=1000))[:40]  # the crash came mid-write
    dead.write_bytes(_line(_row(0, cost=5)) + _line(_row(1, cost=7)) + _line(_row(2, cost=11)) + torn)

    ledger = Ledger(url)
    ledger.start()
    try:
        rows = list(ledger.rows())
        assert [r["request_id"] for r in rows] == ["r0000", "r0001", "r0002"]
        assert sum(r["cost_nanousd"] for r in rows) == 23
        assert not dead.exists()
    finally:
        ledger.close()
    again = Ledger(url)
    again.start()
    try:
        assert again.count() == 3
    finally:
        again.close()


def test_a_live_gateways_journal_is_left_to_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/l.db"
    probe = Ledger(url)
    assert probe.journal_dir is not None
    live = Journal(probe.journal_dir)  # holds its flock, as a running gateway does
    live.append(_line(_row(1)))
    ledger = Ledger(url)
    ledger.start()
    try:
        assert ledger.count() == 0
        assert live.path.exists()
    finally:
        ledger.close()
        live.committed(1)
        live.close()
    assert not live.path.exists()


def test_readers_wait_for_live_journals_to_drain(tmp_path: Path) -> None:
    live = Journal(tmp_path)
    live.append(_line(_row(1)))
    assert not wait_for_live(tmp_path, timeout=0.05)  # a gateway's row is not in the database yet
    live.committed(1)
    assert wait_for_live(tmp_path, timeout=0.05) and live.path.stat().st_size == 0
    orphan = tmp_path / "1-dead.journal"
    orphan.write_bytes(_line(_row(2)))
    assert wait_for_live(tmp_path, timeout=0.05)  # a dead gateway's rows wait for the next start, not for readers
    live.close()


def test_a_killed_gateway_loses_no_answered_row(tmp_path: Path) -> None:
    """SIGKILL right after the last answer: every answered request is in the ledger once the next
    gateway (here, the next Ledger) starts, with exactly the cost its answer reported."""
    upstream_port = free_port()
    upstream = Process([sys.executable, str(ROOT / "bench/fast_upstream.py"), "--port", str(upstream_port)],
                       upstream_port, "/v1/models", tmp_path / "upstream.log")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nname: crash\ntiers:\n  fast:\n    engine: openai\n    model: fast\n"
        f"    base_url: {upstream.url}/v1\n    prices: {{input_per_mtok: 3, output_per_mtok: 9}}\n"
        "routing: {classifier: rules}\ncache: {exact: false, semantic: false}\n"
    )
    url = f"sqlite:///{tmp_path}/ledger.db"
    gateway = start_gateway(policy, tmp_path, env={"SWITCHYARD_DATABASE_URL": url})
    charged = Decimal(0)
    ids = set()
    try:
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            for i in range(60):
                reply = client.post("/v1/chat/completions", json={"model": "fast", "messages": [{"role": "user", "content": f"q{i}"}]})
                assert reply.status_code == 200, reply.text
                charged += Decimal(reply.headers["x-switchyard-cost-usd"])
                ids.add(reply.headers["x-switchyard-request-id"])
        os.kill(gateway.proc.pid, signal.SIGKILL)
        gateway.proc.wait(timeout=10)
    finally:
        gateway.stop()
        upstream.stop()
    ledger = Ledger(url)
    ledger.start()
    try:
        rows = list(ledger.rows())
        assert {r["request_id"] for r in rows} == ids
        assert sum(Decimal(r["cost_nanousd"]) for r in rows) / Decimal(1_000_000_000) == charged
    finally:
        ledger.close()
