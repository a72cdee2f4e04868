"""State that outlives a gateway process and is the same on every replica: console sessions and agent-loop
conversations live in the ledger's database. Two real gateway processes on one database (a shared SQLite
file, and Postgres where it runs), the real openai SDK; a database that fails or stalls is a real one
(a renamed table, a lock held by the test), never a patched function."""

from __future__ import annotations

import asyncio
import hashlib
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import Engine
from starlette.requests import Request

from router.console.auth import COOKIE, Sessions
from router.conversations import Conversations, State
from router.ledger import Ledger
from router.ledger.tables import console_sessions
from router.ledger.tables import conversations as conversations_table
from tests.servers import Process, ledger_row, start_gateway

ADMIN_KEY = "sy-admin-shared-state-test-key"
# The rules classifier scores a request by its last user turn's words: 40 or more reach `strong`.
POLICY = """
version: 1
tiers:
  local: {engine: fake, model: local-fake, max_output_tokens: 4, prices: {input_per_mtok: 0.1, output_per_mtok: 0.2}}
  strong: {engine: fake, model: strong-fake, max_output_tokens: 4, prices: {input_per_mtok: 3, output_per_mtok: 15}}
routing:
  classifier: rules
  long_prompt_words: 40
  thresholds: {strong: 0.9}
cache: {exact: false, semantic: false}
"""
HARD = "Plan a migration of a large payments service " + "with many moving parts " * 10 + "step by step."
EASY = "What is 2 + 2?"
TOOL = {
    "type": "function",
    "function": {
        "name": "read_file",
        "description": "Read a file from the repository.",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
    },
}


def tool_step(n: int) -> list[dict[str, Any]]:
    call = {"id": f"call_{n}", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}
    return [{"role": "assistant", "content": "", "tool_calls": [call]}, {"role": "tool", "tool_call_id": f"call_{n}", "content": "x = 1"}]


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shared.db"
    return str(request.getfixturevalue("pg_schema_url"))


def gateway(database: str, tmp: Path, admin_key: str = ADMIN_KEY) -> Process:
    """A replica: its own process, the shared database, budgets counted in its own memory (not what this is about)."""
    (tmp / "policy.yaml").write_text(POLICY)
    env = {
        "SWITCHYARD_DATABASE_URL": database,
        "SWITCHYARD_ADMIN_KEY": admin_key,
        "SWITCHYARD_ALLOW_UNSHARED_QUOTA": "1",
        "SWITCHYARD_POLICY_POLL_S": "0",
    }
    server = start_gateway(tmp / "policy.yaml", tmp, env=env)
    server.database_url = database
    return server


@pytest.fixture()
def replicas(database: str, tmp_path: Path) -> Iterator[list[Process]]:
    """Two replicas on one database; a test may stop one and append its successor."""
    running = [gateway(database, tmp_path)]
    try:
        running.append(gateway(database, tmp_path))
        yield running
    finally:
        for server in running:
            server.stop()


