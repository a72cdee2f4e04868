"""The ledger: rows committed before answers, export as labeled traffic, feedback, Postgres."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import openai
import pytest
from typer.testing import CliRunner

from router.cli import app
from router.ledger import Ledger, LedgerRow, to_nanousd
from tests.servers import Process

SHORT = [{"role": "user", "content": "Say hello in one word."}]


def test_nanodollars_hold_cheap_tokens() -> None:
    from decimal import Decimal

    assert to_nanousd(Decimal("0.15") / 1_000_000) == 150
    assert to_nanousd(Decimal("0.0000000015")) == 2  # half up


def test_group_commit_records_every_row(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/l.db", sync="full")  # answers wait for the commit itself
    ledger.start()

    async def write() -> None:
        rows = [LedgerRow(request_id=f"r{i}", tenant="t", team="x", status="ok", http_status=200, cost_nanousd=i) for i in range(300)]
        await asyncio.gather(*[ledger.record(row) for row in rows])

    try:
        asyncio.run(write())
        assert ledger.count() == 300
        assert sum(r["cost_nanousd"] for r in ledger.rows()) == sum(range(300))
        # A duplicate id fails its batch, and the waiting request is told so.
        from router.ledger.store import LedgerUnavailable

        with pytest.raises(LedgerUnavailable):
            asyncio.run(ledger.record(LedgerRow(request_id="r1", tenant="t", team="x", status="ok", http_status=200)))
        assert ledger.count() == 300
    finally:
        ledger.close()


def test_time_filters(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path}/l.db")
    ledger.start()
    now = datetime.now(UTC)

    async def write() -> None:
        for i, age in enumerate([timedelta(days=3), timedelta(hours=2), timedelta(minutes=1)]):
            await ledger.record(LedgerRow(request_id=f"r{i}", tenant="t", team="x", status="ok", http_status=200, created_at=now - age))

    try:
        asyncio.run(write())
        assert [r["request_id"] for r in ledger.rows(since=now - timedelta(days=1))] == ["r1", "r2"]
        assert [r["request_id"] for r in ledger.rows(until=now - timedelta(hours=1))] == ["r0", "r1"]
    finally:
        ledger.close()


@pytest.mark.slow
def test_gateway_rows_export_and_feedback(gateway: Process, tmp_path: Path) -> None:
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(model="local", messages=SHORT, max_tokens=4)
    request_id = raw.headers["x-switchyard-request-id"]
    answer = raw.parse().choices[0].message.content
    streamed = list(sdk.chat.completions.create(model="auto", messages=SHORT, max_tokens=4, stream=True))
    assert streamed
    bad = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "nope", "messages": SHORT})
    assert bad.status_code == 404

    ok = httpx.post(gateway.url + "/v1/feedback", json={"request_id": request_id, "score": 0.25})
    assert ok.status_code == 200, ok.text
    missing = httpx.post(gateway.url + "/v1/feedback", json={"request_id": "nope", "score": 1})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "request_not_found"
    invalid = httpx.post(gateway.url + "/v1/feedback", json={"request_id": request_id, "score": 7})
    assert invalid.status_code == 400

    out = tmp_path / "traffic.jsonl"
    env = {"SWITCHYARD_DATABASE_URL": gateway.database_url}
    result = CliRunner().invoke(app, ["logs", "export", "--since", "1h", "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    mine = next(r for r in records if r["id"] == request_id)
    assert mine["messages"] == SHORT and mine["scores"] == {}
    assert mine["responses"] == {"smollm2-135m-instruct": answer}
    assert mine["usage"]["smollm2-135m-instruct"]["completion_tokens"] > 0
    assert mine["meta"]["feedback"] == 0.25 and mine["meta"]["tier"] == "local"
    assert all(r["meta"]["status"] == "ok" for r in records)
    assert any(r["meta"]["decision"] and r["meta"]["decision"]["classifier"] == "length-rule" for r in records)

    everything = tmp_path / "all.jsonl"
    CliRunner().invoke(app, ["logs", "export", "--include-failed", "--out", str(everything)], env=env)
    statuses = {json.loads(line)["meta"]["status"] for line in everything.read_text().splitlines()}
    # A refused request keeps its row but not its prompt (issue 11, defect 11): nothing of it to export.
    assert "rejected" not in statuses
    ledger = Ledger(gateway.database_url)
    refused = [r for r in ledger.rows() if r["request_id"] == bad.headers["x-switchyard-request-id"]]
    ledger.close()
    assert [(r["status"], r["messages"]) for r in refused] == [("rejected", None)]


def test_postgres_ledger(pg_schema_url: str) -> None:
    ledger = Ledger(pg_schema_url)
    try:
        ledger.start()
        ledger.migrate()  # idempotent

        async def write() -> None:
            rows = [LedgerRow(request_id=f"p{i}", tenant="t", team="x", status="ok", http_status=200, cost_nanousd=7) for i in range(50)]
            await asyncio.gather(*[ledger.record(r) for r in rows])

        asyncio.run(write())
        assert ledger.count() == 50
        assert ledger.add_feedback("p3", 1.0, "great")
        assert next(r for r in ledger.rows() if r["request_id"] == "p3")["feedback"] == 1.0
    finally:
        ledger.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_nul_in_an_answer_or_a_prompt_never_loses_the_paid_row(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """PostgreSQL's text and JSON columns refuse NUL: a model's answer (or a client's prompt) holding one lost
    its row after the spend was settled. The row keeps the text with the NUL written as U+FFFD, on both backends."""
    url = request.getfixturevalue("pg_schema_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(url, sync="full")
    try:
        ledger.start()
        ledger.migrate()
        row = LedgerRow(request_id="nul1", tenant="t", team="x", status="ok", http_status=200, cost_nanousd=9,
                        response="a\x00b", messages=[{"role": "user", "content": "q\x00"}], error=None, model="m\x00")
        asyncio.run(ledger.record(row))
        [kept] = [r for r in ledger.rows() if r["request_id"] == "nul1"]
        assert kept["cost_nanousd"] == 9
        assert kept["response"] == "a\ufffdb" and kept["model"] == "m\ufffd"
        assert kept["messages"] == [{"role": "user", "content": "q\ufffd"}]
        assert not ledger.add_feedback("nul1\x00", 1.0, "a NUL names no request")  # PostgreSQL raised: a 500
        assert ledger.add_feedback("nul1", 0.0, "bad\x00")  # a comment's NUL is written out, as the answer's
    finally:
        ledger.close()
