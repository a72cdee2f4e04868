"""A request's books (router/books.py): closed once, however the request ends.

The close-twice contract is checked on a real in-process gateway (fake engine, SQLite ledger, the
in-memory quota store); the paths a client can take (an answer, a stream the client leaves, an
engine that fails after the hold is taken, a cache hit) against a real gateway process in front of
tests/faulty_upstream.py, with the books balanced at the end: the ledger's cost for the key equals
what the quota store settled, and nothing stays reserved.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from policies.loader import load_policy_text
from router.books import Outcome, RequestBooks
from router.cache.entries import CachedAnswer
from router.cascade import Stage
from router.cli import app as cli
from router.conversations import State
from router.gateway import Gateway
from router.ledger import Ledger
from router.planning import plan
from router.schemas import parse_chat_request
from tests.faulty_upstream import PIECES, FaultyUpstream
from tests.servers import Process, start_gateway

ADMIN = "admin-books-test"
HEADERS = {
    "x-switchyard-request-id",
    "x-switchyard-tier",
    "x-switchyard-model",
    "x-switchyard-route-score",
    "x-switchyard-cache",
    "x-switchyard-cost-usd",
    "x-switchyard-overhead-ms",
}


# One priced fake tier for the in-process books tests; the agent-step tests route "auto" to it.
ECHO_POLICY = """
version: 1
name: books-in-process
tiers:
  echo: {engine: fake, model: fake-echo, max_output_tokens: 32, prices: {input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {classifier: rules}
cache: {exact: false, semantic: false}
"""
AGENT_POLICY = """
version: 1
name: books-agent-step
tiers:
  echo: {engine: fake, model: fake-echo, max_output_tokens: 32, prices: {input_per_mtok: 1, output_per_mtok: 2}}
routing: {classifier: rules, thresholds: {echo: 0.0}}
cache: {exact: false, semantic: false}
"""


def create_key(url: str) -> dict[str, Any]:
    created = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", "books", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert created.exit_code == 0, created.output
    return json.loads(created.output)


async def holding_books(gateway: Gateway, identity: Any) -> RequestBooks:
    """A planned request to tier echo with $1 held against the key's budget, as the pipeline leaves it before the engine call."""
    books = RequestBooks(request_id=uuid.uuid4().hex, started=time.perf_counter())
    books.identity, books.tenant, books.team, books.key_id = identity, identity.tenant, identity.team, identity.key_id
    books.chat = parse_chat_request({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
    books.decision = (await plan(gateway, books.chat, identity)).decision
    books.reserved = 1_000_000_000
    await gateway.tenancy.reserve(identity, books.request_id, books.reserved)
    books.holding = True
    return books


def test_close_twice_charges_once_and_writes_one_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url)
    policy = load_policy_text(ECHO_POLICY)

    async def run() -> tuple[list[Any], list[dict[str, Any]], tuple[int, int]]:
        gateway = Gateway(policy, ledger=Ledger(url))
        await gateway.start()
        try:
            identity = await gateway.tenancy.identify(f"Bearer {key['key']}")
            closed = []
            for outcome in (Outcome(tier="echo", usage={"prompt_tokens": 100, "completion_tokens": 10}, text="echo"), None):
                books = await holding_books(gateway, identity)
                # A first close with an outcome then any other close; or a close that records nothing first.
                later = Outcome("error", 502, "echo", {"prompt_tokens": 5, "completion_tokens": 5}, error="late")
                first = await books.close(gateway, outcome)
                second = await books.close(gateway, later)
                closed.append((books.request_id, first, second))
            assert gateway.ledger.flush()
            rows = list(gateway.ledger.rows())
            (bucket,) = gateway.tenancy.budgets.buckets([b for b in gateway.tenancy.budgets.all() if b.scope == "key"])
            usage = await gateway.tenancy.quota.usage(bucket)
            return closed, rows, usage
        finally:
            await gateway.aclose()

    closed, rows, (spent, reserved) = asyncio.run(run())
    (answered, cost, again), (unrecorded, nothing, still) = closed
    assert again == cost > 0 and nothing == still == 0
    (row,) = [r for r in rows if r["request_id"] == answered]
    assert row["status"] == "ok" and row["cost_nanousd"] == round(cost * 10**9)
    assert not [r for r in rows if r["request_id"] == unrecorded]  # close(None) records nothing, then nothing more
    assert spent == row["cost_nanousd"] and reserved == 0


def test_typed_stages_and_cache_entries_keep_the_formats_already_stored() -> None:
    # A cache entry as gateways have written it to Redis and the semantic stream reads back as it was.
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    stored = {"response": {"choices": [{"message": {"content": "hi"}}]}, "tier": "small", "model": "m", "usage": usage, "cost_nanousd": 7}
    assert CachedAnswer.from_wire(stored).to_wire() == stored
    bare = CachedAnswer.from_wire({"response": {"choices": []}})  # an entry with only its answer still serves
    assert (bare.tier, bare.usage, bare.cost_nanousd, bare.text) == (None, {}, 0, "")
    # Cascade stages as ledger rows hold them in decision.cascade.
    judged = Stage("small", usage=usage, judged=True, confidence=0.5, accepted=False)
    assert judged.as_row() == {"tier": "small", "usage": usage, "confidence": 0.5, "accepted": False}
    assert Stage("big", usage=usage).as_row() == {"tier": "big", "usage": usage}
    assert Stage("big", error="down").as_row() == {"tier": "big", "error": "down"}
    assert [s.label() for s in (judged, Stage("big", usage=usage), Stage("x", error="e"))] == ["small:0.500", "big:n/a", "x:error"]


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("books")
    tiers = "".join(
        f"""
  {name}:
    engine: openai
    model: {name}
    upstream_model: {name}
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
    timeouts: {{connect_s: 1, read_s: 3, total_s: 5}}"""
        for name in ("plain", "slow", "broken")
    )
    policy = work / "policy.yaml"
    policy.write_text(f"""
version: 1
name: books
tiers:{tiers}
routing: {{classifier: rules}}
cache: {{exact: true, semantic: false}}
resilience:
  retry: {{attempts: 2, base_delay_s: 0.01, max_delay_s: 0.05, max_retry_after_s: 1, budget_s: 2}}
  breaker: {{failures: 1000, cooldown_s: 1}}
""")
    url = f"sqlite:///{work}/ledger.db"
    key = create_key(url)
    server = start_gateway(policy, work, env={"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN})
    server.database_url = url
    server.key, server.key_id = key["key"], key["key_id"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def body(model: str, question: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 16,
        "stream": stream,
        "stream_options": {"include_usage": True} if stream else None,
    }


def ask(gw: Process, model: str, question: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions", json=body(model, question, stream), headers={"authorization": f"Bearer {gw.key}"}, timeout=20
    )  # type: ignore[attr-defined]


def rows_of(gw: Process, request_id: str, wait_s: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait_s
    while True:
        ledger = Ledger(gw.database_url)
        try:
            rows = [r for r in ledger.rows() if r["request_id"] == request_id]
        finally:
            ledger.close()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def balance(gw: Process, admin: str = ADMIN) -> tuple[int, int, int]:
    """(ledger cost of the key's rows, settled spend, outstanding reservations), once they agree or after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        ledger = Ledger(gw.database_url)
        try:
            cost = sum(r["cost_nanousd"] for r in ledger.rows() if r["key_id"] == gw.key_id)  # type: ignore[attr-defined]
        finally:
            ledger.close()
        budgets = httpx.get(gw.url + "/admin/budgets", headers={"authorization": f"Bearer {admin}"}, timeout=10).json()["data"]
        (budget,) = [b for b in budgets if b["scope"] == "key" and b["scope_id"] == gw.key_id]  # type: ignore[attr-defined]
        spent, reserved = round(budget["spent_usd"] * 1e9), round(budget["reserved_usd"] * 1e9)
        if (spent == cost and reserved == 0) or time.monotonic() > deadline:
            return cost, spent, reserved
        time.sleep(0.2)


def script(upstream: FaultyUpstream, model: str, default: str) -> None:
    httpx.post(upstream.url + "/control", json={"model": model, "script": [], "default": default}).raise_for_status()


def switchyard(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("x-switchyard-")}


@pytest.mark.slow
def test_one_header_set_on_chat_streamed_chat_and_cache_hits(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "plain", "ok")
    question, other = f"Say hello {uuid.uuid4().hex}.", f"Say hi {uuid.uuid4().hex}."
    chat, streamed = ask(gw, "plain", question), ask(gw, "plain", other, stream=True)
    hit, streamed_hit = ask(gw, "plain", question, stream=True), ask(gw, "plain", other)
    answers = {"chat": chat, "streamed": streamed, "hit": hit, "streamed hit": streamed_hit}
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        assert set(switchyard(response)) == HEADERS, name
        assert (response.headers["x-switchyard-tier"], response.headers["x-switchyard-model"]) == ("plain", "plain"), name
    assert [r.headers["x-switchyard-cache"] for r in answers.values()] == ["miss", "miss", "hit-exact", "hit-exact"]
    assert streamed.headers["x-switchyard-cost-usd"] == "deferred"  # the usage chunk carries it
    assert float(chat.headers["x-switchyard-cost-usd"]) > 0
    assert hit.headers["x-switchyard-cost-usd"] == streamed_hit.headers["x-switchyard-cost-usd"] == "0.00000000"
    for response in answers.values():
        (row,) = rows_of(gw, response.headers["x-switchyard-request-id"])
        assert row["status"] == "ok" and row["cache"] == response.headers["x-switchyard-cache"]
    assert balance(gw)[2] == 0


@pytest.mark.slow
def test_client_leaving_mid_stream_is_charged_once_for_what_was_produced(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "slow", "slowchunks:0.3")
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    with httpx.stream(
        "POST", gw.url + "/v1/chat/completions", json=body("slow", f"Count {uuid.uuid4().hex}.", stream=True), headers=headers, timeout=10
    ) as response:
        assert response.status_code == 200
        request_id = response.headers["x-switchyard-request-id"]
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")  # leave after the first event
    time.sleep(1.0)  # the gateway notices at its next chunk
    (row,) = rows_of(gw, request_id)
    assert row["status"] == "cancelled" and row["http_status"] == 499
    assert 1 <= row["completion_tokens"] < len(PIECES) and row["cost_nanousd"] > 0  # what was produced, not the whole answer
    cost, spent, reserved = balance(gw)
    assert reserved == 0 and spent == cost
    assert len(rows_of(gw, request_id, wait_s=0)) == 1


@pytest.mark.slow
def test_engine_failing_after_the_hold_releases_it_and_writes_one_whole_row(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, "broken", "500")
    before = balance(gw)
    for stream in (False, True):
        response = ask(gw, "broken", f"Fail {uuid.uuid4().hex}.", stream=stream)
        assert response.status_code == 502 and response.json()["error"]["message"], response.text
        (row,) = rows_of(gw, response.headers["x-switchyard-request-id"])
        assert (row["status"], row["http_status"], row["tier"]) == ("error", 502, "broken")
        assert row["error"] and row["response"] is None and row["cost_nanousd"] == 0 and row["completion_tokens"] == 0
    after = balance(gw)
    assert after[2] == 0 and after[1] == before[1] == after[0]  # released: nothing charged, nothing held


def test_responses_store_false_is_not_kept_in_the_cache(gw: Process) -> None:
    # The client said nothing of this exchange may be stored: not in the ledger's text, nor as a cached answer.
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    question = f"Keep nothing {uuid.uuid4().hex}."
    for store, second_cache in ((False, "miss"), (True, "hit")):
        payload = {"model": "plain", "input": f"{question} {store}", "store": store, "max_output_tokens": 16}
        seen = [httpx.post(gw.url + "/v1/responses", json=payload, headers=headers, timeout=20) for _ in range(2)]
        assert [r.status_code for r in seen] == [200, 200], seen[-1].text
        assert seen[1].headers["x-switchyard-cache"].startswith(second_cache), (store, seen[1].headers["x-switchyard-cache"])


def test_close_finishes_the_books_when_its_caller_is_cancelled(tmp_path: Path, redis_url: str) -> None:
    # Starlette ends a stream the client left through an anyio cancel scope, which cancels every await
    # that really waits inside it (here the shared quota store's settle, over the network to a real
    # Redis): the books' close must still settle the hold and write the row.
    import anyio

    from policies.settings import Settings

    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url)
    policy = load_policy_text("""
version: 1
name: books-cancelled
tiers:
  echo: {engine: fake, model: fake-echo, max_output_tokens: 32, prices: {input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {classifier: rules}
cache: {exact: false, semantic: false}
""")

    async def run() -> tuple[str, list[dict[str, Any]], tuple[int, int]]:
        settings = Settings(database_url=url, redis_url=redis_url)
        gateway = Gateway(policy, ledger=Ledger(url), settings=settings)
        await gateway.start()
        try:
            identity = await gateway.tenancy.identify(f"Bearer {key['key']}")
            books = await holding_books(gateway, identity)
            outcome = Outcome("cancelled", 499, "echo", {"prompt_tokens": 100, "completion_tokens": 10}, error="client disconnected")
            async with anyio.create_task_group() as group:
                group.start_soon(books.close, gateway, outcome)
                await asyncio.sleep(0)  # close() is now waiting on Redis
                group.cancel_scope.cancel()
            assert gateway.ledger.flush()
            rows = [r for r in gateway.ledger.rows() if r["request_id"] == books.request_id]
            (bucket,) = gateway.tenancy.budgets.buckets([b for b in gateway.tenancy.budgets.all() if b.scope == "key"])
            return books.request_id, rows, await gateway.tenancy.quota.usage(bucket)
        finally:
            await gateway.aclose()

    _, rows, (spent, reserved) = asyncio.run(run())
    (row,) = rows
    assert row["status"] == "cancelled" and row["cost_nanousd"] > 0
    assert spent == row["cost_nanousd"] and reserved == 0


def test_an_agent_steps_state_is_written_while_the_engine_works_and_before_the_answer(tmp_path: Path) -> None:
    # plan() leaves the conversation write running (it overlaps the engine call); the books do not close,
    # so no answer leaves, until it is in the database, where the next step may read it from any replica.
    # The write is held back by a real SQLite lock the test takes, shorter than the state's 0.5 s timeout.
    import sqlite3

    from router.conversations import conversation_id

    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url)
    policy = load_policy_text(AGENT_POLICY)
    tool = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {}}}}
    chat = parse_chat_request({"model": "auto", "messages": [{"role": "user", "content": "fix the bug"}], "tools": [tool]})

    async def run() -> tuple[bool, bool, int]:
        gateway = Gateway(policy, ledger=Ledger(url))
        # What is tested is the order (no answer before the state is in the database), not the give-up time: on a
        # loaded machine the held write plus the commit took longer than the 0.5 s default and was given up on.
        gateway.conversations.timeout_s = 60.0
        await gateway.start()
        lock = sqlite3.connect(f"{tmp_path}/ledger.db", isolation_level=None)
        try:
            identity = await gateway.tenancy.identify(f"Bearer {key['key']}")
            books = RequestBooks(request_id=uuid.uuid4().hex, started=time.perf_counter())
            books.identity, books.tenant, books.chat = identity, identity.tenant, chat
            books.conversation = conversation_id(chat, identity.tenant, None)
            lock.execute("BEGIN IMMEDIATE")  # the conversation upsert now waits for this writer
            route = await plan(gateway, chat, identity, books.conversation)
            books.remembering, books.decision = route.remembering, route.decision
            closing = asyncio.create_task(books.close(gateway, Outcome(tier="echo", usage={"prompt_tokens": 1, "completion_tokens": 1})))
            await asyncio.sleep(0.2)
            waited = not closing.done()
            lock.execute("COMMIT")
            await closing
            stored = lock.execute("SELECT count(*) FROM conversations WHERE conversation_id = ?", (books.conversation,)).fetchone()[0]
            failed = sum(s.value for m in gateway.conversations.errors.collect() for s in m.samples if s.name.endswith("_total"))
            return route.remembering is not None, waited, stored + 100 * int(failed)
        finally:
            lock.close()
            await gateway.aclose()

    planned, waited, stored = asyncio.run(run())
    assert planned and waited
    assert stored == 1  # written once, and not given up on


def test_a_streamed_agent_step_does_not_answer_before_its_state_is_written(tmp_path: Path) -> None:
    # A streamed step waits for its conversation write too (the pipeline waits before the first byte; the
    # test's client reads whole responses, so it sees the answer held back): a real SQLite lock held by
    # the test keeps the write, and so the answer, back until it is released.
    import sqlite3

    import httpx

    from router.app import create_app

    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url)
    policy = load_policy_text(AGENT_POLICY)
    tool = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {}}}}
    body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "fix the bug"}], "tools": [tool]}

    async def run() -> tuple[bool, int, str, int]:
        gateway = Gateway(policy, ledger=Ledger(url))
        gateway.conversations.timeout_s = 60.0  # the order is tested, not the give-up time (see the test above)
        await gateway.start()
        lock = sqlite3.connect(f"{tmp_path}/ledger.db", isolation_level=None)
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gateway)), base_url="http://gw") as client:
                lock.execute("BEGIN IMMEDIATE")
                auth = {"authorization": f"Bearer {key['key']}"}
                asked = asyncio.create_task(client.post("/v1/chat/completions", json=body, headers=auth))
                await asyncio.sleep(0.2)
                waited = not asked.done()
                lock.execute("COMMIT")
                response = await asked
            stored = lock.execute("SELECT count(*) FROM conversations").fetchone()[0]
            return waited, response.status_code, response.text, stored
        finally:
            lock.close()
            await gateway.aclose()

    waited, status, text, stored = asyncio.run(run())
    assert waited and status == 200 and text.rstrip().endswith("data: [DONE]")
    assert stored == 1


def test_a_failed_state_write_still_settles_and_records_the_answered_request(tmp_path: Path) -> None:
    """The state write overlaps the engine call, so its failure surfaces in close(): it must not cost the
    paid answer its ledger row or leave its hold unsettled (found by a review: a shut-down executor, as at
    shutdown with requests in flight, made close() raise before anything was recorded)."""
    url = f"sqlite:///{tmp_path}/ledger.db"
    key = create_key(url)
    policy = load_policy_text(ECHO_POLICY)

    async def broken_write() -> None:
        raise RuntimeError("the database went away")

    async def run() -> list[tuple[int, int, int]]:
        gateway = Gateway(policy, ledger=Ledger(url))
        await gateway.start()
        try:
            identity = await gateway.tenancy.identify(f"Bearer {key['key']}")
            seen = []
            for how in ("executor shut down", "write raised"):
                books = await holding_books(gateway, identity)
                if how == "executor shut down":
                    gateway.conversations._threads.shutdown(wait=False)  # what Conversations.close() does
                    write = gateway.conversations.remember(identity.tenant, "c1", State("echo", 1, False))
                else:
                    write = broken_write()
                books.remembering = asyncio.get_running_loop().create_task(write)
                await books.close(gateway, Outcome(tier="echo", usage={"prompt_tokens": 100, "completion_tokens": 10}, text="x"))
                await books.close(gateway, None)  # what an error path would do next: nothing more
                assert gateway.ledger.flush()
                rows = [r for r in gateway.ledger.rows() if r["request_id"] == books.request_id]
                (bucket,) = gateway.tenancy.budgets.buckets([b for b in gateway.tenancy.budgets.all() if b.scope == "key"])
                spent, reserved = await gateway.tenancy.quota.usage(bucket)
                seen.append((len(rows), int(spent > 0), reserved))
            return seen
        finally:
            await gateway.aclose()

    assert asyncio.run(run()) == [(1, 1, 0), (1, 1, 0)]
