"""A streamed request the client abandons after the model's first chunk leaves exactly one ledger row,
whatever door it came through: status 'cancelled' (499), charged for what was generated so far (the
prompt estimated, one token a chunk, as router/accounting.py's partial_usage does), and its budget hold
settled at that cost (the quota store's spend equals the ledger's, nothing stays reserved).

Against a real gateway process in front of tests/faulty_upstream.py, whose answers pause between chunks
long enough that the client leaves mid-answer; the ledger is polled with a bounded deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from engines.base import estimate_tokens
from router.cli import app as cli
from router.ledger import Ledger
from tests.faulty_upstream import ARGUMENT_PIECES, PIECES, FaultyUpstream
from tests.servers import Process, start_gateway
from tests.test_books import balance as books_balance
from tests.test_books import rows_of

ADMIN = "admin-stream-cancel-test"
MODEL = "paused"  # the tier's upstream model: the faulty upstream's script for it decides how it answers
# Long enough that the client leaves (and the gateway notices) well before the answer could end.
PAUSE = "4"
TOOLS_CHAT = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object", "properties": {}}}}]
TOOLS_RESPONSES = [{"type": "function", "name": "read_file", "parameters": {"type": "object", "properties": {}}}]


@pytest.fixture(scope="module")
def gw(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work: Path = tmp_path_factory.mktemp("stream-cancel")
    policy = work / "policy.yaml"
    # One routed tier, so "auto" reaches it as an agent step would (a pinned model is no agent step).
    policy.write_text(f"""
version: 1
name: stream-cancel
tiers:
  {MODEL}:
    engine: openai
    model: {MODEL}
    upstream_model: {MODEL}
    base_url: {upstream.url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
    timeouts: {{connect_s: 2, read_s: 20, total_s: 60}}
routing: {{classifier: rules, thresholds: {{{MODEL}: 0.0}}}}
cache: {{exact: false, semantic: false}}
""")
    url = f"sqlite:///{work}/ledger.db"
    created = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", "cancel", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    env = {"SWITCHYARD_DATABASE_URL": url, "SWITCHYARD_ADMIN_KEY": ADMIN, "SWITCHYARD_POLICY_POLL_S": "0"}
    server = start_gateway(policy, work, env=env)
    server.database_url = url
    server.key, server.key_id = key["key"], key["key_id"]  # type: ignore[attr-defined]
    yield server
    server.stop()


def script(upstream: FaultyUpstream, modes: list[str], default: str) -> None:
    httpx.post(upstream.url + "/control", json={"model": MODEL, "script": modes, "default": default}).raise_for_status()


def balance(gw: Process) -> tuple[int, int, int]:
    return books_balance(gw, ADMIN)


def leave_after_first_chunk(gw: Process, path: str, body: dict[str, Any], first: bytes) -> str:
    """Stream `body` to `path`, read until an event carrying the model's first chunk (its line holds
    `first`), then hang up. Returns the request id."""
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    with httpx.stream("POST", gw.url + path, json=body, headers=headers, timeout=httpx.Timeout(20.0)) as response:
        assert response.status_code == 200, response.read()
        request_id = response.headers["x-switchyard-request-id"]
        for n, line in enumerate(response.iter_lines()):
            assert n < 100 and "[DONE]" not in line and "completed" not in line, line  # the answer must not end first
            if first.decode() in line:
                break
    return request_id


def assert_one_cancelled_row(gw: Process, request_id: str, door: str, full: int, prompt: str | None = None) -> dict[str, Any]:
    """`prompt`: the request's whole prompt text, when it is one user message, whose estimate the row charges."""
    rows = rows_of(gw, request_id)
    assert len(rows) == 1, f"{len(rows)} ledger rows for {request_id} ({door})"
    (row,) = rows
    assert (row["door"], row["status"], row["http_status"]) == (door, "cancelled", 499), row
    # Charged so far: the prompt estimated, one token a chunk generated before the client left.
    assert row["prompt_tokens"] == estimate_tokens(prompt) if prompt is not None else row["prompt_tokens"] > 0, row
    assert 1 <= row["completion_tokens"] < full, row
    assert row["cost_nanousd"] > 0
    assert "stream ended early" in json.dumps(row["decision"]), row["decision"]
    cost, spent, reserved = balance(gw)
    assert reserved == 0, f"{reserved} nano-dollars still reserved after {door}'s cancelled stream"
    assert spent == cost, f"quota store settled {spent}, the key's ledger rows cost {cost}"
    return row


