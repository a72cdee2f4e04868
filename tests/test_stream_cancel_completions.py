"""The legacy completions door (`/v1/completions`) settles a streamed request its client abandons as the
other doors do (tests/test_stream_cancel.py): exactly one ledger row, status 'cancelled' (499), charged for
what the upstream generated, and the budget hold settled at that cost.

Two moments to leave: after the model's first chunk went out (against a real gateway process), and when
the answer's headers go out, before any of its body (the stream's body never runs; the request is settled
with what the first chunk, read before answering, says). The latter is driven in process through the
ASGI interface, as a server whose client hung up then calls the app, against real upstreams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from typer.testing import CliRunner

from engines.base import estimate_tokens
from router.cli import app as cli
from router.ledger import Ledger
from tests.faulty_upstream import PIECES, FaultyUpstream
from tests.servers import Process, ThreadedChatUpstream
from tests.test_stream_cancel import PAUSE, assert_one_cancelled_row, leave_after_first_chunk, script
from tests.test_stream_cancel import gw as gw  # the same gateway process and policy, one per module

# --- the client leaves after the first chunk, against the real gateway process -----------------------


def test_completions_stream_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowchunks:{PAUSE}")
    question = f"Count {uuid.uuid4().hex}."
    body = {"model": "auto", "prompt": question, "max_tokens": 16, "stream": True}
    request_id = leave_after_first_chunk(gw, "/v1/completions", body, PIECES[0].encode())
    assert_one_cancelled_row(gw, request_id, "completions", len(PIECES), question)


def test_completions_stream_with_usage_left_after_the_first_chunk(gw: Process, upstream: FaultyUpstream) -> None:
    script(upstream, [], f"slowchunks:{PAUSE}")
    question = f"Count {uuid.uuid4().hex}."
    body = {"model": "auto", "prompt": question, "max_tokens": 16, "stream": True, "stream_options": {"include_usage": True}}
    request_id = leave_after_first_chunk(gw, "/v1/completions", body, PIECES[0].encode())
    assert_one_cancelled_row(gw, request_id, "completions", len(PIECES), question)


# --- the client leaves as the headers go out, before any of the body ---------------------------------

USAGE_ONLY = {"prompt_tokens": 37, "completion_tokens": 5, "total_tokens": 42}


class UsageOnlyUpstream(ThreadedChatUpstream):
    """An OpenAI-compatible upstream whose streamed answer is its usage alone (an empty answer: what the
    model generated was all stripped), so the engine's first chunk is the usage it reports."""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        chunk = {"id": "chatcmpl-usage", "object": "chat.completion.chunk", "created": 1, "model": body.get("model"),
                 "choices": [], "usage": USAGE_ONLY}
        await response.write(b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n")
        return response



@pytest.fixture(scope="module")
def usage_only() -> Iterator[UsageOnlyUpstream]:
    server = UsageOnlyUpstream()
    yield server
    server.stop()


def _policy(faulty: FaultyUpstream, usage_only: UsageOnlyUpstream) -> str:
    tiers = ""
    for name, url in (("paused", faulty.url), ("empty", usage_only.url)):
        tiers += f"""
  {name}:
    engine: openai
    model: {name}
    upstream_model: {name}
    base_url: {url}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1000, output_per_mtok: 2000}}
    timeouts: {{connect_s: 2, read_s: 20, total_s: 60}}"""
    return f"""
version: 1
name: completions-unsent
tiers:{tiers}
routing: {{classifier: rules, thresholds: {{paused: 0.0}}}}
cache: {{exact: false, semantic: false}}
"""


def _leave_as_the_headers_go(tmp_path: Path, policy: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], tuple[int, int],
                                                                                           list[str]]:
    """Send `body` to /v1/completions through the ASGI interface as a server does for a client that hangs
    up once the response's headers are on their way: sending them fails with OSError (ASGI 2.4's word for a
    client that is gone), and the connection reads as gone.
    Returns the key's ledger rows, its quota store's (spent, reserved), and what was sent."""
    from policies.loader import load_policy_text
    from router.app import create_app
    from router.gateway import Gateway

    url = f"sqlite:///{tmp_path}/ledger.db"
    created = CliRunner().invoke(
        cli,
        ["keys", "create", "--tenant", "unsent", "--team", "ops", "--budget-usd", "1000", "--period", "total", "--json"],
        env={"SWITCHYARD_DATABASE_URL": url},
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)

    async def run() -> tuple[list[dict[str, Any]], tuple[int, int], list[str]]:
        gateway = Gateway(load_policy_text(policy), ledger=Ledger(url))
        await gateway.start()
        sent: list[str] = []
        gone = asyncio.Event()
        request = {"type": "http.request", "body": orjson.dumps(body), "more_body": False}

        async def receive() -> dict[str, Any]:
            nonlocal request
            if request is not None:
                message, request = request, None
                return message
            await gone.wait()  # connected until the answer's headers are sent
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message["type"])
            if message["type"] == "http.response.start":
                gone.set()
                raise OSError("the client closed the connection")

        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/completions", "raw_path": b"/v1/completions", "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"gw"), (b"content-type", b"application/json"),
                             (b"authorization", f"Bearer {key['key']}".encode())],
                 "client": ("127.0.0.1", 50000), "server": ("gw", 80)}
        try:
            with contextlib.suppress(Exception):  # the server's own error for the lost client
                await asyncio.wait_for(create_app(gateway)(scope, receive, send), timeout=30)
            assert gateway.ledger.flush()
            rows = [r for r in gateway.ledger.rows() if r["key_id"] == key["key_id"]]
            (bucket,) = gateway.tenancy.budgets.buckets([b for b in gateway.tenancy.budgets.all() if b.scope == "key"])
            return rows, await gateway.tenancy.quota.usage(bucket), sent
        finally:
            await gateway.aclose()

    return asyncio.run(run())