def sign_in(server: Process) -> str:
    answer = httpx.post(server.url + "/console/login", data={"key": ADMIN_KEY}, follow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    return answer.cookies[COOKIE]


def session_status(server: Process, token: str) -> int:
    return httpx.get(server.url + "/console/api/session", cookies={COOKIE: token}, timeout=30).status_code


def test_a_console_session_is_every_replicas_and_outlives_a_restart(replicas: list[Process], database: str, tmp_path: Path) -> None:
    a, b = replicas
    token = sign_in(a)
    assert session_status(b, token) == 200  # signed in on A, served by B

    # Signing out on B ends the session on A.
    page = httpx.get(b.url + "/console/keys", cookies={COOKIE: token}, timeout=30).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert csrf, page[:300]
    out = httpx.post(b.url + "/console/logout", cookies={COOKIE: token}, headers={"X-CSRF-Token": csrf.group(1)}, timeout=30)
    assert out.status_code == 200
    assert session_status(a, token) == 401 and session_status(b, token) == 401

    # A restarted replica still knows a live session.
    token = sign_in(a)
    a.stop()
    replicas[0] = a = gateway(database, tmp_path)
    assert session_status(a, token) == 200 and session_status(b, token) == 200

    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            kept = [row.token_hash for row in connection.execute(select(console_sessions.c.token_hash))]
        # Only a keyed hash of the token is kept: neither the token nor its plain SHA-256.
        assert kept and token not in kept and hashlib.sha256(token.encode()).hexdigest() not in kept
        # Expiry is checked on every read, whoever serves the request.
        with engine.begin() as connection:
            connection.execute(update(console_sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        assert session_status(a, token) == 401 and session_status(b, token) == 401
    finally:
        engine.dispose()

    # A replica restarted with a new admin key honours no session opened under the old one.
    token = sign_in(a)
    a.stop()
    replicas[0] = a = gateway(database, tmp_path, admin_key="sy-admin-a-new-key")
    assert session_status(a, token) == 401


def ask(server: Process, messages: list[dict[str, Any]], conversation: str) -> tuple[str, dict[str, Any]]:
    """The tier that answered, and the request's ledger row."""
    headers = answer(server, messages, conversation)
    return headers["x-switchyard-tier"], ledger_row(server, headers["x-switchyard-request-id"])


def answer(server: Process, messages: list[dict[str, Any]], conversation: str) -> httpx.Headers:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-anything", max_retries=0, timeout=60)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=messages,  # type: ignore[arg-type]
        tools=[TOOL],  # type: ignore[list-item]
        max_tokens=1,
        extra_headers={"x-switchyard-conversation-id": conversation},
    )
    assert raw.http_response.status_code == 200
    return raw.headers


def stored(database: str, conversation: str) -> tuple[str, int, bool]:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            row = connection.execute(select(conversations_table).where(conversations_table.c.conversation_id == conversation)).one()
    finally:
        engine.dispose()
    return row.tier, row.step, bool(row.mid_chain)


def test_a_tool_chain_keeps_its_tier_on_another_replica_and_after_a_restart(replicas: list[Process], database: str, tmp_path: Path) -> None:
    a, b = replicas
    assert ask(a, [{"role": "user", "content": HARD}], "run-1")[0] == "strong"
    # Mid-chain on B: routing alone would send this step to `local`; the conversation stays where A put it.
    mid = [{"role": "user", "content": EASY}, *tool_step(1)]
    tier, row = ask(b, mid, "run-1")
    assert tier == "strong" and "tool chain in progress on strong" in row["decision"]["reason"]
    assert row["conversation_id"] == "run-1" and row["step"] == 1
    assert stored(database, "run-1") == ("strong", 1, True)
    assert ask(b, mid, "run-unknown-to-both")[0] == "local"  # the same step of a conversation nobody planned is free to move

    a.stop()
    replicas[0] = a = gateway(database, tmp_path)
    tier, row = ask(a, [*mid, *tool_step(2)], "run-1")
    assert tier == "strong" and row["step"] == 2
    assert stored(database, "run-1") == ("strong", 2, True)


def state_errors(server: Process) -> dict[str, float]:
    found = re.findall(
        r'^switchyard_conversation_state_errors_total\{op="(\w+)"\} (\S+)$',
        httpx.get(server.url + "/metrics", timeout=30).text,
        re.MULTILINE,
    )
    return {op: float(value) for op, value in found}


@pytest.mark.parametrize("trouble", ["table gone", "writes locked"])
def test_a_failing_or_stalled_sqlite_costs_stickiness_not_the_answer(trouble: str, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/shared.db"
    server = gateway(database, tmp_path)
    holder = sqlite3.connect(str(tmp_path / "shared.db"), isolation_level=None, timeout=30)
    try:
        if trouble == "table gone":
            holder.execute("ALTER TABLE conversations RENAME TO conversations_away")
        else:
            holder.execute("BEGIN EXCLUSIVE")  # every write waits; SQLite's WAL still lets reads through
        # Answered (while the lock still holds the ledger's own writes back), routed as a new conversation.
        assert answer(server, [{"role": "user", "content": EASY}, *tool_step(1)], "run-trouble")["x-switchyard-tier"] == "local"
        errors = state_errors(server)
        assert errors.get("read" if trouble == "table gone" else "write", 0) >= 1, errors
        assert "conversation state" in server.output()  # logged
    finally:
        holder.close()
        server.stop()


def test_a_stalled_postgres_costs_stickiness_not_the_answer(pg_schema_url: str, tmp_path: Path) -> None:
    server = gateway(pg_schema_url, tmp_path)
    engine = create_engine(pg_schema_url)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.execute(text("LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE"))  # reads and writes wait
            locked.set()
            release.wait(120)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(60)
        # Answered while the lock is still held.
        assert answer(server, [{"role": "user", "content": EASY}, *tool_step(1)], "run-stalled")["x-switchyard-tier"] == "local"
        assert state_errors(server).get("read", 0) >= 1
    finally:
        release.set()
        holder.join(60)
        server.stop()
        engine.dispose()


# -- the stores themselves --------------------------------------------------------------------------------


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    ledger = Ledger(f"sqlite:///{tmp_path}/ledger.db")
    ledger.migrate()  # the real migrations, 0006 among them
    yield ledger.engine
    ledger.close()


def test_a_replica_trusts_what_it_planned_only_for_the_very_next_step(engine: Engine) -> None:
    """Two processes' stores on one database: each answers the step after its own from memory, and asks the
    database otherwise, as another replica may have moved the conversation since."""
    asyncio.run(_trusts_only_the_next_step(engine))


async def _trusts_only_the_next_step(engine: Engine) -> None:
    a, b = Conversations(engine), Conversations(engine)
    try:
        await a.remember("t", "c", State("strong", 0, False))
        assert await b.last("t", "c", 1) == State("strong", 0, False)  # B has never seen it: the database
        await b.remember("t", "c", State("local", 1, True))
        assert await a.last("t", "c", 2) == State("local", 1, True)  # A's memory is a step behind: the database
        assert await a.last("other-tenant", "c", 2) is None  # per tenant
        with engine.begin() as connection:
            connection.execute(update(conversations_table).values(tier="moved-elsewhere"))
        assert (await a.last("t", "c", 2)).tier == "local"  # type: ignore[union-attr] # the very next step: from memory
    finally:
        a.close()
        b.close()


def test_idle_conversations_are_swept(engine: Engine) -> None:
    asyncio.run(_idle_swept(engine))


async def _idle_swept(engine: Engine) -> None:
    old, sweeping = Conversations(engine), Conversations(engine, keep_s=0)
    try:
        await old.remember("t", "idle", State("local", 0, False))
        await sweeping.remember("t", "fresh", State("local", 0, False))
        with engine.connect() as connection:
            assert [r.conversation_id for r in connection.execute(select(conversations_table.c.conversation_id))] == ["fresh"]
    finally:
        old.close()
        sweeping.close()


def request_with(token: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/console", "headers": [(b"cookie", f"{COOKIE}={token}".encode())]})


def test_sessions_expire_end_and_are_swept(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store itself: expiry is checked on read, expired rows go at the next sign-in, signing out ends a
    session, and without the admin key no cookie is a session."""
    monkeypatch.setenv("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
    asyncio.run(_sessions(engine, monkeypatch))


async def _sessions(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Sessions(engine)
    token, session = await store.open(request_with(""))
    assert await store.lookup(request_with(token)) == session
    assert await store.lookup(request_with("forged")) is None
    with engine.begin() as connection:
        connection.execute(update(console_sessions).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert await store.lookup(request_with(token)) is None  # expired
    fresh, _ = await store.open(request_with(""))
    with engine.connect() as connection:
        assert len(connection.execute(select(console_sessions)).all()) == 1  # the expired row was swept
    await store.close(request_with(fresh))
    assert await store.lookup(request_with(fresh)) is None  # signed out
    token, _ = await store.open(request_with(""))
    monkeypatch.delenv("SWITCHYARD_ADMIN_KEY")
    assert await store.lookup(request_with(token)) is None  # without the admin key the console is off


def test_a_session_store_that_cannot_be_read_lets_nobody_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database without the table (or down) is the console's 503, never a session and never a traceback."""
    from router.errors import APIError

    monkeypatch.setenv("SWITCHYARD_ADMIN_KEY", ADMIN_KEY)
    store = Sessions(create_engine(f"sqlite:///{tmp_path}/not-migrated.db"))
    with pytest.raises(APIError) as refused:
        asyncio.run(store.lookup(request_with("any-token")))
    assert refused.value.status == 503


def test_one_tenant_cannot_grow_the_conversations_table_without_bound(engine: Engine) -> None:
    asyncio.run(_crowded(engine))


def test_the_per_tenant_bound_holds_on_postgres(pg_schema_url: str) -> None:
    ledger = Ledger(pg_schema_url)
    ledger.migrate()
    try:
        asyncio.run(_crowded(ledger.engine))
    finally:
        ledger.close()


async def _crowded(engine: Engine) -> None:
    # A tenant sending fresh conversation ids keeps only its `per_tenant` most recent rows after a sweep;
    # another tenant's rows are untouched.
    writer, sweeping = Conversations(engine), Conversations(engine, per_tenant=2)
    try:
        await writer.remember("other", "o1", State("local", 0, False))
        for i in range(4):
            await writer.remember("greedy", f"g{i}", State("local", 0, False))
        await sweeping.remember("greedy", "g4", State("local", 0, False))  # its first write sweeps
        with engine.connect() as connection:
            rows = connection.execute(select(conversations_table.c.tenant, conversations_table.c.conversation_id)).all()
        assert sorted(rows) == [("greedy", "g3"), ("greedy", "g4"), ("other", "o1")]
    finally:
        writer.close()
        sweeping.close()