def test_chat_completions_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowchunks:{PAUSE}")
    question = f"Count {uuid.uuid4().hex}."
    body = {
        "model": "auto",
        "messages": [{"role": "user", "content": question}],
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    request_id = leave_after_first_chunk(gw, "/v1/chat/completions", body, PIECES[0].encode())
    assert_one_cancelled_row(gw, request_id, "chat", len(PIECES), question)


def test_a_first_chunk_of_the_wrong_shape_ends_the_stream_with_one_error_row(gw: Process, upstream: FaultyUpstream) -> None:
    # The first chunk is read before the stream's body runs (to charge it if the request ends there): a chunk the
    # answer cannot take must still end as the upstream's error, in the stream, with one row and the hold settled.
    script(upstream, ["badtool:0"], "ok")
    body = {"model": "auto", "messages": [{"role": "user", "content": f"Hi {uuid.uuid4().hex}."}], "max_tokens": 16, "stream": True}
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    response = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=20)
    assert response.status_code == 200, response.text
    assert "upstream_error" in response.text and response.text.rstrip().endswith("data: [DONE]"), response.text
    (row,) = rows_of(gw, response.headers["x-switchyard-request-id"])
    assert (row["status"], row["http_status"]) == ("error", 502), row
    cost, spent, reserved = balance(gw)
    assert reserved == 0 and spent == cost


def test_chat_completions_tool_call_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowtool:{PAUSE}")
    question = f"Read a.py {uuid.uuid4().hex}."
    body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 16, "tools": TOOLS_CHAT, "stream": True}
    request_id = leave_after_first_chunk(gw, "/v1/chat/completions", body, b"read_file")
    assert_one_cancelled_row(gw, request_id, "chat", len(ARGUMENT_PIECES), question)


def test_responses_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowchunks:{PAUSE}")
    question = f"Count {uuid.uuid4().hex}."
    body = {"model": "auto", "input": question, "max_output_tokens": 16, "stream": True}
    request_id = leave_after_first_chunk(gw, "/v1/responses", body, b"response.output_text.delta")
    assert_one_cancelled_row(gw, request_id, "responses", len(PIECES), question)


def test_responses_tool_call_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowtool:{PAUSE}")
    question = f"Read a.py {uuid.uuid4().hex}."
    body = {"model": "auto", "input": question, "max_output_tokens": 16, "tools": TOOLS_RESPONSES, "stream": True}
    request_id = leave_after_first_chunk(gw, "/v1/responses", body, b"response.function_call_arguments.delta")
    assert_one_cancelled_row(gw, request_id, "responses", len(ARGUMENT_PIECES), question)


def test_responses_agent_step_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    # Step one calls the tool and completes (kept, so step two may name it); step two sends the tool's
    # result on previous_response_id, and the client leaves it mid-answer.
    script(upstream, ["slowtool:0"], f"slowtool:{PAUSE}")
    headers = {"authorization": f"Bearer {gw.key}"}  # type: ignore[attr-defined]
    first = {"model": "auto", "input": f"Fix the bug {uuid.uuid4().hex}.", "max_output_tokens": 16, "tools": TOOLS_RESPONSES}
    done = httpx.post(gw.url + "/v1/responses", json=first, headers=headers, timeout=20)
    assert done.status_code == 200, done.text
    (call,) = [item for item in done.json()["output"] if item["type"] == "function_call"]
    (row,) = rows_of(gw, done.headers["x-switchyard-request-id"])
    assert row["status"] == "ok" and row["conversation_id"]
    step = {
        "model": "auto",
        "previous_response_id": done.json()["id"],
        "max_output_tokens": 16,
        "tools": TOOLS_RESPONSES,
        "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "print('hi')"}],
        "stream": True,
    }
    request_id = leave_after_first_chunk(gw, "/v1/responses", step, b"response.function_call_arguments.delta")
    cancelled = assert_one_cancelled_row(gw, request_id, "responses", len(ARGUMENT_PIECES))
    assert cancelled["conversation_id"] == row["conversation_id"] and cancelled["step"] == 1