def test_completions_client_gone_before_the_first_chunk_is_charged_what_it_says(
    tmp_path: Path, upstream: FaultyUpstream, usage_only: UsageOnlyUpstream
) -> None:
    body = {"model": "empty", "prompt": f"Say nothing {uuid.uuid4().hex}.", "max_tokens": 16, "stream": True}
    rows, (spent, reserved), sent = _leave_as_the_headers_go(tmp_path, _policy(upstream, usage_only), body)
    assert sent == ["http.response.start"]  # nothing of the body went out
    assert len(rows) == 1, rows
    (row,) = rows
    assert (row["door"], row["status"], row["http_status"], row["tier"]) == ("completions", "cancelled", 499, "empty"), row
    assert row["error"] == "client disconnected before the stream began", row
    # Charged what the first chunk (the usage the upstream reported) says, not an estimate.
    assert (row["prompt_tokens"], row["completion_tokens"]) == (USAGE_ONLY["prompt_tokens"], USAGE_ONLY["completion_tokens"]), row
    assert row["cost_nanousd"] > 0 and "stream ended early" not in json.dumps(row["decision"])
    assert spent == row["cost_nanousd"] and reserved == 0


def test_completions_client_gone_before_the_first_chunk_is_charged_the_chunk_read(
    tmp_path: Path, upstream: FaultyUpstream, usage_only: UsageOnlyUpstream
) -> None:
    question = f"Count {uuid.uuid4().hex}."
    script(upstream, [], "ok")
    body = {"model": "paused", "prompt": question, "max_tokens": 16, "stream": True}
    rows, (spent, reserved), sent = _leave_as_the_headers_go(tmp_path, _policy(upstream, usage_only), body)
    assert sent == ["http.response.start"]
    assert len(rows) == 1, rows
    (row,) = rows
    assert (row["door"], row["status"], row["http_status"], row["tier"]) == ("completions", "cancelled", 499, "paused"), row
    assert row["error"] == "client disconnected before the stream began", row
    # The upstream's first chunk ("Hello") was read before answering: the prompt estimated, one token for it.
    assert (row["prompt_tokens"], row["completion_tokens"]) == (estimate_tokens(question), 1), row
    assert row["cost_nanousd"] > 0 and "stream ended early" in json.dumps(row["decision"])
    assert spent == row["cost_nanousd"] and reserved == 0