def test_messages_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowchunks:{PAUSE}")
    question = f"Count {uuid.uuid4().hex}."
    body = {"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": question}], "stream": True}
    request_id = leave_after_first_chunk(gw, "/v1/messages", body, b"content_block_delta")
    assert_one_cancelled_row(gw, request_id, "messages", len(PIECES), question)


AGENT_POLICY = """
version: 1
name: stream-cancel-in-process
tiers:
  echo: {engine: fake, model: fake-echo, max_output_tokens: 32, prices: {input_per_mtok: 1000, output_per_mtok: 2000}}
routing: {classifier: rules, thresholds: {echo: 0.0}}
cache: {exact: false, semantic: false}
"""


def test_a_streamed_agent_step_cancelled_while_its_state_is_written_is_charged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The upstream stream is open and its first chunk read when the step waits for its conversation state
    # to be written (before the first byte); the request's task is cancelled there (the client went away
    # under a server that cancels a departed client's request, as httpx's in-process transport does).
    # The upstream generated that much: one 'cancelled' row charges it, and the hold is settled at its cost.
    import anyio

    from policies.loader import load_policy_text
    from router.app import create_app
    from router.books import RequestBooks
    from router.conversations import Conversations
    from router.gateway import Gateway

    url = f"sqlite:///{tmp_path}/ledger.db"
    created = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", "agent", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    question = "fix the bug"
    body = {
        "model": "auto",
        "stream": True,
        "messages": [{"role": "user", "content": question}],
        "tools": TOOLS_CHAT,
        "tool_choice": "required",
    }  # the fake engine's first chunk is then the call, with its arguments
    waiting, written = asyncio.Event(), asyncio.Event()
    write, wait = Conversations.remember, RequestBooks.remembered

    writes: list[asyncio.Task[Any]] = []

    async def held_write(self: Conversations, *args: Any) -> None:
        writes.append(asyncio.current_task())  # type: ignore[arg-type]
        await written.wait()  # the state write is still under way when the step waits for it
        await write(self, *args)

    async def signalling_wait(self: RequestBooks) -> None:
        if self.remembering is not None:
            waiting.set()
        await wait(self)

    monkeypatch.setattr(Conversations, "remember", held_write)
    monkeypatch.setattr(RequestBooks, "remembered", signalling_wait)

    async def run() -> tuple[list[dict[str, Any]], tuple[int, int], bool]:
        gateway = Gateway(load_policy_text(AGENT_POLICY), ledger=Ledger(url))
        await gateway.start()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(gateway)), base_url="http://gw") as client:
                auth = {"authorization": f"Bearer {key['key']}"}
                asked = asyncio.create_task(client.post("/v1/chat/completions", json=body, headers=auth))
                with anyio.fail_after(10):
                    await waiting.wait()
                asked.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asked
                written.set()
                with anyio.fail_after(10):
                    await asyncio.gather(*writes)
            assert gateway.ledger.flush()
            rows = [r for r in gateway.ledger.rows() if r["key_id"] == key["key_id"]]
            (bucket,) = gateway.tenancy.budgets.buckets([b for b in gateway.tenancy.budgets.all() if b.scope == "key"])
            return rows, await gateway.tenancy.quota.usage(bucket), asked.cancelled()
        finally:
            await gateway.aclose()

    rows, (spent, reserved), cancelled = asyncio.run(run())
    assert cancelled
    assert len(rows) == 1, rows
    (row,) = rows
    assert (row["status"], row["http_status"], row["tier"]) == ("cancelled", 499, "echo"), row
    assert row["prompt_tokens"] == estimate_tokens(question) and row["completion_tokens"] == 1, row  # the first chunk's call
    assert row["cost_nanousd"] > 0
    assert spent == row["cost_nanousd"] and reserved == 0
